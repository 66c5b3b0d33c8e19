"""The BoAmps schemas shipped with the package, resolved locally (never over the network).

The official schemas (``schemas/boamps/*.json``, CC BY 4.0, unchanged) refer to each other with
``raw.githubusercontent.com`` URLs. They are served here from the package's own copies.
``schemas/boamps-etl-extension.schema.json`` documents the extra fields boamps-etl writes
(per-component energy, emissions, ...) with their units.

This module also answers "what does the schema say about this path?", which the context
checker, ``--set``, the flattener and the template writer all need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

BOAMPS_FORMAT_VERSION = "0.1"
BOAMPS_SPEC_URI = "https://github.com/Boavizta/BoAmps/tree/main/model"
OFFICIAL_BASE = "https://raw.githubusercontent.com/Boavizta/BoAmps/main/model/"
OFFICIAL_FILES = (
    "report_schema.json",
    "algorithm_schema.json",
    "dataset_schema.json",
    "measure_schema.json",
    "hardware_schema.json",
)
EXTENSION_FILE = "boamps-etl-extension.schema.json"
REPORT_ID = OFFICIAL_BASE + "report_schema.json"


def data_dir(kind: str) -> Path:
    """The folder holding shipped data files of ``kind`` ('schemas' or 'mappings').

    Installed wheels carry them under ``boamps_etl/_data``; a source checkout (editable
    install) reads them from the repository's top-level folders.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "_data" / kind
    if packaged.is_dir():
        return packaged
    return here.parent / kind


@cache
def official_schemas() -> dict[str, dict[str, Any]]:
    """The official BoAmps schemas keyed by their ``id`` URL."""
    folder = data_dir("schemas") / "boamps"
    out: dict[str, dict[str, Any]] = {}
    for name in OFFICIAL_FILES:
        doc = json.loads((folder / name).read_text(encoding="utf-8"))
        out[doc.get("id", OFFICIAL_BASE + name)] = doc
    return out


@cache
def extension_schema() -> dict[str, Any]:
    """The boamps-etl extension schema (extra fields, their units and bounds)."""
    path = data_dir("schemas") / EXTENSION_FILE
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def report_schema() -> dict[str, Any]:
    """The official top-level report schema."""
    return official_schemas()[REPORT_ID]


# --------------------------------------------------------------------------- path lookup


@dataclass(frozen=True)
class FieldSpec:
    """What the schemas say about one field: type, enum, description, unit, requiredness."""

    path: str
    type: str | None
    description: str
    enum: tuple[Any, ...] | None = None
    unit: str | None = None
    required: bool = False
    extension: bool = False
    minimum: float | None = None
    maximum: float | None = None
    node: Any = None  # the merged schema node (for objects and arrays)


def deref(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` to an official schema replaced by that schema's content."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(OFFICIAL_BASE):
        target = official_schemas()[ref]
        merged = {k: v for k, v in node.items() if k != "$ref"}
        merged.update(target)
        return merged
    return node


def child_node(node: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The schema of property ``key`` of the object schema ``node`` (references followed)."""
    if node is None:
        return None
    node = deref(node)
    props = node.get("properties", {})
    child = props.get(key)
    return deref(child) if isinstance(child, dict) else None


def items_node(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of the items of the array schema ``node`` (references followed)."""
    if node is None:
        return None
    node = deref(node)
    items = node.get("items")
    return deref(items) if isinstance(items, dict) else None


def split_path(path: str) -> list[str | int]:
    """``'infrastructure.components[1].nbComponent'`` -> ``['infrastructure', 'components', 1,
    'nbComponent']``. Bracketed non-numeric keys (``components[gpu]``) stay strings prefixed
    by ``'['`` so callers can tell keyed list entries from object keys."""
    parts: list[str | int] = []
    for chunk in path.split("."):
        while "[" in chunk:
            head, _, rest = chunk.partition("[")
            key, _, chunk = rest.partition("]")
            if head:
                parts.append(head)
            parts.append(int(key) if key.lstrip("-").isdigit() else "[" + key)
        if chunk:
            parts.append(chunk)
    return parts


def field_spec(path: str | list[str | int]) -> FieldSpec | None:
    """Describe the field at a dotted BoAmps path, or ``None`` if no schema defines it.

    Indexes (``measures[0]``) and component keys (``components[gpu]``) both step into array
    items. Extension fields are found in the extension schema.

    >>> field_spec("measures[0].powerConsumption").type
    'number'
    """
    parts = split_path(path) if isinstance(path, str) else list(path)
    text = path if isinstance(path, str) else join_path(parts)
    official: dict[str, Any] | None = report_schema()
    extension: dict[str, Any] | None = extension_schema()
    required = True
    for part in parts:
        if isinstance(part, int) or part.startswith("["):
            official, extension = items_node(official), items_node(extension)
            continue
        parent_official = deref(official) if official else None
        required = required and bool(parent_official
                                     and part in parent_official.get("required", []))
        official, extension = child_node(official, part), child_node(extension, part)
        if official is None and extension is None:
            return None
    node = official if official is not None else extension
    if node is None:  # an index into a field that is not a list: 'task[0]'
        return None
    is_ext = official is None
    ext_node = extension or {}
    typ = node.get("type") or ext_node.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), None)
    enum = node.get("enum")
    minimum = ext_node.get("minimum", node.get("minimum"))
    maximum = ext_node.get("maximum", node.get("maximum"))
    return FieldSpec(
        path=text,
        type=typ,
        description=str(node.get("description") or ext_node.get("description") or "").strip(),
        enum=tuple(enum) if isinstance(enum, list) else None,
        unit=ext_node.get("x-unit") or node.get("x-unit"),
        required=required,
        extension=is_ext,
        minimum=minimum,
        maximum=maximum,
        node=node,
    )


def join_path(parts: list[str | int]) -> str:
    """Inverse of :func:`split_path`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("["):
            out += f"{part}]"
        else:
            out += ("." if out else "") + part
    return out


def child_keys(path: str) -> list[str]:
    """Property names known at an object path (official first, then extension)."""
    parts = split_path(path) if path else []
    official: dict[str, Any] | None = report_schema()
    extension: dict[str, Any] | None = extension_schema()
    for part in parts:
        if isinstance(part, int) or part.startswith("["):
            official, extension = items_node(official), items_node(extension)
        else:
            official, extension = child_node(official, part), child_node(extension, part)
    keys: list[str] = []
    for node in (official, extension):
        if node:
            for key in deref(node).get("properties", {}):
                if key not in keys:
                    keys.append(key)
    return keys
