"""``with boamps_etl.track(...) as run:``: a BoAmps report for a block of code (notebooks).

>>> import boamps_etl as be
>>> with be.track(context="boamps.yaml", out="reports", country="FRA") as run:  # doctest: +SKIP
...     model.fit(x, y)
>>> run.report.status, run.report.document["measures"][0]["powerConsumption"]  # doctest: +SKIP
('valid', 7.857854389111302e-06)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .live import require_codecarbon
from .session import EMISSIONS_CSV, TrackedRun, resolve_country, start_tracker

if TYPE_CHECKING:
    from ..mapping import FieldMapping

PathLike = str | os.PathLike[str]


@contextmanager
def track(context: Any = None, out: PathLike | None = "boamps-reports", *,
          country: str | None = None, project: str | None = None, sets: Iterable[str] = (),
          mapping: PathLike | FieldMapping | None = None,
          **tracker_options: Any) -> Iterator[TrackedRun]:
    """Track the energy of a ``with`` block with CodeCarbon; a BoAmps report after it.

    The block runs under CodeCarbon's offline tracker (no network). When it ends, even by an
    exception, CodeCarbon writes its row to ``out/emissions.csv`` and the report is made
    from it by the same mapping as :func:`boamps_etl.convert`, validated, and written to
    ``out`` (``run.report`` holds it; ``run.tracker.start_task(name)`` /
    ``stop_task()`` inside the block add one report per task).

    Args:
        context: context file path(s) or dict(s), as for :func:`boamps_etl.convert`.
        out: folder for ``emissions.csv`` and the JSON reports; ``None`` writes nothing.
        country: ISO 3166 code of where the block runs (default: the context's
            ``environment.countryIsoCode``).
        project: CodeCarbon's ``project_name``.
        sets: ``PATH=VALUE`` strings that win over the context.
        mapping: a mapping file extending the built-in one.
        tracker_options: more ``OfflineEmissionsTracker`` arguments
            (``measure_power_secs=1``, ``gpu_ids=[0]``...).

    Raises:
        MissingExtraError: CodeCarbon is not installed (``pip install 'boamps-etl[track]'``).
        UsageError: no country; ContextError, MappingError: a file cannot be used. All
            before the block runs; an incomplete context only makes the report a draft.
    """
    require_codecarbon("boamps_etl.track")
    from .handler import BoampsOutput

    folder = None if out is None else Path(out)
    handler = BoampsOutput(context, None if folder is None else folder, sets=sets,
                           mapping=mapping)
    code = resolve_country(country, handler.converter.context)
    run = TrackedRun(handler, emissions_csv=None if folder is None else folder / EMISSIONS_CSV)
    run.tracker = start_tracker(handler, code, folder, project, tracker_options)
    try:
        yield run
    finally:
        run.stop()
