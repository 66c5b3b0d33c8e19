"""What several toolbox commands share: path types, reading report files (JSON, JSON Lines,
folders of them), optional imports and output checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, Issue, Location, MissingExtraError, OutputError

PathLike = str | os.PathLike[str]
REPORT_SUFFIXES = (".json", ".jsonl", ".ndjson")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def _require(module: str, extra: str, purpose: str) -> Any:
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError:
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}, which is not "
                                "installed", hint=f"pip install 'boamps-etl[{extra}]'") from None


def _refuse_existing(path: Path, force: bool) -> None:
    if path.is_dir():
        raise OutputError("is a folder; give a file name", Location(path))
    if path.exists() and not force:
        raise OutputError("output file exists already", Location(path),
                          "pass --force to overwrite it")


# =========================================================================== reading reports


@dataclass(frozen=True)
class LoadedReport:
    """One report read from a file.

    Attributes:
        file: the file it was read from.
        index: its 1-based position in the file (JSON array item or JSONL record).
        line: its line in a JSONL file (``None`` for JSON files).
        document: the parsed JSON value (normally an object).
    """

    file: str
    index: int
    line: int | None
    document: Any


def report_files(paths: Iterable[PathLike]) -> tuple[list[Path], list[Issue]]:
    """Expand files and folders (searched recursively for ``.json``, ``.jsonl`` and
    ``.ndjson``; hidden files skipped) into report files, with the problems found."""
    files: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in REPORT_SUFFIXES
                           and not any(part.startswith(".") for part in
                                       p.relative_to(path).parts))
            if not found:
                csvs = any(p.suffix.lower() == ".csv" for p in path.rglob("*.csv"))
                issues.append(Issue("no-reports", "holds no .json or .jsonl file",
                                    Location(path),
                                    hint=f"it holds CSVs: convert them first with 'boamps-etl "
                                    f"batch {path} -o OUT', then give OUT" if csvs else None))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            issues.append(Issue("bad-input", "file not found", Location(path)))
    return files, issues


def _csv_instead(path: Path, head: bytes) -> Issue | None:
    """A CodeCarbon CSV given where BoAmps reports are expected: say how to convert it."""
    name = path.name.lower()
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff")
    if not (name.endswith((".csv", ".csv.gz", ".csv.bak", ".tsv")) or ".csv_" in name
            or head[:2] == b"\x1f\x8b"
            or all(c in first for c in ("timestamp", "duration", "energy_consumed"))):
        return None
    return Issue("csv-input", "is a CSV, not a BoAmps report (JSON or JSON Lines)",
                 Location(path), "error",
                 f"convert it first: 'boamps-etl convert {path}', or 'boamps-etl batch "
                 "FOLDER -o OUT' for a folder of runs; then give the reports written")


def _read_file(path: Path) -> tuple[list[LoadedReport], list[Issue]]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        return [], [Issue("bad-input", f"cannot be read ({exc.strerror})", Location(path))]
    csv_issue = _csv_instead(path, head)
    if csv_issue is not None:
        return [], [csv_issue]
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return [], [Issue("bad-input", f"cannot be read ({exc.strerror})", Location(path))]
    except UnicodeDecodeError as exc:
        return [], [Issue("bad-input", f"is not UTF-8 text (byte {exc.start})",
                          Location(path))]
    name = str(path)
    reports: list[LoadedReport] = []
    if path.suffix.lower() in JSONL_SUFFIXES:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                return [], [Issue("bad-json", f"JSON syntax error: {exc.msg}",
                                  Location(name, line=number, col=exc.colno))]
            reports.append(LoadedReport(name, len(reports) + 1, number, doc))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            hint = ("one report per line is JSON Lines: name the file .jsonl"
                    if exc.msg == "Extra data" else None)
            return [], [Issue("bad-json", f"JSON syntax error: {exc.msg}",
                              Location(name, line=exc.lineno, col=exc.colno), hint=hint)]
        items = data if isinstance(data, list) else [data]
        reports = [LoadedReport(name, i, None, doc) for i, doc in enumerate(items, 1)]
    if not reports:
        return [], [Issue("no-reports", "holds no report", Location(name))]
    return reports, []


def read_reports(paths: Iterable[PathLike]) -> tuple[list[LoadedReport], list[Issue]]:
    """Read every report of JSON files (one report or an array of them), JSON Lines files
    and folders of them. Unreadable files are returned as issues (file, line, column).

    >>> reports, problems = read_reports(["reports/"])   # doctest: +SKIP
    """
    files, issues = report_files(paths)
    reports: list[LoadedReport] = []
    for path in files:
        got, problems = _read_file(path)
        reports.extend(got)
        issues.extend(problems)
    return reports, issues


def load_reports(paths: Iterable[PathLike]) -> list[LoadedReport]:
    """Like :func:`read_reports`, but stops at the first unreadable file.

    Raises:
        InputError: a file is missing, not UTF-8, not JSON, or holds no report.
    """
    reports, issues = read_reports(paths)
    if issues:
        first = issues[0]
        raise InputError(first.message, first.where, first.hint)
    return reports


def _get(doc: Any, parts: Sequence[str | int]) -> Any:
    node = doc
    for part in parts:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and len(node) > part else None
        elif isinstance(part, str) and part.startswith("["):
            key = part[1:]
            node = next((c for c in node if isinstance(c, dict)
                         and c.get("componentType") == key), None) \
                if isinstance(node, list) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node
