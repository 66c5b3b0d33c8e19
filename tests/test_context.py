"""Context files: merge rules, row matching, --set, and checked keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TASK_CONTEXT, v321_row, write_csv

import boamps_etl as be
from boamps_etl.context import load_context, merge_into, parse_set


def ctx_file(tmp_path: Path, body: str, name: str = "boamps.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_merge_objects_components_by_type_and_lists_by_index() -> None:
    doc = {"infrastructure": {"components": [{"componentType": "cpu", "nbComponent": 8},
                                             {"componentType": "ram", "nbComponent": 1}]},
           "measures": [{"measurementMethod": "codecarbon", "powerConsumption": 1.0}]}
    merge_into(doc, {"infrastructure": {"cloudInstance": "a2-highgpu-1g",
                                        "components": [{"componentType": "ram", "share": 0.5},
                                                       {"componentType": "ssd",
                                                        "nbComponent": 2}]},
                     "measures": [{"cpuTrackingMode": "rapl"}]})
    comps = doc["infrastructure"]["components"]
    assert comps == [{"componentType": "cpu", "nbComponent": 8},
                     {"componentType": "ram", "nbComponent": 1, "share": 0.5},
                     {"componentType": "ssd", "nbComponent": 2}]
    assert doc["infrastructure"]["cloudInstance"] == "a2-highgpu-1g"
    assert doc["measures"][0] == {"measurementMethod": "codecarbon", "powerConsumption": 1.0,
                                  "cpuTrackingMode": "rapl"}


def test_later_contexts_override_and_set_wins(tmp_path: Path) -> None:
    first = ctx_file(tmp_path, "task: {taskStage: training, taskFamily: a}\n", "a.yaml")
    second = ctx_file(tmp_path, "task: {taskFamily: b}\n", "b.json")
    second.write_text('{"task": {"taskFamily": "b"}}')
    path = write_csv(tmp_path / "e.csv", v321_row())
    base = {k: v for k, v in TASK_CONTEXT.items()}
    result = be.convert(path, context=[base, first, second],
                        sets=["task.taskFamily=c", "header.publisher.name=Acme"])
    doc = result.reports[0].document
    assert doc["task"]["taskStage"] == "training"
    assert doc["task"]["taskFamily"] == "c"
    assert doc["header"]["publisher"] == {"name": "Acme", "confidentialityLevel": "public"}


def test_match_sections_apply_to_matching_rows(tmp_path: Path) -> None:
    context = ctx_file(tmp_path, """
task: {taskStage: training}
match:
  - when: {project_name: "bert-*"}
    task: {taskFamily: text classification}
  - when: {project_name: [resnet, vit]}
    task: {taskFamily: image classification}
""")
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a", project_name="bert-base"),
                     v321_row(run_id="b", project_name="vit"),
                     v321_row(run_id="c", project_name="other"))
    base = {"task": {k: v for k, v in TASK_CONTEXT["task"].items()
                     if k not in ("taskStage", "taskFamily")},
            "header": TASK_CONTEXT["header"]}
    result = be.convert(path, context=[base, context])
    families = [r.document["task"].get("taskFamily") for r in result.reports]
    assert families == ["text classification", "image classification", None]
    assert [r.status for r in result.reports] == ["valid", "valid", "incomplete"]


@pytest.mark.parametrize(("body", "line", "message"), [
    ("task:\n  taksStage: training\n", 2, "unknown key 'taksStage' in task; did you mean "
                                          "'taskStage'?"),
    ("header:\n  publisher:\n    confidentialityLevel: open\n", 3,
     "'open' is not an allowed value of header.publisher.confidentialityLevel"),
    ("task:\n  dataset:\n    - dataUsage: input\n      dataType: txt\n", 4,
     "'txt' is not an allowed value of task.dataset[0].dataType; did you mean 'text'?"),
    ("software:\n  version: 3.10\n", 2, "software.version must be text, got 3.1"),
    ("task:\n  nbRequest: many\n", 2, "task.nbRequest must be a number, got 'many'"),
    ("task:\n  measuredAccuracy: 1.5\n", 2, "task.measuredAccuracy must be at most 1"),
    ("infrastructure:\n  components:\n    - share: 0.5\n", 3, "needs 'componentType'"),
    ("task:\n  taskStage:\n", 2, "task.taskStage is empty"),
    ("match:\n  - task: {taskStage: x}\n", 2, "each 'match' section needs 'when"),
    ("match:\n  - when: {project_nme: x}\n    task: {taskStage: x}\n", 2,
     "unknown CodeCarbon column 'project_nme' in 'when'; did you mean 'project_name'?"),
    ("task: {taskStage: [unclosed\n", 2, "YAML syntax error"),
])
def test_context_errors_name_file_line_and_fix(tmp_path: Path, body: str, line: int,
                                               message: str) -> None:
    path = ctx_file(tmp_path, body)
    with pytest.raises(be.ContextError) as info:
        load_context([path])
    text = str(info.value)
    assert text.startswith(f"{path}, line {line}"), text
    assert message in text


def test_enum_error_lists_allowed_values(tmp_path: Path) -> None:
    path = ctx_file(tmp_path, "quality: great\n")
    with pytest.raises(be.ContextError) as info:
        load_context([path])
    assert "allowed: high, medium, low" in str(info.value)


def test_json_context_syntax_error(tmp_path: Path) -> None:
    path = ctx_file(tmp_path, '{"task": {"taskStage": }', "ctx.json")
    with pytest.raises(be.ContextError, match=r"line 1, column 24: JSON syntax error"):
        load_context([path])


@pytest.mark.parametrize(("assignment", "expected"), [
    ("task.taskStage=inference", {"task": {"taskStage": "inference"}}),
    ("software.version=3.10", {"software": {"version": "3.10"}}),
    ("task.nbRequest=12", {"task": {"nbRequest": 12}}),
    ("task.algorithms[0].parametersNumber=7.5",
     {"task": {"algorithms": [{"parametersNumber": 7.5}]}}),
    ("infrastructure.components[gpu].share=0.5",
     {"infrastructure": {"components": [{"componentType": "gpu", "share": 0.5}]}}),
    ("measures[0].cpuTrackingMode=rapl", {"measures": [{"cpuTrackingMode": "rapl"}]}),
])
def test_parse_set(assignment: str, expected: dict[str, object]) -> None:
    assert parse_set(assignment) == expected


@pytest.mark.parametrize(("assignment", "message"), [
    ("task.taskStge=x", "unknown BoAmps path 'task.taskStge'; did you mean 'taskStage'?"),
    ("task.nbRequest=many", "task.nbRequest must be a number, got 'many'"),
    ("quality=great", "'great' is not an allowed value of quality"),
    ("task.taskStage", "needs the form PATH=VALUE"),
])
def test_parse_set_errors(assignment: str, message: str) -> None:
    with pytest.raises(be.ContextError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("'", "'")):
        parse_set(assignment)


def test_component_share_from_context(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row())
    result = be.convert(path, context=TASK_CONTEXT,
                        sets=["infrastructure.components[gpu].share=0.5"])
    gpu = result.reports[0].document["infrastructure"]["components"][1]
    assert gpu["componentType"] == "gpu" and gpu["share"] == 0.5 and gpu["nbComponent"] == 2


def test_large_context_without_aliases_loads(tmp_path: Path) -> None:
    # 38,000 match sections: more than 200,000 YAML values, none of them from an alias.
    path = tmp_path / "boamps.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("task: {taskStage: training}\nmatch:\n")
        for i in range(38_000):
            fh.write(f"  - when: {{project_name: p{i}}}\n"
                     f"    task: {{taskDescription: run {i} of the sweep}}\n")
    context = load_context([path])
    matched = context.values_for({"project_name": "p37999"})
    assert any(layer.get("task", {}).get("taskDescription") == "run 37999 of the sweep"
               for layer in matched)


def test_alias_bomb_in_context_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "boamps.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(be.ContextError, match="aliases that expand to more than"):
        load_context([path])

