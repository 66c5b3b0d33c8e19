"""Runs a damaged CSV still holds are converted, each recovery said once per file and marked
on its report (issue #14). Fixtures: tests/fixtures/recovery/ (README.md there)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, TASK_CONTEXT, sha256

import boamps_etl as be
from boamps_etl.api import convert_to
from boamps_etl.batch import convert_tree
from boamps_etl.cli import cli
from boamps_etl.io.readers import read_codecarbon_csv
from boamps_etl.io.realign import realign_shifted

RECOVERY = FIXTURES / "recovery"


def _warnings(result: be.ConversionResult, code: str) -> list[be.Issue]:
    return [i for i in result.issues if i.code == code]


def _cells(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- user columns


def test_rows_before_user_columns_are_converted_with_empty_user_cells() -> None:
    path = RECOVERY / "user-columns.csv"
    table = read_codecarbon_csv(path)
    assert list(table.frame["__row__"]) == [2, 3, 4]
    assert list(table.frame["algorithm"]) == ["", "", "adaBoost"]
    result = be.convert(path, context=TASK_CONTEXT)
    assert [r.status for r in result.reports] == ["valid"] * 3
    said = _warnings(result, "recovered-short-rows")
    assert len(said) == 1 and "rows 2-3" in said[0].message
    assert "algorithm, dataset, language, phase" in said[0].message
    assert [bool(r.recovered) for r in result.reports] == [True, True, False]
    # the numbers are the CSV's
    rows = _cells(path)
    energy = [r.document["measures"][0]["powerConsumption"] for r in result.reports]
    assert energy == [float(rows[i]["energy_consumed"]) for i in range(3)]


def test_a_row_short_by_codecarbon_columns_is_still_refused() -> None:
    result = be.convert(FIXTURES / "bad" / "too-few-fields.csv", context=TASK_CONTEXT)
    assert any(i.code == "misaligned-row" and i.severity == "error" for i in result.issues)
    assert not any(i.code.startswith("recovered") for i in result.issues)


# --------------------------------------------------------------------------- NUL padding


def test_nul_padding_is_stripped_and_said_once_with_the_rows() -> None:
    path = RECOVERY / "nul-padded.csv"
    assert b"\x00" * 64 in path.read_bytes()
    result = be.convert(path, context=TASK_CONTEXT)
    assert [r.status for r in result.reports] == ["valid"] * 3
    assert [r.row for r in result.reports] == [2, 4, 5]
    said = _warnings(result, "recovered-nul-padding")
    assert len(said) == 1 and "rows 3, 5" in said[0].message
    assert not [i for i in result.issues if i.severity == "error"]
    assert [r.recovered for r in result.reports][2] == ("NUL padding stripped",)
    # the row the NULs stood in front of keeps its exact values
    rows = _cells(FIXTURES / "codecarbon" / "v3.2.1.csv")
    assert result.reports[2].run_id == rows[2]["run_id"]
    assert result.reports[2].document["measures"][0]["powerConsumption"] == \
        float(rows[2]["energy_consumed"])


def test_nul_bytes_inside_a_row_are_still_damage() -> None:
    lines = (FIXTURES / "codecarbon" / "v3.2.1.csv").read_text(encoding="utf-8").splitlines()
    cut = lines[2].index(",", 60)
    text = "\n".join([lines[0], lines[1], lines[2][:cut] + "\x00\x00" + lines[2][cut + 1:]])
    table = read_codecarbon_csv((text + "\n").encode())
    assert list(table.frame["__row__"]) == [2]
    assert [i.where.row for i in table.issues if i.severity == "error"] == [3]
    assert not table.recovered


# --------------------------------------------------------------------------- country


def test_country_name_is_derived_from_its_iso_code() -> None:
    path = RECOVERY / "country-iso-only.csv"
    result = be.convert(path, context=TASK_CONTEXT)
    assert [r.status for r in result.reports] == ["valid"] * 3
    countries = [r.document["environment"]["country"] for r in result.reports]
    assert countries == ["Indonesia", "France", "France"]  # alpha-2 ID, alpha-3 FRA, given
    assert [bool(r.recovered) for r in result.reports] == [True, True, False]
    derived = [i for r in result.reports for i in r.issues if i.code == "recovered-country"]
    assert [(i.where.row, i.where.column, i.severity) for i in derived] == \
        [(2, "country_iso_code", "warning"), (3, "country_iso_code", "warning")]


def test_unknown_iso_code_is_not_guessed(tmp_path: Path) -> None:
    text = (RECOVERY / "country-iso-only.csv").read_text(encoding="utf-8").replace(",ID,", ",XQ,")
    path = tmp_path / "emissions.csv"
    path.write_text(text, encoding="utf-8")
    result = be.convert(path, context=TASK_CONTEXT)
    assert result.reports[0].status == "incomplete"
    assert "environment.country" in str(result.reports[0].issues[0])


def test_fast_path_gives_the_reference_bytes_when_a_country_is_derived(tmp_path: Path
                                                                       ) -> None:
    path = RECOVERY / "country-iso-only.csv"
    fast, ref = tmp_path / "fast.jsonl", tmp_path / "ref.jsonl"
    a = convert_to([path], fast, "jsonl", context=TASK_CONTEXT, fast_path=True)
    b = convert_to([path], ref, "jsonl", context=TASK_CONTEXT, fast_path=False)
    assert fast.read_bytes() == ref.read_bytes()
    assert [str(i) for i in a.issues] == [str(i) for i in b.issues]
    assert sum(1 for i in a.issues if i.code == "recovered-country") == 2


# --------------------------------------------------------------------------- 3.3.0 shift


def test_rows_codecarbon_330_shifted_are_realigned() -> None:
    shifted = be.convert(RECOVERY / "v3.3.0-shifted.csv", context=TASK_CONTEXT)
    aligned = be.convert(RECOVERY / "v3.3.0-aligned.csv", context=TASK_CONTEXT)
    assert [r.status for r in shifted.reports] == ["valid"] * 3
    assert [r.document for r in shifted.reports] == [r.document for r in aligned.reports]
    said = _warnings(shifted, "recovered-shifted-rows")
    assert len(said) == 1 and "rows 3-4" in said[0].message and "1304" in said[0].message
    assert [bool(r.recovered) for r in shifted.reports] == [False, True, True]
    assert not aligned.issues


def test_shifted_file_is_read_as_codecarbon_330_writes_it() -> None:
    lines = (RECOVERY / "v3.3.0-shifted.csv").read_text(encoding="utf-8").splitlines()
    # the first run with its header, the next ones without their None columns
    assert [len(line.split(",")) for line in lines] == [38, 38, 35, 33]


def test_shifted_row_that_fits_no_arrangement_is_a_bad_row_with_the_reason() -> None:
    result = be.convert(RECOVERY / "v3.3.0-unalignable.csv", context=TASK_CONTEXT)
    assert len(result.reports) == 1
    errors = [i for i in result.issues if i.severity == "error"]
    assert len(errors) == 1 and errors[0].where.row == 3
    assert "no way of leaving out empty columns makes them fit" in errors[0].message
    assert "1304" in (errors[0].hint or "")


def test_several_arrangements_are_never_chosen_between() -> None:
    columns = ["timestamp", "duration", "emissions", "energy_consumed", "codecarbon_version",
               "gpu_count", "gpu_model", "note", "longitude", "latitude"]
    cells = ["2026-07-01T09:12:44", "1.0", "0.1", "0.2", "3.3.0", "2", "", ""]
    found = realign_shifted(columns, cells)
    assert found.cells is None and found.reason is not None
    assert "several ways" in found.reason and "gpu_count" in found.reason


def test_short_row_of_another_version_is_not_realigned() -> None:
    lines = (RECOVERY / "v3.3.0-shifted.csv").read_text(encoding="utf-8").splitlines()
    text = "\n".join([lines[0], lines[1], lines[2].replace(",3.3.0,", ",3.2.8,")]) + "\n"
    table = read_codecarbon_csv(text.encode())
    assert list(table.frame["__row__"]) == [2]
    assert "not from those versions" in str(table.issues[-1])


# --------------------------------------------------------------------------- marking


def test_recovered_reports_are_marked_in_the_batch_manifest(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "a").mkdir(parents=True)
    for name in ("v3.3.0-shifted.csv", "nul-padded.csv", "country-iso-only.csv"):
        (root / "a" / f"emissions_{name}").write_bytes((RECOVERY / name).read_bytes())
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    before = {p: sha256(p) for p in root.rglob("*.csv")}
    result = convert_tree(root, tmp_path / "out", contexts=[ctx])
    assert result.ok
    notes = {(e.source, e.rows[-1]): e.messages for e in result.entries}
    assert notes[("a/emissions_v3.3.0-shifted.csv", 3)].startswith("recovered: row realigned")
    assert notes[("a/emissions_nul-padded.csv", 5)].startswith("recovered: NUL padding")
    assert notes[("a/emissions_country-iso-only.csv", 2)].startswith(
        "recovered: environment.country derived")
    assert "recovered" not in notes[("a/emissions_country-iso-only.csv", 4)]
    manifest = (tmp_path / "out" / "manifest.csv").read_text(encoding="utf-8")
    assert manifest.count("recovered: row realigned") == 2
    assert before == {p: sha256(p) for p in root.rglob("*.csv")}


def test_cli_says_each_recovery_once_per_file(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    paths = [str(RECOVERY / n) for n in ("user-columns.csv", "nul-padded.csv",
                                          "v3.3.0-shifted.csv", "country-iso-only.csv")]
    result = CliRunner().invoke(cli, ["convert", *paths, "-c", str(ctx), "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4 and all("recovered:" in w for w in warnings)
    assert len(list((tmp_path / "out").glob("*.json"))) == 12


@pytest.mark.parametrize("name", ["user-columns.csv", "nul-padded.csv", "v3.3.0-shifted.csv",
                                  "country-iso-only.csv"])
def test_recovered_reports_validate(name: str) -> None:
    result = be.convert(RECOVERY / name, context=TASK_CONTEXT)
    for report in result.reports:
        assert be.validate(report) == []


V330_COLUMNS = _cells(RECOVERY / "v3.3.0-aligned.csv")[0].keys()


@pytest.mark.parametrize("region", [None, "ile-de-france", ""])
@pytest.mark.parametrize("coordinates", [None, (2.35, 48.85)])
@pytest.mark.parametrize("gpu", [None, (0, ""), (2, "2 x NVIDIA A100-SXM4-80GB")])
@pytest.mark.parametrize("cloud", [("", ""), ("gcp", "europe-west1")])
def test_every_row_codecarbon_330_shifts_is_realigned_exactly(
        region: str | None, coordinates: tuple[float, float] | None,
        gpu: tuple[int, str] | None, cloud: tuple[str, str]) -> None:
    """Rows written as CodeCarbon 3.3.0 writes them (pandas, None columns dropped before a
    headerless append) for every combination of the values it leaves None."""
    import io

    import pandas as pd

    row = dict(_cells(RECOVERY / "v3.3.0-aligned.csv")[0])
    row.update(region=region, cloud_provider=cloud[0], cloud_region=cloud[1],
               gpu_count=None if gpu is None else gpu[0],
               gpu_model=None if gpu is None else gpu[1],
               longitude=None if coordinates is None else coordinates[0],
               latitude=None if coordinates is None else coordinates[1])
    frame = pd.DataFrame.from_records([row])[list(V330_COLUMNS)]
    full, shifted = io.StringIO(), io.StringIO()
    frame.to_csv(full, index=False, header=False)
    frame.dropna(axis=1, how="all").to_csv(shifted, index=False, header=False)
    want = next(csv.reader([full.getvalue().rstrip("\n")]))
    cells = next(csv.reader([shifted.getvalue().rstrip("\n")]))
    found = realign_shifted(list(V330_COLUMNS), cells)
    if len(cells) == len(want):
        assert found.cells is None  # nothing was dropped: nothing to realign
    else:
        assert found.cells == want, found.reason
