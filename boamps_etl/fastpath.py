"""The column-wise path of :func:`boamps_etl.convert_to` for clean CodeCarbon CSVs.

The row-by-row pipeline (:mod:`boamps_etl.pipeline`) is the reference: it handles every
damaged or unusual file and says what is wrong with each row. Most files are clean, though:
UTF-8, one header on the first line, every row as wide as the header, no quotes, no blank
lines. For those this module gives the same output, byte for byte, at a fraction of the
cost:

* **Reading** with Arrow's CSV reader, in blocks, only the columns the mapping reads. A
  first pass over the bytes checks that the file is one this path reads exactly as the
  reference reader does (it falls back to the reference otherwise), and a pass over the
  ``run_id`` column alone finds the last row of each run.
* **Mapping** column by column: the mapping's own rules and transforms
  (:func:`boamps_etl.mapping.apply_mapping`), with plain numbers parsed by Arrow (a strict
  decimal pattern first; other cells go through :func:`boamps_etl.transforms.to_float`).
* **Assembly and JSON** once per *signature* (:mod:`boamps_etl.shapes`): the first report
  of a signature is built, merged, ordered, fully validated and serialised by the
  reference code; its JSON text, with each mapped value replaced by a slot, becomes the
  template every later report of that signature is written through. Each template is
  checked by rendering that first report through it and comparing the text.
* **Validation** stays complete: a report of a known valid signature is valid exactly when
  each mapped value passes the value constraints of its path, checked column-wise.

Every row the fast path cannot vouch for (a cell that does not parse, a value outside its
bounds, a signature never seen valid, a row without run_id) is converted by
:func:`boamps_etl.pipeline.convert_table` instead, and its output takes its place in order.
``tests/test_fastpath.py`` compares both paths on every fixture, the corpus and generated
files of every CodeCarbon version.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .codecarbon import EMPTY_VALUES, REQUIRED_COLUMNS
from .context import Context
from .errors import Issue
from .flatten import cell_text, csv_line, flatten
from .io.readers import ROW_COLUMN, CsvSource, CsvTable
from .io.writers import (
    MAX_NAME,
    NAME_FIELDS,
    dumps,
    name_from_parts,
    name_values,
    report_filename,
    safe_part,
)
from .levels import assess
from .mapping import Applied, Mapping, Rule, apply_rules, run_transform
from .pipeline import build_report, convert_table
from .shapes import number_bounds, schema_path, supported, tag, value_constraints
from .transforms import TRANSFORMS, Cells, Problems, ValueProblem, to_float, to_int, unit_factor
from .transforms import Context as TransformContext
from .validate import full_check

if TYPE_CHECKING:
    pass

READ_BYTES = 1 << 20  # bytes Arrow parses at a time (its peak memory grows with it)
BLOCK_ROWS = 8192
CHECK_BYTES = 1 << 20  # bytes checked at a time by the first pass
_EDGE_SPACE = r"^[\t-\r\x1c-\x1f\x85\p{Z}]|[\t-\r\x1c-\x1f\x85\p{Z}]$"  # str.strip()'s set
_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ISO_SECONDS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}$"
_SLOT = re.compile('"\ue000([0-9]+)\ue001"')


def available() -> bool:
    """True when pyarrow can be imported (the fast path needs it)."""
    try:
        import pyarrow
        import pyarrow.csv  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return False
    return True


# --------------------------------------------------------------------------- the file check


@dataclass
class FastFile:
    """A CSV the fast path reads exactly as the reference reader would (picklable: it
    goes to worker processes)."""

    name: str  # the file's name in messages
    path: Path
    columns: list[str]  # the header, stripped
    names: list[str]  # the header as Arrow reads it
    delimiter: str
    encoding: str
    rows: int  # data rows
    keep: Any  # numpy bool array: the rows that become reports
    all_columns: bool  # some kept row has no run_id: report ids hash the whole row
    parts: list[tuple[int, int, int]] = field(default_factory=list)
    # (first byte, end byte, index of the first row) of each range a worker converts
    plain_text: bool = False  # no cell holds a character JSON escapes
    kind: str = "codecarbon"  # or 'task' (a report per row)
    per_row: bool = False  # a report per row, its id derived from the row's content
    temporary: Path | None = None  # the unpacked copy of a gzip file (``path``)


def _header_line(source: CsvSource, path: Path) -> tuple[list[str], int] | None:
    """The raw header fields and the offset of the first data byte, when the header is the
    first line of the file ``path`` (the source's, or its unpacked copy)."""
    with open(path, "rb") as fh:
        sample = fh.read(1 << 16)
    end = sample.find(b"\n")
    if end < 0:
        return None
    line = sample[:end]
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text[:-1] if text.endswith("\r") else text
    if "\r" in text or '"' in text:  # a line break or quotes in the header: the reference
        return None
    fields = next(csv.reader([text], delimiter=source.delimiter))
    stripped = [f.strip() for f in fields]
    if stripped != source.columns:  # index column, trailing empty names, markers above
        return None
    return fields, end + 1


def _bytes_ok(path: Path, start: int, end: int, delimiter: str = ","
              ) -> tuple[int, bool] | None:
    """Check bytes ``start`` to ``end`` (a range of whole lines): no quote, NUL, bare CR,
    invalid UTF-8 or header line. Returns (lines, whether no cell holds a character JSON
    escapes: a backslash, a control character), or ``None``. Blank lines are found by
    comparing the line count with the rows Arrow reads (it skips blank lines)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    plain = True
    refused = set(_REFUSED)
    watched = _all_but(_REFUSED + _ESCAPED.replace(delimiter.encode(), b""))
    tail = b""
    header_word = REQUIRED_COLUMNS[-1].encode()  # no value of CodeCarbon's holds it
    left = end - start
    lines = 0
    last = b""
    with open(path, "rb") as fh:
        fh.seek(start)
        while left > 0 and (block := fh.read(min(CHECK_BYTES, left))):
            left -= len(block)
            found = block.translate(None, watched)
            if found:
                if not refused.isdisjoint(found):  # a quote, NUL or 0x1C-0x1F
                    return None
                plain = False  # a backslash or a control character: JSON escapes it
            if not block.isascii() or decoder.getstate()[0]:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    return None
                if b"\xc2\x85" in block:  # NEL: str.strip removes it, Arrow's trim not
                    return None
            lines += block.count(b"\n")
            if header_word in block or (tail and header_word in tail + block[:32]):
                return None
            if b"\r" in block or tail.endswith(b"\r"):
                joined = tail + block
                if b"\r\r" in joined:
                    return None
                crs, crlfs = joined.count(b"\r"), joined.count(b"\r\n")
                if crs != crlfs and not (joined.endswith(b"\r") and crs == crlfs + 1):
                    return None
            tail = block[-32:]
            last = block[-1:]
        if tail.endswith(b"\r"):
            return None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return lines + (0 if last in (b"\n", b"") else 1), plain


def _all_but(kept: bytes) -> bytes:
    """The bytes ``bytes.translate`` deletes to keep only ``kept``."""
    return bytes(b for b in range(256) if b not in kept)


_REFUSED = b'"\x00\x1c\x1d\x1e\x1f'
_ALL_BUT_REFUSED = _all_but(_REFUSED)
# what JSON escapes inside a cell (line breaks end rows; the delimiter ends cells)
_ESCAPED = bytes(b for b in range(32) if b not in b"\n\r") + b"\\"


def _unique_names(fields: list[str]) -> list[str]:
    return [f"{i}:{name}" for i, name in enumerate(fields)]


def _reader(source: Any, names: list[str], delimiter: str, include: list[str],
            header: bool = True) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def invalid(row: Any) -> str:
        return "error"

    return pcsv.open_csv(
        source,
        read_options=pcsv.ReadOptions(skip_rows=1 if header else 0, column_names=names,
                                      block_size=READ_BYTES, use_threads=_THREADS),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=False,
                                        ignore_empty_lines=True, invalid_row_handler=invalid),
        convert_options=pcsv.ConvertOptions(
            include_columns=include, column_types={n: pa.string() for n in include},
            strings_can_be_null=False, quoted_strings_can_be_null=False))


_THREADS = True  # Arrow's reader may use threads: not in a worker, where cores are taken


def _clean_array(array: Any) -> Any:
    """Cells as the reference reader cleans them: stripped, empty spellings as null. The
    file check leaves out the four characters ``str.strip`` removes and Unicode's
    White_Space does not (0x1C-0x1F), so Arrow's trim equals ``str.strip`` here. The
    first and last byte of each cell tell whether any needs trimming, and the lengths
    whether any can be an empty spelling: most columns need neither kernel."""
    import numpy as np
    import pyarrow.compute as pc

    lengths = _lengths(array)
    if lengths is None:  # not a plain string array
        array = pc.utf8_trim_whitespace(array)
    else:
        data = array.buffers()[2]
        offsets = _offsets(array)
        full = lengths > 0
        if full.any() and data is not None:
            bytes_ = np.frombuffer(data, dtype=np.uint8)
            edge = _edge_bytes()
            if edge[bytes_[offsets[:-1][full]]].any() or edge[bytes_[offsets[1:][full] - 1]].any():
                array = pc.utf8_trim_whitespace(array)
                lengths = _lengths(array)
        if lengths is not None and not _empty_lengths()[np.minimum(lengths, 5)].any():
            return array
    return pc.if_else(pc.is_in(array, value_set=_EMPTY), _scalar(None, array.type), array)


def _lengths(array: Any) -> Any:
    """The byte length of each cell of a string array without nulls, else ``None``."""
    import numpy as np
    import pyarrow as pa

    if array.null_count or not pa.types.is_string(array.type):
        return None
    return np.diff(_offsets(array))


def _offsets(array: Any) -> Any:
    """The value offsets of a string array (``len + 1`` of them), read from its buffer."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset: array.offset + len(array) + 1]


@functools.cache
def _edge_bytes() -> Any:
    """The first or last bytes of a cell ``str.strip`` may remove: ASCII white space and
    any byte of a multi-byte character (some are Unicode white space)."""
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
    table[0x80:] = True
    return table


_EMPTY: Any = None


def _empty_values() -> Any:
    return _text_array(sorted(EMPTY_VALUES))


@functools.cache
def _empty_lengths() -> Any:
    """For each byte length (5 standing for 5 or more), whether an empty spelling has it."""
    import numpy as np

    table = np.zeros(6, dtype=bool)
    table[[min(len(v.encode()), 5) for v in EMPTY_VALUES]] = True
    return table


def _text_array(texts: list[str]) -> Any:
    """An Arrow string array built from its buffers (``pa.array`` would import pandas,
    a second of start-up this path does not otherwise need)."""
    import numpy as np
    import pyarrow as pa

    joined = "".join(texts)
    if joined.isascii():  # one byte per character: lengths counted in C
        data = joined.encode("ascii")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:
        parts = [t.encode() for t in texts]
        data = b"".join(parts)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(texts),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _scalar(value: Any, kind: Any) -> Any:
    """An Arrow scalar made without ``pa.scalar`` (which imports pandas)."""
    import numpy as np
    import pyarrow as pa

    key = (value, str(kind))
    found = _SCALAR_CACHE.get(key)
    if found is None:
        if value is None:
            found = pa.nulls(1, kind)[0]
        elif pa.types.is_string(kind):
            found = _text_array([value])[0]
        elif pa.types.is_boolean(kind):
            found = _numpy_array(np.array([value], dtype=np.uint8)).cast(pa.bool_())[0]
        else:
            dtype = np.float64 if pa.types.is_floating(kind) else np.int64
            found = _numpy_array(np.array([value], dtype=dtype)).cast(kind)[0]
        _SCALAR_CACHE[key] = found
    return found


_SCALAR_CACHE: dict[tuple[Any, str], Any] = {}


def _as_numpy(array: Any) -> Any:
    """A numpy copy of a numeric or boolean Arrow array, read from its buffers
    (``to_numpy`` imports pandas); nulls must have been filled."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        parts = [_as_numpy(chunk) for chunk in array.chunks]
        return np.concatenate(parts) if parts else np.zeros(0)
    assert array.null_count == 0, "fill the nulls first"
    n, offset = len(array), array.offset
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset: offset + n].astype(bool)
    dtype = np.dtype(_NUMPY_TYPES[str(array.type)])
    if data is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype)[offset: offset + n].copy()


_NUMPY_TYPES = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
                "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
                "float": "float32", "double": "float64"}


def _filled(array: Any, value: Any) -> Any:
    """``array`` with its nulls replaced by ``value``."""
    import pyarrow.compute as pc

    return pc.coalesce(array, _scalar(value, array.type)) if array.null_count else array


def _numpy_array(values: Any, valid: Any = None) -> Any:
    """An Arrow array over a numpy array of fixed-width values (``valid``: a bool mask)."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [bitmap, pa.py_buffer(values)])


def _ranges(path: Path, start: int, parts: int) -> list[tuple[int, int]]:
    """Up to ``parts`` byte ranges of about the same size from ``start`` to the end of the
    file, each starting on a line."""
    size = path.stat().st_size
    cuts = [start]
    with open(path, "rb") as fh:
        for j in range(1, parts):
            target = start + (size - start) * j // parts
            if target <= cuts[-1]:
                continue
            fh.seek(target)
            piece = fh.read(1 << 20)
            newline = piece.find(b"\n")
            if newline < 0 or target + newline + 1 >= size:
                break
            cuts.append(target + newline + 1)
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def _scan_range(task: tuple[Path, int, int, list[str], str, str | None, int, str | None]
                ) -> tuple[int, Any, bool] | None:
    """Check one range of the body and read its run_id cells: (rows, the run_ids, whether
    no cell holds a character JSON escapes), or ``None`` when the range must take the
    reference path. The run_ids are the cleaned cells (one bucket), or, with ``buckets`` >
    1, the file ``spill`` they were written to, one record batch per bucket (see
    :func:`_bucketed`), and which rows have none."""
    import numpy as np
    import pyarrow as pa

    path, start, end, names, delimiter, run_col, buckets, spill = task
    checked = _bytes_ok(path, start, end, delimiter)
    if checked is None:
        return None
    include = [run_col] if run_col else [names[0]]
    chunks = []
    rows = 0
    try:
        for batch in _reader(_Range(path, start, end), names, delimiter, include,
                             header=False):
            rows += batch.num_rows
            if run_col is not None:
                chunks.append(_clean_array(batch.column(0)))
    except (pa.ArrowInvalid, OSError):
        return None
    if rows != checked[0]:
        return None  # blank lines (Arrow skips them): row numbers would shift
    if run_col is None:
        return rows, None, checked[1]
    ids = pa.chunked_array(chunks, type=pa.string())
    if spill is None:  # one bucket: kept in memory
        return rows, ids, checked[1]
    ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    null = _as_numpy(ids.is_null())
    _bucketed(ids, np.flatnonzero(~null), buckets, spill)
    return rows, (spill, np.packbits(null)), checked[1]


def _bucketed(ids: Any, present: Any, buckets: int, spill: str) -> None:
    """Write the rows ``present`` of ``ids`` to the Arrow file ``spill``: one record batch
    per bucket (``row``: the row in the range, ``id``: its run_id), a run_id always in the
    same bucket (a polynomial hash of its bytes)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc

    cells = ids.take(_numpy_array(present)) if len(present) < len(ids) else ids
    of_row = _hash_buckets(cells, buckets) if len(cells) else np.zeros(0, dtype=np.int64)
    order = np.argsort(of_row, kind="stable")  # rows stay in order inside a bucket
    ends = np.searchsorted(of_row[order], np.arange(1, buckets + 1))
    rows = _numpy_array(present[order].astype(np.int64))
    texts = cells.take(_numpy_array(order))
    schema = pa.schema([("row", pa.int64()), ("id", pa.string())])
    with pa.OSFile(spill, "wb") as sink, pa.ipc.new_file(sink, schema) as out:
        begin = 0
        for end in ends.tolist():
            out.write_batch(pa.record_batch([rows.slice(begin, end - begin),
                                             texts.slice(begin, end - begin)], schema=schema))
            begin = end


def _hash_buckets(cells: Any, buckets: int) -> Any:
    """The bucket of each (non-empty) text: a polynomial hash of its UTF-8 bytes, with
    numpy over the array's buffers, modulo ``buckets``."""
    import numpy as np

    offsets = _offsets(cells).astype(np.int64)
    data = np.frombuffer(cells.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    within = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
    powers = np.ones(int(lengths.max()), dtype=np.uint64)
    powers[1:] = np.uint64(1099511628211)  # the FNV prime: odd, spreads the bits
    powers = np.cumprod(powers, dtype=np.uint64)  # wraps modulo 2**64, as meant
    sums = np.add.reduceat(data.astype(np.uint64) * powers[within], starts)
    mixed = (sums ^ (sums >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
    return ((mixed >> np.uint64(32)) % np.uint64(buckets)).astype(np.int64)


def prepare(source: CsvSource, *, per_row: bool = False, runner: Runner | None = None,
            spill: str | Path | None = None) -> FastFile | None:
    """Check a file for the fast path: ``None`` when it must take the reference path
    (in memory, another encoding, an unusual layout, a damaged row...). A gzip file is
    unpacked first, streamed, into ``spill`` (or the system's temporary folder); the
    unpacked copy is the FastFile's ``temporary``, which :func:`release` removes.
    With a ``runner``, each of its workers checks one range of the file. ``spill``: a
    folder where the run_ids of a large file are written for a while, bucket by bucket,
    so that finding the last row of each run takes bounded memory (without it they are
    all kept in memory)."""
    global _EMPTY
    if source._path is None or source.kind not in ("codecarbon", "task") or not available():
        return None
    if _EMPTY is None:
        _EMPTY = _empty_values()
    if source.encoding not in ("utf-8", "utf-8-sig") or source._header_issues:
        return None
    path = source._path
    with open(path, "rb") as fh:
        packed = fh.read(2) == b"\x1f\x8b"
    if packed:
        unpacked = _unpacked(path, spill)
        if unpacked is None:
            return None
        path = unpacked
    try:
        found = _prepare(source, path, per_row, runner, spill)
    except BaseException:
        if packed:
            path.unlink(missing_ok=True)
        raise
    if found is None and packed:
        path.unlink(missing_ok=True)
    if found is not None and packed:
        found.temporary = path
    return found


def release(ff: FastFile) -> None:
    """Remove the unpacked copy of a gzip file, if any."""
    if ff.temporary is not None:
        ff.temporary.unlink(missing_ok=True)
        ff.temporary = None


def _unpacked(path: Path, spill: str | Path | None) -> Path | None:
    """A gzip file unpacked into a hidden file of ``spill``, streamed; ``None`` when it is
    damaged (the reference says how)."""
    import gzip
    import zlib

    folder = Path(spill) if spill is not None else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".boamps-etl-unpacked-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 22)
    except (OSError, EOFError, zlib.error):
        Path(name).unlink(missing_ok=True)
        return None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _prepare(source: CsvSource, path: Path, per_row: bool, runner: Runner | None,
             spill: str | Path | None) -> FastFile | None:
    import numpy as np
    import pyarrow as pa

    found = _header_line(source, path)
    if found is None:
        return None
    fields, start = found
    every_row = per_row or source.kind == "task"  # each row is a report
    names = _unique_names(fields)
    by_column = dict(zip(source.columns, names, strict=True))
    run_col = by_column.get("run_id")
    workers = runner.jobs if runner is not None else 1
    size = path.stat().st_size - start
    pieces = 1 if workers == 1 else min(workers * PARTS_PER_WORKER, size // MIN_PART_BYTES)
    pieces = max(pieces, -(-size // MAX_PART_BYTES))  # a range's run_ids are read at once
    if workers > 1 and pieces > workers:
        pieces -= pieces % workers  # as many ranges for each worker
    ranges = _ranges(path, start, max(1, pieces))
    buckets = 1 if run_col is None or every_row or spill is None else \
        -(-size // KEEP_BUCKET_BYTES)
    folder = None
    if buckets > 1:
        assert spill is not None
        Path(spill).mkdir(parents=True, exist_ok=True)  # the writer would make it anyway
        folder = tempfile.mkdtemp(prefix=".boamps-etl-runs-", dir=spill)
    try:
        tasks = [(path, a, b, names, source.delimiter, run_col, buckets,
                  None if folder is None else os.path.join(folder, f"{j}.arrow"))
                 for j, (a, b) in enumerate(ranges)]
        scanned = runner.map(_scan_range, tasks) if runner is not None and len(tasks) > 1 \
            else [_scan_range(t) for t in tasks]
        if any(part is None for part in scanned):
            return None
        counts = [part[0] for part in scanned if part is not None]
        plain_text = all(part[2] for part in scanned if part is not None)
        rows = sum(counts)
        if rows == 0:
            return None  # the reference says so
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        parts = [(a, b, int(first)) for (a, b), first in zip(ranges, firsts, strict=True)]
        if run_col is None or every_row:
            keep = np.ones(rows, dtype=bool)
            # ids derived from the whole row: with --per-row, or for rows without run_id
            missing_ids = run_col is None or per_row or any(
                part[1].null_count for part in scanned if part is not None)
        elif buckets > 1:
            keep, missing_ids = _last_of_each_bucket(
                [part[1] for part in scanned if part is not None], counts, firsts, buckets)
        else:
            ids = pa.chunked_array([c for part in scanned if part is not None
                                    for c in part[1].chunks], type=pa.string())
            del scanned
            keep, missing_ids = _last_of_each(ids, rows)
            del ids
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    source.records = rows
    source.scanned = True
    return FastFile(source.name, path, list(source.columns), names, source.delimiter,
                    source.encoding, rows, keep, missing_ids, parts, plain_text,
                    source.kind, per_row)


def _last_of_each(ids: Any, rows: int) -> tuple[Any, bool]:
    """(True for the last row of each run_id and for rows without one, whether some row
    has none): one pass of Arrow's hash table over the cells, then integer work."""
    import numpy as np

    codes = np.empty(rows, dtype=np.int64)
    null = np.empty(rows, dtype=bool)
    encoded = ids.dictionary_encode()
    at = 0
    for chunk in encoded.chunks:  # the chunks share one dictionary
        size = len(chunk)
        codes[at: at + size] = _as_numpy(_filled(chunk.indices, -1))
        null[at: at + size] = _as_numpy(chunk.is_null())
        at += size
    del encoded
    # the last row of each run_id: first seen when read from the end
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    keep = np.zeros(rows, dtype=bool)
    keep[rows - 1 - first_from_end] = True
    keep |= null
    return keep, bool(null.any())


def _last_of_each_bucket(spilled: list[Any], counts: list[int], firsts: list[int],
                         buckets: int) -> tuple[Any, bool]:
    """:func:`_last_of_each` over run_ids written to one file per range, bucket by bucket:
    only one bucket's run_ids are in memory at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc

    keep = np.zeros(sum(counts), dtype=bool)
    with contextlib.ExitStack() as files:
        readers = []
        for (path, null_bits), count, first in zip(spilled, counts, firsts, strict=True):
            keep[first: first + count] = np.unpackbits(null_bits, count=count).astype(bool)
            readers.append(pa.ipc.open_file(files.enter_context(pa.OSFile(path))))
        missing = bool(keep.any())
        for bucket in range(buckets):
            places, ids = [], []
            for reader, first in zip(readers, firsts, strict=True):
                batch = reader.get_batch(bucket)
                places.append(_as_numpy(batch.column(0)) + first)
                ids.append(batch.column(1))
            where = np.concatenate(places)
            if len(where):
                last, _ = _last_of_each(pa.chunked_array(ids, type=pa.string()), len(where))
                keep[where[last]] = True
    return keep, missing


MIN_PART_BYTES = 1 << 23  # a worker's range is at least 8 MB (about 17,000 rows)
MAX_PART_BYTES = 1 << 26  # and at most 64 MB: its run_ids are read at once
KEEP_BUCKET_BYTES = 1 << 26  # run_ids of at most about this much CSV are in memory at once
PARTS_PER_WORKER = 8  # ranges handed out one at a time: a worker slowed down takes fewer


def _regroup(batches: Any, rows: int) -> Iterator[Any]:
    """Arrow's small record batches joined into batches of about ``rows`` rows."""
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield _joined(pending, pa)
            pending, count = [], 0
    if pending:
        yield _joined(pending, pa)


def _joined(batches: list[Any], pa: Any) -> Any:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class _Range(io.RawIOBase):
    """Bytes ``start`` to ``end`` of a file, read as a file of their own."""

    def __init__(self, path: Path, start: int, end: int):
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._fh.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._left)
        if size <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:size])
        self._left -= got or 0
        return got or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


# --------------------------------------------------------------------------- mapping


class _Lazy(Sequence[Any]):
    """A column of mapped values read one by one where needed (the first report of a
    signature) and made a list only when something walks it."""

    _list: list[Any] | None = None

    def _one(self, i: int) -> Any:
        raise NotImplementedError

    def _all(self) -> list[Any]:
        raise NotImplementedError

    def __getitem__(self, i: Any) -> Any:
        return self.to_list()[i] if isinstance(i, slice) else self._one(i)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_list())

    def to_list(self) -> list[Any]:
        if self._list is None:
            self._list = self._all()
        return self._list


class _Column(_Lazy):
    """Mapped values that are exactly an Arrow column: never turned into a list on the way
    to the output."""

    def __init__(self, array: Any):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def _one(self, i: int) -> Any:
        return self.array[i].as_py()

    def _all(self) -> list[Any]:
        out: list[Any] = self.array.to_pylist()
        return out

    def __contains__(self, value: object) -> bool:
        if value is None:
            return bool(self.array.null_count)
        return value in self.to_list()

    def kind(self) -> type:
        """The Python type of its values."""
        import pyarrow as pa

        kind = self.array.type
        if pa.types.is_floating(kind):
            return float
        if pa.types.is_string(kind):
            return str
        if pa.types.is_boolean(kind):
            return bool
        return int


def _number_column(rule: Rule, array: Any, problems: Problems,
                   direct: list[Any] | None = None) -> list[Any]:
    """Plain numbers parsed by Arrow; any other cell as :func:`to_float` reads it.
    ``direct`` receives the Arrow column of the values when no cell was odd."""
    import numpy as np
    import pyarrow.compute as pc

    parsed, odd = _parse_numbers(array)
    if not pc.any(odd).as_py():
        if direct is not None:
            direct.append(parsed)
        return _Column(parsed)  # type: ignore[return-value]
    # cells that are not plain numbers, or overflow: the reference parser decides
    values: list[Any] = parsed.to_pylist()
    if True:
        column = rule.source[0]
        texts = array.to_pylist()
        for i in np.flatnonzero(_as_numpy(odd)).tolist():
            try:
                values[i] = to_float(texts[i], column)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                values[i] = None
    return values


_PLAIN_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


def _scaled_column(rule: Rule, array: Any, scale: Any, problems: Problems) -> list[Any]:
    """Numbers times a power of ten (% to a fraction...): the exact product of the cell
    and the factor is the cell with its exponent moved, so ``12.5`` % is read as
    ``12.5e-2``, rounded once to a float as the reference does. Cells of other forms, or
    too long for an exact product in 28 digits, take the reference parser."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    exponent = scale.adjusted()
    plain = pc.and_(pc.match_substring_regex(array, _PLAIN_DECIMAL),
                    pc.less_equal(pc.utf8_length(array), _scalar(27, pa.int32())))
    shifted = pc.binary_join_element_wise(
        pc.if_else(plain, array, _scalar(None, pa.string())),
        _scalar(f"e{exponent}", pa.string()), _scalar("", pa.string()))
    parsed = pc.cast(shifted, pa.float64())
    values: list[Any] = parsed.to_pylist()
    odd = pc.or_(pc.and_(pc.is_valid(array), pc.invert(_filled(plain, False))),
                 pc.invert(_filled(pc.is_finite(parsed), True)))
    if pc.any(odd).as_py():
        column = rule.source[0]
        texts = array.to_pylist()
        for i in np.flatnonzero(_as_numpy(odd)).tolist():
            try:
                values[i] = to_float(texts[i], column, scale)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                values[i] = None
    return values


def _cached(fn: Callable[[str], Any], cells: Sequence[str | None], problems: Problems,
            column: str | None) -> list[Any]:
    cache: dict[str, Any] = {}
    out: list[Any] = []
    append = out.append
    for i, text in enumerate(cells):
        if text is None:
            append(None)
            continue
        value = cache.get(text, cache)
        if value is cache:
            try:
                value = fn(text)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                append(None)
                continue
            cache[text] = value
        append(value)
    return out


def _coerce(rule: Rule, get_cells: Callable[[], list[str | None]], array: Any,
            problems: Problems, direct: list[Any] | None = None) -> list[Any]:
    """:func:`boamps_etl.mapping._coerce`, column-wise (``array``: the source column,
    ``None`` when absent or computed)."""
    spec = rule.spec
    typ = spec.type if spec else "string"
    column = rule.source[0] if rule.source else None
    scale = None
    if rule.source_unit and rule.unit:
        factor = unit_factor(rule.source_unit, rule.unit)
        scale = None if factor == 1 else factor
    if typ == "number":
        if scale is None and array is not None:
            return _number_column(rule, array, problems, direct)
        if array is not None and scale is not None and scale.as_tuple().digits == (1,):
            return _scaled_column(rule, array, scale, problems)
        return _cached(lambda t: to_float(t, column, scale), get_cells(), problems, column)
    if typ == "string" and direct is not None and array is not None:
        direct.append(array)
        return _Column(array)  # type: ignore[return-value]
    if typ == "integer" and array is not None:
        return _dict_of(array, lambda t: to_int(t, column), problems, column)  # type: ignore[return-value]
    cells = get_cells()
    if typ == "integer":
        return _cached(lambda t: to_int(t, column), cells, problems, column)
    if typ == "boolean":
        return [None if t is None else t.lower() in ("y", "yes", "true", "1") for t in cells]
    if direct is not None and array is not None:
        direct.append(array)
        return _Column(array)  # type: ignore[return-value]
    return list(cells)


def _floats(array: Any) -> tuple[Any, Any]:
    """(float64 numpy values, NaN where empty; True where a cell is neither empty nor a
    plain finite number, which the reference parser must read)."""
    import numpy as np

    parsed, odd = _parse_numbers(array)
    values = _as_numpy(_filled(parsed, np.nan))
    return values, _as_numpy(odd)


def _parse_numbers(array: Any) -> tuple[Any, Any]:
    """(float64 Arrow array, Arrow mask of the cells the reference parser must read:
    neither empty nor a plain finite decimal number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # fast_float reads a subset of what float() reads, and rounds the same
        parsed = pc.cast(array, pa.float64())
    except pa.ArrowInvalid:
        plain = pc.match_substring_regex(array, _NUMBER)
        parsed = pc.cast(pc.if_else(plain, array, _scalar(None, pa.string())), pa.float64())
        return parsed, pc.or_(pc.and_(pc.is_valid(array), pc.invert(_filled(plain, False))),
                              pc.invert(_filled(pc.is_finite(parsed), True)))
    return parsed, pc.invert(_filled(pc.is_finite(parsed), True))


def _carbon_intensity(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np

    (e, odd_e), (k, odd_k) = _floats(arrays[0]), _floats(arrays[1])
    with np.errstate(all="ignore"):
        value = e / k * 1000
    good = (e > 0) & (k > 0)
    out = np.where(good, value, np.nan)
    return (None, _float_column(out)), odd_e | odd_k


def _emissions_rate(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np

    (r, odd_r), (e, odd_e), (d, odd_d) = (_floats(a) for a in arrays)
    with np.errstate(all="ignore"):
        grams = (e > 0) & (d > 0) & (r > 0) & (np.abs(r / (e / d) - 1000) < 10)
    has_r = ~np.isnan(r) | odd_r
    both = ~(np.isnan(e) & ~odd_e) & ~(np.isnan(d) & ~odd_d)  # e and d present
    odd = odd_r | (has_r & both & (odd_e | odd_d)) | grams
    return (None, _float_column(r)), odd


def _start_datetime(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ts, dur = arrays
    iso = pc.match_substring_regex(ts, _ISO_SECONDS)
    text = pc.utf8_replace_slice(pc.if_else(iso, ts, _scalar(None, pa.string())),
                                 10, 11, " ")
    end = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    # strptime moves impossible dates on (2024-02-30 -> 2024-03-01): written back, such a
    # time differs from its cell, which the reference refuses
    end = pc.if_else(pc.equal(end.cast(pa.timestamp("s")).cast(pa.string()), text), end,
                     _scalar(None, pa.timestamp("us")))
    end_us = _as_numpy(_filled(end.cast(pa.int64()), 0))
    seconds, odd_d = _floats(dur)
    has_ts = _as_numpy(pc.is_valid(ts))
    has_d = ~np.isnan(seconds) | odd_d
    both = has_ts & has_d
    parsed = _as_numpy(pc.is_valid(end))
    with np.errstate(all="ignore"):
        shifted = end_us.astype(np.float64) - seconds * 1e6 + 5e5
        rest = np.mod(shifted, 1e6)
        start_s = np.floor(shifted / 1e6)
    # the reference's microsecond rounding decides rows near a second's boundary; dates
    # before year 1000 and after 9999, other spellings and odd cells go there too
    near = (rest < 4) | (rest > 1e6 - 4)
    ok = parsed & ~odd_d & (seconds >= 0) & ~near & (start_s > -30610224000) & \
        (end_us < 253402300800 * 10**6)
    odd = both & ~ok
    good = both & ok
    stamps = _numpy_array(np.where(good, start_s, 0).astype(np.int64))
    # years 1000 to 9999 only (above): Arrow writes them as YYYY-MM-DD HH:MM:SS
    formatted = stamps.cast(pa.timestamp("s")).cast(pa.string())
    column = pc.if_else(_numpy_array(good.astype(np.uint8)).cast(pa.bool_()), formatted,
                        _scalar(None, pa.string()))
    return (None, column), odd


def _datetime(arrays: list[Any]) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = arrays[0]
    iso = pc.match_substring_regex(ts, _ISO_SECONDS)
    text = pc.utf8_replace_slice(pc.if_else(iso, ts, _scalar(None, pa.string())),
                                 10, 11, " ")
    odd = pc.and_(pc.is_valid(ts), pc.invert(_filled(iso, False)))
    return (None, text), _as_numpy(odd)


def _report_id(arrays: list[Any]) -> tuple[Any, Any]:
    """A row with a run_id and no task_name: its run_id (without --per-row, which takes
    the reference path); other rows hash their content (the reference)."""
    import pyarrow.compute as pc

    run_id = arrays[0]
    own = pc.is_valid(run_id)
    if len(arrays) > 1:
        own = pc.and_(own, pc.is_null(arrays[1]))
    return (None, run_id), _as_numpy(pc.invert(own))


def _float_column(values: Any) -> Any:
    """A float64 Arrow column of numpy values, NaN standing for empty."""
    import numpy as np

    values = np.ascontiguousarray(values, dtype=np.float64)
    return _numpy_array(values, ~np.isnan(values))


#: Column-wise versions of transforms (Arrow columns in; values and the rows the reference
#: transform must compute instead out). Each equals its reference on the rows it keeps:
#: the same float operations, and the reference for every odd cell.
FAST_TRANSFORMS: dict[str, Callable[[list[Any]], tuple[Any, Any]]] = {
    "carbon_intensity": _carbon_intensity,
    "emissions_rate": _emissions_rate,
    "start_datetime": _start_datetime,
    "datetime": _datetime,
    "report_id": _report_id,
}


#: Transforms whose value for a row depends on that row's source cells only: computed once
#: per distinct text (one source) or distinct combination of texts (several).
PER_VALUE_TRANSFORMS = frozenset({
    "lower", "os_name", "os_distribution", "os_distribution_version", "cpu_manufacturer",
    "cpu_family", "cpu_series", "gpu_manufacturer", "gpu_family", "gpu_series", "gpu_memory",
    "gpu_count", "infra_type", "first",
})


class _Dict(_Lazy):
    """Mapped values computed once per distinct cell: each row's index into ``distinct``
    (whose last entry is ``None``, for empty cells). Type tags, value checks and JSON text
    are worked out per distinct value, then spread by the indices."""

    def __init__(self, indices: Any, distinct: list[Any]):
        self.indices = indices  # numpy integer array
        self.distinct = distinct
        self._used: list[int] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _one(self, i: int) -> Any:
        return self.distinct[int(self.indices[i])]

    def _all(self) -> list[Any]:
        distinct = self.distinct
        return [distinct[j] for j in self.indices.tolist()]

    def __contains__(self, value: object) -> bool:
        return any(_same_value(self.distinct[j], value) for j in self.used())

    def used(self) -> list[int]:
        """The distinct values some row holds."""
        if self._used is None:
            import numpy as np

            self._used = np.unique(self.indices).tolist()
        return self._used

    def spread(self, per_distinct: list[Any]) -> list[Any]:
        """One value per row, from one value per distinct value."""
        import numpy as np

        table = np.empty(len(per_distinct), dtype=object)
        table[:] = per_distinct
        out: list[Any] = table[self.indices].tolist()
        return out


def _dict_of(array: Any, fn: Callable[[str], Any], problems: Problems, column: str | None
             ) -> _Dict:
    """``fn`` of each distinct cell (its problems given to every row holding it)."""
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    results: list[Any] = []
    bad: Problems = {}
    for j, text in enumerate(distinct):
        try:
            results.append(fn(text))
        except ValueProblem as exc:
            exc.column = exc.column or column
            bad[j] = exc
            results.append(None)
    return _by_distinct(encoded, results, bad, problems)


def _by_distinct(encoded: Any, results: list[Any], bad: Problems, problems: Problems
                 ) -> _Dict:
    """The values of a dictionary-encoded column from one result per distinct cell; a
    distinct cell's problem goes to every row holding it."""
    return _spread(_as_numpy(_filled(encoded.indices, len(results))), results, bad, problems)


def _spread(indices: Any, results: list[Any], bad: Problems, problems: Problems) -> _Dict:
    """The values of each row from one result per distinct index; a distinct index's
    problem goes to every row holding it."""
    if bad:
        for i, j in enumerate(indices.tolist()):
            if j in bad:
                problems[i] = bad[j]
    return _Dict(indices, [*results, None])


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _per_distinct(rule: Rule, array: Any, ctx: TransformContext, problems: Problems
                  ) -> Any:
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    sub_problems: Problems = {}
    # the distinct cells stand for no rows: no row numbers, no row content
    results = run_transform(rule, [distinct], TransformContext(ctx.kind, ctx.per_row),
                            sub_problems)
    return _by_distinct(encoded, results, sub_problems, problems)


def _per_combination(rule: Rule, arrays: list[Any], ctx: TransformContext,
                     problems: Problems) -> _Dict:
    """A transform of several columns, once per distinct combination of their cells
    (empty cells included: a transform may give a value for them)."""
    cells, inverse = _combinations(arrays)
    sub_problems: Problems = {}
    results = run_transform(rule, cells, TransformContext(ctx.kind, ctx.per_row),
                            sub_problems)
    return _spread(inverse, results, sub_problems, problems)


def _combinations(arrays: list[Any]) -> tuple[list[Cells], Any]:
    """The distinct combinations of the columns' cells (``None`` for empty), as one list
    of cells per column, and each row's combination."""
    import numpy as np

    columns = []
    for array in arrays:
        encoded = array.dictionary_encode()
        distinct = [*encoded.dictionary.to_pylist(), None]
        columns.append((_as_numpy(_filled(encoded.indices, len(distinct) - 1)), distinct))
    _, first, inverse = np.unique(_combined(columns, len(arrays[0])), return_index=True,
                                  return_inverse=True)
    cells: list[Cells] = [[distinct[j] for j in codes[first].tolist()]
                          for codes, distinct in columns]
    return cells, inverse.reshape(-1)


def _nulls(n: int) -> Any:
    import pyarrow as pa

    return pa.nulls(n, type=pa.string())


def _fast_transform(rule: Rule, arrays: dict[str, Any], cells_of: Callable[[str], Any],
                    n: int, ctx: TransformContext, problems: Problems,
                    direct: list[Any] | None = None) -> list[Any] | None:
    import numpy as np

    if rule.transform in PER_VALUE_TRANSFORMS and not ctx.per_row:
        if len(rule.source) == 1 and rule.source[0] in arrays:
            found: list[Any] = _per_distinct(rule, arrays[rule.source[0]], ctx, problems)
            return found
        if len(rule.source) > 1:
            sources = [arrays[s] if s in arrays else _nulls(n) for s in rule.source]
            return _per_combination(rule, sources, ctx, problems)  # type: ignore[return-value]
    fast = FAST_TRANSFORMS.get(rule.transform or "")
    if fast is None or rule.args or ctx.per_row or not rule.source or \
            rule.source[0] not in arrays:
        return None
    if any(s not in arrays for s in rule.source):
        if rule.transform != "report_id":
            return None
        arrays = {**arrays, **{s: _nulls(n) for s in rule.source if s not in arrays}}
    values, odd = fast([arrays[s] for s in rule.source])
    if isinstance(values, tuple):  # (None, the values as an Arrow column)
        column = values[1]
        if not odd.any():
            if direct is not None:
                direct.append(column)
            return _Column(column)  # type: ignore[return-value]
        values = column.to_pylist()
    if odd.any():
        rows = np.flatnonzero(odd).tolist()
        cols = [cells_of(s) for s in rule.source]
        sub = TransformContext(ctx.kind, ctx.per_row, {}, rule.source,
                               [ctx.rows[i] for i in rows] if ctx.rows else (), ())
        sub_problems: Problems = {}
        redone = TRANSFORMS[rule.transform or ""].func(
            [[col[i] for i in rows] for col in cols], sub, sub_problems)
        for j, i in enumerate(rows):
            values[i] = redone[j]
            if j in sub_problems:
                problems[i] = sub_problems[j]
    out: list[Any] = values
    return out


def _holds(cond: Any, array: Any) -> list[bool]:
    """A ``when`` condition for each row, evaluated once per distinct cell."""
    import numpy as np

    encoded = array.dictionary_encode()
    results = cond.evaluate([*encoded.dictionary.to_pylist(), None])
    indices = _as_numpy(_filled(encoded.indices, len(results) - 1))
    out: list[bool] = np.array(results, dtype=bool)[indices].tolist()
    return out


def apply_columns(mapping: Mapping, arrays: dict[str, Any], n: int,
                  ctx: TransformContext) -> tuple[Applied, dict[str, Any]]:
    """:func:`boamps_etl.mapping.apply_mapping` over Arrow columns (cleaned, nulls for
    empty cells): the same rules and transforms, plain numbers parsed column-wise. Also
    returns, for targets whose values are exactly an Arrow column (a number or text
    column as read, a transform done column-wise), that column."""
    import pyarrow.compute as pc

    lists: dict[str, list[str | None]] = {}

    def cells_of(name: str) -> list[str | None]:
        found = lists.get(name)
        if found is None:
            array = arrays.get(name)
            found = [None] * n if array is None else array.to_pylist()
            lists[name] = found
        return found

    def condition(cond: Any) -> list[bool]:
        if cond.column in arrays:
            return _holds(cond, arrays[cond.column])
        held: list[bool] = cond.evaluate(cells_of(cond.column))
        return held

    computed: dict[str, tuple[Any, Any]] = {}  # target -> (its values, their Arrow column)

    def compute(rule: Rule, problems: Problems) -> list[Any]:
        direct: list[Any] = []
        result = _fast_transform(rule, arrays, cells_of, n, ctx, problems, direct) \
            if rule.transform else None
        if result is not None:
            pass
        elif rule.transform:
            result = run_transform(rule, [cells_of(s) for s in rule.source], ctx, problems)
        elif len(rule.source) == 1:
            name = rule.source[0]
            result = _coerce(rule, lambda: cells_of(name), arrays.get(name), problems, direct)
        elif all(s in arrays for s in rule.source):  # the first non-empty column
            first = pc.coalesce(*(arrays[s] for s in rule.source))
            result = _coerce(rule, first.to_pylist, first, problems, direct)
        else:
            merged = TRANSFORMS["first"].func([cells_of(s) for s in rule.source], ctx,
                                              problems)
            result = _coerce(rule, lambda: merged, None, problems)
        if direct and not problems:
            computed[rule.target] = (result, direct[0])
        return result

    applied = apply_rules(mapping, n, condition, compute)
    # a default or a condition that changed the values leaves no column behind them
    columns = {target: column for target, (result, column) in computed.items()
               if applied.values[target] is result}
    return applied, columns


# --------------------------------------------------------------------------- value checks


def _kinds(values: Sequence[Any]) -> set[type]:
    """The Python types of the values, ``NoneType`` included."""
    if isinstance(values, _Column):
        found = {values.kind()}
        if values.array.null_count:
            found.add(type(None))
        if values.array.null_count == len(values.array):
            found = {type(None)}
        return found
    if isinstance(values, _Dict):
        return {type(values.distinct[j]) for j in values.used()}
    return set(map(type, values))


def _column_ok(values: Sequence[Any], path: tuple[str, ...], kinds: set[type]
               ) -> list[bool] | None:
    """Per row: the value passes every constraint the schemas put on ``path`` (``None``
    when all pass); ``kinds``: the types of the values, ``None`` left out."""
    checks = value_constraints(path)
    if not checks:
        return None
    if isinstance(values, _Column):
        return _column_ok_arrow(values.array, checks, number_bounds(path), kinds)
    if isinstance(values, _Dict):
        good = [v is None or all(check(v) for check in checks) for v in values.distinct]
        if all(good[j] for j in values.used()):
            return None
        return values.spread(good)
    bounds = number_bounds(path)
    if kinds == {float} and bounds is not None:
        import numpy as np

        return _within(np.array(values, dtype=np.float64), bounds)  # None becomes NaN
    if len(kinds) <= 1:
        bad: set[Any] = {v for v in set(values) if v is not None
                         and not all(check(v) for check in checks)}
        if not bad:
            return None
        return [v not in bad for v in values]
    # 1, 1.0 and True are equal keys: tell them apart by type
    typed = {(type(v), v) for v in values if v is not None}
    refused = {key for key in typed if not all(check(key[1]) for check in checks)}
    if not refused:
        return None
    return [v is None or (type(v), v) not in refused for v in values]


def _within(numbers: Any, bounds: tuple[tuple[float, ...], tuple[float, ...]]
            ) -> list[bool] | None:
    """Per number: within every bound (NaN stands for an empty cell and passes); ``None``
    when all are."""
    import numpy as np

    ok = np.ones(len(numbers), dtype=bool)
    with np.errstate(invalid="ignore"):
        for low in bounds[0]:
            ok &= ~(numbers < low)
        for high in bounds[1]:
            ok &= ~(numbers > high)
    if ok.all():
        return None
    out: list[bool] = ok.tolist()
    return out


def _column_ok_arrow(array: Any, checks: Any, bounds: Any, kinds: set[type]
                     ) -> list[bool] | None:
    """:func:`_column_ok` for an Arrow column: numbers against their bounds at once, other
    values once per distinct value."""
    import numpy as np
    import pyarrow as pa

    if kinds == {float} and bounds is not None:
        return _within(_as_numpy(_filled(array, np.nan)), bounds)
    encoded = array.dictionary_encode() if not pa.types.is_dictionary(array.type) else array
    distinct = encoded.dictionary.to_pylist()
    good = [all(check(v) for check in checks) for v in distinct]
    if all(good):
        return None
    indices = _as_numpy(_filled(encoded.indices, len(distinct)))
    passes = np.array([*good, True], dtype=bool)  # an empty cell passes
    out: list[bool] = passes[indices].tolist()
    return out


# --------------------------------------------------------------------------- templates


def _encode(value: Any) -> str:
    """JSON text of a scalar as :func:`boamps_etl.io.writers.dumps` writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        return float.__repr__(value)
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


_PLAIN_TEXT = re.compile(r'[\x00-\x1f"\\]')


def float_json(values: Any) -> Any:
    """``repr`` of each float (``null`` for ``None`` or NaN), as ``json.dumps`` writes
    them, as an Arrow string array: orjson's shortest round-trip digits for the whole
    column, put in Python's notation (:func:`_python_notation`) where they differ."""
    import numpy as np
    import orjson

    if len(values) == 0:
        return _text_array([])
    if not isinstance(values, np.ndarray):
        return _python_notation(_float_items(orjson.dumps(
            values if isinstance(values, list) else list(values))))
    texts = _float_items(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY))
    with np.errstate(invalid="ignore"):
        small = np.abs(values) < 1e-4
    small &= values != 0
    count = int(np.count_nonzero(small))
    if count == 0:  # orjson and Python differ only below 1e-4
        return texts
    if count * 2 > len(values):
        return _python_notation(texts)
    import pyarrow as pa

    where = np.arange(len(values))
    where[small] = len(values) + np.arange(count)
    fixed = _python_notation(texts.take(_numpy_array(np.flatnonzero(small))))
    return pa.concat_arrays([texts, fixed]).take(_numpy_array(where))


def _float_items(data: bytes) -> Any:
    """orjson's JSON list of numbers as an Arrow string array of its items."""
    import pyarrow.compute as pc

    return pc.split_pattern(_text_array([data[1:-1].decode()]), ",").flatten()


def _python_notation(texts: Any) -> Any:
    """orjson's float texts in Python's notation: below 1e-4 Python writes an exponent of
    two digits at least (``1.5e-7`` is ``1.5e-07``, ``0.00001`` is ``1e-05``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(value: str) -> Any:  # a Python str argument would make Arrow import pandas
        return _scalar(value, pa.string())

    one_digit = pc.equal(pc.utf8_slice_codeunits(texts, -3, -1), text("e-"))
    if pc.any(one_digit).as_py():
        texts = pc.if_else(one_digit, pc.utf8_replace_slice(texts, -1, -1, "0"), texts)
    negative = pc.starts_with(texts, "-0.0000")
    five = pc.or_(negative, pc.starts_with(texts, "0.0000"))
    if pc.any(five).as_py():  # [-]0.0000d[ddd] -> [-]d[.ddd]e-05
        digits = pc.if_else(negative, pc.utf8_slice_codeunits(texts, 7),
                            pc.utf8_slice_codeunits(texts, 6))
        rest = pc.utf8_slice_codeunits(digits, 1)
        dot = pc.if_else(pc.greater(pc.binary_length(rest), _scalar(0, pa.int32())),
                         text("."), text(""))
        texts = pc.if_else(five, pc.binary_join_element_wise(
            pc.if_else(negative, text("-"), text("")), pc.utf8_slice_codeunits(digits, 0, 1),
            dot, rest, text("e-05"), text("")), texts)
    return texts


def float_texts(values: Sequence[float | None]) -> list[str]:
    """:func:`float_json` as a list of Python strings."""
    out: list[str] = float_json(values).to_pylist()
    return out


def _json_column(values: Sequence[Any], kinds: set[type], column: Any, plain: bool = False,
                 order: Any = None) -> Any:
    """The JSON text of each value as an Arrow string array (``column``: the values as
    an Arrow column, when there is one: no Python object is made then; ``plain``: its
    texts hold nothing JSON escapes, known from the file check; ``order``: the rows to
    encode, in that order, as numpy indices, else all)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def ordered(array: Any) -> Any:
        return array if order is None else array.take(_numpy_array(order))

    if column is not None:
        if pa.types.is_floating(column.type):
            numbers = _as_numpy(_filled(column, float('nan')))
            return float_json(numbers if order is None else numbers[order])
        if pa.types.is_string(column.type) and (plain or not pc.any(
                pc.match_substring_regex(column, _PLAIN_TEXT.pattern)).as_py()):
            quote = _scalar('"', pa.string())
            return pc.binary_join_element_wise(quote, ordered(column), quote,
                                               _scalar("", pa.string()))
    if isinstance(values, _Dict):
        texts = [_encode(v) for v in values.distinct]
        indices = values.indices if order is None else values.indices[order]
        return _text_array(texts).take(_numpy_array(indices))
    if kinds == {float}:
        return ordered(float_json(values))
    return ordered(_text_array(_encoded(values, kinds)))


def _encoded(values: Sequence[Any], kinds: set[type]) -> list[str]:
    if kinds == {str}:
        distinct = set(values)
        if len(distinct) * 4 < len(values):  # few texts: each encoded once
            table = {v: "null" if v is None else _encode(v) for v in distinct}
            return [table[v] for v in values]
        if not _PLAIN_TEXT.search("".join([v for v in values if v is not None])):
            return ["null" if v is None else f'"{v}"' for v in values]
    cache: dict[tuple[type, Any], str] = {}
    out = []
    for value in values:
        key = (type(value), value)
        text = cache.get(key)
        if text is None:
            text = _encode(value)
            if len(cache) < 65536:
                cache[key] = text
        out.append(text)
    return out


@dataclass
class _Template:
    pieces: list[str]  # literal text around the slots
    slots: list[int]  # which mapped value fills each slot
    level: str
    # the output's own layout when it is not JSON Lines: a json file's text (with
    # ``name``, how its file name is made) or a flat CSV line (with its ``columns``)
    out: _Template | None = None
    name: list[str | int] | None = None  # a name part's text, or the slot giving it
    columns: tuple[str, ...] | None = None

    @property
    def scalars(self) -> list[Any]:
        """The text pieces as Arrow scalars; the last one ends the line."""

        found = self.__dict__.get("_scalars")
        if found is None:
            texts = _text_array([*self.pieces[:-1], self.pieces[-1] + "\n"])
            found = [texts[i] for i in range(len(texts))]
            self.__dict__["_scalars"] = found
        return found


def _slotted(values: dict[str, list[Any]], targets: list[str], keep_real: set[int],
             i: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for k, target in enumerate(targets):
        value = values[target][i]
        if value is None or k in keep_real:
            out[target] = [value]
        else:
            out[target] = [f"\ue000{k}\ue001"]  # a slot: _SLOT finds it in the JSON
    return out


def _make_template(doc_real: dict[str, Any], mapping: Mapping, applied: Applied,
                   targets: list[str], keep_real: set[int], layers: list[dict[str, Any]],
                   i: int, level: str, fmt: str = "jsonl") -> _Template | None:
    one = _slotted(applied.values, targets, keep_real, i)
    entries = {t: [mask[i]] for t, mask in applied.entries.items()}
    doc = build_report(mapping, one, entries, 0, layers)
    parts = _SLOT.split(dumps(doc, indent=None))
    pieces, slots = parts[0::2], [int(s) for s in parts[1::2]]
    template = _Template(pieces, slots, level)
    row = [_encode(applied.values[targets[k]][i]) for k in slots]
    if _fill_one(template, row) != dumps(doc_real, indent=None):
        return None  # a value shapes the report beyond its type: the reference decides
    if fmt == "jsonl":
        return template
    real = [applied.values[t][i] for t in targets]
    layout = _json_layout(doc, doc_real, real) if fmt == "json" else \
        _csv_layout(doc, doc_real, real)
    if layout is None:
        return None
    template.out = layout
    return template


_MARK = re.compile("\ue000([0-9]+)\ue001")


def _json_layout(doc: dict[str, Any], doc_real: dict[str, Any], real: list[Any]
                 ) -> _Template | None:
    """The layout of a report's json file (indented, as the json writer writes it) and of
    its file name, checked against the report itself."""
    parts = _SLOT.split(dumps(doc))
    layout = _Template(parts[0::2], [int(s) for s in parts[1::2]], "")
    if _fill_one(layout, [_encode(real[k]) for k in layout.slots]) != dumps(doc_real):
        return None
    name: list[str | int] = []
    for value, (_, fallback) in zip(name_values(doc), NAME_FIELDS, strict=True):
        found = _MARK.fullmatch(value) if isinstance(value, str) else None
        name.append(int(found.group(1)) if found else safe_part(value, fallback))
    layout.name = name
    if _name_of(name, real) != report_filename(doc_real):
        return None
    return layout


def _name_of(name: list[str | int], real: list[Any]) -> str:
    fallbacks = [fallback for _, fallback in NAME_FIELDS]
    return name_from_parts([part if isinstance(part, str) else
                            safe_part(real[part], fallbacks[j])
                            for j, part in enumerate(name)])


def _csv_layout(doc: dict[str, Any], doc_real: dict[str, Any], real: list[Any]
                ) -> _Template | None:
    """The layout of a report's flat CSV line, in its own columns (the writer puts them in
    the order of the whole file's), checked against the report itself."""
    flat, flat_real = flatten(doc), flatten(doc_real)
    if list(flat) != list(flat_real):
        return None
    cells = [cell_text(v) for v in flat.values()]
    if any("\r" in c for c in cells):  # such a line is quoted whole: the reference
        return None
    parts = _MARK.split(csv_line(cells)[:-1])
    layout = _Template(parts[0::2], [int(s) for s in parts[1::2]], "")
    layout.columns = tuple(flat)
    expected = csv_line([cell_text(v) for v in flat_real.values()])[:-1]
    if _fill_one(layout, [_csv_cell(real[k]) for k in layout.slots]) != expected:
        return None
    return layout


def _text_of(doc: dict[str, Any], fmt: str) -> tuple[str, Any]:
    """A report's text in the output's layout as the writers write it, with its file name
    (json) or its column set (csv)."""
    if fmt == "json":
        return dumps(doc) + "\n", report_filename(doc)
    if fmt == "csv":
        flat = flatten(doc)
        return csv_line([cell_text(v) for v in flat.values()]), tuple(flat)
    return dumps(doc, indent=None) + "\n", None


def _csv_cells(texts: Any) -> tuple[Any, Any]:
    """CSV cells from the JSON texts of flat values (an Arrow string array): numbers and
    booleans as they are, ``null`` empty, texts unquoted or quoted as the csv module
    quotes them; and a numpy mask of the texts JSON escapes (a quote, a backslash, a
    control character), which the reference writes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(value: str) -> Any:
        return _scalar(value, pa.string())

    is_text = pc.starts_with(texts, pattern='"')
    escaped = pc.and_(is_text, pc.match_substring(texts, pattern="\\"))
    inner = pc.utf8_slice_codeunits(texts, 1, -1)
    quoted = pc.binary_join_element_wise(text('"'), inner, text('"'), text(""))
    cells = pc.if_else(is_text, pc.if_else(pc.match_substring(inner, pattern=","), quoted,
                                           inner),
                       pc.if_else(pc.equal(texts, text("null")), text(""), texts))
    return cells, _as_numpy(_filled(escaped, False))


_SAFE_NAME = r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,58}[A-Za-z0-9_])?$"  # safe_part keeps it


def _name_parts(values: Sequence[Any], column: Any, order: Any, fallback: str) -> Any:
    """:func:`boamps_etl.io.writers.safe_part` of the values of rows ``order`` (an Arrow
    string array): texts already safe taken as they are, others once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is not None and pa.types.is_string(column.type):
        texts = column.take(_numpy_array(order))
        if pc.all(_filled(pc.match_substring_regex(texts, _SAFE_NAME), False)).as_py():
            return texts
    if isinstance(values, _Dict):
        distinct = [safe_part(v, fallback) for v in values.distinct]
        return _text_array(distinct).take(_numpy_array(values.indices[order]))
    items = values.to_list() if isinstance(values, _Lazy) else values
    cache: dict[tuple[type, Any], str] = {}
    out = []
    for i in order.tolist():
        value = items[i]
        key = (type(value), value)
        part = cache.get(key)
        if part is None:
            part = cache[key] = safe_part(value, fallback)
        out.append(part)
    return _text_array(out)


def _joined_name(parts: list[Any], count: int) -> Any:
    """File names (:func:`boamps_etl.io.writers.name_from_parts`) from their parts, each an
    Arrow scalar (the same for all) or an array of ``count`` texts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if all(isinstance(p, pa.Scalar) for p in parts):
        return _text_array([name_from_parts([p.as_py() for p in parts])] * count)
    sep = _scalar("_", pa.string())
    pieces: list[Any] = [_scalar("report_", pa.string())]
    for j, part in enumerate(parts):
        pieces += [sep, part] if j else [part]
    joined = pc.binary_join_element_wise(*pieces, _scalar("", pa.string()))
    if pc.max(pc.utf8_length(joined)).as_py() > MAX_NAME:
        joined = pc.utf8_slice_codeunits(joined, 0, MAX_NAME)
    return pc.binary_join_element_wise(joined, _scalar(".json", pa.string()),
                                       _scalar("", pa.string()))


def _csv_cell(value: Any) -> str:
    """A flat value as a cell of a CSV line (quoted where the csv module quotes it)."""
    text = cell_text(value)
    return csv_line([text])[:-1] if text else ""


def _fill_one(template: _Template, row: list[str]) -> str:
    out = [template.pieces[0]]
    for text, piece in zip(row, template.pieces[1:], strict=True):
        out.append(text)
        out.append(piece)
    return "".join(out)


# --------------------------------------------------------------------------- conversion


def _tags(values: Sequence[Any], kinds: set[type]) -> tuple[Any, Any, list[Any]]:
    """The values' type tags (:func:`boamps_etl.shapes.tag`) as (what holds for the whole
    column, what tells rows apart as integer codes or ``None``, the tag of each code): one
    tag for all (``(tag, None, [])``), ``None`` and one other tag (``(('or-null', tag),
    codes, [False, True])``, True for empty), or any (``('*', codes, tags)``). ``kinds``:
    the types of the values, ``NoneType`` included."""
    import numpy as np

    if isinstance(values, _Column):  # Arrow columns hold no empty text (cleaned)
        if len(kinds) == 1:
            return (tag(values[0]) if len(values) else "n"), None, []
        return (("or-null", _KIND_TAGS[values.kind()]),
                _as_numpy(values.array.is_null()).astype(np.int64), [False, True])
    if not len(values):
        return "n", None, []
    empty_text = str in kinds and "" in values
    if len(kinds) == 1 and not empty_text and next(iter(kinds)) in _SCALARS:
        return tag(values[0]), None, []
    # worked out per distinct value (then spread to the rows), or per row
    distinct, spread = (values.distinct, values.indices) if isinstance(values, _Dict) \
        else (values, None)
    if len(kinds) == 2 and type(None) in kinds and not empty_text and kinds <= _SCALARS:
        other = next(k for k in kinds if k is not type(None))
        kind: Any = ("or-null", _KIND_TAGS[other])
        labels: list[Any] = [False, True]
        codes = np.fromiter((v is None for v in distinct), dtype=bool, count=len(distinct)
                            ).astype(np.int64)
    else:
        kind = "*"
        codes, labels = _factorized(list(map(tag, distinct)))
    return kind, codes if spread is None else codes[spread], labels


def _factorized(values: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(an integer code for each value, the value of each code); values of different
    types never share a code (``1``, ``1.0`` and ``True`` stay apart)."""
    import numpy as np

    if isinstance(values, _Dict):
        return values.indices, values.distinct
    kinds = set(map(type, values))
    if kinds == {bool}:  # list entries kept or not
        return np.array(values, dtype=np.int64), [False, True]
    if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:  # a constant, merge keys
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            return np.zeros(len(values), dtype=np.int64), distinct
        codes_of = {v: j for j, v in enumerate(distinct)}
        return np.fromiter(map(codes_of.__getitem__, values), dtype=np.int64,
                           count=len(values)), distinct
    index: dict[tuple[type, Any], int] = {}
    codes = np.fromiter((index.setdefault((type(v), v), len(index)) for v in values),
                        dtype=np.int64, count=len(values))
    return codes, [v for _, v in index]


def _combined(columns: list[tuple[Any, list[Any]]], n: int) -> Any:
    """One integer key per row that tells apart the rows whose codes differ somewhere."""
    import numpy as np

    key = np.zeros(n, dtype=np.int64)
    size = 1
    for codes, labels in columns:
        width = max(len(labels), 1)
        if size * width >= 1 << 62:  # renumber the keys so far: 0..distinct-1
            _, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.int64)
            size = int(key.max()) + 1 if n else 1
        key = key * width + codes
        size *= width
    return key


_KIND_TAGS = {bool: "b", int: "i", float: "f", str: "s"}  # str: when no value is ""
_SCALARS = {type(None), bool, int, float, str}


@dataclass
class BlockResult:
    """One block's output in row order: the text of each report in the output's layout (a
    JSON line, a json file's text, or a flat CSV line in its own columns), and what the
    reference path said."""

    data: Any = b""  # the texts end to end, each ending with a line break (UTF-8 bytes)
    count: int = 0  # how many texts
    counts: dict[str, int] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    row_errors: int = 0
    lengths: Any = None  # json and csv: the byte length of each text (numpy int64)
    names: list[str] | None = None  # json: each report's file name (before any -2 suffix)
    columns: list[tuple[str, ...]] = field(default_factory=list)  # csv: the column sets
    column_ids: Any = None  # csv: the column set of each line, in ``columns`` (numpy)


class Converter:
    """Converts the blocks of one fast file; templates are kept across blocks."""

    def __init__(self, ff: FastFile, mapping: Mapping, context: Context | None,
                 allow_incomplete: bool, templates: dict[Any, _Template | None] | None = None,
                 fmt: str = "jsonl"):
        self.ff, self.mapping, self.context = ff, mapping, context
        self.allow_incomplete = allow_incomplete
        self.fmt = fmt
        self.templates: dict[Any, _Template | None] = {} if templates is None else templates
        self.targets = [t for t, r in mapping.rules.items() if not r.is_entry]
        # merge keys (componentType) shape the report by their value, and constants are
        # the same in every row: both are written into the templates, not slotted
        self.keep_real = {k for k, t in enumerate(self.targets)
                          if schema_path(t)[-1] == "componentType"
                          or mapping.rules[t].has_const}
        self.paths = [schema_path(t) for t in self.targets]
        columns = ff.columns
        needed = set(mapping.columns()) | {"run_id", "task_name", "project_name",
                                           "experiment_id"}
        if context is not None:
            needed.update(context.match_columns)
        self.read = list(columns) if ff.all_columns else [c for c in columns if c in needed]
        self.match_cols = context.match_columns if context is not None else []
        self._layers_of: dict[tuple[int, ...], list[dict[str, Any]]] = {(): []}

    def blocks(self, part: tuple[int, int, int] | None = None) -> Iterator[tuple[Any, Any]]:
        """(Arrow batch of kept rows, their spreadsheet row numbers), for the whole file or
        for ``part``: (first byte, end byte, index of its first row), starting on a row."""
        import numpy as np

        by_column = dict(zip(self.ff.columns, self.ff.names, strict=True))
        include = [by_column[c] for c in self.read]
        if part is None:
            batches = _reader(self.ff.path, self.ff.names, self.ff.delimiter, include)
            offset = 0
        else:
            start, end, offset = part
            batches = _reader(_Range(self.ff.path, start, end), self.ff.names,
                              self.ff.delimiter, include, header=False)
        for batch in _regroup(batches, BLOCK_ROWS):
            n = batch.num_rows
            keep = self.ff.keep[offset: offset + n]
            positions = np.flatnonzero(keep)
            rows = positions + offset + 2
            offset += n
            if len(positions) == 0:
                continue
            if len(positions) < n:
                batch = batch.take(_numpy_array(positions))
            yield batch, rows

    def convert(self, batch: Any, rows: Any) -> BlockResult:
        import numpy as np
        import pyarrow as pa

        n = batch.num_rows
        row_list: list[int] = rows.tolist()
        arrays = {c: _clean_array(batch.column(i)) for i, c in enumerate(self.read)}
        run_ids = arrays.get("run_id")
        content: list[list[str | None]] = []
        if self.ff.per_row:  # report ids derived from every cell of the row, as read
            import pyarrow.compute as pc

            content = [pc.utf8_trim_whitespace(batch.column(i)).to_pylist()
                       for i in range(len(self.read))]
        ctx = TransformContext(self.ff.kind, self.ff.per_row, {}, (), row_list, content)
        applied, columns = apply_columns(self.mapping, arrays, n, ctx)
        direct = {k: columns[t] for k, t in enumerate(self.targets) if t in columns}
        slow: set[int] = set()
        for block in applied.problems:
            slow.update(block)
        if run_ids is None:
            slow.update(range(n))
        elif run_ids.null_count:
            slow.update(i for i, v in enumerate(run_ids.is_null().to_pylist()) if v)
        values = [applied.values[t] for t in self.targets]
        all_kinds = [_kinds(column) for column in values]
        for k, column in enumerate(values):
            ok = _column_ok(column, self.paths[k], all_kinds[k] - {type(None)})
            if ok is not None:
                slow.update(i for i, good in enumerate(ok) if not good)
        # signatures: the tag of each mapped value; a column of one tag adds nothing per row
        differ: list[tuple[Any, list[Any]]] = []  # (codes, labels) of what tells rows apart
        base = []  # per column: its tag, or how its rows differ (then in differ)
        for col, kinds in zip(values, all_kinds, strict=True):
            kind, codes, labels = _tags(col, kinds)
            base.append(kind)
            if codes is None:
                continue
            if kind == "*" and "o" in labels:  # an object or a list: the reference builds it
                slow.update(np.flatnonzero(codes == labels.index("o")).tolist())
            differ.append((codes, labels))
        if "o" in base:
            slow.update(range(n))
        block_key = tuple(base)
        differ += [_factorized(mask) for mask in applied.entries.values()]
        differ += [_factorized(values[k]) for k in sorted(self.keep_real)]
        differ.append(self._layers(arrays, n))
        # a row's signature: its varying tags, entries kept, merge keys, context layers
        # (what is the same for the whole block is block_key); one template per signature
        key = _combined(differ, n)
        tids = np.full(n, -1, dtype=np.int64)
        usable = np.ones(n, dtype=bool)
        usable[list(slow)] = False
        ok_rows = np.flatnonzero(usable)
        keys, firsts, groups = np.unique(key[ok_rows], return_index=True, return_inverse=True)
        templates: list[_Template] = []
        group_tids = np.full(len(keys), -1, dtype=np.int64)
        for g, i in enumerate(ok_rows[firsts].tolist()):
            signature = tuple(labels[codes[i]] for codes, labels in differ)
            template = self._template((block_key, signature), applied, i,
                                      self._layers_of[signature[-1]])
            if template is not None:
                group_tids[g] = len(templates)
                templates.append(template)
        tids[ok_rows] = group_tids[groups.reshape(-1)]
        slow.update(np.flatnonzero(tids < 0).tolist())
        result = BlockResult(counts={"valid": 0, "incomplete": 0, "invalid": 0})
        registry: dict[tuple[str, ...], int] = {}  # csv: the column sets of this block
        pieces, positions, extra = self._fill(templates, tids, values, all_kinds, direct,
                                              slow, result.levels, registry)
        if slow:
            lines = self._reference(batch, sorted(slow), row_list, result)
            pieces.append(_text_array([text for _, text, _ in lines]))
            positions.append(np.array([i for i, _, _ in lines], dtype=np.int64))
            if self.fmt == "json":
                extra.append(_text_array([name for _, _, name in lines]))
            elif self.fmt == "csv":
                extra.append(np.array([registry.setdefault(cols, len(registry))
                                       for _, _, cols in lines], dtype=np.int64))
        lines_array = pa.concat_arrays(pieces) if pieces else _text_array([])
        where = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        order = np.argsort(where, kind="stable")
        final = lines_array.take(_numpy_array(order))
        result.data = _string_data(final)
        result.count = len(final)
        if self.fmt != "jsonl":
            result.lengths = np.diff(_offsets(final)) if len(final) else \
                np.zeros(0, dtype=np.int64)
        if self.fmt == "json":
            names = pa.concat_arrays(extra) if extra else _text_array([])
            result.names = names.take(_numpy_array(order)).to_pylist()
        elif self.fmt == "csv":
            ids = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
            result.column_ids = ids[order]
            result.columns = list(registry)
        result.counts["valid"] += n - len(slow)
        return result

    def _layers(self, arrays: dict[str, Any], n: int) -> tuple[Any, list[Any]]:
        """(codes, labels) of the context layers that apply to each row (a label: the
        layers' ids, the layers in ``_layers_of``), worked out once per distinct
        combination of the cells the context matches on."""
        import numpy as np

        if self.context is None or self.context.is_empty():
            return np.zeros(n, dtype=np.int64), [()]
        if self.match_cols:
            cells, inverse = _combinations([arrays[c] if c in arrays else _nulls(n)
                                            for c in self.match_cols])
        else:
            cells, inverse = [], np.zeros(n, dtype=np.int64)
        keys = []
        for row in zip(*cells, strict=True) if cells else [()]:
            layers = self.context.values_for(dict(zip(self.match_cols, row, strict=True)))
            key = tuple(id(layer) for layer in layers)
            self._layers_of.setdefault(key, layers)
            keys.append(key)
        codes, labels = _factorized(keys)
        return codes[inverse], labels

    def _fill(self, templates: list[_Template], tids: Any, values: list[list[Any]],
              all_kinds: list[set[type]], direct: dict[int, Any], slow: set[int],
              levels: dict[str, int], registry: dict[tuple[str, ...], int]
              ) -> tuple[list[Any], list[Any], list[Any]]:
        """The output texts of the rows of each template, column-wise: rows grouped by
        template, each used column encoded once and taken in that order, the texts
        joined by Arrow. Returns the texts, their rows, and per group the file names
        (json) or the column sets in ``registry`` (csv); counts the rows written in
        ``levels``. A row whose text the template cannot vouch for goes to ``slow``."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = np.asarray(tids, dtype=np.int64)
        fast_rows = np.flatnonzero(ids >= 0)
        if len(fast_rows) == 0:
            return [], [], []
        order = fast_rows[np.argsort(ids[fast_rows], kind="stable")]
        counts = np.bincount(ids[fast_rows], minlength=len(templates))
        layouts = [t if t.out is None else t.out for t in templates]
        used = sorted({k for t in layouts for k in t.slots})
        encoded = {k: _json_column(values[k], all_kinds[k] - {type(None)}, direct.get(k),
                                   self.ff.plain_text, order) for k in used}
        refused = np.zeros(len(order), dtype=bool)  # csv: cells the reference writes
        if self.fmt == "csv":
            for k in used:
                encoded[k], bad = _csv_cells(encoded[k])
                refused |= bad
        names: dict[int, Any] = {}
        if self.fmt == "json":
            wanted = {p for t in layouts for p in t.name or () if isinstance(p, int)}
            for k in wanted:
                fallback = NAME_FIELDS[next(j for t in layouts for j, p in
                                            enumerate(t.name or ()) if p == k)][1]
                names[k] = _name_parts(values[k], direct.get(k), order, fallback)
        pieces, positions, extra = [], [], []
        start = 0
        for t, template in enumerate(templates):
            count = int(counts[t])
            if count == 0:
                continue
            rows = order[start: start + count]
            layout = layouts[t]
            took = np.flatnonzero(~refused[start: start + count])
            if len(took) < count:
                slow.update(rows[refused[start: start + count]].tolist())

            def cut(array: Any, start: int = start, count: int = count,
                    took: Any = took) -> Any:
                part = array.slice(start, count)
                return part if len(took) == count else part.take(_numpy_array(took))

            start += count
            if len(took) == 0:
                continue
            parts: list[Any] = [layout.scalars[0]]
            for k, piece in zip(layout.slots, layout.scalars[1:], strict=True):
                parts.append(cut(encoded[k]))
                parts.append(piece)
            lines = pc.binary_join_element_wise(*parts, _scalar("", pa.string()))
            first = int(rows[took[0]])
            encode = _csv_cell if self.fmt == "csv" else _encode
            check = _fill_one(layout, [encode(values[k][first]) for k in layout.slots])
            if lines[0].as_py() != check + "\n":  # never: tests/test_fastpath.py
                slow.update(rows[took].tolist())
                continue
            pieces.append(lines)
            positions.append(rows[took])
            levels[template.level] = levels.get(template.level, 0) + len(took)
            if self.fmt == "json":
                assert layout.name is not None
                extra.append(_joined_name([_scalar(p, pa.string()) if isinstance(p, str)
                                           else cut(names[p]) for p in layout.name],
                                          len(took)))
            elif self.fmt == "csv":
                assert layout.columns is not None
                extra.append(np.full(len(took), registry.setdefault(
                    layout.columns, len(registry)), dtype=np.int64))
        return pieces, positions, extra

    def _template(self, signature: Any, applied: Applied, i: int,
                  layers: list[dict[str, Any]]) -> _Template | None:
        if signature in self.templates:
            return self.templates[signature]
        template = None
        if supported():
            doc = build_report(self.mapping, applied.values, applied.entries, i, layers)
            if full_check(doc):
                level = assess(doc, []).level
                template = _make_template(doc, self.mapping, applied, self.targets,
                                          self.keep_real, layers, i, level, self.fmt)
        if len(self.templates) < 4096:
            self.templates[signature] = template
        return template

    def _reference(self, batch: Any, indexes: list[int], row_list: list[int],
                   result: BlockResult) -> list[tuple[int, str, Any]]:
        """Rows the fast path does not vouch for: converted by the reference pipeline.
        Returns (row, text, its file name (json) or column set (csv)) for each report to
        write."""
        import numpy as np
        import pandas as pd

        sub = batch.take(_numpy_array(np.array(indexes, dtype=np.int64)))
        frame = pd.DataFrame({c: [("" if v is None else v.strip())
                                  for v in sub.column(k).to_pylist()]
                              for k, c in enumerate(self.read)}, dtype=object)
        frame = frame.reindex(columns=list(self.ff.columns))
        frame[ROW_COLUMN] = [row_list[i] for i in indexes]
        table = CsvTable(self.ff.name, frame, list(self.ff.columns), self.ff.kind, [], 0,
                         self.ff.encoding)
        part = convert_table(table, self.mapping, self.context, per_row=self.ff.per_row,
                             allow_incomplete=self.allow_incomplete, groups={})
        ok = ("valid", "incomplete") if self.allow_incomplete else ("valid",)
        out = []
        for i, report in zip(indexes, part.reports, strict=True):
            result.counts[report.status] += 1
            result.levels[report.level] = result.levels.get(report.level, 0) + 1
            result.issues.extend(report.issues)
            if report.status in ok:
                out.append((i, *_text_of(report.document, self.fmt)))
        return out


def _string_data(array: Any) -> memoryview:
    """The bytes of an Arrow string array's values, end to end."""

    if len(array) == 0:
        return memoryview(b"")
    offsets = _offsets(array)
    return memoryview(array.buffers()[2])[int(offsets[0]):int(offsets[-1])]


def convert_file(ff: FastFile, mapping: Mapping, context: Context | None,
                 allow_incomplete: bool, fmt: str = "jsonl") -> Iterator[BlockResult]:
    """Convert a prepared file block by block, into texts in the layout of ``fmt``."""
    converter = Converter(ff, mapping, context, allow_incomplete, fmt=fmt)
    for batch, rows in converter.blocks():
        yield converter.convert(batch, rows)


@dataclass
class PartResult:
    """What one worker converted: its texts are in the file ``path`` (jsonl: JSON lines;
    csv: lines in their own columns, ``lengths`` bytes each, in the column sets
    ``columns[column_ids[i]]``) or, for json, in the folder ``path``, one file per report
    named by its index, the report's file name in ``names``."""

    path: Path
    lines: int
    counts: dict[str, int]
    levels: dict[str, int]
    issues: list[Issue]
    lengths: Any = None
    column_ids: Any = None
    columns: list[tuple[str, ...]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


_JOB: tuple[Any, ...] = ()  # what forked workers inherit: (mapping, context, allow, fmt)


def _convert_part(task: tuple[FastFile, int, str]) -> PartResult:
    """Convert one range of a file into the file (or, for json, the folder) ``out``."""
    import numpy as np

    ff, index, out = task
    mapping, context, allow_incomplete, fmt = _JOB
    converter = Converter(ff, mapping, context, allow_incomplete, _TEMPLATES, fmt)
    total = PartResult(Path(out), 0, {"valid": 0, "incomplete": 0, "invalid": 0}, {}, [])
    lengths, ids = [], []
    sets: dict[tuple[str, ...], int] = {}
    with contextlib.ExitStack() as stack:
        fh = None if fmt == "json" else stack.enter_context(open(out, "wb"))
        for batch, rows in converter.blocks(ff.parts[index]):
            block = converter.convert(batch, rows)
            if fh is not None:
                fh.write(block.data)
            else:
                assert block.names is not None
                _write_numbered(Path(out), total.lines, block.data, block.lengths)
                total.names.extend(block.names)
            if fmt == "csv":
                mine = np.array([sets.setdefault(c, len(sets)) for c in block.columns],
                                dtype=np.int64)
                ids.append(mine[block.column_ids] if len(mine) else block.column_ids)
                lengths.append(block.lengths)
            total.lines += block.count
            for status, count in block.counts.items():
                total.counts[status] = total.counts.get(status, 0) + count
            for level, count in block.levels.items():
                total.levels[level] = total.levels.get(level, 0) + count
            total.issues.extend(block.issues)
    if fmt == "csv":
        total.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        total.column_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        total.columns = list(sets)
    return total


def _write_numbered(folder: Path, first: int, data: Any, lengths: Any) -> None:
    """Texts ``lengths`` bytes each of ``data`` as files named ``first``, ``first + 1``..."""
    view = memoryview(data)
    at = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    prefix = os.fspath(folder) + os.sep
    for j, size in enumerate(lengths.tolist(), first):
        fd = os.open(prefix + str(j), flags, 0o666)
        try:
            part = view[at: at + size]
            while part:
                part = part[os.write(fd, part):]
        finally:
            os.close(fd)
        at += size


_TEMPLATES: dict[Any, _Template | None] = {}  # kept from one range to the next (same job)


def _in_worker() -> None:
    """A worker's set-up: Arrow reads with this process's thread only, as every core
    has a worker already."""
    global _THREADS
    _THREADS = False


class Runner:
    """Worker processes for the fast path (forked: they share the mapping and context).
    ``jobs=1`` runs everything in this process."""

    def __init__(self, jobs: int, mapping: Mapping, context: Context | None,
                 allow_incomplete: bool, fmt: str = "jsonl"):
        import multiprocessing

        global _JOB
        self.jobs = jobs if "fork" in multiprocessing.get_all_start_methods() else 1
        self.fmt = fmt
        _JOB = (mapping, context, allow_incomplete, fmt)
        _TEMPLATES.clear()
        self._pool: Any = None

    def map(self, func: Callable[[Any], Any], tasks: list[Any]) -> list[Any]:
        return list(self.imap(func, tasks))

    def imap(self, func: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        """``func`` of each task, in order, each as soon as it and those before are done:
        in this process for one job or one task, else in the workers."""
        if self.jobs == 1 or len(tasks) == 1:
            return map(func, tasks)
        if self._pool is None:
            import multiprocessing

            self._pool = multiprocessing.get_context("fork").Pool(self.jobs,
                                                                  initializer=_in_worker)
        result: Iterator[Any] = self._pool.imap(func, tasks)
        return result

    def convert(self, ff: FastFile, stage: Path) -> Iterator[PartResult]:
        """Convert the ranges of a prepared file, handed out to the workers one at a
        time; yields each range's result in order as soon as it and those before it are
        done. Its JSON lines are in a file in ``stage``, which the caller removes."""
        outs = []
        folders = self.fmt == "json"  # json: a folder of files per range
        try:
            for _ in ff.parts:
                if folders:
                    outs.append(tempfile.mkdtemp(prefix=".boamps-etl-part-", dir=stage))
                    continue
                fd, name = tempfile.mkstemp(prefix=".boamps-etl-part-", suffix=".part",
                                            dir=stage)
                os.close(fd)
                outs.append(name)
            yield from self.imap(_convert_part, [(ff, j, out) for j, out in enumerate(outs)])
        except BaseException:
            self.close()  # no worker writes any more
            raise
        finally:
            for name in outs:
                if folders:
                    shutil.rmtree(name, ignore_errors=True)
                else:
                    Path(name).unlink(missing_ok=True)

    def close(self) -> None:
        global _JOB
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _JOB = ()
        _TEMPLATES.clear()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_jobs() -> int:
    """One worker per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
