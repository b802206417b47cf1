"""Model memory footprint per weight format (pure arithmetic on the shapes).

Linear-layer weights are stored in the chosen format; embeddings and the LM head stay in their
real precision (the workload's ``embedding_format``; one table if tied); norm gains are FP16.
The KV cache holds K and V for every layer, KV head and position of a given context and batch.

Storage per linear weight, with the scale overheads each format really carries:

* ``fp16`` / ``bf16``: 16 bits.
* ``int8``: 8 bits plus one FP32 scale per output row (LLM.int8-style row-wise absmax,
  Dettmers et al., arXiv 2208.07339). ``int8_outliers``: additionally keeps a fraction of input
  feature columns in FP16 (the outlier decomposition); the fraction is a parameter.
* ``nf4`` / ``fp4``: 4 bits plus one FP32 absmax per block of 64 (QLoRA, arXiv 2305.14314);
  ``nf4_dq`` / ``fp4_dq``: double quantization, the absmax values stored in 8 bits with one FP32
  constant per 256 blocks: 4 + 8/64 + 32/(64*256) bits.
* ``ternary2``: 2 bits per trit; ``ternary1.6``: 5 trits per byte; plus one FP32 scale per matrix.
* ``binary``: 1 bit plus one FP32 scale per matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from tersim.breakdown import parts, total
from tersim.config.enums import WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError


class StorageFormat(StrEnum):
    """How linear weights are stored (a weight format plus its packing and scale overhead)."""

    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"
    INT8_OUTLIERS = "int8_outliers"
    NF4 = "nf4"
    NF4_DQ = "nf4_dq"
    FP4 = "fp4"
    FP4_DQ = "fp4_dq"
    TERNARY2 = "ternary2"
    TERNARY1_6 = "ternary1.6"
    BINARY = "binary"

    @staticmethod
    def of(weight_format: WeightFormat, weight_bits: float) -> StorageFormat:
        """The storage of a run's weight format (ternary: 2-bit, or base-3 below 2 bits)."""
        if weight_format is WeightFormat.TERNARY:
            return StorageFormat.TERNARY2 if weight_bits >= 2 else StorageFormat.TERNARY1_6
        return StorageFormat(weight_format.value)


FORMATS = tuple(f.value for f in StorageFormat)


@dataclass(frozen=True)
class Footprint:
    format: StorageFormat
    weights_bytes: int  # linear layers
    embedding_bytes: int  # embedding table and LM head
    norm_bytes: int
    kv_cache_bytes: int

    @property
    def total_bytes(self) -> int:
        return int(total(self, "_bytes"))

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format,
            **parts(self, "_bytes", keep_suffix=True),
            "total_bytes": self.total_bytes,
        }


def linear_shapes(spec: ModelSpec) -> list[tuple[int, int]]:
    """(K, N) of every linear weight matrix of the model."""
    a = spec.architecture
    qd, kvd = a.attn_dim, a.kv_dim
    per_layer = [(a.hidden, qd), (a.hidden, kvd), (a.hidden, kvd), (qd, a.hidden)]
    if a.ffn_type.gated:
        per_layer.append((a.hidden, a.ffn))
    per_layer += [(a.hidden, a.ffn), (a.ffn, a.hidden)]
    return per_layer * a.layers


def _matrix_bytes(k: int, n: int, fmt: StorageFormat, outlier_fraction: float) -> int:
    elems = k * n
    S = StorageFormat
    if fmt in (S.FP16, S.BF16):
        return 2 * elems
    if fmt is S.INT8:
        return elems + 4 * n
    if fmt is S.INT8_OUTLIERS:
        outlier_cols = math.ceil(outlier_fraction * k)
        return elems + 4 * n + 2 * outlier_cols * n
    if fmt in (S.NF4, S.FP4):
        blocks = math.ceil(elems / 64)
        return math.ceil(elems / 2) + 4 * blocks
    if fmt in (S.NF4_DQ, S.FP4_DQ):
        blocks = math.ceil(elems / 64)
        return math.ceil(elems / 2) + blocks + 4 * math.ceil(blocks / 256)
    if fmt is S.TERNARY2:
        return math.ceil(elems / 4) + 4
    if fmt is S.TERNARY1_6:
        return math.ceil(elems / 5) + 4
    return math.ceil(elems / 8) + 4  # S.BINARY: the enum has no other member


def footprint(
    spec: ModelSpec,
    fmt: StorageFormat | str,
    context_tokens: int = 0,
    batch: int = 1,
    outlier_fraction: float = 0.0,
) -> Footprint:
    """Bytes to hold ``spec`` in format ``fmt`` plus its KV cache for ``context_tokens``."""
    try:
        fmt = StorageFormat(fmt)
    except ValueError:
        raise WorkloadError(
            f"unknown weight format '{fmt}' (expected one of: {', '.join(FORMATS)})"
        ) from None
    if context_tokens < 0 or batch < 1:
        raise WorkloadError(f"context must be >= 0 and batch >= 1 (got {context_tokens}, {batch})")
    a, q = spec.architecture, spec.quantization
    weights = sum(_matrix_bytes(k, n, fmt, outlier_fraction) for k, n in linear_shapes(spec))
    emb_bytes_per = 1 if q.embedding_format == "int8" else 2
    tables = 1 if a.tied_embeddings else 2
    embedding = tables * a.vocab * a.hidden * emb_bytes_per
    norms = (2 + (2 if a.sublayer_norm else 0)) * a.layers + 1
    norm_bytes = 2 * a.hidden * norms  # counts sub-layer norms at hidden width (fixed below)
    if a.sublayer_norm:  # they sit at the attention output's and the FFN's width
        norm_bytes += 2 * (a.attn_dim - a.hidden + a.ffn - a.hidden) * a.layers
    kv = 2 * a.layers * a.kv_dim * context_tokens * batch
    kv_bytes = math.ceil(kv * q.kv_cache_bits / 8)
    return Footprint(fmt, weights, embedding, norm_bytes, kv_bytes)
