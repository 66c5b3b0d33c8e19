"""Large files written to an object store, and by Dask workers that do not see the output
folder: streamed block by block through a private temporary folder, with the bytes of
local ``-j 1`` (reports, ``all.<format>``, manifest, and the state's part files).

Real parts: moto's S3 server on 127.0.0.1 and a ``LocalCluster`` of 2 worker processes
(the fixtures of ``test_distributed``). The system's temporary folder is a folder of the
test (``tempfile.tempdir``), so that what a run leaves there is seen; the local pool's
workers are forked and see it too, the cluster's are not and use the real one.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_batch import build_tree, tree_bytes
from test_distributed import (  # cluster, s3: the fixtures, started anew here
    S3,
    cluster,  # noqa: F401
    s3,  # noqa: F401
)

from boamps_etl.batch import BatchProgress, convert_tree
from boamps_etl.batch import convert as batch_convert
from boamps_etl.batch.state import PARTS_FOLDER, read_state
from boamps_etl.execute.dask import DaskExecutor
from boamps_etl.io import staging, storage

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.generate import write_csv as generate  # noqa: E402

LARGE = ("big", "big-copy")  # the folders of the large file and of its copy


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch fixture tree plus a CodeCarbon file of a few MB (12,000 rows, a run
    every 20 rows: runs cross the blocks) and a copy of it (its reports: duplicates)."""
    root = build_tree(tmp_path_factory.mktemp("tree"))
    (root / "big").mkdir()
    generate(root / "big" / "emissions.csv", 12_000, seed=3, flush=20)
    (root / "big-copy").mkdir()
    shutil.copyfile(root / "big/emissions.csv", root / "big-copy/emissions.csv")
    size = (root / "big/emissions.csv").stat().st_size
    assert batch_convert.STREAM_BYTES < (2 << 20) < size < batch_convert.SPLIT_BYTES
    return root


@pytest.fixture(scope="module")
def references(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local ``-j 1`` into a local folder, per format."""
    refs = {}
    for fmt in ("json", "jsonl", "csv"):
        refs[fmt] = tmp_path_factory.mktemp(f"ref-{fmt}") / "out"
        convert_tree(tree, refs[fmt], jobs=1, format=fmt)
        assert streamed(read_state(refs[fmt])) == set(LARGE)
    return refs


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, for this test: a folder of its own."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def streamed(state: dict[str, Any]) -> set[str]:
    """The folders whose lines the state keeps in a part file: those streamed."""
    return {k for k, r in state.items() if isinstance(r, dict) and isinstance(r.get("part"), str)}


def objects(store: S3, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` but the state (part files included)."""
    return store.objects(prefix)


def work_objects(store: S3, prefix: str) -> list[str]:
    store.fs.invalidate_cache()
    return [n for n in store.fs.find(prefix, refresh=True)
            if staging.is_work_name(n.rsplit("/", 1)[-1])]


def remote_state(store: S3, prefix: str) -> dict[str, Any]:
    return read_state(storage.as_path(f"s3://{prefix}", {"endpoint_url": store.endpoint}))


def check_same(store: S3, prefix: str, reference: Path) -> None:
    expected = tree_bytes(reference)
    got = objects(store, prefix)
    assert sorted(got) == sorted(expected)
    for name, data in expected.items():
        assert got[name] == data, name
    assert any(n.startswith(PARTS_FOLDER + "/") for n in got)  # the part files, too


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_the_local_pool_streams_large_files_to_s3_with_the_bytes_of_j1(
        s3: S3, tree: Path, references: dict[str, Path], tmpdir_: Path, fmt: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the parent decides the split: the large files are shared out between the 2 workers
    monkeypatch.setattr(batch_convert, "SPLIT_BYTES", 1 << 20)
    prefix = f"lab/pool-{fmt}"
    result = convert_tree(tree, f"s3://{prefix}", jobs=2, format=fmt)
    assert result.files == 9
    check_same(s3, prefix, references[fmt])
    assert streamed(remote_state(s3, prefix)) == set(LARGE)
    assert work_objects(s3, prefix) == [] and list(tmpdir_.iterdir()) == []

    # a re-run converts nothing and writes nothing
    again = convert_tree(tree, f"s3://{prefix}", jobs=2, format=fmt)
    assert again.converted == 0 and again.unchanged == 9 and again.written == []
    check_same(s3, prefix, references[fmt])
    assert list(tmpdir_.iterdir()) == []


def test_inline_streams_to_s3_too(s3: S3, tree: Path, references: dict[str, Path],  # noqa: F811
                                  tmpdir_: Path) -> None:
    prefix = "lab/inline"
    convert_tree(tree, f"s3://{prefix}", jobs=1, format="jsonl")
    check_same(s3, prefix, references["jsonl"])
    assert streamed(remote_state(s3, prefix)) == set(LARGE)
    assert work_objects(s3, prefix) == [] and list(tmpdir_.iterdir()) == []


def test_a_changed_large_file_replaces_its_outputs_and_part(
        s3: S3, tree: Path, references: dict[str, Path], tmpdir_: Path,  # noqa: F811
        tmp_path: Path) -> None:
    """The large file edited: converted again, its old part removed from the bucket."""
    local = tmp_path / "tree"
    shutil.copytree(tree, local)
    prefix = "lab/changed"
    convert_tree(local, f"s3://{prefix}", jobs=2, format="jsonl")
    before = {n for n in objects(s3, prefix) if n.startswith(PARTS_FOLDER)}
    path = local / "big/emissions.csv"
    data = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(data[:6001]))  # the first 6,000 rows only
    changed = convert_tree(local, f"s3://{prefix}", jobs=2, format="jsonl")
    assert changed.converted == 2  # big, and big-copy: which of its reports are duplicates
    reference = tmp_path / "ref"
    convert_tree(local, reference, jobs=1, format="jsonl")
    check_same(s3, prefix, reference)
    after = {n for n in objects(s3, prefix) if n.startswith(PARTS_FOLDER)}
    assert len(after) == len(before) == 2 and after != before
    assert list(tmpdir_.iterdir()) == []


def test_ctrl_c_leaves_no_work_file_and_a_rerun_completes(
        s3: S3, tree: Path, references: dict[str, Path], tmpdir_: Path) -> None:  # noqa: F811
    prefix = "lab/interrupted"
    seen: list[str] = []

    def stop(progress: BatchProgress) -> None:
        seen.append(progress.current)
        if progress.current == "big":  # the first large folder is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_tree(tree, f"s3://{prefix}", jobs=2, format="json", progress=stop)
    assert "big" in seen and "big-copy" not in seen
    assert work_objects(s3, prefix) == [] and list(tmpdir_.iterdir()) == []
    assert "big" in streamed(remote_state(s3, prefix))
    resumed = convert_tree(tree, f"s3://{prefix}", jobs=2, format="json")
    assert 0 < resumed.converted < resumed.files
    check_same(s3, prefix, references["json"])
    assert work_objects(s3, prefix) == [] and list(tmpdir_.iterdir()) == []


def test_a_killed_run_s_temporary_folder_is_removed_by_the_next(
        s3: S3, tree: Path, tmpdir_: Path, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    import subprocess

    code = ("import sys; from pathlib import Path; from boamps_etl.io import staging; "
            "p = staging.new_folder(Path(sys.argv[1])); (p / 'x.spool').write_bytes(b'x')")
    subprocess.run([sys.executable, "-c", code, str(tmpdir_)], check=True, cwd=ROOT)
    (left,) = tmpdir_.iterdir()
    assert staging.is_work_name(left.name)
    (tmp_path / "runs").mkdir()
    shutil.copytree(tree / "big", tmp_path / "runs" / "big")
    convert_tree(tmp_path / "runs", "s3://lab/after-kill", jobs=1)
    assert list(tmpdir_.iterdir()) == []


# --------------------------------------------------------------------------- Dask


class BlindTo(DaskExecutor):
    """A cluster whose workers do not see some folders (as workers of another machine):
    the probe's marker is removed before they look for it when it is in one of them."""

    blind: ClassVar[list[Path]] = []
    probed: ClassVar[list[Path]] = []

    def _workers_hold(self, path: str, data: bytes) -> bool:
        self.probed.append(Path(path).parent)
        if any(b == Path(path).parent or b in Path(path).parents for b in self.blind):
            os.unlink(path)
        return super()._workers_hold(path, data)


@pytest.fixture
def blind() -> Iterator[type[BlindTo]]:
    BlindTo.blind, BlindTo.probed = [], []
    yield BlindTo


def convert_tasks(client: Any, run: Any) -> tuple[Any, int]:
    with distributed.get_task_stream(client) as stream:
        result = run()
    return result, sum(1 for t in stream.data if str(t["key"]).startswith("convert_unit"))


def test_dask_workers_on_this_machine_stream_to_s3(
        s3: S3, cluster: Any, tree: Path, references: dict[str, Path], tmpdir_: Path  # noqa: F811
        ) -> None:
    prefix = "lab/dask"
    result, tasks = convert_tasks(cluster, lambda: convert_tree(
        tree, f"s3://{prefix}", client=cluster, format="jsonl"))
    assert tasks == result.files == 9  # none over SPLIT_BYTES: a task per file
    check_same(s3, prefix, references["jsonl"])
    assert streamed(remote_state(s3, prefix)) == set(LARGE)
    assert work_objects(s3, prefix) == []
    assert list(tmpdir_.iterdir()) == []
    again = convert_tree(tree, f"s3://{prefix}", client=cluster, format="jsonl")
    assert again.converted == 0 and again.written == []


def test_dask_workers_that_see_neither_spool_to_the_store_and_split_large_files(
        s3: S3, cluster: Any, tree: Path, references: dict[str, Path],  # noqa: F811
        blind: type[BlindTo], tmpdir_: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers of other machines (as far as the batch can tell): the spools of the large
    files' shares are objects at DEST, uploaded whole, read back by the client and
    removed at the end."""
    monkeypatch.setattr(batch_convert, "SPLIT_BYTES", 1 << 20)
    prefix = "lab/dask-blind"
    blind.blind = [tmpdir_]
    result, tasks = convert_tasks(cluster, lambda: convert_tree(
        tree, f"s3://{prefix}", executor=BlindTo(client=cluster), format="jsonl"))
    assert [p.parent for p in blind.probed] == [tmpdir_]  # the temporary folder's probe
    assert tasks == result.files + len(LARGE)  # each large file: one task per worker
    check_same(s3, prefix, references["jsonl"])
    assert streamed(remote_state(s3, prefix)) == set(LARGE)
    assert list(tmpdir_.iterdir()) == [] and work_objects(s3, prefix) == []
    again = convert_tree(tree, f"s3://{prefix}", executor=BlindTo(client=cluster),
                         format="jsonl")
    assert again.converted == 0 and again.written == []


def _die_in_a_spool(marker: str) -> None:
    """On a worker: the first spool block written after this, by any worker, is the last
    thing its process does (killed at once: its work files are left as they are)."""
    original = getattr(batch_convert._spool_block, "original", batch_convert._spool_block)

    def spool_block(out: Any, items: list[Any], flush: bool = False) -> None:
        original(out, items, flush)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        out.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    spool_block.original = original  # type: ignore[attr-defined]
    batch_convert._spool_block = spool_block  # type: ignore[assignment]


def _live_again() -> None:
    batch_convert._spool_block = getattr(  # type: ignore[assignment]
        batch_convert._spool_block, "original", batch_convert._spool_block)


def test_a_worker_killed_while_spooling_to_the_store_loses_nothing(
        s3: S3, cluster: Any, tree: Path, references: dict[str, Path],  # noqa: F811
        blind: type[BlindTo], tmpdir_: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed while a large file's share spools its reports (to be uploaded to
    the store): Dask runs the task again; every report is written once, no work object
    is left, and what the dead worker left in its temporary folder is swept."""
    import cloudpickle

    monkeypatch.setattr(batch_convert, "SPLIT_BYTES", 1 << 20)
    prefix = "lab/dask-blind-kill"
    blind.blind = [tmpdir_]
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        cluster.run(_die_in_a_spool, str(marker))
        before = set(cluster.run(os.getpid).values())
        result = convert_tree(tree, f"s3://{prefix}", executor=BlindTo(client=cluster),
                              format="jsonl")
    finally:
        cluster.run(_live_again)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker died in a spool
    cluster.wait_for_workers(2, timeout=60)
    assert before - set(cluster.run(os.getpid).values())  # it was replaced
    assert result.files == 9
    check_same(s3, prefix, references["jsonl"])
    assert streamed(remote_state(s3, prefix)) == set(LARGE)
    assert work_objects(s3, prefix) == []
    real_tmp = Path(next(iter(cluster.run(tempfile.gettempdir).values())))
    cluster.run(batch_convert._worker_temp)  # as a worker's next large file does
    dead = before - set(cluster.run(os.getpid).values())
    assert [p for p in real_tmp.iterdir()
            if staging.is_work_name(p.name) and int(p.name.split(".")[3]) in dead] == []


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_large_files_in_a_bucket_are_streamed_and_split_with_the_bytes_of_j1(
        s3: S3, cluster: Any, tree: Path, references: dict[str, Path],  # noqa: F811
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str) -> None:
    """A large source that is an object: copied to the worker's disk in parts, then
    streamed and shared out between the workers as a local one, never read whole."""
    monkeypatch.setattr(batch_convert, "SPLIT_BYTES", 1 << 20)
    prefix = f"lab/sources-{executor}"
    s3.upload(tree, prefix)
    out = tmp_path / "out"
    if executor == "local":
        result = convert_tree(f"s3://{prefix}", out, jobs=2, format="jsonl")
    else:
        result, tasks = convert_tasks(cluster, lambda: convert_tree(
            f"s3://{prefix}", out, client=cluster, format="jsonl"))
        assert tasks == result.files + len(LARGE)
    assert tree_bytes(out) == tree_bytes(references["jsonl"])
    assert streamed(read_state(out)) == set(LARGE)
    assert [p for p in out.rglob("*") if staging.is_work_name(p.name)] == []


def test_spools_a_killed_batch_left_in_the_store_are_removed_by_the_next(
        s3: S3, tree: Path, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    prefix = "lab/after-kill-store"
    dead = staging.work_name(staging.STAGE).replace(f".{os.getpid()}.", ".999999999.", 1)
    assert staging.is_stale(dead)
    s3.fs.pipe_file(f"{prefix}/{dead}/x.part.spool", b"left by a killed batch")
    (tmp_path / "runs").mkdir()
    shutil.copytree(tree / "big", tmp_path / "runs" / "big")
    convert_tree(tmp_path / "runs", f"s3://{prefix}", jobs=1)
    assert work_objects(s3, prefix) == []
    assert not any(name.startswith(".boamps-etl.") for name in objects(s3, prefix))


def test_dask_workers_that_do_not_see_a_local_dest_spool_to_the_temporary_folder(
        cluster: Any, tree: Path, references: dict[str, Path], tmp_path: Path,  # noqa: F811
        blind: type[BlindTo], tmpdir_: Path) -> None:
    out = tmp_path / "out"
    blind.blind = [out]
    result, tasks = convert_tasks(cluster, lambda: convert_tree(
        tree, out, executor=BlindTo(client=cluster), format="csv"))
    assert blind.probed[0] == out and blind.probed[1].parent == tmpdir_
    assert tasks == result.files == 9
    assert tree_bytes(out) == tree_bytes(references["csv"])
    assert streamed(read_state(out)) == set(LARGE)
    assert list(tmpdir_.iterdir()) == []
    assert [p for p in out.rglob("*") if staging.is_work_name(p.name)] == []


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 3072, 3100])
def test_an_object_is_hashed_in_blocks(s3: S3, size: int,  # noqa: F811 (the fixture)
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A large output is hashed (to tell whether it changed) without being held whole:
    by ranges of HASH_BLOCK bytes (1 KB here), the same digest whatever the size."""
    import hashlib

    monkeypatch.setattr(storage, "HASH_BLOCK", 1024)
    data = bytes(i % 251 for i in range(size))
    s3.fs.pipe_file(f"lab/hash/{size}", data)
    path = storage.as_path(f"s3://lab/hash/{size}")
    ranges: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "GetObject":
            ranges.append(str(params.get("Range", "")))

    fs: Any = getattr(path, "fs")  # noqa: B009 - a UPath
    fs.connect()
    fs.s3.meta.events.register("before-parameter-build.s3", record)
    try:
        assert storage.sha256(path) == hashlib.sha256(data).hexdigest()
    finally:
        fs.s3.meta.events.unregister("before-parameter-build.s3", record)
    # ranges of at most 1 KB (a store may refuse one past the end: then a plain read,
    # of the empty object only)
    spans = [tuple(int(x) for x in r.removeprefix("bytes=").split("-")) for r in ranges if r]
    assert spans and all(end - start + 1 <= 1024 for start, end in spans)
    assert len(ranges) - len(spans) <= (size == 0)
    assert storage.sha256(storage.as_path("s3://lab/hash/missing")) is None
    memory = storage.as_path(f"memory://hash/{size}")
    memory.fs.pipe_file(f"/hash/{size}", data)
    assert storage.sha256(memory) == hashlib.sha256(data).hexdigest()
