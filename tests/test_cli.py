"""The command line: exit codes, located one-line messages, outputs, and parity with the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, TASK_CONTEXT, v321_row, write_csv

import boamps_etl as be
from boamps_etl.cli import cli


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps(TASK_CONTEXT))
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_convert_json_folder_and_parity(tmp_path: Path, context_file: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a"), v321_row(run_id="b"))
    out = tmp_path / "out"
    result = invoke("convert", str(csv), "--context", str(context_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 report(s) from 1 file(s), 2 row(s): 2 valid" in result.stderr
    assert result.stderr.splitlines()[-1] == "levels of the valid reports: 2 bronze"
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == [
        "report_Test-Lab_training_text-classification_onPremise_a.json",
        "report_Test-Lab_training_text-classification_onPremise_b.json"]
    api = be.convert(csv, context=context_file)
    assert [json.loads(f.read_text()) for f in files] == api.documents


def test_convert_quiet_lists_only_the_problems(tmp_path: Path, context_file: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a", duration="fast"),
                    v321_row(run_id="b"))
    loud = invoke("convert", str(csv), "-c", str(context_file), "-o", str(tmp_path / "a"))
    quiet = invoke("convert", str(csv), "-c", str(context_file), "-o", str(tmp_path / "b"),
                   "-q")
    assert (loud.exit_code, quiet.exit_code) == (1, 1)
    assert "report(s) from 1 file(s)" in loud.stderr and "levels of" in loud.stderr
    problems = [line for line in loud.stderr.splitlines()
                if "report(s) from" not in line and not line.startswith("levels of")]
    assert problems and "'duration'" in problems[0]
    assert quiet.stderr.splitlines() == problems
    assert len(list((tmp_path / "b").glob("*.json"))) == 1
    clean = write_csv(tmp_path / "ok.csv", v321_row(run_id="c"))
    done = invoke("convert", str(clean), "-c", str(context_file), "-o", str(tmp_path / "c"),
                  "--quiet")
    assert (done.exit_code, done.stderr) == (0, "")


def test_convert_jsonl_and_csv_to_stdout(tmp_path: Path, context_file: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a"))
    result = invoke("convert", str(csv), "-c", str(context_file), "--format", "jsonl",
                    "--out", "-")
    assert result.exit_code == 0
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert docs == be.convert(csv, context=context_file).documents
    result = invoke("convert", str(csv), "-c", str(context_file), "--format", "csv", "-o", "-")
    header = result.stdout.splitlines()[0].split(",")
    assert "measures_0_powerConsumption" in header
    assert "infrastructure_components_1_componentName" in header


def test_exit_1_lists_problems_and_writes_the_valid_reports(tmp_path: Path,
                                                             context_file: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a", duration="fast"),
                    v321_row(run_id="b"))
    out = tmp_path / "out"
    result = invoke("convert", str(csv), "-c", str(context_file), "-o", str(out))
    assert result.exit_code == 1
    # One line per bad cell, naming every field the cell feeds.
    assert (f"error: {csv}, row 2, column 'duration': 'fast' is not a number "
            "(for measures[0].measurementDuration, measures[0].measurementDateTime, "
            "measures[0].emissionsRate)") in result.stderr
    assert result.stderr.count("'fast'") == 1
    assert len(list(out.glob("*.json"))) == 1


def test_missing_context_is_explained(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row(run_id="a"), v321_row(run_id="b"))
    out = tmp_path / "out"
    result = invoke("convert", str(csv), "-o", str(out))
    assert result.exit_code == 1
    assert (f"error: {csv}, rows 2-3 (2): missing required fields task.taskStage, "
            "task.taskFamily, task.algorithms, task.dataset") in result.stderr
    assert not out.exists()
    drafts = invoke("convert", str(csv), "-o", str(out), "--allow-incomplete")
    assert drafts.exit_code == 0
    assert all(json.loads(p.read_text())["header"]["reportStatus"] == "draft"
               for p in out.glob("*.json"))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty: it holds no CodeCarbon data"),
    (b"id,name\n1,x\n", "is not a CodeCarbon emissions CSV: missing column(s) timestamp, "
                        "duration, emissions, energy_consumed"),
    (b"\x00\x01\x02binary", "is binary data, not a text CSV"),
])
def test_input_errors_exit_2_and_write_nothing(tmp_path: Path, content: bytes,
                                               message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    good = write_csv(tmp_path / "good.csv", v321_row())
    out = tmp_path / "out"
    result = invoke("convert", str(good), str(bad), "-o", str(out), "--allow-incomplete")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_existing_output_needs_force(tmp_path: Path, context_file: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row())
    target = tmp_path / "r.jsonl"
    target.write_text("keep me\n")
    result = invoke("convert", str(csv), "-c", str(context_file), "--format", "jsonl",
                    "-o", str(target))
    assert result.exit_code == 2
    assert "output file exists already" in result.stderr and "--force" in result.stderr
    assert target.read_text() == "keep me\n"
    result = invoke("convert", str(csv), "-c", str(context_file), "--format", "jsonl",
                    "-o", str(target), "--force")
    assert result.exit_code == 0
    assert json.loads(target.read_text())["header"]["reportId"]


def test_bad_context_exits_2_with_location(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row())
    ctx = tmp_path / "ctx.yaml"
    ctx.write_text("task:\n  taskStag: training\n")
    result = invoke("convert", str(csv), "-c", str(ctx), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {ctx}, line 2, column 3: unknown key 'taskStag' in task; did you mean "
        "'taskStage'?")


def test_set_values(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "e.csv", v321_row())
    args = ["convert", str(csv), "-o", "-", "--format", "jsonl",
            "--set", "task.taskStage=inference", "--set", "task.taskFamily=chatbot",
            "--set", "task.algorithms[0].algorithmType=llm",
            "--set", "task.dataset[0].dataUsage=input", "--set", "task.dataset[0].dataType=token",
            "--set", "header.publisher.name=Acme",
            "--set", "header.publisher.confidentialityLevel=internal"]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["task"]["taskStage"] == "inference"
    assert doc["header"]["publisher"]["name"] == "Acme"
    bad = invoke("convert", str(csv), "--set", "quality=great")
    assert bad.exit_code == 2 and "allowed: high, medium, low" in bad.stderr


def test_help_documents_exit_codes_and_every_command_is_in_the_readme() -> None:
    result = invoke("convert", "--help")
    assert "Exit codes:" in result.output and "2  usage or input error" in result.output
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert f"boamps-etl {name}" in readme, name
        assert command.help, name
        assert invoke(name, "--help").exit_code == 0, name


def test_installed_command_runs_the_bundled_example(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "boamps_etl", "convert", str(ROOT / "examples" / "emissions.csv"),
         "--context", str(ROOT / "examples" / "boamps.yaml"), "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*.json"))) == 3
