"""float16 tables in Numba, which has no float16 type: exact widening and the LM-head product.

The embedding and LM-head tables are kept in float16 (half the bytes of float32). NumPy's
float16 -> float32 cast is scalar (about 4 ns per element measured on the 2-core Zen 3 machine
of ``benchmarks/``), which made a float16 LM head cost 0.4 s per decode step for a 3B model.
Here the bits are widened in Numba instead, on the ``uint16`` view of the table, in integer
arithmetic: for a normal half (exponent field 1..30),

    float32 bits = ((h & 0x7fff) << 13) + (112 << 23),  with the sign bit of h,

moves the 5-bit exponent and 10-bit mantissa into place and rebiases the exponent from 15 to
127 (exact: no bits are lost). Zeros map to zeros, and the rare subnormal halves ``m * 2**-24``
are converted as floats (``m`` and the power of two are exact in float32). Infinities and NaNs
are not supported (the loaders reject them).

:func:`lm_head_f16` computes ``x @ table.T`` in float32 from a float16 table, a block of rows at
a time (widened into an L1-sized scratch, then dotted with every row of ``x``). Its sums are
float32 in a different order than BLAS's, so logits agree with a float32 BLAS product to
float32 rounding, not bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Rows of the table widened at a time by :func:`lm_head_f16`.
HEAD_BLOCK_ROWS = 16


@intrinsic
def float_bits(typingctx, value):  # type: ignore[no-untyped-def]
    """The bit pattern of a float32 as uint32 (a bitcast; Numba has no scalar view)."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def bits_float(typingctx, value):  # type: ignore[no-untyped-def]
    """The float32 with bit pattern ``value`` (uint32; a bitcast)."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def half_float(h):  # pragma: no cover - compiled
    """float32 value of the finite half with bit pattern ``h`` (uint16), exactly."""
    u = np.uint32(h)
    mag = np.uint32(u & np.uint32(0x7FFF))
    sign = np.uint32((u & np.uint32(0x8000)) << np.uint32(16))
    normal = bits_float(np.uint32(np.uint32(mag << np.uint32(13)) + np.uint32(112 << 23)) | sign)
    sub = np.float32(mag) * np.float32(2.0**-24)  # zero or subnormal: m * 2**-24, exact
    return normal if mag >= np.uint32(0x400) else (-sub if sign else sub)


@numba.njit(cache=True, nogil=True)
def _widen(bits, out):  # pragma: no cover - compiled
    """``out[i] = float32(half with bit pattern bits[i])`` for 1-D uint16 ``bits`` and float32
    ``out`` of the same length (finite halves only)."""
    for i in range(bits.size):
        out[i] = half_float(bits[i])


def half_to_float(table: np.ndarray) -> np.ndarray:
    """float32 copy of a finite float16 array (exact), any shape."""
    h = np.ascontiguousarray(table, dtype=np.float16)
    out = np.empty(h.shape, dtype=np.float32)
    if h.size:
        _widen(h.reshape(-1).view(np.uint16), out.reshape(-1))
    return out


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dots(scratch, rows, x, out, v0):  # pragma: no cover - compiled
    """``out[b, v0 + r] = sum_h scratch[r, h] * x[b, h]`` for the first ``rows`` rows."""
    h = x.shape[1]
    for r in range(rows):
        row = scratch[r]
        for b in range(x.shape[0]):
            xb = x[b]
            acc = np.float32(0.0)
            for i in range(h):
                acc += row[i] * xb[i]
            out[b, v0 + r] = acc


@numba.njit(cache=True, nogil=True)
def _head(x, bits, out):  # pragma: no cover - compiled
    v, h = bits.shape
    scratch = np.empty((HEAD_BLOCK_ROWS, h), np.float32)
    for v0 in range(0, v, HEAD_BLOCK_ROWS):
        rows = min(HEAD_BLOCK_ROWS, v - v0)
        _widen(bits[v0 : v0 + rows].reshape(-1), scratch[:rows].reshape(-1))
        _dots(scratch, rows, x, out, v0)


def lm_head_f16(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """float32 logits ``x @ table.T`` for ``x`` (B, H) and a finite float16 (V, H) table."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)  # (B, H)
    t = np.ascontiguousarray(table, dtype=np.float16)
    out = np.zeros((x32.shape[0], t.shape[0]), dtype=np.float32)  # (B, V)
    if t.size and x32.shape[0]:
        _head(x32, t.view(np.uint16), out)
    return out
