"""Value checks, column-wise: each mapped value against the constraints of its schema path
(types, enums, patterns, number bounds), for a report of a signature already seen valid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..shapes import number_bounds, value_constraints
from .arrays import _as_numpy, _filled
from .columns import _Column, _Dict

# --------------------------------------------------------------------------- value checks


def _kinds(values: Sequence[Any]) -> set[type]:
    """The Python types of the values, ``NoneType`` included."""
    if isinstance(values, _Column):
        found = {values.kind()}
        if values.array.null_count:
            found.add(type(None))
        if values.array.null_count == len(values.array):
            found = {type(None)}
        return found
    if isinstance(values, _Dict):
        return {type(values.distinct[j]) for j in values.used()}
    return set(map(type, values))


def _column_ok(values: Sequence[Any], path: tuple[str, ...], kinds: set[type]
               ) -> list[bool] | None:
    """Per row: the value passes every constraint the schemas put on ``path`` (``None``
    when all pass); ``kinds``: the types of the values, ``None`` left out."""
    checks = value_constraints(path)
    if not checks:
        return None
    if isinstance(values, _Column):
        return _column_ok_arrow(values.array, checks, number_bounds(path), kinds)
    if isinstance(values, _Dict):
        good = [v is None or all(check(v) for check in checks) for v in values.distinct]
        if all(good[j] for j in values.used()):
            return None
        return values.spread(good)
    bounds = number_bounds(path)
    if kinds == {float} and bounds is not None:
        import numpy as np

        return _within(np.array(values, dtype=np.float64), bounds)  # None becomes NaN
    if len(kinds) <= 1:
        bad: set[Any] = {v for v in set(values) if v is not None
                         and not all(check(v) for check in checks)}
        if not bad:
            return None
        return [v not in bad for v in values]
    # 1, 1.0 and True are equal keys: tell them apart by type
    typed = {(type(v), v) for v in values if v is not None}
    refused = {key for key in typed if not all(check(key[1]) for check in checks)}
    if not refused:
        return None
    return [v is None or (type(v), v) not in refused for v in values]


def _within(numbers: Any, bounds: tuple[tuple[float, ...], tuple[float, ...]]
            ) -> list[bool] | None:
    """Per number: within every bound (NaN stands for an empty cell and passes); ``None``
    when all are."""
    import numpy as np

    ok = np.ones(len(numbers), dtype=bool)
    with np.errstate(invalid="ignore"):
        for low in bounds[0]:
            ok &= ~(numbers < low)
        for high in bounds[1]:
            ok &= ~(numbers > high)
    if ok.all():
        return None
    out: list[bool] = ok.tolist()
    return out


def _column_ok_arrow(array: Any, checks: Any, bounds: Any, kinds: set[type]
                     ) -> list[bool] | None:
    """:func:`_column_ok` for an Arrow column: numbers against their bounds at once, other
    values once per distinct value."""
    import numpy as np
    import pyarrow as pa

    if kinds == {float} and bounds is not None:
        return _within(_as_numpy(_filled(array, np.nan)), bounds)
    encoded = array.dictionary_encode() if not pa.types.is_dictionary(array.type) else array
    distinct = encoded.dictionary.to_pylist()
    good = [all(check(v) for check in checks) for v in distinct]
    if all(good):
        return None
    indices = _as_numpy(_filled(encoded.indices, len(distinct)))
    passes = np.array([*good, True], dtype=bool)  # an empty cell passes
    out: list[bool] = passes[indices].tolist()
    return out
