"""Where the work of a batch runs, behind one small interface (:class:`Executor`).

* ``"inline"``: in this process, each task when its result is asked for (``jobs=1``).
* ``"local"``: a pool of worker processes on this machine (``jobs > 1``).
* ``"dask"``: the workers of a ``dask.distributed`` cluster: the scheduler at an address
  (``tcp://host:8786``, or ``DASK_SCHEDULER_ADDRESS``), else a ``LocalCluster`` started for
  the run. Dask schedules, balances and retries the tasks of a worker that dies.

Tasks are plain picklable functions and arguments; their results come back in any order and
the caller puts them in order, so where the work ran never changes a byte of the outputs.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import EXECUTORS, Executor, InlineExecutor, TaskFuture
from .local import LocalPoolExecutor

__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "LocalPoolExecutor", "TaskFuture",
           "make_executor"]


def make_executor(kind: str = "local", jobs: int = 1, scheduler: str | None = None,
                  warm_up: Callable[[], None] | None = None,
                  initializer: Callable[[], None] | None = None) -> Executor:
    """The executor named ``kind`` ('local' or 'dask').

    Args:
        kind: 'local' (this machine: in-process with ``jobs == 1``, else a process pool)
            or 'dask'.
        jobs: worker processes for 'local', and for the LocalCluster 'dask' starts when no
            scheduler is given.
        scheduler: the Dask scheduler address; None: ``DASK_SCHEDULER_ADDRESS``, else a
            LocalCluster.
        warm_up, initializer: for the local pool: run once in the parent before forking,
            and in each worker at start.

    Raises:
        UsageError: unknown kind, dask not installed, scheduler unreachable.
    """
    from ..errors import UsageError

    if kind == "local":
        if scheduler:
            raise UsageError("--scheduler needs --executor dask")
        if jobs <= 1:
            return InlineExecutor()
        return LocalPoolExecutor(jobs, warm_up=warm_up, initializer=initializer)
    if kind == "dask":
        from .dask import DaskExecutor

        return DaskExecutor(scheduler, workers=jobs)
    raise UsageError(f"unknown executor '{kind}'", hint=f"executors: {', '.join(EXECUTORS)}")
