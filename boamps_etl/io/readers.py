"""Read CodeCarbon CSVs of any version into a DataFrame of text cells, with located problems.

The reader never guesses a value: every cell is kept as the text CodeCarbon wrote (spaces
stripped), and rows whose field count differs from the header are reported with their
spreadsheet row number and left out, never shifted. Numbers are parsed later, column by
column, by the mapping, which knows each field's type and unit.

Handled here: UTF-8 with or without BOM, UTF-16 (BOM), Latin-1 / Windows-1252 fallback,
CRLF and mixed line endings, quoted newlines, ``,`` ``;`` or tab delimiters, space-padded
headers and values, gzip-compressed files, git merge-conflict markers and repeated headers,
a truncated last line, duplicate or empty column names, UTF-16 without its byte-order mark,
NUL bytes left in some rows by a crash while writing.

Memory stays bounded on junk: a line longer than :data:`MAX_LINE_SIZE` is never read whole
and a cell larger than :data:`MAX_FIELD_SIZE` is refused; either is reported for its row and
the rows after it are still read. In-memory sources (bytes, and gzip data once decompressed)
are limited to :data:`MAX_INPUT_BYTES`.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..codecarbon import EMPTY_VALUES, KNOWN_COLUMNS, REQUIRED_COLUMNS, file_kind
from ..errors import InputError, Issue, Location, row_ranges
from ..transforms import printable
from .realign import DROPPABLE, realign_shifted, user_columns_missing
from .storage import is_url

ROW_COLUMN = "__row__"
#: Largest single field accepted (CodeCarbon fields are short; this bounds memory on junk).
MAX_FIELD_SIZE = 1 << 20
#: Longest physical line accepted (CodeCarbon lines are under 4 kB): a longer line is
#: skipped without being read into memory whole, and its row reported.
MAX_LINE_SIZE = 1 << 20
#: Largest source held in memory (bytes, file objects, gzip data given as bytes).
MAX_INPUT_BYTES = 1 << 30
#: Errors a damaged gzip stream raises while it is read.
GZIP_ERRORS = (OSError, EOFError, zlib.error)
#: Decoding error handler of the Windows-1252 fallback: the five bytes cp1252 leaves
#: undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are read as Latin-1, so decoding never fails.
CP1252_ERRORS = "boamps-etl-latin-1"
codecs.register_error(CP1252_ERRORS, lambda exc: (
    exc.object[exc.start:exc.end].decode("latin-1"), exc.end)
    if isinstance(exc, UnicodeDecodeError) else codecs.strict_errors(exc))

csv.field_size_limit(MAX_FIELD_SIZE)

Source = str | os.PathLike[str] | bytes | IO[bytes]


@dataclass
class CsvTable:
    """A CodeCarbon CSV read into text cells.

    Attributes:
        name: the file name used in messages.
        frame: one row per well-formed record, every column text (stripped), plus
            ``__row__``: the 1-based row number as a spreadsheet shows it (header = 1).
        columns: the header as read (stripped), in file order.
        kind: 'codecarbon', 'task' (CodeCarbon task file) or 'tracker' (BoAmps_Carbon CSV).
        issues: problems found while reading (misaligned rows, truncated line, encoding),
            and one warning per kind of recovery.
        records: number of data records seen, good and bad.
        recovered: the rows converted after a recovery (NUL padding stripped, a short
            row completed or realigned), each with what was done.
        row_labels: how messages name each row of a file that has no rows (other
            trackers' JSON reports and logs): "target 'decode'", "line 11"...
        cells: the frame's columns as lists (``__row__`` too), each what
            ``frame[column].tolist()`` gives, when the reader has them: what the pipeline
            reads. The frame is then built only when asked for (``frame=None``), and
            ``cells`` dropped (the frame may be changed): a file converted by the pipeline
            never needs it.
    """

    name: str
    frame: Any
    columns: list[str]
    kind: str
    issues: list[Issue] = field(default_factory=list)
    records: int = 0
    encoding: str = "utf-8"
    #: rows converted after a recovery, with what was done (see :class:`CsvSource`)
    recovered: dict[int, list[str]] = field(default_factory=dict)
    row_labels: dict[int, str] = field(default_factory=dict)
    cells: dict[str, list[Any]] | None = None


def _get_frame(table: CsvTable) -> Any:
    frame = table.__dict__.get("_frame")
    if frame is None and table.cells is not None:
        frame = table.__dict__["_frame"] = _frame_of(table.cells, table.columns)
        table.cells = None  # the frame, which its reader may change, is the table now
    return frame


def _set_frame(table: CsvTable, frame: Any) -> None:
    table.__dict__["_frame"] = frame


# ``frame`` is built from ``cells`` when first read (the dataclass sets it through here)
CsvTable.frame = property(_get_frame, _set_frame)


def _frame_of(cells: dict[str, list[Any]], columns: list[str]) -> Any:
    """The frame of a block whose rows all have the columns ``columns`` (see
    :meth:`CsvSource.blocks`): the one the reader built before it kept ``cells``."""
    import pandas as pd

    values = [cells[c] for c in columns]
    frame = pd.DataFrame([list(row) for row in zip(*values, strict=True)] if values else
                         [[] for _ in cells[ROW_COLUMN]], columns=list(columns), dtype=object)
    frame[ROW_COLUMN] = list(cells[ROW_COLUMN])
    return frame.reindex(columns=[*columns, ROW_COLUMN])


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):.0f} MB"


def _too_large(name: str, what: str = "is larger than") -> InputError:
    return InputError(f"{what} the {_megabytes(MAX_INPUT_BYTES)} limit for data read into "
                      "memory", Location(name), "save it to a file and convert the file")


def read_source(source: Source) -> tuple[bytes, str]:
    """The bytes of a path, bytes or binary stream (at most the input limit) and its name."""
    if isinstance(source, bytes):
        if len(source) > MAX_INPUT_BYTES:
            raise _too_large("<bytes>")
        return source, "<bytes>"
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        data = source.read(MAX_INPUT_BYTES + 1)
        data = data if isinstance(data, bytes) else str(data).encode()
        if len(data) > MAX_INPUT_BYTES:
            raise _too_large(name)
        return data, name
    path = Path(os.fspath(source))
    return read_file(path), str(path)


def read_file(path: Path, size: int = -1) -> bytes:
    """The first ``size`` bytes of a file (all of it by default), opened read-only: inputs
    are never modified.

    Raises:
        InputError: the file is missing, a folder or cannot be read, in one line.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except IsADirectoryError:
        raise InputError("is a folder, not a CSV file", Location(path)) from None
    except FileNotFoundError:
        raise InputError("no such file", Location(path)) from None
    except PermissionError:
        raise InputError("cannot be read (permission denied)", Location(path)) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", Location(path)) from None


def damaged_gzip(exc: BaseException, where: Location) -> InputError:
    """The one-line error for a gzip file that cannot be unpacked."""
    return InputError(f"is a damaged gzip file ({exc})", where,
                      "restore it, or save what 'zcat' can read of it and convert that")


def decompress(data: bytes, name: str) -> bytes:
    """``data`` unpacked when it is gzip data (at most the input limit), else unchanged."""
    if data[:2] == b"\x1f\x8b":
        try:
            # At most the limit + 1 byte: a small "gzip bomb" never fills the memory.
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                out = fh.read(MAX_INPUT_BYTES + 1)
        except GZIP_ERRORS as exc:
            raise damaged_gzip(exc, Location(name)) from None
        if len(out) > MAX_INPUT_BYTES:
            raise _too_large(name, "decompresses to more than")
        return out
    return data


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when (mostly ASCII) text was saved as UTF-16 without its
    byte-order mark: every other byte is then 0."""
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 8:
        return None
    if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


#: A control character other than tab, CR and LF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


class _LineTooLong(Exception):
    pass


class _Lines:
    """The physical lines of a text stream for :func:`csv.reader`, never reading a line
    longer than :data:`MAX_LINE_SIZE` into memory: such a line is skipped and
    :class:`_LineTooLong` raised in its place (the reader then goes on with the next line)."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        #: NUL padding was stripped from a line read since the flag was last cleared
        self.nul = False
        #: the last line read ended with a line break (else: the file's cut-off end)
        self.complete = True

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._stream.readline(MAX_LINE_SIZE + 1)
        if not line:
            raise StopIteration
        if len(line) > MAX_LINE_SIZE:
            while line and not line.endswith(("\n", "\r")):
                line = self._stream.readline(MAX_LINE_SIZE)
            raise _LineTooLong
        if "\x00" in line:
            line = self._strip_nul(line)
        self.complete = line.endswith(("\n", "\r"))
        return line

    def _strip_nul(self, line: str) -> str:
        """A crash while appending leaves runs of NUL bytes where a row should be: at the
        start of a line (before the next row) or at its end (between two lines). They are
        padding, not data; NULs inside a row are damage and stay (the row is reported)."""
        body = line.rstrip("\r\n")
        end = line[len(body):]
        kept = body.strip("\x00")
        if kept != body:
            self.nul = True
        return kept + end


def _records(reader: Iterator[list[str]]) -> Iterator[tuple[list[str], str | None]]:
    """``(fields, problem)`` per record; a record that cannot be read gives no fields and
    says why, and the records after it are still read (the reader restarts at the next
    line)."""
    while True:
        try:
            yield next(reader), None
        except StopIteration:
            return
        except _LineTooLong:
            yield [], f"a line is longer than {_megabytes(MAX_LINE_SIZE)}"
        except csv.Error as exc:
            yield [], (f"a cell is larger than {_megabytes(MAX_FIELD_SIZE)}"
                       if "field limit" in str(exc) else f"not CSV ({exc})")


def sniff_delimiter(header_line: str) -> str:
    """CodeCarbon writes ``,``; spreadsheets re-save with ``;`` or tabs. Pick the most used."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _first_line(text: str) -> str:
    end = text.find("\n")
    return text if end < 0 else text[:end]


def _is_conflict_marker(record: list[str]) -> bool:
    first = record[0].lstrip() if record else ""
    return len(record) == 1 and first.startswith(("<<<<<<<", "=======", ">>>>>>>", "|||||||"))


def _looks_like_header(fields: list[str],
                       required: tuple[str, ...] = REQUIRED_COLUMNS) -> bool:
    names = {f for f in fields if f}
    return all(c in names for c in required)


def _close_names(column: str, header: list[str]) -> list[str]:
    """Header names that look like a missing column: another case, a typo."""
    same = [h for h in header if h.lower() == column.lower()]
    return same or difflib.get_close_matches(column, [h for h in header if len(h) < 100],
                                             n=1, cutoff=0.8)


def _check_header(raw: list[str], label: str, row: int,
                  required: tuple[str, ...] = REQUIRED_COLUMNS,
                  what: str = "a CodeCarbon emissions CSV") -> tuple[list[str], bool]:
    header = [h.strip().lstrip("\ufeff") for h in raw]
    if any(_has_control(h) for h in header):
        raise InputError("is binary data, not a text CSV", Location(label, row),
                         "expected a CodeCarbon emissions.csv" if required == REQUIRED_COLUMNS
                         else f"expected {what}")
    # pandas' to_csv(index=True) leaves an unnamed leading index column: it is dropped.
    index_column = len(header) > 1 and header[0] == ""
    missing = [c for c in required if c not in header]
    if missing:
        shown = [printable(h, 30) for h in header[:8] if h]
        found = ", ".join(shown) + (", ..." if len(header) > 8 else "")
        renames = [f"'{printable(close[0], 30)}' to '{c}'" for c in missing
                   for close in [_close_names(c, header)] if close]
        raise InputError(
            f"is not {what}: missing column(s) {', '.join(missing)}",
            Location(label, row),
            f"rename column {', '.join(renames)}: names are case-sensitive" if renames else
            f"found {found or 'no column names'}",
        )
    seen: dict[str, int] = {}
    for pos, col in enumerate(header, 1):
        if col == "" and not (index_column and pos == 1):
            if all(h == "" for h in header[pos - 1:]):
                break  # trailing empty names from spreadsheet re-saves
            raise InputError(f"column {pos} of the header has no name", Location(label, row),
                             "give every column a name or delete the empty column")
        if col in seen:
            raise InputError(
                f"duplicate column name '{printable(col, 30)}' (columns {seen[col]} and {pos})",
                Location(label, row, printable(col, 30)), "delete or rename one of them",
            )
        seen[col] = pos
    while header and header[-1] == "":
        header.pop()
    return (header[1:] if index_column else header), index_column


_EVENT_ROW = 0
SAMPLE_BYTES = 1 << 16


def read_url(url: Any, name: str | None = None) -> bytes:
    """The bytes of the file at a URL (``s3://``, ``gs://``...), as stored (compressed or not).

    Raises:
        InputError: not found, or refused (credentials), in one line.
    """
    from .storage import as_path, describe_error

    name = name or str(url)

    try:
        return as_path(url).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", Location(name)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot be read ({describe_error(exc)})", Location(name),
                         "check the URL and the credentials") from None


class CsvSource:
    """A CodeCarbon CSV opened for reading record by record, in bounded memory.

    The file is read twice at most: :meth:`scan` checks the whole file (encoding, header,
    every row's field count) and learns which rows stand for a run, before anything is
    converted; :meth:`blocks` then yields blocks of rows as :class:`CsvTable` objects.
    Paths are streamed from disk (gzip too); bytes and file objects are kept in memory.

    Raises:
        InputError: the file is missing, empty, binary, not CSV or not CodeCarbon's.
    """

    def __init__(self, source: Source, *, name: str | None = None,
                 required: tuple[str, ...] = REQUIRED_COLUMNS,
                 what: str = "a CodeCarbon emissions CSV", kind: str | None = None):
        # Other trackers' CSVs are read the same way, with their own required columns.
        self._required = required
        self._what = what
        self._kind = kind
        self._path: Path | None = None
        self._data: bytes | None = None
        if isinstance(source, bytes) or hasattr(source, "read"):
            data, default = read_source(source)
            self.name = name or default
            self._data = decompress(data, self.name)
        elif is_url(source):  # s3://, gs://, file://...: one read into memory
            self.name = name or str(source)
            self._data = decompress(read_url(source, self.name), self.name)
        else:
            self._path = Path(os.fspath(source))
            self.name = name or str(self._path)
        self.issues: list[Issue] = []
        self.records = 0
        self.scanned = False
        self._runs: dict[str, int] = {}
        self._newline_at_end: bool | None = None
        self._repeated: dict[str, list[int]] = {}
        #: rows converted after a recovery (NUL padding, short or shifted row): what was done
        self.recovered: dict[int, list[str]] = {}
        sample = self._sample()
        if not sample.strip():
            raise InputError("is empty: it holds no CodeCarbon data" if not sample else
                             "holds only blank space: no CodeCarbon data", Location(self.name))
        self.encoding = "utf-8"
        if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.encoding = "utf-16"
        elif sample.startswith(b"\xef\xbb\xbf"):
            self.encoding = "utf-8-sig"
        elif b"\x00" in sample:
            utf16 = _utf16_without_bom(sample)
            first_line = sample.split(b"\n", 1)[0]
            if utf16 is not None:
                self.encoding = utf16
            elif b"\x00" in first_line or b"\n" not in sample:
                raise InputError(
                    "is binary data, not a text CSV", Location(self.name),
                    "expected a CodeCarbon emissions.csv in UTF-8 or UTF-16")
            # else: NUL bytes below a text header are damage (a crash while writing): the
            # rows holding them are reported one by one.
        try:
            first = sample.decode(self.encoding, errors="replace")
        except UnicodeDecodeError:  # pragma: no cover - errors="replace" never raises
            first = ""
        self.delimiter = sniff_delimiter(_first_line(first.lstrip("\ufeff")))
        self.header: list[str] = []
        self.columns: list[str] = []
        self.kind = "codecarbon"
        self._header_issues: list[Issue] = []
        self._fallback: Issue | None = None
        self._read_header()

    @property
    def path(self) -> Path | None:
        """The file on disk; ``None`` for bytes and file objects (read into memory)."""
        return self._path

    @property
    def header_issues(self) -> tuple[Issue, ...]:
        """What the header read noted (a text-encoding fallback, lines before the header)."""
        return tuple(self._header_issues)

    def mark_scanned(self, records: int) -> None:
        """Say that another reader (:func:`boamps_etl.engine.scan.prepare`) has checked the
        whole file and found ``records`` data rows: :meth:`scan` then has nothing to do."""
        self.records = records
        self.scanned = True

    # -- bytes ------------------------------------------------------------------------

    def _binary(self) -> IO[bytes]:
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self._path is not None
        try:
            fh: IO[bytes] = open(self._path, "rb")  # noqa: SIM115 - read-only; callers close it
        except IsADirectoryError:
            raise InputError("is a folder, not a CSV file", Location(self._path)) from None
        except FileNotFoundError:
            raise InputError("no such file", Location(self._path)) from None
        except PermissionError:
            raise InputError("cannot be read (permission denied)",
                             Location(self._path)) from None
        except OSError as exc:
            raise InputError(f"cannot be read ({exc.strerror})", Location(self._path)) from None
        magic = fh.read(2)
        fh.seek(0)
        if magic == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
        return fh

    def _misnamed(self) -> list[Issue]:
        """A warning for a file named ``.gz`` that is not gzip data (it is read as the
        plain text it is)."""
        if self._path is None or not self._path.name.lower().endswith(".gz"):
            return []
        try:
            with open(self._path, "rb") as fh:
                if fh.read(2) == b"\x1f\x8b":
                    return []
        except OSError:
            return []
        return [Issue("not-gzip", "is named .gz but is not gzip data: read as plain text",
                      Location(self.name), "warning", "rename it without .gz")]

    def _sample(self) -> bytes:
        with self._binary() as fh:
            try:
                return fh.read(SAMPLE_BYTES)
            except GZIP_ERRORS as exc:
                raise damaged_gzip(exc, Location(self.name)) from None

    def _text(self) -> IO[str]:
        errors = CP1252_ERRORS if self.encoding == "cp1252" else "strict"
        return io.TextIOWrapper(self._binary(), encoding=self.encoding, newline="",
                                errors=errors)

    # -- records ----------------------------------------------------------------------

    def _read_header(self) -> None:
        try:
            for event in self._events(header_only=True):
                del event
        except UnicodeDecodeError:
            self._fall_back_to_cp1252()
            for event in self._events(header_only=True):
                del event
        self.kind = self._kind or file_kind(self.columns)

    def _fall_back_to_cp1252(self) -> None:
        if self.encoding not in ("utf-8", "utf-8-sig"):
            raise InputError(f"is not valid {self.encoding} text", Location(self.name))
        self.encoding = "cp1252"
        self._fallback = Issue("encoding", "is not UTF-8; read as Windows-1252 (cp1252)",
                               Location(self.name), "warning",
                               "save the file as UTF-8 to be sure of non-ASCII text")

    def _events(self, header_only: bool = False) -> Iterator[tuple[int, list[str], list[str]]]:
        """Yield ``(row, columns, cells)`` for each well-formed data row; collect issues
        (misaligned rows, conflict markers...) on the first full pass."""
        label = self.name
        collect = not self.scanned and not header_only
        issues = self.issues
        recovered = self.recovered
        with self._text() as stream:
            lines = _Lines(stream)
            reader = _records(csv.reader(lines, delimiter=self.delimiter, strict=False))
            number = 0
            header_raw: list[str] | None = None
            leading: list[Issue] = []
            try:
                for record, problem in reader:
                    number += 1
                    if problem is not None:
                        raise InputError(f"cannot be read as a CSV header: {problem}",
                                         Location(label, number),
                                         "expected a CodeCarbon emissions.csv")
                    if _is_conflict_marker(record):
                        leading.append(Issue("conflict-marker",
                                             "git merge-conflict marker line skipped",
                                             Location(label, number), "warning",
                                             "resolve the merge conflict in this file"))
                        continue
                    if record and any(f.strip() for f in record):
                        header_raw = record
                        break
            except GZIP_ERRORS as exc:
                raise damaged_gzip(exc, Location(label)) from None
            if header_raw is None:
                raise InputError("is empty: it holds no CodeCarbon data", Location(label))
            header, index_column = _check_header(header_raw, label, number, self._required,
                                                 self._what)
            if header_only:
                self.header, self.columns = header, list(header)
                self._header_issues = [*([self._fallback] if self._fallback else []),
                                       *self._misnamed(), *leading]
                return
            width = len(header_raw)  # leading issues come with the header (_header_issues)
            columns = header
            last_number = number
            ends_with_newline = True
            pending_misaligned: Issue | None = None
            nul_rows: list[int] = []
            short: dict[tuple[str, ...], list[int]] = {}
            shifted: list[int] = []
            try:
                for record, problem in reader:
                    number += 1
                    last_number = number
                    if lines.nul:
                        lines.nul = False
                        nul_rows.append(number)
                    if pending_misaligned is not None:
                        issues.append(pending_misaligned)
                        pending_misaligned = None
                    if problem is not None:
                        if collect:
                            self.records += 1
                            issues.append(Issue(
                                "unreadable-row", f"row not converted: {problem}",
                                Location(label, number), "error",
                                "CodeCarbon rows are short: this one is damaged; delete it"))
                        continue
                    if not record or (len(record) == 1 and not record[0].strip()):
                        continue  # blank line
                    if _is_conflict_marker(record):
                        if collect:
                            issues.append(Issue("conflict-marker",
                                                "git merge-conflict marker line skipped",
                                                Location(label, number), "warning",
                                                "resolve the merge conflict in this file"))
                        continue
                    stripped = [f.strip() for f in record]
                    if _looks_like_header(stripped, self._required):
                        if [f for f in stripped if f] == columns:
                            if collect:
                                issues.append(Issue("repeated-header",
                                                    "repeated header line skipped",
                                                    Location(label, number), "warning"))
                        else:
                            if collect:
                                issues.append(Issue(
                                    "new-header", "a new header line starts here; the rows "
                                    "below are read with it", Location(label, number),
                                    "warning", "files appended from several CodeCarbon "
                                    "versions; consider splitting"))
                            columns, index_column = _check_header(record, label, number,
                                                                  self._required, self._what)
                            width = len(record)
                            for c in columns:
                                if c not in self.columns:
                                    self.columns.append(c)
                        continue
                    if collect:
                        self.records += 1
                    if len(record) > width:
                        # Trailing empty fields added by spreadsheets are not data.
                        end = len(stripped)
                        while end > width and stripped[end - 1] == "":
                            end -= 1
                        record, stripped = record[:end], stripped[:end]
                    if len(record) != width:
                        fixed = None
                        if len(record) < width and not index_column and lines.complete:
                            fixed = self._recover(columns, stripped, number, short,
                                                  shifted, collect)
                        if fixed is None:
                            if collect:
                                pending_misaligned = self._misaligned_row(
                                    record, width, columns, stripped, index_column,
                                    Location(label, number))
                                ends_with_newline = self._ends_with_newline()
                            continue
                        stripped = fixed
                    cells = (stripped[1: len(columns) + 1] if index_column else
                             stripped[: len(columns)])
                    if collect and nul_rows and nul_rows[-1] == number:
                        recovered.setdefault(number, []).append("NUL padding stripped")
                    yield number, columns, cells
            except GZIP_ERRORS as exc:
                raise damaged_gzip(exc, Location(label)) from None
            if collect:
                self._recovery_issues(nul_rows, short, shifted)
            if pending_misaligned is not None:
                old = pending_misaligned
                if not ends_with_newline and old.where.row == last_number:
                    # Whether the final record was cut off is only known at the end.
                    old = Issue(old.code, old.message.replace(
                        "row does not fit the header",
                        "the last line is cut off (truncated file?)"),
                        old.where, old.severity, old.hint if "NUL" in (old.hint or "") else
                        "delete the partial line or restore the file")
                issues.append(old)

    def _recover(self, columns: list[str], cells: list[str], number: int,
                 short: dict[tuple[str, ...], list[int]], shifted: list[int],
                 collect: bool) -> list[str] | None:
        """The cells of a short row put back under the header, when they can be without a
        guess (see :mod:`boamps_etl.io.realign`); ``None`` otherwise."""
        missing = user_columns_missing(columns, cells)
        if missing is not None:
            if collect:
                short.setdefault(tuple(missing), []).append(number)
                self.recovered.setdefault(number, []).append(
                    f"row stops before the user column(s) {', '.join(missing)}")
            return [*cells, *([""] * len(missing))]
        if self.kind != "codecarbon":
            return None
        found = realign_shifted(columns, cells)
        if found.cells is None:
            return None
        if collect:
            shifted.append(number)
            self.recovered.setdefault(number, []).append(
                "row realigned (CodeCarbon 3.2.9-3.3.0 left out its empty columns)")
        return found.cells

    def _misaligned_row(self, record: list[str], width: int, columns: list[str],
                        cells: list[str], index_column: bool, where: Location) -> Issue:
        issue = _misaligned(record, width, where)
        if not width - len(DROPPABLE) <= len(record) < width or index_column \
                or self.kind != "codecarbon" or issue.hint != _MISALIGNED_HINT:
            return issue
        found = realign_shifted(columns, cells)
        if found.reason is None or "not shorter" in found.reason:
            return issue
        return Issue(issue.code, issue.message.replace(
            "; row not converted", f": {found.reason}; row not converted"), where,
            "error", "CodeCarbon 3.2.9-3.3.0 append rows without their empty columns "
            "(mlco2/codecarbon#1304): fix or delete the row")

    def _recovery_issues(self, nul_rows: list[int], short: dict[tuple[str, ...], list[int]],
                         shifted: list[int]) -> None:
        """One warning per file and kind of recovery, naming the rows."""
        label = self.name
        if nul_rows:
            self.issues.append(Issue(
                "recovered-nul-padding",
                f"recovered: NUL padding left by a crash while writing stripped from "
                f"{_rows_text(nul_rows)}; the rows were then read as usual", Location(label),
                "warning", "check that the run(s) around it are complete"))
        for missing, rows in short.items():
            self.issues.append(Issue(
                "recovered-short-rows",
                f"recovered: {_rows_text(rows)} stop before the user column(s) "
                f"{', '.join(missing)} (written before those columns were added); "
                "converted with those cells empty", Location(label), "warning"))
        if shifted:
            self.issues.append(Issue(
                "recovered-shifted-rows",
                f"recovered: {_rows_text(shifted)} were appended by CodeCarbon 3.2.9-3.3.0 "
                "without their empty columns, cells shifted left (mlco2/codecarbon#1304); "
                "realigned to the header (the only arrangement their cells fit)",
                Location(label), "warning", "upgrade CodeCarbon past 3.3.0"))

    def _ends_with_newline(self) -> bool:
        # Asked for each misaligned row: reading a gzip file to its end each time would
        # make a file of many bad rows quadratic.
        if self._newline_at_end is None:
            self._newline_at_end = self._read_newline_at_end()
        return self._newline_at_end

    def _read_newline_at_end(self) -> bool:
        with self._binary() as fh:
            if self._data is not None:
                return self._data.endswith((b"\n", b"\r"))
            if isinstance(fh, gzip.GzipFile):
                last = b""
                try:
                    while chunk := fh.read(1 << 16):  # streamed: no whole copy in memory
                        last = chunk[-1:]
                except GZIP_ERRORS as exc:
                    raise damaged_gzip(exc, Location(self.name)) from None
                return last in (b"\n", b"\r")
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) in (b"\n", b"\r")

    # -- passes -----------------------------------------------------------------------

    def scan(self, group_runs: bool = True) -> None:
        """Read the whole file once: check every row, count records, and note the rows of
        each run_id (the last one stands for the run). Falls back to Windows-1252 when the
        file is not UTF-8."""
        if self.scanned:
            return
        for attempt in range(2):
            self.issues = list(self._header_issues)
            self.records = 0
            self.recovered = {}
            self._runs, self._repeated = {}, {}
            try:
                self._collect(group_runs)
            except UnicodeDecodeError:
                if attempt:
                    raise InputError(f"is not valid {self.encoding} text",
                                     Location(self.name)) from None
                self._fall_back_to_cp1252()
                self._read_header()
                continue
            break
        self.scanned = True

    def _collect(self, group_runs: bool) -> None:
        """Check every row and note, for each run_id, its rows (the last one stands for
        the run). Column-wise twin: :func:`boamps_etl.engine.scan._last_of_each` (and
        :func:`boamps_etl.engine.scan._last_of_each_bucket` for a large file)."""
        runs, repeated = self._runs, self._repeated
        for number, columns, cells in self._events():
            if not group_runs:
                continue
            try:
                run_id = cells[columns.index("run_id")]
            except ValueError:
                continue
            if run_id in EMPTY_VALUES:
                continue
            previous = runs.get(run_id)
            if previous is not None:
                repeated.setdefault(run_id, [previous]).append(number)
            runs[run_id] = number

    def selection(self) -> tuple[set[int], dict[int, tuple[int, ...]]]:
        """Rows superseded by a later row of the same run_id (CodeCarbon's cumulative
        flushes: not converted), and, for runs of several rows, all their rows keyed by
        the last one."""
        skip = {row for rows in self._repeated.values() for row in rows[:-1]}
        groups = {rows[-1]: tuple(rows) for rows in self._repeated.values()}
        return skip, groups

    def chunks(self, chunk_rows: int = 20_000, skip: set[int] | None = None
               ) -> Iterator[CsvTable]:
        """Deprecated name of :meth:`blocks`."""
        import warnings

        warnings.warn("CsvSource.chunks(chunk_rows=) is now CsvSource.blocks(block_rows=)",
                      DeprecationWarning, stacklevel=2)
        return self.blocks(chunk_rows, skip)

    def blocks(self, block_rows: int = 20_000, skip: set[int] | None = None
               ) -> Iterator[CsvTable]:
        """Blocks of at most ``block_rows`` well-formed rows (leaving out the rows in
        ``skip``), each a :class:`CsvTable`; the file's issues come with the first block."""
        import pandas as pd

        first = True
        block: list[tuple[int, list[str], list[str]]] = []

        def table(items: list[tuple[int, list[str], list[str]]]) -> CsvTable:
            nonlocal first
            by_columns: dict[tuple[str, ...], list[int]] = {}
            for pos, (_, names, _) in enumerate(items):
                by_columns.setdefault(tuple(names), []).append(pos)
            issues = self.issues if first else []
            records = self.records if first else 0
            if len(by_columns) == 1 and list(next(iter(by_columns))) == self.columns:
                # every row under the file's one header: its columns as lists, the frame
                # built only if asked for
                first = False
                cells = dict(zip(self.columns, (list(c) for c in zip(
                    *(cells for _, _, cells in items), strict=True)), strict=True)) \
                    if self.columns else {}
                cells[ROW_COLUMN] = [number for number, _, _ in items]
                return CsvTable(self.name, None, list(self.columns), self.kind, list(issues),
                                records, self.encoding, self.recovered, cells=cells)
            frames = []
            for key, positions in by_columns.items():
                part = pd.DataFrame([items[p][2] for p in positions], columns=list(key),
                                    dtype=object)
                part[ROW_COLUMN] = [items[p][0] for p in positions]
                frames.append(part)
            if not frames:
                frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.columns})
                frame[ROW_COLUMN] = pd.Series([], dtype=object)
            elif len(frames) == 1:
                frame = frames[0]
            else:
                frame = pd.concat(frames, ignore_index=True).sort_values(
                    ROW_COLUMN, kind="stable", ignore_index=True)
            frame = frame.reindex(columns=[*self.columns, ROW_COLUMN])
            first = False
            return CsvTable(self.name, frame, list(self.columns), self.kind, list(issues),
                            records, self.encoding, self.recovered)

        for item in self._events():
            if skip and item[0] in skip:
                continue
            block.append(item)
            if len(block) >= block_rows:
                yield table(block)
                block = []
        if block or first:
            yield table(block)


_MISALIGNED_HINT = ("CodeCarbon's append mode writes such rows when the header changed; fix "
                    "or delete the row")


def _rows_text(rows: list[int]) -> str:
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {row_ranges(rows)}"


def _misaligned(record: list[str], width: int, where: Location) -> Issue:
    message = (f"row does not fit the header: {len(record)} fields where the header has "
               f"{width}; row not converted")
    hint = _MISALIGNED_HINT
    spill = max((f.count("\n") for f in record), default=0)
    if spill:
        # An opening quote that is never closed swallows the lines below it.
        message = message.replace("; row not converted", f", and a quoted cell runs over "
                                  f"{spill} more line(s); row not converted")
        hint = 'a quote (") in this row is never closed: close or remove it'
    elif any("\x00" in f for f in record):
        hint = ("the row holds NUL bytes: the file was cut off while being written (crash "
                "or full disk); delete the row")
    return Issue("misaligned-row", message, where, "error", hint)


def read_codecarbon_csv(source: Source, *, name: str | None = None) -> CsvTable:
    """Read a CodeCarbon CSV (any version, plain or .gz) into a :class:`CsvTable`.

    Args:
        source: a path, bytes, or a binary file object.
        name: the name to use in messages (defaults to the path).

    Raises:
        InputError: the file is empty, binary, not CSV, not CodeCarbon's (the message lists
            the missing columns), or has duplicate column names.

    >>> table = read_codecarbon_csv("tests/fixtures/codecarbon/v3.2.1.csv")  # doctest: +SKIP
    >>> table.frame[["run_id", "energy_consumed"]].head()  # doctest: +SKIP
    """
    src = CsvSource(source, name=name)
    src.scan(group_runs=False)
    return next(src.blocks(block_rows=1 << 62))


def unknown_columns(columns: list[str]) -> list[str]:
    """Columns that are not CodeCarbon's (user additions; available to mappings)."""
    return [c for c in columns if c not in KNOWN_COLUMNS and c != ROW_COLUMN]
