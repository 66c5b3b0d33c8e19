"""A pool of worker processes on this machine (``concurrent.futures``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from .base import TaskFuture
from .signals import forking, stop_processes, worker_init

T = TypeVar("T")


class LocalPoolExecutor:
    """``jobs`` worker processes, started on the first ``submit``.

    ``warm_up`` runs once in the parent before the pool starts (forked workers then start
    with its imports done); ``initializer`` runs in each worker. ``fork`` asks for forked
    workers whatever the platform's default, for callers whose workers use the parent's
    module state.
    """

    name = "local"
    per_file = False
    dashboard: str | None = None

    def __init__(self, jobs: int, warm_up: Callable[[], None] | None = None,
                 initializer: Callable[[], None] | None = None, fork: bool = False) -> None:
        self.jobs = jobs
        self._fork = fork
        self._warm_up, self._initializer = warm_up, initializer
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._warm_up is not None:
                self._warm_up()
            context = _fork_context() if self._fork else None
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=context,
                                             initializer=_start_worker,
                                             initargs=(os.getpid(), self._initializer))
        return self._pool

    def submit(self, fn: Callable[..., T], *args: Any) -> TaskFuture[T]:
        pool = self._started()
        with forking():  # the workers are forked at the first submit
            return pool.submit(fn, *args)

    def map(self, fn: Callable[[Any], T], tasks: list[Any]) -> Iterator[T]:
        """``fn`` of each task in the workers, yielded in order as each is done."""
        pool = self._started()
        with forking():  # map submits every task at once: the workers are forked here
            return pool.map(fn, tasks)

    def gather(self, futures: list[TaskFuture[T]]) -> list[T]:
        return [f.result() for f in futures]

    def slots(self) -> int:
        """Tasks that run at once: one per worker process."""
        return self.jobs

    def close(self) -> None:
        """Cancel what has not started, let the running tasks finish."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def stop(self) -> None:
        """Ctrl-C, SIGTERM: kill the workers at once, without waiting for them (a worker
        killed while it sends a result can leave the pool's reader waiting forever; the
        command exits at once after an interrupt)."""
        if self._pool is not None:
            stop_processes(getattr(self._pool, "_processes", None))
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _start_worker(parent: int, initializer: Callable[[], None] | None) -> None:
    """Each worker's first step: Ctrl-C ignored, death with the parent, then the
    caller's ``initializer``."""
    worker_init(parent)
    if initializer is not None:
        initializer()


def _fork_context() -> Any:
    """Forked workers where the platform has them: they start with the parent's module
    state (the engine's job) instead of re-importing."""
    import multiprocessing

    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None
