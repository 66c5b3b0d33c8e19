"""Helpers readers share: a CSV read with the project's CSV reader, rows made into a table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..errors import Issue
from ..io.readers import ROW_COLUMN, CsvSource, CsvTable, Source


def read_csv(source: Source, name: str | None, *, required: tuple[str, ...], what: str,
             kind: str) -> CsvTable:
    """A tracker's CSV read like CodeCarbon's (encodings, gzip, misaligned rows reported
    with their row), with its own required columns.

    Raises:
        InputError: the file is empty, binary, or lacks a required column.
    """
    src = CsvSource(source, name=name, required=required, what=what, kind=kind)
    src.scan(group_runs=False)
    return next(src.blocks(block_rows=1 << 62))


def cell(value: Any) -> str | None:
    """A JSON value as the text cell a mapping reads: numbers exactly as written (the
    documents are parsed with Decimal), ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def make_table(name: str, rows: Sequence[Mapping[str, str | None]], kind: str, *,
               row_numbers: Sequence[int] | None = None, issues: Iterable[Issue] = (),
               records: int | None = None, row_labels: Sequence[str] | None = None
               ) -> CsvTable:
    """A :class:`CsvTable` of text cells from rows (dicts column -> text). Columns appear
    in the order they are first met; ``row_numbers`` are the rows messages name (default:
    1, 2, ... for a file without header); ``row_labels``, how messages name them instead
    of "row N" in a file that has no rows ("target 'decode'", "line 11"; "" for a file
    holding one record)."""
    import pandas as pd

    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    frame = pd.DataFrame({c: pd.Series([row.get(c) or "" for row in rows], dtype=object)
                          for c in columns})
    frame[ROW_COLUMN] = list(row_numbers) if row_numbers is not None else list(
        range(1, len(rows) + 1))
    table = CsvTable(name, frame, columns, kind, list(issues),
                     len(rows) if records is None else records)
    if row_labels is not None:
        table.row_labels = dict(zip(frame[ROW_COLUMN].tolist(), row_labels, strict=True))
    return table


def add_columns(table: CsvTable, derived: Mapping[str, Sequence[str | None]]) -> None:
    """Add columns computed from a table's own cells (the parts of a composite cell)."""
    for column, values in derived.items():
        table.frame[column] = [v or "" for v in values]
        if column not in table.columns:
            table.columns.append(column)
    # Keep the row number last, where readers put it.
    rows = table.frame.pop(ROW_COLUMN)
    table.frame[ROW_COLUMN] = rows
