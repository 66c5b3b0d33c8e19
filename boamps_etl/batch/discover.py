"""Finding the work of a batch: the ROOT folders, the walk of their trees, and the
context and mapping files that apply to each source folder."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Issue, Location, UsageError
from ..execute import Executor
from ..io import storage
from ..io.storage import AnyPath

PathLike = str | os.PathLike[str]

def _default_globs() -> tuple[str, ...]:
    from ..trackers import trackers

    ordered = sorted(trackers().values(), key=lambda t: t.name != "codecarbon")
    return tuple(dict.fromkeys(p for t in ordered for p in t.files))


#: File-name patterns found by default (``--glob`` replaces them): every tracker's files
#: (CodeCarbon's emissions*.csv, .bak backups and *.csv.gz first). The name only finds a
#: file; its content says which tracker wrote it.
DEFAULT_GLOBS: tuple[str, ...] = _default_globs()
CONTEXT_NAMES: tuple[str, ...] = ("boamps.yaml", "boamps.yml", "boamps.json")
MAPPING_NAMES: tuple[str, ...] = ("boamps-mapping.yaml", "boamps-mapping.yml",
                                  "boamps-mapping.json")


def rel_path(out: AnyPath, target: AnyPath) -> str:
    """``target`` relative to ``out``, ``/``-separated."""
    if storage.is_url(out):
        return str(target)[len(str(out).rstrip("/")) + 1:]
    return Path(target).relative_to(out).as_posix()


def _parts(key: str) -> tuple[str, ...]:
    return tuple(p for p in key.split("/") if p)


def join_key(*parts: str) -> str:
    return "/".join(p for p in parts if p)


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Root:
    path: AnyPath  # resolved (a URL as given, without a trailing /)
    prefix: str   # '' with one ROOT, else its (unique) name under out


@dataclass
class Unit:
    """One source folder: its CSVs, and the context/mapping files that apply to them."""

    key: str                        # mirrored folder under out ('' = out itself)
    folder: AnyPath
    sources: list[tuple[str, AnyPath]]  # (manifest name, path), sorted by name
    context_files: list[AnyPath]
    mapping_file: AnyPath | None
    setup_error: Issue | None = None
    hashes: dict[str, str | None] = field(default_factory=dict)
    # [path, sha256] pairs (lists: they are compared with the JSON state as they are)
    context_hashes: list[list[Any]] = field(default_factory=list)
    mapping_hashes: list[list[Any]] = field(default_factory=list)
    # the size of each source on an object store (bytes, by manifest name), from the
    # listing: whether to stream and split it is decided without asking the store again
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[str, ...]:
        return _parts(self.key)


def prepare_roots(roots: PathLike | Sequence[PathLike], out: AnyPath | None,
                   options: Any = None) -> list[Root]:
    items = [roots] if isinstance(roots, str | os.PathLike) else list(roots)
    if not items:
        raise UsageError("no ROOT folder given")
    resolved: list[AnyPath] = []
    for item in items:
        path = storage.as_path(item, options)
        storage.forget_listings(path)
        if not probe(path, storage.exists):
            raise UsageError(storage.missing(path, "ROOT"), Location(str(path)))
        if not probe(path, storage.is_dir):
            raise UsageError("ROOT is not a folder", Location(str(path)),
                             "use 'boamps-etl convert' for single files")
        real = path.resolve() if isinstance(path, Path) else storage.as_path(
            str(path).rstrip("/"), options)
        if out is not None and storage.inside(out, real):
            raise UsageError("ROOT is inside the output folder", Location(path),
                             "choose an --out outside the folders to convert")
        if real not in resolved:
            resolved.append(real)
    for a in resolved:
        for b in resolved:
            if a != b and storage.inside(a, b):
                raise UsageError(f"ROOT {b} is inside ROOT {a}", Location(b),
                                 "give only the outer folder")
    if len(resolved) == 1:
        return [Root(resolved[0], "")]
    used: set[str] = set()
    out_roots = []
    for real in resolved:
        base = real.name or str(real).split("://", 1)[-1].strip("/") or "root"
        name, n = base, 1
        while name.lower() in used:  # case-insensitive: safe on macOS and Windows too
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        out_roots.append(Root(real, name))
    return out_roots


def _matches(name: str, rel: str, globs: Sequence[str]) -> bool:
    for pattern in globs:
        if "/" in pattern:
            if fnmatch.fnmatchcase(rel, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


@dataclass
class FolderFiles:
    contexts: list[str]
    mappings: list[str]
    csvs: list[str]
    sizes: dict[str, int] = field(default_factory=dict)  # of csvs, when the listing says


def probe(path: AnyPath, check: Callable[[AnyPath], bool]) -> bool:
    """``check(path)``, with a storage backend's failure (credentials, network) as a
    one-line UsageError."""
    try:
        return check(path)
    except (OSError, ValueError) as exc:
        if not storage.is_url(path):
            raise
        raise UsageError(f"cannot be read ({storage.describe_error(exc)})",
                         Location(str(path)), "check the URL and the credentials") from None


def _walk(root: Root, out_real: str, globs: Sequence[str], under: tuple[str, ...] = (),
          unreadable: list[tuple[tuple[str, ...], OSError]] | None = None
          ) -> dict[tuple[str, ...], FolderFiles]:
    """Folders under a ROOT (hidden ones and the output folder left out); with ``under``,
    only that subfolder of the ROOT and what is below it. Local folders that cannot be
    listed go to ``unreadable`` (parts relative to the ROOT, the error)."""
    found: dict[tuple[str, ...], FolderFiles] = {}

    def failed(exc: OSError) -> None:
        if unreadable is not None and exc.filename is not None:
            rel = Path(os.fsdecode(exc.filename)).relative_to(Path(root.path)).parts
            unreadable.append((rel, exc))

    top = root.path.joinpath(*under)
    # below the real top, os.walk follows no link: a folder's real path is its path
    real_top = None if storage.is_url(top) else os.path.realpath(top)
    sizes: dict[str, int] = {}
    for below, dirnames, filenames in storage.walk(top, failed, sizes=sizes):
        rel = (*under, *below)
        real_dir = None if real_top is None else os.path.join(real_top, *below)
        found[rel] = info = _walk_listing(root, out_real, globs, rel, dirnames, filenames,
                                          real_dir)
        info.sizes = {n: sizes["/".join((*below, n))] for n in info.csvs
                      if "/".join((*below, n)) in sizes}
    return found


def _ambiguous(folder: AnyPath, names: list[str], what: str) -> Issue:
    return Issue(f"ambiguous-{what}", f"several {what} files in one folder: "
                 f"{', '.join(names)}", Location(folder), "error", "keep only one of them")


def context_chain(root: Root, folders: dict[tuple[str, ...], FolderFiles], rel: tuple[str, ...]
           ) -> tuple[list[AnyPath], AnyPath | None, Issue | None]:
    """Context files from the ROOT down to ``rel``, the nearest mapping file, a setup error."""
    contexts: list[AnyPath] = []
    mapping: AnyPath | None = None
    error: Issue | None = None
    for depth in range(len(rel) + 1):
        here = rel[:depth]
        info = folders.get(here)
        if info is None:
            continue
        folder = root.path.joinpath(*here)
        if len(info.contexts) > 1 and error is None:
            error = _ambiguous(folder, info.contexts, "context")
        contexts.extend(folder / n for n in info.contexts)
        if len(info.mappings) > 1 and error is None:
            error = _ambiguous(folder, info.mappings, "mapping")
        if info.mappings:
            mapping = folder / info.mappings[0]
    return contexts, mapping, error


def _walk_parallel(root: Root, out_real: str, globs: Sequence[str],
                   executor: Executor | None,
                   unreadable: list[tuple[tuple[str, ...], OSError]] | None = None
                   ) -> dict[tuple[str, ...], FolderFiles]:
    """:func:`_walk`, one task per top-level folder on a cluster's workers (listing a
    bucket or a shared file system of many folders is itself slow)."""
    if executor is None or not executor.per_file:
        return _walk(root, out_real, globs, (), unreadable)
    here, subfolders = _walk_one_level(root, out_real, globs)
    futures = [executor.submit(_walk, root, out_real, globs, (name,)) for name in subfolders]
    found: dict[tuple[str, ...], FolderFiles] = {(): here}
    for future in futures:
        found.update(future.result())
    return found


def _walk_one_level(root: Root, out_real: str, globs: Sequence[str]
                    ) -> tuple[FolderFiles, list[str]]:
    """The ROOT's own files, and the names of its subfolders (pruned as by _walk)."""
    sizes: dict[str, int] = {}
    for rel, dirnames, filenames in storage.walk(root.path, one_level=True, sizes=sizes):
        info = _walk_listing(root, out_real, globs, rel, dirnames, filenames)
        info.sizes = {n: sizes[n] for n in info.csvs if n in sizes}
        return info, dirnames
    return FolderFiles([], [], []), []


def _walk_listing(root: Root, out_real: str, globs: Sequence[str], rel: tuple[str, ...],
                  dirnames: list[str], filenames: list[str],
                  real_dir: str | None = None) -> FolderFiles:
    """A folder's part of the walk: its subfolders pruned (hidden ones, the output folder)
    and sorted, its files sorted into sources, contexts and mappings. ``real_dir``: the
    folder's real path when known (then only links among its subfolders are resolved)."""
    url = storage.is_url(root.path)
    dirpath = str(root.path.joinpath(*rel))

    def real(d: str) -> str:
        if url:
            return f"{dirpath.rstrip('/')}/{d}"
        if real_dir is None:
            return os.path.realpath(os.path.join(dirpath, d))
        here = os.path.join(real_dir, d)
        return os.path.realpath(here) if os.path.islink(here) else here

    dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and real(d) != out_real)
    special = set(CONTEXT_NAMES) | set(MAPPING_NAMES)
    names = set(filenames)
    csvs = sorted(f for f in filenames if not f.startswith(".") and f not in special
                  and _matches(f, "/".join((*rel, f)), globs))
    return FolderFiles([n for n in CONTEXT_NAMES if n in names],
                   [n for n in MAPPING_NAMES if n in names], csvs)


def _out_real(out: AnyPath) -> str:
    return str(out).rstrip("/") if storage.is_url(out) else os.path.realpath(out)


def discover_units(roots: list[Root], out: AnyPath, globs: Sequence[str],
              contexts: list[AnyPath], mapping: AnyPath | None,
              executor: Executor | None = None) -> list[Unit]:
    out_real = _out_real(out)
    units: list[Unit] = []
    for root in roots:
        unreadable: list[tuple[tuple[str, ...], OSError]] = []
        folders = _walk_parallel(root, out_real, globs, executor, unreadable)
        for rel, exc in unreadable:  # an error line in the manifest, never a silent skip
            key = join_key(root.prefix, *rel)
            folder = root.path.joinpath(*rel)
            reason = "permission denied" if isinstance(exc, PermissionError) else \
                (exc.strerror or str(exc))
            units.append(Unit(key, folder, [(key + "/", folder)], [], None, Issue(
                "unreadable-folder", f"folder cannot be listed ({reason}): its files are not "
                "converted", Location(key + "/"), "error", "fix its permissions")))
        for rel, info in folders.items():
            if not info.csvs:
                continue
            key = join_key(root.prefix, *rel)
            folder = root.path.joinpath(*rel)
            chain, near_mapping, error = context_chain(root, folders, rel)
            units.append(Unit(key, folder, [(join_key(key, n), folder / n) for n in info.csvs],
                               [*contexts, *chain], near_mapping or mapping, error,
                               sizes={join_key(key, n): size
                                      for n, size in info.sizes.items()}))
    units.sort(key=lambda u: u.sort_key)
    return units
