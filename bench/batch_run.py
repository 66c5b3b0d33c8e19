"""``bench/run.py --batch``: ``boamps-etl batch`` over a tree holding one large CodeCarbon
file and many small ones (issue 11).

The tree is generated once under ``--data-dir`` (reused when its parameters match): one
file of ``--large-rows`` rows (``big/emissions.csv``) and ``--small`` folders of one file of
``--small-rows`` rows each. ``boamps-etl batch TREE -o OUT -c bench/context.yaml -j JOBS -q``
then runs ``--repeat`` times into a new output, and once more into the last one (a re-run:
every folder unchanged). Each run goes through a fresh wrapper process that reads
``getrusage(RUSAGE_CHILDREN)``: the peak RSS of the largest process (the command or one of
its workers) and the CPU time of all of them; CPU time / wall time near ``JOBS`` means every
core was busy. Each run starts on a settled disk (``run.settle``: what earlier runs wrote is
on the disk) and writes a new output; the outputs are removed when the benchmark ends.

In the same run, CodeCarbon's own BoAmps mapper (peer 1 of ``bench/run.py``, in the peers'
virtual environment) converts every file of the tree, row by row, once; the table gives
batch's rows/s against the mapper's (``--no-peers`` skips it).

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
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
kib = 1 if sys.platform != "darwin" else 1024
said = r.stdout.decode("utf-8", "replace").strip().splitlines()
print(json.dumps({"rc": r.returncode, "wall_s": wall, "peak_rss_mb": u.ru_maxrss / kib / 1024,
                  "cpu_s": u.ru_utime + u.ru_stime, "said": said[-1][-500:] if said else ""}))
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


def _peer(bench: Any, a: argparse.Namespace, tree: Path, work: Path, rows: int
          ) -> dict[str, Any]:
    """CodeCarbon's BoAmps mapper over every file of *tree*, row by row, once."""
    peers: dict[str, Any] = bench.ensure_peers(a.peers_venv.resolve())
    if "skipped" in peers:
        print(f"CodeCarbon peer skipped: {peers['skipped']}", file=sys.stderr)
        return peers
    ctx = bench._context_json(a.context, work / "context.json")
    out = work / "codecarbon.jsonl"
    bench.settle()
    m = run_once([peers["python"], str(HERE / "run.py"), "_peer-codecarbon", str(tree),
                  str(ctx), str(out)])
    out.unlink(missing_ok=True)
    print(f"peer: {m}", file=sys.stderr)
    if m["rc"] != 0:
        return {"skipped": f"the peer failed (exit {m['rc']})", **m}
    said = json.loads(m["said"])
    if said["rows"] != rows:
        return {"skipped": f"the peer read {said['rows']} row(s), not {rows}", **m}
    return {**m, **said, "tool": f"CodeCarbon {peers['codecarbon']} BoAmps mapper",
            "rows_per_s": rows / m["wall_s"], "files_per_s": said["files"] / m["wall_s"],
            "cores_busy": m["cpu_s"] / m["wall_s"]}


def render(a: argparse.Namespace, r: dict[str, Any]) -> str:
    """The results as a Markdown table: batch, then the peer in the same run."""
    lines = [
        f"tree: 1 × {a.large_rows:,} rows + {a.small:,} × {a.small_rows} rows "
        f"({r['files']:,} files, {r['rows']:,} rows)",
        "",
        "| tool | files/s | rows/s | wall | largest process | cores busy | re-run | vs mapper |",
        "|---|---|---|---|---|---|---|---|",
        f"| boamps-etl batch -j {a.jobs} --format {a.format} | {r['files_per_s']:,.0f} | "
        f"{r['rows_per_s']:,.0f} | {r['wall_s']:.1f} s | {r['peak_rss_mb']:,.0f} MB | "
        f"{r['cores_busy']:.2f} | {r['rerun_s']:.1f} s | "
        + (f"{r['vs_mapper']:.1f}× |" if r.get("vs_mapper") else "— |"),
    ]
    peer = r["peer"]
    if peer.get("rows_per_s"):
        lines.append(
            f"| {peer['tool']} (one run) | {peer['files_per_s']:,.0f} | "
            f"{peer['rows_per_s']:,.0f} | {peer['wall_s']:.1f} s | "
            f"{peer['peak_rss_mb']:,.0f} MB | {peer['cores_busy']:.2f} | — | 1× |")
    else:
        lines.append(f"| CodeCarbon's BoAmps mapper | skipped: {peer.get('skipped')} |")
    return "\n".join(lines)


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
    p.add_argument("--no-peers", action="store_true",
                   help="skip CodeCarbon's BoAmps mapper over the same tree")
    p.add_argument("--peers-venv", type=Path, default=HERE / ".venv-peers",
                   help="the peers' virtual environment (default bench/.venv-peers; "
                        "created on first use)")
    a = p.parse_args(argv)
    if a.repeat < 1 or a.small < 0 or a.large_rows < 0 or a.small_rows < 1:
        p.error("--repeat, --small-rows >= 1; --small, --large-rows >= 0")
    t0 = time.perf_counter()
    tree = build_tree(a.data_dir.resolve(), a.large_rows, a.small, a.small_rows, a.seed)
    print(f"tree {tree} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    files = a.small + (1 if a.large_rows else 0)
    rows = a.large_rows + a.small * a.small_rows
    work = a.work or Path(tempfile.mkdtemp(prefix="boamps-batch-bench-"))
    sys.path.insert(0, str(HERE))
    try:
        import run as bench  # bench/run.py: the peer and the disk's settling
    finally:
        sys.path.remove(str(HERE))
    runs: list[dict[str, Any]] = []
    peer: dict[str, Any] = {"skipped": "--no-peers"}
    try:
        for i in range(a.repeat):
            out = work / f"out{i}"  # a new output each run, all removed at the end
            shutil.rmtree(out, ignore_errors=True)
            cmd = [a.boamps_etl, "batch", str(tree), "-o", str(out), "-c", str(a.context),
                   "-j", str(a.jobs), "--format", a.format, "-q"]
            bench.settle()
            runs.append(run_once(cmd))
            print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
        bench.settle()
        again = run_once(cmd)  # every folder up to date
        if not a.no_peers:
            peer = _peer(bench, a, tree, work, rows)
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
              "runs": runs, "peer": peer}
    if peer.get("rows_per_s"):
        result["vs_mapper"] = result["rows_per_s"] / peer["rows_per_s"]
    print(render(a, result))
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if mid["rc"] in (0, 1) else 1


if __name__ == "__main__":
    raise SystemExit(main())
