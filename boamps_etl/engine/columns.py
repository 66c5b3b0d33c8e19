"""The mapping, column by column: the mapping's rules and transforms applied to whole Arrow
columns (:func:`apply_columns`), with numbers parsed by Arrow and the reference transforms
run once per distinct value or combination of cells."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..mapping import Applied, FieldMapping, Rule, apply_rules, run_transform
from ..transforms import (
    TRANSFORMS,
    Cells,
    Problems,
    TransformContext,
    ValueProblem,
    to_float,
    to_int,
    unit_factor,
)
from .arrays import _as_numpy, _filled, _numpy_array, _scalar

_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ISO_SECONDS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}$"


# --------------------------------------------------------------------------- mapping


class _Lazy(Sequence[Any]):
    """A column of mapped values read one by one where needed (the first report of a
    signature) and made a list only when something walks it."""

    _list: list[Any] | None = None

    def _one(self, i: int) -> Any:
        raise NotImplementedError

    def _all(self) -> list[Any]:
        raise NotImplementedError

    def __getitem__(self, i: Any) -> Any:
        return self.to_list()[i] if isinstance(i, slice) else self._one(i)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_list())

    def to_list(self) -> list[Any]:
        if self._list is None:
            self._list = self._all()
        return self._list


class _Column(_Lazy):
    """Mapped values that are exactly an Arrow column: never turned into a list on the way
    to the output."""

    def __init__(self, array: Any):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def _one(self, i: int) -> Any:
        return self.array[i].as_py()

    def _all(self) -> list[Any]:
        out: list[Any] = self.array.to_pylist()
        return out

    def __contains__(self, value: object) -> bool:
        if value is None:
            return bool(self.array.null_count)
        return value in self.to_list()

    def kind(self) -> type:
        """The Python type of its values."""
        import pyarrow as pa

        kind = self.array.type
        if pa.types.is_floating(kind):
            return float
        if pa.types.is_string(kind):
            return str
        if pa.types.is_boolean(kind):
            return bool
        return int


def _number_column(rule: Rule, array: Any, problems: Problems,
                   direct: list[Any] | None = None) -> list[Any]:
    """Plain numbers parsed by Arrow; any other cell as :func:`to_float` reads it.
    ``direct`` receives the Arrow column of the values when no cell was odd."""
    import numpy as np
    import pyarrow.compute as pc

    parsed, odd = _parse_numbers(array)
    if not pc.any(odd).as_py():
        if direct is not None:
            direct.append(parsed)
        return _Column(parsed)  # type: ignore[return-value]
    # cells that are not plain numbers, or overflow: the reference parser decides
    values: list[Any] = parsed.to_pylist()
    if True:
        column = rule.source[0]
        texts = array.to_pylist()
        for i in np.flatnonzero(_as_numpy(odd)).tolist():
            try:
                values[i] = to_float(texts[i], column)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                values[i] = None
    return values


_PLAIN_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


def _scaled_column(rule: Rule, array: Any, scale: Any, problems: Problems) -> list[Any]:
    """Numbers times a power of ten (% to a fraction...): the exact product of the cell
    and the factor is the cell with its exponent moved, so ``12.5`` % is read as
    ``12.5e-2``, rounded once to a float as the reference does. Cells of other forms, or
    too long for an exact product in 28 digits, take the reference parser."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    exponent = scale.adjusted()
    plain = pc.and_(pc.match_substring_regex(array, _PLAIN_DECIMAL),
                    pc.less_equal(pc.utf8_length(array), _scalar(27, pa.int32())))
    shifted = pc.binary_join_element_wise(
        pc.if_else(plain, array, _scalar(None, pa.string())),
        _scalar(f"e{exponent}", pa.string()), _scalar("", pa.string()))
    parsed = pc.cast(shifted, pa.float64())
    values: list[Any] = parsed.to_pylist()
    odd = pc.or_(pc.and_(pc.is_valid(array), pc.invert(_filled(plain, False))),
                 pc.invert(_filled(pc.is_finite(parsed), True)))
    if pc.any(odd).as_py():
        column = rule.source[0]
        texts = array.to_pylist()
        for i in np.flatnonzero(_as_numpy(odd)).tolist():
            try:
                values[i] = to_float(texts[i], column, scale)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                values[i] = None
    return values


def _cached(fn: Callable[[str], Any], cells: Sequence[str | None], problems: Problems,
            column: str | None) -> list[Any]:
    cache: dict[str, Any] = {}
    out: list[Any] = []
    append = out.append
    for i, text in enumerate(cells):
        if text is None:
            append(None)
            continue
        value = cache.get(text, cache)
        if value is cache:
            try:
                value = fn(text)
            except ValueProblem as exc:
                exc.column = exc.column or column
                problems[i] = exc
                append(None)
                continue
            cache[text] = value
        append(value)
    return out


def _coerce(rule: Rule, get_cells: Callable[[], list[str | None]], array: Any,
            problems: Problems, direct: list[Any] | None = None) -> list[Any]:
    """:func:`boamps_etl.mapping._coerce`, column-wise (``array``: the source column,
    ``None`` when absent or computed)."""
    spec = rule.spec
    typ = spec.type if spec else "string"
    column = rule.source[0] if rule.source else None
    scale = None
    if rule.source_unit and rule.unit:
        factor = unit_factor(rule.source_unit, rule.unit)
        scale = None if factor == 1 else factor
    if typ == "number":
        if scale is None and array is not None:
            return _number_column(rule, array, problems, direct)
        if array is not None and scale is not None and scale.as_tuple().digits == (1,):
            return _scaled_column(rule, array, scale, problems)
        return _cached(lambda t: to_float(t, column, scale), get_cells(), problems, column)
    if typ == "string" and direct is not None and array is not None:
        direct.append(array)
        return _Column(array)  # type: ignore[return-value]
    if typ == "integer" and array is not None:
        return _dict_of(array, lambda t: to_int(t, column), problems, column)  # type: ignore[return-value]
    cells = get_cells()
    if typ == "integer":
        return _cached(lambda t: to_int(t, column), cells, problems, column)
    if typ == "boolean":
        return [None if t is None else t.lower() in ("y", "yes", "true", "1") for t in cells]
    if direct is not None and array is not None:
        direct.append(array)
        return _Column(array)  # type: ignore[return-value]
    return list(cells)


def _floats(array: Any) -> tuple[Any, Any]:
    """(float64 numpy values, NaN where empty; True where a cell is neither empty nor a
    plain finite number, which the reference parser must read)."""
    import numpy as np

    parsed, odd = _parse_numbers(array)
    values = _as_numpy(_filled(parsed, np.nan))
    return values, _as_numpy(odd)


def _parse_numbers(array: Any) -> tuple[Any, Any]:
    """(float64 Arrow array, Arrow mask of the cells the reference parser must read:
    neither empty nor a plain finite decimal number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # fast_float reads a subset of what float() reads, and rounds the same
        parsed = pc.cast(array, pa.float64())
    except pa.ArrowInvalid:
        plain = pc.match_substring_regex(array, _NUMBER)
        parsed = pc.cast(pc.if_else(plain, array, _scalar(None, pa.string())), pa.float64())
        return parsed, pc.or_(pc.and_(pc.is_valid(array), pc.invert(_filled(plain, False))),
                              pc.invert(_filled(pc.is_finite(parsed), True)))
    return parsed, pc.invert(_filled(pc.is_finite(parsed), True))


def _carbon_intensity(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np

    (e, odd_e), (k, odd_k) = _floats(arrays[0]), _floats(arrays[1])
    with np.errstate(all="ignore"):
        value = e / k * 1000
    good = (e > 0) & (k > 0)
    out = np.where(good, value, np.nan)
    # An overflow (5e-324 kWh) is a problem of its row: the reference says it.
    return (None, _float_column(out)), odd_e | odd_k | (good & ~np.isfinite(value))


def _emissions_rate(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np

    (r, odd_r), (e, odd_e), (d, odd_d) = (_floats(a) for a in arrays)
    with np.errstate(all="ignore"):
        grams = (e > 0) & (d > 0) & (r > 0) & (np.abs(r / (e / d) - 1000) < 10)
    has_r = ~np.isnan(r) | odd_r
    both = ~(np.isnan(e) & ~odd_e) & ~(np.isnan(d) & ~odd_d)  # e and d present
    odd = odd_r | (has_r & both & (odd_e | odd_d)) | grams
    return (None, _float_column(r)), odd


def _start_datetime(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ts, dur = arrays
    iso = pc.match_substring_regex(ts, _ISO_SECONDS)
    text = pc.utf8_replace_slice(pc.if_else(iso, ts, _scalar(None, pa.string())),
                                 10, 11, " ")
    end = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    # strptime moves impossible dates on (2024-02-30 -> 2024-03-01): written back, such a
    # time differs from its cell, which the reference refuses
    end = pc.if_else(pc.equal(end.cast(pa.timestamp("s")).cast(pa.string()), text), end,
                     _scalar(None, pa.timestamp("us")))
    end_us = _as_numpy(_filled(end.cast(pa.int64()), 0))
    seconds, odd_d = _floats(dur)
    has_ts = _as_numpy(pc.is_valid(ts))
    has_d = ~np.isnan(seconds) | odd_d
    both = has_ts & has_d
    parsed = _as_numpy(pc.is_valid(end))
    with np.errstate(all="ignore"):
        shifted = end_us.astype(np.float64) - seconds * 1e6 + 5e5
        rest = np.mod(shifted, 1e6)
        start_s = np.floor(shifted / 1e6)
    # the reference's microsecond rounding decides rows near a second's boundary; dates
    # before year 1000 and after 9999, other spellings and odd cells go there too
    near = (rest < 4) | (rest > 1e6 - 4)
    ok = parsed & ~odd_d & (seconds >= 0) & ~near & (start_s > -30610224000) & \
        (end_us < 253402300800 * 10**6)
    odd = both & ~ok
    good = both & ok
    stamps = _numpy_array(np.where(good, start_s, 0).astype(np.int64))
    # years 1000 to 9999 only (above): Arrow writes them as YYYY-MM-DD HH:MM:SS
    formatted = stamps.cast(pa.timestamp("s")).cast(pa.string())
    column = pc.if_else(_numpy_array(good.astype(np.uint8)).cast(pa.bool_()), formatted,
                        _scalar(None, pa.string()))
    return (None, column), odd


def _datetime(arrays: list[Any]) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = arrays[0]
    iso = pc.match_substring_regex(ts, _ISO_SECONDS)
    text = pc.utf8_replace_slice(pc.if_else(iso, ts, _scalar(None, pa.string())),
                                 10, 11, " ")
    odd = pc.and_(pc.is_valid(ts), pc.invert(_filled(iso, False)))
    return (None, text), _as_numpy(odd)


def _report_id(arrays: list[Any]) -> tuple[Any, Any]:
    """A row with a run_id and no task_name: its run_id (without --per-row, which takes
    the reference path); other rows hash their content (the reference)."""
    import pyarrow.compute as pc

    run_id = arrays[0]
    own = pc.is_valid(run_id)
    if len(arrays) > 1:
        own = pc.and_(own, pc.is_null(arrays[1]))
    return (None, run_id), _as_numpy(pc.invert(own))


def _float_column(values: Any) -> Any:
    """A float64 Arrow column of numpy values, NaN standing for empty."""
    import numpy as np

    values = np.ascontiguousarray(values, dtype=np.float64)
    return _numpy_array(values, ~np.isnan(values))


#: Column-wise versions of transforms (Arrow columns in; values and the rows the reference
#: transform must compute instead out). Each equals its reference on the rows it keeps:
#: the same float operations, and the reference for every odd cell.
FAST_TRANSFORMS: dict[str, Callable[[list[Any]], tuple[Any, Any]]] = {
    "carbon_intensity": _carbon_intensity,
    "emissions_rate": _emissions_rate,
    "start_datetime": _start_datetime,
    "datetime": _datetime,
    "report_id": _report_id,
}


#: Transforms whose value for a row depends on that row's source cells only: computed once
#: per distinct text (one source) or distinct combination of texts (several).
PER_VALUE_TRANSFORMS = frozenset({
    "lower", "os_name", "os_distribution", "os_distribution_version", "cpu_manufacturer",
    "cpu_family", "cpu_series", "gpu_manufacturer", "gpu_family", "gpu_series", "gpu_memory",
    "gpu_count", "infra_type", "first",
})


class _Dict(_Lazy):
    """Mapped values computed once per distinct cell: each row's index into ``distinct``
    (whose last entry is ``None``, for empty cells). Type tags, value checks and JSON text
    are worked out per distinct value, then spread by the indices."""

    def __init__(self, indices: Any, distinct: list[Any]):
        self.indices = indices  # numpy integer array
        self.distinct = distinct
        self._used: list[int] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _one(self, i: int) -> Any:
        return self.distinct[int(self.indices[i])]

    def _all(self) -> list[Any]:
        distinct = self.distinct
        return [distinct[j] for j in self.indices.tolist()]

    def __contains__(self, value: object) -> bool:
        return any(_same_value(self.distinct[j], value) for j in self.used())

    def used(self) -> list[int]:
        """The distinct values some row holds."""
        if self._used is None:
            import numpy as np

            self._used = np.unique(self.indices).tolist()
        return self._used

    def spread(self, per_distinct: list[Any]) -> list[Any]:
        """One value per row, from one value per distinct value."""
        import numpy as np

        table = np.empty(len(per_distinct), dtype=object)
        table[:] = per_distinct
        out: list[Any] = table[self.indices].tolist()
        return out


def _dict_of(array: Any, fn: Callable[[str], Any], problems: Problems, column: str | None
             ) -> _Dict:
    """``fn`` of each distinct cell (its problems given to every row holding it)."""
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    results: list[Any] = []
    bad: Problems = {}
    for j, text in enumerate(distinct):
        try:
            results.append(fn(text))
        except ValueProblem as exc:
            exc.column = exc.column or column
            bad[j] = exc
            results.append(None)
    return _by_distinct(encoded, results, bad, problems)


def _by_distinct(encoded: Any, results: list[Any], bad: Problems, problems: Problems
                 ) -> _Dict:
    """The values of a dictionary-encoded column from one result per distinct cell; a
    distinct cell's problem goes to every row holding it."""
    return _spread(_as_numpy(_filled(encoded.indices, len(results))), results, bad, problems)


def _spread(indices: Any, results: list[Any], bad: Problems, problems: Problems) -> _Dict:
    """The values of each row from one result per distinct index; a distinct index's
    problem goes to every row holding it."""
    if bad:
        for i, j in enumerate(indices.tolist()):
            if j in bad:
                problems[i] = bad[j]
    return _Dict(indices, [*results, None])


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _per_distinct(rule: Rule, array: Any, ctx: TransformContext, problems: Problems
                  ) -> Any:
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    sub_problems: Problems = {}
    # the distinct cells stand for no rows: no row numbers, no row content
    results = run_transform(rule, [distinct], TransformContext(ctx.kind, ctx.per_row),
                            sub_problems)
    return _by_distinct(encoded, results, sub_problems, problems)


def _per_combination(rule: Rule, arrays: list[Any], ctx: TransformContext,
                     problems: Problems) -> _Dict:
    """A transform of several columns, once per distinct combination of their cells
    (empty cells included: a transform may give a value for them)."""
    cells, inverse = _combinations(arrays)
    sub_problems: Problems = {}
    results = run_transform(rule, cells, TransformContext(ctx.kind, ctx.per_row),
                            sub_problems)
    return _spread(inverse, results, sub_problems, problems)


def _combinations(arrays: list[Any]) -> tuple[list[Cells], Any]:
    """The distinct combinations of the columns' cells (``None`` for empty), as one list
    of cells per column, and each row's combination."""
    import numpy as np

    columns = []
    for array in arrays:
        encoded = array.dictionary_encode()
        distinct = [*encoded.dictionary.to_pylist(), None]
        columns.append((_as_numpy(_filled(encoded.indices, len(distinct) - 1)), distinct))
    _, first, inverse = np.unique(_combined(columns, len(arrays[0])), return_index=True,
                                  return_inverse=True)
    cells: list[Cells] = [[distinct[j] for j in codes[first].tolist()]
                          for codes, distinct in columns]
    return cells, inverse.reshape(-1)


def _nulls(n: int) -> Any:
    import pyarrow as pa

    return pa.nulls(n, type=pa.string())


def _fast_transform(rule: Rule, arrays: dict[str, Any], cells_of: Callable[[str], Any],
                    n: int, ctx: TransformContext, problems: Problems,
                    direct: list[Any] | None = None) -> list[Any] | None:
    import numpy as np

    if rule.transform in PER_VALUE_TRANSFORMS and not ctx.per_row:
        if len(rule.source) == 1 and rule.source[0] in arrays:
            found: list[Any] = _per_distinct(rule, arrays[rule.source[0]], ctx, problems)
            return found
        if len(rule.source) > 1:
            sources = [arrays[s] if s in arrays else _nulls(n) for s in rule.source]
            return _per_combination(rule, sources, ctx, problems)  # type: ignore[return-value]
    fast = FAST_TRANSFORMS.get(rule.transform or "")
    if fast is None or rule.args or ctx.per_row or not rule.source or \
            rule.source[0] not in arrays:
        return None
    if any(s not in arrays for s in rule.source):
        if rule.transform != "report_id":
            return None
        arrays = {**arrays, **{s: _nulls(n) for s in rule.source if s not in arrays}}
    values, odd = fast([arrays[s] for s in rule.source])
    if isinstance(values, tuple):  # (None, the values as an Arrow column)
        column = values[1]
        if not odd.any():
            if direct is not None:
                direct.append(column)
            return _Column(column)  # type: ignore[return-value]
        values = column.to_pylist()
    if odd.any():
        rows = np.flatnonzero(odd).tolist()
        cols = [cells_of(s) for s in rule.source]
        sub = TransformContext(ctx.kind, ctx.per_row, {}, rule.source,
                               [ctx.rows[i] for i in rows] if ctx.rows else (), ())
        sub_problems: Problems = {}
        redone = TRANSFORMS[rule.transform or ""].func(
            [[col[i] for i in rows] for col in cols], sub, sub_problems)
        for j, i in enumerate(rows):
            values[i] = redone[j]
            if j in sub_problems:
                problems[i] = sub_problems[j]
    out: list[Any] = values
    return out


def _holds(cond: Any, array: Any) -> list[bool]:
    """A ``when`` condition for each row, evaluated once per distinct cell."""
    import numpy as np

    encoded = array.dictionary_encode()
    results = cond.evaluate([*encoded.dictionary.to_pylist(), None])
    indices = _as_numpy(_filled(encoded.indices, len(results) - 1))
    out: list[bool] = np.array(results, dtype=bool)[indices].tolist()
    return out


def apply_columns(mapping: FieldMapping, arrays: dict[str, Any], n: int,
                  ctx: TransformContext) -> tuple[Applied, dict[str, Any]]:
    """:func:`boamps_etl.mapping.apply_mapping` over Arrow columns (cleaned, nulls for
    empty cells): the same rules and transforms, plain numbers parsed column-wise. Also
    returns, for targets whose values are exactly an Arrow column (a number or text
    column as read, a transform done column-wise), that column."""
    import pyarrow.compute as pc

    lists: dict[str, list[str | None]] = {}

    def cells_of(name: str) -> list[str | None]:
        found = lists.get(name)
        if found is None:
            array = arrays.get(name)
            found = [None] * n if array is None else array.to_pylist()
            lists[name] = found
        return found

    def condition(cond: Any) -> list[bool]:
        if cond.column in arrays:
            return _holds(cond, arrays[cond.column])
        held: list[bool] = cond.evaluate(cells_of(cond.column))
        return held

    computed: dict[str, tuple[Any, Any]] = {}  # target -> (its values, their Arrow column)

    def compute(rule: Rule, problems: Problems) -> list[Any]:
        direct: list[Any] = []
        result = _fast_transform(rule, arrays, cells_of, n, ctx, problems, direct) \
            if rule.transform else None
        if result is not None:
            pass
        elif rule.transform:
            result = run_transform(rule, [cells_of(s) for s in rule.source], ctx, problems)
        elif len(rule.source) == 1:
            name = rule.source[0]
            result = _coerce(rule, lambda: cells_of(name), arrays.get(name), problems, direct)
        elif all(s in arrays for s in rule.source):  # the first non-empty column
            first = pc.coalesce(*(arrays[s] for s in rule.source))
            result = _coerce(rule, first.to_pylist, first, problems, direct)
        else:
            merged = TRANSFORMS["first"].func([cells_of(s) for s in rule.source], ctx,
                                              problems)
            result = _coerce(rule, lambda: merged, None, problems)
        if direct and not problems:
            computed[rule.target] = (result, direct[0])
        return result

    applied = apply_rules(mapping, n, condition, compute)
    # a default or a condition that changed the values leaves no column behind them
    columns = {target: column for target, (result, column) in computed.items()
               if applied.values[target] is result}
    return applied, columns


def _factorized(values: Sequence[Any], kinds: set[type] | None = None
                ) -> tuple[Any, list[Any]]:
    """(an integer code for each value, the value of each code); values of different
    types never share a code (``1``, ``1.0`` and ``True`` stay apart). ``kinds``: the
    values' types, when known already."""
    import numpy as np

    if isinstance(values, _Dict):
        return values.indices, values.distinct
    if kinds is None:
        kinds = set(map(type, values))
    if kinds == {bool}:  # list entries kept or not
        return np.array(values, dtype=np.int64), [False, True]
    if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:  # a constant, merge keys
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            return np.zeros(len(values), dtype=np.int64), distinct
        codes_of = {v: j for j, v in enumerate(distinct)}
        return np.fromiter(map(codes_of.__getitem__, values), dtype=np.int64,
                           count=len(values)), distinct
    index: dict[tuple[type, Any], int] = {}
    codes = np.fromiter((index.setdefault((type(v), v), len(index)) for v in values),
                        dtype=np.int64, count=len(values))
    return codes, [v for _, v in index]


def _combined(columns: list[tuple[Any, list[Any]]], n: int) -> Any:
    """One integer key per row that tells apart the rows whose codes differ somewhere."""
    import numpy as np

    key = np.zeros(n, dtype=np.int64)
    size = 1
    for codes, labels in columns:
        width = max(len(labels), 1)
        if size * width >= 1 << 62:  # renumber the keys so far: 0..distinct-1
            _, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.int64)
            size = int(key.max()) + 1 if n else 1
        key = key * width + codes
        size *= width
    return key


_KIND_TAGS = {bool: "b", int: "i", float: "f", str: "s"}  # str: when no value is ""
_SCALARS = {type(None), bool, int, float, str}
