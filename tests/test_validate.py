"""Validation: shipped schemas == official ones, offline $ref resolution, and the compiled
validator accepting and rejecting exactly what jsonschema does."""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import pytest
from conftest import REFERENCE, ROOT, needs_shared
from hypothesis import given, settings
from hypothesis import strategies as st

import boamps_etl as be
from boamps_etl.validate import extension_validator, is_valid, official_validator

EXAMPLE = REFERENCE / "examples" / "energy-report-llm-inference.json"


def example() -> dict[str, Any]:
    return json.loads((ROOT / "tests" / "golden" / "example-gpu-cloud.json").read_text())


def reference_verdict(doc: Any) -> bool:
    return official_validator().is_valid(doc) and extension_validator().is_valid(doc)


@needs_shared
def test_shipped_official_schemas_are_the_official_copy() -> None:
    for path in (REFERENCE / "model").glob("*.json"):
        shipped = ROOT / "schemas" / "boamps" / path.name
        assert shipped.read_bytes() == path.read_bytes(), path.name


@needs_shared
def test_shipped_schema_judges_like_the_official_copy() -> None:
    """The same reports accepted and rejected by the official files from ../shared."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    docs = {p.name: json.loads(p.read_text()) for p in (REFERENCE / "model").glob("*.json")}
    registry = Registry().with_resources(
        (d["id"], Resource.from_contents(d, default_specification=DRAFT4)) for d in docs.values())
    official = jsonschema.Draft4Validator(docs["report_schema.json"], registry=registry)
    for doc in corpus_of_reports():
        assert official.is_valid(doc) == official_validator().is_valid(doc)


def corpus_of_reports() -> list[Any]:
    base = example()
    out: list[Any] = [base]
    for mutate in MUTATIONS:
        doc = copy.deepcopy(base)
        mutate(doc)
        out.append(doc)
    return out


MUTATIONS = [
    lambda d: d.pop("task"),
    lambda d: d["task"].pop("algorithms"),
    lambda d: d["task"]["dataset"][0].update(dataType="txt"),
    lambda d: d["task"]["algorithms"].clear(),
    lambda d: d["task"]["dataset"][0].update(dataFormat=None),
    lambda d: d["measures"][0].update(powerConsumption="0.5"),
    lambda d: d["measures"][0].update(powerConsumption=True),
    lambda d: d["measures"][0].update(powerConsumption=-1.0),
    lambda d: d["measures"].clear(),
    lambda d: d["measures"][0].update(averageUtilizationCpu=1.5),
    lambda d: d["infrastructure"]["components"][0].update(nbComponent=1.5),
    lambda d: d["infrastructure"]["components"][0].update(nbComponent=2.0),
    lambda d: d["infrastructure"]["components"][0].pop("nbComponent"),
    lambda d: d["infrastructure"].update(infraType="cloud"),
    lambda d: d["header"]["publisher"].pop("confidentialityLevel"),
    lambda d: d["header"].pop("reportDatetime"),
    lambda d: d.update(quality="great"),
    lambda d: d["environment"].pop("country"),
    lambda d: d["environment"].update(countryIsoCode="France"),
    lambda d: d["measures"][0].update(trackingMode="rapl"),
    lambda d: d["measures"][0].update(cpuEnergy="x"),
    lambda d: d.update(extraField={"anything": 1}),
    lambda d: d["task"].update(measuredAccuracy=0),
    lambda d: d["task"].update(nbRequest=None),
]


def test_example_is_valid_and_mutations_are_judged_alike() -> None:
    assert be.validate(example()) == []
    for doc in corpus_of_reports():
        assert is_valid(doc) == reference_verdict(doc), doc


def test_errors_are_located_and_explained() -> None:
    doc = example()
    doc["measures"][0]["powerConsumption"] = "x"
    doc["quality"] = "great"
    del doc["task"]["dataset"]
    messages = [str(i) for i in be.validate(doc)]
    assert "field measures[0].powerConsumption: 'x' is not of type number" in messages
    assert "field quality: 'great' is not an allowed value; allowed: 'high', 'medium', 'low'" \
        in messages
    assert "field task.dataset: required field is missing" in messages
    assert len(messages) == 3  # official and extension schema errors are not repeated


def test_no_network_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    doc = example()
    doc["task"]["algorithms"][0]["parametersNumber"] = "13"
    assert be.validate(doc)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                         st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.sampled_from(["", "x", "text", "input", "token", "cpu", "high"]))


@settings(max_examples=300, deadline=None)
@given(path_choice=st.integers(0, 10_000), value=json_scalars)
def test_compiled_and_reference_validators_agree(path_choice: int, value: Any) -> None:
    """Differential test: set any field of a valid report to any JSON scalar."""
    doc = example()
    paths = list(_leaf_paths(doc))
    path = paths[path_choice % len(paths)]
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert is_valid(doc) == reference_verdict(doc)


def _leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, (*prefix, i))
    else:
        yield prefix


@needs_shared
def test_official_example_is_valid() -> None:
    assert be.validate(json.loads(EXAMPLE.read_text())) == []
