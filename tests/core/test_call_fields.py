"""What stages share travels in ``Call``'s typed fields; ``call.extra`` holds one
package's private state only, under "<package>.<name>".

The check reads the sources (``ast``): every ``.extra[key]``, ``.extra.get(key)``,
``.pop``, ``.setdefault``, ``.update`` and ``key in .extra``, its key resolved through
module constants and imports. A key two packages use, a key without its package's
prefix, or one that is not a constant string is a finding; so is any other use of
``.extra`` (a loop over it would read every package's keys)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask import Response, request

import ollama_gate
from ollama_gate.call import ENVIRON_KEY, Call
from ollama_gate.keys import Identity
from ollama_gate.pipeline import Stage

SOURCES = Path(ollama_gate.__file__).parent
KEY_FORM = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
METHODS = {"get", "pop", "setdefault", "update"}


def module_name(root: Path, path: Path) -> str:
    """The dotted module of a source file under ``root`` (the package's own name)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(root: Path, path: Path) -> str:
    """The package (or root module) a file belongs to: ``limits``, ``call``, ..."""
    return path.relative_to(root).parts[0].removesuffix(".py")


def module_names(tree: ast.Module, module: str, is_init: bool) -> dict:
    """The module-level names a key may be spelled with: strings, other names, and
    imported names (as ``(module, name)``)."""
    names: dict = {}
    here = module.split(".") if is_init else module.split(".")[:-1]
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node.value
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                names[alias.asname or alias.name] = (source, alias.name)
    return names


def resolve(expr, module: str, tables: dict, depth: int = 0) -> str | None:
    """The string a key expression names, or None when it is not a constant."""
    if depth > 10:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Name):
        value = tables.get(module, {}).get(expr.id)
        if isinstance(value, tuple):  # imported: look in its module
            source, name = value
            return resolve(ast.Name(name), source, tables, depth + 1)
        if value is not None:
            return resolve(value, module, tables, depth + 1)
    return None


def key_uses(tree: ast.Module) -> tuple[list[tuple[int, ast.expr]], list[int]]:
    """``(line, key expression)`` of each use of ``.extra``, and the lines of uses
    this check cannot read."""
    uses, seen = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_extra(node.value):
            uses.append((node.lineno, node.slice))
            seen.add(id(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in METHODS
            and is_extra(node.func.value)
        ):
            seen.add(id(node.func.value))
            keys = [ast.Constant(kw.arg) for kw in node.keywords if kw.arg]
            if node.func.attr != "update":
                keys = node.args[:1]
            elif node.args:
                keys.append(node.args[0])  # a dict: not read here, so a finding
            uses.extend((node.lineno, key) for key in keys)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            if isinstance(node.ops[0], ast.In | ast.NotIn) and is_extra(
                node.comparators[0]
            ):
                uses.append((node.lineno, node.left))
                seen.add(id(node.comparators[0]))
    other = [
        node.lineno
        for node in ast.walk(tree)
        if is_extra(node)
        and id(node) not in seen
        and not isinstance(node.ctx, ast.Store)  # a whole new dict is no key
    ]
    return uses, other


def is_extra(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "extra"


def findings(root: Path) -> list[str]:
    """Every breach of the rule in the sources under ``root``."""
    files = sorted(root.rglob("*.py"))
    trees = {path: ast.parse(path.read_text(), str(path)) for path in files}
    tables = {
        module_name(root, path): module_names(
            tree, module_name(root, path), path.name == "__init__.py"
        )
        for path, tree in trees.items()
    }
    out, users = [], {}
    for path, tree in trees.items():
        module, package = module_name(root, path), package_of(root, path)
        where = path.relative_to(root)
        uses, other = key_uses(tree)
        out += [f"{where}:{line}: a use of .extra not checked here" for line in other]
        for line, expr in sorted(uses, key=lambda use: use[0]):
            key = resolve(expr, module, tables)
            if key is None:
                out.append(f"{where}:{line}: a key that is not a constant string")
                continue
            users.setdefault(key, set()).add(package)
            if not KEY_FORM.fullmatch(key) or not key.startswith(package + "."):
                out.append(f"{where}:{line}: {key!r} is not '{package}.<name>'")
    for key, packages in sorted(users.items()):
        if len(packages) > 1:
            out.append(f"{key!r} is shared by {sorted(packages)}: make it a field")
    return out


def test_no_package_shares_a_key_of_call_extra():
    assert findings(SOURCES) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "gate" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "gate"


def test_the_check_finds_what_stages_shared_before_the_fields(tmp_path):
    # as the sources were: the cache's verdict, its uncharged tokens (a limits
    # constant), the scheduler's wait read by history, a key with no package
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "call.py": 'STRIP_USAGE = "strip_usage"\n',
            "limits/__init__.py": "",
            "limits/quotas.py": 'UNCHARGED = "limits.uncharged_tokens"\n'
            "def charge(call):\n    return call.extra.get(UNCHARGED)\n",
            "cache/__init__.py": "",
            "cache/stage.py": "from ..call import STRIP_USAGE\n"
            "from ..limits.quotas import UNCHARGED\n"
            'VERDICT = "cache"\n'
            "def answer(call):\n"
            "    call.extra[VERDICT] = 'hit'\n"
            "    call.extra[UNCHARGED] = True\n"
            "    call.extra.pop(STRIP_USAGE, None)\n",
            "scheduler/core.py": 'WAITED = "queue_wait"\n'
            "def wait(call):\n    call.extra[WAITED] = 1.0\n",
            "history/record.py": "def values(call, name):\n"
            '    a = "queue_wait" in call.extra\n'
            "    b = call.extra[name]\n"
            "    return [v for v in call.extra.values()]\n",
            "proxy/parsing.py": 'def parse(call):\n    call.extra["model_id"] = "x"\n',
            "history/fallback.py": "def bare(call):\n    call.extra = {}\n",
        },
    )
    found = "\n".join(findings(root))
    for expected in (
        "cache/stage.py:5: 'cache' is not 'cache.<name>'",
        "cache/stage.py:6: 'limits.uncharged_tokens' is not 'cache.<name>'",
        "cache/stage.py:7: 'strip_usage' is not 'cache.<name>'",
        "scheduler/core.py:3: 'queue_wait' is not 'scheduler.<name>'",
        "history/record.py:2: 'queue_wait' is not 'history.<name>'",
        "history/record.py:3: a key that is not a constant string",
        "history/record.py:4: a use of .extra not checked here",
        "proxy/parsing.py:2: 'model_id' is not 'proxy.<name>'",
        "'limits.uncharged_tokens' is shared by ['cache', 'limits']",
        "'queue_wait' is shared by ['history', 'scheduler']",
    ):
        assert expected in found
    assert "fallback" not in found  # a new dict names no key
    assert "limits/quotas.py" not in found  # its own key, its own prefix


def test_the_shared_fields_start_empty_and_call_keeps_its_slots():
    who = Identity(1, 1, "alice", "og_12345678", "laptop", "active", None)
    call = Call(who, "POST", "/api/chat", "/api/chat", "/api/chat")
    assert not hasattr(call, "__dict__")  # slots: a misspelt field is an error
    assert (call.upstream_model, call.cache, call.queue_wait) == (None, None, None)
    assert (call.answer_headers, call.strip_usage, call.charge_tokens) == (
        {},
        False,
        True,
    )
    assert call.request_headers.get("Cache-Control") is None
    other = Call(who, "POST", "/api/chat", "/api/chat", "/api/chat")
    call.answer_headers["X-Ollama-Gate-Cache"] = "miss"
    assert other.answer_headers == {}  # one dict per call, not one shared


class Seen(Stage):
    """Keeps the calls it sees, and answers them (no upstream needed)."""

    name = "seen"

    def __init__(self):
        self.calls: list[Call] = []
        self.environs: list[dict] = []

    def answer(self, call: Call):
        self.calls.append(call)
        self.environs.append(request.environ)
        return Response(b'{"models":[]}', mimetype="application/json")


def test_a_call_has_its_request_headers_and_leaves_the_environ_at_the_end(
    app, client, key
):
    gate = app.extensions["ollama_gate"]
    seen = Seen()
    gate.set_stages([seen, *gate.pipeline.stages])
    reply = client.get(
        "/api/tags",
        headers={"Authorization": f"Bearer {key}", "Cache-Control": "no-store"},
    )
    assert reply.status_code == 200
    (call,), (environ,) = seen.calls, seen.environs
    assert call.request_headers.get("Cache-Control") == "no-store"
    # the headers are a view of the environ: a call left in it would make a cycle
    assert call.request_headers.environ is environ
    assert ENVIRON_KEY not in environ
