"""Tests for boamps_etl.levels: the bronze/silver/gold rubric and assess()."""

from __future__ import annotations

import copy
import doctest
import importlib
import json
from typing import Any

import pytest

from boamps_etl.levels import (
    LEVELS,
    RUBRIC,
    Assessment,
    Criterion,
    assess,
    at_least,
    has_field,
    levels_markdown,
    unmet,
)
from boamps_etl.validate import validate_report

REFERENCE_EXAMPLE = (importlib.import_module("conftest").REFERENCE / "examples"
                     / "energy-report-llm-inference.json")

#: A report that meets every criterion of the rubric.
GOLD: dict[str, Any] = {
    "header": {"reportDatetime": "2025-01-01 10:00:00",
               "publisher": {"name": "Lab", "confidentialityLevel": "public"}},
    "task": {
        "taskStage": "inference", "taskFamily": "chatbot", "estimatedAccuracy": "good",
        "measuredAccuracy": 0.8,
        "algorithms": [{"algorithmType": "llm", "framework": "vllm", "parametersNumber": 13}],
        "dataset": [{"dataUsage": "input", "dataType": "token", "dataQuantity": 11,
                     "dataSize": 0.001}],
    },
    "measures": [{
        "measurementMethod": "codecarbon", "powerConsumption": 0.5,
        "measurementDuration": 19.0, "measurementDateTime": "2025-01-01 09:59:41",
        "cpuEnergy": 0.1, "gpuEnergy": 0.3, "ramEnergy": 0.1, "averageUtilizationCpu": 0.4,
        "averageUtilizationGpu": 0.9,
        "powerCalibrationMeasurement": 0.01,
    }],
    "infrastructure": {"infraType": "onPremise", "components": [
        {"componentType": "gpu", "nbComponent": 2, "manufacturer": "NVIDIA",
         "family": "Tesla", "series": "V100S"}]},
    "environment": {"country": "France", "latitude": 48.8, "longitude": 2.3,
                    "location": "Paris", "powerSourceCarbonIntensity": 84.9},
    "quality": "high",
}


def _targets(doc: Any, path: str) -> list[tuple[dict[str, Any], list[str]]]:
    """(object, keys) pairs a rubric path points at, to delete them in tests."""
    parts: list[str] = []
    for chunk in path.split("."):
        parts.extend((chunk[:-3], "*") if chunk.endswith("[*]") else (chunk,))
    *head, last = parts
    keys = [k.strip() for k in last.strip("{}").split(",")]
    nodes: list[Any] = [doc]
    for part in head:
        nxt: list[Any] = []
        for node in nodes:
            if part == "*" and isinstance(node, list):
                nxt.extend(node)
            elif isinstance(node, dict) and part in node:
                nxt.append(node[part])
        nodes = nxt
    return [(n, keys) for n in nodes if isinstance(n, dict)]


def without(doc: dict[str, Any], *paths: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for path in paths:
        for node, keys in _targets(out, path):
            for key in keys:
                node.pop(key, None)
    return out


def only(criterion: Criterion, keep: str) -> dict[str, Any]:
    """GOLD meeting ``criterion`` only through the alternative ``keep``."""
    out = without(GOLD, *(p for p in criterion.any_of if p != keep))
    for (node, keys), (src, _) in zip(_targets(out, keep), _targets(GOLD, keep), strict=True):
        for key in keys:  # alternatives can share a key (manufacturer): put it back
            if key in src:
                node[key] = copy.deepcopy(src[key])
    return out


def test_gold_fixture_is_valid_and_gold() -> None:
    assert validate_report(GOLD) == []
    assert assess(GOLD) == Assessment("gold", [], [])


@pytest.mark.parametrize("criterion", RUBRIC, ids=lambda c: f"{c.level}-{c.name}")
def test_one_criterion_short_drops_one_level_and_names_it(criterion: Criterion) -> None:
    doc = without(GOLD, *criterion.any_of)
    assert validate_report(doc) == [], "removing the fields must keep the report valid"
    result = assess(doc)
    below = LEVELS[LEVELS.index(criterion.level) - 1]
    assert result.level == below
    assert result.missing_for_next == [criterion.label]
    assert result.next_level == criterion.level


@pytest.mark.parametrize(("criterion", "keep"),
                         [(c, p) for c in RUBRIC if len(c.any_of) > 1 for p in c.any_of],
                         ids=lambda v: v.name if isinstance(v, Criterion) else v)
def test_any_single_alternative_meets_a_criterion(criterion: Criterion, keep: str) -> None:
    doc = only(criterion, keep)
    for other in criterion.any_of:
        assert has_field(doc, other) == (other == keep)
    assert assess(doc).level == "gold"


def test_silver_boundary_lists_every_missing_silver_criterion() -> None:
    silver = [c for c in RUBRIC if c.level == "silver"]
    doc = without(GOLD, *(p for c in silver for p in c.any_of))
    result = assess(doc)
    assert result.level == "bronze"
    assert result.missing_for_next == [c.label for c in silver]


def test_silver_report_lists_the_gold_criteria_it_misses() -> None:
    doc = without(GOLD, "quality", "measures[*].powerCalibrationMeasurement")
    result = assess(doc)
    assert result.level == "silver"
    assert result.missing_for_next == ["measures[*].powerCalibrationMeasurement", "quality"]
    assert result.reaches("bronze") and result.reaches("silver")
    assert not result.reaches("gold")


def test_a_silver_field_missing_caps_a_report_with_every_gold_field_at_bronze() -> None:
    doc = without(GOLD, "header.publisher.name")
    assert assess(doc) == Assessment("bronze", ["header.publisher.name"], [])


def test_invalid_report_is_none_with_the_schema_problems() -> None:
    doc = copy.deepcopy(GOLD)
    del doc["task"]["taskStage"]
    doc["quality"] = "excellent"
    result = assess(doc)
    assert result.level == "none"
    assert result.next_level == "bronze"
    assert result.missing_for_next == [
        "quality: 'excellent' is not an allowed value; allowed: 'high', 'medium', 'low'",
        "task.taskStage: required field is missing",
    ]
    assert {i.code for i in result.issues} == {"schema", "missing-field"}


def test_non_object_report_is_none() -> None:
    assert assess([1, 2]).level == "none"


def test_extension_bounds_count_for_bronze() -> None:
    doc = copy.deepcopy(GOLD)
    doc["measures"][0]["emissions"] = -1.0  # valid officially, out of the extension's bounds
    assert assess(doc).level == "none"


def test_known_issues_are_used_instead_of_validating_again() -> None:
    assert assess(GOLD, issues=[]).level == "gold"
    invalid = validate_report({"task": {}})
    assert assess({"task": {}}, issues=invalid).issues == invalid


@pytest.mark.parametrize(("doc", "path", "expected"), [
    ({"measures": [{}, {"cpuEnergy": 0.1}]}, "measures[*].cpuEnergy", True),
    ({"measures": [{"cpuEnergy": 0}]}, "measures[*].cpuEnergy", True),  # zero is data
    ({"measures": [{"cpuEnergy": None}]}, "measures[*].cpuEnergy", False),
    ({"measures": []}, "measures[*].cpuEnergy", False),
    ({"measures": {"cpuEnergy": 1}}, "measures[*].cpuEnergy", False),  # not a list
    ({"header": {"publisher": {"name": ""}}}, "header.publisher.name", False),
    ({"environment": {"latitude": 48.8}}, "environment.{latitude,longitude}", False),
    ({"environment": {"latitude": 0, "longitude": 0}}, "environment.{latitude,longitude}",
     True),
    ({"infrastructure": {"components": [{"manufacturer": "Intel"}, {"family": "Xeon"}]}},
     "infrastructure.components[*].{manufacturer,family}", False),  # same component needed
    ({"task": {"dataset": [{}, {"dataSize": 1.5}]}}, "task.dataset[*].dataSize", True),
    ({"quality": "high"}, "quality", True),
    ("not a report", "quality", False),
])
def test_has_field(doc: Any, path: str, expected: bool) -> None:
    assert has_field(doc, path) is expected


def test_unmet_names_the_criteria_of_one_level() -> None:
    assert unmet(GOLD, "gold") == []
    assert [c.name for c in unmet({}, "silver")] == [c.name for c in RUBRIC
                                                   if c.level == "silver"]


@pytest.mark.parametrize(("level", "target", "expected"), [
    ("gold", "silver", True), ("silver", "silver", True), ("bronze", "silver", False),
    ("none", "bronze", False), ("bronze", "none", True),
])
def test_at_least(level: str, target: str, expected: bool) -> None:
    assert at_least(level, target) is expected


def test_at_least_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="unknown level 'platinum'; levels: none, bronze"):
        at_least("platinum", "gold")


def test_rubric_is_well_formed_data() -> None:
    assert {c.level for c in RUBRIC} == {"silver", "gold"}
    names = [c.name for c in RUBRIC]
    assert len(names) == len(set(names))
    for criterion in RUBRIC:
        assert criterion.any_of and criterion.why
        assert criterion.label == " or ".join(criterion.any_of)


def test_every_rubric_path_names_schema_fields() -> None:
    from boamps_etl.schema import field_spec

    for criterion in RUBRIC:
        for path in criterion.any_of:
            head, _, last = path.rpartition(".")
            keys = last.strip("{}").split(",")
            for key in keys:
                full = f"{head}.{key}" if head else key
                assert field_spec(full.replace("[*]", "[0]")) is not None, full


def test_levels_markdown_table() -> None:
    text = levels_markdown()
    lines = text.splitlines()
    assert lines[0] == "| Level | Criterion | Any of these fields | Why |"
    assert lines[1] == "|---|---|---|---|"
    assert lines[2].startswith("| bronze | valid report |")
    assert len(lines) == 3 + len(RUBRIC)
    assert "| silver | location | `environment.location` or " \
           "`environment.{latitude,longitude}` |" in text
    for criterion in RUBRIC:
        assert f"| {criterion.level} | {criterion.name} |" in text


def test_official_example_is_bronze() -> None:
    if not REFERENCE_EXAMPLE.exists():
        pytest.skip("../shared/reference is not present")
    doc = json.loads(REFERENCE_EXAMPLE.read_text(encoding="utf-8"))
    assert assess(doc) == Assessment("bronze", [
        "measures[*].cpuEnergy or measures[*].gpuEnergy or measures[*].ramEnergy",
        "environment.location or environment.{latitude,longitude}"], [])


def test_doctests() -> None:
    module = importlib.import_module("boamps_etl.levels")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
