"""Work files: recognisable names, stale ones swept, committed sets finished, nothing else
touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _docs(n: int) -> list[dict[str, object]]:
    return [{"header": {"reportId": f"r{i}", "publisher": {"name": "Acme"}}}
            for i in range(n)]


def test_json_reports_are_staged_beside_their_folder_under_a_work_name(tmp_path: Path) -> None:
    from boamps_etl.io.writers import StreamWriter

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("user data")
    writer = StreamWriter(out, "json")
    writer.write(_docs(3))
    stage = writer.stage_folder()
    assert stage.parent == tmp_path and staging.is_work_name(stage.name)
    written = writer.close()
    assert len(written) == 3 and not stage.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_json_commit_cut_short_beside_its_folder_is_finished_by_a_rerun(
        tmp_path: Path) -> None:
    from boamps_etl.io.writers import write_reports

    docs = _docs(5)
    reference = tmp_path / "reference"
    write_reports(docs, reference, "json")
    names = sorted(p.name for p in reference.iterdir())
    work = tmp_path / "work"
    out = work / "out"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("user data")
    # a run of the same job died while moving its committed set into a non-empty folder
    stage = work / name_for(dead_pid(), "stage")
    stage.mkdir()
    for name in names:
        (stage / name).write_bytes((reference / name).read_bytes())
    (stage / staging.COMMIT_LIST).write_text(
        staging.INTO + "out\n" + "".join(n + "\n" for n in names))
    for name in names[:2]:
        os.replace(stage / name, out / name)
    staging.sweep(work)  # what the next run does first: the moves are finished
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "notes.txt"])
    assert not stage.exists()
    # a plain re-run (no force) finds the same bytes there: no conflict, same result
    write_reports(docs, out, "json")
    assert {n: (out / n).read_bytes() for n in names} == \
        {n: (reference / n).read_bytes() for n in names}
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    (out / names[0]).write_text("changed")
    with pytest.raises(OutputError, match="exist already"):
        write_reports(docs, out, "json")
    assert sorted(p.name for p in work.iterdir()) == ["out"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
def test_publishing_never_clears_the_umask_other_threads_create_with(tmp_path: Path,
                                                                    monkeypatch: Any) -> None:
    """A batch writes from several threads: a umask set to 0 for a moment, to be read,
    gave the folders another thread made meanwhile mode 0777."""
    mask = os.umask(0o027)
    try:
        set_to: list[int] = []
        real = os.umask
        monkeypatch.setattr(os, "umask", lambda m: set_to.append(m) or real(m))
        fh, work = staging.new_file(tmp_path)
        fh.close()
        staging.publish(work, tmp_path / "out.json")
        assert set_to == []
        assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(mask)
