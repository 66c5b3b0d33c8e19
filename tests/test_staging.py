"""Work files: recognisable names, stale ones swept, committed sets finished, nothing else
touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from boamps_etl.errors import OutputError
from boamps_etl.io import staging


def dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def name_for(pid: int, kind: str = "part", suffix: str = "") -> str:
    name = staging.work_name(kind, suffix)
    parts = name.split(".")
    parts[3] = str(pid)  # '', 'boamps-etl', host, pid, random, kind[, suffix]
    return ".".join(parts)


def test_work_names_are_recognised_and_only_they() -> None:
    assert staging.is_work_name(staging.work_name())
    assert staging.is_work_name(staging.work_name("stage"))
    assert staging.is_work_name(staging.work_name("part", "jsonl"))
    for other in (".boamps-etl-state.json", ".boamps-etl-x.part", "report.json", ".git",
                  ".boamps-etl.host.12.zzzzzzzz.part", "manifest.csv"):
        assert not staging.is_work_name(other), other


def test_sweep_removes_dead_runs_work_and_nothing_else(tmp_path: Path) -> None:
    pid = dead_pid()
    stale_file = tmp_path / name_for(pid, "part", "jsonl")
    stale_file.write_text("half")
    stale_folder = tmp_path / name_for(pid, "stage")
    stale_folder.mkdir()
    (stale_folder / "report_a.json").write_text("{}")
    mine = tmp_path / staging.work_name()  # this process: alive
    mine.write_text("in use")
    alive = tmp_path / name_for(os.getppid())
    alive.write_text("another live run")
    other_host = tmp_path / f".boamps-etl.elsewhere.{pid}.0123abcd.part"
    other_host.write_text("not ours to judge")
    keep = [tmp_path / "report_b.json", tmp_path / ".boamps-etl-state.json",
            tmp_path / ".hidden.part"]
    for path in keep:
        path.write_text("user data")
    staging.sweep(tmp_path)
    assert not stale_file.exists() and not stale_folder.exists()
    assert mine.exists() and alive.exists() and other_host.exists()
    assert all(p.read_text() == "user data" for p in keep)


def test_a_committed_set_cut_short_is_finished_by_the_next_sweep(tmp_path: Path) -> None:
    stage = tmp_path / name_for(dead_pid(), "stage")
    stage.mkdir()
    names = [f"report_{i}.json" for i in range(5)]
    for name in names:
        (stage / name).write_text(name)
    (stage / staging.COMMIT_LIST).write_text("".join(n + "\n" for n in names))
    for name in names[:2]:  # the run died after two moves
        os.replace(stage / name, tmp_path / name)
    staging.sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert all((tmp_path / n).read_text() == n for n in names)


def test_an_uncommitted_set_is_dropped(tmp_path: Path) -> None:
    stage = tmp_path / name_for(dead_pid(), "stage")
    stage.mkdir()
    (stage / "report_0.json").write_text("{}")
    staging.sweep(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_path_through_a_symlink_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "sub").symlink_to(elsewhere, target_is_directory=True)
    staging.check_inside(root, root / "a" / "report.json")
    with pytest.raises(OutputError, match="refusing to write outside the output folder"):
        staging.check_inside(root, root / "sub" / "report.json")
