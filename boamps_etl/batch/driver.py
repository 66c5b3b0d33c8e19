"""Running a batch: :func:`convert_tree`, :func:`explain` and their results."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..context import load_context
from ..errors import Issue, Location, OutputError, UsageError
from ..execute import Executor, TaskFuture, make_executor
from ..io import staging, storage
from ..io.storage import AnyPath
from ..io.writers import FORMATS, is_inside
from ..jobs import resolve_jobs
from ..levels import count_levels
from ..mapping import load_mapping
from . import convert as unit_convert
from .convert import (
    SourceOutcome,
    UnitTask,
    convert_unit,
    join_split,
    warm_up,
    worker_init,
)
from .discover import (
    DEFAULT_GLOBS,
    PathLike,
    Root,
    Unit,
    discover_units,
    prepare_roots,
    probe,
    rel_path,
)
from .manifest import (
    MANIFEST_NAME,
    STATUSES,
    ManifestEntry,
    SeenReports,
    SpoolList,
    dedupe,
    first_seen,
    id_digest,
    manifest_frame,
)
from .scratch import Scratch, spool_folder, sweep_store, work_folder
from .state import (
    fresh_units,
    hash_inputs,
    plan_unit,
    read_state,
    settings_hash,
    sha_bytes,
    with_companions,
    write_state,
)
from .stream import (
    REPORT_STATUSES,
    StreamedFolder,
    finished,
    live_outcomes,
    part_entries,
    part_outputs,
    remove_unused_parts,
    write_combined,
    write_manifest,
)

if TYPE_CHECKING:
    import pandas as pd

ALL_OUTPUT = "all"                # + .jsonl / .csv: the whole batch
_CHECKPOINT_SECONDS = 2.0


@dataclass(frozen=True)
class BatchProgress:
    """Sent to the ``progress`` callback before the first folder and after each one."""

    files_done: int
    files_total: int
    rows: int
    reports: int
    unchanged: int
    elapsed: float
    current: str = ""


@dataclass
class BatchResult:
    """What :func:`convert_tree` did.

    Attributes:
        out: the output folder.
        entries: the manifest lines, in manifest order (a sequence read back from a
            temporary file past the first 2,000 lines; ``manifest``: the same as a
            DataFrame).
        files: CSV files found.
        converted: files converted by this run.
        unchanged: files skipped because they and their outputs were up to date.
        rows: data rows in all files found.
        written: files written by this run (outputs whose bytes changed, manifest, state
            not included).
        elapsed: seconds.
        stopped: ``fail_fast`` stopped the batch early.
    """

    out: AnyPath
    entries: Sequence[ManifestEntry]
    files: int
    converted: int
    unchanged: int
    rows: int
    written: Sequence[AnyPath]
    elapsed: float
    allow_incomplete: bool = False
    stopped: bool = False

    @property
    def manifest(self) -> pd.DataFrame:
        """The manifest lines as a DataFrame (columns :data:`MANIFEST_COLUMNS`, text), as
        in manifest.csv (made when asked: a batch can hold millions of lines)."""
        return manifest_frame(self.entries)

    @functools.cached_property
    def _tally(self) -> tuple[dict[str, int], dict[str, int], int, list[ManifestEntry]]:
        """One pass over the lines (read back from disk past the first few thousand):
        counts per status and level, distinct runs, failing lines."""
        counts = dict.fromkeys(STATUSES, 0)
        levels: list[str] = []
        runs: set[int] = set()
        bad = {"invalid", "error"} | (set() if self.allow_incomplete else {"incomplete"})
        failing: list[ManifestEntry] = []
        for e in self.entries:
            counts[e.status] = counts.get(e.status, 0) + 1
            if e.status in ("valid", "incomplete"):
                levels.append(e.level)
            if e.status in REPORT_STATUSES:
                runs.add(id_digest(e.run_id or f"{e.source}#{e.rows}"))
            if e.status in bad:
                failing.append(e)
        return counts, count_levels(levels), len(runs), failing

    def level_counts(self) -> dict[str, int]:
        """Reports per completeness level (valid and incomplete reports; see levels.py)."""
        return dict(self._tally[1])

    @property
    def counts(self) -> dict[str, int]:
        """Manifest lines per status (every status present, zeros included)."""
        return dict(self._tally[0])

    @property
    def reports(self) -> int:
        """Reports made, duplicates left out."""
        return sum(self._tally[0][s] for s in REPORT_STATUSES)

    @property
    def runs(self) -> int:
        """Distinct run_ids among the reports (task files have several reports per run)."""
        return self._tally[2]

    @property
    def failing(self) -> list[ManifestEntry]:
        """Lines that make the batch fail: invalid, error, and incomplete unless allowed."""
        return list(self._tally[3])

    @property
    def ok(self) -> bool:
        """True when nothing was invalid or failed (exit code 0)."""
        return not self.failing

    @property
    def issues(self) -> list[Issue]:
        """The errors of the failing lines (to print), in manifest order."""
        return [i for e in self.failing for i in e.issues if i.severity == "error"]


def _write_if_changed(path: AnyPath, text: str, root: AnyPath | None = None,
                      sizes: dict[str, int] | None = None) -> bool:
    """Atomic write (a whole object on object stores), skipped when the file already holds
    exactly these bytes; on a local disk never to a folder outside the real ``root`` (a
    symbolic link planted in the output folder). ``sizes``: an object store's listing of
    ``root`` taken at the start (by key relative to it): an object not listed, or of
    another size, is written without asking the store about it first."""
    data = text.encode("utf-8")
    if sizes is not None and root is not None and storage.is_url(path):
        size = sizes.get(rel_path(root, path))
        if size is None or size != len(data):
            storage.put(path, data)
            return True
    if root is not None and not storage.is_url(path) and Path(path).parent.exists():
        staging.check_inside(Path(root), Path(path))
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    storage.put(path, data, None if root is None or storage.is_url(path) else Path(root))
    return True


def _sweep_tree(out: AnyPath) -> None:
    """Clear what killed runs left in a local output tree (their work files only)."""
    if not storage.is_url(out) and Path(out).is_dir():
        for dirpath, dirnames, _ in os.walk(out):  # symbolic links are not followed
            dirnames[:] = [d for d in dirnames if not staging.is_work_name(d)]
            staging.sweep(Path(dirpath))


def _remove_output(out: AnyPath, rel: str) -> None:
    """Delete a file this tool wrote before (recorded in the state)."""
    target = out / rel
    if storage.inside(out, target):
        storage.remove(target)


def _remove_empty_folders(out: AnyPath, folder: AnyPath) -> None:
    """Remove ``folder`` and its parents up to ``out`` while they are empty."""
    if storage.is_url(out):
        return  # object stores have no folders to leave behind
    assert isinstance(out, Path) and isinstance(folder, Path)
    root = out.resolve()
    while is_inside(out, folder) and folder.resolve() != root:
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _joined(unit: Unit, outcomes: list[SourceOutcome]) -> list[SourceOutcome]:
    """A folder's outcomes in the order of its sources, those of a split source joined."""
    by_key: dict[str, list[SourceOutcome]] = {}
    for o in outcomes:
        by_key.setdefault(o.key, []).append(o)
    if all(len(v) == 1 for v in by_key.values()):
        return outcomes
    return [v[0] if len(v) == 1 else join_split(v)
            for v in (by_key[key] for key, _ in unit.sources if key in by_key)]


def _source_hashes(unit: Unit, outcomes: list[SourceOutcome]) -> dict[str, str | None]:
    """The state's record of a folder's sources: each one's hash, with its side files'."""
    paths = dict(unit.sources)
    return {o.key: with_companions(o.sha256, paths[o.key]) for o in outcomes}


# --------------------------------------------------------------------------- the batch


@dataclass
class _Pending:
    """A converted folder whose files are being written: recorded in the state once done."""

    key: str
    record: dict[str, Any]
    writes: list[tuple[AnyPath, Future[bool]]]
    obsolete: list[str]


class _Batch:
    """One run of :func:`convert_tree` (kept in an object: the loop shares much state)."""

    WRITE_THREADS = 8  # fsync dominates writing small files: overlap them
    WRITE_THREADS_URL = 32  # an object store: each write is a round trip, overlap more
    PENDING_MAX = 1024  # folders whose writes may lag behind the loop (memory)
    PREFETCH = 256  # results fetched from a cluster in one round trip
    WINDOW_PER_SLOT = 8  # tasks in flight per worker thread (see window())
    WINDOW_MIN = 64
    # while the loop writes a large file's reports: more tasks in flight, as long as the
    # sources whose results come back whole (in memory) hold at most this many bytes
    BUSY_BYTES = 16 << 20
    BUSY_TASKS = 4096

    def __init__(self, out: AnyPath, units: list[Unit], old_units: dict[str, Any],
                 candidates: set[str], settings: str, fmt: str, sets: Sequence[str],
                 per_row: bool, allow_incomplete: bool, fail_fast: bool, jobs: int,
                 progress: Callable[[BatchProgress], None] | None, start: float,
                 executor: Executor | None = None,
                 options: tuple[tuple[str, Any], ...] = (),
                 tracker: str | None = None, sizes: dict[str, int] | None = None,
                 fast_path: bool = True, scratch: Scratch | None = None) -> None:
        self.tracker, self.sizes, self.fast_path = tracker, sizes, fast_path
        self.out, self.units, self.old_units = out, units, old_units
        self.candidates, self.settings, self.fmt = candidates, settings, fmt
        self.sets, self.per_row, self.allow_incomplete = tuple(sets), per_row, allow_incomplete
        self.fail_fast, self.jobs, self.progress, self.start = fail_fast, jobs, progress, start
        self.state: dict[str, Any] = dict(old_units)
        self.entries: SpoolList[ManifestEntry] = SpoolList()
        self.written: SpoolList[AnyPath] = SpoolList()
        self.executor, self.options = executor, options
        self.lock = threading.Lock()
        self.finished = 0  # files converted by the executor (in any order)
        self.consumed = 0  # ... of which the loop has taken the results (in order)
        self.queued: dict[str, list[TaskFuture[list[SourceOutcome]]]] = {}
        self.todo: Iterator[Unit] = iter(())  # stale folders not submitted yet, in order
        self.in_flight = 0  # tasks submitted whose results the loop has not taken
        self.held = 0  # bytes of their sources (a URL's: STREAM_BYTES), see refill()
        self.held_of: dict[str, int] = {}
        # the spools of large files' shares read as they grow (see submit)
        self.live: dict[str, dict[str, list[tuple[Any, str]]]] = {}
        self.live_paths: list[str] = []
        self.slots = jobs  # worker threads of the executor, asked every few seconds
        self.slots_at: float | None = None
        self.prefetched: dict[str, dict[int, list[SourceOutcome]]] = {}
        self.seen = SeenReports()
        self.pending: list[_Pending] = []
        self.emptied: set[AnyPath] = set()
        self.counters = dict.fromkeys(("files", "rows", "reports", "unchanged", "converted"), 0)
        self.stopped = False
        self.dirty = False
        self.last_save = time.monotonic()
        self.save_cost = 0.0
        self.failing = {"invalid", "error"} | (set() if allow_incomplete else {"incomplete"})
        self.files_total = sum(len(u.sources) for u in units)
        # large local files are streamed through work files beside the outputs, or in a
        # temporary folder (see batch.scratch), where the workers see it (else: read whole)
        self.scratch = scratch or Scratch()
        self.spool = spool_folder(out, executor, self.scratch)

    # -- conversion

    def task(self, unit: Unit) -> UnitTask:
        return UnitTask(unit.key, tuple((k, str(p)) for k, p in unit.sources),
                     tuple((str(p), h) for p, h in unit.context_hashes),
                     (None if unit.mapping_file is None else str(unit.mapping_file),
                      tuple((str(f), h) for f, h in unit.mapping_hashes)),
                     self.sets, self.per_row, self.allow_incomplete, unit.setup_error,
                     self.fmt, self.options, self.tracker, self.spool,
                     fast_path=self.fast_path, streamed=tuple(
                         k for k, size in unit.sizes.items()
                         if size > unit_convert.STREAM_BYTES) if self.spool else ())

    def log(self, entries: list[ManifestEntry]) -> tuple[int, bool]:
        """Add a folder's lines to the manifest: (reports, whether one fails the batch)."""
        self.entries.extend(entries)
        return (sum(1 for e in entries if e.status in REPORT_STATUSES),
                any(e.status in self.failing for e in entries))

    def reuse(self, unit: Unit) -> tuple[int, bool] | None:
        """The stored lines of an up-to-date folder, added to the manifest, or None when
        duplicates elsewhere changed what it should write."""
        stored = self.old_units[unit.key]
        if isinstance(stored.get("part"), str):
            done = self.reuse_part(stored["part"])
        else:
            try:
                entries = [ManifestEntry.from_state(e) for e in stored["entries"]]
            except (KeyError, TypeError, ValueError):  # a state file edited by hand
                return None
            statuses, added = dedupe(entries, self.seen)
            if [s for s, _ in statuses] != [e.status for e in entries]:
                return None
            for e, (_, dup) in zip(entries, statuses, strict=True):
                if e.duplicate_of != dup:  # the first copy moved: only the message changes
                    e.duplicate_of = dup
                    stored["entries"] = [x.to_state() for x in entries]
                    self.dirty = True
            self.seen.update(added)
            done = self.log(entries)
        if done is None:
            return None
        self.counters["unchanged"] += len(unit.sources)
        self.counters["rows"] += sum(stored.get("rows", {}).values())
        return done

    def reuse_part(self, name: str) -> tuple[int, bool] | None:
        """:meth:`reuse` for a large folder, whose lines are in a part file: read twice,
        to check them, then to add them (a change of duplicates converts it again)."""
        out = self.out
        here = SeenReports()
        try:
            for e in part_entries(out, name):
                rid = e.report_id if e.base_status in REPORT_STATUSES else None
                first = None if rid is None else self.seen.get(rid) or here.get(rid)
                if rid is not None and first is None:
                    here.add(rid, first_seen(e))
                if (e.status, e.duplicate_of) != (
                        e.base_status if first is None else "duplicate", first):
                    return None
            entries = part_entries(out, name)
            reports, failing = 0, False
            for e in entries:
                if e.status in REPORT_STATUSES:
                    reports += 1
                    if e.status != "duplicate" and e.report_id is not None:
                        self.seen.add(e.report_id, first_seen(e))
                failing = failing or e.status in self.failing
                self.entries.append(e)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return reports, failing

    def convert(self, unit: Unit, outcomes: list[SourceOutcome]) -> tuple[int, bool]:
        if any(o.spool is not None for o in outcomes):
            return self.convert_streamed(unit, outcomes)
        entries: list[ManifestEntry] = []
        documents: list[dict[str, Any] | None] = []
        texts: list[str | None] = []
        for outcome in outcomes:
            entries.extend(outcome.entries)
            documents.extend(outcome.documents)
            texts.extend(outcome.texts)
        statuses, added = dedupe(entries, self.seen)
        for e, (status, dup) in zip(entries, statuses, strict=True):
            e.status, e.duplicate_of = status, dup
        self.seen.update(added)
        files = plan_unit(unit, self.out, self.fmt, entries, documents, texts,
                           self.allow_incomplete)
        outputs = {rel_path(self.out, p): sha_bytes(t.encode("utf-8"))
                   for p, t in files.items()}
        stored = self.old_units.get(unit.key)
        previous = stored.get("outputs") if isinstance(stored, dict) else None
        obsolete = [rel for rel in (previous if isinstance(previous, dict) else {})
                    if rel not in outputs]
        rows = {o.key: o.rows for o in outcomes}
        record = {"settings": self.settings, "sources": _source_hashes(unit, outcomes),
                  "rows": rows, "context": unit.context_hashes,
                  "mapping": unit.mapping_hashes, "outputs": outputs,
                  "entries": [e.to_state() for e in entries]}
        writes = [(p, self.writer.submit(_write_if_changed, p, t, self.out,
                                                   self.sizes))
                  for p, t in files.items()]
        self.pending.append(_Pending(unit.key, record, writes, obsolete))
        self.counters["converted"] += len(unit.sources)
        self.counters["rows"] += sum(rows.values())
        return self.log(entries)

    def convert_streamed(self, unit: Unit, outcomes: list[SourceOutcome]
                         ) -> tuple[int, bool]:
        """:meth:`convert` for a folder holding a streamed (large) file: see
        :mod:`boamps_etl.batch.stream`; written before the next folder is looked at."""
        folder = StreamedFolder(self.out, unit.key, self.fmt, self.allow_incomplete,
                                self.seen, self.entries, self.written, self.writer,
                                self.write, self.busy, work_folder(self.out, self.scratch),
                                self.sizes)
        made = folder.run(outcomes, {})
        outcomes = [finished(o) for o in outcomes]  # those read live: now known
        rows = {o.key: o.rows for o in outcomes}
        record = {"settings": self.settings, "sources": _source_hashes(unit, outcomes),
                  "rows": rows, "context": unit.context_hashes,
                  "mapping": unit.mapping_hashes, **made}
        self.pending.append(_Pending(unit.key, record, [], self.obsolete(unit.key, record)))
        self.counters["converted"] += len(unit.sources)
        self.counters["rows"] += sum(rows.values())
        return folder.reports, bool(folder.statuses & self.failing)

    def obsolete(self, key: str, record: dict[str, Any]) -> list[str]:
        """The outputs a folder had before and no longer has (either record may list
        them in a part file)."""
        stored = self.old_units.get(key)
        if not isinstance(stored, dict):
            return []
        out = self.out

        def listed(rec: dict[str, Any]) -> Iterator[str]:
            outputs = rec.get("outputs")
            yield from outputs if isinstance(outputs, dict) else ()
            if isinstance(rec.get("part"), str):
                with contextlib.suppress(OSError, ValueError, TypeError, IndexError):
                    yield from part_outputs(out, rec["part"])

        now = {id_digest(rel) for rel in listed(record)}
        return [rel for rel in listed(stored) if id_digest(rel) not in now]

    # -- writing and the state

    def commit(self, block: bool, strict: bool = True) -> None:
        """Record in the state the folders whose files are all written (all of them, with
        ``block``: waiting for the writes). A folder whose write failed is left out of the
        state; the failure is raised (an OSError as OutputError) unless ``strict`` is off."""
        keep: list[_Pending] = []
        error: BaseException | None = None
        failed: AnyPath | None = None
        for item in self.pending:
            if not block and not all(f.done() for _, f in item.writes):
                keep.append(item)
                continue
            problems = [(p, f.exception()) for p, f in item.writes if f.exception() is not None]
            if problems:
                if error is None:
                    failed, error = problems[0]
                continue
            self.written.extend(path for path, f in item.writes if f.result())
            for rel in item.obsolete:
                _remove_output(self.out, rel)
                self.emptied.add((self.out / rel).parent)
            self.state[item.key] = item.record
            self.dirty = True
        self.pending = keep
        if error is not None and strict:
            if isinstance(error, OSError):
                raise staging.output_error(error, str(failed)) from None
            raise error

    def save(self, force: bool = False) -> None:
        """Write the state: at the end, and every :data:`_CHECKPOINT_SECONDS` while it
        runs, or every ten times what the last write took when that is longer (the state
        is one object, rewritten whole: with many folders it grows, and checkpoints must
        not become the work)."""
        every = max(_CHECKPOINT_SECONDS, 10 * self.save_cost)
        if self.dirty and (force or time.monotonic() - self.last_save > every):
            began = time.monotonic()
            write_state(self.out, self.state)
            self.dirty, self.last_save = False, time.monotonic()
            self.save_cost = self.last_save - began

    def report(self, current: str) -> None:
        if self.progress is not None:
            c = self.counters
            ahead = max(0, self.finished - self.consumed)
            self.progress(BatchProgress(c["files"] + ahead, self.files_total, c["rows"],
                                        c["reports"], c["unchanged"],
                                        time.perf_counter() - self.start, current))

    # -- the loop

    def submit(self, executor: Executor, unit: Unit) -> list[TaskFuture[list[SourceOutcome]]]:
        """The tasks converting a folder: one, or one per file when the executor prefers."""
        task = self.task(unit)
        if not executor.per_file:
            large = self.large(unit, task)
            if not large:
                return [executor.submit(convert_unit, task)]
            # a large file's blocks are shared out between the workers (join_split), each
            # share spooled to a work file the loop reads as it grows (live_outcomes)
            rest = tuple(s for s in task.sources if s not in large)
            parts = [executor.submit(convert_unit, dataclasses.replace(task, sources=rest))
                     ] * bool(rest)
            live = self.live[unit.key] = {}
            for source in large:
                for i in range(self.jobs):
                    path = os.path.join(str(self.spool), staging.work_name(suffix="spool"))
                    self.live_paths.append(path)
                    parts.append(executor.submit(convert_unit, dataclasses.replace(
                        task, sources=(source,), split=(i, self.jobs), live=path)))
                    live.setdefault(source[0], []).append((parts[-1], path))
            return parts
        # a large file's blocks are shared out between the cluster's worker threads
        n, futures = self.slots, []
        large = self.large(unit, task, n)
        for source in task.sources:
            parts = [executor.submit(convert_unit, dataclasses.replace(
                task, sources=(source,), split=(i, n) if source in large else None))
                for i in range(n if source in large else 1)]
            futures.extend(parts)
            # the progress bar counts completed files, in any order: one task each
            add = getattr(parts[0], "add_done_callback", None)
            if add is not None:
                add(self._completed)
        return futures

    def window(self, executor: Executor) -> int:
        """Tasks kept in flight: :attr:`WINDOW_PER_SLOT` per worker thread of the executor
        (asked again every few seconds: a cluster may grow or shrink), at least
        :attr:`WINDOW_MIN`: enough for every worker to find its next task waiting, few
        enough that 100,000 folders are never all queued (memory, cancelling)."""
        now = time.monotonic()
        if self.slots_at is None or now - self.slots_at > 5.0:
            count = getattr(executor, "slots", None)
            self.slots = max(1, count() if callable(count) else self.jobs)
            self.slots_at = now
        return max(self.WINDOW_MIN, self.WINDOW_PER_SLOT * self.slots)

    def refill(self, executor: Executor, until: str | None = None, busy: bool = False
               ) -> None:
        """Submit the next stale folders, in order, while the window has room (and at least
        up to the folder ``until``, which the loop needs now). ``busy``: the loop is
        writing a large file's reports, and takes no result meanwhile: the workers go on
        with the next folders, beyond the window, while the sources of the results not
        taken hold at most :attr:`BUSY_BYTES` (a large file's, spooled, count too)."""
        limit = self.window(executor)
        while self.in_flight < limit or (until is not None and until not in self.queued) \
                or (busy and self.held < self.BUSY_BYTES and self.in_flight < self.BUSY_TASKS):
            unit = next(self.todo, None)
            if unit is None:
                return
            parts = self.submit(executor, unit)
            self.queued[unit.key] = parts
            self.in_flight += len(parts)
            held = self.held_of[unit.key] = sum(
                unit_convert.STREAM_BYTES if storage.is_url(path) else _size(Path(path))
                for _, path in unit.sources)
            self.held += held

    def busy(self) -> None:
        """Called now and then while the loop writes a large file's reports (see
        :meth:`refill`)."""
        if self.executor is not None and self.executor.name != "inline":
            self.refill(self.executor, busy=True)

    def large(self, unit: Unit, task: UnitTask, workers: int | None = None
              ) -> list[tuple[str, str]]:
        """The sources of a folder large enough to be split between the ``workers``
        (default: ``jobs``); the size of an object, from the listing."""
        if self.spool is None or (workers or self.jobs) < 2 or task.setup_error is not None:
            return []
        return [(key, path) for key, path in task.sources
                if (unit.sizes.get(key, 0) if storage.is_url(path) else _size(Path(path)))
                > unit_convert.SPLIT_BYTES]

    def _completed(self, _: Any) -> None:
        with self.lock:
            self.finished += 1

    def run(self) -> None:
        stale = [u for u in self.units if u.key not in self.candidates]
        executor = self.executor
        own = executor is None
        futures: dict[str, list[TaskFuture[list[SourceOutcome]]]] = {}
        self.writer = ThreadPoolExecutor(self.WRITE_THREADS_URL if storage.is_url(self.out)
                                         else self.WRITE_THREADS)
        completed = interrupted = False
        if self.spool is not None and not storage.is_url(self.spool):
            Path(self.spool).mkdir(parents=True, exist_ok=True)
        try:
            if executor is None:
                workers = min(self.jobs, len(stale))
                if workers < self.jobs and any(self.large(u, self.task(u)) for u in stale):
                    workers = self.jobs  # a large file's blocks keep every worker busy
                executor = make_executor("local", workers, None,
                                         warm_up, worker_init)
            self.executor = executor  # the loop's, also when made here
            if executor.name != "inline":
                self.queued = futures
                self.todo = iter(stale)
                self.refill(executor)
            self.report("")
            for unit in self.units:
                done = self.reuse(unit) if unit.key in self.candidates else None
                if done is None:
                    if executor.name != "inline" and unit.key not in self.candidates \
                            and unit.key not in futures:
                        self.refill(executor, unit.key)
                    parts = futures.pop(unit.key, None)
                    live = self.live.pop(unit.key, None)
                    if parts is None:
                        outcomes = convert_unit(self.task(unit))
                    else:
                        found = None if live is None else \
                            live_outcomes(unit.sources, parts, live)
                        outcomes = found or _joined(unit, [o for part in parts
                                                           for o in self.wait(part, unit)])
                        self.consumed += len(unit.sources)
                        self.in_flight -= len(parts)
                        self.held -= self.held_of.pop(unit.key, 0)
                        self.prefetched.pop(unit.key, None)
                        self.refill(executor)
                    done = self.convert(unit, outcomes)
                self.counters["files"] += len(unit.sources)
                self.counters["reports"] += done[0]
                self.commit(block=False)
                while len(self.pending) > self.PENDING_MAX:  # writes lag: let them catch up
                    for _, write in self.pending[0].writes:
                        write.exception()  # waits; a failure is raised by commit
                    self.commit(block=False)
                self.save()
                self.report(unit.key)
                if self.fail_fast and done[1]:
                    self.stopped = True
                    break
            self.commit(block=True)
            completed = True
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            stop = getattr(executor, "stop", None)
            # Stopped early: drop the work not needed (after an interrupt the local pool's
            # stop does it: futures cancelled here while its workers are killed make
            # Python 3.11's pool fail in a thread of its own, InvalidStateError)
            for parts in futures.values() if not (interrupted and stop and own) else ():
                for part in parts:
                    cancel = getattr(part, "cancel", None)
                    if cancel is not None:
                        cancel()
            if own and executor is not None:
                # Ctrl-C, SIGTERM: the local workers are killed, not waited for
                (stop if interrupted and stop is not None else executor.close)()
            if not completed:  # interrupted: keep what is complete, raise the first error
                self.commit(block=True, strict=False)
            self.writer.shutdown(wait=True)
            self.save(force=True)
            if self.spool is not None and storage.is_url(self.spool):
                with contextlib.suppress(OSError, ValueError):  # left: the next run's
                    storage.remove_tree(storage.as_path(self.spool, dict(self.options)))
            if self.spool is not None:
                for path in self.live_paths:  # named here, by this process: not swept
                    staging.remove(Path(path))
                if not storage.is_url(self.out):
                    staging.sweep(Path(self.out))  # spools no folder was waiting for
                remove_unused_parts(self.out, self.state, self.sizes)
            for folder in sorted(self.emptied, key=lambda p: len(p.parts), reverse=True):
                _remove_empty_folders(self.out, folder)

    def wait(self, future: TaskFuture[list[SourceOutcome]], unit: Unit
             ) -> list[SourceOutcome]:
        """A task's result; progress is reported while waiting (completions elsewhere)."""
        executor = self.executor
        if executor is None or not executor.per_file:
            return future.result()
        seen = self.finished
        while self.progress is not None and not future.done():
            time.sleep(0.05)
            if self.finished != seen:
                seen = self.finished
                self.report(unit.key)
        if id(future) not in self.prefetched.get(unit.key, {}):
            # one round trip for this result and those of the next folders already done
            batch_: list[tuple[str, TaskFuture[list[SourceOutcome]]]] = [(unit.key, future)]
            for key, parts in self.queued.items():
                if len(batch_) >= self.PREFETCH:
                    break
                batch_.extend((key, p) for p in parts if p.done() and p is not future)
            for (key, part), value in zip(batch_, executor.gather([p for _, p in batch_]),
                                          strict=True):
                self.prefetched.setdefault(key, {})[id(part)] = value
        return self.prefetched[unit.key].pop(id(future))

    def write(self, path: AnyPath, text: str) -> bool:
        """Write one output (skipped when it holds these bytes already)."""
        return _write_if_changed(path, text, self.out, self.sizes)

    def finish(self) -> None:
        """``all.<fmt>`` and ``manifest.csv`` (after a complete run), streamed to a work
        file (local, then uploaded whole, for an object store)."""
        work = work_folder(self.out, self.scratch)
        if not storage.is_url(self.out):
            for name in (f"{ALL_OUTPUT}.{self.fmt}", MANIFEST_NAME):
                staging.check_inside(Path(self.out), Path(self.out / name))
        if self.fmt != "json" and not self.stopped:
            parts: list[str] = []
            for unit in self.units:
                parts.extend(sorted(self.state.get(unit.key, {}).get("outputs", {})))
            target = self.out / f"{ALL_OUTPUT}.{self.fmt}"
            if write_combined(self.out, self.fmt, parts, target, work, self.sizes):
                self.written.append(target)
        write_manifest(self.out / MANIFEST_NAME, self.entries, work, self.sizes)


def convert_tree(roots: PathLike | Sequence[PathLike], out: PathLike, *,
                 contexts: Sequence[PathLike] = (), mapping: PathLike | None = None,
                 sets: Sequence[str] = (), format: str = "json", jobs: int = 1,
                 globs: Sequence[str] | None = None, force: bool = False,
                 fail_fast: bool = False, allow_incomplete: bool = False,
                 per_row: bool = False,
                 progress: Callable[[BatchProgress], None] | None = None,
                 executor: str | Executor = "local", client: Any = None,
                 scheduler: str | None = None,
                 storage_options: dict[str, Any] | None = None,
                 tracker: str | None = None, fmt: str | None = None,
                 fast_path: bool = True) -> BatchResult:
    """Convert every tracker's file under ``roots`` into BoAmps reports mirrored under
    ``out``: CodeCarbon CSVs, eco2ai CSVs, carbontracker logs, Zeus and perun files,
    optimum-benchmark reports, AI Energy Score summaries, each recognised from its content.

    Args:
        roots: one folder or several (each mirrored under ``out/<its name>``, ``-2``... on
            name clashes).
        out: the output folder; ``manifest.csv`` and the state file go there.
        contexts: context files applied first, under every ``boamps.yaml`` found.
        mapping: the mapping for folders with no ``boamps-mapping.yaml`` above them.
        sets: ``PATH=VALUE`` values applied last.
        format: 'json' (a file per report), 'jsonl' or 'csv' (a ``boamps-reports.<format>``
            per folder, plus ``all.<format>`` for the batch).
        jobs: worker processes (0: one per CPU, see :mod:`boamps_etl.jobs`); the outputs do
            not depend on it.
        globs: file-name patterns replacing :data:`DEFAULT_GLOBS` (a pattern with ``/``
            matches the path relative to its ROOT).
        force: convert everything again, even sources that are up to date.
        fail_fast: stop after the first folder with an invalid report or an error.
        allow_incomplete: write reports that only lack fields CodeCarbon cannot know, as
            drafts (status stays 'incomplete', and does not fail the batch).
        per_row: one report per CSV row instead of one per run_id.
        progress: called with a :class:`BatchProgress` before the first folder and after
            each; an exception it raises (KeyboardInterrupt included) stops the batch with
            the state saved for the completed folders.
        tracker: read every file found as this tracker's instead of recognising it.
        executor: 'local' (this machine, ``jobs`` processes) or 'dask' (a dask.distributed
            cluster: one task per file), or an :class:`boamps_etl.execute.Executor`.
        client: a connected ``distributed.Client`` to run on (implies 'dask').
        scheduler: the Dask scheduler address; None: ``DASK_SCHEDULER_ADDRESS``, else a
            LocalCluster of ``jobs`` processes.
        storage_options: fsspec options for URL roots, ``out`` and ``contexts`` (for
            example ``{"endpoint_url": ...}``); by default each backend's environment.
        fmt: the former name of ``format`` (deprecated: a DeprecationWarning).
        fast_path: False: a large clean CodeCarbon file is converted by the reference
            pipeline instead of the column-wise engine, as in
            :func:`boamps_etl.convert_to` (the outputs are the same).

    ``roots``, ``out``, ``contexts`` and ``mapping`` may be fsspec URLs (``s3://``,
    ``gs://``, ``file://``, ``memory://``): outputs are then whole-object writes.

    Returns:
        A :class:`BatchResult` (manifest, counts, timing). One bad CSV, context or mapping
        file below a ROOT is a manifest line, never an exception.

    Raises:
        UsageError: a ROOT is missing, not a folder, or inside ``out``; bad ``format``/``jobs``.
        OutputError: ``out`` cannot be written.
        ContextError, MappingError: a ``contexts`` file, ``mapping`` or ``sets`` is invalid.

    >>> result = convert_tree("runs", "reports", contexts=["lab.yaml"])  # doctest: +SKIP
    >>> result.manifest[result.manifest.status == "invalid"]            # doctest: +SKIP
    """
    start = time.perf_counter()
    if fmt is not None:
        warnings.warn("convert_tree(fmt=...) is deprecated: use format=...",
                      DeprecationWarning, stacklevel=2)
        format = fmt
    fmt = format
    if tracker is not None:
        from ..trackers import get_tracker

        tracker = get_tracker(tracker).name
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    jobs = resolve_jobs(jobs)
    options = dict(storage_options or {})
    out_path = storage.as_path(out, options)
    storage.forget_listings(out_path)
    if probe(out_path, storage.exists) and not probe(out_path, storage.is_dir):
        raise OutputError("the output is a file, not a folder", Location(str(out_path)))
    root_list = prepare_roots(roots, out_path, options)
    storage.check_writable(out_path)
    _sweep_tree(out_path)
    context_paths = [storage.as_path(c, options) for c in contexts]
    load_context(context_paths, sets)  # a broken --context or --set stops the job here
    mapping_path = None if mapping is None else storage.as_path(mapping, options)
    if mapping_path is not None:
        load_mapping(mapping_path)  # a broken --mapping stops the job here
    mapping_cache: dict[Any, Any] = {}
    pattern_list = tuple(globs) if globs else DEFAULT_GLOBS
    runner: Executor | None = None
    if client is not None or executor == "dask":
        from ..execute.dask import DaskExecutor

        runner = DaskExecutor(scheduler, workers=jobs, client=client)
    elif not isinstance(executor, str):
        runner = executor
    elif executor != "local" or scheduler:
        runner = make_executor(executor, jobs, scheduler)  # raises the usage error
    scratch = Scratch()  # a temporary folder, when needed (see batch.scratch)
    try:
        return _convert_tree(runner, root_list, out_path, context_paths, mapping_path,
                             mapping_cache, pattern_list, options, fmt, per_row,
                             allow_incomplete, sets, force, fail_fast, jobs, progress, start,
                             tracker, fast_path, scratch)
    finally:
        try:
            if runner is not None and runner is not executor:
                runner.close()
                if runner.name == "dask" and not storage.is_url(out_path):
                    staging.sweep(Path(out_path))  # spools of tasks stopped with the cluster
        finally:
            scratch.close()  # after the workers that may write there are gone


def _convert_tree(runner: Executor | None, root_list: list[Root], out_path: AnyPath,
                  context_paths: list[AnyPath], mapping_path: AnyPath | None,
                  mapping_cache: dict[Any, Any], pattern_list: tuple[str, ...],
                  options: dict[str, Any], fmt: str, per_row: bool, allow_incomplete: bool,
                  sets: Sequence[str], force: bool, fail_fast: bool, jobs: int,
                  progress: Callable[[BatchProgress], None] | None, start: float,
                  tracker: str | None, fast_path: bool = True,
                  scratch: Scratch | None = None) -> BatchResult:
    units = discover_units(root_list, out_path, pattern_list, context_paths, mapping_path, runner)

    settings = settings_hash(fmt, per_row, allow_incomplete, sets, tracker)
    old_units = read_state(out_path)
    hash_inputs(units, old_units, settings, force, runner, options, mapping_cache)
    sizes = storage.listing(out_path)  # an object store's outputs: one flat listing
    sweep_store(out_path, sizes)  # spools of killed batches
    candidates = fresh_units(units, old_units, settings, out_path, force, sizes, runner,
                              options)
    run = _Batch(out_path, units, old_units, candidates, settings, fmt, sets, per_row,
                 allow_incomplete, fail_fast, jobs, progress, start, runner,
                 tuple(sorted(options.items())), tracker, sizes, fast_path, scratch)
    run.run()
    run.finish()
    c = run.counters
    return BatchResult(out_path, run.entries, c["files"],
                       c["converted"], c["unchanged"], c["rows"], run.written,
                       time.perf_counter() - start, allow_incomplete, run.stopped)
