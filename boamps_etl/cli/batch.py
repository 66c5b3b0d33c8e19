"""The ``batch`` command: a thin wrapper over :func:`boamps_etl.batch.convert_tree` and
:func:`boamps_etl.batch.explain`. :mod:`boamps_etl.cli.main` adds it with :func:`register`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from .common import (
    EXIT_INVALID,
    EXIT_OK,
    PathOrURL,
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

if TYPE_CHECKING:
    from ..batch import BatchProgress, BatchResult, Explanation

BATCH_EXIT_CODES_HELP = """\b
Exit codes:
  0  every report written and valid (duplicates and non-CodeCarbon files are fine)
  1  some report invalid or incomplete, or some file could not be converted
     (the rest is written; manifest.csv lists each problem)
  2  usage error: a ROOT is missing, --out is not writable, a --context/--mapping is broken"""


class _Progress:
    """Progress on stderr: a live line on a terminal, a plain line every 10 s otherwise."""

    INTERVAL_TTY = 0.1
    INTERVAL_PLAIN = 10.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last = time.monotonic()
        self.width = 0

    def line(self, p: BatchProgress) -> str:
        rate = p.files_done / p.elapsed if p.elapsed > 0 else 0.0
        total = max(p.files_total, 1)
        filled = int(20 * p.files_done / total)
        bar = f"[{'#' * filled}{'.' * (20 - filled)}] " if self.tty else ""
        return (f"{bar}{p.files_done}/{p.files_total} files, {p.rows} rows, "
                f"{p.reports} reports, {rate:.1f} files/s")

    def __call__(self, p: BatchProgress) -> None:
        now = time.monotonic()
        done = p.files_done == p.files_total
        interval = self.INTERVAL_TTY if self.tty else self.INTERVAL_PLAIN
        if not done and now - self.last < interval:
            return
        if not self.tty and (p.files_done == 0 or done):
            return  # the end summary says it all
        self.last = now
        text = self.line(p)
        if self.tty:
            pad = " " * max(0, self.width - len(text))
            self.stream.write(f"\r{text}{pad}")
            self.width = len(text)
        else:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _summary(result: BatchResult) -> str:
    from ..levels import format_counts

    c = result.counts
    unchanged = f" ({result.unchanged} unchanged)" if result.unchanged else ""
    incomplete = f", {c['incomplete']} incomplete" + (
        " (drafts)" if result.allow_incomplete else "")
    return (f"{result.files} file(s){unchanged}, {result.rows} row(s), {result.runs} run(s): "
            f"{result.reports} report(s), {c['valid']} valid{incomplete}, "
            f"{c['invalid']} invalid; {c['duplicate']} duplicate(s), {c['skipped']} skipped, "
            f"{c['error']} error(s); {len(result.written)} file(s) written in "
            f"{result.elapsed:.1f} s; manifest: {result.out / 'manifest.csv'}\n"
            f"levels of the valid reports: {format_counts(result.level_counts())}")


def _show_explanation(e: Explanation) -> None:
    import yaml

    click.echo(f"source:  {e.source}  (ROOT {e.root})")
    click.echo("context, in the order applied (later ones override earlier ones):")
    step = 0
    for path in e.context_files:
        step += 1
        click.echo(f"  {step}. {path}")
    for assignment in e.sets:
        step += 1
        click.echo(f"  {step}. --set {assignment}")
    if not step:
        click.echo("  (none)")
    chosen = e.mapping_file if e.mapping_file is not None else "built-in mapping"
    click.echo(f"mapping: {chosen}")
    for path in e.mapping_files:
        click.echo(f"  {path}")
    click.echo("merged context:")
    text = yaml.safe_dump(e.context, sort_keys=False, allow_unicode=True) if e.context else "{}\n"
    click.echo("".join(f"  {line}\n" for line in text.splitlines()), nl=False)
    for m in e.matches:
        click.echo(f"match ({m['file']}): when {m['when']}: {m['values']}")
    if e.error is not None:
        click.echo(f"error: {e.error}", err=True)


def register(cli: click.Group) -> None:
    """Add the ``batch`` command to ``cli`` (a second call does nothing)."""
    if "batch" in cli.commands:
        return

    @cli.command("batch", epilog=BATCH_EXIT_CODES_HELP)
    @click.argument("roots", metavar="ROOT...", nargs=-1, required=True,
                    type=PathOrURL(exists=True, file_okay=False))
    @click.option("-o", "--out", required=True, type=PathOrURL(file_okay=False),
                  help="Output folder (or URL: s3://bucket/reports/...): mirrors the ROOT "
                       "tree; manifest.csv goes here.")
    @context_option("Context file applied under every boamps.yaml found; repeatable.")
    @mapping_option("Mapping for folders with no boamps-mapping.yaml above them.")
    @report_format_option(
        "json: a file per report; jsonl/csv: a file per folder, plus all.<fmt>.")
    @jobs_option
    @click.option("--glob", "globs", multiple=True, metavar="PATTERN",
                  help="File pattern replacing the defaults (emissions*.csv, "
                       "emissions*.csv.bak, emissions*.csv_*.bak, *.csv.gz, and the other "
                       "trackers' files: see docs/trackers.md); repeatable.")
    @tracker_option("Read every file found as this tracker's instead of recognising it "
                    "from its content.")
    @force_option("Convert everything again, even up-to-date sources.")
    @click.option("--fail-fast", is_flag=True,
                  help="Stop after the first folder with an invalid report or an error.")
    @quiet_option("No progress and no summary; the problems are still listed.")
    @click.option("--explain", "explain_path", metavar="PATH",
                  type=PathOrURL(exists=True),
                  help="Show which context and mapping files apply to PATH, and the merged "
                       "context; converts nothing.")
    @allow_incomplete_option
    @per_row_option
    @set_option("Set a BoAmps field for every report, e.g. --set task.taskStage="
                "inference; wins over all context files.")
    @click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
                  show_default=True,
                  help="Where files are converted: this machine (--jobs processes), or a "
                       "dask.distributed cluster (one task per file).")
    @click.option("--scheduler", metavar="ADDRESS", default=None,
                  help="Dask scheduler (tcp://host:8786); default: DASK_SCHEDULER_ADDRESS, "
                       "else a local cluster of --jobs processes.")
    def batch_cmd(roots: tuple[Path | str, ...], out: Path | str,
                  contexts: tuple[Path | str, ...], mapping: Path | str | None, fmt: str,
                  jobs: int, globs: tuple[str, ...], force: bool, fail_fast: bool,
                  quiet: bool, explain_path: Path | str | None, allow_incomplete: bool,
                  per_row: bool, sets: tuple[str, ...], tracker: str | None, executor: str,
                  scheduler: str | None) -> None:
        """Convert every tracker's file under ROOT folders, mirroring the tree under --out.

        CodeCarbon CSVs, eco2ai CSVs, carbontracker output logs, Zeus and perun files,
        optimum-benchmark reports and AI Energy Score summaries are found by name and
        recognised from their content; manifest.csv names each file's tracker.

        A boamps.yaml (.yml, .json) in a folder is the context of every CSV below it (nearer
        files override farther ones; --context files come first, --set last); the nearest
        boamps-mapping.yaml is the mapping. A re-run converts only what changed; --force
        converts everything. manifest.csv lists every report and every problem.
        """
        from .. import batch

        if explain_path is not None:
            explanation = _run(batch.explain, explain_path, roots=list(roots),
                               contexts=list(contexts), mapping=mapping, sets=sets)
            _show_explanation(explanation)
            sys.exit(EXIT_INVALID if explanation.error is not None else EXIT_OK)
        from ..execute import make_executor
        from ..jobs import resolve_jobs

        runner = _run(make_executor, executor, _run(resolve_jobs, jobs), scheduler) \
            if executor == "dask" or scheduler else None
        if runner is not None and runner.dashboard and not quiet:
            click.echo(f"dask dashboard: {runner.dashboard}", err=True)
        progress = None if quiet else _Progress(sys.stderr)
        kwargs: dict[str, Any] = {
            "contexts": list(contexts), "mapping": mapping, "sets": sets, "format": fmt,
            "jobs": jobs, "globs": list(globs) or None, "force": force,
            "fail_fast": fail_fast, "allow_incomplete": allow_incomplete,
            "per_row": per_row, "progress": progress, "tracker": tracker,
            "executor": runner if runner is not None else "local",
        }
        try:
            result: BatchResult = _run(batch.convert_tree, list(roots), out, **kwargs)
        finally:
            if progress is not None:
                progress.clear()
            if runner is not None:
                runner.close()
        print_issues(list(dict.fromkeys(result.issues)))  # a broken context: one line
        if result.stopped:
            click.echo("stopped at the first failing folder (--fail-fast)", err=True)
        if not quiet:
            click.echo(_summary(result), err=True)
        sys.exit(EXIT_OK if result.ok else EXIT_INVALID)
