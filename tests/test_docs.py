"""Generated pages of docs/ (boamps_etl.cli.docs) match what the code prints now."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from boamps_etl.cli import cli
from boamps_etl.cli.docs import PAGES, REGENERATE, WIDTH, cli_reference, main

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_generated_page_is_up_to_date(name: str) -> None:
    path = DOCS / name
    assert path.is_file(), f"{path} is missing: run `{REGENERATE}` from the repository root"
    assert path.read_text(encoding="utf-8") == PAGES[name](), (
        f"{path} differs from what the code prints now: run `{REGENERATE}` from the "
        "repository root and commit the result")


def sections(text: str) -> dict[str, str]:
    return dict(re.findall(r"^## (.+?)\n\n```text\n(.*?)\n```$", text, re.S | re.M))


def test_cli_reference_has_every_command_as_it_prints_its_help() -> None:
    found = sections(cli_reference())
    expected = {"boamps-etl", "boamps-etl mapping", "boamps-etl mapping show"}
    expected |= {f"boamps-etl {name}" for name in cli.commands}
    assert set(found) == expected
    runner = CliRunner()
    for path, text in found.items():
        result = runner.invoke(cli, [*path.split()[1:], "--help"], prog_name="boamps-etl",
                               terminal_width=WIDTH - 2)
        assert result.exit_code == 0
        assert result.stdout.rstrip() == text, path


def test_field_table_is_mapping_show() -> None:
    runner = CliRunner()
    table = runner.invoke(cli, ["mapping", "show", "--format", "markdown"]).stdout
    rows = json.loads(runner.invoke(cli, ["mapping", "show", "--format", "json"]).stdout)
    page = (DOCS / "fields.md").read_text(encoding="utf-8")
    assert page.endswith(table)
    lines = table.splitlines()
    assert len(lines) == len(rows) + 2
    for row, line in zip(rows, lines[2:], strict=True):
        assert line.startswith(f"| `{row['path']}` | ")


def test_check_says_which_page_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "fields.md").write_text("old\n", encoding="utf-8")
    assert main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "fields.md" in err and "cli.md" not in err.split("out of date:")[1]
    assert REGENERATE in err


ROOT = DOCS.parent


def test_readme_is_a_front_door_and_every_local_link_resolves() -> None:
    readme = ROOT / "README.md"
    assert readme.stat().st_size < 15_000, "README.md is over 15 KB: move reference text to docs/"
    pages = [readme, *sorted(DOCS.glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.exists(), f"{page.name}: link to {target} leads nowhere"
            if anchor and dest.suffix == ".md":
                body = dest.read_text(encoding="utf-8")
                slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                         for h in re.findall(r"^#+ (.+)$", body, re.M)}
                slugs |= set(re.findall(r'<a id="([^"]+)"></a>', body))
                assert anchor in slugs, f"{page.name}: no heading #{anchor} in {dest.name}"
