"""Large files in a batch: streamed block by block, in bounded memory, with the same bytes
as a file read whole (boamps_etl.batch.stream)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import V321_HEADER, v321_row, write_csv

from boamps_etl import batch
from boamps_etl.batch import convert as batch_convert
from boamps_etl.batch import convert_tree
from boamps_etl.batch.manifest import ManifestEntry, SeenReports, SpoolList
from boamps_etl.batch.state import PARTS_FOLDER
from boamps_etl.execute.local import LocalPoolExecutor
from boamps_etl.io import staging

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "public"
CONTEXT = ROOT / "bench" / "context.yaml"


def outputs(out: Path) -> dict[str, bytes]:
    """Every file a user sees (not the state, its parts or work files)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != batch.STATE_NAME
            and PARTS_FOLDER not in p.relative_to(out).parts}


def no_debris(out: Path) -> None:
    assert [p for p in out.rglob("*") if staging.is_work_name(p.name)] == []


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every local CodeCarbon file is streamed, however small."""
    monkeypatch.setattr(batch_convert, "STREAM_BYTES", -1)


def both(tree: Path | list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         split: bool = False, **kwargs: object
         ) -> tuple[batch.BatchResult, batch.BatchResult]:
    whole = convert_tree(tree, tmp_path / "whole", **kwargs)  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setattr(batch_convert, "STREAM_BYTES", -1)
        if split:  # every file split between the workers, in blocks of 2 rows
            m.setattr(batch_convert, "SPLIT_BYTES", -1)
            m.setattr(batch_convert, "STREAM_BLOCK_ROWS", 2)
        streamed = convert_tree(tree, tmp_path / "streamed", **kwargs)  # type: ignore[arg-type]
    return whole, streamed


def same(whole: batch.BatchResult, streamed: batch.BatchResult) -> None:
    a, b = Path(whole.out), Path(streamed.out)
    assert outputs(a) == outputs(b)
    assert (a / "manifest.csv").read_text().splitlines() == \
        (b / "manifest.csv").read_text().splitlines()
    assert [e.to_state() for e in whole.entries] == [e.to_state() for e in streamed.entries]
    assert (whole.counts, whole.rows, whole.files) == (streamed.counts, streamed.rows,
                                                      streamed.files)
    no_debris(b)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_fixtures_streamed_give_the_same_bytes(tmp_path: Path, fmt: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    whole, streamed = both(FIXTURES, tmp_path, monkeypatch, format=fmt,
                           contexts=[CONTEXT])
    assert whole.counts["valid"] > 5 and whole.counts["error"] > 0
    same(whole, streamed)
    assert (Path(streamed.out) / PARTS_FOLDER).is_dir()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not here")
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_corpus_streamed_gives_the_same_bytes(tmp_path: Path, fmt: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    same(*both(CORPUS, tmp_path, monkeypatch, format=fmt, contexts=[CONTEXT], jobs=2))


def duplicates_tree(base: Path) -> Path:
    """Copies across files and folders, same-named reports, a misaligned row."""
    root = base / "runs"
    for sub in "abc":
        (root / sub).mkdir(parents=True)
    rows = [v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{i:012d}", duration=str(10 + i))
            for i in range(30)]
    write_csv(root / "a/emissions.csv", *rows[:20])
    write_csv(root / "a/emissions.csv.bak", *rows[10:25])  # half are copies
    write_csv(root / "b/emissions.csv", *rows[5:30], rows[0])
    bad = root / "c/emissions.csv"
    write_csv(bad, *rows[:3])
    bad.write_text(bad.read_text() + "1,2,3\n" + rows[29] + "\n")
    return root


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_duplicates_and_problems_streamed(tmp_path: Path, fmt: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tree = duplicates_tree(tmp_path)
    whole, streamed = both(tree, tmp_path, monkeypatch, format=fmt, contexts=[CONTEXT],
                           jobs=2)
    assert whole.counts["duplicate"] > 10 and whole.counts["error"] == 1
    same(whole, streamed)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_split_between_workers_gives_the_same_bytes(tmp_path: Path, fmt: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tree = duplicates_tree(tmp_path)
    shutil.copytree(FIXTURES / "codecarbon", tree / "fixtures")
    whole, streamed = both(tree, tmp_path, monkeypatch, split=True, format=fmt,
                           contexts=[CONTEXT], jobs=3)
    assert whole.counts["duplicate"] > 10
    same(whole, streamed)


@pytest.fixture
def small_engine_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The column-wise engine reads a few KB at a time and converts a few rows per block:
    the fixtures' files span several blocks, shared out between the workers."""
    from boamps_etl.engine import convert as engine_convert
    from boamps_etl.engine import scan

    monkeypatch.setattr(scan, "READ_BYTES", 2048)
    monkeypatch.setattr(engine_convert, "BLOCK_ROWS", 3)


def reference_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files batch converts with the reference pipeline (in this process: -j 1); the
    engine's own fallback for rows it does not vouch for is not counted."""
    from boamps_etl import pipeline

    names: list[str] = []
    original = pipeline.convert_table

    def counted(table: object, *args: object, **kwargs: object) -> object:
        names.append(str(getattr(table, "name", "")))
        return original(table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "convert_table", counted)
    return names


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_large_clean_files_take_the_engine(tmp_path: Path, fmt: str, streamed: None,
                                          small_engine_blocks: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """batch converts a large clean CodeCarbon file as convert_to does, column-wise; its
    outputs and manifest are those of the reference pipeline, block by block."""
    tree = duplicates_tree(tmp_path)
    shutil.copytree(FIXTURES / "codecarbon", tree / "fixtures")
    calls = reference_calls(monkeypatch)
    engine = convert_tree(tree, tmp_path / "engine", format=fmt, contexts=[CONTEXT])
    engine_calls = set(calls)
    calls.clear()
    reference = convert_tree(tree, tmp_path / "reference", format=fmt, contexts=[CONTEXT],
                             fast_path=False)
    assert "a/emissions.csv" in set(calls) and "a/emissions.csv" not in engine_calls
    assert "c/emissions.csv" in engine_calls  # a misaligned row: the reference reads it
    assert engine.counts["duplicate"] > 10 and engine.counts["valid"] > 20
    same(reference, engine)


@pytest.mark.parametrize("options", [{"per_row": True, "contexts": [CONTEXT]},
                                     {"allow_incomplete": True}])  # no context: drafts
def test_engine_and_reference_agree_on_options(tmp_path: Path, streamed: None,
                                               small_engine_blocks: None,
                                               options: dict[str, Any]) -> None:
    tree = duplicates_tree(tmp_path)
    shutil.copytree(FIXTURES / "codecarbon", tree / "fixtures")
    engine = convert_tree(tree, tmp_path / "engine", **options)
    reference = convert_tree(tree, tmp_path / "reference", fast_path=False, **options)
    assert engine.counts["valid"] + engine.counts["incomplete"] > 20
    if options.get("allow_incomplete"):
        assert engine.counts["incomplete"] > 20 and engine.counts["valid"] == 0
    same(reference, engine)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_engine_blocks_split_between_workers(tmp_path: Path, fmt: str,
                                             small_engine_blocks: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tree = duplicates_tree(tmp_path)
    shutil.copytree(FIXTURES / "codecarbon", tree / "fixtures")
    whole, streamed = both(tree, tmp_path, monkeypatch, split=True, format=fmt,
                           contexts=[CONTEXT], jobs=3)
    same(whole, streamed)


@pytest.mark.parametrize("flush", [1, 3])
def test_rows_of_each_run_as_the_reference_reader_finds_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flush: int) -> None:
    """engine.scan.prepare(run_groups=True), in memory and bucket by bucket on disk, gives
    the rows of each run that CsvSource.selection gives: the manifest's rows column."""
    from bench.generate import write_csv as generate
    from boamps_etl.engine import scan
    from boamps_etl.io.readers import CsvSource

    path = tmp_path / "emissions.csv"
    generate(path, rows=3000, variant="mixed", seed=5, flush=flush)
    reference = CsvSource(path, name="e")
    reference.scan(group_runs=True)
    expected = reference.selection()[1]
    ff = scan.prepare(CsvSource(path, name="e"), run_groups=True)
    assert ff is not None
    assert ff.groups == expected
    monkeypatch.setattr(scan, "KEEP_BUCKET_BYTES", 1 << 14)  # about 100 buckets
    monkeypatch.setattr(scan, "MAX_PART_BYTES", 1 << 18)  # and 6 files of run_ids
    spill = tmp_path / "spill"
    bucketed = scan.prepare(CsvSource(path, name="e"), spill=spill, run_groups=True)
    assert bucketed is not None and len(bucketed.ranges) > 3
    assert bucketed.groups == expected
    assert (bucketed.keep == ff.keep).all()
    assert list(spill.iterdir()) == []
    if flush > 1:
        assert len(expected) > 100 and max(map(len, expected.values())) >= 3


def test_streamed_folders_resume_and_reconvert(tmp_path: Path, streamed: None) -> None:
    tree = duplicates_tree(tmp_path)
    out = tmp_path / "out"
    first = convert_tree(tree, out, contexts=[CONTEXT])
    before = outputs(out)
    parts = sorted((out / PARTS_FOLDER).iterdir())
    assert len(parts) == 3
    second = convert_tree(tree, out, contexts=[CONTEXT])
    assert (second.converted, second.unchanged, list(second.written)) == (0, 4, [])
    assert outputs(out) == before
    assert [e.to_state() for e in first.entries] == [e.to_state() for e in second.entries]
    # the first copies go: the folder of the later ones is converted again and writes them
    rows = [v321_row(run_id=f"aaaaaaaa-0000-4000-8000-{i:012d}", duration=str(10 + i))
            for i in range(5)]
    write_csv(tree / "a/emissions.csv", *rows)
    third = convert_tree(tree, out, contexts=[CONTEXT])
    assert (third.converted, third.unchanged) == (3, 1)  # c still has the same copies
    fresh = convert_tree(tree, tmp_path / "fresh", contexts=[CONTEXT])
    assert outputs(out) == outputs(tmp_path / "fresh")
    assert [e.to_state() for e in third.entries] == [e.to_state() for e in fresh.entries]
    assert len(list((out / PARTS_FOLDER).iterdir())) == 3  # the old parts are gone
    # a damaged output is written again
    victim = next((out / "b").glob("*.json"))
    victim.write_text("{}")
    fourth = convert_tree(tree, out, contexts=[CONTEXT])
    assert fourth.converted == 1 and victim in fourth.written
    assert outputs(out) == outputs(tmp_path / "fresh")


def test_fail_fast_stops_after_a_streamed_folder(tmp_path: Path, streamed: None) -> None:
    tree = duplicates_tree(tmp_path)
    result = convert_tree(tree, tmp_path / "out", fail_fast=True, jobs=2)  # no context
    assert result.stopped and {e.source.split("/")[0] for e in result.entries} == {"a"}
    no_debris(tmp_path / "out")


def test_seen_reports_and_spool_list() -> None:
    seen = SeenReports()
    seen.add("x", "a/emissions.csv row 7")
    seen.add("y", "b/emissions.csv row ")
    seen.add("x", "c/emissions.csv row 9")  # the first stays
    assert (seen.get("x"), seen.get("y"), seen.get("z")) == (
        "a/emissions.csv row 7", "b/emissions.csv row ", None)
    items = SpoolList[int]()
    items.IN_MEMORY = 3
    items.extend(range(2500))
    assert len(items) == 2500 and list(items) == list(range(2500))
    assert items[1] == 1 and items[2400] == 2400 and items == list(range(2500))
    assert SpoolList[int]() == []
    # read while it grows: each pass sees what was there when it began
    grown = SpoolList[int]()
    grown.IN_MEMORY, grown.SPILL_EVERY = 2, 3
    seen = []
    for i in range(20):
        grown.append(i)
        seen.append(list(grown))
        for j, item in enumerate(grown):  # appended during the pass: not read by it
            if j == 0:
                grown.append(100 + i)
            assert item < 100 + i
    assert seen[0] == [0] and seen[5] == [0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5]
    assert list(grown) == [x for i in range(20) for x in (i, 100 + i)]


# --------------------------------------------------------------------------- memory


def generate(path: Path, rows: int, seed: int) -> None:
    """A CodeCarbon 3.2.1 file of ``rows`` generated rows (bench/generate.py)."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.generate import write_csv
    finally:
        sys.path.remove(str(ROOT))
    write_csv(path, rows, seed=seed)


def peak_rss_of_batch(tmp_path: Path, rows: int) -> int:
    """Peak RSS (bytes) of the largest process of a ``boamps-etl batch -j 2 --format
    jsonl`` (:data:`SHRUNK`) over one generated file of ``rows`` rows and a few small ones
    (jsonl: a json file per report would make the test a measure of the disk)."""
    tree = tmp_path / f"tree{rows}"
    (tree / "big").mkdir(parents=True)
    generate(tree / "big" / "emissions.csv", rows, seed=1)
    for i in range(20):
        (tree / f"small{i:02d}").mkdir(parents=True)
        write_csv(tree / f"small{i:02d}" / "emissions.csv",
                  v321_row(run_id=f"bbbbbbbb-0000-4000-8000-{i:012d}"))
    script = ("import resource, subprocess, sys\n"
              "subprocess.run(sys.argv[1:], check=True)\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", script, sys.executable, "-c", SHRUNK,
                           "batch", str(tree),
                           "-o", str(tmp_path / f"out{rows}"), "-c", str(CONTEXT),
                           "-j", "2", "-q", "--format", "jsonl"],
                          capture_output=True, text=True, check=True)
    out = tmp_path / f"out{rows}"
    with open(out / "manifest.csv", encoding="utf-8", newline="") as fh:
        assert sum(1 for r in csv.DictReader(fh) if r["status"] == "valid") == rows + 20
    no_debris(out)
    return int(done.stdout.split()[-1]) * 1024  # KiB on Linux


#: The batch command with the engine's bounded buffers made small (Arrow parses 64 KB at a
#: time, and reads up to about 40 of those ahead; the run_ids of at most 1 MB of CSV are
#: held at once, see ``engine.scan.KEEP_BUCKET_BYTES``), so that both files of the test are
#: far past them: what grows from one to the other is then what grows with the rows. With
#: the defaults (1 MB, 64 MB), those buffers still fill up to about 130,000 rows (the
#: largest process measured 320 MB at 40,000 rows, 339 to 367 MB at 120,000).
SHRUNK = ("import sys\n"
          "from boamps_etl.engine import scan\n"
          "scan.READ_BYTES, scan.KEEP_BUCKET_BYTES = 1 << 16, 1 << 20\n"
          "from boamps_etl.cli.main import main\n"
          "sys.argv[0] = 'boamps-etl'\n"
          "main()\n")

#: Rows of the two generated files compared (BOAMPS_BATCH_RSS_ROWS=50000,200000 for the
#: sizes of the performance notes; the default keeps the suite quick).
RSS_ROWS = [int(x) for x in os.environ.get("BOAMPS_BATCH_RSS_ROWS", "40000,120000").split(",")]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB: Linux")
def test_memory_stays_bounded_whatever_the_rows(tmp_path: Path) -> None:
    small, large = (peak_rss_of_batch(tmp_path, rows) for rows in RSS_ROWS)
    assert large < 500 * 2**20
    # three times the rows: the largest process (a worker) grows by far less than its
    # reports would take in memory (the former batch: several KB each). Measured with the
    # buffers of SHRUNK, three runs: 286/293/295 MB at 40,000 rows, 296/318/322 MB at
    # 120,000 (the allocators' arenas vary by some 25 MB from run to run).
    assert large - small < 64 * 2**20, (small, large)


def test_header_only_and_empty_large_files(tmp_path: Path, streamed: None) -> None:
    tree = tmp_path / "runs"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "emissions.csv").write_text(V321_HEADER + "\n")
    (tree / "a" / "emissions.csv.bak").write_text("")
    result = convert_tree(tree, tmp_path / "out")
    assert [e.status for e in result.entries] == ["skipped", "error"]


class _Timed(LocalPoolExecutor):
    """The local pool, noting when each task it ran was done."""

    def __init__(self, jobs: int) -> None:
        super().__init__(jobs, batch_convert.warm_up, batch_convert.worker_init)
        self.done: list[float] = []

    def submit(self, fn: Any, *args: Any) -> Any:
        future = super().submit(fn, *args)
        future.add_done_callback(lambda _: self.done.append(time.monotonic()))
        return future


def test_workers_go_on_while_a_large_file_is_written(tmp_path: Path) -> None:
    """While the loop writes a large file's reports (it takes no other result meanwhile),
    the workers convert the next folders, beyond the usual window of tasks in flight."""
    tree = tmp_path / "runs"
    (tree / "a").mkdir(parents=True)
    generate(tree / "a" / "emissions.csv", 30_000, seed=3)  # streamed, not split
    assert (tree / "a" / "emissions.csv").stat().st_size < batch_convert.SPLIT_BYTES
    for i in range(400):
        (tree / f"b{i:03d}").mkdir()
        write_csv(tree / f"b{i:03d}" / "emissions.csv",
                  v321_row(run_id=f"cccccccc-0000-4000-8000-{i:012d}"))
    written: list[float] = []

    def progress(p: batch.BatchProgress) -> None:
        if p.current == "a" and not written:
            written.append(time.monotonic())

    pool = _Timed(2)
    try:
        result = convert_tree(tree, tmp_path / "out", contexts=[CONTEXT], format="jsonl",
                              jobs=2, executor=pool, progress=progress)
    finally:
        pool.close()
    assert sum(e.status == "valid" for e in result.entries) == 30_000 + 400
    # the small folders done before the large file's reports were all written: far more
    # than the window of tasks in flight (64)
    before = sum(1 for t in pool.done if t < written[0])
    assert before > 2 * 64, (before, len(pool.done))


def test_lines_rendered_by_the_worker_are_used_only_as_rendered(tmp_path: Path) -> None:
    """A streamed report's part-file and manifest lines are rendered in its worker for
    the usual outcome; the loop uses them only while the line is still that outcome."""
    from boamps_etl.batch.manifest import part_line, render_manifest

    def entry() -> ManifestEntry:
        return ManifestEntry("a/emissions.csv", (2, 3), "r1", "id1", "valid", None, [],
                             "ab" * 32, base_status="valid", level="L2",
                             tracker="codecarbon")

    usual = entry()
    usual.render("a/boamps-reports.jsonl")
    assert usual.fresh() is not None
    assert usual.fresh()[1] == part_line(["e", usual.to_state()])  # type: ignore[index]
    plain = entry()
    plain.output = "a/boamps-reports.jsonl"
    assert render_manifest([usual]) == render_manifest([plain])
    duplicate = entry()
    duplicate.render("a/boamps-reports.jsonl")
    duplicate.status, duplicate.duplicate_of = "duplicate", "b/emissions.csv row 4"
    assert duplicate.fresh() is None
    assert "same report as b/emissions.csv row 4" in render_manifest([duplicate])
    renamed = entry()
    renamed.render("a/id1.json")
    renamed.output = "a/id1-2.json"  # the second report of that name
    assert renamed.fresh() is None and "a/id1-2.json" in render_manifest([renamed])
    # pickled with the line (spools, the manifest lines past the first 2,000)
    import pickle
    assert pickle.loads(pickle.dumps(usual)).fresh() == usual.fresh()


class _Held:
    """A task's future that is not done, and gives no result, until ``begun()``: the loop
    must go on without it (a deadline turns waiting for it into a failure)."""

    def __init__(self, future: Any, begun: Any) -> None:
        self.future, self.begun, self.asked = future, begun, 0

    def done(self) -> bool:
        return bool(self.future.done() and self.begun())

    def _hold(self) -> None:
        self.asked += 1
        deadline = time.monotonic() + 60
        while not self.begun():
            assert time.monotonic() < deadline, "the loop waited for a share to be done"
            time.sleep(0.01)

    def result(self, timeout: float | None = None) -> Any:
        self._hold()
        return self.future.result()

    def exception(self, timeout: float | None = None) -> Any:
        self._hold()
        return self.future.exception()

    def cancel(self) -> bool:
        return bool(self.future.cancel())

    def add_done_callback(self, fn: Any) -> None:
        self.future.add_done_callback(lambda _: fn(self))


def test_split_files_are_read_as_their_spools_grow(tmp_path: Path) -> None:
    """A file split between the workers and converted by the engine: the loop writes its
    reports as the workers spool them, not once they are done (the shares' tasks are
    made to look unfinished until the folder's output file is begun); the same bytes as
    ``-j 1``."""
    tree = tmp_path / "runs"
    (tree / "a").mkdir(parents=True)
    generate(tree / "a" / "emissions.csv", 40_000, seed=4)
    assert (tree / "a" / "emissions.csv").stat().st_size > batch_convert.SPLIT_BYTES
    out = tmp_path / "out"

    def begun() -> bool:  # the folder's output: its work file, or the file itself
        return (out / "a").is_dir() and any(
            staging.is_work_name(p.name) or p.name.startswith("boamps-reports")
            for p in (out / "a").iterdir())

    pool = _Timed(2)
    original = pool.submit
    held: list[_Held] = []

    def submit(fn: Any, *args: Any) -> Any:
        held.append(_Held(original(fn, *args), begun))
        return held[-1]

    pool.submit = submit  # type: ignore[method-assign]
    try:
        result = convert_tree(tree, out, contexts=[CONTEXT], format="jsonl", jobs=2,
                              executor=pool)
    finally:
        pool.close()
    assert len(held) >= 2  # the file's two shares (and the listing)
    whole = convert_tree(tree, tmp_path / "whole", contexts=[CONTEXT], format="jsonl")
    assert outputs(out) == outputs(tmp_path / "whole")
    assert [e.as_row() for e in result.entries] == [e.as_row() for e in whole.entries]
    no_debris(out)


def test_a_rerun_that_changed_nothing_does_not_write_all_jsonl_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``all.jsonl`` is compared with the folders' files where it is; it is written again
    (to a work file, then compared) only when they differ."""
    from boamps_etl.batch import stream

    tree = tmp_path / "runs"
    for i in range(5):
        (tree / f"f{i}").mkdir(parents=True)
        write_csv(tree / f"f{i}" / "emissions.csv",
                  v321_row(run_id=f"eeeeeeee-0000-4000-8000-{i:012d}"))
    out = tmp_path / "out"
    convert_tree(tree, out, contexts=[CONTEXT], format="jsonl")
    whole = out / f"{batch.ALL_OUTPUT}.jsonl"
    before = whole.stat()
    made: list[Path] = []
    init = stream._HashedFile.__init__

    def noted(self: Any, folder: Path, suffix: str = "") -> None:
        made.append(Path(folder))
        init(self, folder, suffix)

    monkeypatch.setattr(stream._HashedFile, "__init__", noted)
    again = convert_tree(tree, out, contexts=[CONTEXT], format="jsonl")
    assert again.written == [] and len(made) == 1  # the manifest's work file only
    assert (whole.stat().st_ino, whole.stat().st_mtime_ns) == (before.st_ino,
                                                               before.st_mtime_ns)
    write_csv(tree / "f4" / "emissions.csv",
              v321_row(run_id="eeeeeeee-0000-4000-8000-999999999999"))
    changed = convert_tree(tree, out, contexts=[CONTEXT], format="jsonl")
    assert whole in changed.written
    assert whole.read_bytes() == b"".join(
        (out / f"f{i}" / f"{batch.FOLDER_OUTPUT}.jsonl").read_bytes() for i in range(5))
    no_debris(out)
