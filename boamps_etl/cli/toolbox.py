"""Commands of the report toolbox: thin wrappers over :mod:`boamps_etl.toolbox`.

``register(cli)`` adds them to the main group: ``init-context``, ``validate``, ``flatten``,
``unflatten``, ``summary`` and ``schema``. Library errors become one stderr line and exit
code 2 (through :func:`boamps_etl.cli.common._run`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import EXIT_INPUT, EXIT_INVALID, EXIT_OK, _run, force_option

VALIDATE_EXIT_CODES = """\b
Exit codes:
  0  every report valid (and at --level when given)
  1  some report invalid or below --level
  2  an input cannot be read (missing, not UTF-8, bad JSON: file, line, column named)"""


@click.command("init-context")
@click.argument("csvs", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: print the template).")
@force_option("Overwrite an existing --out file.")
def init_context_cmd(csvs: tuple[Path, ...], out: Path | None, force: bool) -> None:
    """Write a commented YAML context template: the fields the trackers cannot record.

    Required fields come first with a null value to replace; optional ones are commented
    out. Given files (CodeCarbon CSVs or other trackers' files), the template shows what
    they already hold, asks for what their trackers do not record, and has one `match`
    section per project_name (task_name for task files).
    """
    from .. import toolbox

    text = _run(toolbox.init_context, csvs, out, force=force)
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out}: fill the REQUIRED values, then run boamps-etl convert "
                   f"{' '.join(str(c) for c in csvs) or 'emissions.csv'} --context {out}",
                   err=True)


@click.command("validate", epilog=VALIDATE_EXIT_CODES)
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one machine-readable result on stdout, for CI.")
@click.option("--level", type=click.Choice(["bronze", "silver", "gold"]),
              help="Also require every report to reach this completeness level.")
def validate_cmd(paths: tuple[Path, ...], fmt: str, level: str | None) -> None:
    """Validate BoAmps reports (JSON, JSON Lines, or folders of them) from any producer
    against the official and extension schemas, and grade them bronze/silver/gold.

    Each problem is one line: FILE, report N, field PATH: message.
    """
    from .. import toolbox

    summary = _run(toolbox.validate_paths, paths, level=level)
    if fmt == "json":
        click.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in summary.problem_lines():
            click.echo(line, err=True)
        click.echo(summary.summary_line())
    if summary.unreadable:
        sys.exit(EXIT_INPUT)
    sys.exit(EXIT_OK if summary.passed else EXIT_INVALID)


@click.command("flatten")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", required=True,
              help="FILE.csv or FILE.parquet; "
                   "'-' prints CSV.")
@force_option("Overwrite an existing --out file.")
def flatten_cmd(paths: tuple[Path, ...], out: str, force: bool) -> None:
    """Flatten reports into one row per report, with BoAmps column names
    (measures_0_powerConsumption...)."""
    from .. import toolbox

    frame = _run(toolbox.flatten_paths, paths, out, force=force)
    if out != "-":
        click.echo(f"{len(frame)} report(s), {len(frame.columns)} column(s) -> {out}",
                   err=True)


@click.command("unflatten")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the JSON reports (one file per row).")
@force_option("Overwrite existing report files.")
def unflatten_cmd(file: Path, out: Path, force: bool) -> None:
    """Rebuild JSON reports from a flat CSV or Parquet file (the inverse of flatten)."""
    from .. import toolbox

    docs = _run(toolbox.unflatten_file, file, out, force=force)
    click.echo(f"{len(docs)} report(s) -> {out}/", err=True)


@click.command("summary")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--by", type=click.Choice(["run", "project", "task"]), default="run",
              show_default=True,
              help="run: one row per report; project: header.publisher.projectName; "
                   "task: taskStage / taskFamily.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw FILE.png (needs boamps-etl[plot]) or FILE.html (self-contained).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True)
@force_option("Overwrite an existing --plot file.")
def summary_cmd(paths: tuple[Path, ...], by: str, plot: Path | None, fmt: str,
                force: bool) -> None:
    """Energy (kWh, total and CPU/GPU/RAM), duration (s), emissions (kg CO2eq), carbon
    intensity (g/kWh) and level of reports, per run, project or task."""
    from .. import toolbox

    frame = _run(toolbox.summarize, list(paths), by=by)
    if plot is not None:
        _run(toolbox.plot_summary, frame, plot, force=force)
    if fmt == "csv":
        click.echo(frame.to_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.reset_index().to_json(orient="records", indent=2))
    else:
        click.echo(frame.to_string(float_format=lambda v: f"{v:.6g}"))
    if plot is not None:
        click.echo(f"plot -> {plot}", err=True)


@click.command("schema")
@click.option("--official", is_flag=True,
              help="The official BoAmps report schema, $refs inlined (draft-04).")
@click.option("--extension", is_flag=True,
              help="The boamps-etl extension schema (extra fields, units, bounds).")
def schema_cmd(official: bool, extension: bool) -> None:
    """Print the JSON Schema reports are validated with (default: official and extension
    combined with allOf)."""
    from .. import toolbox

    if official and extension:
        raise click.UsageError("--official and --extension print one schema each: give one "
                               "of them, or neither for both combined (allOf)")
    which = "official" if official else "extension" if extension else "combined"
    doc = _run(toolbox.schema_document, which)
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


COMMANDS = (init_context_cmd, validate_cmd, flatten_cmd, unflatten_cmd, summary_cmd,
            schema_cmd)


def register(cli: click.Group) -> None:
    """Add the toolbox commands to ``cli``; commands it has already are left alone, so
    registering twice is harmless."""
    for command in COMMANDS:
        if command.name not in cli.commands:
            cli.add_command(command)
