"""User context: what CodeCarbon cannot know (task, algorithms, datasets, publisher...).

A context file (YAML or JSON) is a partial BoAmps report in the same camelCase structure.
It is merged over the mapped values: objects merge key by key, ``infrastructure.components``
merge by ``componentType``, other lists merge item by item (index 0 with index 0). A
``match`` list holds sections that apply only to rows whose columns match::

    header: {publisher: {name: Acme, confidentialityLevel: public}}
    task: {taskStage: training, taskFamily: image classification}
    match:
      - when: {project_name: "bert-*"}       # glob; a list means any of
        task: {taskFamily: text classification}

Several contexts stack: later ones override earlier ones, and ``--set PATH=VALUE`` values
win over all. Keys and values are checked against the BoAmps schema when loaded: unknown
keys get a "did you mean", enum values list the allowed ones.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codecarbon import KNOWN_COLUMNS
from .errors import ContextError, Location
from .mapping import KEYED_LISTS, suggest
from .schema import child_keys, field_spec, split_path
from .transforms import printable
from .yamlio import Lines, line_of, load_data

MATCH_KEY = "match"
#: Largest list index ``--set`` accepts (``task.dataset[3].dataType``).
MAX_SET_INDEX = 99
WHEN_KEY = "when"


@dataclass
class MatchSection:
    when: dict[str, list[str]]
    values: dict[str, Any]

    def matches(self, row: Mapping[str, str | None]) -> bool:
        for column, patterns in self.when.items():
            cell = row.get(column)
            if cell is None or not any(fnmatch.fnmatchcase(cell, p) for p in patterns):
                return False
        return True


@dataclass
class ContextLayer:
    """One context source: a file, a dict, or the ``--set`` values."""

    name: str
    base: dict[str, Any] = field(default_factory=dict)
    matches: list[MatchSection] = field(default_factory=list)


@dataclass
class Context:
    """Stacked context layers, applied in order over each mapped report."""

    layers: list[ContextLayer] = field(default_factory=list)

    @property
    def match_columns(self) -> list[str]:
        cols: list[str] = []
        for layer in self.layers:
            for section in layer.matches:
                cols.extend(c for c in section.when if c not in cols)
        return cols

    def values_for(self, row: Mapping[str, str | None]) -> list[dict[str, Any]]:
        """The layers' dicts that apply to a row, in merge order."""
        out: list[dict[str, Any]] = []
        for layer in self.layers:
            if layer.base:
                out.append(layer.base)
            out.extend(s.values for s in layer.matches if s.matches(row))
        return out

    def is_empty(self) -> bool:
        return not any(layer.base or layer.matches for layer in self.layers)


# --------------------------------------------------------------------------- checking

_TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_TYPE_WORDS = {"string": "text", "number": "a number", "integer": "a whole number",
               "boolean": "true or false", "object": "a map", "array": "a list"}


def _type_ok(value: Any, typ: str | None) -> bool:
    if typ is None:
        return True
    if isinstance(value, bool) and typ != "boolean":
        return False
    return isinstance(value, _TYPES.get(typ, (object,)))


def check_values(data: Any, path: list[str | int], name: str, lines: Lines,
                 line_path: tuple[str | int, ...]) -> None:
    """Check a partial report against the schemas: keys, types and enum values."""
    where_line = line_of(lines, line_path)
    where = Location(name, line=where_line[0], col=where_line[1])
    text_path = _text(path)
    if not isinstance(data, dict):
        raise ContextError(f"{text_path or 'the context'} must be a map, got "
                           f"{type(data).__name__}", where)
    known = child_keys(text_path)
    for key, value in data.items():
        kline = line_of(lines, (*line_path, key))
        kwhere = Location(name, line=kline[0], col=kline[1])
        if not isinstance(key, str) or key not in known:
            hint = suggest(str(key), known)
            place = f" in {text_path}" if text_path else ""
            raise ContextError(f"unknown key '{key}'{place}" + (f"; {hint}" if hint else ""),
                               kwhere, f"known keys: {', '.join(known)}" if not hint else None)
        child_path = [*path, key]
        spec = field_spec(child_path)
        assert spec is not None
        if value is None:
            raise ContextError(f"{_text(child_path)} is empty", kwhere,
                               "give it a value, or delete the line if the field is optional")
        if not _type_ok(value, spec.type):
            word = _TYPE_WORDS.get(spec.type or "", spec.type or "?")
            fix = "quote it in YAML, e.g. '3.10'" if spec.type == "string" else None
            raise ContextError(f"{_text(child_path)} must be {word}, got {value!r}", kwhere,
                               fix)
        if spec.type == "object":
            check_values(value, child_path, name, lines, (*line_path, key))
        elif spec.type == "array":
            keyed = KEYED_LISTS.get(_text(child_path))
            for i, item in enumerate(value):
                ipath: list[str | int] = [*child_path, i]
                iline = (*line_path, key, i)
                check_values(item, ipath, name, lines, iline)
                if keyed and keyed not in item:
                    il = line_of(lines, iline)
                    raise ContextError(f"{_text(ipath)} needs '{keyed}' to be merged with the "
                                       "mapped components", Location(name, line=il[0],
                                                                     col=il[1]),
                                       "for example componentType: gpu")
        else:
            _check_scalar(value, spec.enum, spec.minimum, spec.maximum, _text(child_path),
                          kwhere)


def _check_scalar(value: Any, enum: Sequence[Any] | None, minimum: float | None,
                  maximum: float | None, path: str, where: Location) -> None:
    if enum is not None and value not in enum:
        allowed = ", ".join(str(v) for v in enum if v is not None)
        hint = suggest(str(value), [str(v) for v in enum if v is not None])
        raise ContextError(f"{value!r} is not an allowed value of {path}" +
                           (f"; {hint}" if hint else ""), where, f"allowed: {allowed}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if minimum is not None and value < minimum:
            raise ContextError(f"{path} must be at least {minimum}, got {value}", where)
        if maximum is not None and value > maximum:
            raise ContextError(f"{path} must be at most {maximum}, got {value}", where)


def _text(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _layer_from_data(data: Any, name: str, lines: Lines) -> ContextLayer:
    if data is None:
        return ContextLayer(name)
    if not isinstance(data, dict):
        raise ContextError("a context must be a map of BoAmps sections (header, task...)",
                           Location(name, line=1))
    base = {k: v for k, v in data.items() if k != MATCH_KEY}
    check_values(base, [], name, lines, ())
    matches: list[MatchSection] = []
    raw_matches = data.get(MATCH_KEY) or []
    mline = line_of(lines, (MATCH_KEY,))
    if not isinstance(raw_matches, list):
        raise ContextError("'match' must be a list of sections, each with 'when'",
                           Location(name, line=mline[0], col=mline[1]))
    for i, section in enumerate(raw_matches):
        sline = line_of(lines, (MATCH_KEY, i))
        swhere = Location(name, line=sline[0], col=sline[1])
        if not isinstance(section, dict) or not isinstance(section.get(WHEN_KEY), dict) \
                or not section[WHEN_KEY]:
            raise ContextError("each 'match' section needs 'when: {column: value}'", swhere,
                               "for example when: {project_name: my-project}")
        when: dict[str, list[str]] = {}
        for column, pattern in section[WHEN_KEY].items():
            wl = line_of(lines, (MATCH_KEY, i, WHEN_KEY, column))
            wwhere = Location(name, line=wl[0], col=wl[1])
            if column not in KNOWN_COLUMNS:
                hint = suggest(str(column), sorted(KNOWN_COLUMNS))
                if hint:
                    raise ContextError(f"unknown CodeCarbon column '{column}' in 'when'; {hint}",
                                       wwhere)
            patterns = pattern if isinstance(pattern, list) else [pattern]
            if not patterns or any(isinstance(p, dict | list) or p is None for p in patterns):
                raise ContextError(f"'when' value for '{column}' must be text or a list of text",
                                   wwhere)
            when[str(column)] = [str(p) for p in patterns]
        values = {k: v for k, v in section.items() if k != WHEN_KEY}
        check_values(values, [], name, lines, (MATCH_KEY, i))
        matches.append(MatchSection(when, values))
    return ContextLayer(name, base, matches)


def load_context(paths: Iterable[str | Path] = (), sets: Iterable[str] = (),
                 data: Iterable[Mapping[str, Any]] = ()) -> Context:
    """Load context files, then dict contexts, then ``--set PATH=VALUE`` strings, in order.

    Raises:
        ContextError: naming the file, line and key of the first problem.

    >>> ctx = load_context(sets=["task.taskStage=inference"])
    >>> ctx.layers[0].base
    {'task': {'taskStage': 'inference'}}
    """
    layers: list[ContextLayer] = []
    for path in paths:
        raw, lines = load_data(path, ContextError, "context")
        layers.append(_layer_from_data(raw, str(path), lines))
    for i, item in enumerate(data):
        layers.append(_layer_from_data(dict(item), f"<context {i + 1}>", {}))
    set_values: dict[str, Any] = {}
    for assignment in sets:
        merge_into(set_values, parse_set(assignment))
    if set_values:
        layers.append(ContextLayer("--set", set_values))
    return Context(layers)


def parse_set(assignment: str) -> dict[str, Any]:
    """``'infrastructure.components[gpu].share=0.5'`` -> a nested partial report.

    The value is read as the field's schema type: text stays text (``3.10`` stays
    ``'3.10'``), numbers and whole numbers are parsed, enum values are checked.
    """
    where = Location(column=None, json_path=None)
    if "=" not in assignment:
        raise ContextError(f"--set '{assignment}' needs the form PATH=VALUE", where,
                           "for example --set task.taskStage=inference")
    path, _, text = assignment.partition("=")
    path = path.strip()
    parts = split_path(path)
    if not parts or not isinstance(parts[0], str) or parts[0].startswith("[") or any(
            p == "[" or (isinstance(p, int) and not 0 <= p <= MAX_SET_INDEX) for p in parts):
        raise ContextError(f"--set: '{printable(path)}' is not a BoAmps path", where,
                           f"for example task.dataset[0].dataType=text; list indexes go "
                           f"from 0 to {MAX_SET_INDEX}")
    spec = field_spec(parts)
    if spec is None:
        leaf = str(parts[-1]) if parts else path
        parent = _text([p for p in parts[:-1] if not (isinstance(p, str) and p.startswith("["))
                        and not isinstance(p, int)])
        hint = suggest(leaf, child_keys(parent)) if parent or not parts[:-1] else ""
        raise ContextError(f"--set: unknown BoAmps path '{path}'" + (f"; {hint}" if hint else ""),
                           where)
    value: Any
    try:
        if spec.type == "number":
            value = float(text) if any(c in text for c in ".eE") else int(text)
        elif spec.type == "integer":
            value = int(text)
        elif spec.type == "boolean":
            value = text.lower() in ("true", "yes", "1", "y")
        elif spec.type in ("object", "array"):
            raise ContextError(f"--set: '{path}' is an {spec.type}; set its fields one by one",
                               where)
        else:
            value = text
    except ValueError:
        raise ContextError(f"--set: {path} must be {_TYPE_WORDS.get(spec.type or '', '?')}, "
                           f"got '{printable(text)}'", where) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ContextError(f"--set: {path} must be a finite number, got '{printable(text)}'",
                           where)
    try:
        _check_scalar(value, spec.enum, spec.minimum, spec.maximum, path, where)
    except ContextError as exc:
        raise ContextError(f"--set: {exc.message}", where, exc.hint) from None
    # Build the nested structure.
    root: dict[str, Any] = {}
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt = None if last else parts[i + 1]
        if isinstance(part, int) or part.startswith("["):
            continue
        if last:
            node[part] = value
            break
        if isinstance(nxt, int) or (isinstance(nxt, str) and nxt.startswith("[")):
            item: dict[str, Any] = {}
            if isinstance(nxt, str):
                keyed = KEYED_LISTS.get(_text([p for p in parts[:i + 1]]))
                if keyed is None:
                    raise ContextError(f"--set: '{path}': only infrastructure.components can "
                                       "be addressed by type", where)
                item[keyed] = nxt[1:]
                node[part] = [item]
            else:
                node[part] = [{} for _ in range(nxt)] + [item]
            node = item
        else:
            node[part] = {}
            node = node[part]
    return root


# --------------------------------------------------------------------------- merging


def _copy(value: Any) -> Any:
    """Copy JSON-like data (maps, lists, scalars): much faster than copy.deepcopy."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def merge_into(target: dict[str, Any], patch: Mapping[str, Any], path: str = "") -> None:
    """Deep-merge ``patch`` into ``target`` in place (see the module docs for lists)."""
    for key, value in patch.items():
        here = f"{path}.{key}" if path else key
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge_into(current, value, here)
        elif isinstance(value, list) and isinstance(current, list):
            keyed = KEYED_LISTS.get(here)
            if keyed:
                index = {item.get(keyed): item for item in current if isinstance(item, dict)}
                for item in value:
                    existing = index.get(item.get(keyed)) if isinstance(item, Mapping) else None
                    if existing is not None:
                        merge_into(existing, item, here)
                    else:
                        current.append(_copy(item))
            else:
                for i, item in enumerate(value):
                    if i < len(current) and isinstance(item, Mapping) and \
                            isinstance(current[i], dict):
                        merge_into(current[i], item, here)
                    elif i < len(current):
                        if item or not isinstance(item, dict):
                            current[i] = _copy(item)
                    else:
                        current.append(_copy(item))
        else:
            target[key] = _copy(value)
