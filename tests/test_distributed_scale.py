"""Batch on many folders of an object store: the requests it makes per file, a client
killed with SIGKILL then re-run, ``--explain`` with URLs, other trackers' files on S3.

The servers are those of test_distributed.py (moto's standalone server with IAM on, a
LocalCluster of 2 worker processes), started again for this module by the same fixtures.
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_batch import build_tree, tree_bytes
from test_distributed import (  # cluster, s3: the fixtures, started anew here
    S3,
    _invoke,
    _many,
    _rows,
    cluster,  # noqa: F401
    s3,  # noqa: F401
)
from test_trackers import every_tracker_tree

from boamps_etl import batch
from boamps_etl.batch import convert_tree, explain
from boamps_etl.io import storage


class Requests:
    """Every S3 call this process's client for ``url`` makes (botocore's event hooks on
    the real client): operation names and keys."""

    def __init__(self, url: str) -> None:
        self.calls: list[tuple[str, str]] = []
        # the instance convert_tree uses (fsspec keeps one per set of options)
        fs: Any = getattr(storage.as_path(url), "fs")  # noqa: B009 - a UPath
        fs.connect()
        fs.s3.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, str(params.get("Key", params.get("Prefix", "")))))

    def count(self, operation: str, key_part: str = "") -> int:
        return sum(1 for op, key in self.calls if op == operation and key_part in key)

    def per_key(self, operation: str) -> collections.Counter[str]:
        return collections.Counter(key for op, key in self.calls if op == operation)

    def clear(self) -> None:
        self.calls.clear()


def test_requests_per_file_are_few_and_never_repeated(
        s3: S3, tmp_path: Path) -> None:  # noqa: F811 (s3: the fixture)
    root = _many(tmp_path, 12)  # g0..g3/expNNN/emissions.csv, one report each
    s3.upload(root, "lab/req")
    requests = Requests("s3://lab/req")
    first = convert_tree("s3://lab/req", "s3://lab/req-out", jobs=1)
    assert first.converted == 12 and first.counts["valid"] == 12
    sources = {f"req/g{i % 4}/exp{i:03d}/emissions.csv" for i in range(12)}
    gets = requests.per_key("GetObject")
    # each source is read once (not once to hash and again to convert)
    assert {k: n for k, n in gets.items() if k in sources} == dict.fromkeys(sources, 1)
    # outputs: one PUT each, no probe before (HEAD, or a listing of the report's name)
    assert requests.count("PutObject", "/report_") == 12
    assert requests.count("HeadObject", "/report_") == 0
    # the tree and DEST are listed flat, not folder by folder: a handful of listings
    # (and probes of ROOT and DEST) whatever the number of folders
    assert requests.count("ListObjectsV2") <= 8, requests.per_key("ListObjectsV2")
    assert len(requests.calls) <= 2 * 12 + 20, collections.Counter(  # GET + PUT per file
        op for op, _ in requests.calls)

    requests.clear()
    again = convert_tree("s3://lab/req", "s3://lab/req-out", jobs=1)
    assert again.converted == 0 and again.unchanged == 12 and again.written == []
    assert requests.count("PutObject") == 0  # nothing written, the state included
    gets = requests.per_key("GetObject")
    assert all(gets[k] == 1 for k in sources)  # hashed once, not converted
    assert requests.count("ListObjectsV2") <= 8


def test_a_client_killed_by_sigkill_converts_nothing_twice(
        s3: S3, tmp_path: Path) -> None:  # noqa: F811 (s3: the fixture)
    """``kill -9`` of ``batch -j 2`` from and to S3, then a plain re-run.

    What "nothing converted twice" means: every folder recorded in the state saved before
    the kill (the state is saved every few seconds, and its saving is the commit) is not
    converted again; a folder finished after the last save is converted again, and its
    outputs already at DEST, holding the same bytes, are not written again."""
    n = 60
    root = _many(tmp_path, n)
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    expected = tree_bytes(reference)
    s3.upload(root, "lab/many-k9")
    state_key = f"lab/out-k9/{batch.STATE_NAME}"
    script = (
        "import os, signal, time, s3fs\n"
        "from boamps_etl.batch import convert_tree\n"
        "fs = s3fs.S3FileSystem(skip_instance_cache=True)\n"
        "def slow_then_kill(p):\n"
        "    time.sleep(0.1)  # stretch the run over several checkpoints\n"
        f"    if p.files_done >= 10 and fs.exists({state_key!r}):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "convert_tree('s3://lab/many-k9', 's3://lab/out-k9', jobs=2,\n"
        "             progress=slow_then_kill)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    before = s3.objects("lab/out-k9")
    assert "manifest.csv" not in before
    for name, data in before.items():  # no partial object: each is whole and final
        assert expected[name] == data, name
    done = set(json.loads(s3.fs.cat_file(state_key))["units"])
    assert 0 < len(done) < n
    recorded = {name for name in expected if name.rsplit("/", 1)[0] in done}
    assert recorded <= set(before)  # committed folders: their outputs are all there

    resumed = convert_tree("s3://lab/many-k9", "s3://lab/out-k9", jobs=1)
    assert resumed.unchanged == len(done)  # one source per folder
    assert resumed.converted == n - len(done)
    assert s3.objects("lab/out-k9") == expected
    written = {storage._key(p).split("/", 1)[1] for p in resumed.written}
    reports = {name for name in expected if name.endswith(".json")}
    assert written == {f"out-k9/{name}" for name in reports - set(before)}


def test_explain_with_urls(s3: S3, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    local = build_tree(tmp_path)
    s3.upload(local, "lab/explain")
    csv_rel = "lab/exp1/emissions.csv"
    url = "s3://lab/explain"
    e = explain(f"{url}/{csv_rel}", roots=[url])
    here = explain(local / csv_rel, roots=[local])
    assert [str(p) for p in e.context_files] == [
        f"{url}/boamps.yaml", f"{url}/lab/boamps.yaml", f"{url}/lab/exp1/boamps.yaml"]
    assert e.source == here.source == csv_rel
    assert e.context == here.context and e.error is None
    assert e.context["task"]["taskFamily"] == "exp1-family"
    folder = explain(f"{url}/lab/exp2/", roots=[url])
    assert [str(p) for p in folder.context_files] == [f"{url}/boamps.yaml",
                                                     f"{url}/lab/boamps.yaml"]

    cli = _invoke("batch", url, "--out", "s3://lab/explain-out", "--explain",
                  f"{url}/{csv_rel}")
    assert cli.returncode == 0, cli.stderr
    assert f"source:  {csv_rel}  (ROOT {url})" in cli.stdout
    assert f"  3. {url}/lab/exp1/boamps.yaml" in cli.stdout
    assert "taskFamily: exp1-family" in cli.stdout
    assert not s3.fs.exists("lab/explain-out")  # explains, converts nothing
    missing = _invoke("batch", url, "--out", "s3://lab/explain-out", "--explain",
                      f"{url}/lab/nothing.csv")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert f"{url}/lab/nothing.csv" in missing.stderr
    outside = _invoke("batch", f"{url}/lab/exp1", "--out", "s3://lab/explain-out",
                      "--explain", f"{url}/old-copies/emissions.csv")
    assert outside.returncode == 2 and "is not under any ROOT" in outside.stderr


@pytest.mark.parametrize("how", ["local -j 2", "dask"])
def test_every_tracker_from_s3(  # the fixtures s3 and cluster
        s3: S3, cluster: Any, tmp_path: Path, how: str) -> None:  # noqa: F811
    root = every_tracker_tree(tmp_path / "runs")
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    prefix = f"lab/trackers-{how.split()[0]}"
    s3.upload(root, prefix)
    kwargs: dict[str, Any] = {"client": cluster} if how == "dask" else {"jobs": 2}
    result = convert_tree(f"s3://{prefix}", f"s3://{prefix}-out", **kwargs)
    assert s3.objects(f"{prefix}-out") == tree_bytes(reference)
    lines = _rows(s3.fs.cat_file(f"{prefix}-out/manifest.csv"))
    assert {line["tracker"] for line in lines} == {
        "eco2ai", "zeus", "carbontracker", "perun", "optimum_benchmark", "aienergyscore",
        "codecarbon"}
    assert {line["status"] for line in lines} == {"valid"} and result.ok
    # carbontracker's standard log, read beside its output log on the store
    out = next(line["output"] for line in lines if line["tracker"] == "carbontracker")
    report = json.loads(s3.fs.cat_file(f"{prefix}-out/{out}"))
    methods = [m for m in report["measures"] if m.get("measurementMethod") == "carbontracker"]
    assert methods and methods[0]["version"] == "2.4.7"
