"""CodeCarbon's ``emissions.csv`` (1.x-3.x) and task files: the reader the project began
with (:func:`boamps_etl.io.readers.read_codecarbon_csv`), as one tracker among the others."""

from __future__ import annotations

from ..codecarbon import REQUIRED_COLUMNS
from ..io.readers import CsvTable, Source, read_codecarbon_csv
from .base import Tracker
from .sample import Sample

#: File names batch looks for: emissions.csv, task files emissions_<experiment>_<run_id>.csv,
#: CodeCarbon's backups when the header changed (.bak, _0.bak...), compressed copies.
FILES = ("emissions*.csv", "emissions*.csv.bak", "emissions*.csv_*.bak", "*.csv.gz")


def recognise(sample: Sample) -> bool:
    """A CSV header holding the columns every CodeCarbon file has had since 1.0."""
    header = set(sample.header())
    return all(c in header for c in REQUIRED_COLUMNS)


def read(source: Source, name: str | None = None) -> CsvTable:
    return read_codecarbon_csv(source, name=name)


TRACKER = Tracker(
    name="codecarbon", title="CodeCarbon", homepage="https://github.com/mlco2/codecarbon",
    files=FILES, recognise=recognise, read=read,
    records="one report per run_id (its last, cumulative row); one per row in task files",
    asks=("task", "infrastructure.components (GPU memory, when not in the model name)"),
)
