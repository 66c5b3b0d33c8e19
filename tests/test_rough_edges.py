"""Rough edges a new user hit (issue #14): each one reproduced on a fixture."""

from __future__ import annotations

from conftest import CODECARBON, FIXTURES, TASK_CONTEXT

import boamps_etl as be
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
