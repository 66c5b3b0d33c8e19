"""Trackers other than CodeCarbon: recognition by content, every mapped number against its
source cell (unit conversions included), schema validity, --from, batch and init-context.

Expected numbers are computed here from the files' cells with exact rationals
(:class:`fractions.Fraction`), independently of the readers and of the mapping code.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CODECARBON, CORPUS, FIXTURES, TASK_CONTEXT

import boamps_etl as be
from boamps_etl.cli import cli
from boamps_etl.trackers import detect, tracker_names

ECO2AI = FIXTURES / "eco2ai" / "emission.csv"
CARBONTRACKER = FIXTURES / "carbontracker" / "run_carbontracker_output.log"
ZEUS = FIXTURES / "zeus" / "zeus_log.csv"
ZEUS_REAL = FIXTURES / "zeus" / "real-cpu-only.csv"
PERUN_CSV = FIXTURES / "perun" / "energy.csv"
PERUN_JSON = FIXTURES / "perun" / "energy.json"
PERUN_REAL_CSV = FIXTURES / "perun" / "real-cpu-only.csv"
PERUN_REAL_JSON = FIXTURES / "perun" / "real-cpu-only.json"
OPTIMUM = FIXTURES / "optimum_benchmark" / "benchmark_report.json"
AIES = FIXTURES / "aienergyscore" / "GPU_ENERGY_SUMMARY.json"
ECO2AI_CORPUS = sorted(CORPUS.glob("02[12]_*.csv")) if CORPUS.is_dir() else []

J_PER_KWH = 3_600_000

#: What the files do not say, so that their reports can be complete.
COMPLETE: dict[str, Any] = {
    **TASK_CONTEXT,
    "header": {**TASK_CONTEXT["header"], "reportDatetime": "2025-01-01 00:00:00"},
    "infrastructure": {"infraType": "onPremise"},
    "environment": {"country": "France"},
    "system": {"os": "Linux"},
}
#: ... and for files that name no component (optimum-benchmark, AI Energy Score).
WITH_GPU: dict[str, Any] = {**COMPLETE, "infrastructure": {
    "infraType": "onPremise", "components": [{"componentType": "gpu", "nbComponent": 1}]}}


def as_float(value: Fraction) -> float:
    """The float nearest to an exact value (what a correct conversion gives)."""
    return float(value)


def measure(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = doc["measures"][0]
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- recognition


@pytest.mark.parametrize(("path", "name"), [
    (ECO2AI, "eco2ai"), (CARBONTRACKER, "carbontracker"), (ZEUS, "zeus"),
    (ZEUS_REAL, "zeus"), (PERUN_CSV, "perun"), (PERUN_JSON, "perun"),
    (PERUN_REAL_CSV, "perun"), (PERUN_REAL_JSON, "perun"), (OPTIMUM, "optimum_benchmark"),
    (AIES, "aienergyscore"), (CODECARBON / "v3.2.1.csv", "codecarbon"),
])
def test_recognised_from_content(path: Path, name: str, tmp_path: Path) -> None:
    assert be.detect_tracker(path) == name
    # The name says nothing: under another tool's file name it is still recognised.
    for other in ("emissions.csv", "emission.csv", "benchmark_report.json", "x.txt"):
        copy = tmp_path / other
        shutil.copy(path, copy)
        assert detect(copy).name == name


def test_every_tracker_has_a_mapping_a_fixture_folder_and_a_readme() -> None:
    for name in tracker_names():
        assert (FIXTURES.parent.parent / "mappings" / f"{name}.yaml").is_file()
        if name != "codecarbon":
            assert (FIXTURES / name / "README.md").is_file() or (
                FIXTURES / name / "make_fixture.py").is_file(), name


def test_unknown_json_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(be.InputError, match="is JSON of no known tracker"):
        be.convert(path)


# --------------------------------------------------------------------------- numbers


def test_eco2ai_numbers_equal_the_cells() -> None:
    rows = csv_rows(ECO2AI)
    result = be.convert(ECO2AI, context=COMPLETE)
    assert [r.status for r in result] == ["valid"] * len(rows)
    for row, report in zip(rows, result, strict=True):
        m = measure(report.document)
        assert m["measurementMethod"] == "eco2ai"
        assert m["powerConsumption"] == float(row["power_consumption(kWh)"])
        assert m["measurementDuration"] == float(row["duration(s)"])
        assert m["emissions"] == float(row["CO2_emissions(kg)"])
        assert m["measurementDateTime"] == row["start_time"]
        cpu = report.document["infrastructure"]["components"][0]
        name, count = row["CPU_name"].split("/")
        assert cpu["componentName"] == name
        assert cpu["nbComponent"] == int(count.split(" ")[0])
        env = report.document["environment"]
        assert env["countryIsoCode"] == row["region/country"].split("/")[0]
        assert env["powerSourceCarbonIntensity"] == pytest.approx(
            as_float(Fraction(row["CO2_emissions(kg)"]) * 1000
                     / Fraction(row["power_consumption(kWh)"])), rel=1e-15)
    # eco2ai's id for a run; a derived, distinct id for each epoch of a training run.
    ids = [r.report_id for r in result]
    assert ids[0] == rows[0]["id"] and len(set(ids)) == len(ids)
    assert result.reports[0].document["environment"]["country"] == "France"


@pytest.mark.corpus
@pytest.mark.skipif(not ECO2AI_CORPUS, reason="../shared/corpus is absent")
@pytest.mark.parametrize("path", ECO2AI_CORPUS, ids=lambda p: p.name[:3])
def test_eco2ai_corpus_files_convert_completely(path: Path) -> None:
    rows = csv_rows(path)
    result = be.convert(path, context=COMPLETE)
    assert result.errors == []
    assert len(result.valid) == len(rows)
    for row, report in zip(rows, result, strict=True):
        m = measure(report.document)
        assert m["powerConsumption"] == float(row["power_consumption(kWh)"])
        if "cpu_power_consumption(kWh)" in row:  # the older format splits CPU and RAM
            assert m["cpuEnergy"] == float(row["cpu_power_consumption(kWh)"])
            assert m["ramEnergy"] == float(row["ram_power_consumption(kWh)"])
        assert be.validate(report.document) == []


def test_zeus_joules_become_kwh() -> None:
    rows = csv_rows(ZEUS)
    result = be.convert(ZEUS, context=COMPLETE)
    assert [r.status for r in result] == ["valid"] * 3
    for row, report in zip(rows, result, strict=True):
        m = measure(report.document)
        gpus = [Fraction(row["gpu0_energy"]), Fraction(row["gpu1_energy"])]
        assert m["powerConsumption"] == as_float(sum(gpus) / J_PER_KWH)
        assert m["gpuEnergy"] == as_float(sum(gpus) / J_PER_KWH)
        assert m["measurementDuration"] == float(row["elapsed_time"])
        assert m["measurementMethod"] == "zeus"
        gpu = report.document["infrastructure"]["components"][0]
        assert gpu == {"componentType": "gpu", "nbComponent": 2}
    # start_time is seconds since 1970 (UTC): 1733050000.125 is 2024-12-01 10:46:40.
    assert measure(result.reports[0].document)["measurementDateTime"] == "2024-12-01 10:46:40"


def test_zeus_real_cpu_only_log_has_no_energy_and_says_so() -> None:
    result = be.convert(ZEUS_REAL, context=COMPLETE)
    [report] = result.reports
    assert report.status == "incomplete"
    assert "measures[0].powerConsumption" in " ".join(str(i) for i in report.issues)
    assert measure(report.document)["measurementDuration"] == float(
        csv_rows(ZEUS_REAL)[0]["elapsed_time"])


def _perun_expected(path: Path) -> dict[str, dict[str, Fraction]]:
    """Per run: each group's energy in J, from the long table, computed here."""
    series: dict[tuple[str, ...], list[tuple[Fraction, Fraction]]] = {}
    meta: dict[tuple[str, ...], tuple[str, Fraction]] = {}
    for row in csv_rows(path):
        if row["unit"] not in ("J", "W"):
            continue
        key = (row["run id"], row["hostname"], row["device_group"], row["sensor"])
        series.setdefault(key, []).append((Fraction(row["timestep"]), Fraction(row["value"])))
        meta[key] = (row["unit"], Fraction(row["magnitude"]))
    out: dict[str, dict[str, Fraction]] = {}
    for key, points in series.items():
        unit, mag = meta[key]
        points.sort()
        if unit == "J":
            energy = points[-1][1] - points[0][1]
        else:
            energy = sum(((t1 - t0) * (a + b) / 2 for (t0, a), (t1, b)
                          in itertools.pairwise(points)), Fraction(0))
        run = out.setdefault(key[0], {})
        run[key[2]] = run.get(key[2], Fraction(0)) + energy * mag
        run["all"] = run.get("all", Fraction(0)) + energy * mag
    return out


def test_perun_csv_sums_every_host_per_run() -> None:
    expected = _perun_expected(PERUN_CSV)
    result = be.convert(PERUN_CSV, context=COMPLETE)
    assert [r.status for r in result] == ["valid", "valid"]
    for run, report in zip(("0", "1"), result, strict=True):
        m = measure(report.document)
        assert m["powerConsumption"] == as_float(expected[run]["all"] / J_PER_KWH)
        assert m["cpuEnergy"] == as_float(expected[run]["cpu"] / J_PER_KWH)
        assert m["gpuEnergy"] == as_float(expected[run]["gpu"] / J_PER_KWH)
        assert m["ramEnergy"] == as_float(expected[run]["ram"] / J_PER_KWH)
        assert m["measurementDuration"] == 2.5
        components = {c["componentType"]: c["nbComponent"]
                      for c in report.document["infrastructure"]["components"]}
        assert components == {"cpu": 2, "gpu": 2, "ram": 2}  # one device per host


def test_perun_json_metrics_with_their_prefixes() -> None:
    doc = json.loads(PERUN_JSON.read_text())
    multirun = next(iter(doc["nodes"][0].values()))
    runs = list(multirun["nodes"][0].values())
    result = be.convert(PERUN_JSON, context=COMPLETE)
    assert [r.status for r in result] == ["valid", "valid"]
    for run, report in zip(runs, result, strict=True):
        m = measure(report.document)
        metrics = run["metrics"]

        def kwh(name: str, metrics: dict[str, Any] = metrics) -> float:
            metric = metrics[name]
            return as_float(Fraction(str(metric["value"])) * Fraction(
                str(metric["metric_md"]["mag"])) / J_PER_KWH)
        assert metrics["energy"]["metric_md"]["mag"] == 1000.0  # kJ in the file
        assert m["powerConsumption"] == kwh("energy")
        assert m["cpuEnergy"] == kwh("cpu_energy")
        assert m["gpuEnergy"] == kwh("gpu_energy")
        assert m["ramEnergy"] == kwh("dram_energy")
        assert m["emissions"] == as_float(Fraction(str(metrics["co2"]["value"])) / 1000)
        assert m["measurementDuration"] == metrics["runtime"]["value"]
        assert m["version"] == "1.0.0"
        cpu = report.document["infrastructure"]["components"][0]
        assert cpu["componentName"] == run["metadata"]["processor"]
        assert cpu["nbComponent"] == run["metadata"]["core_count"]
    assert measure(result.reports[0].document)["measurementDateTime"] == "2025-03-04 10:15:00"


def test_perun_real_files_read_without_energy() -> None:
    for path in (PERUN_REAL_CSV, PERUN_REAL_JSON):
        [report] = be.convert(path, context=COMPLETE).reports
        assert "powerConsumption" not in measure(report.document)
        assert report.status == "incomplete"
    [report] = be.convert(PERUN_REAL_JSON).reports
    assert measure(report.document)["version"] == "1.0.0"
    assert report.document["system"]["os"] == "Linux"


def test_carbontracker_actual_consumption_g_to_kg() -> None:
    result = be.convert(CARBONTRACKER, context=COMPLETE)
    [report] = result.reports
    assert report.status == "valid"
    m = measure(report.document)
    text = CARBONTRACKER.read_text()
    actual = text[text.index("Actual consumption"):]
    energy = actual.split("Energy:\t")[1].split(" kWh")[0]
    co2 = actual.split("CO2eq:\t")[1].split(" g")[0]
    hours, minutes, seconds = actual.split("Time:\t")[1].split("\n")[0].split(":")
    assert m["powerConsumption"] == float(energy)
    assert m["emissions"] == as_float(Fraction(co2) / 1000)
    assert m["measurementDuration"] == int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    assert m["measurementMethod"] == "carbontracker"
    assert m["version"] == "2.4.7"  # from the standard log beside it
    assert report.document["environment"]["powerSourceCarbonIntensity"] == 445.0
    cpu = report.document["infrastructure"]["components"][0]
    assert cpu["componentName"] == "Intel Core i7-1185G7" and cpu["nbComponent"] == 1
    # The prediction is not a measure: its energy appears nowhere in the report.
    assert "0.000046316212" not in json.dumps(report.document)


def test_optimum_benchmark_one_report_per_target_with_energy() -> None:
    data = json.loads(OPTIMUM.read_text())
    result = be.convert(OPTIMUM, context=COMPLETE)
    targets = [t for t, v in data.items() if v["energy"] is not None]
    assert targets == ["load_model", "prefill", "decode"]
    assert [r.status for r in result] == ["valid"] * 3
    for target, report in zip(targets, result, strict=True):
        energy = data[target]["energy"]
        m = measure(report.document)
        assert m["powerConsumption"] == energy["total"]
        assert (m["cpuEnergy"], m["gpuEnergy"], m["ramEnergy"]) == (
            energy["cpu"], energy["gpu"], energy["ram"])
        assert m["measurementDuration"] == data[target]["latency"]["total"]
        assert report.document["task"]["nbRequest"] == data[target]["latency"]["count"]


def test_messages_name_the_records_of_json_reports_and_logs(tmp_path: Path) -> None:
    # A JSON report or a log has no rows: messages name its targets, runs or lines.
    data = json.loads(OPTIMUM.read_text())
    data["decode"]["energy"]["total"] = "abc"
    bad = tmp_path / "benchmark_report.json"
    bad.write_text(json.dumps(data))
    shutil.copy(OPTIMUM.parent / "benchmark_config.json", tmp_path)
    cases = [
        (bad, ["target 'decode', key 'energy.total': 'abc' is not a number",
               "target 'load_model', target 'prefill': missing required fields"]),
        (PERUN_JSON, ["energy.json, run '0', run '1': missing required fields"]),
        (CARBONTRACKER, ["run_carbontracker_output.log, line 11: missing required fields"]),
        (AIES, ["GPU_ENERGY_SUMMARY.json: missing required fields"]),
    ]
    for path, expected in cases:
        result = CliRunner().invoke(cli, ["convert", str(path), "--out",
                                          str(tmp_path / f"{path.stem}.jsonl")])
        assert result.exit_code == 1, result.output
        for text in expected:
            assert text in result.stderr, result.stderr
        assert "row" not in result.stderr.split(" report(s) from ")[0]
        assert "the file does not provide these" in result.stderr
    issues = [str(i) for r in be.convert(bad) for i in r.issues]
    assert any(i.startswith(f"{bad}, target 'decode', key 'energy.total'") for i in issues)


def test_optimum_benchmark_environment_from_its_configuration(tmp_path: Path) -> None:
    config = json.loads((OPTIMUM.parent / "benchmark_config.json").read_text())
    env = config["environment"]
    result = be.convert(OPTIMUM, context=COMPLETE)
    assert [r.status for r in result] == ["valid"] * 3
    doc = result.reports[0].document
    assert measure(doc)["version"] == env["optimum_benchmark_version"]
    assert doc["software"]["version"] == env["python_version"]
    cpu, gpu, ram = doc["infrastructure"]["components"]
    assert (cpu["componentName"], cpu["nbComponent"]) == (env["cpu"].strip(), env["cpu_count"])
    assert (gpu["componentName"], gpu["nbComponent"]) == (env["gpu"][0], env["gpu_count"])
    assert gpu["memorySize"] == 80.0  # from the GPU's name
    assert ram["memorySize"] == as_float(Fraction(str(env["cpu_ram_mb"])) / 1000)  # MB -> GB
    # benchmark.json holds the same configuration and report in one file.
    combined = tmp_path / "benchmark.json"
    combined.write_text(json.dumps({"config": config, "report": json.loads(OPTIMUM.read_text())}))
    assert be.detect_tracker(combined) == "optimum_benchmark"
    def without_id(doc: dict[str, Any]) -> dict[str, Any]:
        # The id is derived from the cells as written, and the copy rewrote the numbers.
        return {**doc, "header": {k: v for k, v in doc["header"].items() if k != "reportId"}}
    assert [without_id(r.document) for r in be.convert(combined, context=COMPLETE)] == \
        [without_id(r.document) for r in result]
    # The report alone says nothing of the machine.
    alone = tmp_path / "benchmark_report.json"
    shutil.copy(OPTIMUM, alone)
    doc = be.convert(alone).reports[0].document
    assert "version" not in measure(doc) and "infrastructure" not in doc


def test_ai_energy_score_wh_become_kwh() -> None:
    data = json.loads(AIES.read_text())
    [report] = be.convert(AIES, context=WITH_GPU).reports
    assert report.status == "valid"
    m = measure(report.document)
    assert m["powerConsumption"] == as_float(Fraction(str(data["total"])) / 1000)
    assert m["gpuEnergy"] == m["powerConsumption"]
    assert report.document["task"]["taskStage"] == "training"  # the context wins
    [alone] = be.convert(AIES).reports
    assert alone.document["task"]["taskStage"] == "inference"


@pytest.mark.parametrize("path", [ECO2AI, CARBONTRACKER, ZEUS, PERUN_CSV, PERUN_JSON, OPTIMUM,
                                  AIES], ids=lambda p: p.parent.name + "/" + p.name)
def test_reports_are_valid_under_the_official_schema(path: Path) -> None:
    result = be.convert(path, context=WITH_GPU if path in (OPTIMUM, AIES) else COMPLETE)
    assert result.reports and all(r.status == "valid" for r in result)
    for report in result:
        assert be.validate(report.document) == []


# --------------------------------------------------------------------------- units


def test_declared_unit_conversions() -> None:
    from boamps_etl.transforms import unit_factor

    assert unit_factor("J", "kWh") is not None
    assert float(unit_factor("J", "kWh") * 3_600_000) == 1.0  # type: ignore[operator]
    assert float(unit_factor("Wh", "kWh")) == 0.001  # type: ignore[arg-type]
    assert unit_factor("mWh", "kWh") != unit_factor("MWh", "kWh")  # case tells them apart
    assert float(unit_factor("mWh", "kWh")) == 1e-06  # type: ignore[arg-type]
    assert float(unit_factor("MWh", "kWh")) == 1000.0  # type: ignore[arg-type]
    assert float(unit_factor("g", "kg")) == 0.001  # type: ignore[arg-type]
    assert float(unit_factor("kJ", "kWh") * 3600) == 1.0  # type: ignore[operator]


def test_unit_column_converts_each_row(tmp_path: Path) -> None:
    report = json.loads(OPTIMUM.read_text())
    report["prefill"]["energy"]["unit"] = "Wh"  # as if the tool had written Wh
    path = tmp_path / "benchmark_report.json"
    path.write_text(json.dumps(report))
    result = be.convert(path, context=WITH_GPU)
    assert measure(result.reports[1].document)["powerConsumption"] == as_float(
        Fraction(str(report["prefill"]["energy"]["total"])) / 1000)
    assert measure(result.reports[2].document)["powerConsumption"] == \
        report["decode"]["energy"]["total"]


# --------------------------------------------------------------------------- --from, API


def test_from_forces_a_tracker() -> None:
    with pytest.raises(be.InputError, match="is not a CodeCarbon emissions CSV: missing"):
        be.convert(ECO2AI, tracker="codecarbon")
    with pytest.raises(be.InputError, match="is not a Zeus ZeusMonitor log CSV"):
        be.convert(ECO2AI, tracker="zeus")
    assert len(be.convert(ECO2AI, tracker="eco2ai")) == 4
    with pytest.raises(be.InputError, match="unknown tracker 'eco3ai'"):
        be.convert(ECO2AI, tracker="eco3ai")


def test_files_of_several_trackers_in_one_call() -> None:
    result = be.convert([ECO2AI, ZEUS, CODECARBON / "v3.2.1.csv"], context=COMPLETE)
    assert {r.tracker for r in result} == {"eco2ai", "zeus", "codecarbon"}


def test_a_user_mapping_extends_the_tracker_it_is_used_for(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\nrules:\n  task.taskFamily: {const: chess}\n")
    result = be.convert([ECO2AI, CODECARBON / "v3.2.1.csv"], mapping=mapping)
    for report in result:
        assert report.document["task"]["taskFamily"] == "chess"
    eco = next(r for r in result if r.tracker == "eco2ai")
    assert measure(eco.document)["measurementMethod"] == "eco2ai"
    # A mapping that extends eco2ai's is not applied to CodeCarbon files.
    mapping.write_text("version: 1\nextends: eco2ai\nrules:\n  task.taskFamily: {const: go}\n")
    result = be.convert([ECO2AI, CODECARBON / "v3.2.1.csv"], mapping=mapping)
    families = {r.tracker: r.document.get("task", {}).get("taskFamily") for r in result}
    assert families == {"eco2ai": "go", "codecarbon": None}


def test_convert_to_writes_other_trackers(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    summary = be.convert_to([ZEUS, OPTIMUM], out, "jsonl", context=WITH_GPU)
    assert summary.counts["valid"] == 6
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [r.document for r in be.convert([ZEUS, OPTIMUM], context=WITH_GPU)]


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_convert_recognises_and_from_forces(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps(WITH_GPU))
    out = tmp_path / "out"
    result = _cli("convert", str(ZEUS), str(AIES), "-c", str(ctx), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert len(list(out.iterdir())) == 4
    out2 = tmp_path / "out2"
    result = _cli("convert", str(ECO2AI), "--from", "codecarbon", "-o", str(out2))
    assert result.exit_code == 2
    assert "is not a CodeCarbon emissions CSV: missing column(s)" in result.stderr
    assert not out2.exists()


def test_cli_mapping_show_tracker() -> None:
    result = _cli("mapping", "show", "--tracker", "zeus", "--format", "json")
    assert result.exit_code == 0
    rows = {r["path"]: r for r in json.loads(result.stdout)}
    assert rows["measures[0].powerConsumption"]["unit"] == "J -> kWh"
    assert rows["measures[0].powerConsumption"]["source"] == "energy"
    assert _cli("mapping", "show", "--tracker", "nope").exit_code == 2


def test_cli_init_context_asks_what_the_tracker_does_not_record(tmp_path: Path) -> None:
    out = tmp_path / "ctx.yaml"
    result = _cli("init-context", str(AIES), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# boamps-etl context: what AI Energy Score cannot record")
    for line in ("  reportDatetime: null", "  infraType: null", "      nbComponent: null"):
        assert line in text
    import yaml

    filled = yaml.safe_load(text.replace("null", "1").replace(": 1\n", ": 1\n"))
    assert filled["infrastructure"]["components"][0]["componentType"] == "cpu"


def every_tracker_tree(root: Path) -> Path:
    """A batch tree with one file of each tracker (and the files beside them that their
    readers use), under a complete context."""
    for src, rel in ((ECO2AI, "a/emission.csv"), (ZEUS, "b/zeus_log.csv"),
                     (CARBONTRACKER, "c/run_carbontracker_output.log"),
                     (CARBONTRACKER.with_name("run_carbontracker.log"),
                      "c/run_carbontracker.log"),
                     (OPTIMUM.with_name("benchmark_config.json"), "e/benchmark_config.json"),
                     (PERUN_JSON, "d/perun_results/train.json"),
                     (OPTIMUM, "e/benchmark_report.json"), (AIES, "f/GPU_ENERGY_SUMMARY.json"),
                     (CODECARBON / "v3.2.1.csv", "g/emissions.csv")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
    (root / "boamps.json").write_text(json.dumps(COMPLETE))
    for folder in ("e", "f"):
        (root / folder / "boamps.json").write_text(json.dumps(
            {"infrastructure": WITH_GPU["infrastructure"]}))
    return root


def test_batch_finds_every_tracker_and_names_it(tmp_path: Path) -> None:
    root = every_tracker_tree(tmp_path / "runs")
    result = be.convert_tree(root, tmp_path / "out")
    trackers = dict(zip(result.manifest["source"], result.manifest["tracker"], strict=True))
    assert trackers == {"a/emission.csv": "eco2ai", "b/zeus_log.csv": "zeus",
                        "c/run_carbontracker_output.log": "carbontracker",
                        "d/perun_results/train.json": "perun",
                        "e/benchmark_report.json": "optimum_benchmark",
                        "f/GPU_ENERGY_SUMMARY.json": "aienergyscore",
                        "g/emissions.csv": "codecarbon"}
    assert set(result.manifest["status"]) == {"valid"}
    # Files beside the converted ones were read too: the versions they hold are there.
    outputs = dict(zip(result.manifest["source"], result.manifest["output"], strict=False))
    for source, version in (("c/run_carbontracker_output.log", "2.4.7"),
                            ("e/benchmark_report.json", "0.6.0")):
        written = json.loads((tmp_path / "out" / outputs[source]).read_text())
        assert measure(written)["version"] == version
    # --from reads every file as one tracker's: the others are not CodeCarbon's.
    forced = be.convert_tree(root, tmp_path / "out2", tracker="codecarbon")
    statuses = dict(zip(forced.manifest["source"], forced.manifest["status"], strict=False))
    assert statuses["g/emissions.csv"] == "valid"
    assert statuses["a/emission.csv"] == "skipped"


def test_batch_rerun_notices_a_changed_side_file(tmp_path: Path) -> None:
    # carbontracker's version and optimum-benchmark's environment are read from files
    # beside the converted ones: changing only those converts the folder again.
    root = every_tracker_tree(tmp_path / "runs")
    out = tmp_path / "out"
    first = be.convert_tree(root, out)
    assert be.convert_tree(root, out).unchanged == first.converted == 7
    standard = root / "c" / "run_carbontracker.log"
    standard.write_text(standard.read_text().replace("2.4.7", "2.4.8"))
    config = root / "e" / "benchmark_config.json"
    data = json.loads(config.read_text())
    data.setdefault("environment", {})["optimum_benchmark_version"] = "0.6.1"
    config.write_text(json.dumps(data))
    again = be.convert_tree(root, out)
    assert (again.converted, again.unchanged) == (2, 5)
    outputs = dict(zip(again.manifest["source"], again.manifest["output"], strict=False))
    written = json.loads((out / outputs["c/run_carbontracker_output.log"]).read_text())
    assert measure(written)["version"] == "2.4.8"
    written = json.loads((out / outputs["e/benchmark_report.json"]).read_text())
    assert measure(written)["version"] == "0.6.1"
    assert be.convert_tree(root, out).converted == 0  # nothing changed since


def test_docs_trackers_md_is_made_from_the_mappings() -> None:
    from boamps_etl.trackers.docs import trackers_markdown

    text = (FIXTURES.parent.parent / "docs" / "trackers.md").read_text(encoding="utf-8")
    assert text == trackers_markdown(), (
        "docs/trackers.md is out of date: python -m boamps_etl.trackers.docs > docs/trackers.md")
    for name in tracker_names():  # every tracker has its section and field table
        assert f'<a id="{name}"></a>' in text
    readme = (FIXTURES.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/trackers.md" in readme
