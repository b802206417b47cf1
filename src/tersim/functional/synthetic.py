"""Synthetic weights at memory speed: ternary words and float16 tables drawn straight from a hash.

The model a synthetic run stands for has normal(0, ``INIT_STD``) master weights quantized with
absmean (BitNet b1.58). Drawing those normals and quantizing them cost 14 s for a 700M model;
here the *result* is drawn directly, with the same distribution:

- A normal matrix ``W ~ N(0, s^2)`` has ``E|W| = s sqrt(2/pi) = gamma``, and a weight rounds to 0
  when ``|W| < gamma / 2``: the trits are independent, 0 with probability
  ``p0 = erf(1 / (2 sqrt(pi))) = 0.31006`` and +1 or -1 with ``(1 - p0) / 2`` each
  (:data:`ZERO_PROBABILITY`; ``tests/unit/functional/test_measured_trace.py`` derives it).
  Each trit comes from 16 uniform bits ``u``: -1 when ``u < LO``, +1 when ``u >= 65536 - LO``,
  else 0, ``LO = round(65536 (1 - p0) / 2)`` (p0 to within 1/65536). Binary weights: -1 when
  ``u < 32768``, else +1.
- The per-tensor scale is ``gamma = INIT_STD sqrt(2/pi)`` (the expectation; a tensor's sample
  absmean differs from it by a relative ``sqrt((pi/2 - 1) / (K N))``, below 1e-3 for any real
  layer). Per-column scales are drawn from the normal approximation of a column's absmean,
  ``gamma (1 + sqrt((pi/2 - 1) / K) z)``.
- Embedding and LM-head values are an Irwin-Hall sum of four uniform bytes, centred and scaled
  by ``2**-13``: ``(b0 + b1 + b2 + b3 - 510) / 8192``, mean 0, standard deviation
  ``sqrt(4 (256**2 - 1) / 12) / 8192 = 0.018`` (close to ``INIT_STD``), within 3.5 standard
  deviations, and exactly representable in float16 (at most 9 significant bits, no rounding).
  Normal enough for a table whose only job is to give the LM head's argmax something to pick;
  every norm rescales its input anyway.

The uniform bits are a counter-based hash: counter ``c`` of a tensor with key ``(k1, k2)`` gives
``lowbias32(c * k1 + k2)`` (the bijective 32-bit mixer by Chris Wellons; ``k1`` odd, so every
tensor walks its own permutation of the inputs). Element ``(g, n)`` of a tensor therefore
depends only on the key and its position: generation vectorizes (one hash per two trits), and
the result is independent of how the work is cut. Keys come from ``numpy.random.SeedSequence``
of ``(seed, stream, ...)``, one per tensor.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tersim.functional.intrinsics import float_bits, mul32
from tersim.functional.packing import PANEL_N, PackedTernary

#: P(trit = 0) for absmean-quantized normal weights: erf(1 / (2 sqrt(pi))).
ZERO_PROBABILITY = math.erf(1 / (2 * math.sqrt(math.pi)))
#: 16-bit threshold of a -1 (and, from the top, of a +1) trit.
_LO = round(65536 * (1 - ZERO_PROBABILITY) / 2)
#: Standard deviation of a synthetic table value: sqrt(4 (256**2 - 1) / 12) / 2**13.
TABLE_STD = math.sqrt(4 * (256**2 - 1) / 12) / 8192


def tensor_key(*entropy: int) -> tuple[int, int]:
    """The key ``(k1, k2)`` (``k1`` odd) of the tensor named by ``entropy`` (seed, stream,
    layer, index, ...)."""
    k1, k2 = (int(v) for v in np.random.SeedSequence(list(entropy)).generate_state(2, np.uint32))
    return k1 | 1, k2


@numba.njit(nogil=True, cache=True)
def _mix(x):  # pragma: no cover - compiled
    """lowbias32: a bijective 32-bit integer hash (Wellons' "hash prospector" constants).

    Every intermediate is cast to uint32: Numba types ``uint32 ^ uint32`` as a 64-bit integer,
    and one 64-bit value in the chain stops LLVM from vectorizing the caller's loop."""
    x = np.uint32(x ^ (x >> np.uint32(16)))
    x = mul32(x, np.uint32(0x7FEB352D))
    x = np.uint32(x ^ (x >> np.uint32(15)))
    x = mul32(x, np.uint32(0x846CA68B))
    return np.uint32(x ^ (x >> np.uint32(16)))


@numba.njit(cache=True, nogil=True)
def _ternary_words(k1, k2, k, n, lo, hi, out):  # pragma: no cover - compiled
    """Fill ``out`` (1-D uint16, panel layout of ``packing.py``) with random 2-bit words. Word
    (g, c) of the plain layout uses hashes of ``(g * n + c) * 4 + j`` for ``j < 4``, each giving
    two 16-bit uniforms (inputs 8g + 2j and 8g + 2j + 1): digit ``1 + (u >= hi) - (u < lo)``.
    Inputs past ``k`` (padding) get the digit 1. (Counting here, in the same loop, made it 5x
    slower: :func:`_count_digits` counts afterwards.)"""
    rows = (k + 7) // 8
    m1 = np.uint32(k1)
    m2 = np.uint32(k2)
    ulo = np.uint32(lo)
    uhi = np.uint32(hi)
    mask = np.uint32(0xFFFF)
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        block = out[rows * p0 : rows * (p0 + w)].reshape((rows, w))
        for g in range(rows):
            word = block[g]
            start = np.uint32(4 * (g * n + p0))
            for i in range(w):
                base = np.uint32(start + np.uint32(4 * i))
                acc = np.uint32(0)
                for j in range(4):
                    h = _mix(np.uint32(mul32(np.uint32(base + np.uint32(j)), m1) + m2))
                    u0 = np.uint32(h & mask)
                    u1 = np.uint32(h >> np.uint32(16))
                    d0 = np.uint32(np.uint32(1) + np.uint32(u0 >= uhi) - np.uint32(u0 < ulo))
                    d1 = np.uint32(np.uint32(1) + np.uint32(u1 >= uhi) - np.uint32(u1 < ulo))
                    pair = np.uint32(d0 | (d1 << np.uint32(2)))
                    acc = np.uint32(acc | (pair << np.uint32(4 * j)))
                word[i] = np.uint16(acc)
            pad = 8 * g + 8 - k  # inputs past k in this group: digit 1
            if pad > 0:
                keep = np.uint32((1 << (2 * (8 - pad))) - 1)
                fill = np.uint32(0x5555) & ~keep
                for i in range(w):
                    word[i] = np.uint16((np.uint32(word[i]) & keep) | fill)


@numba.njit(cache=True, nogil=True)
def _popcount_even(x):  # pragma: no cover - compiled
    """Set bits of a uint32 whose bits are only at even positions 0..14."""
    x = np.uint32(x + (x >> np.uint32(2))) & np.uint32(0x3333)
    x = np.uint32(x + (x >> np.uint32(4))) & np.uint32(0x0F0F)
    return np.uint32(x + (x >> np.uint32(8))) & np.uint32(0x1F)


@numba.njit(cache=True, nogil=True)
def _count_digits(words):  # pragma: no cover - compiled
    """(plus, minus): digits 2 (+1 trits) and 0 (-1 trits) in 2-bit words. Digit ``d`` at bits
    ``2j`` is 2 when its high bit is set and its low bit clear, 0 when both are clear; padding
    digits are 1 and count as neither."""
    plus = 0
    minus = 0
    even = np.uint32(0x5555)
    for i in range(words.size):
        w = np.uint32(words[i])
        high = np.uint32(w >> np.uint32(1))
        plus += _popcount_even(np.uint32(high & ~w & even))
        minus += _popcount_even(np.uint32(~(w | high) & even))
    return plus, minus


def synthetic_ternary(key: tuple[int, int], k: int, n: int, binary: bool) -> PackedTernary:
    """A packed ``(K, N)`` matrix of random trits (binary: never 0) from ``key`` (module doc)."""
    rows = -(-k // 8)
    data = np.empty(rows * n, dtype=np.uint16)
    lo, hi = (32768, 32768) if binary else (_LO, 65536 - _LO)
    _ternary_words(key[0], key[1], k, n, lo, hi, data)
    plus, minus = _count_digits(data)
    data.flags.writeable = False
    return PackedTernary(data, (k, n), 2.0, int(plus), int(minus))


@numba.njit(cache=True, nogil=True)
def _irwin_hall(k1, k2, out):  # pragma: no cover - compiled
    """``out[i]`` = float16 bits of ``(sum of the four bytes of hash(i) - 510) / 8192`` (1-D
    uint16 ``out``). The value is exact in float32 and in float16 (a normal half: at most 9
    significant bits, magnitude from 2**-13 to 510 / 8192), so the half's bits are the
    float32's exponent rebiased from 127 to 15 and its mantissa cut to 10 bits."""
    m1 = np.uint32(k1)
    m2 = np.uint32(k2)
    byte = np.uint32(0xFF)
    for i in range(out.size):
        h = _mix(np.uint32(mul32(np.uint32(i), m1) + m2))
        s = np.int32(np.uint32(h & byte) + np.uint32((h >> np.uint32(8)) & byte))
        s = np.int32(s + np.int32((h >> np.uint32(16)) & byte) + np.int32(h >> np.uint32(24)))
        centred = np.int32(s - np.int32(510))  # int32: an int64 here made the conversion scalar
        f = float_bits(np.float32(centred) * np.float32(2.0**-13))
        exponent = np.uint32(np.uint32(f >> np.uint32(23)) & byte) - np.uint32(112)
        half = np.uint32(np.uint32(f >> np.uint32(16)) & np.uint32(0x8000))
        half |= np.uint32(exponent << np.uint32(10)) | np.uint32(
            np.uint32(f >> np.uint32(13)) & np.uint32(0x3FF)
        )
        out[i] = np.uint16(half if s != 510 else np.uint32(0))


def synthetic_table(key: tuple[int, int], rows: int, cols: int) -> np.ndarray:
    """A float16 ``(rows, cols)`` table of mean 0 and standard deviation :data:`TABLE_STD`
    (module doc); element ``i`` of the flat table uses counter ``i``."""
    table = np.empty((rows, cols), dtype=np.float16)
    if table.size:
        _irwin_hall(key[0], key[1], table.reshape(-1).view(np.uint16))
    return table
