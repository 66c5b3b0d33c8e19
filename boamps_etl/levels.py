"""Completeness levels of a BoAmps report: bronze, silver, gold.

The rubric is data (:data:`RUBRIC`): each :class:`Criterion` names a level and the fields
that satisfy it. A report reaches a level when it reaches the level below and meets every
criterion of that level:

* **bronze**: the report is valid, i.e. it passes the official BoAmps schema and the
  boamps-etl extension schema (the extension only bounds values: no negative energy,
  shares between 0 and 1...). This is the bar for publishing a report at all.
* **silver**: bronze, plus the data that makes a report comparable with others: the energy
  split by component, identified hardware, where and when it was measured, who published
  it, how much data was processed.
* **gold**: silver, plus what makes the measure trustworthy and reusable: a calibration
  (idle) measure, the hardware utilisation, the model's accuracy, the grid's carbon
  intensity, a stated quality, and the framework and size of the algorithm.

Field paths read like ``measures[*].cpuEnergy``: ``[*]`` means "some item of the list";
a last part ``{latitude,longitude}`` means "the same object has all of these". A field
counts as given when it is present and not empty (``null``, ``""``, ``[]``, ``{}``).
:func:`levels_markdown` renders the rubric as a table for the documentation.

>>> assess({"task": {}}).level
'none'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .errors import Issue

Level = Literal["none", "bronze", "silver", "gold"]
#: Levels from lowest to highest.
LEVELS: tuple[Level, ...] = ("none", "bronze", "silver", "gold")


@dataclass(frozen=True)
class Criterion:
    """One requirement of a level: any one of ``any_of`` (field paths) must be given.

    Attributes:
        level: the level this criterion belongs to ('silver' or 'gold').
        name: a short name for tables and messages.
        any_of: alternative field paths (see the module docs for the syntax).
        why: what the criterion is for, in one line.
    """

    level: Level
    name: str
    any_of: tuple[str, ...]
    why: str

    @property
    def label(self) -> str:
        """The alternatives as one line: ``environment.location or environment.{...}``."""
        return " or ".join(self.any_of)


#: The rubric. bronze has no criterion of its own: it is schema validity.
RUBRIC: tuple[Criterion, ...] = (
    Criterion("silver", "energy by component",
              ("measures[*].cpuEnergy", "measures[*].gpuEnergy", "measures[*].ramEnergy"),
              "the energy split into CPU, GPU and RAM, in kWh (extension fields)"),
    Criterion("silver", "hardware identified",
              ("infrastructure.components[*].{manufacturer,family}",
               "infrastructure.components[*].{manufacturer,series}"),
              "a component names its manufacturer and its family or series"),
    Criterion("silver", "location",
              ("environment.location", "environment.{latitude,longitude}"),
              "where the energy was used, finer than the country"),
    Criterion("silver", "measurement duration", ("measures[*].measurementDuration",),
              "how long the measure lasted, in s"),
    Criterion("silver", "measurement start", ("measures[*].measurementDateTime",),
              "when the measure began"),
    Criterion("silver", "publisher", ("header.publisher.name",),
              "the organisation that publishes the report"),
    Criterion("silver", "dataset size",
              ("task.dataset[*].dataSize", "task.dataset[*].dataQuantity"),
              "how much data the task processed"),
    Criterion("gold", "calibration", ("measures[*].powerCalibrationMeasurement",),
              "the idle energy measured before the task, in kWh"),
    Criterion("gold", "utilisation",
              ("measures[*].averageUtilizationCpu", "measures[*].averageUtilizationGpu"),
              "the average CPU or GPU load during the task, between 0 and 1"),
    Criterion("gold", "accuracy", ("task.measuredAccuracy", "task.estimatedAccuracy"),
              "the quality of the model the energy bought"),
    Criterion("gold", "carbon intensity", ("environment.powerSourceCarbonIntensity",),
              "the grid's carbon intensity, in g CO2eq/kWh"),
    Criterion("gold", "quality", ("quality",),
              "the stated error margin of the report (high, medium, low)"),
    Criterion("gold", "algorithm detail", ("task.algorithms[*].{framework,parametersNumber}",),
              "an algorithm names its framework and its size (billions of parameters)"),
)


@dataclass(frozen=True)
class Assessment:
    """The level a report reaches and what it lacks for the next one.

    Attributes:
        level: 'none' (not valid), 'bronze', 'silver' or 'gold'.
        missing_for_next: for 'none', the schema problems (``path: message``); for bronze
            and silver, the labels of the next level's unmet criteria; empty for gold.
        issues: the schema problems of an invalid report (empty when valid).
    """

    level: Level
    missing_for_next: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def next_level(self) -> Level | None:
        """The level above this one, ``None`` for gold."""
        i = LEVELS.index(self.level)
        return LEVELS[i + 1] if i + 1 < len(LEVELS) else None

    def reaches(self, level: Level | str) -> bool:
        """True when this report is at ``level`` or above."""
        return at_least(self.level, level)


def at_least(level: Level | str, target: Level | str) -> bool:
    """True when ``level`` is ``target`` or higher.

    >>> at_least("gold", "silver"), at_least("bronze", "silver")
    (True, False)

    Raises:
        ValueError: a name is not one of none, bronze, silver, gold.
    """
    for name in (level, target):
        if name not in LEVELS:
            raise ValueError(f"unknown level '{name}'; levels: {', '.join(LEVELS)}")
    return LEVELS.index(level) >= LEVELS.index(target)


# --------------------------------------------------------------------------- field lookup


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


@lru_cache(maxsize=256)
def _split(path: str) -> tuple[str, ...]:
    """``'task.dataset[*].dataSize'`` -> ``('task', 'dataset', '*', 'dataSize')``."""
    parts: list[str] = []
    for chunk in path.split("."):
        if chunk.endswith("[*]"):
            parts.extend((chunk[:-3], "*"))
        else:
            parts.append(chunk)
    return tuple(parts)


def _nodes(node: Any, parts: Sequence[str]) -> Iterator[Any]:
    """Every value at ``parts`` below ``node`` (``*`` fans out over list items)."""
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(node, list):
            for item in node:
                yield from _nodes(item, rest)
    elif isinstance(node, Mapping) and head in node:
        yield from _nodes(node[head], rest)


def has_field(doc: Any, path: str) -> bool:
    """True when ``doc`` gives a non-empty value at ``path`` (rubric path syntax).

    >>> has_field({"measures": [{}, {"cpuEnergy": 0.1}]}, "measures[*].cpuEnergy")
    True
    >>> has_field({"environment": {"latitude": 48.8}}, "environment.{latitude,longitude}")
    False
    """
    parts = _split(path)
    last = parts[-1]
    if last.startswith("{") and last.endswith("}"):
        keys = [k.strip() for k in last[1:-1].split(",")]
        return any(isinstance(obj, Mapping) and all(_given(obj.get(k)) for k in keys)
                   for obj in _nodes(doc, parts[:-1]))
    return any(_given(v) for v in _nodes(doc, parts))


def unmet(doc: Any, level: Level | str) -> list[Criterion]:
    """The criteria of ``level`` (silver or gold) that ``doc`` does not meet."""
    return [c for c in RUBRIC if c.level == level and not any(has_field(doc, p)
                                                               for p in c.any_of)]


# --------------------------------------------------------------------------- assessment


def plain_document(report: Any) -> Any:
    """A report as plain JSON data, whether given as such, as a pydantic ``Report``
    (``to_dict``) or as a ``ConvertedReport`` (``document``)."""
    document = getattr(report, "document", None)
    if isinstance(document, dict):
        return document
    if not isinstance(report, dict) and callable(getattr(report, "to_dict", None)):
        return report.to_dict()
    return report


def assess(doc: Any, issues: list[Issue] | None = None) -> Assessment:
    """The completeness level of one report.

    Args:
        doc: the report: plain JSON data, a pydantic :class:`boamps_etl.models.Report` or a
            :class:`boamps_etl.pipeline.ConvertedReport` (what :func:`boamps_etl.validate`
            accepts).
        issues: its schema problems when already known (from
            :func:`boamps_etl.validate.validate_report`); validated here otherwise.

    Returns:
        An :class:`Assessment`: the level and what is missing for the next one.

    >>> a = assess({"task": {}})
    >>> a.level, a.missing_for_next[0]
    ('none', 'measures: required field is missing')
    """
    doc = plain_document(doc)
    if issues is None:
        from .validate import validate_report

        issues = validate_report(doc)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        return Assessment("none", [f"{i.where.json_path or '(report)'}: {i.message}"
                                   for i in errors], list(issues))
    level: Level = "bronze"
    for upper in LEVELS[2:]:
        missing = unmet(doc, upper)
        if missing:
            return Assessment(level, [c.label for c in missing])
        level = upper
    return Assessment(level)


def count_levels(levels: Iterable[str]) -> dict[str, int]:
    """``['silver', 'silver', 'none']`` -> ``{'gold': 0, 'silver': 2, 'bronze': 0, 'none': 1}``
    (every level present, best first)."""
    counts: dict[str, int] = dict.fromkeys(reversed(LEVELS), 0)
    for level in levels:
        counts[level or "none"] = counts.get(level or "none", 0) + 1
    return counts


def format_counts(counts: dict[str, int]) -> str:
    """``{'gold': 0, 'silver': 3, 'bronze': 1}`` -> ``'3 silver, 1 bronze'`` (best first)."""
    order = [*reversed(LEVELS), "none"]
    parts = [f"{counts[lvl]} {lvl}" for lvl in order if counts.get(lvl) and lvl != "none"]
    return ", ".join(parts) or "none"


def levels_markdown() -> str:
    """The rubric as a markdown table (one row per criterion), for the README.

    >>> levels_markdown().splitlines()[0]
    '| Level | Criterion | Any of these fields | Why |'
    """
    lines = ["| Level | Criterion | Any of these fields | Why |",
             "|---|---|---|---|",
             "| bronze | valid report | the official BoAmps schema and the boamps-etl "
             "extension schema | required fields present, every value of the right type and "
             "within bounds |"]
    for c in RUBRIC:
        fields = " or ".join(f"`{p}`" for p in c.any_of)
        lines.append(f"| {c.level} | {c.name} | {fields} | {c.why} |")
    return "\n".join(lines) + "\n"
