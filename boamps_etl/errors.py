"""Located problems and the exception family of boamps-etl.

Every problem the tool finds is an :class:`Issue`: a stable kebab-case ``code``, a one-line
message, and a :class:`Location` naming the file, the 1-based row as a spreadsheet shows it
(the header is row 1), the column or field, and, for reports, the JSON path.
Library functions collect issues and return them; they raise a :class:`BoampsEtlError` only
for problems that stop the whole job (unreadable input, a broken mapping or context).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Location:
    """Where a problem is: file, spreadsheet row (header = 1), column, JSON path, line."""

    file: Path | str | None = None
    row: int | None = None
    column: str | None = None
    json_path: str | None = None
    line: int | None = None
    col: int | None = None
    #: how messages name the row in files that have no rows (a JSON report, a log):
    #: "target 'decode'", "line 11", or "" for a file holding one record
    row_label: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.col}" if self.col else ""))
        if self.row_label is not None:
            if self.row_label:
                parts.append(self.row_label)
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:  # in a JSON report or a log: the key read
            parts.append(f"{'column' if self.row_label is None else 'key'} '{self.column}'")
        if self.json_path is not None:
            parts.append(f"field {self.json_path}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Issue:
    """One problem found in an input, a mapping, a context or a report."""

    code: str
    message: str
    where: Location = field(default_factory=Location)
    severity: Severity = "error"
    hint: str | None = None

    def __str__(self) -> str:
        where = str(self.where)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, for ``--format json`` outputs and manifests."""
        w = self.where
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "file": None if w.file is None else str(w.file),
            "row": w.row,
            "column": w.column,
            "field": w.json_path,
            "line": w.line,
        }


def row_ranges(rows: Iterable[int], sep: str = ", ") -> str:
    """Spreadsheet rows as compact ranges: ``(2, 3, 4, 7)`` -> ``'2-4, 7'``."""
    ordered = sorted(set(rows))
    if not ordered:
        return ""
    parts: list[str] = []
    start = prev = ordered[0]
    for r in [*ordered[1:], None]:
        if r is not None and r == prev + 1:
            prev = r
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if r is not None:
            start = prev = r
    return sep.join(parts)


class BoampsEtlError(Exception):
    """Base class: a problem that stops the job, with a location when one is known."""

    code = "error"

    def __init__(self, message: str, where: Location | None = None, hint: str | None = None):
        self.message = message
        self.where = where or Location()
        self.hint = hint
        super().__init__(str(self.issue))

    @property
    def issue(self) -> Issue:
        return Issue(self.code, self.message, self.where, "error", self.hint)


class InputError(BoampsEtlError):
    """An input file cannot be read as a CodeCarbon CSV (or BoAmps JSON)."""

    code = "bad-input"


class MappingError(BoampsEtlError):
    """A mapping file is invalid: unknown target, column rule, transform, or syntax."""

    code = "bad-mapping"


class ContextError(BoampsEtlError):
    """A context file or ``--set`` value is invalid: unknown key, wrong type, bad enum value."""

    code = "bad-context"


class OutputError(BoampsEtlError):
    """The output cannot be written: it exists (without ``force``) or is not writable."""

    code = "bad-output"


class UsageError(BoampsEtlError):
    """The arguments of a call do not fit together."""

    code = "usage"


class ExecutionError(BoampsEtlError):
    """The place the work runs failed (a Dask cluster lost its workers, its scheduler...);
    what was completed is kept, and a re-run resumes."""

    code = "execution"


class MissingExtraError(BoampsEtlError):
    """An optional dependency is not installed; the hint names the extra to install."""

    code = "missing-extra"
