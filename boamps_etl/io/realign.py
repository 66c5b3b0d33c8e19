"""Rows CodeCarbon wrote shorter than their header, and how (or whether) they line up.

Two kinds of short rows still hold a whole run:

* **Rows written before the user added columns of their own.** A header ending with
  columns CodeCarbon never writes (``algorithm,dataset,...``) over older rows that stop
  after CodeCarbon's columns: the missing cells are the user's, the CodeCarbon data is
  complete (:func:`user_columns_missing`).
* **Rows CodeCarbon 3.2.9-3.3.0 appended without their empty columns.** Those versions drop
  every column whose value is ``None`` before appending a headerless row, so the cells
  after a dropped column sit one place to the left (mlco2/codecarbon issue 1304, fixed
  after 3.3.0). :func:`realign_shifted` tries every way of putting the cells back under
  the columns, in order, leaving out only columns those versions can leave empty, and
  keeps the result only when exactly one arrangement fits every column's type.

Nothing is guessed: a row that fits no arrangement, or several different ones, is
reported with the reason, and every realigned row is marked as recovered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..codecarbon import KNOWN_COLUMNS, TEXT_COLUMNS

#: CodeCarbon versions whose append mode drops empty columns (first and last affected).
SHIFTING_VERSIONS = ((3, 2, 9), (3, 3, 0))
#: Columns CodeCarbon 3.2.9-3.3.0 can leave ``None`` (so drop) on an ordinary run, in the
#: groups that are ``None`` together: no region; no coordinates (offline); no GPU.
DROPPABLE_GROUPS: tuple[tuple[str, ...], ...] = (("region",), ("longitude", "latitude"),
                                                  ("gpu_count", "gpu_model"))
DROPPABLE = frozenset(c for group in DROPPABLE_GROUPS for c in group)
#: Arrangements looked at before a row is called ambiguous.
MAX_ARRANGEMENTS = 64

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^\d+(\.0*)?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?([a-z0-9.+-]*)$")
_ISO = re.compile(r"^[A-Z]{2,3}$")
_OS = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*-\S")
_CLOUD_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


def _text(cell: str) -> bool:
    """Free text (names, models, OS): anything but a number, a version, a timestamp or a
    UUID."""
    return not (_NUMBER.match(cell) or _VERSION.match(cell) or _TIMESTAMP.match(cell)
                or _UUID.match(cell))


_CHECKS: dict[str, Callable[[str], bool]] = {
    "timestamp": lambda c: bool(_TIMESTAMP.match(c)),
    "run_id": lambda c: bool(_UUID.match(c)) or c in ("None", "none"),
    "experiment_id": lambda c: bool(_UUID.match(c)),
    "country_iso_code": lambda c: bool(_ISO.match(c)),
    "python_version": lambda c: bool(_VERSION.match(c)),
    "codecarbon_version": lambda c: bool(_VERSION.match(c)),
    "cpu_count": lambda c: bool(_INTEGER.match(c)),
    "gpu_count": lambda c: bool(_INTEGER.match(c)),
    "tracking_mode": lambda c: c in ("machine", "process"),
    # platform.platform(): 'Linux-6.8.0-45-generic-x86_64-with-glibc2.39', 'macOS-14.6-arm64'
    "os": lambda c: bool(_OS.match(c)),
    # provider ids (aws, azure, gcp...) and region ids (us-central1, francecentral)
    "cloud_provider": lambda c: bool(_CLOUD_ID.match(c)),
    "cloud_region": lambda c: bool(_CLOUD_ID.match(c)),
    "on_cloud": lambda c: c in ("Y", "N"),
}


def fits(column: str, cell: str) -> bool:
    """Whether ``cell`` can be a value CodeCarbon wrote in ``column`` (empty always can)."""
    if cell == "":
        return True
    check = _CHECKS.get(column)
    if check is not None:
        return check(cell)
    if column in TEXT_COLUMNS or column not in KNOWN_COLUMNS:
        return _text(cell) if column in TEXT_COLUMNS else True
    return bool(_NUMBER.match(cell))


def user_columns_missing(columns: Sequence[str], cells: Sequence[str]) -> list[str] | None:
    """The trailing user columns a short row stops before, when it is short by those only
    (its CodeCarbon cells are then complete); else ``None``."""
    if len(cells) >= len(columns):
        return None
    first_user = len(columns)
    while first_user > 0 and columns[first_user - 1] not in KNOWN_COLUMNS:
        first_user -= 1
    if first_user == len(columns) or len(cells) < first_user:
        return None
    return list(columns[len(cells):])


def version_tuple(text: str) -> tuple[int, ...] | None:
    found = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not found:
        return None
    return tuple(int(g or 0) for g in found.groups())


@dataclass(frozen=True)
class Realigned:
    """What :func:`realign_shifted` found for one short row.

    Attributes:
        cells: the row put back under the header (dropped columns empty), when exactly
            one arrangement fits; else ``None``.
        dropped: the columns left empty by that arrangement (those left out among them).
        reason: why the row was not realigned (``None`` when it was).
    """

    cells: list[str] | None
    dropped: tuple[str, ...] = ()
    reason: str | None = None


def _misfits(columns: Sequence[str], cells: Sequence[str]) -> list[str]:
    """Cells that cannot belong to the column they sit under (as read, not realigned)."""
    out = []
    for column, cell in zip(columns, cells, strict=False):
        if not fits(column, cell):
            shown = cell if len(cell) <= 24 else cell[:21] + "..."
            out.append(f"{column} holds '{shown}'")
    return out


def _plausible(columns: Sequence[str], row: Sequence[str]) -> bool:
    """CodeCarbon writes both coordinates or neither."""
    if "longitude" in columns and "latitude" in columns:
        lon, lat = row[columns.index("longitude")], row[columns.index("latitude")]
        return (lon == "") == (lat == "")
    return True


def realign_shifted(columns: list[str], cells: Sequence[str]) -> Realigned:
    """Put the cells of a row CodeCarbon 3.2.9-3.3.0 wrote without its empty columns back
    under the header: every arrangement that keeps the cells in order and leaves out only
    whole groups of :data:`DROPPABLE_GROUPS` is tried; the row is realigned when all the
    arrangements whose cells fit their columns give the same row. Its
    ``codecarbon_version`` must be one of the versions that write such rows.

    >>> cols = ["timestamp", "duration", "emissions", "energy_consumed",
    ...         "codecarbon_version", "longitude", "latitude", "tracking_mode"]
    >>> realign_shifted(cols, ["2026-07-01T09:12:44", "1", "0", "0", "3.3.0", "machine"]
    ...                 ).cells[5:]
    ['', '', 'machine']
    """
    n, m = len(columns), len(cells)
    if m >= n:
        return Realigned(None, reason="the row is not shorter than the header")
    groups = {columns.index(g[0]): len(g) for g in DROPPABLE_GROUPS
              if all(c in columns for c in g) and
              list(columns[columns.index(g[0]): columns.index(g[0]) + len(g)]) == list(g)}
    memo: dict[tuple[int, int], list[tuple[str, ...]]] = {}

    def suffixes(i: int, j: int) -> list[tuple[str, ...]]:
        # distinct ways (at most MAX_ARRANGEMENTS) to place cells[i:] under columns[j:]
        if (i, j) in memo:
            return memo[(i, j)]
        found: list[tuple[str, ...]] = []
        if j == n:
            found = [()] if i == m else []
        else:
            if i < m and fits(columns[j], cells[i]):
                found += [(cells[i], *rest) for rest in suffixes(i + 1, j + 1)]
            size = groups.get(j, 0)
            if size and n - j - size >= m - i:
                found += [("",) * size + rest for rest in suffixes(i, j + size)]
            found = list(dict.fromkeys(found))[:MAX_ARRANGEMENTS]
        memo[(i, j)] = found
        return found

    found = [row for row in suffixes(0, 0) if _plausible(columns, row)]
    misfit = _misfits(columns, cells)
    seen = f" ({'; '.join(misfit[:3])})" if misfit else ""
    if not found:
        return Realigned(None, reason=f"its cells do not line up with the header{seen}, and "
                         "no way of leaving out empty columns makes them fit")
    if len(found) > 1:
        a, b = found
        differ = [c for c, x, y in zip(columns, a, b, strict=True) if x != y]
        return Realigned(None, reason=f"its cells do not line up with the header{seen}, and "
                         "several ways of leaving out empty columns fit (they differ in "
                         f"{', '.join(differ[:4])}): realign it by hand")
    row = list(found[0])
    if "codecarbon_version" in columns:
        version = version_tuple(row[list(columns).index("codecarbon_version")])
        if version is None or not SHIFTING_VERSIONS[0] <= version[:3] <= SHIFTING_VERSIONS[1]:
            return Realigned(None, reason=f"its cells do not line up with the header{seen}; "
                             "only CodeCarbon 3.2.9-3.3.0 write rows without their empty "
                             "columns, and this row is not from those versions")
    else:
        return Realigned(None, reason=f"its cells do not line up with the header{seen}")
    empty = tuple(c for c, v in zip(columns, row, strict=True) if v == "" and c in DROPPABLE)
    return Realigned(row, empty)
