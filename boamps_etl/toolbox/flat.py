"""``flatten`` / ``unflatten``: reports to flat tables (CSV, Parquet) and back.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Location, OutputError
from ..flatten import cell_text, column_type, columns_of, csv_text, flatten, unflatten
from .common import LoadedReport, PathLike, _refuse_existing, _require, load_reports

if TYPE_CHECKING:
    import pandas as pd

# =========================================================================== flatten


def _rows_of(reports: Sequence[LoadedReport]) -> list[dict[str, Any]]:
    rows = []
    for rep in reports:
        if not isinstance(rep.document, Mapping):
            raise InputError(f"report {rep.index} is not a JSON object", Location(rep.file))
        rows.append(flatten(rep.document))
    return rows


def _parquet_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    pa = _require("pyarrow", "parquet", "Parquet output")
    arrays = []
    types = {"string": pa.string(), "number": pa.float64(), "integer": pa.int64(),
             "boolean": pa.bool_()}
    for col in columns:
        values = [row.get(col) for row in rows]
        typ = column_type(col)
        try:
            if typ in ("object", "array") or any(isinstance(v, Mapping | list)
                                                 for v in values):
                raise TypeError("containers are written as text")
            if typ in types:
                arrays.append(pa.array(values, type=types[typ]))
            else:
                arrays.append(pa.array(values))
        except (TypeError, ValueError, pa.ArrowException):
            arrays.append(pa.array([None if v is None else cell_text(v) for v in values],
                                   type=pa.string()))
    return pa.Table.from_arrays(arrays, names=list(columns))


def flatten_paths(paths: Iterable[PathLike], out: PathLike | None = None, *,
                  force: bool = False) -> pd.DataFrame:
    """Flatten reports (JSON, JSONL, folders) into one row per report, with the BoAmps
    flattener's column names (``measures_0_powerConsumption``).

    Args:
        paths: report files and folders.
        out: a ``.csv`` file (floats in shortest exact form, the way BoAmps' flat CSVs
            store them) or a ``.parquet`` file (typed columns; needs the ``parquet``
            extra); ``'-'`` writes CSV to stdout; ``None`` writes nothing.
        force: overwrite an existing ``out``.

    Returns:
        The flat table as a DataFrame (one column per field path, values as in the
        reports).

    Raises:
        InputError: a file cannot be read or a report is not a JSON object.
        OutputError: ``out`` exists (without ``force``) or has another suffix.
        MissingExtraError: Parquet output without pyarrow.

    >>> frame = flatten_paths(["reports/"], out="reports.csv")   # doctest: +SKIP
    """
    import pandas as pd

    from ..io.writers import atomic_write

    reports = load_reports(paths)
    rows = _rows_of(reports)
    columns = columns_of(rows)
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    if out is None:
        return frame
    if str(out) == "-":
        import sys

        sys.stdout.write(csv_text(rows))
        return frame
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise OutputError("the flat table must be a .csv or .parquet file", Location(target))
    _refuse_existing(target, force)
    if suffix == ".csv":
        atomic_write(target, csv_text(rows))
    else:
        table = _parquet_table(rows, columns)
        pq = _require("pyarrow.parquet", "parquet", "Parquet output")
        buf = io.BytesIO()
        pq.write_table(table, buf)
        atomic_write(target, buf.getvalue())
    return frame


def _flat_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(spreadsheet row, cells)`` of a flat CSV (text cells) or Parquet file."""
    if path.suffix.lower() == ".parquet":
        pq = _require("pyarrow.parquet", "parquet", "Reading Parquet")
        try:
            records = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises many kinds of errors
            raise InputError(f"is not a readable Parquet file ({exc})", Location(path)) \
                from None
        yield from enumerate(records, 2)
        return
    import csv

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})", Location(path)) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", Location(path)) from None
    # newline="": line breaks inside quoted cells stay as written
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    if not reader.fieldnames:
        raise InputError("is empty: no header row", Location(path))
    for row in reader:
        if "\0extra" in row:
            raise InputError("has more cells than the header", Location(path, reader.line_num))
        yield reader.line_num, {k: ("" if v is None else v) for k, v in row.items()}


def unflatten_file(path: PathLike, out: PathLike | None = None, *,
                   force: bool = False) -> list[dict[str, Any]]:
    """Rebuild reports from a flat CSV or Parquet file (the inverse of
    :func:`flatten_paths`); each value gets the type the schemas define for its column.

    Args:
        path: a ``.csv`` (text cells; an empty cell is an absent field) or ``.parquet``.
        out: a folder to write one JSON file per report into; ``None`` writes nothing.
        force: overwrite existing report files.

    Returns:
        The reports, in row order.

    Raises:
        InputError: the file cannot be read, or a cell does not fit its column (file, row
            and column are named).
        OutputError: a report file exists (without ``force``).
        MissingExtraError: a Parquet file without pyarrow.

    >>> reports = unflatten_file("reports.csv", out="reports/")   # doctest: +SKIP
    """
    from ..io.writers import write_reports

    source = Path(path)
    docs: list[dict[str, Any]] = []
    for row_number, cells in _flat_rows(source):
        try:
            docs.append(unflatten(cells))
        except InputError as exc:
            raise InputError(exc.message, Location(source, row_number, exc.where.column),
                             exc.hint) from None
    if not docs:
        raise InputError("holds no report row", Location(source))
    if out is not None:
        write_reports(docs, Path(out), "json", force=force)
    return docs
