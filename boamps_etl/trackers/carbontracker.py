"""carbontracker's output log (lfwa/carbontracker): ``<name>_<date>_carbontracker_output.log``.

Written by ``carbontracker/loggerutil.py`` (each record ``YYYY-MM-DD HH:MM:SS - message``) and
``tracker.py``; read by the package's own ``parser.get_consumption``. The reader takes:

* ``The following components were found: CPU with device(s) cpu:0. GPU with device(s) ...``
  -> ``cpu_devices``, ``cpu_count``, ``gpu_devices``, ``gpu_count``;
* the ``Actual consumption [for N epoch(s)]:`` block: ``Time: H:MM:SS``, ``Energy: x kWh``,
  ``CO2eq: y g`` -> ``epochs``, ``time``, ``energy``, ``co2eq``, and the record's time
  -> ``end_time``;
* the ``Predicted consumption for N epoch(s):`` block -> ``predicted_*`` (kept, not mapped:
  BoAmps reports what was measured);
* ``Average carbon intensity during training was x gCO2/kWh at detected location: ...``
  -> ``carbon_intensity`` (g CO2eq/kWh), ``location``;
* the first record's time -> ``start_time``.

The version (``carbontracker version x``) is in the standard log beside it
(``..._carbontracker.log``); when the output log is read from a path and that file is there,
``version`` comes from it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError, Location
from ..io.readers import CsvTable, Source
from .base import Tracker
from .sample import Sample
from .table import make_table

_RECORD = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) - ", re.MULTILINE)
_COMPONENTS = re.compile(r"The following components were found:(.*)")
_COMPONENT = re.compile(r"(\w+) with device\(s\) (.*?)\.(?=\s+\w+ with device\(s\)|\s*$)")
_BLOCK = re.compile(
    r"(?P<kind>Actual|Predicted) consumption(?: for (?P<epochs>\d+) epoch\(s\))?:\s*\n"
    r"\s*Time:\s*(?P<time>\S+)\s*\n\s*Energy:\s*(?P<energy>\S+) kWh\s*\n"
    r"\s*CO2eq:\s*(?P<co2>\S+) g")
_INTENSITY = re.compile(r"Average carbon intensity during training was (?P<ci>\S+) "
                        r"gCO2(?:eq)?/kWh(?: at detected location: (?P<where>.*?))?\.?[ \t]*$",
                        re.MULTILINE)
_VERSION = re.compile(r"carbontracker version (\S+)")


def recognise(sample: Sample) -> bool:
    head = sample.head
    return bool(_RECORD.search(head)) and "CarbonTracker: " in head and (
        "consumption" in head or "components were found" in head)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _version(path: Path | None) -> str | None:
    if path is None or not path.name.endswith("_carbontracker_output.log"):
        return None
    standard = path.with_name(path.name.replace("_carbontracker_output.log",
                                                "_carbontracker.log"))
    try:
        with open(standard, encoding="utf-8", errors="replace") as fh:
            match = _VERSION.search(fh.read(1 << 16))
    except OSError:
        return None
    return match[1] if match else None


def read(source: Source, name: str | None = None) -> CsvTable:
    sample = Sample.of(source, name)
    text = sample.text().replace("\r\n", "\n")
    label = sample.name
    if not recognise(sample):
        raise InputError("is not a carbontracker output log: no 'CarbonTracker:' records",
                         Location(label, line=1),
                         "expected <name>_<date>_carbontracker_output.log")
    records = list(_RECORD.finditer(text))
    row: dict[str, str | None] = {"start_time": records[0][1] if records else None}
    components = _COMPONENTS.search(text)
    if components:
        for match in _COMPONENT.finditer(components[1].strip()):
            kind = match[1].lower()
            devices = [d.strip() for d in match[2].split(",") if d.strip()]
            row[f"{kind}_devices"] = ", ".join(devices)
            row[f"{kind}_count"] = str(len(devices))
    actual = None
    for block in _BLOCK.finditer(text):
        prefix = "" if block["kind"] == "Actual" else "predicted_"
        if prefix and f"{prefix}energy" in row:
            continue
        if not prefix:
            if actual is not None:
                continue  # the first actual block: the run's own (later ones repeat it)
            actual = block
            stamp = [r for r in records if r.start() <= block.start()]
            row["end_time"] = stamp[-1][1] if stamp else None
        row[f"{prefix}epochs"] = block["epochs"]
        row[f"{prefix}time"] = block["time"]
        row[f"{prefix}energy"] = block["energy"]
        row[f"{prefix}co2eq"] = block["co2"]
    if actual is None:
        raise InputError("holds no 'Actual consumption' block: nothing was measured to the "
                         "end", Location(label, line=_line_of(text, len(text))),
                         "the run stopped before carbontracker wrote its totals; only a "
                         "prediction is there")
    intensity = _INTENSITY.search(text)
    if intensity:
        row["carbon_intensity"] = intensity["ci"]
        row["location"] = intensity["where"]
    path = None if isinstance(source, bytes) or hasattr(source, "read") else Path(
        os.fspath(source))
    row["version"] = _version(path)
    line = _line_of(text, actual.start())
    return make_table(label, [row], "carbontracker", row_numbers=[line],
                      row_labels=[f"line {line}"])


TRACKER = Tracker(
    name="carbontracker", title="carbontracker",
    homepage="https://github.com/lfwa/carbontracker",
    files=("*carbontracker_output.log",), recognise=recognise, read=read,
    records="one report per output log: the actual consumption of the run",
    asks=("task", "infrastructure (CPU and GPU models)", "system.os"),
)
