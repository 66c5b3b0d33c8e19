"""The ``boamps-etl`` command: the group, its commands, and :func:`main`, the entry point.

Commands are thin wrappers over the library, one module per group (:mod:`.convert`,
:mod:`.mapping`, :mod:`.batch`, :mod:`.toolbox`, :mod:`.run`); what they share is in
:mod:`.common`.
This module imports them; they never import it.

Exit codes: 0 everything written and valid; 1 some rows or reports invalid (the valid ones
are written, each problem is listed); 2 usage or input error (nothing written).
"""

from __future__ import annotations

import sys
import traceback

import click

from ..errors import BoampsEtlError
from . import batch, run, toolbox
from .common import EXIT_INPUT, EXIT_OK, State, _fail
from .convert import convert_cmd
from .mapping import mapping_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI, turning any unexpected error into one line (exit 2)."""
    try:
        cli.main(args=argv, prog_name="boamps-etl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INPUT)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BoampsEtlError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo("interrupted: no partial output was left", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as exc:
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(please report it; --debug shows the traceback)", err=True)
        if State.debug or "--debug" in (argv or sys.argv):
            traceback.print_exc()
        sys.exit(EXIT_INPUT)
