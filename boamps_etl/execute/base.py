"""The executor interface and the in-process executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: Executor names accepted by ``--executor``.
EXECUTORS: tuple[str, ...] = ("local", "dask")


class TaskFuture(Protocol[T_co]):
    """What ``submit`` returns: concurrent.futures and dask futures both fit."""

    def result(self) -> T_co: ...

    def done(self) -> bool: ...


class Executor(Protocol):
    """Runs picklable functions somewhere and hands back futures.

    Attributes:
        name: 'inline', 'local' or 'dask'.
        per_file: the caller should send one task per source file rather than per folder
            (a cluster balances many small tasks better than few uneven ones).
        dashboard: a URL where the work can be watched, or None.
    """

    name: str
    per_file: bool
    dashboard: str | None

    def submit(self, fn: Callable[..., T], *args: Any) -> TaskFuture[T]:
        """Start ``fn(*args)``; the result (or the exception) comes from the future."""
        ...

    def gather(self, futures: list[TaskFuture[T]]) -> list[T]:
        """The results of several futures at once (one round trip on a cluster)."""
        ...

    def close(self) -> None:
        """Stop the workers this executor started (pending tasks are cancelled)."""
        ...

    # Optional: ``slots() -> int``, the tasks that run at once (worker threads); callers
    # keep a few times that many in flight. Executors without it count as ``jobs``.
    # Optional: ``sees(folder: Path) -> bool``, whether the workers see a local folder as
    # the caller does (they may then spool large files' reports there). Executors without
    # it: only 'inline' and 'local' do.


class _Deferred:
    """A future computed in the calling thread when its result is first asked for, so
    that work runs in the order results are consumed, one at a time (no memory build-up)."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._value: Any = None
        self._done = False

    def result(self) -> Any:
        if not self._done:
            value = self._fn(*self._args)
            self._value, self._done = value, True
            self._fn, self._args = None, ()  # type: ignore[assignment]
        return self._value

    def done(self) -> bool:
        return self._done


class InlineExecutor:
    """Everything in this process, lazily: ``submit`` defers the call to ``result()``."""

    name = "inline"
    per_file = False
    dashboard: str | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> TaskFuture[T]:
        return _Deferred(fn, args)

    def gather(self, futures: list[TaskFuture[T]]) -> list[T]:
        return [f.result() for f in futures]

    def slots(self) -> int:
        """Tasks that run at once (see :meth:`Executor.slots`)."""
        return 1

    def close(self) -> None:
        pass
