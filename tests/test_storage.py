"""boamps_etl.io.storage and the executors: local paths and fsspec URLs alike."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from test_batch import build_tree, tree_bytes

from boamps_etl.batch import convert_tree
from boamps_etl.errors import UsageError
from boamps_etl.execute import InlineExecutor, LocalPoolExecutor, make_executor
from boamps_etl.io import storage


def _memory_copy(local: Path) -> str:
    base = f"memory://t-{uuid.uuid4().hex}"
    for path in sorted(local.rglob("*")):
        if path.is_file():
            target = storage.as_path(f"{base}/{path.relative_to(local).as_posix()}")
            storage.put(target, path.read_bytes())
    return base


def test_walk_lists_the_same_tree_for_a_path_and_a_url(tmp_path: Path) -> None:
    root = build_tree(tmp_path)
    url = _memory_copy(root)

    def listing(top: Path) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
        return [(rel, sorted(d), sorted(f)) for rel, d, f in storage.walk(top)]

    assert sorted(listing(storage.as_path(url))) == sorted(listing(root))


def test_put_is_whole_and_replaces(tmp_path: Path) -> None:
    for base in (tmp_path, storage.as_path(f"memory://t-{uuid.uuid4().hex}")):
        target = base / "a" / "b.json"
        storage.put(target, b"one")
        storage.put(target, b"two")
        assert target.read_bytes() == b"two"
        assert storage.sha256(target) == storage.sha256(base / "a" / "b.json")
        assert storage.exists(target) and not storage.is_dir(target)
        assert storage.is_dir(base / "a")
        storage.remove(target)
        storage.remove(target)  # a missing file is fine
        assert not storage.exists(target)
    assert not list(tmp_path.rglob("*.part"))


def test_is_url() -> None:
    assert storage.is_url("s3://b/k") and storage.is_url("file:///tmp/x")
    assert not storage.is_url("runs/emissions.csv") and not storage.is_url(Path("x://y"))
    assert storage.inside(storage.as_path("memory://b/out"), storage.as_path("memory://b/out/x"))
    assert not storage.inside(storage.as_path("memory://b/out"),
                              storage.as_path("memory://b/outside"))


def test_batch_on_memory_urls_writes_the_bytes_of_local(tmp_path: Path) -> None:
    root = build_tree(tmp_path)
    url = _memory_copy(root)
    local = convert_tree(root, tmp_path / "out", jobs=1)
    out = f"memory://o-{uuid.uuid4().hex}"
    remote = convert_tree(url, out, jobs=1)
    got: dict[str, bytes] = {}
    for rel, _, files in storage.walk(storage.as_path(out)):
        for name in files:
            got["/".join((*rel, name))] = storage.as_path(out).joinpath(*rel, name).read_bytes()
    got.pop(".boamps-etl-state.json")
    assert got == tree_bytes(local.out)
    assert remote.manifest.equals(local.manifest)
    again = convert_tree(url, out, jobs=1)
    assert again.converted == 0 and again.written == []


def test_file_urls_are_local_files(tmp_path: Path) -> None:
    root = build_tree(tmp_path)
    local = convert_tree(root, tmp_path / "a", jobs=1)
    convert_tree(f"file://{root}", f"file://{tmp_path / 'b'}", jobs=1)
    assert tree_bytes(tmp_path / "b") == tree_bytes(local.out)


def test_make_executor() -> None:
    assert isinstance(make_executor("local", 1), InlineExecutor)
    pool = make_executor("local", 2)
    assert isinstance(pool, LocalPoolExecutor)
    assert pool.submit(pow, 2, 10).result() == 1024
    pool.close()
    with pytest.raises(UsageError, match="unknown executor 'spark'"):
        make_executor("spark")
    with pytest.raises(UsageError, match="--scheduler needs --executor dask"):
        make_executor("local", 2, "tcp://127.0.0.1:1")


def test_folder_mappings_with_extends_in_a_url_tree(tmp_path: Path) -> None:
    root = build_tree(tmp_path)
    (root / "boamps-mapping.yaml").write_text(
        "version: 1\nrules:\n  software.language: {const: farther}\n", encoding="utf-8")
    (root / "lab/exp1/boamps-mapping.yaml").write_text(
        "version: 1\nextends: ../../boamps-mapping.yaml\n"
        "rules:\n  software.version: {const: nearer}\n", encoding="utf-8")
    url = _memory_copy(root)
    local = convert_tree(root, tmp_path / "out", jobs=1)
    out = f"memory://o-{uuid.uuid4().hex}"
    remote = convert_tree(url, out, jobs=1)
    assert remote.manifest.equals(local.manifest)
    assert set(local.manifest.status) >= {"valid", "duplicate", "error"}
    for rel in local.manifest.output:
        if rel:
            assert storage.as_path(out).joinpath(rel).read_bytes() == \
                (tmp_path / "out" / rel).read_bytes()
