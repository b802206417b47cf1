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

from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError

FORMATS = (
    "fp16",
    "bf16",
    "int8",
    "int8_outliers",
    "nf4",
    "nf4_dq",
    "fp4",
    "fp4_dq",
    "ternary2",
    "ternary1.6",
    "binary",
)


@dataclass(frozen=True)
class Footprint:
    format: str
    weights_bytes: int  # linear layers
    embedding_bytes: int  # embedding table and LM head
    norm_bytes: int
    kv_cache_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.embedding_bytes + self.norm_bytes + self.kv_cache_bytes

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format,
            "weights_bytes": self.weights_bytes,
            "embedding_bytes": self.embedding_bytes,
            "norm_bytes": self.norm_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
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


def _matrix_bytes(k: int, n: int, fmt: str, outlier_fraction: float) -> int:
    elems = k * n
    if fmt in ("fp16", "bf16"):
        return 2 * elems
    if fmt == "int8":
        return elems + 4 * n
    if fmt == "int8_outliers":
        outlier_cols = math.ceil(outlier_fraction * k)
        return elems + 4 * n + 2 * outlier_cols * n
    if fmt in ("nf4", "fp4"):
        blocks = math.ceil(elems / 64)
        return math.ceil(elems / 2) + 4 * blocks
    if fmt in ("nf4_dq", "fp4_dq"):
        blocks = math.ceil(elems / 64)
        return math.ceil(elems / 2) + blocks + 4 * math.ceil(blocks / 256)
    if fmt == "ternary2":
        return math.ceil(elems / 4) + 4
    if fmt == "ternary1.6":
        return math.ceil(elems / 5) + 4
    if fmt == "binary":
        return math.ceil(elems / 8) + 4
    raise WorkloadError(f"unknown weight format '{fmt}' (expected one of: {', '.join(FORMATS)})")


def footprint(
    spec: ModelSpec,
    fmt: str,
    context_tokens: int = 0,
    batch: int = 1,
    outlier_fraction: float = 0.0,
) -> Footprint:
    """Bytes to hold ``spec`` in format ``fmt`` plus its KV cache for ``context_tokens``."""
    if fmt not in FORMATS:
        raise WorkloadError(
            f"unknown weight format '{fmt}' (expected one of: {', '.join(FORMATS)})"
        )
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
