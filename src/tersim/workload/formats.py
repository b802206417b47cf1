"""Number formats a run executes in, resolved from the hardware's PE kind and the workload.

A design's PE kind implies the format the model runs in (ternary_add: ternary weights with int8
or int4 activations; fp16_mac: FP16; int8_mac: W8A8; bf16_mac: bf16, or NF4/FP4 weights
dequantized to bf16), unless the workload or the caller asks for another valid combination.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import PEKind, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.hw.pe import pe_model

# Storage bits per weight, including scale overhead where the format has block scales.
# NF4/FP4: 4 bits + one fp32 absmax per block of 64 (QLoRA, arXiv 2305.14314) = 4.5 bits.
_WEIGHT_BITS: dict[WeightFormat, float] = {
    WeightFormat.TERNARY: 2.0,  # 4 trits per byte; 1.6 with base-3 packing (see packing.py)
    WeightFormat.BINARY: 1.0,
    WeightFormat.INT8: 8.0,
    WeightFormat.NF4: 4.0 + 32.0 / 64,
    WeightFormat.FP4: 4.0 + 32.0 / 64,
    WeightFormat.FP16: 16.0,
    WeightFormat.BF16: 16.0,
}


@dataclass(frozen=True)
class Formats:
    """Precisions of one run. Bits are storage bits per element."""

    weight_format: WeightFormat
    weight_bits: float
    act_bits: int  # inputs of matrix products
    kv_bits: int  # KV-cache entries in DRAM
    embedding_bits: int  # embedding table and LM head (kept in their real precision)
    out_bits: int  # outputs written back (16: fp16/bf16 activations between ops)


def weight_bits(fmt: WeightFormat) -> float:
    return _WEIGHT_BITS[fmt]


def resolve_formats(
    spec: ModelSpec,
    pe_kind: PEKind,
    weight_format: WeightFormat | None = None,
    design_format: WeightFormat | None = None,
) -> Formats:
    """The formats ``spec`` runs in on a ``pe_kind`` array; an invalid pairing is an error.

    Precedence: explicit ``weight_format`` > the design's ``array.weight_format`` (a W4A16
    design runs every model in NF4) > the workload's ``quantization.weight_format`` > the PE
    kind's native format. A workload whose stated format the PE cannot run (a ternary
    model on an FP16 array, say) runs as its full-precision counterpart in the PE's native
    format when no explicit format was asked for: that is the baseline comparison.
    """
    q = spec.quantization
    pe = pe_model(pe_kind)
    if weight_format is not None:
        fmt = weight_format
        if fmt not in pe.weight_formats:
            allowed = ", ".join(f.value for f in pe.weight_formats)
            raise WorkloadError(
                f"weight format '{fmt.value}' cannot run on a '{pe_kind.value}' array "
                f"(expected one of: {allowed})"
            )
    elif design_format is not None:
        fmt = design_format
    elif q.weight_format is not None and q.weight_format in pe.weight_formats:
        fmt = q.weight_format
    else:
        fmt = pe.weight_formats[0]
    native_act = pe.native_act_bits
    act_bits = q.activation_bits if native_act == 8 and q.activation_bits in (4, 8) else native_act
    emb_bits = 8 if q.embedding_format == "int8" else 16
    return Formats(
        weight_format=fmt,
        weight_bits=_WEIGHT_BITS[fmt],
        act_bits=act_bits,
        kv_bits=q.kv_cache_bits,
        embedding_bits=emb_bits,
        out_bits=pe.native_out_bits,
    )
