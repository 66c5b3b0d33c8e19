"""perun's exports (Helmholtz-AI-Energy/perun): the CSV long format and JSON.

CSV (``perun/io/pandas.py``, written by pandas with its index as a first, unnamed column):
``run id, hostname, device_group, sensor, unit, magnitude, timestep, value``: every sample
of every sensor of every host of each run of one multi-run. ``unit`` is ``J`` (an energy
counter) or ``W`` (power), among others (``%``, ``B``...); ``magnitude`` is the SI factor of
the values (1e-06 for µJ); ``timestep`` in seconds from the start. The reader makes one row
per run: for each energy or power sensor its energy (counter: last - first sample; power:
the trapezoidal integral over the timesteps, as perun itself computes it), scaled by the
magnitude to joules, then summed per device group over every host: ``cpu_energy``,
``gpu_energy``, ``ram_energy`` and ``energy`` (all groups), in J; ``duration`` (s), the
number of hosts and of devices. perun's PUE and power overhead are not in the CSV: the JSON
export's totals include them.

JSON (``perun/io/json.py``, ``DataNode.toDict``): the application's tree, application ->
multi-run -> run -> host -> device group -> sensor, each node with ``metrics`` (``energy``,
``runtime``, ``co2``, ``cpu_energy``...: ``value`` and ``metric_md`` with ``unit`` and
``mag``). One row per run, from the run's own metrics: each value with its unit written
with its SI prefix (``kJ`` for J x 1e3), which the mapping converts (``unit_column``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InputError, Location
from ..io.readers import ROW_COLUMN, CsvTable, Source
from ..transforms import clean
from .base import Tracker
from .sample import Sample
from .table import cell, make_table, read_csv

CSV_COLUMNS = ("run id", "hostname", "device_group", "sensor", "unit", "magnitude", "timestep",
               "value")
GROUPS = {"cpu": "cpu", "gpu": "gpu", "ram": "ram"}
#: perun's magnitudes (the float values of its Magnitude enum) and their SI prefixes.
PREFIXES = {Decimal("1e-12"): "p", Decimal("1e-9"): "n", Decimal("1e-6"): "µ",
            Decimal("1e-3"): "m", Decimal(1): "", Decimal("1e3"): "k", Decimal("1e6"): "M",
            Decimal("1e9"): "G", Decimal("1e12"): "T"}
RUN_TYPE = 3  # NodeType.RUN (enum.auto: APP 1, MULTI_RUN 2, RUN 3, NODE 4, DEVICE_GROUP 5)


def recognise(sample: Sample) -> bool:
    if sample.looks_like_json():
        doc = sample.json()
        return isinstance(doc, dict) and _find_version(doc) is not None and "nodes" in doc
    header = [h for h in sample.header() if h]
    return header == list(CSV_COLUMNS)


# --------------------------------------------------------------------------- CSV


def _number(text: str | None, name: str, row: int, column: str) -> Decimal:
    if text is None:
        raise InputError("is empty", Location(name, row, column),
                         "every perun sample has a value: restore the row")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"'{text[:40]}' is not a number", Location(name, row, column),
                         "write the value as perun does, e.g. 12.5 or 1e-06") from None
    if not value.is_finite():
        raise InputError(f"'{text[:40]}' is not a finite number", Location(name, row, column))
    return value


def _sensor_energy(unit: str, samples: list[tuple[Decimal, Decimal, int]], name: str
                   ) -> Decimal:
    """Energy in the sensor's unit x magnitude: J counters by difference, W by trapezoids."""
    samples.sort(key=lambda s: s[0])
    if unit == "J":
        energy = samples[-1][1] - samples[0][1]
        if energy < 0:
            raise InputError("the energy counter goes down (it wrapped around)",
                             Location(name, samples[-1][2], "value"),
                             "convert perun's JSON export instead, which corrects it")
        return energy
    energy = Decimal(0)
    for (t0, v0, _), (t1, v1, _) in itertools.pairwise(samples):
        energy += (t1 - t0) * (v0 + v1) / 2
    return energy


def _read_csv(source: Source, name: str | None) -> CsvTable:
    table = read_csv(source, name, required=CSV_COLUMNS, what="a perun CSV export",
                     kind="perun")
    label = table.name
    frame = table.frame
    cells = {c: [clean(v) for v in frame[c].tolist()] for c in CSV_COLUMNS}
    rows = frame[ROW_COLUMN].tolist()
    sensors: dict[tuple[str, str, str, str], list[tuple[Decimal, Decimal, int]]] = {}
    units: dict[tuple[str, str, str, str], tuple[str, Decimal]] = {}
    times: dict[str, list[Decimal]] = {}
    hosts: dict[str, set[str]] = {}
    order: list[str] = []
    for i, row in enumerate(rows):
        run = cells["run id"][i]
        if run is None:
            raise InputError("is empty", Location(label, row, "run id"))
        if run not in times:
            order.append(run)
            times[run] = []
            hosts[run] = set()
        host = cells["hostname"][i] or ""
        hosts[run].add(host)
        step = _number(cells["timestep"][i], label, row, "timestep")
        times[run].append(step)
        unit = cells["unit"][i] or ""
        if unit not in ("J", "W"):
            continue
        group = cells["device_group"][i] or ""
        key = (run, host, group, cells["sensor"][i] or "")
        magnitude = _number(cells["magnitude"][i], label, row, "magnitude")
        if key in units and units[key] != (unit, magnitude):
            raise InputError(f"sensor {key[3]} changes unit within run {run}",
                             Location(label, row, "unit"))
        units[key] = (unit, magnitude)
        sensors.setdefault(key, []).append(
            (step, _number(cells["value"][i], label, row, "value"), row))
    out: list[dict[str, str | None]] = []
    last_rows: list[int] = []
    for run in order:
        sums: dict[str, Decimal] = {}
        devices: dict[str, int] = {}
        total = Decimal(0)
        seen = False
        for key, samples in sensors.items():
            if key[0] != run:
                continue
            unit, magnitude = units[key]
            energy = _sensor_energy(unit, samples, label) * magnitude
            seen = True
            total += energy
            kind = GROUPS.get(key[2])
            if kind is not None:
                sums[kind] = sums.get(kind, Decimal(0)) + energy
                devices[kind] = devices.get(kind, 0) + 1
        steps = times[run]
        record: dict[str, str | None] = {
            "run id": run, "hosts": str(len(hosts[run])),
            "hostname": ", ".join(sorted(h for h in hosts[run] if h)) or None,
            "duration": str(max(steps) - min(steps)) if steps else None,
            "energy": str(total) if seen else None, "energy.unit": "J",
        }
        for group in GROUPS.values():
            record[f"{group}_energy"] = str(sums[group]) if group in sums else None
            record[f"{group}_count"] = str(devices[group]) if group in devices else None
        out.append(record)
        last_rows.append(max(r for r, c in zip(rows, cells["run id"], strict=True)
                             if c == run))
    return make_table(label, out, "perun", row_numbers=last_rows, issues=table.issues,
                      records=table.records)


# --------------------------------------------------------------------------- JSON


def _children(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A node's children: perun writes ``nodes`` as a list holding one dict of them."""
    nodes = node.get("nodes")
    holders = nodes if isinstance(nodes, list) else [nodes]
    for holder in holders:
        if isinstance(holder, dict):
            for key, child in holder.items():
                if isinstance(child, dict):
                    yield str(key), child


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _find_version(node: dict[str, Any], depth: int = 0) -> str | None:
    metadata = node.get("metadata")
    if isinstance(metadata, dict) and metadata.get("perun_version") is not None:
        return str(metadata["perun_version"])
    if depth >= 2:
        return None
    for _, child in _children(node):
        found = _find_version(child, depth + 1)
        if found is not None:
            return found
    return None


def _unit(metric: dict[str, Any]) -> str | None:
    md = metric.get("metric_md")
    if not isinstance(md, dict) or md.get("unit") is None:
        return None
    unit = str(md["unit"])
    try:
        mag = Decimal(str(md.get("mag", 1)))
    except InvalidOperation:
        return unit + "?"
    prefix = PREFIXES.get(mag.normalize()) if mag.is_finite() else None
    return unit if prefix is None and mag == 1 else (
        f"{prefix}{unit}" if prefix is not None else f"{unit} x {md.get('mag')}")


def _metric_cells(prefix: str, metrics: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if not isinstance(metrics, dict):
        return out
    for key, metric in metrics.items():
        if isinstance(metric, dict) and "value" in metric:
            out[f"{prefix}{key}"] = cell(metric["value"])
            out[f"{prefix}{key}.unit"] = _unit(metric)
    return out


def _count_devices(host: dict[str, Any], group: str) -> int:
    """Sensors of a device group that measure energy or power: one per device."""
    count = 0
    for key, child in _children(host):
        if key != group and child.get("deviceType") != group:
            continue
        for _, sensor in _children(child):
            metrics = sensor.get("metrics")
            if isinstance(metrics, dict) and any(
                    str(k).endswith(("energy", "power")) for k in metrics):
                count += 1
    return count


def _read_json(source: Source, name: str | None) -> CsvTable:
    sample = Sample.of(source, name)
    doc = sample.document()
    if not isinstance(doc, dict) or _find_version(doc) is None:
        raise InputError("is not a perun JSON export: no perun_version in its metadata",
                         Location(sample.name), "export with perun's --format json")
    rows: list[dict[str, str | None]] = []
    app = str(doc.get("id", ""))
    multiruns = [(k, n) for k, n in _children(doc) if n.get("type") == RUN_TYPE - 1] or [
        ("", doc)]
    for mr_id, multirun in multiruns:
        meta = _dict(multirun.get("metadata"))
        for run_id, run in _children(multirun):
            if run.get("type") != RUN_TYPE:
                continue
            hosts = list(_children(run))
            # perun 1.0 keeps the host's description (platform, processor, core_count) in
            # the run's metadata; earlier files in each host node's.
            own = _dict(run.get("metadata"))
            host_meta = [own] if own.get("platform") or own.get("core_count") else [
                _dict(h.get("metadata")) for _, h in hosts]
            first = host_meta[0] if host_meta else {}
            cores = [str(m.get("core_count")) for m in host_meta if m.get("core_count")]
            record: dict[str, str | None] = {
                "app": app, "multirun": mr_id, "run": run_id,
                "perun_version": cell(meta.get("perun_version")) or cell(
                    own.get("perun_version")) or _find_version(doc),
                "execution_dt": cell(meta.get("execution_dt")),
                "hosts": str(len(hosts)),
                "hostname": ", ".join(k for k, _ in hosts) or None,
                "platform": cell(first.get("platform")),
                "processor": cell(first.get("processor")),
                "core_count": str(sum(int(c) for c in cores if c.isdigit())) if cores else None,
                "gpu_count": str(sum(_count_devices(h, "gpu") for _, h in hosts)) or None,
            }
            record.update(_metric_cells("", run.get("metrics")))
            rows.append(record)
    if not rows:
        raise InputError("holds no run (no node of type RUN)", Location(sample.name),
                         "export a finished perun run")
    multi = len(multiruns) > 1
    return make_table(sample.name, rows, "perun", row_labels=[
        f"run '{row['run']}'" + (f" of multirun '{row['multirun']}'" if multi else "")
        for row in rows])


def read(source: Source, name: str | None = None) -> CsvTable:
    sample = Sample.of(source, name)
    if sample.looks_like_json():
        return _read_json(sample.data(), sample.name)
    return _read_csv(sample.data(), sample.name)


TRACKER = Tracker(
    name="perun", title="perun", homepage="https://github.com/Helmholtz-AI-Energy/perun",
    files=("*perun_results/*.csv", "*perun_results/*.json", "*perun*.csv", "*perun*.json"),
    recognise=recognise, read=read,
    records="one report per run of a multi-run; every host and device of the run summed",
    asks=("task", "infrastructure.infraType", "software.language"),
)
