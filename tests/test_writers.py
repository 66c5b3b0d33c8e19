"""Writers: file names that cannot escape, atomic writes, no overwrite without force."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

import boamps_etl as be
from boamps_etl.io import staging, writers
from boamps_etl.io.writers import report_filename, safe_part, write_reports

DOC = {"header": {"reportId": "r1", "publisher": {"name": "Acme Labs"}},
       "task": {"taskStage": "training", "taskFamily": "text classification"},
       "measures": [{"measurementMethod": "codecarbon", "powerConsumption": 0.1}],
       "infrastructure": {"infraType": "onPremise",
                          "components": [{"componentType": "cpu", "nbComponent": 2}]}}


def test_report_filename() -> None:
    assert report_filename(DOC) == "report_Acme-Labs_training_text-classification_onPremise_r1.json"
    assert report_filename({}) == "report_unknown_unknown_unknown_unknown_noid.json"


@pytest.mark.parametrize("value", ["../../etc/passwd", "/abs/path", "..", ".", "a/b\\c",
                                   "x\x00y", "名前", "con:", "-" * 300])
def test_names_from_values_stay_in_the_folder(tmp_path: Path, value: str) -> None:
    part = safe_part(value)
    assert "/" not in part and "\\" not in part and part not in ("", ".", "..")
    doc = {**DOC, "header": {"reportId": value, "publisher": {"name": value}}}
    out = tmp_path / "out"
    [written] = write_reports([doc], out, "json")
    assert written.resolve().parent == out.resolve()


def test_same_names_get_suffixes(tmp_path: Path) -> None:
    written = write_reports([DOC, DOC], tmp_path / "out", "json")
    assert [p.name for p in written] == [
        "report_Acme-Labs_training_text-classification_onPremise_r1.json",
        "report_Acme-Labs_training_text-classification_onPremise_r1-2.json"]


def test_a_suffixed_name_taken_again_is_listed_once(tmp_path: Path) -> None:
    # A's second report takes the name "-2", the name B had of its own: as the reference
    # writes them one after the other, A's report replaces B's, and the file is one.
    other = copy.deepcopy(DOC)
    other["header"]["reportId"] = "r1-2"
    written = write_reports([DOC, other, DOC], tmp_path / "out", "json")
    names = [p.name for p in written]
    assert names == ["report_Acme-Labs_training_text-classification_onPremise_r1.json",
                     "report_Acme-Labs_training_text-classification_onPremise_r1-2.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)
    assert json.loads(written[1].read_text())["header"]["reportId"] == "r1"


def test_jsonl_and_csv(tmp_path: Path) -> None:
    write_reports([DOC, DOC], tmp_path / "r.jsonl", "jsonl")
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [DOC, DOC]
    write_reports([DOC], tmp_path / "r.csv", "csv")
    header, row = (tmp_path / "r.csv").read_text().splitlines()
    assert header.split(",") == [
        "header_reportId", "header_publisher_name", "task_taskStage", "task_taskFamily",
        "measures_0_measurementMethod", "measures_0_powerConsumption",
        "infrastructure_infraType", "infrastructure_components_0_componentType",
        "infrastructure_components_0_nbComponent"]
    assert row.split(",")[5] == "0.1"


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_reports([DOC], out, "json")
    other = copy.deepcopy(DOC)
    other["measures"][0]["powerConsumption"] = 1.5  # same file name, other bytes
    with pytest.raises(be.OutputError, match="exist already"):
        write_reports([other], out, "json")
    write_reports([other], out, "json", force=True)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_the_same_bytes_again_are_no_conflict(tmp_path: Path, fmt: str) -> None:
    # What an interrupted run of the same job wrote is completed, not refused.
    out = tmp_path / ("out" if fmt == "json" else f"out.{fmt}")
    first = write_reports([DOC], out, fmt)  # type: ignore[arg-type]
    before = {p: p.read_bytes() for p in first}
    assert write_reports([DOC], out, fmt) == first  # type: ignore[arg-type]
    assert {p: p.read_bytes() for p in first} == before
    other = copy.deepcopy(DOC)
    other["measures"][0]["powerConsumption"] = 1.5
    with pytest.raises(be.OutputError, match="exist"):
        write_reports([other], out, fmt)  # type: ignore[arg-type]
    assert {p: p.read_bytes() for p in first} == before


def test_interrupted_write_leaves_no_partial_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(fd: int) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        write_reports([DOC], tmp_path / "r.jsonl", "jsonl")
    assert list(tmp_path.iterdir()) == []


def test_output_under_a_file_is_an_error_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(be.OutputError, match="is a file, not a folder"):
        writers.check_writable(blocker / "out")


def test_out_must_be_a_folder_for_json(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(be.OutputError, match="must be a folder"):
        write_reports([DOC], target, "json")


def test_atomic_write_takes_text_and_bytes(tmp_path: Path) -> None:
    text_path, bytes_path = tmp_path / "a" / "t.csv", tmp_path / "b.png"
    writers.atomic_write(text_path, "é,x\r\nline 2\n")  # line breaks kept as they are
    writers.atomic_write(bytes_path, b"\x89PNG\r\n\x00")
    assert text_path.read_bytes() == "é,x\r\nline 2\n".encode()
    assert bytes_path.read_bytes() == b"\x89PNG\r\n\x00"
    mode = 0o666 & ~staging._umask()
    assert (bytes_path.stat().st_mode & 0o777) == mode  # not mkstemp's 0600
    with pytest.raises(UnicodeEncodeError):
        writers.atomic_write(text_path, "\ud800")  # a lone surrogate: nothing replaced
    assert text_path.read_bytes() == "é,x\r\nline 2\n".encode()
    assert sorted(p.name for p in text_path.parent.iterdir()) == ["t.csv"]  # no .part left


def test_is_inside(tmp_path: Path) -> None:
    assert writers.is_inside(tmp_path, tmp_path / "a" / "b")
    assert writers.is_inside(tmp_path, tmp_path)
    assert not writers.is_inside(tmp_path / "a", tmp_path / "b")
    assert not writers.is_inside(tmp_path / "a", tmp_path / "a" / ".." / "b")
