"""Arrow array helpers of the column-wise engine: cells cleaned as the reference reader cleans
them, string arrays built from their buffers, Arrow and NumPy conversions."""

from __future__ import annotations

import functools
from typing import Any

from ..codecarbon import EMPTY_VALUES

_EDGE_SPACE = r"^[\t-\r\x1c-\x1f\x85\p{Z}]|[\t-\r\x1c-\x1f\x85\p{Z}]$"  # str.strip()'s set


def _clean_array(array: Any) -> Any:
    """Cells as the reference reader cleans them: stripped, empty spellings as null. The
    file check leaves out the four characters ``str.strip`` removes and Unicode's
    White_Space does not (0x1C-0x1F), so Arrow's trim equals ``str.strip`` here. The
    first and last byte of each cell tell whether any needs trimming, and the lengths
    whether any can be an empty spelling: most columns need neither kernel."""
    import numpy as np
    import pyarrow.compute as pc

    lengths = _lengths(array)
    if lengths is None:  # not a plain string array
        array = pc.utf8_trim_whitespace(array)
    else:
        data = array.buffers()[2]
        offsets = _offsets(array)
        full = lengths > 0
        if full.any() and data is not None:
            bytes_ = np.frombuffer(data, dtype=np.uint8)
            edge = _edge_bytes()
            if edge[bytes_[offsets[:-1][full]]].any() or edge[bytes_[offsets[1:][full] - 1]].any():
                array = pc.utf8_trim_whitespace(array)
                lengths = _lengths(array)
        if lengths is not None and not _empty_lengths()[np.minimum(lengths, 5)].any():
            return array
    return pc.if_else(pc.is_in(array, value_set=_EMPTY), _scalar(None, array.type), array)


def _lengths(array: Any) -> Any:
    """The byte length of each cell of a string array without nulls, else ``None``."""
    import numpy as np
    import pyarrow as pa

    if array.null_count or not pa.types.is_string(array.type):
        return None
    return np.diff(_offsets(array))


def _offsets(array: Any) -> Any:
    """The value offsets of a string array (``len + 1`` of them), read from its buffer."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset: array.offset + len(array) + 1]


def _text_bytes(texts: Any) -> Any:
    """The UTF-8 bytes of a non-empty Arrow string array's values, end to end, as a numpy
    array (no copy); None for anything else."""
    import numpy as np
    import pyarrow as pa

    if not (isinstance(texts, pa.Array) and texts.type == pa.string() and len(texts)):
        return None
    offsets = _offsets(texts)
    return np.frombuffer(texts.buffers()[2] or b"", dtype=np.uint8)[
        int(offsets[0]): int(offsets[-1])]


@functools.cache
def _edge_bytes() -> Any:
    """The first or last bytes of a cell ``str.strip`` may remove: ASCII white space and
    any byte of a multi-byte character (some are Unicode white space)."""
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
    table[0x80:] = True
    return table


_EMPTY: Any = None  # the empty spellings, as an Arrow array (load_empty_values)


def load_empty_values() -> None:
    """Make the array of empty spellings :func:`_clean_array` needs, once per process."""
    global _EMPTY
    if _EMPTY is None:
        _EMPTY = _empty_values()


def _empty_values() -> Any:
    return _text_array(sorted(EMPTY_VALUES))


@functools.cache
def _empty_lengths() -> Any:
    """For each byte length (5 standing for 5 or more), whether an empty spelling has it."""
    import numpy as np

    table = np.zeros(6, dtype=bool)
    table[[min(len(v.encode()), 5) for v in EMPTY_VALUES]] = True
    return table


def _text_array(texts: list[str]) -> Any:
    """An Arrow string array built from its buffers (``pa.array`` would import pandas,
    a second of start-up this path does not otherwise need)."""
    import numpy as np
    import pyarrow as pa

    joined = "".join(texts)
    if joined.isascii():  # one byte per character: lengths counted in C
        data = joined.encode("ascii")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:
        parts = [t.encode() for t in texts]
        data = b"".join(parts)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(texts),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _scalar(value: Any, kind: Any) -> Any:
    """An Arrow scalar made without ``pa.scalar`` (which imports pandas)."""
    import numpy as np
    import pyarrow as pa

    key = (value, str(kind))
    found = _SCALAR_CACHE.get(key)
    if found is None:
        if value is None:
            found = pa.nulls(1, kind)[0]
        elif pa.types.is_string(kind):
            found = _text_array([value])[0]
        elif pa.types.is_boolean(kind):
            found = _numpy_array(np.array([value], dtype=np.uint8)).cast(pa.bool_())[0]
        else:
            dtype = np.float64 if pa.types.is_floating(kind) else np.int64
            found = _numpy_array(np.array([value], dtype=dtype)).cast(kind)[0]
        if len(_SCALAR_CACHE) >= MAX_SCALARS:  # texts of the data (name parts) come here
            _SCALAR_CACHE.clear()
        _SCALAR_CACHE[key] = found
    return found


_SCALAR_CACHE: dict[tuple[Any, str], Any] = {}
MAX_SCALARS = 4096


def _as_numpy(array: Any) -> Any:
    """A numpy copy of a numeric or boolean Arrow array, read from its buffers
    (``to_numpy`` imports pandas); nulls must have been filled."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        parts = [_as_numpy(chunk) for chunk in array.chunks]
        return np.concatenate(parts) if parts else np.zeros(0)
    assert array.null_count == 0, "fill the nulls first"
    n, offset = len(array), array.offset
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset: offset + n].astype(bool)
    dtype = np.dtype(_NUMPY_TYPES[str(array.type)])
    if data is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype)[offset: offset + n].copy()


_NUMPY_TYPES = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
                "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
                "float": "float32", "double": "float64"}


def _filled(array: Any, value: Any) -> Any:
    """``array`` with its nulls replaced by ``value``."""
    import pyarrow.compute as pc

    return pc.coalesce(array, _scalar(value, array.type)) if array.null_count else array


def _numpy_array(values: Any, valid: Any = None) -> Any:
    """An Arrow array over a numpy array of fixed-width values (``valid``: a bool mask)."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [bitmap, pa.py_buffer(values)])
