"""Rows + mapping + context -> validated BoAmps reports.

Steps for one CSV: choose the rows that stand for a run (the last row of each run_id: CodeCarbon
writes cumulative flush rows; every row of a task file; every row with ``per_row``), map them
column by column, assemble one report per row, merge the user's context over it, put keys
in the schema's order, and validate. Each report carries its status:

* ``valid``: passes the official and the extension schema;
* ``incomplete``: only required fields are missing (those CodeCarbon cannot know); written
  as a ``draft`` when ``allow_incomplete`` is set, else counted as invalid;
* ``invalid``: a value is wrong (type, enum, bound) or a cell could not be read.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from .context import Context, merge_into
from .errors import Issue, Location
from .io.readers import ROW_COLUMN, CsvSource, CsvTable
from .levels import assess, count_levels
from .mapping import FieldMapping, apply_mapping, issue_for, problems_by_row
from .schema import child_keys, split_path
from .shapes import MAX_SHAPES, schema_path, supported, tag, value_check
from .transforms import TransformContext, ValueProblem, clean, country_from_iso, printable
from .validate import full_check, schema_errors

Status = Literal["valid", "incomplete", "invalid"]
SECTION_ORDER = ("header", "task", "measures", "system", "software", "infrastructure",
                 "environment", "quality")


@dataclass
class ConvertedReport:
    """One BoAmps report and where it came from.

    Attributes:
        document: the report as plain JSON data (camelCase keys).
        source: the CSV it was made from.
        rows: the spreadsheet rows it stands for (all rows of its run_id; the last one
            holds the values).
        run_id: CodeCarbon's run_id, when the row had one.
        tracker: the tool whose file it was made from (``codecarbon``, ``eco2ai``...).
        status: 'valid', 'incomplete' or 'invalid'.
        issues: schema errors and warnings, located by file, row and field.
    """

    document: dict[str, Any]
    source: str
    rows: tuple[int, ...]
    run_id: str | None
    status: Status
    issues: list[Issue] = field(default_factory=list)
    columns: dict[str, str | None] = field(default_factory=dict)
    level: str = "none"  # completeness: none, bronze, silver or gold (boamps_etl.levels)
    tracker: str = "codecarbon"  # the tool that wrote the source (boamps_etl.trackers)
    #: what was recovered to make this report (NUL padding stripped, a short row completed
    #: or realigned, the country derived from its ISO code); empty for a clean row
    recovered: tuple[str, ...] = ()

    @property
    def row(self) -> int:
        """The spreadsheet row whose values the report holds."""
        return self.rows[-1]

    @property
    def report_id(self) -> str | None:
        value = self.document.get("header", {}).get("reportId")
        return value if isinstance(value, str) else None

    @property
    def report(self) -> Any:
        """The report as a pydantic :class:`boamps_etl.models.Report`."""
        from .models import Report

        return Report.model_validate(self.document)


@dataclass
class ConversionResult:
    """Everything one conversion produced: reports, and problems that produced none."""

    reports: list[ConvertedReport] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rows_read: int = 0

    @property
    def valid(self) -> list[ConvertedReport]:
        return [r for r in self.reports if r.status == "valid"]

    @property
    def invalid(self) -> list[ConvertedReport]:
        return [r for r in self.reports if r.status != "valid"]

    def writable(self, allow_incomplete: bool = False) -> list[ConvertedReport]:
        """Reports to write: valid ones, and incomplete drafts when allowed."""
        ok = ("valid", "incomplete") if allow_incomplete else ("valid",)
        return [r for r in self.reports if r.status in ok]

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [r.document for r in self.reports]

    @property
    def errors(self) -> list[Issue]:
        """Every error: reading problems and the problems of reports not valid."""
        out = [i for i in self.issues if i.severity == "error"]
        for r in self.reports:
            out.extend(i for i in r.issues if i.severity == "error")
        return out

    @property
    def warnings(self) -> list[Issue]:
        out = [i for i in self.issues if i.severity == "warning"]
        for r in self.reports:
            out.extend(i for i in r.issues if i.severity == "warning")
        return out

    def level_counts(self) -> dict[str, int]:
        """How many reports reach each completeness level (invalid ones count as 'none')."""
        return count_levels(r.level for r in self.reports)

    def extend(self, other: ConversionResult) -> None:
        self.reports.extend(other.reports)
        self.issues.extend(other.issues)
        self.files.extend(other.files)
        self.rows_read += other.rows_read

    def __iter__(self) -> Iterator[ConvertedReport]:
        return iter(self.reports)

    def __len__(self) -> int:
        return len(self.reports)


# --------------------------------------------------------------------------- row selection


class _Columns:
    """A table's columns as lists, what ``frame[column].tolist()`` gives: from the reader's
    ``cells`` when it kept them (no frame is built), else from the frame."""

    def __init__(self, table: CsvTable) -> None:
        self.cells = table.cells
        self.frame: Any = table.frame if table.cells is None else None
        self.lists: dict[str, list[Any]] = {}

    def __contains__(self, name: str) -> bool:
        return name in (self.cells if self.cells is not None else self.frame.columns)

    def __len__(self) -> int:
        return len(self[ROW_COLUMN])

    def __getitem__(self, name: str) -> list[Any]:
        if self.cells is not None:
            return self.cells[name]
        found = self.lists.get(name)
        if found is None:
            found = self.lists[name] = self.frame[name].tolist()
        return found


def select_rows(table: CsvTable, per_row: bool = False,
                groups: dict[int, tuple[int, ...]] | None = None,
                columns: _Columns | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """Indexes of the rows that become reports, each with the spreadsheet rows it stands for.

    Rows sharing a run_id are cumulative flushes of one run: the last one holds the totals.
    Rows without a usable run_id ('None', empty, V1 files) stand alone. Task files give one
    report per task row.
    """
    frame = columns if columns is not None else _Columns(table)
    rows = frame[ROW_COLUMN]
    n = len(rows)
    if groups is not None:  # chosen beforehand, over the whole file (streaming)
        return [(i, groups.get(rows[i], (rows[i],))) for i in range(n)]
    if per_row or table.kind == "task" or "run_id" not in frame:
        return [(i, (rows[i],)) for i in range(n)]
    run_ids = [clean(v) for v in frame["run_id"]]
    by_run: dict[str, list[int]] = {}
    for i, run_id in enumerate(run_ids):
        if run_id is not None:
            by_run.setdefault(run_id, []).append(i)
    out: list[tuple[int, tuple[int, ...]]] = []
    for i, run_id in enumerate(run_ids):
        if run_id is None:
            out.append((i, (rows[i],)))
        elif by_run[run_id][-1] == i:
            out.append((i, tuple(rows[j] for j in by_run[run_id])))
    return out


def normalise_tracker(columns: dict[str, list[str | None]]) -> None:
    """BoAmps_Carbon tracker CSVs wrap values as ``Power(kW=0.0425)``: power cells are kW
    (converted to W by exact decimal scaling), energy cells are kWh."""
    from decimal import Decimal

    from .transforms import WRAPPED_UNIT

    for name, cells in columns.items():
        if not (name.endswith("_power") or name.endswith("_energy")):
            continue
        factor = Decimal(1000) if name.endswith("_power") else None
        for i, cell in enumerate(cells):
            if cell is None:
                continue
            match = WRAPPED_UNIT.match(cell)
            if match:
                inner = match.group(1).strip()
                if factor is not None:
                    try:
                        cells[i] = str(Decimal(inner) * factor)
                    except ArithmeticError:
                        cells[i] = inner
                else:
                    cells[i] = inner


# --------------------------------------------------------------------------- assembly


@cache
def _parsed(target: str) -> tuple[str | int, ...]:
    return tuple(split_path(target))


def _set(doc: dict[str, Any], parts: Sequence[str | int], value: Any) -> None:
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            while len(node) <= part:
                node.append({})
            if isinstance(nxt, int) and not isinstance(node[part], list):
                node[part] = []
            node = node[part]
            continue
        default: Any = [] if isinstance(nxt, int) else {}
        node = node.setdefault(part, default)
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


@dataclass(frozen=True)
class _Plan:
    """Where each rule's value goes, worked out once per mapping instead of once per row."""

    plain: tuple[tuple[str, tuple[str | int, ...]], ...]
    keyed: tuple[tuple[str, str, str, tuple[str | int, ...], bool], ...]
    lists: tuple[tuple[str, tuple[str | int, ...], tuple[tuple[str, str], ...]], ...]
    columns: tuple[str, ...] = ()  # FieldMapping.columns()


# each mapping's plan, for as long as the mapping lives (a mapping is never changed once
# loaded): a notebook or a live report loads one per conversion, none is kept for them
_PLANS: dict[int, _Plan] = {}


def _plan(mapping: FieldMapping) -> _Plan:
    cached = _PLANS.get(id(mapping))
    if cached is not None:
        return cached
    plain = []
    keyed = []
    lists: dict[str, list[str]] = {}
    for target, rule in mapping.rules.items():
        if rule.is_entry:
            continue
        parts = _parsed(target)
        key_pos = next((j for j, p in enumerate(parts) if isinstance(p, str)
                        and p.startswith("[")), None)
        if key_pos is None:
            plain.append((target, parts))
            continue
        list_path = ".".join(str(p) for p in parts[:key_pos])
        key = str(parts[key_pos])[1:]
        keyed.append((target, list_path, key, parts[key_pos + 1:], not rule.has_const))
        keys = lists.setdefault(list_path, [])
        if key not in keys:
            keys.append(key)
    plan = _Plan(tuple(plain), tuple(keyed), tuple(
        (lp, _parsed(lp), tuple((k, f"{lp}[{k}]") for k in keys)) for lp, keys in lists.items()),
        tuple(mapping.columns()))
    _PLANS[id(mapping)] = plan
    weakref.finalize(mapping, _PLANS.pop, id(mapping), None)  # before its id is reused
    return plan


def _make(made: dict[tuple[str | int, ...], Any], path: tuple[str | int, ...],
          want_list: bool = False) -> Any:
    """The container at ``path`` (a list when ``want_list``), made with its ancestors."""
    node = made.get(path)
    if node is not None:
        return node
    part = path[-1]
    holder = _make(made, path[:-1], want_list=isinstance(part, int))
    fresh: Any = [] if want_list else {}
    if isinstance(part, int):
        while len(holder) <= part:
            holder.append({})
        if want_list and not isinstance(holder[part], list):
            holder[part] = fresh
        node = holder[part]
    else:
        node = holder.setdefault(part, fresh)
    made[path] = node
    return node


def assemble(mapping: FieldMapping, values: dict[str, list[Any]], entries: dict[str, list[bool]],
             i: int) -> dict[str, Any]:
    """Build the mapped part of report ``i`` from the column-wise rule values."""
    plan = _plan(mapping)
    doc: dict[str, Any] = {}
    made: dict[tuple[str | int, ...], Any] = {(): doc}  # containers made for this report
    for target, parts in plan.plain:
        value = values[target][i]
        if value is None:
            continue
        parent = parts[:-1]
        node = made.get(parent)
        if node is None:
            node = _make(made, parent)
        node[parts[-1]] = value
    if not plan.keyed:
        return doc
    items: dict[tuple[str, str], dict[str, Any]] = {}
    sourced: set[tuple[str, str]] = set()
    for target, list_path, key, sub, is_sourced in plan.keyed:
        value = values[target][i]
        if value is None:
            continue
        entry = items.setdefault((list_path, key), {})
        if len(sub) == 1 and isinstance(sub[0], str):
            entry[sub[0]] = value
        else:
            _set(entry, sub, value)
        if is_sourced:
            sourced.add((list_path, key))
    for list_path, parts, keys in plan.lists:
        kept = []
        for key, entry_target in keys:
            mask = entries.get(entry_target)
            if (list_path, key) in sourced and (mask is None or mask[i]):
                kept.append(items[(list_path, key)])
        if kept:
            _set(doc, parts, kept)
    return doc


class _Order(dict[str, int]):
    """Position of each known key; unknown keys sort last, in their own order."""

    def __missing__(self, key: str) -> int:
        return 1 << 20


@cache
def _key_order(path: str) -> _Order:
    keys = child_keys(path) if path else list(SECTION_ORDER)
    return _Order({k: n for n, k in enumerate(keys)})


@cache
def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def ordered(doc: Any, path: str = "") -> Any:
    """A copy of ``doc`` with keys in the schemas' order (official first, then extension;
    unknown keys last, in their own order): stable, readable output. Containers are new;
    scalars are shared."""
    if isinstance(doc, dict):
        order = _key_order(path)
        out = {}
        for key in sorted(doc, key=order.__getitem__):
            value = doc[key]
            out[key] = ordered(value, _child_path(path, key)) if isinstance(
                value, dict | list) else value
        return out
    if isinstance(doc, list):
        item_path = path + "[0]"
        return [ordered(v, item_path) if isinstance(v, dict | list) else v for v in doc]
    return doc


def build_report(mapping: FieldMapping, values: dict[str, Any], entries: dict[str, Any], i: int,
                 layers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Report ``i``: its mapped values, the context layers merged over them in order, keys
    in the schemas' order."""
    doc = assemble(mapping, values, entries, i)
    for layer in layers:
        merge_into(doc, layer)
    out: dict[str, Any] = ordered(doc)
    return out


def _status(issues: list[Issue]) -> Status:
    errors = [i for i in issues if i.severity == "error"]
    if not errors:
        return "valid"
    if all(i.code == "missing-field" for i in errors):
        return "incomplete"
    return "invalid"


MISSING_HINT = ("the file does not provide these: add them to a context file (--context; "
                "'boamps-etl init-context' writes a template) or with --set PATH=VALUE, "
                "or pass --allow-incomplete to write drafts")


def required_leaves(path: str) -> list[str]:
    """A missing object stands for its required fields: 'task' -> task.taskStage, ..."""
    from .schema import field_spec

    spec = field_spec(path)
    if spec is None or spec.type != "object" or not isinstance(spec.node, dict):
        return [path]
    required = spec.node.get("required") or []
    return [f"{path}.{k}" for k in required] or [path]


def _summarise_missing(issues: list[Issue], where: Location) -> list[Issue]:
    """One line naming every missing field of a report, instead of one per field."""
    missing = [i for i in issues if i.code == "missing-field"]
    expanded: list[str] = []
    for i in missing:
        expanded.extend(required_leaves(str(i.where.json_path)))
    if len(expanded) > 1:
        fields = ", ".join(expanded)
        summary = Issue("missing-field", f"missing required fields {fields}", where, "error",
                        MISSING_HINT)
        return [summary, *[i for i in issues if i.code != "missing-field"]]
    if len(missing) <= 1:
        return [Issue(i.code, i.message if i.where.json_path is None else
                      f"missing required field {i.where.json_path}", where, i.severity,
                      MISSING_HINT) for i in missing] + [i for i in issues if i not in missing]
    fields = ", ".join(str(i.where.json_path) for i in missing)
    summary = Issue("missing-field", f"missing required fields {fields}", where, "error",
                    MISSING_HINT)
    return [summary, *[i for i in issues if i.code != "missing-field"]]


def _cell_issues(problems: list[tuple[str, ValueProblem]], file: str, row: int) -> list[Issue]:
    """One issue per bad cell: a cell several rules read (duration feeds three fields) is
    reported once, naming every field it was meant for."""
    merged: dict[tuple[str | None, str, str | None], tuple[ValueProblem, list[str]]] = {}
    for target, problem in problems:
        key = (problem.column, problem.message, problem.hint)
        merged.setdefault(key, (problem, []))[1].append(target)
    return [issue_for(problem, ", ".join(targets), file, row)
            for problem, targets in merged.values()]


EMPTY_CELL_HINT = ("write the value CodeCarbon measured, or set it with --set PATH=VALUE, or "
                   "pass --allow-incomplete to write drafts")


def _missing(issues: list[Issue], mapping: FieldMapping, table: CsvTable,
             sub: Callable[[str], list[Any]], i: int, where: Location) -> list[Issue]:
    """Missing required fields in one line, except those the CSV has a column for but this
    row leaves empty: those are said with their column, not as something CodeCarbon cannot
    know."""
    rest: list[Issue] = []
    empty: list[Issue] = []
    for issue in issues:
        rule = mapping.rules.get(str(issue.where.json_path)) \
            if issue.code == "missing-field" else None
        present = [c for c in rule.source if c in table.columns] if rule else []
        if not present:
            rest.append(issue)
            continue
        column = present[0]
        raw = str(sub(column)[i] or "").strip()
        state = f"holds '{printable(raw)}', which means no value" if raw else "is empty"
        empty.append(Issue("missing-field", f"missing required field {issue.where.json_path}: "
                           f"the cell {state}", Location(where.file, where.row, column),
                           "error", EMPTY_CELL_HINT))
    return [*_summarise_missing(rest, where), *empty]


def _value_checks(mapping: FieldMapping, applied: Any) -> list[tuple[list[Any], Any]]:
    """(column of mapped values, value check) for every mapped field the schemas bound."""
    out = []
    for target, col in applied.values.items():
        check = _target_check(target)
        if check is not None:
            out.append((col, check))
    return out


@cache
def _target_check(target: str) -> Callable[[Any], bool] | None:
    return value_check(schema_path(target))


def needed_columns(mapping: FieldMapping, context: Context | None) -> set[str]:
    """The columns a conversion reads: the mapping's sources, the context's ``match``
    columns, and those that name a report (run, task, project, experiment). The
    column-wise engine reads the same ones (:class:`boamps_etl.engine.convert.Converter`)."""
    needed = set(_plan(mapping).columns)
    if context is not None:
        needed.update(context.match_columns)
    needed.update(("run_id", "task_name", "project_name", "experiment_id"))
    return needed


def convert_table(table: CsvTable, mapping: FieldMapping, context: Context | None = None, *,
                  per_row: bool = False, allow_incomplete: bool = False,
                  groups: dict[int, tuple[int, ...]] | None = None,
                  shapes: dict[Any, str | None] | None = None) -> ConversionResult:
    """Convert one read CSV into reports (see the module docs for the steps).

    ``groups`` (streaming): the table holds only the rows to convert, chosen over the
    whole file; it maps a run's last row to all the rows of that run.

    ``shapes``: the signatures of the valid reports seen so far (see
    :mod:`boamps_etl.shapes`), each with its level once known, kept by the caller across
    the files it converts with this same ``mapping`` and ``context``, neither changed
    meanwhile (a batch's worker: many small files, most of the same few signatures); it is
    added to. Without it each call starts afresh.
    """
    result = _convert_table(table, mapping, context, per_row=per_row,
                            allow_incomplete=allow_incomplete, groups=groups, shapes=shapes)
    if table.row_labels:  # a JSON report or a log: its records are not rows
        result.issues = _labelled(result.issues, table)
        for report in result.reports:
            report.issues = _labelled(report.issues, table)
    return result


def convert_blocks(source: CsvSource, mapping: FieldMapping, context: Context | None = None,
                   *, per_row: bool = False, allow_incomplete: bool = False,
                   block_rows: int = 5_000, share: tuple[int, int] | None = None
                   ) -> Iterator[ConversionResult]:
    """A scanned CodeCarbon source converted block by block, in bounded memory: the rows a
    later row of their run supersedes left out, each run's rows known to its report. What
    :func:`boamps_etl.api.convert_to` and a batch's large files do with a file the
    column-wise engine does not take. ``share`` (i, n): only the blocks i, i + n, i + 2n...
    (a worker's share of a file split between n)."""
    skip, groups = source.selection()
    for number, block in enumerate(source.blocks(block_rows, skip)):
        if share is not None and number % share[1] != share[0]:
            continue
        yield convert_table(block, mapping, context, per_row=per_row,
                            allow_incomplete=allow_incomplete, groups=groups)


def _labelled(issues: list[Issue], table: CsvTable) -> list[Issue]:
    """The issues located on the table's rows, named by the rows' labels."""
    import dataclasses

    out = []
    for issue in issues:
        w = issue.where
        label = table.row_labels.get(w.row) if w.row is not None and \
            str(w.file) == table.name else None
        out.append(issue if label is None else dataclasses.replace(
            issue, where=dataclasses.replace(w, row_label=label)))
    return out


def _convert_table(table: CsvTable, mapping: FieldMapping, context: Context | None, *,
                   per_row: bool, allow_incomplete: bool,
                   groups: dict[int, tuple[int, ...]] | None,
                   shapes: dict[Any, str | None] | None = None) -> ConversionResult:
    result = ConversionResult(issues=list(table.issues), files=[table.name],
                              rows_read=table.records)
    frame = _Columns(table)
    if table.records == 0 and len(frame) == 0:  # only a file's first block has records
        result.issues.append(Issue("no-rows", "has a header but no data rows: 0 reports",
                                   Location(table.name), "warning"))
    selected = select_rows(table, per_row, groups, frame)
    if not selected:
        return result
    indexes = [i for i, _ in selected]
    every = indexes == list(range(len(frame)))

    def sub(name: str) -> list[Any]:
        """The column's cells of the selected rows."""
        cells = frame[name]
        return cells if every else [cells[i] for i in indexes]

    needed = needed_columns(mapping, context)
    columns: dict[str, Sequence[str | None]] = {
        c: [clean(v) for v in sub(c)] for c in table.columns if c in needed and c in frame}
    if table.kind == "tracker":
        normalise_tracker(columns)  # type: ignore[arg-type]
    n = len(indexes)
    derived = derive_country(columns, n)
    run_id_cells = columns.get("run_id")
    # Derived report ids hash the whole row: only build those cells when some row needs one.
    content = [[None if v is None else str(v) for v in sub(c)] for c in table.columns] \
        if per_row or table.kind == "task" or run_id_cells is None or None in run_id_cells \
        else []
    ctx = TransformContext(table.kind, per_row, {}, (), [rows[-1] for _, rows in selected],
                           content)
    applied = apply_mapping(mapping, columns, n, ctx)
    problems = problems_by_row(applied)
    run_ids = columns.get("run_id", [None] * n)
    match_cols = context.match_columns if context is not None else []
    row_values_cols = {c: columns.get(c, [None] * n) for c in match_cols}
    value_cols = list(applied.values.values())
    entry_masks = list(applied.entries.values())
    checked = _value_checks(mapping, applied)
    # signature of a valid report -> its level (once known)
    seen: dict[Any, str | None] = {} if shapes is None else shapes
    if len(seen) > MAX_SHAPES:
        seen.clear()
    use_signatures = supported()
    # Column-wise, then one tuple per row: the type tags of the mapped values, the entries kept.
    tag_rows = list(zip(*[list(map(tag, col)) for col in value_cols], strict=True)) \
        if use_signatures and value_cols else [()] * n
    mask_rows = list(zip(*entry_masks, strict=True)) if entry_masks else [()] * n
    values_ok = [all(flags) for flags in zip(*[[v is None or check(v) for v in col]
                                               for col, check in checked], strict=True)] \
        if checked else [True] * n
    for i, (_, rows) in enumerate(selected):
        where = Location(table.name, rows[-1])
        layers: list[dict[str, Any]] = []
        if context is not None and not context.is_empty():
            row_view = {c: cells[i] for c, cells in row_values_cols.items()}
            layers = context.values_for(row_view)
        doc = build_report(mapping, applied.values, applied.entries, i, layers)
        issues = _cell_issues(problems.get(i, []), table.name, rows[-1])
        recovered = list(table.recovered.get(rows[-1], ()))
        if i in derived:
            recovered.append(COUNTRY_DERIVED)
            issues.append(Issue("recovered-country", f"recovered: {COUNTRY_DERIVED}",
                                Location(table.name, rows[-1], "country_iso_code"),
                                "warning"))
        signature: Any = None
        if not any(issue.severity == "error" for issue in issues):
            if use_signatures:  # see boamps_etl.shapes: the report's shape, without a walk
                signature = (tag_rows[i], mask_rows[i], tuple(id(layer) for layer in layers))
            known = signature is not None and signature in seen
            valid = (known and values_ok[i]) or full_check(doc)
            if valid and signature is not None and not known:
                seen[signature] = None
            if not valid:
                issues += _missing(schema_errors(doc, where), mapping, table, sub, i, where)
        status: Status = "invalid" if any(i.code == "bad-value" for i in issues) else _status(
            issues)
        if status == "incomplete" and allow_incomplete:
            doc.setdefault("header", {})["reportStatus"] = "draft"
            doc = ordered(doc)
            issues = [Issue(i.code, i.message, i.where, "warning", i.hint) for i in issues]
        level = "none"
        if status == "valid":
            # The level depends only on which fields hold values: once per signature.
            cached = seen.get(signature) if signature is not None else None
            level = cached or assess(doc, issues).level
            if signature is not None:
                seen[signature] = level
        result.reports.append(ConvertedReport(doc, table.name, rows, run_ids[i], status, issues,
                                              {"project_name": columns.get("project_name",
                                                                           [None] * n)[i],
                                               "task_name": columns.get("task_name",
                                                                        [None] * n)[i]},
                                              level, recovered=tuple(recovered)))
    return result


COUNTRY_DERIVED = "environment.country derived from the ISO 3166 code in country_iso_code"


def derive_country(columns: dict[str, Sequence[str | None]], n: int) -> dict[int, str]:
    """Rows whose ``country_name`` is empty but whose ``country_iso_code`` is an ISO 3166
    code (alpha-2 or alpha-3): the name is filled in from the code (in ``columns``).
    Returns those rows, each with its code.

    Column-wise twin: none; ``engine/convert.py`` sends such rows here (``Converter.convert``).
    """
    codes = columns.get("country_iso_code")
    if codes is None:
        return {}
    names = list(columns.get("country_name") or [None] * n)
    derived: dict[int, str] = {}
    for i, (name, code) in enumerate(zip(names, codes, strict=True)):
        if name is None and code is not None:
            found = country_from_iso(code)
            if found is not None:
                names[i] = found
                derived[i] = code
    if derived:
        columns["country_name"] = names
    return derived
