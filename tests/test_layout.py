"""The layout shows the architecture: the domain never imports the web layer, no module imports another
inside a function (no late imports hiding a cycle), and the import graph of ``pipeline`` and ``api`` has no
cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pipeline": ROOT / "src" / "pipeline", "api": ROOT / "api"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(tree: ast.Module, *, top_level: bool) -> set[str]:
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    nodes = tree.body if top_level else functions
    found: set[str] = set()
    for node in nodes:
        for inner in ([node] if top_level else ast.walk(node)):
            if isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                found.add(inner.module)
                found.update(f"{inner.module}.{alias.name}" for alias in inner.names)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        imported = _imports(ast.parse(path.read_text(encoding="utf-8")), top_level=True)
        graph[name] = {target for item in imported if (target := _resolve(item)) and target != name
                       and not (name.startswith(target + ".") and MODULES[target].name == "__init__.py")}
    return graph


def test_the_domain_never_imports_the_web_layer() -> None:
    for name, path in MODULES.items():
        if name.startswith("pipeline"):
            imported = _imports(ast.parse(path.read_text(encoding="utf-8")), top_level=True)
            web = sorted(i for i in imported if i.split(".")[0] in ("api", "fastapi", "starlette"))
            assert not web, f"{name} imports {web}"


def test_no_module_imports_ours_inside_a_function() -> None:
    late = {}
    for name, path in MODULES.items():
        imported = _imports(ast.parse(path.read_text(encoding="utf-8")), top_level=False)
        ours = sorted(i for i in imported if i.split(".")[0] in PACKAGES)
        if ours:
            late[name] = ours
    assert late == {}


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " → ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
