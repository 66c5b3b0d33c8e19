"""Files per second of ``boamps-etl batch`` on many experiment folders (issue 13).

Generates FOLDERS experiment folders (``runs/gNN/expNNNNN/emissions.csv``, a few runs each,
CodeCarbon 3.2.1, one flush) under one ``boamps.yaml`` (bench/context.yaml), then times,
each as a fresh ``boamps-etl batch`` process (wall time, start-up and cluster start
included):

* ``local -j 2``      on local disk, and from/to the S3 server;
* ``--executor dask`` on a LocalCluster of 2 worker processes, on local disk and on S3.

The S3 server is moto's standalone server started here on 127.0.0.1 (a separate process);
nothing leaves the machine. Each cell runs ``--repeat`` times into a fresh output (the
median is kept), and every run must write one report per run (checked in the manifest).

Usage::

    python bench/scale_out.py                      # the full run: 20,000 folders
    python bench/scale_out.py --folders 1000 --repeat 1 --json bench/scale_out.json
    python bench/scale_out.py --folders 20000 --repeat 1 --cells local,dask

Needs ``pip install -e '.[test]'`` (dask.distributed, s3fs, moto[server]).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.generate import write_csv  # noqa: E402

RUNS_PER_FILE = 3
CELLS = ("local", "dask", "s3-local", "s3-dask")
GROUPS = 100  # top-level folders (listing runs one task per top-level folder on dask)


def generate(root: Path, folders: int) -> int:
    """The tree; returns the number of runs (= reports expected)."""
    root.mkdir(parents=True)
    shutil.copy(HERE / "context.yaml", root / "boamps.yaml")
    for i in range(folders):
        folder = root / f"g{i % GROUPS:02d}" / f"exp{i:05d}"
        folder.mkdir(parents=True)
        write_csv(folder / "emissions.csv", rows=RUNS_PER_FILE, seed=i)
    return folders * RUNS_PER_FILE


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """moto's server on 127.0.0.1, in its own process; yields the environment to use it."""
    port = _free_port()
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.2)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def upload(root: Path, bucket: str, prefix: str, env: dict[str, str]) -> float:
    """Every file of the tree to ``s3://bucket/prefix``, many PUTs at once (one whole
    object each; s3fs runs them concurrently in batches)."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key=env["AWS_ACCESS_KEY_ID"],
                           secret=env["AWS_SECRET_ACCESS_KEY"], skip_instance_cache=True)
    with contextlib.suppress(FileExistsError):
        fs.mkdir(bucket)
    start = time.perf_counter()
    files = {f"{bucket}/{prefix}/{p.relative_to(root).as_posix()}": p.read_bytes()
             for p in sorted(root.rglob("*")) if p.is_file()}
    names = list(files)
    for i in range(0, len(names), 2000):  # bounded memory in flight
        fs.pipe({n: files[n] for n in names[i:i + 2000]}, batch_size=64)
    return time.perf_counter() - start


def run_batch(root: str, out: str, executor: str, env: dict[str, str], fmt: str = "json"
              ) -> tuple[float, int]:
    """One ``boamps-etl batch`` process: (wall seconds, report lines in the manifest)."""
    cmd = [sys.executable, "-m", "boamps_etl", "batch", root, "--out", out, "-j", "2", "-q",
           "--executor", executor, "--format", fmt]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, _valid_lines(out, env)


def _valid_lines(out: str, env: dict[str, str]) -> int:
    if out.startswith("s3://"):
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], skip_instance_cache=True,
                               key=env["AWS_ACCESS_KEY_ID"],
                               secret=env["AWS_SECRET_ACCESS_KEY"])
        text = fs.cat_file(f"{out[5:]}/manifest.csv").decode()
    else:
        text = Path(out, "manifest.csv").read_text(encoding="utf-8")
    return sum(1 for row in csv.DictReader(text.splitlines()) if row["status"] == "valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--folders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the tree and outputs (default: a temporary one)")
    parser.add_argument("--cells", default=",".join(CELLS),
                        help=f"which configurations, comma-separated (default: all of "
                             f"{','.join(CELLS)})")
    parser.add_argument("--format", dest="fmt", choices=("json", "jsonl"), default="json",
                        help="json: an object per report (3 PUTs per folder on S3); jsonl: "
                             "one per folder")
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.cells.split(",") if c.strip()]
    if unknown := [c for c in chosen if c not in CELLS]:
        parser.error(f"unknown cells {unknown}: choose among {', '.join(CELLS)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="boamps-scale-"))
    root = work / "runs"
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    expected = generate(root, args.folders)
    print(f"generated {args.folders} folders ({expected} runs) in "
          f"{time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr)
    results: list[dict[str, object]] = []
    with s3_server() as env:
        if any(c.startswith("s3-") for c in chosen):
            seconds = upload(root, "bench", "runs", env)
            print(f"uploaded {args.folders + 1} objects to s3://bench/runs in {seconds:.1f} s "
                  f"({(args.folders + 1) / seconds:.0f} PUT/s: the server's pace)",
                  file=sys.stderr)
        cells = {"local": ("local disk", "local", str(root), str(work / "out-{n}")),
                 "dask": ("local disk", "dask", str(root), str(work / "out-{n}")),
                 "s3-local": ("S3 (moto, 127.0.0.1)", "local", "s3://bench/runs",
                              "s3://bench/out-{n}"),
                 "s3-dask": ("S3 (moto, 127.0.0.1)", "dask", "s3://bench/runs",
                             "s3://bench/out-{n}")}
        n = 0
        for where, executor, source, out_pattern in (cells[c] for c in chosen):
            walls = []
            for _ in range(args.repeat):
                n += 1
                wall, valid = run_batch(source, out_pattern.format(n=n), executor, env,
                                        args.fmt)
                if valid != expected:
                    raise SystemExit(f"FAILED: {valid} valid reports, expected {expected}")
                walls.append(wall)
            median = statistics.median(walls)
            results.append({"storage": where, "executor": executor, "folders": args.folders,
                            "runs": len(walls), "median_s": round(median, 2),
                            "files_per_s": round(args.folders / median, 1)})
            print(f"{where:22} {executor:6} {median:8.1f} s  "
                  f"{args.folders / median:8.1f} files/s", file=sys.stderr)
    print("| storage | executor | folders | wall (median) | files/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in results:
        label = "local -j 2" if r["executor"] == "local" else "dask, 2 workers"
        print(f"| {r['storage']} | {label} | {r['folders']:,} | {r['median_s']} s "
              f"| {r['files_per_s']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
