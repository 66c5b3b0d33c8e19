"""JSON templates: the first report of a signature, rendered by the reference code, with each
mapped value replaced by a slot; later reports of that signature are written through it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..io.writers import dumps
from ..mapping import Applied, FieldMapping
from ..pipeline import build_report
from .arrays import _as_numpy, _filled, _numpy_array, _scalar, _text_array
from .columns import _Dict

_SLOT = re.compile('"\ue000([0-9]+)\ue001"')


# --------------------------------------------------------------------------- templates


def _encode(value: Any) -> str:
    """JSON text of a scalar as :func:`boamps_etl.io.writers.dumps` writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        return float.__repr__(value)
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


_PLAIN_TEXT = re.compile(r'[\x00-\x1f"\\]')


def float_json(values: Any) -> Any:
    """``repr`` of each float (``null`` for ``None`` or NaN), as ``json.dumps`` writes
    them, as an Arrow string array: orjson's shortest round-trip digits for the whole
    column, put in Python's notation (:func:`_python_items`) where they differ."""
    import numpy as np
    import orjson

    if len(values) == 0:
        return _text_array([])
    if not isinstance(values, np.ndarray):
        return _python_items(orjson.dumps(
            values if isinstance(values, list) else list(values)), len(values))
    data = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
    with np.errstate(invalid="ignore"):
        small = np.abs(values) < 1e-4
    small &= values != 0
    count = int(np.count_nonzero(small))
    if count == 0:  # orjson and Python differ only below 1e-4
        return _float_items(data)
    if count * 2 > len(values):
        return _python_items(data, len(values))
    import pyarrow as pa

    where = np.arange(len(values))
    where[small] = len(values) + np.arange(count)
    fixed = _python_items(orjson.dumps(values[small], option=orjson.OPT_SERIALIZE_NUMPY),
                          count)
    return pa.concat_arrays([_float_items(data), fixed]).take(_numpy_array(where))


def _float_items(data: bytes) -> Any:
    """orjson's JSON list of numbers as an Arrow string array of its items."""
    import pyarrow.compute as pc

    return pc.split_pattern(_text_array([data[1:-1].decode()]), ",").flatten()


def _python_items(data: bytes, n: int) -> Any:
    """orjson's JSON list of ``n`` numbers as an Arrow string array of its items in
    Python's notation, which differs below 1e-4: an exponent has two digits at least
    (``1.5e-7`` is ``1.5e-07``), and from 1e-5 to 1e-4 Python writes an exponent where
    orjson writes five zeros (``0.0000123`` is ``1.23e-05``). Made with byte operations
    on the whole list: the commas and those zeros dropped, the digits added inserted."""
    import numpy as np
    import pyarrow as pa

    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.append(np.flatnonzero(raw == ord(",")), len(data) - 1)  # and the "]"
    starts = np.empty(n, dtype=np.int64)
    starts[0], starts[1:] = 1, ends[:-1] + 1
    size = ends - starts
    top = len(raw) - 1
    sign = raw[starts] == ord("-")
    zero = starts + sign  # where "0.0000" would begin
    five = size >= 7 + sign
    for k, byte in enumerate(b"0.0000"):
        five &= raw[np.minimum(zero + k, top)] == byte
    one_digit = (size >= 4) & (raw[np.maximum(ends - 3, 0)] == ord("e")) & \
        (raw[np.maximum(ends - 2, 0)] == ord("-"))
    keep = np.ones(len(raw), dtype=bool)
    keep[0] = False
    keep[ends] = False
    zeros = zero[five]
    for k in range(6):
        keep[zeros + k] = False
    place = np.cumsum(keep) - keep  # where a byte goes among those kept
    tail = ends[five]
    rest = tail > zeros + 7  # digits after the first: a dot after it
    at = [place[ends[one_digit] - 1], place[zeros[rest] + 7], *[place[tail]] * 4]
    added = [np.full(len(p), b, dtype=np.uint8) for p, b in zip(at, b"0.e-05", strict=True)]
    out = np.insert(raw[keep], np.concatenate(at), np.concatenate(added))
    lengths = size + one_digit
    lengths[five] += rest - 2  # six bytes dropped, the dot and "e-05" added
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(out)])


def float_texts(values: Sequence[float | None]) -> list[str]:
    """:func:`float_json` as a list of Python strings."""
    out: list[str] = float_json(values).to_pylist()
    return out


class Bare:
    """Texts that need only their quotes to be JSON (nothing in them is escaped): the
    template adds the quotes around its slot, so the column is not copied to add them."""

    def __init__(self, texts: Any):
        self.texts = texts


def _json_column(values: Sequence[Any], kinds: set[type], column: Any, plain: bool = False,
                 order: Any = None, bare: bool = False) -> Any:
    """The JSON text of each value as an Arrow string array (``column``: the values as
    an Arrow column, when there is one: no Python object is made then; ``plain``: its
    texts hold nothing JSON escapes, known from the file check; ``order``: the rows to
    encode, in that order, as numpy indices, else all). With ``bare``, a text column
    that needs only quotes comes back as it is, in :class:`Bare`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def ordered(array: Any) -> Any:
        return array if order is None else array.take(_numpy_array(order))

    if column is not None:
        if pa.types.is_floating(column.type):
            numbers = _as_numpy(_filled(column, float('nan')))
            return float_json(numbers if order is None else numbers[order])
        if pa.types.is_string(column.type) and (plain or not pc.any(
                pc.match_substring_regex(column, _PLAIN_TEXT.pattern)).as_py()):
            if bare:
                return Bare(ordered(column))
            quote = _scalar('"', pa.string())
            return pc.binary_join_element_wise(quote, ordered(column), quote,
                                               _scalar("", pa.string()))
    if isinstance(values, _Dict):
        texts = [_encode(v) for v in values.distinct]
        indices = values.indices if order is None else values.indices[order]
        return _text_array(texts).take(_numpy_array(indices))
    if kinds == {float}:
        return ordered(float_json(values))
    return ordered(_text_array(_encoded(values, kinds)))


def _encoded(values: Sequence[Any], kinds: set[type]) -> list[str]:
    if kinds == {str}:
        distinct = set(values)
        if len(distinct) * 4 < len(values):  # few texts: each encoded once
            table = {v: "null" if v is None else _encode(v) for v in distinct}
            return [table[v] for v in values]
        if not _PLAIN_TEXT.search("".join([v for v in values if v is not None])):
            return ["null" if v is None else f'"{v}"' for v in values]
    cache: dict[tuple[type, Any], str] = {}
    out = []
    for value in values:
        key = (type(value), value)
        text = cache.get(key)
        if text is None:
            text = _encode(value)
            if len(cache) < 65536:
                cache[key] = text
        out.append(text)
    return out


@dataclass
class _Template:
    pieces: list[str]  # literal text around the slots
    slots: list[int]  # which mapped value fills each slot
    level: str
    # the output's own layout when it is not JSON Lines (:mod:`.layouts`): a json file's
    # text (with ``name``, how its file name is made) or a flat CSV line (with ``columns``)
    out: _Template | None = None
    name: list[str | int] | None = None  # a name part's text, or the slot giving it
    columns: tuple[str, ...] | None = None

    @property
    def scalars(self) -> list[Any]:
        """The text pieces as Arrow scalars; the last one ends the line."""
        return self.quoted_scalars(())

    def quoted_scalars(self, quoted: tuple[bool, ...]) -> list[Any]:
        """:attr:`scalars` with a quote on each side of the slots ``quoted`` says (one
        flag per slot, or none: no quote), for :class:`Bare` texts."""
        if not any(quoted):  # one entry for the pieces as they are
            quoted = ()
        cache = self.__dict__.setdefault("_scalars", {})
        found = cache.get(quoted)
        if found is None:
            flags = quoted or (False,) * len(self.slots)
            texts = [('"' if i and flags[i - 1] else "") + piece +
                     ('"' if i < len(flags) and flags[i] else "")
                     for i, piece in enumerate(self.pieces)]
            array = _text_array([*texts[:-1], texts[-1] + "\n"])
            found = [array[i] for i in range(len(array))]
            cache[quoted] = found
        return cast(list[Any], found)


def _slotted(values: dict[str, list[Any]], targets: list[str], keep_real: set[int],
             i: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for k, target in enumerate(targets):
        value = values[target][i]
        if value is None or k in keep_real:
            out[target] = [value]
        else:
            out[target] = [f"\ue000{k}\ue001"]  # a slot: _SLOT finds it in the JSON
    return out


def _make_template(doc_real: dict[str, Any], mapping: FieldMapping, applied: Applied,
                   targets: list[str], keep_real: set[int], layers: list[dict[str, Any]],
                   i: int, level: str) -> _Template | None:
    one = _slotted(applied.values, targets, keep_real, i)
    entries = {t: [mask[i]] for t, mask in applied.entries.items()}
    text = dumps(build_report(mapping, one, entries, 0, layers), indent=None)
    parts = _SLOT.split(text)
    pieces, slots = parts[0::2], [int(s) for s in parts[1::2]]
    template = _Template(pieces, slots, level)
    row = [_encode(applied.values[targets[k]][i]) for k in slots]
    if _fill_one(template, row) != dumps(doc_real, indent=None):
        return None  # a value shapes the report beyond its type: the reference decides
    return template


def _fill_one(template: _Template, row: list[str]) -> str:
    out = [template.pieces[0]]
    for text, piece in zip(row, template.pieces[1:], strict=True):
        out.append(text)
        out.append(piece)
    return "".join(out)
