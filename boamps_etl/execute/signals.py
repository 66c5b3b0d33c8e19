"""Signals and worker processes: Ctrl-C and SIGTERM stop a run cleanly, and no worker
outlives the process that started it.

* The parent handles Ctrl-C (``KeyboardInterrupt``) and SIGTERM (:class:`Terminated`, a
  ``KeyboardInterrupt`` too, so the same clean-up runs); it then stops its workers.
* Workers ignore SIGINT (Ctrl-C reaches the whole process group: only the parent acts, and
  no worker prints a traceback) and die on SIGTERM, which is how the parent stops them.
* Workers are forked with both signals blocked, so none can arrive before a worker has set
  them up (:func:`forking`).
* A worker dies with its parent, whatever killed the parent (``kill -9`` too): on Linux the
  kernel sends it SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a thread checks the parent's
  process id every half second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM received: raised in the main thread like Ctrl-C, so the same clean-up runs."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Block SIGINT and SIGTERM while worker processes are forked: a worker starts with
    them blocked until :func:`worker_init` has set them up; the parent receives any that
    came meanwhile when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def worker_init(parent: int) -> None:
    """A worker's first step (pool initializer): ignore Ctrl-C, die on SIGTERM, die with
    the parent ``parent`` (its process id, taken before forking)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """End this process as soon as process ``parent`` is gone."""
    if sys.platform.startswith("linux") and _pdeathsig():
        if os.getppid() != parent:  # the parent died before the kernel was told
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="boamps-etl-parent-watch").start()


def _pdeathsig() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def _watch_parent(parent: int) -> None:  # pragma: no cover - platforms without prctl
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def stop_processes(processes: Any) -> None:
    """Terminate worker processes (``multiprocessing.Process`` objects) at once and reap
    them: an interrupted run does not wait for their current work."""
    items = list(processes.values() if isinstance(processes, dict) else processes or ())
    for process in items:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in items:
        with contextlib.suppress(Exception):
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(1)
