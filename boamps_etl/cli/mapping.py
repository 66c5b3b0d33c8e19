"""The ``mapping`` command group: ``mapping show``, over :func:`boamps_etl.api.mapping_table`."""

from __future__ import annotations

from pathlib import Path

import click

from ..trackers import tracker_names
from .common import _run, mapping_option


@click.group("mapping")
def mapping_group() -> None:
    """Inspect mappings."""


@mapping_group.command("show")
@mapping_option("Mapping file (extends the built-in one); default: the built-in mapping.")
@click.option("--tracker", type=click.Choice(tracker_names()), default=None, metavar="NAME",
              help="The tracker whose built-in mapping is shown or extended: "
                   f"{', '.join(tracker_names())}.  [default: codecarbon]")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "markdown"]),
              default="text", show_default=True)
def mapping_show(mapping: Path | None, tracker: str | None, fmt: str) -> None:
    """Print the effective field table: BoAmps path, source, transform, unit."""
    from .. import api

    rows = _run(api.mapping_table, mapping, tracker=tracker)
    if fmt == "markdown":
        click.echo(markdown_table(rows), nl=False)
        return
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


MARKDOWN_COLUMNS = ("path", "source", "transform", "unit", "when", "note")


def markdown_table(rows: list[dict[str, str]]) -> str:
    """The field table as a Markdown table (``docs/fields.md`` is this table)."""

    def cell(text: str, code: bool) -> str:
        text = text.replace("|", "\\|").replace("\n", " ")
        return f"`{text}`" if code and text else text

    lines = ["| " + " | ".join(MARKDOWN_COLUMNS) + " |",
             "|" + "---|" * len(MARKDOWN_COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(cell(r.get(c, ""), c in ("path", "source", "when"))
                                       for c in MARKDOWN_COLUMNS) + " |")
    return "\n".join(lines) + "\n"
