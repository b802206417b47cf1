"""The functional transformer: BitLinear against a float NumPy oracle, KV cache against recompute."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import tiny_spec

from tersim.config import FFNType, PEKind, ScaleGranularity, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.functional.kernels import ternary_linear
from tersim.functional.packing import pack_ternary, unpack_ternary
from tersim.functional.quant import quantize_activations, quantize_binary, quantize_ternary
from tersim.functional.transformer import (
    TernaryModel,
    attention,
    bitlinear,
    ffn_activation,
    head_table,
    lm_head,
    quantize_pack,
    rope,
    trace_measured,
)
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase

# --- BitLinear ----------------------------------------------------------------------------------


def oracle_bitlinear(
    x: np.ndarray, w: np.ndarray, fmt: WeightFormat, column: bool, bits: int
) -> np.ndarray:
    """The same quantized computation in plain float64 NumPy, written from the formulas."""
    q = 2 ** (bits - 1) - 1
    amax = np.abs(x).max(axis=1, keepdims=True)  # (M, 1)
    xq = np.clip(np.rint(x * q / np.where(amax > 0, amax, 1.0)), -q - 1, q)  # (M, K)
    gamma = np.abs(w).mean(axis=0, keepdims=True) if column else np.abs(w).mean()
    if fmt is WeightFormat.TERNARY:
        wq = np.clip(np.rint(w / (gamma + 1e-5)), -1, 1)  # (K, N)
    else:
        wq = np.where(w < 0, -1.0, 1.0)
    gamma32 = np.asarray(gamma, np.float32).astype(np.float64)
    return (xq @ wq) * (amax / q).astype(np.float32).astype(np.float64) * gamma32


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    m=st.integers(1, 5),
    k=st.integers(1, 70),
    n=st.integers(1, 40),
    fmt=st.sampled_from([WeightFormat.TERNARY, WeightFormat.BINARY]),
    column=st.booleans(),
    bits=st.sampled_from([8, 4]),
    chunk=st.sampled_from([1, 50, 1 << 21]),
    seed=st.integers(0, 2**16),
)
def test_bitlinear_matches_float_oracle(
    m: int,
    k: int,
    n: int,
    fmt: WeightFormat,
    column: bool,
    bits: int,
    chunk: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k))
    w = rng.standard_normal((k, n)) * 0.02
    gran = ScaleGranularity.COLUMN if column else ScaleGranularity.TENSOR
    bl = quantize_pack(w, fmt, gran, chunk_elements=chunk)
    y, meas = bitlinear(quantize_activations(x, bits), bl)
    np.testing.assert_allclose(y, oracle_bitlinear(x, w, fmt, column, bits), rtol=1e-9, atol=1e-12)
    trits = unpack_ternary(bl.packed)
    assert (meas.adds, meas.subs, meas.skips) == (
        m * int(np.sum(trits == 1)),
        m * int(np.sum(trits == -1)),
        m * int(np.sum(trits == 0)),
    )
    assert meas.adds + meas.subs + meas.skips == m * n * k


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    k=st.integers(1, 60),
    n=st.integers(1, 50),
    column=st.booleans(),
    chunk=st.sampled_from([1, 7, 64, 1 << 21]),
    seed=st.integers(0, 2**16),
)
def test_quantize_pack_equals_quantize_then_pack(
    k: int, n: int, column: bool, chunk: int, seed: int
) -> None:
    """Column-block quantization gives the trits, scales and counts of the whole-matrix path."""
    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    gran = ScaleGranularity.COLUMN if column else ScaleGranularity.TENSOR
    tw = quantize_ternary(w, gran)
    ref = pack_ternary(tw.trits)
    bl = quantize_pack(w, WeightFormat.TERNARY, gran, chunk_elements=chunk)
    np.testing.assert_array_equal(bl.packed.data, ref.data)
    assert (bl.packed.plus_count, bl.packed.minus_count) == (ref.plus_count, ref.minus_count)
    np.testing.assert_allclose(bl.scale, tw.scale, rtol=1e-6)
    bw = quantize_binary(w, gran)
    bb = quantize_pack(w, WeightFormat.BINARY, gran, chunk_elements=chunk)
    np.testing.assert_array_equal(unpack_ternary(bb.packed), bw.signs)
    np.testing.assert_allclose(bb.scale, bw.scale, rtol=1e-6)


def test_bitlinear_agrees_with_ternary_linear() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 100))
    w = rng.standard_normal((100, 20))
    y, _ = bitlinear(
        quantize_activations(x, 8), quantize_pack(w, WeightFormat.TERNARY, ScaleGranularity.TENSOR)
    )
    y_ref, _ = ternary_linear(x, quantize_ternary(w))
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)


def test_float16_lm_head_by_blocks_equals_float32() -> None:
    rng = np.random.default_rng(4)
    table = rng.standard_normal((2 * 4096 + 5, 8)).astype(np.float16)  # (V, H)
    x = rng.standard_normal((2, 8))  # (B, H)
    np.testing.assert_allclose(
        lm_head(x, table), lm_head(x, table.astype(np.float32)), rtol=1e-6, atol=1e-6
    )
    assert head_table(table).dtype == np.float16  # kept in its bits, widened as it is read


# --- attention ----------------------------------------------------------------------------------


def test_gqa_attention_equals_per_head_loop() -> None:
    """Grouped heads read KV head h // group; causal mask from the query's absolute position."""
    rng = np.random.default_rng(0)
    b, t, heads, kvh, d, start = 2, 3, 6, 2, 4, 5
    q = rng.standard_normal((b, t, heads, d))
    keys = rng.standard_normal((b, kvh, start + t, d))
    values = rng.standard_normal((b, kvh, start + t, d))
    out = attention(q, keys, values, start).reshape(b, t, heads, d)
    for bi in range(b):
        for h in range(heads):
            kv = h // (heads // kvh)
            for ti in range(t):
                n = start + ti + 1
                s = keys[bi, kv, :n] @ q[bi, ti, h] / np.sqrt(d)
                p = np.exp(s - s.max())
                p /= p.sum()
                np.testing.assert_allclose(out[bi, ti, h], p @ values[bi, kv, :n], rtol=1e-12)


@pytest.mark.parametrize("rotary_dim", [None, 8, 4, 2])
def test_rope_equals_pairwise_rotation_loop(rotary_dim: int | None) -> None:
    """Pair (i, i + R/2) of the first R dims turns by pos * theta^(-2i/R); the rest pass."""
    rng = np.random.default_rng(2)
    b, t, heads, d, start, theta = 1, 3, 2, 8, 4, 500.0
    x = rng.standard_normal((b, t, heads, d))
    out = rope(x, start, theta, rotary_dim)
    r = d if rotary_dim is None else rotary_dim
    want = x.copy()
    for ti in range(t):
        pos = start + ti
        for h in range(heads):
            for i in range(r // 2):
                angle = pos * theta ** (-2 * i / r)
                x1, x2 = x[0, ti, h, i], x[0, ti, h, i + r // 2]
                want[0, ti, h, i] = x1 * math.cos(angle) - x2 * math.sin(angle)
                want[0, ti, h, i + r // 2] = x2 * math.cos(angle) + x1 * math.sin(angle)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_geglu_is_tanh_gelu_of_gate_times_up() -> None:
    gate, up = np.array([[-2.0, 0.0, 0.5, 3.0]]), np.array([[1.0, 2.0, -1.0, 0.5]])
    got = ffn_activation(FFNType.GEGLU, gate, up)
    c = math.sqrt(2 / math.pi)
    want = [
        0.5 * g * (1 + math.tanh(c * (g + 0.044715 * g**3))) * u
        for g, u in zip(gate[0], up[0], strict=True)
    ]
    np.testing.assert_allclose(got[0], want, rtol=1e-14)


# --- KV cache -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch",
    [
        dict(ffn_type="relu2_glu", sublayer_norm=True, tied_embeddings=True),
        dict(ffn_type="swiglu", kv_heads=1),
        dict(ffn_type="gelu", parallel_attention=True, norm="layernorm", kv_heads=4),
        dict(ffn_type="geglu", head_dim=16, kv_heads=1),
        dict(ffn_type="gelu", rotary_dim=2, norm="layernorm", kv_heads=4),
    ],
    ids=["bitnet-gqa", "swiglu-mqa", "falcon-gelu-mha", "gemma-wide-heads", "neox-partial-rope"],
)
@pytest.mark.parametrize("kv_bits", [16, 8, 4, 3])
def test_kv_cached_decode_equals_full_recompute(arch: dict[str, Any], kv_bits: int) -> None:
    """Each position is quantized on its own, so the cache holds the same values either way."""
    spec = tiny_spec(**arch)
    q = spec.quantization.model_copy(update={"kv_cache_bits": kv_bits})
    spec = spec.model_copy(update={"quantization": q})
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=5)
    tokens = np.random.default_rng(1).integers(0, 64, size=(2, 9))  # (B, T)
    cache = model.new_cache(2, 9)
    logits = model.forward(tokens[:, :5], cache)
    for i in range(5, 9):
        logits = model.forward(tokens[:, i : i + 1], cache)
    full = model.forward(tokens, model.new_cache(2, 9))
    assert cache.length == 9
    np.testing.assert_allclose(logits, full, rtol=1e-5, atol=1e-7)
    assert np.abs(full).max() > 1e-3  # not trivially zero


def test_forward_is_deterministic_per_seed() -> None:
    spec = tiny_spec()
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    tokens = np.array([[1, 2, 3]])
    a = TernaryModel.synthetic(spec, f, seed=1)
    b = TernaryModel.synthetic(spec, f, seed=1)
    c = TernaryModel.synthetic(spec, f, seed=2)
    la = a.forward(tokens, a.new_cache(1, 3))
    np.testing.assert_array_equal(la, b.forward(tokens, b.new_cache(1, 3)))
    assert not np.array_equal(la, c.forward(tokens, c.new_cache(1, 3)))


# --- errors -------------------------------------------------------------------------------------


def test_prompt_longer_than_context_is_an_error() -> None:
    spec = tiny_spec(max_context=16)
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    with pytest.raises(WorkloadError, match="context of 16"):
        trace_measured(spec, f, phases=(Phase.PREFILL,), prompt_tokens=17, gen_tokens=0)
    model = TernaryModel.synthetic(spec, f)
    with pytest.raises(WorkloadError, match="context"):
        model.new_cache(1, 17)
    cache = model.new_cache(1, 4)
    with pytest.raises(WorkloadError, match="positions exceed"):
        model.forward(np.zeros((1, 5), np.int64), cache)


def test_float_formats_cannot_be_measured() -> None:
    spec = tiny_spec()
    with pytest.raises(WorkloadError, match="--measure supports ternary/binary"):
        trace_measured(spec, resolve_formats(spec, PEKind.FP16_MAC), prompt_tokens=2, gen_tokens=1)


def test_input_scaled_granularity_cannot_be_measured() -> None:
    spec = ModelSpec.model_validate(
        {
            "name": "rowscaled",
            "architecture": tiny_spec().architecture.model_dump(),
            "quantization": {"weight_format": "ternary", "scale_granularity": "row"},
        }
    )
    with pytest.raises(WorkloadError, match="scale_granularity 'row'"):
        trace_measured(
            spec, resolve_formats(spec, PEKind.TERNARY_ADD), prompt_tokens=2, gen_tokens=1
        )


def test_weights_that_do_not_fit_are_rejected() -> None:
    spec = tiny_spec(sublayer_norm=True)
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD))
    lw = model.weights.layers[1]
    bad = dataclasses.replace(lw, attn_sub_norm=None, gate_proj=lw.up_proj, up_proj=lw.q_proj)
    weights = dataclasses.replace(model.weights, layers=(model.weights.layers[0], bad))
    with pytest.raises(WorkloadError) as err:
        dataclasses.replace(model, weights=weights)
    msg = str(err.value)
    assert "layer 1 attn_sub_norm: size 0 (expected 32" in msg
    assert "layer 1 up_proj: (32, 32) (expected (32, 48))" in msg


def test_bad_tokens_are_errors() -> None:
    spec = tiny_spec()
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD))
    with pytest.raises(WorkloadError, match="ids must be in"):
        model.forward(np.array([[64]]), model.new_cache(1, 2))
    with pytest.raises(WorkloadError, match="batch 2 differs"):
        model.forward(np.zeros((2, 1), np.int64), model.new_cache(1, 2))
