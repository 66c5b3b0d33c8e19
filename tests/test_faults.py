"""Faults: odd numbers, hostile trees, streams, full disks, crashes and signals.

A derived value that is not finite is a problem of its row only, on every path; a symlink
inside ``--out`` receives nothing; unreadable folders are listed as errors; FIFOs and stdin
are read; a full disk is said in one line; an interrupted or killed run leaves nothing
visible half-written, and a plain re-run completes it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import TASK_CONTEXT, V321_HEADER, v321_row, write_csv

import boamps_etl as be
from boamps_etl.batch import convert_tree
from boamps_etl.cli import cli

TINY = "5e-324"  # the smallest float: emissions / energy overflows to infinity


def run_id(i: int) -> str:
    return f"11111111-1111-4111-8111-{i:012d}"


@pytest.fixture
def odd_csv(tmp_path: Path) -> Path:
    """20 runs; the one on spreadsheet row 7 has an energy that makes the intensity infinite."""
    rows = [v321_row(run_id=run_id(i), **({"energy_consumed": TINY} if i == 5 else {}))
            for i in range(20)]
    return write_csv(tmp_path / "emissions.csv", *rows)


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "boamps.json"
    path.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    return path


def _row_problem(issues: list[be.Issue]) -> list[be.Issue]:
    return [i for i in issues if i.severity == "error"]


@pytest.mark.parametrize(("fmt", "fast"), [("json", True), ("jsonl", True), ("jsonl", False),
                                           ("csv", True)])
def test_an_infinite_derived_value_is_a_problem_of_its_row_only(
        odd_csv: Path, context_file: Path, tmp_path: Path, fmt: str, fast: bool) -> None:
    out = tmp_path / ("out" if fmt == "json" else f"out.{fmt}")
    summary = be.convert_to(odd_csv, out, fmt, context=context_file,  # type: ignore[arg-type]
                            fast_path=fast, jobs=1)
    errors = _row_problem(summary.issues)
    assert len(errors) == 1, errors
    where = errors[0].where
    assert (where.row, where.column) == (7, "energy_consumed")
    assert "not a finite number" in errors[0].message
    assert summary.counts == {"valid": 19, "incomplete": 0, "invalid": 1}
    assert summary.reports_written == 19
    if fmt == "json":
        assert len(list(out.glob("report_*.json"))) == 19
    elif fmt == "jsonl":
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 19
        assert all("Infinity" not in line for line in lines)
    else:
        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 19
        assert not any(v in ("inf", "Infinity") for row in rows for v in row.values())


def test_fast_and_reference_paths_agree_on_an_infinite_value(
        odd_csv: Path, context_file: Path, tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    a = be.convert_to(odd_csv, fast, "jsonl", context=context_file, jobs=1)
    b = be.convert_to(odd_csv, slow, "jsonl", context=context_file, fast_path=False)
    assert fast.read_bytes() == slow.read_bytes()
    assert [str(i) for i in a.issues] == [str(i) for i in b.issues]


def test_the_command_says_the_row_and_writes_the_others(
        odd_csv: Path, context_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(odd_csv), "-c", str(context_file),
                                      "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{odd_csv}, row 7, column 'energy_consumed'" in result.stderr
    assert "internal error" not in result.stderr
    assert len(list(out.glob("report_*.json"))) == 19


def test_batch_lists_the_row_and_converts_the_rest(odd_csv: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "exp").mkdir(parents=True)
    odd_csv.rename(root / "exp" / "emissions.csv")
    (root / "boamps.json").write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    write_csv(root / "other.csv", v321_row())
    (root / "exp2").mkdir()
    write_csv(root / "exp2" / "emissions.csv", v321_row())
    out = tmp_path / "out"
    result = convert_tree([root], out)
    assert not result.ok
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    bad = [m for m in lines if m["status"] not in ("valid", "duplicate", "skipped")]
    assert len(bad) == 1 and bad[0]["rows"] == "7", bad
    assert "energy_consumed" in bad[0]["messages"]
    assert len(list(out.rglob("report_*.json"))) == 20


# --------------------------------------------------------------------------- hostile trees


def _tree(base: Path, *folders: str) -> Path:
    root = base / "runs"
    for i, folder in enumerate(folders):
        (root / folder).mkdir(parents=True)
        write_csv(root / folder / "emissions.csv", v321_row(run_id=run_id(100 + i)))
    (root / "boamps.json").write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    return root


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_symlink_planted_in_the_output_receives_nothing(tmp_path: Path, fmt: str) -> None:
    root = _tree(tmp_path, "exp", "other")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "exp").symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(cli, ["batch", str(root), "-o", str(out), "--format", fmt,
                                      "-q"])
    assert list(elsewhere.iterdir()) == []
    assert result.exit_code != 0
    assert "refusing to write outside the output folder" in result.stderr
    assert "Traceback" not in result.stderr


def _as_nobody() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def test_an_unreadable_folder_is_an_error_line() -> None:
    with tempfile.TemporaryDirectory() as name:  # pytest's folders are closed to others
        os.chmod(name, 0o777)
        _unreadable_folder_case(Path(name))


def _unreadable_folder_case(base: Path) -> None:
    root = _tree(base, "a", "b")
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    os.chmod(root / "b", 0)
    out = base / "out"
    try:
        proc = subprocess.run([*_as_nobody(), sys.executable, "-m", "boamps_etl", "batch",
                               str(root), "-o", str(out), "-q"], capture_output=True,
                              text=True, timeout=120)
    finally:
        os.chmod(root / "b", 0o777)
    assert proc.returncode == 1, proc.stderr
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    errors = [m for m in lines if m["status"] == "error"]
    assert [m["source"] for m in errors] == ["b/"]
    assert "cannot be listed (permission denied)" in errors[0]["messages"]
    assert [m["status"] for m in lines if m["source"] == "a/emissions.csv"] == ["valid"]


# --------------------------------------------------------------------------- signals

import signal  # noqa: E402
import time  # noqa: E402

BIG_ROWS = 60_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clean CSV of 60,000 runs (about 40 MB) and a complete context."""
    base = tmp_path_factory.mktemp("big")
    template = v321_row(run_id="RUNID")
    with (base / "emissions.csv").open("w", encoding="utf-8") as fh:
        fh.write(V321_HEADER + "\n")
        fh.writelines(template.replace("RUNID", run_id(i)) + "\n" for i in range(BIG_ROWS))
    context = base / "boamps.json"
    context.write_text(json.dumps(TASK_CONTEXT), encoding="utf-8")
    return base / "emissions.csv", context


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "boamps_etl", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended


def _wait_for(predicate: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def _signal_group(proc: subprocess.Popen[str], sig: int, ready: Any, settle: float = 0.0
                  ) -> tuple[str, float, list[int]]:
    """Once ``ready()`` holds, send ``sig`` to the process group of ``proc``: its stderr,
    the seconds it took to end, and its worker processes at the moment of the signal."""
    try:
        assert _wait_for(ready, 60)
        time.sleep(settle)
        workers = _children(proc.pid)
        os.killpg(proc.pid, sig)
        start = time.monotonic()
        _, stderr = proc.communicate(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return stderr, elapsed, workers


def _work_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".boamps-etl.")]


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="needs Linux /proc")


@needs_proc
@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_a_signal_to_the_group_stops_convert_cleanly(big: tuple[Path, Path], tmp_path: Path,
                                                     sig: int, code: int, word: str) -> None:
    csv_path, context = big
    proc = _start(["convert", str(csv_path), "-c", str(context), "--format", "jsonl",
                   "-o", "out.jsonl", "-j", "2"], tmp_path)
    # Signalled while the workers convert: their parts are being written.
    stderr, elapsed, workers = _signal_group(
        proc, sig, lambda: len(_children(proc.pid)) >= 2 and _work_files(tmp_path))
    assert proc.returncode == code, stderr
    assert elapsed < 2.0
    assert stderr.splitlines() == [f"{word}: no partial output was left"], stderr
    assert _wait_for(lambda: not any(_alive(w) for w in workers), 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], stderr


@pytest.mark.parametrize("module", ["boamps_etl.codecarbon", "boamps_etl.errors"])
def test_ctrl_c_while_the_command_loads_gives_one_line(module: str) -> None:
    # Python names each module as its import ends (PYTHONPROFILEIMPORTTIME): the signal
    # is sent while the package is still loading its heavy modules.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "boamps_etl", "mapping", "show"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.rstrip().endswith(f" {module}"):
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [ln for ln in rest.splitlines() if not ln.startswith("import time:")]
    assert lines == ["interrupted: no partial output was left"], rest[-2000:]
    assert proc.returncode == 130


@needs_proc
@pytest.mark.parametrize("command", ["convert", "batch"])
def test_workers_end_when_their_parent_is_killed(big: tuple[Path, Path], tmp_path: Path,
                                                 command: str) -> None:
    csv_path, context = big
    if command == "convert":
        args = ["convert", str(csv_path), "-c", str(context), "--format", "jsonl", "-o",
                "out.jsonl", "-j", "2"]
    else:
        root = tmp_path / "runs"
        for name in ("a", "b", "c"):
            (root / name).mkdir(parents=True)
            (root / name / "emissions.csv").symlink_to(csv_path)
        shutil.copy(context, root / "boamps.json")
        args = ["batch", str(root), "-o", "out", "-j", "2", "-q"]
    proc = _start(args, tmp_path)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2, 60)
        time.sleep(0.3)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait()
        assert _wait_for(lambda: not any(_alive(w) for w in workers), 2), workers
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- streams


def _convert(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "boamps_etl", "convert", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_stdin_a_fifo_and_a_process_substitution_are_read(odd_csv: Path, context_file: Path,
                                                          tmp_path: Path) -> None:
    common = ["-c", str(context_file), "--format", "jsonl"]
    expected = _convert([str(odd_csv), *common, "-o", "file.jsonl"], tmp_path)
    assert expected.returncode == 1, expected.stderr
    reference = (tmp_path / "file.jsonl").read_bytes()

    piped = _convert(["-", *common, "-o", "stdin.jsonl"], tmp_path,
                     stdin=odd_csv.open("rb"))
    assert piped.returncode == 1, piped.stderr
    assert "<stdin>, row 7, column 'energy_consumed'" in piped.stderr
    assert (tmp_path / "stdin.jsonl").read_bytes() == reference

    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(["sh", "-c", f'cat "{odd_csv}" > "{fifo}"'])
    through_fifo = _convert([str(fifo), *common, "-o", "fifo.jsonl"], tmp_path)
    feeder.wait(timeout=30)
    assert through_fifo.returncode == 1, through_fifo.stderr
    assert (tmp_path / "fifo.jsonl").read_bytes() == reference

    bash = shutil.which("bash")
    if bash is not None:
        command = (f'"{sys.executable}" -m boamps_etl convert <(cat "{odd_csv}") '
                   f'-c "{context_file}" --format jsonl -o subst.jsonl')
        substituted = subprocess.run([bash, "-c", command], cwd=tmp_path, capture_output=True,
                                     text=True, timeout=120)
        assert substituted.returncode == 1, substituted.stderr
        assert (tmp_path / "subst.jsonl").read_bytes() == reference
    assert "internal error" not in piped.stderr + through_fifo.stderr
    left = [p for p in Path(tempfile.gettempdir()).iterdir()
            if p.name.startswith(".boamps-etl.") and f".{os.getpid()}." in p.name]
    assert left == []


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_a_plain_csv_named_gz_is_read_and_said(odd_csv: Path, context_file: Path,
                                               tmp_path: Path, fmt: str) -> None:
    named = tmp_path / "emissions.csv.gz"
    named.write_bytes(odd_csv.read_bytes())
    out = tmp_path / ("out" if fmt == "json" else f"out.{fmt}")
    result = CliRunner().invoke(cli, ["convert", str(named), "-c", str(context_file),
                                      "--format", fmt, "-o", str(out)])
    assert result.exit_code == 1, result.stderr
    assert "internal error" not in result.stderr
    assert f"warning: {named}: is named .gz but is not gzip data" in result.stderr
    assert out.exists()


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 2 MB file system (tmpfs), unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = shutil.which("mount")
    if mount is None or subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                                        str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_a_full_disk_is_one_line_and_no_partial_file(big: tuple[Path, Path], tiny_disk: Path,
                                                     fmt: str) -> None:
    csv_path, context = big
    sample = tiny_disk.parent / "sample.csv"
    if fmt == "parquet":  # typed, compressed: 20,000 varied reports make more than 2 MB
        from bench.generate import write_csv as generate

        generate(sample, rows=20_000, variant="v3.2.1", seed=3)
    else:
        with csv_path.open(encoding="utf-8") as src:  # 4,000 reports: more than 2 MB
            sample.write_text("".join(line for _, line in zip(range(4001), src,
                                                               strict=False)),
                              encoding="utf-8")
    out = tiny_disk / ("out" if fmt == "json" else f"out.{fmt}")
    result = _convert([str(sample), "-c", str(context), "--format", fmt, "-o", str(out),
                       "-j", "1"], tiny_disk.parent)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {out}: cannot be written: no space left on the device "
        "(free some space or choose another --out)"]
    assert list(tiny_disk.iterdir()) == []


# --------------------------------------------------------------------------- kill -9


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _kill_case(tmp_path: Path, big: tuple[Path, Path], command: str) -> tuple[list[str], Path]:
    csv_path, context = big
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    if command.startswith("batch"):
        root = tmp_path / "runs"
        for k in range(4):  # four folders of 300 runs each
            (root / f"exp{k}").mkdir(parents=True)
            (root / f"exp{k}" / "emissions.csv").write_text(
                lines[0] + "".join(lines[1 + 300 * k: 1 + 300 * (k + 1)]), encoding="utf-8")
        if command == "batch-large":  # and a file large enough to be streamed (over 1 MB)
            (root / "exp2" / "emissions.csv.bak").write_text(
                lines[0] + "".join(lines[1001: 4001]), encoding="utf-8")
        if command == "batch-split":  # and one split between the workers (over 16 MB),
            from bench.generate import write_csv as generate  # read as they spool it

            generate(root / "exp1" / "emissions.csv.bak", rows=36_000, variant="v3.2.1",
                     seed=5)
        shutil.copy(context, root / "boamps.json")
        return ["batch", str(root), "-o", "work/out", "-j", "2", "-q"], tmp_path / "work"
    sample = tmp_path / "emissions.csv"
    fmt = command.split("-")[1]
    rows = 3000 if fmt == "jsonl" else 1000  # jsonl: the fast path and its workers
    sample.write_text("".join(lines[:rows + 1]), encoding="utf-8")
    out = "work/out" if fmt == "json" else f"work/out.{fmt}"
    return ["convert", str(sample), "-c", str(context), "--format", fmt, "-o", out,
            "-j", "2"], tmp_path / "work"


@needs_proc
@pytest.mark.parametrize("command", ["convert-json", "convert-jsonl", "convert-csv",
                                     "convert-parquet", "batch", "batch-large",
                                     "batch-split"])
def test_kill_9_then_a_plain_rerun_gives_the_same_bytes(big: tuple[Path, Path],
                                                        tmp_path: Path, command: str) -> None:
    args, work = _kill_case(tmp_path, big, command)
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    start = time.monotonic()
    reference = subprocess.run([sys.executable, "-m", "boamps_etl", *args],
                               cwd=reference_dir, capture_output=True, text=True, timeout=300)
    duration = time.monotonic() - start
    expected = _outputs(reference_dir / "work")
    assert expected and reference.returncode == 0, reference.stderr
    for fraction in (0.3, 0.6, 0.9):
        shutil.rmtree(work, ignore_errors=True)
        (work.parent / "work").mkdir()
        proc = _start(args, tmp_path)
        time.sleep(duration * fraction)
        if fraction < 0.5:
            proc.kill()  # the parent alone: its workers must follow it
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        workers_gone = _wait_for(lambda: not any(
            _alive(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()
            and _cmdline_mentions(p, str(work.parent))), 3)
        assert workers_gone
        rerun = subprocess.run([sys.executable, "-m", "boamps_etl", *args], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, (fraction, rerun.stderr)
        assert _outputs(work) == expected, fraction
        assert _work_files(work.parent) == [], fraction


def _cmdline_mentions(proc_dir: Path, text: str) -> bool:
    try:
        return text in (proc_dir / "cmdline").read_bytes().decode(errors="replace") or \
            os.readlink(proc_dir / "cwd").startswith(text)
    except OSError:
        return False


def test_debug_still_shows_the_traceback_of_a_full_disk(big: tuple[Path, Path],
                                                        tiny_disk: Path) -> None:
    csv_path, context = big
    sample = tiny_disk.parent / "sample.csv"
    with csv_path.open(encoding="utf-8") as src:
        sample.write_text("".join(line for _, line in zip(range(4001), src, strict=False)),
                          encoding="utf-8")
    out = tiny_disk / "out.jsonl"
    result = subprocess.run([sys.executable, "-m", "boamps_etl", "--debug", "convert",
                             str(sample), "-c", str(context), "--format", "jsonl", "-o",
                             str(out), "-j", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no space left on the device" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert list(tiny_disk.iterdir()) == []


@needs_proc
def test_batch_on_a_full_disk_is_one_line(big: tuple[Path, Path], tiny_disk: Path) -> None:
    csv_path, context = big
    root = tiny_disk.parent / "runs"
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    for k in range(3):
        (root / f"exp{k}").mkdir(parents=True)
        (root / f"exp{k}" / "emissions.csv").write_text(
            lines[0] + "".join(lines[1 + 1000 * k: 1 + 1000 * (k + 1)]), encoding="utf-8")
    shutil.copy(context, root / "boamps.json")
    result = subprocess.run([sys.executable, "-m", "boamps_etl", "batch", str(root), "-o",
                             str(tiny_disk / "out"), "-q"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    assert "no space left on the device" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert _work_files(tiny_disk) == []


@needs_proc
@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_a_signal_to_the_group_stops_batch_cleanly(big: tuple[Path, Path], tmp_path: Path,
                                                   sig: int, code: int, word: str) -> None:
    csv_path, context = big
    root = tmp_path / "runs"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
        (root / name / "emissions.csv").symlink_to(csv_path)
    shutil.copy(context, root / "boamps.json")
    proc = _start(["batch", str(root), "-o", "out", "-j", "2", "-q"], tmp_path)
    # Signalled half a second after the workers start: they are converting their folders.
    stderr, elapsed, workers = _signal_group(
        proc, sig, lambda: len(_children(proc.pid)) >= 2, settle=0.5)
    assert proc.returncode == code, stderr
    assert elapsed < 2.0
    assert stderr.splitlines() == [f"{word}: no partial output was left"], stderr
    assert _wait_for(lambda: not any(_alive(w) for w in workers), 2)
    assert _work_files(tmp_path / "out") == []
    assert not (tmp_path / "out" / "manifest.csv").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_interrupt_as_a_range_s_work_file_is_made_leaves_none(
        big: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fmt: str) -> None:
    """Ctrl-C lands just after a work file is made, before the code that made it has
    noted it (here: the second one, a range's): it is removed all the same."""
    from boamps_etl.api import convert_to
    from boamps_etl.io import staging

    csv_path, context = big
    made: list[Path] = []
    open_new = staging.open_new

    def interrupted(make: Any) -> Any:
        def make_then_stop(path: Path) -> Any:
            made.append(Path(path))
            done = make(path)
            if len(made) == 2:  # the second range's
                if hasattr(done, "close"):
                    done.close()
                raise KeyboardInterrupt
            return done
        return make_then_stop

    monkeypatch.setattr(staging, "open_new", interrupted(open_new))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        convert_to(csv_path, out / f"reports.{fmt}", fmt, context=context, jobs=2)
    assert len(made) >= 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == []
