"""The ``boamps-etl`` command: the group, its commands, and :func:`main`, the entry point.

Commands are thin wrappers over the library, one module per group (:mod:`.convert`,
:mod:`.mapping`, :mod:`.batch`, :mod:`.toolbox`, :mod:`.run`); what they share is in
:mod:`.common`.
This module imports them; they never import it.

Exit codes: 0 everything written and valid; 1 some rows or reports invalid (the valid ones
are written, each problem is listed); 2 usage or input error (nothing written).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import NoReturn

import click

from ..errors import BoampsEtlError
from ..execute.signals import Terminated, sigterm_as_interrupt
from . import batch, run, toolbox
from .common import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Group,
    State,
    Stopped,
    _fail,
)
from .convert import convert_cmd
from .mapping import mapping_group


@click.group(cls=Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="boamps-etl")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
def cli(debug: bool) -> None:
    """Convert CodeCarbon emissions CSVs into schema-valid BoAmps energy reports."""
    State.debug = debug


cli.add_command(convert_cmd)
cli.add_command(mapping_group)
batch.register(cli)
toolbox.register(cli)
run.register(cli)


def _exit_now(code: int, line: str) -> NoReturn:
    """Exit after an interrupt: the clean-up is done (work files removed, workers
    stopped), so nothing waits at exit for worker pools that were cut short."""
    click.echo(line, err=True)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI, turning any unexpected error into one line (exit 2).
    Ctrl-C exits with 130 and SIGTERM with 143, after the same clean-up (workers stopped,
    work files removed), with one line on stderr."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    if getattr(handler, "__name__", "") == "_interrupted_while_starting":
        signal.signal(signal.SIGINT, signal.default_int_handler)  # see boamps_etl/__init__.py
    try:
        with sigterm_as_interrupt():
            cli.main(args=argv, prog_name="boamps-etl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INPUT)
    except click.exceptions.Abort:
        click.echo("interrupted: no partial output was left", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BoampsEtlError as exc:
        _fail(exc)
    except (Stopped, KeyboardInterrupt) as exc:
        terminated = exc.terminated if isinstance(exc, Stopped) else \
            isinstance(exc, Terminated)
        _exit_now(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED,
                  f"{'terminated' if terminated else 'interrupted'}: "
                  "no partial output was left")
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except OSError as exc:  # the machine, not a bug: a full disk, an I/O error...
        from ..io.staging import output_error

        _fail(output_error(exc, exc.filename if exc.filename is not None else "output"))
    except Exception as exc:
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(please report it; --debug shows the traceback)", err=True)
        if State.debug or "--debug" in (argv or sys.argv):
            traceback.print_exc()
        sys.exit(EXIT_INPUT)
