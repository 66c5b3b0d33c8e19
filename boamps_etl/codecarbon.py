"""What boamps-etl knows about CodeCarbon's CSV columns across versions 1.x to 3.x.

Sources: CodeCarbon's ``EmissionsData`` / ``TaskEmissionsData`` dataclasses at each release
tag, and real files (see the README's field table). Columns are matched by name, so any
order (alphabetical 2.0 files, the reordered headers of 3.1.1-3.2.3) reads the same.
"""

from __future__ import annotations

#: Every column CodeCarbon has written, with its unit ('' for text).
COLUMN_UNITS: dict[str, str] = {
    "timestamp": "local time, written at the end of the run or flush",
    "project_name": "",
    "run_id": "",
    "experiment_id": "",
    "task_name": "",
    "duration": "s",
    "emissions": "kg CO2eq",
    "emissions_rate": "kg CO2eq/s (g/s in 2.0-2.1)",
    "cpu_power": "W",
    "gpu_power": "W",
    "ram_power": "W",
    "cpu_energy": "kWh",
    "gpu_energy": "kWh",
    "ram_energy": "kWh",
    "energy_consumed": "kWh",
    "water_consumed": "L",
    "country_name": "",
    "country_iso_code": "",
    "region": "",
    "cloud_provider": "",
    "cloud_region": "",
    "os": "",
    "python_version": "",
    "codecarbon_version": "",
    "cpu_count": "count",
    "cpu_model": "",
    "gpu_count": "count",
    "gpu_model": "",
    "longitude": "degree",
    "latitude": "degree",
    "ram_total_size": "GB",
    "tracking_mode": "",
    "cpu_utilization_percent": "%",
    "gpu_utilization_percent": "%",
    "ram_utilization_percent": "%",
    "ram_used_gb": "GB",
    "on_cloud": "Y/N",
    "pue": "1",
    "wue": "L/kWh",
    "kWh": "unit label (BoAmps_Carbon tracker)",
}

KNOWN_COLUMNS = frozenset(COLUMN_UNITS)

#: Columns every CodeCarbon CSV has had since 1.0. A file without them is not CodeCarbon's.
REQUIRED_COLUMNS = ("timestamp", "duration", "emissions", "energy_consumed")

#: Columns that hold text; every other known column holds numbers.
TEXT_COLUMNS = frozenset({
    "timestamp", "project_name", "run_id", "experiment_id", "task_name", "country_name",
    "country_iso_code", "region", "cloud_provider", "cloud_region", "os", "python_version",
    "codecarbon_version", "cpu_model", "gpu_model", "tracking_mode", "on_cloud", "kWh",
})

#: Cell values that mean "nothing recorded" in CodeCarbon output.
EMPTY_VALUES = frozenset({"", "None", "none", "null", "NULL", "nan", "NaN", "N/A", "n/a"})

#: Columns whose empty-looking values are still data ("None" is a real run_id text, but it
#: identifies nothing: such rows are never merged with each other).
DEFAULT_EXPERIMENT_ID = "5b0fa12a-3dd7-45bb-9766-cc326314d9f1"


def file_kind(columns: list[str]) -> str:
    """Classify a header: 'task' (task files), 'tracker' (BoAmps_Carbon), or 'codecarbon'."""
    cols = set(columns)
    if "task_name" in cols:
        return "task"
    if "kWh" in cols:
        return "tracker"
    return "codecarbon"
