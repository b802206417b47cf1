"""Ternary GEMV/GEMM kernels against the NumPy oracle, bit for bit, with exact op counts."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import ScaleGranularity
from tersim.errors import WorkloadError
from tersim.functional.kernels import (
    _MAX_TERMS,
    _MAX_TILE_N,
    OpCounts,
    _Plan,
    _plan,
    ternary_linear,
    ternary_matmul,
)
from tersim.functional.packing import pack_ternary
from tersim.functional.quant import quantize_activations, quantize_ternary
from tersim.functional.reference import (
    reference_counts,
    reference_matmul,
    reference_ternary_matmul,
)

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


def check(x: np.ndarray, trits: np.ndarray, bpw: float) -> None:
    y, counts = ternary_matmul(x, pack_ternary(trits, bpw))
    y_ref, counts_ref = reference_ternary_matmul(x, trits)
    assert y.dtype == np.int32
    assert y.shape == y_ref.shape
    np.testing.assert_array_equal(y.astype(np.int64), y_ref)
    assert counts == counts_ref
    m, k = x.shape
    assert counts.add + counts.sub + counts.skip == counts.total == m * k * trits.shape[1]


@settings(max_examples=80, derandomize=True, deadline=None)
@given(
    m=st.integers(1, 4),
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
    m=st.sampled_from([1, 3]),
    k=st.integers(240, 1300),
    n=st.integers(250, 600),
    kind=st.sampled_from(["int8", "extreme"]),
    bpw=st.sampled_from(BPWS),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_across_tiles_and_blocks(m, k, n, kind, bpw, seed):
    """K past the int16 partial-sum block (252 inputs), N past one 256-output tile."""
    rng = np.random.default_rng(seed)
    check(random_activations(rng, m, k, kind), random_trits(rng, k, n, 0.3), bpw)


@pytest.mark.parametrize("bpw", BPWS)
def test_one_by_one(bpw):
    for a in (-128, -1, 0, 1, 127):
        for t in (-1, 0, 1):
            x = np.array([[a]], dtype=np.int8)
            y, counts = ternary_matmul(x, pack_ternary(np.array([[t]], dtype=np.int8), bpw))
            assert y.tolist() == [[a * t]]
            assert counts == OpCounts(add=int(t == 1), sub=int(t == -1), skip=int(t == 0))


@pytest.mark.parametrize("bpw", BPWS)
@pytest.mark.parametrize("k", [252, 253, 1001])
def test_worst_case_accumulation_is_exact(bpw, k):
    """-128 against -1 everywhere: each term is +128, the largest; likewise -128 against +1."""
    x = np.full((2, k), -128, dtype=np.int8)
    for sign in (-1, 1):
        trits = np.full((k, 3), sign, dtype=np.int8)
        y, _ = ternary_matmul(x, pack_ternary(trits, bpw))
        assert np.all(y == -128 * sign * k)


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
    x = random_activations(rng, 5, 301, "int8")
    y, _ = ternary_matmul(x, packed)
    for r in range(5):
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
def test_every_thread_count_gives_the_same_result(bpw):
    """The GEMV splits K across threads; each split count must give the oracle's answer."""
    rng = np.random.default_rng(4)
    trits = random_trits(rng, 1111, 300, 0.3)
    packed = pack_ternary(trits, bpw)
    x = random_activations(rng, 1, 1111, "extreme")
    expected = reference_matmul(x, trits)
    before = numba.get_num_threads()
    try:
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(threads)
            y, _ = ternary_matmul(x, packed)
            np.testing.assert_array_equal(y, expected)
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("bpw", BPWS)
def test_more_outputs_than_one_tile(bpw):
    rng = np.random.default_rng(5)
    n = _MAX_TILE_N + 77
    for m in (1, 2):
        check(random_activations(rng, m, 9, "int8"), random_trits(rng, 9, n, 0.3), bpw)


@pytest.mark.parametrize(
    ("groups", "n", "rows", "tpb", "threads"),
    [
        (1024, 4096, 1, 4, 2),
        (820, 11008, 1, 5, 2),
        (3, 5, 1, 4, 8),
        (1024, 40000, 1, 4, 2),
        (1024, 4096, 7, 4, 2),
        (1000, 64, 1, 4, 3),
    ],
)
def test_plan_covers_every_group_and_output(groups, n, rows, tpb, threads):
    plan = _plan(groups, n, rows, tpb, threads)
    block = _MAX_TERMS // tpb
    assert plan.gchunk % block == 0  # slabs start on int16-block boundaries
    assert (plan.splits - 1) * plan.gchunk < groups <= plan.splits * plan.gchunk
    assert plan.tile % 64 == 0 and plan.tile <= _MAX_TILE_N
    assert plan.tile * -(-n // plan.tile) >= n
    if rows > 1:
        assert plan.splits == 1


def test_plan_splits_k_for_a_gemv_on_two_threads():
    assert _plan(1024, 4096, 1, 4, 2) == _Plan(tile=4096, splits=2, gchunk=9 * 63)


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
