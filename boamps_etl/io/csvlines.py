"""Flat CSV lines written in their own columns, put into the columns of the whole file with
byte operations on whole blocks of lines (numpy), not line by line.

A line of ``q`` cells in its own columns ``s`` becomes a line of the file's ``m`` columns
``F``: cell ``j`` of the new line is the cell of column ``F[j]`` in the line, or empty.
Each cell is found between two separators: the commas outside quotes (an even number of
quotes before them in the line: a quoted cell doubles its quotes), the line's start and
its end. The new line is gathered from those cells in ``F``'s order, with a comma after
each cell and a line break after the last. The csv module quotes a cell by its own text
only, so a cell moved elsewhere keeps its bytes; two kinds of line are left to
:func:`line_in_columns` (the csv module, line by line): a line of one cell (an empty one
is written ``""``) and a line holding a carriage return (all its cells are quoted, the
empty ones added too).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..flatten import csv_line
from .parquet import _indices

_COMMA, _QUOTE, _BREAK, _RETURN = ord(","), ord('"'), ord("\n"), ord("\r")
#: Lines put in columns at a time.
BLOCK_LINES = 8192


def line_in_columns(line: bytes, pick: Sequence[int]) -> bytes:
    """One CSV line (with its line break) in other columns: cell ``pick[j]`` of the line
    becomes cell ``j`` (a ``pick`` past the line's cells: an empty cell)."""
    text = line.decode("utf-8")
    if '"' not in text:
        cells = text[:-1].split(",")
    else:
        cells = next(csv.reader(io.StringIO(text, newline="")))
    row = [cells[p] if p < len(cells) else "" for p in pick]
    if '"' not in text:
        return (",".join(row) + "\n").encode("utf-8")
    return csv_line(row).encode("utf-8")


class Rearranger:
    """Put blocks of staged CSV lines into the columns ``columns`` of the whole file; each
    line's own columns are ``sets[ids[i]]``.

    For each column set, the new line is a few pieces: runs of cells that stay side by
    side (copied with the commas between them) and runs of commas (the empty cells), the
    last with the line break; the pieces of a block are found with numpy and joined."""

    def __init__(self, columns: Sequence[str], sets: Sequence[Sequence[str]]):
        import numpy as np

        self.width = m = len(columns)
        where = {c: j for j, c in enumerate(columns)}
        self.same = np.array([list(s) == list(columns) for s in sets], dtype=bool)
        self.sizes = np.array([len(s) for s in sets], dtype=np.int64)
        self.picks: list[list[int]] = []
        # per column set: its pieces, ('cells', first, last, with the comma after) or
        # ('text', start, end) in the spare text: commas, a line break after some, each
        # text its own bytes there (no two pieces share a byte: see _gathered)
        self.pieces: list[list[tuple[str, int, int, int]]] = []
        texts: dict[bytes, int] = {}
        spare = bytearray()

        def text(commas: int, newline: bool) -> tuple[str, int, int, int]:
            wanted = b"," * commas + (b"\n" if newline else b"")
            at = texts.get(wanted)
            if at is None:
                at = texts[wanted] = len(spare)
                spare.extend(wanted)
            return ("text", at, at + len(wanted), 0)

        for s in sets:
            pick = [-1] * m
            if any(c not in where for c in s):  # a set no line has yet: none to place
                self.picks.append(pick)
                self.pieces.append([])
                continue
            for k, c in enumerate(s):
                pick[where[c]] = k
            self.picks.append(pick)
            runs: list[list[int]] = []  # [first cell, last cell, first column, last column]
            for j, k in enumerate(pick):
                if k < 0:
                    continue
                if runs and runs[-1][1] == k - 1 and runs[-1][3] == j - 1:
                    runs[-1][1], runs[-1][3] = k, j
                else:
                    runs.append([k, k, j, j])
            pieces: list[tuple[str, int, int, int]] = []
            if runs and runs[0][2]:
                pieces.append(text(runs[0][2], False))
            for r, (first, last, _, column) in enumerate(runs):
                commas = (runs[r + 1][2] if r + 1 < len(runs) else m) - column - 1
                newline = r + 1 == len(runs)
                comma = last < len(s) - 1 and (commas > 0 or not newline)
                pieces.append(("cells", first, last, int(comma)))
                needed = commas + (0 if newline else 1) - int(comma)
                if newline:
                    pieces.append(text(needed, True))
                elif needed:
                    pieces.append(text(needed, False))
            self.pieces.append(pieces)
        self.spare = bytes(spare)

    def block(self, data: bytes, ids: Any, lengths: Any) -> bytes:
        """The lines ``data`` (``lengths`` bytes each, in the column sets ``ids``) in the
        file's columns, end to end."""
        return self.sized(data, ids, lengths)[0]

    def sized(self, data: bytes, ids: Any, lengths: Any) -> tuple[bytes, Any]:
        """:meth:`block`, and the byte length of each new line."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n = len(lengths)
        same = self.same[ids]
        if not n or same.all():
            return bytes(data), lengths
        buffer = bytes(data) + self.spare  # the lines, then the texts added between cells
        raw = np.frombuffer(buffer, dtype=np.uint8, count=len(buffer) - len(self.spare))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        sizes = self.sizes[ids]
        # lines left to the csv module: one cell, or a carriage return (all quoted)
        slow = (sizes < 2) & ~same
        if b"\r" in buffer:  # found by memchr: most blocks hold none
            returns = np.flatnonzero(raw == _RETURN)
            slow[np.searchsorted(ends, returns, side="right")] = True
        # separators: commas with an even number of quotes before them in the line (every
        # line holds an even number of quotes, so counting from the block's start works)
        commas = raw == _COMMA
        if b'"' in buffer:
            commas &= (np.cumsum(raw == _QUOTE) & 1) == 0
        seps = np.flatnonzero(commas)
        wanted = sizes - 1
        first_sep = np.cumsum(wanted) - wanted
        if not _one_each(seps, starts, ends, first_sep, wanted):
            # some line is not as staged (never): count each line's separators
            line_of = np.searchsorted(ends, seps, side="right")
            counts = np.bincount(line_of, minlength=n)
            slow |= (counts != sizes - 1) & ~same
            first_sep = np.cumsum(counts) - counts
        moved = ~same & ~slow
        count = np.ones(n, dtype=np.int64)  # pieces per line
        piece_counts = np.array([len(p) for p in self.pieces], dtype=np.int64)
        count[moved] = piece_counts[ids[moved]]
        at = np.cumsum(count) - count
        total = int(count.sum())
        begin = np.zeros(total, dtype=np.int64)
        stop = np.zeros(total, dtype=np.int64)
        kept = np.flatnonzero(~moved)
        begin[at[kept]] = starts[kept]
        stop[at[kept]] = ends[kept]
        spare = len(raw)
        for cid in np.unique(ids[moved]).tolist():
            rows = np.flatnonzero(moved & (ids == cid))
            q = int(self.sizes[cid])
            fs, row_start, row_end, where = first_sep[rows], starts[rows], ends[rows], at[rows]
            for p, (kind, a, b, comma) in enumerate(self.pieces[cid]):
                if kind == "text":
                    begin[where + p] = spare + a
                    stop[where + p] = spare + b
                    continue
                begin[where + p] = row_start if a == 0 else seps[fs + a - 1] + 1
                stop[where + p] = (row_end - 1 if b == q - 1 else seps[fs + b]) + comma
        # a moved line gains a comma per column it lacks, its cells keep their bytes
        new_lengths = np.where(moved, lengths + self.width - sizes, lengths)
        redo = np.flatnonzero(slow & ~same).tolist()
        if not redo:  # every piece gathered at once
            return _gathered(buffer, begin, stop), new_lengths
        out = [buffer[s:e] for s, e in zip(begin.tolist(), stop.tolist(), strict=True)]
        for i in redo:
            pick = [p if p >= 0 else 1 << 30 for p in self.picks[int(ids[i])]]
            line = out[int(at[i])] = line_in_columns(buffer[int(starts[i]): int(ends[i])],
                                                     pick)
            new_lengths[i] = len(line)
        return b"".join(out), new_lengths


def _gathered(buffer: bytes, begin: Any, stop: Any) -> bytes:
    """The bytes ``buffer[begin[i]:stop[i]]`` end to end, for pieces that share no byte
    (or all of them: a text used by many lines). Cut at every piece's ends, the buffer
    is an Arrow binary array of which each piece is one item (and each gap between two
    pieces another), and Arrow's ``take`` copies the pieces whole, in order."""
    import numpy as np
    import pyarrow as pa

    full = stop > begin
    begin, stop = begin[full], stop[full]
    if not len(begin):
        return b""
    order = np.argsort(begin, kind="stable")
    first, last = begin[order], stop[order]
    new = np.ones(len(first), dtype=bool)  # the texts between cells: one piece, many uses
    new[1:] = first[1:] != first[:-1]
    slot = np.cumsum(new) - 1
    first, last, used = first[new], last[new], last
    if np.any(last[:-1] > first[1:]) or np.any(last[slot] != used):  # never
        raise AssertionError("CSV pieces overlap")
    large = len(buffer) >= 1 << 31
    kind = np.int64 if large else np.int32
    cuts = np.empty(2 * len(first), dtype=kind)
    cuts[0::2], cuts[1::2] = first, last
    items = np.empty(len(order), dtype=np.int64)
    items[order] = 2 * slot
    array = pa.Array.from_buffers(pa.large_binary() if large else pa.binary(),
                                  len(cuts) - 1, [None, pa.py_buffer(cuts),
                                                  pa.py_buffer(buffer)])
    taken = array.take(_indices(items))
    ends = np.frombuffer(taken.buffers()[1], dtype=kind)
    at, to = int(ends[taken.offset]), int(ends[taken.offset + len(taken)])
    out: bytes = taken.buffers()[2][at:to].to_pybytes()
    return out


class CsvStage:
    """CSV lines staged in a work file (the header needs every report's columns before
    the first line), each put in the columns of the file *so far* as it comes: the union
    of the column sets seen, in first-seen order. That union only grows at its end, so a
    line staged in its first ``k`` columns lacks only empty cells at its end in the
    whole file's ``m``: :meth:`write` copies the lines staged in all ``m`` columns as
    they are and adds ``m - k`` empty cells (commas) to the others. The work of putting
    cells in place is done while the workers convert the next ranges, not after them.

    Kept per line: its byte length (8 bytes, in a temporary file); per staged block of
    lines: their count, byte size and the number of columns then."""

    def __init__(self, fh: Any, folder: str | None = None):
        self.fh = fh  # the work file of the lines, opened for binary writing
        self._side: Any = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - close()
        self._sets: dict[tuple[str, ...], int] = {}  # column set -> its id
        self.columns: dict[str, None] = {}  # every column, in first-seen order
        self._blocks: list[tuple[int, int, int]] = []  # (lines, bytes, columns) staged
        self._rearrange: Rearranger | None = None
        self._made_for = (0, 0)  # the (columns, column sets) of _rearrange

    def column_set(self, columns: tuple[str, ...]) -> int:
        """The id of a column set (a new one for a set not seen yet)."""
        found = self._sets.get(columns)
        if found is None:
            found = self._sets[columns] = len(self._sets)
        return found

    def ids(self, column_ids: Any, column_sets: Sequence[tuple[str, ...]]) -> Any:
        """The ids of lines in the column sets ``column_sets[column_ids[i]]``."""
        import numpy as np

        mine = np.array([self.column_set(c) for c in column_sets], dtype=np.int64)
        return mine[np.asarray(column_ids, dtype=np.int64)]

    def add(self, data: bytes | memoryview, lengths: Any, ids: Any) -> None:
        """Stage lines: ``data`` holds them end to end (UTF-8, ``lengths`` bytes each),
        line ``i`` in the column set of id ``ids[i]``."""
        import numpy as np

        lengths = np.asarray(lengths, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        self._note(ids)
        view = memoryview(data)
        ends = np.cumsum(lengths).tolist()
        at = 0
        for first in range(0, len(lengths), BLOCK_LINES):
            last = min(first + BLOCK_LINES, len(lengths))
            self._stage(bytes(view[at: ends[last - 1]]), ids[first:last],
                        lengths[first:last])
            at = ends[last - 1]

    def add_file(self, src: Any, lengths: Any, ids: Any) -> None:
        """Stage the lines of the file ``src`` (opened for binary reading), as :meth:`add`
        takes them, a block of lines at a time."""
        import numpy as np

        lengths = np.asarray(lengths, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        self._note(ids)
        for first in range(0, len(lengths), BLOCK_LINES):
            part = lengths[first: first + BLOCK_LINES]
            data = src.read(int(part.sum()))
            if len(data) != int(part.sum()):
                raise OSError(f"{getattr(src, 'name', 'a part file')} is shorter than "
                              "its lines")
            self._stage(data, ids[first: first + BLOCK_LINES], part)

    def _note(self, ids: Any) -> None:
        """The columns of the file grow in first-seen order."""
        import numpy as np

        _, first = np.unique(ids, return_index=True)
        sets = list(self._sets)
        for at in sorted(first.tolist()):
            for column in sets[int(ids[at])]:
                self.columns.setdefault(column, None)

    def _stage(self, data: bytes, ids: Any, lengths: Any) -> None:
        """A block of lines put in the columns so far, written to the work file."""
        if not len(lengths):
            return
        shape = (len(self.columns), len(self._sets))
        if self._rearrange is None or shape != self._made_for:
            self._rearrange = Rearranger(list(self.columns), list(self._sets))
            self._made_for = shape
        out, sizes = self._rearrange.sized(data, ids, lengths)
        self.fh.write(out)
        self._side.write(sizes.tobytes())
        self._blocks.append((len(lengths), len(out), shape[0]))

    def write(self, lines: Any, write: Any, write_bytes: Any = None, out: Any = None
              ) -> None:
        """Write the header and the lines staged in the file ``lines`` (opened for binary
        reading) in the file's columns: ``write`` takes texts, ``write_bytes`` (when
        given) UTF-8 bytes; ``out``, when given, is the file they write to, where the
        lines already in all the columns are copied in the kernel (when it can)."""
        import numpy as np

        if write_bytes is None:
            def write_bytes(data: bytes) -> None:
                write(data.decode("utf-8"))

        m = len(self.columns)
        self._side.flush()
        self._side.seek(0)
        write(csv_line(list(self.columns)))
        for count, nbytes, k in self._blocks:
            if k == m:
                self._side.seek(8 * count, io.SEEK_CUR)
                if out is not None:
                    _copy_bytes(lines, out, nbytes)
                else:
                    write_bytes(_read(lines, nbytes))
                continue
            lengths = np.frombuffer(self._side.read(8 * count), dtype=np.int64)
            write_bytes(widened(_read(lines, nbytes), lengths, k, m))

    def close(self) -> None:
        """Remove the record (the caller removes the work file)."""
        self._side.close()


def _read(src: Any, size: int) -> bytes:
    """The next ``size`` bytes of the file ``src``."""
    data = bytes(src.read(size))
    while len(data) < size:  # an unbuffered file may read less
        more = src.read(size - len(data))
        if not more:
            raise OSError(f"{getattr(src, 'name', 'a work file')} is shorter than its lines")
        data += more
    return data


def _copy_bytes(src: Any, dst: Any, size: int) -> None:
    """Copy the next ``size`` bytes of the unbuffered file ``src`` to the file ``dst``, in
    the kernel where it can."""
    dst.flush()
    if hasattr(os, "copy_file_range"):
        with contextlib.suppress(OSError):  # another file system or kernel: through memory
            while size:
                done = os.copy_file_range(src.fileno(), dst.fileno(), size)
                if not done:
                    break  # the end of src: _read says so
                size -= done
    while size:
        data = _read(src, min(size, 1 << 24))
        dst.write(data)
        size -= len(data)


def widened(data: bytes, lengths: Any, k: int, m: int) -> bytes:
    """CSV lines of ``k`` columns (``lengths`` bytes each, end to end) with ``m - k``
    empty cells added at their end, as the csv module writes them: a comma each (``,""``
    in a line holding a carriage return, where every cell is quoted); a line of one empty
    cell (``""``) becomes ``m - 1`` commas."""
    import numpy as np

    if m == k or not len(lengths):
        return data
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    tail = b"," * (m - k) + b"\n"
    if k > 1 and b"\r" not in data:
        return tail.join([data[s: e - 1] for s, e in zip(starts, ends, strict=True)]) + tail
    out = []
    for s, e in zip(starts, ends, strict=True):
        line = data[s:e]
        if b"\r" in line:
            out.append(line[:-1] + b',""' * (m - k) + b"\n")
        elif k == 1 and line == b'""\n':
            out.append(b"," * (m - 1) + b"\n")
        else:
            out.append(line[:-1] + tail)
    return b"".join(out)


def _one_each(seps: Any, starts: Any, ends: Any, first: Any, wanted: Any) -> bool:
    """Whether line ``i`` holds exactly ``wanted[i]`` separators, ``seps[first[i]:]``:
    there are as many separators as wanted in all, and each line's first and last are
    inside it (then so are those between)."""
    import numpy as np

    if len(seps) != int(wanted.sum()):
        return False
    has = np.flatnonzero(wanted > 0)
    if not len(has):
        return True
    lo, hi = seps[first[has]], seps[first[has] + wanted[has] - 1]
    return bool(((lo >= starts[has]) & (hi < ends[has] - 1)).all())
