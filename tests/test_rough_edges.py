"""Rough edges a new user hit (issue #14): each one reproduced on a fixture."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CODECARBON, FIXTURES, TASK_CONTEXT

import boamps_etl as be
from boamps_etl.batch import convert_tree
from boamps_etl.cli import cli
from boamps_etl.levels import assess

RECOVERY = FIXTURES / "recovery"


def test_assess_accepts_the_pydantic_report_as_validate_does() -> None:
    converted = be.convert(CODECARBON / "v3.2.1.csv", context=TASK_CONTEXT).reports[0]
    assert converted.level != "none"
    model = converted.report  # what the README hands to assess
    assert be.validate(model) == []
    assert assess(model).level == converted.level
    assert assess(converted).level == converted.level
    assert assess(converted.document).level == converted.level


def test_cpu_only_machine_gets_no_gpu_utilisation() -> None:
    # CodeCarbon 3.3 on a CPU-only machine: gpu_count 0, gpu_model '', 0.0 % GPU use
    result = be.convert(RECOVERY / "v3.3.0-aligned.csv", context=TASK_CONTEXT)
    for report in result.reports:
        measure = report.document["measures"][0]
        assert "averageUtilizationGpu" not in measure
        assert measure["averageUtilizationCpu"] > 0
        assert measure["gpuEnergy"] == 0.0  # the CSV measured it: kept
        assert not any(c["componentType"] == "gpu"
                       for c in report.document["infrastructure"]["components"])


def test_gpu_machine_keeps_its_gpu_utilisation() -> None:
    result = be.convert(CODECARBON / "v3.2.1.csv", context=TASK_CONTEXT)
    # gpu_utilization_percent 48.0, 91.5, 94.1 (%) -> a fraction
    assert [r.document["measures"][0]["averageUtilizationGpu"] for r in result.reports] == \
        [0.48, 0.915, 0.941]


def test_file_without_gpu_columns_gets_no_gpu_utilisation() -> None:
    result = be.convert(CODECARBON / "d-3.2.x-cpu.csv", context=TASK_CONTEXT)
    assert result.reports
    for report in result.reports:
        assert "averageUtilizationGpu" not in report.document["measures"][0]


# --------------------------------------------------------------------------- batch


def test_damaged_codecarbon_file_in_a_batch_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    exp = root / "exp"
    exp.mkdir(parents=True)
    (exp / "emissions.csv").write_bytes((CODECARBON / "v3.2.1.csv").read_bytes())
    # a PNG saved over emissions.csv: binary garbage under CodeCarbon's name
    (exp / "emissions_base_1.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (exp / "emissions.csv.bak").write_bytes(b"")  # truncated to nothing
    header = (CODECARBON / "v3.2.1.csv").read_text(encoding="utf-8").splitlines()[0]
    (exp / "emissions_cut.csv").write_text(header[:40] + "\n", encoding="utf-8")
    # plainly someone else's CSVs: other columns (even under the name), other name
    (exp / "emissions_by_country.csv").write_text("country,year,co2_mt\nFR,2020,299\n",
                                                 encoding="utf-8")
    (exp / "notes.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    result = convert_tree(root, tmp_path / "out", contexts=[_context(tmp_path)])
    status = {e.source: e.status for e in result.entries}
    assert status == {"exp/emissions.csv": "valid", "exp/emissions_base_1.csv": "error",
                      "exp/emissions.csv.bak": "error", "exp/emissions_cut.csv": "error",
                      "exp/emissions_by_country.csv": "skipped",
                      "exp/notes.csv.gz": "skipped"}
    assert not result.ok
    damaged = next(e for e in result.entries if e.source == "exp/emissions.csv.bak")
    assert "damaged CodeCarbon file" in damaged.messages
    runner = CliRunner().invoke(cli, ["batch", str(root), "-o", str(tmp_path / "out2"),
                                      "-c", str(_context(tmp_path))])
    assert runner.exit_code == 1
    assert "emissions_base_1.csv" in runner.stderr


def _context(tmp_path: Path) -> Path:
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- CLI


def test_convert_says_the_second_report_is_a_duplicate(tmp_path: Path) -> None:
    a = tmp_path / "emissions.csv"
    a.write_bytes((CODECARBON / "v3.2.1.csv").read_bytes())
    bak = tmp_path / "emissions.csv.bak"
    bak.write_bytes(a.read_bytes())  # CodeCarbon's backup holds the same runs
    for fmt, out in (("json", tmp_path / "out"), ("jsonl", tmp_path / "out.jsonl"),
                     ("csv", tmp_path / "out.csv")):
        result = CliRunner().invoke(cli, ["convert", str(a), str(bak), "-c",
                                          str(_context(tmp_path)), "--format", fmt,
                                          "-o", str(out)])
        assert result.exit_code == 0, result.stderr
        said = [line for line in result.stderr.splitlines() if "duplicate:" in line]
        assert len(said) == 1 and str(bak) in said[0] and str(a) in said[0]
        assert "3 duplicate(s) not written; 3 written" in result.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 3
    assert not list((tmp_path / "out").glob("*-2.json"))
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 3


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_duplicates_are_dropped_the_same_way_on_both_engines(tmp_path: Path,
                                                             fmt: str) -> None:
    from boamps_etl.api import convert_to

    a = tmp_path / "a.csv"
    a.write_bytes((CODECARBON / "v3.2.1.csv").read_bytes())
    b = tmp_path / "b.csv"
    b.write_bytes(a.read_bytes())
    fast_out, ref_out = tmp_path / f"fast.{fmt}", tmp_path / f"ref.{fmt}"
    fast = convert_to([a, b], fast_out, fmt, context=TASK_CONTEXT, fast_path=True)
    ref = convert_to([a, b], ref_out, fmt, context=TASK_CONTEXT, fast_path=False)

    def written(out: Path) -> object:
        if out.is_dir():
            return {p.name: p.read_bytes() for p in out.iterdir()}
        return out.read_bytes()

    assert written(fast_out) == written(ref_out)
    assert fast.duplicates == ref.duplicates == 3
    assert fast.reports_written == ref.reports_written == 3
    assert fast.engine_rows == fast.rows_read


def test_convert_given_a_folder_points_to_batch(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["convert", str(CODECARBON), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "is a folder" in result.stderr and "boamps-etl batch" in result.stderr
    assert not (tmp_path / "o").exists()


def test_validate_and_summary_given_a_csv_point_to_convert() -> None:
    csv_file = str(CODECARBON / "v3.2.1.csv")
    for command in (["validate", csv_file], ["summary", csv_file]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2
        assert "JSON syntax error" not in result.stderr + result.stdout
        assert "is a CSV, not a BoAmps report" in result.stderr
        assert f"boamps-etl convert {csv_file}" in result.stderr


def test_validate_given_a_folder_of_csvs_points_to_batch() -> None:
    result = CliRunner().invoke(cli, ["validate", str(RECOVERY)])
    assert result.exit_code == 2
    assert f"boamps-etl batch {RECOVERY}" in result.stderr


def test_schema_official_and_extension_together_is_refused() -> None:
    both = CliRunner().invoke(cli, ["schema", "--official", "--extension"])
    assert both.exit_code == 2 and "give one of them" in both.stderr and not both.stdout
    official = json.loads(CliRunner().invoke(cli, ["schema", "--official"]).stdout)
    extension = json.loads(CliRunner().invoke(cli, ["schema", "--extension"]).stdout)
    assert official != extension and "boamps-etl" in extension["$id"]


def test_library_convert_says_which_reports_repeat_an_earlier_input(tmp_path: Path) -> None:
    a = tmp_path / "emissions.csv"
    a.write_bytes((CODECARBON / "v3.2.1.csv").read_bytes())
    bak = tmp_path / "emissions.csv.bak"
    bak.write_bytes(a.read_bytes())
    result = be.convert([a, bak], context=TASK_CONTEXT)
    assert len(result.reports) == 6
    said = [i for i in result.issues if i.code == "duplicate"]
    assert [(i.where.file, i.where.row) for i in said] == [(str(bak), r) for r in (2, 3, 4)]
    assert not [i for i in be.convert(a, context=TASK_CONTEXT).issues if i.code == "duplicate"]


@pytest.mark.parametrize(("fmt", "fast_path", "jobs"), [
    ("jsonl", True, 1), ("json", False, 1), ("csv", True, 2)])
def test_a_mapping_is_not_kept_once_its_conversions_are_done(
        tmp_path: Path, fmt: str, fast_path: bool, jobs: int) -> None:
    # A notebook or a live report loads a mapping per conversion: none of them may stay
    # in memory for the rest of the process.
    import gc
    import weakref

    from boamps_etl.mapping import load_mapping

    source = CODECARBON / "cloud.csv"
    mapping = load_mapping(None)
    held = weakref.ref(mapping)
    summary = be.convert_to(source, tmp_path / f"out.{fmt}", fmt,  # type: ignore[arg-type]
                            mapping=mapping, fast_path=fast_path, jobs=jobs)
    assert (summary.engine_rows > 0) == fast_path  # the engine's caches, or the reference's
    assert be.convert(source, mapping=mapping).reports
    del mapping
    gc.collect()
    assert held() is None


def test_the_scalars_kept_for_the_engine_stay_few(monkeypatch: pytest.MonkeyPatch) -> None:
    # Values of the data (parts of file names) become Arrow scalars kept for reuse: a
    # process converting file after file keeps no more than MAX_SCALARS of them.
    import pyarrow as pa

    from boamps_etl.engine import arrays

    monkeypatch.setattr(arrays, "MAX_SCALARS", 8)
    monkeypatch.setattr(arrays, "_SCALAR_CACHE", {})
    for i in range(20):
        assert arrays._scalar(f"Lab number {i}", pa.string()).as_py() == f"Lab number {i}"
        assert len(arrays._SCALAR_CACHE) <= 8
