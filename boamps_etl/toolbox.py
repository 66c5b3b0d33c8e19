"""The report toolbox: context templates, validation of any producer's reports, flat tables,
summaries and plots, and the schemas in use. Each function has a command of the same name
(``boamps-etl init-context``, ``validate``, ``flatten``, ``unflatten``, ``summary``,
``schema``).

>>> from boamps_etl import toolbox
>>> text = toolbox.init_context(["emissions.csv"], out="boamps.yaml")      # doctest: +SKIP
>>> toolbox.validate_paths(["reports/"], level="silver").passed           # doctest: +SKIP
>>> toolbox.summarize(["reports/"], by="project")                         # doctest: +SKIP

pandas, matplotlib and pyarrow are imported inside the functions that need them, so the
command line starts fast.
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import (
    InputError,
    Issue,
    Location,
    MissingExtraError,
    OutputError,
    UsageError,
)
from .flatten import cell_text, column_type, columns_of, csv_text, flatten, unflatten
from .levels import LEVELS, Assessment, Level, assess, at_least
from .schema import FieldSpec, field_spec, join_path, report_schema, split_path

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]
By = Literal["run", "project", "task"]
SchemaChoice = Literal["combined", "official", "extension"]
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
    from .validate import validate_report

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


# =========================================================================== init-context

#: The fields a context template offers, in order: what CodeCarbon cannot record.
#: Requiredness, descriptions, types and allowed values come from the schemas.
TEMPLATE_FIELDS: tuple[str, ...] = (
    "task.taskStage",
    "task.taskFamily",
    "task.algorithms[0].algorithmType",
    "task.algorithms[0].trainingType",
    "task.algorithms[0].algorithmName",
    "task.algorithms[0].foundationModelName",
    "task.algorithms[0].foundationModelUri",
    "task.algorithms[0].framework",
    "task.algorithms[0].frameworkVersion",
    "task.algorithms[0].parametersNumber",
    "task.algorithms[0].quantization",
    "task.dataset[0].dataUsage",
    "task.dataset[0].dataType",
    "task.dataset[0].dataFormat",
    "task.dataset[0].dataSize",
    "task.dataset[0].dataQuantity",
    "task.dataset[0].source",
    "task.nbRequest",
    "task.measuredAccuracy",
    "task.estimatedAccuracy",
    "task.taskDescription",
    "header.publisher.name",
    "header.publisher.confidentialityLevel",
    "header.licensing",
    "header.reportStatus",
    "measures[0].cpuTrackingMode",
    "measures[0].gpuTrackingMode",
    "measures[0].powerCalibrationMeasurement",
    "measures[0].durationCalibrationMeasurement",
    "infrastructure.cloudInstance",
    "infrastructure.components[*].share",
    "environment.powerSupplierType",
    "environment.powerSource",
    "quality",
)
#: Task fields move into the per-project ``match`` sections when CSVs are given.
_PER_PROJECT = "task"
_WIDTH = 92
_MAX_ENUM = 12


@dataclass
class _Leaf:
    path: str
    spec: FieldSpec
    required: bool = False
    value: Any = None  # a fixed value (componentType) instead of the null placeholder
    note: str | None = None  # what the CSVs hold there
    why: str | None = None  # why an optional field is required here


@dataclass
class _Obj:
    path: str
    children: dict[str, _Obj | _Arr | _Leaf] = field(default_factory=dict)


@dataclass
class _Arr:
    path: str
    items: list[_Obj] = field(default_factory=list)


Node = _Obj | _Arr | _Leaf


def _has_required(node: Node) -> bool:
    if isinstance(node, _Leaf):
        return node.required
    if isinstance(node, _Arr):
        return any(_has_required(i) for i in node.items)
    return any(_has_required(c) for c in node.children.values())


def _is_index(part: str | int) -> bool:
    return isinstance(part, int) or part.startswith("[")


def _required_keys(path: list[str | int]) -> list[str]:
    """The ``required`` list of the object at ``path`` (the report when empty; a list
    item when ``path`` ends with an index)."""
    if not path:
        return list(report_schema().get("required", []))
    spec = field_spec(path)
    if spec is None or spec.type == "array" or not isinstance(spec.node, dict):
        return []
    return list(spec.node.get("required", []))


def _required(parts: list[str | int], present: set[str]) -> bool:
    """Whether a template field must be filled: required at every step from the report
    down, where objects the template fills anyway (``present``) count as required."""
    for i, part in enumerate(parts):
        if _is_index(part):
            continue
        if part not in _required_keys(parts[:i]) and join_path(parts[:i + 1]) not in present:
            return False
    return True


def _build_tree(fields: Sequence[str], present: set[str], component_types: Sequence[str],
                notes: Mapping[str, str]) -> _Obj:
    root = _Obj("")
    for raw in fields:
        expanded = ([raw.replace("[*]", f"[{t}]") for t in component_types]
                    if "components[*]" in raw else [raw])
        for path in expanded:
            parts = split_path(path)
            spec = field_spec(parts)
            if spec is None:  # only when TEMPLATE_FIELDS names a field no schema knows
                raise AssertionError(f"template field {path} is not in the schemas")
            node: _Obj = root
            for i, part in enumerate(parts[:-1]):
                if _is_index(part):
                    continue
                assert isinstance(part, str)
                here = join_path(parts[:i + 1])
                nxt = parts[i + 1]
                if not _is_index(nxt):
                    child = node.children.setdefault(part, _Obj(here))
                    assert isinstance(child, _Obj)
                    node = child
                    continue
                arr = node.children.setdefault(part, _Arr(here))
                assert isinstance(arr, _Arr)
                item_path = join_path(parts[:i + 2])
                item = next((it for it in arr.items if it.path == item_path), None)
                if item is None:
                    item = _Obj(item_path)
                    if isinstance(nxt, str):  # keyed entry: components[gpu]
                        kspec = field_spec([*parts[:i + 2], "componentType"])
                        assert kspec is not None
                        item.children["componentType"] = _Leaf(
                            f"{item_path}.componentType", kspec, False, nxt[1:])
                    arr.items.append(item)
                node = item
            required = _required(parts, present)
            why = ("required once publisher is given: the match sections below name the "
                   "project" if required and not spec.required else None)
            node.children[str(parts[-1])] = _Leaf(path, spec, required, note=notes.get(path),
                                                  why=why)
            kind = node.children.get("componentType")
            if required and isinstance(kind, _Leaf):  # an entry to give names its type
                kind.required = True
    _first_of_required_lists(root, present)
    return root


def _first_of_required_lists(node: _Obj, present: set[str]) -> None:
    """A required list whose entries have no required field (``task.algorithms``) still
    needs one entry: its first field becomes the one to fill."""
    for child in node.children.values():
        if isinstance(child, _Obj):
            _first_of_required_lists(child, present)
        elif isinstance(child, _Arr):
            for item in child.items:
                _first_of_required_lists(item, present)
            parts = split_path(child.path)
            first = child.items[0] if child.items else None
            if first and first.children and not _has_required(first) and \
                    not _required_keys([*parts, 0]) and _required(parts, present):
                leaf = next(iter(first.children.values()))
                if isinstance(leaf, _Leaf):
                    leaf.required = True


def _type_words(spec: FieldSpec) -> str:
    if spec.enum is not None:
        values = [str(v) for v in spec.enum if v is not None]
        shown = ", ".join(values[:_MAX_ENUM])
        more = f", ... ({len(values)} values)" if len(values) > _MAX_ENUM else ""
        return f"one of: {shown}{more}"
    words = {"string": "text", "number": "number", "integer": "whole number",
             "boolean": "true or false"}.get(spec.type or "", spec.type or "any")
    extra = []
    if spec.unit and spec.unit not in ("", "1"):
        extra.append(spec.unit)
    if spec.minimum is not None and spec.maximum is not None:
        extra.append(f"{spec.minimum:g} to {spec.maximum:g}")
    elif spec.minimum is not None:
        extra.append(f"at least {spec.minimum:g}")
    return ", ".join([words, *extra])


class _Writer:
    """Lines of a YAML template. A commented-out block keeps its '# ' in one column, so
    uncommenting it is one edit (remove that column's '# ')."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, indent: int, text: str, hash_col: int | None) -> None:
        if hash_col is None:
            self.lines.append(" " * indent + text)
        else:
            self.lines.append(" " * hash_col + "# " + " " * (indent - hash_col) + text)

    def comment(self, indent: int, text: str, hash_col: int | None = None) -> None:
        width = max(40, _WIDTH - indent)
        for line in textwrap.wrap(" ".join(text.split()), width) or [""]:
            self.emit(indent, "# " + line, hash_col)


def _yaml_scalar(value: Any) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def _leaf_comment(leaf: _Leaf, describe: bool) -> str:
    tag = "REQUIRED. " if leaf.required else ""
    parts = split_path(leaf.path)
    if not leaf.required and len(parts) > 1 and parts[-1] in _required_keys(parts[:-1]):
        parent = next(str(p) for p in reversed(parts[:-1]) if not _is_index(p))
        tag = f"Required once {parent} is given. "
    desc = " ".join(leaf.spec.description.split()) if describe else ""
    text = f"{tag}{desc}".strip().rstrip(".")
    words = _type_words(leaf.spec)
    text = f"{text} [{words}]" if text else f"[{words}]"
    if leaf.why:
        text += f" ({leaf.why})"
    if leaf.note:
        text += f" (from the CSV: {leaf.note})"
    return text


def _render(w: _Writer, obj: _Obj, indent: int, hash_col: int | None, describe: bool,
            dash: bool = False) -> None:
    """Render an object's fields at ``indent``, required ones first. ``hash_col`` is the
    column of the '# ' of a commented-out block (``None``: active). ``dash`` opens a list
    entry: the first field gets the '- ' (two columns left of ``indent``)."""
    entries = sorted(obj.children.items(), key=lambda kv: not _has_required(kv[1]))
    for n, (key, child) in enumerate(entries):
        first_of_entry = dash and n == 0
        at = indent - 2 if first_of_entry else indent
        prefix = "- " if first_of_entry else ""
        col = hash_col if hash_col is not None or _has_required(child) else at
        if isinstance(child, _Leaf):
            if child.value is None:
                w.comment(at, _leaf_comment(child, describe), col)
            w.emit(at, f"{prefix}{key}: {_yaml_scalar(child.value)}", col)
            continue
        if describe and isinstance(child, _Arr):
            spec = field_spec(child.path)
            if spec is not None and spec.description:
                req = "REQUIRED, at least one entry. " if _has_required(child) else ""
                w.comment(at, req + spec.description, col)
        w.emit(at, f"{prefix}{key}:", col)
        if isinstance(child, _Obj):
            _render(w, child, indent + 2, col, describe)
        else:
            for n_item, item in enumerate(child.items):
                icol = col if col is not None or _has_required(item) else indent + 2
                _render(w, item, indent + 4, icol, describe and n_item == 0, dash=True)


def _distinct(values: Iterable[Any], limit: int = 3) -> str:
    seen: list[str] = []
    for v in values:
        text = cell_text(v) if not isinstance(v, str) else v
        if text and text not in seen:
            seen.append(text)
    shown = " | ".join(seen[:limit])
    return shown + (f" | ... ({len(seen)} values)" if len(seen) > limit else "")


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


def _component_text(comp: Mapping[str, Any]) -> str:
    name = comp.get("componentName")
    nb = comp.get("nbComponent")
    size = comp.get("memorySize")
    if name:
        text = str(name)
        if nb is not None and not re.match(r"^\d+\s*x\s", text):
            text = f"{nb} x {text}"
    elif size is not None:
        text = f"{nb or 1} x {float(size):.4g} GB"
    else:
        text = f"{nb}"
    return f"{comp.get('componentType')} {text}"


#: Values the template shows above a section, when the CSVs hold them.
_NOTE_FIELDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("environment", ("environment.country", "environment.location", "environment.latitude",
                     "environment.longitude"), ""),
    ("measures", ("measures[0].measurementMethod", "measures[0].version",
                  "measures[0].trackingMode"),
     "not recorded: cpuTrackingMode, gpuTrackingMode"),
)


def _csv_notes(docs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What the CSVs already determine, as comments for the template's sections."""
    notes: dict[str, str] = {}
    infra: list[str] = []
    types = _distinct(_get(d, ["infrastructure", "infraType"]) for d in docs)
    if types:
        infra.append(f"infraType {types}")
    provider = _distinct(_get(d, ["infrastructure", "cloudProvider"]) for d in docs)
    if provider:
        infra.append(f"cloudProvider {provider}")
    comps = _distinct(_component_text(c) for d in docs
                      for c in (_get(d, ["infrastructure", "components"]) or [])
                      if isinstance(c, Mapping))
    if comps:
        infra.extend(comps.split(" | "))
    if infra:
        notes["infrastructure"] = "; ".join(infra)
    for section, fields, tail in _NOTE_FIELDS:
        found: list[str] = []
        for field_path in fields:
            text = _distinct(_get(d, split_path(field_path)) for d in docs)
            if text:
                found.append(f"{field_path.rsplit('.', 1)[-1]} {text}")
        if found:
            notes[section] = "; ".join([*found, tail] if tail else found)
    for path in TEMPLATE_FIELDS:
        if "[*]" in path:
            continue
        value = _distinct(_get(d, split_path(path)) for d in docs)
        if value:
            notes[path] = value
    return notes


@dataclass
class _Project:
    column: str
    name: str
    reports: int
    files: list[str]


def _projects(result: Any) -> tuple[list[_Project], bool]:
    """Distinct project_name values, and whether some reports have none. Task names
    (task files) are not projects: they stay in each report (measures[0].taskName)."""
    found: dict[tuple[str, str], _Project] = {}
    unnamed = False
    for r in result.reports:
        column = "project_name"
        name = r.columns.get(column)
        if not name:
            unnamed = True
            continue
        proj = found.setdefault((column, name), _Project(column, name, 0, []))
        proj.reports += 1
        if r.source not in proj.files:
            proj.files.append(r.source)
    return list(found.values()), unnamed


_INTRO = """\
# boamps-etl context: what {tracker} cannot record about your runs.
# Give every REQUIRED value (a null value stops `convert` with "... is empty; give it a
# value" until you do), and uncomment the optional lines you know (remove the '# ').
# Descriptions, types and allowed values come from the BoAmps schemas.
# Then: boamps-etl convert {csvs} --context {out}
"""


def _unrecorded(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Required fields the files' reports lack beside those of :data:`TEMPLATE_FIELDS`: what
    their trackers do not record (an infraType, a component, an OS...), to be asked for."""
    from .pipeline import required_leaves
    from .validate import full_check, schema_errors

    found: list[str] = []
    for doc in docs:
        if full_check(doc):
            continue
        for issue in schema_errors(doc):
            if issue.code != "missing-field" or not issue.where.json_path:
                continue
            for leaf in required_leaves(str(issue.where.json_path)):
                path = re.sub(r"\[\d+\]", "[0]", leaf)
                if path == "infrastructure.components":
                    path = "infrastructure.components[*].nbComponent"
                elif path.startswith("infrastructure.components[0]."):
                    path = path.replace("[0]", "[*]", 1)
                if path.split(".")[0] != _PER_PROJECT and path not in TEMPLATE_FIELDS \
                        and path not in found:
                    found.append(path)
    return found


def init_context(csvs: Iterable[PathLike] = (), out: PathLike | None = None, *,
                 force: bool = False) -> str:
    """Write a commented YAML context template with the fields the files' trackers
    (CodeCarbon, eco2ai, Zeus...) cannot provide.

    Required fields come first, present with a ``null`` value (``convert`` refuses the file,
    naming the key, until each is given a value); optional ones are commented out. Each has
    a comment with its description, type and allowed values, taken from the schemas.
    With CSVs, the values they already determine are shown as comments, and one ``match``
    section per distinct ``project_name`` holds the task fields and names the project
    (``header.publisher.projectName``); task names of task files are not projects (each
    report keeps its own in ``measures[0].taskName``). Required sections the CSVs do not
    give (the hardware of a CodeCarbon 1.x file) are listed as REQUIRED.

    Besides the fields no tracker records (the task, the publisher...), the template asks,
    as required, for those the given files lack (a Zeus log has no OS, no infraType).

    Args:
        csvs: trackers' files (CodeCarbon CSVs, eco2ai CSVs, Zeus logs...) to take values
            and project names from.
        out: the file to write (atomically); ``None`` only returns the text.
        force: overwrite an existing ``out``.

    Returns:
        The YAML text.

    Raises:
        InputError: a CSV cannot be read.
        OutputError: ``out`` exists (without ``force``) or cannot be written.

    >>> text = init_context()
    >>> "taskStage: null" in text
    True
    """
    from .io.writers import atomic_write

    csv_list = [Path(p) for p in csvs]
    target = Path(out) if out is not None else None
    if target is not None:
        _refuse_existing(target, force)
    docs: list[dict[str, Any]] = []
    projects: list[_Project] = []
    unnamed = True
    counts: dict[str, int] = {}
    trackers: list[str] = []
    if csv_list:
        from .api import convert

        result = convert(csv_list)
        docs = result.documents
        for rep in result.reports:
            if rep.tracker not in trackers:
                trackers.append(rep.tracker)
        projects, unnamed = _projects(result)
        unnamed = unnamed or not docs
        for rep in result.reports:
            counts[rep.source] = counts.get(rep.source, 0) + 1
    # Naming the project in each match section creates header.publisher, whose
    # confidentialityLevel the schema then requires.
    present = {"header", "header.publisher"} if projects else set()
    found_types = _distinct((_get(c, ["componentType"]) for d in docs
                             for c in (_get(d, ["infrastructure", "components"]) or [])),
                            limit=20)
    types = [t for t in found_types.split(" | ") if not t.startswith("... (")] \
        if found_types else ["cpu", "gpu"]
    notes = _csv_notes(docs) if docs else {}
    extra = _unrecorded(docs)
    no_hardware = "infrastructure.components[*].nbComponent" in extra and not any(
        _get(d, ["infrastructure", "components"]) for d in docs)
    if no_hardware:
        # no file records hardware (CodeCarbon 1.x): one cpu entry to fill, with its names
        types = ["cpu"]
        extra += [f"infrastructure.components[*].{k}" for k in _COMPONENT_FIELDS
                  if f"infrastructure.components[*].{k}" not in (*extra, *TEMPLATE_FIELDS)]
        notes["infrastructure"] = "; ".join(
            [*([notes["infrastructure"]] if "infrastructure" in notes else []),
             "no hardware recorded (CodeCarbon 1.x): one entry per component below"])
    for field_path in extra:  # their sections exist in the reports, or are required anyway
        parts = [p for p in split_path(field_path) if not _is_index(p)]
        present.update(".".join(str(p) for p in parts[:i]) for i in range(1, len(parts)))
    tree = _build_tree((*TEMPLATE_FIELDS, *extra), present, types, notes)
    if no_hardware:
        _require_component_types(tree)
    task = tree.children.pop(_PER_PROJECT)
    assert isinstance(task, _Obj)

    w = _Writer()
    csv_names = " ".join(str(p) for p in csv_list) or "emissions.csv"
    from .trackers import trackers as known

    titles = [known()[t].title for t in trackers if t in known()] or ["CodeCarbon"]
    w.lines.extend(_INTRO.format(csvs=csv_names, out=target or "boamps-context.yaml",
                                 tracker=" and ".join(titles)).splitlines())
    for path in csv_list:
        w.lines.append(f"# {path}: {counts.get(str(path), 0)} report(s)")
    w.lines.append("")
    base = _Obj("")
    if unnamed:
        base.children[_PER_PROJECT] = task
    base.children.update(tree.children)
    entries = sorted(base.children.items(), key=lambda kv: not _has_required(kv[1]))
    match_done = not projects
    for key, child in entries:
        if not match_done and not _has_required(child):
            _render_match(w, projects, task)
            match_done = True
        if key in notes:
            _note(w, notes[key])
        _render(w, _Obj("", {key: child}), 0, None, True)
        w.lines.append("")
    if not match_done:
        _render_match(w, projects, task)
    text = "\n".join(w.lines).rstrip() + "\n"
    if target is not None:
        atomic_write(target, text)
    return text


#: Component fields a template asks for when the files record no hardware: the count
#: (required by BoAmps; the type is the entry's key) and the name fields.
_COMPONENT_FIELDS = ("componentName", "manufacturer", "family", "series")


def _require_component_types(tree: _Obj) -> None:
    """The component entries are to be filled: their fixed componentType is kept active."""
    infra = tree.children.get("infrastructure")
    comps = infra.children.get("components") if isinstance(infra, _Obj) else None
    for item in comps.items if isinstance(comps, _Arr) else []:
        leaf = item.children.get("componentType")
        if isinstance(leaf, _Leaf):
            leaf.required = True


def _note(w: _Writer, text: str) -> None:
    """``# from the CSV: a; b`` on one line when it fits, else one item a line."""
    line = f"# from the CSV: {text}"
    if len(line) <= _WIDTH:
        w.lines.append(line)
        return
    w.lines.append("# from the CSV:")
    w.lines.extend(f"#   {item}" for item in text.split("; "))


def _render_match(w: _Writer, projects: Sequence[_Project], task: _Obj) -> None:
    w.comment(0, "One section per project found in the CSV(s): its values apply to the "
                 "rows of that project and win over the values above.", None)
    w.lines.append("match:")
    for n, proj in enumerate(projects):
        files = ", ".join(Path(f).name for f in proj.files)
        w.comment(2, f"{proj.name}: {proj.reports} report(s) from {files}", None)
        pattern = json.dumps(glob.escape(proj.name), ensure_ascii=False)
        w.lines.append(f"  - when: {{{proj.column}: {pattern}}}")
        name = json.dumps(proj.name, ensure_ascii=False)
        w.lines.append(f"    header: {{publisher: {{projectName: {name}}}}}")
        _render(w, _Obj("", {_PER_PROJECT: task}), 4, None, n == 0)
    w.lines.append("")


# =========================================================================== flatten


def _rows_of(reports: Sequence[LoadedReport]) -> list[dict[str, Any]]:
    rows = []
    for rep in reports:
        if not isinstance(rep.document, Mapping):
            raise InputError(f"report {rep.index} is not a JSON object", Location(rep.file))
        rows.append(flatten(rep.document))
    return rows


def _parquet_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    pa = _require("pyarrow", "parquet", "Parquet output")
    arrays = []
    types = {"string": pa.string(), "number": pa.float64(), "integer": pa.int64(),
             "boolean": pa.bool_()}
    for col in columns:
        values = [row.get(col) for row in rows]
        typ = column_type(col)
        try:
            if typ in ("object", "array") or any(isinstance(v, Mapping | list)
                                                 for v in values):
                raise TypeError("containers are written as text")
            if typ in types:
                arrays.append(pa.array(values, type=types[typ]))
            else:
                arrays.append(pa.array(values))
        except (TypeError, ValueError, pa.ArrowException):
            arrays.append(pa.array([None if v is None else cell_text(v) for v in values],
                                   type=pa.string()))
    return pa.Table.from_arrays(arrays, names=list(columns))


def flatten_paths(paths: Iterable[PathLike], out: PathLike | None = None, *,
                  force: bool = False) -> pd.DataFrame:
    """Flatten reports (JSON, JSONL, folders) into one row per report, with the BoAmps
    flattener's column names (``measures_0_powerConsumption``).

    Args:
        paths: report files and folders.
        out: a ``.csv`` file (floats in shortest exact form, the way BoAmps' flat CSVs
            store them) or a ``.parquet`` file (typed columns; needs the ``parquet``
            extra); ``'-'`` writes CSV to stdout; ``None`` writes nothing.
        force: overwrite an existing ``out``.

    Returns:
        The flat table as a DataFrame (one column per field path, values as in the
        reports).

    Raises:
        InputError: a file cannot be read or a report is not a JSON object.
        OutputError: ``out`` exists (without ``force``) or has another suffix.
        MissingExtraError: Parquet output without pyarrow.

    >>> frame = flatten_paths(["reports/"], out="reports.csv")   # doctest: +SKIP
    """
    import pandas as pd

    from .io.writers import atomic_write

    reports = load_reports(paths)
    rows = _rows_of(reports)
    columns = columns_of(rows)
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if out is None:
        return frame
    if str(out) == "-":
        import sys

        sys.stdout.write(csv_text(rows))
        return frame
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise OutputError("the flat table must be a .csv or .parquet file", Location(target))
    _refuse_existing(target, force)
    if suffix == ".csv":
        atomic_write(target, csv_text(rows))
    else:
        table = _parquet_table(rows, columns)
        pq = _require("pyarrow.parquet", "parquet", "Parquet output")
        buf = io.BytesIO()
        pq.write_table(table, buf)
        atomic_write(target, buf.getvalue())
    return frame


def _flat_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(spreadsheet row, cells)`` of a flat CSV (text cells) or Parquet file."""
    if path.suffix.lower() == ".parquet":
        pq = _require("pyarrow.parquet", "parquet", "Reading Parquet")
        try:
            records = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises many kinds of errors
            raise InputError(f"is not a readable Parquet file ({exc})", Location(path)) \
                from None
        yield from enumerate(records, 2)
        return
    import csv

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})", Location(path)) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", Location(path)) from None
    # newline="": line breaks inside quoted cells stay as written
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    if not reader.fieldnames:
        raise InputError("is empty: no header row", Location(path))
    for row in reader:
        if "\0extra" in row:
            raise InputError("has more cells than the header", Location(path, reader.line_num))
        yield reader.line_num, {k: ("" if v is None else v) for k, v in row.items()}


def unflatten_file(path: PathLike, out: PathLike | None = None, *,
                   force: bool = False) -> list[dict[str, Any]]:
    """Rebuild reports from a flat CSV or Parquet file (the inverse of
    :func:`flatten_paths`); each value gets the type the schemas define for its column.

    Args:
        path: a ``.csv`` (text cells; an empty cell is an absent field) or ``.parquet``.
        out: a folder to write one JSON file per report into; ``None`` writes nothing.
        force: overwrite existing report files.

    Returns:
        The reports, in row order.

    Raises:
        InputError: the file cannot be read, or a cell does not fit its column (file, row
            and column are named).
        OutputError: a report file exists (without ``force``).
        MissingExtraError: a Parquet file without pyarrow.

    >>> reports = unflatten_file("reports.csv", out="reports/")   # doctest: +SKIP
    """
    from .io.writers import write_reports

    source = Path(path)
    docs: list[dict[str, Any]] = []
    for row_number, cells in _flat_rows(source):
        try:
            docs.append(unflatten(cells))
        except InputError as exc:
            raise InputError(exc.message, Location(source, row_number, exc.where.column),
                             exc.hint) from None
    if not docs:
        raise InputError("holds no report row", Location(source))
    if out is not None:
        write_reports(docs, Path(out), "json", force=force)
    return docs


# =========================================================================== summary

SUMMARY_COLUMNS = ("start", "reports", "energy_kwh", "cpu_energy_kwh", "gpu_energy_kwh",
                   "ram_energy_kwh", "duration_s", "emissions_kg",
                   "carbon_intensity_g_per_kwh", "level")
_INTENSITY = "carbon_intensity_g_per_kwh"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _measure_sum(doc: Mapping[str, Any], key: str) -> float:
    measures = doc.get("measures")
    values = [_number(m.get(key)) for m in measures if isinstance(m, Mapping)] \
        if isinstance(measures, list) else []
    given = [v for v in values if v is not None]
    return math.fsum(given) if given else math.nan


@dataclass
class _Entry:
    doc: Any
    file: str
    index: int
    csv_project: str | None = None


def _entries(sources: Any) -> list[_Entry]:
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    items = list(sources)
    if all(isinstance(s, str | os.PathLike) for s in items):
        return [_Entry(r.document, r.file, r.index) for r in load_reports(items)]
    out: list[_Entry] = []
    counters: dict[str, int] = {}
    for item in items:
        if hasattr(item, "document") and hasattr(item, "columns"):  # ConvertedReport
            name = str(item.source)
            counters[name] = counters.get(name, 0) + 1
            out.append(_Entry(item.document, name, counters[name],
                              item.columns.get("project_name") or None))
        elif isinstance(item, Mapping):
            counters["<reports>"] = counters.get("<reports>", 0) + 1
            out.append(_Entry(dict(item), "<reports>", counters["<reports>"]))
        elif hasattr(item, "to_dict"):
            counters["<reports>"] = counters.get("<reports>", 0) + 1
            out.append(_Entry(item.to_dict(), "<reports>", counters["<reports>"]))
        else:
            raise UsageError(f"cannot summarise a {type(item).__name__}",
                             hint="give report paths, dicts or a conversion result")
    return out


def summarize(sources: Any, by: By = "run") -> pd.DataFrame:
    """Energy, duration and emissions of reports, per run (report), project or task.

    Args:
        sources: report files or folders (paths), a :class:`~boamps_etl.pipeline.
            ConversionResult`, or an iterable of reports (dicts or converted reports).
        by: ``'run'``: one row per report, labelled by its reportId (``file#N`` when
            missing or repeated). ``'project'``: grouped by ``header.publisher.projectName``,
            else (for converted reports) the CSV's ``project_name``, else ``(no project)``.
            ``'task'``: grouped by ``task.taskStage / task.taskFamily``.

    Returns:
        A DataFrame indexed by the group, with ``start`` (the earliest
        ``measures[].measurementDateTime``; per run, rows are in start order when every
        report has one, else in input order), ``reports`` (count), ``energy_kwh``
        (``measures[].powerConsumption``), ``cpu_energy_kwh``, ``gpu_energy_kwh``,
        ``ram_energy_kwh`` (NaN when the reports do not split the energy),
        ``duration_s``, ``emissions_kg`` (``measures[].emissions``, else energy x
        ``environment.powerSourceCarbonIntensity``), ``carbon_intensity_g_per_kwh``
        (emissions / energy) and ``level`` (the lowest level in the group). Sums are over
        all measures of all reports of the group.

    Raises:
        InputError: a report file cannot be read.
        UsageError: ``by`` is not run, project or task.

    >>> summarize(["reports/"], by="project")   # doctest: +SKIP
    """
    import pandas as pd

    if by not in ("run", "project", "task"):
        raise UsageError(f"cannot group by '{by}'", hint="group by run, project or task")
    entries = _entries(sources)
    ids = [_get(e.doc, ["header", "reportId"]) for e in entries]
    records = []
    for entry, report_id in zip(entries, ids, strict=True):
        doc = entry.doc if isinstance(entry.doc, Mapping) else {}
        energy = _measure_sum(doc, "powerConsumption")
        emissions = _measure_sum(doc, "emissions")
        intensity = _number(_get(doc, ["environment", "powerSourceCarbonIntensity"]))
        if math.isnan(emissions) and intensity is not None and not math.isnan(energy):
            emissions = energy * intensity / 1000
        unique = isinstance(report_id, str) and report_id and ids.count(report_id) == 1
        project = _get(doc, ["header", "publisher", "projectName"]) or entry.csv_project
        stage = _get(doc, ["task", "taskStage"]) or "?"
        family = _get(doc, ["task", "taskFamily"]) or "?"
        records.append({
            "run": report_id if unique else f"{Path(entry.file).name}#{entry.index}",
            "project": str(project) if project else "(no project)",
            "task": f"{stage} / {family}",
            "start": _start(doc),
            "reports": 1,
            "energy_kwh": energy,
            "cpu_energy_kwh": _measure_sum(doc, "cpuEnergy"),
            "gpu_energy_kwh": _measure_sum(doc, "gpuEnergy"),
            "ram_energy_kwh": _measure_sum(doc, "ramEnergy"),
            "duration_s": _measure_sum(doc, "measurementDuration"),
            "emissions_kg": emissions,
            "level": assess(entry.doc).level,  # drafts carry warnings only: re-validate
        })
    frame = pd.DataFrame.from_records(records, columns=[
        "run", "project", "task", *(c for c in SUMMARY_COLUMNS if c != _INTENSITY)])
    sums = [c for c in SUMMARY_COLUMNS if c not in ("start", _INTENSITY, "level")]
    if by == "run":
        out = frame.set_index("run")
        if out["start"].notna().all():  # report files come in name order: put runs in time
            out = out.sort_values("start", kind="stable")
    else:
        grouped = frame.groupby(by, sort=False, dropna=False)
        out = grouped[sums].sum(min_count=1)
        out["start"] = grouped["start"].min()
        out["level"] = grouped["level"].agg(lambda s: min(s, key=LEVELS.index))
    out = out.copy()
    out["reports"] = out["reports"].astype(int)
    with_energy = out["energy_kwh"].where(out["energy_kwh"] > 0)
    out[_INTENSITY] = out["emissions_kg"] * 1000 / with_energy
    out.index.name = by
    return out[list(SUMMARY_COLUMNS)]


def _start(doc: Mapping[str, Any]) -> str | None:
    """The earliest ``measures[].measurementDateTime`` (``YYYY-MM-DD HH:MM:SS`` text sorts
    in time order)."""
    measures = doc.get("measures")
    starts = [m.get("measurementDateTime") for m in measures if isinstance(m, Mapping)] \
        if isinstance(measures, list) else []
    texts = [s for s in starts if isinstance(s, str) and s]
    return min(texts) if texts else None


# --------------------------------------------------------------------------- plots

_COMPONENTS = (("cpu_energy_kwh", "CPU", "#4c72b0"), ("gpu_energy_kwh", "GPU", "#dd8452"),
               ("ram_energy_kwh", "RAM", "#55a868"))


def _series(frame: pd.DataFrame) -> list[tuple[str, str, list[float]]]:
    """The stacked series: cpu/gpu/ram energy when the reports split it, else the total."""
    out = []
    for col, label, color in _COMPONENTS:
        if col in frame and frame[col].notna().any():
            out.append((label, color, [0.0 if math.isnan(v) else float(v)
                                       for v in frame[col].tolist()]))
    if not out:
        out.append(("total", "#8172b3", [0.0 if math.isnan(v) else float(v)
                                         for v in frame["energy_kwh"].tolist()]))
    return out


def _energy_unit(series: list[tuple[str, str, list[float]]]) -> tuple[str, float]:
    totals = [sum(vals) for vals in zip(*(s[2] for s in series), strict=True)] or [0.0]
    top = max(totals)
    if top >= 0.1:
        return "kWh", 1.0
    if top >= 1e-4:
        return "Wh", 1e3
    return "mWh", 1e6


def _labels(frame: pd.DataFrame) -> tuple[list[str], str]:
    name = str(frame.index.name or "group")
    labels = [str(v) for v in frame.index.tolist()]
    if len(labels) > 20:
        return [str(i) for i in range(1, len(labels) + 1)], f"{name} (numbered as in the table)"
    # run ids are UUIDs: their first block tells them apart, when it does
    heads = [lab.split("-", 1)[0] for lab in labels]
    if all(len(h) >= 6 for h in heads) and len(set(heads)) == len(heads) and \
            any(len(lab) > 12 for lab in labels):
        return [f"{h}…" for h in heads], f"{name} (first characters of its id)"
    return [lab if len(lab) <= 24 else lab[:11] + "…" + lab[-11:] for lab in labels], name


#: Bars drawn one by one up to this many groups; above, the runs are drawn as stacked areas
#: (a bar would be thinner than a pixel).
_MAX_BARS = 200
#: A log scale when the largest total is this many times the smallest (tiny runs next to
#: big ones would be invisible on a linear scale).
_LOG_SPREAD = 100.0


def _tick_step(n: int, width_in: float) -> int:
    """A round step (1, 2, 5, 10, 20, 50...) giving at most 3 tick labels an inch."""
    most = max(1, int(width_in * 3))
    return next(s for s in _round_steps() if -(-n // s) <= most)


def _round_steps() -> Iterator[int]:
    base = 1
    while True:
        for m in (1, 2, 5):
            yield base * m
        base *= 10


def _figure(frame: pd.DataFrame) -> tuple[Any, Any]:
    """The summary chart as a matplotlib ``(Figure, Axes)``: one stacked bar per group (or
    stacked areas for many groups), on a log scale when the totals span orders of
    magnitude, with labels that never overlap."""
    _require("matplotlib", "plot", "PNG plots")
    from matplotlib.figure import Figure

    series = _series(frame)
    unit, factor = _energy_unit(series)
    labels, xlabel = _labels(frame)
    n = len(labels)
    width = min(16.0, max(6.0, 0.5 + 0.14 * n if n > 20 else 1.1 * n + 3.5))
    fig = Figure(figsize=(width, 4.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    scaled_series = [(label, color, [v * factor for v in values])
                     for label, color, values in series]
    totals = [sum(col) for col in zip(*(v for _, _, v in scaled_series), strict=True)]
    positive = [t for t in totals if t > 0]
    log = bool(positive) and max(positive) / min(positive) > _LOG_SPREAD
    floor = min(positive) / 3 if log else 0.0
    xs = list(range(n))
    bottom = [floor] * n
    for label, color, values in scaled_series:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        if n > _MAX_BARS:
            ax.fill_between(xs, bottom, top, step="mid", label=label, color=color,
                            linewidth=0)
        else:
            ax.bar(xs, values, bottom=bottom, label=label, color=color,
                   width=0.8 if n > 1 else 0.5)
        bottom = top
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
    ax.set_ylabel(f"energy ({unit}{', log scale' if log else ''})")
    ax.set_xlabel(xlabel)
    name = str(frame.index.name or "group")
    ax.set_title(f"Energy by component per {name} ({n} {name}{'s' if n != 1 else ''})")
    if n > 20:
        step = _tick_step(n, width)
        ticks = xs[::step]
        ax.set_xticks(ticks, [labels[i] for i in ticks])
    else:
        long = max((len(lab) for lab in labels), default=0)
        slanted = n > 1 and long * n > 7 * width
        ax.set_xticks(xs, labels, rotation=30 if slanted else 0,
                      ha="right" if slanted else "center")
    ax.margins(x=0.01)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="component", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig, ax


def _svg(frame: pd.DataFrame) -> str:
    from html import escape

    series = _series(frame)
    unit, factor = _energy_unit(series)
    labels, xlabel = _labels(frame)
    n = max(1, len(labels))
    plot_w = max(390, 14 * n)
    height, left, bottom_pad, top, legend_w = 320, 70, 60, 30, 80
    width = left + plot_w + legend_w
    plot_h = height - top - bottom_pad
    totals = [sum(vals) * factor for vals in zip(*(s[2] for s in series), strict=True)]
    top_value = max(totals, default=0.0) or 1.0
    bar_w = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="energy by component">',
             f'<text x="{left}" y="18" font-size="13">Energy by component per '
             f'{escape(str(frame.index.name or "group"))} ({unit})</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
             f'y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>']
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{value:.3g}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="11" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.1f})" text-anchor="middle">'
                 f'energy ({unit})</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" '
                 f'text-anchor="middle">{escape(xlabel)}</text>')
    for i, label in enumerate(labels):
        y = top + plot_h
        for name, color, values in series:
            h = values[i] * factor / top_value * plot_h
            y -= h
            parts.append(f'<rect class="bar" x="{left + i * bar_w + bar_w * 0.1:.2f}" '
                         f'y="{y:.2f}" width="{bar_w * 0.8:.2f}" height="{h:.2f}" '
                         f'fill="{color}"><title>{escape(label)} {name}: '
                         f'{values[i] * factor:.6g} {unit}</title></rect>')
        if n <= 20:
            parts.append(f'<text x="{left + (i + 0.5) * bar_w:.1f}" y="{top + plot_h + 14}" '
                         f'font-size="10" text-anchor="middle">{escape(label)}</text>')
    for j, (name, color, _) in enumerate(series):
        x = left + plot_w + 14
        parts.append(f'<rect x="{x}" y="{top + j * 14}" width="10" height="10" '
                     f'fill="{color}"/><text x="{x + 14}" y="{top + j * 14 + 9}" '
                     f'font-size="10">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _html(frame: pd.DataFrame) -> str:
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in [frame.index.name, *frame.columns])
    rows = []
    for key, row in frame.iterrows():
        cells = [f"<th>{escape(str(key))}</th>"]
        for col in frame.columns:
            value = row[col]
            text = "" if isinstance(value, float) and math.isnan(value) else (
                f"{value:.6g}" if isinstance(value, float) else str(value))
            cells.append(f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>BoAmps summary</title><style>body{font-family:sans-serif;margin:2em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
            "text-align:right}</style></head><body>\n<h1>BoAmps summary</h1>\n"
            + _svg(frame) + "\n<table>\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n")


def plot_summary(frame: pd.DataFrame, path: PathLike, *, force: bool = False) -> Path:
    """Draw a :func:`summarize` frame: a stacked bar of CPU/GPU/RAM energy per group (the
    total energy when the reports do not split it), energy unit on the axis.

    Args:
        frame: a frame from :func:`summarize`.
        path: ``.png`` (needs the ``plot`` extra: matplotlib) or ``.html`` (a
            self-contained page: inline SVG chart and the data table, no script).
        force: overwrite an existing file.

    Returns:
        The file written.

    Raises:
        OutputError: another suffix, or the file exists (without ``force``).
        MissingExtraError: PNG without matplotlib.

    >>> plot_summary(summarize(["reports/"]), "energy.png")   # doctest: +SKIP
    """
    from .io.writers import atomic_write

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise OutputError("the plot must be a .png or .html file", Location(target))
    _refuse_existing(target, force)
    if suffix == ".png":
        fig, _ = _figure(frame)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        atomic_write(target, buf.getvalue())
    else:
        atomic_write(target, _html(frame))
    return target


# =========================================================================== schema


def _inline(node: Any, schemas: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in schemas:
            target = {k: v for k, v in schemas[ref].items() if k not in ("$schema", "id")}
            merged = {k: v for k, v in node.items() if k != "$ref"}
            merged.update(_inline(target, schemas))
            return merged
        return {k: _inline(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, schemas) for v in node]
    return node


def schema_document(which: SchemaChoice = "combined") -> dict[str, Any]:
    """The JSON Schema boamps-etl validates reports with.

    Args:
        which: ``'official'``: the BoAmps report schema with its ``$ref`` s inlined (one
            self-contained draft-04 document); ``'extension'``: the boamps-etl extension
            schema (units and bounds of extra fields); ``'combined'``: both, as a draft-07
            ``allOf`` (what ``validate`` checks).

    Raises:
        UsageError: ``which`` is not one of the three.

    >>> schema_document("official")["title"]
    'report'
    """
    from .schema import REPORT_ID, extension_schema, official_schemas

    if which not in ("combined", "official", "extension"):
        raise UsageError(f"unknown schema '{which}'", hint="combined, official or extension")
    if which == "extension":
        return dict(extension_schema())
    schemas = official_schemas()
    official: dict[str, Any] = _inline(schemas[REPORT_ID], schemas)
    if which == "official":
        return official
    inner = {k: v for k, v in official.items() if k not in ("$schema", "id")}
    ext = {k: v for k, v in extension_schema().items() if k not in ("$schema", "$id")}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "BoAmps report as boamps-etl validates it",
        "description": "allOf: the official BoAmps report schema (refs inlined) and the "
                       "boamps-etl extension schema.",
        "allOf": [inner, ext],
    }
