"""``boamps-etl run``: a thin wrapper over :func:`boamps_etl.tracking.run_command`.

``register(cli)`` adds the command to the main group. CodeCarbon is imported only when the
command runs, so ``boamps-etl --help`` stays fast and works without the ``track`` extra.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import _fail, context_option, mapping_option, set_option

RUN_EXIT_CODES = """\b
Exit codes:
  N      the command's own exit code (0, 3...)
  128+N  the command was ended by signal N: 130 for SIGINT, 143 for SIGTERM
  126    the command is not executable; 127: not found (nothing measured)
  2      usage, context or mapping error, or CodeCarbon missing (nothing run)"""


@click.command("run", epilog=RUN_EXIT_CODES,
               context_settings={"allow_interspersed_args": False,
                                 "ignore_unknown_options": True})
@context_option("Context file (YAML/JSON) with what CodeCarbon cannot know; repeatable, "
                "later files override earlier ones.")
@set_option("Set a BoAmps field, e.g. --set task.taskStage=inference; wins over all.")
@mapping_option("Mapping file extending the built-in CodeCarbon mapping.")
@click.option("-o", "--out", default="boamps-reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for CodeCarbon's emissions.csv (appended to) and the report(s).")
@click.option("--country", metavar="ISO",
              help="ISO 3166 code of where the command runs (e.g. FRA), for CodeCarbon's "
                   "offline tracker.  [default: the context's environment.countryIsoCode]")
@click.option("--project", metavar="NAME",
              help="CodeCarbon's project_name.  [default: the program's name]")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED,
                metavar="-- CMD [ARGS]...")
def run_cmd(contexts: tuple[Path, ...], sets: tuple[str, ...], mapping: Path | None, out: Path,
            country: str | None, project: str | None, command: tuple[str, ...]) -> None:
    """Run a command under CodeCarbon and write its BoAmps report.

    CodeCarbon's offline tracker (no network) measures the machine while CMD runs; then it
    writes its row to OUT/emissions.csv and the report is made from that row by the same
    mapping as `convert`, validated, and written to OUT. An incomplete context gives a draft
    report and one warning. SIGINT and SIGTERM are passed to CMD; the report covers the
    measured part. The exit code is CMD's.
    """
    from ..errors import BoampsEtlError
    from ..tracking.command import CommandError, run_command

    if command[0].startswith("-"):  # an option `run` does not know, before CMD
        ctx = click.get_current_context()
        known = [o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts)
                 if o.startswith("-")]
        raise click.NoSuchOption(command[0].split("=", 1)[0], possibilities=known, ctx=ctx)
    try:
        result = run_command(list(command), context=list(contexts), sets=sets, out=out,
                             country=country, project=project, mapping=mapping)
    except CommandError as exc:
        click.echo(f"error: {exc.issue}", err=True)
        sys.exit(exc.exit_code)
    except BoampsEtlError as exc:
        _fail(exc)
    run = result.run
    if run is not None:
        for note in run.fallbacks:
            click.echo(f"boamps-etl: CodeCarbon: {note}", err=True)
        if run.emissions_csv is not None and run.emissions_csv.is_file():
            click.echo(f"boamps-etl: CodeCarbon's row: {run.emissions_csv}", err=True)
        for report in [r for r in (run.report, *run.task_reports.values()) if r is not None]:
            state = "draft" if report.status == "incomplete" else report.status
            level = f", level {report.level}" if report.status == "valid" else ""
            path = run.handler.written.get(report.report_id or "")
            measure = (report.document.get("measures") or [{}])[0]
            amounts = f" ({measure.get('powerConsumption')} kWh, " \
                      f"{measure.get('emissions')} kg CO2eq)" if measure else ""
            click.echo(f"boamps-etl: {state} report{level}{amounts}: {path or 'not written'}",
                       err=True)
        if run.report is None:
            click.echo("boamps-etl: no report (see the messages above)", err=True)
    ended = f"exit code {result.returncode}"
    if result.signals:
        import signal

        names = ", ".join(signal.Signals(s).name for s in result.signals)
        ended += f" (after {names})"
    import shlex

    shown = shlex.join(command)
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    click.echo(f"boamps-etl: {shown} ended with {ended} after "
               f"{result.duration:.1f} s", err=True)
    sys.exit(result.returncode)


def register(cli: click.Group) -> None:
    """Add ``run`` to ``cli`` (once)."""
    if "run" not in cli.commands:
        cli.add_command(run_cmd)
