"""Parquet output: the flat table of the reports (one row per report, the columns of the
flat CSV, same names, same order) with typed columns.

Each column's Arrow type comes from its name alone, through the BoAmps schemas
(:func:`column_field`): ``number`` -> float64, ``integer`` -> int64, ``boolean`` -> bool,
anything else (text, empty objects and lists, fields no schema defines) -> string. So a
column has the same type in every output, whichever rows a file happens to have. Its unit
(kWh, W, s, kg CO2eq...), where the schemas state one, is in the field's metadata
(``unit``).

Reports reach this module as typed tables the column-wise engine builds from its values
(:mod:`boamps_etl.engine.typed`, the same tables), or as flat CSV lines, each in its own
columns (what the reference writer makes for the csv format): :func:`lines_table` reads a
block of them into a typed table in the union of its columns. Floats are written in CSV as
their shortest exact text (``repr``), which Arrow reads back to the same float64. Blocks
are staged as Arrow IPC streams (:class:`ParquetStage`); the Parquet file is written at the
end, once the union of every block's columns is known, in row groups of
:data:`ROW_GROUP_ROWS` rows: the bytes depend on the rows only, not on how they were cut
into blocks (the engine, the reference and any number of workers write the same file).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from ..errors import OutputError
from ..flatten import column_spec, columns_of

#: Rows per Parquet row group (the last one holds the rest). Memory while writing the
#: file is about two row groups of typed columns (about 700 bytes a row for CodeCarbon's
#: reports): 65,536 rows peaked 50 MB higher than 32,768, for a file 1 % smaller.
ROW_GROUP_ROWS = 32_768
_ARROW_TYPES = {"number": "float64", "integer": "int64", "boolean": "bool_"}
_KIND = {"double": "a number", "int64": "a whole number", "bool": "true or false"}


@lru_cache(maxsize=4096)
def column_field(column: str) -> Any:
    """The Arrow field of a flat column: its type from the BoAmps schemas (float64, int64,
    bool, else string), its unit in the metadata (``unit``) where the schemas state one.

    >>> column_field("measures_0_powerConsumption")
    pyarrow.Field<measures_0_powerConsumption: double>
    >>> column_field("measures_0_powerConsumption").metadata
    {b'unit': b'kWh'}
    """
    import pyarrow as pa

    spec = column_spec(column)
    name = _ARROW_TYPES.get(spec.type or "", "string") if spec else "string"
    unit = spec.unit if spec else None
    return pa.field(column, getattr(pa, name)(), metadata={"unit": unit} if unit else None)


def schema_of(columns: Sequence[str]) -> Any:
    """The Arrow schema of a flat table with these columns (:func:`column_field`)."""
    import pyarrow as pa

    return pa.schema([column_field(c) for c in columns])


#: Text columns distinct in (almost) every report: identifiers and date-times.
_DISTINCT = re.compile(r"(?:Id|_id|Datetime|DateTime)$")


def dictionary_columns(schema: Any) -> list[str]:
    """The columns written with dictionary encoding: the text ones, but for identifiers
    and date-times (``header_reportId``, ``header_reportDatetime``,
    ``measures_0_measurementDateTime``...). The numbers and those texts are mostly
    distinct, a dictionary tried then given up page by page: without it the numbers were
    written in three quarters of the time, for a file 4 % larger; the identifiers and
    date-times cut the whole file's writing time by 12 %, for a file 4 % smaller."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_string(f.type)
            and not _DISTINCT.search(f.name)]


def lines_table(data: bytes | memoryview, lengths: Any, column_ids: Any,
                columns: Sequence[tuple[str, ...]]) -> Any:
    """A typed Arrow table of flat CSV lines, each in its own columns: ``data`` holds them
    end to end (UTF-8, ``lengths`` bytes each, as :func:`boamps_etl.flatten.csv_line`
    writes them), line ``i`` in the columns ``columns[column_ids[i]]``. The table's
    columns are their union in first-seen order, an absent cell null.

    Raises:
        OutputError: a cell does not fit its column's type (a report that is not valid).
    """
    import numpy as np
    import pyarrow as pa

    lengths = np.asarray(lengths, dtype=np.int64)
    ids = np.asarray(column_ids, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return schema_of([]).empty_table()
    present, first = np.unique(ids, return_index=True)
    order = [int(j) for j in present[np.argsort(first)]]
    union = columns_of(columns[j] for j in order)
    if not union:
        raise OutputError("a report with no field at all cannot be a Parquet row",
                          hint="write it as json or jsonl")
    schema = schema_of(union)
    if len(order) == 1:
        return _conform(_parse(data, columns[order[0]]), schema)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    tables, rows = [], []
    for j in order:
        mine = np.flatnonzero(ids == j)
        rows.append(mine)
        if not columns[j]:  # a report with no field: a row of nulls
            tables.append(_conform(pa.Table.from_arrays([pa.nulls(len(mine))], names=[""]),
                                   schema))
            continue
        taken = lines.take(_indices(mine))
        ends = np.frombuffer(taken.buffers()[1], dtype=np.int64)
        start, end = int(ends[taken.offset]), int(ends[taken.offset + len(taken)])
        tables.append(_conform(_parse(memoryview(taken.buffers()[2])[start:end],
                                      columns[j]), schema))
    where = np.concatenate(rows)
    return pa.concat_tables(tables).take(_indices(np.argsort(where, kind="stable"))) \
        .combine_chunks()


def _indices(values: Any) -> Any:
    """An Arrow int64 array over a numpy array (``pa.array`` would import pandas, which
    nothing else here needs)."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _parse(data: bytes | memoryview, columns: Sequence[str]) -> Any:
    """CSV lines all in ``columns`` as a typed table (:func:`column_field`): an empty
    cell is null, ``true``/``false`` booleans, numbers read to the nearest float64 (the
    float itself, for the shortest exact text of a float)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    fields = [column_field(c) for c in columns]
    read = pcsv.ReadOptions(column_names=list(columns), use_threads=False)
    parse = pcsv.ParseOptions(newlines_in_values=True)

    def convert(types: dict[str, Any]) -> Any:
        return pcsv.ConvertOptions(column_types=types, null_values=[""],
                                   true_values=["true"], false_values=["false"],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True)

    source = pa.BufferReader(pa.py_buffer(data))
    try:
        return pcsv.read_csv(source, read, parse, convert({f.name: f.type for f in fields}))
    except pa.ArrowInvalid:
        pass  # read as text, then each column cast on its own: the cell at fault is named
    source = pa.BufferReader(pa.py_buffer(data))
    texts = pcsv.read_csv(source, read, parse, convert({c: pa.string() for c in columns}))
    return pa.Table.from_arrays([_cast(texts.column(k), f) for k, f in enumerate(fields)],
                                schema=pa.schema(fields))


def _cast(texts: Any, field: Any) -> Any:
    """A column of cell texts as ``field``'s type; whole numbers written with a fraction
    (``13.0``) fit an int64 column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(field.type):
        return texts
    try:
        return pc.cast(texts, field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if pa.types.is_integer(field.type):
            try:
                return pc.cast(pc.cast(texts, pa.float64()), field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    for text in texts.to_pylist():
        if text is None:
            continue
        try:
            if pa.types.is_integer(field.type):
                pc.cast(pc.cast(pa.array([text]), pa.float64()), field.type)
            else:
                pc.cast(pa.array([text]), field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise OutputError(f"column '{field.name}' holds {text!r}, not "
                              f"{_KIND.get(str(field.type), str(field.type))}",
                              hint="only reports valid for the BoAmps schemas can be "
                                   "written as Parquet") from None
    raise OutputError(f"column '{field.name}' cannot be written as {field.type}")


def _conform(table: Any, schema: Any) -> Any:
    """``table`` in the columns of ``schema`` (absent ones null), with its fields."""
    import pyarrow as pa

    names = set(table.column_names)
    arrays = [table.column(f.name) if f.name in names else pa.nulls(len(table), f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def ipc_bytes(table: Any) -> Any:
    """A table as one Arrow IPC stream (an Arrow buffer, bytes-like), uncompressed: LZ4
    made the staged data 2.5 times smaller, but cost more than writing and reading back
    the larger stream (a third of the time the final Parquet file took to write)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue()


class ParquetStage:
    """Blocks of typed rows staged as IPC streams end to end in a work file, with their
    columns; :meth:`write` makes the Parquet file of them all in the union of their
    columns."""

    def __init__(self, fh: Any):
        self.fh = fh  # the work file, opened for binary writing
        self.sizes: list[int] = []  # byte size of each staged stream
        self.columns: dict[str, None] = {}  # every column, in first-seen order

    def add(self, table: Any) -> None:
        """Stage a table of :func:`lines_table`."""
        if not len(table):
            return
        data = ipc_bytes(table)
        self.fh.write(data)
        self.sizes.append(len(data))
        self.columns.update(dict.fromkeys(table.column_names))  # first-seen order kept

    def added(self, sizes: Sequence[int], column_sets: Sequence[Sequence[str]]) -> None:
        """Record streams appended to the work file by the caller (a worker's part file:
        streams of ``sizes`` bytes in the columns ``column_sets``)."""
        self.sizes.extend(int(s) for s in sizes)
        for columns in column_sets:
            self.columns.update(dict.fromkeys(columns))

    def write(self, staged: Any, dest: Any) -> None:
        """Write the Parquet file of the streams of the work file ``staged`` (a path) to
        ``dest`` (a binary file), in row groups of :data:`ROW_GROUP_ROWS` rows. A thread
        reads the next row group while this one is encoded (both mostly in Arrow, without
        the GIL): at most three row groups of typed columns in memory at a time."""
        import queue
        import threading

        import pyarrow.parquet as pq

        schema = schema_of(list(self.columns))
        ready: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def give(item: Any) -> bool:
            """Hand ``item`` to the writing thread, unless that has stopped."""
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for group in self._row_groups(staged, schema):
                    if not give(group):
                        return
                give(None)
            except BaseException as exc:  # said in the writing thread
                give(exc)

        reader = threading.Thread(target=read, name="parquet-read", daemon=True)
        reader.start()
        try:
            with pq.ParquetWriter(dest, schema,
                                  use_dictionary=dictionary_columns(schema)) as out:
                while (group := ready.get()) is not None:
                    if isinstance(group, BaseException):
                        raise group
                    out.write_table(group, ROW_GROUP_ROWS)
        finally:
            stop.set()
            reader.join()

    def _row_groups(self, staged: Any, schema: Any) -> Iterator[Any]:
        """The staged rows in ``schema``, a row group of :data:`ROW_GROUP_ROWS` rows at a
        time (the last one: the rest), each in one chunk."""
        import pyarrow as pa

        size = ROW_GROUP_ROWS
        # one thread: threads would each keep memory, for little gain on small blocks
        options = pa.ipc.IpcReadOptions(use_threads=False)
        with open(staged, "rb") as src:
            pending: list[Any] = []
            rows = 0
            for nbytes in self.sizes:
                table = pa.ipc.open_stream(src.read(nbytes), options=options).read_all()
                pending.append(_conform(table, schema))
                rows += len(table)
                while rows >= size:
                    whole = pa.concat_tables(pending)
                    yield whole.slice(0, size).combine_chunks()
                    rest = whole.slice(size)
                    pending, rows = ([rest] if len(rest) else []), len(rest)
            if rows:
                yield pa.concat_tables(pending).combine_chunks()
