"""Large files on a Dask cluster whose workers see the output folder: streamed block by
block into work files there, and split between the worker threads, as the local pool does,
with the bytes of local ``-j 1``; read whole when the workers see neither it nor a temporary
folder (``tests/test_s3_stream.py``: workers that see only the latter).

A real ``LocalCluster`` of 2 worker processes. Its workers are separate processes started
before the tests change anything, so the size thresholds are the real ones: the files are
generated large (bench/generate.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_batch import build_tree

from boamps_etl import batch
from boamps_etl.batch import convert as batch_convert
from boamps_etl.batch import convert_tree
from boamps_etl.batch.convert import warm_up
from boamps_etl.batch.state import PARTS_FOLDER, read_state
from boamps_etl.execute.dask import DaskExecutor
from boamps_etl.io import staging

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.generate import write_csv as generate  # noqa: E402

BIG, MID = "big", "mid"  # the folders of the large files


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        client.run(warm_up)
        yield client


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch fixture tree (small files, a duplicate across files, a broken gzip...),
    plus a file over SPLIT_BYTES (streamed and split), one over STREAM_BYTES (streamed
    whole) and a copy of that one (its reports are duplicates)."""
    root = build_tree(tmp_path_factory.mktemp("tree"))
    for folder, rows, flush in (("big", 40_000, 20), ("mid", 3_000, 3)):
        (root / folder).mkdir()  # a run every ``flush`` rows: runs cross blocks
        generate(root / folder / "emissions.csv", rows, seed=len(folder), flush=flush)
    (root / "mid-copy").mkdir()
    shutil.copyfile(root / "mid/emissions.csv", root / "mid-copy/emissions.csv")
    big, mid = (root / "big/emissions.csv").stat().st_size, \
        (root / "mid/emissions.csv").stat().st_size
    assert big > batch_convert.SPLIT_BYTES and batch_convert.STREAM_BYTES < mid \
        < batch_convert.SPLIT_BYTES
    return root


@pytest.fixture(scope="module")
def reference(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    convert_tree(tree, out, jobs=1)
    return out


def outputs(out: Path) -> dict[str, bytes]:
    """Every file a user sees: reports, manifest (not the state nor its part files)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != batch.STATE_NAME
            and PARTS_FOLDER not in p.relative_to(out).parts}


def work_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if staging.is_work_name(p.name)]


def streamed_folders(out: Path) -> set[str]:
    """The folders recorded in a state part file: those of a streamed file."""
    return {key for key, record in read_state(out).items()
            if isinstance(record, dict) and isinstance(record.get("part"), str)
            and (out / PARTS_FOLDER / record["part"]).is_file()}


def tasks_of(client: Any, run: Any) -> tuple[Any, int]:
    """``run()``'s result and the conversion tasks the scheduler ran for it."""
    with distributed.get_task_stream(client) as stream:
        result = run()
    return result, sum(1 for t in stream.data if str(t["key"]).startswith("convert_unit"))


def test_the_reference_streams_the_large_files(reference: Path) -> None:
    assert streamed_folders(reference) == {BIG, MID, "mid-copy"}


def test_a_cluster_that_sees_dest_streams_and_splits_with_the_bytes_of_j1(
        cluster: Any, tree: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result, tasks = tasks_of(cluster, lambda: convert_tree(tree, out, client=cluster))
    assert outputs(out) == outputs(reference)
    assert (out / "manifest.csv").read_bytes() == (reference / "manifest.csv").read_bytes()
    # streamed on the workers: the large folders' lines are in state part files
    assert streamed_folders(out) == {BIG, MID, "mid-copy"}
    assert work_files(out) == []
    # a task per file; the one over SPLIT_BYTES is 2 tasks (one per worker thread)
    assert result.files == 10 and tasks == result.files + 1
    # a re-run converts nothing
    again = convert_tree(tree, out, client=cluster)
    assert again.converted == 0 and again.written == []
    assert outputs(out) == outputs(reference) and work_files(out) == []


def test_the_local_cluster_batch_starts_streams(tree: Path, reference: Path,
                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = convert_tree(tree, out, executor="dask", jobs=2)
    assert result.ok is False  # the tree's broken gzip, as in the reference
    assert outputs(out) == outputs(reference)
    assert streamed_folders(out) == {BIG, MID, "mid-copy"}
    assert work_files(out) == []


class Blind(DaskExecutor):
    """A cluster whose workers do not see the output folder: the probe's marker is gone
    from the disk before the workers look for it (as on a worker of another machine)."""

    markers: ClassVar[list[str]] = []

    def _workers_hold(self, path: str, data: bytes) -> bool:
        self.markers.append(path)
        os.unlink(path)
        return super()._workers_hold(path, data)


def test_the_probe(cluster: Any, tmp_path: Path) -> None:
    executor = DaskExecutor(client=cluster)
    assert executor.sees(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the marker is removed
    marker = tmp_path / "marker"
    marker.write_bytes(b"0123456789")
    assert executor._workers_hold(str(marker), b"0123456789")
    assert not executor._workers_hold(str(marker), b"0123456788")  # other bytes
    assert not executor._workers_hold(str(marker), b"012345678")  # a longer file
    assert not executor._workers_hold(str(tmp_path / "missing"), b"0123456789")
    assert not Blind(client=cluster).sees(tmp_path)
    assert list(tmp_path.iterdir()) == [marker]
    assert not executor.sees(tmp_path / "no-such-folder")


def test_workers_that_do_not_see_dest_read_whole_with_the_same_bytes(
        cluster: Any, tree: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    Blind.markers = []
    convert_tree(tree, out, executor=Blind(client=cluster))
    # the output folder probed, then a temporary folder (not seen either: removed)
    assert len(Blind.markers) == 2 and Path(Blind.markers[0]).parent == out
    scratch = Path(Blind.markers[1]).parent
    assert scratch.parent == Path(tempfile.gettempdir()) and not scratch.exists()
    assert outputs(out) == outputs(reference)
    assert streamed_folders(out) == set() and not (out / PARTS_FOLDER).exists()
    assert work_files(out) == []


def test_a_killed_probe_leaves_a_marker_the_next_run_sweeps(tmp_path: Path) -> None:
    """A marker is a work file: a run killed while probing leaves one that the next run
    in that folder removes (here: the name of a process that is gone)."""
    import subprocess

    out = tmp_path / "out"
    out.mkdir()
    code = ("import sys; from pathlib import Path; from boamps_etl.io import staging; "
            "fh, p = staging.new_file(Path(sys.argv[1]), 'probe'); fh.write(b'x'); "
            "fh.close(); print(p)")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    left = Path(proc.stdout.strip())
    assert left.is_file() and staging.is_work_name(left.name)
    (tmp_path / "runs").mkdir()
    convert_tree(tmp_path / "runs", out)
    assert not left.exists()
