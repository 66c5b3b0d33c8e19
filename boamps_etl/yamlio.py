"""Safe YAML/JSON loading that keeps line numbers and refuses dangerous documents.

Mappings and contexts are written by hand, so every error names the file, line and column.
Only plain data is built: tags that would construct Python objects are refused (and never
executed), alias "bombs" and deep nesting are bounded before anything walks the data, a
key given twice in one map is an error (YAML would silently keep the last one), and so are
numbers JSON cannot hold (NaN, infinities, more than 4300 digits).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from .errors import BoampsEtlError, Location

Lines = dict[tuple[str | int, ...], tuple[int, int]]

#: Upper bound on the values aliases may add to a document once they are followed (an
#: "alias bomb" adds billions; a large document without aliases adds none).
MAX_ALIAS_VALUES = 200_000
MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 200
#: libyaml's parser when PyYAML has it (a 10 MB file in seconds, not a minute); the same
#: nodes, marks and errors as the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _alias_values(node: yaml.Node, memo: dict[int, int], added: list[int],
                  depth: int = 0) -> int:
    """Expanded size of ``node``; ``added[0]`` counts the values aliases add: each time an
    alias is followed (the same node reached again), the expanded size of what it refers to.
    A document without aliases adds nothing however large it is (the file size bounds it);
    a "billion laughs" adds billions and is stopped as soon as it passes the bound."""
    key = id(node)
    if key in memo:
        added[0] += memo[key]
        if added[0] > MAX_ALIAS_VALUES:
            raise ValueError(f"has aliases that expand to more than {MAX_ALIAS_VALUES} "
                             "values (alias bomb?)")
        return memo[key]
    if depth > MAX_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_DEPTH} levels (or an alias refers to "
                         "itself)")
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_alias_values(child, memo, added, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_alias_values(k, memo, added, depth + 1)
                    + _alias_values(v, memo, added, depth + 1) for k, v in node.value)
    memo[key] = size
    return size


def _collect_lines(node: yaml.Node, path: tuple[str | int, ...], out: Lines) -> None:
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                child = (*path, k.value)
                out[child] = (k.start_mark.line + 1, k.start_mark.column + 1)
                _collect_lines(v, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _collect_lines(v, (*path, i), out)


def _duplicate_key(node: yaml.Node, seen_nodes: set[int]) -> tuple[str, int, yaml.Node] | None:
    """The first key given twice in one map: (key, line of the first, the second key)."""
    if id(node) in seen_nodes:
        return None
    seen_nodes.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                if k.value in keys:
                    return k.value, keys[k.value], k
                keys[k.value] = k.start_mark.line + 1
            children.append(v)
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        found = _duplicate_key(child, seen_nodes)
        if found:
            return found
    return None


def _check_numbers(data: Any, lines: Lines, path: tuple[str | int, ...], file: Path,
                   error: type[BoampsEtlError]) -> None:
    if isinstance(data, float) and not math.isfinite(data):
        line, col = line_of(lines, path)
        shown = "NaN" if math.isnan(data) else repr(data)
        raise error(f"{shown} is not a finite number", Location(file, line=line, col=col),
                    "write a number, or leave the field out if unknown")
    if len(path) > MAX_DEPTH:
        raise error(f"the document is nested deeper than {MAX_DEPTH} levels", Location(file))
    if isinstance(data, dict):
        for key, value in data.items():
            _check_numbers(value, lines, (*path, str(key)), file, error)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_numbers(value, lines, (*path, i), file, error)


def load_data(path: str | Path, error: type[BoampsEtlError], what: str) -> tuple[Any, Lines]:
    """Load a YAML or JSON file into plain data plus a map of key paths to (line, column).

    Raises ``error`` (a :class:`BoampsEtlError` subclass) with file, line and column on any
    syntax error, refused tag, oversized document or alias bomb.
    """
    from .io.storage import as_path

    path = as_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} file not found", Location(path)) from None
    except OSError as exc:
        raise error(f"{what} file cannot be read ({exc.strerror})", Location(path)) from None
    if len(raw) > MAX_BYTES:
        raise error(f"{what} file is larger than {MAX_BYTES // 1048576} MB", Location(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} file is not UTF-8 text (byte {exc.start})", Location(path)) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(f"JSON syntax error: {exc.msg}",
                        Location(path, line=exc.lineno, col=exc.colno)) from None
        except RecursionError:
            raise error("refused: the document is nested too deeply", Location(path)) from None
        except ValueError as exc:  # a number longer than int() accepts
            raise error(f"JSON error: {str(exc).split(';')[0]}", Location(path),
                        f"numbers in a {what} file are small") from None
        json_lines = _json_lines(text, data, path, error)
        _check_numbers(data, json_lines, (), path, error)
        return data, json_lines
    try:
        try:
            node = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:  # said by the pure-Python parser: its messages are clearer
            node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise error("refused: the document is nested too deeply", Location(path)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise error(f"YAML syntax error: {exc.problem or exc.context}",
                    Location(path, line=line, col=col)) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML error: {_one_line(exc)}", Location(path)) from None
    if node is None:
        return {}, {}
    try:
        _alias_values(node, {}, [0])
    except (ValueError, RecursionError) as exc:
        raise error(f"refused: the document {exc}", Location(path)) from None
    _refuse_duplicates(node, path, error)
    try:
        data = yaml.SafeLoader("").construct_document(node)  # the node parsed above
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise error(
            f"refused YAML tag: {exc.problem}; only plain data (maps, lists, text, numbers) "
            "is allowed", Location(path, line=mark.line + 1 if mark else None,
                                   col=mark.column + 1 if mark else None)) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML error: {_one_line(exc)}", Location(path)) from None
    except ValueError as exc:  # a number longer than int() accepts
        raise error(f"YAML error: {str(exc).split(';')[0]}", Location(path),
                    f"numbers in a {what} file are small") from None
    except Exception as exc:  # PyYAML's own slips on odd scalars: '!!float' with no value
        raise error(f"YAML error: a value cannot be read ({type(exc).__name__}: {exc})",
                    Location(path), "check the tags (!!...) and the values around them"
                    ) from None
    lines: Lines = {}
    _collect_lines(node, (), lines)
    _check_numbers(data, lines, (), path, error)
    return data, lines


def _one_line(exc: BaseException) -> str:
    """PyYAML's messages span lines ('...\n  in "<unicode string>", position 0')."""
    return " ".join(str(exc).split())


def _refuse_duplicates(node: yaml.Node, path: Path, error: type[BoampsEtlError]) -> None:
    found = _duplicate_key(node, set())
    if found:
        key, first, second = found
        raise error(f"key '{key}' is given twice in the same map (lines {first} and "
                    f"{second.start_mark.line + 1})",
                    Location(path, line=second.start_mark.line + 1,
                             col=second.start_mark.column + 1),
                    "keep one of them: the second would silently replace the first")


def _json_lines(text: str, data: Any, path: Path, error: type[BoampsEtlError]) -> Lines:
    # JSON is a subset of YAML 1.2 in practice: reuse the composer for line numbers.
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except (yaml.YAMLError, RecursionError):
        return {}
    lines: Lines = {}
    if node is not None:
        _refuse_duplicates(node, path, error)
        _collect_lines(node, (), lines)
    return lines


def line_of(lines: Lines, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
    """The (line, column) of the nearest known ancestor of ``path``."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), (None, None))
