"""The ``convert`` command: a thin wrapper over :func:`boamps_etl.api.convert_to`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError, Location, OutputError
from .common import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    EXIT_OK,
    PathOrURL,
    _fail,
    _run,
    allow_incomplete_option,
    context_option,
    force_option,
    jobs_option,
    mapping_option,
    per_row_option,
    print_issues,
    quiet_option,
    report_format_option,
    set_option,
    tracker_option,
)


@click.command("convert", epilog=EXIT_CODES_HELP)
@click.argument("inputs", nargs=-1, required=True,
                type=PathOrURL(exists=True, allow_dash=True))
@context_option("Context file (YAML/JSON) with what the tracker cannot know; repeatable, "
                "later files override earlier ones.")
@mapping_option("Mapping file extending the built-in mapping of the inputs' tracker.")
@tracker_option("Read every input as this tracker's file instead of recognising it from "
                "its content.")
@set_option("Set a BoAmps field, e.g. --set task.taskStage=inference; wins over all.")
@report_format_option("json: one file per report in the --out folder; jsonl/csv/parquet: "
                      "one file (csv and parquet: the flat table, one row per report; "
                      "parquet with typed columns).", parquet=True)
@click.option("-o", "--out", default=None,
              help="Folder (json) or file (jsonl/csv/parquet); '-' for stdout. "
                   "[default: boamps-reports, boamps-reports.jsonl, .csv or .parquet]")
@force_option("Overwrite existing outputs.")
@allow_incomplete_option
@per_row_option
@jobs_option
@quiet_option("No summary; the problems are still listed.")
def convert_cmd(inputs: tuple[Path | str, ...], contexts: tuple[Path | str, ...],
                mapping: Path | str | None,
                sets: tuple[str, ...], fmt: str, out: str | None, force: bool,
                allow_incomplete: bool, per_row: bool, jobs: int, tracker: str | None,
                quiet: bool) -> None:
    """Convert energy trackers' files into BoAmps reports.

    CodeCarbon CSVs (any version 1.x-3.x, .csv or .csv.gz), eco2ai CSVs, carbontracker
    output logs, Zeus logs, perun CSV and JSON exports, optimum-benchmark reports and AI
    Energy Score summaries, each recognised from its content (--from forces one); '-'
    (standard input), a FIFO or a <(...) process substitution as well. CodeCarbon
    rows sharing a run_id (cumulative flushes) give one report, from the last row; task
    files give one report per task. Every report is validated against the official
    BoAmps schema and the extension schema before it is written. Worker processes (--jobs)
    serve large clean CSVs, whatever the format.
    """
    from .. import api

    for path in inputs:
        if isinstance(path, Path) and path.is_dir():
            _fail(InputError(
                "is a folder: 'convert' takes CSV files", Location(path),
                f"to convert every CodeCarbon CSV below it, run 'boamps-etl batch {path} -o "
                "OUT'; or name the CSVs, e.g. 'boamps-etl convert "
                f"{path / 'emissions.csv'}'"))
    target = out or {"json": "boamps-reports", "jsonl": "boamps-reports.jsonl",
                     "csv": "boamps-reports.csv", "parquet": "boamps-reports.parquet"}[fmt]
    _refuse_overwriting_inputs(target, [*inputs, *contexts, *([mapping] if mapping else [])])
    if target != "-":  # an unwritable output is said before any input is read
        from ..io.writers import check_writable

        _run(check_writable, Path(target) if fmt == "json" else
             (Path(target).parent if str(Path(target).parent) else Path(".")))
    summary = _run(api.convert_to, list(inputs), target, fmt, context=list(contexts),
                   sets=sets, mapping=mapping, per_row=per_row,
                   allow_incomplete=allow_incomplete, force=force, jobs=jobs, tracker=tracker)
    print_issues(summary.issues)
    failed = summary.failed(allow_incomplete)
    if quiet:
        sys.exit(EXIT_INVALID if failed else EXIT_OK)
    counts = summary.counts
    dest = "stdout" if target == "-" else (target if fmt != "json" else f"{target}/")
    written = summary.reports_written
    click.echo(
        f"{summary.reports} report(s) from {len(summary.files)} file(s), "
        f"{summary.rows_read} row(s): {counts['valid']} valid, {counts['incomplete']} incomplete"
        f"{' (written as drafts)' if allow_incomplete else ''}, {counts['invalid']} invalid; "
        + (f"{summary.duplicates} duplicate(s) not written; " if summary.duplicates else "")
        + f"{written} written" + (f" to {dest}" if written else ""), err=True)
    if counts["valid"]:
        from ..levels import format_counts

        click.echo(f"levels of the valid reports: {format_counts(summary.levels)}", err=True)
    sys.exit(EXIT_INVALID if failed else EXIT_OK)


def _refuse_overwriting_inputs(target: str, inputs: list[Path | str]) -> None:
    """Inputs are never written, not even with --force (``-o emissions.csv --format csv``)."""
    out = Path(target)
    if target == "-" or not out.is_file():
        return
    for path in inputs:
        if isinstance(path, Path) and path.is_file() and out.samefile(path):
            _fail(OutputError("--out is one of the input files: refusing to overwrite it",
                              Location(out), "choose another --out"))
