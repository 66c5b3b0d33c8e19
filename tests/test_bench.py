"""Smoke test of the benchmark script bench/run.py: boamps-etl only, no peers, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.py"


def _boamps_etl() -> str | None:
    local = Path(sys.executable).with_name("boamps-etl")
    return str(local) if local.exists() else shutil.which("boamps-etl")


@pytest.mark.skipif(_boamps_etl() is None, reason="the boamps-etl command is not installed")
def test_bench_run_without_peers(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(RUN),
        "--sizes", "1000", "--repeat", "1", "--startup-repeat", "1", "--no-peers",
        "--boamps-etl", str(_boamps_etl()),
        "--data-dir", str(tmp_path / "data"),
        "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rows/s" in r.stdout  # the table was printed

    doc = json.loads(out.read_text())
    for key in ("date", "machine", "boamps_etl", "peers", "settings", "targets", "startup",
                "results", "target_checks", "ok"):  # fmt: skip
        assert key in doc, key
    assert doc["ok"] is True
    assert doc["peers"] == {"skipped": "--no-peers"}
    assert {"cpu_model", "cores", "python"} <= doc["machine"].keys()
    assert doc["startup"]["median_s"] > 0

    # no peer rows: boamps-etl once per output format, and json's floor after json:
    # as many files of the reports' median size, created alone, one process per core
    assert [(e["tool"], e["format"]) for e in doc["results"]] == [
        ("boamps-etl", "jsonl"), ("boamps-etl", "json"), ("file-creation floor", "json"),
        ("boamps-etl", "csv"), ("boamps-etl", "parquet")]
    floor = doc["results"].pop(2)
    reports = doc["results"][1]["reports"]
    assert floor["ok"] is True and floor["runs"] == 1 and floor["wall_s"] > 0
    assert floor["files"] == reports and 1000 < floor["file_bytes"] < 10_000
    assert floor["processes"] >= 1
    for etl in doc["results"]:
        assert etl["tool"] == "boamps-etl"
        assert etl["rows"] == 1000 and etl["runs"] == 1 and etl["ok"] is True
        assert etl["rows_per_s"] > 0 and etl["wall_s"] > 0 and etl["peak_rss_mb"] > 0
        assert 0 < etl["cpu_s"] < 4 * etl["wall_s"] * (os.cpu_count() or 1)
        # one report per distinct run_id: flushed runs (three rows each) give fewer
        # reports; json: one file each, csv: one line each below the header, parquet:
        # one row each, every reportId distinct
        check = etl["checks"][0]
        assert check["got"] == check["expected"] == etl["reports"]
        if etl["format"] == "parquet":
            assert etl["checks"][1] == {"check": "parquet reportIds distinct",
                                        "expected": etl["reports"], "got": etl["reports"]}
        else:
            assert len(etl["checks"]) == 1
        assert 0 < etl["reports"] < 1000

    # the generated CSV is cached under --data-dir, keyed by its parameters
    cached = list((tmp_path / "data").glob("codecarbon_1000_*.csv"))
    assert len(cached) == 1
    assert json.loads(cached[0].with_suffix(".meta.json").read_text())["rows"] == 1000
    # the json runs' folders of one file per report are kept to the end, then removed
    assert not list((tmp_path / "data").glob("json-*"))


def _mapper_venv() -> Path | None:
    """This interpreter's environment when it has CodeCarbon's BoAmps mapper (the test
    extras install codecarbon), so that the benchmark's peer needs no install."""
    try:
        import codecarbon.output_methods.boamps.mapper  # noqa: F401
    except ImportError:
        return None
    return Path(sys.executable).parents[1]


@pytest.mark.skipif(_boamps_etl() is None or _mapper_venv() is None,
                    reason="needs the boamps-etl command and codecarbon's BoAmps mapper")
def test_bench_batch_runs_the_mapper_over_the_same_tree(tmp_path: Path) -> None:
    out = tmp_path / "batch.json"
    cmd = [
        sys.executable, str(RUN), "--batch",
        "--large-rows", "300", "--small", "4", "--small-rows", "2", "--repeat", "1",
        "--format", "jsonl", "--boamps-etl", str(_boamps_etl()),
        "--peers-venv", str(_mapper_venv()),
        "--data-dir", str(tmp_path / "data"), "--work", str(tmp_path / "work"),
        "--out", str(out),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert (doc["files"], doc["rows"]) == (5, 308)
    peer = doc["peer"]
    # the mapper read every file and row of the tree, one report per row
    assert (peer["files"], peer["rows"], peer["reports"], peer["failed"]) == (5, 308, 308, 0)
    assert peer["rows_per_s"] == pytest.approx(308 / peer["wall_s"])
    assert doc["vs_mapper"] == pytest.approx(doc["rows_per_s"] / peer["rows_per_s"])
    table = r.stdout
    assert "| boamps-etl batch -j 2 --format jsonl |" in table
    assert "BoAmps mapper (one run) |" in table and "| 1× |" in table


def test_bench_makes_room_for_the_next_json_run_by_removing_the_oldest_kept(
        tmp_path: Path) -> None:
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert run._fs_type(Path("/proc/self")) in ("proc", "")  # "": no /proc/self/mounts
    folders = [tmp_path]
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        folders.append(Path(tempfile.mkdtemp(dir="/dev/shm")))
    try:
        for later in folders:
            for k, name in enumerate(["reports-0", "reports-1", "floor-0"]):
                (later / name).mkdir()
                (later / name / "r.json").write_text("{}")
                os.utime(later / name, (1000 + k, 1000 + k))
            # room enough: everything kept, but on a tmpfs, where all go but the one kept
            run._make_room(later, 0, keep=later / "reports-1")
            left = sorted(p.name for p in later.iterdir())
            if run._fs_type(later) == "tmpfs":
                assert left == ["reports-1"]
            else:
                assert left == ["floor-0", "reports-0", "reports-1"]
            # more files than any file system has room for: all removed but the one kept
            run._make_room(later, 10**15, keep=later / "reports-1")
            assert [p.name for p in later.iterdir()] == ["reports-1"]
    finally:
        for later in folders[1:]:
            shutil.rmtree(later)


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_bench_hotpath_times_each_phase(tmp_path: Path, path: str) -> None:
    # bench/hotpath.py imports the engine's inner pieces: run it, so that it cannot drift
    from bench.generate import write_csv

    csv_path = tmp_path / "emissions.csv"
    write_csv(csv_path, rows=300, variant="v3.2.1", seed=2)
    cmd = [sys.executable, str(ROOT / "bench" / "hotpath.py"), str(csv_path), "--profile",
           "--top", "3"] + (["--reference"] if path == "reference" else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{csv_path}: 300 rows," in r.stdout
    assert ("read + convert + write" if path == "reference" else "converting") in r.stdout
    assert "Ordered by: internal time" in r.stdout
