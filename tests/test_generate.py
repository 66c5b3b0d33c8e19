"""Tests for bench/generate.py (synthetic CodeCarbon CSVs) and the hand-made CSV fixtures."""

from __future__ import annotations

import csv
import io
import math
import random
import re
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) omits the cwd
    sys.path.insert(0, str(ROOT))

from bench import generate  # noqa: E402
from bench.generate import (  # noqa: E402
    HEADERS,
    TASK_VARIANTS,
    VARIANTS,
    header_for,
    iter_rows,
    write_csv,
)

FIXTURES = ROOT / "tests" / "fixtures" / "codecarbon"
TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
ENERGY_COLUMNS = ("cpu_energy", "gpu_energy", "ram_energy", "energy_consumed")

# Column counts of the reference table (shared/reference/codecarbon-csv.md, section 1).
EXPECTED_WIDTH = {
    "v1": 12,
    "v2.0": 29,
    "v2.0-sorted": 29,
    "v2.2": 30,
    "v2.2.3": 31,
    "v2.7": 32,
    "v3.0.8": 34,
    "v3.2.1": 38,
    "d-3.1.1": 34,
    "d-3.2.0-cpu": 32,
    "d-3.2.x-cpu": 36,
    "d-3.2.x-gpu": 38,
    "t2": 31,
    "t3.1": 32,
    "t3.2": 36,
    "t3.2-cpu": 34,
}

V1 = (
    "timestamp,experiment_id,project_name,duration,emissions,energy_consumed,country_name,"
    "country_iso_code,region,on_cloud,cloud_provider,cloud_region"
)
V2_0 = (
    "timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud"
)
V3_2_1 = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,"
    "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,"
    "country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,"
    "codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,"
    "ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue"
)
T3_2 = (
    "task_name,timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,"
    "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,"
    "country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,"
    "codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,"
    "ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud"
)
TRACKER = (
    "run_id,timestamp,project_name,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,"
    "region,cloud_provider,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue,kWh"
)


def generate_csv(tmp_path: Path, variant: str, rows: int = 60, **kwargs: object) -> Path:
    path = tmp_path / f"{variant}.csv"
    assert write_csv(path, rows, variant, **kwargs) == rows  # type: ignore[arg-type]
    return path


def read_dicts(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        records = list(csv.reader(f))
    header = [h.strip() for h in records[0]]
    return header, [dict(zip(header, [v.strip() for v in r], strict=True)) for r in records[1:]]


def vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.strip().split(".")[:3])


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


# --------------------------------------------------------------------------- headers


def test_header_ids_and_widths() -> None:
    assert set(HEADERS) == set(EXPECTED_WIDTH)
    assert list(VARIANTS) == [*HEADERS, "mixed"]
    for variant, cols in HEADERS.items():
        assert len(cols) == EXPECTED_WIDTH[variant], variant
        assert len(set(cols)) == len(cols), f"duplicate column in {variant}"


def test_headers_match_reference_text() -> None:
    assert ",".join(HEADERS["v1"]) == V1
    assert ",".join(HEADERS["v2.0"]) == V2_0
    assert ",".join(HEADERS["v3.2.1"]) == V3_2_1
    assert ",".join(HEADERS["t3.2"]) == T3_2
    assert HEADERS["v2.0-sorted"] == sorted(V2_0.split(","))
    assert HEADERS["v2.2"] == [*V2_0.split(",")[:20], "codecarbon_version", *V2_0.split(",")[20:]]
    assert HEADERS["v2.2.3"] == [*HEADERS["v2.2"], "pue"]
    assert HEADERS["v2.7"][2:4] == ["run_id", "experiment_id"]
    assert HEADERS["v3.0.8"] == [
        *HEADERS["v2.7"][:14],
        "water_consumed",
        *HEADERS["v2.7"][14:],
        "wue",
    ]


def test_derived_headers() -> None:
    cloud = ["cloud_provider", "cloud_region"]
    gpu = ["gpu_count", "gpu_model"]
    v308, v321 = HEADERS["v3.0.8"], HEADERS["v3.2.1"]
    assert HEADERS["d-3.1.1"] == [c for c in v308 if c not in cloud] + cloud
    assert HEADERS["d-3.2.0-cpu"] == [c for c in v308 if c not in cloud + gpu] + cloud
    assert HEADERS["d-3.2.x-cpu"] == [c for c in v321 if c not in cloud + gpu] + cloud
    assert HEADERS["d-3.2.x-gpu"] == [c for c in v321 if c not in cloud] + cloud
    assert HEADERS["t2"] == ["task_name", *HEADERS["v2.2"]]
    assert HEADERS["t3.1"] == [
        c for c in HEADERS["t3.2"] if not c.endswith(("_percent", "_used_gb"))
    ]
    assert HEADERS["t3.2-cpu"] == [c for c in HEADERS["t3.2"] if c not in gpu]


def test_header_for() -> None:
    assert header_for("mixed") == HEADERS["v3.2.1"]
    header_for("v1").append("x")  # a copy: the table is not mutated
    assert len(HEADERS["v1"]) == 12
    with pytest.raises(ValueError, match="unknown variant"):
        header_for("v9")


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_writes_its_header(tmp_path: Path, variant: str) -> None:
    path = generate_csv(tmp_path, variant, rows=40, flush=2, gpu_share=0.5, cloud_share=0.5)
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    assert records[0] == header_for(variant)
    assert len(records) == 41
    assert all(len(r) == len(records[0]) for r in records)


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_are_physically_consistent(tmp_path: Path, variant: str) -> None:
    path = generate_csv(tmp_path, variant, rows=90, flush=3, gpu_share=0.5, cloud_share=0.5)
    header, rows = read_dicts(path)
    rate_factor = 1000.0 if variant in ("v2.0", "v2.0-sorted") else 1.0
    last = None
    for r in rows:
        ts = datetime.strptime(r["timestamp"], TS_FORMAT)
        assert last is None or ts >= last
        last = ts
        d = float(r["duration"])
        energy = float(r["energy_consumed"])
        emissions = float(r["emissions"])
        assert d > 0 and energy > 0
        assert 0.02 <= emissions / energy <= 0.8
        if "cpu_energy" not in header:  # v1: no power/energy split
            continue
        cpu, gpu, ram = (float(r[c]) for c in ENERGY_COLUMNS[:3])
        assert close(cpu + gpu + ram, energy)
        for part in ("cpu", "gpu", "ram"):
            power = float(r[f"{part}_power"])
            assert power >= 0
            assert close(power * d / 3.6e6, float(r[f"{part}_energy"]))
        assert close(float(r["emissions_rate"]), emissions * rate_factor / d)
        if r.get("water_consumed"):  # task files have water_consumed but no wue column
            assert float(r["water_consumed"]) == float(r.get("wue", 0.0)) * energy == 0.0
        if r.get("pue"):
            assert r["pue"] == "1.0"
        if r.get("cpu_utilization_percent"):
            for c in ("cpu_utilization_percent", "gpu_utilization_percent"):
                assert 0.0 <= float(r[c]) <= 100.0
            util = float(r["ram_utilization_percent"])
            assert 0.0 <= util <= 100.0
            assert close(float(r["ram_used_gb"]), float(r["ram_total_size"]) * util / 100)


def test_flush_rows_are_cumulative(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v2.7", rows=30, flush=3, gpu_share=0.5))
    runs: dict[str, list[dict[str, str]]] = defaultdict(list)
    order: list[str] = []
    for r in rows:
        if r["run_id"] not in runs:
            order.append(r["run_id"])
        runs[r["run_id"]].append(r)
    assert len(runs) == 10
    # the rows of a run are contiguous
    assert [r["run_id"] for r in rows] == [rid for rid in order for _ in range(3)]
    for run in runs.values():
        assert len(run) == 3
        for col in ("duration", "emissions", "energy_consumed", "cpu_energy", "ram_energy"):
            values = [float(r[col]) for r in run]
            assert values == sorted(values) and len(set(values)) == 3, col
        static = ("cpu_model", "gpu_model", "cpu_power", "os", "country_name", "on_cloud")
        assert all(r[c] == run[0][c] for r in run for c in static)
        stamps = [r["timestamp"] for r in run]
        assert stamps == sorted(stamps)


def test_flush_with_a_partial_last_run(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v3.2.1", rows=10, flush=3))
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["run_id"]] += 1
    assert sorted(counts.values()) == [1, 3, 3, 3]


def test_flush_one_gives_unique_uuid4_run_ids(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v2.2.3", rows=200))
    ids = [r["run_id"] for r in rows]
    assert len(set(ids)) == 200
    for rid in ids:
        u = uuid.UUID(rid)
        assert u.version == 4 and str(u) == rid


def test_uuid4_matches_the_uuid_module() -> None:
    a, b = random.Random(5), random.Random(5)
    for _ in range(100):
        assert generate._uuid4(a) == str(uuid.UUID(int=b.getrandbits(128), version=4))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    kwargs = {"seed": 42, "flush": 2, "gpu_share": 0.3, "cloud_share": 0.2}
    write_csv(a, 500, "mixed", **kwargs)  # type: ignore[arg-type]
    write_csv(b, 500, "mixed", **kwargs)  # type: ignore[arg-type]
    write_csv(c, 500, "mixed", **{**kwargs, "seed": 43})  # type: ignore[arg-type]
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert list(iter_rows("t2", 20, seed=1)) == list(iter_rows("t2", 20, seed=1))


def test_write_to_an_open_file_equals_write_to_a_path(tmp_path: Path) -> None:
    buf = io.StringIO(newline="")
    write_csv(buf, 50, "v3.0.8", seed=3)
    path = generate_csv(tmp_path, "v3.0.8", rows=50, seed=3)
    assert buf.getvalue() == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("variant", sorted(TASK_VARIANTS))
def test_task_files_share_one_run_id(tmp_path: Path, variant: str) -> None:
    header, rows = read_dicts(generate_csv(tmp_path, variant, rows=40, flush=3))
    assert header[0] == "task_name"
    assert "experiment_id" not in header and "pue" not in header and "wue" not in header
    assert len({r["run_id"] for r in rows}) == 1
    names = [r["task_name"] for r in rows]
    assert len(set(names)) == len(names)
    assert names[:3] == ["load_data", "preprocess", "train"]
    # delta rows: durations are independent, not cumulative
    durations = [float(r["duration"]) for r in rows]
    assert durations != sorted(durations)


def test_mixed_versions(tmp_path: Path) -> None:
    header, rows = read_dicts(generate_csv(tmp_path, "mixed", rows=120, flush=2))
    assert header == HEADERS["v3.2.1"]
    versions = [r["codecarbon_version"] for r in rows]
    assert versions == sorted(versions, key=vtuple)
    assert {v[:3] for v in versions} >= {"2.7", "2.8", "3.0", "3.1", "3.2"}
    for r in rows:
        v = vtuple(r["codecarbon_version"])
        assert v >= (2, 7, 0)
        assert (r["water_consumed"] != "") == (v >= (3, 0, 8)) == (r["wue"] != "")
        assert (r["cpu_utilization_percent"] != "") == (v >= (3, 2, 1))
        assert r["experiment_id"] == generate.DEFAULT_EXPERIMENT_ID


VERSION_RANGES = {
    "v2.2": ((2, 2, 0), (2, 2, 2)),
    "v2.2.3": ((2, 2, 3), (2, 6, 99)),
    "v2.7": ((2, 7, 0), (3, 0, 7)),
    "v3.0.8": ((3, 0, 8), (3, 2, 0)),
    "v3.2.1": ((3, 2, 1), (3, 9, 99)),
    "d-3.1.1": ((3, 1, 1), (3, 2, 0)),
    "d-3.2.0-cpu": ((3, 2, 0), (3, 2, 0)),
    "d-3.2.x-cpu": ((3, 2, 1), (3, 2, 3)),
    "d-3.2.x-gpu": ((3, 2, 1), (3, 2, 3)),
    "t2": ((2, 3, 0), (3, 0, 7)),
    "t3.1": ((3, 0, 8), (3, 1, 99)),
    "t3.2": ((3, 2, 0), (3, 9, 99)),
    "t3.2-cpu": ((3, 2, 0), (3, 9, 99)),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_version_matches_variant(tmp_path: Path, variant: str) -> None:
    for seed in range(4):
        header, rows = read_dicts(generate_csv(tmp_path, variant, rows=5, seed=seed))
        if variant in ("v1", "v2.0", "v2.0-sorted"):
            assert "codecarbon_version" not in header
            continue
        if variant == "mixed":
            continue
        low, high = VERSION_RANGES[variant]
        assert all(low <= vtuple(r["codecarbon_version"]) <= high for r in rows)


def test_gpu_and_cpu_rows(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v3.2.1", rows=400, gpu_share=0.5))
    gpu_rows = [r for r in rows if r["gpu_model"]]
    cpu_rows = [r for r in rows if not r["gpu_model"]]
    assert 100 < len(gpu_rows) < 300
    for r in gpu_rows:
        m = re.fullmatch(r"(\d) x \S.*", r["gpu_model"])
        assert m and r["gpu_count"] == m.group(1) and 1 <= int(m.group(1)) <= 8
        assert float(r["gpu_power"]) > 0 and float(r["gpu_energy"]) > 0
    for r in cpu_rows:
        assert r["gpu_count"] == "0"
        assert r["gpu_power"] == r["gpu_energy"] == r["gpu_utilization_percent"] == "0.0"
    models = {r["cpu_model"] for r in rows}
    for word in ("Xeon", "EPYC", "Ryzen", "Apple M2", "Core(TM) i7"):
        assert any(word in m for m in models), word


def test_gpu_share_extremes_and_cpu_only_variants(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v2.2.3", rows=100, gpu_share=1.0))
    assert all(r["gpu_model"] and int(r["gpu_count"]) >= 1 for r in rows)
    _, rows = read_dicts(generate_csv(tmp_path, "v2.2.3", rows=100, gpu_share=0.0))
    assert not any(r["gpu_model"] for r in rows)
    for variant in ("d-3.2.0-cpu", "d-3.2.x-cpu", "t3.2-cpu"):
        _, rows = read_dicts(generate_csv(tmp_path, variant, rows=50, gpu_share=1.0))
        assert all(r["gpu_power"] == "0.0" for r in rows), variant


def test_cloud_rows(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v2.7", rows=200, cloud_share=1.0))
    assert all(r["on_cloud"] == "Y" for r in rows)
    assert {r["cloud_provider"] for r in rows} == {"aws", "gcp", "azure"}
    assert all(re.fullmatch(r"[a-z][a-z0-9-]+", r["cloud_region"]) for r in rows)
    _, rows = read_dicts(generate_csv(tmp_path, "v2.7", rows=200, cloud_share=0.0))
    assert all(
        r["on_cloud"] == "N" and r["cloud_provider"] == r["cloud_region"] == "" for r in rows
    )
    assert all(re.fullmatch(r"[A-Z]{3}", r["country_iso_code"]) for r in rows)
    # the derived d-* variants only exist because the cloud columns were all empty
    _, rows = read_dicts(generate_csv(tmp_path, "d-3.2.x-gpu", rows=50, cloud_share=1.0))
    assert all(r["on_cloud"] == "N" and r["cloud_provider"] == "" for r in rows)


def test_float_counts(tmp_path: Path) -> None:
    _, rows = read_dicts(generate_csv(tmp_path, "v2.7", rows=50, float_counts=True))
    assert all(re.fullmatch(r"\d+\.0", r[c]) for r in rows for c in ("cpu_count", "gpu_count"))
    _, rows = read_dicts(generate_csv(tmp_path, "v2.7", rows=50))
    assert all(r["cpu_count"].isdigit() and r["gpu_count"].isdigit() for r in rows)


def test_line_endings(tmp_path: Path) -> None:
    assert generate_csv(tmp_path, "v1", rows=3).read_bytes().count(b"\r\n") == 4
    assert b"\r" not in generate_csv(tmp_path, "v2.7", rows=3).read_bytes()
    assert generate_csv(tmp_path, "v2.7", rows=3, crlf=True).read_bytes().count(b"\r\n") == 4


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(iter_rows("v3.2.1", 1, flush=0))
    with pytest.raises(ValueError):
        list(iter_rows("v3.2.1", -1))
    with pytest.raises(ValueError):
        list(iter_rows("v3.2.1", 1, gpu_share=1.5))


def test_zero_rows_writes_the_header(tmp_path: Path) -> None:
    path = generate_csv(tmp_path, "v2.0", rows=0)
    assert path.read_text(encoding="utf-8") == V2_0 + "\n"


def test_cli_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "big.csv"
    argv = ["--rows", "25", "--variant", "t3.1", "--out", str(out), "--seed", "9"]
    assert generate.main([*argv, "--gpu-share", "1", "--float-counts"]) == 0
    header, rows = read_dicts(out)
    assert header == HEADERS["t3.1"] and len(rows) == 25
    assert "25 rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate.main(["--rows", "5", "--variant", "v9", "--out", str(out)])
    with pytest.raises(SystemExit):
        generate.main(["--rows", "5", "--gpu-share", "2", "--out", str(out)])


def test_cli_script(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    cmd = [sys.executable, str(ROOT / "bench" / "generate.py"), "--rows", "30", "--variant",
           "v2.2", "--out", str(out), "--flush", "3", "--cloud-share", "0.5"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    header, rows = read_dicts(out)
    assert header == HEADERS["v2.2"] and len({r["run_id"] for r in rows}) == 10


# --------------------------------------------------------------------------- fixtures

#: fixture -> expected header (a HEADERS id, or the literal column list)
FIXTURE_HEADERS: dict[str, str | list[str]] = {
    "v1.csv": "v1",
    "v2.0.csv": "v2.0",
    "v2.0-sorted.csv": "v2.0-sorted",
    "v2.2.csv": "v2.2",
    "v2.2.3.csv": "v2.2.3",
    "v2.7.csv": "v2.7",
    "v3.0.8.csv": "v3.0.8",
    "v3.2.1.csv": "v3.2.1",
    "d-3.1.1.bak.csv": "d-3.1.1",
    "d-3.2.0-cpu.csv": "d-3.2.0-cpu",
    "d-3.2.x-cpu.csv": "d-3.2.x-cpu",
    "padded.csv": "v3.2.1",
    "cloud.csv": "v3.2.1",
    "mixed-versions.csv": "v2.7",
    "run-id-none.csv": "v2.7",
    "extra-columns.csv": [*HEADERS["v2.2.3"], "algorithm", "dataset", "language", "phase"],
    "bom-crlf.csv": "v2.7",
    "emissions_base_0cc2961d-04a4-4417-999f-c4d03f601a26.csv": "t2",
    "emissions_exp_11111111-2222-4333-8444-555555555555.csv": "t3.2",
    "tracker.csv": TRACKER.split(","),
    "header-only.csv": "v3.2.1",
}
MALFORMED = {"empty.csv", "not-codecarbon.csv", "misaligned.csv", "truncated.csv"}


def test_fixture_set_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.csv")}
    assert names == set(FIXTURE_HEADERS) | MALFORMED
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", sorted(FIXTURE_HEADERS))
def test_fixture_parses_to_full_rows(name: str) -> None:
    with open(FIXTURES / name, newline="", encoding="utf-8-sig") as f:
        records = list(csv.reader(f))
    header = records[0]
    assert all(len(r) == len(header) for r in records[1:]), name
    expected = FIXTURE_HEADERS[name]
    assert [h.strip() for h in header] == (
        HEADERS[expected] if isinstance(expected, str) else expected
    )
    assert (len(records) == 1) == (name == "header-only.csv")


def _kw(value: str) -> float:
    """BoAmps_Carbon tracker cells look like ``Power(kW=0.0425)``."""
    m = re.fullmatch(r"Power\(kW=(.*)\)", value)
    return float(m.group(1)) if m else float(value)


@pytest.mark.parametrize("name", sorted(set(FIXTURE_HEADERS) - {"header-only.csv"}))
def test_fixture_values_are_consistent(name: str) -> None:
    header, rows = read_dicts(FIXTURES / name)
    grams = "emissions_rate" in header and "codecarbon_version" not in header  # 2.0/2.1
    tracker = name == "tracker.csv"
    for r in rows:
        d, energy, emissions = (float(r[c]) for c in ("duration", "energy_consumed", "emissions"))
        if d == 0:
            assert energy == emissions == 0.0 and r["emissions_rate"] == ""
            continue
        assert 0.02 <= emissions / energy <= 0.8, name
        if "cpu_energy" not in header:
            continue
        parts = [_kw(r[c]) for c in ENERGY_COLUMNS[:3]]
        assert close(sum(parts), energy), name
        for part, value in zip(("cpu", "gpu", "ram"), parts, strict=True):
            power_w = _kw(r[f"{part}_power"]) * (1000.0 if tracker else 1.0)
            assert close(power_w * d / 3.6e6, value, rel=1e-9), (name, part)
        rate = float(r["emissions_rate"])
        assert close(rate, emissions * (1000.0 if grams else 1.0) / d, rel=1e-12), name
        if r.get("wue", "") != "":
            assert close(float(r["water_consumed"]), float(r["wue"]) * energy)


def test_fixture_shapes() -> None:
    raw = (FIXTURES / "v1.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") == 4
    bom = (FIXTURES / "bom-crlf.csv").read_bytes()
    assert bom.startswith(b"\xef\xbb\xbftimestamp,") and b'"train, eval"' in bom
    assert b'"line one\nline two"' in bom and bom.endswith(b"\r\n")
    assert (FIXTURES / "empty.csv").stat().st_size == 0

    _, rows = read_dicts(FIXTURES / "v2.0.csv")
    assert rows[1]["gpu_model"] == "1 x Tesla T4"
    _, rows = read_dicts(FIXTURES / "v2.2.3.csv")
    assert [r["run_id"] for r in rows].count(rows[0]["run_id"]) == 3
    durations = [float(r["duration"]) for r in rows[:3]]
    assert durations == sorted(durations) and rows[3]["run_id"] != rows[0]["run_id"]
    _, rows = read_dicts(FIXTURES / "v2.7.csv")
    assert {r["cpu_count"] for r in rows} == {"8.0"} and {r["gpu_count"] for r in rows} == {"1.0"}
    _, rows = read_dicts(FIXTURES / "d-3.1.1.bak.csv")
    assert len({r["run_id"] for r in rows}) == 1 < len(rows)
    _, rows = read_dicts(FIXTURES / "mixed-versions.csv")
    assert {r["codecarbon_version"] for r in rows} == {"2.8.3", "3.0.7"}
    _, rows = read_dicts(FIXTURES / "run-id-none.csv")
    assert [r["run_id"] for r in rows][:2] == ["None", ""]
    _, rows = read_dicts(FIXTURES / "cloud.csv")
    assert {(r["on_cloud"], r["cloud_provider"]) for r in rows} >= {("Y", "aws"), ("Y", "gcp")}
    assert any(r["on_cloud"] == "N" and r["cloud_provider"] for r in rows)
    for task_file in FIXTURES.glob("emissions_*_*.csv"):
        _, rows = read_dicts(task_file)
        assert {r["run_id"] for r in rows} == {task_file.stem.rsplit("_", 1)[1]}
    padded = (FIXTURES / "padded.csv").read_text(encoding="utf-8").splitlines()
    assert all(cell != cell.strip() for line in padded for cell in line.split(","))
    assert re.search(r", 3\.2\.3 +,", padded[1])


def test_malformed_fixtures_are_malformed() -> None:
    with open(FIXTURES / "misaligned.csv", newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    widths = [len(r) for r in records]
    assert widths[0] == 34 and widths[3] < 34 < widths[4]
    assert widths[1] == widths[2] == widths[5] == 34
    text = (FIXTURES / "truncated.csv").read_text(encoding="utf-8")
    assert not text.endswith("\n")
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert len(records[-1]) < len(records[0]) == 31
    header = (FIXTURES / "not-codecarbon.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "run_id" not in header and "power_consumption(kWh)" in header
