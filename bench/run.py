"""Benchmark boamps-etl against the alternatives (issue 6).

One run of this script:

1. generates (or reuses, keyed by its parameters, under ``bench/data/``) realistic CodeCarbon
   CSVs of the requested sizes: 70 % of the rows are the ``mixed`` variant (CodeCarbon
   2.7 to 3.2 rows under the 3.2.1 header, one row per run) and 30 % are v3.2.1 runs
   flushed three times (cumulative rows sharing a run_id); about 30 % GPU and 20 % cloud runs;
2. measures ``boamps-etl convert FILE --context bench/context.yaml --format FMT --out OUT
   --force`` for each format of ``--formats`` (jsonl, json, csv, parquet; a new output each
   run; wall time and peak RSS of the child process, median of ``--repeat`` runs) and checks
   that the output holds one report per distinct run_id;
3. measures peer 1, CodeCarbon's own BoAmps mapper
   (``codecarbon.output_methods.boamps.mapper.map_emissions_to_boamps``), driven row by row
   over the same CSV, in its own virtual environment ``bench/.venv-peers`` (created on
   first use; codecarbon is never a dependency of boamps-etl);
4. measures peer 2, the reference ``jsonschema`` validator alone
   (``boamps_etl.validate.official_validator()``) over the reports boamps-etl wrote;
5. measures start-up (``boamps-etl --help``), prints a table and the targets, and writes
   everything as JSON to ``bench/results/latest.json``.

Every measurement runs in a fresh wrapper process (this script's hidden ``_measure`` mode)
that starts the measured command, waits for it and reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak RSS of that one command.

Usage::

    .venv/bin/python bench/run.py                  # 1k and 100k rows, with peers
    .venv/bin/python bench/run.py --full           # adds the 1M-row file
    .venv/bin/python bench/run.py --sizes 1000 --repeat 1 --no-peers --out /tmp/b.json

Only the standard library is imported at module level, so the same file also runs under
the peers' interpreter (hidden modes ``_peer-codecarbon`` and ``_peer-jsonschema``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUN_PY = Path(__file__).resolve()

DEFAULT_SIZES = (1_000, 100_000)
FULL_SIZE = 1_000_000
CODECARBON_SPEC = "codecarbon>=3.3,<3.4"
CODECARBON_SERIES = (3, 3)
MAPPER_PATH = "codecarbon/output_methods/boamps/mapper.py"

#: Targets of issue 6 (reported against, never used to fake a result).
TARGETS: dict[str, Any] = {
    "rows_per_s": 50_000,  # end to end, for the 1M-row file
    "rows_per_s_size": FULL_SIZE,
    "peak_rss_mb": 500,
    "peer_ratio": 10.0,  # boamps-etl rows/s over each peer's rows/s
    "startup_s": 0.5,  # median wall time of `boamps-etl --help`
}

# Data recipe: bump RECIPE_ID whenever the recipe or bench/generate.py output changes, so
# that cached files under bench/data/ are regenerated.
RECIPE_ID = "mix1"
RECIPE: dict[str, Any] = {
    "segments": [
        # (variant, share of the rows, flush rows per run_id, seed offset)
        {"variant": "mixed", "share": 0.7, "flush": 1, "seed_offset": 0},
        {"variant": "v3.2.1", "share": 0.3, "flush": 3, "seed_offset": 1},
    ],
    "gpu_share": 0.3,
    "cloud_share": 0.2,
}

TOOL_ETL = "boamps-etl"
FORMATS = ("jsonl", "json", "csv", "parquet")  # json: one file per report, in a new folder
TOOL_CC = "codecarbon-mapper"
TOOL_JS = "jsonschema-official"
TOOL_FLOOR = "file-creation floor"  # bench/mkfiles.py: the files of json, no conversion


# --------------------------------------------------------------------------- helpers


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    mult = 1
    if t.endswith("k"):
        t, mult = t[:-1], 1_000
    elif t.endswith("m"):
        t, mult = t[:-1], 1_000_000
    value = int(float(t) * mult)
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be >= 1: {text!r}")
    return value


def _parse_sizes(text: str) -> list[int]:
    try:
        return [_parse_size(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad --sizes {text!r}: {exc}") from None


def _count_lines(path: Path) -> int:
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace").strip()


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _fmt_int(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


# --------------------------------------------------------------------------- machine


def _cores() -> int | None:
    """The cores this process may run on (all of them where that cannot be asked)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    cores = _cores()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": cpu or platform.processor() or platform.machine(),
        "cores": cores,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": load,
    }


# --------------------------------------------------------------------------- data


def data_file(data_dir: Path, rows: int, seed: int) -> Path:
    return data_dir / f"codecarbon_{rows}_{RECIPE_ID}_s{seed}.csv"


def ensure_data(data_dir: Path, rows: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Return the CSV of *rows* rows and its metadata, generating it when absent."""
    path = data_file(data_dir, rows, seed)
    meta_path = path.with_suffix(".meta.json")
    want = {"rows": rows, "seed": seed, "recipe_id": RECIPE_ID, "recipe": RECIPE}
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if (
            all(meta.get(k) == v for k, v in want.items())
            and meta.get("bytes") == path.stat().st_size
        ):
            meta["reused"] = True
            return path, meta

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.generate import header_for, iter_rows

    data_dir.mkdir(parents=True, exist_ok=True)
    segs = RECIPE["segments"]
    header = header_for(segs[0]["variant"])
    for s in segs[1:]:
        if header_for(s["variant"]) != header:
            raise SystemExit(f"recipe error: {s['variant']} has another header")
    rid = header.index("run_id")
    counts, left = [], rows
    for s in segs[:-1]:
        n = min(left, round(rows * s["share"]))
        counts.append(n)
        left -= n
    counts.append(left)

    t0 = time.perf_counter()
    run_ids: set[str] = set()
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    written = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for s, n in zip(segs, counts, strict=True):
                batch: list[list[Any]] = []
                for row in iter_rows(
                    s["variant"],
                    n,
                    seed=seed + s["seed_offset"],
                    gpu_share=RECIPE["gpu_share"],
                    cloud_share=RECIPE["cloud_share"],
                    flush=s["flush"],
                ):
                    run_ids.add(row[rid])
                    batch.append(row)
                    if len(batch) >= 20_000:
                        w.writerows(batch)
                        written += len(batch)
                        batch.clear()
                w.writerows(batch)
                written += len(batch)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    meta = {
        **want,
        "reports": len(run_ids),
        "rows_written": written,
        "bytes": path.stat().st_size,
        "generated_s": round(time.perf_counter() - t0, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta["reused"] = False
    return path, meta


# --------------------------------------------------------------------------- measuring


def _measure_main(spec_json: str) -> int:
    """Hidden mode: run one command, print wall time and peak RSS of the child as JSON."""
    import resource
    import signal

    spec = json.loads(spec_json)
    limit_kb = int(spec.get("rss_limit_mb") or 0) * 1024
    timeout = spec.get("timeout_s")
    status = "ok"
    with open(spec["stdout"], "wb") as out, open(spec["stderr"], "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(spec["cmd"], stdout=out, stderr=err, start_new_session=True)
        while True:
            try:
                p.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            kill = ""
            if timeout and time.perf_counter() - t0 > timeout:
                kill = "timeout"
            elif limit_kb:
                try:
                    with open(f"/proc/{p.pid}/status") as st:
                        for line in st:
                            if line.startswith("VmRSS:") and int(line.split()[1]) > limit_kb:
                                kill = "rss-limit"
                except OSError:
                    pass
            if kill:
                status = kill
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait()
                break
        wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # with the command's own children
    maxrss = usage.ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        maxrss //= 1024
    print(json.dumps({"rc": p.returncode, "wall_s": wall, "maxrss_kb": maxrss, "status": status,
                      "cpu_s": usage.ru_utime + usage.ru_stime}))
    return 0


def _dirty_mb() -> float | None:
    """Dirty + Writeback memory (MB) from /proc/meminfo: what the disk still has to write."""
    try:
        with open("/proc/meminfo") as f:
            kb = sum(int(line.split()[1]) for line in f
                     if line.startswith(("Dirty:", "Writeback:")))
    except (OSError, ValueError, IndexError):
        return None
    return kb / 1024


def settle(limit_mb: float = 32.0, wait_s: float = 120.0) -> float:
    """Let the disk finish what earlier runs wrote (``sync``, then wait until less than
    *limit_mb* is dirty or under write-back, at most *wait_s*), so that a run does not pay
    for its predecessor's files; return the seconds waited."""
    t0 = time.perf_counter()
    if hasattr(os, "sync"):
        os.sync()
    while time.perf_counter() - t0 < wait_s:
        dirty = _dirty_mb()
        if dirty is None or dirty < limit_mb:
            break
        time.sleep(0.5)
    return time.perf_counter() - t0


def measure(
    cmd: Sequence[str], work: Path, *, timeout_s: float | None, rss_limit_mb: int
) -> dict[str, Any]:
    """Run *cmd* once through a fresh wrapper process; return rc, wall_s, peak_rss_mb...
    The disk is settled first (:func:`settle`)."""
    settle()
    stdout, stderr = work / "child.out", work / "child.err"
    spec = {
        "cmd": [str(c) for c in cmd],
        "stdout": str(stdout),
        "stderr": str(stderr),
        "timeout_s": timeout_s,
        "rss_limit_mb": rss_limit_mb,
    }
    r = subprocess.run(
        [sys.executable, str(RUN_PY), "_measure", json.dumps(spec)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"measuring wrapper failed: {r.stderr.strip()[-800:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return {
        "rc": res["rc"],
        "status": res["status"],
        "wall_s": res["wall_s"],
        "cpu_s": res.get("cpu_s"),
        "peak_rss_mb": res["maxrss_kb"] / 1024,
        "stdout": _tail(stdout),
        "stderr": _tail(stderr),
    }


def repeated(
    label: str,
    cmd: Sequence[str] | Callable[[int], Sequence[str]],
    work: Path,
    args: argparse.Namespace,
    *,
    repeat: int | None = None,
    budget_s: float | None = None,
    fresh: Sequence[Path] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run *cmd* up to *repeat* times (fewer once *budget_s* is used); return runs, last.
    The paths *fresh* are removed before each run; a callable *cmd* gets the run's index
    (0, 1, ...) and gives that run's command."""
    repeat = args.repeat if repeat is None else repeat
    budget_s = args.budget_s if budget_s is None else budget_s
    runs: list[dict[str, Any]] = []
    used = 0.0
    for i in range(repeat):
        for old in fresh:  # each run writes a new output, as a user's first run does
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        run_cmd = cmd(i) if callable(cmd) else cmd
        m = measure(run_cmd, work, timeout_s=args.timeout_s, rss_limit_mb=args.rss_limit_mb)
        runs.append(m)
        used += m["wall_s"]
        if not args.quiet:
            _log(
                f"  {label} run {i + 1}/{repeat}: {m['wall_s']:.2f} s, "
                f"{m['peak_rss_mb']:.0f} MB, rc={m['rc']}"
                + ("" if m["status"] == "ok" else f" ({m['status']})")
            )
        if m["rc"] != 0 or m["status"] != "ok":
            break
        if i + 1 < repeat and used + m["wall_s"] > budget_s:
            if not args.quiet:
                _log(f"  {label}: stopping after {i + 1} run(s), budget {budget_s:.0f} s used")
            break
    return runs, runs[-1]


def summarise(tool: str, rows: int, reports: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r["rc"] == 0 and r["status"] == "ok"]
    walls = [r["wall_s"] for r in good]
    rss = [r["peak_rss_mb"] for r in good]
    wall = _median(walls) if walls else None
    entry: dict[str, Any] = {
        "rows": rows,
        "reports": reports,
        "tool": tool,
        "runs": len(good),
        "wall_s": wall,
        "wall_s_all": [round(w, 4) for w in walls],
        "rows_per_s": rows / wall if wall else None,
        "peak_rss_mb": _median(rss) if rss else None,
        "peak_rss_mb_all": [round(x, 1) for x in rss],
        # CPU time (user + system) of the command and its children, every core together
        "cpu_s": _median(cpus) if (cpus := [r["cpu_s"] for r in good
                                            if r.get("cpu_s") is not None]) else None,
        "ratio": None,
        "ok": bool(good) and len(good) == len(runs),
        "checks": [],
    }
    killed = [r for r in runs if r["status"] in ("timeout", "rss-limit")]
    if killed and not good:
        # a killed run still bounds the result: slower than rows / wall, at least this RSS
        k = killed[-1]
        entry["killed"] = {
            "status": k["status"],
            "wall_s": round(k["wall_s"], 2),
            "peak_rss_mb": round(k["peak_rss_mb"], 1),
            "rows_per_s_below": rows / k["wall_s"],
        }
    return entry


def _run_error(run: dict[str, Any]) -> str:
    if run["status"] != "ok":
        return (
            f"killed ({run['status']}) after {run['wall_s']:.1f} s"
            f" at {run['peak_rss_mb']:.0f} MB peak RSS"
        )
    return f"exit code {run['rc']}: {run['stderr'][-600:]}"


def _fail(entry: dict[str, Any], message: str) -> None:
    entry["ok"] = False
    entry.setdefault("errors", []).append(message)


# --------------------------------------------------------------------------- peers


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


_PROBE = (
    "import importlib.metadata as m, importlib.util as u, json, pathlib, sys\n"
    "s = u.find_spec('codecarbon')\n"
    "ok = bool(s and s.origin) and (pathlib.Path(s.origin).parent"
    " / 'output_methods/boamps/mapper.py').is_file()\n"
    "print(json.dumps({'version': m.version('codecarbon') if s else None, 'mapper': ok,"
    " 'python': sys.version.split()[0]}))\n"
)


def _probe(py: Path) -> dict[str, Any]:
    if not py.exists():
        return {"version": None, "mapper": False}
    r = subprocess.run([str(py), "-c", _PROBE], capture_output=True, text=True)
    try:
        return dict(json.loads(r.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"version": None, "mapper": False}


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def _pip_versions(py: Path) -> list[str] | None:
    r = subprocess.run(
        [str(py), "-m", "pip", "index", "versions", "codecarbon"],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Available versions:\s*(.+)", r.stdout)
    if r.returncode != 0 or not m:
        return None
    return [v.strip() for v in m.group(1).split(",") if re.fullmatch(r"[\d.]+", v.strip())]


def _ships_mapper(py: Path, version: str, tmp: Path) -> bool:
    d = tmp / f"cc-{version}"
    r = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(d),
            f"codecarbon=={version}",
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return False
    for whl in d.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            if MAPPER_PATH in z.namelist():
                return True
    return False


def ensure_peers(venv: Path) -> dict[str, Any]:
    """Create ``bench/.venv-peers`` with codecarbon 3.3.x (or the newest release shipping the
    BoAmps mapper) on first use; return its description or ``{"skipped": reason}``."""
    py = _venv_python(venv)
    found = _probe(py)
    note = ""
    if not found.get("mapper"):
        _log(f"installing the CodeCarbon peer into {venv} (first use) ...")
        if not py.exists():
            base = shutil.which("python3") or sys.executable
            r = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True)
            if r.returncode != 0:
                return {"skipped": f"python3 -m venv failed: {r.stderr.strip()[-500:]}"}
        versions = _pip_versions(py)
        spec = CODECARBON_SPEC
        if versions is not None:
            series = [v for v in versions if _vkey(v)[:2] == CODECARBON_SERIES]
            if series:
                spec = f"codecarbon=={max(series, key=_vkey)}"
            else:
                spec = ""
                with tempfile.TemporaryDirectory() as t:
                    for v in sorted(versions, key=_vkey, reverse=True)[:10]:
                        if _ships_mapper(py, v, Path(t)):
                            spec = f"codecarbon=={v}"
                            note = (
                                f"codecarbon {CODECARBON_SERIES[0]}.{CODECARBON_SERIES[1]}.x is"
                                f" not on PyPI; using {v}, the newest release that ships"
                                f" {MAPPER_PATH}"
                            )
                            break
                if not spec:
                    return {"skipped": f"no codecarbon release on PyPI ships {MAPPER_PATH}"}
        r = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", spec], capture_output=True, text=True
        )
        if r.returncode != 0:
            return {"skipped": f"pip install {spec} failed: {r.stderr.strip()[-800:]}"}
        found = _probe(py)
        if not found.get("mapper"):
            return {"skipped": f"{spec} installed but {MAPPER_PATH} is missing"}
    version = str(found.get("version"))
    if not note and _vkey(version)[:2] != CODECARBON_SERIES:
        note = f"the peers venv holds codecarbon {version}, not 3.3.x"
    return {
        "python": str(py),
        "python_version": found.get("python"),
        "codecarbon": version,
        "note": note,
    }


def _peer_codecarbon_main(csv_path: str, ctx_path: str, out_path: str) -> int:
    """Hidden mode (peers venv): CodeCarbon's own BoAmps mapper, row by row."""
    import dataclasses
    import warnings

    from codecarbon.output_methods.boamps.mapper import map_emissions_to_boamps
    from codecarbon.output_methods.boamps.models import BoAmpsHeader, BoAmpsTask
    from codecarbon.output_methods.emissions_data import EmissionsData

    warnings.simplefilter("ignore")
    with open(ctx_path, encoding="utf-8") as f:
        ctx = json.load(f)
    task = BoAmpsTask.from_dict(ctx["task"]) if "task" in ctx else None
    header = BoAmpsHeader.from_dict(ctx["header"]) if "header" in ctx else None
    quality = ctx.get("quality")

    # (field, is_float, default) for every EmissionsData field; fields an older header lacks
    # (or empty cells) get the dataclass default, else 0.0 / "".
    plan: list[tuple[str, bool, Any]] = []
    for fld in dataclasses.fields(EmissionsData):
        typ = fld.type if isinstance(fld.type, str) else getattr(fld.type, "__name__", "str")
        is_float = typ in ("float", "int")
        fallback: Any = 0.0 if is_float else ""
        default = fld.default if fld.default is not dataclasses.MISSING else fallback
        plan.append((fld.name, is_float, default))

    # a folder: every CSV file under it, in path order (the batch benchmark's tree)
    root = Path(csv_path)
    paths = sorted(root.rglob("*.csv")) if root.is_dir() else [root]
    rows = reports = bad = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for path in paths:
            with open(path, newline="", encoding="utf-8-sig") as src:
                for row in csv.DictReader(src):
                    r, b = _peer_row(row, plan, map_emissions_to_boamps, EmissionsData, task,
                                     header, quality, out)
                    rows += 1
                    reports += r
                    bad += b
    print(json.dumps({"files": len(paths), "rows": rows, "reports": reports, "failed": bad}))
    return 0


def _peer_row(row: dict[str, str], plan: list[tuple[str, bool, Any]], mapper: Any,
              emissions_data: Any, task: Any, header: Any, quality: Any,
              out: Any) -> tuple[int, int]:
    """Peer 1 on one CSV row: (1, 0) when it wrote a report, (0, 1) when the mapper failed."""
    kw: dict[str, Any] = {}
    for name, is_float, default in plan:
        v = row.get(name)
        if v is None or v == "":
            kw[name] = default
        elif is_float:
            try:
                kw[name] = float(v)
            except ValueError:
                kw[name] = default
        else:
            kw[name] = v
    try:
        report = mapper(emissions_data(**kw), task=task, header=header, quality=quality)
        out.write(json.dumps(report.to_dict()))
        out.write("\n")
    except Exception:  # a peer failure on one row is counted, not fatal
        return 0, 1
    return 1, 0


def _peer_jsonschema_main(jsonl_path: str) -> int:
    """Hidden mode (boamps-etl's venv): the reference jsonschema validator alone."""
    from boamps_etl.validate import official_validator

    validator = official_validator()
    docs = invalid = 0
    with open(jsonl_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                docs += 1
                if not validator.is_valid(json.loads(line)):
                    invalid += 1
    print(json.dumps({"docs": docs, "invalid": invalid}))
    return 0


def _sample_validity(jsonl: Path, n: int = 200) -> dict[str, int] | None:
    """Share of the first *n* peer reports the official schema accepts (informative)."""
    try:
        from boamps_etl.validate import official_validator
    except ImportError:
        return None
    validator = official_validator()
    checked = valid = 0
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if checked >= n:
                break
            checked += 1
            valid += bool(validator.is_valid(json.loads(line)))
    return {"checked": checked, "valid": valid}


# --------------------------------------------------------------------------- driver

_REMOVE_AT_END: list[Path] = []  # outputs kept until the benchmark ends (see bench_size)


def _context_json(context: Path, dest: Path) -> Path:
    import yaml  # the driver runs in boamps-etl's venv, which has PyYAML

    with open(context, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    data.pop("match", None)  # boamps-etl-only section
    dest.write_text(json.dumps(data))
    return dest


def bench_size(
    rows: int,
    args: argparse.Namespace,
    peers: dict[str, Any] | None,
    etl_python: Path,
    ctx_json: Path | None,
) -> list[dict[str, Any]]:
    csv_path, meta = ensure_data(args.data_dir, rows, args.seed)
    reports = int(meta["reports"])
    how = "reused" if meta.get("reused") else f"generated in {meta['generated_s']} s"
    _log(f"[{rows:,} rows] {csv_path.name}: {reports:,} runs ({how})")
    entries: list[dict[str, Any]] = []
    args.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.data_dir) as t:
        work = Path(t)
        out = work / "reports.jsonl"
        etls: list[dict[str, Any]] = []
        for fmt in args.formats:
            target = work / f"reports.{fmt}" if fmt != "json" else work / "reports"
            fresh, later = [target], None
            if fmt == "json":
                # A folder of one file per report: each run writes a new one, and they are
                # removed only when the benchmark ends, as removing many files keeps a disk
                # mounted with ``discard`` slow to create files for minutes after.
                later = Path(tempfile.mkdtemp(prefix="json-", dir=args.data_dir))
                _REMOVE_AT_END.append(later)
                fresh = []

            def cmd(i: int, fmt: str = fmt, target: Path = target,
                    later: Path | None = later) -> list[str]:
                if later is not None:
                    target = later / f"reports-{i}"
                    _make_room(later, reports)
                return [args.boamps_etl, "convert", str(csv_path), "--context",
                        str(args.context), "--format", fmt, "--out", str(target), "--force"]

            label = f"{TOOL_ETL} {fmt}"
            runs, last = repeated(label, cmd, work, args, fresh=fresh)
            if later is not None:
                target = later / f"reports-{len(runs) - 1}"
            etl = summarise(TOOL_ETL, rows, reports, runs)
            etl["format"] = fmt
            if last["rc"] != 0 or last["status"] != "ok":
                _fail(etl, _run_error(last))
            elif not target.exists():
                _fail(etl, "no output")
            else:
                got = _count_reports(target, fmt)
                etl["checks"].append(
                    {"check": f"{fmt} reports == distinct run_ids", "expected": reports,
                     "got": got}
                )
                if got != reports:
                    _fail(etl, f"{got} report(s) written, expected {reports}")
                elif fmt == "parquet":
                    distinct = _distinct_report_ids(target)
                    etl["checks"].append({"check": "parquet reportIds distinct",
                                          "expected": got, "got": distinct})
                    if distinct != got:
                        _fail(etl, f"{got - distinct} repeated reportId(s) in the parquet file")
            said = (last["stdout"] + "\n" + last["stderr"]).strip().splitlines()
            etl["summary"] = said[-1][-300:] if said else ""
            entries.append(etl)
            etls.append(etl)
            if fmt == "json" and later is not None and etl["ok"]:
                floor = _json_floor(target, later, rows, reports, etl_python, work, args)
                entries.append(floor)
                etls.append(floor)
            if fmt not in ("jsonl", "json") and target.exists():
                target.unlink()
        jsonl = next((e for e in etls if e["format"] == "jsonl"), None)
        etl = jsonl or etls[0]

        if peers is not None and "skipped" not in peers and ctx_json is not None:
            peer_out = work / "codecarbon.jsonl"
            cmd = [
                peers["python"],
                str(RUN_PY),
                "_peer-codecarbon",
                str(csv_path),
                str(ctx_json),
                str(peer_out),
            ]
            runs, last = repeated(TOOL_CC, cmd, work, args)
            cc = summarise(TOOL_CC, rows, reports, runs)
            cc["version"] = peers["codecarbon"]
            if last["rc"] != 0 or last["status"] != "ok":
                _fail(cc, _run_error(last))
            else:
                res = json.loads(last["stdout"].splitlines()[-1])
                cc["checks"].append(
                    {"check": "one report per CSV row", "expected": rows, "got": res["reports"]}
                )
                if res["rows"] != rows or res["reports"] != rows:
                    _fail(cc, f"peer read {res['rows']} row(s), wrote {res['reports']}")
                cc["valid_sample"] = _sample_validity(peer_out)
            if peer_out.exists():
                peer_out.unlink()
            entries.append(cc)
        elif peers is not None:
            entries.append(
                {
                    **summarise(TOOL_CC, rows, reports, []),
                    "ok": True,
                    "skipped": peers.get("skipped", "no context"),
                }
            )

        if peers is not None and not args.skip_jsonschema:
            if jsonl is not None and jsonl["ok"]:
                cmd = [str(etl_python), str(RUN_PY), "_peer-jsonschema", str(out)]
                runs, last = repeated(TOOL_JS, cmd, work, args)
                js = summarise(TOOL_JS, rows, reports, runs)
                if last["rc"] != 0 or last["status"] != "ok":
                    _fail(js, _run_error(last))
                else:
                    res = json.loads(last["stdout"].splitlines()[-1])
                    js["checks"].append(
                        {
                            "check": "documents validated == reports, all valid",
                            "expected": reports,
                            "got": res["docs"],
                            "invalid": res["invalid"],
                        }
                    )
                    if res["docs"] != reports or res["invalid"]:
                        _fail(js, f"{res['docs']} document(s), {res['invalid']} invalid")
                entries.append(js)
            else:
                entries.append(
                    {
                        **summarise(TOOL_JS, rows, reports, []),
                        "ok": True,
                        "skipped": "boamps-etl produced no usable output",
                    }
                )

    base = etl["rows_per_s"]
    below = etl.get("killed", {}).get("rows_per_s_below")
    for e in entries:
        if e["tool"] in (TOOL_ETL, TOOL_FLOOR):
            continue
        if base and e.get("rows_per_s"):
            e["ratio"] = base / e["rows_per_s"]
        elif below and e.get("rows_per_s"):
            e["ratio_below"] = below / e["rows_per_s"]
    mapper = next((e for e in entries if e["tool"] == TOOL_CC and e.get("rows_per_s")), None)
    for e in etls:  # each format against CodeCarbon's mapper
        if mapper is not None and e.get("rows_per_s"):
            e["vs_mapper"] = e["rows_per_s"] / mapper["rows_per_s"]
    floor = next((e for e in etls if e["tool"] == TOOL_FLOOR and e.get("cpu_s")), None)
    if mapper is not None and floor is not None and jsonl is not None and jsonl.get("cpu_s"):
        # json does at least jsonl's conversion and the floor's file creation: their CPU
        # time spread over every core bounds json's time from below
        best = max(floor["wall_s"], (jsonl["cpu_s"] + floor["cpu_s"]) / floor["processes"])
        floor["json_best_s"] = best
        floor["json_best_vs_mapper"] = mapper["wall_s"] / best
    return entries


def _fs_type(path: Path) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``...), from
    /proc/self/mounts; "" where that cannot be read."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return ""
    where = os.path.realpath(path)
    best, kind = "", ""
    for m in mounts:
        point = m[1].replace("\\040", " ")
        if (where == point or where.startswith(point.rstrip("/") + "/")) and \
                len(point) >= len(best):
            best, kind = point, m[2]
    return kind


def _make_room(later: Path, files: int, keep: Path | None = None) -> None:
    """Remove the folders of earlier runs kept in ``later`` (oldest first, but ``keep``)
    while its file system has fewer free inodes than ``files`` and a tenth, or less free
    space than 8 KB a file: a tmpfs holds only so many files. On a tmpfs they all go:
    there the millions of files kept made the next runs a third slower (and removing
    files costs no discard, the reason they are kept on disks)."""
    tmpfs = _fs_type(later) == "tmpfs"

    def short() -> bool:
        st = os.statvfs(later)
        return tmpfs or st.f_favail < files * 1.1 or st.f_bavail * st.f_frsize < files * 8192

    old = sorted((p for p in later.iterdir() if p.is_dir() and p != keep),
                 key=lambda p: p.stat().st_mtime)
    while old and short():
        shutil.rmtree(old.pop(0), ignore_errors=True)


def _json_floor(folder: Path, later: Path, rows: int, reports: int, etl_python: Path,
                work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The floor of json output on this machine and file system, in the same run: the
    time ``bench/mkfiles.py`` takes to create as many files as ``folder`` holds, of their
    median size, beside it, with one process per core (as ``convert`` has one worker per
    core), and no conversion at all. json cannot beat it; when it alone takes more than a
    tenth of the mapper's time, the 10x target is out of reach of any writer of one file
    per report here."""
    sizes = sorted(p.stat().st_size for p in folder.iterdir())
    median = sizes[len(sizes) // 2] if sizes else 0
    procs = _cores() or 1
    # on a tmpfs, json's runs start with no earlier folder there: so does the floor (its
    # 800,000 files kept made the floor's runs half as slow again)
    keep = None if _fs_type(later) == "tmpfs" else folder

    def cmd(i: int) -> list[str]:
        _make_room(later, len(sizes), keep=keep)
        return [str(etl_python), str(HERE / "mkfiles.py"), str(later / f"floor-{i}"),
                str(len(sizes)), str(median), str(procs)]

    runs, last = repeated(f"{TOOL_FLOOR} json", cmd, work, args)
    floor = summarise(TOOL_FLOOR, rows, reports, runs)
    floor["format"] = "json"
    floor["files"], floor["file_bytes"], floor["processes"] = len(sizes), median, procs
    if last["rc"] != 0 or last["status"] != "ok":
        _fail(floor, _run_error(last))
    return floor


def _count_reports(target: Path, fmt: str) -> int:
    """Reports in an output: json files, JSON lines, CSV lines below the header, Parquet
    rows."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(target).metadata.num_rows)
    if fmt == "json":
        return sum(1 for p in target.iterdir() if p.suffix == ".json")
    lines = _count_lines(target)
    return lines - 1 if fmt == "csv" else lines


def _distinct_report_ids(target: Path) -> int:
    """Distinct ``header_reportId`` values of a Parquet output (one per run_id)."""
    import pyarrow.parquet as pq

    ids = pq.read_table(target, columns=["header_reportId"]).column(0)
    return len(ids.unique())


def check_targets(results: list[dict[str, Any]], startup: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    if startup.get("median_s") is not None:
        checks.append(
            {
                "target": "startup `boamps-etl --help` < 0.5 s",
                "value": round(startup["median_s"], 3),
                "met": startup["median_s"] < TARGETS["startup_s"],
            }
        )
    for e in results:
        what = f"{e['tool']} {e['format']}" if e.get("format") else e["tool"]
        if e["tool"] == TOOL_ETL and e.get("rows_per_s"):
            rows = e["rows"]
            applies = " (target set for the 1M-row file)" if rows != FULL_SIZE else ""
            if e.get("format") == "jsonl":
                checks.append(
                    {
                        "target": f"{rows:,} rows, {what}: >= 50,000 rows/s{applies}",
                        "value": round(e["rows_per_s"]),
                        "met": e["rows_per_s"] >= TARGETS["rows_per_s"],
                    }
                )
            checks.append(
                {
                    "target": f"{rows:,} rows, {what}: peak RSS < 500 MB",
                    "value": round(e["peak_rss_mb"], 1),
                    "met": e["peak_rss_mb"] < TARGETS["peak_rss_mb"],
                }
            )
            if e.get("vs_mapper") is not None:
                checks.append(
                    {
                        "target": f"{rows:,} rows, {what}: >= 10x {TOOL_CC}",
                        "value": round(e["vs_mapper"], 3),
                        "met": e["vs_mapper"] >= TARGETS["peer_ratio"],
                    }
                )
        elif e["tool"] == TOOL_FLOOR and e.get("vs_mapper") is not None:
            bound = e["vs_mapper"] < TARGETS["peer_ratio"]
            if e.get("json_best_s") is not None:
                reach = e["json_best_vs_mapper"] >= TARGETS["peer_ratio"]
                checks.append(
                    {
                        "target": f"{e['rows']:,} rows, json at best (jsonl's CPU time and the "
                                  f"floor's over {e['processes']} core(s): "
                                  f"{e['json_best_s']:.1f} s) >= 10x {TOOL_CC}",
                        "value": round(e["json_best_vs_mapper"], 3),
                        "met": reach,
                        "note": "" if reach else
                        "json cannot reach 10x here without converting faster than jsonl",
                    }
                )
            checks.append(
                {
                    "target": f"{e['rows']:,} rows, {e['files']:,} files of {e['file_bytes']:,} B "
                              f"created alone (no conversion, {e['processes']} process(es)) "
                              f">= 10x {TOOL_CC}",
                    "value": round(e["vs_mapper"], 3),
                    "met": not bound,
                    "note": "json is bound by this file system here" if bound else "",
                }
            )
        elif e["tool"] == TOOL_ETL and e.get("killed"):
            k, rows = e["killed"], e["rows"]
            checks.append(
                {
                    "target": f"{rows:,} rows: >= 50,000 rows/s (run killed: {k['status']})",
                    "value": f"< {k['rows_per_s_below']:.0f}",
                    "met": False,
                }
            )
            if k["peak_rss_mb"] >= TARGETS["peak_rss_mb"]:
                checks.append(
                    {
                        "target": f"{rows:,} rows: peak RSS < 500 MB",
                        "value": f">= {k['peak_rss_mb']}",
                        "met": False,
                    }
                )
        elif e.get("ratio") is not None:
            checks.append(
                {
                    "target": f"{e['rows']:,} rows: >= 10x {e['tool']}",
                    "value": round(e["ratio"], 3),
                    "met": e["ratio"] >= TARGETS["peer_ratio"],
                }
            )
        elif e.get("ratio_below") is not None:
            checks.append(
                {
                    "target": f"{e['rows']:,} rows: >= 10x {e['tool']}",
                    "value": f"< {e['ratio_below']:.3g}",
                    "met": e["ratio_below"] >= TARGETS["peer_ratio"],
                }
            )
    return checks


def render_table(results: list[dict[str, Any]]) -> str:
    head = ("rows", "tool", "runs", "rows/s", "peak RSS MB", "wall s", "boamps-etl/peer",
            "vs mapper")
    lines = [head]
    for e in results:
        if e.get("skipped"):
            lines.append((f"{e['rows']:,}", e["tool"], "0", "skipped", "", "", "—", "—"))
            continue
        tool = e["tool"] + (f" {e['version']}" if e.get("version") else "")
        tool += f" {e['format']}" if e.get("format") else ""
        k = e.get("killed")
        if k:
            tool += f" (killed: {k['status']})"
        elif not e["ok"]:
            tool += " (FAILED)"
        if e.get("ratio") is not None:
            ratio = f"{e['ratio']:.3g}x"
        elif e.get("ratio_below") is not None:
            ratio = f"< {e['ratio_below']:.3g}x"
        else:
            ratio = "—"
        lines.append(
            (
                f"{e['rows']:,}",
                tool,
                str(e["runs"]),
                f"< {k['rows_per_s_below']:,.0f}" if k else _fmt_int(e.get("rows_per_s")),
                f">= {k['peak_rss_mb']:.1f}"
                if k
                else "—"
                if e.get("peak_rss_mb") is None
                else f"{e['peak_rss_mb']:.1f}",
                f"> {k['wall_s']:.1f}"
                if k
                else "—"
                if e.get("wall_s") is None
                else f"{e['wall_s']:.3f}",
                ratio,
                f"{e['vs_mapper']:.3g}x" if e.get("vs_mapper") is not None else "—",
            )
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    right = {0, 2, 3, 4, 5, 6, 7}
    out = []
    for n, r in enumerate(lines):
        out.append(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _etl_python(etl: str) -> Path:
    p = Path(etl)
    for cand in (p.with_name("python"), p.with_name("python3"), p.with_name("python.exe")):
        if cand.exists():
            return cand
    return Path(sys.executable)


def build_parser() -> argparse.ArgumentParser:
    default_etl = ROOT / ".venv" / "bin" / "boamps-etl"
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark boamps-etl (rows/s, peak RSS, start-up) against CodeCarbon's "
        "BoAmps mapper and the reference jsonschema validator.",
    )
    p.add_argument(
        "--sizes",
        type=_parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated row counts (1000,100k,1M); default 1000,100000",
    )
    p.add_argument("--full", action="store_true", help="add the 1,000,000-row file")
    p.add_argument("--batch", action="store_true",
                   help="benchmark boamps-etl batch over one large file and many small ones "
                        "instead (bench/batch_run.py; --batch --help for its options)")
    p.add_argument(
        "--formats",
        type=lambda t: [f.strip() for f in t.split(",") if f.strip()],
        default=list(FORMATS),
        help="output formats of boamps-etl convert to measure (default jsonl,json,csv,parquet)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per (file, tool); the median is reported (default 3)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=60.0,
        help="stop repeating a (file, tool) once its runs used this many seconds "
        "(at least one run; default 60)",
    )
    p.add_argument(
        "--timeout-s",
        type=float,
        default=1800.0,
        help="kill one measured run after this many seconds (default 1800)",
    )
    p.add_argument(
        "--rss-limit-mb",
        type=int,
        default=None,
        help="kill one measured run above this RSS (default: 60%% of RAM; 0: off)",
    )
    p.add_argument(
        "--startup-repeat", type=int, default=5, help="runs of `boamps-etl --help` (default 5)"
    )
    p.add_argument(
        "--boamps-etl",
        default=str(default_etl)
        if default_etl.exists()
        else (shutil.which("boamps-etl") or str(default_etl)),
        help="the boamps-etl executable (default .venv/bin/boamps-etl)",
    )
    p.add_argument(
        "--context",
        type=Path,
        default=HERE / "context.yaml",
        help="context file (default bench/context.yaml)",
    )
    p.add_argument(
        "--no-peers",
        action="store_true",
        help="measure boamps-etl only (no peers venv, no network)",
    )
    p.add_argument(
        "--skip-jsonschema",
        action="store_true",
        help="leave out peer 2, the jsonschema validation alone (the slowest to measure)",
    )
    p.add_argument(
        "--peers-venv",
        type=Path,
        default=HERE / ".venv-peers",
        help="virtual environment of the peers (default bench/.venv-peers)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=HERE / "data",
        help="where generated CSVs are cached (default bench/data)",
    )
    p.add_argument("--seed", type=int, default=6, help="generator seed (default 6)")
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "latest.json",
        help="JSON results (default bench/results/latest.json)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-run progress lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_measure"]:
        return _measure_main(argv[1])
    if argv[:1] == ["_peer-codecarbon"]:
        return _peer_codecarbon_main(*argv[1:4])
    if argv[:1] == ["_peer-jsonschema"]:
        return _peer_jsonschema_main(argv[1])
    if "--batch" in argv:  # boamps-etl batch over a tree (bench/batch_run.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from batch_run import main as batch_main

        return batch_main([x for x in argv if x != "--batch"])

    p = build_parser()
    args = p.parse_args(argv)
    sizes = sorted(set(args.sizes) | ({FULL_SIZE} if args.full else set()))
    if not args.formats or any(f not in FORMATS for f in args.formats):
        p.error(f"--formats: choose among {', '.join(FORMATS)}")
    if args.repeat < 1 or args.startup_repeat < 0:
        p.error("--repeat must be >= 1 and --startup-repeat >= 0")
    if not Path(args.boamps_etl).exists() and not shutil.which(args.boamps_etl):
        p.error(f"boamps-etl not found: {args.boamps_etl} (use --boamps-etl PATH)")
    if not args.context.is_file():
        p.error(f"context not found: {args.context}")
    args.context = args.context.resolve()
    args.data_dir = args.data_dir.resolve()
    machine = machine_info()
    if args.rss_limit_mb is None:
        args.rss_limit_mb = int((machine["memory_gb"] or 0) * 1024 * 0.6)
    etl_python = _etl_python(args.boamps_etl)
    started = time.perf_counter()

    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} core(s), "
        f"{machine['memory_gb']} GB RAM, Python {machine['python']}, "
        f"load {machine['load_average_at_start']}"
    )
    print(
        f"boamps-etl: {args.boamps_etl}; sizes: {', '.join(f'{s:,}' for s in sizes)}; "
        f"repeat {args.repeat} (budget {args.budget_s:.0f} s per file and tool)"
    )

    version = subprocess.run(
        [args.boamps_etl, "--version"], capture_output=True, text=True
    ).stdout.strip()
    startup: dict[str, Any] = {
        "command": "boamps-etl --help",
        "median_s": None,
        "runs_s": [],
        "target_s": TARGETS["startup_s"],
    }
    if args.startup_repeat:
        with tempfile.TemporaryDirectory() as t:
            runs, _ = repeated(
                "startup",
                [args.boamps_etl, "--help"],
                Path(t),
                args,
                repeat=args.startup_repeat,
                budget_s=float("inf"),
            )
        ok = [r["wall_s"] for r in runs if r["rc"] == 0]
        startup["runs_s"] = [round(w, 4) for w in ok]
        startup["median_s"] = _median(ok) if ok else None
        startup["peak_rss_mb"] = _median([r["peak_rss_mb"] for r in runs if r["rc"] == 0])

    peers: dict[str, Any] | None = None
    ctx_json: Path | None = None
    tmp_ctx = tempfile.TemporaryDirectory()
    if not args.no_peers:
        peers = ensure_peers(args.peers_venv)
        if "skipped" in peers:
            _log(f"CodeCarbon peer skipped: {peers['skipped']}")
        else:
            _log(
                f"CodeCarbon peer: codecarbon {peers['codecarbon']} in {args.peers_venv}"
                + (f" ({peers['note']})" if peers["note"] else "")
            )
            ctx_json = _context_json(args.context, Path(tmp_ctx.name) / "context.json")

    results: list[dict[str, Any]] = []
    try:
        for rows in sizes:
            results.extend(bench_size(rows, args, peers, etl_python, ctx_json))
    finally:
        tmp_ctx.cleanup()
        for path in _REMOVE_AT_END:
            shutil.rmtree(path, ignore_errors=True)

    checks = check_targets(results, startup)
    with contextlib.suppress(OSError):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = {
        "benchmark": "boamps-etl issue 6",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
        "machine": machine,
        "boamps_etl": {"path": str(args.boamps_etl), "version": version, "python": str(etl_python)},
        "peers": peers if peers is not None else {"skipped": "--no-peers"},
        "settings": {
            "sizes": sizes,
            "repeat": args.repeat,
            "budget_s": args.budget_s,
            "timeout_s": args.timeout_s,
            "rss_limit_mb": args.rss_limit_mb,
            "seed": args.seed,
            "recipe_id": RECIPE_ID,
            "recipe": RECIPE,
            "context": str(args.context),
        },
        "targets": TARGETS,
        "startup": startup,
        "results": results,
        "target_checks": checks,
        "ok": all(e["ok"] for e in results),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }

    print()
    print(render_table(results))
    print()
    if startup["median_s"] is not None:
        print(
            f"start-up (`boamps-etl --help`, median of {len(startup['runs_s'])}): "
            f"{startup['median_s']:.3f} s"
        )
    for c in checks:
        note = f" ({c['note']})" if c.get("note") else ""
        print(f"  [{'met' if c['met'] else 'MISSED'}] {c['target']}: {c['value']}{note}")
    for e in results:
        if e.get("skipped"):
            print(f"  skipped {e['rows']:,} {e['tool']}: {e['skipped']}")
        for err in e.get("errors", []):
            print(f"  FAILED {e['rows']:,} {e['tool']}: {err}")
        if e.get("valid_sample"):
            vs = e["valid_sample"]
            print(
                f"  note: {vs['valid']}/{vs['checked']} of the first {e['tool']} reports "
                f"({e['rows']:,} rows) pass the official schema"
            )
    if peers and peers.get("note"):
        print(f"  note: {peers['note']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {args.out} ({doc['elapsed_s']} s)")
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
