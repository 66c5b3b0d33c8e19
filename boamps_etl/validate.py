"""Validate BoAmps reports against the official schemas and the extension schema, offline.

Two validators answer the same question:

* a compiled one (``fastjsonschema``), about 20x faster, used to accept a report;
* the reference one (``jsonschema``), used to explain a rejected report error by error.

A report is valid only when the compiled validator accepts it; the reference validator is
asked only for reports that fail, so every error message comes from ``jsonschema``. A
differential test (tests/test_validate.py) proves both accept and reject the same reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

from .errors import Issue, Location
from .schema import OFFICIAL_BASE, REPORT_ID, extension_schema, official_schemas


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = [
        (uri, Resource.from_contents(doc, default_specification=DRAFT4))
        for uri, doc in official_schemas().items()
    ]

    def refuse(uri: str) -> Any:  # never fetch anything over the network
        from referencing.exceptions import NoSuchResource

        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]

    return Registry(retrieve=refuse).with_resources(resources)  # type: ignore[call-arg]


@cache
def official_validator() -> Any:
    """The reference ``jsonschema`` validator for the official report schema."""
    from jsonschema import Draft4Validator

    return Draft4Validator(official_schemas()[REPORT_ID], registry=_registry())


@cache
def extension_validator() -> Any:
    """The reference ``jsonschema`` validator for the extension schema."""
    from jsonschema import Draft7Validator

    return Draft7Validator(extension_schema())


def _local_handler(uri: str) -> Any:
    if uri.startswith(OFFICIAL_BASE) and uri in official_schemas():
        return official_schemas()[uri]
    raise ValueError(f"schema {uri} is not shipped with boamps-etl and will not be fetched")


@cache
def _compiled() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    import fastjsonschema

    handlers = {"https": _local_handler, "http": _local_handler}
    official = fastjsonschema.compile(official_schemas()[REPORT_ID], handlers=handlers)
    extension = fastjsonschema.compile(extension_schema(), handlers=handlers)
    return official, extension


def full_check(doc: Any) -> bool:
    """True when ``doc`` passes the official and the extension schema (compiled validators,
    every constraint checked)."""
    from fastjsonschema import JsonSchemaException

    official, extension = _compiled()
    try:
        official(doc)
        extension(doc)
    except JsonSchemaException:
        return False
    return True


def is_valid(doc: Any) -> bool:
    """True when ``doc`` passes the official and the extension schema."""
    return full_check(doc)


def format_path(parts: Iterable[Any]) -> str:
    """``['measures', 0, 'powerConsumption']`` -> ``'measures[0].powerConsumption'``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(error: Any, schema_name: str) -> tuple[str, str]:
    path = list(error.absolute_path)
    validator = error.validator
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return format_path([*path, missing]), "required field is missing"
    where = format_path(path) or "(report)"
    if validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value if v is not None)
        return where, f"{error.instance!r} is not an allowed value; allowed: {allowed}"
    if validator == "type":
        return where, f"{error.instance!r} is not of type {error.validator_value}"
    if validator in ("minimum", "maximum"):
        word = "at least" if validator == "minimum" else "at most"
        return where, f"{error.instance!r} must be {word} {error.validator_value} ({schema_name})"
    if validator == "minItems":
        return where, f"needs at least {error.validator_value} item(s)"
    return where, f"{error.message} ({schema_name})"


def iter_report_errors(doc: Any) -> Iterator[tuple[str, str, str]]:
    """Yield ``(json_path, message, validator_keyword)`` for every schema error in ``doc``."""
    seen: set[tuple[str, str]] = set()
    for name, validator in (("official schema", official_validator()),
                            ("extension schema", extension_validator())):
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        for error in errors:
            path, message = _describe(error, name)
            if (path, str(error.validator)) in seen:  # both schemas can say the same thing
                continue
            seen.add((path, str(error.validator)))
            yield path, message, str(error.validator)


def validate_report(doc: Any, where: Location | None = None) -> list[Issue]:
    """Validate one BoAmps report (a dict) and return its problems; empty means valid.

    Args:
        doc: the report as plain JSON data.
        where: the location to attach (file, row); the JSON path is filled per error.

    >>> [str(i) for i in validate_report({"task": {}})][0]
    'field measures: required field is missing'
    """
    if is_valid(doc):
        return []
    return schema_errors(doc, where)


def schema_errors(doc: Any, where: Location | None = None) -> list[Issue]:
    """Every schema error of a report known to be invalid, located (``jsonschema``). (Not
    :func:`boamps_etl.explain`, which says what applies to a file in a batch.)"""
    base = where or Location()
    issues = [
        Issue("missing-field" if keyword == "required" else "schema", message,
              Location(base.file, base.row, base.column, path))
        for path, message, keyword in iter_report_errors(doc)
    ]
    if not issues:  # the two validators disagree: never call such a report valid
        issues.append(Issue("schema", "rejected by the compiled schema validator", base))
    return issues
