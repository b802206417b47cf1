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

Everything except the weights, the KV cache and the LM head is float64, so that a KV-cached
decode and a full recompute of the same tokens agree to rounding (the cache is quantized per
position, so both read the same values; see ``kvcache.py``). Weights are kept only packed (2
bits per weight) with their float32 scales; the embedding and LM-head tables are float16 (the
LM head is the embedding when tied), widened exactly as they are read (``fp16.py``). BitNet
b1.58 2B4T therefore needs about 0.5 GB of packed weights plus 0.66 GB of embedding.

The layer is not defined here: the forward pass *executes* the one layer description
(:mod:`tersim.workload.layer`) with :class:`_Executor`, whose values are arrays paired with the
tensor handles of the shared :class:`~tersim.workload.trace.TraceBuilder`. So the measured trace
lists the ops of :func:`tersim.workload.trace.trace_shapes` by construction of the walk (and
:func:`trace_measured` still checks it against ``trace_shapes`` before returning it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tersim.config.enums import FFNType, ScaleGranularity, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.functional import decode
from tersim.functional.attention import attend_dense
from tersim.functional.blas import single_blas_thread
from tersim.functional.fp16 import half_to_float, lm_head_f16
from tersim.functional.kernels import PARALLEL_MIN_WORK, ternary_matmul
from tersim.functional.kvcache import KVCache
from tersim.functional.packing import PackedArena, PackedTernary, host_nbytes, pack_ternary
from tersim.functional.quant import EPS, QuantizedActivations, quantize_activations
from tersim.functional.rowops import (
    ACTIVATION_CODE,
    activation_rows,
    norm_rows,
    rescale_rows,
    rope_rows,
    rope_table,
)
from tersim.functional.synthetic import synthetic_table, synthetic_ternary, tensor_key
from tersim.functional.threads import KernelThreads
from tersim.runtime import cyclic_gc_paused
from tersim.workload.formats import Formats
from tersim.workload.layer import CacheSlot, forward_pass
from tersim.workload.ops import Measured, Op, OpKind, Tensor
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
#: Decode shares its matmuls with helper threads (op by op) only when a layer has at least
#: this many packed bytes of shareable weights. Op by op costs about 0.8 ms more per layer than
#: the fused call (measured, a 700M decode step: 52 ms against 32 ms on the 2-core machine of
#: ``benchmarks/``); a second thread saves at best half the time of streaming the shared
#: weights at the kernel's ~10 GB/s: 0.25 ms for a 700M layer (4.7 MB), 1.5 ms for a 3B layer
#: (31 MB).
SHARE_MIN_LAYER_BYTES = 16 << 20
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
    """The LM-head table for a (vocab, hidden) ``table``: float16, C-contiguous (widened as it
    is read by :func:`lm_head`: half the bytes per decode step of a float32 table, and as fast
    measured, ``fp16.py``)."""
    return np.ascontiguousarray(table, dtype=np.float16)


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
    Working on column blocks of at most ``chunk_elements`` keeps the float temporaries small;
    the trits (one byte per weight) are then packed at once.
    """
    k, n = w.shape
    if granularity is ScaleGranularity.TENSOR:
        gamma_all = np.full((1, 1), np.mean(np.abs(w), dtype=np.float64))  # (1, 1)
    else:
        gamma_all = np.mean(np.abs(w), axis=0, dtype=np.float64, keepdims=True)  # (1, N)
    step = max(1, chunk_elements // max(k, 1))
    trits = np.empty((k, n), dtype=np.int8)  # (K, N)
    for c0 in range(0, n, step):
        block = np.asarray(w[:, c0 : c0 + step], dtype=np.float64)  # (K, cols)
        gamma = gamma_all if gamma_all.shape[1] == 1 else gamma_all[:, c0 : c0 + step]
        if weight_format is WeightFormat.TERNARY:
            trits[:, c0 : c0 + step] = np.clip(np.rint(block / (gamma + EPS)), -1, 1)
        else:
            trits[:, c0 : c0 + step] = np.where(block < 0, -1, 1)
    return BitLinear(packed=pack_ternary(trits), scale=gamma_all.astype(np.float32))


def _synthetic_norm(dim: int, layernorm: bool) -> Norm:
    return Norm(np.ones(dim, np.float32), np.zeros(dim, np.float32) if layernorm else None)


def _synthetic_scale(cfg: ModelConfig, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """The absmean scale of a ``(K, N)`` normal(0, INIT_STD) matrix (``synthetic.py``)."""
    gamma = INIT_STD * math.sqrt(2 / math.pi)
    if cfg.granularity is ScaleGranularity.TENSOR:
        return np.full((1, 1), gamma, np.float32)
    z = rng.standard_normal((1, n))  # (1, N): a column's absmean, normal approximation
    return (gamma * (1 + math.sqrt((math.pi / 2 - 1) / max(k, 1)) * z)).astype(np.float32)


#: Callback of a long measured run: ``progress(stage, done, total)``, ``stage`` one of
#: "weights", "prefill", "decode"; ``done`` counts layers (weights, prefill) or tokens (decode).
Progress = Callable[[str, int, int], None]


def linear_shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    """``(K, N)`` of each linear of a layer, by name (the gate's even when it has none)."""
    h, f, qd = cfg.hidden, cfg.ffn, cfg.attn_dim
    return {
        "q_proj": (h, qd),
        "k_proj": (h, cfg.kv_dim),
        "v_proj": (h, cfg.kv_dim),
        "o_proj": (qd, h),
        "gate_proj": (h, f),
        "up_proj": (h, f),
        "down_proj": (f, h),
    }


def weight_arena(cfg: ModelConfig) -> PackedArena:
    """An arena (``packing.PackedArena``) for every packed linear of ``cfg``, to be placed
    layer by layer in the order of ``_LINEAR_NAMES`` (the order a decode step reads them)."""
    shapes = linear_shapes(cfg)
    names = [n for n in _LINEAR_NAMES if n != "gate_proj" or cfg.gated]
    sizes = [host_nbytes(shapes[n], 2.0) for n in names] * cfg.layers
    return PackedArena(PackedArena.nbytes_for(sizes))


def synthetic_weights(
    cfg: ModelConfig, seed: int, progress: Progress | None = None
) -> ModelWeights:
    """Deterministic synthetic weights from ``seed`` (see ``functional/synthetic.py``).

    Each tensor has its own key ``tensor_key(seed, stream, layer, index)``, so a tensor does not
    depend on the model's other shapes. The trits are those of a normal(0, ``INIT_STD``) matrix
    quantized with absmean (drawn directly, without the float matrix); norm gains are 1 and
    biases 0; embedding and LM-head values have mean 0 and standard deviation
    ``synthetic.TABLE_STD``. (One thread: drawing tensors on two threads measured slower, the
    page faults of the new arrays contend.)
    """
    h, f, qd = cfg.hidden, cfg.ffn, cfg.attn_dim
    shapes = linear_shapes(cfg)
    binary = cfg.weight_format is WeightFormat.BINARY
    arena = weight_arena(cfg)
    layers = []
    for layer in range(cfg.layers):
        lin: dict[str, BitLinear | None] = {}
        for index, name in enumerate(_LINEAR_NAMES):
            if name == "gate_proj" and not cfg.gated:
                lin[name] = None
                continue
            k, n = shapes[name]
            packed = arena.place(
                synthetic_ternary(tensor_key(seed, _STREAM_LAYER, layer, index), k, n, binary)
            )
            rng = np.random.default_rng([seed, _STREAM_LAYER, layer, index])
            lin[name] = BitLinear(packed=packed, scale=_synthetic_scale(cfg, k, n, rng))
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
        if progress is not None:
            progress("weights", layer + 1, cfg.layers)
    embed = synthetic_table(tensor_key(seed, _STREAM_EMBED), cfg.vocab, h)  # (V, H) float16
    head = (
        embed
        if cfg.tied_embeddings
        else synthetic_table(tensor_key(seed, _STREAM_LM_HEAD), cfg.vocab, h)
    )
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


def bitlinear(
    qa: QuantizedActivations, w: BitLinear, threads: KernelThreads | None = None
) -> tuple[np.ndarray, Measured]:
    """``y = (x~ @ W~) * act_scale * weight_scale`` for quantized ``(M, K)`` inputs ``qa``.

    Returns ``y`` (M, N) and the measurement of the op: the weights' zero fraction, the
    fraction of zero quantized inputs, and the kernel's adds, subtracts and skips. ``threads``:
    helper threads the kernel may share a large matmul with.
    """
    acc, counts = ternary_matmul(qa.values, w.packed, threads)  # (M, N) int32
    y = np.empty(acc.shape, ACT_DTYPE)  # acc * (act scale * weight scale), in one pass
    rows = qa.values.reshape(-1, qa.values.shape[-1]).shape[0]
    rescale_rows(
        acc,
        np.ascontiguousarray(qa.scale, np.float32).reshape(rows, 1),
        np.ascontiguousarray(w.scale, np.float32).reshape(1, -1),
        y,
    )
    measured = Measured(
        weight_zero_fraction=w.zero_fraction,
        act_sparsity=(qa.values.size - np.count_nonzero(qa.values)) / max(1, qa.values.size),
        adds=counts.add,
        subs=counts.sub,
        skips=counts.skip,
    )
    return y, measured


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
    """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over float64
    ``keys``, ``values`` (B, kv_heads, start + T, D): :func:`~tersim.functional.attention.
    attend_dense`, the NumPy definition. Returns (B, T, heads * D)."""
    return attend_dense(q, keys, values, start)


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
    (float16: widened exactly, a few rows at a time, by :func:`~tersim.functional.fp16.lm_head_f16`)."""
    x32 = x.astype(np.float32)  # (B, H)
    if table.dtype == np.float32:
        return x32 @ table.T  # (B, V)
    return lm_head_f16(x32, table)  # (B, V)


_NO_BIAS = np.zeros(0, np.float32)


def _norm_rows(x: np.ndarray, w: Norm) -> np.ndarray:
    """:func:`norm` of the rows of ``x`` (R, D) as the model computes it (``rowops.py``)."""
    xa = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(xa)
    bias = _NO_BIAS if w.bias is None else np.ascontiguousarray(w.bias, np.float32)
    norm_rows(
        xa, np.ascontiguousarray(w.weight, np.float32), bias, w.bias is not None, NORM_EPS, out
    )
    return out


def _step_args(layers: tuple[LayerWeights, ...], rows: int) -> decode.StepArgs:
    """The constant arguments of the fused decode step (``decode.StepArgs``) for ``rows``
    tokens."""
    norms: list[list[np.ndarray]] = []
    datas: list[list[np.ndarray]] = []
    scales: list[list[np.ndarray]] = []
    lins: list[np.ndarray] = []
    measured = []
    for lw in layers:
        row = []
        for n in (lw.attn_norm, lw.attn_sub_norm, lw.ffn_norm, lw.ffn_sub_norm):
            row += [
                _NO_BIAS if p is None else p
                for p in ((None, None) if n is None else (n.weight, n.bias))
            ]
        norms.append(row)
        linears = [getattr(lw, name) for name in _LINEAR_NAMES]
        present = [lin for lin in linears if lin is not None]
        dtype = present[0].packed.data.dtype
        datas.append([np.zeros(0, dtype) if lin is None else lin.packed.data for lin in linears])
        scales.append([np.ones(1, np.float32) if lin is None else lin.scale for lin in linears])
        shapes = [
            None
            if lin is None
            else (
                *lin.shape,
                lin.packed.trits_per_element,
                lin.packed.rows,
                lin.packed.data.itemsize,
            )
            for lin in linears
        ]
        lins.append(decode.linear_table(shapes, rows))
        measured.append(
            tuple(
                None
                if lin is None
                else (
                    lin.zero_fraction,
                    lin.shape[0],
                    lin.packed.plus_count,
                    lin.packed.minus_count,
                    lin.packed.zero_count,
                )
                for lin in linears
            )
        )
    norm_flat, norm_at = decode.flatten(norms, np.float32)
    words, words_at = decode.shared_words(datas)
    scale_flat, scale_at = decode.flatten(scales, np.float32)
    return decode.StepArgs(
        norm_flat, norm_at, words, words_at, scale_flat, scale_at, np.stack(lins), tuple(measured)
    )


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
    threads: KernelThreads | None = field(default=None, repr=False, compare=False)
    #: Decode steps run each layer as one compiled call (``decode.py``) unless helper threads
    #: would share the matmuls; False: always op by op (the tests compare the two).
    fused_decode: bool = field(default=True, compare=False)
    #: Per-model constants built on first use: the RoPE table, the fused layers' arguments.
    _memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Fail fast on weights that do not fit the config (so the ops match the shapes)."""
        problems = weight_problems(self.config, self.weights)
        if problems:
            raise WorkloadError(
                f"{self.config.name}: weights do not fit the model: " + "; ".join(problems)
            )

    def rope_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cos, sin)`` of every position of the context (``rowops.rope_table``)."""
        tables = self._memo.get("rope")
        if tables is None:
            c = self.config
            tables = rope_table(c.rope_theta, c.rotary_dim, c.max_context)
            self._memo["rope"] = tables
        return tables  # type: ignore[return-value]

    @classmethod
    def synthetic(
        cls, spec: ModelSpec, formats: Formats, seed: int = 0, progress: Progress | None = None
    ) -> TernaryModel:
        """The model of ``spec`` with :func:`synthetic_weights` from ``seed``."""
        cfg = ModelConfig.from_spec(spec, formats)
        return cls(spec, formats, cfg, synthetic_weights(cfg, seed, progress))

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty KV cache for ``batch`` sequences of up to ``capacity`` positions."""
        if capacity > self.config.max_context:
            raise WorkloadError(
                f"{self.config.name}: {capacity} positions exceed the model's context of "
                f"{self.config.max_context} (expected at most {self.config.max_context})"
            )
        c = self.config
        return KVCache.empty(
            self.formats.kv_bits, c.layers, batch, c.kv_heads, capacity, c.head_dim
        )

    def forward(
        self,
        tokens: np.ndarray,
        cache: KVCache,
        tb: TraceBuilder | None = None,
        on_layer: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Run ``tokens`` (B, T) after the ``cache.length`` cached positions; T = 1 is decode.

        Appends the keys and values to ``cache`` and every op to ``tb`` (as
        :func:`tersim.workload.trace.emit_pass` with ``q_tokens = T``, ``ctx = cache.length + T``).
        Returns float32 logits (B, vocab) of the last position of each sequence. ``on_layer``
        is called with each layer's index once it is done (progress).

        Raises:
            WorkloadError: token ids out of range, a batch that differs from the cache's or the
                builder's, or more positions than the cache holds.
        """
        tok, start, ctx = self._check_tokens(tokens, cache)
        b, t = tok.shape
        if tb is None:
            tb = TraceBuilder(self.spec, self.formats, b)
        if b != tb.batch:
            raise WorkloadError(f"tokens: batch {b} differs from the trace's ({tb.batch})")
        tb.begin_pass(tb.phase, tb.step, t, ctx)
        if t == 1 and not self._sharing():
            out = self._decode_fused(tok[:, 0], cache, tb, on_layer)
        else:
            ex = _Executor(self, tok, cache, start, tb)
            out = _Executor._rows(forward_pass(ex, self.spec.architecture, on_layer))
        cache.length = ctx
        return out  # (B, V)

    def decode_measured(
        self, tokens: np.ndarray, cache: KVCache
    ) -> tuple[np.ndarray, tuple[Measured, ...]]:
        """One decode step of ``tokens`` (B, 1) after the cached positions, *not* recorded.

        Returns the float32 logits (B, vocab) and the measurement of every LINEAR op of the
        pass, in the order the pass lists them (:func:`tersim.workload.layer.forward_pass`):
        the same numbers and measurements as :meth:`forward` with a trace builder, without
        building the pass's ~20 ops per layer (a 700M step spent ~4.7 ms of ~30 on them). The
        trace of a run takes its ops from :func:`tersim.workload.trace.trace_shapes` and these
        measurements (``_run_scenario``).

        Raises:
            WorkloadError: as :meth:`forward`, or ``tokens`` with more than one per sequence.
        """
        tok, start, ctx = self._check_tokens(tokens, cache)
        b, t = tok.shape
        if t != 1:
            raise WorkloadError(f"tokens: a decode step takes one token per sequence; got {t}")
        if not self._sharing():
            logits, out = self._decode_layers(tok[:, 0], cache, None)
        else:  # op by op, sharing the large matmuls: the executor records into a scratch trace
            scratch = TraceBuilder(self.spec, self.formats, b)
            scratch.begin_pass(Phase.DECODE, 0, 1, ctx)
            ex = _Executor(self, tok, cache, start, scratch)
            logits = _Executor._rows(forward_pass(ex, self.spec.architecture))
            out = tuple(op.measured for op in scratch.ops if op.measured is not None)
        cache.length = ctx
        return logits, out

    def _linear_order(self) -> tuple[tuple[int, str], ...]:
        """``(layer, weight)`` of each LINEAR op of a pass, in the pass's order (memoized)."""
        order = self._memo.get("linear_order")
        if order is None:
            order = decode.linear_order(self.spec, self.formats)
            self._memo["linear_order"] = order
        return order  # type: ignore[return-value]

    def _measure_plan(
        self, batch: int
    ) -> tuple[np.ndarray, np.ndarray, tuple[tuple[float, int, int, int], ...]]:
        """Per LINEAR op of a fused step (in :meth:`_linear_order`): the index into the
        flattened (layers, 4) zero counts of its input, ``batch * K``, and the weight side of
        its measurement (zero fraction, adds, subtracts, skips for ``batch`` rows; memoized)."""
        key = ("measure", batch)
        got = self._memo.get(key)
        if got is None:
            sa = self._step_args(batch)
            idx, k_rows, fixed = [], [], []
            for layer, name in self._linear_order():
                m = sa.measured[layer][_LINEAR_NAMES.index(name)]
                assert m is not None  # the order lists present linears only
                zf, k, plus, minus, zero = m
                idx.append(4 * layer + decode.INPUT_OF[name])
                k_rows.append(max(1, batch * k))
                fixed.append((zf, batch * plus, batch * minus, batch * zero))
            got = (np.array(idx, np.int64), np.array(k_rows, np.float64), tuple(fixed))
            self._memo[key] = got
        return got  # type: ignore[return-value]

    def _check_tokens(self, tokens: np.ndarray, cache: KVCache) -> tuple[np.ndarray, int, int]:
        """``(tokens, start, ctx)`` of a pass over ``tokens`` (B, T), checked against the
        vocabulary and ``cache`` (module docstring of :meth:`forward`'s errors)."""
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
        if b != cache.batch:
            raise WorkloadError(f"tokens: batch {b} differs from the cache's ({cache.batch})")
        return tok, start, ctx

    def _shared_bytes(self) -> int:
        """Packed bytes of the largest layer's linears that are big enough to share
        (``kernels.PARALLEL_MIN_WORK`` for one token; memoized)."""
        got = self._memo.get("shared_bytes")
        if got is None:
            got = max(
                (
                    sum(
                        lin.packed.nbytes
                        for name in _LINEAR_NAMES
                        if (lin := getattr(lw, name)) is not None
                        and lin.shape[0] * lin.shape[1] >= PARALLEL_MIN_WORK
                    )
                    for lw in self.weights.layers
                ),
                default=0,
            )
            self._memo["shared_bytes"] = got
        return got  # type: ignore[return-value]

    def _sharing(self) -> bool:
        """Whether decode runs op by op: when ``fused_decode`` is off, or when a layer has at
        least ``SHARE_MIN_LAYER_BYTES`` of weights to share and helper threads would get a core
        now; otherwise each layer is one compiled call (``decode.py``)."""
        if not self.fused_decode:
            return True
        if self._shared_bytes() < SHARE_MIN_LAYER_BYTES:
            return False
        return self.threads is not None and self.threads.helpers_available() > 0

    def _step_args(self, batch: int) -> decode.StepArgs:
        """The constant arguments of the fused decode step for ``batch`` sequences (memoized)."""
        key = ("step", batch)
        args = self._memo.get(key)
        if args is None:
            args = _step_args(self.weights.layers, batch)
            self._memo[key] = args
        return args  # type: ignore[return-value]

    def _decode_fused(
        self,
        tokens: np.ndarray,
        cache: KVCache,
        tb: TraceBuilder,
        on_layer: Callable[[int], None] | None,
    ) -> np.ndarray:
        """One decode step of ``tokens`` (B,) with every layer fused (``decode.py``); records
        the pass's ops in ``tb`` and returns the logits (B, V)."""
        logits, out = self._decode_layers(tokens, cache, on_layer)
        measured = dict(zip(self._linear_order(), out, strict=True))
        forward_pass(decode._Recorder(tb, measured), self.spec.architecture)
        return logits

    def _decode_layers(
        self, tokens: np.ndarray, cache: KVCache, on_layer: Callable[[int], None] | None
    ) -> tuple[np.ndarray, tuple[Measured, ...]]:
        """Run the fused layers of one decode step of ``tokens`` (B,): the logits (B, V) and
        the measurement of each linear in the order of :meth:`_linear_order`. Does not
        advance the cache."""
        cfg, w = self.config, self.weights
        b, start = int(tokens.shape[0]), cache.length
        x = half_to_float(w.embed[tokens]).astype(ACT_DTYPE)  # (B, H)
        cos, sin = self.rope_tables()
        conf = np.zeros(decode.CONFIG_SIZE, np.int64)
        conf[decode.C_HEADS], conf[decode.C_KV_HEADS] = cfg.heads, cfg.kv_heads
        conf[decode.C_HEAD_DIM], conf[decode.C_ROTARY] = cfg.head_dim, cfg.rotary_dim
        conf[decode.C_ACT_Q], conf[decode.C_KV_BITS] = 2 ** (cfg.act_bits - 1) - 1, cache.bits
        conf[decode.C_ACT_CODE] = ACTIVATION_CODE[cfg.ffn_type]
        conf[decode.C_LAYERNORM], conf[decode.C_SUBLAYER] = cfg.layernorm, cfg.sublayer_norm
        conf[decode.C_PARALLEL], conf[decode.C_GATED] = cfg.parallel_attention, cfg.gated
        conf[decode.C_START] = start
        zeros = np.zeros((cfg.layers, 4), np.int64)
        sa = self._step_args(b)
        half = cache.bits == 16
        x, failed = decode._step(
            x,
            sa.norms,
            sa.norm_at,
            sa.words,
            sa.words_at,
            sa.scales,
            sa.scale_at,
            sa.lins,
            cache.keys.view(np.uint16) if half else cache.keys,
            cache.values.view(np.uint16) if half else cache.values,
            cache.key_scales,
            cache.value_scales,
            cos,
            sin,
            conf,
            NORM_EPS,
            zeros,
        )
        if failed >= 0:
            raise WorkloadError("x: contains NaN or infinite values")
        if on_layer is not None:
            for i in range(cfg.layers):
                on_layer(i)
        x = _norm_rows(x, w.final_norm)
        logits = lm_head(x, w.lm_head)  # (B, V)
        idx, k_rows, fixed = self._measure_plan(b)
        sparsity = (zeros.reshape(-1)[idx] / k_rows).tolist()
        out = tuple(
            Measured(zf, sp, plus, minus, zero)
            for (zf, plus, minus, zero), sp in zip(fixed, sparsity, strict=True)
        )
        return logits, out


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
        x = half_to_float(self.model.weights.embed[self.tokens]).astype(ACT_DTYPE)  # (B, T, H)
        return _Value(x.reshape(b * t, -1), self.tb.embedding(name))

    def norm(self, layer: int, name: str, x: _Value, weight: str) -> _Value:
        w = self.model.weights.final_norm if layer < 0 else getattr(self._layer(layer), weight)
        return _Value(_norm_rows(self._rows(x), w), self.tb.norm(layer, name, x.tensor, weight))

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
        w = getattr(self._layer(layer), weight)
        y, m = bitlinear(x.data, w, self.model.threads)  # (B*T, out_features)
        t = self.tb.linear(layer, name, x.tensor, weight, out_features, cache, measured=m)
        if cache is not None:
            self._store(cache, layer, y)
        return _Value(y, t)

    def _store(self, slot: CacheSlot, layer: int, rows: np.ndarray) -> None:
        """Write this pass's (B*T, kv_dim) rows into the cache, in its precision."""
        cfg, (b, t) = self.model.config, self._bt
        heads = rows.reshape(b, t, cfg.kv_heads, cfg.head_dim).transpose(0, 2, 1, 3)
        self.cache.write_one(slot, layer, self.start, heads)  # (B, kvh, T, D)

    def rope(self, layer: int, name: str, q: _Value, k: _Value) -> _Value:
        cfg, t = self.model.config, self._bt[1]
        cos, sin = self.model.rope_tables()
        d, rd = cfg.head_dim, cfg.rotary_dim
        qr, kr = (np.ascontiguousarray(self._rows(v)) for v in (q, k))  # (B*T, heads*D)
        q_out, k_out = np.empty_like(qr), np.empty_like(kr)
        rope_rows(qr, cfg.heads, d, rd, cos, sin, self.start, t, q_out)
        rope_rows(kr, cfg.kv_heads, d, rd, cos, sin, self.start, t, k_out)
        self._store(CacheSlot.K, layer, k_out)
        return _Value(q_out, self.tb.rope(layer, name, q.tensor, k.tensor))

    def attention(self, layer: int, q: _Value) -> _Value:
        cfg, (b, t) = self.model.config, self._bt
        q4 = self._rows(q).reshape(b, t, cfg.heads, cfg.head_dim)
        att = self.cache.attend(layer, q4, self.start).reshape(b * t, -1)  # (B*T, heads*D)
        return _Value(att, self.tb.attention(layer, q.tensor))

    def activation(self, layer: int, name: str, gate: _Value | None, up: _Value) -> _Value:
        u = np.ascontiguousarray(self._rows(up))  # (B*T, F)
        g = np.empty((0, u.shape[1])) if gate is None else np.ascontiguousarray(self._rows(gate))
        a = np.empty_like(u)
        activation_rows(ACTIVATION_CODE[self.model.config.ffn_type], g, u, a)
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
    prompt: np.ndarray | None = None,
    progress: Progress | None = None,
) -> Workload:
    """Run a scenario on ``model`` and return its measured trace.

    Prefill of a ``prompt_tokens`` prompt (``prompt``, token ids (batch, prompt_tokens), or
    drawn from ``seed`` when None; recorded when PREFILL is in ``phases``, run unrecorded
    otherwise, to fill the KV cache), then, when DECODE is in ``phases``, ``gen_tokens`` greedy
    (argmax) decode steps of one token per sequence. The ops are checked against
    :func:`tersim.workload.trace.trace_shapes` of the same scenario (a mismatch is an internal
    error, ``RuntimeError``). ``progress`` hears of every prefill layer and decode step.

    Raises:
        WorkloadError: an impossible scenario, or a ``prompt`` of another shape.
    """
    spec = model.spec
    check_scenario(spec, prompt_tokens, gen_tokens, batch)
    if prompt is None:
        prompt = prompt_for(model.config.vocab, batch, prompt_tokens, seed)  # (B, P)
    elif prompt.shape != (batch, prompt_tokens):
        raise WorkloadError(
            f"prompt: {prompt.shape[0]} sequences of {prompt.shape[1]} tokens, but the scenario "
            f"has batch {batch} and prompt_tokens {prompt_tokens} (expected them to agree)"
        )
    with cyclic_gc_paused():
        return _run_scenario(model, phases, prompt, prompt_tokens, gen_tokens, batch, progress)


def _run_scenario(
    model: TernaryModel,
    phases: tuple[Phase, ...],
    prompt: np.ndarray,
    prompt_tokens: int,
    gen_tokens: int,
    batch: int,
    progress: Progress | None,
) -> Workload:
    """The body of :func:`trace_model` (arguments checked)."""
    spec = model.spec
    decoding = Phase.DECODE in phases and gen_tokens > 0
    tb = TraceBuilder(spec, model.formats, batch)
    cache = model.new_cache(batch, prompt_tokens + (gen_tokens if decoding else 0))
    layers = model.config.layers

    def prefill_layer(layer: int) -> None:
        if progress is not None:
            progress("prefill", layer + 1, layers)

    tb.phase, tb.step = Phase.PREFILL, 0
    scratch = TraceBuilder(spec, model.formats, batch)
    logits = model.forward(
        prompt, cache, tb if Phase.PREFILL in phases else scratch, on_layer=prefill_layer
    )
    steps: list[tuple[Measured, ...]] = []  # per decode step: its LINEAR ops' measurements
    if decoding:
        for step in range(gen_tokens):
            nxt = np.argmax(logits, axis=-1)[:, None]  # (B, 1) greedy
            logits, measured = model.decode_measured(nxt, cache)
            steps.append(measured)
            if progress is not None:
                progress("decode", step + 1, gen_tokens)
    expected = trace_shapes(spec, model.formats, phases, prompt_tokens, gen_tokens, batch)
    return Workload(
        spec.name,
        model.formats,
        batch,
        prompt_tokens,
        gen_tokens,
        tuple(phases),
        _measured_ops(spec.name, tb.ops, expected.ops, steps),
        is_measured=True,
    )


def _measured_ops(
    name: str,
    recorded: list[Op],
    expected: Sequence[Op],
    steps: list[tuple[Measured, ...]],
) -> tuple[Op, ...]:
    """The ops of a measured run: the ``recorded`` prefill ops, which must equal the first ops of
    the shape trace ``expected`` (the executor walked the same layer description), then the
    shape trace's decode ops, every LINEAR op of decode step ``s`` carrying the next measurement
    of ``steps[s]`` (the pass order of :meth:`TernaryModel.decode_measured`). A mismatch in
    either is an internal error (``RuntimeError``)."""
    n = len(recorded)
    if n > len(expected) or any(
        a.shape_key() != e.shape_key() for a, e in zip(recorded, expected[:n], strict=True)
    ):
        raise RuntimeError(f"internal error: measured trace of {name} differs from shapes")
    out = list(recorded)
    left = [iter(m) for m in steps]
    for op in expected[n:]:
        if op.phase is not Phase.DECODE or op.step >= len(left):
            raise RuntimeError(f"internal error: measured trace of {name} lacks op {op.name}")
        if op.kind is OpKind.LINEAR:
            m = next(left[op.step], None)
            if m is None:
                raise RuntimeError(f"internal error: decode step {op.step} lacks measurements")
            op = replace(op, measured=m)
        out.append(op)
    if any(next(it, None) is not None for it in left):
        raise RuntimeError(f"internal error: measured trace of {name} has unused measurements")
    return tuple(out)


def trace_measured(
    spec: ModelSpec,
    formats: Formats,
    phases: tuple[Phase, ...] = (Phase.PREFILL, Phase.DECODE),
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    prompt: np.ndarray | None = None,
    threads: int = 1,
    progress: Progress | None = None,
) -> Workload:
    """The measured trace of ``spec``: the functional model on synthetic weights from ``seed``,
    or on the weights of the safetensors ``checkpoint`` (a file or a directory of shards).

    The same ops, in the same order and with the same shapes, as
    :func:`tersim.workload.trace.trace_shapes` (checked in :func:`trace_model`), with every
    LINEAR op's :class:`~tersim.workload.trace.Measured` counts. ``prompt`` (token ids, (batch,
    prompt_tokens)) replaces the synthetic prompt and sets those two scenario values; ``None``
    scenario values otherwise default to the spec's. ``threads`` is how many threads the
    kernels may use (see ``threads.py``: more never makes a call slower than one).

    Raises:
        WorkloadError: an impossible scenario (e.g. a prompt longer than the context), a
            ``prompt`` that disagrees with ``prompt_tokens`` or ``batch``, formats the
            functional model cannot run (only ternary and binary weights), or a checkpoint that
            does not fit ``spec`` (see :func:`tersim.functional.checkpoint.load_checkpoint`).
    """
    s = spec.scenario
    if prompt is not None:
        pb, pp = (int(v) for v in prompt.shape)
        if (prompt_tokens is not None and prompt_tokens != pp) or (
            batch is not None and batch != pb
        ):
            raise WorkloadError(
                f"prompt: {pb} sequences of {pp} tokens, but --batch {batch} and --prompt-tokens "
                f"{prompt_tokens} were given (drop them, or make them agree with the prompt)"
            )
        prompt_tokens, batch = pp, pb
    p = s.prompt_tokens if prompt_tokens is None else prompt_tokens
    g = s.gen_tokens if gen_tokens is None else gen_tokens
    b = s.batch if batch is None else batch
    check_scenario(spec, p, g, b)
    if checkpoint is not None:
        from tersim.functional.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint, spec, formats, progress)
    else:
        model = TernaryModel.synthetic(spec, formats, seed, progress)
    with KernelThreads(threads) as team, single_blas_thread():
        return trace_model(replace(model, threads=team), phases, p, g, b, seed, prompt, progress)
