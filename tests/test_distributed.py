"""Batch on a real dask.distributed cluster and a real S3-compatible server on 127.0.0.1.

A ``LocalCluster`` of 2 worker processes and moto's standalone server (with IAM
authentication switched on, so wrong credentials are refused as by AWS) are started by the
fixtures below. The endpoint and the credentials are in the environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``...), so nothing is ever sent to a real cloud; the workers inherit it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import v321_row, write_csv
from test_batch import build_tree, tree_bytes

from boamps_etl import batch
from boamps_etl.batch import BatchProgress, convert_tree
from boamps_etl.batch.convert import warm_up
from boamps_etl.execute.dask import DaskExecutor

distributed = pytest.importorskip("distributed")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- servers


class S3:
    """The moto server: its endpoint, the good credentials, a filesystem using them."""

    def __init__(self, endpoint: str, key: str, secret: str) -> None:
        self.endpoint, self.key, self.secret = endpoint, key, secret
        import s3fs

        self.fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=key, secret=secret,
                                    skip_instance_cache=True)

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix`` (relative names), state file left out."""
        self.fs.invalidate_cache()  # listings made before a run are out of date
        found = self.fs.find(prefix, refresh=True)
        return {name[len(prefix) + 1:]: self.fs.cat_file(name) for name in sorted(found)
                if not name.endswith(batch.STATE_NAME)}

    def upload(self, local: Path, prefix: str) -> None:
        for path in sorted(local.rglob("*")):
            if path.is_file():
                self.fs.pipe_file(f"{prefix}/{path.relative_to(local).as_posix()}",
                                  path.read_bytes())


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    env = {"AWS_ACCESS_KEY_ID": "bootstrap", "AWS_SECRET_ACCESS_KEY": "bootstrap",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": None,
           "AWS_PROFILE": None, "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            if value is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, value)
        # fsspec keeps one S3FileSystem per set of arguments, made with the environment of
        # its time: one made for another module's server (another endpoint in the
        # environment) would be used again
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's accounts live in this process: start from none, whichever module ran first
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset",
                                                      method="POST"), timeout=30).close()
        import boto3
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        iam = boto3.client("iam", endpoint_url=endpoint)
        iam.create_user(UserName="etl")
        policy = iam.create_policy(PolicyName="s3-all", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        iam.attach_user_policy(UserName="etl", PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName="etl")["AccessKey"]
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lab")
        # From here on every request must be signed with a known IAM key, as on AWS.
        previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        mp.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        mp.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
            server.stop()
            s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def cluster(s3: S3) -> Iterator[Any]:
    """2 worker processes (started after the S3 fixture: they inherit its environment)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        client.run(warm_up)  # imports and schemas once, not in the first test
        yield client


@pytest.fixture(scope="module")
def local_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def local_out(local_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: local batch with -j 1."""
    out = tmp_path_factory.mktemp("ref") / "out"
    convert_tree(local_tree, out, jobs=1)
    return out


@pytest.fixture(scope="module")
def bucket_tree(s3: S3, local_tree: Path) -> str:
    s3.upload(local_tree, "lab/runs")
    return "s3://lab/runs"


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


# --------------------------------------------------------------------------- same bytes


def test_dask_on_s3_writes_the_bytes_of_local_j1(s3: S3, cluster: Any, bucket_tree: str,
                                                  local_out: Path) -> None:
    result = convert_tree(bucket_tree, "s3://lab/out1", client=cluster)
    expected = tree_bytes(local_out)
    got = s3.objects("lab/out1")
    assert sorted(got) == sorted(expected)
    for name, data in expected.items():
        assert got[name] == data, name
    # the manifest, line by line (order included)
    local_lines = _rows(expected["manifest.csv"])
    remote_lines = _rows(got["manifest.csv"])
    assert len(remote_lines) == len(local_lines) >= 9
    for mine, theirs in zip(remote_lines, local_lines, strict=True):
        assert mine == theirs
    statuses = {line["status"] for line in remote_lines}
    assert {"valid", "duplicate", "skipped", "error"} <= statuses
    sources = len({line["source"] for line in local_lines})
    assert result.files == result.converted == sources == 7
    assert not any(n.endswith(".part") for n in s3.fs.find("lab/out1", refresh=True))

    # a re-run converts nothing and writes nothing
    again = convert_tree(bucket_tree, "s3://lab/out1", client=cluster)
    assert again.converted == 0 and again.unchanged == 7 and again.written == []
    assert s3.objects("lab/out1") == got

    # a changed source is converted again, alone
    bak = "lab/runs/lab/exp1/emissions.csv.bak"
    s3.fs.pipe_file(bak, s3.fs.cat_file(bak).replace(b",30.5,", b",31.5,"))
    changed = convert_tree(bucket_tree, "s3://lab/out1", client=cluster)
    assert changed.converted == 3 and changed.unchanged == 4  # the folder lab/exp1


def test_dask_reads_local_disk_and_writes_the_same(cluster: Any, local_tree: Path,
                                                   local_out: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_tree(local_tree, out, client=cluster)
    assert tree_bytes(out) == tree_bytes(local_out)


def _scheduler_tasks(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


def test_the_cluster_holds_only_the_window_whatever_the_folders(
        cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each result taken releases its task: the client's futures and the scheduler's tasks
    stay within the window of tasks in flight, not one per folder converted so far (which
    would make every completion cost more as a batch grows), and none is left after."""
    from boamps_etl.batch import driver

    root = _many(tmp_path, 40)
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    monkeypatch.setattr(driver._Batch, "WINDOW_MIN", 4)
    monkeypatch.setattr(driver._Batch, "WINDOW_PER_SLOT", 1)  # 2 workers: 4 in flight
    held: list[tuple[int, int, int]] = []  # (files done, client futures, scheduler tasks)

    def sample(p: BatchProgress) -> None:
        held.append((p.files_done, len(cluster.futures),
                     cluster.run_on_scheduler(_scheduler_tasks)))

    result = convert_tree(root, tmp_path / "out", client=cluster, progress=sample)
    assert result.converted == 40
    assert tree_bytes(tmp_path / "out") == tree_bytes(reference)
    assert len(held) > 40 and held[-1][0] == 40
    # the loop drops the folder it just took a moment after sampling, and a release goes
    # through the client's event loop, then to the scheduler: allow twice the window (4),
    # far from the 40 a leak would reach
    assert max(futures for _, futures, _ in held) <= 8
    assert max(tasks for _, _, tasks in held) <= 8
    deadline = time.monotonic() + 10
    while (cluster.futures or cluster.run_on_scheduler(_scheduler_tasks)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.futures and cluster.run_on_scheduler(_scheduler_tasks) == 0


def _list_tree(url: str) -> int:
    """On a worker: list every file under ``url`` (as a batch's first tasks do)."""
    from boamps_etl.io import storage

    return sum(len(files) for _, _, files in storage.walk(storage.as_path(url)))


def test_a_later_run_on_the_same_workers_sees_the_store_as_it_is_now(
        s3: S3, cluster: Any, tmp_path: Path) -> None:
    """Workers outlive a run: what they listed in an earlier one (here: every worker, the
    whole tree) must not hide the files added since, nor keep a changed file from being
    read."""
    root = _many(tmp_path, 6)
    s3.upload(root, "lab/many-later")
    first = convert_tree("s3://lab/many-later", "s3://lab/out-later", client=cluster)
    assert first.converted == 6
    assert list(cluster.run(_list_tree, "s3://lab/many-later").values()) == [7, 7]
    changed = root / "g1" / "exp001" / "emissions.csv"
    write_csv(changed, v321_row(run_id="aaaaaaaa-0000-4000-8000-000000000001",
                                duration="1234.5"))
    (root / "g2" / "exp900").mkdir()
    write_csv(root / "g2" / "exp900" / "emissions.csv",
              v321_row(run_id="aaaaaaaa-0000-4000-8000-000000000900"))
    s3.upload(root, "lab/many-later")
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    second = convert_tree("s3://lab/many-later", "s3://lab/out-later", client=cluster)
    assert [i.message for i in second.issues] == []
    assert (second.converted, second.unchanged) == (2, 5)
    assert s3.objects("lab/out-later") == tree_bytes(reference)


def test_cli_dask_with_urls_and_a_context_url(s3: S3, cluster: Any, bucket_tree: str
                                              ) -> None:
    from click.testing import CliRunner

    from boamps_etl.cli import cli

    s3.fs.pipe_file("lab/contexts/extra.yaml", b"header: {licensing: CC-BY-4.0}\n")
    args = ["batch", bucket_tree, "--out", "s3://lab/out-cli", "--context",
            "s3://lab/contexts/extra.yaml", "--executor", "dask", "--scheduler",
            cluster.scheduler_info()["address"]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output  # the cut-off .gz is an error line
    assert "Traceback" not in result.output
    reports = {k: json.loads(v) for k, v in s3.objects("lab/out-cli").items()
               if k.endswith(".json")}
    assert len(reports) == 6
    assert {r["header"]["licensing"] for r in reports.values()} == {"CC-BY-4.0"}
    # --context comes first, then the folder files: lab/boamps.yaml wins below lab/
    assert {r["task"]["taskDescription"] for r in reports.values()} == {"from lab"}


# --------------------------------------------------------------------------- faults


def _many(base: Path, n: int) -> Path:
    root = base / "many"
    root.mkdir()
    (root / "boamps.yaml").write_text(
        "header: {publisher: {name: Lab, confidentialityLevel: public}}\n"
        "task: {taskStage: training, taskFamily: f, algorithms: [{algorithmType: llm}],\n"
        "       dataset: [{dataUsage: input, dataType: text}]}\n", encoding="utf-8")
    for i in range(n):
        folder = root / f"g{i % 4}" / f"exp{i:03d}"
        folder.mkdir(parents=True)
        write_csv(folder / "emissions.csv",
                  v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{i:012d}", duration=f"{i}.5"))
    return root


def test_a_worker_killed_mid_run_loses_nothing(s3: S3, cluster: Any, tmp_path: Path) -> None:
    root = _many(tmp_path, 30)
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    s3.upload(root, "lab/many-kill")
    pids = list(cluster.run(os.getpid).values())
    killed: list[int] = []

    def kill_one(p: BatchProgress) -> None:
        if p.files_done >= 5 and not killed:
            os.kill(pids[0], signal.SIGKILL)  # the nanny starts a new worker; dask retries
            killed.append(pids[0])

    result = convert_tree("s3://lab/many-kill", "s3://lab/out-kill", client=cluster,
                          progress=kill_one)
    assert killed and result.files == 30 and result.counts["valid"] == 30
    assert s3.objects("lab/out-kill") == tree_bytes(reference)
    cluster.wait_for_workers(2, timeout=60)


class Interrupt:
    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, p: BatchProgress) -> None:
        if p.files_done >= self.after:
            raise KeyboardInterrupt


def test_an_interrupted_client_resumes_without_converting_twice(
        s3: S3, cluster: Any, tmp_path: Path) -> None:
    root = _many(tmp_path, 24)
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    expected = tree_bytes(reference)
    s3.upload(root, "lab/many-int")
    with pytest.raises(KeyboardInterrupt):
        convert_tree("s3://lab/many-int", "s3://lab/out-int", client=cluster,
                     progress=Interrupt(after=14))
    partial = s3.objects("lab/out-int")
    assert "manifest.csv" not in partial
    for name, data in partial.items():  # every object there is whole and final
        assert expected[name] == data, name
    # the folders recorded as done (none, when the interrupt came before the first one)
    state_key = f"lab/out-int/{batch.STATE_NAME}"
    done = len(json.loads(s3.fs.cat_file(state_key))["units"]) \
        if s3.fs.exists(state_key) else 0
    assert done < 24
    assert len([n for n in partial if n.endswith(".json")]) == done
    resumed = convert_tree("s3://lab/many-int", "s3://lab/out-int", client=cluster)
    assert resumed.unchanged == done and resumed.converted == 24 - done
    assert s3.objects("lab/out-int") == expected


def test_a_killed_client_process_leaves_dest_consistent(s3: S3, cluster: Any,
                                                        tmp_path: Path) -> None:
    root = _many(tmp_path, 24)
    reference = tmp_path / "ref"
    convert_tree(root, reference, jobs=1)
    expected = tree_bytes(reference)
    s3.upload(root, "lab/many-kc")
    address = cluster.scheduler_info()["address"]
    script = (
        "import os, signal, sys\n"
        "from boamps_etl.batch import convert_tree\n"
        "def stop(p):\n"
        "    if p.files_done >= 8: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"convert_tree('s3://lab/many-kc', 's3://lab/out-kc', executor='dask',\n"
        f"             scheduler={address!r}, progress=stop)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    for name, data in s3.objects("lab/out-kc").items():
        assert expected[name] == data, name  # no partial object
    resumed = convert_tree("s3://lab/many-kc", "s3://lab/out-kc", client=cluster)
    assert resumed.files == 24
    assert s3.objects("lab/out-kc") == expected


# --------------------------------------------------------------------------- clear errors


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command in a child process (its real stderr, its real exit code)."""
    return subprocess.run([sys.executable, "-m", "boamps_etl", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})}, cwd=ROOT)


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The same in this process (faster); S3 clients made with other credentials are
    forgotten before and after."""
    import s3fs
    from click.testing import CliRunner

    from boamps_etl.cli import cli

    s3fs.S3FileSystem.clear_instance_cache()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in (env or {}).items():
                mp.setenv(name, value)
            result = CliRunner().invoke(cli, list(args))
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout,
                                       result.stderr)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_bucket_that_does_not_exist(s3: S3, tmp_path: Path) -> None:
    line = _one_error_line(_cli("batch", "s3://no-such-bucket/runs", "--out",
                                str(tmp_path / "out")))
    assert line.startswith("error: s3://no-such-bucket/runs: ")
    assert "bucket that does not exist ('no-such-bucket')" in line
    line = _one_error_line(_invoke("batch", str(tmp_path), "--out", "s3://no-such-bucket/out"))
    assert "the bucket 'no-such-bucket' does not exist" in line
    assert not (tmp_path / "out").exists()


def test_wrong_credentials(s3: S3, bucket_tree: str, tmp_path: Path) -> None:
    line = _one_error_line(_invoke("batch", bucket_tree, "--out", str(tmp_path / "out"),
                                   env={"AWS_SECRET_ACCESS_KEY": "wrong"}))
    assert line.startswith(f"error: {bucket_tree}: cannot be read (")
    assert "(check the URL and the credentials)" in line
    line = _one_error_line(_invoke("batch", bucket_tree, "--out", str(tmp_path / "out"),
                                   env={"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN"}))
    assert line.startswith(f"error: {bucket_tree}: cannot be read (")  # a HEAD: no body
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler(s3: S3, local_tree: Path, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        line = _one_error_line(_invoke("batch", str(local_tree), "--out",
                                       str(tmp_path / "out"), "--executor", "dask",
                                       "--scheduler", address))
    assert line.startswith(f"error: cannot reach the Dask scheduler at {address} (")
    assert "(dask scheduler) or check --scheduler" in line or "--scheduler" in line
    assert not (tmp_path / "out").exists()


def test_without_dask_the_executor_says_how_to_install_it(s3: S3, local_tree: Path,
                                                          tmp_path: Path) -> None:
    blocker = tmp_path / "site"
    (blocker / "distributed").mkdir(parents=True)
    (blocker / "distributed" / "__init__.py").write_text("raise ImportError('absent')\n")
    proc = _cli("batch", str(local_tree), "--out", str(tmp_path / "out"), "--executor", "dask",
                env={"PYTHONPATH": str(blocker)})
    line = _one_error_line(proc)
    assert "pip install 'boamps-etl[dask]'" in line


def test_dask_executor_reports_the_dashboard(cluster: Any) -> None:
    runner = DaskExecutor(client=cluster)
    assert runner.dashboard is None or runner.dashboard.startswith("http://")
    runner.close()  # not ours: the client stays open
    assert cluster.status == "running"


def test_convert_reads_urls(s3: S3, bucket_tree: str, local_tree: Path, tmp_path: Path) -> None:
    csv_rel, ctx_rel = "lab/exp1/emissions.csv", "boamps.yaml"
    local = _invoke("convert", str(local_tree / csv_rel), "-c", str(local_tree / ctx_rel),
                    "--format", "jsonl", "-o", str(tmp_path / "local.jsonl"))
    remote = _invoke("convert", f"{bucket_tree}/{csv_rel}", "-c", f"{bucket_tree}/{ctx_rel}",
                     "--format", "jsonl", "-o", str(tmp_path / "remote.jsonl"))
    assert local.returncode == remote.returncode == 0, remote.stderr
    assert (tmp_path / "remote.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    missing = _invoke("convert", f"{bucket_tree}/nothing.csv", "-o", str(tmp_path / "x"))
    assert _one_error_line(missing) == f"error: {bucket_tree}/nothing.csv: file not found"


def test_a_failing_cluster_is_one_line_not_a_traceback(cluster: Any) -> None:
    import time

    from boamps_etl.errors import ExecutionError

    runner = DaskExecutor(client=cluster)
    future = runner.submit(time.sleep, 30)
    cluster.cancel([future])
    with pytest.raises(ExecutionError,
                       match=r"^the Dask cluster failed \(\w*CancelledError: sleep-"):
        runner.gather([future])
