"""The description of a tracker every tracker module gives: :class:`Tracker`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..io.readers import CsvTable, Source
from .sample import Sample


@dataclass(frozen=True)
class Tracker:
    """One source format.

    Attributes:
        name: the short name (``--from NAME``), also the name of its mapping file.
        title: the tool's name as its authors write it.
        homepage: where the tool lives.
        files: file-name patterns ``batch`` looks for (content decides, names only find).
        recognise: true when a file's content is this format.
        read: the reader: a source (path or bytes) and the name used in messages.
        records: one line on what a row (a report) stands for.
        asks: what the tool does not record, which ``init-context`` asks for.
    """

    name: str
    title: str
    homepage: str
    files: tuple[str, ...]
    recognise: Callable[[Sample], bool]
    read: Callable[[Source, str | None], CsvTable]
    records: str
    asks: tuple[str, ...] = ()

    @property
    def mapping(self) -> str:
        """The name of its built-in mapping (``mappings/<name>.yaml``)."""
        return self.name
