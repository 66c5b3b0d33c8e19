"""Where the work files of large (streamed) files go, and how a finished work file becomes
an output, on a local disk or an object store.

A large file's worker spools its reports to a work file that the parent reads back
(:mod:`boamps_etl.batch.stream`). On a local output folder that the workers see, the spool
is beside the outputs (:func:`spool_folder`). When the output is an object store, or a
cluster's workers do not see it, the spool goes to a private folder of the system's
temporary folder (a :class:`Scratch`), provided the workers see that folder too: always
for the local pool and for a ``LocalCluster`` started by batch, after a probe for a
cluster given by the user (:meth:`boamps_etl.execute.dask.DaskExecutor.sees`). Else, for
an output on an object store, the spools are objects there, in a work folder of this
process (each uploaded whole once complete, by the worker; removed at the end, or by the
next batch of this machine after a kill): workers of other machines stream and split large
files too. Else (a local output that the workers do not see, nor this machine's temporary
folder) large files are read whole by their worker, as small ones.

On an object store there is no rename: a finished work file is uploaded as one whole
object (:func:`publish`), which the store makes visible only when complete; nothing is
ever appended.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..execute import Executor
from ..io import staging, storage
from ..io.storage import AnyPath
from .discover import rel_path


class Scratch:
    """A private work folder in the system's temporary folder, made when first asked for
    and removed by :meth:`close` (on every way out of a batch: its end, an error, Ctrl-C).
    It is named as a work folder of this process, so that when the process is killed
    (``kill -9``) the next batch on this machine removes it (:func:`staging.sweep`)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def folder(self) -> Path:
        if self.path is None:
            base = Path(tempfile.gettempdir())
            with contextlib.suppress(OSError):  # another user's debris: not ours to clear
                staging.sweep(base)  # what killed batches left there
            self.path = staging.new_folder(base)
        return self.path

    def close(self) -> None:
        if self.path is not None:
            staging.remove(self.path)
            self.path = None


def spool_folder(out: AnyPath, executor: Executor | None, scratch: Scratch) -> str | None:
    """Where workers spool the reports of large files (see the module docstring): ``out``
    when it is a local folder they see; else a :class:`Scratch` folder they see; else
    None (large files are read whole)."""
    local = executor is None or executor.name in ("inline", "local")
    sees = getattr(executor, "sees", None)
    if not storage.is_url(out):
        if local:
            return str(out)
        if not callable(sees):
            return None
        Path(out).mkdir(parents=True, exist_ok=True)
        if sees(Path(out)):
            return os.path.abspath(out)
    if local:
        return str(scratch.folder())
    if callable(sees) and sees(scratch.folder()):
        return str(scratch.folder())
    scratch.close()
    if storage.is_url(out):  # workers of other machines: the spools are objects
        return f"{str(out).rstrip('/')}/{staging.work_name(staging.STAGE)}"
    return None


def sweep_store(out: AnyPath, sizes: dict[str, int] | None) -> None:
    """Remove from an object store's output the spools that batches of this machine,
    killed, left there (``sizes``: the output's listing, from which their names are
    dropped)."""
    if sizes is None:
        return
    stale = {name.split("/", 1)[0] for name in sizes
             if "/" in name and staging.is_stale(name.split("/", 1)[0])}
    for folder in sorted(stale):
        storage.remove_tree(out / folder)
    for name in [n for n in sizes if n.split("/", 1)[0] in stale]:
        del sizes[name]


def work_folder(out: AnyPath, scratch: Scratch | None) -> Path | None:
    """Where the parent writes its own work files for an output on an object store (the
    local disk, before the upload); None for a local output (beside the outputs)."""
    if not storage.is_url(out):
        return None
    assert scratch is not None
    return scratch.folder()


def publish(work: Path, target: AnyPath, sha: str | None = None,
            sizes: dict[str, int] | None = None, root: AnyPath | None = None) -> bool:
    """Put a finished work file at ``target`` unless ``target`` holds the same bytes (then
    the work file is removed): renamed on a local disk, uploaded whole to an object store
    (``sha``: the work file's hash; ``sizes`` and ``root``: the store's listing taken at
    the start, an object not listed or of another size is uploaded without asking the
    store about it first). False when unchanged."""
    if not storage.is_url(target):
        target = Path(target)
        if target.is_file() and staging.same_bytes(work, target):
            staging.remove(work)
            return False
        staging.publish(work, target)
        return True
    try:
        size = work.stat().st_size
        known = None if sizes is None or root is None else sizes.get(rel_path(root, target))
        if (sizes is None or known == size) and sha is not None:
            with contextlib.suppress(OSError):
                if target.stat().st_size == size and storage.sha256(target) == sha:
                    return False
        storage.put_file(target, work)
        return True
    finally:
        staging.remove(work)

