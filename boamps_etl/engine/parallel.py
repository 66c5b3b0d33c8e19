"""Worker processes for the column-wise engine (:class:`Runner`): a large file is cut into
ranges of rows converted by forked workers, each range's lines kept in order."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..context import Context
from ..mapping import FieldMapping
from .convert import Converter, PartResult
from .scan import FastFile, single_threaded
from .templates import _Template

_JOB: tuple[Any, ...] = ()  # what forked workers inherit: (mapping, context, allow)


def _convert_part(task: tuple[FastFile, int, str]) -> PartResult:
    """Convert one range of a file into the file ``out``."""
    ff, index, out = task
    mapping, context, allow_incomplete = _JOB
    converter = Converter(ff, mapping, context, allow_incomplete, _TEMPLATES)
    total = PartResult(Path(out), 0, {"valid": 0, "incomplete": 0, "invalid": 0}, {}, [])
    with open(out, "wb") as fh:
        for batch, rows in converter.blocks(ff.parts[index]):
            block = converter.convert(batch, rows)
            fh.write(block.data)
            total.lines += block.count
            for status, count in block.counts.items():
                total.counts[status] = total.counts.get(status, 0) + count
            for level, count in block.levels.items():
                total.levels[level] = total.levels.get(level, 0) + count
            total.issues.extend(block.issues)
    return total


_TEMPLATES: dict[Any, _Template | None] = {}  # kept from one range to the next (same job)


def _in_worker() -> None:
    """A worker's set-up: Arrow reads with this process's thread only, as every core
    has a worker already."""
    single_threaded()


class Runner:
    """Worker processes for the fast path (forked: they share the mapping and context).
    ``jobs=1`` runs everything in this process."""

    def __init__(self, jobs: int, mapping: FieldMapping, context: Context | None,
                 allow_incomplete: bool):
        import multiprocessing

        global _JOB
        self.jobs = jobs if "fork" in multiprocessing.get_all_start_methods() else 1
        _JOB = (mapping, context, allow_incomplete)
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
        done. Its JSON lines are in a file in ``stage``, which the caller removes."""
        outs = []
        try:
            for _ in ff.parts:
                fd, name = tempfile.mkstemp(prefix=".boamps-etl-part-", suffix=".jsonl",
                                            dir=stage)
                os.close(fd)
                outs.append(name)
            yield from self.imap(_convert_part, [(ff, j, out) for j, out in enumerate(outs)])
        except BaseException:
            self.close()  # no worker writes any more
            raise
        finally:
            for name in outs:
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
