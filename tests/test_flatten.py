"""Tests for boamps_etl.flatten: reports <-> flat rows with BoAmps column names."""

from __future__ import annotations

import csv
import doctest
import importlib
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boamps_etl.errors import InputError
from boamps_etl.flatten import (
    cell_text,
    column_type,
    columns_of,
    csv_text,
    flatten,
    unflatten,
)
from boamps_etl.io.writers import render_csv
from boamps_etl.validate import validate_report

EXAMPLES = importlib.import_module("conftest").REFERENCE / "examples"
EXAMPLE_JSON = EXAMPLES / "energy-report-llm-inference.json"
EXAMPLE_CSV = EXAMPLES / "energy-report-llm-inference.flat.csv"
needs_reference = pytest.mark.skipif(not EXAMPLE_CSV.exists(),
                                     reason="../shared/reference is not present")


# --------------------------------------------------------------------------- reference


@needs_reference
def test_flattening_the_official_example_gives_its_flat_csv() -> None:
    doc = json.loads(EXAMPLE_JSON.read_text(encoding="utf-8"))
    with EXAMPLE_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    flat = flatten(doc)
    assert list(flat) == list(rows[0])  # same columns, same order
    assert {k: cell_text(v) for k, v in flat.items()} == rows[0]  # same text values


@needs_reference
@pytest.mark.parametrize("render", [lambda doc: csv_text([flatten(doc)]),
                                    lambda doc: render_csv([doc])],
                         ids=["csv_text", "writers.render_csv"])
def test_csv_writers_write_the_official_flat_csv(render: Any) -> None:
    doc = json.loads(EXAMPLE_JSON.read_text(encoding="utf-8"))
    assert render(doc) == EXAMPLE_CSV.read_text(encoding="utf-8")


def test_csv_text_quotes_a_lone_carriage_return() -> None:
    doc = {"task": {"taskFamily": "a\rb", "taskStage": "x"}}
    text = csv_text([flatten(doc)])
    assert text == 'task_taskFamily,task_taskStage\n"a\rb","x"\n'
    assert unflatten(next(csv.DictReader(io.StringIO(text, newline="")))) == doc


def test_render_csv_quotes_a_lone_carriage_return() -> None:
    doc = {"task": {"taskFamily": "a\rb"}}
    row = next(csv.DictReader(io.StringIO(render_csv([doc]), newline="")))
    assert unflatten(row) == doc


@needs_reference
def test_unflattening_the_official_flat_csv_gives_the_example() -> None:
    doc = json.loads(EXAMPLE_JSON.read_text(encoding="utf-8"))
    with EXAMPLE_CSV.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    rebuilt = unflatten(row)
    assert rebuilt == doc
    assert json.dumps(rebuilt) == json.dumps(doc)  # same key order and number types too


# --------------------------------------------------------------------------- unit cases


def test_flatten_names_columns_by_path_in_document_order() -> None:
    doc = {"header": {"publisher": {"name": "A"}}, "measures": [{"powerConsumption": 0.1},
                                                               {"powerConsumption": 2}]}
    assert flatten(doc) == {"header_publisher_name": "A", "measures_0_powerConsumption": 0.1,
                            "measures_1_powerConsumption": 2}


def test_empty_containers_survive_the_round_trip() -> None:
    doc = {"task": {"algorithms": [{}], "dataset": [{"dataUsage": "input",
                                                     "dataType": "text"}]}, "header": {}}
    flat = flatten(doc)
    assert flat["task_algorithms_0"] == {} and flat["header"] == {}
    assert unflatten(flat) == doc
    assert unflatten({k: cell_text(v) for k, v in flat.items()}) == doc


@pytest.mark.parametrize(("column", "cell", "expected"), [
    ("header_formatVersion", "0.1", "0.1"),          # text stays text
    ("software_version", 3.1, "3.1"),                # a float read into a text column
    ("software_version", 3.0, "3"),
    ("measures_0_powerConsumption", "0.5", 0.5),
    ("measures_0_powerConsumption", "13", 13),
    ("measures_0_powerConsumption", "13.0", 13.0),
    ("measures_0_powerConsumption", "1e-05", 1e-05),
    ("infrastructure_components_0_nbComponent", "2", 2),
    ("infrastructure_components_0_nbComponent", 2.0, 2),
    ("producerField", "42", 42),                     # unknown columns: JSON scalars
    ("producerField", "abc", "abc"),
    ("producerField", "true", True),
    ("measures_0_powerConsumption", "", None),       # empty cell: absent
    ("measures_0_powerConsumption", float("nan"), None),
])
def test_unflatten_restores_schema_types(column: str, cell: Any, expected: Any) -> None:
    doc = unflatten({column: cell})
    parts = column.split("_")
    node: Any = doc
    for part in parts:
        if node is None:
            break
        node = node[int(part)] if isinstance(node, list) else node.get(part)
    assert node == expected
    assert type(node) is type(expected)


def test_unflatten_takes_numpy_and_pandas_scalars() -> None:
    import numpy as np
    import pandas as pd

    doc = unflatten({"measures_0_powerConsumption": np.float64(0.5),
                     "infrastructure_components_0_nbComponent": np.int64(3),
                     "environment_country": pd.NA})
    assert doc == {"measures": [{"powerConsumption": 0.5}],
                   "infrastructure": {"components": [{"nbComponent": 3}]}}
    assert type(doc["infrastructure"]["components"][0]["nbComponent"]) is int
    json.dumps(doc)  # plain Python values only


@pytest.mark.parametrize(("row", "message"), [
    ({"measures_0_powerConsumption": "abc"}, "column 'measures_0_powerConsumption': "
                                             "'abc' is not a number"),
    ({"measures_0_powerConsumption": "1_000"}, "'1_000' is not a number"),
    ({"measures_0_powerConsumption": "inf"}, "'inf' is not a finite number"),
    ({"infrastructure_components_0_nbComponent": "2.5"}, "'2.5' is not a whole number"),
    ({"task": "x", "task_taskStage": "y"}, "column 'task_taskStage': conflicts with the "
                                           "column that gives task a value"),
    ({"task_taskStage": "y", "task": "x"}, "column 'task': conflicts with the columns "
                                           "inside it"),
    ({"measures_0_x": "1", "measures_y": "2"}, "column 'measures_y': 'y' is not a list "
                                               "index"),
    ({"measures__x": "1"}, "column 'measures__x': is not a BoAmps column name"),
])
def test_unflatten_errors_name_the_column(row: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        unflatten(row)
    assert message in str(info.value)
    assert info.value.where.column is not None


def test_column_type_and_columns_of() -> None:
    assert column_type("measures_0_cpuEnergy") == "number"  # extension field
    assert column_type("header_publisher_confidentialityLevel") == "string"
    assert column_type("task_algorithms_7") == "object"
    assert column_type("nonsense_field") is None
    assert columns_of([{"a": 1, "b": 2}, {"c": 3, "a": 4}]) == ["a", "b", "c"]


def test_cell_text() -> None:
    assert [cell_text(v) for v in (0.1, 1e-05, 13, "x", True, None, {}, [])] == \
        ["0.1", "1e-05", "13", "x", "true", "", "{}", "[]"]


# --------------------------------------------------------------------------- property


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
NUMBER = st.one_of(st.integers(-10**6, 10**6),
                   st.floats(allow_nan=False, allow_infinity=False, width=64))
POSITIVE = st.one_of(st.integers(0, 10**6),
                     st.floats(0, 1e9, allow_nan=False, allow_infinity=False))
SHARE = st.floats(0, 1, allow_nan=False)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def obj(required: dict[str, st.SearchStrategy[Any]],
        **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=fields)


algorithm = optional(algorithmType=TEXT, foundationModelName=TEXT, framework=TEXT,
                     frameworkVersion=st.sampled_from(["2.10", "1.0", "3"]),
                     parametersNumber=POSITIVE, layersNumber=NUMBER, quantization=TEXT)
dataset = obj({"dataUsage": st.sampled_from(["input", "output"]),
               "dataType": st.sampled_from(["text", "token", "image", "tabular"])},
              dataFormat=st.sampled_from(["csv", "json", "parquet"]), dataSize=POSITIVE,
              dataQuantity=POSITIVE, shape=TEXT, source=st.sampled_from(["public", "other"]))
measure = obj({"measurementMethod": TEXT, "powerConsumption": POSITIVE},
              version=st.sampled_from(["2.5.0", "3.10", "0.1"]), cpuTrackingMode=TEXT,
              averageUtilizationCpu=SHARE, measurementDuration=POSITIVE,
              measurementDateTime=st.just("2024-09-30 09:09:40"),
              cpuEnergy=NUMBER, gpuEnergy=NUMBER, emissions=POSITIVE,
              trackingMode=st.sampled_from(["machine", "process"]))
component = obj({"componentType": st.sampled_from(["cpu", "gpu", "ram", "ssd"]),
                 "nbComponent": st.integers(0, 512)},
                componentName=TEXT, memorySize=POSITIVE, manufacturer=TEXT, share=SHARE)
reports = obj(
    {
        "task": obj({"taskStage": TEXT, "taskFamily": TEXT,
                     "algorithms": st.lists(algorithm, min_size=1, max_size=3),
                     "dataset": st.lists(dataset, min_size=1, max_size=3)},
                    nbRequest=POSITIVE, measuredAccuracy=SHARE,
                    estimatedAccuracy=st.sampled_from(["poor", "good"])),
        "measures": st.lists(measure, min_size=1, max_size=2),
        "infrastructure": obj({"infraType": st.sampled_from(["onPremise", "publicCloud"]),
                               "components": st.lists(component, min_size=1, max_size=12)},
                              cloudProvider=TEXT),
    },
    header=obj({"reportDatetime": st.just("2025-02-26 16:57:00")},
               formatVersion=st.sampled_from(["0.1", "1.0", "10"]), reportId=TEXT,
               publisher=obj({"confidentialityLevel": st.sampled_from(["public", "secret"])},
                             name=TEXT, projectName=TEXT)),
    system=obj({"os": TEXT}, distributionVersion=st.sampled_from(["22.04", "12"])),
    software=obj({"language": TEXT}, version=st.sampled_from(["3.10", "3.11.7"])),
    environment=obj({"country": TEXT},
                    latitude=st.floats(-90, 90), longitude=st.floats(-180, 180),
                    powerSourceCarbonIntensity=POSITIVE,
                    countryIsoCode=st.sampled_from(["FRA", "fr", "USA"])),
    quality=st.sampled_from(["high", "medium", "low"]),
)


@given(reports)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_unflatten_inverts_flatten(doc: dict[str, Any]) -> None:
    assert validate_report(doc) == []  # the strategy makes valid reports
    flat = flatten(doc)
    assert all(not isinstance(v, dict | list) or not v for v in flat.values())
    assert unflatten(flat) == doc


@given(reports)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_csv_text_round_trip(doc: dict[str, Any]) -> None:
    """Through the CSV writer and reader: every value read back as text."""
    text = csv_text([flatten(doc)])
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    rebuilt = unflatten(row)
    assert rebuilt == doc
    assert json.dumps(rebuilt, sort_keys=True) == json.dumps(doc, sort_keys=True)


def test_doctests() -> None:
    module = importlib.import_module("boamps_etl.flatten")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
