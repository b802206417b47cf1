"""Validated configuration: hardware designs and workloads, loaded from YAML."""

from tersim.config.enums import (
    CompatMode,
    Dataflow,
    FFNType,
    PEKind,
    ScaleGranularity,
    WeightFormat,
)
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.config.yaml_io import load_any, load_hardware, load_workload

__all__ = [
    "CompatMode",
    "Dataflow",
    "FFNType",
    "HardwareConfig",
    "ModelSpec",
    "PEKind",
    "ScaleGranularity",
    "WeightFormat",
    "load_any",
    "load_hardware",
    "load_workload",
]
