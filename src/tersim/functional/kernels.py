"""Ternary GEMV / GEMM on packed weights, with additions and subtractions only.

``ternary_matmul(x, packed)`` computes ``y = x @ w`` exactly in integers, for int8 activations
``x`` of shape ``(M, K)`` (4-bit activations are int8 values in [-8, 7]) and a packed ternary
weight matrix ``w`` of shape ``(K, N)`` (see ``packing.py``). It returns ``y`` as int32 and the
:class:`OpCounts` of the ternary adder array the computation models. ``ternary_linear`` wraps it
into a BitNet linear layer on float activations (quantize, integer matmul, rescale).

How the kernel works (bit-sliced masked accumulation)
-----------------------------------------------------
The packed layout puts one group of ``t`` inputs (t = 4 or 5) for all ``N`` outputs in one row
``data[g, :]``. For each input group the kernel broadcasts the group's ``t`` activations and
streams a tile of that row (up to ``_MAX_TILE_N`` outputs); for each trit of each byte it *adds*
the activation to that output's partial sum when the trit is +1, *subtracts* it when the trit
is -1 and leaves the sum alone when the trit is 0 (a skipped zero weight). There is no
multiplication anywhere: a trit is decoded with a shift (2-bit packing: the trit's "+1" or "-1"
bit is shifted into the sign bit of a byte) or by compare-and-subtract of its place value from the balanced-ternary
value of the byte (base-3 packing), and applied as a masked add or subtract.

Written this way the inner loop over outputs has no branches, and LLVM compiles it to SIMD
code: with AVX-512, 32 outputs per instruction in 16-bit lanes, one ``vptestmb`` and one masked
``vpaddw``/``vpsubw`` per weight bit, about 20 instructions per 128 weights for 2-bit packing.
Base-3 decoding costs more instructions per weight (about 2x the time of 2-bit packing).
Partial sums are kept in int16 for at most ``_MAX_TERMS`` = 252 inputs (``|sum| <= 128 * 252
= 32256 < 2**15``, so they cannot overflow even for activations of -128 against -1 weights),
then widened and added into int32 accumulators. The int32 result is exact for
``K <= MAX_K = (2**31 - 1) // 128``.

Parallel work (``prange``, see ``_plan``): a GEMV splits ``K`` into one contiguous slab of
packed rows per thread (whole int16 blocks), so each thread streams a contiguous part of the
weights, and sums the slabs' int32 partial results at the end; a GEMM (``M > 1``) runs
(tile, row) work items, tile-major, so a worker reuses a tile's packed weights from cache.

A 256-entry lookup table of partial sums per group of four activations (T-MAC / bitnet.cpp
style) also uses only additions, but in Numba a table lookup per byte becomes a gather; it
measured about 2.5x slower than this kernel on the 2-core AVX-512 (Zen 5) machine it was tuned
on.

Counting
--------
The counts are a function of the weights only: every +1 weight costs one addition and every -1
weight one subtraction per row of ``x``, and every 0 weight is one skipped accumulation. They
are taken from the counts stored in :class:`~tersim.functional.packing.PackedTernary` at pack
time and scaled by ``M``; the hot loop never counts. They describe the ternary adder array
being modelled (one accumulation per weight and token), not the CPU instructions the SIMD
kernel happens to issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tersim.config.enums import ScaleGranularity
from tersim.errors import WorkloadError
from tersim.functional.packing import PackedTernary, pack_ternary
from tersim.functional.quant import TernaryWeights, quantize_activations

#: Most outputs per tile: its int16 partial sums (2 bytes per output) stay in L1.
_MAX_TILE_N = 16384
#: Most inputs summed in an int16 partial sum before it is widened to int32 (see module doc).
_MAX_TERMS = 252
#: Largest K for which the int32 result cannot overflow (|x| <= 128 per term).
MAX_K = (2**31 - 1) // 128


@dataclass(frozen=True)
class OpCounts:
    """Accumulations of a ternary matmul, summed over all rows of ``x``.

    Attributes:
        add: accumulations of a +1 weight (one addition each).
        sub: accumulations of a -1 weight (one subtraction each).
        skip: zero weights, skipped (no arithmetic).

    ``add + sub + skip == M * K * N``.
    """

    add: int
    sub: int
    skip: int

    @property
    def total(self) -> int:
        """All weight-activation pairs, ``M * K * N``."""
        return self.add + self.sub + self.skip

    @property
    def arithmetic(self) -> int:
        """Additions plus subtractions actually performed."""
        return self.add + self.sub


def op_counts(packed: PackedTernary, rows: int) -> OpCounts:
    """Op counts of multiplying ``rows`` activation vectors by ``packed``."""
    if rows < 0:
        raise WorkloadError(f"rows: must be >= 0; got {rows}")
    return OpCounts(
        add=rows * packed.plus_count,
        sub=rows * packed.minus_count,
        skip=rows * packed.zero_count,
    )


# --------------------------------------------------------------------------------------------
# Tile kernels: one row of activations against outputs n0:n1. Not parallel themselves.
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _tile_2bit(data, xrow, g_lo, g_hi, n0, n1, acc16, acc32, yrow):  # pragma: no cover - compiled
    """``yrow[n0:n1]`` = the contribution of input groups ``g_lo:g_hi`` (2-bit packing).

    ``xrow``: int16 activations padded to ``4 * groups``; ``g_lo`` is a multiple of the int16
    block; ``acc16``/``acc32``: scratch of at least ``n1 - n0`` elements.
    """
    width = n1 - n0
    block = _MAX_TERMS // 4
    zero = np.int16(0)
    for i in range(width):
        acc32[i] = 0
    for g0 in range(g_lo, g_hi, block):
        for i in range(width):
            acc16[i] = 0
        for g in range(g0, min(g_hi, g0 + block)):
            k = g << 2
            a0 = xrow[k]
            a1 = xrow[k + 1]
            a2 = xrow[k + 2]
            a3 = xrow[k + 3]
            row = data[g, n0:n1]
            for i in range(width):
                c = row[i]
                s = acc16[i]
                # Bit 2j marks +1, bit 2j+1 marks -1; shifting it into bit 7 makes the byte
                # negative exactly when the bit is set.
                s = np.int16(s + (a0 if np.int8(c << 7) < 0 else zero))
                s = np.int16(s - (a0 if np.int8(c << 6) < 0 else zero))
                s = np.int16(s + (a1 if np.int8(c << 5) < 0 else zero))
                s = np.int16(s - (a1 if np.int8(c << 4) < 0 else zero))
                s = np.int16(s + (a2 if np.int8(c << 3) < 0 else zero))
                s = np.int16(s - (a2 if np.int8(c << 2) < 0 else zero))
                s = np.int16(s + (a3 if np.int8(c << 1) < 0 else zero))
                s = np.int16(s - (a3 if np.int8(c) < 0 else zero))
                acc16[i] = s
        for i in range(width):
            acc32[i] += acc16[i]
    for i in range(width):
        yrow[n0 + i] = acc32[i]


@numba.njit(cache=True, nogil=True)
def _tile_base3(data, xrow, g_lo, g_hi, n0, n1, acc16, acc32, yrow):  # pragma: no cover
    """``yrow[n0:n1]`` = the contribution of input groups ``g_lo:g_hi`` (base-3 packing).

    ``xrow``: int16 activations padded to ``5 * groups``; otherwise as :func:`_tile_2bit`.

    A byte minus 121 is the group's balanced-ternary value ``u = sum_j w_j 3**j`` (int8).
    Trits are peeled from the most significant (place 81, input 5g+4) down: the lower digits
    sum to at most ``(3**j - 1) / 2`` in magnitude, so ``w_j = +1`` exactly when
    ``u >= (3**j + 1) / 2`` and ``-1`` when ``u <= -(3**j + 1) / 2``; the place value is then
    subtracted from (or added to) ``u`` under the same mask used to add (or subtract) the
    activation.
    """
    width = n1 - n0
    block = _MAX_TERMS // 5
    zero = np.int16(0)
    z8 = np.int8(0)
    for i in range(width):
        acc32[i] = 0
    for g0 in range(g_lo, g_hi, block):
        for i in range(width):
            acc16[i] = 0
        for g in range(g0, min(g_hi, g0 + block)):
            k = g + (g << 2)  # 5 g
            a0 = xrow[k]
            a1 = xrow[k + 1]
            a2 = xrow[k + 2]
            a3 = xrow[k + 3]
            a4 = xrow[k + 4]
            row = data[g, n0:n1]
            for i in range(width):
                u = np.int8(row[i] - np.uint8(121))
                s = acc16[i]
                # place 81: the lower four trits sum to at most 40
                plus = u >= np.int8(41)
                minus = u <= np.int8(-41)
                s = np.int16(s + (a4 if plus else zero))
                s = np.int16(s - (a4 if minus else zero))
                u = np.int8(u - (np.int8(81) if plus else z8))
                u = np.int8(u + (np.int8(81) if minus else z8))
                # place 27: the lower three sum to at most 13
                plus = u >= np.int8(14)
                minus = u <= np.int8(-14)
                s = np.int16(s + (a3 if plus else zero))
                s = np.int16(s - (a3 if minus else zero))
                u = np.int8(u - (np.int8(27) if plus else z8))
                u = np.int8(u + (np.int8(27) if minus else z8))
                # place 9: the lower two sum to at most 4
                plus = u >= np.int8(5)
                minus = u <= np.int8(-5)
                s = np.int16(s + (a2 if plus else zero))
                s = np.int16(s - (a2 if minus else zero))
                u = np.int8(u - (np.int8(9) if plus else z8))
                u = np.int8(u + (np.int8(9) if minus else z8))
                # place 3: the last trit is at most 1
                plus = u >= np.int8(2)
                minus = u <= np.int8(-2)
                s = np.int16(s + (a1 if plus else zero))
                s = np.int16(s - (a1 if minus else zero))
                u = np.int8(u - (np.int8(3) if plus else z8))
                u = np.int8(u + (np.int8(3) if minus else z8))
                # place 1: u is now the last trit
                s = np.int16(s + (a0 if u > z8 else zero))
                s = np.int16(s - (a0 if u < z8 else zero))
                acc16[i] = s
        for i in range(width):
            acc32[i] += acc16[i]
    for i in range(width):
        yrow[n0 + i] = acc32[i]


# --------------------------------------------------------------------------------------------
# Parallel drivers
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, parallel=True)
def _gemv_2bit(data, xrow, ypart, tile, gchunk):  # pragma: no cover - compiled
    """``ypart[s] = x[groups of split s] @ w[...]``: work items are (K split, N tile) pairs,
    split-major, so each thread streams one contiguous slab of the packed rows."""
    groups, n = data.shape
    tiles = (n + tile - 1) // tile
    splits = ypart.shape[0]
    for item in numba.prange(splits * tiles):
        sp = item // tiles
        t = item - sp * tiles
        acc16 = np.empty(tile, np.int16)
        acc32 = np.empty(tile, np.int32)
        g_lo = sp * gchunk
        n0 = t * tile
        _tile_2bit(
            data,
            xrow,
            g_lo,
            min(groups, g_lo + gchunk),
            n0,
            min(n, n0 + tile),
            acc16,
            acc32,
            ypart[sp],
        )


@numba.njit(cache=True, parallel=True)
def _gemv_base3(data, xrow, ypart, tile, gchunk):  # pragma: no cover - compiled
    """As :func:`_gemv_2bit`, for base-3 packing."""
    groups, n = data.shape
    tiles = (n + tile - 1) // tile
    splits = ypart.shape[0]
    for item in numba.prange(splits * tiles):
        sp = item // tiles
        t = item - sp * tiles
        acc16 = np.empty(tile, np.int16)
        acc32 = np.empty(tile, np.int32)
        g_lo = sp * gchunk
        n0 = t * tile
        _tile_base3(
            data,
            xrow,
            g_lo,
            min(groups, g_lo + gchunk),
            n0,
            min(n, n0 + tile),
            acc16,
            acc32,
            ypart[sp],
        )


@numba.njit(cache=True, parallel=True)
def _gemm_2bit(data, x16, y, tile):  # pragma: no cover - compiled
    """``y = x16 @ w``: work items are (N tile, row) pairs, tile-major, so a worker's
    consecutive items reuse one tile of packed weights."""
    groups, n = data.shape
    m = x16.shape[0]
    tiles = (n + tile - 1) // tile
    for item in numba.prange(tiles * m):
        t = item // m
        r = item - t * m
        acc16 = np.empty(tile, np.int16)
        acc32 = np.empty(tile, np.int32)
        n0 = t * tile
        _tile_2bit(data, x16[r], 0, groups, n0, min(n, n0 + tile), acc16, acc32, y[r])


@numba.njit(cache=True, parallel=True)
def _gemm_base3(data, x16, y, tile):  # pragma: no cover - compiled
    """As :func:`_gemm_2bit`, for base-3 packing."""
    groups, n = data.shape
    m = x16.shape[0]
    tiles = (n + tile - 1) // tile
    for item in numba.prange(tiles * m):
        t = item // m
        r = item - t * m
        acc16 = np.empty(tile, np.int16)
        acc32 = np.empty(tile, np.int32)
        n0 = t * tile
        _tile_base3(data, x16[r], 0, groups, n0, min(n, n0 + tile), acc16, acc32, y[r])


@dataclass(frozen=True)
class _Plan:
    """How a matmul is cut into parallel work: N tiles of ``tile`` outputs, and (GEMV only)
    ``splits`` slabs of ``gchunk`` input groups each."""

    tile: int
    splits: int
    gchunk: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _plan(groups: int, n: int, rows: int, trits_per_byte: int, threads: int) -> _Plan:
    """Balanced tiles of at most ``_MAX_TILE_N`` outputs (multiples of 64). A GEMV with fewer
    tiles than threads also splits K into contiguous slabs (whole int16 blocks), one per
    thread, so each thread streams one contiguous part of the packed weights; the slabs'
    partial results are summed at the end."""
    tiles = max(1, _ceil_div(n, _MAX_TILE_N))
    tile = max(64, _ceil_div(_ceil_div(n, tiles), 64) * 64)
    block = _MAX_TERMS // trits_per_byte
    blocks = max(1, _ceil_div(groups, block))
    splits = 1
    if rows == 1 and tiles < threads:
        splits = min(blocks, _ceil_div(threads, tiles))
    gchunk = _ceil_div(blocks, splits) * block
    splits = max(1, _ceil_div(groups, gchunk))
    return _Plan(tile=tile, splits=splits, gchunk=gchunk)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def ternary_matmul(x: np.ndarray, packed: PackedTernary) -> tuple[np.ndarray, OpCounts]:
    """Exact ``y = x @ w`` for int8 activations and packed ternary weights.

    Args:
        x: int8 activations, shape ``(M, K)`` (8-bit values, or 4-bit values held in int8).
        packed: the ``(K, N)`` weight matrix from :func:`~tersim.functional.packing.pack_ternary`,
            2-bit or 1.6-bit.

    Returns:
        ``(y, counts)``: ``y`` is int32 of shape ``(M, N)``, equal to the integer product;
        ``counts`` are the adds, subtracts and skipped zero weights of the ternary adder array
        (see the module docstring). ``M == 1`` runs the GEMV kernel, ``M > 1`` the GEMM kernel.

    Raises:
        WorkloadError: ``x`` is not a 2-D int8 array with ``K`` columns, or ``K`` is so large
            that an int32 result could overflow.
    """
    xa = np.asarray(x)
    k, n = packed.shape
    if xa.ndim != 2:
        raise WorkloadError(f"x: must be a 2-D (M, K) array; got {xa.ndim} dimensions")
    if xa.dtype != np.int8:
        raise WorkloadError(f"x: must be int8 (quantize activations first); got dtype {xa.dtype}")
    if xa.shape[1] != k:
        raise WorkloadError(f"x: has {xa.shape[1]} columns but the weights have K={k} rows")
    if k > MAX_K:
        raise WorkloadError(f"packed: K={k} exceeds {MAX_K}, where int32 results could overflow")
    m = xa.shape[0]
    counts = op_counts(packed, m)
    y = np.zeros((m, n), dtype=np.int32)
    if m == 0 or n == 0 or k == 0:
        return y, counts
    groups = packed.data.shape[0]
    x16 = np.zeros((m, groups * packed.trits_per_byte), dtype=np.int16)
    x16[:, :k] = xa
    data = packed.data
    plan = _plan(groups, n, m, packed.trits_per_byte, numba.get_num_threads())
    two_bit = packed.bits_per_weight == 2.0
    if m == 1:
        ypart = np.zeros((plan.splits, n), dtype=np.int32)
        gemv = _gemv_2bit if two_bit else _gemv_base3
        gemv(data, x16[0], ypart, plan.tile, plan.gchunk)
        y[0] = ypart[0] if plan.splits == 1 else ypart.sum(axis=0, dtype=np.int32)
    else:
        (_gemm_2bit if two_bit else _gemm_base3)(data, x16, y, plan.tile)
    return y, counts


def ternary_linear(
    x: np.ndarray,
    weights: TernaryWeights,
    packed: PackedTernary | None = None,
    activation_bits: int = 8,
) -> tuple[np.ndarray, OpCounts]:
    """A BitNet b1.58 linear layer on float activations: quantize, integer matmul, rescale.

    ``x`` (M, K) is quantized per token to ``activation_bits`` (absmax), multiplied exactly by
    the ternary weights with :func:`ternary_matmul`, and rescaled:
    ``y = (x~ @ W~) * act_scale * gamma``, float32 of shape (M, N).

    Args:
        x: float activations, shape (M, K).
        weights: ternary weights with ``TENSOR`` or ``COLUMN`` (per output) scales, the ones
            that can be applied after the integer sum over K.
        packed: ``weights.trits`` already packed (2 or 1.6 bits); packed at 2 bits if None.
        activation_bits: 8, or 4 for BitNet a4.8-style inputs.

    Raises:
        WorkloadError: the scale granularity cannot be applied after the sum, or ``packed``
            does not hold ``weights``' shape.
    """
    if weights.granularity not in (ScaleGranularity.TENSOR, ScaleGranularity.COLUMN):
        raise WorkloadError(
            f"weights: granularity {weights.granularity.value!r} scales inputs, so it cannot be "
            "applied after the integer sum over K; use 'tensor' or 'column'"
        )
    if packed is None:
        packed = pack_ternary(weights.trits)
    elif packed.shape != weights.shape:
        raise WorkloadError(
            f"packed: holds a {packed.shape} matrix but weights are {weights.shape}"
        )
    act = quantize_activations(np.asarray(x), activation_bits)
    if act.values.ndim != 2:
        raise WorkloadError(f"x: must be a 2-D (M, K) array; got {act.values.ndim} dimensions")
    acc, counts = ternary_matmul(act.values, packed)
    y = acc * act.scale.astype(np.float64) * weights.scale.astype(np.float64)
    return y.astype(np.float32), counts
