"""Tasks on a ``dask.distributed`` cluster (the optional extra ``boamps-etl[dask]``).

Dask does the scheduling, the balancing and the retries: a task whose worker dies is run
again on another worker (``distributed.scheduler.allowed-failures`` times). Tasks must
therefore be pure: the batch's tasks read their sources and return results, and only the
client writes outputs. A task may also write a work file to the output folder when every
worker sees that folder (:meth:`DaskExecutor.sees`): a large file's reports are spooled there.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ExecutionError, MissingExtraError, UsageError
from ..io import staging, storage
from .base import TaskFuture

T = TypeVar("T")
INSTALL_HINT = "pip install 'boamps-etl[dask]'"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("--executor dask needs dask.distributed, which is not "
                                "installed", hint=INSTALL_HINT) from None
    return distributed


class DaskExecutor:
    """A client of the scheduler at ``address`` (or ``DASK_SCHEDULER_ADDRESS``), or of a
    ``LocalCluster`` of ``workers`` processes started here when there is none.

    Args:
        address: ``tcp://host:8786`` and the like; an existing ``distributed.Client`` may be
            given as ``client`` instead.
        workers: processes of the LocalCluster (one thread each).
        client: a connected ``distributed.Client`` to use (it is not closed at the end).

    Raises:
        UsageError: dask.distributed missing, or the scheduler cannot be reached.
    """

    name = "dask"
    per_file = True

    def __init__(self, address: str | None = None, workers: int = 2,
                 client: Any = None) -> None:
        distributed = _import_distributed()
        self._own_client = client is None
        self._cluster: Any = None
        address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        if client is None:
            if address:
                try:
                    client = distributed.Client(address, set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise UsageError(f"cannot reach the Dask scheduler at {address} "
                                     f"({_first_line(exc)})",
                                     hint="start it (dask scheduler) or check --scheduler"
                                     ) from None
            else:
                self._cluster = distributed.LocalCluster(
                    n_workers=max(1, workers), threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=40)
                client = distributed.Client(self._cluster, set_as_default=False)
        self.client = client
        self._run = uuid.uuid4().hex  # tells the workers that a new run began (see fresh)
        self.dashboard: str | None = None
        try:
            services = client.scheduler_info().get("services", {})
            if "dashboard" in services:
                self.dashboard = str(client.dashboard_link)
        except Exception:  # the link is a courtesy, never a failure
            self.dashboard = None

    def submit(self, fn: Callable[..., T], *args: Any) -> TaskFuture[T]:
        """``fn(*args)`` on a worker, through :func:`fresh` (listings cached by an earlier
        run are dropped first); the task is named after ``fn``."""
        from dask.utils import funcname

        future: TaskFuture[T] = self.client.submit(
            fresh, self._run, fn, *args, key=f"{funcname(fn)}-{uuid.uuid4().hex}")
        return future

    def gather(self, futures: list[TaskFuture[T]]) -> list[T]:
        """The results; a task that killed its workers too often, a cancelled task or a lost
        scheduler is an :class:`ExecutionError` (one line), not a traceback."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        try:
            results: list[T] = self.client.gather(futures)
        except (KilledWorker, CancelledError, OSError) as exc:
            raise ExecutionError(f"the Dask cluster failed ({type(exc).__name__}: "
                                 f"{_first_line(exc)})",
                                 hint="run again: completed folders are kept") from None
        return results

    def slots(self) -> int:
        """Tasks that run at once: the worker threads the scheduler knows of now (the
        client's copy of the scheduler's information, refreshed in the background: no
        round trip)."""
        try:
            workers = self.client.scheduler_info().get("workers", {})
            return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
        except Exception:  # a count is a hint, never a failure
            return 1

    def sees(self, folder: Path) -> bool:
        """True when the workers see the local ``folder`` as this process does (a shared
        file system), so that they may write work files there and this process read them.

        Always true for the LocalCluster started here. Otherwise a probe: a marker work
        file holding random bytes is written in ``folder`` (a work file: if this process
        is killed, the next run there removes it), every worker the scheduler knows of
        checks that it reads those bytes at the same path, and the marker is removed. No
        worker yet (a cluster still scaling up), or any error: False."""
        if self._cluster is not None:
            return True
        data = secrets.token_bytes(16)
        try:
            fh, marker = staging.new_file(folder, "probe")
        except OSError:
            return False
        try:
            with fh:
                fh.write(data)
            return self._workers_hold(os.path.abspath(marker), data)
        except OSError:
            return False
        finally:
            staging.remove(marker)

    def _workers_hold(self, path: str, data: bytes) -> bool:
        """Every worker reads ``data`` at ``path`` (one round trip, run on each worker)."""
        try:
            answers = self.client.run(holds, path, data)
        except Exception:  # a worker that cannot answer cannot be relied on
            return False
        return bool(answers) and all(a is True for a in answers.values())

    def close(self) -> None:
        if self._own_client:
            try:
                self.client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()


_last_run: str | None = None  # in a worker process: the run whose task it ran last


def fresh(run: str, fn: Callable[..., T], *args: Any) -> T:
    """On a worker: ``fn(*args)``; first, when it is the first task of a new run here,
    forget what the worker's filesystems (fsspec) remember of listings. A worker outlives
    the runs of a cluster that is not the LocalCluster of one batch: a listing cached in an
    earlier run would show an object as it was then, and an object changed since could
    not be read (the version listed is no longer in the store). Within a run, the listings
    made by its first tasks are kept (no request per file)."""
    global _last_run
    if run != _last_run:
        storage.forget_all_listings()
        _last_run = run
    return fn(*args)


def holds(path: str, data: bytes) -> bool:
    """On a worker: the file at ``path`` holds exactly ``data``."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(data) + 1) == data
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
