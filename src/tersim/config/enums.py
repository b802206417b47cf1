"""Enumerations shared by configs, traces, mapping and simulation (no strings between stages)."""

from __future__ import annotations

from enum import StrEnum


class Dataflow(StrEnum):
    """What stays in the PEs while the other operands stream through the array."""

    OS = "os"  # output stationary: each PE owns one output element
    WS = "ws"  # weight stationary: each PE holds one weight
    IS = "is"  # input stationary: each PE holds one activation


class BufferRole(StrEnum):
    """Which operand an on-chip buffer holds."""

    INPUT = "input"  # activations X
    WEIGHT = "weight"  # weights W (also the staging buffer for prefetched tiles)
    OUTPUT = "output"  # outputs and partial sums Y


class Port(StrEnum):
    READ = "read"
    WRITE = "write"


class DramOperand(StrEnum):
    """What DRAM traffic carries (the record's DRAM bytes by kind)."""

    WEIGHTS = "weights"
    ACTIVATIONS = "activations"
    KV_CACHE = "kv_cache"


class DramModelKind(StrEnum):
    """How DRAM transfers are timed (one module per kind under ``tersim.hw.dram``)."""

    AGGREGATE = "aggregate"  # one pipe with the summed bandwidth of all channels
    PER_CHANNEL = "per_channel"  # bursts interleaved over channels, each its share


class PEKind(StrEnum):
    """What one processing element does per cycle."""

    TERNARY_ADD = "ternary_add"  # add / subtract / skip with an accumulator
    FP16_MAC = "fp16_mac"
    INT8_MAC = "int8_mac"
    BF16_MAC = "bf16_mac"
    TERNARY_LUT = "ternary_lut"  # table lookup of a group of g activations' partial sums
    BIT_SERIAL = "bit_serial"  # one weight bit-plane (or a few) per cycle, shift-add


class WeightFormat(StrEnum):
    TERNARY = "ternary"
    BINARY = "binary"
    INT8 = "int8"
    NF4 = "nf4"
    FP4 = "fp4"
    FP16 = "fp16"
    BF16 = "bf16"


# The weight formats each PE kind executes, its native format first (NF4/FP4 are dequantized to
# bf16 on the fly). Kept beside the enum because configs are checked against it; the PE models
# (tersim.hw.pe) expose it. A PE kind is this row, its enum value and its module.
PE_WEIGHT_FORMATS: dict[PEKind, tuple[WeightFormat, ...]] = {
    PEKind.TERNARY_ADD: (WeightFormat.TERNARY, WeightFormat.BINARY),
    PEKind.FP16_MAC: (WeightFormat.FP16,),
    PEKind.INT8_MAC: (WeightFormat.INT8, WeightFormat.TERNARY, WeightFormat.BINARY),
    PEKind.BF16_MAC: (WeightFormat.BF16, WeightFormat.NF4, WeightFormat.FP4),
    PEKind.TERNARY_LUT: (WeightFormat.TERNARY, WeightFormat.BINARY),
    PEKind.BIT_SERIAL: (WeightFormat.TERNARY, WeightFormat.BINARY, WeightFormat.INT8),
}


class LutScheme(StrEnum):
    """How a LUT PE indexes its table (docs/pe-kinds-research.md)."""

    BIT_PLANE = "bit_plane"  # T-MAC / LUT Tensor Core: 2^(g-1) entries, one lookup per plane
    DIRECT = "direct"  # bitnet.cpp TL2: (3^g + 1) / 2 entries, one lookup per group


class TableBuild(StrEnum):
    """Where a LUT PE's tables are built."""

    VECTOR = "vector"  # on the vector unit, stored in the input buffer, streamed to the array
    ARRAY = "array"  # by dedicated adders at each array row's edge, from streamed activations


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


class OpKind(StrEnum):
    """What a trace op computes (kept here, below the workload, so that a design can assign
    op kinds to compute units; :mod:`tersim.workload.ops` re-exports it)."""

    EMBEDDING = "embedding"
    NORM = "norm"
    QUANT = "quant"  # per-token absmax quantization of activations (BitLinear input)
    LINEAR = "linear"
    ROPE = "rope"
    ATTN_QK = "attn_qk"
    SOFTMAX = "softmax"
    ATTN_AV = "attn_av"
    ACTIVATION = "activation"
    RESIDUAL = "residual"
    LM_HEAD = "lm_head"

    @property
    def is_matmul(self) -> bool:
        return self in (OpKind.LINEAR, OpKind.ATTN_QK, OpKind.ATTN_AV, OpKind.LM_HEAD)


class VectorOp(StrEnum):
    """The work a vector unit can be built to run (``units[].vector.runs``)."""

    EMBEDDING = "embedding"  # move looked-up embedding rows
    NORM = "norm"
    QUANT = "quantize"
    ROPE = "rope"
    SOFTMAX = "softmax"  # max, subtract, exp, sum, divide
    ACTIVATION = "activation"
    RESIDUAL = "residual"
    RESCALE = "rescale"  # the epilogue of an integer matrix product (int32 -> float, scale)
    MATMUL = "matmul"  # matrix products no matrix unit runs, as multiply-accumulates


class DependencyRule(StrEnum):
    """What an op waits for before it computes (``scheduling.dependencies``)."""

    TENSORS = "tensors"  # the ops that produce the tensors it reads
    PROGRAM_ORDER = "program_order"  # the previous op of the program (one chain, tersim v1)


class OrderRule(StrEnum):
    """The order ops enter the DMA queue and each unit's compute queue (``scheduling.order``)."""

    PRIORITY = "priority"  # longest path to the end of the op's layer first, then program order
    PROGRAM = "program"  # program order
