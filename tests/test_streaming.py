"""Streaming conversion (convert_to): the same reports as the in-memory path, in blocks,
with outputs appearing only when everything is done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TASK_CONTEXT, v321_row, write_csv

import boamps_etl as be
from boamps_etl.api import convert_to
from boamps_etl.io import writers


def flushes(tmp_path: Path) -> Path:
    # Runs a and b interleave: a's last row comes after b's, across block boundaries.
    rows = [v321_row(run_id="a", duration="1.0"), v321_row(run_id="b", duration="1.0"),
            v321_row(run_id="a", duration="2.0"), v321_row(run_id="c", duration="5.0"),
            v321_row(run_id="b", duration="3.0"), v321_row(run_id="a", duration="4.0"),
            v321_row(run_id="None", duration="6.0")]
    return write_csv(tmp_path / "e.csv", *rows)


@pytest.mark.parametrize("block_rows", [1, 2, 3, 1000])
def test_blocks_give_the_same_reports_as_in_memory(tmp_path: Path, block_rows: int) -> None:
    path = flushes(tmp_path)
    expected = be.convert(path, context=TASK_CONTEXT)
    out = tmp_path / f"out{block_rows}.jsonl"
    summary = convert_to(path, out, "jsonl", context=TASK_CONTEXT, block_rows=block_rows)
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    key = lambda d: d["header"]["reportId"]  # noqa: E731
    assert sorted(docs, key=key) == sorted(expected.documents, key=key)
    assert summary.counts == {"valid": 4, "incomplete": 0, "invalid": 0}
    assert summary.rows_read == 7


def test_old_block_names_warn_and_give_the_same_output(tmp_path: Path) -> None:
    from boamps_etl.io.readers import CsvSource

    path = flushes(tmp_path)
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    convert_to(path, new, "jsonl", context=TASK_CONTEXT, block_rows=2, fast_path=False)
    with pytest.warns(DeprecationWarning, match="block_rows"):
        convert_to(path, old, "jsonl", context=TASK_CONTEXT, chunk_rows=2, fast_path=False)
    assert old.read_bytes() == new.read_bytes()
    source = CsvSource(path)
    source.scan()
    blocks = [len(b.frame) for b in source.blocks(block_rows=3)]
    with pytest.warns(DeprecationWarning, match="blocks"):
        chunks = [len(b.frame) for b in source.chunks(chunk_rows=3)]
    assert chunks == blocks == [3, 3, 1]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_outputs_match_the_in_memory_writer(tmp_path: Path, fmt: str) -> None:
    path = flushes(tmp_path)
    docs = be.convert(path, context=TASK_CONTEXT).documents
    suffix = "" if fmt == "json" else f".{fmt}"
    streamed, direct = tmp_path / f"s{suffix}", tmp_path / f"d{suffix}"
    convert_to(path, streamed, fmt, context=TASK_CONTEXT, block_rows=2)  # type: ignore[arg-type]
    writers.write_reports(docs, direct, fmt)  # type: ignore[arg-type]
    if fmt == "json":
        assert sorted(p.name for p in streamed.iterdir()) == sorted(
            p.name for p in direct.iterdir())
        for p in direct.iterdir():
            assert (streamed / p.name).read_bytes() == p.read_bytes()
    elif fmt == "jsonl":
        assert sorted(streamed.read_text().splitlines()) == sorted(
            direct.read_text().splitlines())
    else:
        s_lines, d_lines = streamed.read_text().splitlines(), direct.read_text().splitlines()
        assert s_lines[0] == d_lines[0] and sorted(s_lines) == sorted(d_lines)


@pytest.mark.parametrize("fast_path", [False, True])
def test_interrupt_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  fast_path: bool) -> None:
    path = flushes(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    calls = {"n": 0}
    # the reference path writes documents, the column-wise engine texts
    name = "write_files" if fast_path else "write"
    original = getattr(writers.StreamWriter, name)

    def interrupted(self: writers.StreamWriter, *args: object) -> None:
        calls["n"] += 1
        original(self, *args)  # some reports are staged, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.StreamWriter, name, interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_to(path, out, "json", context=TASK_CONTEXT, block_rows=1,
                   fast_path=fast_path, jobs=1)
    assert calls["n"] == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging left


def test_existing_report_files_stop_everything(tmp_path: Path) -> None:
    path = flushes(tmp_path)
    out = tmp_path / "out"
    convert_to(path, out, "json", context=TASK_CONTEXT)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(be.OutputError, match="exist already"):  # other bytes: refused
        convert_to(path, out, "json", context=TASK_CONTEXT, sets=["task.taskDescription=x"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging left
    convert_to(path, out, "json", context=TASK_CONTEXT)  # the same job again: no conflict
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_bad_second_input_writes_nothing(tmp_path: Path) -> None:
    good = flushes(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n")
    out = tmp_path / "r.jsonl"
    with pytest.raises(be.InputError, match="not a CodeCarbon emissions CSV"):
        convert_to([good, bad], out, "jsonl", context=TASK_CONTEXT)
    assert list(tmp_path.glob("r.jsonl*")) == [] and not list(tmp_path.glob(".r.jsonl*"))


def test_misaligned_rows_are_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", v321_row(run_id="a"), "1,2,3", v321_row(run_id="b"))
    summary = convert_to(path, tmp_path / "r.jsonl", "jsonl", context=TASK_CONTEXT,
                         block_rows=1)
    assert summary.counts["valid"] == 2 and summary.row_errors == 1
    assert summary.failed()
    assert any("row 3: row does not fit the header" in str(i) for i in summary.issues)
