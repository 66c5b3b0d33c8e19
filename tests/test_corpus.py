"""Every real CSV in ../shared/corpus/public converts or is refused with one clear line.

Skipped when ../shared is absent (the project's own fixtures cover the same shapes)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import CORPUS, TASK_CONTEXT, sha256

import boamps_etl as be

FILES = sorted(CORPUS.glob("*.csv")) if CORPUS.is_dir() else []
MANIFEST = {}
if (CORPUS / "MANIFEST.tsv").exists():
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        MANIFEST = {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}

pytestmark = pytest.mark.skipif(not FILES, reason="../shared/corpus/public is not present")


@pytest.mark.parametrize("path", FILES, ids=[p.name[:40] for p in FILES])
def test_corpus_file(path: Path) -> None:
    before = sha256(path)
    info = MANIFEST.get(path.name, {})
    context = dict(TASK_CONTEXT)
    context["environment"] = {"country": "unknown"}  # some files recorded no country
    context["infrastructure"] = {"components": [{"componentType": "cpu", "nbComponent": 1}]}
    tool = info.get("tool", "codecarbon")
    if tool != "codecarbon":  # other trackers do not say where they ran (#15)
        context["infrastructure"]["infraType"] = "onPremise"
    try:
        result = be.convert(path, context=context)
    except be.InputError as exc:
        message = str(exc)
        assert "\n" not in message and path.name in message
        assert info.get("tool") != "codecarbon" or info.get("rows") == "0", message
        return
    # Each file is read as the tool the manifest names wrote it (eco2ai files too, #15).
    assert {r.tracker for r in result.reports} == {tool}
    assert result.reports, [str(i) for i in result.issues]
    for report in result.reports:
        for issue in report.issues:
            assert issue.where.row is not None and "\n" not in str(issue)
        if report.status != "valid":
            # Only values CodeCarbon itself wrote wrong may make a report invalid.
            assert any("at least 0" in str(i) for i in report.issues), \
                [str(i) for i in report.issues]
    repeated = info.get("repeated_run_ids") == "y"
    if not repeated and info.get("tool") == "codecarbon" and "task" not in info.get("notes", ""):
        ids = {r.report_id for r in result.reports}
        assert len(ids) == len(result.reports)
    assert sha256(path) == before


def test_flush_file_collapses_to_one_report() -> None:
    path = next(p for p in FILES if p.name.startswith("006_"))
    result = be.convert(path, context=TASK_CONTEXT)
    assert len(result.reports) == 1 and len(result.reports[0].rows) == 199
