"""The staged CSV lines put into the file's columns by whole blocks (boamps_etl.io.csvlines)
give the bytes the csv module writes for the same rows in those columns."""

from __future__ import annotations

import io
import random

import pytest

from boamps_etl.flatten import csv_line, csv_text
from boamps_etl.io.csvlines import CsvStage, Rearranger, _gathered

CELLS = ["", "0.5", "13", "true", "a b", "x,y", 'say "hi"', '"', ",", "é,ü", "line\nbreak",
         "cr\rhere", "  ", "{}", '[1, 2]', "a,b,c,\"d\""]


def _rows(seed: int, count: int) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    columns = [f"c{j}" for j in range(9)]
    sets = [rnd.sample(columns, rnd.randint(1, len(columns))) for _ in range(6)]
    sets.append(list(columns))
    sets.append(["c3"])
    rows = []
    for _ in range(count):
        chosen = rnd.choice(sets)
        rows.append({c: rnd.choice(CELLS[:-5] if rnd.random() < 0.8 else CELLS)
                     for c in chosen})
    return rows


def _rearranged(rows: list[dict[str, str]], block: int) -> str:
    columns: dict[str, None] = {}
    sets: dict[tuple[str, ...], int] = {}
    ids, lines = [], []
    for row in rows:
        for c in row:
            columns.setdefault(c, None)
        ids.append(sets.setdefault(tuple(row), len(sets)))
        lines.append(csv_line(list(row.values())).encode("utf-8"))
    rearrange = Rearranger(list(columns), list(sets))
    out = [csv_line(list(columns))]
    for at in range(0, len(rows), block):
        part = lines[at: at + block]
        out.append(rearrange.block(b"".join(part), ids[at: at + block],
                                   [len(line) for line in part]).decode("utf-8"))
    return "".join(out)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("block", [1, 7, 500])
def test_lines_in_the_files_columns_are_what_the_csv_module_writes(seed: int, block: int
                                                                    ) -> None:
    rows = _rows(seed, 300)
    assert _rearranged(rows, block) == csv_text(rows)


@pytest.mark.parametrize("seed", range(6))
def test_blocks_without_a_line_for_the_csv_module_are_gathered_whole(seed: int) -> None:
    # no carriage return and no one-cell line: every piece of a block (runs of cells,
    # runs of commas, empty ones too) is gathered at once, as numpy indices
    rnd = random.Random(seed)
    columns = [f"c{j}" for j in range(9)]
    sets = [rnd.sample(columns, rnd.randint(2, len(columns))) for _ in range(6)]
    plain = [c for c in CELLS if "\r" not in c]
    rows = [{c: rnd.choice(plain) for c in rnd.choice(sets)} for _ in range(400)]
    assert _rearranged(rows, 400) == csv_text(rows)
    assert _rearranged(rows, 37) == csv_text(rows)


@pytest.mark.parametrize("seed", range(5))
def test_pieces_are_gathered_in_their_order_each_whole(seed: int) -> None:
    # Arrow takes each piece as one item of the buffer cut at the pieces' ends: pieces
    # in any order, empty ones, and one text used by many lines (the same bytes)
    import numpy as np

    rnd = random.Random(seed)
    buffer = bytes(rnd.randrange(256) for _ in range(3000)) + b",,,\n,"
    cuts = sorted(rnd.sample(range(3000), 400))
    spans = [(a, b) for a, b in zip(cuts[0::2], cuts[1::2], strict=True)]
    spans += [(a, a) for a, _ in spans[:20]]  # empty pieces
    spans += [(3000, 3004)] * 30 + [(3004, 3005)] * 7  # texts between cells, many uses
    rnd.shuffle(spans)
    begin = np.array([a for a, _ in spans], dtype=np.int64)
    stop = np.array([b for _, b in spans], dtype=np.int64)
    assert _gathered(buffer, begin, stop) == b"".join(buffer[a:b] for a, b in spans)
    assert _gathered(buffer, begin[:0], stop[:0]) == b""
    with pytest.raises(AssertionError):  # two pieces that share some bytes only
        _gathered(buffer, np.array([0, 5]), np.array([10, 20]))


def test_a_block_already_in_the_files_columns_is_kept_as_it_is() -> None:
    rows = [{"a": "1", "b": "x,y"}, {"a": "", "b": ""}]
    assert _rearranged(rows, 10) == 'a,b\n1,"x,y"\n,\n'


def test_a_line_of_one_empty_cell_is_spread_over_the_files_columns() -> None:
    rows = [{"b": ""}, {"a": "1", "b": "2"}, {"b": "3"}]
    assert _rearranged(rows, 10) == "b,a\n,\n2,1\n3,\n" == csv_text(rows)


def test_lines_of_the_files_columns_among_others_keep_their_place() -> None:
    rows = [{"a": "1", "b": "2", "c": "3"}, {"c": "x,y", "a": "4"}, {"a": "5", "b": "", "c": "6"},
            {"b": '"q"'}, {"a": "7", "b": "8", "c": "9"}]
    assert _rearranged(rows, 10) == csv_text(rows)


def _staged(rows: list[dict[str, str]], block: int, from_file: bool) -> str:
    """The CSV of ``rows`` staged ``block`` lines at a time (:class:`CsvStage`): each
    line put in the columns known when it comes, widened at the end."""
    work = io.BytesIO()
    stage = CsvStage(work)
    for at in range(0, len(rows), block):
        part = rows[at: at + block]
        sets = list(dict.fromkeys(tuple(row) for row in part))
        lines = [csv_line(list(row.values())).encode("utf-8") for row in part]
        column_ids = [sets.index(tuple(row)) for row in part]
        ids = stage.ids(column_ids, sets)
        if from_file:
            stage.add_file(io.BytesIO(b"".join(lines)), [len(x) for x in lines], ids)
        else:
            stage.add(b"".join(lines), [len(x) for x in lines], ids)
    out: list[str] = []
    stage.write(io.BytesIO(work.getvalue()), out.append)
    stage.close()
    return "".join(out)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("block", [1, 7, 500])
@pytest.mark.parametrize("from_file", [False, True])
def test_staged_lines_widened_at_the_end_are_what_the_csv_module_writes(
        seed: int, block: int, from_file: bool) -> None:
    rows = _rows(seed, 300)
    assert _staged(rows, block, from_file) == csv_text(rows)


@pytest.mark.parametrize("block", [1, 2, 10])
def test_lines_staged_before_the_last_columns_appear_get_their_empty_cells(block: int
                                                                          ) -> None:
    rows = [{"b": ""}, {"b": "x"}, {"b": "cr\rhere"}, {"a": "1", "b": "2"},
            {"b": "", "a": "y,z"}, {"a": "a\rb", "b": ""}, {"c": ""}, {"a": "", "c": "3"}]
    assert _staged(rows, block, False) == csv_text(rows)
    assert csv_text(rows).split("\n")[1:4] == [",,", "x,,", '"cr\rhere","",""']


def test_a_line_past_its_file_stops_the_staging() -> None:
    stage = CsvStage(io.BytesIO())
    with pytest.raises(OSError, match="shorter"):
        stage.add_file(io.BytesIO(b"1,2\n"), [4, 4], stage.ids([0, 0], [("a", "b")]))
    stage.close()


def test_a_column_set_no_line_has_yet_does_not_stop_the_staging() -> None:
    # a block's column sets may include one none of its lines has (lines left out as
    # duplicates of an earlier input's reports), with a column the file has not seen yet
    work = io.BytesIO()
    stage = CsvStage(work)
    sets = [("a", "b"), ("a", "new", "b")]
    stage.add(b"1,2\n", [4], stage.ids([0], sets))
    stage.add(b"3,x,4\n", [6], stage.ids([1], sets))
    out: list[str] = []
    stage.write(io.BytesIO(work.getvalue()), out.append)
    stage.close()
    assert "".join(out) == csv_text([{"a": "1", "b": "2"}, {"a": "3", "new": "x", "b": "4"}])
