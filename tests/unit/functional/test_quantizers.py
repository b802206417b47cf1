"""Quantizers: value sets, scale shapes, analytic zero fraction, error bounds, storage bytes."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import ScaleGranularity, WeightFormat
from tersim.errors import WorkloadError
from tersim.functional.quant import (
    EPS,
    FP4_E2M1_CODEBOOK,
    NF4_CODEBOOK,
    quantize_4bit,
    quantize_activations,
    quantize_binary,
    quantize_int8,
    quantize_ternary,
)

G = ScaleGranularity


def scale_shape(gran: ScaleGranularity, k: int, n: int, group_size: int | None):
    return {
        G.TENSOR: (1, 1),
        G.ROW: (k, 1),
        G.COLUMN: (1, n),
        G.GROUP: (-(-k // (group_size or 1)), n),
    }[gran]


def slow_absmean(w: np.ndarray, gran: ScaleGranularity, group_size: int | None) -> np.ndarray:
    """Per-scale mean |w|, by loops over the scale's elements."""
    k, n = w.shape
    out = np.zeros(scale_shape(gran, k, n, group_size))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if gran is G.TENSOR:
                block = w
            elif gran is G.ROW:
                block = w[i, :]
            elif gran is G.COLUMN:
                block = w[:, j]
            else:
                block = w[i * group_size : (i + 1) * group_size, j]
            out[i, j] = np.mean(np.abs(block))
    return out


# ----------------------------------------------------------------------------- ternary


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    k=st.integers(1, 30),
    n=st.integers(1, 12),
    gran=st.sampled_from(list(G)),
    group_size=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_ternary_values_and_scale_shapes(k, n, gran, group_size, seed):
    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    gs = group_size if gran is G.GROUP else None
    q = quantize_ternary(w, gran, gs)
    assert q.trits.dtype == np.int8
    assert set(np.unique(q.trits)) <= {-1, 0, 1}
    assert q.scale.dtype == np.float32
    assert q.scale.shape == scale_shape(gran, k, n, gs)
    np.testing.assert_allclose(q.scale, slow_absmean(w.astype(np.float64), gran, gs), rtol=1e-6)
    # trits are W / (gamma + eps) rounded and clipped, gamma from the slow oracle
    gamma = slow_absmean(w.astype(np.float64), gran, gs)
    if gran is G.GROUP:
        gamma = np.repeat(gamma, gs, axis=0)[:k]
    expected = np.clip(np.rint(w.astype(np.float64) / (gamma + EPS)), -1, 1)
    np.testing.assert_array_equal(q.trits, expected)
    assert q.expanded_scale().shape in ((k, n), q.scale.shape)
    assert q.dequantize().shape == (k, n)
    assert q.dequantize().dtype == np.float32


def test_ternary_zero_fraction_of_normal_weights_matches_analytic_value():
    """For W ~ N(0, s^2): gamma -> E|W| = s*sqrt(2/pi); a weight rounds to 0 when
    |W| < gamma / 2, so the zero fraction -> P(|z| < sqrt(2/pi)/2) = erf(sqrt(2/pi)/2/sqrt(2))."""
    t = 0.5 * math.sqrt(2 / math.pi)
    p = math.erf(t / math.sqrt(2))
    assert p == pytest.approx(0.3101, abs=1e-4)
    n = 1_000_000
    w = np.random.default_rng(0).standard_normal((1000, 1000)) * 0.02
    frac = quantize_ternary(w).zero_fraction
    # Binomial sampling error of the fraction, plus the error from estimating gamma from n
    # samples: sd(gamma)/gamma = sqrt(1 - 2/pi)/sqrt(2/pi)/sqrt(n), moving the threshold t by
    # that relative amount and the fraction by 2*phi(t)*t times it. Allow 5 sd of each.
    sd_binomial = math.sqrt(p * (1 - p) / n)
    phi_t = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    sd_gamma = 2 * phi_t * t * math.sqrt(1 - 2 / math.pi) / math.sqrt(2 / math.pi) / math.sqrt(n)
    assert abs(frac - p) < 5 * (sd_binomial + sd_gamma)  # about 3.4e-3


def test_ternary_all_zero_weights():
    q = quantize_ternary(np.zeros((4, 3)), G.COLUMN)
    assert np.all(q.trits == 0)
    assert np.all(q.scale == 0)
    assert np.all(q.dequantize() == 0)


def test_ternary_group_ragged_last_group():
    w = np.arange(1, 11, dtype=np.float64).reshape(10, 1)  # K=10, groups of 4: 4 + 4 + 2
    q = quantize_ternary(w, G.GROUP, 4)
    np.testing.assert_allclose(q.scale[:, 0], [2.5, 6.5, 9.5], rtol=1e-7)
    assert q.expanded_scale().shape == (10, 1)


def test_ternary_storage_bytes_hand_computed():
    w = np.ones((10, 3))
    # 2 bits: 3 columns x ceil(10/4)=3 bytes = 9; 1.6 bits: 3 x ceil(10/5)=2 = 6; scales 4 B each
    assert quantize_ternary(w).storage_bytes(2) == 9 + 4
    assert quantize_ternary(w).storage_bytes(1.6) == 6 + 4
    assert quantize_ternary(w, G.COLUMN).storage_bytes() == 9 + 3 * 4
    assert quantize_ternary(w, G.ROW).storage_bytes() == 9 + 10 * 4
    assert quantize_ternary(w, G.GROUP, 4).storage_bytes() == 9 + 3 * 3 * 4
    big = quantize_ternary(np.ones((4096, 4096), dtype=np.float32))
    assert big.storage_bytes(2) == 4 * 1024 * 1024 + 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"granularity": "diagonal"}, "granularity"),
        ({"granularity": G.GROUP}, "group_size"),
        ({"granularity": G.GROUP, "group_size": 0}, "group_size"),
        ({"granularity": G.ROW, "group_size": 4}, "group_size"),
    ],
)
def test_ternary_bad_arguments_name_parameter(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        quantize_ternary(np.ones((4, 4)), **kwargs)


@pytest.mark.parametrize("w", [np.ones(4), np.array([[np.nan, 1.0]]), np.array([["a"]])])
def test_bad_weights_name_w(w):
    with pytest.raises(WorkloadError, match="w"):
        quantize_ternary(w)


# ----------------------------------------------------------------------------- binary


def test_binary_signs_scale_and_storage():
    w = np.array([[0.0, -2.0], [1.0, -3.0], [4.0, 0.5]])
    q = quantize_binary(w, G.COLUMN)
    np.testing.assert_array_equal(q.signs, [[1, -1], [1, -1], [1, 1]])  # sign(0) = +1
    np.testing.assert_allclose(q.scale, [[5 / 3, 5.5 / 3]], rtol=1e-7)
    # 1 bit per weight: 2 columns x ceil(3/8) = 2 bytes, plus 2 float32 scales
    assert q.storage_bytes == 2 + 8
    assert quantize_binary(np.ones((4096, 4096))).storage_bytes == 4096 * 512 + 4


# ----------------------------------------------------------------------------- activations


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    m=st.integers(1, 5),
    k=st.integers(1, 40),
    bits=st.sampled_from([8, 4]),
    zero_row=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_activation_round_trip_error_bound(m, k, bits, zero_row, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, k)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
    if zero_row:
        x[0] = 0
    q = quantize_activations(x, bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.values.dtype == np.int8 and q.values.shape == (m, k)
    assert q.scale.shape == (m, 1)
    assert q.values.min() >= -qmax - 1 and q.values.max() <= qmax
    # the largest |x| of each non-zero token maps to +-Q exactly
    amax = np.max(np.abs(x), axis=1)
    nonzero = amax > 0
    assert np.all(np.max(np.abs(q.values), axis=1)[nonzero] == qmax)
    # rounding error at most half a step (plus float32 rounding of the stored scale)
    err = np.abs(x.astype(np.float64) - q.values * q.scale.astype(np.float64))
    bound = q.scale.astype(np.float64) * (0.5 + 1e-6) + 1e-30
    assert np.all(err <= bound)
    if zero_row:
        assert np.all(q.values[0] == 0) and q.scale[0, 0] == 0
        assert np.all(q.dequantize()[0] == 0)


def test_activation_quant_hand_example():
    q = quantize_activations(np.array([[0.5, -1.0, 0.25, 0.0]]), bits=8)
    np.testing.assert_array_equal(q.values, [[64, -127, 32, 0]])  # 63.5 -> 64 (half to even)
    assert q.scale[0, 0] == np.float32(1 / 127)
    q4 = quantize_activations(np.array([[0.5, -1.0, 0.25, 0.0]]), bits=4)
    np.testing.assert_array_equal(q4.values, [[4, -7, 2, 0]])  # 3.5 -> 4, 1.75 -> 2


def test_activation_storage_bytes():
    assert quantize_activations(np.ones((2, 10)), 8).storage_bytes == 2 * 10 + 2 * 4
    assert quantize_activations(np.ones((2, 10)), 4).storage_bytes == 2 * 5 + 2 * 4
    assert quantize_activations(np.ones((3, 5)), 4).storage_bytes == 3 * 3 + 3 * 4


@pytest.mark.parametrize("bits", [1, 9, 4.0, True, "8"])
def test_activation_bad_bits(bits):
    with pytest.raises(WorkloadError, match="bits"):
        quantize_activations(np.ones((2, 3)), bits)


def test_activation_rejects_nan():
    with pytest.raises(WorkloadError, match="x"):
        quantize_activations(np.array([[1.0, np.inf]]))


# ----------------------------------------------------------------------------- int8


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    k=st.integers(1, 20),
    n=st.integers(1, 10),
    gran=st.sampled_from([G.TENSOR, G.ROW, G.COLUMN]),
    seed=st.integers(0, 2**32 - 1),
)
def test_int8_weights_bound_and_storage(k, n, gran, seed):
    w = np.random.default_rng(seed).standard_normal((k, n))
    q = quantize_int8(w, gran)
    assert q.values.dtype == np.int8
    assert q.values.min() >= -127 and q.values.max() <= 127
    assert q.scale.shape == scale_shape(gran, k, n, None)
    err = np.abs(w - q.dequantize().astype(np.float64))
    assert np.all(err <= q.scale.astype(np.float64) * (0.5 + 1e-5) + 1e-7)
    assert q.storage_bytes == k * n + q.scale.size * 4


def test_int8_default_is_per_output_column():
    w = np.array([[1.0, -10.0], [0.5, 5.0]])
    q = quantize_int8(w)
    np.testing.assert_allclose(q.scale, [[1 / 127, 10 / 127]], rtol=1e-7)
    np.testing.assert_array_equal(q.values, [[127, -127], [64, 64]])  # 63.5 -> 64


# ----------------------------------------------------------------------------- NF4 / FP4


def test_nf4_codebook_is_the_qlora_normal_quantile_construction():
    """QLoRA / bitsandbytes create_normal_map(offset=0.9677083): 8 positive quantiles of N(0,1)
    from linspace(offset, 0.5, 9), 7 negative ones from linspace(offset, 0.5, 8), and 0;
    normalized by the largest."""
    nd = NormalDist()
    offset = 0.9677083
    pos = [nd.inv_cdf(float(p)) for p in np.linspace(offset, 0.5, 9)[:-1]]
    neg = [-nd.inv_cdf(float(p)) for p in np.linspace(offset, 0.5, 8)[:-1]]
    values = np.array(sorted([*pos, 0.0, *neg]))
    values /= values.max()
    np.testing.assert_allclose(NF4_CODEBOOK, values, atol=1e-6)
    assert NF4_CODEBOOK.size == 16 and np.all(np.diff(NF4_CODEBOOK) > 0)
    assert NF4_CODEBOOK[0] == -1.0 and NF4_CODEBOOK[7] == 0.0 and NF4_CODEBOOK[15] == 1.0


def test_nf4_codebook_values_round_trip_exactly():
    # four blocks of 64 in one column; each block holds the 16 codes x its absmax (powers of 2)
    absmax = np.array([1.0, 2.0, 0.25, 8.0])
    col = np.concatenate([np.tile(NF4_CODEBOOK.astype(np.float64), 4) * a for a in absmax])
    q = quantize_4bit(col.reshape(256, 1), WeightFormat.NF4)
    np.testing.assert_array_equal(q.codes[:, 0], np.tile(np.arange(16), 16))
    np.testing.assert_array_equal(q.absmax, absmax.astype(np.float32))
    np.testing.assert_array_equal(q.dequantize()[:, 0], col.astype(np.float32))


def test_fp4_codebook_is_e2m1_and_round_trips():
    expected = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    np.testing.assert_array_equal(FP4_E2M1_CODEBOOK[:8], expected)
    np.testing.assert_array_equal(FP4_E2M1_CODEBOOK[8:], -np.array(expected))
    col = np.array([*expected, *(-v for v in expected[1:])] * 4 + [0.0] * 4)  # 64 values
    q = quantize_4bit(col.reshape(64, 1), WeightFormat.FP4)
    assert q.absmax[0] == 6.0
    np.testing.assert_allclose(q.dequantize()[:, 0], col, rtol=1e-6, atol=0)


@settings(max_examples=20, derandomize=True, deadline=None)
@given(
    k=st.integers(1, 150),
    n=st.integers(1, 4),
    fmt=st.sampled_from([WeightFormat.NF4, WeightFormat.FP4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_4bit_error_within_half_the_widest_codebook_gap(k, n, fmt, seed):
    w = np.random.default_rng(seed).standard_normal((k, n))
    q = quantize_4bit(w, fmt)
    assert q.codes.shape == (k, n) and q.codes.max() <= 15
    book = np.unique(q.codebook.astype(np.float64))
    half_gap = np.max(np.diff(book)) / 2
    assert np.max(np.abs(w - q.dequantize())) <= half_gap * np.max(np.abs(w)) * (1 + 1e-6)


def test_4bit_storage_bytes_hand_computed():
    w = np.random.default_rng(0).standard_normal((128, 256))  # 32768 weights, 512 blocks
    plain = quantize_4bit(w, WeightFormat.NF4)
    assert plain.storage_bytes == 32768 // 2 + 512 * 4 == 18432  # 4.5 bits per weight
    dq = quantize_4bit(w, WeightFormat.NF4, double_quant=True)
    # 512 int8 codes + 2 float32 scales (blocks of 256) + the float32 offset
    assert dq.storage_bytes == 16384 + 512 + 2 * 4 + 4 == 16908
    # QLoRA: 8/64 + 32/(64*256) = 0.127 bits per weight of absmax overhead
    overhead_bits = (dq.storage_bytes - 16384) * 8 / 32768
    assert overhead_bits == pytest.approx(8 / 64 + 32 / (64 * 256), abs=1e-3)
    ragged = quantize_4bit(np.ones((10, 7)), WeightFormat.FP4)  # 70 weights: 2 blocks
    assert ragged.storage_bytes == 35 + 2 * 4


def test_double_quant_absmax_close_to_exact():
    w = np.random.default_rng(3).standard_normal((64, 600))
    exact = quantize_4bit(w, WeightFormat.NF4)
    dq = quantize_4bit(w, WeightFormat.NF4, double_quant=True)
    np.testing.assert_array_equal(exact.codes, dq.codes)
    step = dq.double_quant.scale.max() / 127
    assert np.max(np.abs(dq.absmax - exact.absmax)) <= step / 2 + 1e-6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fmt": WeightFormat.INT8}, "fmt"),
        ({"fmt": "nf5"}, "fmt"),
        ({"block_size": 0}, "block_size"),
        ({"double_quant_block_size": -1}, "double_quant_block_size"),
    ],
)
def test_4bit_bad_arguments(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        quantize_4bit(np.ones((4, 4)), **kwargs)


def test_int8_rejects_group_granularity():
    with pytest.raises(WorkloadError, match="granularity"):
        quantize_int8(np.ones((4, 4)), G.GROUP)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    shape=st.sampled_from([(1, 1), (3, 7), (2, 3, 5), (4, 1536)]),
    bits=st.sampled_from([2, 3, 4, 8]),
    magnitude=st.sampled_from([1e-6, 1.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_activations_equal_the_numpy_formula_bit_for_bit(shape, bits, magnitude, seed):
    """The compiled quantizer against the formula written in NumPy (ties included: x * Q /
    amax lands on .5 for values built that way)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * magnitude
    x[..., 0] = 0.0
    if shape[-1] > 2:
        x[..., 1] = np.max(np.abs(x), axis=-1) * 2.5 / (2 ** (bits - 1) - 1)  # amax, a tie at 2.5
    q = 2 ** (bits - 1) - 1
    amax = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(amax > 0, amax, 1.0)
    got = quantize_activations(x, bits)
    np.testing.assert_array_equal(got.values, np.clip(np.rint(x * q / safe), -q - 1, q))
    np.testing.assert_array_equal(got.scale, (amax / q).astype(np.float32))
    assert got.values.dtype == np.int8 and got.scale.shape == (*shape[:-1], 1)
