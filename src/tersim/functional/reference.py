"""The NumPy oracle for the ternary kernels: slow, obvious, and independent of the packing.

Tests check :func:`tersim.functional.kernels.ternary_matmul` against these bit for bit.
Weight convention: ``trits`` is ``(K, N)`` (inputs by outputs); ``y = x @ trits``.
"""

from __future__ import annotations

import numpy as np

from tersim.functional.kernels import OpCounts


def reference_matmul(x: np.ndarray, trits: np.ndarray) -> np.ndarray:
    """Exact integer product ``x @ trits`` as int64, shape ``(M, N)``."""
    return np.asarray(x).astype(np.int64) @ np.asarray(trits).astype(np.int64)


def reference_counts(rows: int, trits: np.ndarray) -> OpCounts:
    """Adds (+1 weights), subtracts (-1 weights) and skips (0 weights) for ``rows`` tokens."""
    t = np.asarray(trits)
    return OpCounts(
        add=rows * int(np.sum(t == 1)),
        sub=rows * int(np.sum(t == -1)),
        skip=rows * int(np.sum(t == 0)),
    )


def reference_ternary_matmul(x: np.ndarray, trits: np.ndarray) -> tuple[np.ndarray, OpCounts]:
    """``(reference_matmul(x, trits), reference_counts(M, trits))`` for ``x`` of shape (M, K)."""
    xa = np.asarray(x)
    return reference_matmul(xa, trits), reference_counts(int(xa.shape[0]), trits)


def reference_kv_roundtrip(x: np.ndarray, bits: int) -> np.ndarray:
    """What a KV cache of ``bits`` bits returns for ``x`` (..., head_dim), one vector at a time.

    16 bits: the float16 nearest to each value. 3, 4 or 8 bits: per vector, ``Q = 2**(bits-1)
    - 1``, ``amax = max|x|``; codes ``clip(rint(x * Q / amax), -Q-1, Q)`` (0 for a zero vector)
    and the scale ``float32(amax / Q)``; the value read is ``code * scale`` in float64.
    """
    a = np.asarray(x, dtype=np.float64)
    if bits == 16:
        return a.astype(np.float16).astype(np.float64)
    q = 2 ** (bits - 1) - 1
    out = np.empty_like(a)
    flat_in = a.reshape(-1, a.shape[-1])
    flat_out = out.reshape(-1, a.shape[-1])
    for i, vec in enumerate(flat_in):
        amax = float(np.max(np.abs(vec))) if vec.size else 0.0
        scale = float(np.float32(amax / q))
        for j, v in enumerate(vec):
            code = 0.0 if amax == 0 else min(max(float(np.rint(v * q / amax)), -q - 1), q)
            flat_out[i, j] = code * scale
    return out
