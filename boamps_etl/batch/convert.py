"""Converting one source folder (a work unit) and its files: what workers run (only
picklable data goes in and out)."""

from __future__ import annotations

import contextlib
import fnmatch
import io
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..context import Context, load_context
from ..errors import BoampsEtlError, InputError, Issue, Location
from ..io import storage
from ..io.storage import AnyPath
from ..io.writers import dumps, render_jsonl
from ..mapping import FieldMapping, load_mapping
from .manifest import ManifestEntry
from .state import _sha_bytes

# Reader messages meaning "there is nothing to convert here" rather than "this is broken".
_NOTHING_TO_CONVERT = ("is not a CodeCarbon emissions CSV", "is empty", "holds only blank space",
                       "is JSON of no known tracker")


# --------------------------------------------------------------------------- conversion
# (runs in worker processes with jobs > 1: only picklable data goes in and out)


@dataclass(frozen=True)
class _Task:
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


@dataclass
class _SourceOutcome:
    key: str
    sha256: str | None
    rows: int
    entries: list[ManifestEntry]
    documents: list[dict[str, Any] | None]
    # the output text of each report, rendered in the worker (json/jsonl) to offload the
    # parent; same bytes as the writers' functions
    texts: list[str | None] = field(default_factory=list)


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


def _load_setup(task: _Task) -> tuple[FieldMapping | None, Context | None, Issue | None]:
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


def _sorted_entries(entries: list[ManifestEntry]) -> list[ManifestEntry]:
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
                        None, ())) -> _SourceOutcome:
    from ..pipeline import convert_table
    from ..trackers import detect, get_tracker, read_table

    found_name = ""

    def single(status: str, issue: Issue, sha: str | None, rows: int = 0) -> _SourceOutcome:
        entry = ManifestEntry(key, (), None, None, status, None, [issue], sha,
                              base_status=status, tracker=found_name)
        return _SourceOutcome(key, sha, rows, [entry], [None])

    if setup_error is not None and setup_error.code == "unreadable-folder":
        return single("error", setup_error, None)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return single("error", Issue("bad-input", "cannot be read "
                                     f"({exc.strerror or storage.describe_error(exc)})",
                                     Location(key)), None)
    sha = _sha_bytes(data)
    try:
        found = get_tracker(tracker) if tracker is not None else detect(data, key)
        # Other trackers' files are small; from their path, their readers also find the
        # files written beside them (carbontracker's standard log, optimum-benchmark's
        # configuration).
        found, table = read_table(data if found.name == "codecarbon" else path, found, key)
    except InputError as exc:
        issue = Issue(exc.code, exc.message, Location(key, exc.where.row, exc.where.column),
                      "error", exc.hint)
        if exc.message.startswith(_NOTHING_TO_CONVERT):
            if not _codecarbon_name(path.name) or _plainly_foreign(data):
                return single("skipped", issue, sha)
            issue = Issue(exc.code, f"{exc.message}, though named like CodeCarbon's output: "
                          "a damaged CodeCarbon file", issue.where, "error",
                          "restore it from a backup, or delete it if the run is lost")
        return single("error", issue, sha)
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
                           allow_incomplete=allow_incomplete)
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
    entries = _sorted_entries(entries)
    if warnings:
        entries[0].issues[:0] = warnings
    return _SourceOutcome(key, sha, result.rows_read, entries,
                          [documents.get(id(e)) for e in entries])


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


def _convert_unit(task: _Task) -> list[_SourceOutcome]:
    """Convert the CSVs of one folder (in a worker with ``jobs > 1``)."""
    mapping: FieldMapping | None = None
    context: Context | None = None
    error = task.setup_error
    if error is None:
        mapping, context, error = _load_setup(task)
    options = dict(task.options)
    outcomes = [_convert_source(key, storage.as_path(path, options), mapping, context, error,
                                task.per_row, task.allow_incomplete, task.tracker,
                                task.mapping)
                for key, path in task.sources]
    for outcome in outcomes:
        if task.fmt == "json":
            outcome.texts = [None if d is None else dumps(d) + "\n" for d in outcome.documents]
        elif task.fmt == "jsonl":
            outcome.texts = [None if d is None else render_jsonl([d])
                             for d in outcome.documents]
        else:
            outcome.texts = [None] * len(outcome.documents)
    return outcomes


def _warm_up() -> None:
    """Import pandas and compile the schemas once in the parent: workers forked from it
    start warm instead of paying about a second each."""
    from ..io.readers import read_codecarbon_csv
    from ..pipeline import convert_table

    with contextlib.suppress(BoampsEtlError):
        table = read_codecarbon_csv(b"timestamp,duration,emissions,energy_consumed\n"
                                    b"2025-01-01T00:00:00,1,0,0\n", name="<warm-up>")
        convert_table(table, load_mapping(), None)


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent handles it (it stops the
    # pool and saves the state). The local pool also makes each worker die with its
    # parent (boamps_etl.execute.signals).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
