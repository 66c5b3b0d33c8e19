"""boamps-etl: convert AI energy trackers' files (CodeCarbon, eco2ai, carbontracker, Zeus,
perun, optimum-benchmark, AI Energy Score) into schema-valid BoAmps reports.

>>> import boamps_etl as be
>>> frame = be.read_csv("emissions.csv")                       # doctest: +SKIP
>>> result = be.convert(frame, context="boamps.yaml")           # doctest: +SKIP
>>> be.to_frame(result.valid)                                    # doctest: +SKIP
"""

from __future__ import annotations

import sys as _sys
from typing import Any

__version__ = "0.1.0"


def _quiet_interrupt_while_starting() -> None:
    """In the ``boamps-etl`` command (or ``python -m boamps_etl``): Ctrl-C while the modules
    load (about half a second) ends the command with the line and exit code it gives later,
    not a traceback. ``cli.main`` puts Python's handler back before the command starts; a
    SIGINT the shell ignores (a background job) stays ignored."""
    import os
    import signal

    argv = getattr(_sys, "orig_argv", [])
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else None
    command = module == "boamps_etl" or os.path.basename(
        _sys.argv[0] if _sys.argv else "") in ("boamps-etl", "boamps-etl.exe")
    if not command or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def _interrupted_while_starting(signum: int, frame: Any) -> None:
        os.write(2, b"interrupted: no partial output was left\n")
        os._exit(130)

    signal.signal(signal.SIGINT, _interrupted_while_starting)


_quiet_interrupt_while_starting()

# Heavy modules (pandas, jsonschema) load on first use, so `import boamps_etl` and the
# command line start fast.
_EXPORTS = {
    "read_csv": "api", "convert": "api", "convert_to": "api", "ConvertSummary": "api",
    "validate": "api", "to_frame": "api",
    "from_frame": "api", "write": "api", "mapping_table": "api", "table_from_frame": "api",
    "detect_tracker": "api", "tracker_names": "api",
    "ConversionResult": "pipeline", "ConvertedReport": "pipeline",
    "load_mapping": "mapping", "FieldMapping": "mapping", "load_context": "context",
    "Context": "context", "flatten": "flatten", "unflatten": "flatten",
    "read_codecarbon_csv": "io.readers", "CsvTable": "io.readers",
    "Issue": "errors", "Location": "errors", "BoampsEtlError": "errors",
    "InputError": "errors", "MappingError": "errors", "ContextError": "errors",
    "OutputError": "errors", "Report": "models",
    "convert_tree": "batch", "explain": "batch", "BatchResult": "batch",
    "MissingExtraError": "errors",
    "track": "tracking.notebook", "run_command": "tracking.command",
    "RunResult": "tracking.command", "BoampsOutput": "tracking.handler",
}

# BoampsOutput subclasses CodeCarbon's BaseOutput: reachable as an attribute, but not part of
# `from boamps_etl import *`, which must work without the `track` extra.
_NEEDS_EXTRA = {"BoampsOutput"}
__all__ = sorted([*(n for n in _EXPORTS if n not in _NEEDS_EXTRA), "__version__"])


# `validate` and `flatten` are also module names: bind the functions explicitly, after the
# modules are loaded, so `boamps_etl.validate` is always the function.
from .api import validate as validate  # noqa: E402
from .flatten import flatten as flatten  # noqa: E402
from .flatten import unflatten as unflatten  # noqa: E402


def __getattr__(name: str) -> Any:
    if name == "Mapping":  # the old name, which shadowed collections.abc.Mapping
        import warnings

        warnings.warn("boamps_etl.Mapping is now boamps_etl.FieldMapping; the old name will "
                      "be removed", DeprecationWarning, stacklevel=2)
        name = "FieldMapping"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'boamps_etl' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"boamps_etl.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
