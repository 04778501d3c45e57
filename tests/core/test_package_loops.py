"""No loops between feature packages: if ``routing`` imports ``scheduler``, nothing in
``scheduler`` imports ``routing``, directly or round a longer circle.

Every import counts, also those inside functions (the usual way to hide a loop) and
under ``TYPE_CHECKING``. What several packages share lives in neutral modules at the
package root (``audit.py``, ``web.py``, ``shared/``, ``settings.py``): imports of
those are free, and they import no feature package themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.core.test_imports import find_cycles
from tests.helpers.paths import ROOT

PACKAGE = "ollama_gate"
FEATURES = (
    "accounts admin cache history limits metrics oidc ops proxy routing scheduler "
    "selfserve server traces upstream"
).split()
NEUTRAL = ["audit.py", "web.py", "settings.py", "shared"]
# (importer, imported) package imports kept for now, each with why; empty: none
ALLOWED: set[tuple[str, str]] = set()


def imports_of(path: Path, module: str) -> list[tuple[str, bool]]:
    """Every module ``path`` imports (``module`` is its dotted name), each with True
    when the import runs only for type checkers."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names = [base]
            if base == module.partition(".")[0]:  # ``from ollama_gate import limits``
                names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        out += [(name, id(node) in typing_only) for name in names]
    return out


def feature_of(module: str, features: list[str], package: str) -> str | None:
    """The feature package ``module`` belongs to, or None (a root module)."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2 or parts[1] not in features:
        return None
    return parts[1]


def package_graph(folder: Path, package: str, features: list[str]):
    """Feature package -> the feature packages its modules import, with where."""
    graph: dict[str, dict[str, list[str]]] = {f: {} for f in features}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        source = feature_of(module, features, package)
        if source is None:
            continue
        for name, _ in imports_of(path, module):
            target = feature_of(name, features, package)
            if target not in (None, source):
                graph[source].setdefault(target, []).append(f"{module} -> {name}")
    return graph


def loops(graph: dict[str, dict[str, list[str]]], allowed=frozenset()) -> list[str]:
    """Each circle of packages, with the imports that make its steps."""
    edges = {a: {b for b in graph[a] if (a, b) not in allowed} for a in graph}
    out = []
    for cycle in find_cycles(edges):
        steps = [graph[a][b][0] for a, b in zip(cycle, cycle[1:], strict=False)]
        out.append(" -> ".join(cycle) + "\n    " + "\n    ".join(steps))
    return out


def test_no_feature_packages_import_each_other():
    graph = package_graph(ROOT / PACKAGE, PACKAGE, FEATURES)
    assert graph["proxy"]  # the walk found imports between packages
    found = loops(graph, ALLOWED)
    assert not found, "packages in a loop:\n" + "\n".join(found)
    stale = [edge for edge in ALLOWED if edge[1] not in graph[edge[0]]]
    assert not stale, f"allowed imports no longer made: {stale}"


def test_neutral_modules_import_no_feature_package():
    bad = []
    for entry in NEUTRAL:
        where = ROOT / PACKAGE / entry
        for path in sorted(where.rglob("*.py")) if where.is_dir() else [where]:
            rel = path.relative_to(ROOT).with_suffix("")
            module = ".".join(rel.parts).removesuffix(".__init__")
            for name, typing_only in imports_of(path, module):
                if not typing_only and feature_of(name, FEATURES, PACKAGE):
                    bad.append(f"{module} -> {name}")
    assert not bad, "neutral modules importing feature packages:\n" + "\n".join(bad)


def test_the_check_finds_a_loop(tmp_path):
    """A loop made by an import inside a function, and one round three packages."""
    pkg = tmp_path / "pkg"
    for name in ("a", "b", "c", "d", "e"):
        (pkg / name).mkdir(parents=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "common.py").write_text("from .a import x\n")  # root modules do not count
    (pkg / "a" / "x.py").write_text("from ..b.y import Y\nfrom .. import common\n")
    (pkg / "b" / "y.py").write_text("def later():\n    from pkg.a import x\n")
    (pkg / "c" / "__init__.py").write_text("from ..d import z\n")
    (pkg / "d" / "z.py").write_text("from pkg import e\n")
    (pkg / "e" / "w.py").write_text("from ..c import q\n")
    graph = package_graph(pkg, "pkg", list("abcde"))
    assert graph["a"] == {"b": ["pkg.a.x -> pkg.b.y"]}
    found = loops(graph)
    assert [f.partition("\n")[0] for f in sorted(found)] == [
        "a -> b -> a",
        "c -> d -> e -> c",
    ]
    assert loops(graph, {("b", "a"), ("e", "c")}) == []
