"""Parquet's typed rows straight from the column-wise values (the ``parquet`` layout of
:class:`~boamps_etl.engine.convert.Converter`): a template's flat CSV line is cut into its
cells once, each a constant or one mapped value whole, and the rows of that template are
built as a typed table column by column, as :func:`boamps_etl.io.parquet.lines_table`
would read their CSV lines (an empty cell null, the text cast to the column's type), without
writing the lines and reading them back. A template whose cells are not so simple (a value
inside a longer text), or whose values do not cast, has its rows written as CSV lines and
read by ``lines_table``, as every row the reference converts."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from ..errors import OutputError
from ..io.parquet import lines_table, schema_of
from .arrays import _as_numpy, _filled, _scalar, _text_array, _text_bytes
from .templates import _Template

_MARK = "\ue000{}\ue001"


def plain_cells(texts: Any) -> tuple[Any, Any]:
    """The cells a CSV reader gives of the JSON texts of flat values (an Arrow string
    array; what :func:`.layouts._csv_cells` writes, read back): numbers and booleans as
    they are, ``null`` null, texts unquoted; and a numpy mask of the texts JSON escapes (a
    quote, a backslash, a control character), which the reference writes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    null = pa.nulls(1, pa.string())[0]
    raw = _text_bytes(texts)
    if raw is not None and not (raw == ord('"')).any():
        # no text (numbers, booleans, null): nothing escaped
        nothing = np.zeros(len(texts), dtype=bool)
        if not (raw == ord("n")).any():
            return texts, nothing
        return pc.if_else(pc.equal(texts, _scalar("null", pa.string())), null, texts), \
            nothing
    is_text = pc.starts_with(texts, pattern='"')
    escaped = pc.and_(is_text, pc.match_substring(texts, pattern="\\"))
    cells = pc.if_else(is_text, pc.utf8_slice_codeunits(texts, 1, -1),
                       pc.if_else(pc.equal(texts, _scalar("null", pa.string())), null,
                                  texts))
    return cells, _as_numpy(_filled(escaped, False))


class CsvCells(dict):  # type: ignore[type-arg]
    """slot -> the CSV cells of its JSON texts (:func:`.layouts._csv_cells`), made when
    first asked for: with typed rows, only templates that cannot make them need them."""

    def __init__(self, texts: dict[int, Any]):
        super().__init__()
        self.texts = texts

    def __missing__(self, slot: int) -> Any:
        from .layouts import _csv_cells

        cells = self[slot] = _csv_cells(self.texts[slot])[0]
        return cells


_SPECS: dict[tuple[Any, ...], Any] = {}  # a layout's content -> its _Cells (or None)


class _Cells:
    """How a CSV layout's line is cut into cells: per column ``(slot, None)`` for a cell
    that is one mapped value whole, ``(-1, typed constant)`` for a fixed cell; with the
    table's schema, and whether a row made so was checked against ``lines_table``."""

    def __init__(self, cells: list[tuple[int, Any]], schema: Any):
        self.cells, self.schema = cells, schema
        self.verified: bool | None = None


def _cells(layout: _Template) -> _Cells | None:
    """The cells of a CSV layout (:class:`_Cells`), ``None`` when the line cannot be cut
    so; worked out once per distinct layout (templates are made again and again)."""
    key = (tuple(layout.pieces), tuple(layout.slots), layout.columns)
    if key in _SPECS:
        return _SPECS[key]  # type: ignore[no-any-return]
    import pyarrow as pa

    line = layout.pieces[0]
    for slot, piece in zip(layout.slots, layout.pieces[1:], strict=True):
        line += _MARK.format(slot) + piece
    marks = {_MARK.format(k): k for k in layout.slots}
    rows = list(csv.reader(io.StringIO(line, newline="")))
    columns = layout.columns or ()
    found: _Cells | None = None
    if len(rows) == 1 and len(rows[0]) == len(columns) and columns:
        schema = schema_of(columns)
        cells: list[tuple[int, Any]] = []
        for text, field in zip(rows[0], schema, strict=True):
            if text in marks:
                cells.append((marks[text], None))
                continue
            if "\ue000" in text:
                break
            try:
                value = _cast(_text_array([text]) if text else pa.nulls(1, pa.string()),
                              field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                break
            cells.append((-1, value[0]))
        else:
            found = _Cells(cells, schema)
    if len(_SPECS) >= 4096:
        _SPECS.clear()
    _SPECS[key] = found
    return found


def _cast(texts: Any, type_: Any) -> Any:
    """Texts (empty ones already null) as ``type_``, as the CSV reader reads them; whole
    numbers written with a fraction fit an int64 column (``lines_table`` does the same)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(type_):
        return texts
    if pa.types.is_boolean(type_):
        ok = pc.or_(pc.equal(texts, _scalar("true", pa.string())),
                    pc.equal(texts, _scalar("false", pa.string())))
        if not pc.all(pc.or_kleene(ok, pc.is_null(texts))).as_py():
            raise pa.ArrowInvalid("not true or false")
    try:
        return pc.cast(texts, type_)
    except pa.ArrowInvalid:
        if not pa.types.is_integer(type_):
            raise
        return pc.cast(pc.cast(texts, pa.float64()), type_)


class TypedCells:
    """The typed values of one block's mapped columns, each cast once per column type
    (``plain``: slot -> the CSV cell texts of the block's rows in template order)."""

    def __init__(self, plain: dict[int, Any]):
        self.plain = plain
        self._cast: dict[tuple[int, str], Any] = {}

    def column(self, slot: int, type_: Any) -> Any:
        """The values of ``slot`` as ``type_``, ``None`` where they do not cast."""
        import pyarrow as pa
        import pyarrow.compute as pc

        key = (slot, str(type_))
        if key not in self._cast:
            texts = self.plain[slot]
            empty = pc.equal(texts, _scalar("", pa.string()))
            if pc.any(empty).as_py():
                texts = pc.if_else(empty, pa.nulls(1, pa.string())[0], texts)
            try:
                self._cast[key] = _cast(texts, type_)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self._cast[key] = None
        return self._cast[key]


def group_table(layout: _Template, cells: TypedCells, cut: Callable[[Any], Any],
                count: int, line: Callable[[], str]) -> Any:
    """The typed table of a template's rows (``cut`` takes them out of a block's column),
    ``None`` when its line cannot be cut into cells or a value does not cast. ``line``:
    the CSV line of its first row, to check the first table made of a layout."""
    import pyarrow as pa

    spec = _cells(layout)
    if spec is None or spec.verified is False:
        return None
    arrays = []
    for (slot, value), field in zip(spec.cells, spec.schema, strict=True):
        if slot < 0:
            arrays.append(pa.nulls(count, field.type) if not value.is_valid
                          else pa.repeat(value, count))
            continue
        column = cells.column(slot, field.type)
        if column is None:
            return None
        arrays.append(cut(column))
    table = pa.Table.from_arrays(arrays, schema=spec.schema)
    if spec.verified is None:
        spec.verified = _same_row(table, line(), spec.schema)
        if not spec.verified:
            return None
    return table


def _same_row(table: Any, line: str, schema: Any) -> bool:
    """Whether the first row of ``table`` is what ``lines_table`` reads of ``line``."""
    data = line.encode("utf-8")
    try:
        read = lines_table(data, [len(data)], [0], [tuple(schema.names)])
    except OutputError:
        return False
    return bool(read.equals(table.slice(0, 1)) and
                read.schema.equals(schema, check_metadata=True))


def block_table(tables: list[tuple[Any, Any, tuple[str, ...]]],
                lines: tuple[Any, Any, Any, list[tuple[str, ...]], Any] | None) -> Any:
    """A block's typed table in row order, its columns the union of its rows' in
    first-seen order (as :func:`~boamps_etl.io.parquet.lines_table` makes it): from
    ``tables`` (table, its rows' positions, its columns) and ``lines``: CSV lines (data,
    lengths, column set ids, the column sets, their positions), or ``None``."""
    import numpy as np
    import pyarrow as pa

    from ..io.parquet import _conform, _indices

    pieces: list[tuple[Any, Any, list[tuple[str, ...]], Any]] = []
    for table, where, columns in tables:
        pieces.append((table, where, [columns], np.zeros(len(where), dtype=np.int64)))
    if lines is not None and len(lines[1]):
        data, lengths, ids, sets, where = lines
        pieces.append((lines_table(data, lengths, ids, sets), where, sets, ids))
    if not pieces:
        return schema_of([]).empty_table()
    # column sets in the order of their first row
    firsts: dict[tuple[str, ...], int] = {}
    for _, where, sets, ids in pieces:
        for j, columns in enumerate(sets):
            mine = where[ids == j]
            if not len(mine):
                continue
            at = int(mine.min())
            if at < firsts.get(columns, at + 1):
                firsts[columns] = at
    union: dict[str, None] = {}
    for columns in sorted(firsts, key=firsts.__getitem__):
        union.update(dict.fromkeys(columns))
    if not union:
        raise OutputError("a report with no field at all cannot be a Parquet row",
                          hint="write it as json or jsonl")
    schema = schema_of(list(union))
    if len(pieces) == 1:
        whole, where = _conform(pieces[0][0], schema), pieces[0][1]
    else:
        whole = pa.concat_tables([_conform(t, schema) for t, _, _, _ in pieces])
        where = np.concatenate([w for _, w, _, _ in pieces])
    order = np.argsort(where, kind="stable")
    if (order == np.arange(len(order))).all():
        return whole.combine_chunks()
    return whole.take(_indices(order)).combine_chunks()
