"""No import circles: every module of ``ollama_gate`` imports alone, and the graph of
top-level imports between them has no cycle.

"Alone": in a process where no module of the package is loaded yet (a fork of a fresh
interpreter that loaded only the third-party libraries, see ``import_alone.py``).
That catches the circles that break today; the graph also catches those that work
only because of the order modules happen to be imported in (a package ``__init__``
importing a module that imports a name from that ``__init__``).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGE = "ollama_gate"


def package_modules(folder: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (in ``folder``), the package itself included: its
    dotted name and its source file."""
    modules = {package: folder / "__init__.py"}

    def failed(name: str) -> None:
        raise ImportError(f"cannot import {name} to list its modules")

    for info in pkgutil.walk_packages([str(folder)], package + ".", onerror=failed):
        where = Path(info.module_finder.path)
        leaf = info.name.rpartition(".")[2]
        modules[info.name] = (
            where / leaf / "__init__.py" if info.ispkg else where / f"{leaf}.py"
        )
    return modules


def top_level_imports(body: list[ast.stmt]):
    """The import statements that run when the module is imported (not in functions,
    not under ``if TYPE_CHECKING``)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                yield from top_level_imports(node.body)
            yield from top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from top_level_imports(block)
            for handler in node.handlers:
                yield from top_level_imports(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from top_level_imports(node.body)


def imported_names(modules: dict[str, Path]) -> dict[str, set[str]]:
    """For each module, the absolute names its top-level imports import (modules of
    the package resolved to the module, other names to the package they come from)."""
    out = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = set()
        for node in top_level_imports(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                named |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:  # ``from x import y``: y a module, or a name of x
                sub = f"{base}.{alias.name}"
                named.add(sub if sub in modules else base)
        out[name] = named
    return out


def import_graph(modules: dict[str, Path], package: str) -> dict[str, set[str]]:
    """For each module, the modules of ``package`` its top-level imports run."""
    graph = {}
    for name, named in imported_names(modules).items():
        edges = set()
        for target in named:
            if target != package and not target.startswith(package + "."):
                continue
            while target not in modules:  # ``import a.b.name`` of a non-module
                target = target.rpartition(".")[0]
            edges.add(target)
            # importing a.b.c first runs a and a.b, unless they are already being
            # imported because they hold this module
            parts = target.split(".")
            for i in range(1, len(parts)):
                outer = ".".join(parts[:i])
                if name != outer and not name.startswith(outer + "."):
                    edges.add(outer)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle (``a -> b -> a``) through each circle of modules."""
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        paths, queue = {start: [start]}, [start]
        while queue:  # breadth first: the shortest way back to ``start``
            node = queue.pop(0)
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycle = paths[node] + [start]
                    cycles.append(cycle)
                    done.update(cycle)
                    queue = []
                    break
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
    return cycles


def third_party(package: str, path: Path = ROOT) -> list[str]:
    """The modules outside ``package`` that its modules import at the top."""
    modules = package_modules(path / package, package)
    named = set().union(*imported_names(modules).values())
    return sorted(n for n in named if n.partition(".")[0] != package)


def import_alone(
    names: list[str], package: str, path: Path = ROOT, preload: list[str] | None = None
) -> dict:
    """Import each of ``names`` alone (``import_alone.py``, run in ``path``), with
    the third-party modules the package imports loaded first: name -> error or None."""
    if preload is None:
        preload = third_party(package, path)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "helpers" / "import_alone.py"),
            "--preload",
        ]
        + [",".join(preload), *names],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


MODULES = package_modules(ROOT / PACKAGE, PACKAGE)
# parsed once at collection, in the main thread: CPython 3.11's ast.parse in a worker
# thread, late in a suite whose tests change the recursion limit (Hypothesis does),
# failed with "AST constructor recursion depth mismatch"
PRELOAD = third_party(PACKAGE)


def test_every_module_imports_alone():
    assert len(MODULES) > 40  # the walk found the package's modules
    names = sorted(MODULES)
    with ThreadPoolExecutor(2) as pool:  # two cores: half the modules each
        halves = pool.map(
            import_alone,
            [names[0::2], names[1::2]],
            [PACKAGE] * 2,
            [ROOT] * 2,
            [PRELOAD] * 2,
        )
        report = {name: error for half in halves for name, error in half.items()}
    assert sorted(report) == names
    errors = [f"{name}:\n{error}" for name, error in report.items() if error]
    assert not errors, "\n\n".join(errors)


def test_no_import_circle():
    cycles = find_cycles(import_graph(MODULES, PACKAGE))
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_find_a_circle(tmp_path):
    """Both checks on a package holding the two kinds of circle they look for."""
    pkg = tmp_path / "circled"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("bp = 1\nfrom . import pages\n")
    (pkg / "pages.py").write_text("from . import bp\n")  # works, by import order
    (pkg / "a.py").write_text("from .b import B\nA = 1\n")
    (pkg / "b.py").write_text("from .a import A\nB = 1\n")
    (pkg / "c.py").write_text("def later():\n    from .a import A\n")  # not top level
    modules = package_modules(pkg, "circled")
    assert set(modules) == {
        "circled",
        *(f"circled.{m}" for m in "abc"),
        "circled.pages",
    }
    assert sorted(find_cycles(import_graph(modules, "circled"))) == [
        ["circled", "circled.pages", "circled"],
        ["circled.a", "circled.b", "circled.a"],
    ]
    report = import_alone(["circled.a", "circled.pages"], "circled", tmp_path)
    assert "ImportError" in report["circled.a"]
    assert report["circled.pages"] is None  # why the graph is needed too
