"""Which context and mapping files apply to one file or folder of a batch: :func:`explain`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..context import load_context, merge_into
from ..errors import BoampsEtlError, Issue, Location, UsageError
from ..io import storage
from .discover import (
    CONTEXT_NAMES,
    MAPPING_NAMES,
    FolderFiles,
    PathLike,
    Root,
    context_chain,
    join_key,
    prepare_roots,
    probe,
    rel_path,
)
from .state import mapping_file_chain


@dataclass
class Explanation:
    """What applies to one CSV (or folder) in a batch: see :func:`explain`.

    Attributes:
        path: the CSV or folder explained.
        root: the ROOT it was found under.
        source: its manifest name (relative, ``/``-separated).
        context_files: context files in the order they are applied (later ones override);
            ``sets`` come after all of them.
        sets: the ``--set`` values.
        mapping_file: the mapping file chosen (nearest, else ``--mapping``; None: built-in).
        mapping_files: the mapping files that make it up, base first (``extends`` chain).
        context: the merged context (the non-``match`` part of every layer, merged in order).
        matches: the ``match`` sections, in order: ``{"file", "when", "values"}``.
        error: why the CSVs here would fail (a broken context or mapping file), if so.
    """

    path: Path
    root: Path
    source: str
    context_files: list[Path]
    sets: tuple[str, ...]
    mapping_file: Path | None
    mapping_files: list[Path]
    context: dict[str, Any]
    matches: list[dict[str, Any]]
    error: Issue | None = None


def explain(path: PathLike, roots: PathLike | Sequence[PathLike] | None = None,
            contexts: Sequence[PathLike] = (), mapping: PathLike | None = None,
            sets: Sequence[str] = (),
            storage_options: dict[str, Any] | None = None) -> Explanation:
    """Which context and mapping files apply to one CSV (or folder) of a batch, in order,
    and the merged context.

    Args:
        path: a CSV file or a folder under one of ``roots`` (a path or a URL).
        roots: the batch's ROOT folders; ``None``: the CSV's own folder is the ROOT (only
            files beside it are looked at).
        contexts, mapping, sets, storage_options: as for :func:`convert_tree`.

    Returns:
        An :class:`Explanation`; a broken file is reported in its ``error``, not raised.

    Raises:
        UsageError: ``path`` does not exist or is not under any ROOT, or its store cannot
            be read.

    >>> explain("runs/bert/seed1/emissions.csv", roots=["runs"]).context_files  # doctest: +SKIP
    >>> explain("s3://lab/runs/bert", roots=["s3://lab/runs"])                  # doctest: +SKIP
    """
    options = dict(storage_options or {})
    target = storage.as_path(path, options)
    if storage.is_url(target):
        storage.forget_listings(target)
    if not probe(target, storage.exists):
        raise UsageError("no such file or folder", Location(str(target)))
    url = storage.is_url(target)
    real = storage.normalize(storage.as_path(str(target).rstrip("/"), options)) if url \
        else target.resolve()
    is_folder = probe(real, storage.is_dir)
    folder = real if is_folder else real.parent
    root_list = [Root(folder, "")] if roots is None else prepare_roots(roots, None, options)
    root = next((r for r in root_list if storage.inside(r.path, folder)), None)
    if root is None:
        raise UsageError("is not under any ROOT", Location(str(target)))
    rel = tuple(p for p in rel_path(root.path, folder).split("/") if p not in ("", "."))
    folders: dict[tuple[str, ...], FolderFiles] = {}
    for depth in range(len(rel) + 1):
        here = root.path.joinpath(*rel[:depth])
        names: set[str] = set()
        for _, _, files in storage.walk(here, one_level=True):
            names.update(files)
        folders[rel[:depth]] = FolderFiles([n for n in CONTEXT_NAMES if n in names],
                                       [n for n in MAPPING_NAMES if n in names], [])
    chain, near_mapping, error = context_chain(root, folders, rel)
    context_files = [storage.as_path(c, options) for c in contexts] + chain
    chosen = near_mapping or (None if mapping is None else storage.as_path(mapping, options))
    mapping_files, mapping_error = mapping_file_chain(chosen, {})
    error = error or mapping_error
    merged: dict[str, Any] = {}
    matches: list[dict[str, Any]] = []
    try:
        ctx = load_context(context_files, sets)
    except BoampsEtlError as exc:
        error = error or exc.issue
    else:
        for layer in ctx.layers:
            merge_into(merged, layer.base)
            matches.extend({"file": layer.name, "when": s.when, "values": s.values}
                           for s in layer.matches)
    parts = rel if is_folder else (*rel, real.name)
    return Explanation(target, root.path, join_key(root.prefix, *parts), context_files,
                       tuple(sets), chosen,
                       [storage.as_path(f, options) for f in mapping_files], merged, matches,
                       error)
