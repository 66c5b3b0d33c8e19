"""Read CodeCarbon CSVs of any version into a DataFrame of text cells, with located problems.

The reader never guesses a value: every cell is kept as the text CodeCarbon wrote (spaces
stripped), and rows whose field count differs from the header are reported with their
spreadsheet row number and left out, never shifted. Numbers are parsed later, column by
column, by the mapping, which knows each field's type and unit.

Handled here: UTF-8 with or without BOM, UTF-16 (BOM), Latin-1 / Windows-1252 fallback,
CRLF and mixed line endings, quoted newlines, ``,`` ``;`` or tab delimiters, space-padded
headers and values, gzip-compressed files, git merge-conflict markers and repeated headers,
a truncated last line, duplicate or empty column names.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..codecarbon import KNOWN_COLUMNS, REQUIRED_COLUMNS, file_kind
from ..errors import InputError, Issue, Location

ROW_COLUMN = "__row__"
#: Largest single field accepted (CodeCarbon fields are short; this bounds memory on junk).
MAX_FIELD_SIZE = 1 << 20

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
        issues: problems found while reading (misaligned rows, truncated line, encoding).
        records: number of data records seen, good and bad.
    """

    name: str
    frame: Any
    columns: list[str]
    kind: str
    issues: list[Issue] = field(default_factory=list)
    records: int = 0
    encoding: str = "utf-8"


def _read_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "<bytes>"
    if hasattr(source, "read"):
        data = source.read()
        return (data if isinstance(data, bytes) else str(data).encode()), getattr(
            source, "name", "<stream>"
        )
    path = Path(os.fspath(source))
    try:
        with open(path, "rb") as fh:  # read-only: inputs are never modified
            data = fh.read()
    except IsADirectoryError:
        raise InputError("is a folder, not a CSV file", Location(path)) from None
    except FileNotFoundError:
        raise InputError("no such file", Location(path)) from None
    except PermissionError:
        raise InputError("cannot be read (permission denied)", Location(path)) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", Location(path)) from None
    return data, str(path)


def _decompress(data: bytes, name: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"is a damaged gzip file ({exc})", Location(name)) from None
    return data


def decode(data: bytes, name: str) -> tuple[str, str, list[Issue]]:
    """Decode CSV bytes: UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252/Latin-1."""
    issues: list[Issue] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", issues
        except UnicodeDecodeError:
            raise InputError("starts with a UTF-16 mark but is not valid UTF-16",
                             Location(name), "save it as UTF-8") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    sample = data[:4096]
    if b"\x00" in sample:
        raise InputError(
            "is binary data, not a text CSV", Location(name),
            "expected a CodeCarbon emissions.csv in UTF-8 (UTF-16 needs its byte-order mark)",
        )
    try:
        return data.decode("utf-8"), "utf-8", issues
    except UnicodeDecodeError as exc:
        encoding = "cp1252"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            encoding = "latin-1"
            text = data.decode(encoding)
        issues.append(Issue(
            "encoding", f"is not UTF-8 (byte {exc.start}); read as {encoding}",
            Location(name), "warning", "save the file as UTF-8 to be sure of non-ASCII text",
        ))
        return text, encoding, issues


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


def iter_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str], bool]]:
    """Yield ``(record_number, fields, ends_with_newline)``; record 1 is the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    number = 0
    try:
        for record in reader:
            number += 1
            yield number, record, True
    except csv.Error as exc:
        raise InputError(f"cannot be parsed as CSV after row {number} ({exc})",
                         Location(row=number + 1)) from None


def _looks_like_header(fields: list[str]) -> bool:
    names = {f for f in fields if f}
    return all(c in names for c in REQUIRED_COLUMNS)


def _check_header(raw: list[str], label: str, row: int) -> tuple[list[str], bool]:
    header = [h.strip().lstrip("\ufeff") for h in raw]
    # pandas' to_csv(index=True) leaves an unnamed leading index column: it is dropped.
    index_column = len(header) > 1 and header[0] == ""
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        shown = [h for h in header[:8] if h]
        found = ", ".join(shown) + (", ..." if len(header) > 8 else "")
        raise InputError(
            f"is not a CodeCarbon emissions CSV: missing column(s) {', '.join(missing)}",
            Location(label, row),
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
                f"duplicate column name '{col}' (columns {seen[col]} and {pos})",
                Location(label, row, col), "delete or rename one of them",
            )
        seen[col] = pos
    while header and header[-1] == "":
        header.pop()
    return (header[1:] if index_column else header), index_column


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
    import pandas as pd

    data, default_name = _read_bytes(source)
    label = name or default_name
    data = _decompress(data, label)
    if not data.strip():
        raise InputError("is empty: it holds no CodeCarbon data" if not data else
                         "holds only blank space: no CodeCarbon data", Location(label))
    text, encoding, issues = decode(data, label)
    issues = [Issue(i.code, i.message, Location(label), i.severity, i.hint) for i in issues]
    delimiter = sniff_delimiter(_first_line(text))
    ends_with_newline = text.endswith(("\n", "\r"))

    leading: list[Issue] = []
    try:
        records = iter_records(text, delimiter)
        while True:
            number, header_raw, _ = next(records)
            if _is_conflict_marker(header_raw):
                leading.append(Issue("conflict-marker", "git merge-conflict marker line skipped",
                                     Location(label, number), "warning",
                                     "resolve the merge conflict in this file"))
                continue
            if header_raw and any(f.strip() for f in header_raw):
                break
    except InputError as exc:
        raise InputError(exc.message, Location(label, exc.where.row)) from None
    except StopIteration:
        raise InputError("is empty: it holds no CodeCarbon data", Location(label)) from None
    issues.extend(leading)
    header_row = number
    header, index_column = _check_header(header_raw, label, header_row)
    width = len(header_raw)
    segments: list[tuple[list[str], list[list[str]], list[int]]] = []
    good: list[list[str]] = []
    rows: list[int] = []
    record_count = 0
    last_number = header_row
    try:
        for number, record, _ in records:
            last_number = number
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if _is_conflict_marker(record):
                issues.append(Issue("conflict-marker", "git merge-conflict marker line skipped",
                                    Location(label, number), "warning",
                                    "resolve the merge conflict in this file"))
                continue
            stripped = [f.strip() for f in record]
            if _looks_like_header(stripped):
                if [f for f in stripped if f] == header:
                    issues.append(Issue("repeated-header", "repeated header line skipped",
                                        Location(label, number), "warning"))
                else:
                    issues.append(Issue(
                        "new-header", "a new header line starts here; the rows below are read "
                        "with it", Location(label, number), "warning",
                        "files appended from several CodeCarbon versions; consider splitting"))
                    segments.append((header, good, rows))
                    header, index_column = _check_header(record, label, number)
                    width, good, rows = len(record), [], []
                continue
            record_count += 1
            if len(record) != width:
                # Trailing empty fields added by spreadsheets are not data.
                while len(record) > width and record[-1].strip() == "":
                    record = record[:-1]
                    stripped = stripped[:-1]
            if len(record) != width:
                issues.append(Issue(
                    "misaligned-row",
                    f"row does not fit the header: {len(record)} fields where the header has "
                    f"{width}; row not converted",
                    Location(label, number), "error",
                    "CodeCarbon's append mode writes such rows when the header changed; "
                    "fix or delete the row",
                ))
                continue
            good.append(stripped[1: len(header) + 1] if index_column else
                        stripped[: len(header)])
            rows.append(number)
    except InputError as exc:
        raise InputError(exc.message, Location(label, exc.where.row)) from None
    # Whether the final record was cut off is only known once the loop ends.
    if (not ends_with_newline and issues and issues[-1].code == "misaligned-row"
            and issues[-1].where.row == last_number):
        old = issues.pop()
        issues.append(Issue(old.code, old.message.replace(
            "row does not fit the header", "the last line is cut off (truncated file?)"),
            old.where, old.severity, "delete the partial line or restore the file"))
    segments.append((header, good, rows))
    frames: list[Any] = []
    columns: list[str] = []
    for seg_header, seg_rows, seg_numbers in segments:
        cols = seg_header
        for c in cols:
            if c not in columns:
                columns.append(c)
        if seg_rows or not frames:
            part = pd.DataFrame(seg_rows, columns=cols, dtype=object) if seg_rows else \
                pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
            part[ROW_COLUMN] = seg_numbers
            frames.append(part)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame = frame.reindex(columns=[*columns, ROW_COLUMN])
    return CsvTable(label, frame, columns, file_kind(columns), issues, record_count, encoding)


def unknown_columns(columns: list[str]) -> list[str]:
    """Columns that are not CodeCarbon's (user additions; available to mappings)."""
    return [c for c in columns if c not in KNOWN_COLUMNS and c != ROW_COLUMN]
