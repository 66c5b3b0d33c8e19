"""The resumable state of a batch (``.boamps-etl-state.json``): content hashes, the
settings hash, which folders are up to date, and the output files planned for a folder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BoampsEtlError, Issue
from ..execute import Executor
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
    return storage.sha256_many([storage.as_path(p, dict(options)) for p in paths])


def _recorded(unit: Unit, old_units: dict[str, Any], settings: str, force: bool) -> bool:
    """The state holds a record of this folder made with these settings: it may be up to
    date, and its sources must be hashed to know."""
    stored = old_units.get(unit.key)
    return not force and isinstance(stored, dict) and stored.get("settings") == settings


def hash_inputs(units: list[Unit], old_units: dict[str, Any], settings: str, force: bool,
                 runner: Executor | None, options: dict[str, Any],
                 mapping_cache: dict[Any, Any]) -> None:
    """Fill each unit's content hashes: of its context and mapping files always (they are
    few and shared), of its sources only when the state has a record of the folder made
    with these settings. Any other folder is converted anyway, and its conversion hashes
    the bytes it reads: each source is read once (on an object store, one GET per file).

    Hashes are computed on the cluster when the executor prefers tasks per file (the bytes
    stay there), else here, several objects of a store at once."""
    paths: dict[str, AnyPath] = {}
    for unit in units:
        if _recorded(unit, old_units, settings, force):
            paths.update((str(p), p) for _, p in unit.sources)
        paths.update((str(p), p) for p in unit.context_files)
    names = sorted(paths)
    hashes: dict[str, str | None] = dict(zip(
        names, _hash_paths([paths[n] for n in names], runner, options), strict=True))
    for unit in units:
        if _recorded(unit, old_units, settings, force):
            for key, path in unit.sources:
                unit.hashes[key] = with_companions(hashes[str(path)], path)
        for p in unit.context_files:
            unit.context_hashes.append([str(p), hashes[str(p)]])
        files, error = mapping_file_chain(unit.mapping_file, mapping_cache)
        for f in files:
            if f not in hashes:
                hashes[f] = sha_file(storage.as_path(f, options))
            unit.mapping_hashes.append([f, hashes[f]])
        if unit.setup_error is None:
            unit.setup_error = error


def with_companions(sha: str | None, path: AnyPath) -> str | None:
    """A source's hash extended with those of the side files its reader reads
    (:func:`boamps_etl.trackers.companion_files`): unchanged for other files."""
    from ..trackers import companion_files

    files = companion_files(path)
    if sha is None or not files:
        return sha
    return sha + "".join(f"+{storage.sha256(f) or '-'}" for f in files)


def _hash_paths(paths: list[AnyPath], runner: Executor | None,
                options: dict[str, Any]) -> list[str | None]:
    """Content hashes of files: on the cluster's workers (256 files per task) when the
    executor prefers tasks per file, else here (several objects of a store at once)."""
    if runner is None or not runner.per_file or not paths:
        return storage.sha256_many(paths)
    names = [str(p) for p in paths]
    frozen = tuple(sorted(options.items()))
    chunks = [names[i:i + 256] for i in range(0, len(names), 256)]
    futures = [runner.submit(hash_many, chunk, frozen) for chunk in chunks]
    return [h for future in futures for h in future.result()]


def fresh_units(units: list[Unit], old_units: dict[str, Any], settings: str,
                 out: AnyPath, force: bool, sizes: dict[str, int] | None,
                 runner: Executor | None = None,
                 options: dict[str, Any] | None = None) -> set[str]:
    """The folders whose state record matches their inputs and whose outputs are intact.
    ``sizes``: an object store's listing of ``out`` (a missing output needs no request);
    the outputs still there are hashed as the sources are (:func:`_hash_paths`)."""
    if force:
        return set()
    matching = [u for u in units if _inputs_match(u, old_units.get(u.key), settings)]
    wanted = sorted({rel for u in matching for rel in old_units[u.key]["outputs"]})
    present = [rel for rel in wanted if rel in sizes] if sizes is not None else wanted
    out_hashes: dict[str, str | None] = dict.fromkeys(wanted)
    out_hashes.update(zip(present, _hash_paths([out / rel for rel in present], runner,
                                               dict(options or {})), strict=True))
    return {u.key for u in matching
            if fresh_candidate(u, old_units.get(u.key), settings, out, out_hashes)}


def _inputs_match(unit: Unit, stored: Any, settings: str) -> bool:
    if not isinstance(stored, dict) or stored.get("settings") != settings:
        return False
    if any(h is None for h in unit.hashes.values()) or not unit.hashes:
        return False
    if stored.get("sources") != unit.hashes or stored.get("context") != unit.context_hashes \
            or stored.get("mapping") != unit.mapping_hashes:
        return False
    return isinstance(stored.get("outputs"), dict) and (
        isinstance(stored.get("entries"), list) or isinstance(stored.get("part"), str))


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
    output = rel_path(out, target)
    for entry, _, _ in keep:
        entry.output = output
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
    if not _inputs_match(unit, stored, settings):
        return False
    outputs, part = stored["outputs"], stored.get("part")
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
