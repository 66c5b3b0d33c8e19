"""Command line: thin wrappers over :mod:`boamps_etl.api` (the only module importing click).

Exit codes: 0 everything written and valid; 1 some rows or reports invalid (the valid ones
are written, each problem is listed); 2 usage or input error (nothing written).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import click

from .errors import BoampsEtlError, Issue, Location, OutputError, row_ranges

EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 1, 2
EXIT_CODES_HELP = """\b
Exit codes:
  0  everything written and valid
  1  some rows or reports invalid: the valid ones are written, each problem is listed
  2  usage or input error: nothing written"""


class State:
    debug = False


def _fail(exc: BoampsEtlError) -> NoReturn:
    click.echo(f"error: {exc.issue}", err=True)
    if State.debug:
        traceback.print_exc()
    sys.exit(EXIT_INPUT)


def _run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a library function; its errors become one line on stderr and exit code 2."""
    try:
        return func(*args, **kwargs)
    except BoampsEtlError as exc:
        _fail(exc)


def print_issues(issues: Iterable[Issue], limit: int = 50) -> None:
    """One line per problem; the same message on many rows of a file becomes one line."""
    groups: dict[tuple[str, str, str | None, str | None, str | None, str], list[int]] = {}
    singles: list[Issue] = []
    for issue in issues:
        w = issue.where
        if w.row is None:
            singles.append(issue)
            continue
        key = (issue.severity, str(w.file), w.column, w.json_path, issue.hint, issue.message)
        groups.setdefault(key, []).append(w.row)
    lines = [f"{i.severity}: {i}" for i in singles]
    for (severity, file, column, json_path, hint, message), rows in groups.items():
        label = f"row {rows[0]}" if len(rows) == 1 else f"rows {row_ranges(rows)} ({len(rows)})"
        where = ", ".join(p for p in (file, label, f"column '{column}'" if column else None,
                                      f"field {json_path}" if json_path else None) if p)
        lines.append(f"{severity}: {where}: {message}" + (f" ({hint})" if hint else ""))
    for line in lines[:limit]:
        click.echo(line, err=True)
    if len(lines) > limit:
        click.echo(f"... and {len(lines) - limit} more problem lines", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="boamps-etl")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
def cli(debug: bool) -> None:
    """Convert CodeCarbon emissions CSVs into schema-valid BoAmps energy reports."""
    State.debug = debug


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["json", "jsonl", "csv"]), default="json",
    show_default=True, help="json: one file per report in the --out folder; jsonl/csv: one file.")


@cli.command("convert", epilog=EXIT_CODES_HELP)
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-c", "--context", "contexts", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Context file (YAML/JSON) with what CodeCarbon cannot know; repeatable, "
                   "later files override earlier ones.")
@click.option("-m", "--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mapping file extending the built-in CodeCarbon mapping.")
@click.option("-s", "--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Set a BoAmps field, e.g. --set task.taskStage=inference; wins over all.")
@FORMAT_OPTION
@click.option("-o", "--out", default=None,
              help="Folder (json) or file (jsonl/csv); '-' for stdout. "
                   "[default: boamps-reports, boamps-reports.jsonl or .csv]")
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("--allow-incomplete", is_flag=True,
              help="Write reports that only lack fields CodeCarbon cannot know, as drafts.")
@click.option("--per-row", is_flag=True,
              help="One report per CSV row instead of one per run_id.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for a large clean CSV written as jsonl (the output is "
                   "the same whatever the number).  [default: one per core]")
def convert_cmd(inputs: tuple[Path, ...], contexts: tuple[Path, ...], mapping: Path | None,
                sets: tuple[str, ...], fmt: str, out: str | None, force: bool,
                allow_incomplete: bool, per_row: bool, jobs: int | None) -> None:
    """Convert CodeCarbon CSVs (any version 1.x-3.x, .csv or .csv.gz) into BoAmps reports.

    Rows sharing a run_id (CodeCarbon's cumulative flushes) give one report, from the last
    row; task files give one report per task. Every report is validated against the official
    BoAmps schema and the extension schema before it is written.
    """
    from . import api

    target = out or {"json": "boamps-reports", "jsonl": "boamps-reports.jsonl",
                     "csv": "boamps-reports.csv"}[fmt]
    _refuse_overwriting_inputs(target, [*inputs, *contexts, *([mapping] if mapping else [])])
    if target != "-":  # an unwritable output is said before any input is read
        from .io.writers import check_writable

        _run(check_writable, Path(target) if fmt == "json" else
             (Path(target).parent if str(Path(target).parent) else Path(".")))
    summary = _run(api.convert_to, list(inputs), target, fmt, context=list(contexts),
                   sets=sets, mapping=mapping, per_row=per_row,
                   allow_incomplete=allow_incomplete, force=force, jobs=jobs)
    print_issues(summary.issues)
    counts = summary.counts
    dest = "stdout" if target == "-" else (target if fmt != "json" else f"{target}/")
    written = summary.reports_written
    click.echo(
        f"{summary.reports} report(s) from {len(summary.files)} file(s), "
        f"{summary.rows_read} row(s): {counts['valid']} valid, {counts['incomplete']} incomplete"
        f"{' (written as drafts)' if allow_incomplete else ''}, {counts['invalid']} invalid; "
        f"{written} written" + (f" to {dest}" if written else ""), err=True)
    if counts["valid"]:
        from .levels import format_counts

        click.echo(f"levels of the valid reports: {format_counts(summary.levels)}", err=True)
    sys.exit(EXIT_INVALID if summary.failed(allow_incomplete) else EXIT_OK)


def _refuse_overwriting_inputs(target: str, inputs: list[Path]) -> None:
    """Inputs are never written, not even with --force (``-o emissions.csv --format csv``)."""
    out = Path(target)
    if target == "-" or not out.is_file():
        return
    for path in inputs:
        if path.is_file() and out.samefile(path):
            _fail(OutputError("--out is one of the input files: refusing to overwrite it",
                              Location(out), "choose another --out"))


@cli.group("mapping")
def mapping_group() -> None:
    """Inspect mappings."""


@mapping_group.command("show")
@click.option("-m", "--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mapping file (extends the built-in one); default: the built-in mapping.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True)
def mapping_show(mapping: Path | None, fmt: str) -> None:
    """Print the effective field table: BoAmps path, source, transform, unit."""
    from . import api

    rows = _run(api.mapping_table, mapping)
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    cols = ("path", "source", "transform", "unit", "when")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    widths = {c: min(w, 48) for c, w in widths.items()}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        click.echo("  ".join(r[c][: widths[c]].ljust(widths[c]) for c in cols).rstrip())


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


def _register_commands() -> None:
    # Commands living in their own modules (still thin wrappers over library functions).
    from . import cli_batch, cli_run, cli_toolbox

    cli_batch.register(cli)
    cli_toolbox.register(cli)
    cli_run.register(cli)


_register_commands()
