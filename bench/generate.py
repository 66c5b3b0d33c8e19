"""Generate realistic synthetic CodeCarbon ``emissions.csv`` files.

Every header variant of the reference table (``shared/reference/codecarbon-csv.md``)
is known by a lower-case id in :data:`HEADERS`; the extra variant ``mixed`` writes the
v3.2.1 header with rows from several CodeCarbon versions (2.7.x, 2.8.x, 3.x).

Values are physically consistent:

* ``*_energy`` (kWh) = ``*_power`` (W) x ``duration`` (s) / 3.6e6,
* ``energy_consumed`` = ``cpu_energy + gpu_energy + ram_energy`` (pue is 1.0),
* ``emissions`` (kg CO2eq) = ``energy_consumed`` x grid intensity (0.02-0.8 kg/kWh),
* ``emissions_rate`` = ``emissions / duration`` in kg/s (g/s, i.e. x1000, for the
  2.0/2.1 variants ``v2.0`` and ``v2.0-sorted``),
* ``water_consumed`` = ``wue`` x ``energy_consumed`` (wue is 0.0).

``flush=K`` writes K cumulative rows per run_id (increasing duration, energy and
emissions; the last row is the run's total), as ``EmissionsTracker.flush()`` does.
Task variants (``t*``) write one row per task with per-task delta values and a single
run_id shared by the whole file; ``flush`` is ignored for them and for ``v1`` (1.x has
neither run_id nor flush).

Runs draw their machine (CPU, GPU, RAM, OS, country or cloud region) from a pool of
``pool_size`` machines per (GPU, cloud) kind, pre-rendered once, so that per row only
the changing floats are formatted. Only the standard library is used: a million rows take
about 10-25 s on a 2-core machine (the time goes into ``repr`` of floats and csv.writer).

Usage::

    python bench/generate.py --rows 100000 --variant v3.2.1 --out data/big.csv \\
        [--seed N] [--gpu-share 0.3] [--cloud-share 0.2] [--flush 3] [--float-counts]

    from bench.generate import write_csv, HEADERS
    write_csv("emissions.csv", rows=1000, variant="v2.7", seed=1, flush=3)
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "HEADERS",
    "TASK_VARIANTS",
    "VARIANTS",
    "header_for",
    "iter_rows",
    "main",
    "write_csv",
]

# --------------------------------------------------------------------------- headers


def _insert_after(cols: Sequence[str], anchor: str, new: Sequence[str]) -> list[str]:
    i = list(cols).index(anchor) + 1
    return [*cols[:i], *new, *cols[i:]]


def _insert_before(cols: Sequence[str], anchor: str, new: Sequence[str]) -> list[str]:
    i = list(cols).index(anchor)
    return [*cols[:i], *new, *cols[i:]]


def _without(cols: Sequence[str], names: Sequence[str]) -> list[str]:
    return [c for c in cols if c not in names]


def _to_end(cols: Sequence[str], names: Sequence[str]) -> list[str]:
    return [*_without(cols, names), *names]


_CLOUD = ("cloud_provider", "cloud_region")
_GPU = ("gpu_count", "gpu_model")
_UTIL = (
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
)

_V1 = [
    "timestamp",
    "experiment_id",
    "project_name",
    "duration",
    "emissions",
    "energy_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "on_cloud",
    "cloud_provider",
    "cloud_region",
]
_V2_0 = [
    "timestamp",
    "project_name",
    "run_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "on_cloud",
]
_V2_2 = _insert_after(_V2_0, "python_version", ["codecarbon_version"])
_V2_2_3 = [*_V2_2, "pue"]
_V2_7 = _insert_after(_V2_2_3, "run_id", ["experiment_id"])
_V3_0_8 = [*_insert_after(_V2_7, "energy_consumed", ["water_consumed"]), "wue"]
_V3_2_1 = _insert_after(_V3_0_8, "tracking_mode", _UTIL)
_T2 = ["task_name", *_V2_2]
_T3_1 = _insert_after(_T2, "energy_consumed", ["water_consumed"])
_T3_2 = _insert_before(_T3_1, "on_cloud", _UTIL)

#: Exact column order of every header variant of the reference table, by lower-case id.
HEADERS: dict[str, list[str]] = {
    "v1": list(_V1),
    "v2.0": list(_V2_0),
    "v2.0-sorted": sorted(_V2_0),
    "v2.2": _V2_2,
    "v2.2.3": _V2_2_3,
    "v2.7": _V2_7,
    "v3.0.8": _V3_0_8,
    "v3.2.1": _V3_2_1,
    "d-3.1.1": _to_end(_V3_0_8, _CLOUD),
    "d-3.2.0-cpu": _to_end(_without(_V3_0_8, _GPU), _CLOUD),
    "d-3.2.x-cpu": _to_end(_without(_V3_2_1, _GPU), _CLOUD),
    "d-3.2.x-gpu": _to_end(_V3_2_1, _CLOUD),
    "t2": _T2,
    "t3.1": _T3_1,
    "t3.2": _T3_2,
    "t3.2-cpu": _without(_T3_2, _GPU),
}

#: Every variant :func:`write_csv` accepts: the header ids plus ``mixed``.
VARIANTS: tuple[str, ...] = (*HEADERS, "mixed")
TASK_VARIANTS = frozenset({"t2", "t3.1", "t3.2", "t3.2-cpu"})
#: experiment_id that CodeCarbon >= 2.7 writes unless the user sets one.
DEFAULT_EXPERIMENT_ID = "5b0fa12a-3dd7-45bb-9766-cc326314d9f1"


def header_for(variant: str) -> list[str]:
    """Return the column list written for *variant* (``mixed`` -> the v3.2.1 header)."""
    if variant == "mixed":
        return list(HEADERS["v3.2.1"])
    try:
        return list(HEADERS[variant])
    except KeyError:
        raise ValueError(
            f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        ) from None


# --------------------------------------------------------------------------- vocabularies

# codecarbon_version values seen in real data, per variant (empty: no version column).
_VERSIONS: dict[str, tuple[str, ...]] = {
    "v1": (),
    "v2.0": (),
    "v2.0-sorted": (),
    "v2.2": ("2.2.0", "2.2.1", "2.2.2"),
    "v2.2.3": (
        "2.2.3",
        "2.2.5",
        "2.2.7",
        "2.3.0",
        "2.3.1",
        "2.3.2",
        "2.3.4",
        "2.3.5",
        "2.4.2",
        "2.5.0",
        "2.5.1",
        "2.6.0",
    ),
    "v2.7": (
        "2.7.0",
        "2.7.1",
        "2.7.2",
        "2.7.4",
        "2.8.1",
        "2.8.2",
        "2.8.3",
        "2.8.4",
        "3.0.0",
        "3.0.1",
        "3.0.2",
        "3.0.4",
        "3.0.5",
        "3.0.6",
        "3.0.7",
    ),
    "v3.0.8": ("3.0.8", "3.1.0", "3.1.1", "3.2.0"),
    "v3.2.1": ("3.2.1", "3.2.2", "3.2.3", "3.2.6", "3.2.7", "3.2.8"),
    "d-3.1.1": ("3.1.1", "3.2.0"),
    "d-3.2.0-cpu": ("3.2.0",),
    "d-3.2.x-cpu": ("3.2.1", "3.2.2", "3.2.3"),
    "d-3.2.x-gpu": ("3.2.1", "3.2.2", "3.2.3"),
    "t2": ("2.3.5", "2.5.0", "2.8.2", "2.8.3"),
    "t3.1": ("3.0.8", "3.1.0", "3.1.1"),
    "t3.2": ("3.2.1", "3.2.3", "3.2.8"),
    "t3.2-cpu": ("3.2.3",),
    # ascending, as a user upgrading CodeCarbon between runs would produce
    "mixed": ("2.7.1", "2.8.3", "3.0.7", "3.1.1", "3.2.3", "3.2.8"),
}

# First timestamp per variant (roughly the release era of the versions).
_START: dict[str, datetime] = {
    "v1": datetime(2021, 6, 1, 9, 0, 0),
    "v2.0": datetime(2021, 11, 2, 9, 0, 0),
    "v2.0-sorted": datetime(2022, 3, 1, 9, 0, 0),
    "v2.2": datetime(2022, 11, 7, 9, 0, 0),
    "v2.2.3": datetime(2023, 6, 5, 9, 0, 0),
    "v2.7": datetime(2024, 9, 2, 9, 0, 0),
    "v3.0.8": datetime(2025, 10, 27, 9, 0, 0),
    "v3.2.1": datetime(2025, 12, 1, 9, 0, 0),
    "d-3.1.1": datetime(2025, 11, 24, 9, 0, 0),
    "d-3.2.0-cpu": datetime(2025, 11, 26, 9, 0, 0),
    "d-3.2.x-cpu": datetime(2025, 12, 8, 9, 0, 0),
    "d-3.2.x-gpu": datetime(2025, 12, 8, 9, 0, 0),
    "t2": datetime(2023, 2, 6, 9, 0, 0),
    "t3.1": datetime(2025, 11, 3, 9, 0, 0),
    "t3.2": datetime(2026, 1, 12, 9, 0, 0),
    "t3.2-cpu": datetime(2026, 1, 12, 9, 0, 0),
    "mixed": datetime(2024, 7, 1, 9, 0, 0),
}

# (cpu_model, cpu_count choices, TDP in W, kind); kind picks the OS family and
# whether the machine can be a cloud VM or carry a GPU.
_CPUS: tuple[tuple[str, tuple[int, ...], float, str], ...] = (
    ("Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz", (32, 64), 150.0, "server"),
    ("Intel(R) Xeon(R) CPU @ 2.20GHz", (2, 4, 8, 12), 85.0, "server"),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", (8, 16, 32, 64), 300.0, "server"),
    ("Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz", (20, 40), 100.0, "server"),
    ("AMD EPYC 7702 64-Core Processor", (128, 256), 200.0, "server"),
    ("AMD EPYC 7B12", (4, 8, 16, 32), 240.0, "server"),
    ("AMD EPYC 9654 96-Core Processor", (192, 384), 360.0, "server"),
    ("AMD Ryzen 9 5900X 12-Core Processor", (24,), 105.0, "desktop"),
    ("AMD Ryzen 7 5825U with Radeon Graphics", (16,), 15.0, "laptop"),
    ("Intel(R) Core(TM) i7-7700K CPU @ 4.20GHz", (8,), 91.0, "desktop"),
    ("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", (8,), 15.0, "laptop"),
    ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", (8,), 28.0, "laptop"),
    ("13th Gen Intel(R) Core(TM) i7-13700H", (20,), 45.0, "laptop"),
    ("Apple M2", (8,), 20.0, "mac"),
    ("Apple M2 Pro", (10, 12), 30.0, "mac"),
)
_SERVER_CPUS = tuple(c for c in _CPUS if c[3] == "server")
_GPU_HOST_CPUS = tuple(c for c in _CPUS if c[3] != "mac")

# (name, per-GPU TDP in W, count choices, kind) - datacentre GPUs go in servers only.
_GPUS: tuple[tuple[str, float, tuple[int, ...], str], ...] = (
    ("Tesla V100S-PCIE-32GB", 250.0, (1, 2, 4), "dc"),
    ("NVIDIA A100-SXM4-80GB", 400.0, (1, 2, 4, 8), "dc"),
    ("NVIDIA A100-SXM4-40GB", 400.0, (1, 8), "dc"),
    ("Tesla T4", 70.0, (1, 2, 4), "dc"),
    ("NVIDIA H100 80GB HBM3", 700.0, (1, 4, 8), "dc"),
    ("NVIDIA L4", 72.0, (1, 2), "dc"),
    ("NVIDIA GeForce RTX 3090", 350.0, (1, 2), "consumer"),
    ("NVIDIA GeForce RTX 3060", 170.0, (1,), "consumer"),
    ("NVIDIA GeForce RTX 4090", 450.0, (1,), "consumer"),
    ("NVIDIA GeForce RTX 3050 Ti Laptop GPU", 60.0, (1,), "consumer"),
)
_DC_GPUS = tuple(g for g in _GPUS if g[3] == "dc")
_CONSUMER_GPUS = tuple(g for g in _GPUS if g[3] == "consumer")

_OS: dict[str, tuple[str, ...]] = {
    "server": (
        "Linux-5.15.0-116-generic-x86_64-with-glibc2.35",
        "Linux-5.4.0-182-generic-x86_64-with-glibc2.31",
        "Linux-6.8.0-45-generic-x86_64-with-glibc2.39",
        "Linux-4.18.0-513.24.1.el8_9.x86_64-x86_64-with-glibc2.28",
    ),
    "desktop": (
        "Linux-6.5.0-41-generic-x86_64-with-glibc2.35",
        "Windows-10-10.0.19045-SP0",
        "Windows-11-10.0.22631-SP0",
    ),
    "laptop": (
        "Windows-10-10.0.19045-SP0",
        "Windows-11-10.0.26100-SP0",
        "Linux-6.11.0-13-generic-x86_64-with-glibc2.40",
    ),
    "mac": (
        "macOS-14.2.1-arm64-arm-64bit",
        "macOS-13.6.3-arm64-arm-64bit",
        "macOS-15.1-arm64-arm-64bit",
    ),
    "aws": (
        "Linux-6.8.0-1015-aws-x86_64-with-glibc2.39",
        "Linux-5.10.220-209.869.amzn2.x86_64-x86_64-with-glibc2.26",
    ),
    "gcp": ("Linux-5.15.0-1054-gcp-x86_64-with-glibc2.31", "Linux-6.1.85+-x86_64-with-glibc2.35"),
    "azure": ("Linux-5.15.0-1064-azure-x86_64-with-glibc2.35",),
}

_PYTHONS = ("3.8.10", "3.9.19", "3.10.12", "3.11.9", "3.12.3", "3.13.5")

# (country_name, ISO3, region, longitude, latitude, grid intensity kg CO2eq/kWh)
_COUNTRIES: tuple[tuple[str, str, str, float, float, float], ...] = (
    ("France", "FRA", "île-de-france", 2.3387, 48.8582, 0.0569),
    ("France", "FRA", "occitanie", 1.4451, 43.6046, 0.0569),
    ("Germany", "DEU", "bavaria", 11.5755, 48.1374, 0.3809),
    ("United States", "USA", "california", -122.4194, 37.7749, 0.2384),
    ("United States", "USA", "massachusetts", -71.1245, 42.3399, 0.3542),
    ("United States", "USA", "texas", -97.7431, 30.2672, 0.4112),
    ("Canada", "CAN", "quebec", -71.2, 46.8, 0.0209),
    ("Canada", "CAN", "ontario", -79.3832, 43.6532, 0.0339),
    ("United Kingdom", "GBR", "england", -0.1276, 51.5072, 0.2331),
    ("Switzerland", "CHE", "zurich", 8.5933, 47.4143, 0.0326),
    ("Denmark", "DNK", "capital region", 12.5683, 55.6761, 0.1427),
    ("India", "IND", "tamil nadu", 80.2707, 13.0827, 0.7135),
    ("Brazil", "BRA", "minas gerais", -43.9572, -19.9029, 0.0985),
    ("Japan", "JPN", "tokyo", 139.6917, 35.6895, 0.4651),
    ("Australia", "AUS", "new south wales", 151.2093, -33.8688, 0.6581),
    ("Poland", "POL", "masovia", 21.0122, 52.2297, 0.7503),
    ("Italy", "ITA", "tuscany", 11.2356, 43.7891, 0.3321),
)

# (provider, cloud_region, country_name, ISO3, region, grid intensity kg CO2eq/kWh)
_CLOUD_REGIONS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("aws", "us-east-1", "USA", "USA", "Virginia", 0.3795),
    ("aws", "us-west-2", "USA", "USA", "Oregon", 0.1421),
    ("aws", "eu-west-3", "France", "FRA", "Paris", 0.0569),
    ("aws", "eu-central-1", "Germany", "DEU", "Frankfurt", 0.3809),
    ("gcp", "us-central1", "USA", "USA", "Iowa", 0.4540),
    ("gcp", "europe-west1", "Belgium", "BEL", "St. Ghislain", 0.1670),
    ("gcp", "asia-northeast1", "Japan", "JPN", "Tokyo", 0.4651),
    ("azure", "westeurope", "Netherlands", "NLD", "North Holland", 0.3282),
    ("azure", "eastus", "USA", "USA", "Virginia", 0.3795),
    ("azure", "canadacentral", "Canada", "CAN", "Toronto", 0.0339),
)

_PROJECTS = (
    "codecarbon",
    "codecarbon",
    "llama2_emissions",
    "bert-finetune",
    "resnet50-train",
    "inference-bench",
    "xgboost_evaluation",
    "my_project",
)
_TASKS = ("load_data", "preprocess", "train", "evaluate", "predict", "save_model")

_KWH_PER_WS = 1.0 / 3.6e6  # 1 W x 1 s = 1/3.6e6 kWh


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(rng: random.Random) -> str:
    """Random (version 4) UUID drawn from *rng*; equals ``uuid.UUID(int=..., version=4)``."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ram_gb(rng: random.Random, kind: str) -> float:
    """Total RAM as CodeCarbon reports it: bytes / 1024**3, so rarely a round number."""
    gib = rng.choice(
        {
            "server": (64, 128, 256, 512, 1024),
            "desktop": (16, 32, 64),
            "laptop": (8, 16, 32),
            "mac": (8, 16, 32),
        }[kind]
    )
    return (gib * 1024 * 1024 - rng.randrange(150_000, 1_500_000)) / (1024 * 1024)


def _machine(rng: random.Random, *, gpu: bool, cloud: bool, count: Any) -> dict[str, Any]:
    """Static columns of one machine; keys starting with ``_`` are model parameters."""
    if cloud:
        cpu = rng.choice(_SERVER_CPUS)
    elif gpu:
        cpu = rng.choice(_GPU_HOST_CPUS)
    else:
        cpu = rng.choice(_CPUS)
    cpu_model, counts, tdp, kind = cpu
    m: dict[str, Any] = {
        "cpu_model": cpu_model,
        "cpu_count": count(rng.choice(counts)),
        "tracking_mode": "machine" if rng.random() < 0.85 else "process",
        "python_version": rng.choice(_PYTHONS),
    }
    ram = _ram_gb(rng, "server" if cloud else kind)
    m["ram_total_size"] = ram
    # RAPL-like measured power, or the constant TDP/2 fallback CodeCarbon often reports
    m["_cpu_w"] = tdp / 2 if rng.random() < 0.4 else tdp * rng.uniform(0.15, 0.9)
    m["_ram_w_old"] = ram * 3 / 8  # 3 W per 8 GB (CodeCarbon < 3.1)
    m["_ram_w_new"] = 10.0 if ram < 24 else 20.0 if ram < 100 else 38.0
    if gpu:
        pool = _DC_GPUS if kind == "server" or cloud else _CONSUMER_GPUS
        name, gtdp, gcounts, _ = rng.choice(pool)
        n = rng.choice(gcounts)
        m["gpu_count"] = count(n)
        m["gpu_model"] = f"{n} x {name}"
        m["_gpu_w"] = n * gtdp * rng.uniform(0.2, 0.95)
    else:
        m["gpu_count"] = count(0)
        m["gpu_model"] = ""
        m["_gpu_w"] = 0.0
    if cloud:
        provider, cregion, cname, iso, region, intensity = rng.choice(_CLOUD_REGIONS)
        m.update(
            on_cloud="Y",
            cloud_provider=provider,
            cloud_region=cregion,
            country_name=cname,
            country_iso_code=iso,
            region=region,
            longitude="",
            latitude="",
            os=rng.choice(_OS[provider]),
        )
    else:
        cname, iso, region, lon, lat, intensity = rng.choice(_COUNTRIES)
        m.update(
            on_cloud="N",
            cloud_provider="",
            cloud_region="",
            country_name=cname,
            country_iso_code=iso,
            region=region,
            longitude=lon,
            latitude=lat,
            os=rng.choice(_OS[kind]),
        )
    m["_intensity"] = intensity
    return m


_LOG_005, _LOG_900, _LOG_14400 = math.log(0.05), math.log(900.0), math.log(14400.0)


def _duration(rng: random.Random) -> float:
    """Run length in s: mostly short scripts, a long tail of training jobs."""
    if rng.random() < 0.9:
        return math.exp(_LOG_005 + (_LOG_900 - _LOG_005) * rng.random())
    return math.exp(_LOG_900 + (_LOG_14400 - _LOG_900) * rng.random())


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# Columns that change from row to row, in the order _rows() computes them.
_DYNAMIC = (
    "timestamp",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
)
# utilisation means rounded to 0.1 %, pre-rendered once
_PERMILLE = [i / 10 for i in range(1001)]
_PERMILLE_STR = [repr(x) for x in _PERMILLE]
_ZERO = "0.0"


class _Template:
    """One machine at one CodeCarbon version, pre-rendered in header order.

    Static cells are rendered to text once, so that per row only the dynamic floats
    go through ``repr`` (the bulk of the writing time).
    """

    __slots__ = (
        "cells",
        "cpu_w",
        "gpu_w",
        "intensity",
        "pairs",
        "ram_total",
        "ram_w",
        "run_id_pos",
        "task_pos",
        "util",
    )

    def __init__(self, m: dict[str, Any], version: str, header: list[str]) -> None:
        v = _vtuple(version) if version else (2, 0, 0)
        m = dict(m)
        m["codecarbon_version"] = version
        m["experiment_id"] = DEFAULT_EXPERIMENT_ID
        m["pue"] = 1.0 if v >= (2, 2, 3) else ""
        # water_consumed = wue x energy_consumed = 0.0 with the default wue of 0.0
        m["wue"] = m["water_consumed"] = 0.0 if v >= (3, 0, 8) else ""
        self.ram_w: float = m["_ram_w_new"] if v >= (3, 1, 0) else m["_ram_w_old"]
        self.cpu_w: float = m["_cpu_w"]
        self.gpu_w: float = m["_gpu_w"]
        m["cpu_power"], m["gpu_power"], m["ram_power"] = self.cpu_w, self.gpu_w, self.ram_w
        self.intensity: float = m["_intensity"]
        self.ram_total: float = m["ram_total_size"]
        self.util = v >= (3, 2, 1)
        self.cells = [_cell(m.get(c, "")) for c in header]
        pos = {c: i for i, c in enumerate(header)}
        self.pairs = [(pos[c], j) for j, c in enumerate(_DYNAMIC) if c in pos]
        self.run_id_pos = pos.get("run_id", -1)
        self.task_pos = pos.get("task_name", -1)


def iter_rows(
    variant: str = "v3.2.1",
    rows: int = 1000,
    *,
    seed: int = 0,
    gpu_share: float = 0.3,
    cloud_share: float = 0.2,
    flush: int = 1,
    float_counts: bool = False,
    pool_size: int = 64,
) -> Iterator[list[Any]]:
    """Yield *rows* data rows of *variant* as lists in :func:`header_for` order.

    Cells are ``str`` (static columns, already rendered) or ``float`` (the per-row
    values); the csv module writes floats with ``repr``, so full precision is kept.
    ``""`` is an empty cell.

    Args:
        variant: a key of :data:`HEADERS` or ``"mixed"``.
        rows: number of data rows.
        seed: seed for :class:`random.Random`; the same arguments give the same rows.
        gpu_share: probability that a run happens on a GPU machine (forced to 0 for the
            CPU-only variants ``d-3.2.0-cpu``, ``d-3.2.x-cpu``, ``t3.2-cpu``).
        cloud_share: probability that a run happens on a cloud VM (forced to 0 for the
            ``d-*`` variants, whose cloud columns moved only because they were empty).
        flush: cumulative rows per run_id (ignored for ``v1`` and task variants).
        float_counts: write ``cpu_count``/``gpu_count`` as floats (``8.0``), as pandas
            does after a read-modify-write.
        pool_size: distinct machines drawn per (GPU, cloud) kind; runs pick from them.

    Raises:
        ValueError: unknown variant or out-of-range argument.

    Example:
        >>> row = next(iter_rows("v2.7", 1, seed=3))
        >>> len(row) == len(HEADERS["v2.7"])
        True
    """
    header = header_for(variant)
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if flush < 1:
        raise ValueError("flush must be >= 1")
    if pool_size < 1:
        raise ValueError("pool_size must be >= 1")
    if not (0.0 <= gpu_share <= 1.0 and 0.0 <= cloud_share <= 1.0):
        raise ValueError("gpu_share and cloud_share must lie in [0, 1]")
    return _rows(
        variant, header, rows, seed, gpu_share, cloud_share, flush, float_counts, pool_size
    )


def _rows(
    variant: str,
    header: list[str],
    rows: int,
    seed: int,
    gpu_share: float,
    cloud_share: float,
    flush: int,
    float_counts: bool,
    pool_size: int,
) -> Iterator[list[Any]]:
    if variant.endswith("-cpu"):
        gpu_share = 0.0
    if variant.startswith("d-"):
        cloud_share = 0.0
    task = variant in TASK_VARIANTS
    if variant == "v1" or task:
        flush = 1

    rng = random.Random(seed)
    rand = rng.random
    count = float if float_counts else int
    rate_factor = 1000.0 if variant in ("v2.0", "v2.0-sorted") else 1.0
    versions = _VERSIONS[variant]
    file_version = rng.choice(versions) if versions else ""
    project = rng.choice(_PROJECTS)
    file_run_id = _uuid4(rng)  # the shared run_id of a task file
    v1_experiment_id = _uuid4(rng)  # 1.x: one experiment_id per file
    clock = _START[variant]
    pools: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    templates: dict[tuple[int, str], _Template] = {}

    def template(gpu: bool, cloud: bool, version: str) -> _Template:
        pool = pools.setdefault((gpu, cloud), [])
        i = int(rand() * pool_size)
        while len(pool) <= i:
            m = _machine(rng, gpu=gpu, cloud=cloud, count=count)
            m["project_name"] = project
            pool.append(m)
        key = (id(pool[i]), version)
        t = templates.get(key)
        if t is None:
            t = templates[key] = _Template(pool[i], version, header)
            if variant == "v1":
                t.cells[header.index("experiment_id")] = v1_experiment_id
        return t

    # a task file is one tracker: one machine, one run_id, one row per task (deltas)
    fixed = template(rand() < gpu_share, rand() < cloud_share, file_version) if task else None
    n_runs = max(1, -(-rows // flush))
    elapsed = 0.0  # seconds since *clock*
    last_sec, last_ts = -1, ""
    written = run = 0
    ntask = len(_TASKS)
    kwh = _KWH_PER_WS
    while written < rows:
        k = min(flush, rows - written)
        if fixed is not None:
            t = fixed
        else:
            version = (
                versions[min(len(versions) - 1, run * len(versions) // n_runs)]
                if variant == "mixed"
                else file_version
            )
            t = template(rand() < gpu_share, rand() < cloud_share, version)
        cells, pairs = t.cells, t.pairs
        cpu_w, gpu_w, ram_w, intensity = t.cpu_w, t.gpu_w, t.ram_w, t.intensity
        run_id = file_run_id if task else _uuid4(rng)
        total = _duration(rng)
        start = elapsed + (0.0 if task else 1.0 + 599.0 * rand())  # idle gap between runs
        for j in range(1, k + 1):
            # strictly increasing fractions of the total; the last row is the total
            d = total if j == flush else total * (j - 0.5 * rand()) / flush
            cpu_e = cpu_w * d * kwh
            gpu_e = gpu_w * d * kwh
            ram_e = ram_w * d * kwh
            energy = cpu_e + gpu_e + ram_e
            emissions = energy * intensity
            sec = int(start + d)
            if sec != last_sec:
                last_sec, last_ts = sec, (clock + timedelta(seconds=sec)).isoformat()
            if t.util:
                r = int(rand() * 951) + 50  # RAM utilisation 5.0-100.0 %
                util: tuple[Any, ...] = (
                    _PERMILLE_STR[int(rand() * 1001)],
                    _PERMILLE_STR[int(rand() * 1001)] if gpu_w else _ZERO,
                    _PERMILLE_STR[r],
                    t.ram_total * _PERMILLE[r] / 100,
                )
            else:
                util = ("", "", "", "")
            vals = (
                last_ts,
                d,
                emissions,
                emissions * rate_factor / d,
                cpu_e,
                gpu_e if gpu_w else _ZERO,
                ram_e,
                energy,
                *util,
            )
            row = cells[:]
            for i, v in pairs:
                row[i] = vals[v]
            if t.run_id_pos >= 0:
                row[t.run_id_pos] = run_id
            if task:
                i = written
                row[t.task_pos] = (
                    _TASKS[i % ntask] if i < ntask else f"{_TASKS[i % ntask]}_{i // ntask}"
                )
            yield row
        elapsed = start + total
        written += k
        run += 1


def write_csv(
    out: str | Path | IO[str],
    rows: int = 1000,
    variant: str = "v3.2.1",
    *,
    seed: int = 0,
    gpu_share: float = 0.3,
    cloud_share: float = 0.2,
    flush: int = 1,
    float_counts: bool = False,
    crlf: bool | None = None,
    batch_size: int = 20_000,
) -> int:
    """Write a synthetic CodeCarbon CSV and return the number of data rows written.

    Args:
        out: a path, or an open text file (opened with ``newline=""``).
        rows, variant, seed, gpu_share, cloud_share, flush, float_counts: see
            :func:`iter_rows`.
        crlf: line ending; ``None`` uses the variant's usual one (CRLF for ``v1``, whose
            ``csv.DictWriter`` wrote CRLF; LF for the pandas-written 2.x/3.x files).
        batch_size: rows handed to ``csv.writer.writerows`` at a time.

    Raises:
        ValueError: unknown variant or out-of-range argument.

    Example:
        >>> import io
        >>> buf = io.StringIO()
        >>> write_csv(buf, rows=2, variant="v2.2.3", seed=7)
        2
        >>> buf.getvalue().splitlines()[0].endswith(",on_cloud,pue")
        True
    """
    header = header_for(variant)
    it = iter_rows(
        variant,
        rows,
        seed=seed,
        gpu_share=gpu_share,
        cloud_share=cloud_share,
        flush=flush,
        float_counts=float_counts,
    )
    if crlf is None:
        crlf = variant == "v1"
    terminator = "\r\n" if crlf else "\n"

    def _write(f: IO[str]) -> int:
        w = csv.writer(f, lineterminator=terminator)
        w.writerow(header)
        n = 0
        while chunk := list(islice(it, batch_size)):
            w.writerows(chunk)
            n += len(chunk)
        return n

    if not isinstance(out, str | Path):
        return _write(out)
    with open(out, "w", newline="", encoding="utf-8") as f:
        return _write(f)


# --------------------------------------------------------------------------- CLI


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must lie in [0, 1]")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    p = argparse.ArgumentParser(
        prog="python bench/generate.py",
        description="Write a synthetic CodeCarbon emissions.csv of any header variant.",
    )
    p.add_argument("--rows", type=int, default=1000, help="data rows (default 1000)")
    p.add_argument(
        "--variant", default="v3.2.1", choices=VARIANTS, help="header variant (default v3.2.1)"
    )
    p.add_argument("--out", required=True, help="output file, or - for stdout")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--gpu-share", type=_share, default=0.3, help="share of GPU runs")
    p.add_argument("--cloud-share", type=_share, default=0.2, help="share of cloud runs")
    p.add_argument("--flush", type=int, default=1, help="cumulative rows per run_id (default 1)")
    p.add_argument(
        "--float-counts", action="store_true", help="write cpu_count/gpu_count as floats (8.0)"
    )
    p.add_argument("--crlf", action="store_true", default=None, help="CRLF line endings")
    a = p.parse_args(argv)
    if a.rows < 0 or a.flush < 1:
        p.error("--rows must be >= 0 and --flush >= 1")
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = dict(
        seed=a.seed,
        gpu_share=a.gpu_share,
        cloud_share=a.cloud_share,
        flush=a.flush,
        float_counts=a.float_counts,
        crlf=a.crlf,
    )
    if a.out == "-":
        sys.stdout.reconfigure(newline="")  # type: ignore[union-attr]
        n = write_csv(sys.stdout, a.rows, a.variant, **kwargs)
    else:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        n = write_csv(a.out, a.rows, a.variant, **kwargs)
    print(f"{n} rows ({a.variant}) -> {a.out} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
