"""``BoampsOutput``: a CodeCarbon output handler writing validated BoAmps reports.

>>> from codecarbon import OfflineEmissionsTracker                      # doctest: +SKIP
>>> from boamps_etl.tracking import BoampsOutput                        # doctest: +SKIP
>>> handler = BoampsOutput(context="boamps.yaml", out="reports")        # doctest: +SKIP
>>> tracker = OfflineEmissionsTracker(country_iso_code="FRA",
...                                   output_handlers=[handler])        # doctest: +SKIP
>>> handler.attach(tracker)       # optional: adds cpuTrackingMode      # doctest: +SKIP
>>> tracker.start(); train(); tracker.stop()                            # doctest: +SKIP
>>> handler.report.status                                               # doctest: +SKIP
'valid'

CodeCarbon calls ``out()`` when the tracker flushes or stops (one report per run, rewritten
at each flush with the run's totals) and ``task_out()`` with every task of the run (one
report per task). The reports come from the same mapping and pipeline as ``convert``.

The handler never raises into the tracked job: a report that only misses fields CodeCarbon
cannot know is written as a ``draft`` with one warning (as ``--allow-incomplete`` does); any
other problem is logged (logger ``boamps_etl.tracking``) and kept in :attr:`problems`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Issue
from .live import LiveConverter, live_fields, require_codecarbon

require_codecarbon("boamps_etl.tracking.BoampsOutput")

from codecarbon.output_methods.base_output import BaseOutput  # noqa: E402

if TYPE_CHECKING:
    from ..mapping import FieldMapping
    from ..pipeline import ConversionResult, ConvertedReport

LOG = logging.getLogger("boamps_etl.tracking")
PathLike = str | os.PathLike[str]


class BoampsOutput(BaseOutput):  # type: ignore[misc,unused-ignore]  # Any without CodeCarbon
    """A CodeCarbon output handler: one validated BoAmps report per run and per task.

    Args:
        context: context file path(s) or dict(s), as for :func:`boamps_etl.convert`.
        out: folder for the JSON reports (``report_<publisher>_..._<reportId>.json``, the
            names ``convert`` gives); ``None`` keeps them in memory only.
        sets: ``PATH=VALUE`` strings that win over the context.
        mapping: a mapping file extending the built-in one.
        tracker: the tracker, for the live-only fields (see :meth:`attach`).

    Raises:
        MappingError, ContextError: a file cannot be used (when the handler is made,
            before the tracked job starts).
        MissingExtraError: CodeCarbon is not installed (when the module is imported).
    """

    def __init__(self, context: Any = None, out: PathLike | None = "boamps-reports", *,
                 sets: Iterable[str] = (), mapping: PathLike | FieldMapping | None = None,
                 tracker: Any = None) -> None:
        self.out_dir = None if out is None else Path(out)
        self.converter = LiveConverter.load(context, sets, mapping)
        self.tracker = tracker
        #: The latest version of each report, by reportId (runs and tasks).
        self.reports: dict[str, ConvertedReport] = {}
        #: The report of the run (the last run when the tracker was started again).
        self.report: ConvertedReport | None = None
        #: Reports of the tasks, by task name.
        self.task_reports: dict[str, ConvertedReport] = {}
        #: The file of each written report, by reportId.
        self.written: dict[str, Path] = {}
        #: Everything logged as a warning or an error, once each.
        self.problems: list[str] = []

    def attach(self, tracker: Any) -> BoampsOutput:
        """Let the handler read the tracker's hardware when it writes, for the live-only
        fields ``measures[0].cpuTrackingMode`` / ``gpuTrackingMode`` (how CodeCarbon got
        the power: ``rapl``, ``cpu_load``, ``constant``, ``nvml``...). A CSV does not say
        it; a context value wins over it."""
        self.tracker = tracker
        return self

    # ------------------------------------------------------------------ CodeCarbon's calls

    def out(self, total: Any, delta: Any = None) -> None:
        """The run's totals (at each flush and at stop): its report, written."""
        self._safely("the run", self._out, total)

    def task_out(self, data: Sequence[Any], experiment_name: str = "") -> None:
        """Every task of the run: one report each, written."""
        self._safely("the tasks", self._task_out, data)

    def live_out(self, total: Any, delta: Any) -> None:
        """Periodic measurements: nothing to write (a report is made at flush and stop)."""

    def exit(self) -> None:
        """The tracker stopped: nothing left to do (each report is written when made)."""

    # ------------------------------------------------------------------ work

    def _safely(self, what: str, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception as exc:  # never into the user's job: said, kept, and the job goes on
            self._say(logging.ERROR, f"boamps-etl: no BoAmps report for {what}: "
                                     f"{type(exc).__name__}: {exc}")

    def _say(self, level: int, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
            LOG.log(level, message)

    def _convert(self, records: list[dict[str, Any]], name: str,
                 tasks: bool) -> ConversionResult:
        self.converter.live = live_fields(self.tracker) if self.tracker is not None else {}
        return self.converter.convert(records, name, tasks=tasks)

    def _out(self, total: Any) -> None:
        values = dict(total.values)
        result = self._convert([values], f"codecarbon run {values.get('run_id')}", False)
        self._keep(result, self._remember_run)

    def _task_out(self, data: Sequence[Any]) -> None:
        if not data:
            return
        records = [dict(item.values) for item in data]
        run_id = records[0].get("run_id")
        result = self._convert(records, f"codecarbon tasks of run {run_id}", True)
        self._keep(result, self._remember_task)

    def _remember_run(self, report: ConvertedReport) -> None:
        self.report = report

    def _remember_task(self, report: ConvertedReport) -> None:
        name = report.columns.get("task_name")
        if name is not None:
            self.task_reports[name] = report

    def _keep(self, result: ConversionResult,
              remember: Callable[[ConvertedReport], None]) -> None:
        """Each report kept (even when it cannot be written), said, and written."""
        for issue in result.issues:
            self._say(logging.WARNING, f"boamps-etl: {issue}")
        for report in result.reports:
            remember(report)
            if report.status == "invalid":
                errors = "; ".join(str(i) for i in report.issues if i.severity == "error")
                self._say(logging.ERROR, f"boamps-etl: invalid BoAmps report, not written: "
                                         f"{errors}")
            elif report.status == "incomplete":
                self._say(logging.WARNING, f"boamps-etl: the BoAmps report of {report.source} "
                                           f"is written as a draft: {_first(report.issues)} "
                                           "(add them to the context)")
            if report.report_id is not None:
                self.reports[report.report_id] = report
            if report.status != "invalid":
                self._write(report)

    def _write(self, report: ConvertedReport) -> None:
        if self.out_dir is None or report.report_id is None:
            return
        from ..io.writers import atomic_write, dumps, report_filename

        target = self.out_dir / report_filename(report.document)
        previous = self.written.get(report.report_id)
        atomic_write(target, dumps(report.document) + "\n")
        if previous is not None and previous != target:  # a context change renamed it
            previous.unlink(missing_ok=True)
        self.written[report.report_id] = target


def _first(issues: list[Issue]) -> str:
    for issue in issues:
        return issue.message
    return "incomplete"
