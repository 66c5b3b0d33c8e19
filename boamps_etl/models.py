"""Pydantic models of the BoAmps report sections (BoAmps 0.1 plus the extension fields).

Fields are snake_case in Python with the camelCase BoAmps names as aliases; each
description states its unit. Models accept extra keys, as the official schema does, and
:meth:`Report.to_dict` gives the BoAmps JSON form back (camelCase, no empty fields).

>>> report = Report.model_validate({"measures": [{"measurementMethod": "codecarbon",
...     "powerConsumption": 0.5}]})
>>> report.measures[0].power_consumption
0.5
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class BoampsModel(BaseModel):
    """Base: camelCase aliases, extra keys kept, population by name or alias."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_dict(self) -> dict[str, Any]:
        """The BoAmps JSON form: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Publisher(BoampsModel):
    name: str | None = Field(None, description="name of the organization")
    division: str | None = Field(None, description="publishing department")
    project_name: str | None = Field(None, description="publishing project")
    confidentiality_level: Literal["public", "internal", "confidential", "secret"] | None = None
    public_key: str | None = None


class Header(BoampsModel):
    licensing: str | None = None
    format_version: str | None = Field(None, description="BoAmps format version, e.g. 0.1")
    format_version_specification_uri: str | None = None
    report_id: str | None = Field(None, description="unique id; CodeCarbon's run_id")
    report_datetime: str | None = Field(None, description="YYYY-MM-DD HH:MM:SS")
    report_status: Literal["draft", "final", "corrective", "other"] | None = None
    publisher: Publisher | None = None


class Algorithm(BoampsModel):
    training_type: str | None = None
    algorithm_type: str | None = None
    algorithm_name: str | None = None
    algorithm_uri: str | None = None
    foundation_model_name: str | None = None
    foundation_model_uri: str | None = None
    parameters_number: float | None = Field(None, description="billions of parameters")
    framework: str | None = None
    framework_version: str | None = None
    class_path: str | None = None
    layers_number: float | None = None
    epochs_number: float | None = None
    optimizer: str | None = None
    quantization: str | None = None


class Dataset(BoampsModel):
    data_usage: Literal["input", "output"] | None = None
    data_type: str | None = None
    data_format: str | None = None
    data_size: float | None = Field(None, description="size in GB (Go)")
    data_quantity: float | None = Field(None, description="number of items")
    shape: str | None = None
    source: Literal["public", "private", "other"] | None = None
    source_uri: str | None = None
    owner: str | None = None


class Task(BoampsModel):
    task_stage: str | None = None
    task_family: str | None = None
    nb_request: float | None = Field(None, description="number of inference requests")
    algorithms: list[Algorithm] | None = None
    dataset: list[Dataset] | None = None
    measured_accuracy: float | None = Field(None, ge=0, le=1)
    estimated_accuracy: Literal["veryPoor", "poor", "average", "good", "veryGood"] | None = None
    task_description: str | None = None


class Measure(BoampsModel):
    measurement_method: str | None = Field(None, description="e.g. codecarbon")
    manufacturer: str | None = None
    version: str | None = Field(None, description="version of the measuring tool")
    cpu_tracking_mode: str | None = Field(None, description="rapl, constant...")
    gpu_tracking_mode: str | None = Field(None, description="nvml, constant...")
    average_utilization_cpu: float | None = Field(None, description="fraction 0-1")
    average_utilization_gpu: float | None = Field(None, description="fraction 0-1")
    power_calibration_measurement: float | None = Field(None, description="kWh")
    duration_calibration_measurement: float | None = Field(None, description="s")
    power_consumption: float | None = Field(None, description="energy of the task, kWh")
    measurement_duration: float | None = Field(None, description="s")
    measurement_date_time: str | None = Field(None, description="start, YYYY-MM-DD HH:MM:SS")
    # extension fields (schemas/boamps-etl-extension.schema.json)
    cpu_energy: float | None = Field(None, description="CPU energy, kWh")
    gpu_energy: float | None = Field(None, description="GPU energy, kWh")
    ram_energy: float | None = Field(None, description="RAM energy, kWh")
    cpu_power: float | None = Field(None, description="CPU power, W")
    gpu_power: float | None = Field(None, description="GPU power, W")
    ram_power: float | None = Field(None, description="RAM power, W")
    emissions: float | None = Field(None, description="kg CO2eq")
    emissions_rate: float | None = Field(None, description="kg CO2eq/s")
    water_consumed: float | None = Field(None, description="L")
    pue: float | None = Field(None, description="power usage effectiveness, dimensionless")
    wue: float | None = Field(None, description="water usage effectiveness, L/kWh")
    average_utilization_ram: float | None = Field(None, description="fraction 0-1")
    ram_used_size: float | None = Field(None, description="GB")
    tracking_mode: Literal["machine", "process"] | None = None
    task_name: str | None = Field(None, description="CodeCarbon task_name (task files)")


class System(BoampsModel):
    os: str | None = None
    distribution: str | None = None
    distribution_version: str | None = None


class Software(BoampsModel):
    language: str | None = None
    version: str | None = None


class Component(BoampsModel):
    component_name: str | None = None
    component_type: str | None = Field(None, description="cpu, gpu, ram...")
    nb_component: int | None = None
    memory_size: float | None = Field(None, description="GB, per item")
    manufacturer: str | None = None
    family: str | None = None
    series: str | None = None
    share: float | None = Field(None, ge=0, le=1, description="fraction 0-1")


class Infrastructure(BoampsModel):
    infra_type: Literal["publicCloud", "privateCloud", "onPremise", "other"] | None = None
    cloud_provider: str | None = None
    cloud_instance: str | None = None
    cloud_service: str | None = None
    components: list[Component] | None = None


class Environment(BoampsModel):
    country: str | None = None
    latitude: float | None = Field(None, description="degrees")
    longitude: float | None = Field(None, description="degrees")
    location: str | None = None
    power_supplier_type: Literal["public", "private", "internal", "other"] | None = None
    power_source: Literal["solar", "wind", "nuclear", "hydroelectric", "gas", "coal",
                          "other"] | None = None
    power_source_carbon_intensity: float | None = Field(None, description="g CO2eq/kWh")
    country_iso_code: str | None = Field(None, description="ISO 3166 code (extension)")


class Report(BoampsModel):
    """A whole BoAmps report."""

    header: Header | None = None
    task: Task | None = None
    measures: list[Measure] | None = None
    system: System | None = None
    software: Software | None = None
    infrastructure: Infrastructure | None = None
    environment: Environment | None = None
    quality: Literal["high", "medium", "low"] | None = None
