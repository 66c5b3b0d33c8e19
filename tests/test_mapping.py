"""The mapping file: every rule kind, overriding the default, and load errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TASK_CONTEXT, V321_HEADER, v321_row, write_csv

import boamps_etl as be
from boamps_etl.mapping import apply_mapping, load_mapping
from boamps_etl.transforms import TRANSFORMS


def mapping_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_default_mapping_loads_and_covers_the_field_table() -> None:
    mapping = load_mapping()
    for target in ("header.reportId", "measures[0].powerConsumption",
                   "measures[0].cpuEnergy", "infrastructure.components[gpu].nbComponent",
                   "environment.powerSourceCarbonIntensity"):
        assert target in mapping.rules
    table = {row["path"]: row for row in be.mapping_table()}
    assert table["measures[0].powerConsumption"]["unit"] == "kWh"
    assert table["measures[0].averageUtilizationCpu"]["unit"] == "% -> 1"
    assert table["measures[0].emissionsRate"]["transform"] == "emissions_rate"


def test_every_transform_is_documented() -> None:
    assert all(t.doc for t in TRANSFORMS.values())


def run(mapping: be.FieldMapping, columns: dict[str, list[str | None]]) -> dict[str, list[object]]:
    n = len(next(iter(columns.values())))
    return apply_mapping(mapping, columns, n).values


def test_rule_kinds(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_file(tmp_path, """
version: 1
extends: false
rules:
  task.taskStage: {const: inference}
  task.taskFamily: {source: family, default: unknown family}
  measures[0].powerConsumption: {source: wh, source_unit: Wh, unit: kWh}
  measures[0].measurementDuration: {source: [minutes_a, minutes_b], source_unit: min, unit: s}
  environment.location: {source: [region_a, region_b]}
  measures[0].gpuPower: {source: gpu_w, when: {column: gpus, gt: 0}}
  system.os: {source: platform, transform: os_name}
"""))
    values = run(mapping, {
        "family": [None, "chat"], "wh": ["1234.5", None], "minutes_a": [None, "2"],
        "minutes_b": ["1.5", "9"], "region_a": [None, "x"], "region_b": ["y", "z"],
        "gpu_w": ["250", "300"], "gpus": ["0", "2"], "platform": ["Windows-10-10.0.19045-SP0",
                                                                  None],
    })
    assert values["task.taskStage"] == ["inference", "inference"]
    assert values["task.taskFamily"] == ["unknown family", "chat"]
    assert values["measures[0].powerConsumption"] == [1.2345, None]
    assert values["measures[0].measurementDuration"] == [90.0, 120.0]
    assert values["environment.location"] == ["y", "x"]
    assert values["measures[0].gpuPower"] == [None, 300.0]
    assert values["system.os"] == ["Windows", None]


def test_user_mapping_extends_overrides_and_removes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row())
    text = (tmp_path / "e.csv").read_text().splitlines()
    (tmp_path / "e.csv").write_text(text[0] + ",phase\n" + text[1] + ",inference\n")
    mapping = mapping_file(tmp_path, """
version: 1
rules:
  task.taskStage: {source: phase}            # an extra user column
  environment.location: null                 # drop a default rule
  software.language: {const: Python}         # override a default rule
""")
    context = {k: v for k, v in TASK_CONTEXT.items()}
    context["task"] = {k: v for k, v in TASK_CONTEXT["task"].items() if k != "taskStage"}
    report = be.convert(path, mapping=mapping, context=context).reports[0]
    assert report.status == "valid"
    assert report.document["task"]["taskStage"] == "inference"
    assert "location" not in report.document["environment"]
    assert report.document["software"]["language"] == "Python"
    assert report.document["measures"][0]["powerConsumption"] == 0.002545  # inherited


def test_component_entry_condition(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_file(tmp_path, """
version: 1
rules:
  infrastructure.components[gpu]: {when: {column: gpu_count, ge: 4}}
"""))
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a", gpu_count="2"),
                     v321_row(run_id="b", gpu_count="4", gpu_model="4 x Tesla T4"))
    result = be.convert(path, mapping=mapping, context=TASK_CONTEXT)
    types = [[c["componentType"] for c in r.document["infrastructure"]["components"]]
             for r in result.reports]
    assert types == [["cpu", "ram"], ["cpu", "gpu", "ram"]]


@pytest.mark.parametrize(("body", "line", "message"), [
    ("version: 1\nrules:\n  measures[0].powerConsumptoin: {source: energy_consumed}\n", 3,
     "unknown BoAmps target path 'measures[0].powerConsumptoin'; did you mean "
     "'powerConsumption'?"),
    ("version: 1\nrules:\n  task.taskStage:\n    sorce: phase\n", 3,
     "unknown rule key 'sorce' in 'task.taskStage'; did you mean 'source'?"),
    ("version: 1\nrules:\n\n  system.os: {source: os, transform: os_nme}\n", 4,
     "unknown transform 'os_nme' in 'system.os'; did you mean 'os_name'?"),
    ("version: 1\nrules:\n  system.os: {source: [a, b], transform: os_name}\n", 3,
     "transform 'os_name' takes 1 source column(s), 'system.os' gives 2"),
    ("version: 1\nrules:\n  measures[0].cpuPower: {source: p, source_unit: parsec, unit: W}\n",
     3, "unknown unit 'parsec'"),
    ("version: 1\nrules:\n  measures[0].cpuPower: {source: p, source_unit: kWh, unit: W}\n",
     3, "no conversion from kWh to W"),
    ("version: 1\nrules:\n  infrastructure.infraType: {const: cloud}\n", 3,
     "constant 'cloud' is not allowed for infrastructure.infraType"),
    ("version: 1\nrules:\n  measures[0].powerConsumption: {const: '1.5'}\n", 3,
     "constant '1.5' does not fit measures[0].powerConsumption, which holds number"),
    ("version: 1\nrules:\n  task.dataset[dog].dataType: {const: text}\n", 3,
     "only infrastructure.components entries can be keyed by name"),
    ("version: 1\nrules:\n  task.taskStage: {source: a, const: b}\n", 3,
     "has both 'source' and 'const'"),
    ("version: 1\nrules:\n  task.taskStage: {source: a, when: {column: b, like: 3}}\n", 3,
     "unknown 'when' operator 'like'"),
    ("version: 2\nrules: {}\n", 1, "unsupported mapping version 2"),
    ("version: 1\nrulez: {}\n", 2, "unknown top-level key 'rulez'; did you mean 'rules'?"),
    ("version: 1\nrules:\n  task.taskStage: [unclosed\n", 4, "YAML syntax error"),
])
def test_load_errors_name_file_and_line(tmp_path: Path, body: str, line: int,
                                        message: str) -> None:
    path = mapping_file(tmp_path, body)
    with pytest.raises(be.MappingError) as info:
        load_mapping(path)
    text = str(info.value)
    assert text.startswith(f"{path}, line {line}"), text
    assert message in text


def test_yaml_python_tags_are_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = mapping_file(tmp_path, f"version: 1\nrules: !!python/object/apply:os.system "
                                  f"['touch {marker}']\n")
    with pytest.raises(be.MappingError, match="refused YAML tag"):
        load_mapping(path)
    assert not marker.exists()


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = mapping_file(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(be.MappingError, match="alias bomb"):
        load_mapping(path)


def test_mapping_show_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from boamps_etl.cli import cli

    result = CliRunner().invoke(cli, ["mapping", "show"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["PATH", "SOURCE", "TRANSFORM", "UNIT"]
    assert any(line.startswith("measures[0].powerConsumption") and "energy_consumed" in line
               and "kWh" in line for line in lines)
    as_csv = CliRunner().invoke(cli, ["mapping", "show", "--format", "csv"])
    assert as_csv.output.splitlines()[0] == "path,source,transform,unit,when,note"


def test_header_variants_read_by_name(tmp_path: Path) -> None:
    # Columns in another order (CodeCarbon 3.1.1-3.2.3 moved some to the end) read the same.
    names = V321_HEADER.split(",")
    values = v321_row().split(",")
    order = sorted(range(len(names)), key=lambda i: names[i])
    write_csv(tmp_path / "sorted.csv", ",".join(values[i] for i in order),
              header=",".join(names[i] for i in order))
    write_csv(tmp_path / "plain.csv", v321_row())
    a = be.convert(tmp_path / "sorted.csv", context=TASK_CONTEXT).documents
    b = be.convert(tmp_path / "plain.csv", context=TASK_CONTEXT).documents
    assert a == b


def test_mapping_is_a_deprecated_name_of_field_mapping() -> None:
    import boamps_etl.mapping as mapping_module

    with pytest.warns(DeprecationWarning, match="FieldMapping"):
        assert be.Mapping is be.FieldMapping
    with pytest.warns(DeprecationWarning, match="FieldMapping"):
        assert mapping_module.Mapping is be.FieldMapping
    assert isinstance(be.load_mapping(), be.FieldMapping)
    assert "FieldMapping" in be.__all__ and "Mapping" not in be.__all__
