"""Validate many reports of the same shape fast: the full check once per shape, then only
the value checks that can differ between reports of that shape.

A report's *shape* is its structure with every scalar replaced by its JSON type (``""`` has
a type of its own): keys, list lengths, types. The BoAmps schemas (official and extension)
only use constraints that depend either on the shape (``type``, ``required``,
``minItems``, ``properties``, ``items``) or on one scalar value at one path (``enum``,
``minimum``, ``maximum``, ``pattern``). So a report whose shape was already seen in a
valid report is valid exactly when each of its scalars passes the value constraints of its
path. :func:`supported` checks, once, that the schemas use nothing else; when they do,
every report gets the full check. tests/test_shapes.py proves the verdicts equal those of
``jsonschema`` for reports that share shapes and differ in values.

The completeness level (levels.py) also depends only on the shape (which fields hold a
non-empty value), so it is cached per shape as well.

The pipeline does not walk each report to find its shape: a report is fully determined by
its mapped values and the context sections applied to its row, so the *signature* (the
type tag of each mapped value, the component entries kept, the context sections applied)
stands for the shape, and only mapped values need value checks. A report is called valid
from the cache only when a report of the same signature passed the full check and each
of its mapped values passes its value constraints; every other report gets the full check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from .schema import child_node, deref, extension_schema, items_node, report_schema

Path = tuple[str, ...]

_STRUCTURAL = {"type", "properties", "items", "required", "minItems", "$ref", "$schema", "id",
               "$id", "title", "description", "x-unit"}
_VALUE = {"enum", "minimum", "maximum", "pattern"}
MAX_SHAPES = 4096


def _walk(node: Any, seen: set[int]) -> bool:
    if not isinstance(node, dict) or id(node) in seen:
        return True
    seen.add(id(node))
    node = deref(node)
    if set(node) - _STRUCTURAL - _VALUE:
        return False
    if isinstance(node.get("items"), list):
        return False  # tuple-typed arrays: per-position schemas
    children = [*node.get("properties", {}).values()]
    if isinstance(node.get("items"), dict):
        children.append(node["items"])
    return all(_walk(child, seen) for child in children)


@cache
def supported() -> bool:
    """True when both schemas use only shape and single-value constraints."""
    return _walk(report_schema(), set()) and _walk(extension_schema(), set())


def _nodes(path: Path) -> list[dict[str, Any]]:
    out = []
    for root in (report_schema(), extension_schema()):
        node: dict[str, Any] | None = root
        for part in path:
            node = items_node(node) if part == "*" else child_node(node, part)
            if node is None:
                break
        if node is not None:
            out.append(deref(node))
    return out


def _same(a: Any, b: Any) -> bool:
    # JSON Schema equality: booleans are not numbers; 1 and 1.0 are equal numbers.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b) and (isinstance(a, int | float) == isinstance(b, int | float))


@cache
def value_check(path: Path) -> Callable[[Any], bool] | None:
    """The value constraints (enum, bounds, pattern) both schemas put on ``path``;
    ``None`` when there are none.

    Column-wise twins: :func:`boamps_etl.engine.checks._column_ok` and
    :func:`boamps_etl.engine.checks._column_ok_arrow`."""
    checks = value_constraints(path)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]

    def run(value: Any) -> bool:
        return all(check(value) for check in checks)
    return run


@cache
def value_constraints(path: Path) -> tuple[Callable[[Any], bool], ...]:
    """Each value constraint (enum, bound, pattern) both schemas put on ``path``, as a
    check of one value."""
    checks: list[Callable[[Any], bool]] = []
    for node in _nodes(path):
        if "enum" in node:
            checks.append(_enum_check(list(node["enum"])))
        if "minimum" in node:
            checks.append(_bound_check(node["minimum"], low=True))
        if "maximum" in node:
            checks.append(_bound_check(node["maximum"], low=False))
        if "pattern" in node:
            checks.append(_pattern_check(re.compile(node["pattern"])))
    return tuple(checks)


@cache
def number_bounds(path: Path) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The lower and upper bounds both schemas put on numbers at ``path``, when bounds are
    all that can reject a number there (``None`` when an enum applies too); patterns only
    apply to strings."""
    lows: list[float] = []
    highs: list[float] = []
    for node in _nodes(path):
        if "enum" in node:
            return None
        if "minimum" in node:
            lows.append(node["minimum"])
        if "maximum" in node:
            highs.append(node["maximum"])
    return tuple(lows), tuple(highs)


def _enum_check(allowed: list[Any]) -> Callable[[Any], bool]:
    def run(value: Any) -> bool:
        return any(_same(value, option) for option in allowed)
    return run


def _bound_check(bound: float, low: bool) -> Callable[[Any], bool]:
    def run(value: Any) -> bool:
        if not _is_number(value):
            return True
        return bool(value >= bound) if low else bool(value <= bound)
    return run


def _pattern_check(regex: re.Pattern[str]) -> Callable[[Any], bool]:
    def run(value: Any) -> bool:
        return not isinstance(value, str) or regex.search(value) is not None
    return run


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def schema_path(target: str) -> Path:
    """A mapping target as a schema path: ``measures[0].cpuEnergy`` ->
    ``('measures', '*', 'cpuEnergy')``; list positions and component keys become ``*``."""
    parts: list[str] = []
    for chunk in target.split("."):
        while "[" in chunk:
            head, _, rest = chunk.partition("[")
            if head:
                parts.append(head)
            parts.append("*")
            chunk = rest.partition("]")[2]
        if chunk:
            parts.append(chunk)
    return tuple(parts)


_TAGS = {type(None): "n", bool: "b", int: "i", float: "f"}


def tag(value: Any) -> str:
    """The JSON type of a scalar as the shape sees it (``""`` apart from other text).

    Column-wise twin: :func:`boamps_etl.engine.convert._tags`."""
    found = _TAGS.get(type(value))
    if found is not None:
        return found
    if isinstance(value, str):
        return "s" if value else "e"
    return "o"
