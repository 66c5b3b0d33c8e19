"""What every command shares: exit codes, error printing, :func:`_run`, the ``--debug``
state, and the options several commands take, each declared once here so that it means
the same everywhere.

Command modules import this module, never :mod:`boamps_etl.cli.main` (which imports them).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..errors import BoampsEtlError, Issue, row_ranges

EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM
EXIT_CODES_HELP = """\b
Exit codes:
  0  everything written and valid
  1  some rows or reports invalid: the valid ones are written, each problem is listed
  2  usage or input error: nothing written"""

F = TypeVar("F", bound=Callable[..., Any])


class State:
    debug = False


class Stopped(Exception):
    """Ctrl-C or SIGTERM during a command, carried past click (which would turn it into an
    Abort and print a blank line) to :func:`boamps_etl.cli.main.main`."""

    def __init__(self, terminated: bool):
        super().__init__("terminated" if terminated else "interrupted")
        self.terminated = terminated


class Group(click.Group):
    """The command group: an interrupt while a command runs becomes :class:`Stopped`."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..execute.signals import Terminated

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Stopped(isinstance(exc, Terminated)) from None


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
    groups: dict[tuple[str, str, str | None, str | None, str | None, str],
                 list[tuple[int, str | None]]] = {}
    singles: list[Issue] = []
    for issue in issues:
        w = issue.where
        if w.row is None:
            singles.append(issue)
            continue
        key = (issue.severity, str(w.file), w.column, w.json_path, issue.hint, issue.message)
        groups.setdefault(key, []).append((w.row, w.row_label))
    lines = [f"{i.severity}: {i}" for i in singles]
    for (severity, file, column, json_path, hint, message), found in groups.items():
        rows = [row for row, _ in found]
        labels = [text for _, text in found if text is not None]
        if labels:  # records of a JSON report or a log, not rows
            label = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more"
                                             if len(labels) > 3 else "")
        else:
            label = f"row {rows[0]}" if len(rows) == 1 else \
                f"rows {row_ranges(rows)} ({len(rows)})"
        what = "key" if labels else "column"
        where = ", ".join(p for p in (file, label, f"{what} '{column}'" if column else None,
                                      f"field {json_path}" if json_path else None) if p)
        lines.append(f"{severity}: {where}: {message}" + (f" ({hint})" if hint else ""))
    for line in lines[:limit]:
        click.echo(line, err=True)
    if len(lines) > limit:
        click.echo(f"... and {len(lines) - limit} more problem lines", err=True)


class PathOrURL(click.ParamType):  # type: ignore[type-arg]
    """A local path (checked as ``click.Path`` checks it) or an fsspec URL (``s3://``,
    ``gs://``, ``file://``, ``memory://``), passed on as text: the library opens it."""

    name = "path"

    def __init__(self, **path_args: Any) -> None:
        self.local = click.Path(path_type=Path, **path_args)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        from ..io.storage import is_url

        if isinstance(value, str) and is_url(value):
            return value
        return self.local.convert(value, param, ctx)


# Shared options. Each has one meaning; a command may word its help for its own case.

def context_option(help: str) -> Callable[[F], F]:
    """``-c/--context FILE``, repeatable: context files, later ones override earlier ones."""
    return click.option("-c", "--context", "contexts", multiple=True,
                        type=PathOrURL(exists=True, dir_okay=False), help=help)


def mapping_option(help: str) -> Callable[[F], F]:
    """``-m/--mapping FILE``: a mapping file extending the built-in one."""
    return click.option("-m", "--mapping",
                        type=PathOrURL(exists=True, dir_okay=False), help=help)


def set_option(help: str) -> Callable[[F], F]:
    """``-s/--set PATH=VALUE``, repeatable: a BoAmps field set last, over every context."""
    return click.option("-s", "--set", "sets", multiple=True, metavar="PATH=VALUE", help=help)


def report_format_option(help: str, parquet: bool = False) -> Callable[[F], F]:
    """``--format json|jsonl|csv``, with ``parquet`` also ``parquet``: how reports are
    written (``fmt`` in the command)."""
    choices = ["json", "jsonl", "csv", *(["parquet"] if parquet else [])]
    return click.option("--format", "fmt", type=click.Choice(choices),
                        default="json", show_default=True, help=help)


def tracker_option(help: str) -> Callable[[F], F]:
    """``--from TRACKER``: read the inputs as this tracker's files instead of recognising
    them from their content (``tracker`` in the command)."""
    from ..trackers import tracker_names

    return click.option("--from", "tracker", type=click.Choice(tracker_names()), default=None,
                        metavar="TRACKER", help=help + f" TRACKER: {', '.join(tracker_names())}.")


def force_option(help: str) -> Callable[[F], F]:
    """``--force``: overwrite (or redo) what exists."""
    return click.option("--force", is_flag=True, help=help)


def quiet_option(help: str) -> Callable[[F], F]:
    """``-q/--quiet``: no summary (nor progress); the problems are still listed."""
    return click.option("-q", "--quiet", is_flag=True, help=help)


allow_incomplete_option = click.option(
    "--allow-incomplete", is_flag=True,
    help="Write reports that only lack fields CodeCarbon cannot know, as drafts.")

per_row_option = click.option(
    "--per-row", is_flag=True, help="One report per CSV row instead of one per run_id.")

# One meaning for every command (boamps_etl.jobs.resolve_jobs): 0 is one per usable CPU.
jobs_option = click.option(
    "-j", "--jobs", type=click.IntRange(min=0), default=0,
    help="Worker processes; 0: one per CPU this process may use. The output is the same "
         "whatever the number.  [default: 0]")
