"""Rough edges a new user hit (issue #14): each one reproduced on a fixture."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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
