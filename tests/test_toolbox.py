"""Tests for boamps_etl.toolbox and its commands (boamps_etl.cli.toolbox): init-context,
validate, flatten/unflatten, summary and schema."""

from __future__ import annotations

import copy
import doctest
import importlib
import itertools
import json
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import CODECARBON, REFERENCE, TASK_CONTEXT, v321_row, write_csv

import boamps_etl as be
from boamps_etl.cli import cli as main_cli
from boamps_etl.cli.toolbox import COMMANDS, register
from boamps_etl.context import load_context
from boamps_etl.errors import ContextError, InputError, OutputError, UsageError
from boamps_etl.schema import field_spec
from boamps_etl.toolbox import (
    TEMPLATE_FIELDS,
    MissingExtraError,
    flatten_paths,
    init_context,
    plot_summary,
    read_reports,
    schema_document,
    summarize,
    unflatten_file,
    validate_paths,
)
from boamps_etl.validate import validate_report

# A copy of the main group, so that registering here leaves the real one as cli/main.py makes it.
# Same context_settings: click keeps a command's help option as first shown (-h, --help).
cli = click.Group(main_cli.name, commands=dict(main_cli.commands), callback=main_cli.callback,
                  params=list(main_cli.params), context_settings=main_cli.context_settings)
register(cli)
register(cli)  # twice: harmless

EXAMPLE = REFERENCE / "examples" / "energy-report-llm-inference.json"
BASH_TOOL_CSV = REFERENCE / "bash-tool" / "codecarbon_file.csv"
needs_reference = pytest.mark.skipif(not EXAMPLE.exists(),
                                     reason="../shared/reference is not present")

TASK_HEADER = ("timestamp,project_name,run_id,experiment_id,task_name,duration,emissions,"
               "energy_consumed,cpu_energy,gpu_energy,ram_energy,country_name,cpu_model,"
               "cpu_count,on_cloud,os,python_version,codecarbon_version")


#: TASK_CONTEXT plus a dataset size: CodeCarbon rows with it make silver reports.
SILVER_CONTEXT = copy.deepcopy(TASK_CONTEXT)
SILVER_CONTEXT["task"]["dataset"][0]["dataQuantity"] = 1000


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def task_row(task: str, project: str = "tasks") -> str:
    return (f"2025-01-01T10:00:00,{project},r-{task},e,{task},10.0,1e-05,0.002,0.001,0.0005,"
            f"0.0005,France,Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz,8,N,Linux,3.11.7,3.0.0")


@pytest.fixture
def two_projects(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "emissions.csv",
                     v321_row(run_id="a1", project_name="bert-small"),
                     v321_row(run_id="a2", project_name="bert-small"),
                     v321_row(run_id="b1", project_name="llama [eval]*"))


def valid_docs(tmp_path: Path, n: int = 2) -> list[dict[str, Any]]:
    csv = write_csv(tmp_path / "src.csv", *(v321_row(run_id=f"run-{i}") for i in range(n)))
    result = be.convert(csv, context=SILVER_CONTEXT)
    assert len(result.valid) == n
    return result.documents


# =========================================================================== init-context


def fill(node: Any, path: list[str | int]) -> None:
    """Give every null of a template a value its schema allows."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            fill(item, [*path, i])
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "when":
            continue
        if key == "match":  # each section holds report fields, from the top
            for section in value:
                fill(section, [])
            continue
        here = [*path, key]
        if value is None:
            spec = field_spec(here)
            assert spec is not None, here
            if spec.enum:
                node[key] = next(v for v in spec.enum if v is not None)
            elif spec.type in ("number", "integer"):
                node[key] = spec.maximum if spec.maximum is not None else 2
            else:
                node[key] = "filled"
        else:
            fill(value, here)


def uncomment_all(text: str) -> str:
    """Uncomment every commented-out field line of a template (not the descriptions)."""
    out = []
    body = text.split("\n\n", 1)[1]  # the intro ends at the first blank line
    for line in body.splitlines():
        m = re.match(r"^(\s*)# (\s*(- )?[A-Za-z]+:( .*)?)$", line)
        out.append(m.group(1) + m.group(2) if m else line)
    return "\n".join(out) + "\n"


def test_template_without_csv_loads_and_names_the_first_empty_required_field(
        tmp_path: Path) -> None:
    text = init_context()
    data = yaml.safe_load(text)
    assert data == {"task": {"taskStage": None, "taskFamily": None,
                             "algorithms": [{"algorithmType": None}],
                             "dataset": [{"dataUsage": None, "dataType": None}]}}
    path = tmp_path / "ctx.yaml"
    path.write_text(text)
    with pytest.raises(ContextError) as info:
        load_context([path])
    line = text.splitlines().index("  taskStage: null") + 1
    assert str(info.value) == (f"{path}, line {line}, column 3: task.taskStage is empty "
                               "(give it a value, or delete the line if the field is optional)")


def test_template_required_first_and_described_from_the_schemas() -> None:
    text = init_context()
    lines = text.splitlines()
    body = lines[lines.index("") + 1:]  # after the intro
    keys = [m.group(1) for line in body
            if (m := re.match(r"^[\s#]*(?:- )?([A-Za-z]+):", line))]
    # Required fields first within each object; the whole file starts with them.
    assert keys[:4] == ["task", "taskStage", "taskFamily", "algorithms"]
    assert keys.index("algorithmType") < keys.index("trainingType")
    assert keys.index("dataType") < keys.index("dataFormat")
    assert keys.index("dataset") < keys.index("nbRequest")
    assert keys.index("nbRequest") < keys.index("header")
    at = lines.index("  taskStage: null")
    assert lines[at - 3] == "  # REQUIRED. stage of the task, example: datacreation, " \
                            "preprocessing, training, finetuning,"
    assert "  # # the measured accuracy of your model (between 0 and 1) [number, 0 to 1]" \
        in lines
    flat = " ".join(re.sub(r"^[\s#]*", "", line) for line in lines)
    for path in ("task.taskFamily", "header.licensing", "quality", "measures[0].cpuTrackingMode",
                 "task.dataset[0].dataType"):
        spec = field_spec(path)
        assert spec is not None
        assert " ".join(spec.description.split()).rstrip(".") in flat
    assert "[one of: draft, final, corrective, other]" in text  # reportStatus enum
    assert "[number, 0 to 1]" in text  # measuredAccuracy bounds
    assert "(150 values)" in text  # dataFormat's long enum is shortened
    for path in TEMPLATE_FIELDS:
        assert field_spec(path.replace("[*]", "[0]")) is not None, path


def test_template_filled_without_csv_makes_valid_reports(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a"), v321_row(run_id="b"))
    data = yaml.safe_load(init_context())
    fill(data, [])
    result = be.convert(csv, context=data)
    assert len(result.valid) == 2, [str(i) for i in result.errors]


def test_template_from_csv_has_one_match_per_project(two_projects: Path) -> None:
    text = init_context([two_projects])
    data = yaml.safe_load(text)
    assert [m["when"] for m in data["match"]] == [
        {"project_name": "bert-small"}, {"project_name": "llama [[]eval][*]"}]
    assert [m["header"] for m in data["match"]] == [
        {"publisher": {"projectName": "bert-small"}},
        {"publisher": {"projectName": "llama [eval]*"}}]
    assert data["header"] == {"publisher": {"confidentialityLevel": None}}
    assert "task" not in data  # every row has a project: task fields are per project
    assert "# bert-small: 2 report(s) from emissions.csv" in text
    assert "\n".join(["# from the CSV:", "#   infraType onPremise",
                      "#   cpu 16 x Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz",
                      "#   gpu 2 x Tesla V100S-PCIE-32GB", "#   ram 1 x 86.3 GB",
                      "# infrastructure:"]) in text
    assert "# from the CSV: country France; location ile-de-france; latitude 48.8582; " \
           "longitude 2.3387\n# environment:\n" in text
    assert "#   components:\n#     - componentType: \"cpu\"" in text


def test_filled_template_gives_valid_reports_per_project(two_projects: Path) -> None:
    data = yaml.safe_load(init_context([two_projects]))
    fill(data, [])
    data["match"][1]["task"]["taskFamily"] = "chatbot"
    result = be.convert(two_projects, context=data)
    assert len(result.reports) == 3
    assert len(result.valid) == 3, [str(i) for i in result.errors]
    families = [r.document["task"]["taskFamily"] for r in result.reports]
    assert families == ["filled", "filled", "chatbot"]
    projects = [r.document["header"]["publisher"]["projectName"] for r in result.reports]
    assert projects == ["bert-small", "bert-small", "llama [eval]*"]


def test_every_optional_line_uncommented_and_filled_is_valid(two_projects: Path,
                                                              tmp_path: Path) -> None:
    text = uncomment_all(init_context([two_projects]))
    data = yaml.safe_load(text)
    assert data["quality"] is None and data["infrastructure"]["components"][1] == {
        "componentType": "gpu", "share": None}
    fill(data, [])
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(data))
    result = be.convert(two_projects, context=path)
    assert len(result.valid) == 3, [str(i) for i in result.errors]
    doc = result.reports[0].document
    assert doc["quality"] == "high" and doc["environment"]["powerSource"] == "solar"
    assert [c["share"] for c in doc["infrastructure"]["components"]] == [1, 1, 1]


def test_task_files_group_by_project_and_keep_task_names(tmp_path: Path) -> None:
    # Task names are not projects (issue #14): one match section per project, and each
    # report keeps its task name (measures[0].taskName), not as header.publisher.projectName.
    tasks = write_csv(tmp_path / "tasks.csv", task_row("load"), task_row("infer"),
                      header=TASK_HEADER)
    plain = write_csv(tmp_path / "plain.csv", v321_row(run_id="z", project_name=""))
    text = init_context([tasks, plain])
    data = yaml.safe_load(text)
    assert [m["when"] for m in data["match"]] == [{"project_name": "tasks"}]
    assert [m["header"] for m in data["match"]] == [{"publisher": {"projectName": "tasks"}}]
    assert "task_name" not in text
    assert data["task"]["taskStage"] is None  # the plain CSV's row has no project
    fill(data, [])
    result = be.convert([tasks, plain], context=data)
    assert len(result.valid) == 3, [str(i) for i in result.errors]
    by_task = {r.document["measures"][0].get("taskName"): r.document for r in result.reports}
    assert set(by_task) == {"load", "infer", None}
    assert by_task["load"]["header"]["publisher"]["projectName"] == "tasks"
    assert by_task["infer"]["header"]["publisher"]["projectName"] == "tasks"


def test_codecarbon_1x_template_filled_only_where_required_converts() -> None:
    # CodeCarbon 1.x records no hardware: the template must ask for the components
    # (issue #14), so that filling only what it marks REQUIRED gives valid reports.
    csv = CODECARBON / "v1.csv"
    text = init_context([csv])
    assert "infrastructure:\n  components:\n    - componentType: \"cpu\"" in text
    at = text.splitlines().index("      nbComponent: null")
    assert "REQUIRED" in text.splitlines()[at - 2]
    data = yaml.safe_load(text)  # only the active (REQUIRED) lines
    fill(data, [])
    result = be.convert(csv, context=data)
    assert [r.status for r in result.reports] == ["valid"] * 3, \
        [str(i) for i in result.errors]
    comp = result.reports[0].document["infrastructure"]["components"]
    assert comp == [{"componentType": "cpu", "nbComponent": 2}]


def test_mixed_1x_and_later_files_keep_the_recorded_hardware() -> None:
    # A template over a 1.x file (no hardware) and a 3.x one must not ask for components at
    # the top level: filled in, they would replace the hardware the 3.x file recorded.
    old, new = CODECARBON / "v1.csv", CODECARBON / "v3.2.1.csv"
    text = init_context([old, new])
    data = yaml.safe_load(text)
    assert "components" not in (data.get("infrastructure") or {})
    assert f"no hardware recorded in {old} (CodeCarbon 1.x)" in " ".join(
        line.lstrip("# ") for line in text.splitlines())
    assert f"(boamps-etl init-context {old})" in text.replace("\n#     ", " ")
    fill(data, [])
    both = be.convert([old, new], context=data)
    alone = be.convert(new)
    recorded = [r.document["infrastructure"]["components"] for r in alone.reports]
    assert [r.document["infrastructure"]["components"] for r in both.reports
            if r.source == str(new)] == recorded
    assert all(r.status == "valid" for r in both.reports if r.source == str(new))
    # the 1.x file's own template, filled, gives it valid reports
    own = yaml.safe_load(init_context([old]))
    fill(own, [])
    assert [r.status for r in be.convert(old, context=own).reports] == ["valid"] * 3


def test_init_context_writes_atomically_and_refuses_to_overwrite(two_projects: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "ctx.yaml"
    text = init_context([two_projects], out=out)
    assert out.read_text() == text
    assert f"# Then: boamps-etl convert {two_projects} --context {out}" in text
    with pytest.raises(OutputError, match="output file exists already"):
        init_context(out=out)
    assert out.read_text() == text
    init_context(out=out, force=True)
    assert out.read_text() == init_context(out=out, force=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_init_context(two_projects: Path, tmp_path: Path) -> None:
    result = invoke("init-context", str(two_projects))
    assert result.exit_code == 0
    assert result.stdout == init_context([two_projects])
    out = tmp_path / "c.yaml"
    result = invoke("init-context", str(two_projects), "--out", str(out))
    assert result.exit_code == 0
    assert result.stderr == (f"wrote {out}: fill the REQUIRED values, then run boamps-etl "
                             f"convert {two_projects} --context {out}\n")
    result = invoke("init-context", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {out}: output file exists already "
                             "(pass --force to overwrite it)\n")
    assert invoke("init-context", "--out", str(out), "--force").exit_code == 0


def test_cli_init_context_bad_csv(tmp_path: Path) -> None:
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    result = invoke("init-context", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}")


@needs_reference
def test_template_for_the_bash_tool_fixture() -> None:
    text = init_context([BASH_TOOL_CSV])
    assert "#   cpu 30 x Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz\n" in text
    assert "#   not recorded: cpuTrackingMode, gpuTrackingMode\n" in text
    data = yaml.safe_load(text)
    assert [m["when"] for m in data["match"]] == [{"project_name": "llama2_emissions"}]
    fill(data, [])
    assert len(be.convert(BASH_TOOL_CSV, context=data).valid) == 104


# =========================================================================== validate


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    docs = valid_docs(tmp_path, 3)
    folder = tmp_path / "reports"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.json").write_text(json.dumps(docs[0]))
    (folder / "sub" / "many.jsonl").write_text("\n".join(json.dumps(d) for d in docs[1:])
                                               + "\n\n")
    (folder / ".hidden.json").write_text("not json")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_validate_folder_of_json_and_jsonl(reports_dir: Path) -> None:
    summary = validate_paths([reports_dir])
    assert summary.passed
    assert summary.files == [str(reports_dir / "one.json"),
                             str(reports_dir / "sub" / "many.jsonl")]
    assert [(r.index, r.line, r.level) for r in summary.reports] == [
        (1, None, "silver"), (1, 1, "silver"), (2, 2, "silver")]
    assert summary.problem_lines() == []
    assert summary.summary_line() == ("3 report(s) in 2 file(s): 3 valid, 0 invalid; "
                                      "levels: 3 silver")


def test_validate_names_file_report_and_field(tmp_path: Path) -> None:
    docs = valid_docs(tmp_path, 2)
    bad = copy.deepcopy(docs[1])
    del bad["task"]["taskStage"]
    bad["quality"] = "great"
    path = tmp_path / "array.json"
    path.write_text(json.dumps([docs[0], bad], indent=2))
    summary = validate_paths([path])
    assert not summary.passed
    assert summary.problem_lines() == [
        f"{path}, report 2, field quality: 'great' is not an allowed value; allowed: "
        "'high', 'medium', 'low'",
        f"{path}, report 2, field task.taskStage: required field is missing"]
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == summary.problem_lines()
    assert result.stdout == ("2 report(s) in 1 file(s): 1 valid, 1 invalid; levels: "
                             "1 silver\n")


def test_validate_other_producers_report(tmp_path: Path) -> None:
    if not EXAMPLE.exists():
        pytest.skip("../shared/reference is not present")
    result = invoke("validate", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.stdout == "1 report(s) in 1 file(s): 1 valid, 0 invalid; levels: 1 bronze\n"
    result = invoke("validate", str(EXAMPLE), "--level", "silver")
    assert result.exit_code == 1
    assert result.stderr == (
        f"{EXAMPLE}, report 1: level bronze, below silver; missing for silver: "
        "measures[*].cpuEnergy or measures[*].gpuEnergy or measures[*].ramEnergy; "
        "environment.location or environment.{latitude,longitude}\n")
    assert invoke("validate", str(EXAMPLE), "--level", "bronze").exit_code == 0


def test_validate_level_gate(reports_dir: Path) -> None:
    assert invoke("validate", str(reports_dir), "--level", "silver").exit_code == 0
    result = invoke("validate", str(reports_dir), "--level", "gold")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{reports_dir / 'one.json'}, report 1: level silver, below "
                               "gold; missing for gold: measures[*].powerCalibrationMeasurement;")
    assert result.stdout.endswith("; 3 below gold\n")


def test_validate_json_format(reports_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"task": {}}))
    result = invoke("validate", str(reports_dir), str(bad), "--format", "json")
    assert result.exit_code == 1
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data == validate_paths([reports_dir, bad]).as_dict()
    assert data["passed"] is False
    assert data["counts"] == {"reports": 4, "valid": 3, "invalid": 1, "below_level": 0,
                              "unreadable": 0,
                              "levels": {"gold": 0, "silver": 3, "bronze": 0, "none": 1}}
    last = data["reports"][-1]
    assert last["file"] == str(bad) and last["level"] == "none" and not last["valid"]
    assert {"field": "task.taskStage", "message": "required field is missing",
            "code": "missing-field"} in last["errors"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.json", '{\n  "task": {,\n}', "bad.json, line 2, column 12: JSON syntax error: "
                                       "Expecting property name enclosed in double quotes"),
    ("bad.jsonl", '{"a": 1}\n{"b": }\n', "bad.jsonl, line 2, column 7: JSON syntax error: "
                                         "Expecting value"),
    ("lines.json", '{"a": 1}\n{"b": 2}\n', "lines.json, line 2, column 1: JSON syntax error: "
                                           "Extra data (one report per line is JSON Lines: "
                                           "name the file .jsonl)"),
    ("latin1.json", b'{"a": "\xe9"}', "latin1.json: is not UTF-8 text (byte 7)"),
    ("empty.jsonl", "\n\n", "empty.jsonl: holds no report"),
    ("empty.json", "[]", "empty.json: holds no report"),
])
def test_validate_unreadable_input_exits_2(tmp_path: Path, name: str, content: str | bytes,
                                           message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(valid_docs(tmp_path, 1)[0]))
    result = invoke("validate", str(path), str(good))
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path}/{message}\n"
    assert result.stdout.startswith("1 report(s) in 1 file(s): 1 valid, 0 invalid")


def test_validate_empty_folder_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("validate", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'empty'}: holds no .json or .jsonl file\n"
    assert invoke("validate", str(tmp_path / "nope.json")).exit_code == 2  # click usage
    summary = validate_paths([tmp_path / "nope.json"])
    assert [str(i) for i in summary.unreadable] == [f"{tmp_path / 'nope.json'}: file not found"]


def test_validate_rejects_unknown_level() -> None:
    with pytest.raises(UsageError, match="unknown level 'platinum'"):
        validate_paths([], level="platinum")


def test_read_reports_keeps_order_and_lines(reports_dir: Path) -> None:
    reports, issues = read_reports([reports_dir / "sub" / "many.jsonl", reports_dir])
    assert issues == []
    assert [(Path(r.file).name, r.index, r.line) for r in reports] == [
        ("many.jsonl", 1, 1), ("many.jsonl", 2, 2), ("one.json", 1, None),
        ("many.jsonl", 1, 1), ("many.jsonl", 2, 2)]


# =========================================================================== flatten


@needs_reference
def test_flatten_paths_of_the_official_example_gives_its_flat_csv(tmp_path: Path) -> None:
    out = tmp_path / "flat.csv"
    frame = flatten_paths([EXAMPLE], out=out)
    expected = EXAMPLE.with_name("energy-report-llm-inference.flat.csv")
    assert out.read_text() == expected.read_text()
    assert list(frame.columns) == expected.read_text().splitlines()[0].split(",")
    unflatten_file(out, tmp_path / "back")
    [back] = list((tmp_path / "back").glob("*.json"))
    assert json.loads(back.read_text()) == json.loads(EXAMPLE.read_text())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_flatten_unflatten_round_trip(tmp_path: Path, suffix: str) -> None:
    docs = valid_docs(tmp_path, 3)
    docs[2]["task"]["algorithms"].append({})  # an empty object survives
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / f"flat{suffix}"
    result = invoke("flatten", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = flatten_paths([src])
    assert result.stderr == f"3 report(s), {len(frame.columns)} column(s) -> {out}\n"
    assert unflatten_file(out) == docs
    folder = tmp_path / "back"
    result = invoke("unflatten", str(out), "--out", str(folder))
    assert result.exit_code == 0
    assert result.stderr == f"3 report(s) -> {folder}/\n"
    written = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert sorted(written, key=json.dumps) == sorted(docs, key=json.dumps)
    assert invoke("validate", str(folder)).exit_code == 0


def test_parquet_columns_are_typed(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "in.json"
    src.write_text(json.dumps(valid_docs(tmp_path, 1)))
    out = tmp_path / "flat.parquet"
    flatten_paths([src], out=out)
    schema = pq.read_schema(out)
    assert str(schema.field("measures_0_powerConsumption").type) == "double"
    assert str(schema.field("infrastructure_components_0_nbComponent").type) == "int64"
    assert str(schema.field("header_formatVersion").type) == "string"


def test_flatten_to_stdout_and_refusals(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(valid_docs(tmp_path, 1)[0]))
    result = invoke("flatten", str(src), "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("header_formatVersion,")
    out = tmp_path / "flat.csv"
    out.write_text("keep")
    result = invoke("flatten", str(src), "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {out}: output file exists already "
                             "(pass --force to overwrite it)\n")
    assert out.read_text() == "keep"
    assert invoke("flatten", str(src), "-o", str(out), "--force").exit_code == 0
    result = invoke("flatten", str(src), "-o", str(tmp_path / "flat.xlsx"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path / 'flat.xlsx'}: the flat table must be a "
                             ".csv or .parquet file\n")


def test_unflatten_bad_cell_is_located(tmp_path: Path) -> None:
    flat = tmp_path / "flat.csv"
    flat.write_text("header_reportDatetime,measures_0_powerConsumption\n"
                    "2025-01-01 10:00:00,0.5\n2025-01-01 10:00:00,lots\n")
    out = tmp_path / "out"
    result = invoke("unflatten", str(flat), "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {flat}, row 3, column 'measures_0_powerConsumption': "
                             "'lots' is not a number\n")
    assert not out.exists()
    flat.write_text("a,b\n1,2,3\n")
    with pytest.raises(InputError, match="row 2: has more cells than the header"):
        unflatten_file(flat)


def test_parquet_without_pyarrow_gives_install_hint(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(valid_docs(tmp_path, 1)[0]))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError) as info:
        flatten_paths([src], out=tmp_path / "x.parquet")
    assert str(info.value) == ("Parquet output needs pyarrow, which is not installed "
                               "(pip install 'boamps-etl[parquet]')")
    result = invoke("flatten", str(src), "-o", str(tmp_path / "x.parquet"))
    assert result.exit_code == 2
    assert "pip install 'boamps-etl[parquet]'" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


# =========================================================================== summary


@pytest.fixture
def converted(two_projects: Path) -> Any:
    data = yaml.safe_load(init_context([two_projects]))
    fill(data, [])
    data["match"][1]["task"]["taskStage"] = "inference"
    result = be.convert(two_projects, context=data)
    assert len(result.valid) == 3
    return result


def test_summary_per_run(converted: Any) -> None:
    frame = summarize(converted)
    assert list(frame.index) == ["a1", "a2", "b1"]
    assert frame.index.name == "run"
    assert list(frame.columns) == ["start", "reports", "energy_kwh", "cpu_energy_kwh",
                                   "gpu_energy_kwh", "ram_energy_kwh", "duration_s",
                                   "emissions_kg", "carbon_intensity_g_per_kwh", "level"]
    row = frame.loc["a1"]
    assert row["energy_kwh"] == 0.002545 and row["cpu_energy_kwh"] == 0.00036
    assert row["gpu_energy_kwh"] == 0.0021 and row["ram_energy_kwh"] == 8.5e-05
    assert row["duration_s"] == 30.5 and row["emissions_kg"] == 2.5e-05
    assert row["carbon_intensity_g_per_kwh"] == pytest.approx(2.5e-05 * 1000 / 0.002545)
    assert row["level"] == "bronze" and row["reports"] == 1  # no publisher name, data size
    assert row["start"] == "2025-12-01 10:00:00"  # timestamp - duration, rounded


def test_summary_by_project_and_task(converted: Any, tmp_path: Path) -> None:
    frame = summarize(converted, by="project")
    assert list(frame.index) == ["bert-small", "llama [eval]*"]
    assert list(frame["reports"]) == [2, 1]
    assert frame.loc["bert-small", "energy_kwh"] == pytest.approx(2 * 0.002545)
    by_task = summarize(converted, by="task")
    assert list(by_task.index) == ["filled / filled", "inference / filled"]
    # The same reports read back from JSON files: the project comes from
    # header.publisher.projectName, which the template's match sections set.
    be.write(converted, tmp_path / "out")
    from_files = summarize([tmp_path / "out"], by="project")
    assert sorted(from_files.index) == ["bert-small", "llama [eval]*"]
    assert from_files["energy_kwh"].sum() == pytest.approx(frame["energy_kwh"].sum())


def test_summary_project_rule_falls_back_to_csv_then_none(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="x", project_name="demo"))
    result = be.convert(csv, context=TASK_CONTEXT)
    assert list(summarize(result, by="project").index) == ["demo"]  # the CSV's project_name
    assert list(summarize(result.documents, by="project").index) == ["(no project)"]


def test_summary_of_reports_without_breakdown_or_emissions() -> None:
    doc = {"measures": [{"measurementMethod": "wattmeter", "powerConsumption": 2.0},
                        {"measurementMethod": "wattmeter", "powerConsumption": 1.0}],
           "environment": {"country": "France", "powerSourceCarbonIntensity": 50.0}}
    frame = summarize([doc, doc])
    assert list(frame.index) == ["<reports>#1", "<reports>#2"]  # no reportId
    row = frame.iloc[0]
    assert row["energy_kwh"] == 3.0 and row["emissions_kg"] == pytest.approx(0.15)
    assert row["carbon_intensity_g_per_kwh"] == pytest.approx(50.0)
    assert row["cpu_energy_kwh"] != row["cpu_energy_kwh"]  # NaN
    assert row["level"] == "none"
    from boamps_etl.toolbox.summary import _figure
    _, ax = _figure(frame)
    assert len(ax.patches) == 2  # one 'total' series when there is no breakdown


def test_summary_rejects_bad_by(converted: Any) -> None:
    with pytest.raises(UsageError, match="cannot group by 'week'"):
        summarize(converted, by="week")  # type: ignore[arg-type]


def test_plot_png(converted: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from boamps_etl.toolbox.summary import _figure

    frame = summarize(converted, by="project")
    _, ax = _figure(frame)
    assert len(ax.patches) == 3 * len(frame)  # cpu, gpu, ram stacked per project
    assert ax.get_ylabel() == "energy (Wh)"
    assert ax.get_xlabel() == "project"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bert-small", "llama [eval]*"]
    tops = [p.get_y() + p.get_height() for p in ax.patches][-2:]
    assert tops == pytest.approx(list(frame["energy_kwh"] * 1000))
    out = tmp_path / "plot.png"
    assert plot_summary(frame, out) == out
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OutputError, match="output file exists already"):
        plot_summary(frame, out)


def test_plot_many_runs_labels_by_position(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from boamps_etl.toolbox.summary import _figure

    csv = write_csv(tmp_path / "e.csv", *(v321_row(run_id=f"r{i}") for i in range(30)))
    frame = summarize(be.convert(csv, context=TASK_CONTEXT))
    _, ax = _figure(frame)
    assert len(ax.patches) == 90
    assert ax.get_xlabel() == "run (numbered as in the table)"
    assert ax.get_title() == "Energy by component per run (30 runs)"


def test_plot_html_is_self_contained_with_the_data(converted: Any, tmp_path: Path) -> None:
    frame = summarize(converted, by="project")
    out = tmp_path / "plot.html"
    plot_summary(frame, out)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html and html.count('class="bar"') == 6
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<th>bert-small</th>" in html and "llama [eval]*" in html
    assert f"<td>{frame.loc['bert-small', 'energy_kwh']:.6g}</td>" in html
    assert "energy (Wh)" in html


def test_plot_refusals_and_missing_matplotlib(converted: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    frame = summarize(converted)
    with pytest.raises(OutputError, match=r"must be a \.png or \.html file"):
        plot_summary(frame, tmp_path / "plot.jpg")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError) as info:
        plot_summary(frame, tmp_path / "plot.png")
    assert info.value.hint == "pip install 'boamps-etl[plot]'"
    assert not (tmp_path / "plot.png").exists()
    plot_summary(frame, tmp_path / "plot.html")  # HTML needs no extra


def test_cli_summary(converted: Any, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    be.write(converted, folder)
    plot = tmp_path / "s.png"
    result = invoke("summary", str(folder), "--by", "project", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == [
        "start", "reports", "energy_kwh", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh",
        "duration_s", "emissions_kg", "carbon_intensity_g_per_kwh", "level"]
    assert result.stderr == f"plot -> {plot}\n"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    result = invoke("summary", str(folder), "--by", "task", "--format", "json")
    records = json.loads(result.stdout)
    assert [r["task"] for r in records] == ["filled / filled", "inference / filled"]
    result = invoke("summary", str(folder), "--format", "csv")
    assert result.stdout.splitlines()[0] == ("run,start,reports,energy_kwh,cpu_energy_kwh,"
                                             "gpu_energy_kwh,ram_energy_kwh,duration_s,"
                                             "emissions_kg,carbon_intensity_g_per_kwh,level")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = invoke("summary", str(bad))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {bad}, line 1, column 2: JSON syntax error: Expecting "
                             "property name enclosed in double quotes\n")


# =========================================================================== schema


def test_schema_documents_validate_like_validate_report(tmp_path: Path) -> None:
    from jsonschema import Draft4Validator, Draft7Validator

    good = valid_docs(tmp_path, 1)[0]
    negative = copy.deepcopy(good)
    negative["measures"][0]["emissions"] = -1.0  # officially valid, not for the extension
    missing = copy.deepcopy(good)
    del missing["task"]
    combined = Draft7Validator(schema_document())
    official = Draft4Validator(schema_document("official"))
    for doc in (good, negative, missing):
        assert combined.is_valid(doc) == (validate_report(doc) == [])
    assert official.is_valid(negative) and not official.is_valid(missing)
    assert "$ref" not in json.dumps(schema_document("official"))
    assert schema_document("extension")["title"] == "boamps-etl extension fields"
    with pytest.raises(UsageError):
        schema_document("both")  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "which"), [((), "combined"), (("--official",), "official"),
                                             (("--extension",), "extension")])
def test_cli_schema(args: tuple[str, ...], which: str) -> None:
    result = invoke("schema", *args)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema_document(which)  # type: ignore[arg-type]


# =========================================================================== registration


def test_register_adds_every_command_once() -> None:
    names = [c.name for c in COMMANDS]
    assert names == ["init-context", "validate", "flatten", "unflatten", "summary", "schema"]
    for name in names:
        assert cli.commands[name] is next(c for c in COMMANDS if c.name == name)
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_cli_module_does_not_import_heavy_modules() -> None:
    import subprocess

    code = ("import sys, boamps_etl.cli.toolbox; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'pyarrow', 'jsonschema') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_doctests() -> None:
    # the package and each of its modules: testmod skips what a module only imports
    package = importlib.import_module("boamps_etl.toolbox")
    names = [package.__name__] + [f"{package.__name__}.{m.name}"
                                  for m in pkgutil.iter_modules(package.__path__)]
    results = [doctest.testmod(importlib.import_module(name)) for name in names]
    assert sum(r.failed for r in results) == 0
    assert sum(r.attempted for r in results) >= 4  # import, init_context (2), schema_document


def _frame_of_runs(n: int, tmp_path: Path) -> Any:
    """n runs whose energies span six orders of magnitude (2 mWh to 1.2 kWh)."""
    energies = [2e-6, 5e-5, 3e-3, 0.4, 1.2]
    rows = []
    for i in range(n):
        e = energies[i % len(energies)] if n > 1 else 0.05
        rows.append(v321_row(run_id=f"{i:08d}-aaaa-4bbb-8ccc-{i:012d}",
                             cpu_energy=repr(e * 0.6), gpu_energy=repr(e * 0.3),
                             ram_energy=repr(e * 0.1), energy_consumed=repr(e)))
    csv = write_csv(tmp_path / f"runs{n}.csv", *rows)
    return summarize(be.convert(csv, context=TASK_CONTEXT))


def test_html_plot_shows_tiny_runs_next_to_big_ones(tmp_path: Path) -> None:
    # As the PNG: totals spanning orders of magnitude get a log scale, so that every run's
    # bar has a height one can see (2 mWh next to 1.2 kWh).
    import re

    frame = _frame_of_runs(5, tmp_path)
    out = tmp_path / "runs.html"
    plot_summary(frame, out)
    svg = out.read_text()
    assert re.search(r"energy \(k?Wh, log scale\)", svg)
    bars = [(float(y), float(h)) for y, h in
            re.findall(r'class="bar" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', svg)]
    assert len(bars) == 5 * 3
    stacks = [bars[i:i + 3] for i in range(0, len(bars), 3)]
    tops = [min(y for y, _ in stack) for stack in stacks]
    heights = [sum(h for _, h in stack) for stack in stacks]
    assert min(heights) >= 20  # every run visible (a linear axis gives the smallest 0.0 px)
    assert sorted(range(5), key=lambda i: tops[i], reverse=True) == sorted(
        range(5), key=lambda i: heights[i])  # taller stack, higher top
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert [float(t) for t in ticks] == sorted(float(t) for t in ticks)
    assert all(re.fullmatch(r"1(e[+-]\d+)?|10+|0\.0*1", t) for t in ticks), ticks


@pytest.mark.parametrize("n", [1, 3, 30, 3000])
def test_plot_is_readable_for_1_3_30_and_3000_runs(n: int, tmp_path: Path) -> None:
    # issue #14: labels never overlap, and tiny runs next to big ones stay visible
    pytest.importorskip("matplotlib")
    from boamps_etl.toolbox.summary import _figure

    frame = _frame_of_runs(n, tmp_path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, ax = _figure(frame)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert boxes and all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes))  # no overlap
    assert all(fig.bbox.x0 <= b.x0 and b.x1 <= fig.bbox.x1 for b in boxes)
    if n > 1:
        assert ax.get_yscale() == "log"  # 2 mWh next to 1.2 kWh: a linear axis hides it
        low, high = ax.get_ylim()
        tops = [p.get_y() + p.get_height() for p in ax.patches[-n:]]  # the stacks' tops
        assert low > 0 and all(low * 2 <= t <= high for t in tops)  # every run visible
    if n == 3000:
        assert not ax.patches and ax.collections  # areas, not 3,000 sub-pixel bars
    plot_summary(frame, tmp_path / f"runs{n}.png")

