"""BoAmps reports <-> flat rows, with the BoAmps flattener's column names.

``{"measures": [{"powerConsumption": 0.1}]}`` <-> ``{"measures_0_powerConsumption": 0.1}``.
BoAmps keys are camelCase, so ``_`` separates path parts without ambiguity. Unflattening
restores each value's type from the schemas (text stays text: ``formatVersion`` ``0.1`` is
``"0.1"``), so ``unflatten(flatten(x)) == x`` for valid reports, with two limits of any flat
table: an empty cell means "absent" (an empty text value is dropped), and producer-specific
keys holding ``_`` or made of digits cannot be told apart from path separators and indexes.
Empty objects and lists (``"algorithms": [{}]``) are kept, as the cell text ``{}`` / ``[]``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from .errors import InputError, Location
from .schema import FieldSpec, field_spec

SEP = "_"
_EMPTY_CONTAINERS = ("{}", "[]")


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten one report into ``{column: scalar}`` in document order.

    Empty objects and lists are kept as values (``{}``, ``[]``) so that they survive the
    round trip; everything else is a JSON scalar.

    >>> flatten({"task": {"algorithms": [{"algorithmType": "llm"}]}})
    {'task_algorithms_0_algorithmType': 'llm'}
    """
    out: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping) and node:
            for k, v in node.items():
                walk(v, f"{key}{SEP}{k}" if key else str(k))
        elif isinstance(node, list) and node:
            for i, v in enumerate(node):
                walk(v, f"{key}{SEP}{i}")
        elif key:
            out[key] = {} if isinstance(node, Mapping) else node

    walk(doc, prefix)
    return out


def columns_of(rows: Iterable[Iterable[str]]) -> list[str]:
    """The union of columns of flat rows (or of column lists), in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def cell_text(value: Any) -> str:
    """A flat value as CSV text: floats in shortest exact form (``repr``), booleans as
    ``true``/``false``, empty containers as ``{}``/``[]``, ``None`` as an empty cell.

    >>> cell_text(0.00267074), cell_text(13), cell_text(None), cell_text([])
    ('0.00267074', '13', '', '[]')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    r"""Flat rows as CSV text: a header with the union of columns, ``\n`` line ends, cells
    as :func:`cell_text` writes them. A row with a carriage return in a cell is written
    with every cell quoted: Python's csv module does not quote a lone ``\r`` when lines
    end with ``\n``, and such a row would not read back.

    >>> csv_text([{"a": 0.5, "b": "x,y"}, {"c": None}])
    'a,b,c\n0.5,"x,y",\n,,\n'
    """
    buf = io.StringIO()
    write_csv_rows(buf, columns_of(rows), rows)
    return buf.getvalue()


def write_csv_rows(stream: Any, columns: Sequence[str],
                   rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a header and flat rows to a text stream, as :func:`csv_text` does, one row at
    a time (for outputs larger than memory)."""
    minimal = csv.writer(stream, lineterminator="\n")
    quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
    minimal.writerow(columns)
    for row in rows:
        cells = [cell_text(row.get(c)) for c in columns]
        (quoted if any("\r" in c for c in cells) else minimal).writerow(cells)


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line of cell texts, as :func:`write_csv_rows` writes it."""
    buf = io.StringIO()
    if any("\r" in c for c in cells):
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    else:
        csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


@lru_cache(maxsize=4096)
def column_spec(column: str) -> FieldSpec | None:
    """What the schemas say of a flat column's field (type, unit...), ``None`` when no
    schema defines it."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in column.split(SEP)]
    return field_spec(parts)


def column_type(column: str) -> str | None:
    """The schema type of a flat column (``'number'``, ``'string'``...), ``None`` when no
    schema defines it.

    >>> column_type("infrastructure_components_3_nbComponent")
    'integer'
    """
    spec = column_spec(column)
    return spec.type if spec else None


def _plain(value: Any) -> Any:
    """numpy / pandas scalars (from DataFrames and Parquet) as plain Python values."""
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if not isinstance(value, str | bytes | int | float | bool | Mapping | list) and \
            hasattr(value, "item"):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _number(text: str, typ: str, column: str) -> int | float:
    try:
        if "_" in text:
            raise ValueError(text)
        number = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number", Location(column=column)) from None
    if math.isnan(number) or math.isinf(number):
        raise InputError(f"{text!r} is not a finite number", Location(column=column))
    if typ == "integer":
        if not number.is_integer():
            raise InputError(f"{text!r} is not a whole number", Location(column=column))
        return int(number)
    if number.is_integer() and not any(c in text for c in ".eE"):
        return int(text.strip())
    return number


def _restore(value: Any, column: str) -> Any:
    value = _plain(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value == "":
        return None
    typ = column_type(column)
    if isinstance(value, Mapping | list) and not value:
        return {} if isinstance(value, Mapping) else []
    if typ in ("object", "array") or (typ is None and value in _EMPTY_CONTAINERS):
        if value == "{}":
            return {}
        if value == "[]":
            return []
        return value
    if typ == "string":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, float):
            return repr(value)
        return value if isinstance(value, str) else str(value)
    if typ in ("number", "integer"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _number(value, typ, column)
        if typ == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if typ == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if isinstance(value, str) and typ is None:
        try:  # unknown (producer-specific) fields: JSON scalars written as text
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, int | float | bool) else value
    return value


def unflatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild one report from a flat row; empty cells are absent fields.

    Cells may be text (from a CSV) or typed values (from a DataFrame or Parquet); each is
    given the type the schemas define for its column.

    Raises:
        InputError: a cell of a number column is not a number (the location names the
            column; callers add the file and row).

    >>> unflatten({"header_formatVersion": "0.1", "measures_0_powerConsumption": "0.5"})
    {'header': {'formatVersion': '0.1'}, 'measures': [{'powerConsumption': 0.5}]}
    """
    doc: dict[str, Any] = {}
    for column, raw in row.items():
        column = str(column)
        value = _restore(raw, column)
        if value is None:
            continue
        parts = column.split(SEP)
        if "" in parts:
            raise InputError("is not a BoAmps column name (empty part)", Location(column=column))
        node: Any = doc
        for i, part in enumerate(parts[:-1]):
            want: Any = [] if parts[i + 1].isdigit() else {}
            key: str | int = _key(node, part, column)
            child = node[key]
            if child is None or (isinstance(child, dict | list) and not child
                                 and type(child) is not type(want)):
                node[key] = child = want
            elif not isinstance(child, dict | list):
                raise InputError("conflicts with the column that gives "
                                 f"{SEP.join(parts[:i + 1])} a value", Location(column=column))
            node = child
        last = _key(node, parts[-1], column)
        current = node[last]
        if isinstance(value, dict | list) and not value and current:
            continue  # '{}' for an object other columns fill: nothing to add
        if isinstance(current, dict | list) and current:
            raise InputError("conflicts with the columns inside it", Location(column=column))
        node[last] = value
    result: dict[str, Any] = _compact(doc)
    return result


def _key(node: dict[str, Any] | list[Any], part: str, column: str) -> str | int:
    """The key of ``part`` in ``node``, making room for it (lists grow with ``None``)."""
    if isinstance(node, list):
        if not part.isdigit():
            raise InputError(f"'{part}' is not a list index", Location(column=column))
        idx = int(part)
        if idx > 10_000:
            raise InputError(f"list index {idx} is too large", Location(column=column))
        node.extend([None] * (idx + 1 - len(node)))
        return idx
    node.setdefault(part, None)
    return part


def _compact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _compact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_compact(v) for v in node if v is not None]
    return node
