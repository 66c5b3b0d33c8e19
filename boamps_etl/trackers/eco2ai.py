"""eco2ai's ``emission.csv`` (sb-ai-lab/Eco2AI, ``emission_track.py``).

Columns (0.3.x): ``id, project_name, experiment_description, epoch, start_time, duration(s),
power_consumption(kWh), CO2_emissions(kg), CPU_name, GPU_name, OS, region/country, cost``;
older files have ``cpu_power_consumption(kWh)`` and ``ram_power_consumption(kWh)`` and no
GPU or cost column. One row per run (``start()``/``stop()``), or per epoch in training mode
(same ``id``, the epoch in ``epoch``).

Composite cells are split into columns of their own, the cell as written kept too:

* ``CPU_name`` "name/N device(s), TDP:x" -> ``CPU_name.model``, ``CPU_name.count``,
  ``CPU_name.tdp`` (older files hold the name alone);
* ``GPU_name`` "name N device(s)" -> ``GPU_name.model``, ``GPU_name.count``;
* ``region/country`` "IN/Tamil Nadu" -> ``region/country.country`` (ISO code) and
  ``region/country.region``.
"""

from __future__ import annotations

import re

from ..io.readers import CsvTable, Source
from ..transforms import clean
from .base import Tracker
from .sample import Sample
from .table import add_columns, read_csv

REQUIRED = ("id", "start_time", "duration(s)", "power_consumption(kWh)")
_CPU = re.compile(r"^(?P<model>.*?)\s*/\s*(?P<count>\d+)\s+device\(s\)"
                  r"(?:\s*,\s*TDP\s*:\s*(?P<tdp>\S*))?\s*$")
_GPU = re.compile(r"^(?P<model>.*?)\s*(?P<count>\d+)\s+device\(s\)\s*$")


def recognise(sample: Sample) -> bool:
    header = set(sample.header())
    return {"power_consumption(kWh)", "duration(s)", "CO2_emissions(kg)"} <= header


def _split_cpu(text: str | None) -> tuple[str | None, str | None, str | None]:
    if text is None:
        return None, None, None
    match = _CPU.match(text)
    if not match:
        return text, None, None  # older files: the name alone
    return clean(match["model"]), match["count"], clean(match["tdp"])


def _split_gpu(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    match = _GPU.match(text)
    if not match:
        return text, None
    return clean(match["model"]), match["count"]


def _split_place(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    country, _, region = text.partition("/")
    return clean(country), clean(region)


def read(source: Source, name: str | None = None) -> CsvTable:
    table = read_csv(source, name, required=REQUIRED, what="an eco2ai emission CSV",
                     kind="eco2ai")
    frame = table.frame
    derived: dict[str, list[str | None]] = {}
    if "CPU_name" in frame.columns:
        parts = [_split_cpu(clean(v)) for v in frame["CPU_name"].tolist()]
        for i, key in enumerate(("model", "count", "tdp")):
            derived[f"CPU_name.{key}"] = [p[i] for p in parts]
    if "GPU_name" in frame.columns:
        gpus = [_split_gpu(clean(v)) for v in frame["GPU_name"].tolist()]
        derived["GPU_name.model"] = [g[0] for g in gpus]
        derived["GPU_name.count"] = [g[1] for g in gpus]
    if "region/country" in frame.columns:
        places = [_split_place(clean(v)) for v in frame["region/country"].tolist()]
        derived["region/country.country"] = [p[0] for p in places]
        derived["region/country.region"] = [p[1] for p in places]
    add_columns(table, derived)
    return table


TRACKER = Tracker(
    name="eco2ai", title="eco2ai", homepage="https://github.com/sb-ai-lab/Eco2AI",
    files=("emission*.csv",), recognise=recognise, read=read,
    records="one report per row: a run, or an epoch of a training run",
    asks=("task", "infrastructure.infraType", "RAM size", "the eco2ai version"),
)
