"""Inputs that can be read only once: ``-`` (standard input), FIFOs, ``<(...)`` process
substitutions. The reader goes through a file twice (a check of every row first, then the
conversion), so such an input is first copied, in blocks, to a work file in the system's
temporary folder; messages still name the input as given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..errors import InputError, Location
from . import staging
from .readers import CsvSource

STDIN = "-"
STDIN_NAME = "<stdin>"


def needs_spool(path: str | os.PathLike[str]) -> bool:
    """True for ``-`` and for inputs that are not regular files (FIFOs, pipes, devices)."""
    if os.fspath(path) == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # the reader says what is wrong with it
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


class Spool:
    """Work files of once-only inputs, removed when the ``with`` block ends."""

    def __init__(self) -> None:
        self._files: list[Path] = []

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for path in self._files:
            staging.remove(path)
        self._files.clear()

    def path(self, path: str | os.PathLike[str]) -> tuple[str | os.PathLike[str], str | None]:
        """A path the reader can go through twice, and the name to show (``None``: the
        path's own)."""
        if not needs_spool(path):
            return path, None
        name = STDIN_NAME if os.fspath(path) == STDIN else os.fspath(path)
        fh, work = staging.new_file(Path(tempfile.gettempdir()), "csv")
        self._files.append(work)
        with fh:
            try:
                src: Any = sys.stdin.buffer if os.fspath(path) == STDIN else \
                    open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise InputError(f"cannot be read ({exc.strerror})", Location(name)) from None
            try:
                _copy(src, fh)
            except OSError as exc:
                raise InputError(f"cannot be read ({exc.strerror})", Location(name)) from None
            finally:
                if src is not sys.stdin.buffer:
                    with contextlib.suppress(OSError):
                        src.close()
        return work, name

    def source(self, path: str | os.PathLike[str]) -> CsvSource:
        """A :class:`CsvSource` of ``path``, spooled first when it can be read once only."""
        real, name = self.path(path)
        return CsvSource(real, name=name)


def _copy(src: IO[bytes], dst: IO[bytes]) -> None:
    shutil.copyfileobj(src, dst, 1 << 20)
    dst.flush()
