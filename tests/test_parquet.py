"""Parquet output (boamps_etl.io.parquet): the flat CSV's table with typed columns.

The engine and the reference give the same bytes (tests/test_fastpath.py runs every
differential test for parquet too); here: the file holds exactly the flat CSV's columns and
cells, each column's type comes from its name alone, floats keep full precision, and the
file is the same whatever the blocks, workers or row groups.
"""

from __future__ import annotations

import csv
import io
import math
import random
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import CODECARBON, CORPUS, TASK_CONTEXT
from hypothesis import given, settings
from hypothesis import strategies as st

import boamps_etl as be
from bench.generate import VARIANTS, write_csv
from boamps_etl.cli.main import cli
from boamps_etl.engine import scan
from boamps_etl.errors import OutputError
from boamps_etl.flatten import cell_text, csv_line
from boamps_etl.io import parquet


def _inputs() -> list[Path]:
    found = sorted(CODECARBON.glob("*.csv"))
    if CORPUS.is_dir():
        found += sorted(p for p in CORPUS.rglob("*") if p.is_file()
                        and p.suffix in (".csv", ".gz"))
    return found


def _both(path: Path, tmp_path: Path, **kw: Any) -> tuple[list[list[str]], pa.Table] | None:
    """The flat CSV's rows (header first) and the Parquet table of one conversion."""
    out_csv, out_pq = tmp_path / "flat.csv", tmp_path / "flat.parquet"
    try:
        be.convert_to(path, out_csv, "csv", context=TASK_CONTEXT, force=True, **kw)
        be.convert_to(path, out_pq, "parquet", context=TASK_CONTEXT, force=True, **kw)
    except be.BoampsEtlError:
        return None
    if not out_csv.exists():
        assert not out_pq.exists()
        return None
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows, pq.read_table(out_pq)


def _assert_cells_are_the_csv_cells(rows: list[list[str]], table: pa.Table) -> None:
    assert table.column_names == rows[0]
    assert table.num_rows == len(rows) - 1
    for name, column in zip(table.column_names, table.columns, strict=True):
        assert column.type == parquet.column_field(name).type, name
    records = table.to_pylist()
    for row, record in zip(rows[1:], records, strict=True):
        # the cell text of each typed value is the CSV's: floats to the last digit
        assert [cell_text(record[c]) for c in rows[0]] == row


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: p.name)
def test_columns_and_cells_are_those_of_the_flat_csv(path: Path, tmp_path: Path) -> None:
    found = _both(path, tmp_path)
    if found is not None:
        _assert_cells_are_the_csv_cells(*found)


@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_files_of_every_version_give_the_csv_cells(variant: str,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=300, variant=variant, seed=7, gpu_share=0.4, cloud_share=0.3,
              flush=2)
    found = _both(path, tmp_path, allow_incomplete=True)  # v1 files give drafts only
    assert found is not None
    _assert_cells_are_the_csv_cells(*found)


def test_a_column_has_one_type_whatever_the_rows(tmp_path: Path) -> None:
    # energies all whole numbers in one file, fractions in the other; GPUs in one only
    types: dict[str, pa.DataType] = {}
    for k, (gpu, whole) in enumerate([(0.0, True), (1.0, False), (0.5, False)]):
        path = tmp_path / f"e{k}.csv"
        write_csv(path, rows=50, variant="v3.2.1", seed=k, gpu_share=gpu, flush=1)
        if whole:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            head = lines[0].rstrip("\n").split(",")
            at = head.index("energy_consumed")
            for i in range(1, len(lines)):
                cells = lines[i].rstrip("\n").split(",")
                cells[at] = str(i)
                lines[i] = ",".join(cells) + "\n"
            path.write_text("".join(lines), encoding="utf-8")
        out = tmp_path / f"e{k}.parquet"
        be.convert_to(path, out, "parquet", context=TASK_CONTEXT)
        schema = pq.read_schema(out)
        if whole:
            assert pq.read_table(out).column("measures_0_powerConsumption").to_pylist()[:2] \
                == [1.0, 2.0]
        for field in schema:
            assert types.setdefault(field.name, field.type) == field.type, field.name
    assert types["measures_0_powerConsumption"] == pa.float64()
    assert types["infrastructure_components_0_nbComponent"] == pa.int64()
    assert types["header_formatVersion"] == pa.string()  # '0.1' stays text
    # component 1 is the RAM in a file without GPU, the GPU in the others: one type
    assert types["infrastructure_components_1_memorySize"] == pa.float64()
    assert "infrastructure_components_2_memorySize" in types


def test_units_are_in_the_field_metadata(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    be.convert_to(CODECARBON / "v3.2.1.csv", out, "parquet", context=TASK_CONTEXT)
    schema = pq.read_schema(out)
    units = {f.name: f.metadata[b"unit"].decode() for f in schema if f.metadata}
    assert units["measures_0_powerConsumption"] == "kWh"
    assert units["measures_0_cpuPower"] == "W"
    assert units["measures_0_measurementDuration"] == "s"
    assert units["measures_0_emissions"] == "kg CO2eq"
    assert "header_reportId" not in units


def _doubles(rng: random.Random, n: int) -> list[float]:
    out = []
    while len(out) < n:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            out.append(value)
    return out


def _read_back(values: list[float | None]) -> list[Any]:
    lines = [csv_line([cell_text(v)]).encode("utf-8") for v in values]
    table = parquet.lines_table(b"".join(lines), [len(x) for x in lines], [0] * len(lines),
                                [("measures_0_powerConsumption",)])
    return list(table.column(0).to_pylist())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                min_size=1, max_size=40))
def test_floats_read_back_from_their_text_exactly(values: list[float | None]) -> None:
    got = _read_back(values)
    assert [None if v is None else struct.pack("<d", v) for v in got] == \
        [None if v is None else struct.pack("<d", v) for v in values]


def test_random_bit_patterns_of_every_exponent_read_back_exactly() -> None:
    values = [*_doubles(random.Random(3), 20_000), 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, -0.0, 0.1]
    got = _read_back(values)
    assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in values]


def test_lines_in_several_column_sets_keep_their_order() -> None:
    docs = [{"header": {"reportId": "a"}, "measures": [{"powerConsumption": 0.5}]},
            {"header": {"reportId": "b, \"q\""}, "system": {"os": "Lin\rux"}},
            {"header": {"reportId": "c"}, "measures": [{"powerConsumption": 1.25}]}]
    from boamps_etl.io.writers import _flat_lines

    table = parquet.lines_table(*_flat_lines(docs))
    assert table.column_names == ["header_reportId", "measures_0_powerConsumption",
                                  "system_os"]
    assert table.to_pylist() == [
        {"header_reportId": "a", "measures_0_powerConsumption": 0.5, "system_os": None},
        {"header_reportId": 'b, "q"', "measures_0_powerConsumption": None,
         "system_os": "Lin\rux"},
        {"header_reportId": "c", "measures_0_powerConsumption": 1.25, "system_os": None}]


def test_write_gives_the_file_convert_to_gives(tmp_path: Path) -> None:
    source = CODECARBON / "v3.2.1.csv"
    be.convert_to(source, tmp_path / "a.parquet", "parquet", context=TASK_CONTEXT)
    result = be.convert(source, context=TASK_CONTEXT)
    assert be.write(result.valid, tmp_path / "b.parquet", "parquet") == \
        [tmp_path / "b.parquet"]
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    # and the flat table reads back into the same reports
    from boamps_etl.toolbox import unflatten_file

    assert unflatten_file(tmp_path / "b.parquet") == [r.document for r in result.valid]


@pytest.mark.parametrize("jobs", [1, 3])
def test_row_groups_are_the_same_whatever_the_blocks_and_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    path = tmp_path / "emissions.csv"
    write_csv(path, rows=3000, variant="mixed", seed=9, gpu_share=0.4, flush=1)
    monkeypatch.setattr(scan, "MIN_PART_BYTES", 1 << 14)  # many ranges
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 700)
    ref = be.convert_to(path, tmp_path / "ref.parquet", "parquet", context=TASK_CONTEXT,
                        fast_path=False)
    got = be.convert_to(path, tmp_path / "got.parquet", "parquet", context=TASK_CONTEXT,
                        jobs=jobs)
    assert got.engine_rows == got.rows_read
    assert (tmp_path / "got.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    meta = pq.ParquetFile(tmp_path / "got.parquet").metadata
    n = ref.reports_written
    assert meta.num_rows == n > 1400
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == \
        [700] * (n // 700) + ([n % 700] if n % 700 else [])
    assert not list(tmp_path.glob(".boamps-etl.*"))


def test_a_value_that_does_not_fit_its_column_is_said(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    docs = [{"measures": [{"powerConsumption": 0.5}]},
            {"measures": [{"powerConsumption": "a lot"}]}]
    with pytest.raises(OutputError, match="column 'measures_0_powerConsumption' holds "
                                          "'a lot', not a number"):
        be.write(docs, out, "parquet")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match=r"holds '2\.5', not a whole number"):
        be.write([{"infrastructure": {"components": [{"nbComponent": 2.0}]}},
                  {"infrastructure": {"components": [{"nbComponent": 2.5}]}}], out, "parquet")
    with pytest.raises(OutputError, match="a report with no field at all"):
        be.write([{}], out, "parquet")
    assert list(tmp_path.iterdir()) == []
    # a report with no field beside others: a row of nulls
    be.write([{}, {"header": {"reportId": "x"}}], out, "parquet")
    assert pq.read_table(out).to_pylist() == [{"header_reportId": None},
                                              {"header_reportId": "x"}]
    # a whole number written with a fraction fits an integer column
    be.write([{"infrastructure": {"components": [{"nbComponent": 2.0}]}}], out, "parquet",
             force=True)
    assert pq.read_table(out).to_pylist() == [{"infrastructure_components_0_nbComponent": 2}]


def test_the_command_writes_parquet_to_a_file_and_to_stdout(tmp_path: Path) -> None:
    context = tmp_path / "boamps.json"
    import json

    context.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    source = str(CODECARBON / "v3.2.1.csv")
    out = tmp_path / "out.parquet"
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", source, "-c", str(context), "--format", "parquet",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"written to {out}" in result.stderr
    piped = runner.invoke(cli, ["convert", source, "-c", str(context), "--format", "parquet",
                                "-o", "-"])
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout_bytes == out.read_bytes()
    assert pq.read_table(io.BytesIO(piped.stdout_bytes)).num_rows == 3
    again = runner.invoke(cli, ["convert", source, "-c", str(context), "--format",
                                "parquet", "-o", str(out)])
    assert again.exit_code == 0, again.stderr  # the same bytes are no conflict
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boamps.json", "out.parquet"]


def test_batch_keeps_its_formats(tmp_path: Path) -> None:
    with pytest.raises(be.BoampsEtlError, match="unknown format 'parquet'"):
        be.convert_tree([tmp_path], tmp_path / "out", format="parquet")


@pytest.mark.parametrize("variant", ["mixed", "v2.2", "d-3.2.x-gpu"])
def test_typed_blocks_are_the_tables_of_their_csv_lines(variant: str, tmp_path: Path) -> None:
    # the engine builds the typed rows of its templates straight from the values: each
    # block's table is exactly what lines_table reads of the block's CSV lines
    from boamps_etl.api import as_context
    from boamps_etl.engine.convert import convert_file
    from boamps_etl.io.parquet import lines_table
    from boamps_etl.io.readers import CsvSource
    from boamps_etl.mapping import load_mapping

    path = tmp_path / "emissions.csv"
    write_csv(path, rows=20_000, variant=variant, seed=11, flush=1)  # 2 blocks or more
    ff = scan.prepare(CsvSource(path))
    assert ff is not None
    mapping, context = load_mapping(), as_context(TASK_CONTEXT, ())
    typed = list(convert_file(ff, mapping, context, False, "parquet"))
    texts = list(convert_file(ff, mapping, context, False, "csv"))
    assert len(typed) == len(texts) > 1
    for got, lines in zip(typed, texts, strict=True):
        want = lines_table(lines.data, lines.lengths, lines.column_ids, lines.columns)
        assert got.table.schema.equals(want.schema, check_metadata=True)
        assert got.table.equals(want)
        assert got.counts == lines.counts and got.levels == lines.levels


def test_a_template_cut_into_cells_gives_the_csv_readers_values() -> None:
    from boamps_etl.engine.templates import _Template
    from boamps_etl.engine.typed import TypedCells, _cells, group_table, plain_cells
    from boamps_etl.io.parquet import lines_table

    columns = ("header_reportId", "measures_0_powerConsumption",
               "infrastructure_components_0_nbComponent", "task_taskStage", "quality")
    # slots 0 to 3; a constant text holding a comma; an empty constant (null)
    layout = _Template(["", ",", ",", ",", ',"a,b"'], [0, 1, 2, 3], "")
    layout.columns = (*columns, "environment_country")
    layout.pieces[-1] += ","
    texts = [pa.array(['"r-1"', '"r,2"', '""']), pa.array(["0.1", "1e-07", "null"]),
             pa.array(["13", "13.0", "2"]), pa.array(['"x"', "null", '"y"'])]
    plain = {}
    for k, column in enumerate(texts):
        plain[k], escaped = plain_cells(column)
        assert not escaped.any()
    assert _cells(layout) is not None
    table = group_table(layout, TypedCells(plain), lambda a: a, 3,
                        lambda: 'r-1,0.1,13,x,"a,b",\n')
    assert table is not None
    lines = ['r-1,0.1,13,x,"a,b",\n', '"r,2",1e-07,13.0,,"a,b",\n', ',,2,y,"a,b",\n']
    data = "".join(lines).encode()
    want = lines_table(data, [len(line.encode()) for line in lines], [0, 0, 0],
                       [layout.columns])
    assert table.equals(want)
    assert table.column("infrastructure_components_0_nbComponent").type == pa.int64()
    # a value inside a longer text cannot be cut into cells: its lines are read instead
    inside = _Template(["", ',"v', '"'], [0, 1], "")
    inside.columns = ("header_reportId", "task_taskStage")
    assert _cells(inside) is None
    _, escaped = plain_cells(pa.array(['"a\\"b"', '"c"']))
    assert escaped.tolist() == [True, False]


def test_a_write_that_fails_ends_its_reading_thread(tmp_path: Path) -> None:
    # the file is encoded in this thread while another reads the next row group: a write
    # that fails (a full disk...) ends both, and says the error
    import threading

    from boamps_etl.io.parquet import ROW_GROUP_ROWS, ParquetStage, lines_table

    line = b"r,0.5\n"
    count = 3 * ROW_GROUP_ROWS
    table = lines_table(line * count, [len(line)] * count, [0] * count,
                        [("header_reportId", "measures_0_powerConsumption")])
    staged = tmp_path / "staged"
    with open(staged, "wb") as fh:
        stage = ParquetStage(fh)
        stage.add(table)

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    before = threading.active_count()
    with pytest.raises(OSError, match="No space left"):
        stage.write(staged, Full())
    assert threading.active_count() == before


def test_texts_are_dictionary_encoded_but_identifiers_and_date_times(tmp_path: Path) -> None:
    # a report's identifier and date-times are distinct in every row: a dictionary would
    # be tried then given up; the other texts repeat, and are written as a dictionary
    out = tmp_path / "out.parquet"
    be.convert_to(CODECARBON / "v3.2.1.csv", out, "parquet", context=TASK_CONTEXT)
    meta = pq.ParquetFile(out).metadata
    group = meta.row_group(0)
    dictionary = {group.column(i).path_in_schema: group.column(i).has_dictionary_page
                  for i in range(group.num_columns)}
    assert not dictionary["header_reportId"]
    assert not dictionary["header_reportDatetime"]
    assert not dictionary["measures_0_measurementDateTime"]
    assert dictionary["system_os"] and dictionary["header_formatVersion"]
    assert not dictionary["measures_0_powerConsumption"]
