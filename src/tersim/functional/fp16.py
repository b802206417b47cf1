"""float16 tables in Numba, which has no float16 type: exact widening and the LM-head product.

The embedding and LM-head tables are kept in float16 (half the bytes of float32). NumPy's
float16 -> float32 cast is scalar (about 4 ns per element measured on the 2-core Zen 3 machine
of ``benchmarks/``), which made a float16 LM head cost 0.4 s per decode step for a 3B model.
Here the bits are widened in Numba instead, on the ``uint16`` view of the table: with the F16C
instruction ``vcvtph2ps`` where the CPU has it (x86 since 2012), else in integer arithmetic:
for a normal half (exponent field 1..30),

    float32 bits = ((h & 0x7fff) << 13) + (112 << 23),  with the sign bit of h,

moves the 5-bit exponent and 10-bit mantissa into place and rebiases the exponent from 15 to
127 (exact: no bits are lost). Zeros map to zeros, and the rare subnormal halves ``m * 2**-24``
are converted as floats (``m`` and the power of two are exact in float32). Infinities and NaNs
are not supported (the loaders reject them).

:func:`lm_head_f16` computes ``x @ table.T`` in float32 from a float16 table, widening each
value as it is read (one pass over the table, which is the cost of a decode step's LM head).
Its sums are float32 in a different order than BLAS's, so logits agree with a float32 BLAS
product to float32 rounding, not bit for bit.

:func:`half_from_double` narrows a float64 to the nearest half (ties to even), directly from
the float64's bits, as NumPy's ``astype(np.float16)`` does (F16C converts only from float32, and
rounding to float32 first would round twice). With the 53-bit significand ``m`` and unbiased
exponent ``E``: a half in the normal range (``E >= -14``) keeps ``m >> 42`` (11 bits, the
implicit one included) and its bits are ``((E + 14) << 10) + (m >> 42)`` after rounding (the
implicit bit carries into the exponent field, and a rounding carry moves on to the next binade
or to infinity, 0x7c00, by itself); below it the half is subnormal, ``m >> (28 - E)`` units of
2**-24. NaN becomes the quiet half NaN 0x7e00.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from tersim.functional.intrinsics import HAS_F16C, bits_float, double_bits, half_bits_float


@numba.njit(cache=True, nogil=True)
def _half_float_int(h):  # pragma: no cover - compiled
    """float32 value of the finite half with bit pattern ``h`` (uint16), exactly, in integer
    arithmetic (module docstring)."""
    u = np.uint32(h)
    mag = np.uint32(u & np.uint32(0x7FFF))
    sign = np.uint32((u & np.uint32(0x8000)) << np.uint32(16))
    normal = bits_float(np.uint32(np.uint32(mag << np.uint32(13)) + np.uint32(112 << 23)) | sign)
    sub = np.float32(mag) * np.float32(2.0**-24)  # zero or subnormal: m * 2**-24, exact
    return normal if mag >= np.uint32(0x400) else (-sub if sign else sub)


@numba.njit(cache=True, nogil=True)
def _half_float_f16c(h):  # pragma: no cover - compiled
    """float32 value of the half with bit pattern ``h``: one F16C conversion."""
    return half_bits_float(np.uint16(h))


#: float32 value of a half's bit pattern (uint16), exact: F16C where the CPU has it.
half_float = _half_float_f16c if HAS_F16C else _half_float_int


@numba.njit(cache=True, nogil=True)
def half_from_double(x):  # pragma: no cover - compiled
    """The bit pattern (uint16) of the half nearest to float64 ``x``, ties to even (module
    docstring)."""
    b = double_bits(x)
    sign = np.uint16((b >> np.uint64(48)) & np.uint64(0x8000))
    exp = np.int64((b >> np.uint64(52)) & np.uint64(0x7FF))
    frac = b & np.uint64((1 << 52) - 1)
    if exp == 0x7FF:
        return np.uint16(sign | (0x7E00 if frac else 0x7C00))
    e = exp - 1023
    m = frac | np.uint64(1 << 52)
    if e >= -14:
        shift = 42
        base = (e + 14) << 10
    else:
        shift = 28 - e
        base = 0
        if shift >= 54 or exp == 0:  # below 2**-25 (or a float64 subnormal): rounds to zero
            return sign
    r = np.int64(m >> np.uint64(shift))
    rem = m & np.uint64((1 << shift) - 1)
    half = np.uint64(1 << (shift - 1))
    if rem > half or (rem == half and r & 1):
        r += 1
    bits = base + r
    if e >= -14 and bits >= 0x7C00:
        bits = 0x7C00
    return np.uint16(sign | np.uint16(bits))


@numba.njit(cache=True, nogil=True)
def _narrow(x, out):  # pragma: no cover - compiled
    for i in range(x.size):
        out[i] = half_from_double(x[i])


def _elementwise(
    kernel: Callable[[np.ndarray, np.ndarray], None], a: np.ndarray, dtype: type
) -> np.ndarray:
    """A new ``dtype`` array of ``a``'s shape filled by ``kernel(a flat, out flat)``
    (``a`` C-contiguous; nothing is called for an empty array)."""
    out: np.ndarray = np.empty(a.shape, dtype=dtype)
    if a.size:
        kernel(a.reshape(-1), out.reshape(-1))
    return out


def double_to_half(x: np.ndarray) -> np.ndarray:
    """float16 copy of a float64 array, rounded as :func:`half_from_double` (any shape)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    return _elementwise(_narrow, a, np.uint16).view(np.float16)


@numba.njit(cache=True, nogil=True)
def _widen(bits, out):  # pragma: no cover - compiled
    """``out[i] = float32(half with bit pattern bits[i])`` for 1-D uint16 ``bits`` and float32
    ``out`` of the same length (finite halves only)."""
    for i in range(bits.size):
        out[i] = half_float(bits[i])


def half_to_float(table: np.ndarray) -> np.ndarray:
    """float32 copy of a finite float16 array (exact), any shape."""
    h = np.ascontiguousarray(table, dtype=np.float16)
    return _elementwise(_widen, h.view(np.uint16), np.float32)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _head(x, bits, out):  # pragma: no cover - compiled
    """``out[b, v] = sum_h float(bits[v, h]) * x[b, h]``, widening each half as it is read."""
    v_rows, h = bits.shape
    for v in range(v_rows):
        row = bits[v]
        for b in range(x.shape[0]):
            xb = x[b]
            acc = np.float32(0.0)
            for i in range(h):
                acc += half_float(row[i]) * xb[i]
            out[b, v] = acc


def lm_head_f16(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """float32 logits ``x @ table.T`` for ``x`` (B, H) and a finite float16 (V, H) table."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)  # (B, H)
    t = np.ascontiguousarray(table, dtype=np.float16)
    out = np.zeros((x32.shape[0], t.shape[0]), dtype=np.float32)  # (B, V)
    if t.size and x32.shape[0]:
        _head(x32, t.view(np.uint16), out)
    return out
