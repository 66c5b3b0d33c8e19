"""The first pass of the column-wise engine: is a file one it reads exactly as the reference
reader does (:func:`prepare`), and which row is the last of each run.

A pass over the bytes checks the layout (UTF-8, one header, every row as wide as it, no quotes,
no blank lines); a pass over the ``run_id`` column alone finds the last row of each run, in
bounded memory for a large file (its run_ids are spilled to disk bucket by bucket). Arrow's
CSV reader (:func:`_reader`) reads the columns the mapping needs, in blocks.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..codecarbon import REQUIRED_COLUMNS
from ..io import staging
from ..io.readers import CsvSource
from .arrays import _as_numpy, _clean_array, _filled, _numpy_array, _offsets, load_empty_values

READ_BYTES = 1 << 20  # bytes Arrow parses at a time (its peak memory grows with it)
BLOCK_ROWS = 8192
CHECK_BYTES = 1 << 20  # bytes checked at a time by the first pass


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
    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    # (first byte, end byte, index of the first row) of each range a worker converts
    plain_text: bool = False  # no cell holds a character JSON escapes
    kind: str = "codecarbon"  # or 'task' (a report per row)
    per_row: bool = False  # a report per row, its id derived from the row's content
    temporary: Path | None = None  # the unpacked copy of a gzip file (``path``)
    # prepare(run_groups=True): the rows of each run of several rows, keyed by its last
    # (as CsvSource.selection's groups): what a batch's manifest lists for a report
    groups: dict[int, tuple[int, ...]] | None = None


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
    # the bytes looked for, and the line breaks: counted in what translate keeps
    watched = _all_but(_REFUSED + _ESCAPED.replace(delimiter.encode(), b"") + b"\n")
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
            breaks = found.count(b"\n")
            lines += breaks
            if len(found) > breaks:
                found = found.replace(b"\n", b"")
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

    if isinstance(source, str | os.PathLike):  # never guess a compression from the name
        source = pa.input_stream(os.fspath(source), compression=None)
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


def single_threaded() -> None:
    """Arrow reads with this process's thread only (in a worker: every core has one)."""
    global _THREADS
    _THREADS = False


class Workers(Protocol):
    """What :func:`prepare` needs of :class:`boamps_etl.engine.parallel.Runner`."""

    jobs: int

    def map(self, func: Callable[[Any], Any], tasks: list[Any]) -> list[Any]: ...


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


def prepare(source: CsvSource, *, per_row: bool = False, runner: Workers | None = None,
            spill: str | Path | None = None, run_groups: bool = False) -> FastFile | None:
    """Check a file for the fast path: ``None`` when it must take the reference path
    (in memory, another encoding, an unusual layout, a damaged row...). A gzip file is
    unpacked first, streamed, into ``spill`` (or the system's temporary folder); the
    unpacked copy is the FastFile's ``temporary``, which :func:`release` removes.
    With a ``runner``, each of its workers checks one range of the file. ``spill``: a
    folder where the run_ids of a large file are written for a while, bucket by bucket,
    so that finding the last row of each run takes bounded memory (without it they are
    all kept in memory). ``run_groups``: also find the rows of each run, in the same pass
    (:attr:`FastFile.groups`)."""
    if source.path is None or source.kind not in ("codecarbon", "task") or not available():
        return None
    load_empty_values()
    if source.encoding not in ("utf-8", "utf-8-sig") or source.header_issues:
        return None
    path = source.path
    with open(path, "rb") as fh:
        packed = fh.read(2) == b"\x1f\x8b"
    if packed:
        unpacked = _unpacked(path, spill)
        if unpacked is None:
            return None
        path = unpacked
    try:
        found = _prepare(source, path, per_row, runner, spill, run_groups)
    except BaseException:
        if packed:
            path.unlink(missing_ok=True)
        raise
    if found is None and packed:
        path.unlink(missing_ok=True)
    if found is not None and packed:
        found.temporary = path
    return found


#: A file smaller than this (bytes) takes the reference pipeline: for a few hundred rows it
#: costs less than the engine's setup (Arrow's reader, a template built and validated per
#: signature). Measured, one file to jsonl, 1 process: 30 rows (15 KB) 27 ms by the
#: reference, 60 ms by the engine; 100 rows (49 KB) 42 / 64 ms; 300 rows (146 KB) 77 / 46
#: ms; 1,000 rows (486 KB) 307 / 94 ms.
ENGINE_MIN_BYTES = 1 << 17


def open_source(source: CsvSource, *, per_row: bool = False, fast_path: bool = True,
                runner: Workers | None = None, spill: str | Path | None = None,
                run_groups: bool = False) -> FastFile | None:
    """Ready a CodeCarbon source to be converted block by block: prepared for the
    column-wise engine when it can take it (the :class:`FastFile`; see :func:`prepare`),
    else scanned for the reference pipeline (``None``;
    :func:`boamps_etl.pipeline.convert_blocks`). ``fast_path=False``, or a file under
    :data:`ENGINE_MIN_BYTES`: the reference. The one choice
    :func:`boamps_etl.api.convert_to` and batch make (batch asks for ``run_groups``: see
    :func:`prepare`)."""
    if fast_path and source.path is not None:
        try:
            fast_path = source.path.stat().st_size >= ENGINE_MIN_BYTES
        except OSError:
            fast_path = False  # the reference says why
    prepared = prepare(source, per_row=per_row, runner=runner, spill=spill,
                       run_groups=run_groups) if fast_path else None
    if prepared is None:
        source.scan(group_runs=not per_row and source.kind != "task")
    return prepared


def engine_maps(mapping: Any) -> bool:
    """Whether the engine can apply ``mapping``: it knows CodeCarbon's rules, not rules
    whose unit is read from a column."""
    return not any(rule.unit_column for rule in mapping.rules.values())


def release(ff: FastFile) -> None:
    """Remove the unpacked copy of a gzip file, if any."""
    if ff.temporary is not None:
        ff.temporary.unlink(missing_ok=True)
        ff.temporary = None


def _unpacked(path: Path, spill: str | Path | None) -> Path | None:
    """A gzip file unpacked into a hidden file of ``spill``, streamed; ``None`` when it is
    damaged (the reference says how)."""
    import gzip
    import tempfile
    import zlib

    folder = Path(spill) if spill is not None else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    fh, name = staging.new_file(folder, "csv")  # a work file: swept if the run is killed
    try:
        with fh as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 22)
    except (OSError, EOFError, zlib.error):
        Path(name).unlink(missing_ok=True)
        return None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _prepare(source: CsvSource, path: Path, per_row: bool, runner: Workers | None,
             spill: str | Path | None, run_groups: bool = False) -> FastFile | None:
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
        folder = str(staging.new_folder(Path(spill)))
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
        groups: dict[int, tuple[int, ...]] | None = {} if run_groups else None
        parts = [(a, b, int(first)) for (a, b), first in zip(ranges, firsts, strict=True)]
        if run_col is None or every_row:
            keep = np.ones(rows, dtype=bool)
            # ids derived from the whole row: with --per-row, or for rows without run_id
            missing_ids = run_col is None or per_row or any(
                part[1].null_count for part in scanned if part is not None)
        elif buckets > 1:
            keep, missing_ids = _last_of_each_bucket(
                [part[1] for part in scanned if part is not None], counts, firsts, buckets,
                groups)
        else:
            ids = pa.chunked_array([c for part in scanned if part is not None
                                    for c in part[1].chunks], type=pa.string())
            del scanned
            keep, missing_ids = _last_of_each(ids, rows, groups)
            del ids
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    source.mark_scanned(rows)
    return FastFile(source.name, path, list(source.columns), names, source.delimiter,
                    source.encoding, rows, keep, missing_ids, parts, plain_text,
                    source.kind, per_row, groups=groups)


def _add_groups(codes: Any, where: Any, groups: dict[int, tuple[int, ...]]) -> None:
    """Add to ``groups`` the runs of several rows among ``codes`` (run_id codes, -1 for
    none, of the rows ``where``, in row order; a run wholly among them): its spreadsheet
    rows keyed by its last."""
    import numpy as np

    present = np.flatnonzero(codes >= 0)
    order = present[np.argsort(codes[present], kind="stable")]  # by run, rows in order
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    starts = np.concatenate([[0], cuts]).astype(np.int64)
    ends = np.concatenate([cuts, [len(order)]]).astype(np.int64)
    several = np.flatnonzero(ends - starts > 1)
    if not len(several):
        return
    # only the rows of runs of several rows become Python numbers
    sizes = (ends - starts)[several]
    within = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes,
                                                                      sizes)
    picked = order[np.repeat(starts[several], sizes) + within]
    rows = (np.asarray(where, dtype=np.int64)[picked] + 2).tolist()  # the header is row 1
    at = 0
    for size in sizes.tolist():
        group = tuple(rows[at: at + size])
        groups[group[-1]] = group
        at += size


def _last_of_each(ids: Any, rows: int, groups: dict[int, tuple[int, ...]] | None = None,
                  where: Any = None) -> tuple[Any, bool]:
    """(True for the last row of each run_id and for rows without one, whether some row
    has none): one pass of Arrow's hash table over the cells, then integer work. With
    ``groups``, the runs of several rows are added to it (see :func:`_add_groups`; the
    cells are those of the rows ``where``, by default all rows from the first)."""
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
    if groups is not None:
        _add_groups(codes, np.arange(rows, dtype=np.int64) if where is None else where,
                    groups)
    return keep, bool(null.any())


def _last_of_each_bucket(spilled: list[Any], counts: list[int], firsts: list[int],
                         buckets: int, groups: dict[int, tuple[int, ...]] | None = None
                         ) -> tuple[Any, bool]:
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
                last, _ = _last_of_each(pa.chunked_array(ids, type=pa.string()), len(where),
                                        groups, where)
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
