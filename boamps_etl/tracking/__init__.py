"""Live reports: BoAmps reports straight from a CodeCarbon-tracked run.

Three ways, all through the mapping and pipeline of :func:`boamps_etl.convert`:

* :class:`BoampsOutput`: a CodeCarbon output handler, for an ``EmissionsTracker`` of yours;
* :func:`run_command` (``boamps-etl run -- CMD ARGS...``): a command run under CodeCarbon;
* :func:`track`: ``with boamps_etl.track(...) as run:`` in a notebook.

CodeCarbon is the optional extra ``boamps-etl[track]``: without it each of these raises
:class:`boamps_etl.errors.MissingExtraError` saying how to install it. The names load on
first use, so importing this package never needs CodeCarbon.
"""

from __future__ import annotations

from typing import Any

from .live import INSTALL_HINT as INSTALL_HINT
from .live import SUPPORTED_CODECARBON as SUPPORTED_CODECARBON

_EXPORTS = {
    "BoampsOutput": "handler", "track": "notebook", "run_command": "command",
    "RunResult": "command", "CommandError": "command", "TrackedRun": "session",
}

__all__ = sorted([*_EXPORTS, "INSTALL_HINT", "SUPPORTED_CODECARBON"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'boamps_etl.tracking' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"boamps_etl.tracking.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
