"""Write reports as JSON files, JSON Lines or a flat CSV: atomically, never over existing
outputs unless asked, and never outside the chosen output folder.

Every file is written to a temporary file beside its target and renamed into place, so an
interrupt or a full disk leaves no partial file. All targets are checked before the first
byte is written: an existing target (without ``force``) or an unwritable folder stops the
job with nothing written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import Location, OutputError
from ..flatten import csv_text, flatten, write_csv_rows

Format = Literal["json", "jsonl", "csv"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv")
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


def report_filename(doc: Mapping[str, Any]) -> str:
    """``report_<publisher>_<taskStage>_<taskFamily>_<infraType>_<reportId>.json``."""
    header = doc.get("header") or {}
    task = doc.get("task") or {}
    infra = doc.get("infrastructure") or {}
    publisher = (header.get("publisher") or {}).get("name") if isinstance(header, dict) else None
    parts = [
        safe_part(publisher),
        safe_part(task.get("taskStage") if isinstance(task, dict) else None),
        safe_part(task.get("taskFamily") if isinstance(task, dict) else None),
        safe_part(infra.get("infraType") if isinstance(infra, dict) else None),
        safe_part(header.get("reportId") if isinstance(header, dict) else None, "noid"),
    ]
    name = "report_" + "_".join(parts)
    return name[:MAX_NAME] + ".json"


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, line breaks as they are; or bytes) to ``path``
    through a temporary file in the same folder and a rename: ``path`` holds either its old
    content or all of the new one, never a part."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
        if not is_inside(folder, target):  # unreachable with safe_part; kept as a guard
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


def write_reports(docs: Sequence[Mapping[str, Any]], out: str | Path, fmt: Format = "json", *,
                  force: bool = False) -> list[Path]:
    """Write reports; returns the files written (none for stdout).

    Args:
        docs: reports as plain data.
        out: a folder for ``json``, a file for ``jsonl``/``csv``; ``'-'`` writes to stdout
            (``json``: one JSON array).
        fmt: 'json', 'jsonl' or 'csv'.
        force: overwrite existing outputs.

    Raises:
        OutputError: a target exists (without ``force``) or cannot be written; nothing is
            written then.
    """
    writer = StreamWriter(out, fmt, force=force)
    try:
        writer.write(docs)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def staging_folder(out: str | os.PathLike[str], fmt: Format) -> Path:
    """Where work files of an output may be put for a while: inside a json output
    folder, beside a jsonl or csv file, in the system's temporary folder for stdout."""
    if str(out) == STDOUT:
        return Path(tempfile.gettempdir())
    return Path(out) if fmt == "json" else Path(out).parent


_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


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

    JSON files are staged in a hidden folder inside ``out`` and moved into place at the end;
    JSONL goes to a temporary file renamed at the end; CSV rows are staged (their columns are
    only known once every report is seen) and the CSV is written at the end. ``abort``
    removes whatever was staged.
    """

    def __init__(self, out: str | Path, fmt: Format = "json", *, force: bool = False):
        if fmt not in FORMATS:
            raise OutputError(f"unknown format '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
        self.fmt, self.force = fmt, force
        self.stdout = str(out) == STDOUT
        self.out = Path(out)
        self.count = 0
        self._used: dict[str, int] = {}
        self._names: list[str] = []
        self._stage: Path | None = None
        self._fh: Any = None
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
            return
        if self.out.is_dir():
            raise OutputError(f"--out must be a file for {fmt} output, not a folder",
                              Location(self.out))
        check_writable(self.out.parent if str(self.out.parent) else Path("."))
        if self.out.exists() and not force:
            raise OutputError("output file exists already", Location(self.out),
                              "pass --force to overwrite it")

    def _open_stage(self) -> None:
        if self._stage is not None or self._fh is not None:
            return
        if self.fmt == "json":
            self.out.mkdir(parents=True, exist_ok=True)
            self._stage = Path(tempfile.mkdtemp(prefix=".boamps-etl-", dir=self.out))
        else:
            parent = self.out.parent if str(self.out.parent) else Path(".")
            if self.stdout:  # stdout: stage in the system's temporary folder
                fd, tmp = tempfile.mkstemp(prefix=".boamps-etl-", suffix=".part")
            else:
                parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part",
                                           dir=parent)
            self._stage = Path(tmp)
            self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")

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
            if self.fmt != "csv":
                return
        self._open_stage()
        if self.fmt == "json":
            assert self._stage is not None
            for doc in docs:
                name = report_filename(doc)
                n = self._used.get(name, 0) + 1
                self._used[name] = n
                if n > 1:
                    name = name[: -len(".json")] + f"-{n}.json"
                (self._stage / name).write_text(dumps(doc) + "\n", encoding="utf-8")
                self._names.append(name)
        elif self.fmt == "jsonl":
            self._fh.write(render_jsonl(docs))
        else:  # flat rows staged as JSON lines: the CSV header needs every column first
            self._fh.writelines(json.dumps(flatten(d), ensure_ascii=False) + "\n"
                                for d in docs)

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
        self._fh.flush()
        self._fh.buffer.write(data)

    def stage_folder(self) -> Path:
        """:func:`staging_folder` of this output, made if missing."""
        folder = staging_folder(self.out, self.fmt)
        if not self.stdout:
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
                self._fh.flush()
                _copy_into(src, self._fh.buffer)
                _datasync(self._fh.fileno())
        finally:
            part.unlink(missing_ok=True)

    def close(self) -> list[Path]:
        """Put every output in place; returns the files written."""
        if self.stdout:
            if self.fmt == "json":
                sys.stdout.write(("\n" if not self._first_json else "") + "]\n")
            elif self.fmt == "csv" and self._stage is not None:
                self._fh.close()
                self._fh = None
                self._write_csv_from(self._stage, sys.stdout)
                os.unlink(self._stage)
                self._stage = None
            sys.stdout.flush()
            return []
        if self.count == 0:
            self.abort()
            return []
        if self.fmt == "json":
            assert self._stage is not None
            targets = [self.out / n for n in self._names]
            if not self.force:
                existing = [t for t in targets if t.exists()]
                if existing:
                    self.abort()
                    raise OutputError(
                        f"{len(existing)} output file(s) exist already, e.g. "
                        f"{existing[0].name}", Location(self.out),
                        "pass --force to overwrite them")
            mode = 0o666 & ~_umask()
            for name, target in zip(self._names, targets, strict=True):
                staged = self._stage / name
                os.chmod(staged, mode)
                os.replace(staged, target)
            self._stage.rmdir()
            self._stage = None
            return targets
        assert self._stage is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        if self.out.exists() and not self.force:
            self.abort()
            raise OutputError("output file exists already", Location(self.out),
                              "pass --force to overwrite it")
        if self.fmt == "csv":
            staged, self._stage = self._stage, None
            try:
                self._write_csv_from(staged)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(staged)
            return [self.out]
        os.chmod(self._stage, 0o666 & ~_umask())
        os.replace(self._stage, self.out)
        self._stage = None
        return [self.out]

    def _write_csv_from(self, staged: Path, stream: Any = None) -> None:
        # Two passes over the staged rows: the union of columns first, then the rows.
        seen: dict[str, None] = {}
        with open(staged, encoding="utf-8") as fh:
            for line in fh:
                for key in json.loads(line):
                    seen.setdefault(key, None)
        if stream is not None:
            with open(staged, encoding="utf-8") as fh:
                write_csv_rows(stream, list(seen), (json.loads(line) for line in fh))
            return
        parent = self.out.parent if str(self.out.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part", dir=parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, \
                    open(staged, encoding="utf-8") as fh:
                write_csv_rows(out, list(seen), (json.loads(line) for line in fh))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, self.out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def abort(self) -> None:
        """Remove everything staged; nothing is left behind."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        if self._stage is not None:
            import shutil

            if self._stage.is_dir():
                shutil.rmtree(self._stage, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._stage)
            self._stage = None
        if self._created_out and self.out.is_dir():
            with contextlib.suppress(OSError):
                self.out.rmdir()  # we created it and it stayed empty
