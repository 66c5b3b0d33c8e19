"""Named transforms a mapping rule can apply, and the value parsers they share.

A transform takes the text cells of its source columns (``None`` where a column is absent or
a cell is empty) for a whole block of rows at once and returns one value per row (``None``
for "no value"), or raises :class:`ValueProblem` for one row through ``problems``. Working
on whole columns keeps the per-row cost low; parsers of repeated strings (CPU and GPU
models, platform strings) are cached.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from . import hardware
from .codecarbon import EMPTY_VALUES

Cells = Sequence[str | None]

#: Namespace of the report ids boamps-etl derives when a row has no usable run_id.
REPORT_ID_NAMESPACE = uuid.UUID("6f1c7a8e-2b0d-5d3e-9a41-b0a3f5e2c7d1")


class ValueProblem(ValueError):
    """A cell that cannot be read as the field needs: carries the column and a hint."""

    def __init__(self, message: str, column: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.column = column
        self.hint = hint


@dataclass
class TransformContext:
    """What a transform may know beside its cells."""

    kind: str = "codecarbon"  # codecarbon | task | tracker
    per_row: bool = False
    args: dict[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    rows: Sequence[int] = ()
    content: Sequence[Cells] = ()  # every column of the block, for content-derived ids


Problems = dict[int, ValueProblem]
TransformFunc = Callable[[list[Cells], TransformContext, Problems], list[Any]]


@dataclass(frozen=True)
class Transform:
    name: str
    func: TransformFunc
    sources: tuple[int, int]  # min, max number of source columns
    doc: str


TRANSFORMS: dict[str, Transform] = {}


def transform(name: str, sources: tuple[int, int], doc: str) -> Callable[[TransformFunc],
                                                                          TransformFunc]:
    def register(func: TransformFunc) -> TransformFunc:
        TRANSFORMS[name] = Transform(name, func, sources, doc)
        return func
    return register


# --------------------------------------------------------------------------- value parsers

WRAPPED_UNIT = re.compile(r"^\s*(?:Power|Energy)\(\s*k?Wh?\s*=\s*([^)]*)\)\s*$")


def clean(text: Any) -> str | None:
    """Strip a cell; CodeCarbon's empty spellings ('', 'None', 'nan') become ``None``.

    Column-wise twin: :func:`boamps_etl.engine.arrays._clean_array`."""
    if text is None:
        return None
    if not isinstance(text, str):
        if isinstance(text, float) and math.isnan(text):
            return None
        text = repr(text) if isinstance(text, float) else str(text)
    text = text.strip()
    return None if text in EMPTY_VALUES else text


def parse_decimal(text: str, column: str | None = None) -> Decimal:
    """Parse a numeric cell exactly (as written), refusing NaN and infinities."""
    match = WRAPPED_UNIT.match(text)
    if match:  # BoAmps_Carbon tracker cells: Power(kW=0.0425)
        text = match.group(1)
    try:
        value = Decimal(text.strip().replace("_", "x"))
    except InvalidOperation:
        raise ValueProblem(f"'{_short(text)}' is not a number", column,
                           "write a plain decimal number such as 0.0123 or 1.2e-05") from None
    if value.is_nan():
        raise ValueProblem("is NaN, not a number", column, "leave the cell empty if unknown")
    if value.is_infinite():
        raise ValueProblem(f"'{_short(text)}' is infinite", column, INFINITE_HINT)
    return value


INFINITE_HINT = "write the measured number, or leave the cell empty if unknown"
#: Largest count accepted (2**53: every whole number up to it is exact in JSON readers).
MAX_COUNT = 1 << 53


def to_float(text: str, column: str | None = None, scale: Decimal | None = None) -> float:
    """A number with full precision: plain cells go straight to float (exact round trip);
    scaled ones go through Decimal so ``0.0425 kW`` becomes exactly ``42.5 W``.

    Column-wise twins: :func:`boamps_etl.engine.columns._parse_numbers` (plain),
    :func:`boamps_etl.engine.columns._scaled_column` (scaled)."""
    if scale is None and not WRAPPED_UNIT.match(text):
        try:
            if "_" in text:  # float() reads '1_000'; a cell is a plain decimal number
                raise ValueError
            value = float(text)
        except ValueError:
            value = float(parse_decimal(text, column))  # raises a located problem
        if math.isnan(value):
            raise ValueProblem("is NaN, not a number", column, "leave the cell empty if unknown")
        if math.isinf(value):
            raise ValueProblem(f"'{_short(text)}' is infinite", column, INFINITE_HINT)
        return value
    number = parse_decimal(text, column)
    result = float(number * scale) if scale is not None else float(number)
    if math.isinf(result):
        raise ValueProblem(f"'{_short(text)}' is out of range", column)
    return result


def to_int(text: str, column: str | None = None) -> int:
    """Counts: '8' and '8.0' (pandas rewrites ints as floats) are 8; '8.5' is an error."""
    try:
        value = int(text)
    except ValueError:
        number = parse_decimal(text, column)
        if number != number.to_integral_value():
            raise ValueProblem(f"'{_short(text)}' is not a whole number", column) from None
        # Checked before int(): int(Decimal('1e999999999')) would build a huge number.
        value = MAX_COUNT + 1 if number.adjusted() > 16 else int(number)
    if abs(value) > MAX_COUNT:
        raise ValueProblem(f"'{_short(text)}' is out of range for a count", column,
                           "counts are whole numbers such as 8")
    return value


def country_from_iso(code: str) -> str | None:
    """The English short name of a country from its ISO 3166 code, alpha-2 (``ID``) or
    alpha-3 (``FRA``), by the maintained ISO 3166 data of :mod:`pycountry`; ``None`` for
    a code ISO 3166 does not define. The common name is preferred where ISO's is long
    (``Bolivia`` for ``Bolivia, Plurinational State of``)."""
    import pycountry

    code = code.strip()
    if not code.isascii() or not code.isalpha() or len(code) not in (2, 3):
        return None
    found = (pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else
             pycountry.countries.get(alpha_3=code.upper()))
    if found is None:
        return None
    name = getattr(found, "common_name", None) or found.name
    return str(name)


def printable(text: str, limit: int = 40) -> str:
    """Text for a one-line message: control characters escaped (a cell can hold terminal
    escape sequences or line breaks), and cut to ``limit`` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


_short = printable


def parse_timestamp(text: str, column: str | None = "timestamp") -> datetime:
    """CodeCarbon timestamps: ``2024-09-26T10:46:51``, with a space instead of ``T``, with
    fractions of a second, a ``Z`` or an offset. Local wall-clock time is kept as written."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueProblem(f"'{_short(text)}' is not a date and time", column,
                           "expected YYYY-MM-DDTHH:MM:SS as CodeCarbon writes it") from None
    return value.replace(tzinfo=None)


def format_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _iso_fast(text: str) -> str | None:
    # Most cells are already 'YYYY-MM-DDTHH:MM:SS': reformat without parsing.
    if len(text) == 19 and text[10] in "T " and text[4] == "-" and text[13] == ":":
        return text[:10] + " " + text[11:]
    return None


# --------------------------------------------------------------------------- transforms


def _per_value(cells: Cells, fn: Callable[[str], Any], problems: Problems,
               column: str | None) -> list[Any]:
    cache: dict[str, Any] = {}
    out: list[Any] = []
    for i, text in enumerate(cells):
        if text is None:
            out.append(None)
            continue
        if text in cache:
            out.append(cache[text])
            continue
        try:
            value = fn(text)
        except ValueProblem as exc:
            exc.column = exc.column or column
            problems[i] = exc
            value = None
        else:
            cache[text] = value
        out.append(value)
    return out


@transform("first", (1, 8), "the first non-empty source column (coalesce)")
def _first(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    return [next((v for v in values if v is not None), None) for values in zip(*cols,
                                                                                  strict=True)]


@transform("lower", (1, 1), "text in lower case")
def _lower(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    return [None if v is None else v.lower() for v in cols[0]]


# Column-wise twin: boamps_etl.engine.columns._datetime
@transform("datetime", (1, 1), "a timestamp as YYYY-MM-DD HH:MM:SS")
def _datetime(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    def one(text: str) -> str:
        return _iso_fast(text) or format_datetime(parse_timestamp(text, ctx.sources[0]))
    return _per_value(cols[0], one, problems, ctx.sources[0])


# Column-wise twin: boamps_etl.engine.columns._start_datetime
@transform("start_datetime", (2, 2),
           "timestamp minus duration (s), to the nearest second, as YYYY-MM-DD HH:MM:SS: "
           "CodeCarbon writes its timestamp when the measurement ends")
def _start_datetime(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    out: list[Any] = []
    ts_col, dur_col = ctx.sources[0], ctx.sources[1]
    for i, (ts, dur) in enumerate(zip(cols[0], cols[1], strict=True)):
        if ts is None or dur is None:
            out.append(None)
            continue
        try:
            end = parse_timestamp(ts, ts_col)
            seconds = to_float(dur, dur_col)
            if seconds < 0:
                raise ValueProblem(f"'{_short(dur)}' s is negative", dur_col,
                                   "a duration is at least 0 s: fix or delete the row")
            start = end - timedelta(seconds=seconds)
            start = (start + timedelta(microseconds=500_000)).replace(microsecond=0)
            out.append(format_datetime(start))
        except (ValueProblem, OverflowError) as exc:
            problems[i] = exc if isinstance(exc, ValueProblem) else ValueProblem(
                f"duration {dur} s is out of range", dur_col)
            out.append(None)
    return out


@transform("epoch_datetime", (1, 1),
           "seconds since 1970-01-01 UTC (as Zeus writes its start_time), to the nearest "
           "second, as YYYY-MM-DD HH:MM:SS (UTC)")
def _epoch_datetime(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    column = ctx.sources[0]

    def one(text: str) -> str:
        seconds = to_float(text, column)
        try:
            moment = datetime(1970, 1, 1) + timedelta(seconds=round(seconds))
        except (OverflowError, ValueError):
            raise ValueProblem(f"'{_short(text)}' s since 1970 is out of range", column,
                               "expected seconds since 1970-01-01 such as 1733050000.5") from None
        return format_datetime(moment)
    return _per_value(cols[0], one, problems, column)


_HMS = re.compile(r"^(\d+):([0-5]\d):([0-5]?\d(?:\.\d+)?)$")


@transform("hms_seconds", (1, 1),
           "a duration written H:MM:SS or H:MM:SS.ss (carbontracker's logs), in seconds")
def _hms_seconds(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    column = ctx.sources[0]

    def one(text: str) -> float:
        match = _HMS.match(text.strip())
        if not match:
            raise ValueProblem(f"'{_short(text)}' is not a duration H:MM:SS", column,
                               "expected hours:minutes:seconds such as 0:02:14")
        hours, minutes, seconds = match.groups()
        return float(int(hours) * 3600 + int(minutes) * 60 + Decimal(seconds))
    return _per_value(cols[0], one, problems, column)


@transform("country_name", (1, 1),
           "English name of a country from its ISO 3166 code (IN, FRA) or its name")
def _country_name(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    return _per_value(cols[0], hardware.country_name, problems, ctx.sources[0])


# Column-wise twin: boamps_etl.engine.columns._report_id
@transform("report_id", (1, 2),
           "run_id; for task files run_id + task_name, and for rows without a usable run_id "
           "(V1 files, 'None', empty) or with --per-row, a UUID derived from the row's content; "
           "with args {derived: true}, always the derived UUID")
def _report_id(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    run_ids = cols[0]
    if ctx.args.get("derived"):  # the id cell names a measurement of a run, not the run
        run_ids = [None] * len(run_ids)
    extras = list(ctx.content) or [[None] * len(run_ids)]
    task_names = cols[1] if len(cols) > 1 else [None] * len(run_ids)
    out: list[Any] = []
    for i, run_id in enumerate(run_ids):
        content = "\x1f".join(str(col[i]) for col in extras)
        if run_id is not None and task_names[i] is not None:
            out.append(str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{run_id}\x1e{task_names[i]}")))
        elif run_id is not None and not ctx.per_row:
            out.append(run_id)
        else:
            out.append(str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{run_id}\x1e{content}")))
    return out


def _platform_part(attr: str) -> TransformFunc:
    def run(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
        def one(text: str) -> Any:
            value = getattr(hardware.parse_platform(text), attr)
            # An unrecognised platform string is still the best name of the OS there is.
            return text if value is None and attr == "os" else value
        return _per_value(cols[0], one, problems, ctx.sources[0])
    return run


def _hw_part(parser: Callable[[str], Any], attr: str) -> TransformFunc:
    def run(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
        return _per_value(cols[0], lambda t: getattr(parser(t), attr), problems, ctx.sources[0])
    return run


for _name, _attr, _doc in (
    ("os_name", "os", "OS name (Linux, Windows, macOS) from a platform string"),
    ("os_distribution", "distribution", "distribution named in a platform string"),
    ("os_distribution_version", "distribution_version",
     "distribution version named in a platform string"),
):
    transform(_name, (1, 1), _doc)(_platform_part(_attr))

for _name, _parser, _attr, _doc in (
    ("cpu_manufacturer", hardware.parse_cpu_model, "manufacturer", "CPU maker (Intel, AMD...)"),
    ("cpu_family", hardware.parse_cpu_model, "family", "CPU family (Xeon, EPYC, Core...)"),
    ("cpu_series", hardware.parse_cpu_model, "series", "CPU series (Gold 6226R, i7-10750H...)"),
    ("gpu_manufacturer", hardware.parse_gpu_model, "manufacturer", "GPU maker (NVIDIA, AMD...)"),
    ("gpu_family", hardware.parse_gpu_model, "family", "GPU product line (Tesla, GeForce...)"),
    ("gpu_series", hardware.parse_gpu_model, "series", "GPU model (V100S, RTX 3090...)"),
    ("gpu_memory", hardware.parse_gpu_model, "memory_gb",
     "memory of one GPU in GB, from a '32GB' token in the model string"),
):
    transform(_name, (1, 1), _doc)(_hw_part(_parser, _attr))


@transform("gpu_count", (1, 2),
           "number of GPUs: gpu_count, else the 'N x' prefix of gpu_model; 0 means no GPU")
def _gpu_count(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    counts = _per_value(cols[0], lambda t: to_int(t, ctx.sources[0]), problems, ctx.sources[0])
    if len(cols) > 1:
        models = cols[1]
        for i, count in enumerate(counts):
            if count is None and models[i] is not None and i not in problems:
                counts[i] = hardware.parse_gpu_model(models[i]).count
    return counts


_YES = {"y", "yes", "true", "1"}


@transform("infra_type", (2, 2),
           "publicCloud when on_cloud is Y or a cloud provider is set, else onPremise")
def _infra_type(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    out: list[Any] = []
    for on_cloud, provider in zip(cols[0], cols[1], strict=True):
        if on_cloud is None and provider is None:
            out.append(None if ctx.args.get("require_signal") else "onPremise")
        elif (on_cloud or "").lower() in _YES or provider is not None:
            out.append("publicCloud")
        else:
            out.append("onPremise")
    return out


# Column-wise twin: boamps_etl.engine.columns._emissions_rate
@transform("emissions_rate", (3, 3),
           "emissions rate in kg CO2eq/s; values CodeCarbon 2.0-2.1 wrote in g/s (1000 x "
           "emissions / duration) are divided by 1000")
def _emissions_rate(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    out: list[Any] = []
    rate_col = ctx.sources[0]
    milli = Decimal("0.001")
    for i, (rate, emissions, duration) in enumerate(zip(*cols, strict=True)):
        if rate is None:
            out.append(None)
            continue
        try:
            value = to_float(rate, rate_col)
            if emissions is not None and duration is not None:
                e, d = to_float(emissions, ctx.sources[1]), to_float(duration, ctx.sources[2])
                if e > 0 and d > 0 and value > 0 and abs(value / (e / d) - 1000) < 10:
                    value = to_float(rate, rate_col, milli)
            out.append(value)
        except ValueProblem as exc:
            problems[i] = exc
            out.append(None)
    return out


# Column-wise twin: boamps_etl.engine.columns._carbon_intensity
@transform("carbon_intensity", (2, 2),
           "emissions (kg) / energy (kWh) x 1000, in g CO2eq/kWh, when both are positive")
def _carbon_intensity(cols: list[Cells], ctx: TransformContext, problems: Problems) -> list[Any]:
    out: list[Any] = []
    for i, (emissions, energy) in enumerate(zip(*cols, strict=True)):
        if emissions is None or energy is None:
            out.append(None)
            continue
        try:
            e, k = to_float(emissions, ctx.sources[0]), to_float(energy, ctx.sources[1])
        except ValueProblem as exc:
            problems[i] = exc
            out.append(None)
            continue
        value = e / k * 1000 if e > 0 and k > 0 else None
        if value is not None and not math.isfinite(value):
            problems[i] = not_finite(f"'{_short(energy)}' gives a carbon intensity "
                                     "(emissions / energy)", ctx.sources[1])
            value = None
        out.append(value)
    return out


def not_finite(what: str, column: str | None) -> ValueProblem:
    """The problem of a derived value that overflows (or is NaN): a row problem, located at
    the cell it comes from, never an ``inf`` in a report."""
    return ValueProblem(f"{what} that is not a finite number", column,
                        "check the cell: a value this small or large is not a measurement")


# --------------------------------------------------------------------------- units

_UNIT_ALIASES = {
    "kwh": "kWh", "wh": "Wh", "w": "W", "kw": "kW", "s": "s", "ms": "ms", "min": "min",
    "h": "h", "%": "%", "1": "1", "fraction": "1", "kg": "kg", "g": "g", "gb": "GB",
    "mb": "MB", "gib": "GiB", "l": "L", "ml": "mL", "kg co2eq": "kg", "g co2eq": "g",
    "kg co2eq/s": "kg/s", "g co2eq/s": "g/s", "kg/s": "kg/s", "g/s": "g/s",
    "j": "J", "joule": "J", "kj": "kJ", "g co2eq/kwh": "g/kWh", "kg co2eq/kwh": "kg/kWh",
    "l/kwh": "L/kWh", "degree": "degree",
}

#: Prefixed units told apart by case only (mWh and MWh, mJ and MJ): matched as written.
_UNIT_EXACT = {"J": "J", "kJ": "kJ", "MJ": "MJ", "mJ": "mJ", "mWh": "mWh", "MWh": "MWh",
               "Wh": "Wh", "kWh": "kWh"}

with localcontext() as _ctx:  # 1 J = 1/3,600,000 kWh: kept to 40 digits, beyond a float's
    _ctx.prec = 40
    _J_TO_KWH = Decimal(1) / Decimal(3_600_000)
    _J_TO_WH = Decimal(1) / Decimal(3_600)

_FACTORS: dict[tuple[str, str], Decimal] = {
    ("kW", "W"): Decimal(1000), ("W", "kW"): Decimal("0.001"),
    ("Wh", "kWh"): Decimal("0.001"), ("kWh", "Wh"): Decimal(1000),
    ("ms", "s"): Decimal("0.001"), ("min", "s"): Decimal(60), ("h", "s"): Decimal(3600),
    ("%", "1"): Decimal("0.01"), ("1", "%"): Decimal(100),
    ("g", "kg"): Decimal("0.001"), ("kg", "g"): Decimal(1000),
    ("g/s", "kg/s"): Decimal("0.001"), ("kg/s", "g/s"): Decimal(1000),
    ("kg/kWh", "g/kWh"): Decimal(1000), ("g/kWh", "kg/kWh"): Decimal("0.001"),
    ("MB", "GB"): Decimal("0.001"), ("GiB", "GB"): Decimal("1.073741824"),
    ("mL", "L"): Decimal("0.001"),
    # Energy as other trackers write it (Zeus and perun: J; AI Energy Score: Wh; mWh).
    ("J", "kWh"): _J_TO_KWH, ("J", "Wh"): _J_TO_WH, ("kJ", "kWh"): _J_TO_KWH * 1000,
    ("MJ", "kWh"): _J_TO_KWH * 1_000_000, ("mJ", "kWh"): _J_TO_KWH / 1000,
    ("mWh", "kWh"): Decimal("0.000001"), ("MWh", "kWh"): Decimal(1000),
    ("kWh", "J"): Decimal(3_600_000),
}


def normalise_unit(unit: str) -> str | None:
    """Canonical spelling of a unit, or ``None`` if unknown."""
    text = unit.strip()
    return _UNIT_EXACT.get(text) or _UNIT_ALIASES.get(text.lower())


def unit_factor(source_unit: str, unit: str) -> Decimal | None:
    """Exact factor from ``source_unit`` to ``unit`` (``None``: no conversion known)."""
    a, b = normalise_unit(source_unit), normalise_unit(unit)
    if a is None or b is None:
        return None
    if a == b:
        return Decimal(1)
    return _FACTORS.get((a, b))


def known_units() -> list[str]:
    return sorted(set(_UNIT_ALIASES.values()) | set(_UNIT_EXACT.values()))
