"""The KV cache holds its configured bits: bit for bit the NumPy oracle's quantize-dequantize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.errors import WorkloadError
from tersim.functional.attention import attend_cache
from tersim.functional.kvcache import KVCache
from tersim.functional.reference import reference_kv_roundtrip


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    bits=st.sampled_from([3, 4, 8, 16]),
    batch=st.integers(1, 3),
    heads=st.integers(1, 3),
    tokens=st.integers(1, 4),
    dim=st.integers(1, 9),
    magnitude=st.sampled_from([1e-4, 1.0, 300.0]),
    zero_vector=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_read_after_write_is_the_oracle_roundtrip(
    bits, batch, heads, tokens, dim, magnitude, zero_vector, seed
):
    rng = np.random.default_rng(seed)
    start = 2
    cache = KVCache.empty(bits, 2, batch, heads, start + tokens + 1, dim)
    k = rng.standard_normal((batch, heads, tokens, dim)) * magnitude
    v = rng.standard_normal((batch, heads, tokens, dim)) * magnitude
    if zero_vector:
        k[0, 0, 0] = 0.0
    cache.write(1, start, k, v)
    keys, values = cache.read(1, start + tokens)
    np.testing.assert_array_equal(keys[:, :, start:], reference_kv_roundtrip(k, bits))
    np.testing.assert_array_equal(values[:, :, start:], reference_kv_roundtrip(v, bits))
    assert np.all(keys[:, :, :start] == 0)  # never written
    if zero_vector:
        assert np.all(keys[0, 0, start] == 0)


def test_codes_and_scales_are_stored_in_their_bits():
    """3 bits: codes in [-4, 3]; the largest magnitude of each vector maps to +-3; one float32
    scale per position and head. 16 bits: float16."""
    x = np.array([[[[0.5, -1.5, 3.0, 0.1]]]])  # (1, 1, 1, 4), max |x| = 3
    cache = KVCache.empty(3, 1, 1, 1, 1, 4)
    cache.write(0, 0, x, -x)
    assert cache.keys[0].dtype == np.int8 and cache.key_scales[0].dtype == np.float32
    assert cache.keys[0][0, 0, 0].tolist() == [0, -2, 3, 0]  # rint(x * 3 / 3)
    assert cache.values[0][0, 0, 0].tolist() == [0, 2, -3, 0]
    assert cache.key_scales[0][0, 0, 0, 0] == np.float32(1.0)
    half = KVCache.empty(16, 1, 1, 1, 1, 4)
    half.write(0, 0, x, x)
    assert half.keys[0].dtype == np.float16 and half.key_scales.size == 0
    assert half.nbytes == 2 * 4 * 2  # keys and values, 4 halves each
    assert cache.nbytes == 2 * 4 * 1 + 2 * 4  # int8 codes plus one float32 scale each


def test_unsupported_bits_are_an_error():
    with pytest.raises(WorkloadError, match="kv_cache_bits"):
        KVCache.empty(5, 1, 1, 1, 1, 4)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(
    bits=st.sampled_from([3, 4, 8, 16]),
    batch=st.integers(1, 2),
    kv_heads=st.sampled_from([1, 2]),
    group=st.sampled_from([1, 3]),
    start=st.integers(0, 5),
    tokens=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_attend_equals_numpy_attention_on_the_dequantized_cache(
    bits, batch, kv_heads, group, start, tokens, seed
):
    """The compiled attention over the stored cache against transformer.attention (the NumPy
    definition) on KVCache.read's exact dequantized values: causal mask, GQA, every precision."""
    from tersim.functional.transformer import attention

    rng = np.random.default_rng(seed)
    d, heads = 6, kv_heads * group
    cache = KVCache.empty(bits, 1, batch, kv_heads, start + tokens, d)
    ctx = start + tokens
    k = rng.standard_normal((batch, kv_heads, ctx, d))
    v = rng.standard_normal((batch, kv_heads, ctx, d))
    cache.write(0, 0, k, v)
    q = rng.standard_normal((batch, tokens, heads, d))
    keys, values = cache.read(0, ctx)
    expected = attention(q, keys, values, start)
    np.testing.assert_allclose(cache.attend(0, q, start), expected, rtol=1e-10, atol=1e-12)
    # the compiled loop (decode's path) for every query count, on the cache as stored
    half = bits == 16
    stored = attend_cache(
        q,
        cache.keys[0],
        None if half else cache.key_scales[0],
        cache.values[0],
        None if half else cache.value_scales[0],
        start,
    )
    np.testing.assert_allclose(stored, expected, rtol=1e-10, atol=1e-12)


def _sequential_weighted(w: np.ndarray, v: np.ndarray, fused: bool) -> np.ndarray:
    """``sum_p w[p] v[p]`` one position after another: each step ``out + w_p v_p`` rounded
    once (a fused multiply-add, in exact rational arithmetic) or twice (product, then sum)."""
    from fractions import Fraction

    out = np.zeros(v.shape[1])
    for p in range(v.shape[0]):
        for d in range(v.shape[1]):
            if fused:
                out[d] = float(Fraction(float(w[p])) * Fraction(float(v[p, d])) + Fraction(out[d]))
            else:
                out[d] = out[d] + w[p] * v[p, d]
    return out


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    n=st.integers(0, 11),
    dim=st.integers(1, 7),
    codes=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_weighted_sum_keeps_the_one_position_order(n, dim, codes, seed):
    """The attention's weighted sum adds four value rows per pass over the output (attention.py):
    bit for bit the sum taken one position after another, every position count (four-row
    passes, the remainder, fewer than four), float16 and int8-code storage."""
    from tersim.functional.attention import _weighted_codes, _weighted_half

    rng = np.random.default_rng(seed)
    w = rng.random(n + 1)
    w /= w.sum()
    capacity = n + 2  # rows past n must not be read
    if codes:
        rows = rng.integers(-127, 128, (capacity, dim)).astype(np.int8)
        scales = rng.random((capacity, 1)).astype(np.float32)
        values = rows.astype(np.float64) * scales.astype(np.float64)
        out = np.full(dim, np.nan)
        _weighted_codes(w, rows, scales, n, out)
    else:
        halves = rng.standard_normal((capacity, dim)).astype(np.float16)
        values = halves.astype(np.float64)
        out = np.full(dim, np.nan)
        _weighted_half(w, halves.view(np.uint16), n, out)
    candidates = [_sequential_weighted(w[:n], values[:n], fused) for fused in (True, False)]
    assert any(np.array_equal(out, c) for c in candidates), (out, candidates)
