"""The house rules of the package, checked on its source: short functions, no import loops
(function-level imports included), nothing importing the package does by itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "coverage"
NAME = "eldercare_coverage"
MAX_FUNCTION_LINES = 150


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
            for p in sorted(PACKAGE.glob("*.py"))}


def test_no_function_is_longer_than_150_lines():
    long = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, long


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Sibling modules a module imports anywhere (top level or inside functions), except
    under ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif node.module and node.module.startswith(NAME + "."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(NAME + "."):
                    found.add(a.name.split(".")[1])
    return found - {module}


def test_no_import_loops_between_modules():
    mods = _modules()
    graph = {m: _imports(m, t) & set(mods) for m, t in mods.items()}
    graph["__init__"] = set()  # the package's lazy table names modules, importing none
    loops = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                loops.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif len(path) < len(graph):
                visit(nxt, [*path, nxt])

    for m in sorted(graph):
        visit(m, [m])
    assert not loops, sorted(set(loops))[:10]


def test_importing_the_package_imports_nothing_heavy_and_changes_nothing():
    code = ("import sys, logging; before = set(sys.modules); import eldercare_coverage; "
            "new = set(sys.modules) - before; "
            "heavy = {'geopandas', 'osmnx', 'shapely', 'folium', 'rasterio'} & new; "
            "assert not heavy, heavy; assert not logging.getLogger().handlers")
    subprocess.run([sys.executable, "-c", code], check=True)
