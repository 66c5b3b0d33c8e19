"""The manifest of a batch: its lines (:class:`ManifestEntry`), their CSV text and
DataFrame, and the marking of duplicate reports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Issue, Location, row_ranges

if TYPE_CHECKING:
    import pandas as pd

MANIFEST_NAME = "manifest.csv"
STATUSES: tuple[str, ...] = ("valid", "incomplete", "invalid", "duplicate", "skipped", "error")
MANIFEST_COLUMNS: tuple[str, ...] = ("source", "tracker", "rows", "run_id", "report_id",
                                     "status", "level", "output", "messages", "sha256")


# --------------------------------------------------------------------------- results


@dataclass
class ManifestEntry:
    """One line of the manifest: a report, or a problem that produced no report.

    Attributes:
        source: the CSV, relative to its ROOT (prefixed by the ROOT's name with several
            ROOTs), with ``/`` separators: the same path its outputs have under ``out``.
        rows: the spreadsheet rows (header = 1) the line stands for; empty for whole files.
        run_id: CodeCarbon's run_id.
        report_id: the report's ``header.reportId`` (the key for duplicates).
        status: 'valid', 'incomplete', 'invalid', 'duplicate', 'skipped' or 'error'.
        output: the file written, relative to ``out``; empty when nothing was written.
        issues: the located problems (errors and warnings).
        sha256: content hash of the source file.
        duplicate_of: for duplicates, the source and row of the report that was kept.
    """

    source: str
    rows: tuple[int, ...] = ()
    run_id: str | None = None
    report_id: str | None = None
    status: str = "error"
    output: str | None = None
    issues: list[Issue] = field(default_factory=list)
    sha256: str | None = None
    duplicate_of: str | None = None
    base_status: str = "error"  # the status before duplicates were looked for
    level: str = ""  # completeness level of a written report (boamps_etl.levels)
    tracker: str = ""  # the tool that wrote the source (boamps_etl.trackers); '' unknown
    recovered: tuple[str, ...] = ()  # what was recovered to make the report (see pipeline)

    @property
    def messages(self) -> str:
        """The problems as one manifest cell (``|``-separated, without the source name);
        a report made from a recovered row says so first (``recovered: ...``)."""
        parts: list[str] = []
        if self.recovered:
            parts.append(f"recovered: {'; '.join(self.recovered)}")
        if self.duplicate_of:
            parts.append(f"same report as {self.duplicate_of}")
        for issue in self.issues:
            if self.recovered and issue.code.startswith("recovered-") and \
                    issue.where.row is not None:
                continue  # said by the recovered note
            w = issue.where
            own_row = w.row in self.rows
            where = Location(None if w.file in (None, self.source) else w.file,
                             None if own_row else w.row, w.column, w.json_path,
                             w.line, w.col, None if own_row else w.row_label)
            if own_row and w.row_label is not None and w.column is not None:
                where = Location(where.file, None, w.column, w.json_path, w.line, w.col, "")
            text = f"{where}: {issue.message}" if str(where) else issue.message
            parts.append(text if issue.severity == "error" else f"{issue.severity}: {text}")
        return " | ".join(parts)

    def row_text(self) -> str:
        return _ranges(self.rows)

    def as_row(self) -> dict[str, str]:
        """The manifest line as text cells (``''`` for nothing)."""
        return {"source": self.source, "tracker": self.tracker, "rows": self.row_text(),
                "run_id": self.run_id or "",
                "report_id": self.report_id or "", "status": self.status,
                "level": self.level if self.status in ("valid", "incomplete") else "",
                "output": self.output or "", "messages": self.messages,
                "sha256": self.sha256 or ""}

    def to_state(self) -> dict[str, Any]:
        return {"source": self.source, "rows": list(self.rows), "run_id": self.run_id,
                "report_id": self.report_id, "status": self.status, "output": self.output,
                "issues": [_issue_to_state(i) for i in self.issues], "sha256": self.sha256,
                "duplicate_of": self.duplicate_of, "base_status": self.base_status,
                "level": self.level, "tracker": self.tracker,
                "recovered": list(self.recovered)}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(data["source"], tuple(data["rows"]), data["run_id"], data["report_id"],
                   data["status"], data["output"],
                   [_issue_from_state(i) for i in data["issues"]], data["sha256"],
                   data["duplicate_of"], data["base_status"], data.get("level", ""),
                   data.get("tracker", ""), tuple(data.get("recovered", ())))


# --------------------------------------------------------------------------- helpers


def _ranges(rows: Sequence[int]) -> str:
    """``(2, 3, 4, 7)`` -> ``'2-4;7'`` (the manifest's form)."""
    return row_ranges(rows, ";")


def _issue_to_state(issue: Issue) -> dict[str, Any]:
    w = issue.where
    return {"code": issue.code, "message": issue.message, "severity": issue.severity,
            "hint": issue.hint, "file": None if w.file is None else str(w.file), "row": w.row,
            "column": w.column, "json_path": w.json_path, "line": w.line, "col": w.col,
            "row_label": w.row_label}


def _issue_from_state(data: dict[str, Any]) -> Issue:
    return Issue(data["code"], data["message"],
                 Location(data["file"], data["row"], data["column"], data["json_path"],
                          data["line"], data["col"], data.get("row_label")),
                 data["severity"], data["hint"])


# --------------------------------------------------------------------------- dedupe, rendering


def _dedupe(entries: list[ManifestEntry], seen: dict[str, str]
            ) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Final (status, duplicate_of) of each entry given the reports seen before; and the
    report ids this folder adds. Pure: ``seen`` is not changed."""
    added: dict[str, str] = {}
    out: list[tuple[str, str | None]] = []
    for e in entries:
        rid = e.report_id if e.base_status in ("valid", "incomplete", "invalid") else None
        if rid is None:
            out.append((e.base_status, None))
            continue
        first = seen.get(rid) or added.get(rid)
        if first is not None:
            out.append(("duplicate", first))
        else:
            added[rid] = f"{e.source} row {_ranges(e.rows[-1:])}"
            out.append((e.base_status, None))
    return out, added


def _render_manifest(entries: list[ManifestEntry]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(e.as_row() for e in entries)
    return buf.getvalue()


def manifest_frame(entries: Iterable[ManifestEntry]) -> pd.DataFrame:
    """The manifest lines as a DataFrame of text (``''`` for nothing), as in manifest.csv."""
    import pandas as pd

    return pd.DataFrame([e.as_row() for e in entries], columns=list(MANIFEST_COLUMNS),
                        dtype=object)
