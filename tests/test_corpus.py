"""Every real CSV in ../shared/corpus/public converts or is refused with one clear line.

Skipped when ../shared is absent (the project's own fixtures cover the same shapes)."""

from __future__ import annotations

import csv
import io
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


def _raw_rows(path: Path) -> tuple[dict[int, dict[str, str]], bool]:
    """Every data row of a CSV, read independently of boamps-etl with the csv module: the
    spreadsheet row number -> {column: cell}; a later header line (merge conflicts, files
    appended by several versions) applies to the rows below it. Also whether the file is a
    task file."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    header: list[str] | None = None
    rows: dict[int, dict[str, str]] = {}
    task = False
    for number, record in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
        cells = [c.strip() for c in record]
        if not cells or cells[0].startswith(("<<<<<<<", "=======", ">>>>>>>")):
            continue
        if {"timestamp", "duration", "emissions", "energy_consumed"} <= set(cells):
            header = cells
            task = task or "task_name" in cells
            continue
        if header is not None and len(cells) >= len(header):
            rows[number] = dict(zip(header, cells, strict=False))
    return rows, task


def _number(cell: str) -> float | None:
    return None if cell.strip() in ("", "None", "nan", "NaN") else float(cell)


CODECARBON_FILES = [p for p in FILES if MANIFEST.get(p.name, {}).get("tool") == "codecarbon"
                    and MANIFEST.get(p.name, {}).get("rows") != "0"]


@pytest.mark.parametrize("path", CODECARBON_FILES, ids=[p.name[:40] for p in CODECARBON_FILES])
def test_corpus_file_converts_every_run_with_its_numbers(path: Path) -> None:
    """Every run the file holds gives a report, from the run's last row, with the energy,
    duration and emissions the CSV holds (issue #14)."""
    rows, task = _raw_rows(path)
    context = dict(TASK_CONTEXT)
    context["environment"] = {"country": "unknown"}
    context["infrastructure"] = {"components": [{"componentType": "cpu", "nbComponent": 1}]}
    result = be.convert(path, context=context)
    assert not [i for i in result.issues if i.severity == "error"], \
        [str(i) for i in result.issues]
    runs: dict[str, int] = {}
    alone = []
    for number, cells in rows.items():
        run_id = cells.get("run_id", "")
        if task or run_id in ("", "None"):
            alone.append(number)
        else:
            runs[run_id] = number  # the last row of a run holds its totals
    expected = sorted([*alone, *runs.values()])
    assert sorted(r.row for r in result.reports) == expected
    for report in result.reports:
        cells = rows[report.row]
        measure = report.document["measures"][0]
        assert measure.get("powerConsumption") == _number(cells["energy_consumed"])
        assert measure.get("measurementDuration") == _number(cells["duration"])
        assert measure.get("emissions") == _number(cells["emissions"])
