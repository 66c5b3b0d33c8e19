"""Safe YAML/JSON loading that keeps line numbers and refuses dangerous documents.

Mappings and contexts are written by hand, so every error names the file, line and column.
Only plain data is built: tags that would construct Python objects are refused (and never
executed), and alias "bombs" are bounded before anything walks the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import BoampsEtlError, Location

Lines = dict[tuple[str | int, ...], tuple[int, int]]

#: Upper bound on the nodes a document may expand to once aliases are followed.
MAX_NODES = 200_000
MAX_BYTES = 10 * 1024 * 1024


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > 200:
        raise ValueError("nesting deeper than 200 levels")
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
                    for k, v in node.value)
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


def load_data(path: str | Path, error: type[BoampsEtlError], what: str) -> tuple[Any, Lines]:
    """Load a YAML or JSON file into plain data plus a map of key paths to (line, column).

    Raises ``error`` (a :class:`BoampsEtlError` subclass) with file, line and column on any
    syntax error, refused tag, oversized document or alias bomb.
    """
    path = Path(path)
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
        return data, _json_lines(text, data)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise error(f"YAML syntax error: {exc.problem or exc.context}",
                    Location(path, line=line, col=col)) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML error: {exc}", Location(path)) from None
    if node is None:
        return {}, {}
    try:
        if _expanded_size(node, {}) > MAX_NODES:
            raise ValueError(f"expands to more than {MAX_NODES} values (alias bomb?)")
    except (ValueError, RecursionError) as exc:
        raise error(f"refused: the document {exc}", Location(path)) from None
    try:
        data = yaml.SafeLoader(text).get_single_data()
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise error(
            f"refused YAML tag: {exc.problem}; only plain data (maps, lists, text, numbers) "
            "is allowed", Location(path, line=mark.line + 1 if mark else None,
                                   col=mark.column + 1 if mark else None)) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML error: {exc}", Location(path)) from None
    lines: Lines = {}
    _collect_lines(node, (), lines)
    return data, lines


def _json_lines(text: str, data: Any) -> Lines:
    # JSON is a subset of YAML 1.2 in practice: reuse the composer for line numbers.
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: Lines = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return lines


def line_of(lines: Lines, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
    """The (line, column) of the nearest known ancestor of ``path``."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), (None, None))
