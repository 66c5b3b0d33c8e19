"""The conversion of a prepared file, block by block (:class:`Converter`): columns mapped,
values checked, reports of known signatures written through their templates, every other row
converted by the reference pipeline in its place."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import Issue
from ..io.readers import ROW_COLUMN, CsvTable
from ..io.writers import NAME_FIELDS
from ..levels import assess
from ..mapping import Applied, FieldMapping
from ..pipeline import build_report, convert_table, needed_columns
from ..shapes import schema_path, supported, tag
from ..transforms import TransformContext
from ..validate import full_check
from .arrays import _as_numpy, _clean_array, _numpy_array, _offsets, _scalar, _text_array
from .checks import _column_ok, _kinds
from .columns import (
    _KIND_TAGS,
    _SCALARS,
    _Column,
    _combinations,
    _combined,
    _Dict,
    _factorized,
    _Lazy,
    _nulls,
    apply_columns,
)
from .layouts import (
    _csv_cell,
    _csv_cells,
    _joined_name,
    _name_parts,
    _text_of,
    add_layout,
)
from .scan import BLOCK_ROWS, FastFile, _Range, _reader, _regroup
from .templates import Bare, _encode, _fill_one, _json_column, _make_template, _Template
from .typed import CsvCells, TypedCells, block_table, group_table, plain_cells

# --------------------------------------------------------------------------- conversion


def _tags(values: Sequence[Any], kinds: set[type]) -> tuple[Any, Any, list[Any]]:
    """The values' type tags (:func:`boamps_etl.shapes.tag`) as (what holds for the whole
    column, what tells rows apart as integer codes or ``None``, the tag of each code): one
    tag for all (``(tag, None, [])``), ``None`` and one other tag (``(('or-null', tag),
    codes, [False, True])``, True for empty), or any (``('*', codes, tags)``). ``kinds``:
    the types of the values, ``NoneType`` included."""
    import numpy as np

    if isinstance(values, _Column):  # Arrow columns hold no empty text (cleaned)
        if len(kinds) == 1:
            return (tag(values[0]) if len(values) else "n"), None, []
        return (("or-null", _KIND_TAGS[values.kind()]),
                _as_numpy(values.array.is_null()).astype(np.int64), [False, True])
    if not len(values):
        return "n", None, []
    empty_text = str in kinds and "" in values
    if len(kinds) == 1 and not empty_text and next(iter(kinds)) in _SCALARS:
        return tag(values[0]), None, []
    # worked out per distinct value (then spread to the rows), or per row
    distinct, spread = (values.distinct, values.indices) if isinstance(values, _Dict) \
        else (values, None)
    if len(kinds) == 2 and type(None) in kinds and not empty_text and kinds <= _SCALARS:
        other = next(k for k in kinds if k is not type(None))
        kind: Any = ("or-null", _KIND_TAGS[other])
        labels: list[Any] = [False, True]
        codes = np.fromiter((v is None for v in distinct), dtype=bool, count=len(distinct)
                            ).astype(np.int64)
    else:
        kind = "*"
        codes, labels = _factorized(list(map(tag, distinct)))
    return kind, codes if spread is None else codes[spread], labels


@dataclass(slots=True)
class ReportLine:
    """What a batch's manifest says of one report of a block (``Converter(lines=True)``):
    the fields of :class:`boamps_etl.pipeline.ConvertedReport` but its document, and
    whether its text is among the block's texts."""

    row: int  # the spreadsheet row holding its values
    run_id: str | None
    report_id: str | None
    status: str
    level: str
    issues: list[Issue]
    recovered: tuple[str, ...] = ()
    written: bool = True


@dataclass
class BlockResult:
    """One block's output in row order: the text of each report in the output's layout (a
    JSON line, a json file's text, or a flat CSV line in its own columns), and what the
    reference path said."""

    data: Any = b""  # the texts end to end, each ending with a line break (UTF-8 bytes)
    count: int = 0  # how many texts
    counts: dict[str, int] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    row_errors: int = 0
    lengths: Any = None  # json and csv: the byte length of each text (numpy int64)
    names: list[str] | None = None  # json: each report's file name (before any -2 suffix)
    columns: list[tuple[str, ...]] = field(default_factory=list)  # csv: the column sets
    table: Any = None  # parquet: the reports as a typed table (.typed), no texts
    column_ids: Any = None  # csv: the column set of each line, in ``columns`` (numpy)
    # with ``Converter(lines=True)``: every report of the block in row order, written or
    # not; those ``written`` are the texts, in the same order
    lines: list[ReportLine] | None = None


class Converter:
    """Converts the blocks of one fast file; templates are kept across blocks."""

    def __init__(self, ff: FastFile, mapping: FieldMapping, context: Context | None,
                 allow_incomplete: bool, templates: dict[Any, _Template | None] | None = None,
                 fmt: str = "jsonl", lines: bool = False):
        self.ff, self.mapping, self.context = ff, mapping, context
        self.allow_incomplete = allow_incomplete
        # the output's layout: jsonl, json or csv (.layouts); parquet: csv's templates,
        # their rows made typed tables (.typed)
        self.typed = fmt == "parquet"
        self.fmt = "csv" if self.typed else fmt
        self.lines = lines  # say what each report is (BlockResult.lines): for batch
        self.templates: dict[Any, _Template | None] = {} if templates is None else templates
        self.targets = [t for t, r in mapping.rules.items() if not r.is_entry]
        # merge keys (componentType) shape the report by their value, and constants are
        # the same in every row: both are written into the templates, not slotted
        self.keep_real = {k for k, t in enumerate(self.targets)
                          if schema_path(t)[-1] == "componentType"
                          or mapping.rules[t].has_const}
        self.paths = [schema_path(t) for t in self.targets]
        columns = ff.columns
        needed = needed_columns(mapping, context)
        self.read = list(columns) if ff.all_columns else [c for c in columns if c in needed]
        self.match_cols = context.match_columns if context is not None else []
        self._layers_of: dict[tuple[int, ...], list[dict[str, Any]]] = {(): []}

    def blocks(self, part: tuple[int, int, int] | None = None) -> Iterator[tuple[Any, Any]]:
        """(Arrow batch of kept rows, their spreadsheet row numbers), for the whole file or
        for ``part``: (first byte, end byte, index of its first row), starting on a row."""
        import numpy as np

        by_column = dict(zip(self.ff.columns, self.ff.names, strict=True))
        include = [by_column[c] for c in self.read]
        if part is None:
            batches = _reader(self.ff.path, self.ff.names, self.ff.delimiter, include)
            offset = 0
        else:
            start, end, offset = part
            batches = _reader(_Range(self.ff.path, start, end), self.ff.names,
                              self.ff.delimiter, include, header=False)
        for batch in _regroup(batches, BLOCK_ROWS):
            n = batch.num_rows
            keep = self.ff.keep[offset: offset + n]
            positions = np.flatnonzero(keep)
            rows = positions + offset + 2
            offset += n
            if len(positions) == 0:
                continue
            if len(positions) < n:
                batch = batch.take(_numpy_array(positions))
            yield batch, rows

    def convert(self, batch: Any, rows: Any) -> BlockResult:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        row_list: list[int] = rows.tolist()
        arrays = {c: _clean_array(batch.column(i)) for i, c in enumerate(self.read)}
        run_ids = arrays.get("run_id")
        content: list[list[str | None]] = []
        if self.ff.per_row:  # report ids derived from every cell of the row, as read
            import pyarrow.compute as pc

            content = [pc.utf8_trim_whitespace(batch.column(i)).to_pylist()
                       for i in range(len(self.read))]
        ctx = TransformContext(self.ff.kind, self.ff.per_row, {}, (), row_list, content)
        applied, columns = apply_columns(self.mapping, arrays, n, ctx)
        direct = {k: columns[t] for k, t in enumerate(self.targets) if t in columns}
        slow: set[int] = set()
        for block in applied.problems:
            slow.update(block)
        if run_ids is None:
            slow.update(range(n))
        elif run_ids.null_count:
            slow.update(i for i, v in enumerate(run_ids.is_null().to_pylist()) if v)
        codes = arrays.get("country_iso_code")
        if codes is not None and codes.null_count < n:
            # a country to derive from its ISO code: the reference derives it and says so
            names = arrays.get("country_name")
            derive = codes.is_valid() if names is None else \
                pc.and_(names.is_null(), codes.is_valid())
            slow.update(np.flatnonzero(_as_numpy(derive)).tolist())
        values = [applied.values[t] for t in self.targets]
        all_kinds = [_kinds(column) for column in values]
        for k, column in enumerate(values):
            ok = _column_ok(column, self.paths[k], all_kinds[k] - {type(None)})
            if ok is not None:
                slow.update(i for i, good in enumerate(ok) if not good)
        # signatures: the tag of each mapped value; a column of one tag adds nothing per row
        differ: list[tuple[Any, list[Any]]] = []  # (codes, labels) of what tells rows apart
        base = []  # per column: its tag, or how its rows differ (then in differ)
        for col, kinds in zip(values, all_kinds, strict=True):
            kind, codes, labels = _tags(col, kinds)
            base.append(kind)
            if codes is None:
                continue
            if kind == "*" and "o" in labels:  # an object or a list: the reference builds it
                slow.update(np.flatnonzero(codes == labels.index("o")).tolist())
            differ.append((codes, labels))
        if "o" in base:
            slow.update(range(n))
        block_key = tuple(base)
        differ += [_factorized(mask) for mask in applied.entries.values()]
        differ += [_factorized(values[k], all_kinds[k]) for k in sorted(self.keep_real)]
        differ.append(self._layers(arrays, n))
        # a row's signature: its varying tags, entries kept, merge keys, context layers
        # (what is the same for the whole block is block_key); one template per signature
        key = _combined(differ, n)
        tids = np.full(n, -1, dtype=np.int64)
        usable = np.ones(n, dtype=bool)
        usable[list(slow)] = False
        ok_rows = np.flatnonzero(usable)
        keys, firsts, groups = np.unique(key[ok_rows], return_index=True, return_inverse=True)
        templates: list[_Template] = []
        group_tids = np.full(len(keys), -1, dtype=np.int64)
        for g, i in enumerate(ok_rows[firsts].tolist()):
            signature = tuple(labels[codes[i]] for codes, labels in differ)
            template = self._template((block_key, signature), applied, i,
                                      self._layers_of[signature[-1]])
            if template is not None:
                group_tids[g] = len(templates)
                templates.append(template)
        tids[ok_rows] = group_tids[groups.reshape(-1)]
        slow.update(np.flatnonzero(tids < 0).tolist())
        result = BlockResult(counts={"valid": 0, "incomplete": 0, "invalid": 0})
        registry: dict[tuple[str, ...], int] = {}  # csv: the column sets of this block
        row_levels = np.full(n, None, dtype=object) if self.lines else None
        tables: list[Any] | None = [] if self.typed else None
        pieces, positions, extra = self._fill(templates, tids, values, all_kinds, direct,
                                              slow, result.levels, registry, row_levels,
                                              tables)
        others: dict[int, ReportLine] | None = {} if self.lines else None
        if slow:
            lines = self._reference(batch, sorted(slow), row_list, result, others)
            pieces.append(_text_array([text for _, text, _ in lines]))
            positions.append(np.array([i for i, _, _ in lines], dtype=np.int64))
            if self.fmt == "json":
                extra.append(_text_array([name for _, _, name in lines]))
            elif self.fmt == "csv":
                extra.append(np.array([registry.setdefault(cols, len(registry))
                                       for _, _, cols in lines], dtype=np.int64))
        lines_array = pa.concat_arrays(pieces) if pieces else _text_array([])
        where = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        order = np.argsort(where, kind="stable")
        final = lines_array.take(_numpy_array(order))
        if tables is not None:
            ids = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
            result.table = block_table(tables, (
                _string_data(final), np.diff(_offsets(final)) if len(final) else
                np.zeros(0, dtype=np.int64), ids[order], list(registry), where[order]))
            result.count = len(result.table)
            result.counts["valid"] += n - len(slow)
            if others is not None:
                result.lines = self._report_lines(row_list, run_ids, values, row_levels,
                                                  others)
            return result
        result.data = _string_data(final)
        result.count = len(final)
        if self.fmt != "jsonl":
            result.lengths = np.diff(_offsets(final)) if len(final) else \
                np.zeros(0, dtype=np.int64)
        if self.fmt == "json":
            names = pa.concat_arrays(extra) if extra else _text_array([])
            result.names = names.take(_numpy_array(order)).to_pylist()
        elif self.fmt == "csv":
            ids = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
            result.column_ids = ids[order]
            result.columns = list(registry)
        result.counts["valid"] += n - len(slow)
        if others is not None:
            result.lines = self._report_lines(row_list, run_ids, values, row_levels, others)
        return result

    def _report_lines(self, row_list: list[int], run_ids: Any, values: list[Any],
                      row_levels: Any, others: dict[int, ReportLine]) -> list[ReportLine]:
        """Every report of a block, in row order: those of the templates (valid, no
        issue, their level), and those the reference converted (``others``)."""
        n = len(row_list)
        ids = [None] * n if run_ids is None else run_ids.to_pylist()
        k = self.targets.index("header.reportId") if "header.reportId" in self.targets \
            else None
        found = [None] * n if k is None else \
            (values[k].to_list() if isinstance(values[k], _Lazy) else list(values[k]))
        report_ids = [v if isinstance(v, str) else None for v in found]
        out = []
        for i, (row, level) in enumerate(zip(row_list, row_levels.tolist(), strict=True)):
            other = others.get(i)
            out.append(other if other is not None else
                       ReportLine(row, ids[i], report_ids[i], "valid", level, []))
        return out

    def _layers(self, arrays: dict[str, Any], n: int) -> tuple[Any, list[Any]]:
        """(codes, labels) of the context layers that apply to each row (a label: the
        layers' ids, the layers in ``_layers_of``), worked out once per distinct
        combination of the cells the context matches on."""
        import numpy as np

        if self.context is None or self.context.is_empty():
            return np.zeros(n, dtype=np.int64), [()]
        if self.match_cols:
            cells, inverse = _combinations([arrays[c] if c in arrays else _nulls(n)
                                            for c in self.match_cols])
        else:
            cells, inverse = [], np.zeros(n, dtype=np.int64)
        keys = []
        for row in zip(*cells, strict=True) if cells else [()]:
            layers = self.context.values_for(dict(zip(self.match_cols, row, strict=True)))
            key = tuple(id(layer) for layer in layers)
            self._layers_of.setdefault(key, layers)
            keys.append(key)
        codes, labels = _factorized(keys)
        return codes[inverse], labels

    def _fill(self, templates: list[_Template], tids: Any, values: list[list[Any]],
              all_kinds: list[set[type]], direct: dict[int, Any], slow: set[int],
              levels: dict[str, int], registry: dict[tuple[str, ...], int],
              row_levels: Any = None, tables: list[Any] | None = None
              ) -> tuple[list[Any], list[Any], list[Any]]:
        """The output texts of the rows of each template, column-wise: rows grouped by
        template, each used column encoded once and taken in that order, the texts
        joined by Arrow. Returns the texts, their rows, and per group the file names
        (json) or the column sets in ``registry`` (csv); counts the rows written in
        ``levels`` (and each row's in ``row_levels``, when given). A row whose text the
        template cannot vouch for goes to ``slow``. With ``tables`` (parquet), the rows
        of a template that makes typed rows (.typed) are added there as (typed table,
        rows, columns) instead of as texts."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = np.asarray(tids, dtype=np.int64)
        fast_rows = np.flatnonzero(ids >= 0)
        if len(fast_rows) == 0:
            return [], [], []
        order = fast_rows[np.argsort(ids[fast_rows], kind="stable")]
        counts = np.bincount(ids[fast_rows], minlength=len(templates))
        layouts = [t if t.out is None else t.out for t in templates]
        used = sorted({k for t in layouts for k in t.slots})
        bare = tables is None and self.fmt in ("jsonl", "json")  # JSON texts, quoted after
        encoded = {k: _json_column(values[k], all_kinds[k] - {type(None)}, direct.get(k),
                                   self.ff.plain_text, order, bare) for k in used}
        quoted = {k for k, texts in encoded.items() if isinstance(texts, Bare)}
        for k in quoted:
            encoded[k] = encoded[k].texts
        refused = np.zeros(len(order), dtype=bool)  # csv: cells the reference writes
        typed = None
        if tables is not None:  # parquet: typed values, or CSV cells where needed
            plain = {}
            for k in used:
                plain[k], bad = plain_cells(encoded[k])
                refused |= bad
            typed, encoded = TypedCells(plain), CsvCells(encoded)
        elif self.fmt == "csv":
            for k in used:
                encoded[k], bad = _csv_cells(encoded[k])
                refused |= bad
        names: dict[int, Any] = {}
        if self.fmt == "json":
            wanted = {p for t in layouts for p in t.name or () if isinstance(p, int)}
            for k in wanted:
                fallback = NAME_FIELDS[next(j for t in layouts for j, p in
                                            enumerate(t.name or ()) if p == k)][1]
                names[k] = _name_parts(values[k], direct.get(k), order, fallback)
        pieces, positions, extra = [], [], []
        start = 0
        for t, template in enumerate(templates):
            count = int(counts[t])
            if count == 0:
                continue
            rows = order[start: start + count]
            layout = layouts[t]
            took = np.flatnonzero(~refused[start: start + count])
            if len(took) < count:
                slow.update(rows[refused[start: start + count]].tolist())

            def cut(array: Any, start: int = start, count: int = count,
                    took: Any = took) -> Any:
                part = array.slice(start, count)
                return part if len(took) == count else part.take(_numpy_array(took))

            start += count
            if len(took) == 0:
                continue
            first = int(rows[took[0]])
            if typed is not None:
                def line(layout: _Template = layout, first: int = first) -> str:
                    return _fill_one(layout, [_csv_cell(values[k][first])
                                              for k in layout.slots]) + "\n"

                table = group_table(layout, typed, cut, len(took), line)
                if table is not None:
                    assert tables is not None and layout.columns is not None
                    tables.append((table, rows[took], layout.columns))
                    levels[template.level] = levels.get(template.level, 0) + len(took)
                    if row_levels is not None:
                        row_levels[rows[took]] = template.level
                    continue
            scalars = layout.quoted_scalars(tuple(k in quoted for k in layout.slots))
            parts: list[Any] = [scalars[0]]
            for k, piece in zip(layout.slots, scalars[1:], strict=True):
                parts.append(cut(encoded[k]))
                parts.append(piece)
            lines = pc.binary_join_element_wise(*parts, _scalar("", pa.string()))
            encode = _csv_cell if self.fmt == "csv" else _encode
            check = _fill_one(layout, [encode(values[k][first]) for k in layout.slots])
            if lines[0].as_py() != check + "\n":  # never: tests/test_fastpath.py
                slow.update(rows[took].tolist())
                continue
            pieces.append(lines)
            positions.append(rows[took])
            levels[template.level] = levels.get(template.level, 0) + len(took)
            if row_levels is not None:
                row_levels[rows[took]] = template.level
            if self.fmt == "json":
                assert layout.name is not None
                extra.append(_joined_name([_scalar(p, pa.string()) if isinstance(p, str)
                                           else cut(names[p]) for p in layout.name],
                                          len(took)))
            elif self.fmt == "csv":
                assert layout.columns is not None
                extra.append(np.full(len(took), registry.setdefault(
                    layout.columns, len(registry)), dtype=np.int64))
        return pieces, positions, extra

    def _template(self, signature: Any, applied: Applied, i: int,
                  layers: list[dict[str, Any]]) -> _Template | None:
        if signature in self.templates:
            return self.templates[signature]
        template = None
        if supported():
            doc = build_report(self.mapping, applied.values, applied.entries, i, layers)
            if full_check(doc):
                level = assess(doc, []).level
                template = _make_template(doc, self.mapping, applied, self.targets,
                                          self.keep_real, layers, i, level)
                if template is not None:
                    template = add_layout(template, self.fmt, doc, self.mapping, applied,
                                          self.targets, self.keep_real, layers, i)
        if len(self.templates) < 4096:
            self.templates[signature] = template
        return template

    def _reference(self, batch: Any, indexes: list[int], row_list: list[int],
                   result: BlockResult, lines: dict[int, ReportLine] | None = None
                   ) -> list[tuple[int, str, Any]]:
        """Rows the fast path does not vouch for: converted by the reference pipeline.
        Returns (row, text, its file name (json) or column set (csv)) for each report to
        write; says what each report is in ``lines`` (by index in the block), if given."""
        import numpy as np
        import pandas as pd

        sub = batch.take(_numpy_array(np.array(indexes, dtype=np.int64)))
        frame = pd.DataFrame({c: [("" if v is None else v.strip())
                                  for v in sub.column(k).to_pylist()]
                              for k, c in enumerate(self.read)}, dtype=object)
        frame = frame.reindex(columns=list(self.ff.columns))
        frame[ROW_COLUMN] = [row_list[i] for i in indexes]
        table = CsvTable(self.ff.name, frame, list(self.ff.columns), self.ff.kind, [], 0,
                         self.ff.encoding)
        part = convert_table(table, self.mapping, self.context, per_row=self.ff.per_row,
                             allow_incomplete=self.allow_incomplete, groups={})
        ok = ("valid", "incomplete") if self.allow_incomplete else ("valid",)
        out = []
        for i, report in zip(indexes, part.reports, strict=True):
            result.counts[report.status] += 1
            result.levels[report.level] = result.levels.get(report.level, 0) + 1
            result.issues.extend(report.issues)
            if lines is not None:
                lines[i] = ReportLine(report.row, report.run_id, report.report_id,
                                      report.status, report.level, list(report.issues),
                                      report.recovered, report.status in ok)
            if report.status in ok:
                out.append((i, *_text_of(report.document, self.fmt)))
        return out


def _string_data(array: Any) -> memoryview:
    """The bytes of an Arrow string array's values, end to end."""

    if len(array) == 0:
        return memoryview(b"")
    offsets = _offsets(array)
    return memoryview(array.buffers()[2])[int(offsets[0]):int(offsets[-1])]


def convert_file(ff: FastFile, mapping: FieldMapping, context: Context | None,
                 allow_incomplete: bool, fmt: str = "jsonl", *, lines: bool = False,
                 share: tuple[int, int] | None = None) -> Iterator[BlockResult]:
    """Convert a prepared file block by block, into texts in the layout of ``fmt``.
    ``lines``: each block also says what each of its reports is (:class:`ReportLine`).
    ``share`` (i, n): only the blocks i, i + n, i + 2n... (a worker's share of a file
    split between n)."""
    converter = Converter(ff, mapping, context, allow_incomplete, fmt=fmt, lines=lines)
    for number, (batch, rows) in enumerate(converter.blocks()):
        if share is None or number % share[1] == share[0]:
            yield converter.convert(batch, rows)


@dataclass
class PartResult:
    """What one worker converted: its texts are in the file ``path`` (jsonl: JSON lines;
    csv: lines in their own columns, ``lengths`` bytes each, in the column sets
    ``columns[column_ids[i]]``; parquet: typed tables as Arrow IPC streams, ``sizes``
    bytes each, in the columns ``columns[i]``) or, for json, in the folder ``path``, one
    file per report named by its index, the report's file name in ``names`` (written
    straight into the output's stage: under that name, or under a spare name where the
    name was taken, ``side`` holding (index, spare name) of those)."""

    path: Path
    lines: int
    counts: dict[str, int]
    levels: dict[str, int]
    issues: list[Issue]
    lengths: Any = None
    column_ids: Any = None
    columns: list[tuple[str, ...]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # parquet: bytes of each IPC stream
    side: list[tuple[int, str]] = field(default_factory=list)  # json direct: spare names
