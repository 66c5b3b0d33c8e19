"""Rows CodeCarbon hands its output handlers, converted by the same pipeline as its CSVs.

CodeCarbon gives each output handler an ``EmissionsData`` (a run) or a list of
``TaskEmissionsData`` (the tasks of a run). Their values are written here with the very
writer CodeCarbon's own CSV output uses (``pandas.DataFrame.to_csv``), and the text is read
back with :func:`boamps_etl.io.readers.read_codecarbon_csv`: the cells the pipeline sees are
exactly those of the row CodeCarbon writes to ``emissions.csv`` for the same data, so a live
report equals the conversion of that row. Only the fields of :func:`live_fields` (what the
running tracker knows and a CSV does not) are added, under the user's context.

This module does not import CodeCarbon: it reads the tracker's attributes defensively, so
it works with every CodeCarbon version the ``track`` extra allows.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MissingExtraError

if TYPE_CHECKING:
    from ..context import Context
    from ..io.readers import CsvTable
    from ..mapping import FieldMapping
    from ..pipeline import ConversionResult

#: CodeCarbon versions the ``track`` extra installs (tested with 3.0.0 and 3.3.2).
SUPPORTED_CODECARBON = ">=3.0,<4"
INSTALL_HINT = "pip install 'boamps-etl[track]'"

PathLike = str | os.PathLike[str]


def require_codecarbon(purpose: str) -> Any:
    """The ``codecarbon`` module, or :class:`MissingExtraError` naming the extra to install.

    Raises:
        MissingExtraError: CodeCarbon is not installed.
    """
    try:
        import codecarbon
    except ImportError:
        raise MissingExtraError(
            f"{purpose} needs CodeCarbon ({SUPPORTED_CODECARBON}), which is not installed",
            hint=INSTALL_HINT) from None
    return codecarbon


def records_csv(records: Sequence[Mapping[str, Any]], drop_empty_columns: bool = False) -> bytes:
    """The CSV text CodeCarbon writes for ``records``: its file output builds a one-row
    DataFrame from ``EmissionsData.values`` and calls ``to_csv``; its task output also drops
    the columns empty in every task (``dropna(axis=1, how="all")``)."""
    import pandas as pd

    frame = pd.DataFrame.from_records([dict(r) for r in records])
    if drop_empty_columns:
        frame = frame.dropna(axis=1, how="all")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def records_table(records: Sequence[Mapping[str, Any]], name: str,
                  drop_empty_columns: bool = False) -> CsvTable:
    """``records`` read back as the table :func:`boamps_etl.convert` reads from a file."""
    from ..io.readers import read_codecarbon_csv

    return read_codecarbon_csv(records_csv(records, drop_empty_columns), name=name)


# CodeCarbon's hardware classes and modes, as BoAmps ``cpuTrackingMode`` /
# ``gpuTrackingMode`` values (the schema's examples: constant, rapl, nvml).
_CPU_MODES = {
    "intel_rapl": "rapl", "intel_power_gadget": "intel_power_gadget",
    "windows_emi": "windows_emi", "constant": "constant", "cpu_load": "cpu_load",
}
_ESTIMATES = {
    "constant": "a constant power (the CPU's TDP, or a default of 4 W per thread when the "
                "model is unknown)",
    "cpu_load": "the CPU load times the CPU's TDP (or a default of 4 W per thread when the "
                "model is unknown)",
}


def _hardware(tracker: Any) -> list[Any]:
    items = getattr(tracker, "_hardware", None)
    return list(items) if isinstance(items, list | tuple) else []


def live_fields(tracker: Any) -> dict[str, Any]:
    """What a running tracker knows and its CSV does not: how CPU and GPU power were
    obtained, as ``measures[0].cpuTrackingMode`` / ``gpuTrackingMode`` (a context layer:
    the user's context overrides it). Empty when the tracker does not say."""
    measure: dict[str, Any] = {}
    for item in _hardware(tracker):
        kind = type(item).__name__
        if kind == "CPU":
            mode = getattr(item, "_mode", None)
            if isinstance(mode, str) and mode:
                measure["cpuTrackingMode"] = _CPU_MODES.get(mode, mode)
        elif kind == "AppleSiliconChip" and getattr(item, "chip_part", "") == "CPU":
            measure["cpuTrackingMode"] = "powermetrics"
        elif kind == "GPU":
            # CodeCarbon reads NVIDIA GPUs through NVML and AMD GPUs through AMD SMI.
            devices = getattr(item, "devices", None)
            name = type(devices).__name__.lower() if devices is not None else ""
            measure["gpuTrackingMode"] = "amdsmi" if "amd" in name else "nvml"
    return {"measures": [measure]} if measure else {}


def fallback_notes(tracker: Any) -> list[str]:
    """One sentence per quantity CodeCarbon estimates instead of measuring on this machine
    (no RAPL, no GPU...), as its own warnings say; empty when everything is measured."""
    notes: list[str] = []
    kinds = {type(item).__name__: item for item in _hardware(tracker)}
    cpu = kinds.get("CPU")
    mode = getattr(cpu, "_mode", None) if cpu is not None else None
    if isinstance(mode, str) and mode in _ESTIMATES:
        notes.append(f"CPU power is estimated, not measured ({mode} mode): "
                     f"{_ESTIMATES[mode]}; RAPL or another power counter was not available")
    ram = kinds.get("RAM")
    if ram is not None:
        forced = getattr(ram, "_force_ram_power", None)
        notes.append(f"RAM power is the constant given ({forced} W), not measured"
                     if forced is not None else
                     "RAM power is estimated from the memory size, not measured")
    if "GPU" not in kinds and "AppleSiliconChip" not in kinds:
        notes.append("no GPU found: GPU energy is 0")
    return notes


@dataclass
class LiveConverter:
    """Converts CodeCarbon's live records with a mapping and a context, like ``convert``."""

    mapping: FieldMapping
    context: Context
    sets: tuple[str, ...] = ()
    live: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, context: Any = None, sets: Iterable[str] = (),
             mapping: PathLike | FieldMapping | None = None) -> LiveConverter:
        """Read the mapping and the context files now, so their errors come before the run.

        Raises:
            MappingError, ContextError: a file cannot be used.
        """
        from ..api import as_context, as_mapping

        sets = tuple(sets)
        return cls(as_mapping(mapping), as_context(context, sets), sets)

    def convert(self, records: Sequence[Mapping[str, Any]], name: str,
                tasks: bool = False) -> ConversionResult:
        """Reports for ``records`` (incomplete ones become drafts, as with
        ``--allow-incomplete``)."""
        from ..context import Context, load_context
        from ..pipeline import convert_table

        table = records_table(records, name, drop_empty_columns=tasks)
        context = self.context
        if self.live:
            context = Context([*load_context(data=[self.live]).layers, *context.layers])
        return convert_table(table, self.mapping, context, allow_incomplete=True)
