"""One tracked run: CodeCarbon's offline tracker with a :class:`BoampsOutput` attached.

Shared by :func:`boamps_etl.track` (notebooks) and :func:`boamps_etl.run_command`
(``boamps-etl run``). The tracker is CodeCarbon's ``OfflineEmissionsTracker``: it never
asks a web service for the location or the carbon intensity, so the country must be known
(``country=`` or ``environment.countryIsoCode`` in the context).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Location, MissingExtraError, UsageError
from .live import INSTALL_HINT, fallback_notes, require_codecarbon

if TYPE_CHECKING:
    from ..context import Context
    from ..pipeline import ConvertedReport
    from .handler import BoampsOutput

#: CodeCarbon's CSV, written beside the reports.
EMISSIONS_CSV = "emissions.csv"


def resolve_country(country: str | None, context: Context) -> str:
    """The ISO 3166 alpha-3 code CodeCarbon's offline tracker needs: ``country``, else the
    context's ``environment.countryIsoCode`` (alpha-2 codes and names are accepted).

    Raises:
        UsageError: no country given, or not a country.
    """
    where = "--country"
    if not country:
        for layer in context.layers:
            environment = layer.base.get("environment")
            if isinstance(environment, dict) and environment.get("countryIsoCode"):
                country, where = str(environment["countryIsoCode"]), layer.name
    if not country:
        raise UsageError("CodeCarbon's offline tracker needs the country where the job runs",
                         hint="give --country (country=) as an ISO 3166 code, e.g. FRA, or "
                              "environment.countryIsoCode in the context")
    try:
        import pycountry
    except ImportError:
        raise MissingExtraError("reading a country code needs pycountry, which is not "
                                "installed", hint=INSTALL_HINT) from None
    try:
        found = pycountry.countries.lookup(country)
    except LookupError:
        raise UsageError(f"'{country}' is not an ISO 3166 country code", Location(where),
                         "e.g. FRA, DEU, USA") from None
    return str(found.alpha_3)


def start_tracker(handler: BoampsOutput, country: str, out: Path | None,
                  project: str | None, options: dict[str, Any]) -> Any:
    """An ``OfflineEmissionsTracker`` writing ``emissions.csv`` into ``out`` (none when
    ``out`` is None) and feeding ``handler``, started."""
    codecarbon = require_codecarbon("tracking a run")
    # Offline: no API, Prometheus or HTTP endpoint, whatever a .codecarbon.config says.
    settings: dict[str, Any] = {"country_iso_code": country, "output_handlers": [handler],
                                "emissions_endpoint": None}
    if project:
        settings["project_name"] = project
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        settings.update(output_dir=str(out), output_file=EMISSIONS_CSV)
    methods = getattr(import_module("codecarbon.output_methods.base_output"), "OutputMethod",
                      None)
    if methods is not None:  # CodeCarbon 3.3+; save_to_* is deprecated there
        settings["output_methods"] = [methods.CSV] if out is not None else []
    else:
        settings.update(save_to_file=out is not None, save_to_api=False,
                        save_to_prometheus=False, save_to_logfire=False)
    # CodeCarbon logs every measurement at 'info'; its warnings (what it estimates instead of
    # measuring) are what a user needs. CODECARBON_LOG_LEVEL or log_level= still win.
    if "CODECARBON_LOG_LEVEL" not in os.environ and "log_level" not in options:
        settings["log_level"] = "warning"
        logging.getLogger("codecarbon").setLevel(logging.WARNING)  # before its first line
    settings.update(options)
    tracker = codecarbon.OfflineEmissionsTracker(**settings)
    handler.attach(tracker)
    tracker.start()
    return tracker


@dataclass
class TrackedRun:
    """What a tracked run produced (filled when the tracker stops).

    Attributes:
        handler: the :class:`BoampsOutput` that made the reports.
        tracker: CodeCarbon's tracker (``tracker.start_task(name)`` / ``stop_task()`` for
            task reports).
        emissions_csv: CodeCarbon's CSV (None when nothing is written to disk).
        fallbacks: what CodeCarbon estimated instead of measuring on this machine.
    """

    handler: BoampsOutput
    tracker: Any = None
    emissions_csv: Path | None = None
    fallbacks: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def report(self) -> ConvertedReport | None:
        """The run's report (``status``, ``document``, ``issues``); None before the stop."""
        return self.handler.report

    @property
    def task_reports(self) -> dict[str, ConvertedReport]:
        """One report per task, by task name."""
        return self.handler.task_reports

    @property
    def written(self) -> list[Path]:
        """The report files written."""
        return list(self.handler.written.values())

    @property
    def problems(self) -> list[str]:
        """Warnings and errors said while making the reports."""
        return self.handler.problems

    def stop(self) -> None:
        """Stop the tracker (once): CodeCarbon writes its row, the handler the reports."""
        if self.stopped or self.tracker is None:
            return
        self.stopped = True
        self.fallbacks = fallback_notes(self.tracker)
        self.tracker.stop()
