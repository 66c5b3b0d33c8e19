"""Batch conversion of experiment folders: boamps_etl.batch and the ``batch`` command."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import TASK_CONTEXT, V321_HEADER, v321_row, write_csv

from boamps_etl import batch
from boamps_etl.batch import BatchProgress, convert_tree, driver, explain
from boamps_etl.cli import cli as main_cli
from boamps_etl.cli.batch import register
from boamps_etl.errors import ContextError, OutputError, UsageError
from boamps_etl.io.writers import render_csv

# A copy of the main group, so that registering here leaves the real one as cli/main.py makes it
# (other test modules check the real group's commands against the README).
# Same context_settings: click keeps a command's help option as first shown (-h, --help).
cli = click.Group(main_cli.name, commands=dict(main_cli.commands), callback=main_cli.callback,
                  params=list(main_cli.params), context_settings=main_cli.context_settings)
register(cli)
register(cli)  # a second registration is harmless

RUN_A = "aaaaaaaa-0000-4000-8000-000000000001"
RUN_B = "bbbbbbbb-0000-4000-8000-000000000002"
RUN_C = "cccccccc-0000-4000-8000-000000000003"
RUN_D = "dddddddd-0000-4000-8000-000000000004"
RUN_T = "0cc2961d-04a4-4417-999f-c4d03f601a26"
TASK_FILE = f"emissions_base_{RUN_T}.csv"
TASK_TEXT = (
    "task_name,timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,"
    "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,"
    "country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,"
    "cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,"
    "on_cloud\n"
    f"load,2025-01-01T15:20:35,codecarbon,{RUN_T},41.3,0.00093,2.2e-05,100.0,61.35,40.8,"
    "0.0011,0.0007,0.0046,0.0064,Denmark,DNK,,,,Linux-5.15.0-126-generic-x86_64-with-glibc2.39,"
    "3.12.3,2.8.2,256,AMD EPYC 7702 64-Core Processor,1,1 x NVIDIA A100-SXM4-80GB,12.05,55.71,"
    "1139.5,machine,N\n"
    f"train,2025-01-01T15:53:26,codecarbon,{RUN_T},1703.1,0.0567,3.3e-05,100.0,332.3,40.8,"
    "0.047,0.157,0.192,0.397,Denmark,DNK,,,,Linux-5.15.0-126-generic-x86_64-with-glibc2.39,"
    "3.12.3,2.8.2,256,AMD EPYC 7702 64-Core Processor,1,1 x NVIDIA A100-SXM4-80GB,12.05,55.71,"
    "1139.5,machine,N\n"
)
ROOT_CONTEXT = """\
header: {publisher: {name: Lab, confidentialityLevel: public}}
task:
  taskStage: training
  taskFamily: root-family
  algorithms: [{algorithmType: llm}]
  dataset: [{dataUsage: input, dataType: text}]
"""


def build_tree(base: Path) -> Path:
    """The fixture tree (sorted as the manifest lists it)::

        runs/boamps.yaml                     depth 0: everything a valid report needs
        runs/lab/boamps.yaml                 depth 1: taskFamily, taskDescription
        runs/lab/exp1/boamps.yaml            depth 2: taskFamily
        runs/lab/exp1/emissions.csv          runs A (2 flush rows) and B
        runs/lab/exp1/emissions.csv.bak      run C (CodeCarbon's backup)
        runs/lab/exp1/emissions_base_<T>.csv task file: tasks load, train of run T
        runs/lab/exp2/emissions.csv.gz       run D, gzip
        runs/lab/exp2/emissions_broken.csv.gz  a cut-off gzip: error
        runs/lab/exp2/emissions_summary.csv  not CodeCarbon: skipped
        runs/old-copies/emissions.csv        a copy of lab/exp1/emissions.csv: duplicates
        runs/.hidden/emissions.csv           ignored (hidden folder)
        runs/notes.csv                       ignored (no pattern matches)
    """
    root = base / "runs"
    for sub in ("lab/exp1", "lab/exp2", "old-copies", ".hidden"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "boamps.yaml").write_text(ROOT_CONTEXT, encoding="utf-8")
    (root / "lab/boamps.yaml").write_text(
        "task: {taskFamily: lab-family, taskDescription: from lab}\n", encoding="utf-8")
    (root / "lab/exp1/boamps.yaml").write_text("task: {taskFamily: exp1-family}\n",
                                               encoding="utf-8")
    write_csv(root / "lab/exp1/emissions.csv", v321_row(run_id=RUN_A, duration="10.0"),
              v321_row(run_id=RUN_A, duration="20.0"), v321_row(run_id=RUN_B))
    write_csv(root / "lab/exp1/emissions.csv.bak", v321_row(run_id=RUN_C))
    (root / "lab/exp1" / TASK_FILE).write_text(TASK_TEXT, encoding="utf-8")
    gz = gzip.compress((V321_HEADER + "\n" + v321_row(run_id=RUN_D) + "\n").encode(), mtime=0)
    (root / "lab/exp2/emissions.csv.gz").write_bytes(gz)
    (root / "lab/exp2/emissions_broken.csv.gz").write_bytes(gz[: len(gz) // 2])
    (root / "lab/exp2/emissions_summary.csv").write_text("epoch,loss\n1,0.5\n", encoding="utf-8")
    (root / "old-copies/emissions.csv").write_bytes(
        (root / "lab/exp1/emissions.csv").read_bytes())
    write_csv(root / ".hidden/emissions.csv", v321_row(run_id="eeeeeeee-0000-4000-8000-0000"))
    write_csv(root / "notes.csv", v321_row())
    return root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def tree_bytes(out: Path, *, state: bool = False) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and (state or p.name != batch.STATE_NAME)}


def reports(out: Path) -> dict[str, dict[str, Any]]:
    return {p.relative_to(out).as_posix(): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(out.rglob("report_*.json"))}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return build_tree(tmp_path)


# --------------------------------------------------------------------------- the manifest


def test_manifest_lists_every_report_and_problem_in_order(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = convert_tree(tree, out)
    lines = manifest(out)
    exp1 = tree / "lab/exp1"
    expected = [
        # source, rows, run_id, status, output folder (or ''), message part
        ("lab/exp1/emissions.csv", "2-3", RUN_A, "valid", "lab/exp1", ""),
        ("lab/exp1/emissions.csv", "4", RUN_B, "valid", "lab/exp1", ""),
        ("lab/exp1/emissions.csv.bak", "2", RUN_C, "valid", "lab/exp1", ""),
        (f"lab/exp1/{TASK_FILE}", "2", RUN_T, "valid", "lab/exp1", ""),
        (f"lab/exp1/{TASK_FILE}", "3", RUN_T, "valid", "lab/exp1", ""),
        ("lab/exp2/emissions.csv.gz", "2", RUN_D, "valid", "lab/exp2", ""),
        ("lab/exp2/emissions_broken.csv.gz", "", "", "error", "", "is a damaged gzip file"),
        ("lab/exp2/emissions_summary.csv", "", "", "skipped", "",
         "is not a CodeCarbon emissions CSV"),
        ("old-copies/emissions.csv", "2-3", RUN_A, "duplicate", "",
         "same report as lab/exp1/emissions.csv row 3"),
        ("old-copies/emissions.csv", "4", RUN_B, "duplicate", "",
         "same report as lab/exp1/emissions.csv row 4"),
    ]
    assert len(lines) == len(expected), [(x["source"], x["status"]) for x in lines]
    for line, (source, rows, run_id, status, folder, message) in zip(lines, expected,
                                                                     strict=True):
        assert (line["source"], line["rows"], line["status"]) == (source, rows, status), line
        assert line["run_id"] == run_id
        assert message in line["messages"], line
        if folder:
            assert line["output"].startswith(folder + "/report_Lab_training_"), line
            assert (out / line["output"]).is_file()
        else:
            assert line["output"] == ""
        assert line["sha256"] == sha(tree / source)
    assert list(lines[0]) == list(batch.MANIFEST_COLUMNS)
    assert lines[0]["report_id"] == RUN_A
    assert lines[3]["report_id"] != lines[4]["report_id"]  # task reports: run_id + task name
    # the DataFrame is the manifest, cell for cell
    assert result.manifest.to_dict(orient="records") == lines
    assert result.counts == {"valid": 6, "incomplete": 0, "invalid": 0, "duplicate": 2,
                             "skipped": 1, "error": 1}
    assert (result.files, result.converted, result.unchanged) == (7, 7, 0)
    assert result.runs == 5 and result.reports == 6
    assert not result.ok  # the broken gzip
    assert [i.code for i in result.issues] == ["bad-input"]
    assert str(exp1) not in lines[0]["messages"]


def test_contexts_nearer_files_override_farther_ones(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_tree(tree, out)
    by_run = {doc["header"]["reportId"]: doc for doc in reports(out).values()}
    a = by_run[RUN_A]
    assert a["task"]["taskFamily"] == "exp1-family"                  # depth 2 wins
    assert a["task"]["taskDescription"] == "from lab"                # depth 1
    assert a["header"]["publisher"]["name"] == "Lab"                 # depth 0
    d = by_run[RUN_D]
    assert d["task"]["taskFamily"] == "lab-family"                   # exp2 has no file
    assert a["measures"][0]["measurementDuration"] == 20.0           # last flush row


def test_explain_lists_files_in_order_and_merges(tree: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("task: {taskFamily: base-family, taskStage: inference}\nquality: low\n",
                    encoding="utf-8")
    e = explain(tree / "lab/exp1/emissions.csv", roots=[tree], contexts=[base],
                sets=["task.taskStage=fineTuning"])
    assert e.source == "lab/exp1/emissions.csv"
    assert e.context_files == [base, tree.resolve() / "boamps.yaml",
                               tree.resolve() / "lab/boamps.yaml",
                               tree.resolve() / "lab/exp1/boamps.yaml"]
    assert e.context["task"]["taskFamily"] == "exp1-family"
    assert e.context["task"]["taskStage"] == "fineTuning"  # --set is last
    assert e.context["quality"] == "low"                   # --context is under all
    assert e.context["task"]["taskDescription"] == "from lab"
    assert e.mapping_file is None and e.mapping_files[-1].name == "codecarbon.yaml"
    assert e.error is None
    # a folder can be explained too; without roots its folder is the ROOT
    assert explain(tree / "lab/exp2", roots=[tree]).context_files[-1].name == "boamps.yaml"
    alone = explain(tree / "lab/exp1/emissions.csv")
    assert alone.source == "emissions.csv"
    assert [p.name for p in alone.context_files] == ["boamps.yaml"]
    with pytest.raises(UsageError, match="not under any ROOT"):
        explain(base, roots=[tree])


def test_mirrored_layout_and_skipped_folders(tree: Path, tmp_path: Path) -> None:
    out = tree / "converted"  # inside the ROOT: skipped while walking
    convert_tree(tree, out)
    files = sorted(tree_bytes(out, state=True))
    folders = sorted({f.rsplit("/", 1)[0] if "/" in f else "" for f in files})
    assert folders == ["", "lab/exp1", "lab/exp2"]
    assert ".boamps-etl-state.json" in files and "manifest.csv" in files
    assert sum(f.startswith("lab/exp1/report_Lab_training_exp1-family_") for f in files) == 5
    assert not any(".hidden" in f or "notes" in f for f in files)
    assert convert_tree(tree, out).files == 7  # its own outputs are not inputs


# --------------------------------------------------------------------------- determinism


def test_jobs_do_not_change_a_byte(tree: Path, tmp_path: Path) -> None:
    one = convert_tree(tree, tmp_path / "j1", jobs=1)
    four = convert_tree(tree, tmp_path / "j4", jobs=4)
    assert tree_bytes(tmp_path / "j1") == tree_bytes(tmp_path / "j4")
    assert one.manifest.equals(four.manifest)
    assert len(tree_bytes(tmp_path / "j1")) == 7  # 6 reports + manifest


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_folder_files_and_all_file(tree: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    convert_tree(tree, out, format=fmt, jobs=2)
    files = tree_bytes(out)
    assert sorted(files) == [f"all.{fmt}", f"lab/exp1/boamps-reports.{fmt}",
                             f"lab/exp2/boamps-reports.{fmt}", "manifest.csv"]
    lines = manifest(out)
    assert {x["output"] for x in lines if x["status"] == "valid"} == {
        f"lab/exp1/boamps-reports.{fmt}", f"lab/exp2/boamps-reports.{fmt}"}
    json_out = tmp_path / "json"
    convert_tree(tree, json_out)
    docs = [json.loads((json_out / x["output"]).read_text()) for x in manifest(json_out)
            if x["output"]]
    if fmt == "jsonl":
        assert files["all.jsonl"] == (files["lab/exp1/boamps-reports.jsonl"]
                                      + files["lab/exp2/boamps-reports.jsonl"])
        assert [json.loads(x) for x in files["all.jsonl"].decode().splitlines()] == docs
    else:  # the same bytes as rendering every report at once
        assert files["all.csv"].decode() == render_csv(docs)
    assert tree_bytes(out) == tree_bytes(convert_tree(tree, tmp_path / "j1", format=fmt).out)


def test_fmt_is_a_deprecated_alias_of_format(tree: Path, tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="format="):
        convert_tree(tree, tmp_path / "old", fmt="jsonl")
    convert_tree(tree, tmp_path / "new", format="jsonl")
    assert tree_bytes(tmp_path / "old") == tree_bytes(tmp_path / "new")
    assert (tmp_path / "old" / "all.jsonl").is_file()


def test_several_roots_with_the_same_name(tmp_path: Path) -> None:
    a = tmp_path / "a" / "runs"
    b = tmp_path / "b" / "runs"
    for root, run in ((a, RUN_A), (b, RUN_B)):
        root.mkdir(parents=True)
        (root / "boamps.yaml").write_text(ROOT_CONTEXT, encoding="utf-8")
        write_csv(root / "emissions.csv", v321_row(run_id=run))
    out = tmp_path / "out"
    result = convert_tree([a, b, a], out)
    assert [(x["source"], x["status"]) for x in manifest(out)] == [
        ("runs/emissions.csv", "valid"), ("runs-2/emissions.csv", "valid")]
    assert result.entries[1].output.startswith("runs-2/report_")  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="inside ROOT"):
        convert_tree([tmp_path / "a", a], tmp_path / "o2")


# --------------------------------------------------------------------------- re-runs


def test_second_run_skips_everything(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = convert_tree(tree, out)
    before = tree_bytes(out, state=True)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("report_*.json")}
    second = convert_tree(tree, out)
    assert (second.converted, second.unchanged, second.written) == (0, 7, [])
    assert tree_bytes(out, state=True) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("report_*.json")} == mtimes
    assert second.manifest.equals(first.manifest)
    assert second.rows == first.rows == 10
    assert second.counts == first.counts


def test_force_converts_everything_again(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_tree(tree, out)
    before = tree_bytes(out)
    forced = convert_tree(tree, out, force=True)
    assert (forced.converted, forced.unchanged) == (7, 0)
    assert tree_bytes(out) == before


def test_changes_reconvert_only_what_they_touch(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_tree(tree, out)
    # a source changes: its folder is converted again
    write_csv(tree / "lab/exp2/emissions.csv", v321_row(run_id=RUN_C))  # C is in exp1 too
    result = convert_tree(tree, out)
    assert (result.converted, result.unchanged) == (4, 4)
    assert [x["status"] for x in manifest(out) if x["source"] == "lab/exp2/emissions.csv"] \
        == ["duplicate"]
    # a context changes: the folders below it are converted again
    (tree / "lab/exp1/boamps.yaml").write_text("task: {taskFamily: renamed}\n", encoding="utf-8")
    result = convert_tree(tree, out)
    assert result.converted == 3
    names = sorted(p.name for p in (out / "lab/exp1").iterdir())
    assert len(names) == 5 and all("_renamed_" in n for n in names)  # old files removed
    # an output is damaged: its folder is written again
    victim = next((out / "lab/exp2").glob("report_*.json"))
    victim.write_text("{}", encoding="utf-8")
    result = convert_tree(tree, out)
    assert result.converted == 4 and victim in result.written
    assert json.loads(victim.read_text())["header"]["reportId"] == RUN_D


def test_duplicate_winner_changes_when_the_first_copy_goes(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_tree(tree, out)
    (tree / "lab/exp1/emissions.csv").unlink()
    result = convert_tree(tree, out)
    # old-copies did not change, but its runs are not duplicates any more: written now
    assert [(x["source"], x["status"]) for x in manifest(out)
            if x["source"].startswith("old-copies")] == [
        ("old-copies/emissions.csv", "valid"), ("old-copies/emissions.csv", "valid")]
    assert result.converted == 2 + 1  # lab/exp1 (2 files left) and old-copies
    assert len(list((out / "old-copies").glob("report_*.json"))) == 2
    assert len(list((out / "lab/exp1").glob("report_*.json"))) == 3  # C and two tasks


class Interrupt:
    """A progress callback that presses Ctrl-C after ``after`` files."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.seen: list[BatchProgress] = []

    def __call__(self, p: BatchProgress) -> None:
        self.seen.append(p)
        if p.files_done >= self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("jobs", [1, 2])
def test_interrupted_run_resumes(tree: Path, tmp_path: Path, jobs: int) -> None:
    out = tmp_path / "out"
    stop = Interrupt(after=3)  # after lab/exp1 (3 files)
    with pytest.raises(KeyboardInterrupt):
        convert_tree(tree, out, jobs=jobs, progress=stop)
    assert [p.files_done for p in stop.seen] == [0, 3]
    assert stop.seen[-1].files_total == 7
    assert not list(out.rglob("*.part"))
    assert not (out / "manifest.csv").exists()
    state = json.loads((out / batch.STATE_NAME).read_text())
    assert sorted(state["units"]) == ["lab/exp1"]
    resumed = convert_tree(tree, out, jobs=jobs)
    assert (resumed.converted, resumed.unchanged) == (4, 3)
    assert tree_bytes(out) == tree_bytes(convert_tree(tree, tmp_path / "clean").out)


def test_interrupt_while_writing_leaves_no_partial_file(tree: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    out = tmp_path / "out"
    real = driver.storage.put

    def flaky(path: Path, data: bytes, root: Path | None = None) -> None:
        if path.parent.name == "exp2":  # Ctrl-C while writing the second folder
            raise KeyboardInterrupt
        real(path, data, root)

    monkeypatch.setattr(driver.storage, "put", flaky)
    with pytest.raises(KeyboardInterrupt):
        convert_tree(tree, out)
    assert not list(out.rglob("*.part"))
    assert not (out / "manifest.csv").exists()
    state = json.loads((out / batch.STATE_NAME).read_text())
    assert "lab/exp1" in state["units"] and "lab/exp2" not in state["units"]
    monkeypatch.undo()
    resumed = convert_tree(tree, out)
    assert resumed.unchanged >= 3 and resumed.converted >= 3
    assert tree_bytes(out) == tree_bytes(convert_tree(tree, tmp_path / "clean").out)


# --------------------------------------------------------------------------- problems


def test_broken_context_fails_only_the_csvs_below_it(tree: Path, tmp_path: Path) -> None:
    (tree / "lab/exp2/boamps.yml").write_text("task: {taskFamly: typo}\n", encoding="utf-8")
    result = convert_tree(tree, tmp_path / "out")
    lines = {x["source"]: x for x in manifest(tmp_path / "out")}
    gz = lines["lab/exp2/emissions.csv.gz"]
    assert gz["status"] == "error"
    assert "boamps.yml, line 1" in gz["messages"] and "did you mean 'taskFamily'" in \
        gz["messages"]
    assert lines["lab/exp2/emissions_summary.csv"]["status"] == "skipped"  # still not ours
    assert lines["lab/exp1/emissions.csv"]["status"] == "valid"
    assert result.counts["error"] == 2
    # two context files in one folder: an error too
    (tree / "lab/exp2/boamps.yml").unlink()
    (tree / "lab/exp2/boamps.json").write_text("{}", encoding="utf-8")
    (tree / "lab/exp2/boamps.yaml").write_text("{}", encoding="utf-8")
    convert_tree(tree, tmp_path / "out")
    gz = {x["source"]: x for x in manifest(tmp_path / "out")}["lab/exp2/emissions.csv.gz"]
    assert gz["status"] == "error" and "several context files" in gz["messages"]


def test_folder_mapping_nearest_wins(tree: Path, tmp_path: Path) -> None:
    (tree / "boamps-mapping.yaml").write_text(
        "version: 1\nrules:\n  software.language: {const: farther}\n", encoding="utf-8")
    (tree / "lab/exp1/boamps-mapping.yaml").write_text(
        "version: 1\nrules:\n  software.language: {const: nearer}\n", encoding="utf-8")
    convert_tree(tree, tmp_path / "out")
    langs = {d["header"]["reportId"]: d["software"]["language"]
             for d in reports(tmp_path / "out").values()}
    assert langs[RUN_A] == "nearer" and langs[RUN_D] == "farther"
    e = explain(tree / "lab/exp1", roots=[tree])
    assert e.mapping_file == tree.resolve() / "lab/exp1/boamps-mapping.yaml"
    # a broken folder mapping is an error for the CSVs below it only
    (tree / "lab/exp1/boamps-mapping.yaml").write_text("version: 2\n", encoding="utf-8")
    convert_tree(tree, tmp_path / "out")
    statuses = {x["source"]: x["status"] for x in manifest(tmp_path / "out")}
    assert statuses["lab/exp1/emissions.csv"] == "error"
    assert statuses["lab/exp2/emissions.csv.gz"] == "valid"


def test_globs_replace_the_default_patterns(tree: Path, tmp_path: Path) -> None:
    result = convert_tree(tree, tmp_path / "out", globs=["*.bak", "notes.csv"])
    assert sorted({e.source for e in result.entries}) == ["lab/exp1/emissions.csv.bak",
                                                          "notes.csv"]
    result = convert_tree(tree, tmp_path / "o2", globs=["lab/*/emissions.csv"])
    assert sorted({e.source for e in result.entries}) == ["lab/exp1/emissions.csv"]


def test_fail_fast_stops_after_the_first_failing_folder(tree: Path, tmp_path: Path) -> None:
    result = convert_tree(tree, tmp_path / "out", fail_fast=True)
    assert result.stopped
    assert sorted({e.source.split("/")[1] for e in result.entries}) == ["exp1", "exp2"]


def test_incomplete_reports_and_drafts(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    write_csv(root / "emissions.csv", v321_row(run_id=RUN_A))
    result = convert_tree(root, tmp_path / "out")
    assert result.counts["incomplete"] == 1 and not result.ok
    assert result.entries[0].output is None
    assert "missing required fields task." in result.entries[0].messages
    drafts = convert_tree(root, tmp_path / "out", allow_incomplete=True)
    assert drafts.ok and drafts.converted == 1  # options are part of the state
    doc = json.loads((tmp_path / "out" / drafts.entries[0].output).read_text())  # type: ignore[operator]
    assert doc["header"]["reportStatus"] == "draft"


def test_per_row_gives_a_report_per_row(tree: Path, tmp_path: Path) -> None:
    result = convert_tree(tree, tmp_path / "out", per_row=True, globs=["emissions.csv"])
    rows = [(e.source, e.row_text(), e.status) for e in result.entries]
    assert rows[:3] == [("lab/exp1/emissions.csv", "2", "valid"),
                        ("lab/exp1/emissions.csv", "3", "valid"),
                        ("lab/exp1/emissions.csv", "4", "valid")]
    assert [s for *_, s in rows[3:]] == ["duplicate"] * 3


def test_usage_errors(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        convert_tree(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(UsageError, match="inside the output folder"):
        convert_tree(tree / "lab", tree)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        convert_tree(tree, tmp_path / "file")
    with pytest.raises(UsageError, match="format"):
        convert_tree(tree, tmp_path / "out", format="xml")
    with pytest.raises(ContextError):
        convert_tree(tree, tmp_path / "out", sets=["task.nope=1"])
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- command line


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["batch", *args])


def test_cli_matches_the_library(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = invoke(str(tree), "--out", str(out), "-j", "2")
    assert result.exit_code == 1  # the broken gzip
    assert result.stdout == ""
    err = result.stderr.splitlines()
    assert err[0].startswith("error: lab/exp2/emissions_broken.csv.gz: is a damaged gzip")
    assert err[-1] == "levels of the valid reports: 6 bronze"
    assert err[-2].startswith("7 file(s), 10 row(s), 5 run(s): 6 report(s), 6 valid, "
                              "0 incomplete, 0 invalid; 2 duplicate(s), 1 skipped, 1 error(s);")
    assert tree_bytes(out) == tree_bytes(convert_tree(tree, tmp_path / "lib").out)
    again = invoke(str(tree), "--out", str(out), "--quiet")
    assert again.exit_code == 1
    assert again.stderr.splitlines() == [err[0]]  # the problem stays listed; no summary


def test_cli_exit_0_when_everything_is_fine(tree: Path, tmp_path: Path) -> None:
    (tree / "lab/exp2/emissions_broken.csv.gz").unlink()
    result = invoke(str(tree), "-o", str(tmp_path / "out"), "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert "(7 unchanged)" not in result.stderr
    assert (tmp_path / "out/all.jsonl").is_file()
    result = invoke(str(tree), "-o", str(tmp_path / "out"), "--format", "jsonl")
    assert "6 file(s) (6 unchanged)" in result.stderr and "0 file(s) written" in result.stderr


def test_cli_usage_errors_exit_2(tree: Path, tmp_path: Path) -> None:
    assert invoke(str(tmp_path / "missing"), "-o", str(tmp_path / "out")).exit_code == 2
    assert invoke(str(tree)).exit_code == 2  # --out is required
    (tmp_path / "file").write_text("x")
    result = invoke(str(tree), "-o", str(tmp_path / "file"))
    assert result.exit_code == 2
    result = invoke(str(tree / "lab"), "-o", str(tree))
    assert result.exit_code == 2
    assert "ROOT is inside the output folder" in result.stderr
    result = invoke(str(tree), "-o", str(tmp_path / "out"), "--set", "task.nope=1")
    assert result.exit_code == 2 and "unknown BoAmps path 'task.nope'" in result.stderr


def test_cli_explain(tree: Path, tmp_path: Path) -> None:
    result = invoke(str(tree), "-o", str(tmp_path / "out"), "--explain",
                    str(tree / "lab/exp1/emissions.csv"), "--set", "quality=high")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "source:  lab/exp1/emissions.csv" in text
    order = [text.index(str(tree.resolve() / p)) for p in
             ("boamps.yaml", "lab/boamps.yaml", "lab/exp1/boamps.yaml")]
    assert order == sorted(order)
    assert "4. --set quality=high" in text
    assert "taskFamily: exp1-family" in text
    assert not (tmp_path / "out").exists()  # explains, converts nothing


def test_cli_help_lists_every_option() -> None:
    result = CliRunner().invoke(cli, ["batch", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--context", "--mapping", "--format", "--jobs", "--glob", "--force",
                   "--fail-fast", "--quiet", "--explain", "--allow-incomplete", "--per-row",
                   "--set", "Exit codes"):
        assert option in result.output


def test_progress_lines() -> None:
    from boamps_etl.cli.batch import _Progress

    buf = io.StringIO()
    progress = _Progress(buf)
    progress.tty = True
    progress.last = 0.0
    progress(BatchProgress(5, 10, 40, 12, 0, 2.0, "lab/exp1"))
    assert buf.getvalue() == ("\r[##########..........] 5/10 files, 40 rows, 12 reports, "
                              "2.5 files/s")


class _Counting:
    """A real local pool that counts the tasks submitted whose results were not yet taken
    (the batch takes each result once, in order)."""

    name, per_file, dashboard = "local", False, None

    def __init__(self, jobs: int) -> None:
        from boamps_etl.execute import LocalPoolExecutor

        self.pool = LocalPoolExecutor(jobs)
        self.jobs, self.outstanding, self.most = jobs, 0, 0

    def slots(self) -> int:
        return self.jobs

    def submit(self, fn: Any, *args: Any) -> Any:
        future = self.pool.submit(fn, *args)
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        counter = self

        class Taken:
            def done(self) -> bool:
                return future.done()

            def result(self) -> Any:
                counter.outstanding -= 1
                return future.result()

        return Taken()

    def gather(self, futures: list[Any]) -> list[Any]:
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.close()


def test_a_window_of_tasks_in_flight_not_every_folder(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "many"
    for i in range(40):
        (root / f"g{i % 3}" / f"exp{i:02d}").mkdir(parents=True)
        write_csv(root / f"g{i % 3}" / f"exp{i:02d}" / "emissions.csv",
                  v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{i:012d}"))
    (root / "boamps.yaml").write_text(ROOT_CONTEXT, encoding="utf-8")
    reference = convert_tree(root, tmp_path / "ref", jobs=1)
    monkeypatch.setattr(driver._Batch, "WINDOW_MIN", 3)
    monkeypatch.setattr(driver._Batch, "WINDOW_PER_SLOT", 2)  # 2 workers: 4 in flight
    monkeypatch.setattr(driver._Batch, "PENDING_MAX", 1)  # the loop waits for the writes
    executor = _Counting(2)
    try:
        result = convert_tree(root, tmp_path / "out", executor=executor)
    finally:
        executor.close()
    assert executor.most == 4  # never more, and enough to keep both workers busy
    assert result.converted == 40 and executor.outstanding == 0
    assert tree_bytes(tmp_path / "out") == tree_bytes(tmp_path / "ref")
    assert result.entries == reference.entries


def test_a_worker_sends_back_rendered_reports_without_their_data(tmp_path: Path) -> None:
    """json and jsonl reports are rendered in the worker: the parent gets their text and
    only what names their files, not each report's data again."""
    import hashlib
    import json

    from boamps_etl.batch.convert import UnitTask, convert_unit
    from boamps_etl.io.writers import report_filename

    folder = tmp_path / "run"
    folder.mkdir()
    write_csv(folder / "emissions.csv", v321_row(run_id="a"), v321_row(run_id="b"))
    context = tmp_path / "context.json"
    context.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    sha = hashlib.sha256(context.read_bytes()).hexdigest()
    for fmt in ("json", "jsonl"):
        task = UnitTask("run", (("run/emissions.csv", str(folder / "emissions.csv")),),
                        ((str(context), sha),), (None, ()), (), False, False, None, fmt)
        [outcome] = convert_unit(task)
        assert [e.status for e in outcome.entries] == ["valid", "valid"]
        for doc, text in zip(outcome.documents, outcome.texts, strict=True):
            assert doc is not None and text is not None
            full = json.loads(text)
            assert "measures" in full and "measures" not in doc
            assert report_filename(doc) == report_filename(full)
