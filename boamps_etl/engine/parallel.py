"""Worker processes for the column-wise engine (:class:`Runner`): a large file is cut into
ranges of rows converted by forked workers, each range's lines kept in order."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from ..context import Context
from ..execute.local import LocalPoolExecutor
from ..io import staging
from ..io.parquet import ipc_bytes
from ..io.writers import write_named
from ..mapping import FieldMapping
from .convert import Converter, PartResult
from .scan import FastFile, single_threaded
from .templates import _Template

_JOB: tuple[Any, ...] = ()  # what forked workers inherit: (mapping, context, allow, fmt)


def _convert_part(task: tuple[FastFile, int, str, bool]) -> PartResult:
    """Convert one range of a file into the file (or, for json, the folder) ``out``; json
    ``direct``: into the json output's stage ``out``, each report under its file name (a
    name already there: under a spare name, in ``side``)."""
    import numpy as np

    ff, index, out, direct = task
    mapping, context, allow_incomplete, fmt = _JOB
    converter = Converter(ff, mapping, context, allow_incomplete, _TEMPLATES, fmt)
    total = PartResult(Path(out), 0, {"valid": 0, "incomplete": 0, "invalid": 0}, {}, [])
    lengths, ids = [], []
    sets: dict[tuple[str, ...], int] = {}
    with contextlib.ExitStack() as stack:
        fh = None if fmt == "json" else stack.enter_context(open(out, "wb"))
        for batch, rows in converter.blocks(ff.ranges[index]):
            block = converter.convert(batch, rows)
            if fmt == "parquet":
                assert fh is not None
                if block.count:
                    table = block.table
                    data = ipc_bytes(table)
                    fh.write(data)
                    total.sizes.append(len(data))
                    total.columns.append(tuple(table.column_names))
            elif fh is not None:
                fh.write(block.data)
            elif direct:
                assert block.names is not None
                total.side.extend(write_named(out, index, total.lines, block.data,
                                              block.lengths, block.names))
                total.names.extend(block.names)
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


class Runner:
    """Worker processes for the fast path (forked: they share the mapping and context).
    ``jobs=1`` runs everything in this process.

    The workers are the local executor's pool (:class:`~boamps_etl.execute.local.
    LocalPoolExecutor`: Ctrl-C left to the parent, death with the parent), each reading
    with Arrow's single thread, as every core has a worker already. A
    ``concurrent.futures`` pool, not ``multiprocessing.Pool``: a worker killed by a signal
    to the process group breaks the pool (an error) instead of leaving a lock held that
    ``Pool.terminate`` would wait for forever."""

    def __init__(self, jobs: int, mapping: FieldMapping, context: Context | None,
                 allow_incomplete: bool, fmt: str = "jsonl"):
        import multiprocessing

        global _JOB
        self.jobs = jobs if "fork" in multiprocessing.get_all_start_methods() else 1
        self.fmt = fmt
        _JOB = (mapping, context, allow_incomplete, fmt)
        _TEMPLATES.clear()
        self._pool: LocalPoolExecutor | None = None

    def map(self, func: Callable[[Any], Any], tasks: list[Any]) -> list[Any]:
        return list(self.imap(func, tasks))

    def imap(self, func: Callable[[Any], Any], tasks: list[Any]) -> Iterator[Any]:
        """``func`` of each task, in order, each as soon as it and those before are done:
        in this process for one job or one task, else in the workers."""
        if self.jobs == 1 or len(tasks) == 1:
            return map(func, tasks)
        if self._pool is None:
            self._pool = LocalPoolExecutor(self.jobs, initializer=single_threaded,
                                           fork=True)
        return self._pool.map(func, tasks)

    def convert(self, ff: FastFile, stage: Path, direct: bool = False
                ) -> Generator[PartResult, None, None]:
        """Convert the ranges of a prepared file, handed out to the workers one at a
        time; yields each range's result in order as soon as it and those before it are
        done. Its texts are in a work file (json: a work folder) in ``stage``, removed
        here once the caller has taken what it needs from them (:class:`PartResult`);
        json ``direct``: the files are written into ``stage``, the json output's stage,
        under their names (:func:`~boamps_etl.io.writers.write_named`)."""
        outs = []
        folders = self.fmt == "json" and not direct  # json: a folder of files per range
        try:
            for _ in ff.ranges:
                if direct:
                    outs.append(str(stage))
                    continue
                # named, then noted, then made: an interrupt at any point leaves nothing
                # that the finally clause below does not remove
                path = stage / staging.work_name(
                    staging.STAGE if folders else staging.PART, "" if folders else self.fmt)
                outs.append(str(path))
                if folders:
                    path.mkdir(mode=0o700)
                else:
                    staging.open_new(path).close()
            yield from self.imap(_convert_part, [(ff, j, out, direct)
                                                 for j, out in enumerate(outs)])
        except BaseException as exc:
            # no worker writes any more: at once on an interrupt, else once they are done
            self.close(stop=isinstance(exc, KeyboardInterrupt))
            raise
        finally:
            for name in outs if not direct else ():
                staging.remove(Path(name))

    def close(self, stop: bool = False) -> None:
        """End the workers: once their work is done, or at once with ``stop`` (Ctrl-C,
        SIGTERM), without waiting: a worker killed while it sends a result can leave the
        pool's reader waiting forever, so the command exits at once after an interrupt."""
        global _JOB
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if stop:
                pool.stop()
            else:
                pool.close()
        _JOB = ()
        _TEMPLATES.clear()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(stop=exc_type is not None and issubclass(exc_type, KeyboardInterrupt))
