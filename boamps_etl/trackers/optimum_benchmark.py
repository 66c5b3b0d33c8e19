"""optimum-benchmark's ``benchmark_report.json`` (huggingface/optimum-benchmark,
``optimum_benchmark/benchmark/report.py`` and ``trackers/energy.py``).

The report maps each measured target (``load_model``, ``preprocess_dataset``, ``prefill``,
``decode``, ``per_token``, ``forward``, ``call``...) to its measurements: ``energy`` (``unit``
"kWh", ``cpu``, ``ram``, ``gpu``, ``total``), ``efficiency`` (``unit`` such as "tokens/kWh",
``value``), ``latency`` (``unit`` "s", ``count``, ``total``, ``mean``, ``values``...),
``throughput`` and ``memory``; a measurement not taken is ``null``. ``benchmark.json`` holds
the same report under ``report``, beside the ``config``.

One row per target that has an ``energy`` measurement, its cells named by their path in the
target (``energy.total``, ``latency.count``...), the target's name in ``target``. Lists
(``latency.values``) are left out.

The machine is described in the configuration's ``environment`` (``BenchmarkConfig`` in
``benchmark/config.py``, from ``system_utils.get_system_info`` and
``import_utils.get_hf_libs_info``): in ``benchmark.json``, or in ``benchmark_config.json``
beside ``benchmark_report.json`` when the report is read from a path. Its cells join each
row under ``environment.`` (``environment.cpu``, ``environment.gpu_count``,
``environment.optimum_benchmark_version``...); the list of GPU names becomes one name when
they are all the same.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError, Location
from ..io.readers import CsvTable, Source
from .base import Tracker
from .sample import Sample
from .table import cell, make_table

MEASUREMENTS = frozenset({"memory", "latency", "throughput", "energy", "efficiency"})


def _report(doc: Any) -> dict[str, Any] | None:
    """The targets of a report (or of ``benchmark.json``'s ``report``), or None."""
    if isinstance(doc, dict) and isinstance(doc.get("report"), dict) and "config" in doc:
        doc = doc["report"]
    if not isinstance(doc, dict) or not doc:
        return None
    if not all(isinstance(v, dict) and set(v) <= MEASUREMENTS for v in doc.values()):
        return None
    has_energy = any(isinstance(v.get("energy"), dict) and "total" in v["energy"]
                     for v in doc.values())
    return doc if has_energy else None


def recognise(sample: Sample) -> bool:
    return sample.looks_like_json() and _report(sample.json()) is not None


def _flatten(prefix: str, node: dict[str, Any], out: dict[str, str | None]) -> None:
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            _flatten(path, value, out)
        elif not isinstance(value, list):
            out[path] = cell(value)


def _environment(doc: Any, source: Source) -> dict[str, str | None]:
    """The cells of the benchmark's environment (``environment.<key>``), or none."""
    env: Any = None
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        env = doc["config"].get("environment")
    elif not isinstance(source, bytes) and not hasattr(source, "read"):
        sibling = Path(os.fspath(source)).with_name("benchmark_config.json")
        try:
            config = json.loads(sibling.read_text(encoding="utf-8"), parse_float=Decimal)
        except (OSError, ValueError):
            config = None
        env = config.get("environment") if isinstance(config, dict) else None
    if not isinstance(env, dict):
        return {}
    out: dict[str, str | None] = {}
    for key, value in env.items():
        if isinstance(value, list):
            names = [str(v).strip() for v in value]
            value = names[0] if names and len(set(names)) == 1 else ", ".join(names) or None
        if not isinstance(value, dict):
            out[f"environment.{key}"] = cell(value)
    return out


def read(source: Source, name: str | None = None) -> CsvTable:
    sample = Sample.of(source, name)
    doc = sample.document()
    report = _report(doc)
    if report is None:
        raise InputError("is not an optimum-benchmark report: no target with an 'energy' "
                         "measurement", Location(sample.name),
                         "run the benchmark with energy tracking on (scenario.energy=true)")
    environment = _environment(doc, source)
    rows: list[dict[str, str | None]] = []
    for target, measurements in report.items():
        if not isinstance(measurements.get("energy"), dict):
            continue
        row: dict[str, str | None] = {"target": str(target)}
        _flatten("", measurements, row)
        row.update(environment)
        rows.append(row)
    return make_table(sample.name, rows, "optimum_benchmark",
                      row_labels=[f"target '{row['target']}'" for row in rows])


TRACKER = Tracker(
    name="optimum_benchmark", title="optimum-benchmark",
    homepage="https://github.com/huggingface/optimum-benchmark",
    files=("benchmark_report.json", "benchmark.json"), recognise=recognise, read=read,
    records="one report per measured target (prefill, decode, forward...) with energy",
    asks=("task", "infrastructure (CPU, GPU, RAM)", "system.os", "software.language"),
)
