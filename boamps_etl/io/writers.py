"""Write reports as JSON files, JSON Lines, a flat CSV or Parquet: atomically, never over
existing outputs unless asked, and never outside the chosen output folder.

Every file is written to a work file beside its target and renamed into place, so an
interrupt or a full disk leaves no partial file; a set of JSON files is committed as one
decision (:mod:`boamps_etl.io.staging`, which also clears what a killed run left). All
targets are checked before the first byte is written: an existing target that differs
(without ``force``) or an unwritable folder stops the job with nothing written; a target
that already holds exactly the bytes to write is no conflict, so a re-run after a crash
completes the job.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import Location, OutputError
from ..flatten import cell_text, csv_line, csv_text, flatten
from . import staging

Format = Literal["json", "jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv")  # what batch writes
#: What :class:`StreamWriter`, ``convert_to`` and ``write`` write: also the flat table as
#: Parquet (:mod:`boamps_etl.io.parquet`).
CONVERT_FORMATS: tuple[str, ...] = (*FORMATS, "parquet")
STDOUT = "-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 200


def dumps(doc: Any, indent: int | None = 2) -> str:
    """JSON text of a report: UTF-8, keys in document order, floats in shortest exact form."""
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)


def safe_part(value: Any, fallback: str = "unknown") -> str:
    """A file-name part from report values: ASCII letters, digits, '.', '_' and '-' only,
    never '.' or '..', so no value can move a file out of its folder."""
    text = unicodedata.normalize("NFKD", str(value)) if value not in (None, "") else fallback
    text = text.encode("ascii", "ignore").decode()
    text = _UNSAFE.sub("-", text).strip("-.")
    return text[:60] or fallback


#: Where the parts of a report's file name come from, with the text of an absent value.
NAME_FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("header", "publisher", "name"), "unknown"),
    (("task", "taskStage"), "unknown"),
    (("task", "taskFamily"), "unknown"),
    (("infrastructure", "infraType"), "unknown"),
    (("header", "reportId"), "noid"),
)


def name_values(doc: Mapping[str, Any]) -> list[Any]:
    """The values a report's file name is made of (:data:`NAME_FIELDS`), ``None`` where
    absent."""
    out = []
    for path, _ in NAME_FIELDS:
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        out.append(node)
    return out


def name_from_parts(parts: Sequence[str]) -> str:
    """A report's file name from its :func:`safe_part` texts."""
    name = "report_" + "_".join(parts)
    return name[:MAX_NAME] + ".json"


def report_filename(doc: Mapping[str, Any]) -> str:
    """``report_<publisher>_<taskStage>_<taskFamily>_<infraType>_<reportId>.json``."""
    return name_from_parts([safe_part(value, fallback) for value, (_, fallback)
                            in zip(name_values(doc), NAME_FIELDS, strict=True)])


def is_inside(folder: Path, target: Path) -> bool:
    """Whether ``target`` is ``folder`` or below it, links resolved."""
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_writable(folder: Path) -> None:
    """Fail early, with nothing written, when ``folder`` cannot take new files."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"{probe} is a file, not a folder", Location(folder),
                          "choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", Location(probe),
                          "choose another --out or fix its permissions")


@contextlib.contextmanager
def _said(target: str | os.PathLike[str]) -> Iterator[None]:
    """Operating-system errors while writing (a full disk...) as one clear OutputError."""
    try:
        yield
    except OSError as exc:
        raise staging.output_error(exc, target) from None


def atomic_write(path: Path, data: str | bytes, root: Path | None = None) -> None:
    """Write ``data`` (text as UTF-8, line breaks as they are; or bytes) to ``path``
    through a work file in the same folder and a rename: ``path`` holds either its old
    content or all of the new one, never a part. With ``root``, refuse a path whose real
    folder is not inside the real ``root``.

    Raises:
        OutputError: outside ``root``, or the disk is full or not writable.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with _said(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    if root is not None:
        staging.check_inside(root, path)
    tmp: Path | None = None
    try:
        with _said(path):
            fh, tmp = staging.new_file(path.parent)
            with fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            staging.publish(tmp, path)
    except BaseException:
        staging.remove(tmp)
        raise


def plan_json(docs: Sequence[Mapping[str, Any]], folder: Path) -> list[Path]:
    """Target paths for one JSON file per report; same-named reports get a ``-2`` suffix."""
    used: dict[str, int] = {}
    out = []
    for doc in docs:
        name = report_filename(doc)
        count = used.get(name, 0) + 1
        used[name] = count
        if count > 1:
            name = name[: -len(".json")] + f"-{count}.json"
        target = folder / name
        # unreachable with safe_part; kept as a guard. Lexical (a single plain name): the
        # file system is not asked (resolving each report's path was a fifth of a batch's
        # parent process on many small folders); links are checked when the file is written
        if name in (".", "..") or "/" in name or "\\" in name or target.parent != folder:
            raise OutputError(f"refusing to write outside {folder}", Location(target))
        out.append(target)
    return out


def render_jsonl(docs: Iterable[Mapping[str, Any]]) -> str:
    return "".join(dumps(d, indent=None) + "\n" for d in docs)


def render_csv(docs: Sequence[Mapping[str, Any]], extra: Sequence[Mapping[str, Any]] | None = None
               ) -> str:
    """One flat row per report (BoAmps flattener column names); ``extra`` adds columns per
    row (e.g. status, source)."""
    rows = [flatten(d) for d in docs]
    if extra is not None:
        rows = [{**e, **r} for r, e in zip(rows, extra, strict=True)]
    return csv_text(rows)


def _flat_lines(docs: Sequence[Mapping[str, Any]]
                ) -> tuple[bytes, list[int], list[int], list[tuple[str, ...]]]:
    """Reports as flat CSV lines, each in its own columns (as :meth:`StreamWriter.
    write_lines` takes them): the lines end to end, their byte lengths, the column set of
    each line, the column sets."""
    sets: dict[tuple[str, ...], int] = {}
    lines, ids = [], []
    for doc in docs:
        flat = flatten(doc)
        lines.append(csv_line([cell_text(v) for v in flat.values()]).encode("utf-8"))
        ids.append(sets.setdefault(tuple(flat), len(sets)))
    return b"".join(lines), [len(line) for line in lines], ids, list(sets)


def write_reports(docs: Sequence[Mapping[str, Any]], out: str | Path, fmt: Format = "json", *,
                  force: bool = False) -> list[Path]:
    """Write reports; returns the files written (none for stdout).

    Args:
        docs: reports as plain data.
        out: a folder for ``json``, a file for ``jsonl``/``csv``/``parquet``; ``'-'``
            writes to stdout (``json``: one JSON array).
        fmt: 'json', 'jsonl', 'csv' or 'parquet' (the flat table with typed columns:
            :mod:`boamps_etl.io.parquet`).
        force: overwrite existing outputs.

    Raises:
        OutputError: a target exists (without ``force``) or cannot be written; nothing is
            written then.
    """
    writer = StreamWriter(out, fmt, force=force)
    try:
        writer.write(docs)
        return list(writer.close())
    except BaseException:
        writer.abort()
        raise


def staging_folder(out: str | os.PathLike[str], fmt: Format) -> Path:
    """Where work files of an output may be put for a while: beside the output (a json
    folder, a jsonl or csv file), in the system's temporary folder for stdout."""
    if str(out) == STDOUT:
        return Path(tempfile.gettempdir())
    return Path(out).parent


_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


SPARE = ".boamps-etl-spare."  # a json report whose name was taken, until settled


def write_named(folder: str | os.PathLike[str], part: int, first: int,
                data: bytes | memoryview, lengths: Any, names: Sequence[str]
                ) -> list[tuple[int, str]]:
    """Write json reports straight into a json output's stage ``folder`` (one of the
    workers of :class:`~boamps_etl.engine.parallel.Runner`, range ``part``): texts
    ``lengths`` bytes each of ``data``, each under its name in ``names``, or, when that
    name is taken, under a spare name. Returns (index, spare name) of those, the index
    counted from ``first``; :meth:`StreamWriter.settle_files` gives them their names."""
    prefix = os.fspath(folder) + os.sep
    view = memoryview(data)
    side = []
    at = 0
    open_, write, close = os.open, os.write, os.close
    for j, (name, size) in enumerate(zip(names, lengths.tolist(), strict=True), first):
        try:
            fd = open_(prefix + name, _NEW_FILE, 0o666)
        except FileExistsError:
            spare = f"{SPARE}{part}.{j}"
            fd = open_(prefix + spare, _NEW_FILE, 0o666)
            side.append((j, spare))
        try:
            piece = view[at: at + size]
            while piece:
                piece = piece[write(fd, piece):]
        finally:
            close(fd)
        at += size
    return side


class Written(Sequence[Path]):
    """The json files written: ``folder / name`` for each name, made when asked (one
    :class:`~pathlib.Path` per report would cost more than writing some of them)."""

    def __init__(self, folder: Path, names: list[str]):
        self.folder, self.names = folder, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.folder / n for n in self.names[i]]
        return self.folder / self.names[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Written({self.folder!r}, {len(self.names)} file(s))"


def _syncfs() -> Any:
    """libc's ``syncfs`` (Linux): every file of one file system to disk at once."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


SYNC = "syncfs"  # how staged json files reach the disk: 'syncfs' (one call), 'fsync' (each)


def sync_files(folder: Path, names: Sequence[str]) -> None:
    """Put the files ``names`` of ``folder`` on disk: with one ``syncfs`` of the folder's
    file system where there is one (one call instead of one ``fsync`` per file, which
    dominates writing many small files), else one ``fsync`` per file. Then the folder."""
    syncfs = _syncfs() if SYNC == "syncfs" else None
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for name in names:
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """fsync a folder: the renames into it are on disk."""
    with contextlib.suppress(OSError):  # some file systems refuse to open folders
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_into(src: Any, dst: Any) -> None:
    """Append the rest of file ``src`` to ``dst`` (in the kernel where it can)."""
    dst.flush()
    if hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30):
                pass
            return
        except OSError:
            pass  # another file system or kernel: copy through memory
    shutil.copyfileobj(src, dst, 1 << 22)


class StreamWriter:
    """Write reports block by block in bounded memory, with the same guarantees as
    :func:`write_reports`: outputs appear only when :meth:`close` succeeds, all at once.

    JSON files are staged in a hidden work folder beside ``out``, each under its final
    name, and put into place at the end, once all of them are on disk (one file-system
    sync, not one per file): the work folder becomes ``out`` when that is new or empty,
    else the files are moved as one committed set (:mod:`boamps_etl.io.staging`); JSONL
    goes to a work file renamed at the end; CSV lines are staged (the header needs every
    report's columns first) and the CSV is written at the end, each line in the columns of
    the whole file (:mod:`boamps_etl.io.csvlines`); Parquet stages each block as a typed
    table (:mod:`boamps_etl.io.parquet`) and writes the file at the end, in the union of
    their columns. ``abort`` removes whatever was staged.

    Reports come as documents (:meth:`write`) or as texts already in the output's layout
    (:meth:`write_data`, :meth:`write_files`, :meth:`write_lines`, :meth:`append_tables`:
    the column-wise engine); both give the same bytes.
    """

    def __init__(self, out: str | Path, fmt: Format = "json", *, force: bool = False):
        if fmt not in CONVERT_FORMATS:
            raise OutputError(f"unknown format '{fmt}'",
                              hint=f"formats: {', '.join(CONVERT_FORMATS)}")
        self.fmt, self.force = fmt, force
        self._parquet: Any = None  # parquet: the staged blocks (io.parquet.ParquetStage)
        self.stdout = str(out) == STDOUT
        self.out = Path(out)
        self.count = 0
        self._repeated: dict[str, int] = {}  # json: names given to several reports
        self._names: list[str] = []  # json: the files staged, in order
        self._unsettled: tuple[int, dict[int, str]] | None = None  # json: adopt_files
        self._stage: Path | None = None
        self._fh: Any = None
        self._csv: Any = None  # csv: the staged lines (io.csvlines.CsvStage)
        self._first_json = True
        self._created_out = fmt == "json" and not self.stdout and not self.out.exists()
        if self.stdout:
            if fmt == "json":
                sys.stdout.write("[")
            return
        if fmt == "json":
            if self.out.exists() and not self.out.is_dir():
                raise OutputError("--out must be a folder for json output (one file per "
                                  "report)", Location(self.out),
                                  "use --format jsonl to write one file")
            check_writable(self.out)
            staging.sweep(self._parent)  # stages are beside the folder (older: inside)
            staging.sweep(self.out)
            return
        if self.out.is_dir():
            raise OutputError(f"--out must be a file for {fmt} output, not a folder",
                              Location(self.out))
        check_writable(self._parent)
        staging.sweep(self._parent)

    @property
    def _parent(self) -> Path:
        return self.out.parent if str(self.out.parent) else Path(".")

    def _open_stage(self) -> None:
        if self._stage is not None or self._fh is not None:
            return
        with _said(self.out):
            if self.fmt == "json":  # beside the folder: it may become it (_commit_files)
                self._parent.mkdir(parents=True, exist_ok=True)
                self._stage = staging.new_folder(self._parent)
                return
            # stdout: stage in the system's temporary folder
            folder = Path(tempfile.gettempdir()) if self.stdout else self._parent
            folder.mkdir(parents=True, exist_ok=True)
            raw, self._stage = staging.new_file(folder)
            self._fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            if self.fmt == "csv":
                from .csvlines import CsvStage

                self._csv = CsvStage(self._fh.buffer, None if self.stdout else str(folder))
            elif self.fmt == "parquet":
                from .parquet import ParquetStage

                self._parquet = ParquetStage(self._fh.buffer)

    def write(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """Add a block of reports."""
        if not docs:
            return
        self.count += len(docs)
        if self.stdout:
            if self.fmt == "json":
                for doc in docs:
                    sys.stdout.write(("" if self._first_json else ",") + "\n" + dumps(doc))
                    self._first_json = False
            elif self.fmt == "jsonl":
                sys.stdout.write(render_jsonl(docs))
            if self.fmt not in ("csv", "parquet"):
                return
        self._open_stage()
        with _said(self.out):
            self.settle_files()
            if self.fmt == "json":
                for doc in docs:
                    self._write_file(report_filename(doc),
                                     (dumps(doc) + "\n").encode("utf-8"))
            elif self.fmt == "jsonl":
                self._fh.write(render_jsonl(docs))
            elif self.fmt == "parquet":
                self._stage_table(*_flat_lines(docs))
            else:
                flats = [flatten(d) for d in docs]
                lines = [csv_line([cell_text(v) for v in flat.values()]).encode("utf-8")
                         for flat in flats]
                self._fh.flush()
                self._csv.add(b"".join(lines), [len(line) for line in lines],
                              [self._csv.column_set(tuple(flat)) for flat in flats])

    def _write_file(self, name: str, data: bytes | memoryview) -> None:
        """One json file in the stage, under its name (``-2``, ``-3``... for the second,
        third report of that name): the stage itself tells which names are taken."""
        assert self._stage is not None
        stage = os.fspath(self._stage) + os.sep
        try:
            fd = os.open(stage + name, _NEW_FILE, 0o666)
        except FileExistsError:
            n = self._repeated.get(name, 1) + 1
            self._repeated[name] = n
            name = name[: -len(".json")] + f"-{n}.json"
            fd = os.open(stage + name, _NEW_FILE & ~os.O_EXCL | os.O_TRUNC, 0o666)
        self._names.append(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def append_files(self, folder: Path, names: Sequence[str]) -> None:
        """Add json reports already written as files ``0``, ``1``... of ``folder`` (on the
        output's file system, e.g. in :meth:`stage_folder`), ``names`` their file names;
        the files are moved into the stage, then the folder is removed (json only)."""
        if self.fmt != "json":
            raise ValueError("append_files is for json output")
        self.count += len(names)
        if self.stdout:
            for j, _ in enumerate(names):
                text = (folder / str(j)).read_text(encoding="utf-8")
                sys.stdout.write(("" if self._first_json else ",") + "\n" + text[:-1])
                self._first_json = False
            shutil.rmtree(folder, ignore_errors=True)
            return
        with _said(self.out):
            self._open_stage()
            self.settle_files()
            assert self._stage is not None
            stage, part = os.fspath(self._stage) + os.sep, os.fspath(folder) + os.sep
            link, unlink = os.link, os.unlink
            for j, name in enumerate(names):
                src = part + str(j)
                try:
                    link(src, stage + name)  # fails when the name is taken
                except FileExistsError:
                    n = self._repeated.get(name, 1) + 1
                    self._repeated[name] = n
                    name = name[: -len(".json")] + f"-{n}.json"
                    os.replace(src, stage + name)
                else:
                    unlink(src)
                self._names.append(name)
            folder.rmdir()

    def adopt_files(self, names: Sequence[str], side: Sequence[tuple[int, str]]) -> None:
        """Add json reports written straight into :meth:`stage_folder` under their names
        ``names`` (:func:`write_named`, one range after the other); ``side``: (index in
        ``names``, spare name) of those written under a spare name, their name taken.
        :meth:`settle_files` gives those their names once every range is in."""
        if self.fmt != "json" or self.stdout:
            raise ValueError("adopt_files is for json output into a folder")
        if self._unsettled is None:
            self._unsettled = (len(self._names), {})
        at = len(self._names)
        self._unsettled[1].update((at + j, spare) for j, spare in side)
        self._names.extend(names)
        self.count += len(names)

    def settle_files(self) -> None:
        """Give the reports adopted since the last call the names the reference gives
        them, as if each had been written in turn (:meth:`_write_file`): a name taken by
        an earlier report gets ``-2``, ``-3``... Nothing to do when no name was taken (a
        name written twice is always taken the second time)."""
        if self._unsettled is None:
            return
        start, side = self._unsettled
        self._unsettled = None
        if not side:
            return
        assert self._stage is not None
        stage = os.fspath(self._stage) + os.sep
        taken = set(self._names[:start])
        moves: list[tuple[str, str]] = []  # (where the file is, its name), in order
        aside: list[tuple[str, str]] = []  # files in place under a name not theirs
        for i in range(start, len(self._names)):
            name = final = self._names[i]
            if name in taken:
                n = self._repeated.get(name, 1) + 1
                self._repeated[name] = n
                final = name[: -len(".json")] + f"-{n}.json"
            taken.add(final)
            spare = side.get(i)
            if spare is None and final != name:  # written in place, but not its name
                spare = f"{SPARE}moved.{i}"
                aside.append((name, spare))
            if spare is not None:
                moves.append((spare, final))
            self._names[i] = final
        with _said(self.out):
            for name, spare in aside:
                os.rename(stage + name, stage + spare)
            for spare, final in moves:  # in order: a later report replaces an earlier
                os.replace(stage + spare, stage + final)

    def append_lines(self, part: Path, lengths: Any, column_ids: Any,
                     columns: Sequence[tuple[str, ...]]) -> None:
        """Add the CSV lines of the file ``part`` (as :meth:`write_lines` takes them), then
        delete it (csv only)."""
        if self.fmt != "csv":
            raise ValueError("append_lines is for csv output")
        with _said(self.out):
            try:
                if not len(lengths):
                    return
                self.count += len(lengths)
                self._open_stage()
                with open(part, "rb") as src:
                    self._fh.flush()
                    self._csv.add_file(src, lengths, self._csv.ids(column_ids, columns))
            finally:
                part.unlink(missing_ok=True)

    def write_files(self, data: bytes | memoryview, lengths: Sequence[int],
                    names: Sequence[str]) -> None:
        """Add json reports already serialised: ``data`` holds their texts end to end
        (UTF-8, ``lengths`` bytes each), ``names`` their file names (json only)."""
        if self.fmt != "json":
            raise ValueError("write_files is for json output")
        if not len(names):
            return
        self.count += len(names)
        view = memoryview(data)
        if self.stdout:
            at = 0
            for size in lengths:
                text = bytes(view[at: at + size]).decode("utf-8")
                at += size
                sys.stdout.write(("" if self._first_json else ",") + "\n" + text[:-1])
                self._first_json = False
            return
        with _said(self.out):
            self._open_stage()
            self.settle_files()
            at = 0
            for name, size in zip(names, lengths, strict=True):
                self._write_file(name, view[at: at + size])
                at += size

    def write_lines(self, data: bytes | memoryview, lengths: Any, column_ids: Any,
                    columns: Sequence[tuple[str, ...]]) -> None:
        """Add CSV lines already serialised, each in its own columns: ``data`` holds them
        end to end (UTF-8, ``lengths`` bytes each); line ``i`` has the columns
        ``columns[column_ids[i]]`` (csv only)."""
        if self.fmt not in ("csv", "parquet"):
            raise ValueError("write_lines is for csv or parquet output")
        with _said(self.out):
            if not len(lengths):
                return
            self.count += len(lengths)
            self._open_stage()
            if self.fmt == "parquet":
                self._stage_table(data, lengths, column_ids, columns)
                return
            self._fh.flush()
            self._csv.add(data, lengths, self._csv.ids(column_ids, columns))

    def _stage_table(self, data: bytes | memoryview, lengths: Any, column_ids: Any,
                     columns: Sequence[tuple[str, ...]]) -> None:
        """Stage CSV lines (as :meth:`write_lines` takes them) as a typed table."""
        from .parquet import lines_table

        self._fh.flush()
        self._parquet.add(lines_table(data, lengths, column_ids, columns))

    def write_table(self, table: Any) -> None:
        """Add reports as a typed table of :func:`boamps_etl.io.parquet.lines_table`
        (parquet only: what the column-wise engine makes of them)."""
        if self.fmt != "parquet":
            raise ValueError("write_table is for parquet output")
        with _said(self.out):
            if not len(table):
                return
            self.count += len(table)
            self._open_stage()
            self._fh.flush()
            self._parquet.add(table)

    def append_tables(self, part: Path, count: int, sizes: Sequence[int],
                      column_sets: Sequence[Sequence[str]]) -> None:
        """Add ``count`` reports staged as typed tables in the file ``part`` (Arrow IPC
        streams end to end, ``sizes`` bytes each, in the columns ``column_sets``: what
        :meth:`write_lines` stages for parquet), then delete it (parquet only)."""
        if self.fmt != "parquet":
            raise ValueError("append_tables is for parquet output")
        with _said(self.out):
            try:
                if not count:
                    return
                self.count += count
                self._open_stage()
                with open(part, "rb") as src:
                    self._fh.flush()
                    _copy_into(src, self._fh.buffer)
                self._parquet.added(sizes, column_sets)
            finally:
                part.unlink(missing_ok=True)

    def write_data(self, data: bytes | memoryview, count: int) -> None:
        """Add ``count`` reports already serialised as JSON lines, UTF-8 bytes each ending
        with a line break (jsonl only)."""
        if self.fmt != "jsonl":
            raise ValueError("write_data is for jsonl output")
        if not count:
            return
        self.count += count
        if self.stdout:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        self._open_stage()
        with _said(self.out):
            self._fh.flush()
            self._fh.buffer.write(data)

    def stage_folder(self) -> Path:
        """Where work files of this output may be put for a while, made if missing: beside
        a jsonl or csv file, in the stage of a json folder (its hidden work folder: on the
        same file system, left out of the output), in the system's temporary folder for
        stdout."""
        if self.fmt == "json" and not self.stdout:
            self._open_stage()
            assert self._stage is not None
            return self._stage
        folder = staging_folder(self.out, self.fmt)
        if not self.stdout:
            with _said(self.out):
                folder.mkdir(parents=True, exist_ok=True)
        return folder

    def append_file(self, part: Path, count: int) -> None:
        """Add a file of ``count`` JSON lines (jsonl only), then delete it. The output is
        synced to disk at once: while workers convert the next parts, the disk writes
        what is done, and :meth:`close` has little left to wait for."""
        if self.fmt != "jsonl":
            raise ValueError("append_file is for jsonl output")
        try:
            self.count += count
            with open(part, "rb") as src:
                if self.stdout:
                    sys.stdout.flush()
                    shutil.copyfileobj(src, sys.stdout.buffer, 1 << 22)
                    sys.stdout.buffer.flush()
                    return
                self._open_stage()
                with _said(self.out):
                    self._fh.flush()
                    _copy_into(src, self._fh.buffer)
                    _datasync(self._fh.fileno())
        finally:
            part.unlink(missing_ok=True)

    def _refuse_existing(self, existing: list[Path]) -> None:
        """Targets that exist and differ from what would be written stop the job (unless
        ``force``); identical ones are what an interrupted run of the same job wrote."""
        if existing and not self.force:
            self.abort()
            if self.fmt == "json":
                raise OutputError(f"{len(existing)} output file(s) exist already, e.g. "
                                  f"{existing[0].name}", Location(self.out),
                                  "pass --force to overwrite them")
            raise OutputError("output file exists already", Location(self.out),
                              "pass --force to overwrite it")

    def close(self) -> Sequence[Path]:
        """Put every output in place; returns the files written.

        Raises:
            OutputError: an output exists and differs (without ``force``), or cannot be
                written (a full disk...); nothing is left then.
        """
        with _said(self.out):
            return self._close()

    def _close(self) -> Sequence[Path]:
        if self.stdout:
            if self.fmt == "json":
                sys.stdout.write(("\n" if not self._first_json else "") + "]\n")
            elif self.fmt == "parquet" and self._stage is not None:
                self._fh.close()
                self._fh = None
                self._write_parquet_from(self._stage, sys.stdout)
            elif self.fmt == "csv" and self._stage is not None:
                self._fh.close()
                self._fh = None
                self._write_csv_from(self._stage, sys.stdout)
                staging.remove(self._stage)
                self._stage = None
                self._csv.close()
                self._csv = None
            sys.stdout.flush()
            return []
        if self.count == 0:
            self.abort()
            return []
        if self.fmt == "json":
            assert self._stage is not None
            self.settle_files()
            return self._commit_files(self._stage)
        assert self._stage is not None
        self._fh.flush()
        if self.fmt == "jsonl":  # csv: only the file written from the staged lines counts
            os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        if self.fmt in ("csv", "parquet"):  # the file is written from what was staged
            staged = self._stage
            try:
                (self._write_csv_from if self.fmt == "csv" else self._write_parquet_from)(staged)
            finally:
                staging.remove(staged)
                if self._stage == staged:
                    self._stage = None
                if self._csv is not None:
                    self._csv.close()
                    self._csv = None
            return [self.out]
        self._publish(self._stage)
        return [self.out]

    def _publish(self, work: Path) -> None:
        """Rename the finished work file onto the output (unless that holds other bytes)."""
        if self.out.exists() and not staging.same_bytes(work, self.out):
            self._refuse_existing([self.out])
        staging.publish(work, self.out)
        if self._stage == work:
            self._stage = None

    def _commit_files(self, stage: Path) -> Sequence[Path]:
        """Put the staged json files in ``out`` once all of them are on disk (a report is
        visible only when complete, also after a crash): the stage becomes ``out`` by one
        rename when ``out`` is missing or empty, else the files are moved as one set
        (:func:`~boamps_etl.io.staging.commit_folder`: a run killed while moving them is
        finished by the next)."""
        # a name is staged twice only when a report took it again (then one in
        # _repeated); else the names are distinct, and 800,000 of them take 0.23 s to check
        names = list(dict.fromkeys(self._names)) if self._repeated else self._names
        if not self.out.exists() or not any(os.scandir(self.out)):
            mode = self.out.stat().st_mode & 0o7777 if self.out.exists() else \
                0o777 & ~staging._umask()
            sync_files(stage, names)
            os.chmod(stage, mode)
            try:
                os.rename(stage, self.out)  # replaces an empty folder
            except OSError:
                os.chmod(stage, 0o700)  # a file appeared in it meanwhile: moved below
            else:
                self._stage = None
                _sync_folder(self._parent)
                return Written(self.out, names)
        self.out.mkdir(parents=True, exist_ok=True)
        taken = set(os.listdir(self.out))
        self._refuse_existing([self.out / n for n in names if n in taken
                               and not staging.same_bytes(stage / n, self.out / n)])
        sync_files(stage, names)
        # files were made 0666 less the umask (os.open), as any new file: no chmod
        staging.commit_folder(stage, names, self.out, chmod=False)
        _sync_folder(self.out)
        self._stage = None
        return Written(self.out, names)

    def _write_csv_from(self, staged: Path, stream: Any = None) -> None:
        """The CSV: the header of every column, then each staged line in those columns."""
        if stream is not None:
            with open(staged, "rb") as lines:
                self._csv.write(lines, stream.write)
            return
        raw, tmp = staging.new_file(self._parent)
        self._stage = tmp  # abort() removes it
        with raw as out, open(staged, "rb", buffering=0) as lines:
            self._csv.write(lines, lambda text: out.write(text.encode("utf-8")), out.write,
                            out)
            out.flush()
            os.fsync(out.fileno())
        self._publish(tmp)

    def _write_parquet_from(self, staged: Path, stream: Any = None) -> None:
        """The Parquet file of the staged tables: to a work file renamed onto the output
        once complete and on disk, or (``stream``: stdout) through a temporary file."""
        raw, tmp = staging.new_file(Path(tempfile.gettempdir()) if stream is not None
                                    else self._parent)
        self._stage = tmp  # abort() removes it
        if stream is not None:
            try:
                with raw as out:
                    self._parquet.write(staged, out)
                with open(tmp, "rb") as done:
                    stream.flush()
                    shutil.copyfileobj(done, stream.buffer, 1 << 22)
                    stream.buffer.flush()
            finally:
                staging.remove(staged)
                staging.remove(tmp)
                self._stage = None
            return
        with raw as out:
            self._parquet.write(staged, out)
            out.flush()
            os.fsync(out.fileno())
        self._publish(tmp)

    def abort(self) -> None:
        """Remove everything staged; nothing is left behind."""
        if self._csv is not None:
            with contextlib.suppress(OSError):
                self._csv.close()
            self._csv = None
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        staging.remove(self._stage)
        self._stage = None
        if self._created_out and self.out.is_dir():
            with contextlib.suppress(OSError):
                self.out.rmdir()  # we created it and it stayed empty
