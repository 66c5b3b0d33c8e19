"""What ``jobs`` means, for every command and function that takes it.

``jobs`` is a number of worker processes: ``None`` or ``0`` means one per CPU this process may
use (:func:`usable_cpus`), ``N >= 1`` means N. The outputs never depend on it.
"""

from __future__ import annotations

import os

from .errors import UsageError


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one, so a
    container or ``taskset`` limit counts), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """The number of worker processes ``jobs`` asks for.

    >>> resolve_jobs(3)
    3
    >>> resolve_jobs(0) == resolve_jobs(None) == usable_cpus()
    True

    Raises:
        UsageError: ``jobs`` is negative.
    """
    if jobs is None or jobs == 0:
        return usable_cpus()
    if jobs < 0:
        raise UsageError("jobs must be 0 (one per CPU) or more")
    return jobs
