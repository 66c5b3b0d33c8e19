"""The mapping: CodeCarbon columns -> BoAmps paths, as data (``mappings/codecarbon.yaml``).

A mapping file is a table of rules keyed by BoAmps path::

    version: 1
    extends: codecarbon          # the built-in default (the default); false: stand alone
    rules:
      measures[0].powerConsumption: {source: energy_consumed, unit: kWh}
      infrastructure.components[gpu]: {when: {column: gpu_count, gt: 0}}
      infrastructure.components[gpu].nbComponent: {source: [gpu_count, gpu_model],
                                                   transform: gpu_count}
      task.taskStage: {const: inference}
      environment.location: null  # removes the default's rule

A rule takes its value from ``source`` (a column, or several: the first non-empty, or the
inputs of ``transform``), ``const``, or ``default`` (used when the source is empty);
``source_unit`` converts to the target ``unit`` (``unit_column``: a column holding each
row's unit, as trackers that write it beside the value do; ``source_unit`` is then the unit
of rows that leave it empty); ``when`` keeps the value only for rows
meeting a condition. ``components[cpu]`` addresses the list entry whose componentType is
``cpu``; it exists for a row when its ``when`` holds and one of its sourced fields has a
value. Every rule is checked when the file is loaded; errors name the file and line.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import Issue, Location, MappingError
from .io.storage import normalize
from .schema import FieldSpec, field_spec, split_path
from .transforms import (
    TRANSFORMS,
    Cells,
    Problems,
    TransformContext,
    ValueProblem,
    clean,
    known_units,
    normalise_unit,
    not_finite,
    to_float,
    to_int,
    unit_factor,
)
from .yamlio import Lines, line_of, load_data

DEFAULT_MAPPING = "codecarbon"
RULE_KEYS = ("source", "const", "default", "transform", "args", "when", "unit", "source_unit",
             "unit_column", "note")
TOP_KEYS = ("version", "name", "description", "extends", "rules")
OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "present", "absent")
KEYED_LISTS = {"infrastructure.components": "componentType"}


def suggest(word: str, choices: Sequence[str]) -> str:
    """A "did you mean" hint, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any = None

    def __str__(self) -> str:
        if self.op in ("present", "absent"):
            return f"{self.column} {self.op}"
        symbol = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<=",
                  "in": "in", "not_in": "not in"}[self.op]
        return f"{self.column} {symbol} {self.value}"

    def evaluate(self, cells: Cells) -> list[bool]:
        """One boolean per row; a missing or non-numeric cell fails numeric comparisons."""
        op, target = self.op, self.value
        if op == "present":
            return [c is not None for c in cells]
        if op == "absent":
            return [c is None for c in cells]
        if op in ("in", "not_in"):
            wanted = {str(v) for v in target}
            return [(c in wanted) == (op == "in") if c is not None else op == "not_in"
                    for c in cells]
        numeric = isinstance(target, int | float) and not isinstance(target, bool)
        out: list[bool] = []
        for c in cells:
            if c is None:
                out.append(op == "ne")
                continue
            left: Any = c
            right: Any = target
            if numeric:
                try:
                    left = to_float(c)
                except ValueProblem:
                    out.append(False)
                    continue
            else:
                right = str(target)
            out.append({"eq": left == right, "ne": left != right, "gt": left > right,
                        "ge": left >= right, "lt": left < right, "le": left <= right}[op])
        return out


@dataclass(frozen=True)
class Rule:
    """One mapping entry: where a BoAmps field's value comes from."""

    target: str
    source: tuple[str, ...] = ()
    const: Any = None
    default: Any = None
    transform: str | None = None
    args: MappingABC[str, Any] = field(default_factory=dict)
    when: tuple[Condition, ...] = ()
    unit: str | None = None
    source_unit: str | None = None
    note: str | None = None
    line: int | None = None
    file: str | None = None
    spec: FieldSpec | None = None
    unit_column: str | None = None  # a column giving each row's unit (then source_unit: default)

    @property
    def is_entry(self) -> bool:
        """True for a rule on a keyed list entry itself (``components[gpu]``): a condition."""
        return self.target.endswith("]")

    @property
    def has_const(self) -> bool:
        return self.const is not None

    def describe_source(self) -> str:
        if self.has_const:
            return f"= {self.const!r}"
        text = ", ".join(self.source)
        if self.default is not None:
            text += f" (default {self.default!r})"
        return text


@dataclass
class FieldMapping:
    """A loaded, checked mapping: rules in file order (the default's first)."""

    rules: dict[str, Rule]
    name: str = DEFAULT_MAPPING
    files: tuple[str, ...] = ()
    description: str = ""
    base: str | None = DEFAULT_MAPPING  # the built-in mapping it extends (None: stands alone)

    def table(self) -> list[dict[str, str]]:
        """The effective field table: BoAmps path, source, transform, unit, note."""
        rows = []
        for rule in self.rules.values():
            unit = rule.unit or (rule.spec.unit if rule.spec else None) or ""
            if rule.source_unit and rule.unit:
                unit = f"{rule.source_unit} -> {rule.unit}"
            if rule.unit_column and rule.unit:
                unit = f"unit in {rule.unit_column} -> {rule.unit}"
            rows.append({
                "path": rule.target,
                "source": rule.describe_source(),
                "transform": rule.transform or "",
                "unit": unit,
                "when": " and ".join(str(c) for c in rule.when),
                "note": rule.note or "",
            })
        return rows

    def columns(self) -> list[str]:
        """Every CSV column some rule reads."""
        out: list[str] = []
        for rule in self.rules.values():
            for col in (*rule.source, *(c.column for c in rule.when),
                        *((rule.unit_column,) if rule.unit_column else ())):
                if col not in out:
                    out.append(col)
        return out


# --------------------------------------------------------------------------- loading


def builtin_mapping_path(name: str = DEFAULT_MAPPING) -> Path:
    from .schema import data_dir

    return data_dir("mappings") / f"{name}.yaml"


def builtin_mappings() -> list[str]:
    """Names of the built-in mappings: one per tracker (``codecarbon``, ``eco2ai``...)."""
    from .schema import data_dir

    return sorted(p.stem for p in data_dir("mappings").glob("*.yaml"))


def _builtin_name(path: Path) -> str | None:
    """The name of a built-in mapping file, or None for a user's file."""
    for name in builtin_mappings():
        if path.resolve() == builtin_mapping_path(name).resolve():
            return name
    return None


def _parse_condition(raw: Any, where: Location) -> tuple[Condition, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if not isinstance(item, dict) or "column" not in item:
            raise MappingError("'when' needs a map such as {column: gpu_count, gt: 0}", where)
        column = item["column"]
        ops = [k for k in item if k != "column"]
        if len(ops) != 1:
            raise MappingError(f"'when' needs exactly one operator among {', '.join(OPS)}",
                               where)
        op = ops[0]
        if op not in OPS:
            hint = suggest(op, OPS)
            raise MappingError(f"unknown 'when' operator '{op}'" + (f"; {hint}" if hint else ""),
                               where, f"operators: {', '.join(OPS)}")
        value = item[op]
        if op in ("in", "not_in") and not isinstance(value, list):
            raise MappingError(f"'{op}' needs a list of values", where)
        out.append(Condition(str(column), op, value))
    return tuple(out)


def _check_const(value: Any, spec: FieldSpec, where: Location) -> None:
    typ = spec.type
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(typ or "", True)
    if not ok:
        raise MappingError(f"constant {value!r} does not fit {spec.path}, which holds {typ}",
                           where, "quote text values in YAML, e.g. '3.10'")
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(str(v) for v in spec.enum if v is not None)
        raise MappingError(f"constant {value!r} is not allowed for {spec.path}", where,
                           f"allowed: {allowed}")


def _parse_rule(target: str, raw: Any, file: str, line: int | None) -> Rule:
    where = Location(file, line=line)
    parts = split_path(target)
    for i, part in enumerate(parts):
        if isinstance(part, str) and part.startswith("["):
            prefix = ".".join(p for p in parts[:i] if isinstance(p, str))
            if prefix not in KEYED_LISTS:
                raise MappingError(
                    f"'{target}': only {', '.join(KEYED_LISTS)} entries can be keyed by name; "
                    "use a number index elsewhere", where)
    is_entry = target.endswith("]")
    spec = None if is_entry else field_spec(target)
    if not is_entry and spec is None:
        leaf = target.rsplit(".", 1)[-1]
        from .schema import child_keys
        parent = target.rsplit(".", 1)[0] if "." in target else ""
        options = child_keys(parent)
        hint = suggest(leaf, options)
        raise MappingError(f"unknown BoAmps target path '{target}'" + (f"; {hint}" if hint
                           else ""), where,
                           "targets are official BoAmps fields or fields of the extension "
                           "schema (boamps-etl schema --extension)")
    if spec is not None and spec.type in ("object", "array"):
        raise MappingError(f"'{target}' is an {spec.type}; map its fields one by one", where)
    if not isinstance(raw, dict):
        raise MappingError(f"rule for '{target}' must be a map such as {{source: column}}",
                           where)
    for key in raw:
        if key not in RULE_KEYS:
            hint = suggest(str(key), RULE_KEYS)
            raise MappingError(f"unknown rule key '{key}' in '{target}'" +
                               (f"; {hint}" if hint else ""), where,
                               f"rule keys: {', '.join(RULE_KEYS)}")
    source = raw.get("source")
    sources: tuple[str, ...]
    if source is None:
        sources = ()
    elif isinstance(source, str):
        sources = (source,)
    elif isinstance(source, list) and all(isinstance(s, str) for s in source) and source:
        sources = tuple(source)
    else:
        raise MappingError(f"'source' of '{target}' must be a column name or a list of them",
                           where)
    has_const = "const" in raw
    when = _parse_condition(raw["when"], where) if "when" in raw else ()
    if is_entry:
        extra = set(raw) - {"when", "note"}
        if extra or not when:
            raise MappingError(f"'{target}' (a list entry) takes only 'when' (and 'note')",
                               where)
        return Rule(target, when=when, note=raw.get("note"), line=line, file=file)
    assert spec is not None
    if has_const and sources:
        raise MappingError(f"'{target}' has both 'source' and 'const'; keep one", where)
    if not has_const and not sources and "default" not in raw:
        raise MappingError(f"'{target}' needs 'source', 'const' or 'default'", where)
    transform = raw.get("transform")
    if transform is not None:
        if transform not in TRANSFORMS:
            hint = suggest(str(transform), list(TRANSFORMS))
            raise MappingError(f"unknown transform '{transform}' in '{target}'" +
                               (f"; {hint}" if hint else ""), where,
                               f"transforms: {', '.join(sorted(TRANSFORMS))}")
        low, high = TRANSFORMS[transform].sources
        if not low <= len(sources) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise MappingError(f"transform '{transform}' takes {want} source column(s), "
                               f"'{target}' gives {len(sources)}", where)
    unit, source_unit = raw.get("unit"), raw.get("source_unit")
    unit_column = raw.get("unit_column")
    if unit_column is not None:
        if not isinstance(unit_column, str) or not unit_column:
            raise MappingError(f"'unit_column' of '{target}' must be a column name", where)
        if unit is None:
            raise MappingError(f"'{target}' has 'unit_column' but no target 'unit'", where)
        if transform is not None:
            raise MappingError(f"'{target}': 'unit_column' applies to plain values, not to "
                               f"transform '{transform}'", where)
    for u in (unit, source_unit):
        if u is not None and normalise_unit(str(u)) is None:
            raise MappingError(f"unknown unit '{u}' in '{target}'", where,
                               f"units: {', '.join(known_units())}")
    if source_unit is not None:
        if unit is None:
            raise MappingError(f"'{target}' has 'source_unit' but no target 'unit'", where)
        if unit_factor(str(source_unit), str(unit)) is None:
            raise MappingError(f"no conversion from {source_unit} to {unit} in '{target}'",
                               where)
        if spec.type not in ("number", "integer"):
            raise MappingError(f"'{target}' holds {spec.type}: units apply to numbers", where)
    if has_const:
        _check_const(raw["const"], spec, where)
    if "default" in raw and raw["default"] is not None:
        _check_const(raw["default"], spec, where)
    args = raw.get("args") or {}
    if not isinstance(args, dict):
        raise MappingError(f"'args' of '{target}' must be a map", where)
    return Rule(target, sources, raw.get("const"), raw.get("default"), transform, args, when,
                None if unit is None else str(unit),
                None if source_unit is None else str(source_unit), raw.get("note"), line,
                file, spec, unit_column)


def _load_file(path: Path) -> tuple[dict[str, Any], Lines]:
    data, lines = load_data(path, MappingError, "mapping")
    if not isinstance(data, dict):
        raise MappingError("a mapping file must be a map with 'version' and 'rules'",
                           Location(path, line=1))
    for key in data:
        if key not in TOP_KEYS:
            line, col = line_of(lines, (key,))
            hint = suggest(str(key), TOP_KEYS)
            raise MappingError(f"unknown top-level key '{key}'" + (f"; {hint}" if hint else ""),
                               Location(path, line=line, col=col),
                               f"keys: {', '.join(TOP_KEYS)}")
    if data.get("version") != 1:
        line, col = line_of(lines, ("version",))
        raise MappingError(f"unsupported mapping version {data.get('version')!r}; expected 1",
                           Location(path, line=line, col=col), "start the file with 'version: 1'")
    if not isinstance(data.get("rules", {}), dict):
        line, col = line_of(lines, ("rules",))
        raise MappingError("'rules' must be a map of BoAmps path -> rule",
                           Location(path, line=line, col=col))
    return data, lines


def load_mapping(path: str | Path | None = None, *, base: str = DEFAULT_MAPPING) -> FieldMapping:
    """Load and check a mapping file; ``None`` loads the built-in mapping ``base`` (the
    CodeCarbon one unless another tracker's is named).

    A user mapping extends the built-in ``base`` unless it says ``extends: false`` or names
    another one (``extends: eco2ai``): its rules replace the base's rules of the same path,
    a ``null`` rule removes one.

    Raises:
        MappingError: with the mapping file and line of the first problem.

    >>> mapping = load_mapping()
    >>> mapping.rules["measures[0].powerConsumption"].source
    ('energy_consumed',)
    """
    from .io.storage import as_path

    if path is None:
        builtin = builtin_mapping_path(base)
        if not builtin.is_file():
            raise MappingError(f"there is no built-in mapping '{base}'", None,
                               f"built-in mappings: {', '.join(builtin_mappings())}")
        return _load_mapping(builtin, (), base)
    return _load_mapping(as_path(path), (), base)


def _load_mapping(path: Path, chain: tuple[Path, ...], base: str = DEFAULT_MAPPING) -> FieldMapping:
    data, lines = _load_file(path)
    rules: dict[str, Rule] = {}
    files: tuple[str, ...] = ()
    own = _builtin_name(path)
    extends = data.get("extends", base if own is None else False)
    root: str | None = own
    if extends:
        near = normalize(path.parent / str(extends))
        base_path = builtin_mapping_path(str(extends)) if (
            str(extends) in builtin_mappings() and not near.is_file()) else near
        line, col = line_of(lines, ("extends",))
        where = Location(path, line=line, col=col)
        chain = (*chain, path.resolve())
        if base_path.resolve() in chain:
            names = " -> ".join(p.name for p in (*chain, base_path.resolve()))
            raise MappingError("a mapping cannot extend itself" if len(chain) == 1 else
                               f"mappings extend each other in a loop ({names})", where,
                               "one of them must extend 'codecarbon' or nothing")
        if not base_path.is_file():
            raise MappingError(f"extends '{extends}', but there is no mapping file "
                               f"{base_path}", where,
                               "give a path relative to this mapping, or 'codecarbon'")
        parent = _load_mapping(base_path, chain, base)
        rules.update(parent.rules)
        files = parent.files
        root = parent.base
    for target, raw in (data.get("rules") or {}).items():
        line, _ = line_of(lines, ("rules", target))
        target = str(target).strip()
        if raw is None:
            rules.pop(target, None)
            continue
        rules[target] = _parse_rule(target, raw, str(path), line)
    return FieldMapping(rules, str(data.get("name") or path.stem), (*files, str(path)),
                   str(data.get("description") or ""), root)


# --------------------------------------------------------------------------- applying


@dataclass
class Applied:
    """Mapped values for a block of rows: one column of values per rule target."""

    n: int
    values: dict[str, list[Any]]
    entries: dict[str, list[bool]]
    problems: list[dict[int, tuple[str, ValueProblem]]]


def _row_scale(rule: Rule, unit_text: str | None, default: Decimal | None) -> Decimal | None:
    """The factor from a row's own unit (its ``unit_column`` cell) to the rule's unit."""
    if unit_text is None:
        if rule.source_unit is None:
            raise ValueProblem("no unit is given for this value", rule.unit_column,
                               f"write the unit ({rule.unit}...) in column '{rule.unit_column}'")
        return default
    factor = unit_factor(unit_text, str(rule.unit))
    if factor is None:
        raise ValueProblem(f"unit '{unit_text}' cannot be converted to {rule.unit}",
                           rule.unit_column, f"units: {', '.join(known_units())}")
    return None if factor == 1 else factor


def _coerce(rule: Rule, cells: Cells, problems: Problems,
            units: Cells | None = None) -> list[Any]:
    """Cells as the rule's declared type (number, integer, boolean, text), units scaled
    (each row's own unit with ``units``: the cells of the rule's ``unit_column``).

    Column-wise twin: :func:`boamps_etl.engine.columns._coerce` (which serves mappings
    without ``unit_column``)."""
    spec = rule.spec
    typ = spec.type if spec else "string"
    column = rule.source[0] if rule.source else None
    scale: Decimal | None = None
    if rule.source_unit and rule.unit:
        factor = unit_factor(rule.source_unit, rule.unit)
        scale = None if factor == 1 else factor
    default_scale = scale
    out: list[Any] = []
    for i, text in enumerate(cells):
        if text is None:
            out.append(None)
            continue
        try:
            if units is not None:
                scale = _row_scale(rule, units[i], default_scale)
            if typ == "number":
                out.append(to_float(text, column, scale))
            elif typ == "integer":
                out.append(to_int(text, column))
            elif typ == "boolean":
                out.append(text.lower() in ("y", "yes", "true", "1"))
            else:
                out.append(text)
        except ValueProblem as exc:
            exc.column = exc.column or column
            problems[i] = exc
            out.append(None)
    return out


def apply_rules(mapping: FieldMapping, n: int, condition: Callable[[Condition], list[bool]],
                compute: Callable[[Rule, Problems], list[Any]]) -> Applied:
    """Evaluate every rule over a block of ``n`` rows: ``condition`` gives a ``when``
    condition's value per row, ``compute`` a sourced rule's values per row (before its
    default and its condition), its problems put in the dict it is given. Constants,
    defaults, conditions and list entries are handled here."""
    values: dict[str, list[Any]] = {}
    entries: dict[str, list[bool]] = {}
    all_problems: list[dict[int, tuple[str, ValueProblem]]] = []
    for target, rule in mapping.rules.items():
        mask = None
        if rule.when:  # each condition's list as it is, several combined by C's map
            for cond in rule.when:
                held = condition(cond)
                if len(held) != n:
                    raise ValueError(f"a condition gave {len(held)} values for {n} rows")
                mask = held if mask is None else list(map(operator.and_, mask, held))
        if rule.is_entry:
            entries[target] = mask or [True] * n
            continue
        problems: Problems = {}
        if rule.has_const:
            result: list[Any] = [rule.const] * n
        elif not rule.source:  # a default alone: the value of every row
            result = [rule.default] * n
        else:
            result = compute(rule, problems)
            if rule.default is not None and None in result:
                result = [rule.default if v is None and i not in problems else v
                          for i, v in enumerate(result)]
        if mask is not None and not all(mask):
            result = [v if keep else None for v, keep in zip(result, mask, strict=True)]
            problems = {i: p for i, p in problems.items() if mask[i]}
        values[target] = result
        if problems:
            all_problems.append({i: (target, p) for i, p in problems.items()})
    return Applied(n, values, entries, all_problems)


def apply_mapping(mapping: FieldMapping, columns: MappingABC[str, Cells], n: int,
                  ctx: TransformContext | None = None) -> Applied:
    """Evaluate every rule over a block of ``n`` rows of cleaned text cells.

    ``columns`` maps a column name to its cells (``None`` = empty); absent columns are
    absent data, never zero.

    Column-wise twin: :func:`boamps_etl.engine.columns.apply_columns`.
    """
    context = ctx or TransformContext()
    empty: Cells = [None] * n

    def compute(rule: Rule, problems: Problems) -> list[Any]:
        cells = [columns.get(s, empty) for s in rule.source]
        if rule.transform:
            return run_transform(rule, cells, context, problems)
        merged = cells[0] if len(cells) == 1 else TRANSFORMS["first"].func(
            cells, context, problems)
        units = columns.get(rule.unit_column, empty) if rule.unit_column else None
        return _coerce(rule, merged, problems, units)

    return apply_rules(mapping, n, lambda cond: cond.evaluate(columns.get(cond.column, empty)),
                       compute)


def run_transform(rule: Rule, cells: list[Cells], ctx: TransformContext, problems: Problems
                  ) -> list[Any]:
    """A rule's named transform over its source cells (whole numbers for integer fields)."""
    sub = TransformContext(ctx.kind, ctx.per_row, dict(rule.args), rule.source, ctx.rows,
                           ctx.content)
    raw = TRANSFORMS[rule.transform or ""].func(cells, sub, problems)
    for i, v in enumerate(raw):  # no transform may put inf or NaN into a report
        if isinstance(v, float) and not math.isfinite(v):
            problems[i] = not_finite(f"{rule.transform} gives a value", (rule.source or
                                                                           (None,))[0])
            raw[i] = None
    if rule.spec is None or rule.spec.type != "integer":
        return raw
    return [v if v is None or isinstance(v, int) else int(v) for v in raw]


def problems_by_row(applied: Applied) -> dict[int, list[tuple[str, ValueProblem]]]:
    out: dict[int, list[tuple[str, ValueProblem]]] = {}
    for block in applied.problems:
        for i, item in block.items():
            out.setdefault(i, []).append(item)
    return out


def clean_columns(frame: Any, names: Sequence[str]) -> dict[str, Cells]:
    """Cleaned text cells (``None`` for empty spellings) of the named columns of a frame."""
    out: dict[str, Cells] = {}
    for name in names:
        if name in frame.columns:
            out[name] = [clean(v) for v in frame[name].tolist()]
    return out


def issue_for(problem: ValueProblem, target: str, file: str | None, row: int | None) -> Issue:
    """A located issue for a cell that could not be mapped."""
    return Issue("bad-value", f"{problem.message} (for {target})",
                 Location(file, row, problem.column), "error", problem.hint)


def __getattr__(name: str) -> Any:
    if name == "Mapping":  # the old name of FieldMapping, which shadowed collections.abc.Mapping
        import warnings

        warnings.warn("boamps_etl.mapping.Mapping is now FieldMapping; the old name will be "
                      "removed", DeprecationWarning, stacklevel=2)
        return FieldMapping
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
