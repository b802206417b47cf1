"""Causal attention read straight from the KV cache as stored (float16, or int8 codes and scales).

``transformer.attention`` is the readable definition: dequantized keys and values in float64,
``softmax(q k^T / sqrt(D)) v`` with NumPy. Dequantizing every cached position of every layer
on every decode step into float64 wrote 8 bytes per element (680 MB per step for a 3B model at
640 positions, more than its weights); here each key and value is widened as it is read, one
query head and position at a time, with the same arithmetic in float64:

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


@numba.njit(cache=True, nogil=True)
def _row(store, scales, b, kv, p, out):  # pragma: no cover - compiled
    """``out`` = the float64 values of cached row ``[b, kv, p]`` (uint16 halves when ``scales``
    is empty, else int8 codes times their float32 scale)."""
    src = store[b, kv, p]
    if scales.shape[0] == 0:
        for d in range(out.size):
            out[d] = np.float64(half_float(np.uint16(src[d])))
    else:
        s = np.float64(scales[b, kv, p, 0])
        for d in range(out.size):
            out[d] = np.float64(src[d]) * s


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dot(a, b):  # pragma: no cover - compiled
    acc = 0.0
    for i in range(a.size):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _axpy(w, x, out):  # pragma: no cover - compiled
    for i in range(out.size):
        out[i] += w * x[i]


@numba.njit(cache=True, nogil=True)
def _attend(q, keys, key_scales, values, value_scales, start, out):  # pragma: no cover
    """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over the first
    ``start + T`` cached positions; writes ``out`` (B, T, heads, D)."""
    nb, nt, heads, d = q.shape
    kvh = keys.shape[1]
    group = heads // kvh
    root = math.sqrt(d)
    ctx = start + nt
    scores = np.empty(ctx)
    row = np.empty(d)
    for b in range(nb):
        for h in range(heads):
            kv = h // group
            for t in range(nt):
                n = start + t + 1  # positions this query may see
                qv = q[b, t, h]
                top = -np.inf
                for p in range(n):
                    _row(keys, key_scales, b, kv, p, row)
                    s = _dot(qv, row) / root
                    scores[p] = s
                    top = max(top, s)
                total = 0.0
                for p in range(n):
                    e = np.exp(scores[p] - top)
                    scores[p] = e
                    total += e
                o = out[b, t, h]
                o[:] = 0.0
                for p in range(n):
                    _row(values, value_scales, b, kv, p, row)
                    _axpy(scores[p] / total, row, o)


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
