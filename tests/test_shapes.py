"""Reports judged from the signature cache (boamps_etl.shapes) get the same verdict as the
reference validator (jsonschema) and the same level as assess(), row after row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import TASK_CONTEXT, v321_row, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import boamps_etl as be
from boamps_etl.levels import assess
from boamps_etl.shapes import schema_path, supported, tag, value_check
from boamps_etl.validate import extension_validator, official_validator


def reference(doc: Any) -> bool:
    return official_validator().is_valid(doc) and extension_validator().is_valid(doc)


def test_the_shipped_schemas_are_supported() -> None:
    assert supported()


def test_helpers() -> None:
    assert schema_path("infrastructure.components[gpu].nbComponent") == (
        "infrastructure", "components", "*", "nbComponent")
    assert [tag(v) for v in (None, True, 1, 1.0, "", "x")] == ["n", "b", "i", "f", "e", "s"]
    check = value_check(("measures", "*", "averageUtilizationCpu"))
    assert check is not None and check(0.5) and not check(1.5) and not check(-0.1)
    iso = value_check(("environment", "countryIsoCode"))
    assert iso is not None and iso("FRA") and not iso("France")
    assert value_check(("header", "reportId")) is None


numbers = st.sampled_from(["0.5", "-0.5", "0.0", "12", "1e-05", "-3e2", "150", "99.9"])
cells = st.fixed_dictionaries({
    "energy_consumed": numbers, "duration": numbers, "cpu_power": numbers,
    "cpu_utilization_percent": numbers, "gpu_utilization_percent": numbers,
    "ram_utilization_percent": numbers, "latitude": numbers, "longitude": numbers,
    "pue": numbers, "emissions": numbers,
    "tracking_mode": st.sampled_from(["machine", "process", "Machine", "other", ""]),
    "country_iso_code": st.sampled_from(["FRA", "FR", "France", "", "F1"]),
    "country_name": st.sampled_from(["France", ""]),
    "gpu_count": st.sampled_from(["0", "2", ""]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(cells, min_size=2, max_size=12))
def test_same_verdicts_and_levels_as_without_the_cache(tmp_path_factory: Any,
                                                      rows: list[dict[str, str]]) -> None:
    folder: Path = tmp_path_factory.mktemp("rows")
    lines = [v321_row(run_id=f"r{i}", **row) for i, row in enumerate(rows)]
    result = be.convert(write_csv(folder / "e.csv", *lines), context=TASK_CONTEXT)
    for report in result.reports:
        if any(i.code == "bad-value" for i in report.issues):
            continue  # a cell that could not be read: no schema verdict involved
        assert (report.status == "valid") == reference(report.document), report.issues
        if report.status == "valid":
            assert report.level == assess(report.document).level


def test_the_full_check_runs_once_per_signature(tmp_path: Path, monkeypatch: Any) -> None:
    from boamps_etl import pipeline

    calls = []
    original = pipeline.full_check
    monkeypatch.setattr(pipeline, "full_check", lambda doc: calls.append(1) or original(doc))
    lines = [v321_row(run_id=f"r{i}", energy_consumed=str(0.001 * (i + 1))) for i in range(50)]
    lines.append(v321_row(run_id="neg", energy_consumed="-1.0"))  # same signature, bad value
    result = be.convert(write_csv(tmp_path / "e.csv", *lines), context=TASK_CONTEXT)
    assert [r.status for r in result.reports] == ["valid"] * 50 + ["invalid"]
    assert len(calls) == 2  # the first report, and the one whose value check failed


def test_a_batch_checks_each_signature_once_across_its_small_files(tmp_path: Path,
                                                                   monkeypatch: Any) -> None:
    import json

    from boamps_etl import pipeline
    from boamps_etl.batch import convert_tree

    calls = []
    original = pipeline.full_check
    monkeypatch.setattr(pipeline, "full_check", lambda doc: calls.append(1) or original(doc))
    for i in range(20):
        folder = tmp_path / "runs" / f"run-{i:02d}"
        folder.mkdir(parents=True)
        write_csv(folder / "emissions.csv",
                  v321_row(run_id=f"r{i}", energy_consumed=str(0.001 * (i + 1))))
    folder = tmp_path / "runs" / "run-99"  # the same signature, a bad value: last
    folder.mkdir()
    write_csv(folder / "emissions.csv", v321_row(run_id="neg", energy_consumed="-1.0"))
    context = tmp_path / "context.json"
    context.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    result = convert_tree(tmp_path / "runs", tmp_path / "out", contexts=[context], jobs=1,
                          format="jsonl")
    assert [e.status for e in result.entries] == ["valid"] * 20 + ["invalid"]
    assert len(calls) == 2  # the first report, and the one whose value check failed
