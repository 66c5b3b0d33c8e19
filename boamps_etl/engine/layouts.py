"""Output layouts of the templates: a report's json file (indented, as the json writer
writes it) with its file name, or its flat CSV line in its own columns; and the column-wise
encoders these layouts need (CSV cells from JSON texts, file-name parts)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..flatten import cell_text, csv_line, flatten
from ..io.writers import (
    MAX_NAME,
    NAME_FIELDS,
    dumps,
    name_from_parts,
    name_values,
    report_filename,
    safe_part,
)
from ..mapping import Applied, FieldMapping
from ..pipeline import build_report
from .arrays import (
    _as_numpy,
    _filled,
    _numpy_array,
    _offsets,
    _scalar,
    _text_array,
    _text_bytes,
)
from .columns import _Dict, _Lazy
from .templates import _SLOT, _encode, _fill_one, _slotted, _Template


def add_layout(template: _Template, fmt: str, doc_real: dict[str, Any], mapping: FieldMapping,
               applied: Applied, targets: list[str], keep_real: set[int],
               layers: list[dict[str, Any]], i: int) -> _Template | None:
    """``template`` (of JSON lines) with the layout of ``fmt`` added (json, csv), checked
    against the report of row ``i``; ``None`` when that layout cannot be vouched for."""
    if fmt == "jsonl":
        return template
    one = _slotted(applied.values, targets, keep_real, i)
    entries = {t: [mask[i]] for t, mask in applied.entries.items()}
    doc = build_report(mapping, one, entries, 0, layers)
    real = [applied.values[t][i] for t in targets]
    layout = _json_layout(doc, doc_real, real) if fmt == "json" else \
        _csv_layout(doc, doc_real, real)
    if layout is None:
        return None
    template.out = layout
    return template


_MARK = re.compile("\ue000([0-9]+)\ue001")


def _json_layout(doc: dict[str, Any], doc_real: dict[str, Any], real: list[Any]
                 ) -> _Template | None:
    """The layout of a report's json file (indented, as the json writer writes it) and of
    its file name, checked against the report itself."""
    parts = _SLOT.split(dumps(doc))
    layout = _Template(parts[0::2], [int(s) for s in parts[1::2]], "")
    if _fill_one(layout, [_encode(real[k]) for k in layout.slots]) != dumps(doc_real):
        return None
    name: list[str | int] = []
    for value, (_, fallback) in zip(name_values(doc), NAME_FIELDS, strict=True):
        found = _MARK.fullmatch(value) if isinstance(value, str) else None
        name.append(int(found.group(1)) if found else safe_part(value, fallback))
    layout.name = name
    if _name_of(name, real) != report_filename(doc_real):
        return None
    return layout


def _name_of(name: list[str | int], real: list[Any]) -> str:
    fallbacks = [fallback for _, fallback in NAME_FIELDS]
    return name_from_parts([part if isinstance(part, str) else
                            safe_part(real[part], fallbacks[j])
                            for j, part in enumerate(name)])


def _csv_layout(doc: dict[str, Any], doc_real: dict[str, Any], real: list[Any]
                ) -> _Template | None:
    """The layout of a report's flat CSV line, in its own columns (the writer puts them in
    the order of the whole file's), checked against the report itself."""
    flat, flat_real = flatten(doc), flatten(doc_real)
    if list(flat) != list(flat_real):
        return None
    cells = [cell_text(v) for v in flat.values()]
    if any("\r" in c for c in cells):  # such a line is quoted whole: the reference
        return None
    parts = _MARK.split(csv_line(cells)[:-1])
    layout = _Template(parts[0::2], [int(s) for s in parts[1::2]], "")
    layout.columns = tuple(flat)
    expected = csv_line([cell_text(v) for v in flat_real.values()])[:-1]
    if _fill_one(layout, [_csv_cell(real[k]) for k in layout.slots]) != expected:
        return None
    return layout


def _text_of(doc: dict[str, Any], fmt: str) -> tuple[str, Any]:
    """A report's text in the output's layout as the writers write it, with its file name
    (json) or its column set (csv)."""
    if fmt == "json":
        return dumps(doc) + "\n", report_filename(doc)
    if fmt == "csv":
        flat = flatten(doc)
        return csv_line([cell_text(v) for v in flat.values()]), tuple(flat)
    return dumps(doc, indent=None) + "\n", None


def _csv_cells(texts: Any) -> tuple[Any, Any]:
    """CSV cells from the JSON texts of flat values (an Arrow string array): numbers and
    booleans as they are, ``null`` empty, texts unquoted or quoted as the csv module
    quotes them; and a numpy mask of the texts JSON escapes (a quote, a backslash, a
    control character), which the reference writes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(value: str) -> Any:
        return _scalar(value, pa.string())

    raw = _text_bytes(texts)
    if raw is not None and not (raw == ord('"')).any():
        # no text (numbers, booleans, null): no quote, no comma, nothing escaped
        nothing = np.zeros(len(texts), dtype=bool)
        if not (raw == ord("n")).any():  # no null either: the cells are the texts
            return texts, nothing
        return pc.if_else(pc.equal(texts, text("null")), text(""), texts), nothing
    if raw is not None and texts.null_count == 0 and not (raw == ord(",")).any() \
            and not (raw == ord("\\")).any():
        # texts that need no quotes and hold nothing escaped (the usual case): a text's
        # cell is its JSON text without the quotes; found from the bytes, one kernel
        offsets = _offsets(texts)
        lengths = np.diff(offsets)
        if (lengths > 0).all():
            nothing = np.zeros(len(texts), dtype=bool)
            inner = pc.utf8_slice_codeunits(texts, 1, -1)
            quoted = raw[offsets[:-1] - offsets[0]] == ord('"')
            if quoted.all():
                return inner, nothing
            mask = pa.Array.from_buffers(  # not pa.array: that imports pandas
                pa.bool_(), len(quoted),
                [None, pa.py_buffer(np.packbits(quoted, bitorder="little"))])
            return pc.if_else(mask, inner,
                              pc.if_else(pc.equal(texts, text("null")), text(""), texts)
                              ), nothing
    is_text = pc.starts_with(texts, pattern='"')
    escaped = pc.and_(is_text, pc.match_substring(texts, pattern="\\"))
    inner = pc.utf8_slice_codeunits(texts, 1, -1)
    quoted = pc.binary_join_element_wise(text('"'), inner, text('"'), text(""))
    cells = pc.if_else(is_text, pc.if_else(pc.match_substring(inner, pattern=","), quoted,
                                           inner),
                       pc.if_else(pc.equal(texts, text("null")), text(""), texts))
    return cells, _as_numpy(_filled(escaped, False))


_SAFE_NAME = r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,58}[A-Za-z0-9_])?$"  # safe_part keeps it


def _name_parts(values: Sequence[Any], column: Any, order: Any, fallback: str) -> Any:
    """:func:`boamps_etl.io.writers.safe_part` of the values of rows ``order`` (an Arrow
    string array): texts already safe taken as they are, others once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is not None and pa.types.is_string(column.type):
        texts = column.take(_numpy_array(order))
        if pc.all(_filled(pc.match_substring_regex(texts, _SAFE_NAME), False)).as_py():
            return texts
    if isinstance(values, _Dict):
        distinct = [safe_part(v, fallback) for v in values.distinct]
        return _text_array(distinct).take(_numpy_array(values.indices[order]))
    items = values.to_list() if isinstance(values, _Lazy) else values
    cache: dict[tuple[type, Any], str] = {}
    out = []
    for i in order.tolist():
        value = items[i]
        key = (type(value), value)
        part = cache.get(key)
        if part is None:
            part = cache[key] = safe_part(value, fallback)
        out.append(part)
    return _text_array(out)


def _joined_name(parts: list[Any], count: int) -> Any:
    """File names (:func:`boamps_etl.io.writers.name_from_parts`) from their parts, each an
    Arrow scalar (the same for all) or an array of ``count`` texts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if all(isinstance(p, pa.Scalar) for p in parts):
        return _text_array([name_from_parts([p.as_py() for p in parts])] * count)
    sep = _scalar("_", pa.string())
    pieces: list[Any] = [_scalar("report_", pa.string())]
    for j, part in enumerate(parts):
        pieces += [sep, part] if j else [part]
    joined = pc.binary_join_element_wise(*pieces, _scalar("", pa.string()))
    if pc.max(pc.utf8_length(joined)).as_py() > MAX_NAME:
        joined = pc.utf8_slice_codeunits(joined, 0, MAX_NAME)
    return pc.binary_join_element_wise(joined, _scalar(".json", pa.string()),
                                       _scalar("", pa.string()))


def _csv_cell(value: Any) -> str:
    """A flat value as a cell of a CSV line (quoted where the csv module quotes it)."""
    text = cell_text(value)
    return csv_line([text])[:-1] if text else ""
