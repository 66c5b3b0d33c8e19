"""``bench/run.py --batch``: ``boamps-etl batch`` over a tree holding one large CodeCarbon
file and many small ones (issue 11).

The tree is generated once under ``--data-dir`` (reused when its parameters match): one
file of ``--large-rows`` rows (``big/emissions.csv``) and ``--small`` folders of one file of
``--small-rows`` rows each. ``boamps-etl batch TREE -o OUT -c bench/context.yaml -j JOBS -q``
then runs ``--repeat`` times into a new output, and once more into the last one (a re-run:
every folder unchanged). Each run goes through a fresh wrapper process that reads
``getrusage(RUSAGE_CHILDREN)``: the peak RSS of the largest process (the command or one of
its workers) and the CPU time of all of them; CPU time / wall time near ``JOBS`` means every
core was busy.

Usage::

    .venv/bin/python bench/run.py --batch                       # 1,000,000 + 10,000 files
    .venv/bin/python bench/run.py --batch --large-rows 20000 --small 200 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

_WRAPPER = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
kib = 1 if sys.platform != "darwin" else 1024
print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_mb": u.ru_maxrss / kib / 1024,
                  "cpu_s": u.ru_utime + u.ru_stime}))
"""


def build_tree(data_dir: Path, large_rows: int, small: int, small_rows: int, seed: int
               ) -> Path:
    """The benchmark tree (generated once, reused when complete)."""
    sys.path.insert(0, str(HERE))
    try:
        from generate import write_csv  # bench/generate.py
    finally:
        sys.path.remove(str(HERE))
    tree = data_dir / f"batch-{large_rows}-{small}x{small_rows}-s{seed}"
    done = tree / ".complete"
    if done.is_file():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "big").mkdir(parents=True)
    if large_rows:
        write_csv(tree / "big" / "emissions.csv", large_rows, seed=seed)
    for i in range(small):
        folder = tree / "small" / f"{i // 1000:03d}" / f"run-{i:05d}"
        folder.mkdir(parents=True)
        write_csv(folder / "emissions.csv", small_rows, seed=seed + 1 + i)
    done.write_text("")
    return tree


def run_once(cmd: Sequence[str]) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True,
                       text=True, check=True)
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/run.py --batch",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--large-rows", type=int, default=1_000_000,
                   help="rows of the large file (default 1,000,000; 0: none)")
    p.add_argument("--small", type=int, default=10_000,
                   help="small files, one per folder (default 10,000)")
    p.add_argument("--small-rows", type=int, default=3, help="rows per small file (default 3)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="batch --jobs (default 2)")
    p.add_argument("--format", default="json", choices=["json", "jsonl", "csv"])
    p.add_argument("--repeat", type=int, default=1, help="fresh runs (median; default 1)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--data-dir", type=Path, default=HERE / "data")
    p.add_argument("--work", type=Path, default=None,
                   help="where the outputs go (default: a temporary folder)")
    p.add_argument("--boamps-etl", default=str(Path(sys.executable).parent / "boamps-etl"))
    p.add_argument("--context", type=Path, default=HERE / "context.yaml")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = p.parse_args(argv)
    if a.repeat < 1 or a.small < 0 or a.large_rows < 0 or a.small_rows < 1:
        p.error("--repeat, --small-rows >= 1; --small, --large-rows >= 0")
    t0 = time.perf_counter()
    tree = build_tree(a.data_dir.resolve(), a.large_rows, a.small, a.small_rows, a.seed)
    print(f"tree {tree} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    files = a.small + (1 if a.large_rows else 0)
    rows = a.large_rows + a.small * a.small_rows
    work = a.work or Path(tempfile.mkdtemp(prefix="boamps-batch-bench-"))
    runs: list[dict[str, Any]] = []
    try:
        for i in range(a.repeat):
            out = work / f"out{i}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [a.boamps_etl, "batch", str(tree), "-o", str(out), "-c", str(a.context),
                   "-j", str(a.jobs), "--format", a.format, "-q"]
            runs.append(run_once(cmd))
            print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
        again = run_once(cmd)  # every folder up to date
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    runs.sort(key=lambda r: r["wall_s"])
    mid = runs[len(runs) // 2]
    result = {"files": files, "rows": rows, "jobs": a.jobs, "format": a.format,
              "wall_s": mid["wall_s"], "files_per_s": files / mid["wall_s"],
              "rows_per_s": rows / mid["wall_s"], "peak_rss_mb": mid["peak_rss_mb"],
              "cores_busy": mid["cpu_s"] / mid["wall_s"], "rc": mid["rc"],
              "rerun_s": again["wall_s"], "rerun_peak_rss_mb": again["peak_rss_mb"],
              "runs": runs}
    print(f"| batch -j {a.jobs} --format {a.format} | files | rows | files/s | rows/s | "
          "largest process | cores busy | re-run |\n|---|---|---|---|---|---|---|---|\n"
          f"| 1 × {a.large_rows:,} rows + {a.small:,} × {a.small_rows} rows | {files:,} | "
          f"{rows:,} | {result['files_per_s']:,.0f} | {result['rows_per_s']:,.0f} | "
          f"{result['peak_rss_mb']:,.0f} MB | {result['cores_busy']:.2f} | "
          f"{again['wall_s']:.1f} s |")
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if mid["rc"] in (0, 1) else 1


if __name__ == "__main__":
    raise SystemExit(main())
