"""The shape of the package: no import cycle among its modules, no module over 1,000 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "boamps_etl"
MAX_LINES = 1_000
# Modules known to be over MAX_LINES. They are being split (issue #17); nothing may join
# this list, and a module leaves it as soon as it is split.
OVERSIZE: set[str] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, wherever the import statement is
    (top level, in a function, under ``if TYPE_CHECKING``): relative imports resolved,
    ``from pkg import mod`` counted as importing ``pkg.mod``. A parent package that Python
    runs on the way is not counted: it is not what the module asks for."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            subs = {f"{target}.{alias.name}" for alias in node.names}
            hits = subs & known
            found.update(hits)
            if len(hits) < len(subs):
                found.add(target)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "boamps_etl.cli.common" in graph["boamps_etl.cli.convert"]  # from .common import
    assert "boamps_etl.api" in graph["boamps_etl.cli.convert"]  # from .. import api, in a function
    assert "boamps_etl.errors" in graph["boamps_etl.api"]  # from .errors import ...
    assert "boamps_etl.cli.batch" in graph["boamps_etl.cli.main"]  # from . import batch
    assert "boamps_etl.batch" in graph["boamps_etl.cli.batch"]  # from .. import batch


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_over_1000_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    over = {p for p, n in sizes.items() if n > MAX_LINES}
    assert over <= OVERSIZE, f"over {MAX_LINES} lines: {sorted(over - OVERSIZE)}"
    assert set(sizes) >= OVERSIZE, f"no longer exist: {sorted(OVERSIZE - set(sizes))}"
    fine = sorted(p for p in OVERSIZE if sizes[p] <= MAX_LINES)
    assert not fine, f"now under {MAX_LINES} lines, take them off OVERSIZE: {fine}"


@pytest.mark.parametrize("name", ["boamps_etl.cli.convert", "boamps_etl.cli.mapping",
                                  "boamps_etl.cli.batch", "boamps_etl.cli.toolbox",
                                  "boamps_etl.cli.common"])
def test_commands_never_import_the_group(name: str) -> None:
    assert "boamps_etl.cli.main" not in import_graph()[name]


def test_every_twin_pointer_names_a_real_function() -> None:
    import importlib
    import re

    names = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"Column-wise twins?: ((?:[^\n]|\n\s+)+?)(?:\"\"\"|\n\n|\n[^ ])",
                                text):
            names.update(re.findall(r"boamps_etl\.engine\.\w+\.\w+", block))
    assert len(names) >= 15  # cleaning, numbers, 5 transforms, checks, tags, runs, mapping...
    for name in sorted(names):
        module, attr = name.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attr), name
