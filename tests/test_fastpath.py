"""The column-wise path (boamps_etl.engine) against the reference pipeline.

Every comparison converts the same input twice with :func:`boamps_etl.convert_to`, once
with ``fast_path=False`` (every row through boamps_etl.pipeline), and asserts the same JSONL
bytes, the same status and level counts and the same issues. Inputs: every CSV fixture,
the public corpus, generated files of every CodeCarbon version, and random rows with broken
cells.
"""

from __future__ import annotations

import csv
import io
import math
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    CODECARBON,
    CORPUS,
    ENGINE_MIN_BYTES,
    FIXTURES,
    TASK_CONTEXT,
    V321_HEADER,
    v321_row,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import boamps_etl as be
from bench.generate import VARIANTS, write_csv
from boamps_etl.engine import arrays, columns, scan, templates
from boamps_etl.errors import BoampsEtlError
from boamps_etl.io.readers import CsvSource

FORMATS = ("jsonl", "json", "csv", "parquet")
SUFFIX = {"jsonl": ".jsonl", "json": "", "csv": ".csv", "parquet": ".parquet"}


def _output(out: Path, fmt: str) -> Any:
    """What a conversion wrote: the file's bytes, or for json each file's name and bytes
    (hidden work files included: none may be left behind)."""
    if fmt != "json":
        return out.read_bytes() if out.exists() else b""
    if not out.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _run(path: Path | list[Path], out: Path, *, fast: bool, context: Any = TASK_CONTEXT,
         jobs: int = 1, fmt: str = "jsonl", **kw: Any) -> tuple[Any, Any]:
    out = out.with_name(out.stem + SUFFIX[fmt]) if out.suffix else out
    if out.is_dir():  # hypothesis examples share tmp_path
        shutil.rmtree(out)
    out.unlink(missing_ok=True)
    try:
        summary = be.convert_to(path, out, fmt, context=context, force=True,
                                fast_path=fast, jobs=jobs, **kw)
    except BoampsEtlError as exc:
        return None, str(exc.issue)
    return summary, _output(out, fmt)


def assert_same(path: Path | list[Path], tmp_path: Path, fmt: str = "jsonl",
                **kw: Any) -> Any:
    """Both paths give the same bytes, counts, levels and issues; returns the summary."""
    ref, ref_out = _run(path, tmp_path / "reference.jsonl", fast=False, fmt=fmt, **kw)
    got, got_out = _run(path, tmp_path / "fast.jsonl", fast=True, fmt=fmt, **kw)
    assert got_out == ref_out, path
    if fmt == "parquet" and isinstance(got_out, bytes) and got_out:
        _assert_same_tables(got_out, ref_out)
    if ref is None:
        return None
    assert got is not None
    assert got.counts == ref.counts
    assert got.levels == ref.levels
    assert [str(i) for i in got.issues] == [str(i) for i in ref.issues]
    assert got.reports_written == ref.reports_written
    assert got.rows_read == ref.rows_read
    if fmt == "jsonl":
        _check_with_jsonschema(got_out, drafts=bool(kw.get("allow_incomplete")))
    return got


def _assert_same_tables(got: bytes, ref: bytes) -> None:
    """Two Parquet files read as equal tables, schemas (field metadata too) included."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, b = pq.read_table(pa.BufferReader(got)), pq.read_table(pa.BufferReader(ref))
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.equals(b)


def _check_with_jsonschema(out: bytes | str, drafts: bool) -> None:
    """Every report written is valid for the reference validator (the ``jsonschema``
    package over the official and the extension schema), drafts apart."""
    import json

    from boamps_etl.validate import extension_validator, official_validator

    official, extension = official_validator(), extension_validator()
    for line in bytes(out).decode("utf-8").splitlines():
        doc = json.loads(line)
        if drafts and doc.get("header", {}).get("reportStatus") == "draft":
            continue
        assert official.is_valid(doc) and extension.is_valid(doc), line[:200]


def _fixtures() -> list[Path]:
    found = sorted(CODECARBON.glob("*.csv")) + sorted((FIXTURES / "fuzz").glob("*.csv"))
    found += sorted((FIXTURES / "bad").glob("*.csv"))
    return found


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("context, fmt", [(None, "jsonl"), (TASK_CONTEXT, "jsonl"),
                                          (TASK_CONTEXT, "json"), (TASK_CONTEXT, "csv"),
                                          (TASK_CONTEXT, "parquet")],
                         ids=["no-context-jsonl", "jsonl", "json", "csv", "parquet"])
def test_every_fixture_converts_the_same(path: Path, context: Any, fmt: str,
                                         tmp_path: Path) -> None:
    # without context few reports are valid: the layouts of json and csv are checked on
    # the valid reports a context gives
    assert_same(path, tmp_path, fmt, context=context)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_files_of_every_version_convert_the_same(variant: str, fmt: str,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=400, variant=variant, seed=11, gpu_share=0.4, cloud_share=0.3,
              flush=2)
    summary = assert_same(path, tmp_path, fmt)
    assert summary.reports > 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["plain", "per-row", "gzip", "task"])
def test_every_format_and_input_takes_the_column_wise_engine(fmt: str, how: str,
                                                             tmp_path: Path) -> None:
    # the engine serves every output format, per-row conversions, compressed inputs and
    # task files: same bytes as the reference, and the rows go through the engine
    import gzip

    path = tmp_path / "emissions.csv"
    write_csv(path, rows=600, variant="mixed", seed=4, gpu_share=0.4, cloud_share=0.3,
              flush=3)
    kw: dict[str, Any] = {}
    if how == "per-row":
        kw["per_row"] = True
    elif how == "gzip":
        packed = tmp_path / "emissions.csv.gz"
        packed.write_bytes(gzip.compress(path.read_bytes()))
        path = packed
    elif how == "task":
        path = tmp_path / "emissions_task.csv"
        write_csv(path, rows=300, variant="t3.2", seed=4)
    summary = assert_same(path, tmp_path, fmt, **kw)
    assert summary.reports_written > 0
    assert summary.engine_rows == summary.rows_read  # every row read column-wise


def test_the_fast_path_takes_clean_files(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=50, variant="v3.2.1", seed=3)
    assert scan.prepare(CsvSource(path)) is not None


def test_prepare_counts_the_rows_as_the_reference_scan_does(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=37, variant="v3.2.1", seed=5)
    reference = CsvSource(path)
    reference.scan()
    source = CsvSource(path)
    assert source.path == path and not source.scanned
    assert scan.prepare(source) is not None
    assert source.scanned and source.records == reference.records == 37
    assert CsvSource(path.read_bytes()).path is None  # in memory: the reference path


@pytest.mark.parametrize("name, text", [
    ("quoted", V321_HEADER + "\n" + v321_row(project_name='"a, b"') + "\n"),
    ("blank-line", V321_HEADER + "\n" + v321_row() + "\n\n" + v321_row(run_id="x") + "\n"),
    ("repeated-header", V321_HEADER + "\n" + v321_row() + "\n" + V321_HEADER + "\n"),
    ("short-row", V321_HEADER + "\n" + v321_row() + "\n1,2,3\n"),
    ("bare-cr", V321_HEADER + "\r" + v321_row() + "\r"),
    ("index-column", "," + V321_HEADER + "\n0," + v321_row() + "\n"),
    ("nul", V321_HEADER + "\n" + v321_row(project_name="a\x00b") + "\n"),
    ("header-only", V321_HEADER + "\n"),
])
def test_unusual_files_take_the_reference_path(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    try:
        source = CsvSource(path)
    except BoampsEtlError:
        return
    assert scan.prepare(source) is None
    assert_same(path, tmp_path)


def test_compressed_and_cp1252_files_take_the_reference_path(tmp_path: Path) -> None:
    import gzip

    body = (V321_HEADER + "\n" + v321_row(region="île") + "\n").encode("cp1252")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(body)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(body))
    for path in (latin, packed):
        assert scan.prepare(CsvSource(path)) is None
        assert_same(path, tmp_path)


# Cells that must make the fast path hand a row to the reference (or agree with it).
ODD_CELLS = {
    "duration": ["-5", "abc", "nan", "inf", "1e309", "1_000", " 7 ", "0x10", "", "None"],
    "energy_consumed": ["-0.1", "1e-400", "0.0", "1e-5", "12345678901234567890", "7.",
                        ".5", "+3", "N/A", "1,5"],
    "cpu_count": ["8.0", "8.5", "-1", "0", "x", "99999999999999999999"],
    "gpu_count": ["0", "1", "", "2.0", "y"],
    "timestamp": ["2024-02-30T10:00:00", "2023-02-29T10:00:00", "2024-01-01T23:59:60",
                  "2024-02-29T23:59:59", "2024-01-01 10:00:00", "2024-01-01T10:00:00.5",
                  "2024-01-01T10:00:00+02:00", "0001-01-01T00:00:05", "yesterday"],
    "cpu_utilization_percent": ["12.5", "-3", "150", "1e2", "abc", "0.000000000000000001"],
    "emissions_rate": ["0.5", "-1", "2.5e-05", "x"],
    "run_id": ["", "None", "same", "same"],
    "on_cloud": ["Y", "N", "yes", ""],
    "cloud_provider": ["gcp", "", "aws"],
    "tracking_mode": ["machine", "process", "MACHINE", ""],
    "country_iso_code": ["FRA", "", "fr\\a", "tab\there", "\xa0FRA", "FRA\u3000"],
    "region": ["île-de-france", "\u2028x", "x\x85", "\t"],
    "os": ["Linux-5.15", "Windows-10-10.0.19045-SP0", "macOS-14.1-arm64-arm-64bit", ""],
    "pue": ["1.0", "0.5", "1.4", ""],
}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_rows_with_broken_cells_convert_the_same(data: Any, tmp_path: Path) -> None:
    rows = []
    for n in range(data.draw(st.integers(1, 12))):
        overrides = {"run_id": f"00000000-0000-4000-8000-{n:012d}"}
        for column in data.draw(st.lists(st.sampled_from(sorted(ODD_CELLS)), max_size=3)):
            overrides[column] = data.draw(st.sampled_from(ODD_CELLS[column]))
        if data.draw(st.booleans()):
            overrides["duration"] = repr(data.draw(st.floats(0, 1e7)))
        rows.append(v321_row(**overrides))
    path = tmp_path / "random.csv"
    path.write_text(V321_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert_same(path, tmp_path)
    assert_same(path, tmp_path, allow_incomplete=True, context=None)


@pytest.mark.parametrize("cells", [
    ["12.5", "0.1", "1e-05"],  # nothing to trim, no short cell
    ["abc", "nan", "N/A", "none", "", "null"],  # empty spellings
    [" 7 ", "\t", "x\u00a0", "\u2003y", "é", "ab ", " nan", "NULL  ", "  "],  # edges
    ["Intel(R) Xeon(R)", "Y", "ab", "abcd", "None!", "1.0"],
])
def test_cells_are_cleaned_as_the_reference_reader_cleans_them(cells: list[str]) -> None:
    from boamps_etl.transforms import clean

    arrays.load_empty_values()
    array = arrays._text_array(cells)
    assert arrays._clean_array(array).to_pylist() == [clean(c) for c in cells]
    sliced = arrays._text_array(["pad", *cells]).slice(1)  # an array with an offset
    assert arrays._clean_array(sliced).to_pylist() == [clean(c) for c in cells]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_split_between_workers_gives_the_same_bytes(tmp_path: Path, fmt: str,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=3000, variant="mixed", seed=5, flush=3)
    # the same run twice (a name taken by a report of another range) and a row JSON
    # escapes (a csv line the reference writes)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text.append(text[5])
    text.insert(2000, text[1500].replace("Linux", "Lin\\ux"))
    path.write_text("".join(text), encoding="utf-8")
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 14)  # many small ranges
    one, one_out = _run(path, tmp_path / "one.jsonl", fast=True, jobs=1, fmt=fmt)
    many, many_out = _run(path, tmp_path / "many.jsonl", fast=True, jobs=3, fmt=fmt)
    ref, ref_out = _run(path, tmp_path / "ref.jsonl", fast=False, fmt=fmt)
    assert one_out == many_out == ref_out
    assert one.counts == many.counts == ref.counts
    assert one.levels == many.levels == ref.levels
    assert many.engine_rows == many.rows_read
    assert not list(tmp_path.glob(".boamps-etl.*"))  # worker files are cleaned up


@pytest.mark.parametrize("jobs", [1, 3])
def test_reports_of_one_name_get_suffixes_in_row_order_across_ranges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    # --per-row: identical rows give one report id, so one file name; the second, third...
    # report of a name gets -2, -3... in row order, whichever worker wrote it first
    rows = [v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{n % 7:012d}", duration=f"{n % 5}.5")
            for n in range(1, 700)]
    path = tmp_path / "repeated.csv"
    path.write_text(V321_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 13)
    ref, ref_out = _run(path, tmp_path / "ref", fast=False, fmt="json", per_row=True)
    assert ref.counts == {"valid": 699, "incomplete": 0, "invalid": 0}
    got, got_out = _run(path, tmp_path / "got", fast=True, fmt="json", per_row=True,
                        jobs=jobs)
    assert got_out == ref_out
    assert len(ref_out) == 699 and any(name.endswith("-19.json") for name in ref_out)
    assert got.engine_rows == 699


def test_several_files_split_between_workers_go_to_one_output_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # each file's ranges are handed out to the workers; the output keeps files and rows
    # in order
    paths = []
    for seed in (1, 2):
        paths.append(tmp_path / f"emissions-{seed}.csv")
        write_csv(paths[-1], rows=1500, variant="mixed", seed=seed, flush=3)
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 14)
    one = be.convert_to(paths, tmp_path / "one.jsonl", "jsonl", context=TASK_CONTEXT,
                        jobs=1)
    many = be.convert_to(paths, tmp_path / "many.jsonl", "jsonl", context=TASK_CONTEXT,
                         jobs=2)
    ref = be.convert_to(paths, tmp_path / "ref.jsonl", "jsonl", context=TASK_CONTEXT,
                        fast_path=False)
    out = (tmp_path / "many.jsonl").read_bytes()
    assert out == (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert many.reports_written == one.reports_written == ref.reports_written
    assert out.count(b"\n") == many.reports_written
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "emissions-1.csv", "emissions-2.csv", "many.jsonl", "one.jsonl", "ref.jsonl"]


@pytest.mark.parametrize("jobs", [1, 3])
def test_run_ids_sorted_out_in_buckets_on_disk_give_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    # a large file's run_ids go to files beside the output, bucket by bucket: the same
    # last row of each run, rows without run_id kept, nothing left behind
    rows = [v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{n % 37:012d}", duration=f"{n}.5")
            for n in range(1, 600)]
    rows[5] = v321_row(run_id="", duration="5.25")
    rows[400] = v321_row(run_id="None", duration="400.25")
    path = tmp_path / "in" / "flushes.csv"
    path.parent.mkdir()
    path.write_text(V321_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    ref, ref_out = _run(path, tmp_path / "out" / "ref.jsonl", fast=False)
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 13)
    monkeypatch.setattr(scan, "KEEP_BUCKET_BYTES", 1 << 12)  # dozens of buckets
    buckets: list[int] = []
    real = scan._last_of_each_bucket
    monkeypatch.setattr(scan, "_last_of_each_bucket",
                        lambda *a: buckets.append(a[3]) or real(*a))
    got, got_out = _run(path, tmp_path / "out" / "fast.jsonl", fast=True, jobs=jobs)
    assert buckets and buckets[0] > 10
    assert got_out == ref_out
    assert got.counts == ref.counts and got.reports_written == ref.reports_written == 39
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fast.jsonl", "ref.jsonl"]


def test_combinations_of_many_wide_columns_stay_apart() -> None:
    # six columns of 2,000 distinct cells: the product of their widths passes 2**63
    n = 2000
    rows = [(f"a{i}", f"b{i}", f"c{i}", f"d{i}", f"e{i}", f"f{(i * 7) % n}") for i in range(n)]
    rows += rows[:50]  # the same combinations again
    texts = [arrays._text_array([row[k] for row in rows]) for k in range(6)]
    cells, inverse = columns._combinations(texts)
    assert len(cells[0]) == n
    assert [tuple(col[j] for col in cells) for j in inverse.tolist()] == rows


def test_hash_buckets_keep_equal_texts_together_and_spread_others() -> None:
    texts = [f"run-{i % 500}" for i in range(5000)] + ["é" * 40, "x"]
    buckets = scan._hash_buckets(arrays._text_array(texts), 16)
    by_text: dict[str, set[int]] = {}
    for text, bucket in zip(texts, buckets.tolist(), strict=True):
        by_text.setdefault(text, set()).add(bucket)
    assert all(len(b) == 1 for b in by_text.values())
    sizes = [list(buckets).count(b) for b in range(16)]
    assert min(sizes) > 0 and max(sizes) < 3 * len(texts) / 16


def test_runs_flushed_across_a_worker_boundary_keep_their_last_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one run's flushes spread over the whole file: only its very last row is kept
    rows = [v321_row(run_id="aaaaaaaa-0000-4000-8000-000000000000", duration=f"{n}.5")
            for n in range(1, 400)]
    path = tmp_path / "flushes.csv"
    path.write_text(V321_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 12)
    summary, out = _run(path, tmp_path / "out.jsonl", fast=True, jobs=2)
    assert summary.reports_written == 1
    assert b'"measurementDuration": 399.5' in bytes(out)


@pytest.mark.corpus
def test_corpus_files_convert_the_same(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/public is absent")
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".csv", ".gz"))
    assert files
    for path in files:
        for fmt in FORMATS:
            assert_same(path, tmp_path, fmt)


# --------------------------------------------------------------------------- numbers


def _random_double(rng: random.Random) -> float:
    while True:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            return value


@settings(deadline=None)  # the first call loads Arrow's string kernels
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                max_size=60))
def test_float_texts_are_python_reprs(values: list[float | None]) -> None:
    expected = ["null" if v is None else repr(v) for v in values]
    assert templates.float_texts(values) == expected
    assert templates.float_texts(_as_column(values)) == expected


def _as_column(values: list[float | None]) -> Any:
    """The values as the numpy column the converter gives (NaN for an empty cell)."""
    import numpy as np

    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def test_float_texts_over_every_exponent() -> None:
    rng = random.Random(7)
    values: list[float | None] = [_random_double(rng) for _ in range(20000)]
    values += [d * 10.0 ** e for e in range(-330, 309) for d in (1.0, 1.5, 9.999999999999998)
               if d * 10.0 ** e != 0.0 and math.isfinite(d * 10.0 ** e)]
    values += [1e-5, -1e-5, 1.5e-5, 9.99e-5, 1e-4, 0.0, -0.0, 5e-324, 1e16, 1e15, None]
    values += [float(f"{rng.randint(1, 99999)}e-{rng.randint(1, 9)}") for _ in range(5000)]
    rng.shuffle(values)
    expected = ["null" if v is None else repr(v) for v in values]
    assert templates.float_texts(values) == expected
    assert templates.float_texts(_as_column(values)) == expected
    # a column where no value, a few, a third, or all need Python's notation (below 1e-4)
    for small_every in (0, 1000, 3, 1):
        small = [-1.5e-5, 3e-7, 1e-12, 2.5e-5, -4e-9]
        column = [small[i % 5] if small_every and i % small_every == 0 else 1.25 + i
                  for i in range(3000)]
        assert templates.float_texts(_as_column(column)) == [repr(v) for v in column]


@given(st.from_regex(r"\A[+-]?([0-9]{1,25}\.?[0-9]{0,25}|\.[0-9]{1,25})([eE][+-]?[0-9]{1,3})?\Z"))
def test_arrow_reads_numbers_as_python_does(text: str) -> None:
    import pyarrow as pa

    array = pa.array([text], type=pa.string())
    parsed, odd = columns._parse_numbers(array)
    value = float(text)
    if math.isfinite(value):
        assert not odd[0].as_py()
        assert parsed[0].as_py() == value
    else:
        assert odd[0].as_py()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_the_fast_path_does_not_import_pandas(tmp_path: Path, fmt: str) -> None:
    # pandas takes a fifth of a second to import: the column-wise path never needs it
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=300, variant="mixed", seed=3, flush=3)
    out = tmp_path / f"out.{fmt}"
    code = ("import sys, boamps_etl as be; "
            f"s = be.convert_to({str(path)!r}, {str(out)!r}, {fmt!r}, "
            f"context={TASK_CONTEXT!r}, jobs=1); "
            "print('pandas' in sys.modules, s.counts['valid'], s.reports_written)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    imported, valid, written = done.stdout.split()
    assert imported == "False"
    assert int(valid) == int(written) > 0
    if fmt == "jsonl":
        assert out.read_bytes().count(b"\n") == int(written)


def test_the_generator_writes_csv_the_fast_path_reads(tmp_path: Path) -> None:
    # the bench's own files must take the fast path, or the benchmark measures the other
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=200, variant="mixed", seed=6, flush=3)
    with open(path, newline="", encoding="utf-8") as fh:
        assert all(len(r) == 38 for r in csv.reader(io.StringIO(fh.read())))
    assert scan.prepare(CsvSource(path)) is not None


def test_odd_cells_in_a_clean_file_go_to_the_reference_row_by_row(tmp_path: Path) -> None:
    rows = []
    n = 0
    for column, cells in ODD_CELLS.items():
        for cell in cells:
            if "," in cell or "\x85" in cell or column == "run_id":
                continue
            n += 1
            rows.append(v321_row(**{column: cell,
                                    "run_id": f"00000000-0000-4000-8000-{n:012d}"}))
    rows.append(v321_row(run_id=""))
    rows.append(v321_row(run_id="None", duration="12.0"))
    path = tmp_path / "odd.csv"
    path.write_text(V321_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert scan.prepare(CsvSource(path)) is not None
    summary = assert_same(path, tmp_path)
    assert summary.counts["invalid"] > 0 and summary.counts["valid"] > 0
    assert_same(path, tmp_path, allow_incomplete=True, context=None)


def test_small_files_take_the_reference_by_default(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean file under ENGINE_MIN_BYTES is converted by the reference (faster for a few
    hundred rows), a larger one by the engine; the outputs do not tell them apart."""
    monkeypatch.setattr(scan, "ENGINE_MIN_BYTES", ENGINE_MIN_BYTES)
    assert ENGINE_MIN_BYTES == 1 << 17
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_csv(small, rows=100, seed=3)
    write_csv(large, rows=600, seed=3)
    assert small.stat().st_size < ENGINE_MIN_BYTES <= large.stat().st_size
    for path in (small, large):
        got, got_out = _run(path, tmp_path / f"{path.stem}.jsonl", fast=True)
        ref, ref_out = _run(path, tmp_path / f"{path.stem}-ref.jsonl", fast=False)
        assert got_out == ref_out and got.reports_written == ref.reports_written > 0
        assert got.engine_rows == (0 if path is small else got.rows_read)


def test_a_templates_pieces_take_the_quotes_of_its_bare_text_slots() -> None:
    # text columns that need only quotes are joined bare: the pieces around their slots
    # carry the quotes, the other slots' pieces are as they were, the last ends the line
    import pyarrow.compute as pc

    template = templates._Template(['{"a":', ',"b":', ',"c":', "}"], [0, 1, 2], "bronze")
    assert [s.as_py() for s in template.scalars] == ['{"a":', ',"b":', ',"c":', "}\n"]
    quoted = template.quoted_scalars((True, False, True))
    assert [s.as_py() for s in quoted] == ['{"a":"', '","b":', ',"c":"', '"}\n']
    assert template.quoted_scalars((True, False, True)) is quoted  # made once
    texts = [arrays._text_array(["x y", "é"]), arrays._text_array(["1.5", "null"]),
             arrays._text_array(["", "z"])]
    parts = [quoted[0]]
    for text, piece in zip(texts, quoted[1:], strict=True):
        parts += [text, piece]
    lines = pc.binary_join_element_wise(*parts, arrays._scalar("", quoted[0].type))
    assert lines.to_pylist() == ['{"a":"x y","b":1.5,"c":""}\n', '{"a":"é","b":null,"c":"z"}\n']
