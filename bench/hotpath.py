"""Profile the conversion hot path on one CSV, in this process.

    .venv/bin/python bench/hotpath.py bench/data/codecarbon_100000_mix1_s6.csv
    .venv/bin/python bench/hotpath.py FILE --reference      # the row-by-row pipeline
    .venv/bin/python bench/hotpath.py FILE --profile        # and the top functions

Prints the wall time of each phase (check pass, reading, converting) for the path
``convert`` takes with ``--format jsonl -j 1`` (output to /dev/null), and with
``--profile`` the functions that take the most time (cProfile, by own time; the
profiler roughly doubles the times). The numbers in bench/README.md come from it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--context", type=Path, default=ROOT / "bench" / "context.yaml")
    parser.add_argument("--reference", action="store_true",
                        help="profile the row-by-row pipeline instead of the fast path")
    parser.add_argument("--profile", action="store_true", help="also run cProfile")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)

    from boamps_etl.api import (
        ConvertSummary,
        _convert_reference,
        _Duplicates,
        as_context,
        as_mapping,
    )
    from boamps_etl.engine.convert import Converter
    from boamps_etl.engine.scan import prepare
    from boamps_etl.io.readers import CsvSource
    from boamps_etl.io.writers import StreamWriter

    mapping, context = as_mapping(None), as_context(args.context, ())
    out = Path("/dev/null")
    profile = cProfile.Profile() if args.profile else _NoProfile()
    phases: dict[str, float] = {}
    start = time.perf_counter()
    source = CsvSource(args.csv)
    if args.reference:
        source.scan()
        phases["check pass (scan)"] = time.perf_counter() - start
        writer = StreamWriter(out, "jsonl", force=True)
        t = time.perf_counter()
        profile.enable()
        _convert_reference(source, mapping, context, False, False, 5000, writer,
                           ConvertSummary(), _Duplicates(False))
        profile.disable()
        phases["read + convert + write"] = time.perf_counter() - t
        rows = source.records
    else:
        ff = prepare(source)
        if ff is None:
            print("this file takes the reference path; use --reference", file=sys.stderr)
            return 1
        phases["check pass (bytes, run_id)"] = time.perf_counter() - start
        converter = Converter(ff, mapping, context, False)
        read = convert = 0.0
        blocks = converter.blocks()
        with open(out, "wb") as sink:
            while True:
                t = time.perf_counter()
                try:
                    batch, rows_of = next(blocks)
                except StopIteration:
                    break
                t2 = time.perf_counter()
                profile.enable()
                block = converter.convert(batch, rows_of)
                profile.disable()
                t3 = time.perf_counter()
                sink.write(block.data)
                read += t2 - t
                convert += t3 - t2
        phases["reading (Arrow)"] = read
        phases["converting"] = convert
        rows = ff.rows
    total = time.perf_counter() - start
    print(f"{args.csv}: {rows:,} rows, {total:.2f} s, {rows / total:,.0f} rows/s")
    for name, seconds in phases.items():
        print(f"  {name:<28} {seconds:7.2f} s  {seconds / rows * 1e6:6.1f} us/row")
    if args.profile:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.top)
        print(text.getvalue())
    return 0


class _NoProfile:
    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
