"""Batch conversion of whole experiment folders: :func:`convert_tree` and :func:`explain`.

``convert_tree`` walks one or more folders, finds every CodeCarbon CSV (``emissions*.csv``,
task files ``emissions_<experiment>_<run_id>.csv``, ``.bak`` backups, ``*.csv.gz``), converts
each with the context and mapping files found above it, and mirrors the tree under the
output folder, with a ``manifest.csv`` listing every report and every problem.

Rules, in short (``docs/batch.md`` has the long form):

* **Contexts**: a ``boamps.yaml`` (``.yml``, ``.json``) applies to its folder and everything
  below it, up to the ROOT (files above a ROOT are not looked at). Layers apply in this order,
  later ones overriding earlier ones: ``contexts`` (``--context``), then the folder files from
  the ROOT down to the CSV's folder, then ``sets`` (``--set``).
* **Mappings**: the nearest ``boamps-mapping.yaml`` (``.yml``, ``.json``) wins; without one,
  ``mapping`` (``--mapping``), else the built-in mapping. Files are not chained implicitly:
  a folder mapping that should build on a farther one says so with
  ``extends: ../boamps-mapping.yaml`` (the mapping's own ``extends`` semantics).
* **Order**: sources are sorted folder by folder (a folder's own files, by name, before its
  subfolders); the manifest follows that order, then the row. The same report (same
  ``reportId``: the run_id, or run_id + task name for task files) found in several files is
  written once, from the first source; the others are ``duplicate`` lines.
* **Work units** are folders: outputs of a folder are planned together (``-2`` suffixes for
  same-named reports, one ``boamps-reports.jsonl``/``.csv`` per folder). Workers convert,
  the parent process writes, in sorted order, so ``jobs`` never changes a byte.
* **Re-runs**: ``DIR/.boamps-etl-state.json`` records, per folder, the sha256 of each source,
  of the context and mapping files that applied, the options, and of each output. A folder
  whose records all match (and whose outputs are intact) is not converted again. The state
  is written atomically, for completed folders only, so an interrupted run resumes.
"""

from .convert import CODECARBON_NAMES
from .discover import CONTEXT_NAMES, DEFAULT_GLOBS, MAPPING_NAMES, PathLike
from .driver import ALL_OUTPUT, BatchProgress, BatchResult, convert_tree
from .explain import Explanation, explain
from .manifest import MANIFEST_COLUMNS, MANIFEST_NAME, STATUSES, ManifestEntry, manifest_frame
from .state import FOLDER_OUTPUT, STATE_NAME, STATE_VERSION

__all__ = [
    "ALL_OUTPUT", "CODECARBON_NAMES", "CONTEXT_NAMES", "DEFAULT_GLOBS", "FOLDER_OUTPUT",
    "MANIFEST_COLUMNS", "MANIFEST_NAME", "MAPPING_NAMES", "STATE_NAME", "STATE_VERSION",
    "STATUSES", "BatchProgress", "BatchResult", "Explanation", "ManifestEntry", "PathLike",
    "convert_tree", "explain", "manifest_frame",
]
