"""``schema``: the JSON Schema reports are validated with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..errors import UsageError

SchemaChoice = Literal["combined", "official", "extension"]


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
    from ..schema import REPORT_ID, extension_schema, official_schemas

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
