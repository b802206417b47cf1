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
