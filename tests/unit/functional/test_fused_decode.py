"""The fused decode layer (``decode.py``) against the op-by-op executor, bit for bit, and the
row operations (``rowops.py``) against the NumPy definitions of ``transformer.py``."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from tiny_models import tiny_spec

from tersim.config import FFNType, PEKind
from tersim.functional.packing import pack_ternary, unpack_ternary
from tersim.functional.rowops import (
    ACTIVATION_CODE,
    activation_rows,
    norm_rows,
    rope_rows,
    rope_table,
)
from tersim.functional.transformer import (
    NORM_EPS,
    BitLinear,
    Norm,
    TernaryModel,
    ffn_activation,
    norm,
    rope,
)
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, TraceBuilder

ARCHS = {
    "bitnet-gqa": dict(ffn_type="relu2_glu", sublayer_norm=True, tied_embeddings=True),
    "swiglu-mqa": dict(ffn_type="swiglu", kv_heads=1),
    "falcon-gelu-mha": dict(ffn_type="gelu", parallel_attention=True, norm="layernorm", kv_heads=4),
    "gemma-wide-heads": dict(ffn_type="geglu", head_dim=16, kv_heads=1),
    "neox-partial-rope": dict(ffn_type="gelu", rotary_dim=2, norm="layernorm", kv_heads=4),
    "odd-sizes": dict(hidden=30, heads=3, kv_heads=1, ffn=53, vocab=37, sublayer_norm=True),
}


def _spec(arch: dict[str, Any], quant: dict[str, Any]) -> Any:
    spec = tiny_spec(**arch)
    q = spec.quantization.model_copy(update=quant)
    return spec.model_copy(update={"quantization": q})


def _base3(model: TernaryModel) -> TernaryModel:
    """The model with every projection repacked at 1.6 bits per weight (5 trits per byte)."""
    layers = []
    for lw in model.weights.layers:
        repacked = {
            f.name: BitLinear(pack_ternary(unpack_ternary(v.packed), 1.6), v.scale)
            for f in dataclasses.fields(lw)
            if isinstance(v := getattr(lw, f.name), BitLinear)
        }
        layers.append(dataclasses.replace(lw, **repacked))
    w = dataclasses.replace(model.weights, layers=tuple(layers))
    return dataclasses.replace(model, weights=w)


def _decode(model: TernaryModel, batch: int, steps: int) -> tuple[list[np.ndarray], Any, Any]:
    """Prefill 5 tokens, then ``steps`` greedy decode steps; (logits per step, cache, ops)."""
    tb = TraceBuilder(model.spec, model.formats, batch)
    cache = model.new_cache(batch, 5 + steps)
    tokens = np.random.default_rng(3).integers(0, model.config.vocab, size=(batch, 5))
    logits = [model.forward(tokens, cache, tb)]
    tb.phase = Phase.DECODE
    for step in range(steps):
        tb.step = step
        logits.append(model.forward(np.argmax(logits[-1], axis=-1)[:, None], cache, tb))
    return logits, cache, tb.ops


@pytest.mark.parametrize("arch", list(ARCHS.values()), ids=list(ARCHS))
@pytest.mark.parametrize(
    "quant",
    [
        dict(kv_cache_bits=16),
        dict(kv_cache_bits=8, scale_granularity="column"),
        dict(kv_cache_bits=4, activation_bits=4),
        dict(kv_cache_bits=3, weight_format="binary"),
    ],
    ids=["kv16", "kv8-column", "kv4-a4", "kv3-binary"],
)
def test_fused_decode_equals_op_by_op(arch: dict[str, Any], quant: dict[str, Any]) -> None:
    spec = _spec(arch, quant)
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=7)
    for batch in (1, 2):
        fused = _decode(model, batch, 4)
        plain = _decode(dataclasses.replace(model, fused_decode=False), batch, 4)
        for a, b in zip(fused[0], plain[0], strict=True):
            np.testing.assert_array_equal(a, b)
        for attr in ("keys", "values", "key_scales", "value_scales"):
            for a, b in zip(getattr(fused[1], attr), getattr(plain[1], attr), strict=True):
                np.testing.assert_array_equal(a, b)
        assert fused[2] == plain[2]  # the same ops, shapes, tensors and measurements
        assert any(op.measured is not None and op.measured.act_sparsity > 0 for op in fused[2])
        assert np.abs(fused[0][-1]).max() > 1e-3


def test_fused_decode_of_base3_weights_equals_op_by_op() -> None:
    spec = _spec(ARCHS["odd-sizes"], dict(kv_cache_bits=8))
    model = _base3(TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=2))
    fused = _decode(model, 2, 3)
    plain = _decode(dataclasses.replace(model, fused_decode=False), 2, 3)
    for a, b in zip(fused[0], plain[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert fused[2] == plain[2]


def test_fused_decode_of_non_finite_activations_is_an_error() -> None:
    spec = _spec(ARCHS["swiglu-mqa"], dict(kv_cache_bits=16))
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=1)
    bad = model.weights.embed.copy()
    bad[5] = np.inf
    model = dataclasses.replace(model, weights=dataclasses.replace(model.weights, embed=bad))
    from tersim.errors import WorkloadError

    with pytest.raises(WorkloadError, match="NaN or infinite"):
        model.forward(np.array([[5]]), model.new_cache(1, 2))


# --- row operations against the NumPy definitions ------------------------------------------------


@pytest.mark.parametrize("layernorm", [False, True])
def test_norm_rows_equal_numpy_norm(layernorm: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 37)) * 3
    w = Norm(
        rng.standard_normal(37).astype(np.float32),
        rng.standard_normal(37).astype(np.float32) if layernorm else None,
    )
    out = np.empty_like(x)
    bias = w.bias if w.bias is not None else np.zeros(0, np.float32)
    norm_rows(x, w.weight, bias, layernorm, NORM_EPS, out)
    np.testing.assert_allclose(out, norm(x, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rotary_dim", [None, 4])
def test_rope_rows_equal_numpy_rope(rotary_dim: int | None) -> None:
    rng = np.random.default_rng(1)
    b, t, heads, d, start = 2, 3, 3, 10, 6
    x = rng.standard_normal((b, t, heads, d))
    rd = d if rotary_dim is None else rotary_dim
    cos, sin = rope_table(500.0, rd, start + t)
    out = np.empty((b * t, heads * d))
    rope_rows(x.reshape(b * t, -1), heads, d, rd, cos, sin, start, t, out)
    want = rope(x, start, 500.0, rotary_dim).reshape(b * t, -1)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ffn_type", list(FFNType))
def test_activation_rows_equal_numpy_activation(ffn_type: FFNType) -> None:
    rng = np.random.default_rng(2)
    gate, up = rng.standard_normal((2, 4, 23)) * 4
    g = gate if ffn_type.gated else np.empty((0, 23))
    out = np.empty_like(up)
    activation_rows(ACTIVATION_CODE[ffn_type], g, up, out)
    want = ffn_activation(ffn_type, gate if ffn_type.gated else None, up)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-15)


def test_decode_shares_op_by_op_only_for_large_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper with an idle core does not pull a small model's decode out of the fused layer
    (``SHARE_MIN_LAYER_BYTES``), but does when the layers are large enough and a core is idle;
    turning ``fused_decode`` off always does."""
    from tersim.functional import transformer
    from tersim.functional.threads import KernelThreads

    spec = _spec(ARCHS["swiglu-mqa"], dict(kv_cache_bits=16))
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=1)
    with KernelThreads(2, idle_probe=lambda: 1) as idle, KernelThreads(2, lambda: 0) as busy:
        shared = dataclasses.replace(model, threads=idle)
        assert shared._shared_bytes() < transformer.SHARE_MIN_LAYER_BYTES
        assert not shared._sharing()
        assert dataclasses.replace(shared, fused_decode=False)._sharing()
        monkeypatch.setattr(transformer, "SHARE_MIN_LAYER_BYTES", 0)
        monkeypatch.setattr(transformer, "PARALLEL_MIN_WORK", 1)
        fresh = dataclasses.replace(model, threads=idle)  # a new memo
        assert fresh._shared_bytes() > 0 and fresh._sharing()
        assert not dataclasses.replace(model, threads=busy)._sharing()


def test_step_reads_the_weight_arena_in_place():
    """The fused step's packed words are the synthetic model's weight arena itself (no copy,
    every linear at its own offset); weights in separate arrays (here repacked at 1.6 bits)
    are copied into one array with the same contents."""
    spec = tiny_spec()
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=4)
    for m, shared in ((model, True), (_base3(model), False)):
        sa = m._step_args(1)
        for i, lw in enumerate(m.weights.layers):
            data = lw.q_proj.packed.data
            off, size = sa.words_at[i, 0]
            np.testing.assert_array_equal(sa.words[off : off + size], data)
            assert np.shares_memory(sa.words, data) is shared
