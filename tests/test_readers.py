"""Reading CodeCarbon CSVs of every version and shape (fixtures in tests/fixtures/codecarbon)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from conftest import CODECARBON, TASK_CONTEXT, V321_HEADER, sha256, v321_row, write_csv

import boamps_etl as be
from boamps_etl.io.readers import read_codecarbon_csv

CONVERTIBLE = {
    # fixture: (kind, number of reports)
    "v1.csv": ("codecarbon", None),
    "v2.0.csv": ("codecarbon", None),
    "v2.0-sorted.csv": ("codecarbon", None),
    "v2.2.csv": ("codecarbon", None),
    "v2.2.3.csv": ("codecarbon", 2),
    "v2.7.csv": ("codecarbon", None),
    "v3.0.8.csv": ("codecarbon", None),
    "v3.2.1.csv": ("codecarbon", None),
    "d-3.1.1.bak.csv": ("codecarbon", None),
    "d-3.2.0-cpu.csv": ("codecarbon", None),
    "d-3.2.x-cpu.csv": ("codecarbon", None),
    "padded.csv": ("codecarbon", None),
    "cloud.csv": ("codecarbon", None),
    "mixed-versions.csv": ("codecarbon", None),
    "run-id-none.csv": ("codecarbon", None),
    "extra-columns.csv": ("codecarbon", None),
    "bom-crlf.csv": ("codecarbon", None),
    "emissions_base_0cc2961d-04a4-4417-999f-c4d03f601a26.csv": ("task", 3),
    "emissions_exp_11111111-2222-4333-8444-555555555555.csv": ("task", None),
    "tracker.csv": ("tracker", 2),
}


@pytest.mark.parametrize("name", sorted(CONVERTIBLE))
def test_every_version_converts_to_valid_reports(name: str) -> None:
    kind, count = CONVERTIBLE[name]
    path = CODECARBON / name
    before = sha256(path)
    table = read_codecarbon_csv(path)
    assert table.kind == kind
    context: dict[str, Any] = dict(TASK_CONTEXT)
    # 1.x files record no hardware: the context describes it.
    if "cpu_model" not in table.columns:
        context["infrastructure"] = {"components": [{"componentType": "cpu",
                                                     "nbComponent": 4}]}
    result = be.convert(path, context=context)
    assert result.reports
    if count is not None:
        assert len(result.reports) == count
    bad = [str(i) for r in result.reports for i in r.issues if i.severity == "error"]
    assert all(r.status == "valid" for r in result.reports), bad
    ids = [r.report_id for r in result.reports]
    assert len(ids) == len(set(ids))
    for report in result.reports:
        m = report.document["measures"][0]
        row = table.frame[table.frame["__row__"] == report.row].iloc[0]
        assert m["powerConsumption"] == float(row["energy_consumed"].replace("Power(kW=", "")
                                              .rstrip(")"))
    assert sha256(path) == before  # inputs are never modified


def test_v1_reports_have_no_hardware_but_keep_cloud(fixture: Any) -> None:
    result = be.convert(fixture("v1.csv"), allow_incomplete=True)
    docs = result.documents
    assert all("components" not in d.get("infrastructure", {}) for d in docs)
    assert any(d["infrastructure"]["infraType"] == "publicCloud" for d in docs)
    assert all(d["header"]["reportId"] for d in docs)


def test_v20_grams_per_second_rate(fixture: Any) -> None:
    table = read_codecarbon_csv(fixture("v2.0.csv"))
    result = be.convert(fixture("v2.0.csv"), context=TASK_CONTEXT)
    for report in result.reports:
        row = table.frame[table.frame["__row__"] == report.row].iloc[0]
        m = report.document["measures"][0]
        if row["emissions_rate"] and float(row["duration"]) > 0:
            assert m["emissionsRate"] == pytest.approx(float(row["emissions"]) /
                                                       float(row["duration"]), rel=1e-9)
        else:
            assert "emissionsRate" not in m


def test_tracker_power_cells_are_watts(fixture: Any) -> None:
    report = be.convert(fixture("tracker.csv"), context=TASK_CONTEXT).reports[0]
    table = read_codecarbon_csv(fixture("tracker.csv"))
    cell = table.frame.iloc[0]["cpu_power"]
    kw = float(cell.split("=")[1].rstrip(")"))
    assert report.document["measures"][0]["cpuPower"] == pytest.approx(kw * 1000, rel=1e-15)


def test_task_file_gives_one_report_per_task(fixture: Any) -> None:
    name = "emissions_base_0cc2961d-04a4-4417-999f-c4d03f601a26.csv"
    result = be.convert(fixture(name), context={
        **TASK_CONTEXT, "match": [{"when": {"task_name": "train"},
                                   "task": {"taskStage": "training"}},
                                  {"when": {"task_name": ["load", "eval"]},
                                   "task": {"taskStage": "inference"}}]})
    stages = {r.columns["task_name"]: r.document["task"]["taskStage"] for r in result.reports}
    assert stages == {"load": "inference", "train": "training", "eval": "inference"}


def test_misaligned_rows_are_reported_not_shifted(fixture: Any) -> None:
    result = be.convert(fixture("misaligned.csv"), context=TASK_CONTEXT)
    messages = [str(i) for i in result.issues if i.code == "misaligned-row"]
    assert any(", row 4: row does not fit the header: 31 fields where the header has 34" in m
               for m in messages)
    assert any(", row 5: row does not fit the header: 36 fields" in m for m in messages)
    assert [r.row for r in result.reports] == [2, 3, 6]
    assert all(r.status == "valid" for r in result.reports)


def test_truncated_last_line(fixture: Any) -> None:
    result = be.convert(fixture("truncated.csv"), context=TASK_CONTEXT,
                        sets=["environment.country=France"])  # the file has no country
    assert any("row 4: the last line is cut off" in str(i) for i in result.issues)
    assert result.reports and all(r.status == "valid" for r in result.reports)


def test_empty_and_header_only(fixture: Any) -> None:
    with pytest.raises(be.InputError, match="is empty"):
        be.convert(fixture("empty.csv"))
    result = be.convert(fixture("header-only.csv"))
    assert result.reports == []
    assert any("has a header but no data rows: 0 reports" in str(i) for i in result.issues)


def test_not_codecarbon_lists_missing_columns(fixture: Any) -> None:
    # An eco2ai file is recognised as such (tests/test_trackers.py); read as CodeCarbon's,
    # the reader says which columns are missing.
    with pytest.raises(be.InputError) as info:
        be.convert(fixture("not-codecarbon.csv"), tracker="codecarbon")
    assert "is not a CodeCarbon emissions CSV: missing column(s) timestamp" in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    text = V321_HEADER + "\n" + v321_row(region="Île-de-France") + "\n"
    path = tmp_path / "e.csv"
    path.write_bytes(text.encode(encoding))
    result = be.convert(path, context=TASK_CONTEXT)
    assert result.reports[0].document["environment"]["location"] == "Île-de-France"
    if encoding == "cp1252":
        assert any("is not UTF-8" in str(i) and i.severity == "warning" for i in result.issues)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_sniffed_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "e.csv"
    path.write_text(V321_HEADER.replace(",", delimiter) + "\n" +
                    v321_row().replace(",", delimiter) + "\n")
    assert be.convert(path, context=TASK_CONTEXT).reports[0].status == "valid"


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv.gz"
    path.write_bytes(gzip.compress((V321_HEADER + "\n" + v321_row() + "\n").encode()))
    assert be.convert(path, context=TASK_CONTEXT).reports[0].status == "valid"


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row() + ",x", header=V321_HEADER + ",duration")
    with pytest.raises(be.InputError, match="duplicate column name 'duration'"):
        be.convert(path)


def test_quoted_newlines_and_commas_keep_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a", project_name='"multi\nline, x"'),
                     v321_row(run_id="b", duration="bad"))
    result = be.convert(path, context=TASK_CONTEXT)
    assert result.reports[0].status == "valid"
    assert "row 3" in str(result.reports[1].issues[0])  # record 3, spreadsheet row 3


def test_merge_conflict_and_repeated_header(tmp_path: Path) -> None:
    text = ("<<<<<<< HEAD\n" + V321_HEADER + "\n" + v321_row(run_id="a") + "\n=======\n" +
            V321_HEADER + "\n" + v321_row(run_id="b") + "\n>>>>>>> branch\n")
    path = tmp_path / "e.csv"
    path.write_text(text)
    result = be.convert(path, context=TASK_CONTEXT)
    assert [r.report_id for r in result.reports] == ["a", "b"]
    codes = [i.code for i in result.issues]
    assert codes.count("conflict-marker") == 3 and "repeated-header" in codes
