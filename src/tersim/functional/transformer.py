"""A ternary (BitNet b1.58) decoder-only transformer in NumPy, and the measured trace it yields.

One readable file, nanoGPT style: a config from the :class:`~tersim.config.workload.ModelSpec`,
weights, the forward pass (prefill and KV-cached decode, with batch), and
:func:`trace_measured`, which runs a scenario and records every op with its measured counts.

Model (LLaMA-like, HF ``BitNetForCausalLM`` when ``sublayer_norm`` and ``relu2_glu``):

- token embedding (kept in float16; looked up, not multiplied);
- per layer: norm (RMSNorm, or LayerNorm with bias) -> BitLinear q, k, v -> RoPE (HF
  "rotate_half" convention) -> causal attention over the KV cache (multi-head, grouped-query or
  multi-query: query head ``h`` uses KV head ``h // (heads / kv_heads)``) -> optional
  sub-layer norm -> BitLinear o -> residual -> norm -> BitLinear gate/up -> activation
  (SwiGLU ``silu(gate) * up``, ReLU² GLU ``relu(gate)**2 * up``, or GELU ``gelu(up)``) ->
  optional sub-layer norm -> BitLinear down -> residual. With ``parallel_attention``
  (Falcon) attention and FFN read the same normed input and share one residual:
  ``x + o + down``;
- final norm and the LM head in float32 (tied to the embedding or its own matrix), for the
  last position of every sequence.

BitLinear: the input is quantized per token to ``act_bits`` (absmax,
:func:`~tersim.functional.quant.quantize_activations`), multiplied exactly by the packed ternary
weights with the numba kernel (:func:`~tersim.functional.kernels.ternary_matmul`, adds and
subtracts only), and rescaled by ``weight scale * activation scale``. q, k and v share one
quantized input (as do gate and up), as the trace's single ``*_quant`` op says. Binary weights
({-1, +1}) run through the same kernel as trits that are never 0.

Everything except the weights and the LM head is float64, so that a KV-cached decode and a full
recompute of the same tokens agree to rounding. Weights are kept only packed (2 bits per
weight) with their float32 scales; the embedding table is float16, and the LM-head table
float32 when it is at most 256 MiB, else float16 (the embedding itself when tied). BitNet b1.58
2B4T therefore needs about 0.5 GB of packed weights plus 0.66 GB of embedding (1.5 GB peak RSS
for a measured decode, ``benchmarks/bench_decode.py``).

The layer is not defined here: the forward pass *executes* the one layer description
(:mod:`tersim.workload.layer`) with :class:`_Executor`, whose values are arrays paired with the
tensor handles of the shared :class:`~tersim.workload.trace.TraceBuilder`. So the measured trace
lists the ops of :func:`tersim.workload.trace.trace_shapes` by construction of the walk (and
:func:`trace_measured` still checks it against ``trace_shapes`` before returning it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tersim.config.enums import FFNType, ScaleGranularity, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.functional.kernels import ternary_matmul
from tersim.functional.packing import PackedTernary, pack_ternary
from tersim.functional.quant import EPS, QuantizedActivations, quantize_activations
from tersim.workload.formats import Formats
from tersim.workload.layer import CacheSlot, forward_pass
from tersim.workload.ops import Measured, Tensor
from tersim.workload.trace import (
    Phase,
    TraceBuilder,
    Workload,
    check_scenario,
    trace_shapes,
)

#: Standard deviation of the synthetic normal weights (GPT-2 / LLaMA-style init).
INIT_STD = 0.02
#: Epsilon of RMSNorm and LayerNorm (``rms_norm_eps`` of BitNet b1.58 2B4T's config).
NORM_EPS = 1e-5
#: Float dtype of activations, attention and the KV cache.
ACT_DTYPE = np.float64
#: Weights quantized per column block of at most this many elements (bounds temporary memory).
QUANT_CHUNK_ELEMENTS = 1 << 21
#: Rows of a float16 LM-head table converted to float32 at a time.
LM_HEAD_CHUNK_ROWS = 4096
#: An LM-head table up to this size is kept in float32 (fast); a larger one stays float16.
LM_HEAD_F32_MAX_BYTES = 256 << 20
#: Weight formats the functional model runs.
MEASURABLE_FORMATS = (WeightFormat.TERNARY, WeightFormat.BINARY)

# Seed-stream ids of the synthetic tensors (``np.random.default_rng([seed, stream, ...])``).
_STREAM_EMBED = 0
_STREAM_LM_HEAD = 1
_STREAM_PROMPT = 2
_STREAM_LAYER = 3
_LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """Everything the forward pass needs to know about the model (from a ``ModelSpec``)."""

    name: str
    hidden: int  # d_model
    layers: int
    heads: int  # query heads
    kv_heads: int  # key/value heads: = heads (MHA), 1 (MQA), or a divisor (GQA)
    head_dim: int  # width of one head (hidden / heads unless the spec says otherwise)
    rotary_dim: int  # leading dimensions of each head that RoPE rotates (<= head_dim, even)
    ffn: int  # FFN inner width
    ffn_type: FFNType
    vocab: int
    tied_embeddings: bool  # LM head = embedding table
    parallel_attention: bool  # Falcon: attention and FFN read the same normed input
    layernorm: bool  # LayerNorm (with bias) instead of RMSNorm
    sublayer_norm: bool  # BitNet: norm before o_proj's and down_proj's inputs
    max_context: int  # positions
    rope_theta: float
    weight_format: WeightFormat  # ternary or binary
    granularity: ScaleGranularity  # tensor or column (per output) weight scales
    act_bits: int  # BitLinear input bits (8, or 4)

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection: ``kv_heads * head_dim``."""
        return self.kv_heads * self.head_dim

    @property
    def attn_dim(self) -> int:
        """Width of the Q projection and the attention output: ``heads * head_dim``."""
        return self.heads * self.head_dim

    @property
    def gated(self) -> bool:
        """Whether the FFN has a gate projection (SwiGLU, ReLU² GLU, GeGLU)."""
        return self.ffn_type.gated

    @classmethod
    def from_spec(cls, spec: ModelSpec, formats: Formats) -> ModelConfig:
        """The config of ``spec`` run in ``formats``.

        Raises:
            WorkloadError: a weight format or scale granularity the functional model cannot run,
                or inconsistent head counts.
        """
        a, q = spec.architecture, spec.quantization
        if formats.weight_format not in MEASURABLE_FORMATS:
            raise WorkloadError(
                f"{spec.name}: --measure supports ternary/binary weights (got weight format "
                f"'{formats.weight_format.value}'; trace without --measure, or on a ternary_add "
                f"design)"
            )
        if q.scale_granularity not in (ScaleGranularity.TENSOR, ScaleGranularity.COLUMN):
            raise WorkloadError(
                f"{spec.name}: quantization.scale_granularity '{q.scale_granularity.value}' "
                f"cannot be measured: it scales inputs, so it cannot be applied after the integer "
                f"sum (expected 'tensor' or 'column')"
            )
        if (
            (a.head_dim is None and a.hidden % a.heads)
            or a.heads % a.kv_heads
            or a.rotary_size % 2
            or a.rotary_size > a.head_size
        ):
            raise WorkloadError(
                f"{spec.name}: architecture: hidden ({a.hidden}) must be a multiple of heads "
                f"({a.heads}) unless head_dim is given, RoPE must rotate an even number of a "
                f"head's dimensions (got {a.rotary_size} of {a.head_size}), and heads must be "
                f"a multiple of kv_heads ({a.kv_heads})"
            )
        return cls(
            name=spec.name,
            hidden=a.hidden,
            layers=a.layers,
            heads=a.heads,
            kv_heads=a.kv_heads,
            head_dim=a.head_size,
            rotary_dim=a.rotary_size,
            ffn=a.ffn,
            ffn_type=a.ffn_type,
            vocab=a.vocab,
            tied_embeddings=a.tied_embeddings,
            parallel_attention=a.parallel_attention,
            layernorm=a.norm == "layernorm",
            sublayer_norm=a.sublayer_norm,
            max_context=a.max_context,
            rope_theta=a.rope_theta,
            weight_format=formats.weight_format,
            granularity=q.scale_granularity,
            act_bits=formats.act_bits,
        )


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Norm:
    """Gain (and, for LayerNorm, bias) of one norm, float32 of shape ``(D,)``."""

    weight: np.ndarray  # (D,)
    bias: np.ndarray | None = None  # (D,) for LayerNorm; None for RMSNorm


@dataclass(frozen=True)
class BitLinear:
    """A ternary (or binary, as trits without zeros) ``(K, N)`` weight, packed, with scales."""

    packed: PackedTernary  # (K, N) at 2 bits per weight
    scale: np.ndarray  # float32, (1, 1) per tensor or (1, N) per output column

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, N)``."""
        return self.packed.shape

    @property
    def zero_fraction(self) -> float:
        """Fraction of weights that are 0."""
        return self.packed.zero_fraction


@dataclass(frozen=True)
class LayerWeights:
    """The weights of one decoder layer (``None``: the architecture has no such part)."""

    attn_norm: Norm  # HF input_layernorm
    q_proj: BitLinear  # (hidden, attn_dim)
    k_proj: BitLinear  # (hidden, kv_dim)
    v_proj: BitLinear  # (hidden, kv_dim)
    attn_sub_norm: Norm | None  # (attn_dim,) with sublayer_norm
    o_proj: BitLinear  # (attn_dim, hidden)
    ffn_norm: Norm | None  # HF post_attention_layernorm; None with parallel attention
    gate_proj: BitLinear | None  # (hidden, ffn) for gated FFNs
    up_proj: BitLinear  # (hidden, ffn)
    ffn_sub_norm: Norm | None  # (ffn,) with sublayer_norm
    down_proj: BitLinear  # (ffn, hidden)


@dataclass(frozen=True)
class ModelWeights:
    """All weights of a model."""

    embed: np.ndarray  # (vocab, hidden) float16
    layers: tuple[LayerWeights, ...]
    final_norm: Norm  # (hidden,)
    lm_head: np.ndarray  # (vocab, hidden) HF layout; see head_table (tied: a view of embed)


def head_table(table: np.ndarray) -> np.ndarray:
    """The LM-head table for a float16 (vocab, hidden) ``table``: float32 up to
    ``LM_HEAD_F32_MAX_BYTES`` (converted once), else ``table`` itself (converted by row block
    in every :func:`lm_head` call). The conversion is exact either way."""
    return table.astype(np.float32) if table.size * 4 <= LM_HEAD_F32_MAX_BYTES else table


def quantize_pack(
    w: np.ndarray,
    weight_format: WeightFormat,
    granularity: ScaleGranularity,
    chunk_elements: int = QUANT_CHUNK_ELEMENTS,
) -> BitLinear:
    """Quantize a float ``(K, N)`` matrix (absmean) and pack it, one block of columns at a time.

    Ternary: ``trits = clip(rint(W / (gamma + EPS)), -1, 1)``; binary: ``sign(W)`` (0 -> +1);
    ``gamma = mean(|W|)`` over the whole matrix (``TENSOR``) or each column (``COLUMN``), the
    formulas of :func:`~tersim.functional.quant.quantize_ternary` and ``quantize_binary``.
    Working on column blocks of at most ``chunk_elements`` keeps temporaries small (packing
    is column-independent), so only the float input and the packed result are ever whole.
    """
    k, n = w.shape
    if granularity is ScaleGranularity.TENSOR:
        gamma_all = np.full((1, 1), np.mean(np.abs(w), dtype=np.float64))  # (1, 1)
    else:
        gamma_all = np.mean(np.abs(w), axis=0, dtype=np.float64, keepdims=True)  # (1, N)
    step = max(1, chunk_elements // max(k, 1))
    blocks: list[np.ndarray] = []
    plus = minus = 0
    for c0 in range(0, n, step):
        block = np.asarray(w[:, c0 : c0 + step], dtype=np.float64)  # (K, cols)
        gamma = gamma_all if gamma_all.shape[1] == 1 else gamma_all[:, c0 : c0 + step]
        if weight_format is WeightFormat.TERNARY:
            trits = np.clip(np.rint(block / (gamma + EPS)), -1, 1).astype(np.int8)  # (K, cols)
        else:
            trits = np.where(block < 0, -1, 1).astype(np.int8)  # (K, cols)
        p = pack_ternary(trits)
        blocks.append(p.data)  # (ceil(K / 4), cols)
        plus += p.plus_count
        minus += p.minus_count
    data = np.concatenate(blocks, axis=1) if blocks else np.zeros((-(-k // 4), 0), np.uint8)
    data.flags.writeable = False
    packed = PackedTernary(data=data, shape=(k, n), bits_per_weight=2.0, plus_count=plus,
                           minus_count=minus)  # fmt: skip
    return BitLinear(packed=packed, scale=gamma_all.astype(np.float32))


def _normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(INIT_STD)


def _synthetic_norm(dim: int, layernorm: bool) -> Norm:
    return Norm(np.ones(dim, np.float32), np.zeros(dim, np.float32) if layernorm else None)


def _synthetic_table(seed: int, stream: int, vocab: int, hidden: int) -> np.ndarray:
    """A float16 (vocab, hidden) table of normal values, drawn in row blocks."""
    table = np.empty((vocab, hidden), np.float16)  # (V, H)
    rng = np.random.default_rng([seed, stream])
    for r0 in range(0, vocab, LM_HEAD_CHUNK_ROWS):
        rows = min(LM_HEAD_CHUNK_ROWS, vocab - r0)
        table[r0 : r0 + rows] = _normal(rng, (rows, hidden))
    return table


def synthetic_weights(cfg: ModelConfig, seed: int) -> ModelWeights:
    """Deterministic weights: normal(0, ``INIT_STD``) per tensor from ``seed``, then quantized.

    Each tensor draws from its own stream ``default_rng([seed, stream, layer, index])``, so a
    tensor does not depend on the model's other shapes. Norm gains are 1 and biases 0.
    """
    h, f, qd = cfg.hidden, cfg.ffn, cfg.attn_dim
    shapes = {
        "q_proj": (h, qd),
        "k_proj": (h, cfg.kv_dim),
        "v_proj": (h, cfg.kv_dim),
        "o_proj": (qd, h),
        "gate_proj": (h, f),
        "up_proj": (h, f),
        "down_proj": (f, h),
    }
    layers = []
    for layer in range(cfg.layers):
        lin: dict[str, BitLinear | None] = {}
        for index, name in enumerate(_LINEAR_NAMES):
            if name == "gate_proj" and not cfg.gated:
                lin[name] = None
                continue
            rng = np.random.default_rng([seed, _STREAM_LAYER, layer, index])
            w = _normal(rng, shapes[name])  # (K, N) float32
            lin[name] = quantize_pack(w, cfg.weight_format, cfg.granularity)
            del w
        ln = cfg.layernorm
        layers.append(
            LayerWeights(
                attn_norm=_synthetic_norm(h, ln),
                attn_sub_norm=_synthetic_norm(qd, ln) if cfg.sublayer_norm else None,
                ffn_norm=None if cfg.parallel_attention else _synthetic_norm(h, ln),
                ffn_sub_norm=_synthetic_norm(f, ln) if cfg.sublayer_norm else None,
                **lin,  # type: ignore[arg-type]
            )
        )
    embed = _synthetic_table(seed, _STREAM_EMBED, cfg.vocab, h)  # (V, H) float16
    head = embed if cfg.tied_embeddings else _synthetic_table(seed, _STREAM_LM_HEAD, cfg.vocab, h)
    return ModelWeights(
        embed=embed,
        layers=tuple(layers),
        final_norm=_synthetic_norm(h, cfg.layernorm),
        lm_head=head_table(head),
    )


def weight_problems(cfg: ModelConfig, w: ModelWeights) -> list[str]:
    """What is missing, superfluous or mis-shaped in ``w`` for ``cfg`` (empty: they fit)."""
    h, f, kvd, qd = cfg.hidden, cfg.ffn, cfg.kv_dim, cfg.attn_dim
    out = []
    if w.embed.shape != (cfg.vocab, h) or w.lm_head.shape != (cfg.vocab, h):
        out.append(f"embed and lm_head must be ({cfg.vocab}, {h})")
    if len(w.layers) != cfg.layers:
        out.append(f"{len(w.layers)} layers (expected {cfg.layers})")
    norms: list[tuple[str, Norm | None, int]] = [("final_norm", w.final_norm, h)]
    for i, lw in enumerate(w.layers):
        linears = {
            "q_proj": (lw.q_proj, (h, qd)),
            "k_proj": (lw.k_proj, (h, kvd)),
            "v_proj": (lw.v_proj, (h, kvd)),
            "o_proj": (lw.o_proj, (qd, h)),
            "gate_proj": (lw.gate_proj, (h, f) if cfg.gated else None),
            "up_proj": (lw.up_proj, (h, f)),
            "down_proj": (lw.down_proj, (f, h)),
        }
        for name, (lin, shape) in linears.items():
            got = None if lin is None else lin.shape
            if got != shape:
                out.append(f"layer {i} {name}: {got} (expected {shape})")
        norms += [
            (f"layer {i} attn_norm", lw.attn_norm, h),
            (f"layer {i} attn_sub_norm", lw.attn_sub_norm, qd if cfg.sublayer_norm else 0),
            (f"layer {i} ffn_norm", lw.ffn_norm, 0 if cfg.parallel_attention else h),
            (f"layer {i} ffn_sub_norm", lw.ffn_sub_norm, f if cfg.sublayer_norm else 0),
        ]
    for name, nw, dim in norms:  # dim 0: must be absent
        size = 0 if nw is None else int(nw.weight.shape[0])
        if size != dim or (nw is not None and (nw.bias is not None) != cfg.layernorm):
            out.append(f"{name}: size {size} (expected {dim}, bias {cfg.layernorm})")
    return out


# ---------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------


@dataclass
class KVCache:
    """Keys (after RoPE) and values of every layer; the only mutable state of a generation."""

    keys: list[np.ndarray]  # per layer (B, kv_heads, capacity, head_dim)
    values: list[np.ndarray]  # per layer (B, kv_heads, capacity, head_dim)
    length: int = 0  # positions filled

    @classmethod
    def empty(cls, cfg: ModelConfig, batch: int, capacity: int) -> KVCache:
        """A cache for ``batch`` sequences of at most ``capacity`` positions."""
        shape = (batch, cfg.kv_heads, capacity, cfg.head_dim)
        return cls(
            keys=[np.zeros(shape, ACT_DTYPE) for _ in range(cfg.layers)],
            values=[np.zeros(shape, ACT_DTYPE) for _ in range(cfg.layers)],
        )

    @property
    def batch(self) -> int:
        return int(self.keys[0].shape[0]) if self.keys else 0

    @property
    def capacity(self) -> int:
        return int(self.keys[0].shape[2]) if self.keys else 0


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def norm(x: np.ndarray, w: Norm) -> np.ndarray:
    """RMSNorm (``w.bias is None``) or LayerNorm over the last axis."""
    if w.bias is None:
        ms = np.mean(x * x, axis=-1, keepdims=True)  # (..., 1)
        return x / np.sqrt(ms + NORM_EPS) * w.weight
    mu = np.mean(x, axis=-1, keepdims=True)  # (..., 1)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)  # (..., 1)
    return (x - mu) / np.sqrt(var + NORM_EPS) * w.weight + w.bias


def bitlinear(qa: QuantizedActivations, w: BitLinear) -> tuple[np.ndarray, Measured]:
    """``y = (x~ @ W~) * act_scale * weight_scale`` for quantized ``(M, K)`` inputs ``qa``.

    Returns ``y`` (M, N) and the measurement of the op: the weights' zero fraction, the
    fraction of zero quantized inputs, and the kernel's adds, subtracts and skips.
    """
    acc, counts = ternary_matmul(qa.values, w.packed)  # (M, N) int32
    y = acc * qa.scale.astype(np.float64) * w.scale.astype(np.float64)  # (M, N)
    measured = Measured(
        weight_zero_fraction=w.zero_fraction,
        act_sparsity=float(np.mean(qa.values == 0)) if qa.values.size else 0.0,
        adds=counts.add,
        subs=counts.sub,
        skips=counts.skip,
    )
    return y.astype(ACT_DTYPE), measured


def rope(x: np.ndarray, start: int, theta: float, rotary_dim: int | None = None) -> np.ndarray:
    """Rotary embedding of ``x`` (B, T, heads, D) at positions ``start..start+T-1``.

    HF LLaMA convention: ``x * cos + rotate_half(x) * sin`` with ``rotate_half(x) =
    [-x2, x1]`` on the two halves of the head dimension. With ``rotary_dim < D`` (GPT-NeoX
    ``rotary_pct``, StableLM ``partial_rotary_factor``) only the first ``rotary_dim``
    dimensions of each head rotate, with frequencies of a ``rotary_dim``-wide head; the rest
    pass through unchanged.
    """
    if rotary_dim is not None and rotary_dim < x.shape[-1]:
        rot = rope(x[..., :rotary_dim], start, theta)  # (B, T, heads, R)
        return np.concatenate([rot, x[..., rotary_dim:]], axis=-1)  # (B, T, heads, D)
    t, d = x.shape[1], x.shape[-1]
    inv_freq = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (D/2,)
    angles = np.arange(start, start + t, dtype=np.float64)[:, None] * inv_freq  # (T, D/2)
    cos = np.cos(np.concatenate([angles, angles], axis=-1))[None, :, None, :]  # (1, T, 1, D)
    sin = np.sin(np.concatenate([angles, angles], axis=-1))[None, :, None, :]  # (1, T, 1, D)
    half = d // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # (B, T, heads, D)
    return x * cos + rotated * sin


def attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, start: int) -> np.ndarray:
    """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over the cache.

    ``keys``, ``values``: (B, kv_heads, start + T, D). Query head ``h`` reads KV head
    ``h // (heads // kv_heads)``. Returns (B, T, heads * D).
    """
    b, t, heads, d = q.shape
    kvh, ctx = keys.shape[1], keys.shape[2]
    g = heads // kvh
    qh = q.reshape(b, t, kvh, g, d).transpose(0, 2, 3, 1, 4)  # (B, kvh, g, T, D)
    scores = qh @ keys[:, :, None].swapaxes(-1, -2) / math.sqrt(d)  # (B, kvh, g, T, ctx)
    future = np.arange(ctx)[None, :] > (start + np.arange(t))[:, None]  # (T, ctx)
    scores = np.where(future, -np.inf, scores)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)  # (B, kvh, g, T, ctx)
    out = probs @ values[:, :, None]  # (B, kvh, g, T, D)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, heads * d)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))


def ffn_activation(ffn_type: FFNType, gate: np.ndarray | None, up: np.ndarray) -> np.ndarray:
    """SwiGLU ``silu(gate) * up``, ReLU² GLU ``relu(gate)**2 * up``, GeGLU
    ``gelu_tanh(gate) * up``, or GELU (tanh) ``gelu(up)``."""
    if ffn_type is FFNType.GELU:
        return _gelu_tanh(up)
    assert gate is not None
    if ffn_type is FFNType.SWIGLU:
        return gate / (1.0 + np.exp(-gate)) * up
    if ffn_type is FFNType.RELU2_GLU:
        return np.square(np.maximum(gate, 0.0)) * up
    return _gelu_tanh(gate) * up


def lm_head(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """float32 logits ``x @ table.T`` for ``x`` (B, H) and a float32 or float16 (V, H) table
    (float16: converted to float32 by row block)."""
    x32 = x.astype(np.float32)  # (B, H)
    if table.dtype == np.float32:
        return x32 @ table.T  # (B, V)
    out = np.empty((x.shape[0], table.shape[0]), np.float32)  # (B, V)
    for r0 in range(0, table.shape[0], LM_HEAD_CHUNK_ROWS):
        chunk = table[r0 : r0 + LM_HEAD_CHUNK_ROWS].astype(np.float32)  # (rows, H)
        out[:, r0 : r0 + chunk.shape[0]] = x32 @ chunk.T
    return out


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TernaryModel:
    """A config with its weights; :meth:`forward` runs prefill or decode and records the ops."""

    spec: ModelSpec
    formats: Formats
    config: ModelConfig
    weights: ModelWeights = field(repr=False)

    def __post_init__(self) -> None:
        """Fail fast on weights that do not fit the config (so the ops match the shapes)."""
        problems = weight_problems(self.config, self.weights)
        if problems:
            raise WorkloadError(
                f"{self.config.name}: weights do not fit the model: " + "; ".join(problems)
            )

    @classmethod
    def synthetic(cls, spec: ModelSpec, formats: Formats, seed: int = 0) -> TernaryModel:
        """The model of ``spec`` with :func:`synthetic_weights` from ``seed``."""
        cfg = ModelConfig.from_spec(spec, formats)
        return cls(spec, formats, cfg, synthetic_weights(cfg, seed))

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty KV cache for ``batch`` sequences of up to ``capacity`` positions."""
        if capacity > self.config.max_context:
            raise WorkloadError(
                f"{self.config.name}: {capacity} positions exceed the model's context of "
                f"{self.config.max_context} (expected at most {self.config.max_context})"
            )
        return KVCache.empty(self.config, batch, capacity)

    def forward(
        self, tokens: np.ndarray, cache: KVCache, tb: TraceBuilder | None = None
    ) -> np.ndarray:
        """Run ``tokens`` (B, T) after the ``cache.length`` cached positions; T = 1 is decode.

        Appends the keys and values to ``cache`` and every op to ``tb`` (as
        :func:`tersim.workload.trace.emit_pass` with ``q_tokens = T``, ``ctx = cache.length + T``).
        Returns float32 logits (B, vocab) of the last position of each sequence.

        Raises:
            WorkloadError: token ids out of range, a batch that differs from the cache's or the
                builder's, or more positions than the cache holds.
        """
        cfg = self.config
        tok = np.asarray(tokens)
        if tok.ndim != 2 or tok.shape[1] < 1 or not np.issubdtype(tok.dtype, np.integer):
            raise WorkloadError(f"tokens: must be a (batch, T >= 1) integer array; got {tok.shape}")
        b, t = tok.shape
        if tok.min() < 0 or tok.max() >= cfg.vocab:
            raise WorkloadError(
                f"tokens: ids must be in [0, {cfg.vocab}); got {tok.min()} to {tok.max()}"
            )
        start, ctx = cache.length, cache.length + t
        if ctx > cache.capacity or ctx > cfg.max_context:
            raise WorkloadError(
                f"{cfg.name}: {ctx} positions exceed the context (cache {cache.capacity}, "
                f"model {cfg.max_context}; expected at most {min(cache.capacity, cfg.max_context)})"
            )
        if tb is None:
            tb = TraceBuilder(self.spec, self.formats, b)
        if b != cache.batch or b != tb.batch:
            raise WorkloadError(
                f"tokens: batch {b} differs from the cache's ({cache.batch}) or the trace's "
                f"({tb.batch})"
            )

        tb.begin_pass(tb.phase, tb.step, t, ctx)
        ex = _Executor(self, tok, cache, start, tb)
        logits = forward_pass(ex, self.spec.architecture)
        cache.length = ctx
        return _Executor._rows(logits)  # (B, V)


@dataclass(frozen=True)
class _Value:
    """An executor value: the numbers, and the tensor the trace knows them as."""

    data: np.ndarray | QuantizedActivations  # (B*T, width) rows (float) or quantized rows
    tensor: Tensor


@dataclass
class _Executor:
    """Runs :mod:`tersim.workload.layer` on arrays (``LayerExecutor[_Value]``): each call computes
    its op and records it through the builder, with the counts the kernel measured."""

    model: TernaryModel
    tokens: np.ndarray  # (B, T)
    cache: KVCache
    start: int  # cached positions before this pass
    tb: TraceBuilder
    quantized: bool = True  # BitLinear: every projection input is quantized

    @property
    def _bt(self) -> tuple[int, int]:
        b, t = self.tokens.shape
        return int(b), int(t)

    def _layer(self, layer: int) -> LayerWeights:
        return self.model.weights.layers[layer]

    @staticmethod
    def _rows(v: _Value) -> np.ndarray:
        assert isinstance(v.data, np.ndarray)
        return v.data

    def embedding(self, name: str) -> _Value:
        b, t = self._bt
        x = self.model.weights.embed[self.tokens].astype(ACT_DTYPE)  # (B, T, H)
        return _Value(x.reshape(b * t, -1), self.tb.embedding(name))

    def norm(self, layer: int, name: str, x: _Value, weight: str) -> _Value:
        w = self.model.weights.final_norm if layer < 0 else getattr(self._layer(layer), weight)
        return _Value(norm(self._rows(x), w), self.tb.norm(layer, name, x.tensor, weight))

    def quant(self, layer: int, name: str, x: _Value) -> _Value:
        q = quantize_activations(self._rows(x), self.model.config.act_bits)  # (B*T, H) int
        return _Value(q, self.tb.quant(layer, name, x.tensor))

    def linear(
        self,
        layer: int,
        name: str,
        x: _Value,
        weight: str,
        out_features: int,
        cache: CacheSlot | None = None,
    ) -> _Value:
        assert isinstance(x.data, QuantizedActivations)
        y, m = bitlinear(x.data, getattr(self._layer(layer), weight))  # (B*T, out_features)
        t = self.tb.linear(layer, name, x.tensor, weight, out_features, cache, measured=m)
        if cache is CacheSlot.V:
            self._store(self.cache.values[layer], y)
        return _Value(y, t)

    def _store(self, slot: np.ndarray, rows: np.ndarray) -> None:
        """Write this pass's (B*T, kv_dim) rows into a cache slot (B, kvh, capacity, D)."""
        cfg, (b, t) = self.model.config, self._bt
        heads = rows.reshape(b, t, cfg.kv_heads, cfg.head_dim)
        slot[:, :, self.start : self.start + t] = heads.transpose(0, 2, 1, 3)

    def rope(self, layer: int, name: str, q: _Value, k: _Value) -> _Value:
        cfg, (b, t) = self.model.config, self._bt
        theta, rd = cfg.rope_theta, cfg.rotary_dim
        q4 = rope(self._rows(q).reshape(b, t, cfg.heads, cfg.head_dim), self.start, theta, rd)
        k4 = rope(self._rows(k).reshape(b, t, cfg.kv_heads, cfg.head_dim), self.start, theta, rd)
        self._store(self.cache.keys[layer], k4.reshape(b * t, -1))
        return _Value(q4.reshape(b * t, -1), self.tb.rope(layer, name, q.tensor, k.tensor))

    def attention(self, layer: int, q: _Value) -> _Value:
        cfg, (b, t) = self.model.config, self._bt
        ctx = self.start + t
        keys = self.cache.keys[layer][:, :, :ctx]  # (B, kvh, ctx, D)
        values = self.cache.values[layer][:, :, :ctx]  # (B, kvh, ctx, D)
        q4 = self._rows(q).reshape(b, t, cfg.heads, cfg.head_dim)
        att = attention(q4, keys, values, self.start).reshape(b * t, -1)  # (B*T, heads*D)
        return _Value(att, self.tb.attention(layer, q.tensor))

    def activation(self, layer: int, name: str, gate: _Value | None, up: _Value) -> _Value:
        g = None if gate is None else self._rows(gate)
        a = ffn_activation(self.model.config.ffn_type, g, self._rows(up))  # (B*T, F)
        gt = None if gate is None else gate.tensor
        return _Value(a, self.tb.activation(layer, name, gt, up.tensor))

    def residual(self, layer: int, name: str, x: _Value, branches: tuple[_Value, ...]) -> _Value:
        out = self._rows(x)
        for br in branches:
            out = out + self._rows(br)  # (B*T, H)
        tensor = self.tb.residual(layer, name, x.tensor, tuple(br.tensor for br in branches))
        return _Value(out, tensor)

    def lm_head(self, name: str, x: _Value) -> _Value:
        b, t = self._bt
        last = self._rows(x).reshape(b, t, -1)[:, -1]  # (B, H)
        logits = lm_head(last, self.model.weights.lm_head)  # (B, V)
        return _Value(logits, self.tb.lm_head(name, x.tensor))


# ---------------------------------------------------------------------------------------------
# Measured traces
# ---------------------------------------------------------------------------------------------


def prompt_for(vocab: int, batch: int, prompt_tokens: int, seed: int) -> np.ndarray:
    """The synthetic prompt of a measured run: uniform token ids (B, P) from ``seed``."""
    rng = np.random.default_rng([seed, _STREAM_PROMPT])
    return rng.integers(0, vocab, size=(batch, prompt_tokens), dtype=np.int64)


def trace_model(
    model: TernaryModel,
    phases: tuple[Phase, ...],
    prompt_tokens: int,
    gen_tokens: int,
    batch: int,
    seed: int = 0,
) -> Workload:
    """Run a scenario on ``model`` and return its measured trace.

    Prefill of a ``prompt_tokens`` prompt drawn from ``seed`` (recorded when PREFILL is in
    ``phases``; run unrecorded otherwise, to fill the KV cache), then, when DECODE is in
    ``phases``, ``gen_tokens`` greedy (argmax) decode steps of one token per sequence. The ops
    are checked against :func:`tersim.workload.trace.trace_shapes` of the same scenario (a mismatch is
    an internal error, ``RuntimeError``).
    """
    spec = model.spec
    check_scenario(spec, prompt_tokens, gen_tokens, batch)
    decode = Phase.DECODE in phases and gen_tokens > 0
    tb = TraceBuilder(spec, model.formats, batch)
    cache = model.new_cache(batch, prompt_tokens + (gen_tokens if decode else 0))
    prompt = prompt_for(model.config.vocab, batch, prompt_tokens, seed)  # (B, P)
    tb.phase, tb.step = Phase.PREFILL, 0
    scratch = TraceBuilder(spec, model.formats, batch)
    logits = model.forward(prompt, cache, tb if Phase.PREFILL in phases else scratch)
    if decode:
        tb.phase = Phase.DECODE
        for step in range(gen_tokens):
            tb.step = step
            nxt = np.argmax(logits, axis=-1)[:, None]  # (B, 1) greedy
            logits = model.forward(nxt, cache, tb)
    expected = trace_shapes(spec, model.formats, phases, prompt_tokens, gen_tokens, batch)
    if len(tb.ops) != len(expected.ops) or any(
        a.shape_key() != e.shape_key() for a, e in zip(tb.ops, expected.ops, strict=True)
    ):
        raise RuntimeError(f"internal error: measured trace of {spec.name} differs from shapes")
    return Workload(
        spec.name,
        model.formats,
        batch,
        prompt_tokens,
        gen_tokens,
        tuple(phases),
        tuple(tb.ops),
        is_measured=True,
    )


def trace_measured(
    spec: ModelSpec,
    formats: Formats,
    phases: tuple[Phase, ...] = (Phase.PREFILL, Phase.DECODE),
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    seed: int = 0,
) -> Workload:
    """The measured trace of ``spec``: the functional model on synthetic weights from ``seed``.

    The same ops, in the same order and with the same shapes, as
    :func:`tersim.workload.trace.trace_shapes` (checked in :func:`trace_model`), with every LINEAR op's
    :class:`~tersim.workload.trace.Measured` counts. ``None`` scenario values default to the spec's.

    Raises:
        WorkloadError: an impossible scenario (e.g. a prompt longer than the context) or
            formats the functional model cannot run (only ternary and binary weights).
    """
    s = spec.scenario
    p = s.prompt_tokens if prompt_tokens is None else prompt_tokens
    g = s.gen_tokens if gen_tokens is None else gen_tokens
    b = s.batch if batch is None else batch
    check_scenario(spec, p, g, b)
    model = TernaryModel.synthetic(spec, formats, seed)
    return trace_model(model, phases, p, g, b, seed)
