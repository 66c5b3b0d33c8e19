"""Worker processes for the column-wise engine (:class:`Runner`): a large file is cut into
ranges of rows converted by forked workers, each range's lines kept in order."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..context import Context
from ..mapping import FieldMapping
from .convert import Converter, PartResult
from .scan import FastFile, single_threaded
from .templates import _Template

_JOB: tuple[Any, ...] = ()  # what forked workers inherit: (mapping, context, allow, fmt)


def _convert_part(task: tuple[FastFile, int, str]) -> PartResult:
    """Convert one range of a file into the file (or, for json, the folder) ``out``."""
    import numpy as np

    ff, index, out = task
    mapping, context, allow_incomplete, fmt = _JOB
    converter = Converter(ff, mapping, context, allow_incomplete, _TEMPLATES, fmt)
    total = PartResult(Path(out), 0, {"valid": 0, "incomplete": 0, "invalid": 0}, {}, [])
    lengths, ids = [], []
    sets: dict[tuple[str, ...], int] = {}
    with contextlib.ExitStack() as stack:
        fh = None if fmt == "json" else stack.enter_context(open(out, "wb"))
        for batch, rows in converter.blocks(ff.parts[index]):
            block = converter.convert(batch, rows)
            if fh is not None:
                fh.write(block.data)
            else:
                assert block.names is not None
                _write_numbered(Path(out), total.lines, block.data, block.lengths)
                total.names.extend(block.names)
            if fmt == "csv":
                mine = np.array([sets.setdefault(c, len(sets)) for c in block.columns],
                                dtype=np.int64)
                ids.append(mine[block.column_ids] if len(mine) else block.column_ids)
                lengths.append(block.lengths)
            total.lines += block.count
            for status, count in block.counts.items():
                total.counts[status] = total.counts.get(status, 0) + count
            for level, count in block.levels.items():
                total.levels[level] = total.levels.get(level, 0) + count
            total.issues.extend(block.issues)
    if fmt == "csv":
        total.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        total.column_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        total.columns = list(sets)
    return total


def _write_numbered(folder: Path, first: int, data: Any, lengths: Any) -> None:
    """Texts ``lengths`` bytes each of ``data`` as files named ``first``, ``first + 1``..."""
    view = memoryview(data)
    at = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    prefix = os.fspath(folder) + os.sep
    for j, size in enumerate(lengths.tolist(), first):
        fd = os.open(prefix + str(j), flags, 0o666)
        try:
            part = view[at: at + size]
            while part:
                part = part[os.write(fd, part):]
        finally:
            os.close(fd)
        at += size


_TEMPLATES: dict[Any, _Template | None] = {}  # kept from one range to the next (same job)


def _in_worker() -> None:
    """A worker's set-up: Arrow reads with this process's thread only, as every core
    has a worker already."""
    single_threaded()


class Runner:
    """Worker processes for the fast path (forked: they share the mapping and context).
    ``jobs=1`` runs everything in this process."""

    def __init__(self, jobs: int, mapping: FieldMapping, context: Context | None,
                 allow_incomplete: bool, fmt: str = "jsonl"):
        import multiprocessing

        global _JOB
        self.jobs = jobs if "fork" in multiprocessing.get_all_start_methods() else 1
        self.fmt = fmt
        _JOB = (mapping, context, allow_incomplete, fmt)
        _TEMPLATES.clear()
        self._pool: Any = None

    def map(self, func: Callable[[Any], Any], tasks: list[Any]) -> list[Any]:
        return list(self.imap(func, tasks))

    def imap(self, func: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        """``func`` of each task, in order, each as soon as it and those before are done:
        in this process for one job or one task, else in the workers."""
        if self.jobs == 1 or len(tasks) == 1:
            return map(func, tasks)
        if self._pool is None:
            import multiprocessing

            self._pool = multiprocessing.get_context("fork").Pool(self.jobs,
                                                                  initializer=_in_worker)
        result: Iterator[Any] = self._pool.imap(func, tasks)
        return result

    def convert(self, ff: FastFile, stage: Path) -> Iterator[PartResult]:
        """Convert the ranges of a prepared file, handed out to the workers one at a
        time; yields each range's result in order as soon as it and those before it are
        done. Its texts are in a file (json: a folder) in ``stage``, which the caller
        removes (:class:`PartResult`)."""
        outs = []
        folders = self.fmt == "json"  # json: a folder of files per range
        try:
            for _ in ff.parts:
                if folders:
                    outs.append(tempfile.mkdtemp(prefix=".boamps-etl-part-", dir=stage))
                    continue
                fd, name = tempfile.mkstemp(prefix=".boamps-etl-part-", suffix=".part",
                                            dir=stage)
                os.close(fd)
                outs.append(name)
            yield from self.imap(_convert_part, [(ff, j, out) for j, out in enumerate(outs)])
        except BaseException:
            self.close()  # no worker writes any more
            raise
        finally:
            for name in outs:
                if folders:
                    shutil.rmtree(name, ignore_errors=True)
                else:
                    Path(name).unlink(missing_ok=True)

    def close(self) -> None:
        global _JOB
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _JOB = ()
        _TEMPLATES.clear()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
