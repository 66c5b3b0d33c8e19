"""Shared fixtures: fixture paths, the optional ../shared material, a complete context."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed, so a run is reproducible; locally each run
# explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CODECARBON = FIXTURES / "codecarbon"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "public"
REFERENCE = SHARED / "reference" / "boamps"

#: A context that makes a CodeCarbon row a complete (schema-valid) report.
TASK_CONTEXT: dict[str, Any] = {
    "header": {"publisher": {"name": "Test Lab", "confidentialityLevel": "public"}},
    "task": {
        "taskStage": "training",
        "taskFamily": "text classification",
        "algorithms": [{"algorithmType": "llm", "foundationModelName": "tiny-llm"}],
        "dataset": [{"dataUsage": "input", "dataType": "text"}],
    },
}

V321_HEADER = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,"
    "gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,"
    "country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,"
    "codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,"
    "ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue"
)


def v321_row(**overrides: str) -> str:
    """One CodeCarbon 3.2.x row (GPU machine in France) with some cells replaced."""
    values = {
        "timestamp": "2025-12-01T10:00:30", "project_name": "demo",
        "run_id": "11111111-1111-4111-8111-111111111111",
        "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1", "duration": "30.5",
        "emissions": "2.5e-05", "emissions_rate": "8.19672131147541e-07", "cpu_power": "42.5",
        "gpu_power": "250.0", "ram_power": "10.0", "cpu_energy": "0.00036",
        "gpu_energy": "0.0021", "ram_energy": "8.5e-05", "energy_consumed": "0.002545",
        "water_consumed": "0.0", "country_name": "France", "country_iso_code": "FRA",
        "region": "ile-de-france", "cloud_provider": "", "cloud_region": "",
        "os": "Linux-5.15.0-116-generic-x86_64-with-glibc2.35", "python_version": "3.10.12",
        "codecarbon_version": "3.2.6", "cpu_count": "16",
        "cpu_model": "Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz", "gpu_count": "2",
        "gpu_model": "2 x Tesla V100S-PCIE-32GB", "longitude": "2.3387", "latitude": "48.8582",
        "ram_total_size": "86.3035888671875", "tracking_mode": "machine",
        "cpu_utilization_percent": "45.3", "gpu_utilization_percent": "87.0",
        "ram_utilization_percent": "12.5", "ram_used_gb": "10.8", "on_cloud": "N",
        "pue": "1.0", "wue": "0.0",
    }
    values.update(overrides)
    return ",".join(values[c] for c in V321_HEADER.split(","))


def write_csv(path: Path, *rows: str, header: str = V321_HEADER) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fixture() -> Any:
    def get(name: str) -> Path:
        path = CODECARBON / name
        assert path.exists(), f"missing fixture {path}"
        return path
    return get


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not present")


#: The engine's threshold as the code sets it (the tests below lower it).
from boamps_etl.engine import scan as _scan  # noqa: E402

ENGINE_MIN_BYTES = _scan.ENGINE_MIN_BYTES


@pytest.fixture(autouse=True)
def engine_for_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The column-wise engine takes clean files of any size in the tests (by default a file
    under ``ENGINE_MIN_BYTES`` takes the reference, which is faster for a few rows): the
    fixtures are small, and the differential tests compare both paths on them."""
    monkeypatch.setattr(_scan, "ENGINE_MIN_BYTES", 0)
