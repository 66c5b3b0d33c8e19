"""Bad input never crashes, never loses data, never writes where it should not (issue 4).

The catalogue ``tests/fixtures/bad/cases.yaml`` runs every bad input through the command
line; the tests below it cover inputs too large to keep as fixtures (a 50 MB cell, a gzip
bomb, a file of many MB) and the fuzzer's findings (``tests/fixtures/fuzz/``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import FIXTURES, TASK_CONTEXT, V321_HEADER, v321_row

import boamps_etl as be
from boamps_etl.cli import cli, main
from boamps_etl.errors import BoampsEtlError
from boamps_etl.io import readers

BAD = FIXTURES / "bad"
FUZZ = FIXTURES / "fuzz"
CASES: list[dict[str, Any]] = yaml.safe_load((BAD / "cases.yaml").read_text())["cases"]


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_crash(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"unexpected {result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output


def test_the_catalogue_is_complete() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 30
    used = {a for c in CASES for a in c["args"]}
    for path in BAD.iterdir():  # every fixture is used by some case
        assert path.name in used or path.name in ("cases.yaml", "map-loop-b.yaml"), path.name


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> None:
    monkeypatch.chdir(BAD)  # paths in args and messages are relative to the fixture folder
    before = _tree(BAD)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    out = sandbox / case.get("out", "out")
    if "out_exists" in case:
        out.write_text(case["out_exists"])
    args = [str(a) for a in case["args"]]
    if "-o" not in args:
        args += ["-o", str(out)]
    result = CliRunner().invoke(cli, args)
    _no_crash(result)
    assert result.exit_code == case["exit"], result.stderr
    for message in case["messages"]:
        assert message in result.stderr, f"{message!r} not in:\n{result.stderr}"
    # Inputs are never modified, and nothing appears beside them.
    assert _tree(BAD) == before
    # Nothing is written outside OUT; with exit 2 nothing is written at all.
    assert [p.name for p in sandbox.iterdir()] in ([], [out.name])
    if "out_exists" in case:
        assert out.read_text() == case["out_exists"]
    elif case["exit"] == 2:
        assert not out.exists()
    if "written" in case:
        files = sorted(out.iterdir()) if out.is_dir() else []
        assert len(files) == case["written"], files
        assert all(f.parent == out and f.suffix == ".json" for f in files)


# ---------------------------------------------------------------- too large for fixtures


def _csv(path: Path, *rows: str) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(V321_HEADER + "\n" + "".join(r + "\n" for r in rows))
    return path


def _context(tmp_path: Path) -> Path:
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps(TASK_CONTEXT))
    return path


def _read_with_peak(path: Path) -> tuple[readers.CsvTable, int]:
    """Read a CSV, measuring the peak memory Python allocated meanwhile."""
    import tracemalloc

    tracemalloc.start()
    try:
        table = readers.read_codecarbon_csv(path)
        return table, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_50_mb_cell_is_one_row_error_in_bounded_memory(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", v321_row(run_id="a"),
                v321_row(run_id="b", project_name="x" * (50 << 20)), v321_row(run_id="c"))
    table, peak = _read_with_peak(path)
    assert peak < 64 << 20, f"peak {peak >> 20} MB reading a 50 MB line"
    assert table.frame["run_id"].tolist() == ["a", "c"]
    assert [str(i) for i in table.issues] == [
        f"{path}, row 3: row not converted: a line is longer than 1 MB (CodeCarbon rows are "
        "short: this one is damaged; delete it)"]
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(path), "-c", str(_context(tmp_path)),
                                      "-o", str(out)])
    _no_crash(result)
    assert result.exit_code == 1
    assert f"error: {path}, row 3: row not converted: a line is longer than 1 MB" in \
        result.stderr
    assert len(list(out.iterdir())) == 2


def test_a_quoted_cell_over_many_lines_is_bounded_too(tmp_path: Path) -> None:
    cell = '"' + ("y" * 1000 + "\n") * 1500 + '"'
    path = _csv(tmp_path / "e.csv", v321_row(run_id="a"), v321_row(run_id="b", project_name=cell))
    table = readers.read_codecarbon_csv(path)
    assert table.frame["run_id"].tolist() == ["a"]
    assert "row 3: row not converted: a cell is larger than 1 MB" in str(table.issues[0])


def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"  # 200 MB of commas on one line, 200 kB compressed
    path.write_bytes(gzip.compress(V321_HEADER.encode() + b"\n" + b"," * (200 << 20)))
    table, peak = _read_with_peak(path)
    assert peak < 64 << 20
    assert "row 2: row not converted: a line is longer than 1 MB" in str(table.issues[0])


def test_in_memory_sources_are_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (V321_HEADER + "\n" + v321_row() + "\n").encode()
    monkeypatch.setattr(readers, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(be.InputError, match="is larger than the 0 MB limit"):
        readers.read_codecarbon_csv(data * 2)
    with pytest.raises(be.InputError, match=r"<bytes>: decompresses to more than the 0 MB"):
        readers.read_codecarbon_csv(gzip.compress(data * 2))
    assert len(readers.read_codecarbon_csv(gzip.compress(data)).frame) == 1


def test_a_file_of_many_megabytes_is_read_in_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    from bench.generate import write_csv

    def read(path: Path) -> tuple[int, int]:
        source = readers.CsvSource(path)
        tracemalloc.start()
        try:
            source.scan()
            skip, _ = source.selection()
            rows = sum(len(chunk.frame) for chunk in source.blocks(2_000, skip))
            return rows, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    write_csv(small, rows=10_000, variant="v3.2.1", flush=2)
    write_csv(big, rows=40_000, variant="v3.2.1", flush=2)
    size = big.stat().st_size
    assert size > 16 << 20
    read(small)  # first use: caches and lazy imports are not the file's memory
    small_peak = read(small)[1]
    rows, peak = read(big)
    assert rows == 20_000
    # Blocks of rows, not the file: 4 times the rows is far from 4 times the memory.
    assert peak < 2 * small_peak, f"{small_peak >> 20} MB, then {peak >> 20} MB"
    assert peak < 48 << 20, f"peak {peak >> 20} MB for a {size >> 20} MB file"


# ---------------------------------------------------------------- the fuzzer's findings

FUZZ_CASES = sorted(p for p in FUZZ.iterdir() if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", FUZZ_CASES, ids=[p.name for p in FUZZ_CASES])
def test_fuzz_findings_stay_fixed(path: Path, tmp_path: Path) -> None:
    """Each file once crashed the reader or the conversion (see tests/fixtures/fuzz)."""
    before = _tree(FUZZ)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(path), "-c", str(_context(tmp_path)),
                                      "-o", str(out)])
    _no_crash(result)
    assert result.exit_code in (0, 1, 2)
    assert result.stderr.startswith("error: ") or "report(s) from 1 file(s)" in result.stderr
    with contextlib.suppress(BoampsEtlError):  # the library: reports or located errors only
        be.convert(path, context=TASK_CONTEXT)
    assert _tree(FUZZ) == before


# ---------------------------------------------------------------- tracebacks


def test_no_traceback_without_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from boamps_etl import api

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "convert_to", boom)
    csv = _csv(tmp_path / "e.csv", v321_row())
    with pytest.raises(SystemExit) as info:
        main(["convert", str(csv), "-o", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == ("internal error: RuntimeError: boom (please report it; --debug "
                           "shows the traceback)")
    with pytest.raises(SystemExit):
        main(["--debug", "convert", str(csv), "-o", str(tmp_path / "out")])
    assert "Traceback" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_said_before_any_input_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from boamps_etl.io import writers

    real_access = os.access
    monkeypatch.setattr(writers.os, "access", lambda path, mode, **kw: False if mode &
                        os.W_OK else real_access(path, mode, **kw))  # as for a read-only disk
    read: list[object] = []
    monkeypatch.setattr(readers.CsvSource, "scan", lambda *a, **k: read.append(a))
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli, ["convert", str(BAD / "good.csv"), "-o", str(out)])
    _no_crash(result)
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path}: output folder is not writable (choose "
                             "another --out or fix its permissions)\n")
    assert read == [] and not out.exists()
