"""``summary``: energy, duration, emissions and level per run, project or task, and its plot
(PNG, SVG, self-contained HTML).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import Location, OutputError, UsageError
from ..levels import LEVELS, assess
from .common import PathLike, _get, _refuse_existing, _require, load_reports

if TYPE_CHECKING:
    import pandas as pd

By = Literal["run", "project", "task"]


# =========================================================================== summary

SUMMARY_COLUMNS = ("start", "reports", "energy_kwh", "cpu_energy_kwh", "gpu_energy_kwh",
                   "ram_energy_kwh", "duration_s", "emissions_kg",
                   "carbon_intensity_g_per_kwh", "level")
_INTENSITY = "carbon_intensity_g_per_kwh"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _measure_sum(doc: Mapping[str, Any], key: str) -> float:
    measures = doc.get("measures")
    values = [_number(m.get(key)) for m in measures if isinstance(m, Mapping)] \
        if isinstance(measures, list) else []
    given = [v for v in values if v is not None]
    return math.fsum(given) if given else math.nan


@dataclass
class _Entry:
    doc: Any
    file: str
    index: int
    csv_project: str | None = None


def _entries(sources: Any) -> list[_Entry]:
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    items = list(sources)
    if all(isinstance(s, str | os.PathLike) for s in items):
        return [_Entry(r.document, r.file, r.index) for r in load_reports(items)]
    out: list[_Entry] = []
    counters: dict[str, int] = {}
    for item in items:
        if hasattr(item, "document") and hasattr(item, "columns"):  # ConvertedReport
            name = str(item.source)
            counters[name] = counters.get(name, 0) + 1
            out.append(_Entry(item.document, name, counters[name],
                              item.columns.get("project_name") or None))
        elif isinstance(item, Mapping):
            counters["<reports>"] = counters.get("<reports>", 0) + 1
            out.append(_Entry(dict(item), "<reports>", counters["<reports>"]))
        elif hasattr(item, "to_dict"):
            counters["<reports>"] = counters.get("<reports>", 0) + 1
            out.append(_Entry(item.to_dict(), "<reports>", counters["<reports>"]))
        else:
            raise UsageError(f"cannot summarise a {type(item).__name__}",
                             hint="give report paths, dicts or a conversion result")
    return out


def summarize(sources: Any, by: By = "run") -> pd.DataFrame:
    """Energy, duration and emissions of reports, per run (report), project or task.

    Args:
        sources: report files or folders (paths), a :class:`~boamps_etl.pipeline.
            ConversionResult`, or an iterable of reports (dicts or converted reports).
        by: ``'run'``: one row per report, labelled by its reportId (``file#N`` when
            missing or repeated). ``'project'``: grouped by ``header.publisher.projectName``,
            else (for converted reports) the CSV's ``project_name``, else ``(no project)``.
            ``'task'``: grouped by ``task.taskStage / task.taskFamily``.

    Returns:
        A DataFrame indexed by the group, with ``start`` (the earliest
        ``measures[].measurementDateTime``; per run, rows are in start order when every
        report has one, else in input order), ``reports`` (count), ``energy_kwh``
        (``measures[].powerConsumption``), ``cpu_energy_kwh``, ``gpu_energy_kwh``,
        ``ram_energy_kwh`` (NaN when the reports do not split the energy),
        ``duration_s``, ``emissions_kg`` (``measures[].emissions``, else energy x
        ``environment.powerSourceCarbonIntensity``), ``carbon_intensity_g_per_kwh``
        (emissions / energy) and ``level`` (the lowest level in the group). Sums are over
        all measures of all reports of the group.

    Raises:
        InputError: a report file cannot be read.
        UsageError: ``by`` is not run, project or task.

    >>> summarize(["reports/"], by="project")   # doctest: +SKIP
    """
    import pandas as pd

    if by not in ("run", "project", "task"):
        raise UsageError(f"cannot group by '{by}'", hint="group by run, project or task")
    entries = _entries(sources)
    ids = [_get(e.doc, ["header", "reportId"]) for e in entries]
    records = []
    for entry, report_id in zip(entries, ids, strict=True):
        doc = entry.doc if isinstance(entry.doc, Mapping) else {}
        energy = _measure_sum(doc, "powerConsumption")
        emissions = _measure_sum(doc, "emissions")
        intensity = _number(_get(doc, ["environment", "powerSourceCarbonIntensity"]))
        if math.isnan(emissions) and intensity is not None and not math.isnan(energy):
            emissions = energy * intensity / 1000
        unique = isinstance(report_id, str) and report_id and ids.count(report_id) == 1
        project = _get(doc, ["header", "publisher", "projectName"]) or entry.csv_project
        stage = _get(doc, ["task", "taskStage"]) or "?"
        family = _get(doc, ["task", "taskFamily"]) or "?"
        records.append({
            "run": report_id if unique else f"{Path(entry.file).name}#{entry.index}",
            "project": str(project) if project else "(no project)",
            "task": f"{stage} / {family}",
            "start": _start(doc),
            "reports": 1,
            "energy_kwh": energy,
            "cpu_energy_kwh": _measure_sum(doc, "cpuEnergy"),
            "gpu_energy_kwh": _measure_sum(doc, "gpuEnergy"),
            "ram_energy_kwh": _measure_sum(doc, "ramEnergy"),
            "duration_s": _measure_sum(doc, "measurementDuration"),
            "emissions_kg": emissions,
            "level": assess(entry.doc).level,  # drafts carry warnings only: re-validate
        })
    frame = pd.DataFrame.from_records(records, columns=[
        "run", "project", "task", *(c for c in SUMMARY_COLUMNS if c != _INTENSITY)])
    sums = [c for c in SUMMARY_COLUMNS if c not in ("start", _INTENSITY, "level")]
    if by == "run":
        out = frame.set_index("run")
        if out["start"].notna().all():  # report files come in name order: put runs in time
            out = out.sort_values("start", kind="stable")
    else:
        grouped = frame.groupby(by, sort=False, dropna=False)
        out = grouped[sums].sum(min_count=1)
        out["start"] = grouped["start"].min()
        out["level"] = grouped["level"].agg(lambda s: min(s, key=LEVELS.index))
    out = out.copy()
    out["reports"] = out["reports"].astype(int)
    with_energy = out["energy_kwh"].where(out["energy_kwh"] > 0)
    out[_INTENSITY] = out["emissions_kg"] * 1000 / with_energy
    out.index.name = by
    return out[list(SUMMARY_COLUMNS)]


def _start(doc: Mapping[str, Any]) -> str | None:
    """The earliest ``measures[].measurementDateTime`` (``YYYY-MM-DD HH:MM:SS`` text sorts
    in time order)."""
    measures = doc.get("measures")
    starts = [m.get("measurementDateTime") for m in measures if isinstance(m, Mapping)] \
        if isinstance(measures, list) else []
    texts = [s for s in starts if isinstance(s, str) and s]
    return min(texts) if texts else None


# --------------------------------------------------------------------------- plots

_COMPONENTS = (("cpu_energy_kwh", "CPU", "#4c72b0"), ("gpu_energy_kwh", "GPU", "#dd8452"),
               ("ram_energy_kwh", "RAM", "#55a868"))


def _series(frame: pd.DataFrame) -> list[tuple[str, str, list[float]]]:
    """The stacked series: cpu/gpu/ram energy when the reports split it, else the total."""
    out = []
    for col, label, color in _COMPONENTS:
        if col in frame and frame[col].notna().any():
            out.append((label, color, [0.0 if math.isnan(v) else float(v)
                                       for v in frame[col].tolist()]))
    if not out:
        out.append(("total", "#8172b3", [0.0 if math.isnan(v) else float(v)
                                         for v in frame["energy_kwh"].tolist()]))
    return out


def _energy_unit(series: list[tuple[str, str, list[float]]]) -> tuple[str, float]:
    totals = [sum(vals) for vals in zip(*(s[2] for s in series), strict=True)] or [0.0]
    top = max(totals)
    if top >= 0.1:
        return "kWh", 1.0
    if top >= 1e-4:
        return "Wh", 1e3
    return "mWh", 1e6


def _labels(frame: pd.DataFrame) -> tuple[list[str], str]:
    name = str(frame.index.name or "group")
    labels = [str(v) for v in frame.index.tolist()]
    if len(labels) > 20:
        return [str(i) for i in range(1, len(labels) + 1)], f"{name} (numbered as in the table)"
    # run ids are UUIDs: their first block tells them apart, when it does
    heads = [lab.split("-", 1)[0] for lab in labels]
    if all(len(h) >= 6 for h in heads) and len(set(heads)) == len(heads) and \
            any(len(lab) > 12 for lab in labels):
        return [f"{h}…" for h in heads], f"{name} (first characters of its id)"
    return [lab if len(lab) <= 24 else lab[:11] + "…" + lab[-11:] for lab in labels], name


#: Bars drawn one by one up to this many groups; above, the runs are drawn as stacked areas
#: (a bar would be thinner than a pixel).
_MAX_BARS = 200
#: A log scale when the largest total is this many times the smallest (tiny runs next to
#: big ones would be invisible on a linear scale).
_LOG_SPREAD = 100.0


def _tick_step(n: int, width_in: float) -> int:
    """A round step (1, 2, 5, 10, 20, 50...) giving at most 3 tick labels an inch."""
    most = max(1, int(width_in * 3))
    return next(s for s in _round_steps() if -(-n // s) <= most)


def _round_steps() -> Iterator[int]:
    base = 1
    while True:
        for m in (1, 2, 5):
            yield base * m
        base *= 10


def _figure(frame: pd.DataFrame) -> tuple[Any, Any]:
    """The summary chart as a matplotlib ``(Figure, Axes)``: one stacked bar per group (or
    stacked areas for many groups), on a log scale when the totals span orders of
    magnitude, with labels that never overlap."""
    _require("matplotlib", "plot", "PNG plots")
    from matplotlib.figure import Figure

    series = _series(frame)
    unit, factor = _energy_unit(series)
    labels, xlabel = _labels(frame)
    n = len(labels)
    width = min(16.0, max(6.0, 0.5 + 0.14 * n if n > 20 else 1.1 * n + 3.5))
    fig = Figure(figsize=(width, 4.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    scaled_series = [(label, color, [v * factor for v in values])
                     for label, color, values in series]
    totals = [sum(col) for col in zip(*(v for _, _, v in scaled_series), strict=True)]
    positive = [t for t in totals if t > 0]
    log = bool(positive) and max(positive) / min(positive) > _LOG_SPREAD
    floor = min(positive) / 3 if log else 0.0
    xs = list(range(n))
    bottom = [floor] * n
    for label, color, values in scaled_series:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        if n > _MAX_BARS:
            ax.fill_between(xs, bottom, top, step="mid", label=label, color=color,
                            linewidth=0)
        else:
            ax.bar(xs, values, bottom=bottom, label=label, color=color,
                   width=0.8 if n > 1 else 0.5)
        bottom = top
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
    ax.set_ylabel(f"energy ({unit}{', log scale' if log else ''})")
    ax.set_xlabel(xlabel)
    name = str(frame.index.name or "group")
    ax.set_title(f"Energy by component per {name} ({n} {name}{'s' if n != 1 else ''})")
    if n > 20:
        step = _tick_step(n, width)
        ticks = xs[::step]
        ax.set_xticks(ticks, [labels[i] for i in ticks])
    else:
        long = max((len(lab) for lab in labels), default=0)
        slanted = n > 1 and long * n > 7 * width
        ax.set_xticks(xs, labels, rotation=30 if slanted else 0,
                      ha="right" if slanted else "center")
    ax.margins(x=0.01)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="component", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig, ax


def _svg(frame: pd.DataFrame) -> str:
    from html import escape

    series = _series(frame)
    unit, factor = _energy_unit(series)
    labels, xlabel = _labels(frame)
    n = max(1, len(labels))
    plot_w = max(390, 14 * n)
    height, left, bottom_pad, top, legend_w = 320, 70, 60, 30, 80
    width = left + plot_w + legend_w
    plot_h = height - top - bottom_pad
    totals = [sum(vals) * factor for vals in zip(*(s[2] for s in series), strict=True)]
    positive = [t for t in totals if t > 0]
    # as the PNG: a log scale when the totals span orders of magnitude
    log = bool(positive) and max(positive) / min(positive) > _LOG_SPREAD
    top_value = max(totals, default=0.0) or 1.0
    floor = min(positive) / 3 if log else 0.0
    span = math.log10(top_value / floor) if log else top_value

    def height_of(value: float) -> float:  # from the axis, in pixels
        if log:
            return plot_h * max(0.0, math.log10(max(value, floor) / floor)) / span
        return plot_h * value / span

    bar_w = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="energy by component">',
             f'<text x="{left}" y="18" font-size="13">Energy by component per '
             f'{escape(str(frame.index.name or "group"))} ({unit})</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
             f'y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>']
    ticks = [10.0 ** e for e in range(math.ceil(math.log10(floor)),
                                       math.floor(math.log10(top_value)) + 1)] if log \
        else [top_value * k / 4 for k in range(5)]
    for value in ticks:
        y = top + plot_h - height_of(value)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{value:.3g}</text>')
    scale = ", log scale" if log else ""
    parts.append(f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="11" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.1f})" text-anchor="middle">'
                 f'energy ({unit}{scale})</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" '
                 f'text-anchor="middle">{escape(xlabel)}</text>')
    for i, label in enumerate(labels):
        below = floor
        for name, color, values in series:
            above = below + values[i] * factor
            y, h = top + plot_h - height_of(above), height_of(above) - height_of(below)
            below = above
            parts.append(f'<rect class="bar" x="{left + i * bar_w + bar_w * 0.1:.2f}" '
                         f'y="{y:.2f}" width="{bar_w * 0.8:.2f}" height="{h:.2f}" '
                         f'fill="{color}"><title>{escape(label)} {name}: '
                         f'{values[i] * factor:.6g} {unit}</title></rect>')
        if n <= 20:
            parts.append(f'<text x="{left + (i + 0.5) * bar_w:.1f}" y="{top + plot_h + 14}" '
                         f'font-size="10" text-anchor="middle">{escape(label)}</text>')
    for j, (name, color, _) in enumerate(series):
        x = left + plot_w + 14
        parts.append(f'<rect x="{x}" y="{top + j * 14}" width="10" height="10" '
                     f'fill="{color}"/><text x="{x + 14}" y="{top + j * 14 + 9}" '
                     f'font-size="10">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _html(frame: pd.DataFrame) -> str:
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in [frame.index.name, *frame.columns])
    rows = []
    for key, row in frame.iterrows():
        cells = [f"<th>{escape(str(key))}</th>"]
        for col in frame.columns:
            value = row[col]
            text = "" if isinstance(value, float) and math.isnan(value) else (
                f"{value:.6g}" if isinstance(value, float) else str(value))
            cells.append(f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>BoAmps summary</title><style>body{font-family:sans-serif;margin:2em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
            "text-align:right}</style></head><body>\n<h1>BoAmps summary</h1>\n"
            + _svg(frame) + "\n<table>\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n")


def plot_summary(frame: pd.DataFrame, path: PathLike, *, force: bool = False) -> Path:
    """Draw a :func:`summarize` frame: a stacked bar of CPU/GPU/RAM energy per group (the
    total energy when the reports do not split it), energy unit on the axis.

    Args:
        frame: a frame from :func:`summarize`.
        path: ``.png`` (needs the ``plot`` extra: matplotlib) or ``.html`` (a
            self-contained page: inline SVG chart and the data table, no script).
        force: overwrite an existing file.

    Returns:
        The file written.

    Raises:
        OutputError: another suffix, or the file exists (without ``force``).
        MissingExtraError: PNG without matplotlib.

    >>> plot_summary(summarize(["reports/"]), "energy.png")   # doctest: +SKIP
    """
    from ..io.writers import atomic_write

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise OutputError("the plot must be a .png or .html file", Location(target))
    _refuse_existing(target, force)
    if suffix == ".png":
        fig, _ = _figure(frame)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        atomic_write(target, buf.getvalue())
    else:
        atomic_write(target, _html(frame))
    return target
