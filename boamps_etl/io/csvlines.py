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

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..flatten import csv_line

_COMMA, _QUOTE, _BREAK, _RETURN = ord(","), ord('"'), ord("\n"), ord("\r")


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
    line's own columns are ``sets[ids[i]]``."""

    def __init__(self, columns: Sequence[str], sets: Sequence[Sequence[str]]):
        import numpy as np

        self.width = len(columns)
        where = {c: j for j, c in enumerate(columns)}
        self.same = [list(s) == list(columns) for s in sets]
        # per column set: for each column of the file, the cell of the line that fills
        # it (-1: none)
        self.picks = []
        for s in sets:
            pick = np.full(self.width, -1, dtype=np.int64)
            for k, c in enumerate(s):
                pick[where[c]] = k
            self.picks.append(pick)
        self.sizes = np.array([len(s) for s in sets], dtype=np.int64)

    def block(self, data: bytes, ids: Any, lengths: Any) -> bytes:
        """The lines ``data`` (``lengths`` bytes each, in the column sets ``ids``) in the
        file's columns, end to end."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n = len(lengths)
        if not n:
            return b""
        same = np.array(self.same, dtype=bool)
        if same[ids].all():
            return bytes(data)
        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        # lines left to the csv module: one cell, or a carriage return (all quoted)
        slow = (self.sizes[ids] < 2) & ~same[ids]
        returns = np.flatnonzero(raw == _RETURN)
        if len(returns):
            slow[np.searchsorted(ends, returns, side="right")] = True
        # separators: commas with an even number of quotes before them in the line (every
        # line holds an even number of quotes, so counting from the block's start works)
        commas = raw == _COMMA
        quotes = raw == _QUOTE
        if quotes.any():
            commas &= (np.cumsum(quotes) & 1) == 0
        seps = np.flatnonzero(commas)
        line_of = np.searchsorted(ends, seps, side="right")
        counts = np.bincount(line_of, minlength=n)
        slow |= (counts != self.sizes[ids] - 1) & ~same[ids]  # never for staged lines
        first_sep = np.cumsum(counts) - counts
        m = self.width
        # each new line is m segments of the old bytes (or of a spare comma), each cell
        # with the byte after it, which is then set to a comma or the line break
        seg_start = np.zeros((n, m), dtype=np.int64)
        seg_len = np.zeros((n, m), dtype=np.int64)
        fix = np.zeros((n, m), dtype=bool)
        spare = len(raw)  # where the spare comma goes
        keep = same[ids] | slow  # taken whole (slow: replaced below)
        whole = np.flatnonzero(keep)
        seg_start[whole, 0] = starts[whole]
        seg_len[whole, 0] = lengths[whole]
        moved = ~keep
        for cid in np.unique(ids[moved]).tolist():
            rows = np.flatnonzero(moved & (ids == cid))
            q = int(self.sizes[cid])
            # cell k of each line: from cell_start[:, k] to its separator cell_end[:, k]
            at = first_sep[rows][:, None] + np.arange(q - 1)[None, :]
            sep_at = seps[at] if q > 1 else np.zeros((len(rows), 0), dtype=np.int64)
            cell_start = np.concatenate([starts[rows][:, None], sep_at + 1], axis=1)
            cell_end = np.concatenate([sep_at, (ends[rows] - 1)[:, None]], axis=1)
            pick = self.picks[cid]
            has = pick >= 0
            src = np.where(has, pick, 0)
            seg_start[rows] = np.where(has[None, :], cell_start[:, src], spare)
            seg_len[rows] = np.where(has[None, :], cell_end[:, src] - cell_start[:, src] + 1,
                                     1)
            fix[rows] = True
        extra = [line_in_columns(bytes(raw[starts[i]: ends[i]]),
                                 [int(p) if p >= 0 else 1 << 30 for p in self.picks[ids[i]]])
                 for i in np.flatnonzero(slow & ~same[ids]).tolist()]
        buffer = np.concatenate([raw, np.array([_COMMA], dtype=np.uint8),
                                 *[np.frombuffer(e, dtype=np.uint8) for e in extra]])
        if extra:
            spots = np.flatnonzero(slow & ~same[ids])
            sizes = np.array([len(e) for e in extra], dtype=np.int64)
            seg_start[spots, 0] = spare + 1 + np.cumsum(sizes) - sizes
            seg_len[spots, 0] = sizes
        flat_start, flat_len = seg_start.ravel(), seg_len.ravel()
        out_end = np.cumsum(flat_len)
        total = int(out_end[-1])
        # index of every new byte in the buffer: each segment's start, counted on
        index = np.repeat((flat_start - (out_end - flat_len)).astype(np.int32),
                          flat_len) + np.arange(total, dtype=np.int32)
        out = buffer[index]
        fixed = fix.ravel()
        last = np.zeros((n, m), dtype=bool)
        last[:, -1] = True
        out[out_end[fixed] - 1] = np.where(last.ravel()[fixed], _BREAK, _COMMA)
        result: bytes = out.tobytes()
        return result
