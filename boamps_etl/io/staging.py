"""Work files and atomic commits: what every writer of boamps-etl stages its outputs through.

Outputs never appear half-written. A file is written to a *work file* beside its target and
renamed into place; a set of files (one JSON report per file) is staged in a *work folder*
beside (or inside) the output folder, and committed by writing a commit list into that
folder before the files are moved out of it: once the list is there, the set is decided,
and if the run dies while moving, the next run there finishes the moves (:func:`sweep`).

Work files and folders are named ``.boamps-etl.<host>.<pid>.<random>.<part|stage>`` so a
later run can tell its own debris from anything else: it removes those of its host whose
process is gone, and never touches a name that does not match, nor the work of a run that
is still alive (or of another host).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import Location, OutputError

PREFIX = ".boamps-etl."
PART, STAGE = "part", "stage"
#: Inside a work folder: the names to move out, one per line, written when the set is final.
COMMIT_LIST = ".commit"
#: First line of a commit list whose files go to a folder beside the work folder.
INTO = "# into: "
_WORK = re.compile(r"^\.boamps-etl\.([A-Za-z0-9-]{1,40})\.([0-9]{1,10})\.([0-9a-f]{8})"
                   r"\.(part|stage)(?:\.[A-Za-z0-9]{1,10})?$")


def _host() -> str:
    name = re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname()).strip("-")
    return name[:40] or "host"


def work_name(kind: str = PART, suffix: str = "") -> str:
    """A fresh work file or folder name for this process (``suffix`` without a dot)."""
    name = f"{PREFIX}{_host()}.{os.getpid()}.{secrets.token_hex(4)}.{kind}"
    return f"{name}.{suffix}" if suffix else name


def is_work_name(name: str) -> bool:
    """True for the names :func:`work_name` makes, and only those."""
    return _WORK.match(name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def is_stale(name: str) -> bool:
    """A work file or folder left by a run of this host that is no longer running."""
    match = _WORK.match(name)
    if match is None or match.group(1) != _host():
        return False
    pid = int(match.group(2))
    return pid != os.getpid() and not _alive(pid)


def output_error(exc: OSError, target: str | os.PathLike[str]) -> OutputError:
    """One clear line for an operating-system error while writing ``target``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError("cannot be written: no space left on the device",
                           Location(str(target)), "free some space or choose another --out")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot be written ({exc.strerror})", Location(str(target)),
                           "choose another --out or fix its permissions")
    return OutputError(f"cannot be written ({exc.strerror or exc})", Location(str(target)))


def check_inside(root: Path, path: Path) -> None:
    """Refuse ``path`` unless the real folder it goes to is inside the real ``root`` (a
    symlink planted inside the output folder must not carry a report elsewhere)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path.parent)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise OutputError(f"refusing to write outside the output folder {root} (a symbolic "
                          f"link leads to {real})", Location(str(path)),
                          "remove the link from the output folder")


def new_file(folder: Path, suffix: str = "") -> tuple[IO[Any], Path]:
    """A new work file in ``folder``, opened for binary writing (0600 until committed)."""
    while True:
        path = folder / work_name(PART, suffix)
        try:
            return open_new(path), path
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue


def open_new(path: Path) -> IO[Any]:
    """Create the work file ``path`` (named by :func:`work_name`), opened for binary
    writing (0600 until committed); FileExistsError when it exists."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def new_folder(folder: Path) -> Path:
    """A new work folder in ``folder``."""
    while True:
        path = folder / work_name(STAGE)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # pragma: no cover
            continue
        return path


def _umask() -> int:
    """The process's umask, read where the system tells it (Linux: /proc/self/status)
    rather than set to 0 and back, as ``os.umask`` must: meanwhile the folders and files
    that other threads create (a batch writes with several) would get mode 0777 or 0666."""
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            status = os.read(fd, 1 << 14)
        finally:
            os.close(fd)
        at = status.find(b"\nUmask:")
        if at >= 0:
            with contextlib.suppress(ValueError):
                return int(status[at + 7: status.index(b"\n", at + 1)], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(work: Path, target: Path) -> None:
    """Give a finished work file the usual permissions and rename it to ``target``."""
    os.chmod(work, 0o666 & ~_umask())
    os.replace(work, target)


def remove(path: Path | None) -> None:
    """Remove a work file or folder, whatever is left of it."""
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def same_bytes(a: Path, b: Path) -> bool:
    """True when two files hold the same bytes (read in blocks)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def commit_folder(stage: Path, names: list[str], dest: Path, *, chmod: bool = True) -> None:
    """Move the staged files ``names`` into ``dest`` as one decision: the commit list is
    written (and synced) first, so a run that dies while moving is finished by the next
    one (:func:`sweep`). A stage beside ``dest`` (not inside it) records ``dest`` in its
    list. ``chmod``: give each file the usual permissions (not needed for files made
    with them)."""
    lines = [] if dest == stage.parent else [INTO + dest.name]
    listing = stage / (COMMIT_LIST + ".tmp")
    with open(listing, "w", encoding="utf-8") as fh:
        fh.write("".join(n + "\n" for n in lines + names))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(listing, stage / COMMIT_LIST)
    _finish_commit(stage, dest, chmod=chmod)


def _finish_commit(stage: Path, dest: Path | None = None, *, chmod: bool = True) -> None:
    """Do the moves of a committed work folder: into ``dest``, or the folder its list
    names (beside the work folder), or the folder holding the work folder."""
    mode = 0o666 & ~_umask()
    names = (stage / COMMIT_LIST).read_text(encoding="utf-8").splitlines()
    if names and names[0].startswith(INTO):
        into = names.pop(0)[len(INTO):]
        if dest is None:
            if not into or "/" in into or into in (".", ".."):
                raise OSError(f"{stage}: unusable commit list")
            dest = stage.parent / into
    if dest is None:
        dest = stage.parent
    src, dst = os.fspath(stage) + os.sep, os.fspath(dest) + os.sep
    for name in names:
        if "/" in name or name.startswith(".") or not name:
            continue  # not ours to move
        try:
            if chmod:
                os.chmod(src + name, mode)
            os.replace(src + name, dst + name)
        except FileNotFoundError:
            if os.path.lexists(src + name):
                raise  # the destination is gone: left for a later run
            continue  # moved already
    remove(stage)


def sweep(folder: Path) -> None:
    """Clear the debris of dead runs from ``folder``: stale work files are removed, stale
    work folders are removed or, when their set was committed, their moves finished.
    Nothing else is touched."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not is_stale(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False) and (path / COMMIT_LIST).is_file():
            with contextlib.suppress(OSError):  # cannot finish: left for a later run
                _finish_commit(path)
            continue
        remove(path)


def work_files(folder: Path) -> Iterator[Path]:
    """Work files and folders of any run in ``folder`` (for tests and diagnostics)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if is_work_name(entry.name):
                yield Path(entry.path)
