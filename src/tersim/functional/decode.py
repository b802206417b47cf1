"""A decode step with each decoder layer in one Numba call.

Executing the layer description op by op (``transformer._Executor``) costs tens of Python
calls and NumPy temporaries per layer: a BitNet b1.58 700M decode step took 52 ms op by op
against 31 ms fused (best of 20, 1 thread, an idle 2-core machine), and 44.6 against 34.0 ms of
CPU per step (medians, ``benchmarks/bench_decode.py`` on a loaded machine). A decode step
(one new token per sequence) here runs every layer as *one* compiled call, :func:`_layer`
(and all layers of a step in one call, :func:`_step`):

    norm -> quantize -> q, k, v (V to the cache) -> RoPE (K to the cache) -> attention over
    the cache -> [sub-norm] -> quantize -> o -> residual -> norm -> quantize -> [gate], up ->
    activation -> [sub-norm] -> quantize -> down -> residual

(with parallel attention, the FFN reads the attention's quantized input and one residual adds
``(x + o) + down``), the order of :func:`tersim.workload.layer.block`. It computes the same
numbers as the executor bit for bit, because it calls the same compiled pieces in the same
order: the quantizer (``quant._quantize_rows``), the ternary kernel (``kernels._prepare`` and
``_drain``, one thread), the rescale ``acc * (act_scale * weight_scale)`` in float64, the row
operations of ``rowops.py``, the KV-cache rounding (``fp16.half_from_double``, NumPy's float16
rounding; or the quantizer per head) and the attention of ``attention.py``. The tests hold the
two paths equal on small random models of every supported variant.

The ops of the trace do not come from here: after the layers ran, :class:`_Recorder` walks the
layer description over the trace builder, handing each LINEAR op the measurement taken in the
compiled call (the zero count of its quantized input; the weights' counts are fixed at pack
time). So the fused step records exactly the ops of the op-by-op one. A measured run
(``TernaryModel.decode_measured``) does not even walk: it keeps a step's measurements in the
order of :func:`linear_order`, and the trace takes the step's ops from the shape trace.

Numba's cache keys a compiled function on its own source file only: after editing a module
this one calls (the kernels, attention, row operations), clear the ``__pycache__`` caches
(``*.nbi``, ``*.nbc``) or the fused step keeps the old code.

The kernels inside a fused layer run on the calling thread. :meth:`TernaryModel.forward` uses
this path for decode unless helper threads have an idle core to run on (then the op-by-op path
shares its large matmuls, ``threads.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tersim.config.workload import ModelSpec
from tersim.functional.attention import _attend
from tersim.functional.fp16 import half_from_double
from tersim.functional.intrinsics import HAS_AVX2
from tersim.functional.kernels import (
    _STATE_HEADER,
    _drain,
    _prepare,
    _prepare_words,
    _words_drain,
    plan,
)
from tersim.functional.quant import _quantize_rows
from tersim.functional.rowops import activation_row, norm_row, rescale_rows, rope_row
from tersim.workload.formats import Formats
from tersim.workload.layer import CacheSlot, forward_pass
from tersim.workload.ops import Measured, Tensor
from tersim.workload.trace import TraceBuilder

# Indices of the linears in the tuples handed to _layer (the order of transformer._LINEAR_NAMES).
_Q, _K, _V, _O, _GATE, _UP, _DOWN = range(7)
# Indices of the quantized inputs whose zeros _layer counts.
_ATTN_IN, _O_IN, _FFN_IN, _DOWN_IN = range(4)
#: Which counted input each linear reads (the FFN's is the attention's with parallel attention).
INPUT_OF = {
    "q_proj": _ATTN_IN,
    "k_proj": _ATTN_IN,
    "v_proj": _ATTN_IN,
    "o_proj": _O_IN,
    "gate_proj": _FFN_IN,
    "up_proj": _FFN_IN,
    "down_proj": _DOWN_IN,
}
# Entries of the int64 config array of _layer.
(
    C_HEADS,
    C_KV_HEADS,
    C_HEAD_DIM,
    C_ROTARY,
    C_ACT_Q,
    C_KV_BITS,
    C_ACT_CODE,
    C_LAYERNORM,
    C_SUBLAYER,
    C_PARALLEL,
    C_GATED,
    C_START,
) = range(12)
CONFIG_SIZE = 12
# Columns of the int64 (7, 6) linear table: K, N, trits per element, tile, rows per chunk, chunks.
L_K, L_N, L_TPE, L_TILE, L_ROWS, L_CHUNKS = range(6)


@numba.njit(cache=True, nogil=True)
def _linear(xq, act_scale, data, scale, lin, y):  # pragma: no cover - compiled
    """``y = (xq @ W~) * (act_scale * weight_scale)`` in float64 for int8 (B, K) ``xq``:
    ``transformer.bitlinear``'s arithmetic on ``kernels.ternary_matmul``'s kernel, one thread.
    ``lin``: this linear's row of the linear table."""
    m = xq.shape[0]
    n = lin[L_N]
    tpe = lin[L_TPE]
    groups = data.shape[0] // n
    sx = np.empty(m, np.int64)
    acc = np.empty((m, n), np.int32)
    state = np.zeros(_STATE_HEADER + lin[L_CHUNKS], np.int64)
    state[1] = lin[L_CHUNKS]
    if HAS_AVX2 and tpe == 8 and m < 8:  # kernels.uses_words
        pairs = np.empty((m, groups * 4), np.int16)
        _prepare_words(xq, pairs, sx)
        _words_drain(data, pairs, sx, acc, lin[L_TILE], lin[L_ROWS], state)
    else:
        b = np.empty((m, groups * tpe), np.int16)
        _prepare(xq, tpe, b, sx)
        _drain(data, b, sx, acc, lin[L_TILE], lin[L_ROWS], state)
    rescale_rows(acc, act_scale, scale, y)


@numba.njit(cache=True, nogil=True)
def _quantize(x, q, values, scale):  # pragma: no cover - compiled
    """Quantize the rows of ``x``; (finite, zero count)."""
    ok = _quantize_rows(x, q, values, scale)
    zeros = 0
    for v in values.ravel():
        if v == 0:
            zeros += 1
    return ok, zeros


@numba.njit(cache=True, nogil=True)
def _store(rows, store, scales, kvh, d, pos, bits):  # pragma: no cover - compiled
    """Write (B, kvh * d) ``rows`` into a layer's cache at ``pos``: float16 bits (``store``
    uint16) or ``bits``-bit codes with one scale per head (``kvcache.KVCache.write_one``)."""
    nb = rows.shape[0]
    if bits == 16:
        for b in range(nb):
            for h in range(kvh):
                for i in range(d):
                    store[b, h, pos, i] = half_from_double(rows[b, h * d + i])
        return True
    vec = np.empty((1, d))
    codes = np.empty((1, d), np.int8)
    sc = np.empty((1, 1), np.float32)
    q = 2 ** (bits - 1) - 1
    for b in range(nb):
        for h in range(kvh):
            vec[0, :] = rows[b, h * d : (h + 1) * d]
            if not _quantize_rows(vec, q, codes, sc):
                return False
            store[b, h, pos, :] = codes[0]
            scales[b, h, pos, 0] = sc[0, 0]
    return True


@numba.njit(cache=True, nogil=True)
def _norm(x, w, bias, layernorm, eps):  # pragma: no cover - compiled
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        norm_row(x[r], w, bias, layernorm, eps, out[r])
    return out


@numba.njit(cache=True, nogil=True)
def _norm_quantize(x, w, bias, apply, cfg, eps):  # pragma: no cover - compiled
    """``x`` normed (gain ``w``, ``bias``) when ``apply``, then quantized per row: (int8
    codes, float32 scales (M, 1), finite, zero count)."""
    if apply:
        x = _norm(x, w, bias, cfg[C_LAYERNORM], eps)
    q = np.empty(x.shape, np.int8)
    s = np.empty((x.shape[0], 1), np.float32)
    ok, z = _quantize(x, cfg[C_ACT_Q], q, s)
    return q, s, ok, z


@numba.njit(cache=True, nogil=True)
def _ffn(hq, hs, datas, scales, lins, norms, cfg, eps):  # pragma: no cover - compiled
    """Gate/up, activation, sub-norm, quantize, down of the quantized input ``hq``; returns
    (down output, finite, zeros of the down input)."""
    m = hq.shape[0]
    f = lins[_UP, L_N]
    gate = np.empty((m if cfg[C_GATED] else 0, f))
    if cfg[C_GATED]:
        _linear(hq, hs, datas[_GATE], scales[_GATE], lins[_GATE], gate)
    up = np.empty((m, f))
    _linear(hq, hs, datas[_UP], scales[_UP], lins[_UP], up)
    act = np.empty((m, f))
    for r in range(m):
        activation_row(cfg[C_ACT_CODE], gate[r] if cfg[C_GATED] else up[r], up[r], act[r])
    aq, asc, ok, zeros = _norm_quantize(act, norms[6], norms[7], cfg[C_SUBLAYER], cfg, eps)
    down = np.empty((m, lins[_DOWN, L_N]))
    _linear(aq, asc, datas[_DOWN], scales[_DOWN], lins[_DOWN], down)
    return down, ok, zeros


@numba.njit(cache=True, nogil=True)
def _layer(
    x, norms, datas, scales, lins, keys, values, key_scales, value_scales, cos, sin, cfg, eps, zeros
):  # pragma: no cover - compiled
    """One decoder layer on the (B, H) residual stream ``x`` of one new token per sequence
    (module docstring); returns the new stream, or an empty array if an activation was not
    finite. ``norms``: gains and biases (attn, attn_sub, ffn, ffn_sub; empty when absent);
    ``datas``, ``scales``, ``lins``: packed words, scales and table rows of the seven linears;
    the cache arrays are the layer's (float16 as uint16 bits, or int8 codes with scales);
    ``cfg``: the C_* entries; ``zeros``: the zero counts of the four quantized inputs (out)."""
    m, hid = x.shape
    heads, kvh, d = cfg[C_HEADS], cfg[C_KV_HEADS], cfg[C_HEAD_DIM]
    rd, kv_bits, start = cfg[C_ROTARY], cfg[C_KV_BITS], cfg[C_START]
    fail = np.empty((0, hid))
    hq, hs, ok, z = _norm_quantize(x, norms[0], norms[1], True, cfg, eps)
    zeros[_ATTN_IN] = z
    if not ok:
        return fail
    q = np.empty((m, lins[_Q, L_N]))
    k = np.empty((m, lins[_K, L_N]))
    v = np.empty((m, lins[_V, L_N]))
    _linear(hq, hs, datas[_Q], scales[_Q], lins[_Q], q)
    _linear(hq, hs, datas[_K], scales[_K], lins[_K], k)
    _linear(hq, hs, datas[_V], scales[_V], lins[_V], v)
    if not _store(v, values, value_scales, kvh, d, start, kv_bits):
        return fail
    qr = np.empty_like(q)
    kr = np.empty_like(k)
    for r in range(m):
        rope_row(q[r], heads, d, rd, cos, sin, start, qr[r])
        rope_row(k[r], kvh, d, rd, cos, sin, start, kr[r])
    if not _store(kr, keys, key_scales, kvh, d, start, kv_bits):
        return fail
    att4 = np.empty((m, 1, heads, d))
    _attend(qr.reshape((m, 1, heads, d)), keys, key_scales, values, value_scales, start, att4)
    att = att4.reshape((m, heads * d))
    aq, asc, ok, z = _norm_quantize(att, norms[2], norms[3], cfg[C_SUBLAYER], cfg, eps)
    zeros[_O_IN] = z
    if not ok:
        return fail
    o = np.empty((m, hid))
    _linear(aq, asc, datas[_O], scales[_O], lins[_O], o)
    if cfg[C_PARALLEL]:
        zeros[_FFN_IN] = zeros[_ATTN_IN]
        down, ok, z = _ffn(hq, hs, datas, scales, lins, norms, cfg, eps)
        zeros[_DOWN_IN] = z
        return (x + o) + down if ok else fail
    x = x + o
    fq, fs, ok, z = _norm_quantize(x, norms[4], norms[5], True, cfg, eps)
    zeros[_FFN_IN] = z
    if not ok:
        return fail
    down, ok, z = _ffn(fq, fs, datas, scales, lins, norms, cfg, eps)
    zeros[_DOWN_IN] = z
    return x + down if ok else fail


@numba.njit(cache=True, nogil=True)
def _span(flat, at):  # pragma: no cover - compiled
    """``flat[offset : offset + length]`` for ``at = (offset, length)``."""
    return flat[at[0] : at[0] + at[1]]


@numba.njit(cache=True, nogil=True)
def _step(
    x, norms, norm_at, words, words_at, scales, scale_at, lins, keys, values, key_scales,
    value_scales, cos, sin, cfg, eps, zeros
):  # pragma: no cover - compiled  # fmt: skip
    """Every decoder layer of one decode step, one :func:`_layer` after the other, in one call
    (24 per-layer calls of 29 arguments each cost a 700M step ~0.23 ms of CPU more, profiled);
    returns the new stream and the index of the layer whose activations were not finite
    (-1: none). The per-layer arguments are spans of flat arrays (:class:`StepArgs`); the
    cache arrays hold every layer (``key_scales`` empty for float16)."""
    m = x.shape[0]
    none = np.empty((0, 1, 1, 1), np.float32)
    for i in range(lins.shape[0]):
        n = norm_at[i]
        w = words_at[i]
        c = scale_at[i]
        ln = lins[i]
        x = _layer(
            x,
            (_span(norms, n[0]), _span(norms, n[1]), _span(norms, n[2]), _span(norms, n[3]),
             _span(norms, n[4]), _span(norms, n[5]), _span(norms, n[6]), _span(norms, n[7])),
            (_span(words, w[0]), _span(words, w[1]), _span(words, w[2]), _span(words, w[3]),
             _span(words, w[4]), _span(words, w[5]), _span(words, w[6])),
            (_span(scales, c[0]).reshape((1, c[0, 1])), _span(scales, c[1]).reshape((1, c[1, 1])),
             _span(scales, c[2]).reshape((1, c[2, 1])), _span(scales, c[3]).reshape((1, c[3, 1])),
             _span(scales, c[4]).reshape((1, c[4, 1])), _span(scales, c[5]).reshape((1, c[5, 1])),
             _span(scales, c[6]).reshape((1, c[6, 1]))),
            ln,
            keys[i],
            values[i],
            key_scales[i] if key_scales.shape[0] else none,
            value_scales[i] if value_scales.shape[0] else none,
            cos,
            sin,
            cfg,
            eps,
            zeros[i],
        )  # fmt: skip
        if x.shape[0] != m:
            return x, i
    return x, -1


@dataclass(frozen=True)
class StepArgs:
    """The constant arguments of :func:`_step` for one model and batch (built once): flat
    arrays and, per layer, the ``(offset, length)`` of each part in them.

    - ``norms`` (float32): the gains and biases of attn, attn_sub, ffn and ffn_sub norms;
      ``norm_at`` (L, 8, 2), length 0 where absent.
    - ``words``: every linear's packed data (the model's weight arena itself where the
      weights sit in one, else a copy); ``words_at`` (L, 7, 2), in the order of
      ``transformer._LINEAR_NAMES`` (length 0 for a missing gate).
    - ``scales`` (float32): each linear's (1, 1) or (1, N) scale, flattened; ``scale_at``.
    - ``lins`` (L, 7, 6): :func:`linear_table` per layer.
    - ``measured``: per layer and linear, the weights' zero fraction, K, plus, minus and zero
      counts (None for a missing gate).
    """

    norms: np.ndarray
    norm_at: np.ndarray
    words: np.ndarray
    words_at: np.ndarray
    scales: np.ndarray
    scale_at: np.ndarray
    lins: np.ndarray
    measured: tuple[tuple[tuple[float, int, int, int, int] | None, ...], ...]


def flatten(parts: list[list[np.ndarray]], dtype: np.dtype | type) -> tuple[np.ndarray, np.ndarray]:
    """``parts`` (per layer, a list of arrays) back to back in one ``dtype`` array, and the
    (L, len(parts[0]), 2) ``(offset, length)`` of each."""
    rows = len(parts)
    cols = len(parts[0]) if parts else 0
    at = np.zeros((rows, cols, 2), np.int64)
    flat = [np.asarray(a, dtype).ravel() for row in parts for a in row]
    sizes = np.array([a.size for a in flat], np.int64)
    at[..., 0] = (np.cumsum(sizes) - sizes).reshape(rows, cols)
    at[..., 1] = sizes.reshape(rows, cols)
    return np.concatenate(flat) if flat else np.zeros(0, dtype), at


def shared_words(datas: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flatten` of the packed data of every linear without copying when they are
    views of one buffer (``packing.PackedArena``): the buffer viewed in their dtype, and the
    offsets of the views in it. Otherwise a copy."""
    present = [a for row in datas for a in row if a.size]
    base = present[0].base if present else None
    if base is None or any(a.base is not base or not a.flags.c_contiguous for a in present):
        return flatten(datas, present[0].dtype if present else np.uint16)
    item = present[0].dtype.itemsize
    start = base.ctypes.data
    offsets = [a.ctypes.data - start for a in present]
    if any(o % item for o in offsets) or any(a.dtype != present[0].dtype for a in present):
        return flatten(datas, present[0].dtype)
    flat = base.reshape(-1).view(np.uint8)
    words = flat[: flat.size // item * item].view(present[0].dtype)
    at = np.zeros((len(datas), len(datas[0]), 2), np.int64)
    for i, row in enumerate(datas):
        for j, a in enumerate(row):
            if a.size:
                at[i, j] = ((a.ctypes.data - start) // item, a.size)
    return words, at


def linear_table(shapes: list[tuple[int, int, int, int, int] | None], rows: int) -> np.ndarray:
    """The (7, 6) table of :func:`_layer` from ``(K, N, trits per element, groups, element
    bytes)`` per linear (None: absent) for ``rows`` tokens, with the one-thread chunking of
    ``kernels.plan``."""
    table = np.zeros((7, 6), np.int64)
    for i, s in enumerate(shapes):
        if s is None:
            table[i, L_N] = 1
            continue
        k, n, tpe, groups, itemsize = s
        p = plan(rows, k, n, groups, itemsize, 1)
        table[i] = (k, n, tpe, p.tile, p.rows_per_chunk, p.chunks)
    return table


class _Recorder:
    """The layer description over a :class:`TraceBuilder`, with each LINEAR op's measurement
    (``measured[(layer, weight)]``, None if absent): records the ops of a pass whose numbers
    were computed elsewhere (``tersim.workload.layer.LayerExecutor[Tensor]``), and notes the
    ``(layer, weight)`` of each LINEAR op in ``order``."""

    def __init__(self, tb: TraceBuilder, measured: dict[tuple[int, str], Measured]) -> None:
        self.tb = tb
        self.measured = measured
        self.quantized = tb.quantized
        self.order: list[tuple[int, str]] = []

    def embedding(self, name: str) -> Tensor:
        return self.tb.embedding(name)

    def norm(self, layer: int, name: str, x: Tensor, weight: str) -> Tensor:
        return self.tb.norm(layer, name, x, weight)

    def quant(self, layer: int, name: str, x: Tensor) -> Tensor:
        return self.tb.quant(layer, name, x)

    def linear(
        self,
        layer: int,
        name: str,
        x: Tensor,
        weight: str,
        out_features: int,
        cache: CacheSlot | None = None,
    ) -> Tensor:
        self.order.append((layer, weight))
        m = self.measured.get((layer, weight))
        return self.tb.linear(layer, name, x, weight, out_features, cache, measured=m)

    def rope(self, layer: int, name: str, q: Tensor, k: Tensor) -> Tensor:
        return self.tb.rope(layer, name, q, k)

    def attention(self, layer: int, q: Tensor) -> Tensor:
        return self.tb.attention(layer, q)

    def activation(self, layer: int, name: str, gate: Tensor | None, up: Tensor) -> Tensor:
        return self.tb.activation(layer, name, gate, up)

    def residual(self, layer: int, name: str, x: Tensor, branches: tuple[Tensor, ...]) -> Tensor:
        return self.tb.residual(layer, name, x, branches)

    def lm_head(self, name: str, x: Tensor) -> Tensor:
        return self.tb.lm_head(name, x)


def linear_order(spec: ModelSpec, formats: Formats) -> tuple[tuple[int, str], ...]:
    """``(layer, weight)`` of every LINEAR op of one pass of ``spec``, in the pass's order
    (the order in which a trace lists a decode step's measured ops)."""
    walk = _Recorder(TraceBuilder(spec, formats, 1), {})
    forward_pass(walk, spec.architecture)
    return tuple(walk.order)
