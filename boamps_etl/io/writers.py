"""Write reports as JSON files, JSON Lines or a flat CSV: atomically, never over existing
outputs unless asked, and never outside the chosen output folder.

Every file is written to a temporary file beside its target and renamed into place, so an
interrupt or a full disk leaves no partial file. All targets are checked before the first
byte is written: an existing target (without ``force``) or an unwritable folder stops the
job with nothing written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import Location, OutputError
from ..flatten import csv_text, flatten

Format = Literal["json", "jsonl", "csv"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv")
STDOUT = "-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 200


def dumps(doc: Any, indent: int | None = 2) -> str:
    """JSON text of a report: UTF-8, keys in document order, floats in shortest exact form."""
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)


def safe_part(value: Any, fallback: str = "unknown") -> str:
    """A file-name part from report values: ASCII letters, digits, '.', '_' and '-' only,
    never '.' or '..', so no value can move a file out of its folder."""
    text = unicodedata.normalize("NFKD", str(value)) if value not in (None, "") else fallback
    text = text.encode("ascii", "ignore").decode()
    text = _UNSAFE.sub("-", text).strip("-.")
    return text[:60] or fallback


def report_filename(doc: Mapping[str, Any]) -> str:
    """``report_<publisher>_<taskStage>_<taskFamily>_<infraType>_<reportId>.json``."""
    header = doc.get("header") or {}
    task = doc.get("task") or {}
    infra = doc.get("infrastructure") or {}
    publisher = (header.get("publisher") or {}).get("name") if isinstance(header, dict) else None
    parts = [
        safe_part(publisher),
        safe_part(task.get("taskStage") if isinstance(task, dict) else None),
        safe_part(task.get("taskFamily") if isinstance(task, dict) else None),
        safe_part(infra.get("infraType") if isinstance(infra, dict) else None),
        safe_part(header.get("reportId") if isinstance(header, dict) else None, "noid"),
    ]
    name = "report_" + "_".join(parts)
    return name[:MAX_NAME] + ".json"


def _inside(folder: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_writable(folder: Path) -> None:
    """Fail early, with nothing written, when ``folder`` cannot take new files."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"{probe} is a file, not a folder", Location(folder))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", Location(probe),
                          "choose another --out or fix its permissions")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: str) -> None:
    """Write text to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def plan_json(docs: Sequence[Mapping[str, Any]], folder: Path) -> list[Path]:
    """Target paths for one JSON file per report; same-named reports get a ``-2`` suffix."""
    used: dict[str, int] = {}
    out = []
    for doc in docs:
        name = report_filename(doc)
        count = used.get(name, 0) + 1
        used[name] = count
        if count > 1:
            name = name[: -len(".json")] + f"-{count}.json"
        target = folder / name
        if not _inside(folder, target):  # unreachable with safe_part; kept as a guard
            raise OutputError(f"refusing to write outside {folder}", Location(target))
        out.append(target)
    return out


def render_jsonl(docs: Iterable[Mapping[str, Any]]) -> str:
    return "".join(dumps(d, indent=None) + "\n" for d in docs)


def render_csv(docs: Sequence[Mapping[str, Any]], extra: Sequence[Mapping[str, Any]] | None = None
               ) -> str:
    """One flat row per report (BoAmps flattener column names); ``extra`` adds columns per
    row (e.g. status, source)."""
    rows = [flatten(d) for d in docs]
    if extra is not None:
        rows = [{**e, **r} for r, e in zip(rows, extra, strict=True)]
    return csv_text(rows)


def write_reports(docs: Sequence[Mapping[str, Any]], out: str | Path, fmt: Format = "json", *,
                  force: bool = False) -> list[Path]:
    """Write reports; returns the files written (none for stdout).

    Args:
        docs: reports as plain data.
        out: a folder for ``json``, a file for ``jsonl``/``csv``; ``'-'`` writes to stdout
            (``json``: one JSON array).
        fmt: 'json', 'jsonl' or 'csv'.
        force: overwrite existing outputs.

    Raises:
        OutputError: a target exists (without ``force``) or cannot be written; nothing is
            written then.
    """
    if fmt not in FORMATS:
        raise OutputError(f"unknown format '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    if str(out) == STDOUT:
        if fmt == "json":
            text = dumps(list(docs)) + "\n"
        elif fmt == "jsonl":
            text = render_jsonl(docs)
        else:
            text = render_csv(docs)
        sys.stdout.write(text)
        sys.stdout.flush()
        return []
    out = Path(out)
    if fmt == "json":
        if out.exists() and not out.is_dir():
            raise OutputError("--out must be a folder for json output (one file per report)",
                              Location(out), "use --format jsonl to write one file")
        check_writable(out)
        targets = plan_json(docs, out)
        if not force:
            existing = [t for t in targets if t.exists()]
            if existing:
                raise OutputError(
                    f"{len(existing)} output file(s) exist already, e.g. {existing[0].name}",
                    Location(out), "pass --force to overwrite them")
        for doc, target in zip(docs, targets, strict=True):
            atomic_write(target, dumps(doc) + "\n")
        return targets
    if out.is_dir():
        raise OutputError(f"--out must be a file for {fmt} output, not a folder", Location(out))
    check_writable(out.parent if str(out.parent) else Path("."))
    if out.exists() and not force:
        raise OutputError("output file exists already", Location(out),
                          "pass --force to overwrite it")
    atomic_write(out, render_jsonl(docs) if fmt == "jsonl" else render_csv(docs))
    return [out]
