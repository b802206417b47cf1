"""Functional (bit-exact) model of ternary inference: quantizers, weight packing, kernels.

Weight matrices are ``(K, N)``: ``K`` input features by ``N`` output features, ``y = x @ w``.

The names most users need, importable from here::

    from tersim.functional import quantize_ternary, pack_ternary, ternary_matmul
    tw = quantize_ternary(w)                   # absmean trits and scale of a (K, N) float matrix
    packed = pack_ternary(tw.trits)            # 2 bits per weight (bits_per_weight=1.6: base 3)
    y, counts = ternary_matmul(x_int8, packed) # exact int32 product; adds, subtracts, skips
"""

from tersim.functional.kernels import OpCounts, ternary_linear, ternary_matmul
from tersim.functional.packing import PackedTernary, pack_ternary, packed_nbytes, unpack_ternary
from tersim.functional.quant import (
    BinaryWeights,
    QuantizedActivations,
    TernaryWeights,
    quantize_4bit,
    quantize_activations,
    quantize_binary,
    quantize_int8,
    quantize_ternary,
)
from tersim.functional.reference import reference_ternary_matmul

__all__ = [
    "BinaryWeights",
    "OpCounts",
    "PackedTernary",
    "QuantizedActivations",
    "TernaryWeights",
    "pack_ternary",
    "packed_nbytes",
    "quantize_4bit",
    "quantize_activations",
    "quantize_binary",
    "quantize_int8",
    "quantize_ternary",
    "reference_ternary_matmul",
    "ternary_linear",
    "ternary_matmul",
    "unpack_ternary",
]
