"""Ternary GEMV/GEMM kernels against the NumPy oracle, bit for bit, with exact op counts."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import ScaleGranularity
from tersim.errors import WorkloadError
from tersim.functional import kernels
from tersim.functional.intrinsics import (
    HAS_AVX2,
    MADD_COLUMNS,
    MADD_MAX_PAIRS,
    MADD_ROWS,
    WORDS_MAX_GROUPS,
)
from tersim.functional.kernels import (
    _BLOCK_2BIT,
    _BLOCK_BASE3,
    _STATE_HEADER,
    PAIR_MIN_ROWS,
    OpCounts,
    pair_plan,
    plan,
    ternary_linear,
    ternary_matmul,
)
from tersim.functional.packing import PANEL_N, pack_ternary
from tersim.functional.quant import quantize_activations, quantize_ternary
from tersim.functional.reference import (
    reference_counts,
    reference_matmul,
    reference_ternary_matmul,
)
from tersim.functional.threads import KernelThreads

BPWS = [2, 1.6]


def random_trits(rng: np.random.Generator, k: int, n: int, zero_fraction: float) -> np.ndarray:
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, n))
    return np.where(rng.random((k, n)) < zero_fraction, 0, signs).astype(np.int8)


def random_activations(rng: np.random.Generator, m: int, k: int, kind: str) -> np.ndarray:
    if kind == "int8":
        return rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    if kind == "extreme":  # only the int8 extremes: the worst case for partial-sum overflow
        return rng.choice(np.array([-128, 127], dtype=np.int8), size=(m, k))
    if kind == "int4":  # 4-bit activations held in int8
        return rng.integers(-8, 8, size=(m, k)).astype(np.int8)
    raise AssertionError(kind)


def check(
    x: np.ndarray, trits: np.ndarray, bpw: float, threads: KernelThreads | None = None
) -> None:
    y, counts = ternary_matmul(x, pack_ternary(trits, bpw), threads)
    y_ref, counts_ref = reference_ternary_matmul(x, trits)
    assert y.dtype == np.int32
    assert y.shape == y_ref.shape
    np.testing.assert_array_equal(y.astype(np.int64), y_ref)
    assert counts == counts_ref
    m, k = x.shape
    assert counts.add + counts.sub + counts.skip == counts.total == m * k * trits.shape[1]


@settings(max_examples=80, derandomize=True, deadline=None)
@given(
    m=st.sampled_from([1, 2, 3, 7, 8, 9, 17]),
    k=st.integers(1, 67),
    n=st.integers(1, 45),
    zero_fraction=st.sampled_from([0.0, 0.35, 1.0]),
    kind=st.sampled_from(["int8", "extreme", "int4"]),
    bpw=st.sampled_from(BPWS),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_small_shapes(m, k, n, zero_fraction, kind, bpw, seed):
    rng = np.random.default_rng(seed)
    check(random_activations(rng, m, k, kind), random_trits(rng, k, n, zero_fraction), bpw)


@settings(max_examples=12, derandomize=True, deadline=None)
@given(
    m=st.sampled_from([1, 3, 9]),
    k=st.integers(100, 700),
    n=st.integers(PANEL_N - 40, PANEL_N + 300),
    kind=st.sampled_from(["int8", "extreme"]),
    bpw=st.sampled_from(BPWS),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_across_panels_and_blocks(m, k, n, kind, bpw, seed):
    """K past the int16 partial-sum blocks (120 and 125 inputs), N past one panel of outputs."""
    rng = np.random.default_rng(seed)
    check(random_activations(rng, m, k, kind), random_trits(rng, k, n, 0.3), bpw)


needs_avx2 = pytest.mark.skipif(not HAS_AVX2, reason="the byte-pair kernel needs AVX2")


@needs_avx2
@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    m=st.integers(PAIR_MIN_ROWS, 41),
    k=st.integers(1, 4 * MADD_MAX_PAIRS + 9),
    n=st.one_of(st.integers(1, 3 * MADD_COLUMNS + 5), st.just(PANEL_N + 33)),
    zero_fraction=st.sampled_from([0.0, 0.35, 1.0]),
    kind=st.sampled_from(["int8", "extreme", "int4"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_byte_pair_kernel_matches_reference(m, k, n, zero_fraction, kind, seed):
    """The AVX2 byte-pair GEMM (2-bit weights, >= PAIR_MIN_ROWS rows): odd K within and past
    its blocks of MADD_MAX_PAIRS pairs, N within and past 32-output vectors and a panel, rows
    not a multiple of MADD_ROWS."""
    rng = np.random.default_rng(seed)
    x = random_activations(rng, m, k, kind)
    trits = random_trits(rng, k, n, zero_fraction)
    assert kernels.uses_pairs(m, pack_ternary(trits, 2))
    check(x, trits, 2)


@needs_avx2
@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    m=st.integers(1, 7),
    k=st.integers(1, 8 * 2 * WORDS_MAX_GROUPS + 9),
    n=st.one_of(st.integers(1, 300), st.just(PANEL_N + 77)),
    zero_fraction=st.sampled_from([0.0, 0.35, 1.0]),
    kind=st.sampled_from(["int8", "extreme", "int4"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_word_pair_kernel_matches_reference(m, k, n, zero_fraction, kind, seed):
    """The AVX2 word-pair kernel (2-bit weights, < 8 rows): K within and past its blocks of
    WORDS_MAX_GROUPS groups, N through its 16-column vectors, its scalar remainder and a
    second panel."""
    rng = np.random.default_rng(seed)
    x = random_activations(rng, m, k, kind)
    trits = random_trits(rng, k, n, zero_fraction)
    assert kernels.uses_words(m, pack_ternary(trits, 2))
    check(x, trits, 2)


@pytest.mark.parametrize("m", [1, 3, 40])
def test_without_avx2_the_int16_kernels_run(monkeypatch: pytest.MonkeyPatch, m: int) -> None:
    rng = np.random.default_rng(12)
    trits = random_trits(rng, 131, 170, 0.3)
    packed = pack_ternary(trits, 2)
    monkeypatch.setattr(kernels, "HAS_AVX2", False)
    assert not kernels.uses_pairs(m, packed) and not kernels.uses_words(m, packed)
    check(random_activations(rng, m, 131, "extreme"), trits, 2)
    assert not kernels.uses_pairs(PAIR_MIN_ROWS, pack_ternary(trits, 1.6))


@needs_avx2
def test_unfinished_byte_pair_chunks_are_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As for the int16 kernel: chunks a stalled helper claimed are computed by _pair_finish."""
    rng = np.random.default_rng(13)
    m, k, n = 24, 300, 5 * MADD_COLUMNS + 3
    trits = random_trits(rng, k, n, 0.3)
    x = random_activations(rng, m, k, "int8")
    packed = pack_ternary(trits, 2)
    pairs = 4 * packed.rows
    wp = np.zeros((-(-n // MADD_COLUMNS), pairs, MADD_COLUMNS), np.uint16)
    kernels._pairs_2bit(packed.data, n, wp)
    xb = np.zeros((m, 2 * pairs), np.int8)
    xb[:, :k] = x
    monkeypatch.setattr(kernels, "PAIR_TILE_BYTES", 2 * pairs * MADD_COLUMNS)
    p = pair_plan(m, 2 * pairs, n, 1)
    assert p.chunks == -(-n // MADD_COLUMNS)  # one vector per tile here
    y = np.zeros((m, n), np.int32)
    state = np.zeros(_STATE_HEADER + p.chunks, dtype=np.int64)
    state[1], state[0] = p.chunks, 2  # chunks 0 and 1 claimed by a helper that stalled
    args = (wp.reshape(-1).view(np.uint8), xb.view("<i2"), x.sum(1, dtype=np.int64), y)
    kernels._pair_drain(*args, p.tile, p.rows_per_chunk, state)
    assert kernels._pair_finish(*args, p.tile, p.rows_per_chunk, state) == 2
    np.testing.assert_array_equal(y, reference_matmul(x, trits))


@pytest.mark.parametrize(
    ("m", "k", "n", "threads"),
    [(512, 3200, 8640, 1), (512, 8640, 3200, 2), (17, 300, 2100, 3), (16, 8, 1, 2)],
)
def test_pair_plan_covers_every_output_and_row(m, k, n, threads):
    k8 = -(-k // 8) * 8
    p = pair_plan(m, k8, n, threads)
    vectors = -(-n // MADD_COLUMNS)
    mpad = -(-m // MADD_ROWS) * MADD_ROWS
    covered = np.zeros((mpad, vectors), dtype=np.int64)
    row_blocks = -(-mpad // p.rows_per_chunk)
    for c in range(p.chunks):  # the chunk geometry of kernels._pair_chunk
        t, r0 = c // row_blocks, (c % row_blocks) * p.rows_per_chunk
        covered[r0 : r0 + p.rows_per_chunk, t * p.tile : (t + 1) * p.tile] += 1
    assert np.all(covered == 1)
    assert p.rows_per_chunk % MADD_ROWS == 0
    assert p.tile == 1 or p.tile * k8 * MADD_COLUMNS <= kernels.PAIR_TILE_BYTES
    if threads > 1 and m * k8 * n >= kernels.PARALLEL_MIN_WORK:
        assert p.threads == threads and p.chunks >= threads


@pytest.mark.parametrize("bpw", BPWS)
def test_one_by_one(bpw):
    for a in (-128, -1, 0, 1, 127):
        for t in (-1, 0, 1):
            x = np.array([[a]], dtype=np.int8)
            y, counts = ternary_matmul(x, pack_ternary(np.array([[t]], dtype=np.int8), bpw))
            assert y.tolist() == [[a * t]]
            assert counts == OpCounts(add=int(t == 1), sub=int(t == -1), skip=int(t == 0))


@pytest.mark.parametrize("bpw", BPWS)
@pytest.mark.parametrize(
    "k", [8 * _BLOCK_2BIT, 8 * _BLOCK_2BIT + 1, 5 * _BLOCK_BASE3, 2 * MADD_MAX_PAIRS + 1, 1001]
)
@pytest.mark.parametrize("m", [2, 8, PAIR_MIN_ROWS + 1])
def test_worst_case_accumulation_is_exact(bpw, k, m):
    """-128 (and 127) against -1 and +1 everywhere: the largest terms of a block, the largest
    digit sums (digit 2 for +1) and the most negative ones (``PAIR_MIN_ROWS + 1`` rows: the
    byte-pair kernel's blocks of ``MADD_MAX_PAIRS`` pairs at 2-bit)."""
    for a in (-128, 127):
        x = np.full((m, k), a, dtype=np.int8)
        for sign in (-1, 1):
            trits = np.full((k, 3), sign, dtype=np.int8)
            y, _ = ternary_matmul(x, pack_ternary(trits, bpw))
            assert np.all(y == a * sign * k)


@needs_avx2
@pytest.mark.parametrize("k", [8 * WORDS_MAX_GROUPS, 8 * WORDS_MAX_GROUPS * 2 + 3])
@pytest.mark.parametrize("m", [1, 7])
def test_word_pair_worst_case_in_every_lane(k, m):
    """The word-pair kernel's int16 sums at their largest: -128 and 127 against -1 and +1 in
    all 16 lanes of several vectors (N = 16 * 3 + 5: vectors and the scalar remainder), over
    a whole block of WORDS_MAX_GROUPS groups; the exact product is ``a * sign * K``."""
    for a in (-128, 127):
        x = np.full((m, k), a, dtype=np.int8)
        for sign in (-1, 1):
            packed = pack_ternary(np.full((k, 53), sign, dtype=np.int8), 2)
            assert kernels.uses_words(m, packed)
            y, _ = ternary_matmul(x, packed)
            assert np.all(y == a * sign * k)


@pytest.mark.parametrize("bpw", BPWS)
def test_all_zero_weights(bpw):
    rng = np.random.default_rng(0)
    x = random_activations(rng, 3, 37, "int8")
    y, counts = ternary_matmul(x, pack_ternary(np.zeros((37, 11), dtype=np.int8), bpw))
    assert np.all(y == 0)
    assert counts == OpCounts(add=0, sub=0, skip=3 * 37 * 11)


@pytest.mark.parametrize("bpw", BPWS)
def test_gemm_rows_equal_gemv(bpw):
    rng = np.random.default_rng(1)
    trits = random_trits(rng, 301, 517, 0.3)
    packed = pack_ternary(trits, bpw)
    x = random_activations(rng, 11, 301, "int8")  # one block of 8 rows, then 3 single rows
    y, _ = ternary_matmul(x, packed)
    for r in range(11):
        y_row, counts_row = ternary_matmul(x[r : r + 1], packed)
        np.testing.assert_array_equal(y_row[0], y[r])
        assert counts_row == reference_counts(1, trits)


def test_empty_dimensions():
    packed = pack_ternary(np.ones((5, 4), dtype=np.int8))
    y, counts = ternary_matmul(np.zeros((0, 5), dtype=np.int8), packed)
    assert y.shape == (0, 4)
    assert counts.total == 0
    y, counts = ternary_matmul(
        np.zeros((2, 0), dtype=np.int8), pack_ternary(np.zeros((0, 3), np.int8))
    )
    assert y.shape == (2, 3) and np.all(y == 0)


def test_accepts_non_contiguous_activations():
    rng = np.random.default_rng(2)
    x = random_activations(rng, 6, 40, "int8")[::2]
    trits = random_trits(rng, 40, 9, 0.3)
    check(x, trits, 2)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((1, 5), dtype=np.float32), "int8"),
        (np.zeros(5, dtype=np.int8), "2-D"),
        (np.zeros((1, 6), dtype=np.int8), "K=5"),
    ],
)
def test_bad_activations_name_x(x, match):
    with pytest.raises(WorkloadError, match=match):
        ternary_matmul(x, pack_ternary(np.zeros((5, 2), dtype=np.int8)))


@pytest.mark.parametrize("bpw", BPWS)
@pytest.mark.parametrize("m", [1, 20])
def test_every_thread_count_gives_the_same_result(bpw, m):
    """Shared matmuls (past PARALLEL_MIN_WORK) on 2 to 4 threads equal the oracle."""
    rng = np.random.default_rng(4)
    k, n = 2011, 2 * PANEL_N + 300
    if m == 20:
        k = 300
    trits = random_trits(rng, k, n, 0.3)
    packed = pack_ternary(trits, bpw)
    x = random_activations(rng, m, k, "extreme")
    assert m * k * n >= kernels.PARALLEL_MIN_WORK
    expected = reference_matmul(x, trits)
    for threads in range(1, 5):
        with KernelThreads(threads, idle_probe=lambda: None) as team:  # always share
            for _ in range(3):
                y, _ = ternary_matmul(x, packed, team)
                np.testing.assert_array_equal(y, expected)


def test_no_idle_core_no_sharing():
    """With every core taken (the probe says 0 idle) nothing is offered to the helpers."""
    with KernelThreads(2, idle_probe=lambda: 0) as busy, KernelThreads(2, lambda: 1) as free:
        assert busy.helpers_available() == 0 and free.helpers_available() == 1
        assert not busy.share(lambda: None, busy.helpers_available())
        rng = np.random.default_rng(9)
        trits = random_trits(rng, 2048, 3 * PANEL_N, 0.3)
        x = random_activations(rng, 1, 2048, "int8")
        y, _ = ternary_matmul(x, pack_ternary(trits, 2), busy)
        np.testing.assert_array_equal(y, reference_matmul(x, trits))
    with KernelThreads(3, idle_probe=lambda: 1) as team:
        assert team.helpers_available() == 1  # no more helpers than idle cores
    with KernelThreads(1) as single:
        assert single.helpers_available() == 0


def test_caller_never_waits_for_a_helper():
    """A helper that is stuck in another job (as on a core another process holds) leaves the
    caller to compute every chunk itself: the call returns, with the oracle's answer."""
    rng = np.random.default_rng(7)
    trits = random_trits(rng, 2048, 3 * PANEL_N, 0.3)
    packed = pack_ternary(trits, 2)
    x = random_activations(rng, 1, 2048, "int8")
    release = threading.Event()
    with KernelThreads(2) as team:
        assert team.share(lambda: release.wait(60))  # the only helper is now busy
        y, _ = ternary_matmul(x, packed, team)  # would hang if it waited for the helper
        release.set()
    np.testing.assert_array_equal(y, reference_matmul(x, trits))


@pytest.mark.parametrize("bpw", BPWS)
def test_unfinished_chunks_are_recomputed(bpw):
    """A chunk claimed by a helper that never reports it done is computed by _finish."""
    rng = np.random.default_rng(8)
    trits = random_trits(rng, 200, 2 * PANEL_N + 5, 0.3)
    packed = pack_ternary(trits, bpw)
    x = random_activations(rng, 1, 200, "int8")
    p = plan(1, 200, trits.shape[1], packed.rows, packed.data.itemsize, 4)
    b = kernels._coefficients(x, packed.rows, packed.trits_per_element)
    sx = x.sum(axis=1, dtype=np.int64)
    y = np.zeros((1, trits.shape[1]), np.int32)
    state = np.zeros(_STATE_HEADER + p.chunks, dtype=np.int64)
    state[1] = p.chunks
    state[0] = 2  # chunks 0 and 1 were claimed by a helper that stalled
    args = (packed.data, b, sx, y, p.tile, p.rows_per_chunk, state)
    kernels._drain(*args)
    assert np.all(state[_STATE_HEADER + 2 :] == 1) and np.all(
        state[_STATE_HEADER : _STATE_HEADER + 2] == 0
    )
    assert kernels._finish(*args) == 2
    np.testing.assert_array_equal(y, reference_matmul(x, trits))


@pytest.mark.parametrize(
    ("m", "k", "n", "threads"),
    [
        (1, 4096, 11008, 1),
        (1, 4096, 11008, 2),
        (1, 1536, 1536, 2),  # small: no sharing
        (1, 4096, 1536, 2),
        (1, 3, 5, 8),
        (512, 3200, 8640, 2),
        (13, 300, 2100, 3),
        (7, 4096, 4096, 2),
    ],
)
def test_plan_covers_every_output_and_row(m, k, n, threads):
    groups = -(-k // 8)
    p = plan(m, k, n, groups, 2, threads)
    covered = np.zeros((m, n), dtype=np.int64)
    for c in range(p.chunks):  # the chunk geometry of kernels._chunk
        row_blocks = -(-m // p.rows_per_chunk)
        per_panel = -(-min(PANEL_N, n) // p.tile)
        t = c // row_blocks
        p0 = (t // per_panel) * PANEL_N
        c0 = (t % per_panel) * p.tile
        c1 = min(min(PANEL_N, n - p0), c0 + p.tile)
        r0 = (c % row_blocks) * p.rows_per_chunk
        if c0 < c1:
            covered[r0 : r0 + p.rows_per_chunk, p0 + c0 : p0 + c1] += 1
    assert np.all(covered == 1)  # every output of every row exactly once
    assert p.tile <= PANEL_N and (p.tile % kernels.TILE_QUANTUM == 0 or p.tile == min(n, PANEL_N))
    if m * k * n < kernels.PARALLEL_MIN_WORK or threads == 1:
        assert p.threads == 1
    else:
        assert p.threads == threads
        assert p.chunks >= threads  # something to share
    if m > 1 and p.rows_per_chunk < m:
        assert p.rows_per_chunk % 8 == 0  # whole blocks of the 8-row kernel


def test_plan_of_a_single_thread_gemv_is_one_chunk_per_panel():
    assert plan(1, 4096, 11008, 512, 2, 1).chunks == -(-11008 // PANEL_N)
    assert plan(1, 4096, 11008, 512, 2, 1).tile == PANEL_N


@pytest.mark.parametrize("gran", [ScaleGranularity.TENSOR, ScaleGranularity.COLUMN])
@pytest.mark.parametrize("bits", [8, 4])
def test_ternary_linear_is_quantize_matmul_rescale(gran, bits):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((70, 33)) * 0.05
    x = rng.standard_normal((3, 70)).astype(np.float32)
    weights = quantize_ternary(w, gran)
    y, counts = ternary_linear(x, weights, pack_ternary(weights.trits, 1.6), bits)
    act = quantize_activations(x, bits)
    expected = (
        reference_matmul(act.values, weights.trits)
        * act.scale.astype(np.float64)
        * weights.scale.astype(np.float64)
    )
    assert y.dtype == np.float32 and y.shape == (3, 33)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
    assert counts == reference_counts(3, weights.trits)
    # and it approximates the float layer on the dequantized weights
    err = np.abs(y - x @ weights.dequantize())
    assert np.max(err) < 0.2 * np.max(np.abs(x @ weights.dequantize()))


def test_ternary_linear_rejects_input_side_scales():
    weights = quantize_ternary(np.ones((8, 4)), ScaleGranularity.ROW)
    with pytest.raises(WorkloadError, match="granularity"):
        ternary_linear(np.ones((1, 8)), weights)
    weights = quantize_ternary(np.ones((8, 4)))
    with pytest.raises(WorkloadError, match="packed"):
        ternary_linear(np.ones((1, 8)), weights, pack_ternary(np.ones((4, 8), np.int8)))
