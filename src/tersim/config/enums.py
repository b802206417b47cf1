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
    """The FFN's activation: gated ones (``*_glu``, SwiGLU, GeGLU) have a gate projection."""

    SWIGLU = "swiglu"  # silu(gate) * up (LLaMA, Mistral, Qwen2, Phi-3)
    RELU2_GLU = "relu2_glu"  # relu(gate)**2 * up (BitNet b1.58 2B4T)
    GEGLU = "geglu"  # gelu_tanh(gate) * up (Gemma)
    GELU = "gelu"  # gelu(up), no gate (GPT-NeoX, Falcon)

    @property
    def gated(self) -> bool:
        """Whether the FFN has a gate projection beside the up projection."""
        return self is not FFNType.GELU


class CompatMode(StrEnum):
    """Cycle-counting convention for array passes."""

    TERSIM = "tersim"
    SCALESIM = "scalesim"
