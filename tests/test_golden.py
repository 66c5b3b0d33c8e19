"""Golden reports: the bundled example converts to the reports checked by hand (and by the
official schema) in tests/golden/examples."""

from __future__ import annotations

import json

from conftest import ROOT

import boamps_etl as be
from boamps_etl.io.writers import report_filename
from boamps_etl.validate import official_validator

GOLDEN = ROOT / "tests" / "golden" / "examples"


def test_bundled_example_matches_golden_reports() -> None:
    result = be.convert(ROOT / "examples" / "emissions.csv",
                        context=ROOT / "examples" / "boamps.yaml")
    assert [r.status for r in result.reports] == ["valid"] * 3
    produced = {report_filename(r.document): r.document for r in result.reports}
    golden = {p.name: json.loads(p.read_text()) for p in GOLDEN.glob("*.json")}
    assert produced == golden


def test_golden_reports_pass_the_official_schema() -> None:
    for path in GOLDEN.glob("*.json"):
        doc = json.loads(path.read_text())
        assert official_validator().is_valid(doc), path.name
        assert be.validate(doc) == []
