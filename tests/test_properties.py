"""Property-based tests (hypothesis): any valid CodeCarbon row of any version gives a
schema-valid report holding the CSV's numbers exactly; any bytes or CSV-like text give
reports or located problems (BoampsEtlError), never another exception."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import TASK_CONTEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import boamps_etl as be
from bench.generate import HEADERS, TASK_VARIANTS, iter_rows
from boamps_etl.errors import BoampsEtlError
from boamps_etl.io.readers import read_codecarbon_csv

#: BOAMPS_ETL_EXAMPLES=2000 runs a longer search (the default keeps the suite quick).
SETTINGS = settings(max_examples=int(os.environ.get("BOAMPS_ETL_EXAMPLES", "60")),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: CodeCarbon column -> the measures[0] field holding it, unchanged (same unit).
EXACT = {
    "energy_consumed": "powerConsumption", "duration": "measurementDuration",
    "cpu_energy": "cpuEnergy", "gpu_energy": "gpuEnergy", "ram_energy": "ramEnergy",
    "cpu_power": "cpuPower", "gpu_power": "gpuPower", "ram_power": "ramPower",
    "emissions": "emissions", "emissions_rate": "emissionsRate",
    "water_consumed": "waterConsumed", "pue": "pue", "wue": "wue", "ram_used_gb": "ramUsedSize",
}
#: Columns whose schema field may be negative (CodeCarbon writes negative energies).
SIGNED = {"cpu_energy", "gpu_energy", "ram_energy"}


def _number(low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(st.floats(min_value=low, max_value=high, allow_nan=False,
                               allow_infinity=False),
                     st.integers(min_value=math.ceil(low), max_value=int(high)).map(float),
                     st.sampled_from([low, high, 0.1, 1e-300, 5e-324, 2.5e-05])
                     .filter(lambda x: low <= x <= high))


@st.composite
def cell_text(draw: st.DrawFn, value: float) -> str:
    """How a number may be written: repr (CodeCarbon), exponent or fixed forms, padded."""
    forms = [repr(value), f"{value:.17e}", f"{value:.17g}"]
    if value == int(value) and abs(value) < 1e15:
        forms.append(str(int(value)))
    text = draw(st.sampled_from(forms))
    return f" {text} " if draw(st.booleans()) else text


@st.composite
def codecarbon_file(draw: st.DrawFn) -> tuple[str, list[str], list[dict[str, str]]]:
    """A CodeCarbon CSV of a random version: header, and rows of random valid numbers over
    realistic text cells (bench.generate), each row its own run."""
    variant = draw(st.sampled_from(sorted(HEADERS)))
    header = HEADERS[variant]
    n = draw(st.integers(min_value=1, max_value=3))
    template = [[str(c) for c in row] for row in iter_rows(variant, n, seed=draw(
        st.integers(0, 50)))]
    rows = []
    for i, base in enumerate(template):
        row = dict(zip(header, base, strict=True))
        duration = draw(_number(0.0, 1e7))
        values = {"duration": duration, "pue": draw(_number(1.0, 3.0))}
        for column in EXACT:
            if column in ("duration", "pue", "emissions_rate"):
                continue
            values[column] = draw(_number(-1e6 if column in SIGNED else 0.0, 1e6))
        emissions = values["emissions"]
        if duration > 0 and math.isfinite(emissions / duration):
            values["emissions_rate"] = emissions / duration  # kg/s, as CodeCarbon >= 2.2
        for column, value in values.items():
            if column in row:
                row[column] = draw(cell_text(value))
        if "emissions_rate" in row and "emissions_rate" not in values:
            row["emissions_rate"] = ""
        if "run_id" in row and variant not in TASK_VARIANTS:
            row["run_id"] = f"00000000-0000-4000-8000-{i:012d}"
        rows.append(row)
    return variant, header, rows


def _write(folder: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    def quote(cell: str) -> str:
        return f'"{cell}"' if any(c in cell for c in ',"\n') else cell
    path = folder / "emissions.csv"
    path.write_text(",".join(header) + "\n" + "".join(
        ",".join(quote(r[c]) for c in header) + "\n" for r in rows), encoding="utf-8")
    return path


@SETTINGS
def _intensity_overflows(row: dict[str, str]) -> bool:
    """The carbon intensity (emissions / energy x 1000) of a row is not a finite number."""
    try:
        e, k = float(row.get("emissions", "")), float(row.get("energy_consumed", ""))
    except ValueError:
        return False
    with contextlib.suppress(OverflowError, ZeroDivisionError):
        return e > 0 and k > 0 and not math.isfinite(e / k * 1000)
    return e > 0 and k > 0


@given(codecarbon_file())
def test_valid_rows_of_every_version_give_valid_reports_with_the_csv_numbers(
        data: tuple[str, list[str], list[dict[str, str]]]) -> None:
    variant, header, rows = data
    context: dict[str, Any] = dict(TASK_CONTEXT)
    if "cpu_model" not in header:  # 1.x files record no hardware
        context["infrastructure"] = {"components": [{"componentType": "cpu",
                                                     "nbComponent": 4}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), header, rows)
        result = be.convert(path, context=context)
    assert len(result.reports) == len(rows)
    for report, row in zip(result.reports, rows, strict=True):
        if _intensity_overflows(row):  # 5e-324 kWh: a located problem of the row (#12)
            assert report.status == "invalid"
            assert [i.where.column for i in report.issues] == ["energy_consumed"]
            continue
        assert report.status == "valid", [str(i) for i in report.issues]
        measures = report.document["measures"][0]
        for column, field in EXACT.items():
            cell = row.get(column, "").strip()
            if column == "emissions_rate" and variant in ("v2.0", "v2.0-sorted"):
                continue  # g/s files: the rate is converted
            if cell:
                assert measures[field] == float(cell), (column, cell, measures[field])
            else:
                assert field not in measures, column  # absent data, never a zero


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_but_located_errors(data: bytes) -> None:
    try:
        table = read_codecarbon_csv(data, name="fuzz.csv")
        be.convert(table.frame.drop(columns="__row__"), context=TASK_CONTEXT)
    except BoampsEtlError as exc:
        assert str(exc).strip() and "\n" not in str(exc.issue)


_CELL = st.text(alphabet=st.sampled_from(list('0123456789.-+eEinfaNTZ:_ ,;\t"\n\rx\x00é')),
                max_size=12)
_COLUMNS = st.sampled_from(["timestamp", "duration", "emissions", "energy_consumed",
                            "run_id", "cpu_power", "gpu_count", "cpu_count", "pue", "",
                            "Duration", "timestamp"])


@st.composite
def csv_like_text(draw: st.DrawFn) -> str:
    required = ["timestamp", "duration", "emissions", "energy_consumed"]
    header = draw(st.permutations(required + draw(st.lists(_COLUMNS, max_size=4))))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [delimiter.join(header)]
    for _ in range(draw(st.integers(0, 4))):
        width = draw(st.sampled_from([len(header), len(header) - 1, len(header) + 1, 1]))
        lines.append(delimiter.join(draw(st.lists(_CELL, min_size=width, max_size=width))))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


@SETTINGS
@given(csv_like_text(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
       st.booleans())
def test_csv_like_text_gives_reports_or_located_errors(text: str, encoding: str,
                                                       gz: bool) -> None:
    import gzip

    data = text.encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("e.csv.gz" if gz else "e.csv")
        path.write_bytes(gzip.compress(data) if gz else data)
        try:
            result = be.convert(path, context=TASK_CONTEXT)
        except BoampsEtlError as exc:
            assert str(exc.where.file) == str(path)
            return
        summary = be.convert_to(path, Path(tmp) / "out", "jsonl", context=TASK_CONTEXT)
        assert summary.counts["valid"] == len(result.valid)
        for report in result.reports:
            for issue in report.issues:
                assert issue.where.file == str(path) and issue.where.row is not None


@pytest.mark.parametrize("text", ["1e999999999", "9" * 5000, "1_000", "-0", "0x10"])
def test_counts_and_numbers_from_odd_spellings_are_bounded(text: str) -> None:
    from boamps_etl.transforms import ValueProblem, to_float, to_int

    for parse in (to_int, to_float):
        try:
            value = parse(text, "cpu_count")
        except ValueProblem as exc:
            assert exc.column == "cpu_count"
        else:
            assert math.isfinite(value) and abs(value) <= 2 ** 53


_PATH_PARTS = st.sampled_from(["task", "dataset", "[0]", "[gpu]", "[", ".", "]", "measures",
                               "[99]", "[100]", "infrastructure", "components", "share",
                               "taskStage", "[-1]", "quality", "header", "..", "=", "[]",
                               "dataQuantity", "algorithms", "x"])


@SETTINGS
@given(st.lists(_PATH_PARTS, max_size=7).map("".join), st.text(max_size=12))
def test_any_set_assignment_gives_a_partial_report_or_a_located_error(path: str,
                                                                      value: str) -> None:
    from boamps_etl.context import parse_set

    try:
        patch = parse_set(f"{path}={value}")
    except BoampsEtlError as exc:
        assert str(exc).startswith("--set")
    else:
        assert isinstance(patch, dict) and patch


_YAML_TOKENS = st.sampled_from([
    "task:", "header:", "\n", "  ", "- ", "{", "}", "[", "]", ",", ": ", "taskStage",
    "training", "&a", "*a", "<<: *a", "!!python/name:os.system", "!!float", "!!int", "!!binary",
    "!!timestamp", "!!set", ".inf", ".nan", "1e999", "quality: high", '"', "'", "#", "match:",
    "when:", "project_name", "null", "~", "version: 1", "rules:", "extends:", "source:",
    "measures[0].powerConsumption:", "energy_consumed", "const:", "yes", "2024-01-01", "---",
    "\t", "\x00", "é", "? ", "|", "0x1F", "components:", "componentType: gpu", "share:"])


@SETTINGS
@given(st.lists(_YAML_TOKENS, max_size=25).map("".join),
       st.sampled_from(["context.yaml", "context.json", "mapping.yaml"]))
def test_any_context_or_mapping_text_loads_or_gives_a_located_error(text: str,
                                                                    name: str) -> None:
    from boamps_etl.context import load_context
    from boamps_etl.mapping import load_mapping

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        try:
            load_mapping(path) if name.startswith("mapping") else load_context([path])
        except BoampsEtlError as exc:
            assert str(exc.where.file) == str(path) and "\n" not in exc.message
