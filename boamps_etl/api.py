"""The public library API; the command line only calls these functions.

>>> import boamps_etl as be
>>> result = be.convert("emissions.csv", context="boamps.yaml")  # doctest: +SKIP
>>> result.valid[0].document["measures"][0]["powerConsumption"]   # doctest: +SKIP
>>> be.to_frame(result)                                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .codecarbon import REQUIRED_COLUMNS, TEXT_COLUMNS, file_kind
from .context import Context, load_context
from .engine.convert import convert_file
from .engine.parallel import Runner
from .engine.scan import FastFile, engine_maps, open_source, release
from .errors import InputError, Issue, Location, UsageError
from .flatten import flatten, unflatten
from .io.readers import ROW_COLUMN, CsvSource, CsvTable, read_codecarbon_csv, read_url
from .io.spool import Spool
from .io.storage import as_path, is_url
from .io.writers import Format, StreamWriter, staging_folder, write_reports
from .jobs import resolve_jobs
from .levels import count_levels
from .mapping import FieldMapping, load_mapping
from .pipeline import ConversionResult, ConvertedReport, convert_blocks, convert_table
from .validate import validate_report

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]
ContextLike = PathLike | Mapping[str, Any] | Context
Reports = ConversionResult | Iterable[ConvertedReport] | Iterable[Mapping[str, Any]]


def read_csv(path: PathLike, *, numeric: bool = True) -> pd.DataFrame:
    """Read a CodeCarbon CSV (any version, ``.csv`` or ``.csv.gz``) into a DataFrame.

    Args:
        path: the CSV file.
        numeric: parse the numeric CodeCarbon columns as floats (for analysis); with
            ``False`` every cell stays the text CodeCarbon wrote.

    The ``__row__`` column holds each row's spreadsheet row number (header = 1). Rows that
    do not fit the header are left out (``convert`` reports them).

    Raises:
        InputError: the file is empty, binary, or not a CodeCarbon CSV.
    """
    import pandas as pd

    table = read_codecarbon_csv(path)
    frame = table.frame
    if numeric:
        for col in table.columns:
            if col not in TEXT_COLUMNS and col in frame.columns:
                converted = pd.to_numeric(frame[col].replace("", None), errors="coerce")
                if converted.notna().sum() >= frame[col].replace("", None).notna().sum():
                    frame[col] = converted
    out: pd.DataFrame = frame
    return out


def as_context(context: ContextLike | Sequence[ContextLike] | None,
               sets: Iterable[str]) -> Context:
    """One :class:`Context` from context files, dicts or contexts (later ones win), then
    ``--set`` items."""
    items: list[ContextLike]
    if context is None:
        items = []
    elif isinstance(context, str | os.PathLike | Mapping | Context):
        items = [context]
    else:
        items = list(context)
    layers = []
    for item in items:
        if isinstance(item, Context):
            layers.extend(item.layers)
        elif isinstance(item, Mapping):
            layers.extend(load_context(data=[item]).layers)
        else:
            layers.extend(load_context([as_path(item)]).layers)
    layers.extend(load_context(sets=sets).layers)
    return Context(layers)


def as_mapping(mapping: PathLike | FieldMapping | None, base: str = "codecarbon"
               ) -> FieldMapping:
    """A loaded mapping, from a path or URL, or the built-in one of tracker ``base``."""
    if isinstance(mapping, FieldMapping):
        return mapping
    return load_mapping(None if mapping is None else as_path(mapping), base=base)


class _Mappings:
    """The mapping each tracker's files are converted with: the user's mapping for the
    tracker it extends, the tracker's built-in one otherwise (loaded once)."""

    def __init__(self, mapping: PathLike | FieldMapping | None):
        self._given = mapping
        self._loaded: dict[str, FieldMapping] = {}

    def __call__(self, tracker: str) -> FieldMapping:
        if tracker not in self._loaded:
            given = self._given
            if isinstance(given, FieldMapping):
                # A loaded mapping serves the tracker it was made for (its built-in base).
                self._loaded[tracker] = given if given.base in (tracker, None) else \
                    load_mapping(None, base=tracker)
            else:
                loaded = as_mapping(given, tracker)
                # A mapping extending another tracker's built-in one is not for this one.
                self._loaded[tracker] = loaded if loaded.base in (tracker, None) else \
                    load_mapping(None, base=tracker)
        return self._loaded[tracker]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return str(value.isoformat())
    text = str(value)
    return "" if text in ("nan", "NaT", "<NA>") else text


def _is_frame(value: object) -> TypeGuard[pd.DataFrame]:
    return hasattr(value, "columns") and hasattr(value, "iloc")


def table_from_frame(frame: pd.DataFrame, name: str = "<dataframe>") -> CsvTable:
    """Wrap a DataFrame of CodeCarbon rows (text or numbers) as a readable table."""
    import pandas as pd

    columns = [str(c) for c in frame.columns if str(c) != ROW_COLUMN]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"is not CodeCarbon data: missing column(s) {', '.join(missing)}",
                         Location(name))
    text = pd.DataFrame({c: [_cell_text(v).strip() for v in frame[c].tolist()]
                         for c in columns}, dtype=object)
    if ROW_COLUMN in frame.columns:
        text[ROW_COLUMN] = [int(v) for v in frame[ROW_COLUMN].tolist()]
    else:
        text[ROW_COLUMN] = list(range(2, len(frame) + 2))
    return CsvTable(name, text, columns, file_kind(columns), [], len(frame))


def convert(source: PathLike | pd.DataFrame | Sequence[PathLike], *,
            context: ContextLike | Sequence[ContextLike] | None = None,
            sets: Iterable[str] = (),
            mapping: PathLike | FieldMapping | None = None,
            per_row: bool = False,
            allow_incomplete: bool = False,
            tracker: str | None = None) -> ConversionResult:
    """Convert trackers' files (paths) or a DataFrame into validated BoAmps reports.

    Each file's tracker (CodeCarbon, eco2ai, carbontracker, Zeus, perun, optimum-benchmark,
    AI Energy Score) is recognised from its content, and converted with that tracker's
    mapping (``mappings/<tracker>.yaml``).

    Args:
        source: a file path, several paths, or a DataFrame (e.g. from :func:`read_csv`).
        context: context file path(s) or dict(s) with what CodeCarbon cannot know (task,
            algorithms, dataset, publisher...); later ones override earlier ones.
        sets: ``PATH=VALUE`` strings (``task.taskStage=inference``) that win over all.
        mapping: a mapping file (extends the tracker's built-in one) or a loaded mapping.
        per_row: one report per row instead of one per run_id.
        allow_incomplete: mark reports that only miss required fields as ``draft``
            (their status stays 'incomplete'; :meth:`ConversionResult.writable` keeps them).
        tracker: read every file as this tracker's (``'eco2ai'``...) instead of
            recognising it; a DataFrame is CodeCarbon's unless told.

    Returns:
        A :class:`ConversionResult`: reports with status and located issues, plus the
        problems (misaligned rows...) that produced no report.

    Raises:
        InputError, MappingError, ContextError: a file cannot be used at all.

    >>> result = convert("tests/fixtures/codecarbon/v3.2.1.csv",
    ...                  sets=["task.taskStage=training"])  # doctest: +SKIP
    """
    from .trackers import get_tracker, read_table

    forced = get_tracker(tracker) if tracker is not None else None
    mappings = _Mappings(mapping)
    mappings(forced.name if forced is not None else "codecarbon")  # a bad mapping: at once
    the_context = as_context(context, sets)
    result = ConversionResult()
    if _is_frame(source):
        if forced is not None and forced.name != "codecarbon":
            raise UsageError("a DataFrame is read as CodeCarbon rows; convert the "
                             f"{forced.title} file itself")
        tables = [("codecarbon", table_from_frame(source))]
    else:
        items = [source] if isinstance(source, str | os.PathLike) else list(source)
        paths: list[PathLike] = []
        for item in items:
            if not isinstance(item, str | os.PathLike):
                raise UsageError(f"convert() takes CSV paths or a DataFrame, not {item!r}")
            paths.append(item)
        tables = []
        with Spool() as spool:  # stdin and FIFOs are read through twice
            for p in paths:
                real, label = spool.path(p)
                found, table = read_table(real, forced, label)
                tables.append((found.name, table))
    seen = _Duplicates(len(tables) > 1)
    for name, table in tables:
        part = convert_table(table, mappings(name), the_context, per_row=per_row,
                             allow_incomplete=allow_incomplete)
        seen.start(table.name)
        for report in part.reports:
            report.tracker = name
            first = seen.first(report.report_id)
            if first is not None:  # kept (the result holds every report), but said
                part.issues.append(seen.issue(first, report.row, written=False))
        result.extend(part)
    return result


@dataclass
class ConvertSummary:
    """What :func:`convert_to` did: counts, problems, files written (no reports kept)."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("valid", "incomplete", "invalid"), 0))
    levels: dict[str, int] = field(default_factory=lambda: count_levels(()))
    issues: list[Issue] = field(default_factory=list)
    written: Sequence[Path] = field(default_factory=list)
    reports_written: int = 0
    row_errors: int = 0  # rows that gave no report (misaligned, cut off)
    engine_rows: int = 0  # rows read by the column-wise engine (boamps_etl.engine)
    duplicates: int = 0  # reports an earlier input already gave (same reportId): not written

    @property
    def reports(self) -> int:
        return sum(self.counts.values())

    def failed(self, allow_incomplete: bool = False) -> bool:
        """True when some report is invalid (or incomplete, unless allowed) or a row
        could not be read."""
        bad = self.counts["invalid"] + (0 if allow_incomplete else self.counts["incomplete"])
        return bool(bad or self.row_errors)


def convert_to(inputs: PathLike | Sequence[PathLike], out: PathLike, format: Format = "json",
               *, context: ContextLike | Sequence[ContextLike] | None = None,
               sets: Iterable[str] = (), mapping: PathLike | FieldMapping | None = None,
               per_row: bool = False, allow_incomplete: bool = False, force: bool = False,
               block_rows: int = 5_000, fast_path: bool = True,
               jobs: int | None = None, tracker: str | None = None,
               chunk_rows: int | None = None) -> ConvertSummary:
    """Convert trackers' files straight to an output, streaming: memory stays bounded
    whatever the size of a CodeCarbon CSV (other trackers' files are small and read whole).

    Every input is checked first (readable, CodeCarbon's, every row's shape), so an input
    error raises before anything is written. Rows are then converted block by block and the
    valid reports (and incomplete drafts with ``allow_incomplete``) written; the outputs
    appear, atomically, when all is done. Arguments are those of :func:`convert` and
    :func:`write`; ``fast_path=False`` converts every row with the reference pipeline
    instead of the column-wise path clean files take to JSONL (:mod:`boamps_etl.engine`;
    both give the same output). ``jobs``: worker processes for a large file on that path
    (``None`` or 0: one per CPU, see :mod:`boamps_etl.jobs`; the output is the same whatever
    the number). ``tracker``: read every file as this tracker's instead of recognising it.
    ``block_rows``: rows converted together by the reference pipeline (``chunk_rows`` is
    its deprecated name).

    Raises:
        InputError, MappingError, ContextError, OutputError: nothing is written then.
    """
    from .trackers import detect, get_tracker

    if chunk_rows is not None:
        import warnings

        warnings.warn("convert_to(chunk_rows=) is now convert_to(block_rows=)",
                      DeprecationWarning, stacklevel=2)
        block_rows = chunk_rows
    forced = get_tracker(tracker) if tracker is not None else None
    mappings = _Mappings(mapping)
    the_mapping = mappings("codecarbon")
    if forced is not None:
        mappings(forced.name)  # a bad mapping is said before any input is read
    the_context = as_context(context, sets)
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    sources: list[CsvSource | tuple[str, CsvTable]] = []
    fast: dict[int, FastFile] = {}
    workers = resolve_jobs(jobs)
    fast_path = fast_path and engine_maps(the_mapping)
    with Runner(workers if fast_path else 1, the_mapping, the_context,
                allow_incomplete, format) as runner, Spool() as spool, \
            contextlib.ExitStack() as unpacked:
        for path in paths:  # every input is read through once before anything is written
            if is_url(path):  # s3://, gs://...: read once, then as bytes named by the URL
                name, data = str(path), read_url(path)
                found = forced or detect(data, name)
                if found.name != "codecarbon":
                    sources.append((found.name, found.read(data, name)))
                    continue
                source = CsvSource(data, name=name)
                open_source(source, per_row=per_row, fast_path=False)
                sources.append(source)
                continue
            real, label = spool.path(path)  # stdin and FIFOs: through a work file
            found = forced or detect(real, label)
            if found.name != "codecarbon":
                sources.append((found.name, found.read(real, label)))
                continue
            source = CsvSource(real, name=label)
            prepared = open_source(source, per_row=per_row, fast_path=fast_path,
                                   runner=runner, spill=staging_folder(out, format))
            if prepared is not None:
                fast[id(source)] = prepared
                unpacked.callback(release, prepared)  # a gzip file's unpacked copy
            sources.append(source)
        target = out if isinstance(out, str) else Path(out)
        writer = StreamWriter(target, format, force=force)
        summary = ConvertSummary()
        seen = _Duplicates(len(sources) > 1)
        try:
            for item in sources:
                if isinstance(item, tuple):
                    name, table = item
                    summary.files.append(table.name)
                    summary.rows_read += table.records
                    seen.start(table.name)
                    _write_part(convert_table(table, mappings(name), the_context,
                                              per_row=per_row,
                                              allow_incomplete=allow_incomplete),
                                allow_incomplete, writer, summary, seen)
                    continue
                source = item
                summary.files.append(source.name)
                summary.rows_read += source.records
                seen.start(source.name)
                if id(source) in fast:
                    summary.engine_rows += source.records
                    _convert_fast(fast[id(source)], runner, the_mapping, the_context,
                                  allow_incomplete, writer, summary, seen)
                    continue
                _convert_reference(source, the_mapping, the_context, per_row, allow_incomplete,
                                   block_rows, writer, summary, seen)
            summary.written = writer.close()
        except BaseException:
            writer.abort()
            raise
    return summary


def _add_counts(summary: ConvertSummary, counts: Mapping[str, int], levels: Mapping[str, int],
                issues: Iterable[Issue]) -> None:
    for status, count in counts.items():
        summary.counts[status] += count
    for level, count in levels.items():
        summary.levels[level] += count
    summary.issues.extend(issues)


_REPORT_ID = re.compile(rb'"reportId": "((?:[^"\\\n]|\\.)*)"')


class _Duplicates:
    """Report ids given by earlier inputs. A report of a later input with the same id is
    the same run (a copy, a backup such as ``emissions.csv.bak``): it is said, counted, and
    not written, as :func:`boamps_etl.batch.convert_tree` does. Within one file nothing is
    dropped (both engines then write the same bytes)."""

    def __init__(self, active: bool):
        self.active = active
        self.earlier: dict[str, str] = {}
        self.current: dict[str, str] = {}
        self.name = ""
        self.unsaid: dict[str, None] = {}  # earlier inputs the fast path found copies of

    def say(self, summary: ConvertSummary) -> None:
        """The duplicates the fast path dropped, once per file (it knows no rows)."""
        summary.issues.extend(self.issue(first) for first in self.unsaid)
        self.unsaid = {}

    def start(self, name: str) -> None:
        for rid, first in self.current.items():
            self.earlier.setdefault(rid, first)
        self.current = {}
        self.name = name

    def first(self, report_id: str | None) -> str | None:
        """Where an earlier input gave ``report_id`` (``None``: not a duplicate)."""
        if not self.active or report_id is None:
            return None
        found = self.earlier.get(report_id)
        if found is None:
            self.current.setdefault(report_id, self.name)
        return found

    def issue(self, first: str, row: int | None = None, written: bool = True) -> Issue:
        what = "not written again" if written else "the result holds both"
        return Issue("duplicate", f"duplicate: {first} already gave the same report (same "
                     f"reportId): {what}", Location(self.name, row), "warning",
                     "the same run is in several inputs, e.g. a copy or a backup")

    def filter(self, data: bytes | memoryview, count: int, summary: ConvertSummary
               ) -> tuple[bytes | memoryview, int]:
        """JSON lines of the fast path without the reports an earlier input gave."""
        if not self.active:
            return data, count
        lines = bytes(data).split(b"\n")[:-1]
        kept = []
        for line in lines:
            found = _REPORT_ID.search(line)
            first = self.first(found.group(1).decode() if found else None)
            if first is None:
                kept.append(line)
                continue
            summary.duplicates += 1
            self.unsaid.setdefault(first, None)
        if len(kept) == len(lines):
            return data, count
        return b"".join(line + b"\n" for line in kept), len(kept)


    def filter_texts(self, data: bytes | memoryview, lengths: Any, summary: ConvertSummary,
                     names: list[str] | None = None, column_ids: Any = None,
                     columns: Sequence[tuple[str, ...]] = ()
                     ) -> tuple[bytes | memoryview, list[int], list[str], Any]:
        """:meth:`filter` for the engine's json file texts (with their ``names``) or csv
        lines (in the column sets ``columns[column_ids[i]]``): (texts, lengths, names,
        column ids) of the reports kept."""
        import csv as csv_module

        sizes: list[int] = lengths.tolist()
        if not self.active:
            return data, sizes, names or [], column_ids
        raw = bytes(data)
        keep, at = [], 0
        for i, size in enumerate(sizes):
            text = raw[at: at + size]
            at += size
            if column_ids is None:
                found = _REPORT_ID.search(text)
                rid = found.group(1).decode() if found else None
            else:
                cols = columns[int(column_ids[i])]
                cells = next(csv_module.reader(io.StringIO(text.decode(), newline="")))
                rid = cells[cols.index("header_reportId")] or None \
                    if "header_reportId" in cols else None
            first = self.first(rid)
            if first is not None:
                summary.duplicates += 1
                self.unsaid.setdefault(first, None)
            keep.append(first is None)
        if all(keep):
            return data, sizes, names or [], column_ids
        starts = [0]
        for size in sizes:
            starts.append(starts[-1] + size)
        kept = [i for i, k in enumerate(keep) if k]
        return (b"".join(raw[starts[i]: starts[i + 1]] for i in kept),
                [sizes[i] for i in kept], [names[i] for i in kept] if names else [],
                None if column_ids is None else column_ids[kept])


def _convert_fast(ff: FastFile, runner: Runner, mapping: FieldMapping, context: Context,
                  allow_incomplete: bool, writer: StreamWriter,
                  summary: ConvertSummary, seen: _Duplicates) -> None:
    """A clean file, column-wise (boamps_etl.engine): in this process, or by ranges of
    rows handed out to the workers, their outputs appended in order as they come."""
    # several inputs to json or csv: reports an earlier input gave are left out block by
    # block, in this process (the workers' json files and csv lines are not read back)
    if runner.jobs == 1 or len(ff.ranges) == 1 or (seen.active and writer.fmt != "jsonl"):
        # parquet: typed tables; with reports to leave out, the csv layout's lines (the
        # reports are told apart by their text), read into typed tables by the writer
        layout = "csv" if writer.fmt == "parquet" and seen.active else writer.fmt
        for block in convert_file(ff, mapping, context, allow_incomplete, layout):
            _add_counts(summary, block.counts, block.levels, block.issues)
            if writer.fmt == "json":
                assert block.names is not None
                data, lengths, names, _ = seen.filter_texts(
                    block.data, block.lengths, summary, names=block.names)
                writer.write_files(data, lengths, names)
            elif layout == "parquet":
                writer.write_table(block.table)
                lengths = [0] * block.count
            elif layout == "csv":
                data, lengths, _, ids = seen.filter_texts(
                    block.data, block.lengths, summary, column_ids=block.column_ids,
                    columns=block.columns)
                writer.write_lines(data, lengths, ids, block.columns)
            else:
                data, count = seen.filter(block.data, block.count, summary)
                writer.write_data(data, count)
                lengths = [0] * count
            summary.reports_written += len(lengths)
        seen.say(summary)
        return
    # Closed here, not when collected: the workers end before their part files are
    # removed (at once on an interrupt).
    # json into a folder: the workers write each report into the output's stage
    direct = writer.fmt == "json" and not writer.stdout
    with contextlib.closing(runner.convert(ff, writer.stage_folder(), direct)) as parts:
        try:
            for part in parts:
                _add_counts(summary, part.counts, part.levels, part.issues)
                lines = part.lines
                if direct:
                    writer.adopt_files(part.names, part.side)
                elif writer.fmt == "json":
                    writer.append_files(part.path, part.names)
                elif writer.fmt == "csv":
                    writer.append_lines(part.path, part.lengths, part.column_ids,
                                        part.columns)
                elif writer.fmt == "parquet":
                    writer.append_tables(part.path, part.lines, part.sizes, part.columns)
                else:
                    if seen.active:
                        data, lines = seen.filter(part.path.read_bytes(), part.lines,
                                                  summary)
                        part.path.write_bytes(data)
                    writer.append_file(part.path, lines)
                summary.reports_written += lines
        except KeyboardInterrupt:
            runner.close(stop=True)
            raise
    if direct:
        writer.settle_files()
    seen.say(summary)


def _convert_reference(source: CsvSource, mapping: FieldMapping, context: Context,
                       per_row: bool, allow_incomplete: bool, block_rows: int,
                       writer: StreamWriter, summary: ConvertSummary,
                       seen: _Duplicates) -> None:
    """Any file, row by row (boamps_etl.pipeline), block by block."""
    for part in convert_blocks(source, mapping, context, per_row=per_row,
                               allow_incomplete=allow_incomplete, block_rows=block_rows):
        _write_part(part, allow_incomplete, writer, summary, seen)


def _write_part(part: ConversionResult, allow_incomplete: bool, writer: StreamWriter,
                summary: ConvertSummary, seen: _Duplicates) -> None:
    """Count a block's reports and problems, and write the reports to be written (not
    those an earlier input gave: see :class:`_Duplicates`)."""
    ok_status = ("valid", "incomplete") if allow_incomplete else ("valid",)
    summary.issues.extend(part.issues)
    summary.row_errors += sum(1 for i in part.issues if i.severity == "error")
    docs = []
    for report in part.reports:
        summary.counts[report.status] += 1
        summary.levels[report.level] += 1
        summary.issues.extend(report.issues)
        if report.status in ok_status:
            first = seen.first(report.report_id)
            if first is not None:
                summary.duplicates += 1
                summary.issues.append(seen.issue(first, report.row))
                continue
            docs.append(report.document)
    writer.write(docs)
    summary.reports_written += len(docs)


def validate(report: Mapping[str, Any] | ConvertedReport | Any) -> list[Issue]:
    """Validate a report (dict, :class:`ConvertedReport` or pydantic ``Report``) against the
    official BoAmps schemas and the extension schema; an empty list means valid."""
    if isinstance(report, ConvertedReport):
        doc: Any = report.document
    elif hasattr(report, "to_dict"):
        doc = report.to_dict()
    else:
        doc = report
    return validate_report(doc)


def _documents(reports: Reports) -> list[dict[str, Any]]:
    out = []
    for item in reports:
        if isinstance(item, ConvertedReport):
            out.append(item.document)
        elif hasattr(item, "to_dict"):
            out.append(item.to_dict())
        else:
            out.append(dict(item))
    return out


def to_frame(reports: Reports) -> pd.DataFrame:
    """One flat row per report, columns named like the BoAmps flattener
    (``measures_0_powerConsumption``)."""
    import pandas as pd

    return pd.DataFrame([flatten(d) for d in _documents(reports)])


def from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Reports back from a flat DataFrame (inverse of :func:`to_frame`)."""
    return [unflatten({str(k): v for k, v in row.items()})
            for row in frame.to_dict(orient="records")]


def write(reports: Reports, out: PathLike, format: Format = "json", *,
          force: bool = False) -> list[Path]:
    """Write reports as JSON files (``out`` is a folder), JSON Lines, CSV or Parquet (a
    file: :mod:`boamps_etl.io.parquet` for its column types); ``'-'`` writes to stdout.
    Atomic; existing outputs are kept unless ``force``.

    Raises:
        OutputError: a target exists or cannot be written (nothing is written then).
    """
    target = out if isinstance(out, str) else Path(out)
    return write_reports(_documents(reports), target, format, force=force)


def mapping_table(mapping: PathLike | FieldMapping | None = None, *,
                  tracker: str | None = None) -> list[dict[str, str]]:
    """The effective field table of a mapping (BoAmps path, source, transform, unit): the
    built-in one of ``tracker`` (CodeCarbon's by default), or a user's mapping extending it.

    Raises:
        InputError: no tracker has that name.
        MappingError: the mapping file is invalid.

    >>> mapping_table(tracker="eco2ai")[0]["path"]
    'header.formatVersion'
    """
    from .trackers import get_tracker

    base = get_tracker(tracker).name if tracker is not None else "codecarbon"
    return as_mapping(mapping, base).table()


def detect_tracker(path: PathLike) -> str:
    """The name of the tracker that wrote a file (``codecarbon``, ``eco2ai``,
    ``carbontracker``, ``zeus``, ``perun``, ``optimum_benchmark``, ``aienergyscore``),
    judged from its content; a CSV nobody recognises is taken for CodeCarbon's.

    Raises:
        InputError: the file cannot be read, or is JSON of no known tracker.

    >>> detect_tracker("tests/fixtures/eco2ai/emission.csv")  # doctest: +SKIP
    'eco2ai'
    """
    from .trackers import detect

    return detect(path).name


def tracker_names() -> list[str]:
    """The trackers whose files boamps-etl converts, sorted."""
    from .trackers import tracker_names as names

    return names()
