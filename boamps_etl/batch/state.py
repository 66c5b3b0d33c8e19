"""The resumable state of a batch (``.boamps-etl-state.json``): content hashes, the
settings hash, which folders are up to date, and the output files planned for a folder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BoampsEtlError, Issue
from ..io import storage
from ..io.storage import AnyPath
from ..io.writers import dumps, plan_json, render_csv, render_jsonl
from ..mapping import load_mapping
from .discover import Unit, _parts, rel_path
from .manifest import ManifestEntry

STATE_NAME = ".boamps-etl-state.json"
FOLDER_OUTPUT = "boamps-reports"  # + .jsonl / .csv: one file per source folder
STATE_VERSION = 1
#: Folder under the output holding the manifest lines and outputs of large folders (a
#: folder's state record names its part instead of holding every line).
PARTS_FOLDER = ".boamps-etl-state.parts"


def sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha_file(path: AnyPath) -> str | None:
    return storage.sha256(path)


def hash_many(paths: list[str], options: tuple[tuple[str, Any], ...]) -> list[str | None]:
    """Content hashes of several files (one task on a cluster: the bytes stay there)."""
    return [storage.sha256(storage.as_path(p, dict(options))) for p in paths]


# --------------------------------------------------------------------------- state


def read_state(out: AnyPath) -> dict[str, Any]:
    try:
        data = json.loads((out / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    units = data.get("units")
    return units if isinstance(units, dict) else {}


def write_state(out: AnyPath, units: dict[str, Any]) -> None:
    from .. import __version__

    storage.put(out / STATE_NAME, (json.dumps(
        {"version": STATE_VERSION, "tool": f"boamps-etl {__version__}", "units": units},
        sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))


def settings_hash(fmt: str, per_row: bool, allow_incomplete: bool,
                   sets: Sequence[str], tracker: str | None = None) -> str:
    from .. import __version__

    settings: dict[str, Any] = {"tool": __version__, "format": fmt, "per_row": per_row,
                                "allow_incomplete": allow_incomplete, "sets": list(sets)}
    if tracker is not None:
        settings["tracker"] = tracker
    text = json.dumps(settings)
    return sha_bytes(text.encode())


def plan_unit(unit: Unit, out: AnyPath, fmt: str, entries: list[ManifestEntry],
               documents: list[dict[str, Any] | None], texts: list[str | None],
               allow_incomplete: bool) -> dict[AnyPath, str]:
    """The files of one folder and their text; sets each entry's ``output``."""
    ok = ("valid", "incomplete") if allow_incomplete else ("valid",)
    keep = [(e, d, t) for e, d, t in zip(entries, documents, texts, strict=True)
            if d is not None and e.status in ok]
    folder = out.joinpath(*_parts(unit.key))
    for e in entries:
        e.output = None
    files: dict[AnyPath, str] = {}
    if not keep:
        return files
    if fmt == "json":
        targets = plan_json([d for _, d, _ in keep], folder)
        for (entry, doc, text), target in zip(keep, targets, strict=True):
            files[target] = text if text is not None else dumps(doc) + "\n"
            entry.output = rel_path(out, target)
        return files
    target = folder / f"{FOLDER_OUTPUT}.{fmt}"
    if fmt == "jsonl":
        files[target] = "".join(t if t is not None else render_jsonl([d]) for _, d, t in keep)
    else:
        files[target] = render_csv([d for _, d, _ in keep])
    for entry, _, _ in keep:
        entry.output = rel_path(out, target)
    return files


def mapping_file_chain(path: AnyPath | None, cache: dict[Any, Any]
                   ) -> tuple[list[str], Issue | None]:
    """The files a mapping is made of (its ``extends`` chain), or its loading error."""
    if path not in cache:
        try:
            cache[path] = (list(load_mapping(path).files), None)
        except BoampsEtlError as exc:
            cache[path] = ([] if path is None else [str(path)], exc.issue)
    result: tuple[list[str], Issue | None] = cache[path]
    return result


def fresh_candidate(unit: Unit, stored: Any, settings: str, out: AnyPath,
                     out_hashes: dict[str, str | None]) -> bool:
    """True when the state says this folder was converted from exactly these inputs and its
    outputs are intact (duplicates are checked later, in order)."""
    if not isinstance(stored, dict) or stored.get("settings") != settings:
        return False
    if any(h is None for h in unit.hashes.values()):
        return False
    if stored.get("sources") != unit.hashes or stored.get("context") != unit.context_hashes \
            or stored.get("mapping") != unit.mapping_hashes:
        return False
    outputs = stored.get("outputs")
    part = stored.get("part")
    if not isinstance(outputs, dict) or not (isinstance(stored.get("entries"), list)
                                             or isinstance(part, str)):
        return False
    for rel, sha in outputs.items():
        if rel not in out_hashes:
            out_hashes[rel] = sha_file(out / rel)
        if out_hashes[rel] != sha:
            return False
    if isinstance(part, str):  # a large folder's outputs: checked, not remembered
        try:
            return all(sha_file(out / x[1]) == x[2] for x in read_part(out, part)
                       if x[0] == "o")
        except (OSError, ValueError, TypeError, IndexError):
            return False
    return True


def read_part(out: AnyPath, name: str) -> Iterator[list[Any]]:
    """The lines of a large folder's part file: ``["e", entry]`` (a manifest line, as
    :meth:`ManifestEntry.to_state` stores it) and ``["o", output, sha256]``, in order.

    Raises:
        OSError, ValueError: the part is missing or damaged (the folder is converted again).
    """
    if "/" in name or name.startswith("."):
        raise ValueError(f"bad part name {name!r}")
    with (out / PARTS_FOLDER / name).open("r", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            if not isinstance(item, list) or not item:
                raise ValueError("bad part line")
            yield item
