"""``validate``: check reports of any producer against the schemas and grade them
(:mod:`boamps_etl.levels`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Issue, Location, UsageError
from ..levels import LEVELS, Assessment, Level, assess, at_least
from .common import PathLike, _read_file, report_files

# =========================================================================== validate


@dataclass
class ReportCheck:
    """The validation of one report: schema problems and completeness level."""

    file: str
    index: int
    line: int | None
    issues: list[Issue]
    assessment: Assessment

    @property
    def valid(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def level(self) -> Level:
        return self.assessment.level

    @property
    def where(self) -> str:
        """``reports.jsonl, report 3``."""
        return f"{self.file}, report {self.index}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "report": self.index, "line": self.line, "valid": self.valid,
            "level": self.level, "missing_for_next": self.assessment.missing_for_next,
            "errors": [{"field": i.where.json_path, "message": i.message, "code": i.code}
                       for i in self.issues],
        }


@dataclass
class ValidationSummary:
    """What :func:`validate_paths` found.

    Attributes:
        reports: one check per report read.
        unreadable: files that could not be read (missing, not UTF-8, bad JSON, empty).
        files: the report files read.
        level: the level every report had to reach, if one was asked.
    """

    reports: list[ReportCheck] = field(default_factory=list)
    unreadable: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    level: Level | None = None

    @property
    def invalid(self) -> list[ReportCheck]:
        return [r for r in self.reports if not r.valid]

    @property
    def below_level(self) -> list[ReportCheck]:
        """Valid reports that do not reach :attr:`level`."""
        if self.level is None:
            return []
        return [r for r in self.reports if r.valid and not at_least(r.level, self.level)]

    @property
    def passed(self) -> bool:
        """Every file readable, every report valid (and at :attr:`level` when asked)."""
        return not self.unreadable and not self.invalid and not self.below_level

    @property
    def level_counts(self) -> dict[str, int]:
        return {lvl: sum(1 for r in self.reports if r.level == lvl) for lvl in LEVELS[::-1]}

    def problem_lines(self) -> list[str]:
        """One line per problem: ``file, report N, field PATH: message``."""
        lines = [str(i) for i in self.unreadable]
        for r in self.reports:
            for i in r.issues:
                lines.append(f"{r.where}, field {i.where.json_path or '(report)'}: "
                             f"{i.message}")
        for r in self.below_level:
            lines.append(f"{r.where}: level {r.level}, below {self.level}; missing for "
                         f"{r.assessment.next_level}: {'; '.join(r.assessment.missing_for_next)}")
        return lines

    def summary_line(self) -> str:
        """``3 report(s) in 2 file(s): 2 valid, 1 invalid; levels: 1 silver, 1 bronze``."""
        counts = ", ".join(f"{n} {lvl}" for lvl, n in self.level_counts.items()
                           if n and lvl != "none")
        text = (f"{len(self.reports)} report(s) in {len(self.files)} file(s): "
                f"{len(self.reports) - len(self.invalid)} valid, {len(self.invalid)} invalid")
        if counts:
            text += f"; levels: {counts}"
        if self.level is not None:
            text += f"; {len(self.below_level)} below {self.level}"
        if self.unreadable:
            text += f"; {len(self.unreadable)} unreadable input(s)"
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready result for CI."""
        return {
            "passed": self.passed,
            "level": self.level,
            "files": len(self.files),
            "counts": {"reports": len(self.reports),
                       "valid": len(self.reports) - len(self.invalid),
                       "invalid": len(self.invalid), "below_level": len(self.below_level),
                       "unreadable": len(self.unreadable), "levels": self.level_counts},
            "reports": [r.as_dict() for r in self.reports],
            "unreadable": [i.as_dict() for i in self.unreadable],
        }


def _check_level(level: str | None) -> Level | None:
    if level is None:
        return None
    if level not in LEVELS[1:]:
        raise UsageError(f"unknown level '{level}'", hint="levels: bronze, silver, gold")
    return level


def validate_paths(paths: Iterable[PathLike], level: str | None = None) -> ValidationSummary:
    """Validate BoAmps reports from any producer: JSON files (one report or an array),
    JSON Lines files, or folders of them, against the official and extension schemas, and
    grade each one (see :mod:`boamps_etl.levels`).

    Args:
        paths: files and folders (searched recursively).
        level: 'bronze', 'silver' or 'gold': every report must reach it to pass.

    Returns:
        A :class:`ValidationSummary`; unreadable files are listed in it, never raised.

    Raises:
        UsageError: ``level`` is not a level name.

    >>> summary = validate_paths(["reports/"], level="silver")   # doctest: +SKIP
    >>> summary.passed, summary.problem_lines()                   # doctest: +SKIP
    """
    from ..validate import validate_report

    target = _check_level(level)
    files, issues = report_files(paths)
    summary = ValidationSummary(unreadable=issues, level=target)
    for path in files:
        reports, problems = _read_file(path)
        summary.unreadable.extend(problems)
        if reports:
            summary.files.append(str(path))
        for rep in reports:
            where = Location(rep.file, line=rep.line)
            found = validate_report(rep.document, where)
            summary.reports.append(ReportCheck(rep.file, rep.index, rep.line, found,
                                               assess(rep.document, found)))
    return summary
