"""Fuzz the CodeCarbon CSV reader (and the conversion behind it) for a bounded time.

Every input goes where a user's file goes: the reader (from bytes, and from a file on disk,
which takes the streaming path), then the mapping, the context and the validation of
``convert``. The only exceptions allowed out are :class:`boamps_etl.errors.BoampsEtlError`
subclasses (located, one-line problems); anything else is a finding, and so is an input that
takes longer than ``--timeout`` seconds or more than ``--rss-limit-mb`` of memory.

Inputs are of three kinds, chosen by the first byte, so the fuzzer gets past the header:

* raw bytes (encodings, gzip, binary junk, delimiters, quotes);
* a CodeCarbon header of any version (``bench.generate.HEADERS``) over fuzzed text rows;
* a valid generated row of any version with one cell replaced by fuzzed text.

Engines: `atheris <https://github.com/google/atheris>`_ (coverage-guided libFuzzer) when it
is installed, else a seeded random mutation loop over the same targets. Seeds are the
fixtures under ``tests/fixtures/`` (``codecarbon/``, ``bad/``, ``fuzz/``).

Usage::

    .venv/bin/pip install atheris                  # optional
    .venv/bin/python bench/fuzz_reader.py --seconds 60
    .venv/bin/python bench/fuzz_reader.py --seconds 600 --engine random --seed 7
    .venv/bin/python bench/fuzz_reader.py --replay bench/fuzz-findings/crash-...

A finding is written to ``--artifacts`` (default ``bench/fuzz-findings/``, git-ignored) as
``crash-*`` / ``timeout-*`` / ``oom-*`` and its traceback printed; keep it as a regression
fixture under ``tests/fixtures/fuzz/`` once fixed (``tests/test_bad_inputs.py`` runs them).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas  # noqa: E402,F401  - imported before instrumentation: only boamps_etl is traced

from bench.generate import HEADERS, iter_rows  # noqa: E402

SEED_DIRS = [ROOT / "tests" / "fixtures" / d for d in ("codecarbon", "bad", "fuzz")]
VARIANTS = sorted(HEADERS)
_STATE: dict[str, object] = {}


def _setup() -> None:
    """Import boamps_etl (instrumented under atheris) and load the mapping and context."""
    import boamps_etl.api as api
    from boamps_etl.errors import BoampsEtlError
    from boamps_etl.io.readers import CsvSource, read_codecarbon_csv
    from boamps_etl.pipeline import convert_table

    context = api._as_context({
        "header": {"publisher": {"name": "Fuzz", "confidentialityLevel": "public"}},
        "task": {"taskStage": "training", "taskFamily": "fuzzing",
                 "algorithms": [{"algorithmType": "llm"}],
                 "dataset": [{"dataUsage": "input", "dataType": "text"}]},
    }, ())
    tmp = Path(tempfile.mkdtemp(prefix="boamps-fuzz-"))
    _STATE.update(api=api, error=BoampsEtlError, source=CsvSource, read=read_codecarbon_csv,
                  convert=convert_table, mapping=api._as_mapping(None), context=context,
                  file=tmp / "emissions.csv", gz=tmp / "emissions.csv.gz")


@functools.cache
def _generated(variant: str, seed: int) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(c) for c in row) for row in iter_rows(variant, 2, seed=seed,
                                                                  flush=2))


def _rows(variant: str, seed: int) -> list[list[str]]:
    return [list(row) for row in _generated(variant, seed)]


def build_input(data: bytes) -> tuple[bytes, str]:
    """Turn fuzz bytes into a file's content and its name (``.csv`` or ``.csv.gz``)."""
    if not data:
        return b"", "emissions.csv"
    mode, body = data[0] % 4, data[1:]
    if mode in (0, 1):  # raw bytes; a 0x1f 0x8b start exercises the gzip paths
        return body, "emissions.csv.gz" if body[:2] == b"\x1f\x8b" else "emissions.csv"
    variant = VARIANTS[body[0] % len(VARIANTS)] if body else "v3.2.1"
    header = ",".join(HEADERS[variant])
    if mode == 2:  # a real header over fuzzed rows
        return header.encode() + b"\n" + body[1:], "emissions.csv"
    # one valid row with a cell replaced by fuzzed text (quoted when it needs to be)
    rows = _rows(variant, body[1] if len(body) > 1 else 0)
    cell = body[2:].decode("utf-8", "replace")
    column = (body[1] if len(body) > 1 else 0) % len(HEADERS[variant])
    rows[-1][column] = '"' + cell.replace('"', '""') + '"' if any(
        c in cell for c in ',"\n\r') else cell
    text = header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    return text.encode("utf-8"), "emissions.csv"


def run_one(data: bytes) -> None:
    """One fuzz input through the reader and the conversion; BoampsEtlError is expected."""
    content, name = build_input(data)
    error = _STATE["error"]
    read: Callable[..., object] = _STATE["read"]  # type: ignore[assignment]
    convert: Callable[..., object] = _STATE["convert"]  # type: ignore[assignment]
    mapping, context = _STATE["mapping"], _STATE["context"]
    with contextlib.suppress(error):  # type: ignore[arg-type]
        table = read(content, name=name)
        convert(table, mapping, context)
    path: Path = _STATE["gz" if name.endswith(".gz") else "file"]  # type: ignore[assignment]
    path.write_bytes(content)
    with contextlib.suppress(error):  # type: ignore[arg-type]
        source = _STATE["source"](path)  # type: ignore[operator]
        source.scan(group_runs=True)
        skip, groups = source.selection()
        for chunk in source.blocks(50, skip):
            convert(chunk, mapping, context, groups=groups)


def seeds() -> list[bytes]:
    """Fixture files, wrapped for each input kind."""
    out: list[bytes] = []
    for folder in SEED_DIRS:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in (".csv", ".gz", ".bin", ".txt"):
                    out.append(b"\x00" + path.read_bytes()[:65536])
    for i in range(len(VARIANTS)):
        out.append(b"\x02" + bytes([i]) + b"2024-01-01T00:00:00,1,2,3\n")
        out.append(b"\x03" + bytes([i, 4]) + b"nan")
    return out


def fuzz_atheris(seconds: int, corpus: Path, artifacts: Path, timeout: int,
                 rss_limit_mb: int, extra: list[str]) -> int:
    import atheris

    with atheris.instrument_imports(include=["boamps_etl"]):
        _setup()
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i:03d}").write_bytes(seed)
    args = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-timeout={timeout}",
            f"-rss_limit_mb={rss_limit_mb}", f"-artifact_prefix={artifacts}{os.sep}",
            "-max_len=65536", "-print_final_stats=1", *extra]
    atheris.Setup(args, run_one)
    atheris.Fuzz()  # exits the process: libFuzzer prints "Done N runs in S second(s)"
    return 0


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:  # insert interesting bytes
            buf[pos:pos] = rng.choice([b",", b";", b"\t", b'"', b"\n", b"\r", b"\r\n",
                                       b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\x1f\x8b",
                                       b"nan", b"inf", b"-1", b"1e309", b"None", b"\xe9",
                                       b"9" * 30, b"T", b"Z", b"+02:00"])
        elif op == 2 and buf:  # delete a range
            del buf[pos: pos + rng.randint(1, 16)]
        elif op == 3 and buf:  # duplicate a range
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        elif op == 4:  # splice another input
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            buf[pos:pos] = other[start: start + rng.randint(1, 256)]
        elif op == 5 and rng.random() < 0.05:  # a long run (bounded-memory paths)
            buf[pos:pos] = bytes([rng.choice(b"x,\"\n\x00")]) * rng.choice([4096, 1 << 20])
        elif op == 6 and buf:  # change the input kind
            buf[0] = rng.randrange(256)
    return bytes(buf)


def fuzz_random(seconds: int, artifacts: Path, seed: int, timeout: int) -> int:
    """Fallback engine: seeded random mutations of the seeds, for ``seconds``."""
    _setup()
    rng = random.Random(seed)
    pool = seeds()
    end = time.monotonic() + seconds
    runs = findings = 0
    while time.monotonic() < end:
        data = _mutate(rng, rng.choice(pool), pool)
        start = time.monotonic()
        try:
            run_one(data)
        except Exception:  # a finding: anything but a BoampsEtlError
            findings += 1
            artifacts.mkdir(parents=True, exist_ok=True)
            path = artifacts / f"crash-random-{seed}-{runs}"
            path.write_bytes(data)
            print(f"FINDING {path}:\n{traceback.format_exc()}", file=sys.stderr)
        if time.monotonic() - start > timeout:
            findings += 1
            artifacts.mkdir(parents=True, exist_ok=True)
            path = artifacts / f"timeout-random-{seed}-{runs}"
            path.write_bytes(data)
            print(f"FINDING {path}: took {time.monotonic() - start:.1f} s", file=sys.stderr)
        runs += 1
        if len(data) < 65536 and rng.random() < 0.02:
            pool.append(data)  # keep some mutants: deeper mutations over time
    print(f"Done {runs} runs in {seconds} second(s): {findings} finding(s)", file=sys.stderr)
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/fuzz_reader.py", description=__doc__
                                .split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    p.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto",
                   help="atheris when installed (auto), else the random mutation loop")
    p.add_argument("--corpus", type=Path, default=None,
                   help="atheris corpus folder (default: a new temporary folder)")
    p.add_argument("--artifacts", type=Path, default=ROOT / "bench" / "fuzz-findings",
                   help="where findings are written (default bench/fuzz-findings)")
    p.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    p.add_argument("--rss-limit-mb", type=int, default=3072, help="memory one run may use")
    p.add_argument("--seed", type=int, default=0, help="seed of the random engine")
    p.add_argument("--replay", type=Path, nargs="+", metavar="FILE",
                   help="run these saved inputs once (a finding's file) and stop")
    args, extra = p.parse_known_args(argv)
    if args.replay:
        _setup()
        for path in args.replay:
            run_one(path.read_bytes())  # a finding raises here, with its traceback
            print(f"{path}: no finding", file=sys.stderr)
        return 0
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "random"
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print(f"fuzzing the CSV reader with {engine} for {args.seconds} s", file=sys.stderr)
    if engine == "atheris":
        corpus = args.corpus or Path(tempfile.mkdtemp(prefix="boamps-fuzz-corpus-"))
        return fuzz_atheris(args.seconds, corpus, args.artifacts, args.timeout,
                            args.rss_limit_mb, extra)
    return fuzz_random(args.seconds, args.artifacts, args.seed, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
