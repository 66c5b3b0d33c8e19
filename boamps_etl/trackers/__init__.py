"""Trackers: one module per source format, each a reader plus a mapping file.

A tracker module says whether it recognises a file from its content (a CSV header, JSON keys,
the lines of a log: never from the file name alone, since several tools write
``emissions.csv``) and reads it into a :class:`~boamps_etl.io.readers.CsvTable` of text
cells, one row per measurement. Its mapping file, ``mappings/<name>.yaml``, does the rest:
which cell goes to which BoAmps field, with which declared unit conversion. A reader never
converts units; it only reshapes (a long table made wide, a JSON tree made a row, the devices
of a host summed in the unit the tool wrote) and splits composite cells (``name/2 device(s)``)
into columns of their own.

Adding a tracker: a module here with a :class:`Tracker`, registered in :data:`TRACKERS`; a
mapping file; fixtures; tests (see docs/trackers.md, "Adding a tracker").

>>> from boamps_etl.trackers import detect
>>> detect("tests/fixtures/eco2ai/emission.csv").name  # doctest: +SKIP
'eco2ai'
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, Location
from ..io.readers import CsvTable, Source
from .base import Tracker
from .sample import Sample

#: Files a reader also reads beside the file it converts, by name: (end of the file's name,
#: what replaces it in the side file's name). batch hashes them with the file, so that a
#: re-run notices when only they change.
COMPANIONS: tuple[tuple[str, str], ...] = (
    ("_carbontracker_output.log", "_carbontracker.log"),  # carbontracker's version
    ("benchmark_report.json", "benchmark_config.json"),  # optimum-benchmark's environment
)


def companion_files(path: Any) -> list[Any]:
    """The side files the reader of ``path`` (a path or URL path) may read."""
    name = path.name
    return [path.with_name(name[: len(name) - len(end)] + side)
            for end, side in COMPANIONS if name.endswith(end)]


def _registry() -> dict[str, Tracker]:
    # Imported here: each module imports Tracker from this package.
    from . import aienergyscore, carbontracker, codecarbon, eco2ai, optimum_benchmark, perun, zeus

    found: dict[str, Tracker] = {}
    # Order matters only for recognition; CodeCarbon last: its reader explains best what is
    # wrong with a CSV nobody recognises.
    for module in (eco2ai, zeus, perun, carbontracker, optimum_benchmark, aienergyscore,
                   codecarbon):
        tracker: Tracker = module.TRACKER
        found[tracker.name] = tracker
    return found


_TRACKERS: dict[str, Tracker] = {}


def trackers() -> dict[str, Tracker]:
    """Every known tracker by name, in recognition order (CodeCarbon last)."""
    if not _TRACKERS:
        _TRACKERS.update(_registry())
    return _TRACKERS


def tracker_names() -> list[str]:
    """Tracker names, sorted (for ``--from`` choices and messages)."""
    return sorted(trackers())


def get_tracker(name: str) -> Tracker:
    """The tracker called ``name``.

    Raises:
        InputError: no tracker has that name.
    """
    found = trackers().get(name.strip().lower())
    if found is None:
        raise InputError(f"unknown tracker '{name}'", None,
                         f"trackers: {', '.join(tracker_names())}")
    return found


def detect(source: Source, name: str | None = None) -> Tracker:
    """The tracker whose format ``source`` (a path, bytes or a binary file object) is in,
    judged from its content.

    A file nobody recognises is taken for CodeCarbon's when it looks like a CSV (its reader
    then says which columns are missing), else refused.

    Raises:
        InputError: the file cannot be read, or is JSON or text of no known tracker.
    """
    sample = Sample.of(source, name)
    for tracker in trackers().values():
        if tracker.name != "codecarbon" and tracker.recognise(sample):
            return tracker
    if sample.looks_like_json():
        error = sample.json_error()
        if error is not None:
            raise error
        raise InputError("is JSON of no known tracker", Location(sample.name),
                         "expected optimum-benchmark's benchmark_report.json, AI Energy "
                         "Score's GPU_ENERGY_SUMMARY.json or a perun JSON export; or force "
                         "a tracker with --from")
    return trackers()["codecarbon"]


def read_table(source: Source, tracker: str | Tracker | None = None,
               name: str | None = None) -> tuple[Tracker, CsvTable]:
    """Read a tracker's file into a table of text cells: recognised from its content, or
    read as ``tracker`` says.

    Raises:
        InputError: the file cannot be read, or is not in the tracker's format (the
            message names the file, and the row and column when it can).
    """
    if isinstance(tracker, str):
        tracker = get_tracker(tracker)
    if tracker is None:
        if not isinstance(source, bytes) and hasattr(source, "read"):
            source = Sample.of(source, name).data()  # a stream is read once
        tracker = detect(source, name)
    return tracker, tracker.read(source, name)


__all__ = ["Sample", "Tracker", "detect", "get_tracker", "read_table", "tracker_names",
           "trackers"]
