"""Shape-only traces: op counts, MACs and bytes checked against independent formulas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tersim.config import PEKind, load_workload
from tersim.errors import WorkloadError
from tersim.workload.formats import resolve_formats
from tersim.workload.ops import TensorKind
from tersim.workload.trace import OpKind, Phase, load_workload_trace, save_workload, trace_shapes

ROOT = Path(__file__).resolve().parents[3]


def _spec(name: str):  # type: ignore[no-untyped-def]
    return load_workload(ROOT / "workloads" / f"{name}.yaml")


@pytest.mark.parametrize(
    "name", ["llama2-7b", "llama2-70b", "falcon-7b", "gpt-6.7b", "bitnet-b1.58-2b4t"]
)
def test_decode_linear_macs_equal_linear_weights(name: str) -> None:
    """One decode token multiplies every linear weight once: MACs = weights (batch 1)."""
    spec = _spec(name)
    a = spec.architecture
    wl = trace_shapes(
        spec,
        resolve_formats(spec, PEKind.FP16_MAC),
        phases=(Phase.DECODE,),
        prompt_tokens=16,
        gen_tokens=1,
        batch=1,
    )
    linear_macs = sum(op.macs for op in wl.ops if op.kind == OpKind.LINEAR)
    kvd = a.kv_heads * (a.hidden // a.heads)
    per_layer = 2 * a.hidden * a.hidden + 2 * a.hidden * kvd
    per_layer += (3 if a.ffn_type != "gelu" else 2) * a.hidden * a.ffn
    assert linear_macs == a.layers * per_layer
    lm = [op for op in wl.ops if op.kind == OpKind.LM_HEAD]
    assert len(lm) == 1 and lm[0].macs == a.vocab * a.hidden


def test_attention_shapes_prefill_and_decode() -> None:
    spec = _spec("llama2-70b")  # GQA: 64 heads, 8 KV heads, head dim 128
    f = resolve_formats(spec, PEKind.FP16_MAC)
    wl = trace_shapes(spec, f, prompt_tokens=100, gen_tokens=3, batch=2)
    qk = [op for op in wl.ops if op.kind == OpKind.ATTN_QK and op.layer == 0]
    assert [(op.phase, op.m, op.n, op.k, op.count) for op in qk] == [
        (Phase.PREFILL, 100, 100, 128, 128),
        (Phase.DECODE, 1, 101, 128, 128),
        (Phase.DECODE, 1, 102, 128, 128),
        (Phase.DECODE, 1, 103, 128, 128),
    ]
    # KV cache read per layer for K: batch * kv_heads * ctx * head_dim * 2 bytes
    assert qk[1].read_bytes(TensorKind.KV_CACHE) == 2 * 8 * 101 * 128 * 2
    # the cache holds rotated keys: RoPE writes K, the V projection writes V (100 new tokens)
    prefill = [op for op in wl.ops if op.phase == Phase.PREFILL]
    rope = next(op for op in prefill if op.name == "L0.rope")
    vproj = next(op for op in prefill if op.name == "L0.v_proj")
    kproj = next(op for op in prefill if op.name == "L0.k_proj")
    assert rope.write_bytes(TensorKind.KV_CACHE) == 2 * 100 * 8 * 128 * 2
    assert vproj.write_bytes(TensorKind.KV_CACHE) == 2 * 100 * 8 * 128 * 2
    assert vproj.write_bytes(TensorKind.ACTIVATION) == 0
    assert kproj.write_bytes(TensorKind.KV_CACHE) == 0
    assert rope.inputs == (
        next(op for op in prefill if op.name == "L0.q_proj").outputs[0],
        kproj.outputs[0],
    )


def test_ternary_formats_and_weight_bytes() -> None:
    spec = _spec("bitnet-b1.58-3b")
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    assert (f.weight_format, f.weight_bits, f.act_bits) == ("ternary", 2.0, 8)
    wl = trace_shapes(spec, f, phases=(Phase.DECODE,), gen_tokens=1)
    q = next(op for op in wl.ops if op.name == "L0.q_proj")
    assert q.read_bytes(TensorKind.WEIGHT) == 3200 * 3200 // 4
    assert q.read_bytes(TensorKind.ACTIVATION) == 3200  # one int8 token
    # the same model on an FP16 array runs as its FP16 counterpart
    f16 = resolve_formats(spec, PEKind.FP16_MAC)
    assert (f16.weight_format, f16.weight_bits, f16.act_bits) == ("fp16", 16.0, 16)


def test_invalid_format_for_pe_is_an_error() -> None:
    from tersim.config import WeightFormat

    with pytest.raises(WorkloadError, match="cannot run on a 'fp16_mac' array"):
        resolve_formats(_spec("llama2-7b"), PEKind.FP16_MAC, WeightFormat.TERNARY)


def test_context_overflow_is_an_error() -> None:
    spec = _spec("bitnet-b1.58-700m")
    with pytest.raises(WorkloadError, match="exceeds the model's context of 2048"):
        trace_shapes(
            spec, resolve_formats(spec, PEKind.TERNARY_ADD), prompt_tokens=2000, gen_tokens=100
        )


def test_trace_file_round_trips_and_checks_version(tmp_path: Path) -> None:
    spec = _spec("bitnet-b1.58-700m")
    wl = trace_shapes(
        spec, resolve_formats(spec, PEKind.TERNARY_ADD), prompt_tokens=8, gen_tokens=2
    )
    path = tmp_path / "t.json"
    save_workload(wl, path)
    assert load_workload_trace(path) == wl
    doc = json.loads(path.read_text())
    doc["version"] = 999
    path.write_text(json.dumps(doc))
    with pytest.raises(WorkloadError, match="version 999 is not supported"):
        load_workload_trace(path)
    path.write_text("not json")
    with pytest.raises(WorkloadError, match="not a readable tersim trace"):
        load_workload_trace(path)


def test_seventy_b_trace_is_cheap() -> None:
    spec = _spec("llama2-70b")
    wl = trace_shapes(spec, resolve_formats(spec, PEKind.FP16_MAC), prompt_tokens=512, gen_tokens=8)
    # per pass: embedding + final norm + lm_head + layers x ops per layer
    per_layer = sum(1 for op in wl.ops if op.layer == 0 and op.phase == Phase.PREFILL)
    assert len(wl.ops) == 9 * (3 + 80 * per_layer)


def test_top_level_api() -> None:
    import tersim

    spec = _spec("bitnet-b1.58-700m")
    wl = tersim.trace(spec, phase="decode", prompt_tokens=8, gen_tokens=2)
    assert wl.phases == (Phase.DECODE,) and wl.formats.weight_format == "ternary"
    assert {op.step for op in wl.ops} == {0, 1}
    with pytest.raises(WorkloadError, match="unknown phase 'warmup'"):
        tersim.trace(spec, phase="warmup")
