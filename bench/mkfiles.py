"""The floor of one file per report: create N files of S bytes in one folder (os.open,
os.write, os.close, as the json writer does), then one syncfs, with no conversion at all.

Usage::

    python bench/mkfiles.py FOLDER [N] [SIZE] [PROCESSES]

FOLDER is created (it must not exist) and left for you to remove. Defaults: 800,000 files
(the runs of the 1,000,000-row benchmark file) of 2,162 bytes (the median size of its
reports), one process.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time


def make(folder: str, lo: int, hi: int, data: bytes) -> None:
    for i in range(lo, hi):
        fd = os.open(f"{folder}/r{i:08d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    folder = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 800_000
    size = int(argv[2]) if len(argv) > 2 else 2_162
    procs = int(argv[3]) if len(argv) > 3 else 1
    os.makedirs(folder)
    data = b"x" * size
    start = time.perf_counter()
    pids = []
    for k in range(procs):
        pid = os.fork()
        if pid == 0:
            make(folder, k * n // procs, (k + 1) * n // procs, data)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    made = time.perf_counter()
    fd = os.open(folder, os.O_RDONLY)
    try:
        ctypes.CDLL(None, use_errno=True).syncfs(fd)
    finally:
        os.close(fd)
    end = time.perf_counter()
    print(f"{n:,} files of {size:,} B, {procs} process(es): created in {made - start:.1f} s, "
          f"syncfs {end - made:.1f} s, {end - start:.1f} s in all = {n / (end - start):,.0f} "
          "files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
