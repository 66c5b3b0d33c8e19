"""Zeus's ``ZeusMonitor(log_file=...)`` CSV (ml-energy/zeus, ``zeus/monitor/energy.py``).

Header ``start_time,window_name,elapsed_time,gpu0_energy,gpu1_energy,...``: one row per
measurement window, written when the window ends; ``start_time`` in seconds since 1970 (UTC),
``elapsed_time`` in seconds, one energy column per GPU in joules. Zeus writes GPU energy
only; ``cpuN_energy`` and ``dramN_energy`` columns, when a file has them, are read the same
way (J).

The reader adds the sums over devices, in joules as written (the mapping converts them):
``gpu_energy``, ``cpu_energy``, ``dram_energy``, ``energy`` (all of them), and the device
counts ``gpu_count``, ``cpu_count``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..errors import InputError, Location
from ..io.readers import ROW_COLUMN, CsvTable, Source
from ..transforms import clean
from .base import Tracker
from .sample import Sample
from .table import add_columns, read_csv

REQUIRED = ("start_time", "window_name", "elapsed_time")
DEVICE_COLUMN = re.compile(r"^(gpu|cpu|dram)(\d+)_energy$")


def recognise(sample: Sample) -> bool:
    header = sample.header()
    if header[:3] != list(REQUIRED):
        return False
    return all(DEVICE_COLUMN.match(c) for c in header[3:] if c)


def sum_cells(cells: list[str | None], columns: list[str], name: str, row: int
              ) -> str | None:
    """The exact sum of numeric cells (text in, text out); None when a cell is empty.

    Raises:
        InputError: a cell is not a number (named by row and column).
    """
    total = Decimal(0)
    for text, column in zip(cells, columns, strict=True):
        if text is None:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InputError(f"'{text[:40]}' is not a number", Location(name, row, column),
                             "write the energy in joules as Zeus does, e.g. 1523.25") from None
        if not value.is_finite():
            raise InputError(f"'{text[:40]}' is not a finite number",
                             Location(name, row, column))
        total += value
    return str(total)


def read(source: Source, name: str | None = None) -> CsvTable:
    table = read_csv(source, name, required=REQUIRED, what="a Zeus ZeusMonitor log CSV",
                     kind="zeus")
    frame = table.frame
    groups: dict[str, list[str]] = {"gpu": [], "cpu": [], "dram": []}
    for column in table.columns:
        match = DEVICE_COLUMN.match(column)
        if match:
            groups[match[1]].append(column)
    rows = frame[ROW_COLUMN].tolist()
    derived: dict[str, list[str | None]] = {}
    every = [c for cols in groups.values() for c in cols]
    for kind, cols in (*groups.items(), ("", every)):
        if not cols:
            continue
        cells = [[clean(v) for v in frame[c].tolist()] for c in cols]
        derived[f"{kind}_energy" if kind else "energy"] = [
            sum_cells([col[i] for col in cells], cols, table.name, rows[i])
            for i in range(len(rows))]
    derived["gpu_count"] = [str(len(groups["gpu"]))] * len(rows)
    if groups["cpu"]:
        derived["cpu_count"] = [str(len(groups["cpu"]))] * len(rows)
    add_columns(table, derived)
    return table


TRACKER = Tracker(
    name="zeus", title="Zeus", homepage="https://github.com/ml-energy/zeus",
    files=("*zeus*.csv",), recognise=recognise, read=read,
    records="one report per measurement window (row)",
    asks=("task", "infrastructure (GPU model, CPU)", "system.os", "the Zeus version"),
)
