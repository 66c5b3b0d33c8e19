"""Batch conversion of whole experiment folders: :func:`convert_tree` and :func:`explain`.

``convert_tree`` walks one or more folders, finds every CodeCarbon CSV (``emissions*.csv``,
task files ``emissions_<experiment>_<run_id>.csv``, ``.bak`` backups, ``*.csv.gz``), converts
each with the context and mapping files found above it, and mirrors the tree under the
output folder, with a ``manifest.csv`` listing every report and every problem.

Rules, in short (``docs/batch.md`` has the long form):

* **Contexts**: a ``boamps.yaml`` (``.yml``, ``.json``) applies to its folder and everything
  below it, up to the ROOT (files above a ROOT are not looked at). Layers apply in this order,
  later ones overriding earlier ones: ``contexts`` (``--context``), then the folder files from
  the ROOT down to the CSV's folder, then ``sets`` (``--set``).
* **Mappings**: the nearest ``boamps-mapping.yaml`` (``.yml``, ``.json``) wins; without one,
  ``mapping`` (``--mapping``), else the built-in mapping. Files are not chained implicitly:
  a folder mapping that should build on a farther one says so with
  ``extends: ../boamps-mapping.yaml`` (the mapping's own ``extends`` semantics).
* **Order**: sources are sorted folder by folder (a folder's own files, by name, before its
  subfolders); the manifest follows that order, then the row. The same report (same
  ``reportId``: the run_id, or run_id + task name for task files) found in several files is
  written once, from the first source; the others are ``duplicate`` lines.
* **Work units** are folders: outputs of a folder are planned together (``-2`` suffixes for
  same-named reports, one ``boamps-reports.jsonl``/``.csv`` per folder). Workers convert,
  the parent process writes, in sorted order, so ``jobs`` never changes a byte.
* **Re-runs**: ``DIR/.boamps-etl-state.json`` records, per folder, the sha256 of each source,
  of the context and mapping files that applied, the options, and of each output. A folder
  whose records all match (and whose outputs are intact) is not converted again. The state
  is written atomically, for completed folders only, so an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fnmatch
import hashlib
import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import Context, load_context, merge_into
from .errors import (
    BoampsEtlError,
    InputError,
    Issue,
    Location,
    OutputError,
    UsageError,
    row_ranges,
)
from .execute import Executor, TaskFuture, make_executor
from .flatten import columns_of
from .io import staging, storage
from .io.storage import AnyPath
from .io.writers import (
    FORMATS,
    dumps,
    is_inside,
    plan_json,
    render_csv,
    render_jsonl,
)
from .jobs import resolve_jobs
from .levels import count_levels
from .mapping import FieldMapping, load_mapping

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]

def _default_globs() -> tuple[str, ...]:
    from .trackers import trackers

    ordered = sorted(trackers().values(), key=lambda t: t.name != "codecarbon")
    return tuple(dict.fromkeys(p for t in ordered for p in t.files))


#: File-name patterns found by default (``--glob`` replaces them): every tracker's files
#: (CodeCarbon's emissions*.csv, .bak backups and *.csv.gz first). The name only finds a
#: file; its content says which tracker wrote it.
DEFAULT_GLOBS: tuple[str, ...] = _default_globs()
CONTEXT_NAMES: tuple[str, ...] = ("boamps.yaml", "boamps.yml", "boamps.json")
MAPPING_NAMES: tuple[str, ...] = ("boamps-mapping.yaml", "boamps-mapping.yml",
                                  "boamps-mapping.json")
STATE_NAME = ".boamps-etl-state.json"
MANIFEST_NAME = "manifest.csv"
FOLDER_OUTPUT = "boamps-reports"  # + .jsonl / .csv: one file per source folder
ALL_OUTPUT = "all"                # + .jsonl / .csv: the whole batch
STATE_VERSION = 1
STATUSES: tuple[str, ...] = ("valid", "incomplete", "invalid", "duplicate", "skipped", "error")
MANIFEST_COLUMNS: tuple[str, ...] = ("source", "tracker", "rows", "run_id", "report_id",
                                     "status", "level", "output", "messages", "sha256")

# Reader messages meaning "there is nothing to convert here" rather than "this is broken".
_NOTHING_TO_CONVERT = ("is not a CodeCarbon emissions CSV", "is empty", "holds only blank space",
                       "is JSON of no known tracker")
_CHECKPOINT_SECONDS = 2.0


# --------------------------------------------------------------------------- results


@dataclass
class ManifestEntry:
    """One line of the manifest: a report, or a problem that produced no report.

    Attributes:
        source: the CSV, relative to its ROOT (prefixed by the ROOT's name with several
            ROOTs), with ``/`` separators: the same path its outputs have under ``out``.
        rows: the spreadsheet rows (header = 1) the line stands for; empty for whole files.
        run_id: CodeCarbon's run_id.
        report_id: the report's ``header.reportId`` (the key for duplicates).
        status: 'valid', 'incomplete', 'invalid', 'duplicate', 'skipped' or 'error'.
        output: the file written, relative to ``out``; empty when nothing was written.
        issues: the located problems (errors and warnings).
        sha256: content hash of the source file.
        duplicate_of: for duplicates, the source and row of the report that was kept.
    """

    source: str
    rows: tuple[int, ...] = ()
    run_id: str | None = None
    report_id: str | None = None
    status: str = "error"
    output: str | None = None
    issues: list[Issue] = field(default_factory=list)
    sha256: str | None = None
    duplicate_of: str | None = None
    base_status: str = "error"  # the status before duplicates were looked for
    level: str = ""  # completeness level of a written report (boamps_etl.levels)
    tracker: str = ""  # the tool that wrote the source (boamps_etl.trackers); '' unknown
    recovered: tuple[str, ...] = ()  # what was recovered to make the report (see pipeline)

    @property
    def messages(self) -> str:
        """The problems as one manifest cell (``|``-separated, without the source name);
        a report made from a recovered row says so first (``recovered: ...``)."""
        parts: list[str] = []
        if self.recovered:
            parts.append(f"recovered: {'; '.join(self.recovered)}")
        if self.duplicate_of:
            parts.append(f"same report as {self.duplicate_of}")
        for issue in self.issues:
            if self.recovered and issue.code.startswith("recovered-") and \
                    issue.where.row is not None:
                continue  # said by the recovered note
            w = issue.where
            where = Location(None if w.file in (None, self.source) else w.file,
                             None if w.row in self.rows else w.row, w.column, w.json_path,
                             w.line, w.col)
            text = f"{where}: {issue.message}" if str(where) else issue.message
            parts.append(text if issue.severity == "error" else f"{issue.severity}: {text}")
        return " | ".join(parts)

    def row_text(self) -> str:
        return _ranges(self.rows)

    def as_row(self) -> dict[str, str]:
        """The manifest line as text cells (``''`` for nothing)."""
        return {"source": self.source, "tracker": self.tracker, "rows": self.row_text(),
                "run_id": self.run_id or "",
                "report_id": self.report_id or "", "status": self.status,
                "level": self.level if self.status in ("valid", "incomplete") else "",
                "output": self.output or "", "messages": self.messages,
                "sha256": self.sha256 or ""}

    def to_state(self) -> dict[str, Any]:
        return {"source": self.source, "rows": list(self.rows), "run_id": self.run_id,
                "report_id": self.report_id, "status": self.status, "output": self.output,
                "issues": [_issue_to_state(i) for i in self.issues], "sha256": self.sha256,
                "duplicate_of": self.duplicate_of, "base_status": self.base_status,
                "level": self.level, "tracker": self.tracker,
                "recovered": list(self.recovered)}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(data["source"], tuple(data["rows"]), data["run_id"], data["report_id"],
                   data["status"], data["output"],
                   [_issue_from_state(i) for i in data["issues"]], data["sha256"],
                   data["duplicate_of"], data["base_status"], data.get("level", ""),
                   data.get("tracker", ""), tuple(data.get("recovered", ())))


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
        entries: the manifest lines, in manifest order.
        manifest: the same lines as a DataFrame (columns :data:`MANIFEST_COLUMNS`, text).
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
    entries: list[ManifestEntry]
    manifest: pd.DataFrame
    files: int
    converted: int
    unchanged: int
    rows: int
    written: list[AnyPath]
    elapsed: float
    allow_incomplete: bool = False
    stopped: bool = False

    def level_counts(self) -> dict[str, int]:
        """Reports per completeness level (valid and incomplete reports; see levels.py)."""
        return count_levels(e.level for e in self.entries
                            if e.status in ("valid", "incomplete"))

    @property
    def counts(self) -> dict[str, int]:
        """Manifest lines per status (every status present, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for e in self.entries:
            out[e.status] = out.get(e.status, 0) + 1
        return out

    @property
    def reports(self) -> int:
        """Reports made, duplicates left out."""
        return sum(1 for e in self.entries if e.status in ("valid", "incomplete", "invalid"))

    @property
    def runs(self) -> int:
        """Distinct run_ids among the reports (task files have several reports per run)."""
        return len({(e.run_id or f"{e.source}#{e.rows}") for e in self.entries
                    if e.status in ("valid", "incomplete", "invalid")})

    @property
    def failing(self) -> list[ManifestEntry]:
        """Lines that make the batch fail: invalid, error, and incomplete unless allowed."""
        bad = {"invalid", "error"} | (set() if self.allow_incomplete else {"incomplete"})
        return [e for e in self.entries if e.status in bad]

    @property
    def ok(self) -> bool:
        """True when nothing was invalid or failed (exit code 0)."""
        return not self.failing

    @property
    def issues(self) -> list[Issue]:
        """The errors of the failing lines (to print), in manifest order."""
        return [i for e in self.failing for i in e.issues if i.severity == "error"]


@dataclass
class Explanation:
    """What applies to one CSV (or folder) in a batch: see :func:`explain`.

    Attributes:
        path: the CSV or folder explained.
        root: the ROOT it was found under.
        source: its manifest name (relative, ``/``-separated).
        context_files: context files in the order they are applied (later ones override);
            ``sets`` come after all of them.
        sets: the ``--set`` values.
        mapping_file: the mapping file chosen (nearest, else ``--mapping``; None: built-in).
        mapping_files: the mapping files that make it up, base first (``extends`` chain).
        context: the merged context (the non-``match`` part of every layer, merged in order).
        matches: the ``match`` sections, in order: ``{"file", "when", "values"}``.
        error: why the CSVs here would fail (a broken context or mapping file), if so.
    """

    path: Path
    root: Path
    source: str
    context_files: list[Path]
    sets: tuple[str, ...]
    mapping_file: Path | None
    mapping_files: list[Path]
    context: dict[str, Any]
    matches: list[dict[str, Any]]
    error: Issue | None = None


# --------------------------------------------------------------------------- helpers


def _ranges(rows: Sequence[int]) -> str:
    """``(2, 3, 4, 7)`` -> ``'2-4;7'`` (the manifest's form)."""
    return row_ranges(rows, ";")


def _issue_to_state(issue: Issue) -> dict[str, Any]:
    w = issue.where
    return {"code": issue.code, "message": issue.message, "severity": issue.severity,
            "hint": issue.hint, "file": None if w.file is None else str(w.file), "row": w.row,
            "column": w.column, "json_path": w.json_path, "line": w.line, "col": w.col}


def _issue_from_state(data: dict[str, Any]) -> Issue:
    return Issue(data["code"], data["message"],
                 Location(data["file"], data["row"], data["column"], data["json_path"],
                          data["line"], data["col"]), data["severity"], data["hint"])


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha_file(path: AnyPath) -> str | None:
    return storage.sha256(path)


def _hash_many(paths: list[str], options: tuple[tuple[str, Any], ...]) -> list[str | None]:
    """Content hashes of several files (one task on a cluster: the bytes stay there)."""
    return [storage.sha256(storage.as_path(p, dict(options))) for p in paths]


def _rel(out: AnyPath, target: AnyPath) -> str:
    """``target`` relative to ``out``, ``/``-separated."""
    if storage.is_url(out):
        return str(target)[len(str(out).rstrip("/")) + 1:]
    return Path(target).relative_to(out).as_posix()


def _parts(key: str) -> tuple[str, ...]:
    return tuple(p for p in key.split("/") if p)


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _write_if_changed(path: AnyPath, text: str, root: AnyPath | None = None) -> bool:
    """Atomic write (a whole object on object stores), skipped when the file already holds
    exactly these bytes; on a local disk never to a folder outside the real ``root`` (a
    symbolic link planted in the output folder)."""
    data = text.encode("utf-8")
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


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Root:
    path: AnyPath  # resolved (a URL as given, without a trailing /)
    prefix: str   # '' with one ROOT, else its (unique) name under out


@dataclass
class _Unit:
    """One source folder: its CSVs, and the context/mapping files that apply to them."""

    key: str                        # mirrored folder under out ('' = out itself)
    folder: AnyPath
    sources: list[tuple[str, AnyPath]]  # (manifest name, path), sorted by name
    context_files: list[AnyPath]
    mapping_file: AnyPath | None
    setup_error: Issue | None = None
    hashes: dict[str, str | None] = field(default_factory=dict)
    # [path, sha256] pairs (lists: they are compared with the JSON state as they are)
    context_hashes: list[list[Any]] = field(default_factory=list)
    mapping_hashes: list[list[Any]] = field(default_factory=list)

    @property
    def sort_key(self) -> tuple[str, ...]:
        return _parts(self.key)


def _prepare_roots(roots: PathLike | Sequence[PathLike], out: AnyPath | None,
                   options: Any = None) -> list[_Root]:
    items = [roots] if isinstance(roots, str | os.PathLike) else list(roots)
    if not items:
        raise UsageError("no ROOT folder given")
    resolved: list[AnyPath] = []
    for item in items:
        path = storage.as_path(item, options)
        storage.forget_listings(path)
        if not _probe(path, storage.exists):
            raise UsageError(storage.missing(path, "ROOT"), Location(str(path)))
        if not _probe(path, storage.is_dir):
            raise UsageError("ROOT is not a folder", Location(str(path)),
                             "use 'boamps-etl convert' for single files")
        real = path.resolve() if isinstance(path, Path) else storage.as_path(
            str(path).rstrip("/"), options)
        if out is not None and storage.inside(out, real):
            raise UsageError("ROOT is inside the output folder", Location(path),
                             "choose an --out outside the folders to convert")
        if real not in resolved:
            resolved.append(real)
    for a in resolved:
        for b in resolved:
            if a != b and storage.inside(a, b):
                raise UsageError(f"ROOT {b} is inside ROOT {a}", Location(b),
                                 "give only the outer folder")
    if len(resolved) == 1:
        return [_Root(resolved[0], "")]
    used: set[str] = set()
    out_roots = []
    for real in resolved:
        base = real.name or str(real).split("://", 1)[-1].strip("/") or "root"
        name, n = base, 1
        while name.lower() in used:  # case-insensitive: safe on macOS and Windows too
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        out_roots.append(_Root(real, name))
    return out_roots


def _matches(name: str, rel: str, globs: Sequence[str]) -> bool:
    for pattern in globs:
        if "/" in pattern:
            if fnmatch.fnmatchcase(rel, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


@dataclass
class _Folder:
    contexts: list[str]
    mappings: list[str]
    csvs: list[str]


def _probe(path: AnyPath, check: Callable[[AnyPath], bool]) -> bool:
    """``check(path)``, with a storage backend's failure (credentials, network) as a
    one-line UsageError."""
    try:
        return check(path)
    except (OSError, ValueError) as exc:
        if not storage.is_url(path):
            raise
        raise UsageError(f"cannot be read ({storage.describe_error(exc)})",
                         Location(str(path)), "check the URL and the credentials") from None


def _walk(root: _Root, out_real: str, globs: Sequence[str], under: tuple[str, ...] = (),
          unreadable: list[tuple[tuple[str, ...], OSError]] | None = None
          ) -> dict[tuple[str, ...], _Folder]:
    """Folders under a ROOT (hidden ones and the output folder left out); with ``under``,
    only that subfolder of the ROOT and what is below it. Local folders that cannot be
    listed go to ``unreadable`` (parts relative to the ROOT, the error)."""
    found: dict[tuple[str, ...], _Folder] = {}

    def failed(exc: OSError) -> None:
        if unreadable is not None and exc.filename is not None:
            rel = Path(os.fsdecode(exc.filename)).relative_to(Path(root.path)).parts
            unreadable.append((rel, exc))

    for below, dirnames, filenames in storage.walk(root.path.joinpath(*under), failed):
        rel = (*under, *below)
        found[rel] = _walk_listing(root, out_real, globs, rel, dirnames, filenames)
    return found


def _ambiguous(folder: AnyPath, names: list[str], what: str) -> Issue:
    return Issue(f"ambiguous-{what}", f"several {what} files in one folder: "
                 f"{', '.join(names)}", Location(folder), "error", "keep only one of them")


def _chain(root: _Root, folders: dict[tuple[str, ...], _Folder], rel: tuple[str, ...]
           ) -> tuple[list[AnyPath], AnyPath | None, Issue | None]:
    """Context files from the ROOT down to ``rel``, the nearest mapping file, a setup error."""
    contexts: list[AnyPath] = []
    mapping: AnyPath | None = None
    error: Issue | None = None
    for depth in range(len(rel) + 1):
        here = rel[:depth]
        info = folders.get(here)
        if info is None:
            continue
        folder = root.path.joinpath(*here)
        if len(info.contexts) > 1 and error is None:
            error = _ambiguous(folder, info.contexts, "context")
        contexts.extend(folder / n for n in info.contexts)
        if len(info.mappings) > 1 and error is None:
            error = _ambiguous(folder, info.mappings, "mapping")
        if info.mappings:
            mapping = folder / info.mappings[0]
    return contexts, mapping, error


def _walk_parallel(root: _Root, out_real: str, globs: Sequence[str],
                   executor: Executor | None,
                   unreadable: list[tuple[tuple[str, ...], OSError]] | None = None
                   ) -> dict[tuple[str, ...], _Folder]:
    """:func:`_walk`, one task per top-level folder on a cluster's workers (listing a
    bucket or a shared file system of many folders is itself slow)."""
    if executor is None or not executor.per_file:
        return _walk(root, out_real, globs, (), unreadable)
    here, subfolders = _walk_one_level(root, out_real, globs)
    futures = [executor.submit(_walk, root, out_real, globs, (name,)) for name in subfolders]
    found: dict[tuple[str, ...], _Folder] = {(): here}
    for future in futures:
        found.update(future.result())
    return found


def _walk_one_level(root: _Root, out_real: str, globs: Sequence[str]
                    ) -> tuple[_Folder, list[str]]:
    """The ROOT's own files, and the names of its subfolders (pruned as by _walk)."""
    for rel, dirnames, filenames in storage.walk(root.path):
        return _walk_listing(root, out_real, globs, rel, dirnames, filenames), dirnames
    return _Folder([], [], []), []


def _walk_listing(root: _Root, out_real: str, globs: Sequence[str], rel: tuple[str, ...],
                  dirnames: list[str], filenames: list[str]) -> _Folder:
    url = storage.is_url(root.path)
    dirpath = str(root.path.joinpath(*rel))
    dirnames[:] = sorted(
        d for d in dirnames if not d.startswith(".")
        and (f"{dirpath.rstrip('/')}/{d}" if url else
             os.path.realpath(os.path.join(dirpath, d))) != out_real)
    special = set(CONTEXT_NAMES) | set(MAPPING_NAMES)
    names = set(filenames)
    csvs = sorted(f for f in filenames if not f.startswith(".") and f not in special
                  and _matches(f, "/".join((*rel, f)), globs))
    return _Folder([n for n in CONTEXT_NAMES if n in names],
                   [n for n in MAPPING_NAMES if n in names], csvs)


def _out_real(out: AnyPath) -> str:
    return str(out).rstrip("/") if storage.is_url(out) else os.path.realpath(out)


def _discover(roots: list[_Root], out: AnyPath, globs: Sequence[str],
              contexts: list[AnyPath], mapping: AnyPath | None,
              executor: Executor | None = None) -> list[_Unit]:
    out_real = _out_real(out)
    units: list[_Unit] = []
    for root in roots:
        unreadable: list[tuple[tuple[str, ...], OSError]] = []
        folders = _walk_parallel(root, out_real, globs, executor, unreadable)
        for rel, exc in unreadable:  # an error line in the manifest, never a silent skip
            key = _join(root.prefix, *rel)
            folder = root.path.joinpath(*rel)
            reason = "permission denied" if isinstance(exc, PermissionError) else \
                (exc.strerror or str(exc))
            units.append(_Unit(key, folder, [(key + "/", folder)], [], None, Issue(
                "unreadable-folder", f"folder cannot be listed ({reason}): its files are not "
                "converted", Location(key + "/"), "error", "fix its permissions")))
        for rel, info in folders.items():
            if not info.csvs:
                continue
            key = _join(root.prefix, *rel)
            folder = root.path.joinpath(*rel)
            chain, near_mapping, error = _chain(root, folders, rel)
            units.append(_Unit(key, folder, [(_join(key, n), folder / n) for n in info.csvs],
                               [*contexts, *chain], near_mapping or mapping, error))
    units.sort(key=lambda u: u.sort_key)
    return units


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
    from .pipeline import convert_table
    from .trackers import detect, get_tracker, read_table

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

    from .codecarbon import KNOWN_COLUMNS
    from .io.readers import sniff_delimiter

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
    from .io.readers import read_codecarbon_csv
    from .pipeline import convert_table

    with contextlib.suppress(BoampsEtlError):
        table = read_codecarbon_csv(b"timestamp,duration,emissions,energy_consumed\n"
                                    b"2025-01-01T00:00:00,1,0,0\n", name="<warm-up>")
        convert_table(table, load_mapping(), None)


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent handles it (it stops the
    # pool and saves the state). The local pool also makes each worker die with its
    # parent (boamps_etl.execute.signals).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --------------------------------------------------------------------------- state


def _read_state(out: AnyPath) -> dict[str, Any]:
    try:
        data = json.loads((out / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    units = data.get("units")
    return units if isinstance(units, dict) else {}


def _write_state(out: AnyPath, units: dict[str, Any]) -> None:
    from . import __version__

    storage.put(out / STATE_NAME, (json.dumps(
        {"version": STATE_VERSION, "tool": f"boamps-etl {__version__}", "units": units},
        sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))


def _settings_hash(fmt: str, per_row: bool, allow_incomplete: bool,
                   sets: Sequence[str], tracker: str | None = None) -> str:
    from . import __version__

    settings: dict[str, Any] = {"tool": __version__, "format": fmt, "per_row": per_row,
                                "allow_incomplete": allow_incomplete, "sets": list(sets)}
    if tracker is not None:
        settings["tracker"] = tracker
    text = json.dumps(settings)
    return _sha_bytes(text.encode())


# --------------------------------------------------------------------------- dedupe, writing


def _dedupe(entries: list[ManifestEntry], seen: dict[str, str]
            ) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Final (status, duplicate_of) of each entry given the reports seen before; and the
    report ids this folder adds. Pure: ``seen`` is not changed."""
    added: dict[str, str] = {}
    out: list[tuple[str, str | None]] = []
    for e in entries:
        rid = e.report_id if e.base_status in ("valid", "incomplete", "invalid") else None
        if rid is None:
            out.append((e.base_status, None))
            continue
        first = seen.get(rid) or added.get(rid)
        if first is not None:
            out.append(("duplicate", first))
        else:
            added[rid] = f"{e.source} row {_ranges(e.rows[-1:])}"
            out.append((e.base_status, None))
    return out, added


def _plan_unit(unit: _Unit, out: AnyPath, fmt: str, entries: list[ManifestEntry],
               documents: list[dict[str, Any] | None], texts: list[str | None],
               allow_incomplete: bool) -> dict[AnyPath, str]:
    """The files of one folder and their text; sets each entry's ``output``."""
    ok = ("valid", "incomplete") if allow_incomplete else ("valid",)
    keep = [(e, d, t) for e, d, t in zip(entries, documents, texts, strict=True)
            if d is not None and e.status in ok]
    folder = out.joinpath(*_parts(unit.key))
    for e in entries:
        e.output = None
    files: dict[AnyPath, str] = {}
    if not keep:
        return files
    if fmt == "json":
        targets = plan_json([d for _, d, _ in keep], folder)
        for (entry, doc, text), target in zip(keep, targets, strict=True):
            files[target] = text if text is not None else dumps(doc) + "\n"
            entry.output = _rel(out, target)
        return files
    target = folder / f"{FOLDER_OUTPUT}.{fmt}"
    if fmt == "jsonl":
        files[target] = "".join(t if t is not None else render_jsonl([d]) for _, d, t in keep)
    else:
        files[target] = render_csv([d for _, d, _ in keep])
    for entry, _, _ in keep:
        entry.output = _rel(out, target)
    return files


def _combine(out: AnyPath, fmt: str, parts: list[str]) -> str:
    """``all.jsonl`` / ``all.csv`` from the per-folder files (same bytes as rendering every
    report at once: a CSV's columns are the union of the folders' columns, first seen)."""
    if fmt == "jsonl":
        return "".join((out / p).read_text(encoding="utf-8") for p in parts)
    headers: list[list[str]] = []
    rows: list[dict[str, str]] = []
    for p in parts:
        with (out / p).open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                continue
            headers.append(header)
            rows.extend(dict(zip(header, r, strict=False)) for r in reader)
    if not rows:
        return ""
    columns = columns_of(dict.fromkeys(h) for h in headers)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _render_manifest(entries: list[ManifestEntry]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(e.as_row() for e in entries)
    return buf.getvalue()


def manifest_frame(entries: Iterable[ManifestEntry]) -> pd.DataFrame:
    """The manifest lines as a DataFrame of text (``''`` for nothing), as in manifest.csv."""
    import pandas as pd

    return pd.DataFrame([e.as_row() for e in entries], columns=list(MANIFEST_COLUMNS),
                        dtype=object)


# --------------------------------------------------------------------------- the batch


def _mapping_files(path: AnyPath | None, cache: dict[Any, Any]
                   ) -> tuple[list[str], Issue | None]:
    """The files a mapping is made of (its ``extends`` chain), or its loading error."""
    if path not in cache:
        try:
            cache[path] = (list(load_mapping(path).files), None)
        except BoampsEtlError as exc:
            cache[path] = ([] if path is None else [str(path)], exc.issue)
    result: tuple[list[str], Issue | None] = cache[path]
    return result


def _fresh_candidate(unit: _Unit, stored: Any, settings: str, out: AnyPath,
                     out_hashes: dict[str, str | None]) -> bool:
    """True when the state says this folder was converted from exactly these inputs and its
    outputs are intact (duplicates are checked later, in order)."""
    if not isinstance(stored, dict) or stored.get("settings") != settings:
        return False
    if any(h is None for h in unit.hashes.values()):
        return False
    if stored.get("sources") != unit.hashes or stored.get("context") != unit.context_hashes \
            or stored.get("mapping") != unit.mapping_hashes:
        return False
    outputs = stored.get("outputs")
    if not isinstance(outputs, dict) or not isinstance(stored.get("entries"), list):
        return False
    for rel, sha in outputs.items():
        if rel not in out_hashes:
            out_hashes[rel] = _sha_file(out / rel)
        if out_hashes[rel] != sha:
            return False
    return True


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
    PREFETCH = 256  # results fetched from a cluster in one round trip

    def __init__(self, out: AnyPath, units: list[_Unit], old_units: dict[str, Any],
                 candidates: set[str], settings: str, fmt: str, sets: Sequence[str],
                 per_row: bool, allow_incomplete: bool, fail_fast: bool, jobs: int,
                 progress: Callable[[BatchProgress], None] | None, start: float,
                 executor: Executor | None = None,
                 options: tuple[tuple[str, Any], ...] = (),
                 tracker: str | None = None) -> None:
        self.tracker = tracker
        self.out, self.units, self.old_units = out, units, old_units
        self.candidates, self.settings, self.fmt = candidates, settings, fmt
        self.sets, self.per_row, self.allow_incomplete = tuple(sets), per_row, allow_incomplete
        self.fail_fast, self.jobs, self.progress, self.start = fail_fast, jobs, progress, start
        self.state: dict[str, Any] = dict(old_units)
        self.entries: list[ManifestEntry] = []
        self.written: list[AnyPath] = []
        self.executor, self.options = executor, options
        self.lock = threading.Lock()
        self.finished = 0  # files converted by the executor (in any order)
        self.consumed = 0  # ... of which the loop has taken the results (in order)
        self.queued: dict[str, list[TaskFuture[list[_SourceOutcome]]]] = {}
        self.prefetched: dict[str, dict[int, list[_SourceOutcome]]] = {}
        self.seen: dict[str, str] = {}
        self.pending: list[_Pending] = []
        self.emptied: set[AnyPath] = set()
        self.counters = dict.fromkeys(("files", "rows", "reports", "unchanged", "converted"), 0)
        self.stopped = False
        self.dirty = False
        self.last_save = time.monotonic()
        self.failing = {"invalid", "error"} | (set() if allow_incomplete else {"incomplete"})
        self.files_total = sum(len(u.sources) for u in units)

    # -- conversion

    def task(self, unit: _Unit) -> _Task:
        return _Task(unit.key, tuple((k, str(p)) for k, p in unit.sources),
                     tuple((str(p), h) for p, h in unit.context_hashes),
                     (None if unit.mapping_file is None else str(unit.mapping_file),
                      tuple((str(f), h) for f, h in unit.mapping_hashes)),
                     self.sets, self.per_row, self.allow_incomplete, unit.setup_error,
                     self.fmt, self.options, self.tracker)

    def reuse(self, unit: _Unit) -> list[ManifestEntry] | None:
        """The stored lines of an up-to-date folder, or None when duplicates elsewhere
        changed what it should write."""
        stored = self.old_units[unit.key]
        try:
            entries = [ManifestEntry.from_state(e) for e in stored["entries"]]
        except (KeyError, TypeError, ValueError):  # a state file edited by hand
            return None
        statuses, added = _dedupe(entries, self.seen)
        if [s for s, _ in statuses] != [e.status for e in entries]:
            return None
        for e, (_, dup) in zip(entries, statuses, strict=True):
            if e.duplicate_of != dup:  # the first copy moved: only the message changes
                e.duplicate_of = dup
                stored["entries"] = [x.to_state() for x in entries]
                self.dirty = True
        self.seen.update(added)
        self.counters["unchanged"] += len(unit.sources)
        self.counters["rows"] += sum(stored.get("rows", {}).values())
        return entries

    def convert(self, unit: _Unit, outcomes: list[_SourceOutcome]) -> list[ManifestEntry]:
        entries: list[ManifestEntry] = []
        documents: list[dict[str, Any] | None] = []
        texts: list[str | None] = []
        for outcome in outcomes:
            entries.extend(outcome.entries)
            documents.extend(outcome.documents)
            texts.extend(outcome.texts)
        statuses, added = _dedupe(entries, self.seen)
        for e, (status, dup) in zip(entries, statuses, strict=True):
            e.status, e.duplicate_of = status, dup
        self.seen.update(added)
        files = _plan_unit(unit, self.out, self.fmt, entries, documents, texts,
                           self.allow_incomplete)
        outputs = {_rel(self.out, p): _sha_bytes(t.encode("utf-8"))
                   for p, t in files.items()}
        stored = self.old_units.get(unit.key)
        previous = stored.get("outputs") if isinstance(stored, dict) else None
        obsolete = [rel for rel in (previous if isinstance(previous, dict) else {})
                    if rel not in outputs]
        rows = {o.key: o.rows for o in outcomes}
        record = {"settings": self.settings, "sources": {o.key: o.sha256 for o in outcomes},
                  "rows": rows, "context": unit.context_hashes,
                  "mapping": unit.mapping_hashes, "outputs": outputs,
                  "entries": [e.to_state() for e in entries]}
        writes = [(p, self.writer.submit(_write_if_changed, p, t, self.out))
                  for p, t in files.items()]
        self.pending.append(_Pending(unit.key, record, writes, obsolete))
        self.counters["converted"] += len(unit.sources)
        self.counters["rows"] += sum(rows.values())
        return entries

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
        if self.dirty and (force or time.monotonic() - self.last_save > _CHECKPOINT_SECONDS):
            _write_state(self.out, self.state)
            self.dirty, self.last_save = False, time.monotonic()

    def report(self, current: str) -> None:
        if self.progress is not None:
            c = self.counters
            ahead = max(0, self.finished - self.consumed)
            self.progress(BatchProgress(c["files"] + ahead, self.files_total, c["rows"],
                                        c["reports"], c["unchanged"],
                                        time.perf_counter() - self.start, current))

    # -- the loop

    def submit(self, executor: Executor, unit: _Unit) -> list[TaskFuture[list[_SourceOutcome]]]:
        """The tasks converting a folder: one, or one per file when the executor prefers."""
        task = self.task(unit)
        if not executor.per_file:
            return [executor.submit(_convert_unit, task)]
        futures = [executor.submit(_convert_unit, dataclasses.replace(task, sources=(source,)))
                   for source in task.sources]
        for future in futures:  # the progress bar counts completions, in any order
            add = getattr(future, "add_done_callback", None)
            if add is not None:
                add(self._completed)
        return futures

    def _completed(self, _: Any) -> None:
        with self.lock:
            self.finished += 1

    def run(self) -> None:
        stale = [u for u in self.units if u.key not in self.candidates]
        executor = self.executor
        own = executor is None
        futures: dict[str, list[TaskFuture[list[_SourceOutcome]]]] = {}
        self.writer = ThreadPoolExecutor(self.WRITE_THREADS)
        completed = interrupted = False
        try:
            if executor is None:
                executor = make_executor("local", min(self.jobs, len(stale)), None,
                                         _warm_up, _worker_init)
            if executor.name != "inline":
                futures = {u.key: self.submit(executor, u) for u in stale}
                self.queued = futures
            self.report("")
            for unit in self.units:
                entries = self.reuse(unit) if unit.key in self.candidates else None
                if entries is None:
                    parts = futures.pop(unit.key, None)
                    if parts is None:
                        outcomes = _convert_unit(self.task(unit))
                    else:
                        outcomes = [o for part in parts for o in self.wait(part, unit)]
                        self.consumed += len(unit.sources)
                        self.prefetched.pop(unit.key, None)
                    entries = self.convert(unit, outcomes)
                self.counters["files"] += len(unit.sources)
                self.counters["reports"] += sum(
                    1 for e in entries if e.status in ("valid", "incomplete", "invalid"))
                self.entries.extend(entries)
                self.commit(block=False)
                self.save()
                self.report(unit.key)
                if self.fail_fast and any(e.status in self.failing for e in entries):
                    self.stopped = True
                    break
            self.commit(block=True)
            completed = True
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            for parts in futures.values():  # stopped early: drop the work not needed
                for part in parts:
                    cancel = getattr(part, "cancel", None)
                    if cancel is not None:
                        cancel()
            if own and executor is not None:
                stop = getattr(executor, "stop", None)
                # Ctrl-C, SIGTERM: the local workers are killed, not waited for
                (stop if interrupted and stop is not None else executor.close)()
            if not completed:  # interrupted: keep what is complete, raise the first error
                self.commit(block=True, strict=False)
            self.writer.shutdown(wait=True)
            self.save(force=True)
            for folder in sorted(self.emptied, key=lambda p: len(p.parts), reverse=True):
                _remove_empty_folders(self.out, folder)

    def wait(self, future: TaskFuture[list[_SourceOutcome]], unit: _Unit
             ) -> list[_SourceOutcome]:
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
            batch_: list[tuple[str, TaskFuture[list[_SourceOutcome]]]] = [(unit.key, future)]
            for key, parts in self.queued.items():
                if len(batch_) >= self.PREFETCH:
                    break
                batch_.extend((key, p) for p in parts if p.done() and p is not future)
            for (key, part), value in zip(batch_, executor.gather([p for _, p in batch_]),
                                          strict=True):
                self.prefetched.setdefault(key, {})[id(part)] = value
        return self.prefetched[unit.key].pop(id(future))

    def finish(self) -> None:
        """``all.<fmt>`` and ``manifest.csv`` (after a complete run)."""
        if self.fmt != "json" and not self.stopped:
            parts: list[str] = []
            for unit in self.units:
                parts.extend(sorted(self.state.get(unit.key, {}).get("outputs", {})))
            target = self.out / f"{ALL_OUTPUT}.{self.fmt}"
            if _write_if_changed(target, _combine(self.out, self.fmt, parts), self.out):
                self.written.append(target)
        _write_if_changed(self.out / MANIFEST_NAME, _render_manifest(self.entries), self.out)


def convert_tree(roots: PathLike | Sequence[PathLike], out: PathLike, *,
                 contexts: Sequence[PathLike] = (), mapping: PathLike | None = None,
                 sets: Sequence[str] = (), fmt: str = "json", jobs: int = 1,
                 globs: Sequence[str] | None = None, force: bool = False,
                 fail_fast: bool = False, allow_incomplete: bool = False,
                 per_row: bool = False,
                 progress: Callable[[BatchProgress], None] | None = None,
                 executor: str | Executor = "local", client: Any = None,
                 scheduler: str | None = None,
                 storage_options: dict[str, Any] | None = None,
                 tracker: str | None = None) -> BatchResult:
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
        fmt: 'json' (a file per report), 'jsonl' or 'csv' (a ``boamps-reports.<fmt>`` per
            folder, plus ``all.<fmt>`` for the batch).
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

    ``roots``, ``out``, ``contexts`` and ``mapping`` may be fsspec URLs (``s3://``,
    ``gs://``, ``file://``, ``memory://``): outputs are then whole-object writes.

    Returns:
        A :class:`BatchResult` (manifest, counts, timing). One bad CSV, context or mapping
        file below a ROOT is a manifest line, never an exception.

    Raises:
        UsageError: a ROOT is missing, not a folder, or inside ``out``; bad ``fmt``/``jobs``.
        OutputError: ``out`` cannot be written.
        ContextError, MappingError: a ``contexts`` file, ``mapping`` or ``sets`` is invalid.

    >>> result = convert_tree("runs", "reports", contexts=["lab.yaml"])  # doctest: +SKIP
    >>> result.manifest[result.manifest.status == "invalid"]            # doctest: +SKIP
    """
    start = time.perf_counter()
    if tracker is not None:
        from .trackers import get_tracker

        tracker = get_tracker(tracker).name
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    jobs = resolve_jobs(jobs)
    options = dict(storage_options or {})
    out_path = storage.as_path(out, options)
    storage.forget_listings(out_path)
    if _probe(out_path, storage.exists) and not _probe(out_path, storage.is_dir):
        raise OutputError("the output is a file, not a folder", Location(str(out_path)))
    root_list = _prepare_roots(roots, out_path, options)
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
        from .execute.dask import DaskExecutor

        runner = DaskExecutor(scheduler, workers=jobs, client=client)
    elif not isinstance(executor, str):
        runner = executor
    elif executor != "local" or scheduler:
        runner = make_executor(executor, jobs, scheduler)  # raises the usage error
    try:
        return _convert_tree(runner, root_list, out_path, context_paths, mapping_path,
                             mapping_cache, pattern_list, options, fmt, per_row,
                             allow_incomplete, sets, force, fail_fast, jobs, progress, start,
                             tracker)
    finally:
        if runner is not None and runner is not executor:
            runner.close()


def _convert_tree(runner: Executor | None, root_list: list[_Root], out_path: AnyPath,
                  context_paths: list[AnyPath], mapping_path: AnyPath | None,
                  mapping_cache: dict[Any, Any], pattern_list: tuple[str, ...],
                  options: dict[str, Any], fmt: str, per_row: bool, allow_incomplete: bool,
                  sets: Sequence[str], force: bool, fail_fast: bool, jobs: int,
                  progress: Callable[[BatchProgress], None] | None, start: float,
                  tracker: str | None) -> BatchResult:
    units = _discover(root_list, out_path, pattern_list, context_paths, mapping_path, runner)

    settings = _settings_hash(fmt, per_row, allow_incomplete, sets, tracker)
    file_hashes: dict[str, str | None] = {}
    if runner is not None and runner.per_file:  # hash on the cluster, where the bytes are
        paths = sorted({str(p) for u in units for _, p in u.sources}
                       | {str(p) for u in units for p in u.context_files})
        frozen = tuple(sorted(options.items()))
        chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
        futures = [runner.submit(_hash_many, chunk, frozen) for chunk in chunks]
        for chunk, future in zip(chunks, futures, strict=True):
            file_hashes.update(zip(chunk, future.result(), strict=True))
    for unit in units:
        for key, path in unit.sources:
            if str(path) not in file_hashes:
                file_hashes[str(path)] = _sha_file(path)
            unit.hashes[key] = file_hashes[str(path)]
        for p in unit.context_files:
            if str(p) not in file_hashes:
                file_hashes[str(p)] = _sha_file(p)
            unit.context_hashes.append([str(p), file_hashes[str(p)]])
        files, error = _mapping_files(unit.mapping_file, mapping_cache)
        for f in files:
            if f not in file_hashes:
                file_hashes[f] = _sha_file(storage.as_path(f, options))
            unit.mapping_hashes.append([f, file_hashes[f]])
        if unit.setup_error is None:
            unit.setup_error = error

    old_units = _read_state(out_path)
    out_hashes: dict[str, str | None] = {}
    candidates = {u.key for u in units
                  if not force and _fresh_candidate(u, old_units.get(u.key), settings,
                                                    out_path, out_hashes)}
    run = _Batch(out_path, units, old_units, candidates, settings, fmt, sets, per_row,
                 allow_incomplete, fail_fast, jobs, progress, start, runner,
                 tuple(sorted(options.items())), tracker)
    run.run()
    run.finish()
    c = run.counters
    return BatchResult(out_path, run.entries, manifest_frame(run.entries), c["files"],
                       c["converted"], c["unchanged"], c["rows"], run.written,
                       time.perf_counter() - start, allow_incomplete, run.stopped)


# --------------------------------------------------------------------------- explain


def explain(path: PathLike, roots: PathLike | Sequence[PathLike] | None = None,
            contexts: Sequence[PathLike] = (), mapping: PathLike | None = None,
            sets: Sequence[str] = ()) -> Explanation:
    """Which context and mapping files apply to one CSV (or folder) of a batch, in order,
    and the merged context.

    Args:
        path: a CSV file or a folder under one of ``roots``.
        roots: the batch's ROOT folders; ``None``: the CSV's own folder is the ROOT (only
            files beside it are looked at).
        contexts, mapping, sets: as for :func:`convert_tree`.

    Returns:
        An :class:`Explanation`; a broken file is reported in its ``error``, not raised.

    Raises:
        UsageError: ``path`` does not exist or is not under any ROOT.

    >>> explain("runs/bert/seed1/emissions.csv", roots=["runs"]).context_files  # doctest: +SKIP
    """
    target = Path(path)
    if not target.exists():
        raise UsageError("no such file or folder", Location(target))
    real = target.resolve()
    folder = real if real.is_dir() else real.parent
    root_list = [_Root(folder, "")] if roots is None else _prepare_roots(roots, None)
    root = next((r for r in root_list if r.path == folder or r.path in folder.parents), None)
    if root is None:
        raise UsageError("is not under any ROOT", Location(target))
    rel = folder.relative_to(root.path).parts
    folders: dict[tuple[str, ...], _Folder] = {}
    for depth in range(len(rel) + 1):
        here = root.path.joinpath(*rel[:depth])
        names = {p.name for p in here.iterdir()} if here.is_dir() else set()
        folders[rel[:depth]] = _Folder([n for n in CONTEXT_NAMES if n in names],
                                       [n for n in MAPPING_NAMES if n in names], [])
    chain, near_mapping, error = _chain(root, folders, rel)
    context_files = [Path(c) for c in contexts] + chain
    chosen = near_mapping or (None if mapping is None else Path(mapping))
    mapping_files, mapping_error = _mapping_files(chosen, {})
    error = error or mapping_error
    merged: dict[str, Any] = {}
    matches: list[dict[str, Any]] = []
    try:
        ctx = load_context(context_files, sets)
    except BoampsEtlError as exc:
        error = error or exc.issue
    else:
        for layer in ctx.layers:
            merge_into(merged, layer.base)
            matches.extend({"file": layer.name, "when": s.when, "values": s.values}
                           for s in layer.matches)
    parts = rel if real.is_dir() else (*rel, real.name)
    return Explanation(target, root.path, _join(root.prefix, *parts), context_files,
                       tuple(sets), chosen, [Path(f) for f in mapping_files], merged, matches,
                       error)
