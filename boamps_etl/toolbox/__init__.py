"""The report toolbox: context templates, validation of any producer's reports, flat tables,
summaries and plots, and the schemas in use. Each function has a command of the same name
(``boamps-etl init-context``, ``validate``, ``flatten``, ``unflatten``, ``summary``,
``schema``).

>>> from boamps_etl import toolbox
>>> text = toolbox.init_context(["emissions.csv"], out="boamps.yaml")      # doctest: +SKIP
>>> toolbox.validate_paths(["reports/"], level="silver").passed           # doctest: +SKIP
>>> toolbox.summarize(["reports/"], by="project")                         # doctest: +SKIP

pandas, matplotlib and pyarrow are imported inside the functions that need them, so the
command line starts fast.
"""

from __future__ import annotations

from ..errors import (
    InputError,
    Issue,
    Location,
    MissingExtraError,
    OutputError,
    UsageError,
)
from .common import (
    JSONL_SUFFIXES,
    REPORT_SUFFIXES,
    LoadedReport,
    PathLike,
    load_reports,
    read_reports,
    report_files,
)
from .flat import flatten_paths, unflatten_file
from .schema import SchemaChoice, schema_document
from .summary import SUMMARY_COLUMNS, By, plot_summary, summarize
from .template import TEMPLATE_FIELDS, Node, init_context
from .validate import ReportCheck, ValidationSummary, validate_paths

__all__ = [
    "JSONL_SUFFIXES",
    "REPORT_SUFFIXES",
    "SUMMARY_COLUMNS",
    "TEMPLATE_FIELDS",
    "By",
    "InputError",
    "Issue",
    "LoadedReport",
    "Location",
    "MissingExtraError",
    "Node",
    "OutputError",
    "PathLike",
    "ReportCheck",
    "SchemaChoice",
    "UsageError",
    "ValidationSummary",
    "flatten_paths",
    "init_context",
    "load_reports",
    "plot_summary",
    "read_reports",
    "report_files",
    "schema_document",
    "summarize",
    "unflatten_file",
    "validate_paths",
]
