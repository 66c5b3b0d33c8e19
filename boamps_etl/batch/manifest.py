"""The manifest of a batch: its lines (:class:`ManifestEntry`), their CSV text and
DataFrame, and the marking of duplicate reports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar, overload

from ..errors import Issue, Location, row_ranges

if TYPE_CHECKING:
    import pandas as pd

MANIFEST_NAME = "manifest.csv"
STATUSES: tuple[str, ...] = ("valid", "incomplete", "invalid", "duplicate", "skipped", "error")
MANIFEST_COLUMNS: tuple[str, ...] = ("source", "tracker", "rows", "run_id", "report_id",
                                     "status", "level", "output", "messages", "sha256")


# --------------------------------------------------------------------------- results


@dataclass
class ManifestEntry:
    """One line of the manifest: a report, or a problem that produced no report.

    Attributes:
        source: the CSV, relative to its ROOT (prefixed by the ROOT's name with several
            ROOTs), with ``/`` separators: the same path its outputs have under ``out``.
        rows: the spreadsheet rows (header = 1) the line stands for; empty for whole files.
        run_id: CodeCarbon's run_id.
        report_id: the report's ``header.reportId`` (the key for duplicates).
        status: 'valid', 'incomplete', 'invalid', 'duplicate', 'skipped' or 'error'.
        output: the file written, relative to ``out``; empty when nothing was written.
        issues: the located problems (errors and warnings).
        sha256: content hash of the source file.
        duplicate_of: for duplicates, the source and row of the report that was kept.
    """

    source: str
    rows: tuple[int, ...] = ()
    run_id: str | None = None
    report_id: str | None = None
    status: str = "error"
    output: str | None = None
    issues: list[Issue] = field(default_factory=list)
    sha256: str | None = None
    duplicate_of: str | None = None
    base_status: str = "error"  # the status before duplicates were looked for
    level: str = ""  # completeness level of a written report (boamps_etl.levels)
    tracker: str = ""  # the tool that wrote the source (boamps_etl.trackers); '' unknown
    recovered: tuple[str, ...] = ()  # what was recovered to make the report (see pipeline)
    # (output, part-file line, manifest line) rendered where the report was converted,
    # for the usual outcome: see render() and fresh()
    rendered: tuple[str | None, str, str] | None = field(default=None, compare=False,
                                                         repr=False)

    @property
    def messages(self) -> str:
        """The problems as one manifest cell (``|``-separated, without the source name);
        a report made from a recovered row says so first (``recovered: ...``)."""
        if not (self.recovered or self.duplicate_of or self.issues):
            return ""  # most lines: nothing to build
        parts: list[str] = []
        if self.recovered:
            parts.append(f"recovered: {'; '.join(self.recovered)}")
        if self.duplicate_of:
            parts.append(f"same report as {self.duplicate_of}")
        for issue in self.issues:
            if self.recovered and issue.code.startswith("recovered-") and \
                    issue.where.row is not None:
                continue  # said by the recovered note
            w = issue.where
            own_row = w.row in self.rows
            where = Location(None if w.file in (None, self.source) else w.file,
                             None if own_row else w.row, w.column, w.json_path,
                             w.line, w.col, None if own_row else w.row_label)
            if own_row and w.row_label is not None and w.column is not None:
                where = Location(where.file, None, w.column, w.json_path, w.line, w.col, "")
            text = f"{where}: {issue.message}" if str(where) else issue.message
            parts.append(text if issue.severity == "error" else f"{issue.severity}: {text}")
        return " | ".join(parts)

    def row_text(self) -> str:
        return _ranges(self.rows)

    def cells(self) -> list[str]:
        """The manifest line as text cells (``''`` for nothing), in the order of
        :data:`MANIFEST_COLUMNS`."""
        return [self.source, self.tracker, self.row_text(), self.run_id or "",
                self.report_id or "", self.status,
                self.level if self.status in ("valid", "incomplete") else "",
                self.output or "", self.messages, self.sha256 or ""]

    def render(self, output: str | None) -> None:
        """Render this line's part-file line (:func:`part_line`) and manifest line now,
        for the usual outcome: written to ``output`` (None: not written), not a
        duplicate. A streamed file's worker does it, so that the batch's loop, which
        writes every report of the file, need not (:meth:`fresh`)."""
        self.status, self.duplicate_of, self.output = self.base_status, None, output
        _ROW.seek(0)
        _ROW.truncate()
        _ROW_WRITER.writerow(self.cells())
        self.rendered = (output, part_line(["e", self.to_state()]), _ROW.getvalue())

    def fresh(self) -> tuple[str | None, str, str] | None:
        """:attr:`rendered`, if this line is still as it was rendered (same output and
        status, not a duplicate); else None."""
        r = self.rendered
        if r is not None and r[0] == self.output and self.status == self.base_status \
                and self.duplicate_of is None:
            return r
        return None

    def as_row(self) -> dict[str, str]:
        """The manifest line as text cells by column name."""
        return dict(zip(MANIFEST_COLUMNS, self.cells(), strict=True))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickled as its fields in order (spools, workers' results): loads in about half
        # the time of a dataclass's default (object.__new__, then the __dict__)
        return (ManifestEntry, (self.source, self.rows, self.run_id, self.report_id,
                                self.status, self.output, self.issues, self.sha256,
                                self.duplicate_of, self.base_status, self.level,
                                self.tracker, self.recovered, self.rendered))

    def to_state(self) -> dict[str, Any]:
        return {"source": self.source, "rows": list(self.rows), "run_id": self.run_id,
                "report_id": self.report_id, "status": self.status, "output": self.output,
                "issues": [_issue_to_state(i) for i in self.issues], "sha256": self.sha256,
                "duplicate_of": self.duplicate_of, "base_status": self.base_status,
                "level": self.level, "tracker": self.tracker,
                "recovered": list(self.recovered)}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(data["source"], tuple(data["rows"]), data["run_id"], data["report_id"],
                   data["status"], data["output"],
                   [_issue_from_state(i) for i in data["issues"]], data["sha256"],
                   data["duplicate_of"], data["base_status"], data.get("level", ""),
                   data.get("tracker", ""), tuple(data.get("recovered", ())))


# --------------------------------------------------------------------------- helpers


def _ranges(rows: Sequence[int]) -> str:
    """``(2, 3, 4, 7)`` -> ``'2-4;7'`` (the manifest's form)."""
    return row_ranges(rows, ";")


def _issue_to_state(issue: Issue) -> dict[str, Any]:
    w = issue.where
    return {"code": issue.code, "message": issue.message, "severity": issue.severity,
            "hint": issue.hint, "file": None if w.file is None else str(w.file), "row": w.row,
            "column": w.column, "json_path": w.json_path, "line": w.line, "col": w.col,
            "row_label": w.row_label}


def _issue_from_state(data: dict[str, Any]) -> Issue:
    return Issue(data["code"], data["message"],
                 Location(data["file"], data["row"], data["column"], data["json_path"],
                          data["line"], data["col"], data.get("row_label")),
                 data["severity"], data["hint"])


# --------------------------------------------------------------------------- dedupe, rendering


def dedupe(entries: list[ManifestEntry], seen: SeenReports | dict[str, str]
            ) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Final (status, duplicate_of) of each entry given the reports seen before; and the
    report ids this folder adds. Pure: ``seen`` is not changed."""
    added: dict[str, str] = {}
    out: list[tuple[str, str | None]] = []
    for e in entries:
        rid = e.report_id if e.base_status in ("valid", "incomplete", "invalid") else None
        if rid is None:
            out.append((e.base_status, None))
            continue
        first = seen.get(rid) or added.get(rid)
        if first is not None:
            out.append(("duplicate", first))
        else:
            added[rid] = f"{e.source} row {_ranges(e.rows[-1:])}"
            out.append((e.base_status, None))
    return out, added


# one encoder for every line of a part file (json.dumps builds one per call when given
# options: a tenth of the parent's time per report)
_PART_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ROW = io.StringIO()
_ROW_WRITER = csv.writer(_ROW, lineterminator="\n")


def part_line(item: list[Any]) -> str:
    """A line of a large folder's part file (without its line break)."""
    return _PART_LINE.encode(item)


def render_manifest(entries: Iterable[ManifestEntry]) -> str:
    buf = io.StringIO()
    write_manifest_lines(buf, entries)
    return buf.getvalue()


def write_manifest_lines(text: Any, entries: Iterable[ManifestEntry]) -> None:
    """The manifest's header and lines into the text file ``text``."""
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    write = text.write
    for e in entries:
        rendered = e.fresh()
        if rendered is not None:
            write(rendered[2])
        else:
            writer.writerow(e.cells())


def manifest_frame(entries: Iterable[ManifestEntry]) -> pd.DataFrame:
    """The manifest lines as a DataFrame of text (``''`` for nothing), as in manifest.csv."""
    import pandas as pd

    return pd.DataFrame([e.cells() for e in entries], columns=list(MANIFEST_COLUMNS),
                        dtype=object)


# --------------------------------------------------------------------------- bounded memory


def id_digest(text: str) -> int:
    """An 8-byte digest of a report id or file name (the sets a batch keeps of them)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "little")


class SeenReports:
    """The report ids a batch has written, and where each was first: as 8-byte digests
    and (source number, row) pairs packed in one integer, not as text (a batch can hold
    millions of reports). Two ids of one digest would be taken for duplicates: with 8
    bytes, about one chance in 10^7 for a million reports."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._sources: list[str] = []
        self._numbers: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, report_id: str) -> str | None:
        """Where ``report_id`` was first seen (``'<source> row <n>'``), or None."""
        packed = self._ids.get(id_digest(report_id))
        return None if packed is None else self._place(packed)

    def add(self, report_id: str, first: str) -> None:
        source, _, row = first.rpartition(" row ")
        self._ids.setdefault(id_digest(report_id),
                             self._pack(source, int(row) if row else None))

    def first_or_add(self, report_id: str, source: str, row: int | None) -> str | None:
        """Where ``report_id`` was first (as :meth:`get`), or None after recording it as
        first at ``source`` and spreadsheet ``row``: :meth:`get` then :meth:`add` with one
        digest and no text to parse (the streamed path's step for every report)."""
        digest = id_digest(report_id)
        packed = self._ids.get(digest)
        if packed is not None:
            return self._place(packed)
        self._ids[digest] = self._pack(source, row)
        return None

    def _pack(self, source: str, row: int | None) -> int:
        """(source number, row + 1 or 0 for none) in one integer."""
        number = self._numbers.get(source)
        if number is None:
            number = self._numbers[source] = len(self._sources)
            self._sources.append(source)
        return (number << 32) | (0 if row is None else row + 1)

    def _place(self, packed: int) -> str:
        row = packed & 0xFFFFFFFF
        return f"{self._sources[packed >> 32]} row {row - 1 if row else ''}"

    def update(self, added: dict[str, str]) -> None:
        for report_id, first in added.items():
            self.add(report_id, first)


def first_seen(entry: ManifestEntry) -> str:
    """How a duplicate names the report kept: its source and (last) row."""
    return f"{entry.source} row {_ranges(entry.rows[-1:])}"


T = TypeVar("T")


class SpoolList(Sequence[T], Generic[T]):
    """A list that keeps its first items in memory and the rest, pickled 1,000 at a time,
    in an unnamed temporary file (gone with the process, whatever ends it): the manifest
    lines and files written of a batch of millions of reports."""

    IN_MEMORY = 2_000
    SPILL_EVERY = 1_000  # items pickled together (one load each, not one per item)

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._head: list[T] = []
        self._tail: list[T] = []  # items past the head not written to the file yet
        self._file: IO[bytes] | None = None
        self._count = 0
        self._spilled = 0  # items in the file
        self._at_end = True  # the file's position is its end (no read since the last write)
        self.extend(items)

    def append(self, item: T) -> None:
        if self._count < self.IN_MEMORY:
            self._head.append(item)
        else:
            self._tail.append(item)
            if len(self._tail) >= self.SPILL_EVERY:
                self._spill()
        self._count += 1

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (kept open)
        if not self._at_end:
            self._file.seek(0, io.SEEK_END)
            self._at_end = True
        pickle.dump(self._tail, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled += len(self._tail)
        self._tail = []

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        # a snapshot: items appended meanwhile are not read
        count, spilled, tail = self._count, self._spilled, self._tail[:]
        yield from self._head[:count]
        at = read = 0
        while read < spilled:
            assert self._file is not None
            self._at_end = False
            self._file.seek(at)
            block = pickle.load(self._file)
            at = self._file.tell()
            read += len(block)
            yield from block
        yield from tail

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, int) and -len(self._head) <= index < len(self._head) and \
                (index >= 0 or self._count == len(self._head)):
            return self._head[index]
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpoolList({self._count} items)"
