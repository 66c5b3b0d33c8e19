"""BoAmps reports <-> flat rows, with the BoAmps flattener's column names.

``{"measures": [{"powerConsumption": 0.1}]}`` <-> ``{"measures_0_powerConsumption": 0.1}``.
BoAmps keys are camelCase, so ``_`` separates path parts without ambiguity. Unflattening
restores each value's type from the schemas (text stays text: ``formatVersion`` ``0.1`` is
``"0.1"``), so ``unflatten(flatten(x)) == x`` for valid reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .schema import field_spec

SEP = "_"


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten one report into ``{column: scalar}`` in document order.

    >>> flatten({"task": {"algorithms": [{"algorithmType": "llm"}]}})
    {'task_algorithms_0_algorithmType': 'llm'}
    """
    out: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{key}{SEP}{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}{SEP}{i}")
        else:
            out[key] = node

    walk(doc, prefix)
    return out


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The union of columns of flat rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _schema_path(parts: list[str]) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in parts]


def _restore(value: Any, parts: list[str]) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value == "":
        return None
    spec = field_spec(_schema_path(parts))
    typ = spec.type if spec else None
    if typ == "string":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return value if isinstance(value, str) else str(value)
    if typ in ("number", "integer"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            number = float(value)
            if typ == "integer" or (number.is_integer() and "." not in value
                                    and "e" not in value.lower()):
                return int(number)
            return number
        if typ == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, float) and value.is_integer() and typ == "number":
            return value
        return value
    if typ == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if isinstance(value, str) and spec is None:
        try:  # unknown (producer-specific) fields: JSON scalars written as text
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, int | float | bool) else value
    return value


def unflatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild one report from a flat row; empty cells are absent fields.

    >>> unflatten({"header_formatVersion": "0.1", "measures_0_powerConsumption": "0.5"})
    {'header': {'formatVersion': '0.1'}, 'measures': [{'powerConsumption': 0.5}]}
    """
    doc: dict[str, Any] = {}
    for column, raw in row.items():
        parts = str(column).split(SEP)
        value = _restore(raw, parts)
        if value is None:
            continue
        node: Any = doc
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            want: Any = [] if nxt.isdigit() else {}
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append(None)
                if node[idx] is None:
                    node[idx] = want
                node = node[idx]
            else:
                node = node.setdefault(part, want)
        last = parts[-1]
        if isinstance(node, list):
            idx = int(last)
            while len(node) <= idx:
                node.append(None)
            node[idx] = value
        else:
            node[last] = value
    return _compact(doc)


def _compact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _compact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_compact(v) for v in node if v is not None]
    return node
