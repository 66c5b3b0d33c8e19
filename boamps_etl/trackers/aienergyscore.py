"""AI Energy Score's ``GPU_ENERGY_SUMMARY.json`` (huggingface/AIEnergyScore,
``summarize_gpu_wh.py``).

``{"units": "Wh", "total": x, "format": "optimum" | "ai_energy_benchmarks",
"preprocess_wh": a, "prefill_wh": b, "decode_wh": c}``: the GPU energy of a benchmark run in
watt-hours (rounded to 2 decimals by the tool), in total and per phase. One row holding
these cells; ``units`` is the unit the mapping converts from.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, Location
from ..io.readers import CsvTable, Source
from .base import Tracker
from .sample import Sample
from .table import cell, make_table

KEYS = ("units", "total")


def _summary(doc: Any) -> bool:
    return isinstance(doc, dict) and all(k in doc for k in KEYS) and any(
        str(k).endswith("_wh") for k in doc)


def recognise(sample: Sample) -> bool:
    return sample.looks_like_json() and _summary(sample.json())


def read(source: Source, name: str | None = None) -> CsvTable:
    sample = Sample.of(source, name)
    doc = sample.document()
    if not _summary(doc):
        missing = [k for k in KEYS if not isinstance(doc, dict) or k not in doc]
        raise InputError("is not an AI Energy Score GPU_ENERGY_SUMMARY.json" + (
            f": missing key(s) {', '.join(missing)}" if missing else ""),
            Location(sample.name), "expected units, total and <phase>_wh keys")
    row = {str(k): cell(v) for k, v in doc.items() if not isinstance(v, dict | list)}
    return make_table(sample.name, [row], "aienergyscore", row_labels=[""])


TRACKER = Tracker(
    name="aienergyscore", title="AI Energy Score",
    homepage="https://github.com/huggingface/AIEnergyScore",
    files=("GPU_ENERGY_SUMMARY.json",), recognise=recognise, read=read,
    records="one report per summary: the GPU energy of the benchmark run",
    asks=("task", "infrastructure (the GPU)", "system.os", "software.language",
          "the measurement duration"),
)
