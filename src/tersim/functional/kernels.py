"""Ternary GEMV / GEMM on packed weights, exact in integers.

``ternary_matmul(x, packed)`` computes ``y = x @ w`` exactly, for int8 activations ``x`` of shape
``(M, K)`` (4-bit activations are int8 values in [-8, 7]) and a packed ternary weight matrix
``w`` of shape ``(K, N)`` (see ``packing.py``). It returns ``y`` as int32 and the
:class:`OpCounts` of the ternary adder array the computation models. ``ternary_linear`` wraps it
into a BitNet linear layer on float activations (quantize, integer matmul, rescale).

How the kernel works
--------------------
The packing stores digits ``d = w + 1`` in {0, 1, 2}, so ``x @ w = x @ d - sum(x)``: the kernel
computes ``sum_k x_k d_k`` and subtracts the row sum of ``x`` once per output.

2-bit packing: one 16-bit word holds the digits of eight consecutive inputs ``k = 8g .. 8g+7``
of one output, at bits ``2j``. With ``q_j = word >> 2j`` (a shift, no mask) the digit is
``d_j = q_j - 4 q_{j+1}``, so the word's contribution telescopes to

    sum_j x_{8g+j} d_j = sum_j b_j q_j,   b_0 = x_{8g},  b_j = x_{8g+j} - 4 x_{8g+j-1},

with the eight coefficients ``b_j`` computed once per input group (they depend on ``x`` only).
The inner loop over outputs is then one shift, one 16-bit multiply and one add per weight digit,
no branches, which LLVM compiles to SIMD code: 16 outputs per AVX2 instruction, 27 instructions
per 128 weights (8 ``vpmullw``, 7 ``vpsrlw``, 8 ``vpaddw``, loads and stores). The products
``b_j q_j`` overflow 16 bits, but every partial sum is kept modulo 2**16 (two's-complement
wrap-around is exact modular arithmetic), and the true sum of a block of ``_BLOCK_2BIT`` = 15
words is at most ``15 * 8 * 2 * 128 = 30720 < 2**15`` in magnitude, so the wrapped int16 sum *is*
the true one. Blocks are widened and summed in int32. Base-3 packing works the same way with
``q_j = byte // 3**j`` (computed as ``(q_{j-1} * 171) >> 9``, exact below 768) and ``b_j = x_j -
3 x_{j-1}``, in blocks of ``_BLOCK_BASE3`` = 25 bytes (``25 * 5 * 2 * 128 = 32000``).

The int32 result is exact for ``K <= MAX_K = (2**31 - 1) // 128`` (``|y| <= 128 K``); the int32
accumulator of ``x @ d`` may wrap on the way for such K, which modular arithmetic again makes
harmless.

Word pairs (GEMV and small GEMMs on AVX2)
-----------------------------------------
Fewer than 8 rows of 2-bit weights run, where the CPU has AVX2, on ``vpmaddubsw`` applied to
the packed words themselves: ``(word >> 2j) & 0x0303`` holds, in each 16-bit lane, digit ``j``
(input ``8g + j``) in its low byte and digit ``j + 4`` (input ``8g + 4 + j``) in its high
byte, so with the two inputs paired the same way (``_prepare_words``) one instruction sums
both products for 16 outputs: per 16 outputs and 8 inputs, 3 shifts, 4 masks, 4
``vpmaddubsw`` and 4 adds, against 7 shifts, 8 ``vpmullw`` and 8 adds above.
``intrinsics.madd_words_row`` does this for one group across a tile of outputs, reading the
group's words left to right, so that a GEMV streams each panel in memory order, with int16
accumulators in L1 widened every ``WORDS_MAX_GROUPS = 15`` groups (``15 * 4 * 512 = 30720 <
2**15``) and the words 4 KiB ahead prefetched. An earlier kernel kept 128 accumulators in
registers and walked 15 groups (rows of the panel 2 KiB apart) per call; on the 168 GEMVs of
a BitNet b1.58 700M decode step (162 MiB, from DRAM) it took 12.8 ms best (13.2 GB/s) against
9.6 ms (17.6 GB/s) here, interleaved in one run on the loaded 2-core machine (the read
bandwidth of NumPy's sum is 15-18 GB/s there). Chunks have the geometry of :func:`plan`.

Byte pairs (GEMM on AVX2)
------------------------
A product of at least ``PAIR_MIN_ROWS`` rows on 2-bit weights, on a CPU with AVX2, runs on
another kernel: the words are unpacked once per call into one byte per digit, two inputs
``2i, 2i + 1`` of one output per 16-bit lane (``_pairs_2bit``, about K * N bytes, 11 ms for a
3200 x 8640 matrix), and the activations are paired the same way (input ``2i`` in the low byte).
AVX2's ``vpmaddubsw`` multiplies 32 unsigned bytes (the digits 0..2) by 32 signed bytes (the
inputs) and adds adjacent products into 16 int16 lanes, so one instruction does 32
multiply-accumulates where the telescoped kernel's ``vpmullw`` does 16
(``intrinsics.madd_u8s8_4x32``: 4 rows by 32 outputs, 8 accumulators in registers). A lane's
pair sum is at most ``2 * 2 * 128 = 512`` in magnitude (never saturated), and a block of
``MADD_MAX_PAIRS = 63`` pairs at most ``32256 < 2**15``, so the int16 sums are exact; blocks are
widened and summed in int32, and ``sum(x)`` is subtracted as above. Chunks are tiles of whole
32-output vectors whose unpacked bytes fit ``PAIR_TILE_BYTES`` (reused from L2 for every block
of rows) times row blocks. A 512 x 3200 x 8640 product, one thread, took 0.19 s of CPU (median)
against 0.30 s on the int16 kernel and 0.34 s in NumPy's float32 ``sgemm`` (which is exact here
too, ``|sum| <= 128 K < 2**24``, but no faster), interleaved on the 2-core machine at load 5
(``benchmarks/bench_gemv.py --gemm-only``); on a quieter machine 0.16 against 0.29 s, 0.12 s
of it in the byte-pair loop. Base-3 weights and GEMVs keep the int16 kernel.

A 256-entry lookup table of partial sums per group of four activations (T-MAC / bitnet.cpp
"TL" style) also uses only additions, but in Numba a table lookup per byte becomes a scalar
gather; an earlier kernel of that kind measured about 2.5x slower than the masked-add kernel
this one replaced, which took 3.0 ms for a warm 4096 x 11008 GEMV on one thread where this one
takes 0.85 ms (``benchmarks/bench_gemv.py``, the same 2-core Zen 3 machine).

Threads
-------
Work is cut into chunks (a tile of outputs for a block of rows) that write disjoint parts of
``y``; see ``threads.py`` for how they are shared without ever waiting for a helper. A call runs
on the caller alone when ``threads`` is None or single, when the matmul has fewer than
``PARALLEL_MIN_WORK`` weight-activation pairs (waking a helper costs tens of microseconds), or
when no core is idle for a helper (``KernelThreads.helpers_available``). Otherwise there are
about ``CHUNKS_PER_THREAD`` chunks per thread, claimed dynamically.

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
from tersim.functional.intrinsics import (
    HAS_AVX2,
    MADD_COLUMNS,
    MADD_MAX_PAIRS,
    MADD_ROWS,
    WORDS_MAX_GROUPS,
    atomic_add,
    atomic_load,
    atomic_store,
    madd_u8s8_4x32,
    madd_words_row,
    prefetch,
)
from tersim.functional.packing import PANEL_N, PackedTernary, pack_ternary
from tersim.functional.quant import TernaryWeights, quantize_activations
from tersim.functional.threads import KernelThreads

#: 2-bit words summed in int16 before widening: 15 * 8 inputs * 2 * 128 = 30720 < 2**15.
_BLOCK_2BIT = 15
#: Base-3 bytes summed in int16 before widening: 25 * 5 inputs * 2 * 128 = 32000 < 2**15.
_BLOCK_BASE3 = 25
#: Outputs per tile are a multiple of this (whole SIMD vectors).
TILE_QUANTUM = 64
#: A GEMM tile's packed weights are kept within this many bytes (reused from L2 per row).
GEMM_TILE_BYTES = 512 << 10
#: Matmuls with fewer weight-activation pairs (M * K * N) than this run on the caller alone.
PARALLEL_MIN_WORK = 4 << 20
#: Chunks per thread of a shared matmul (dynamic scheduling evens out a slow thread).
CHUNKS_PER_THREAD = 8
#: The tile kernels prefetch the weights about this many bytes ahead of the row they read.
PREFETCH_BYTES = 8192
#: The word-pair GEMV prefetches this many words (4 KiB) ahead of the words it reads.
_WORDS_AHEAD = 2048
#: Largest K for which the int32 result cannot overflow (|x| <= 128 per term).
MAX_K = (2**31 - 1) // 128
#: GEMMs of 2-bit weights with at least this many rows run on the byte-pair kernel (AVX2).
PAIR_MIN_ROWS = 16
#: A byte-pair chunk's weights are kept within this many bytes (reused from L2 per row block).
PAIR_TILE_BYTES = 256 << 10
# Header of a chunk-state array: [next chunk to claim, number of chunks]; done flags follow.
_STATE_HEADER = 2


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
# Tile kernels: rows of activations against columns c0:c1 of one panel, all input groups.
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _tile_2bit(block, b, c0, c1, acc16, acc32):  # pragma: no cover - compiled
    """``acc32[:c1 - c0] = sum_k x_k d_k`` over all inputs, for columns ``c0:c1`` of a panel
    (mod 2**32).

    ``block``: the panel's uint16 words (groups, width); ``b``: int16 coefficients
    (8 * groups) of one row (see the module docstring); ``acc16``, ``acc32``: scratch of at
    least ``c1 - c0`` elements.
    """
    groups = block.shape[0]
    width = c1 - c0
    ahead = max(1, PREFETCH_BYTES // (2 * width))
    for i in range(width):
        acc32[i] = 0
    for g0 in range(0, groups, _BLOCK_2BIT):
        for i in range(width):
            acc16[i] = 0
        for g in range(g0, min(groups, g0 + _BLOCK_2BIT)):
            for j in range(c0, c1, 32):  # 64-byte lines, ``ahead`` rows on
                prefetch(block, g + ahead, j)
            k = 8 * g
            b0 = b[k]
            b1 = b[k + 1]
            b2 = b[k + 2]
            b3 = b[k + 3]
            b4 = b[k + 4]
            b5 = b[k + 5]
            b6 = b[k + 6]
            b7 = b[k + 7]
            row = block[g, c0:c1]
            for i in range(width):
                c = row[i]
                s = acc16[i]
                s = np.int16(s + b0 * np.int16(c))
                s = np.int16(s + b1 * np.int16(c >> 2))
                s = np.int16(s + b2 * np.int16(c >> 4))
                s = np.int16(s + b3 * np.int16(c >> 6))
                s = np.int16(s + b4 * np.int16(c >> 8))
                s = np.int16(s + b5 * np.int16(c >> 10))
                s = np.int16(s + b6 * np.int16(c >> 12))
                s = np.int16(s + b7 * np.int16(c >> 14))
                acc16[i] = s
        for i in range(width):
            acc32[i] += acc16[i]


@numba.njit(cache=True, nogil=True)
def _tile8_2bit(block, b, r0, c0, c1, acc16, acc32):  # pragma: no cover - compiled
    """:func:`_tile_2bit` for the eight rows ``r0 .. r0 + 7`` of ``b`` at once (GEMM): each
    word is loaded and shifted once for eight rows. ``acc16``, ``acc32``: (8, >= c1 - c0).
    """
    groups = block.shape[0]
    width = c1 - c0
    ahead = max(1, PREFETCH_BYTES // (2 * width))
    acc32[:, :width] = 0
    for g0 in range(0, groups, _BLOCK_2BIT):
        acc16[:, :width] = 0
        for g in range(g0, min(groups, g0 + _BLOCK_2BIT)):
            for j in range(c0, c1, 32):
                prefetch(block, g + ahead, j)
            k = 8 * g
            row = block[g, c0:c1]
            a0 = acc16[0]
            a1 = acc16[1]
            a2 = acc16[2]
            a3 = acc16[3]
            a4 = acc16[4]
            a5 = acc16[5]
            a6 = acc16[6]
            a7 = acc16[7]
            p00 = b[r0 + 0, k + 0]
            p01 = b[r0 + 0, k + 1]
            p02 = b[r0 + 0, k + 2]
            p03 = b[r0 + 0, k + 3]
            p04 = b[r0 + 0, k + 4]
            p05 = b[r0 + 0, k + 5]
            p06 = b[r0 + 0, k + 6]
            p07 = b[r0 + 0, k + 7]
            p10 = b[r0 + 1, k + 0]
            p11 = b[r0 + 1, k + 1]
            p12 = b[r0 + 1, k + 2]
            p13 = b[r0 + 1, k + 3]
            p14 = b[r0 + 1, k + 4]
            p15 = b[r0 + 1, k + 5]
            p16 = b[r0 + 1, k + 6]
            p17 = b[r0 + 1, k + 7]
            p20 = b[r0 + 2, k + 0]
            p21 = b[r0 + 2, k + 1]
            p22 = b[r0 + 2, k + 2]
            p23 = b[r0 + 2, k + 3]
            p24 = b[r0 + 2, k + 4]
            p25 = b[r0 + 2, k + 5]
            p26 = b[r0 + 2, k + 6]
            p27 = b[r0 + 2, k + 7]
            p30 = b[r0 + 3, k + 0]
            p31 = b[r0 + 3, k + 1]
            p32 = b[r0 + 3, k + 2]
            p33 = b[r0 + 3, k + 3]
            p34 = b[r0 + 3, k + 4]
            p35 = b[r0 + 3, k + 5]
            p36 = b[r0 + 3, k + 6]
            p37 = b[r0 + 3, k + 7]
            p40 = b[r0 + 4, k + 0]
            p41 = b[r0 + 4, k + 1]
            p42 = b[r0 + 4, k + 2]
            p43 = b[r0 + 4, k + 3]
            p44 = b[r0 + 4, k + 4]
            p45 = b[r0 + 4, k + 5]
            p46 = b[r0 + 4, k + 6]
            p47 = b[r0 + 4, k + 7]
            p50 = b[r0 + 5, k + 0]
            p51 = b[r0 + 5, k + 1]
            p52 = b[r0 + 5, k + 2]
            p53 = b[r0 + 5, k + 3]
            p54 = b[r0 + 5, k + 4]
            p55 = b[r0 + 5, k + 5]
            p56 = b[r0 + 5, k + 6]
            p57 = b[r0 + 5, k + 7]
            p60 = b[r0 + 6, k + 0]
            p61 = b[r0 + 6, k + 1]
            p62 = b[r0 + 6, k + 2]
            p63 = b[r0 + 6, k + 3]
            p64 = b[r0 + 6, k + 4]
            p65 = b[r0 + 6, k + 5]
            p66 = b[r0 + 6, k + 6]
            p67 = b[r0 + 6, k + 7]
            p70 = b[r0 + 7, k + 0]
            p71 = b[r0 + 7, k + 1]
            p72 = b[r0 + 7, k + 2]
            p73 = b[r0 + 7, k + 3]
            p74 = b[r0 + 7, k + 4]
            p75 = b[r0 + 7, k + 5]
            p76 = b[r0 + 7, k + 6]
            p77 = b[r0 + 7, k + 7]
            for i in range(width):
                c = row[i]
                q0 = np.int16(c)
                q1 = np.int16(c >> 2)
                q2 = np.int16(c >> 4)
                q3 = np.int16(c >> 6)
                q4 = np.int16(c >> 8)
                q5 = np.int16(c >> 10)
                q6 = np.int16(c >> 12)
                q7 = np.int16(c >> 14)
                a0[i] = np.int16(
                    a0[i]
                    + p00 * q0
                    + p01 * q1
                    + p02 * q2
                    + p03 * q3
                    + p04 * q4
                    + p05 * q5
                    + p06 * q6
                    + p07 * q7
                )
                a1[i] = np.int16(
                    a1[i]
                    + p10 * q0
                    + p11 * q1
                    + p12 * q2
                    + p13 * q3
                    + p14 * q4
                    + p15 * q5
                    + p16 * q6
                    + p17 * q7
                )
                a2[i] = np.int16(
                    a2[i]
                    + p20 * q0
                    + p21 * q1
                    + p22 * q2
                    + p23 * q3
                    + p24 * q4
                    + p25 * q5
                    + p26 * q6
                    + p27 * q7
                )
                a3[i] = np.int16(
                    a3[i]
                    + p30 * q0
                    + p31 * q1
                    + p32 * q2
                    + p33 * q3
                    + p34 * q4
                    + p35 * q5
                    + p36 * q6
                    + p37 * q7
                )
                a4[i] = np.int16(
                    a4[i]
                    + p40 * q0
                    + p41 * q1
                    + p42 * q2
                    + p43 * q3
                    + p44 * q4
                    + p45 * q5
                    + p46 * q6
                    + p47 * q7
                )
                a5[i] = np.int16(
                    a5[i]
                    + p50 * q0
                    + p51 * q1
                    + p52 * q2
                    + p53 * q3
                    + p54 * q4
                    + p55 * q5
                    + p56 * q6
                    + p57 * q7
                )
                a6[i] = np.int16(
                    a6[i]
                    + p60 * q0
                    + p61 * q1
                    + p62 * q2
                    + p63 * q3
                    + p64 * q4
                    + p65 * q5
                    + p66 * q6
                    + p67 * q7
                )
                a7[i] = np.int16(
                    a7[i]
                    + p70 * q0
                    + p71 * q1
                    + p72 * q2
                    + p73 * q3
                    + p74 * q4
                    + p75 * q5
                    + p76 * q6
                    + p77 * q7
                )
        for r in range(8):
            for i in range(width):
                acc32[r, i] += acc16[r, i]


@numba.njit(cache=True, nogil=True)
def _tile_base3(block, b, c0, c1, acc16, acc32):  # pragma: no cover - compiled
    """As :func:`_tile_2bit` for a panel of base-3 bytes (groups, width) and coefficients
    (5 * groups).

    ``q_0`` is the byte, ``q_{j+1} = q_j // 3 = (q_j * 171) >> 9`` (exact for ``q_j < 768``),
    written as the high half of ``q_j * (171 << 7)`` so that it compiles to one ``vpmulhuw``.
    """
    groups = block.shape[0]
    width = c1 - c0
    ahead = max(1, PREFETCH_BYTES // width)
    for i in range(width):
        acc32[i] = 0
    for g0 in range(0, groups, _BLOCK_BASE3):
        for i in range(width):
            acc16[i] = 0
        for g in range(g0, min(groups, g0 + _BLOCK_BASE3)):
            for j in range(c0, c1, 64):
                prefetch(block, g + ahead, j)
            k = 5 * g
            b0 = b[k]
            b1 = b[k + 1]
            b2 = b[k + 2]
            b3 = b[k + 3]
            b4 = b[k + 4]
            row = block[g, c0:c1]
            for i in range(width):
                q = np.uint16(row[i])
                s = acc16[i]
                s = np.int16(s + b0 * np.int16(q))
                q = np.uint16((np.uint32(q) * np.uint32(21888)) >> 16)
                s = np.int16(s + b1 * np.int16(q))
                q = np.uint16((np.uint32(q) * np.uint32(21888)) >> 16)
                s = np.int16(s + b2 * np.int16(q))
                q = np.uint16((np.uint32(q) * np.uint32(21888)) >> 16)
                s = np.int16(s + b3 * np.int16(q))
                q = np.uint16((np.uint32(q) * np.uint32(21888)) >> 16)
                s = np.int16(s + b4 * np.int16(q))
                acc16[i] = s
        for i in range(width):
            acc32[i] += acc16[i]


# --------------------------------------------------------------------------------------------
# Chunks: chunk c is tile c // row_blocks (tile t: panel t // tiles_per_panel, part
# t % tiles_per_panel of it), row block c % row_blocks.
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _geometry(m, n, tile, rows_per_chunk, c):  # pragma: no cover - compiled
    """Chunk ``c``'s panel start ``p0`` and width, its columns ``c0:c1`` of the panel and its
    rows ``r0:r1`` (``c0 >= c1``: an empty tile past a narrow last panel)."""
    row_blocks = (m + rows_per_chunk - 1) // rows_per_chunk
    per_panel = (min(PANEL_N, n) + tile - 1) // tile
    t = c // row_blocks
    p0 = (t // per_panel) * PANEL_N
    width = min(PANEL_N, n - p0)
    c0 = (t % per_panel) * tile
    c1 = min(width, c0 + tile)
    r0 = (c - t * row_blocks) * rows_per_chunk
    return p0, width, c0, c1, r0, min(m, r0 + rows_per_chunk)


@numba.njit(cache=True, nogil=True)
def _chunk(data, b, sx, y, tile, rows_per_chunk, c, acc16, acc32):  # pragma: no cover
    """``y[rows, outputs of chunk c] = x @ d - sum(x)`` for one chunk."""
    n = y.shape[1]
    groups = data.shape[0] // n
    p0, width, c0, c1, r, r1 = _geometry(y.shape[0], n, tile, rows_per_chunk, c)
    if c0 >= c1:
        return
    block = data[groups * p0 : groups * (p0 + width)].reshape((groups, width))
    if data.itemsize == 2:
        while r + 8 <= r1:
            _tile8_2bit(block, b, r, c0, c1, acc16, acc32)
            for j in range(8):
                yr = y[r + j]
                s = np.int32(sx[r + j])
                for i in range(c1 - c0):
                    yr[p0 + c0 + i] = acc32[j, i] - s
            r += 8
    while r < r1:
        if data.itemsize == 2:
            _tile_2bit(block, b[r], c0, c1, acc16[0], acc32[0])
        else:
            _tile_base3(block, b[r], c0, c1, acc16[0], acc32[0])
        yr = y[r]
        s = np.int32(sx[r])
        for i in range(c1 - c0):
            yr[p0 + c0 + i] = acc32[0, i] - s
        r += 1


@numba.njit(cache=True, nogil=True)
def _drain(data, b, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """Claim and compute chunks until none are left; mark each one done (``state``: see
    ``_STATE_HEADER``). Safe to run on several threads at once."""
    acc16 = np.empty((8, tile), np.int16)
    acc32 = np.empty((8, tile), np.int32)
    chunks = state[1]
    while True:
        c = atomic_add(state, 0, 1)
        if c >= chunks:
            return
        _chunk(data, b, sx, y, tile, rows_per_chunk, c, acc16, acc32)
        atomic_store(state, _STATE_HEADER + c, 1)


@numba.njit(cache=True, nogil=True)
def _finish(data, b, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """Compute every chunk not yet marked done (claimed by a helper still at work); returns
    how many."""
    acc16 = np.empty((8, tile), np.int16)
    acc32 = np.empty((8, tile), np.int32)
    redone = 0
    for c in range(state[1]):
        if atomic_load(state, _STATE_HEADER + c) == 0:
            _chunk(data, b, sx, y, tile, rows_per_chunk, c, acc16, acc32)
            redone += 1
    return redone


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How one matmul is cut into chunks: tiles of ``tile`` columns within each panel of
    ``PANEL_N`` outputs, times blocks of ``rows_per_chunk`` rows, run by up to ``threads``
    threads. ``chunks = panels * tiles_per_panel * row_blocks``."""

    tile: int
    rows_per_chunk: int
    chunks: int
    threads: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan(m: int, k: int, n: int, groups: int, element_bytes: int, threads: int) -> Plan:
    """The chunking of an ``(M, K) @ (K, N)`` matmul for up to ``threads`` threads.

    - Fewer than ``PARALLEL_MIN_WORK`` pairs, or one thread: one thread.
    - A GEMV (M = 1) takes whole panels on one thread; shared, each panel is cut into tiles
      (whole ``TILE_QUANTUM``s) so that there are about ``CHUNKS_PER_THREAD`` per thread.
    - A GEMM takes tiles whose packed weights fit ``GEMM_TILE_BYTES`` (reused from cache for
      every row), and cuts M into row blocks (multiples of 8, the rows the GEMM kernel runs at
      once) when it needs more chunks for its threads.
    """
    use = threads if threads > 1 and m * k * n >= PARALLEL_MIN_WORK else 1
    target = CHUNKS_PER_THREAD * use if use > 1 else 1
    span = min(PANEL_N, n)  # width of a full panel
    panels = _ceil_div(n, PANEL_N)
    if m <= 1:
        per_panel = min(_ceil_div(target, panels), _ceil_div(span, TILE_QUANTUM))
        tile = _ceil_div(_ceil_div(span, per_panel), TILE_QUANTUM) * TILE_QUANTUM
        tile = min(tile, span)
        return Plan(tile, 1, panels * _ceil_div(span, tile), use)
    fit = GEMM_TILE_BYTES // max(1, groups * element_bytes)
    tile = min(span, max(TILE_QUANTUM, fit // TILE_QUANTUM * TILE_QUANTUM))
    tiles = panels * _ceil_div(span, tile)
    row_blocks = max(1, min(_ceil_div(m, 8), _ceil_div(target, tiles)))
    rows = _ceil_div(_ceil_div(m, row_blocks), 8) * 8
    return Plan(tile, rows, tiles * _ceil_div(m, rows), use)


# --------------------------------------------------------------------------------------------
# Word pairs (GEMV and small GEMMs on AVX2): ``vpmaddubsw`` on the packed words. Module
# docstring, "Word pairs".
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _prepare_words(x, xq, sx):  # pragma: no cover - compiled
    """The int16 input pairs ``xq`` (M, 4 * groups) of int8 ``x`` (M, K): ``xq[r, 4g + j]`` has
    input ``8g + j`` in its low byte and ``8g + 4 + j`` in its high byte (0 past K); and the
    row sums ``sx``."""
    m, k = x.shape
    for r in range(m):
        row = x[r]
        out = xq[r]
        total = 0
        for i in range(out.size):
            g, j = i // 4, i % 4
            lo = 8 * g + j
            a = np.int16(row[lo]) if lo < k else np.int16(0)
            h = np.int16(row[lo + 4]) if lo + 4 < k else np.int16(0)
            out[i] = np.int16((a & 0xFF) | (h << 8))
            total += a + h
        sx[r] = total


@numba.njit(cache=True, nogil=True)
def _tile_words(data, base, width, groups, xq, c0, c1, acc16, acc32):  # pragma: no cover
    """``acc32[:c1 - c0] = sum_k x_k d_k`` for columns ``c0:c1`` (``c0 < c1``) of the panel of
    ``width`` outputs whose words start at ``data[base]``, one row of input pairs ``xq``: each
    group's words left to right, 16 columns at a time (``madd_words_row``, int16 sums in
    ``acc16`` over blocks of ``WORDS_MAX_GROUPS`` groups), the last few in scalar code."""
    acc32[: c1 - c0] = 0
    vectors = (c1 - c0) // 16
    narrow = c0 + 16 * vectors
    for g0 in range(0, groups, WORDS_MAX_GROUPS):
        acc16[: 16 * vectors] = 0
        for g in range(g0, min(groups, g0 + WORDS_MAX_GROUPS)):
            madd_words_row(data, base + g * width + c0, vectors, xq, 4 * g, acc16, _WORDS_AHEAD)
        for i in range(16 * vectors):
            acc32[i] += acc16[i]
    for i in range(narrow, c1):
        total = 0
        for g in range(groups):
            word = np.int64(data[base + g * width + i])
            for j in range(4):
                q = np.int64(xq[4 * g + j])
                lo = np.int64(np.int8(q & 0xFF))
                total += ((word >> (2 * j)) & 3) * lo + ((word >> (2 * j + 8)) & 3) * (q >> 8)
        acc32[i - c0] = total


@numba.njit(cache=True, nogil=True)
def _words_drain(data, xq, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """:func:`_drain` for the word-pair kernel (one row at a time)."""
    n = y.shape[1]
    groups = data.shape[0] // n
    acc16 = np.empty(tile, np.int16)
    acc = np.empty(tile, np.int32)
    while True:
        c = atomic_add(state, 0, 1)
        if c >= state[1]:
            return
        _words_chunk(data, xq, sx, y, tile, rows_per_chunk, c, groups, acc16, acc)
        atomic_store(state, _STATE_HEADER + c, 1)


@numba.njit(cache=True, nogil=True)
def _words_chunk(data, xq, sx, y, tile, rows_per_chunk, c, groups, acc16, acc):  # pragma: no cover
    """One chunk (``kernels.plan`` geometry) of the word-pair kernel."""
    p0, width, c0, c1, r0, r1 = _geometry(y.shape[0], y.shape[1], tile, rows_per_chunk, c)
    if c0 >= c1:
        return
    for r in range(r0, r1):
        _tile_words(data, groups * p0, width, groups, xq[r], c0, c1, acc16, acc)
        s = np.int32(sx[r])
        yr = y[r]
        for i in range(c1 - c0):
            yr[p0 + c0 + i] = acc[i] - s


@numba.njit(cache=True, nogil=True)
def _words_finish(data, xq, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """:func:`_finish` for the word-pair kernel."""
    groups = data.shape[0] // y.shape[1]
    acc16 = np.empty(tile, np.int16)
    acc = np.empty(tile, np.int32)
    redone = 0
    for c in range(state[1]):
        if atomic_load(state, _STATE_HEADER + c) == 0:
            _words_chunk(data, xq, sx, y, tile, rows_per_chunk, c, groups, acc16, acc)
            redone += 1
    return redone


def uses_words(m: int, packed: PackedTernary) -> bool:
    """Whether :func:`ternary_matmul` runs an ``m``-row product on the word-pair kernel: 2-bit
    weights, fewer than 8 rows (8 and more: the 8-row int16 kernel or the byte pairs), AVX2."""
    return HAS_AVX2 and packed.bits_per_weight == 2.0 and m < 8


# --------------------------------------------------------------------------------------------
# The byte-pair GEMM (AVX2 ``vpmaddubsw``): weights unpacked to one byte per digit, two inputs
# per 16-bit lane. Module docstring, "Byte pairs".
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _pairs_2bit(data, n, out):  # pragma: no cover - compiled
    """Unpack 2-bit panel words (1-D ``data``, N outputs) into byte pairs: ``out`` uint16
    (ceil(N / 32), 4 * groups, 32), zeroed; lane ``l`` of ``out[v, i]`` holds the digit of input
    ``2i`` (low byte) and of input ``2i + 1`` (high byte) of output ``32 v + l``."""
    rows = data.shape[0] // n
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        block = data[rows * p0 : rows * (p0 + w)].reshape((rows, w))
        for g in range(rows):
            word = block[g]
            for q in range(4):
                shift = 4 * q
                i = 4 * g + q
                for c0 in range(0, w, MADD_COLUMNS):
                    dst = out[(p0 + c0) // MADD_COLUMNS, i]
                    for lane in range(min(MADD_COLUMNS, w - c0)):
                        t = word[c0 + lane] >> shift
                        dst[lane] = (t & 3) | ((t & 12) << 6)


@numba.njit(cache=True, nogil=True)
def _pair_chunk(wp, xp, sx, y, tile, rows_per_chunk, c, acc):  # pragma: no cover - compiled
    """``y[rows, outputs of chunk c] = x @ d - sum(x)`` for one chunk of the byte-pair GEMM:
    ``tile`` vectors of 32 outputs by ``rows_per_chunk`` rows (a multiple of MADD_ROWS).
    ``wp``: the pairs of :func:`_pairs_2bit` as flat bytes; ``xp``: int16 (rows padded to a
    multiple of MADD_ROWS, pairs) input pairs; ``acc``: int32 (MADD_ROWS, MADD_COLUMNS)."""
    m, n = y.shape
    mpad, pairs = xp.shape
    vectors = (n + MADD_COLUMNS - 1) // MADD_COLUMNS
    row_blocks = (mpad + rows_per_chunk - 1) // rows_per_chunk
    t = c // row_blocks
    r0 = (c - t * row_blocks) * rows_per_chunk
    xf = xp.reshape(-1)
    for r in range(r0, min(mpad, r0 + rows_per_chunk), MADD_ROWS):
        for v in range(t * tile, min(vectors, (t + 1) * tile)):
            acc[:] = 0
            for i0 in range(0, pairs, MADD_MAX_PAIRS):
                step = min(MADD_MAX_PAIRS, pairs - i0)
                madd_u8s8_4x32(wp, 64 * (v * pairs + i0), xf, r * pairs + i0, pairs, step, acc)
            col = v * MADD_COLUMNS
            for j in range(min(MADD_ROWS, m - r)):
                s = np.int32(sx[r + j])
                yr = y[r + j]
                for lane in range(min(MADD_COLUMNS, n - col)):
                    yr[col + lane] = acc[j, lane] - s


@numba.njit(cache=True, nogil=True)
def _pair_drain(wp, xp, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """:func:`_drain` for the byte-pair GEMM."""
    acc = np.empty((MADD_ROWS, MADD_COLUMNS), np.int32)
    while True:
        c = atomic_add(state, 0, 1)
        if c >= state[1]:
            return
        _pair_chunk(wp, xp, sx, y, tile, rows_per_chunk, c, acc)
        atomic_store(state, _STATE_HEADER + c, 1)


@numba.njit(cache=True, nogil=True)
def _pair_finish(wp, xp, sx, y, tile, rows_per_chunk, state):  # pragma: no cover - compiled
    """:func:`_finish` for the byte-pair GEMM."""
    acc = np.empty((MADD_ROWS, MADD_COLUMNS), np.int32)
    redone = 0
    for c in range(state[1]):
        if atomic_load(state, _STATE_HEADER + c) == 0:
            _pair_chunk(wp, xp, sx, y, tile, rows_per_chunk, c, acc)
            redone += 1
    return redone


def pair_plan(m: int, k8: int, n: int, threads: int) -> Plan:
    """The chunking of a byte-pair GEMM of ``m`` rows, ``k8`` (padded) inputs and ``n``
    outputs: tiles of whole 32-output vectors whose unpacked weights (``k8`` bytes per output)
    fit ``PAIR_TILE_BYTES``, times blocks of rows (multiples of MADD_ROWS) when the threads
    need more chunks. ``tile`` counts vectors."""
    use = threads if threads > 1 and m * k8 * n >= PARALLEL_MIN_WORK else 1
    target = CHUNKS_PER_THREAD * use if use > 1 else 1
    vectors = _ceil_div(n, MADD_COLUMNS)
    tile = min(vectors, max(1, PAIR_TILE_BYTES // max(1, k8 * MADD_COLUMNS)))
    tiles = _ceil_div(vectors, tile)
    mpad = _ceil_div(m, MADD_ROWS) * MADD_ROWS
    row_blocks = max(1, min(mpad // MADD_ROWS, _ceil_div(target, tiles)))
    rows = _ceil_div(_ceil_div(mpad, row_blocks), MADD_ROWS) * MADD_ROWS
    return Plan(tile, rows, tiles * _ceil_div(mpad, rows), use)


def uses_pairs(m: int, packed: PackedTernary) -> bool:
    """Whether :func:`ternary_matmul` runs an ``m``-row product on the byte-pair kernel:
    2-bit weights, at least ``PAIR_MIN_ROWS`` rows, and a CPU with AVX2."""
    return HAS_AVX2 and packed.bits_per_weight == 2.0 and m >= PAIR_MIN_ROWS


def _pair_matmul(
    xa: np.ndarray, packed: PackedTernary, y: np.ndarray, team: int, threads: KernelThreads | None
) -> np.ndarray:
    """``y = x @ w`` on the byte-pair kernel (``uses_pairs``); returns ``y`` or a private copy
    (as :func:`ternary_matmul`)."""
    m, k = xa.shape
    n = packed.shape[1]
    pairs = 4 * packed.rows
    wp = np.zeros((_ceil_div(n, MADD_COLUMNS), pairs, MADD_COLUMNS), np.uint16)
    _pairs_2bit(packed.data, n, wp)
    mpad = _ceil_div(m, MADD_ROWS) * MADD_ROWS
    xb = np.zeros((mpad, 2 * pairs), np.int8)  # (rows, inputs) padded with zeros
    xb[:m, :k] = xa
    xp = xb.view("<i2")  # (mpad, pairs): input 2i in the low byte, 2i + 1 in the high byte
    sx = xa.sum(axis=1, dtype=np.int64)  # (M,)
    p = pair_plan(m, 2 * pairs, n, team)
    state = np.zeros(_STATE_HEADER + p.chunks, dtype=np.int64)
    state[1] = p.chunks
    args = (wp.reshape(-1).view(np.uint8), xp, sx, y, p.tile, p.rows_per_chunk, state)
    if p.threads > 1 and threads is not None:
        threads.share(lambda: _pair_drain(*args), p.threads - 1)
    _pair_drain(*args)
    if p.threads > 1 and _pair_finish(*args):
        return y.copy()
    return y


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _prepare(x, tpe, b, sx):  # pragma: no cover - compiled
    """The int16 coefficients ``b`` (M, groups * tpe) of each row of int8 ``x`` (module
    docstring: ``b_j = x_j - base * x_{j-1}`` within a group of ``tpe`` inputs, ``b_0 = x_0``,
    base 4 for 2-bit words and 3 for base-3 bytes; padding 0) and the row sums ``sx``."""
    m, k = x.shape
    base = 4 if tpe == 8 else 3
    for r in range(m):
        row = x[r]
        out = b[r]
        total = 0
        for i in range(out.size):
            v = np.int16(row[i]) if i < k else np.int16(0)
            prev = np.int16(row[i - 1]) if 0 < i <= k else np.int16(0)
            out[i] = v if i % tpe == 0 else np.int16(v - base * prev)
            total += v
        sx[r] = total


def _coefficients(xa: np.ndarray, groups: int, tpe: int) -> np.ndarray:
    """The ``b`` coefficients of :func:`_prepare` as an (M, groups * tpe) int16 array."""
    b = np.empty((xa.shape[0], groups * tpe), dtype=np.int16)
    _prepare(np.ascontiguousarray(xa), tpe, b, np.empty(xa.shape[0], dtype=np.int64))
    return b


def ternary_matmul(
    x: np.ndarray, packed: PackedTernary, threads: KernelThreads | None = None
) -> tuple[np.ndarray, OpCounts]:
    """Exact ``y = x @ w`` for int8 activations and packed ternary weights.

    Args:
        x: int8 activations, shape ``(M, K)`` (8-bit values, or 4-bit values held in int8).
        packed: the ``(K, N)`` weight matrix from :func:`~tersim.functional.packing.pack_ternary`,
            2-bit or 1.6-bit.
        threads: helper threads to share a large matmul with (see the module docstring);
            None runs on the caller alone.

    Returns:
        ``(y, counts)``: ``y`` is int32 of shape ``(M, N)``, equal to the integer product;
        ``counts`` are the adds, subtracts and skipped zero weights of the ternary adder array
        (see the module docstring).

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
    team = 1
    if threads is not None and m * k * n >= PARALLEL_MIN_WORK:
        team = 1 + threads.helpers_available()  # only helpers with an idle core (threads.py)
    if uses_pairs(m, packed):
        return _pair_matmul(np.ascontiguousarray(xa), packed, y, team, threads), counts
    data = packed.data
    sx = np.empty(m, dtype=np.int64)  # (M,) row sums
    words = uses_words(m, packed)
    if words:
        b = np.empty((m, packed.rows * 4), dtype=np.int16)  # input pairs
        _prepare_words(np.ascontiguousarray(xa), b, sx)
        drain, finish = _words_drain, _words_finish
    else:
        b = np.empty((m, packed.rows * packed.trits_per_element), dtype=np.int16)
        _prepare(np.ascontiguousarray(xa), packed.trits_per_element, b, sx)
        drain, finish = _drain, _finish
    p = plan(m, k, n, packed.rows, data.itemsize, team)
    state = np.zeros(_STATE_HEADER + p.chunks, dtype=np.int64)
    state[1] = p.chunks
    args = (data, b, sx, y, p.tile, p.rows_per_chunk, state)
    if p.threads > 1 and threads is not None:
        threads.share(lambda: drain(*args), p.threads - 1)
    drain(*args)
    if p.threads > 1 and finish(*args):
        return y.copy(), counts  # a helper still writes into y: hand back a private copy
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
    y = acc * (act.scale.astype(np.float64) * weights.scale.astype(np.float64))
    return y.astype(np.float32), counts
