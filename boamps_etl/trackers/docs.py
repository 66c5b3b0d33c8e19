"""docs/trackers.md, made from the trackers' descriptions and their mapping files.

Regenerate after changing a tracker or a mapping (a test checks the file is current)::

    python -m boamps_etl.trackers.docs > docs/trackers.md
"""

from __future__ import annotations

from ..mapping import load_mapping
from . import trackers

_INTRO = """\
<!-- Made by `python -m boamps_etl.trackers.docs > docs/trackers.md`: edit the trackers'
modules (boamps_etl/trackers/) and mappings (mappings/), not this file. -->
# Trackers

boamps-etl reads the files of these energy trackers. `convert` and `batch` recognise each
file's tracker from its content (a CSV header, JSON keys, log lines), never from its name
alone: several tools write `emissions.csv`. `--from TRACKER` (`tracker=` in Python) reads
every input as one tracker's instead. `batch` finds the file names listed below by default,
and its `manifest.csv` names each file's tracker.

Each tracker is a reader (`boamps_etl/trackers/<name>.py`) that turns the file into rows of
text cells, and a mapping file (`mappings/<name>.yaml`) that says which cell goes to which
BoAmps field, with its unit conversion declared (`source_unit`, or `unit_column` when the
file writes each value's unit beside it). Readers never convert units: they reshape (a long
table made wide, a JSON tree made a row, the devices of a run summed in the unit the tool
wrote) and split composite cells into columns of their own. Per-component energy goes to the
extension fields CodeCarbon's does (`cpuEnergy`, `gpuEnergy`, `ramEnergy`, in kWh).

`boamps-etl mapping show --tracker NAME` prints a tracker's table as it applies; a user
mapping (`-m`) extends the built-in mapping of the tracker it is used for, or the one it
names (`extends: eco2ai`). `boamps-etl init-context FILE...` writes a context template that
asks for what the files' trackers do not record.

| tracker | `--from` | files found by `batch` | reports |
|---|---|---|---|
"""

_ADDING = """\
## Adding a tracker

1. **Reader**: `boamps_etl/trackers/<name>.py` with a `recognise(sample)` that looks at the
   content only (`sample.header()` for a CSV, `sample.json()` for JSON, `sample.head` for
   text) and a `read(source, name)` that returns a `CsvTable` of text cells, one row per
   report, with the row (or line) numbers messages should name. Keep the tool's cells as
   written; split composite cells into new columns; never convert a unit. A bad file raises
   `InputError` with a `Location` (file, row or line, column). CSVs go through
   `trackers.table.read_csv` (encodings, gzip, misaligned rows), JSON through
   `json.loads(..., parse_float=Decimal)` and `table.cell`, so numbers keep every digit.
   End the module with `TRACKER = Tracker(...)`: its name, title, homepage, the file
   patterns `batch` looks for, what a report stands for, and what the tool does not record.
2. **Registry**: add the module to `_registry()` in `boamps_etl/trackers/__init__.py`
   (CodeCarbon stays last: its reader explains best what is wrong with an unknown CSV).
3. **Mapping**: `mappings/<name>.yaml` (`version: 1`, `extends: false`), one rule per BoAmps
   field, units declared with `source_unit`/`unit` (J, Wh, mWh -> kWh; g -> kg) or
   `unit_column`; `measures[0].measurementMethod` names the tool, `measures[0].version` its
   version when the file has it. Missing conversions go into `transforms.py` (`_FACTORS`).
4. **Fixtures**: `tests/fixtures/<name>/`: files made by the real tool where it runs (in a
   throwaway venv, never a project dependency) with the script that made them
   (`make_fixture.py`); otherwise files written exactly to the format in the tool's source,
   with a `README.md` citing the file and commit.
5. **Tests**: in `tests/test_trackers.py`, recognition (also under another tool's file name),
   every mapped number against its source cell with the unit conversion computed in the
   test, validity under the official schema with a context; in
   `tests/fixtures/bad/cases.yaml`, the bad inputs of the format (a located one-line error,
   a non-zero exit, nothing written).
6. **Docs**: `python -m boamps_etl.trackers.docs > docs/trackers.md`, and a CHANGELOG line.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def trackers_markdown() -> str:
    """The text of docs/trackers.md."""
    known = sorted(trackers().values(), key=lambda t: (t.name != "codecarbon", t.name))
    lines = [_INTRO.rstrip("\n")]
    for t in known:
        files = ", ".join(f"`{p}`" for p in t.files)
        lines.append(f"| [{t.title}](#{t.name}) | `{t.name}` | {files} | {_cell(t.records)} |")
    for t in known:
        mapping = load_mapping(None, base=t.name)
        lines += ["", f'<a id="{t.name}"></a>', f"## {t.title}", "",
                  f"{t.homepage}; mapping `mappings/{t.name}.yaml`"
                  + (f": {mapping.description}." if mapping.description else "."),
                  "", f"One report per {t.records.split('per ', 1)[-1]}."
                  if "per " in t.records else t.records]
        if t.asks:
            lines += ["", "Not recorded (give it in a context file): "
                      + "; ".join(t.asks) + "."]
        lines += ["", "| BoAmps path | source | transform | unit | when | note |",
                  "|---|---|---|---|---|---|"]
        for row in mapping.table():
            source = row["source"]
            lines.append("| " + " | ".join(_cell(x) for x in (
                f"`{row['path']}`", f"`{source}`" if source else "", row["transform"],
                row["unit"], row["when"], row["note"])) + " |")
    lines += ["", _ADDING.rstrip("\n")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - the command that writes the file
    print(trackers_markdown(), end="")
