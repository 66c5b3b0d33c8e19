"""Fidelity of the default mapping: what each CodeCarbon column becomes in a BoAmps report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import TASK_CONTEXT, V321_HEADER, v321_row, write_csv

import boamps_etl as be


def one(tmp_path: Path, *rows: str, header: str = V321_HEADER, **kw: object) -> be.ConvertedReport:
    result = be.convert(write_csv(tmp_path / "emissions.csv", *rows, header=header),
                        context=TASK_CONTEXT, **kw)  # type: ignore[arg-type]
    assert len(result.reports) == 1, [str(i) for i in result.errors]
    return result.reports[0]


def test_full_row_maps_every_section(tmp_path: Path) -> None:
    report = one(tmp_path, v321_row())
    assert report.status == "valid", [str(i) for i in report.issues]
    doc = report.document
    assert doc["header"]["reportId"] == "11111111-1111-4111-8111-111111111111"
    assert doc["header"]["reportDatetime"] == "2025-12-01 10:00:30"
    assert doc["header"]["formatVersion"] == "0.1"
    assert doc["header"]["formatVersionSpecificationUri"].startswith("https://github.com/Boavizta")
    m = doc["measures"][0]
    assert m["measurementMethod"] == "codecarbon"
    assert m["version"] == "3.2.6"
    assert m["powerConsumption"] == 0.002545
    assert m["measurementDuration"] == 30.5
    assert m["measurementDateTime"] == "2025-12-01 10:00:00"  # end 10:00:30 minus 30.5 s
    assert m["averageUtilizationCpu"] == 0.453
    assert m["averageUtilizationGpu"] == 0.87
    assert (m["cpuEnergy"], m["gpuEnergy"], m["ramEnergy"]) == (0.00036, 0.0021, 8.5e-05)
    assert (m["cpuPower"], m["gpuPower"], m["ramPower"]) == (42.5, 250.0, 10.0)
    assert m["emissions"] == 2.5e-05
    assert m["emissionsRate"] == 8.19672131147541e-07
    assert m["trackingMode"] == "machine"
    assert "cpuTrackingMode" not in m and "gpuTrackingMode" not in m
    assert doc["system"] == {"os": "Linux"}
    assert doc["software"] == {"language": "python", "version": "3.10.12"}
    infra = doc["infrastructure"]
    assert infra["infraType"] == "onPremise"
    cpu, gpu, ram = infra["components"]
    assert cpu == {"componentName": "Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz",
                   "componentType": "cpu", "nbComponent": 16, "manufacturer": "Intel",
                   "family": "Xeon", "series": "Gold 6226R"}
    assert gpu["componentType"] == "gpu" and gpu["nbComponent"] == 2
    assert gpu["memorySize"] == 32 and gpu["manufacturer"] == "NVIDIA"
    assert gpu["componentName"] == "2 x Tesla V100S-PCIE-32GB"
    assert ram == {"componentType": "ram", "nbComponent": 1, "memorySize": 86.3035888671875}
    env = doc["environment"]
    assert env["country"] == "France" and env["countryIsoCode"] == "FRA"
    assert (env["latitude"], env["longitude"]) == (48.8582, 2.3387)
    assert env["location"] == "ile-de-france"
    assert env["powerSourceCarbonIntensity"] == 2.5e-05 / 0.002545 * 1000


def test_keys_follow_the_schema_order(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row()).document
    assert list(doc) == ["header", "task", "measures", "system", "software", "infrastructure",
                         "environment"]
    assert list(doc["measures"][0])[:3] == ["measurementMethod", "version",
                                            "averageUtilizationCpu"]


@pytest.mark.parametrize("cell", ["0", "0.0", ""])
def test_no_gpu_component_without_gpus(tmp_path: Path, cell: str) -> None:
    doc = one(tmp_path, v321_row(gpu_count=cell, gpu_model="", gpu_power="0.0",
                                 gpu_energy="0.0")).document
    types = [c["componentType"] for c in doc["infrastructure"]["components"]]
    assert types == ["cpu", "ram"]


def test_gpu_count_from_model_when_count_missing(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row(gpu_count="", gpu_model="4 x NVIDIA A100-SXM4-80GB")).document
    gpu = doc["infrastructure"]["components"][1]
    assert gpu["nbComponent"] == 4 and gpu["memorySize"] == 80


def test_counts_written_as_floats(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row(cpu_count="8.0", gpu_count="1.0",
                                 gpu_model="1 x Tesla T4")).document
    cpu, gpu, _ = doc["infrastructure"]["components"]
    assert cpu["nbComponent"] == 8 and isinstance(cpu["nbComponent"], int)
    assert gpu["nbComponent"] == 1


@pytest.mark.parametrize(("on_cloud", "provider", "expected"), [
    ("Y", "gcp", "publicCloud"), ("N", "aws", "publicCloud"), ("N", "", "onPremise"),
    ("Y", "", "publicCloud"),
])
def test_infra_type(tmp_path: Path, on_cloud: str, provider: str, expected: str) -> None:
    doc = one(tmp_path, v321_row(on_cloud=on_cloud, cloud_provider=provider,
                                 cloud_region="us-central1" if provider else "")).document
    assert doc["infrastructure"]["infraType"] == expected
    if provider:
        assert doc["infrastructure"]["cloudProvider"] == provider
        assert doc["environment"]["location"] == "us-central1"


def test_carbon_intensity_only_when_positive(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row(emissions="0.0")).document
    assert "powerSourceCarbonIntensity" not in doc["environment"]


def test_missing_column_is_absent_not_zero(tmp_path: Path) -> None:
    header = V321_HEADER.replace(",gpu_energy", "")
    row = v321_row().split(",")
    del row[V321_HEADER.split(",").index("gpu_energy")]
    doc = one(tmp_path, ",".join(row), header=header).document
    assert "gpuEnergy" not in doc["measures"][0]


def test_flush_rows_collapse_to_the_last(tmp_path: Path) -> None:
    rows = [v321_row(duration=str(d), energy_consumed=str(e), timestamp=t)
            for d, e, t in ((10.0, "0.001", "2025-12-01T10:00:10"),
                            (20.0, "0.002", "2025-12-01T10:00:20"),
                            (30.5, "0.003", "2025-12-01T10:00:30"))]
    report = one(tmp_path, *rows)
    assert report.document["measures"][0]["powerConsumption"] == 0.003
    assert report.document["measures"][0]["measurementDuration"] == 30.5
    assert report.rows == (2, 3, 4)


def test_per_row_keeps_every_row_with_distinct_ids(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(duration="10.0"), v321_row(duration="20.0"))
    result = be.convert(path, context=TASK_CONTEXT, per_row=True)
    ids = [r.report_id for r in result.reports]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(r.status == "valid" for r in result.reports)


def test_rows_without_run_id_stand_alone(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="None"), v321_row(run_id="",
                                                                            duration="3.0"))
    result = be.convert(path, context=TASK_CONTEXT)
    assert len(result.reports) == 2
    ids = {r.report_id for r in result.reports}
    assert len(ids) == 2 and "None" not in ids
    again = be.convert(path, context=TASK_CONTEXT)  # derived ids are deterministic
    assert ids == {r.report_id for r in again.reports}


def test_emissions_rate_in_grams_per_second_is_converted(tmp_path: Path) -> None:
    # CodeCarbon 2.0/2.1 wrote emissions * 1000 / duration (g/s).
    doc = one(tmp_path, v321_row(emissions="2.5e-05", duration="30.5",
                                 emissions_rate="0.000819672131147541")).document
    assert doc["measures"][0]["emissionsRate"] == pytest.approx(8.19672131147541e-07, rel=1e-12)


def test_start_time_with_fraction_and_timezone(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row(timestamp="2025-12-01 10:00:30.900+02:00",
                                 duration="0.6")).document
    assert doc["measures"][0]["measurementDateTime"] == "2025-12-01 10:00:30"
    assert doc["header"]["reportDatetime"] == "2025-12-01 10:00:30"


@pytest.mark.parametrize(("platform", "os_name", "dist", "version"), [
    ("Windows-10-10.0.19045-SP0", "Windows", "Windows 10", "10.0.19045"),
    ("macOS-14.2.1-arm64-arm-64bit", "macOS", "macOS", "14.2.1"),
    ("Linux-5.4.0-42-generic-x86_64-with-Ubuntu-20.04-focal", "Linux", "Ubuntu", "20.04"),
])
def test_system_from_platform_string(tmp_path: Path, platform: str, os_name: str, dist: str,
                                     version: str) -> None:
    doc = one(tmp_path, v321_row(os=platform)).document
    assert doc["system"] == {"os": os_name, "distribution": dist,
                             "distributionVersion": version}


def test_full_precision_is_kept(tmp_path: Path) -> None:
    doc = one(tmp_path, v321_row(energy_consumed="0.00012488705073474698",
                                 ram_total_size="86.3035888671875")).document
    assert doc["measures"][0]["powerConsumption"] == float("0.00012488705073474698")
    assert repr(doc["measures"][0]["powerConsumption"]) == "0.00012488705073474698"


def test_without_context_the_report_is_incomplete_and_says_what_is_missing(
        tmp_path: Path) -> None:
    result = be.convert(write_csv(tmp_path / "e.csv", v321_row()))
    report = result.reports[0]
    assert report.status == "incomplete"
    message = str(report.issues[0])
    for field in ("task.taskStage", "task.taskFamily", "task.algorithms", "task.dataset"):
        assert field in message
    assert "--context" in message and "--set" in message


def test_allow_incomplete_marks_drafts(tmp_path: Path) -> None:
    result = be.convert(write_csv(tmp_path / "e.csv", v321_row()), allow_incomplete=True)
    report = result.reports[0]
    assert report.document["header"]["reportStatus"] == "draft"
    assert result.writable(allow_incomplete=True) == [report]
    assert result.writable() == []


@pytest.mark.parametrize(("cell", "message"), [
    ("abc", "'abc' is not a number"), ("inf", "is infinite"), ("nan", None),
])
def test_bad_energy_is_located(tmp_path: Path, cell: str, message: str | None) -> None:
    result = be.convert(write_csv(tmp_path / "e.csv", v321_row(energy_consumed=cell)),
                        context=TASK_CONTEXT)
    report = result.reports[0]
    assert report.status != "valid"
    text = str(report.issues[0])
    assert "row 2" in text
    if message:
        assert message in text and "column 'energy_consumed'" in text
    else:  # 'nan' is CodeCarbon's empty cell: the required field is then missing
        assert "measures[0].powerConsumption" in text


def test_negative_energy_is_invalid(tmp_path: Path) -> None:
    report = one(tmp_path, v321_row(energy_consumed="-0.5"))
    assert report.status == "invalid"
    assert "measures[0].powerConsumption" in str(report.issues[0])
    assert "at least 0" in str(report.issues[0])


def test_one_bad_row_does_not_block_the_others(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a", duration="x"),
                     v321_row(run_id="b"))
    result = be.convert(path, context=TASK_CONTEXT)
    assert [r.status for r in result.reports] == ["invalid", "valid"]


def test_dataframe_in_and_out(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a"), v321_row(run_id="b"))
    frame = be.read_csv(path)
    assert frame["energy_consumed"].dtype.kind == "f"
    from_frame = be.convert(frame, context=TASK_CONTEXT)
    from_file = be.convert(path, context=TASK_CONTEXT)
    assert from_frame.documents == from_file.documents
    flat = be.to_frame(from_file)
    assert list(flat["header_reportId"]) == ["a", "b"]
    assert flat["measures_0_powerConsumption"].tolist() == [0.002545, 0.002545]
    assert be.from_frame(flat) == from_file.documents


def test_pydantic_report_objects(tmp_path: Path) -> None:
    report = one(tmp_path, v321_row()).report
    assert isinstance(report, be.Report)
    assert report.measures[0].gpu_energy == 0.0021
    assert report.infrastructure.components[1].nb_component == 2
    assert be.validate(report) == []


# --------------------------------------------------------------------------- cells or frame


def _table_files() -> list[Path]:
    from conftest import CORPUS, FIXTURES

    found = [p for folder in ("codecarbon", "recovery", "bad", "fuzz", "eco2ai")
             for p in sorted((FIXTURES / folder).glob("*.csv"))]
    if CORPUS.is_dir():
        found += sorted(p for p in CORPUS.rglob("*") if p.is_file()
                        and p.suffix in (".csv", ".gz"))
    return found


def _converted(table: Any, tracker: str, context: Any, per_row: bool) -> list[Any]:
    import json

    from boamps_etl.api import as_context
    from boamps_etl.mapping import load_mapping
    from boamps_etl.pipeline import convert_table

    result = convert_table(table, load_mapping(None, base=tracker),
                           as_context(context, ()) if context else None, per_row=per_row)
    return [[json.dumps(r.document), r.rows, r.run_id, r.status, r.level,
             [str(i) for i in r.issues], r.recovered, r.columns] for r in result.reports
            ] + [str(i) for i in result.issues] + [result.rows_read]


@pytest.mark.parametrize("path", _table_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_table_read_as_lists_converts_as_its_frame(path: Path) -> None:
    """A CodeCarbon file's rows reach the pipeline as the reader's lists (no DataFrame is
    built); the same table read through its frame gives the same reports and issues."""
    from boamps_etl.errors import InputError
    from boamps_etl.trackers import read_table

    data = path.read_bytes()
    try:
        tracker, lists = read_table(data, None, path.name)
    except InputError:
        return
    _, framed = read_table(data, tracker, path.name)
    assert framed.frame is not None and framed.cells is None  # asked for: the frame rules
    if tracker.name == "codecarbon" and lists.records and not lists.issues:
        assert lists.cells is not None  # a clean file's rows stay lists
    for context, per_row in ((TASK_CONTEXT, False), (None, False), (TASK_CONTEXT, True)):
        assert _converted(lists, tracker.name, context, per_row) == \
            _converted(framed, tracker.name, context, per_row)
