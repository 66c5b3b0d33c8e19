"""Converting one source folder (a work unit) and its files: what workers run (only
picklable data goes in and out)."""

from __future__ import annotations

import contextlib
import fnmatch
import heapq
import io
import os
import pickle
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import Context, load_context
from ..errors import BoampsEtlError, InputError, Issue, Location, OutputError
from ..flatten import flatten
from ..io import staging, storage
from ..io.storage import AnyPath
from ..io.writers import NAME_FIELDS, dumps, name_values, render_jsonl, report_filename
from ..mapping import FieldMapping, load_mapping
from .manifest import ManifestEntry
from .state import FOLDER_OUTPUT, sha_bytes

# Reader messages meaning "there is nothing to convert here" rather than "this is broken".
_NOTHING_TO_CONVERT = ("is not a CodeCarbon emissions CSV", "is empty", "holds only blank space",
                       "is JSON of no known tracker")


# --------------------------------------------------------------------------- conversion
# (runs in worker processes with jobs > 1: only picklable data goes in and out)


@dataclass(frozen=True)
class UnitTask:
    key: str
    sources: tuple[tuple[str, str], ...]
    contexts: tuple[tuple[str, str | None], ...]
    mapping: tuple[str | None, tuple[tuple[str, str | None], ...]]
    sets: tuple[str, ...]
    per_row: bool
    allow_incomplete: bool
    setup_error: Issue | None
    fmt: str = "json"
    options: tuple[tuple[str, Any], ...] = ()  # fsspec storage options for URLs
    tracker: str | None = None  # read every source as this tracker's (--from)
    # a local folder for the spools of large files (None: every file is read whole)
    spool: str | None = None
    # (i, n): convert only the blocks i, i + n, i + 2n... of the (one, large) source; the
    # parent joins the n outcomes (:func:`join_split`)
    split: tuple[int, int] | None = None
    # a large clean CodeCarbon file is converted by the column-wise engine (False: by the
    # reference pipeline, block by block; the same bytes either way)
    fast_path: bool = True
    # with ``split``: the spool to write, named by the parent, which reads it as it grows
    # when the engine converts the file (:func:`read_spool`; the reference path, whose
    # problems are known only at the end, writes a spool of its own)
    live: str | None = None
    # sources on an object store larger than STREAM_BYTES (their manifest names, from the
    # listing): copied to this machine's disk and streamed there, as a large local file
    streamed: tuple[str, ...] = ()


@dataclass
class SourceOutcome:
    key: str
    sha256: str | None
    rows: int
    entries: list[ManifestEntry]
    # each report as data; once its text is rendered (json, jsonl), only what names its
    # file (:func:`named`)
    documents: list[dict[str, Any] | None]
    # the output text of each report, rendered in the worker (json/jsonl) to offload the
    # parent; same bytes as the writers' functions
    texts: list[str | None] = field(default_factory=list)
    # A large file streamed: its reports' lines and outputs are in this work file (see
    # :func:`read_spool`), in order; ``entries`` holds only the lines of rows that gave no
    # report, and ``warnings`` go before the first line.
    spool: str | None = None
    warnings: list[Issue] = field(default_factory=list)
    # a split source: the other spools of its blocks, and the block of each warning
    spools: tuple[str, ...] = ()
    warning_blocks: list[int] = field(default_factory=list)
    reports: int = 0  # reports in the spools
    # spools still being written: the task writing each (read as they grow; see
    # :func:`read_spool`)
    writers: tuple[Any, ...] = ()
    # the storage options to read the spools with, when they are objects of a store
    # (``UnitTask.spool`` a URL: see :func:`_stream_here`)
    spool_options: tuple[tuple[str, Any], ...] = ()


#: A local CodeCarbon file larger than this (bytes) is converted block by block, its
#: reports spooled to a work file beside the outputs: memory stays bounded whatever its size,
#: and a clean one takes the column-wise engine. The engine's own threshold
#: (``engine.scan.ENGINE_MIN_BYTES``): a smaller file is read whole, by the reference. 100
#: folders of one 1,000-row file (486 KB), ``-j 2`` to jsonl: 24.4 s read whole, 7.1 s
#: streamed by the engine.
STREAM_BYTES = 1 << 17
#: Rows converted together when streaming.
STREAM_BLOCK_ROWS = 5_000
#: A file larger than this (bytes) is split between the pool's workers: each converts every
#: n-th block (``-j n``), so that all cores work on it.
SPLIT_BYTES = 16 << 20


# Per-process caches of loaded setups, keyed by file paths *and* content hashes so an
# edited file is loaded again (also across convert_tree calls in one process).
_SETUP_CACHE: dict[Any, Any] = {}


def _cached(key: Any, load: Callable[[], Any]) -> Any:
    if key not in _SETUP_CACHE:
        if len(_SETUP_CACHE) > 256:
            _SETUP_CACHE.clear()
        try:
            _SETUP_CACHE[key] = (load(), None)
        except BoampsEtlError as exc:
            _SETUP_CACHE[key] = (None, exc.issue)
    return _SETUP_CACHE[key]


# The signatures of valid reports seen by this process (see
# :func:`boamps_etl.pipeline.convert_table`'s ``shapes``), per loaded mapping and context:
# these are never changed once loaded, and the entry holds them so that their ids are not
# reused by others.
_SHAPES: dict[tuple[int, int], tuple[FieldMapping, Context | None, dict[Any, str | None]]] = {}


def _shapes(mapping: FieldMapping, context: Context | None) -> dict[Any, str | None]:
    key = (id(mapping), id(context))
    found = _SHAPES.get(key)
    if found is None or found[0] is not mapping or found[1] is not context:
        if len(_SHAPES) > 64:
            _SHAPES.clear()
        found = _SHAPES[key] = (mapping, context, {})
    return found[2]


def _load_setup(task: UnitTask) -> tuple[FieldMapping | None, Context | None, Issue | None]:
    mapping_path, mapping_hashes = task.mapping
    options = dict(task.options)
    mapping, error = _cached(("mapping", mapping_path, mapping_hashes),
                             lambda: load_mapping(None if mapping_path is None else
                                                  storage.as_path(mapping_path, options)))
    if error is not None:
        return None, None, error
    context, error = _cached(("context", task.contexts, task.sets),
                             lambda: load_context([storage.as_path(p, options)
                                                   for p, _ in task.contexts], task.sets))
    return mapping, context, error


def sorted_entries(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    return sorted(entries, key=lambda e: (e.rows[-1] if e.rows else 0,
                                          e.rows[0] if e.rows else 0))


def _tracker_mapping(mapping: FieldMapping | None, mapping_path: str | None,
                     hashes: tuple[tuple[str, str | None], ...], tracker: str
                     ) -> tuple[FieldMapping | None, Issue | None]:
    """The mapping a tracker's files are converted with: the folder's mapping when it is
    made for that tracker, else the tracker's built-in one."""
    if mapping is not None and mapping.base in (tracker, None):
        return mapping, None
    if mapping_path is not None:
        loaded, error = _cached(("mapping", mapping_path, hashes, tracker),
                                lambda: load_mapping(mapping_path, base=tracker))
        if error is not None:
            return None, error
        if loaded.base in (tracker, None):
            return loaded, None
    found, error = _cached(("mapping", None, (), tracker),
                           lambda: load_mapping(None, base=tracker))
    return found, error


def _convert_source(key: str, path: AnyPath, mapping: FieldMapping | None,
                    context: Context | None,
                    setup_error: Issue | None, per_row: bool, allow_incomplete: bool,
                    tracker: str | None = None,
                    mapping_file: tuple[str | None, tuple[tuple[str, str | None], ...]] = (
                        None, ()), fmt: str = "json", spool: str | None = None,
                    split: tuple[int, int] | None = None, fast_path: bool = True,
                    folder: str = "", live: str | None = None, large_object: bool = False,
                    options: tuple[tuple[str, Any], ...] = ()) -> SourceOutcome:
    from ..pipeline import convert_table
    from ..trackers import detect, get_tracker, read_table

    found_name = ""

    def single(status: str, issue: Issue, sha: str | None, rows: int = 0) -> SourceOutcome:
        entry = ManifestEntry(key, (), None, None, status, None, [issue], sha,
                              base_status=status, tracker=found_name)
        return SourceOutcome(key, sha, rows, [entry], [None])

    if setup_error is not None and setup_error.code == "unreadable-folder":
        return single("error", setup_error, None)
    large = large_object if storage.is_url(path) else \
        isinstance(path, Path) and _size(path) > STREAM_BYTES
    if spool is not None and large:
        streamed = _stream_here(spool, options, path, lambda local, here: _stream_source(
            key, local, mapping, context, setup_error, per_row, allow_incomplete, tracker,
            fmt, here, split, fast_path, folder, live))
        if streamed is not None:
            return streamed
    try:
        data = path.read_bytes()
    except OSError as exc:
        return single("error", Issue("bad-input", "cannot be read "
                                     f"({exc.strerror or storage.describe_error(exc)})",
                                     Location(key)), None)
    sha = sha_bytes(data)
    try:
        found = get_tracker(tracker) if tracker is not None else detect(data, key)
        # Other trackers' files are small; from their path, their readers also find the
        # files written beside them (carbontracker's standard log, optimum-benchmark's
        # configuration).
        found, table = read_table(data if found.name == "codecarbon" else path, found, key)
    except InputError as exc:
        status, issue = _unreadable(key, path, exc, data)
        return single(status, issue, sha)
    found_name = found.name
    if table.records == 0:
        return single("skipped", Issue("no-rows", "has a header but no data rows",
                                       Location(key), "warning"), sha)
    # A broken context or mapping fails the files below it, not the others.
    if setup_error is not None:
        return single("error", setup_error, sha, table.records)
    if found.name != "codecarbon":
        mapping, error = _tracker_mapping(mapping, mapping_file[0], mapping_file[1],
                                          found.name)
        if error is not None:
            return single("error", error, sha, table.records)
    assert mapping is not None
    result = convert_table(table, mapping, context, per_row=per_row,
                           allow_incomplete=allow_incomplete,
                           shapes=_shapes(mapping, context))
    entries: list[ManifestEntry] = []
    documents: dict[int, dict[str, Any]] = {}
    for report in result.reports:
        entry = ManifestEntry(key, tuple(report.rows), report.run_id, report.report_id,
                              report.status, None, list(report.issues), sha,
                              base_status=report.status, level=report.level,
                              tracker=found.name, recovered=report.recovered)
        documents[id(entry)] = report.document
        entries.append(entry)
    warnings: list[Issue] = []
    for issue in result.issues:
        if issue.severity != "error":
            warnings.append(issue)
            continue
        rows = () if issue.where.row is None else (issue.where.row,)
        entries.append(ManifestEntry(key, rows, None, None, "error", None, [issue], sha,
                                     base_status="error", tracker=found.name))
    if not entries:
        entries.append(ManifestEntry(key, (), None, None, "skipped", None, [Issue(
            "no-rows", "no rows to convert", Location(key), "warning")], sha,
            base_status="skipped", tracker=found.name))
    entries = sorted_entries(entries)
    if warnings:
        entries[0].issues[:0] = warnings
    return SourceOutcome(key, sha, result.rows_read, entries,
                          [documents.get(id(e)) for e in entries])


def _stream_here(spool: str, options: tuple[tuple[str, Any], ...], path: AnyPath,
                 stream: Callable[[Path, str], SourceOutcome | None]
                 ) -> SourceOutcome | None:
    """``stream(local, here)``: a large file streamed on this machine's disk. ``here``:
    the local folder of the work files, ``spool`` itself, or the system's temporary
    folder when ``spool`` is an object store's (workers of other machines: each spool is
    uploaded whole once complete, and the parent reads it from there). ``local``: the
    file, or a copy of it in ``here`` when it is an object (in parts, never held whole in
    memory; None when it cannot be read: the caller reads it again and says why)."""
    remote = storage.is_url(spool)
    here = _worker_temp() if remote else Path(spool)
    copy = None
    try:
        if storage.is_url(path):
            copy = staging.new_folder(here)
            local = copy / path.name  # the same name: a damaged CodeCarbon file is told
            try:
                storage.get_file(path, local)
            except (OSError, ValueError):
                return None
        else:
            local = Path(path)
        outcome = stream(local, str(here))
    finally:
        staging.remove(copy)
    if remote and outcome is not None and outcome.spool is not None:
        work = Path(outcome.spool)
        target = f"{spool.rstrip('/')}/{work.name}"
        try:
            storage.put_file(storage.as_path(target, dict(options)), work)
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot be written ({storage.describe_error(exc)})",
                              Location(target)) from None
        finally:
            staging.remove(work)
        outcome.spool, outcome.spool_options = target, options
    return outcome


def _worker_temp() -> Path:
    """The system's temporary folder, cleared first of what killed workers of this machine
    left there (a scan of one folder, next to converting a large file)."""
    folder = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        staging.sweep(folder)
    return folder


def remove_spool(path: str, options: tuple[tuple[str, Any], ...] = ()) -> None:
    """Delete a spool, a local work file or an object."""
    if storage.is_url(path):
        with contextlib.suppress(OSError, ValueError):
            storage.remove(storage.as_path(path, dict(options)))
    else:
        staging.remove(Path(path))


def _unreadable(key: str, path: AnyPath, exc: InputError, data: bytes) -> tuple[str, Issue]:
    """The manifest status and issue of a file its reader refused: 'skipped' when it holds
    nothing to convert, 'error' when it is broken."""
    issue = Issue(exc.code, exc.message, Location(key, exc.where.row, exc.where.column),
                  "error", exc.hint)
    if exc.message.startswith(_NOTHING_TO_CONVERT):
        if not _codecarbon_name(path.name) or _plainly_foreign(data):
            return "skipped", issue
        issue = Issue(exc.code, f"{exc.message}, though named like CodeCarbon's output: "
                      "a damaged CodeCarbon file", issue.where, "error",
                      "restore it from a backup, or delete it if the run is lost")
    return "error", issue


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _entry_key(entry: ManifestEntry) -> tuple[int, int]:
    return (entry.rows[-1] if entry.rows else 0, entry.rows[0] if entry.rows else 0)


def payload(document: dict[str, Any], fmt: str) -> Any:
    """What the parent writes for a report: (file name, text) for json, the JSON line for
    jsonl, the flat row for csv (same bytes as the writers' functions)."""
    if fmt == "json":
        return report_filename(document), dumps(document) + "\n"
    if fmt == "jsonl":
        return render_jsonl([document])
    return flatten(document)


def _stream_source(key: str, path: Path, mapping: FieldMapping | None,
                   context: Context | None, setup_error: Issue | None, per_row: bool,
                   allow_incomplete: bool, tracker: str | None, fmt: str, spool: str,
                   split: tuple[int, int] | None = None, fast_path: bool = True,
                   folder: str = "", live: str | None = None) -> SourceOutcome | None:
    """A large CodeCarbon file, block by block, as :func:`boamps_etl.api.convert_to` reads
    it: a clean file by the column-wise engine (:func:`_engine_source`), any other by the
    reference pipeline. Each report's manifest line and output go to a work file in
    ``spool``, in manifest order, never all in memory. None: not a CodeCarbon file, or
    unreadable (the caller reads it whole and says why)."""
    from ..engine.scan import engine_maps, open_source, release
    from ..io.readers import CsvSource
    from ..pipeline import convert_blocks
    from ..trackers import detect, get_tracker

    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return None
    sha = storage.sha256(path)
    if sha is None:
        return None

    def single(status: str, issue: Issue, rows: int = 0, tracker_name: str = "") -> SourceOutcome:
        entry = ManifestEntry(key, (), None, None, status, None, [issue], sha,
                              base_status=status, tracker=tracker_name)
        return SourceOutcome(key, sha, rows, [entry], [None])

    try:
        found = get_tracker(tracker) if tracker is not None else detect(path, key)
        if found.name != "codecarbon":
            return None
        source = CsvSource(path, name=key)
        # the engine for a clean file, as convert_to (not to say a broken context's error)
        ff = open_source(source, per_row=per_row, spill=spool, run_groups=True, fast_path=(
            fast_path and setup_error is None and mapping is not None
            and fmt in ("json", "jsonl", "csv") and engine_maps(mapping)))
    except InputError as exc:
        status, issue = _unreadable(key, path, exc, head)
        return single(status, issue)
    if ff is not None:
        assert mapping is not None
        try:
            return _engine_source(key, ff, mapping, context, allow_incomplete, fmt, spool,
                                  split, sha, folder, live)
        finally:
            release(ff)
    if source.records == 0:
        return single("skipped", Issue("no-rows", "has a header but no data rows",
                                       Location(key), "warning"), 0, found.name)
    if setup_error is not None:
        return single("error", setup_error, source.records, found.name)
    assert mapping is not None
    ok = ("valid", "incomplete") if allow_incomplete else ("valid",)
    errors: list[ManifestEntry] = []
    warnings: list[Issue] = []
    warning_blocks: list[int] = []
    rows = spooled = 0
    out, work = staging.new_file(Path(spool), "spool")
    try:
        with out:
            blocks = convert_blocks(source, mapping, context, per_row=per_row,
                                    allow_incomplete=allow_incomplete,
                                    block_rows=STREAM_BLOCK_ROWS, share=split)
            for number, part in _numbered(blocks, split):
                rows += part.rows_read
                items = [(ManifestEntry(key, tuple(r.rows), r.run_id, r.report_id, r.status,
                                        None, list(r.issues), sha, base_status=r.status,
                                        level=r.level, tracker=found.name,
                                        recovered=r.recovered),
                          payload(r.document, fmt) if r.status in ok else None)
                         for r in part.reports]
                for issue in part.issues:
                    if issue.severity != "error":
                        warnings.append(issue)
                        warning_blocks.append(number)
                        continue
                    where = () if issue.where.row is None else (issue.where.row,)
                    errors.append(ManifestEntry(key, where, None, None, "error", None,
                                                [issue], sha, base_status="error",
                                                tracker=found.name))
                items.sort(key=lambda item: _entry_key(item[0]))
                _render(items, folder, fmt)
                _spool_block(out, items)
                spooled += len(items)
            out.write(_SPOOL_END)
    except BaseException:
        staging.remove(work)
        raise
    errors = sorted_entries(errors)
    if spooled or split is not None:
        return SourceOutcome(key, sha, rows, errors, [None] * len(errors), spool=str(work),
                             warnings=warnings, warning_blocks=warning_blocks,
                             reports=spooled)
    staging.remove(work)
    entries = errors or [ManifestEntry(key, (), None, None, "skipped", None, [Issue(
        "no-rows", "no rows to convert", Location(key), "warning")], sha,
        base_status="skipped", tracker=found.name)]
    entries[0].issues[:0] = warnings
    return SourceOutcome(key, sha, rows, entries, [None] * len(entries))


def _engine_source(key: str, ff: Any, mapping: FieldMapping, context: Context | None,
                   allow_incomplete: bool, fmt: str, spool: str,
                   split: tuple[int, int] | None, sha: str, folder: str = "",
                   live: str | None = None) -> SourceOutcome:
    """:func:`_stream_source` for a clean file, by the column-wise engine, as
    :func:`boamps_etl.api.convert_to` converts it: each block's reports, told apart by
    their manifest lines (``Converter(lines=True)``), spooled with their texts (the same
    bytes as the reference's; ``tests/test_batch_stream.py``)."""
    from ..engine.convert import convert_file

    groups = ff.groups or {}  # found with the last row of each run (prepare)
    spooled = 0
    if live is None:
        out, work = staging.new_file(Path(spool), "spool")
    else:  # named by the parent, which reads it as it grows
        work = Path(live)
        out = staging.open_new(work)
    try:
        with out:
            for block in convert_file(ff, mapping, context, allow_incomplete, fmt,
                                      lines=True, share=split):
                assert block.lines is not None
                texts = _block_payloads(block, fmt)
                items = [(ManifestEntry(key, groups.get(line.row, (line.row,)), line.run_id,
                                        line.report_id, line.status, None, line.issues, sha,
                                        base_status=line.status, level=line.level,
                                        tracker="codecarbon", recovered=line.recovered),
                          next(texts) if line.written else None) for line in block.lines]
                _render(items, folder, fmt)
                _spool_block(out, items, live is not None)
                spooled += len(items)
            out.write(_SPOOL_END)
    except BaseException:
        staging.remove(work)
        raise
    rows = ff.rows if split is None or split[0] == 0 else 0
    return SourceOutcome(key, sha, rows, [], [], spool=str(work), reports=spooled)


def _render(items: list[tuple[ManifestEntry, Any]], folder: str, fmt: str) -> None:
    """Render each spooled line for its usual outcome (:meth:`ManifestEntry.render`):
    its report written where the batch writes it (a payload: see :func:`payload`), in the
    output folder of the batch's folder ``folder`` (its key)."""
    parts = [p for p in folder.split("/") if p]
    shared = "/".join([*parts, f"{FOLDER_OUTPUT}.{fmt}"])
    for entry, data in items:
        if data is None:
            entry.render(None)
        else:
            entry.render("/".join([*parts, data[0]]) if fmt == "json" else shared)


def _numbered(blocks: Iterator[Any], share: tuple[int, int] | None
              ) -> Iterator[tuple[int, Any]]:
    """The blocks of a worker's share with their numbers in the whole file."""
    first, step = share if share is not None else (0, 1)
    for k, block in enumerate(blocks):
        yield first + k * step, block


def _block_payloads(block: Any, fmt: str) -> Iterator[Any]:
    """The payload (see :func:`payload`) of each text of an engine block, in order."""
    import csv as csv_module

    raw = bytes(block.data)
    if fmt == "jsonl":  # a JSON line holds no line break of its own
        for line in raw.split(b"\n")[:-1]:
            yield line.decode("utf-8") + "\n"
        return
    at = 0
    for i, size in enumerate(block.lengths.tolist()):
        text = raw[at: at + size].decode("utf-8")
        at += size
        if fmt == "json":
            yield block.names[i], text
        else:
            columns = block.columns[int(block.column_ids[i])]
            cells = next(csv_module.reader(io.StringIO(text, newline="")))
            yield dict(zip(columns, cells, strict=True))


_SPOOL_END = bytes(8)  # a spool ends with a block of no bytes
SPOOL_ITEMS = 1024  # items pickled together in a spool (one load each)
LIVE_POLL_SECONDS = 0.02  # how often a spool being written is looked at again


def _spool_block(out: Any, items: list[Any], flush: bool = False) -> None:
    """A block's items in a spool, :data:`SPOOL_ITEMS` at a time: the size of their
    pickle (8 bytes), then the pickle."""
    for at in range(0, len(items), SPOOL_ITEMS):
        data = pickle.dumps(items[at: at + SPOOL_ITEMS], protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
    if flush:  # read as it grows
        out.flush()


def _spooled(path: str, writer: Any = None, options: tuple[tuple[str, Any], ...] = ()
             ) -> Iterator[tuple[ManifestEntry, Any]]:
    """The items of a spool, block by block. ``writer``: the task still writing it: what
    is not there yet is waited for; its failure is raised. A spool that is an object
    (``options``: the storage options to read it with) is complete."""
    with storage.open_read(storage.as_path(path, dict(options))) as fh:
        while True:
            size = int.from_bytes(_read(fh, 8, writer, path), "little")
            if not size:
                return
            yield from pickle.loads(_read(fh, size, writer, path))


def _read(fh: Any, size: int, writer: Any, path: str) -> bytes:
    """The next ``size`` bytes of a spool, waited for while ``writer`` writes it (a local
    file: only then is a spool read before it is complete)."""
    if writer is not None:
        _wait(fh, size, writer)
    data = fh.read(size)
    if len(data) < size:
        raise BoampsEtlError(f"{path}: a work file of this batch ended early")
    return bytes(data)


def _wait(fh: Any, size: int, writer: Any) -> None:
    """Wait until the spool ``fh`` (a local file) holds ``size`` bytes past its position;
    :func:`_read` says when it ended early."""
    end = fh.tell() + size
    ended = False
    while os.fstat(fh.fileno()).st_size < end:
        if ended:
            return
        if writer.done():
            error = writer.exception()
            if error is not None:
                raise error
            ended = True  # done: what it wrote is all there, looked at once more
        else:
            time.sleep(LIVE_POLL_SECONDS)


def read_spool(outcome: SourceOutcome) -> Iterator[tuple[ManifestEntry, Any]]:
    """A streamed source's manifest lines and payloads, in manifest order: its reports
    (from the spool) merged with its other lines, the warnings on the first. A spool
    still being written (``outcome.writers``) is read as it grows."""
    assert outcome.spool is not None
    others = ((e, None) for e in outcome.entries)
    paths = (outcome.spool, *outcome.spools)
    writers = outcome.writers or (None,) * len(paths)
    merged = heapq.merge(*(_spooled(p, w, outcome.spool_options)
                           for p, w in zip(paths, writers, strict=True)),
                         others, key=lambda item: _entry_key(item[0]))
    first = True
    for entry, data in merged:
        if first and outcome.warnings:
            entry.issues[:0] = outcome.warnings
            entry.rendered = None  # rendered without them
        first = False
        yield entry, data


def join_split(parts: list[SourceOutcome]) -> SourceOutcome:
    """One outcome from those of a source's blocks converted apart (``split``), as if one
    worker had converted them all."""
    if any(p.spool is None for p in parts):  # the file was refused: each part says the same
        for p in parts:
            if p.spool is not None:
                remove_spool(p.spool, p.spool_options)
        return next(p for p in parts if p.spool is None)
    first = parts[0]
    assert first.spool is not None
    errors = sorted_entries([e for p in parts for e in p.entries])
    tagged = sorted(((b, n, i) for n, p in enumerate(parts)
                     for b, i in zip(p.warning_blocks, p.warnings, strict=True)),
                    key=lambda t: (t[0], t[1]))
    warnings = [i for _, _, i in tagged]
    rows = sum(p.rows for p in parts)
    if not any(p.reports for p in parts):
        for p in parts:
            remove_spool(p.spool or "", p.spool_options)
        entries = errors or [ManifestEntry(first.key, (), None, None, "skipped", None, [Issue(
            "no-rows", "no rows to convert", Location(first.key), "warning")],
            first.sha256, base_status="skipped",
            tracker=errors[0].tracker if errors else "codecarbon")]
        entries[0].issues[:0] = warnings
        return SourceOutcome(first.key, first.sha256, rows, entries, [None] * len(entries),
                             texts=[None] * len(entries))
    return SourceOutcome(first.key, first.sha256, rows, errors, [None] * len(errors),
                         [None] * len(errors), spool=first.spool,
                         spools=tuple(str(p.spool) for p in parts[1:]), warnings=warnings,
                         reports=sum(p.reports for p in parts),
                         spool_options=first.spool_options)


#: File names CodeCarbon writes: emissions.csv, its task files and its backups.
CODECARBON_NAMES: tuple[str, ...] = ("emissions*.csv", "emissions*.csv.bak",
                                     "emissions*.csv_*.bak", "emissions*.csv.gz")


def _codecarbon_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), g) for g in CODECARBON_NAMES)


def _plainly_foreign(data: bytes) -> bool:
    """A readable text header naming (almost) no CodeCarbon column: someone else's CSV,
    not a damaged CodeCarbon one (an empty, blank or binary file, or a header cut short,
    is damage)."""
    import gzip
    import zlib

    from ..codecarbon import KNOWN_COLUMNS
    from ..io.readers import sniff_delimiter

    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data[: 1 << 20]) if len(data) < (1 << 20) else \
                gzip.GzipFile(fileobj=io.BytesIO(data)).read(1 << 16)
        except (OSError, EOFError, zlib.error):
            return False
    text = data[: 1 << 16].decode("utf-8", errors="replace").lstrip("\ufeff")
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not line or "\x00" in line or "\ufffd" in line:
        return False
    names = {f.strip().strip('"') for f in line.split(sniff_delimiter(line))}
    return len(names & KNOWN_COLUMNS) < 2


def convert_unit(task: UnitTask) -> list[SourceOutcome]:
    """Convert the CSVs of one folder (in a worker with ``jobs > 1``)."""
    mapping: FieldMapping | None = None
    context: Context | None = None
    error = task.setup_error
    if error is None:
        mapping, context, error = _load_setup(task)
    options = dict(task.options)
    outcomes = [_convert_source(key, storage.as_path(path, options), mapping, context, error,
                                task.per_row, task.allow_incomplete, task.tracker,
                                task.mapping, task.fmt, task.spool, task.split,
                                task.fast_path, task.key, task.live,
                                key in task.streamed, task.options)
                for key, path in task.sources]
    for outcome in outcomes:
        if outcome.spool is not None:
            outcome.texts = [None] * len(outcome.documents)
        elif task.fmt in ("json", "jsonl"):
            outcome.texts = [None if d is None else dumps(d) + "\n" if task.fmt == "json"
                             else render_jsonl([d]) for d in outcome.documents]
            # rendered: the parent needs only what names each report's file
            outcome.documents = [None if d is None else named(d) for d in outcome.documents]
        else:
            outcome.texts = [None] * len(outcome.documents)
    return outcomes


def named(doc: dict[str, Any]) -> dict[str, Any]:
    """What of a report its file name is made of (:data:`NAME_FIELDS`), at the same
    paths: the same :func:`report_filename`, at a fraction of the pickle."""
    out: dict[str, Any] = {}
    for (path, _), value in zip(NAME_FIELDS, name_values(doc), strict=True):
        if value is not None:
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
    return out


def warm_up() -> None:
    """Import pandas and compile the schemas once in the parent: workers forked from it
    start warm instead of paying about a second each."""
    from ..io.readers import read_codecarbon_csv
    from ..pipeline import convert_table

    with contextlib.suppress(BoampsEtlError):
        table = read_codecarbon_csv(b"timestamp,duration,emissions,energy_consumed\n"
                                    b"2025-01-01T00:00:00,1,0,0\n", name="<warm-up>")
        convert_table(table, load_mapping(), None)


def worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent handles it (it stops the
    # pool and saves the state). The local pool also makes each worker die with its
    # parent (boamps_etl.execute.signals).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
