"""Causal attention over the KV cache: NumPy products for many queries, Numba for one.

:func:`attend_dense` is the readable definition: dequantized keys and values in float64,
``softmax(q k^T / sqrt(D)) v`` with NumPy's BLAS products. ``KVCache.attend`` uses it when a
pass has several queries per sequence (prefill: the cache is dequantized once per layer; a
128-token prefill of one BitNet 3B layer took 65 ms in the compiled loop below, which grows with
the square of the prompt, about 1 s at 512 tokens, while a 512-token one takes about 0.2 s of
CPU in BLAS, measured).
For one query per sequence (decode), :func:`attend_cache` reads the cache as stored (float16,
or int8 codes and scales). Dequantizing every cached position of every layer
on every decode step into float64 wrote 8 bytes per element (680 MB per step for a 3B model at
640 positions, more than its weights); here each key and value is widened as it is read, one
query head and position at a time, inside the dot product or the weighted sum that uses it (a
separate widening pass into a scratch row, the earlier code, took 1.2x as long for a 3B decode
layer, 1.75 against 1.48 ms best, and 1.5x for a 128-token prefill; measured on the loaded
2-core machine of ``benchmarks/``), with the same arithmetic in float64:

    s_p = (q . k_p) / sqrt(D)  for p <= start + t,   w_p = exp(s_p - max s) / sum exp(...),
    out = sum_p w_p v_p,

with ``k_p`` and ``v_p`` the cache's exact dequantized values (``kvcache.py``). Sums run in a
different order than NumPy's BLAS products, so results agree with ``transformer.attention`` on
the dequantized cache to float64 rounding (the tests hold them to 1e-10), not bit for bit.
Query head ``h`` reads KV head ``h // (heads / kv_heads)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tersim.functional.fp16 import half_float
from tersim.functional.intrinsics import prefetch

#: Value rows the weighted sum adds per pass over the output row.
WEIGHTED_POSITIONS = 4


@numba.njit(cache=True, nogil=True, inline="always")
def _prefetch_row(rows, p, line):  # pragma: no cover - compiled
    """Prefetch row ``p`` of the 2-D ``rows``, ``line`` elements (64 bytes) at a time."""
    for j in range(0, rows.shape[1], line):
        prefetch(rows, p, j)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _scores_half(qv, rows, n, root, out, soon_a, soon_b):  # pragma: no cover - compiled
    """``out[p] = (qv . k_p) / root`` for the first ``n`` rows of one KV head's float16
    keys (``rows`` uint16 (capacity, D)), each half widened as it is read; row ``p`` of
    ``soon_a`` and of ``soon_b`` (rows read next) is prefetched with each position."""
    for p in range(n):
        _prefetch_row(soon_a, p, 32)
        _prefetch_row(soon_b, p, 32)
        src = rows[p]
        acc = 0.0
        for d in range(qv.size):
            acc += qv[d] * np.float64(half_float(np.uint16(src[d])))
        out[p] = acc / root


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _scores_codes(qv, rows, scales, n, root, out, soon_a, soon_b):  # pragma: no cover
    """:func:`_scores_half` for int8 codes ``rows`` with float32 ``scales`` (capacity, 1)."""
    for p in range(n):
        _prefetch_row(soon_a, p, 64)
        _prefetch_row(soon_b, p, 64)
        src = rows[p]
        s = np.float64(scales[p, 0])
        acc = 0.0
        for d in range(qv.size):
            acc += qv[d] * (np.float64(src[d]) * s)
        out[p] = acc / root


@numba.njit(cache=True, nogil=True, inline="always")
def _half_at(rows, p, d):  # pragma: no cover - compiled
    """float64 value of the float16 element ``rows[p, d]`` (stored as uint16 bits)."""
    return np.float64(half_float(np.uint16(rows[p, d])))


@numba.njit(cache=True, nogil=True, inline="always")
def _code_at(rows, scales, p, d):  # pragma: no cover - compiled
    """float64 value of the int8 code ``rows[p, d]`` times its position's scale."""
    return np.float64(rows[p, d]) * np.float64(scales[p, 0])


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _weighted_half(w, rows, n, out):  # pragma: no cover - compiled
    """``out = sum_p w[p] v_p`` over the first ``n`` float16 value rows (``w`` normalized
    before: a division here, under fast-math, was moved into the loop over ``d``).

    ``WEIGHTED_POSITIONS`` positions per pass over ``out``, each ``out[d]`` kept in a register
    across them: the same fused multiply-adds in the same order as one position per pass
    (only ``contract``, no reassociation: the results are equal bit for bit), a quarter of the
    loads and stores of ``out``."""
    out[:] = 0.0
    p = 0
    while p + WEIGHTED_POSITIONS <= n:
        w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
        for d in range(out.size):
            o = out[d] + w0 * _half_at(rows, p, d)
            o += w1 * _half_at(rows, p + 1, d)
            o += w2 * _half_at(rows, p + 2, d)
            out[d] = o + w3 * _half_at(rows, p + 3, d)
        p += WEIGHTED_POSITIONS
    for q in range(p, n):
        wq = w[q]
        for d in range(out.size):
            out[d] += wq * _half_at(rows, q, d)


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _weighted_codes(w, rows, scales, n, out):  # pragma: no cover - compiled
    """:func:`_weighted_half` for int8 codes with float32 ``scales`` (capacity, 1)."""
    out[:] = 0.0
    p = 0
    while p + WEIGHTED_POSITIONS <= n:
        w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
        for d in range(out.size):
            o = out[d] + w0 * _code_at(rows, scales, p, d)
            o += w1 * _code_at(rows, scales, p + 1, d)
            o += w2 * _code_at(rows, scales, p + 2, d)
            out[d] = o + w3 * _code_at(rows, scales, p + 3, d)
        p += WEIGHTED_POSITIONS
    for q in range(p, n):
        wq = w[q]
        for d in range(out.size):
            out[d] += wq * _code_at(rows, scales, q, d)


@numba.njit(cache=True, nogil=True)
def _attend(q, keys, key_scales, values, value_scales, start, out):  # pragma: no cover
    """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over the first
    ``start + T`` cached positions; writes ``out`` (B, T, heads, D). The storage (float16 when
    the scales are empty, else int8 codes) is chosen once per head, outside the loops over
    positions (a branch per position inside one loop measured 2.6x slower for the scores).
    While a head's scores are computed, the next head's keys and this head's values are
    prefetched row by row (a decode step finds the cache evicted by the weights it streamed)."""
    nb, nt, heads, d = q.shape
    kvh = keys.shape[1]
    group = heads // kvh
    root = math.sqrt(d)
    half = key_scales.shape[0] == 0
    scores = np.empty(start + nt)
    for b in range(nb):
        for h in range(heads):
            kv = h // group
            soon = min(kv + 1, kvh - 1)  # the next head's keys and this one's values
            for t in range(nt):
                n = start + t + 1  # positions this query may see
                qv = q[b, t, h]
                ks, vs = keys[b, soon], values[b, kv]
                if half:
                    _scores_half(qv, keys[b, kv], n, root, scores, ks, vs)
                else:
                    _scores_codes(qv, keys[b, kv], key_scales[b, kv], n, root, scores, ks, vs)
                top = -np.inf
                for p in range(n):
                    top = max(top, scores[p])
                total = 0.0
                for p in range(n):
                    e = np.exp(scores[p] - top)
                    scores[p] = e
                    total += e
                for p in range(n):
                    scores[p] /= total
                if half:
                    _weighted_half(scores, values[b, kv], n, out[b, t, h])
                else:
                    _weighted_codes(scores, values[b, kv], value_scales[b, kv], n, out[b, t, h])


def attend_dense(q: np.ndarray, keys: np.ndarray, values: np.ndarray, start: int) -> np.ndarray:
    """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over the cache.

    ``keys``, ``values``: (B, kv_heads, start + T, D). Query head ``h`` reads KV head
    ``h // (heads // kv_heads)``. Returns (B, T, heads * D).
    """
    b, t, heads, d = q.shape
    kvh, ctx = keys.shape[1], keys.shape[2]
    g = heads // kvh
    qh = q.reshape(b, t, kvh, g, d).transpose(0, 2, 3, 1, 4)  # (B, kvh, g, T, D)
    scores = qh @ keys[:, :, None].swapaxes(-1, -2)  # (B, kvh, g, T, ctx)
    scores /= math.sqrt(d)  # in place from here on: the same operations, no temporaries
    future = np.arange(ctx)[None, :] > (start + np.arange(t))[:, None]  # (T, ctx)
    if future.any():
        scores[..., future] = -np.inf
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)  # probabilities (B, kvh, g, T, ctx)
    out = scores @ values[:, :, None]  # (B, kvh, g, T, D)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, heads * d)


def attend_cache(
    q: np.ndarray,
    keys: np.ndarray,
    key_scales: np.ndarray | None,
    values: np.ndarray,
    value_scales: np.ndarray | None,
    start: int,
) -> np.ndarray:
    """Causal attention (module docstring) of ``q`` (B, T, heads, D) over a layer's cache:
    ``keys``/``values`` (B, kv_heads, capacity, D) float16, or int8 codes with float32
    ``*_scales`` (B, kv_heads, capacity, 1). Returns (B, T, heads * D) float64."""
    b, t, heads, d = q.shape
    out = np.empty((b, t, heads, d), dtype=np.float64)
    empty = np.zeros((0, 1, 1, 1), np.float32)
    k = keys.view(np.uint16) if keys.dtype == np.float16 else keys
    v = values.view(np.uint16) if values.dtype == np.float16 else values
    _attend(
        np.ascontiguousarray(q, dtype=np.float64),
        k,
        empty if key_scales is None else key_scales,
        v,
        empty if value_scales is None else value_scales,
        start,
        out,
    )
    return out.reshape(b, t, heads * d)
