"""``init-context``: the commented YAML context template, built from the schemas and what the
given files hold.
"""

from __future__ import annotations

import glob
import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..flatten import cell_text
from ..schema import FieldSpec, field_spec, join_path, report_schema, split_path
from .common import PathLike, _get, _refuse_existing

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


def _without_hardware(reports: Sequence[Any]) -> list[str]:
    """The files whose reports record no hardware, when other files' reports do (a mix of
    CodeCarbon 1.x and later files); empty otherwise."""
    recorded: dict[str, bool] = {}
    for rep in reports:
        has = bool(_get(rep.document, ["infrastructure", "components"]))
        recorded[rep.source] = recorded.get(rep.source, False) or has
    if all(recorded.values()) or not any(recorded.values()):
        return []
    return [source for source, has in recorded.items() if not has]


def _unrecorded(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Required fields the files' reports lack beside those of :data:`TEMPLATE_FIELDS`: what
    their trackers do not record (an infraType, a component, an OS...), to be asked for."""
    from ..pipeline import required_leaves
    from ..validate import full_check, schema_errors

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
    from ..io.writers import atomic_write

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
        from ..api import convert

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
    bare = _without_hardware(result.reports) if csv_list else []
    if bare:
        # Some files record hardware, others not (CodeCarbon 1.x): component entries here
        # would replace, in every report, what the others recorded.
        extra = [f for f in extra if not f.startswith("infrastructure.components")]
        notes["infrastructure"] = "; ".join(
            [*([notes["infrastructure"]] if "infrastructure" in notes else []),
             f"no hardware recorded in {', '.join(bare)} (CodeCarbon 1.x): components "
             "given here would replace the hardware the other files recorded, so give "
             f"theirs in a context of their own (boamps-etl init-context {' '.join(bare)})"])
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
    from ..trackers import trackers as known

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
    import textwrap

    w.lines.append("# from the CSV:")
    for item in text.split("; "):
        w.lines.extend(textwrap.wrap(item, _WIDTH, initial_indent="#   ",
                                     subsequent_indent="#     ", break_long_words=False,
                                     break_on_hyphens=False))


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
