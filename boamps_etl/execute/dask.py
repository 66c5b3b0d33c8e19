"""Tasks on a ``dask.distributed`` cluster (the optional extra ``boamps-etl[dask]``).

Dask does the scheduling, the balancing and the retries: a task whose worker dies is run
again on another worker (``distributed.scheduler.allowed-failures`` times). Tasks must
therefore be pure: the batch's tasks read their sources and return results, and only the
client writes outputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ExecutionError, MissingExtraError, UsageError
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
        self.dashboard: str | None = None
        try:
            services = client.scheduler_info().get("services", {})
            if "dashboard" in services:
                self.dashboard = str(client.dashboard_link)
        except Exception:  # the link is a courtesy, never a failure
            self.dashboard = None

    def submit(self, fn: Callable[..., T], *args: Any) -> TaskFuture[T]:
        future: TaskFuture[T] = self.client.submit(fn, *args, pure=False)
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

    def close(self) -> None:
        if self._own_client:
            try:
                self.client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
