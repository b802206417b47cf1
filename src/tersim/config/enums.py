"""Enumerations shared by configs, traces, mapping and simulation (no strings between stages)."""

from __future__ import annotations

from enum import StrEnum


class Dataflow(StrEnum):
    """What stays in the PEs while the other operands stream through the array."""

    OS = "os"  # output stationary: each PE owns one output element
    WS = "ws"  # weight stationary: each PE holds one weight
    IS = "is"  # input stationary: each PE holds one activation


class PEKind(StrEnum):
    """What one processing element does per cycle."""

    TERNARY_ADD = "ternary_add"  # add / subtract / skip with an accumulator
    FP16_MAC = "fp16_mac"
    INT8_MAC = "int8_mac"
    BF16_MAC = "bf16_mac"


class WeightFormat(StrEnum):
    TERNARY = "ternary"
    BINARY = "binary"
    INT8 = "int8"
    NF4 = "nf4"
    FP4 = "fp4"
    FP16 = "fp16"
    BF16 = "bf16"


class ScaleGranularity(StrEnum):
    TENSOR = "tensor"
    ROW = "row"
    COLUMN = "column"
    GROUP = "group"


class FFNType(StrEnum):
    SWIGLU = "swiglu"
    RELU2_GLU = "relu2_glu"
    GELU = "gelu"


class CompatMode(StrEnum):
    """Cycle-counting convention for array passes."""

    TERSIM = "tersim"
    SCALESIM = "scalesim"
