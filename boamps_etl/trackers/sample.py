"""What a file starts with: the content trackers are recognised by, read once.

A :class:`Sample` holds the first bytes of a file (gzip-compressed files are opened), its
first line split as a CSV header, and, for JSON files, the parsed document. Trackers look at
these, never at the file name.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError, Location
from ..io import storage
from ..io.readers import (
    GZIP_ERRORS,
    MAX_INPUT_BYTES,
    SAMPLE_BYTES,
    Source,
    damaged_gzip,
    decompress,
    read_file,
    read_source,
    sniff_delimiter,
)


def decode(data: bytes) -> str:
    """Text of a tracker's file: UTF-8 (with or without BOM), UTF-16 with a BOM, else
    Windows-1252 (never fails)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class Sample:
    """The beginning of a file (and all of it on demand), for recognising its format."""

    def __init__(self, name: str, head: bytes, path: Path | None = None,
                 data: bytes | None = None):
        self.name = name
        self.head_bytes = head
        self._path = path
        self._data = data
        self._json: Any = None
        self._json_read = False
        self._header: list[str] | None = None

    @classmethod
    def of(cls, source: Source, name: str | None = None) -> Sample:
        """A sample of a path, bytes or binary file object.

        Raises:
            InputError: the file is missing, a folder, unreadable or damaged gzip.
        """
        if isinstance(source, bytes) or hasattr(source, "read"):
            data, default = read_source(source)
            label = name or default
            data = decompress(data, label)
            return cls(label, data[:SAMPLE_BYTES], data=data)
        path = storage.as_path(source)
        label = name or str(path)
        if storage.is_url(path):  # an object store: one whole-object read
            try:
                data = decompress(path.read_bytes(), label)
            except FileNotFoundError:
                raise InputError("no such file", Location(label)) from None
            except OSError as exc:
                raise InputError(f"cannot be read ({storage.describe_error(exc)})",
                                 Location(label)) from None
            return cls(label, data[:SAMPLE_BYTES], path=path, data=data)
        head = read_file(path, SAMPLE_BYTES)
        if head[:2] == b"\x1f\x8b":
            try:
                with gzip.open(path, "rb") as gz:
                    head = gz.read(SAMPLE_BYTES)
            except GZIP_ERRORS as exc:
                raise damaged_gzip(exc, Location(label)) from None
        return cls(label, head, path=path)

    # -- content ------------------------------------------------------------------------

    def data(self) -> bytes:
        """The whole file (decompressed), read once; at most the in-memory limit."""
        if self._data is None:
            assert self._path is not None
            raw, _ = read_source(self._path)
            if len(raw) > MAX_INPUT_BYTES:
                raise InputError("is too large to be read into memory", Location(self.name))
            self._data = decompress(raw, self.name)
        return self._data

    @property
    def head(self) -> str:
        """The first bytes as text."""
        return decode(self.head_bytes)

    def text(self) -> str:
        """The whole file as text."""
        return decode(self.data())

    def header(self) -> list[str]:
        """The first non-blank line split as a CSV header (names stripped)."""
        if self._header is None:  # asked by each tracker in turn: read once
            self._header = self._read_header()
        return list(self._header)

    def _read_header(self) -> list[str]:
        text = self.head.lstrip("\ufeff")
        for line in io.StringIO(text):
            if line.strip():
                try:
                    fields = next(csv.reader([line], delimiter=sniff_delimiter(line)))
                except (csv.Error, StopIteration):
                    return []
                return [f.strip() for f in fields]
        return []

    def looks_like_json(self) -> bool:
        return self.head.lstrip("\ufeff \t\r\n").startswith(("{", "["))

    def json(self) -> Any:
        """The parsed JSON document, or None when the file is not JSON."""
        if not self._json_read:
            self._json_read = True
            if self.looks_like_json():
                try:
                    self._json = json.loads(self.text())
                except (ValueError, RecursionError):
                    self._json = None
        return self._json

    def document(self) -> Any:
        """The whole file parsed as JSON, numbers as :class:`~decimal.Decimal` so that they
        keep every digit the file has.

        Raises:
            InputError: the file is not valid JSON (with its line and column where known).
        """
        try:
            return json.loads(self.text(), parse_float=Decimal)
        except (ValueError, RecursionError):
            raise self.json_error() or InputError("is not valid JSON",
                                                  Location(self.name)) from None

    def json_error(self) -> InputError | None:
        """What is wrong with a file that should be JSON: the line and column, or None."""
        try:
            json.loads(self.text())
        except json.JSONDecodeError as exc:
            return InputError(f"is not valid JSON: {exc.msg}",
                              Location(self.name, line=exc.lineno, col=exc.colno),
                              "the file is damaged or cut off: restore it")
        except RecursionError:
            return InputError("is not valid JSON: nested too deeply", Location(self.name))
        return None
