"""Writing what a batch makes by streaming, in bounded memory: a folder holding a large
(streamed) file, its state part, ``manifest.csv`` and ``all.<format>``.

A large CodeCarbon file is converted block by block in a worker, which spools each
report's manifest line and output to a work file (:func:`boamps_etl.batch.convert.read_spool`).
The parent reads that spool in order: it marks duplicates (:class:`SeenReports`), writes the
outputs as they come, and records the folder's lines and outputs in a *part* file under
``PARTS_FOLDER`` that the state names, instead of holding them. Every byte written is the
same as when a folder is converted in memory (``tests/test_batch_stream.py``).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..errors import BoampsEtlError
from ..flatten import columns_of, write_csv_rows
from ..io import staging, storage
from ..io.storage import AnyPath
from ..io.writers import dumps, render_jsonl, report_filename
from .convert import LIVE_POLL_SECONDS, SourceOutcome, join_split, read_spool, remove_spool
from .discover import rel_path
from .manifest import (
    ManifestEntry,
    SeenReports,
    SpoolList,
    id_digest,
    part_line,
    write_manifest_lines,
)
from .scratch import publish
from .state import FOLDER_OUTPUT, PARTS_FOLDER, read_part, sha_bytes

REPORT_STATUSES = ("valid", "incomplete", "invalid")
_WINDOW = 256  # report files being written at once
BUSY_EVERY = 4096  # reports written between two calls of StreamedFolder's ``busy``


def records(outcomes: Iterable[SourceOutcome], fmt: str
            ) -> Iterator[tuple[ManifestEntry, Any]]:
    """Each manifest line of a folder's sources with what would be written for it: read
    from the spool of a streamed source, rendered for the others."""
    for outcome in outcomes:
        if outcome.spool is not None:
            yield from read_spool(outcome)
            continue
        for entry, doc, text in zip(outcome.entries, outcome.documents, outcome.texts,
                                    strict=True):
            if doc is None:
                yield entry, None
            elif fmt == "json":
                yield entry, (report_filename(doc), text if text is not None
                              else dumps(doc) + "\n")
            elif fmt == "jsonl":
                yield entry, text if text is not None else render_jsonl([doc])
            else:
                from ..flatten import flatten

                yield entry, flatten(doc)


class _HashedFile:
    """A work file written with its sha256 computed on the way (what is written is
    gathered, then written and hashed 1 MB at a time: one call each per report costs
    more than the hashing)."""

    def __init__(self, folder: Path, suffix: str = "") -> None:
        self.fh, self.path = staging.new_file(folder, suffix)
        self.sha = hashlib.sha256()
        self.pending: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.pending.append(data)
        self.size += len(data)
        if self.size >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        data = b"".join(self.pending)
        self.fh.write(data)
        self.sha.update(data)
        self.pending, self.size = [], 0

    def close(self) -> str:
        self._flush()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        return self.sha.hexdigest()


class StreamedFolder:
    """The conversion of one folder whose sources include a streamed one (see the module
    docstring); :meth:`run` returns its state record."""

    def __init__(self, out: AnyPath, key: str, fmt: str, allow_incomplete: bool,
                 seen: SeenReports, log: SpoolList[ManifestEntry],
                 written: SpoolList[Any], pool: ThreadPoolExecutor,
                 write: Callable[[Any, str], bool],
                 busy: Callable[[], None] | None = None, work: Path | None = None,
                 sizes: dict[str, int] | None = None) -> None:
        self.out, self.key, self.fmt = out, key, fmt
        self.busy = busy  # called every BUSY_EVERY reports (the batch's other work)
        # an object store: the parent's work files are in ``work`` (a local folder), each
        # uploaded whole when finished; ``sizes``: the store's listing of ``out``
        self.work, self.sizes = work, sizes
        self.ok = ("valid", "incomplete") if allow_incomplete else ("valid",)
        self.seen, self.log, self.written, self.pool, self.write = seen, log, written, pool, write
        self.folder = out.joinpath(*(p for p in key.split("/") if p))
        self.reports = 0
        self.failing: set[str] = set()
        self.statuses: set[str] = set()

    def _mark(self, entry: ManifestEntry) -> None:
        entry.status, entry.duplicate_of = entry.base_status, None
        rid = entry.report_id if entry.base_status in REPORT_STATUSES else None
        if rid is None:
            return
        first = self.seen.first_or_add(rid, entry.source,
                                       entry.rows[-1] if entry.rows else None)
        if first is not None:
            entry.status, entry.duplicate_of = "duplicate", first

    def run(self, outcomes: list[SourceOutcome], record: dict[str, Any]
            ) -> dict[str, Any]:
        parts = self.out / PARTS_FOLDER
        if self.work is None:
            parts.mkdir(exist_ok=True)
        part = _HashedFile(self.work or parts, "jsonl")
        work: list[Path] = [part.path]
        try:
            outputs = self._convert(outcomes, part, work)
            sha = part.close()
            name = f"{sha[:32]}.jsonl"
            if self.work is None:
                staging.publish(part.path, parts / name)
            elif self.sizes is None or self.sizes.get(f"{PARTS_FOLDER}/{name}") != \
                    part.path.stat().st_size:  # named by its hash: there means the same
                storage.put_file(parts / name, part.path)
        finally:
            for path in work:
                staging.remove(path)
            for outcome in outcomes:
                for spool in (outcome.spool, *outcome.spools):
                    if spool is not None:
                        remove_spool(spool, outcome.spool_options)
        return {**record, "outputs": outputs, "part": name}

    def _line(self, part: _HashedFile, item: list[Any]) -> None:
        part.write((part_line(item) + "\n").encode("utf-8"))

    def _convert(self, outcomes: list[SourceOutcome], part: _HashedFile, work: list[Path]
                 ) -> dict[str, str]:
        folder_file = self.folder / f"{FOLDER_OUTPUT}.{self.fmt}"
        folder_rel = rel_path(self.out, folder_file)
        used: dict[int, int] = {}
        window: deque[tuple[AnyPath, Future[bool]]] = deque()
        body: _HashedFile | None = None  # jsonl: the folder's file; csv: its flat rows
        columns: dict[str, None] = {}
        kept = 0
        for count, (entry, data) in enumerate(records(outcomes, self.fmt), 1):
            if self.busy is not None and count % BUSY_EVERY == 0:
                self.busy()
            self._mark(entry)
            entry.output = None
            if data is not None and entry.status in self.ok:
                kept += 1
                if body is None and self.fmt != "json":
                    if self.work is None:
                        self.folder.mkdir(parents=True, exist_ok=True)
                    body = _HashedFile(self.work or (self.folder if self.fmt == "jsonl"
                                                     else self.out / PARTS_FOLDER))
                    work.append(body.path)
                if self.fmt == "json":
                    name, text = data
                    count = used[id_digest(name)] = used.get(id_digest(name), 0) + 1
                    if count > 1:
                        name = name[: -len(".json")] + f"-{count}.json"
                    target = self.folder / name
                    if len(window) >= _WINDOW:
                        self._drain(window, 1)
                    window.append((target, self.pool.submit(self.write, target, text)))
                    entry.output = rel_path(self.out, target)
                    self._line(part, ["o", entry.output, sha_bytes(text.encode("utf-8"))])
                else:
                    assert body is not None
                    if self.fmt == "jsonl":
                        body.write(data.encode("utf-8"))
                    else:
                        columns.update(dict.fromkeys(data))
                        body.write(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
                    entry.output = folder_rel
            rendered = entry.fresh()
            if rendered is not None:  # as the worker rendered it
                part.write((rendered[1] + "\n").encode("utf-8"))
                entry.rendered = (rendered[0], "", rendered[2])  # kept: the manifest line
            else:
                self._line(part, ["e", entry.to_state()])
            self.log.append(entry)
            self.statuses.add(entry.status)
            if entry.status in REPORT_STATUSES:
                self.reports += 1
        self._drain(window, 0)
        if body is None:
            return {}
        sha = body.close()
        if self.fmt == "csv":  # the header needs every column: the rows are read again
            rows = _HashedFile(self.work or self.folder)
            work.append(rows.path)
            with open(body.path, "rb", buffering=1 << 20) as fh, \
                    _TextTo(rows) as text:
                write_csv_rows(text, list(columns), _unpickled(fh))
            sha = rows.close()
            body = rows
        if publish(body.path, folder_file, sha, self.sizes, self.out):
            self.written.append(folder_file)
        return {folder_rel: sha}

    def _drain(self, window: deque[tuple[AnyPath, Future[bool]]], keep: int) -> None:
        while len(window) > keep:
            target, future = window.popleft()
            try:
                changed = future.result()
            except OSError as exc:
                for _, other in window:
                    other.cancel()
                raise staging.output_error(exc, str(target)) from None
            if changed:
                self.written.append(target)


def live_outcomes(sources: Sequence[tuple[str, Any]], parts: Sequence[Any],
                  live: dict[str, list[tuple[Any, str]]]) -> list[SourceOutcome] | None:
    """A folder's outcomes (in the order of its ``sources``) with its large files read as
    their spools grow: ``live`` holds, for each split source, the tasks converting its
    shares and the spool each writes (named by the batch: see ``UnitTask.live``); the
    other ``parts`` are the folder's other tasks. None when a share took the reference
    path (its problems are known only at its end): the results are then taken whole.
    Waits until each share's spool exists or its task is done."""
    shares = [share for group in live.values() for share in group]
    while not all(os.path.exists(path) or task.done() for task, path in shares):
        time.sleep(LIVE_POLL_SECONDS)
    if not all(os.path.exists(path) for _, path in shares):
        return None
    writing = {id(task) for task, _ in shares}
    found = {o.key: o for part in parts if id(part) not in writing for o in part.result()}
    for key, group in live.items():
        found[key] = SourceOutcome(key, None, 0, [], [], spool=group[0][1],
                                   spools=tuple(path for _, path in group[1:]),
                                   writers=tuple(task for task, _ in group))
    return [found[key] for key, _ in sources if key in found]


def finished(outcome: SourceOutcome) -> SourceOutcome:
    """The outcome of a source read live (:func:`live_outcomes`), once its spools are
    read: its shares' outcomes joined. The engine, the only path written live, leaves
    every problem in its spools' lines."""
    if not outcome.writers:
        return outcome
    joined = join_split([o for task in outcome.writers for o in task.result()])
    if joined.entries or joined.warnings or joined.spool is None:
        raise BoampsEtlError(f"{outcome.key}: its lines were read before they were all "
                             "known (a bug: please report it)")
    return joined


def _unpickled(fh: IO[bytes]) -> Iterator[Any]:
    while True:
        try:
            yield pickle.load(fh)
        except EOFError:
            return


class _TextTo(contextlib.AbstractContextManager["_TextTo"]):
    """A text stream (for the csv module) writing UTF-8 into a :class:`_HashedFile`."""

    def __init__(self, target: _HashedFile) -> None:
        self.target = target
        self.buffer: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.buffer.append(text)
        self.size += len(text)
        if self.size > 1 << 20:
            self.flush()
        return len(text)

    def flush(self) -> None:
        self.target.write("".join(self.buffer).encode("utf-8"))
        self.buffer, self.size = [], 0

    def __exit__(self, *exc: object) -> None:
        self.flush()


def part_entries(out: AnyPath, name: str) -> Iterator[ManifestEntry]:
    """The manifest lines a large folder's part file holds, in order."""
    for item in read_part(out, name):
        if item[0] == "e":
            yield ManifestEntry.from_state(item[1])


def part_outputs(out: AnyPath, name: str) -> Iterator[str]:
    """The outputs a large folder's part file lists."""
    for item in read_part(out, name):
        if item[0] == "o":
            yield item[1]


def remove_unused_parts(out: AnyPath, state: dict[str, Any],
                        sizes: dict[str, int] | None = None) -> None:
    """Delete the part files no folder of the state names any more (on an object store,
    those of ``sizes``, its listing taken at the start: no request more; a part written
    since is named, or else removed by the next run)."""
    folder = out / PARTS_FOLDER
    named = {r.get("part") for r in state.values() if isinstance(r, dict)}
    if storage.is_url(out):
        lead = PARTS_FOLDER + "/"
        for rel in sizes or {}:
            name = rel[len(lead):]
            if rel.startswith(lead) and "/" not in name and name not in named:
                with contextlib.suppress(OSError):
                    storage.remove(folder / name)
        return
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in named and not staging.is_work_name(path.name):
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # when empty


# --------------------------------------------------------------------------- whole batch


def write_manifest(target: AnyPath, entries: Iterable[ManifestEntry],
                   work: Path | None = None, sizes: dict[str, int] | None = None) -> bool:
    """``manifest.csv``, line by line; False when it already held these bytes. ``work``:
    the local folder of the work file when ``target`` is on an object store (uploaded
    whole; ``sizes``: the store's listing of the output folder)."""
    out = _HashedFile(work or target.parent)
    try:
        with _TextTo(out) as text:
            write_manifest_lines(text, entries)
        sha = out.close()
        return publish(out.path, target, sha, sizes, target.parent)
    finally:
        staging.remove(out.path)


def _holds_parts(out: AnyPath, parts: list[str], target: AnyPath) -> bool:
    """True when the local file ``target`` holds the files ``parts`` (relative to ``out``)
    end to end: their sizes first, then their bytes, read in blocks, to the first
    difference."""
    try:
        if sum((out / p).stat().st_size for p in parts) != Path(target).stat().st_size:
            return False
        with Path(target).open("rb") as whole:
            for p in parts:
                with (out / p).open("rb") as fh:
                    while block := fh.read(1 << 20):
                        if whole.read(len(block)) != block:
                            return False
            return not whole.read(1)
    except OSError:
        return False


def write_combined(out: AnyPath, fmt: str, parts: list[str], target: AnyPath,
                   folder: Path | None = None, sizes: dict[str, int] | None = None) -> bool:
    """``all.jsonl`` / ``all.csv`` from the folders' files, streamed (the same bytes as
    rendering every report at once: a CSV's columns are the union of the folders' columns,
    first seen, so the headers are read first). ``folder`` and ``sizes``: as
    ``write_manifest``'s ``work`` and ``sizes``."""
    if fmt == "jsonl" and not storage.is_url(target) and _holds_parts(out, parts, target):
        return False  # a re-run that changed nothing: not written again only to compare
    work = _HashedFile(folder or Path(out))
    try:
        if fmt == "jsonl":
            for p in parts:
                with (out / p).open("rb") as fh:
                    while block := fh.read(1 << 20):
                        work.write(block)
        else:
            headers: list[list[str]] = []
            for p in parts:
                with (out / p).open("r", encoding="utf-8", newline="") as fh:
                    header = next(csv.reader(fh), None)
                if header is not None:
                    headers.append(header)
            columns = columns_of(dict.fromkeys(h) for h in headers)
            with _TextTo(work) as text:
                writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n",
                                        restval="")
                wrote_header = False
                for p in parts:
                    with (out / p).open("r", encoding="utf-8", newline="") as fh:
                        reader = csv.reader(fh)
                        header = next(reader, None)
                        if header is None:
                            continue
                        for row in reader:
                            if not wrote_header:
                                writer.writeheader()
                                wrote_header = True
                            writer.writerow(dict(zip(header, row, strict=False)))
        sha = work.close()
        return publish(work.path, target, sha, sizes, out)
    finally:
        staging.remove(work.path)
