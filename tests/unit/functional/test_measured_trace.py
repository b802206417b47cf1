"""Measured traces: the same ops as the shape tracer, with counts that match the weights."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import tiny_spec

from tersim.api import trace as trace_api
from tersim.config import PEKind, WeightFormat
from tersim.errors import WorkloadError
from tersim.functional.packing import unpack_ternary
from tersim.functional.transformer import (
    TernaryModel,
    _measured_ops,
    prompt_for,
    trace_measured,
    trace_model,
)
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import (
    OpKind,
    Phase,
    TraceBuilder,
    load_workload_trace,
    trace_shapes,
)

ROOT = Path(__file__).resolve().parents[3]
BOTH = (Phase.PREFILL, Phase.DECODE)


ARCHS: dict[str, dict[str, Any]] = {
    "swiglu-gqa": dict(ffn_type="swiglu"),
    "relu2-gqa-subln-tied": dict(ffn_type="relu2_glu", sublayer_norm=True, tied_embeddings=True),
    "gelu-mha": dict(ffn_type="gelu", kv_heads=4),
    "swiglu-mqa": dict(ffn_type="swiglu", kv_heads=1),
    "gelu-parallel-mqa-layernorm": dict(
        ffn_type="gelu", parallel_attention=True, kv_heads=1, norm="layernorm"
    ),
    "relu2-parallel-subln": dict(ffn_type="relu2_glu", parallel_attention=True, sublayer_norm=True),
    # heads wider than hidden / heads (Gemma-7B: 16 x 256 over a 3072 model), GeGLU
    "geglu-wide-heads-mqa": dict(ffn_type="geglu", head_dim=16, kv_heads=1),
    # heads narrower than hidden / heads, with sub-layer norms at the attention width
    "relu2-narrow-heads-subln": dict(ffn_type="relu2_glu", head_dim=4, sublayer_norm=True),
    # GPT-NeoX / StableLM: RoPE on a quarter of each head
    "gelu-partial-rotary-layernorm": dict(
        ffn_type="gelu", rotary_dim=2, norm="layernorm", kv_heads=4, parallel_attention=True
    ),
}
SCENARIOS: dict[str, tuple[tuple[Phase, ...], int, int, int]] = {
    "both-b1": (BOTH, 4, 3, 1),
    "both-b3": (BOTH, 3, 2, 3),
    "prefill-b2": ((Phase.PREFILL,), 5, 2, 2),
    "decode-b2": ((Phase.DECODE,), 2, 3, 2),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
@pytest.mark.parametrize("arch", list(ARCHS), ids=list(ARCHS))
def test_measured_ops_equal_shape_ops(arch: str, scenario: str) -> None:
    spec = tiny_spec(**ARCHS[arch])
    phases, p, g, b = SCENARIOS[scenario]
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    wl = trace_measured(spec, f, phases, p, g, b, seed=3)
    shapes = trace_shapes(spec, f, phases, p, g, b)
    assert [op.shape_key() for op in wl.ops] == [op.shape_key() for op in shapes.ops]
    assert wl.is_measured and not shapes.is_measured
    assert (wl.model, wl.formats, wl.batch, wl.prompt_tokens, wl.gen_tokens, wl.phases) == (
        shapes.model,
        shapes.formats,
        shapes.batch,
        shapes.prompt_tokens,
        shapes.gen_tokens,
        shapes.phases,
    )
    for op in wl.ops:
        if op.kind is OpKind.LINEAR:
            meas = op.measured
            assert meas is not None
            assert meas.adds + meas.subs + meas.skips == op.m * op.n * op.k
            assert 0.0 <= meas.act_sparsity <= 1.0
        else:
            assert op.measured is None


def test_api_measure_and_binary_weights() -> None:
    """``tersim.api.trace(measure=True)`` reaches trace_measured; binary weights never skip."""
    spec = tiny_spec(ffn_type="relu2_glu")
    wl = trace_api(spec, prompt_tokens=3, gen_tokens=2, batch=2, measure=True, seed=1)
    ref = trace_api(spec, prompt_tokens=3, gen_tokens=2, batch=2)
    assert [op.shape_key() for op in wl.ops] == [op.shape_key() for op in ref.ops]
    wb = trace_api(
        spec, prompt_tokens=3, gen_tokens=1, measure=True, weight_format=WeightFormat.BINARY
    )
    linears = [op for op in wb.ops if op.kind is OpKind.LINEAR]
    assert linears and all(op.measured and op.measured.skips == 0 for op in linears)
    assert all(op.measured and op.measured.weight_zero_fraction == 0.0 for op in linears)


def test_measured_decode_counts_and_zero_fraction() -> None:
    """Normal weights quantized with absmean are 0 with probability erf(1 / (2 sqrt(pi))).

    W ~ N(0, s^2) has E|W| = s sqrt(2/pi) = gamma; a weight rounds to 0 when |W| < gamma / 2,
    so P(0) = erf(gamma / (2 s sqrt(2))) = erf(1 / (2 sqrt(pi))) = 0.3101. Over n weights the
    zero count's std is sqrt(p (1 - p) / n) ~ 0.46 / sqrt(n); the sample gamma moves p by about
    0.22 / sqrt(n) more (d p / d gamma times gamma's relative std sqrt(pi/2 - 1) / sqrt(n)), so
    5 x 0.7 / sqrt(n) bounds a matrix's deviation with ample margin.
    """
    p_zero = math.erf(1 / (2 * math.sqrt(math.pi)))
    assert p_zero == pytest.approx(0.3101, abs=1e-4)
    spec = tiny_spec(
        hidden=128, heads=4, kv_heads=2, ffn=320, vocab=128, ffn_type="relu2_glu",
        sublayer_norm=True, tied_embeddings=True, max_context=64,
    )  # fmt: skip
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    model = TernaryModel.synthetic(spec, f, seed=11)
    wl = trace_model(model, (Phase.DECODE,), prompt_tokens=4, gen_tokens=2, batch=2, seed=11)
    linears = [op for op in wl.ops if op.kind is OpKind.LINEAR]
    assert len(linears) == 2 * spec.architecture.layers * 7
    total_w = total_zero = 0
    for op in linears:
        layer_w = model.weights.layers[op.layer]
        trits = unpack_ternary(getattr(layer_w, op.name.split(".")[1]).packed)  # (K, N)
        assert trits.shape == (op.k, op.n)
        meas = op.measured
        assert meas is not None
        assert (meas.adds, meas.subs, meas.skips) == (
            op.m * int(np.sum(trits == 1)),
            op.m * int(np.sum(trits == -1)),
            op.m * int(np.sum(trits == 0)),
        )
        n = op.k * op.n
        assert meas.weight_zero_fraction == pytest.approx(np.mean(trits == 0), abs=1e-12)
        assert abs(meas.weight_zero_fraction - p_zero) < 5 * 0.7 / math.sqrt(n)
        if op.step == 0:
            total_w += n
            total_zero += int(np.sum(trits == 0))
    assert abs(total_zero / total_w - p_zero) < 5 * 0.7 / math.sqrt(total_w)
    # ReLU^2 GLU zeroes the down projection's input wherever the gate is negative (about half).
    downs = [op.measured.act_sparsity for op in linears if op.name.endswith("down_proj")]  # type: ignore[union-attr]
    assert min(downs) > 0.3


def test_measured_trace_is_deterministic() -> None:
    spec = tiny_spec()
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    a = trace_measured(spec, f, BOTH, 3, 2, 1, seed=4)
    b = trace_measured(spec, f, BOTH, 3, 2, 1, seed=4)
    assert a == b


def test_cli_trace_measure(tmp_path: Path) -> None:
    wl_yaml = tmp_path / "tiny.yaml"
    wl_yaml.write_text(
        "name: tiny-cli\n"
        "architecture: {hidden: 32, layers: 2, heads: 4, kv_heads: 2, ffn: 48,\n"
        "  ffn_type: relu2_glu, vocab: 64, sublayer_norm: true, max_context: 32}\n"
        "quantization: {weight_format: ternary}\n"
        "scenario: {batch: 2, prompt_tokens: 4, gen_tokens: 2}\n"
    )
    out = tmp_path / "trace.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tersim", "trace", str(wl_yaml), "--measure", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    wl = load_workload_trace(out)
    assert wl.is_measured and wl.model == "tiny-cli"
    assert all(op.measured is not None for op in wl.ops if op.kind is OpKind.LINEAR)
    bad = subprocess.run(
        [sys.executable, "-m", "tersim", "trace", str(wl_yaml), "--measure", "--pe-kind",
         "fp16_mac", "-o", str(tmp_path / "x.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--measure supports ternary/binary" in bad.stderr


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "op-by-op"])
def test_trace_equals_every_pass_recorded(fused: bool) -> None:
    """A run's decode ops are the shape trace's with the measurements of ``decode_measured``;
    the oracle records every pass through ``forward`` into one builder (prefill and each step,
    fused layers and the executor alike) and must give the very same ops."""
    spec = tiny_spec(ffn_type="relu2_glu", sublayer_norm=True)
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    model = dataclasses.replace(TernaryModel.synthetic(spec, f, seed=5), fused_decode=fused)
    p, g, b = 4, 3, 2
    wl = trace_model(model, BOTH, p, g, b, seed=5)
    tb = TraceBuilder(spec, f, b)
    cache = model.new_cache(b, p + g)
    logits = model.forward(prompt_for(spec.architecture.vocab, b, p, 5), cache, tb)
    tb.phase = Phase.DECODE
    for step in range(g):
        tb.step = step
        logits = model.forward(np.argmax(logits, axis=-1)[:, None], cache, tb)
    assert wl.ops == tuple(tb.ops)
    assert sum(op.measured is not None for op in wl.ops) == (1 + g) * 7 * spec.architecture.layers


def test_measurements_that_do_not_fit_the_shapes_are_an_internal_error() -> None:
    spec = tiny_spec()
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    model = TernaryModel.synthetic(spec, f, seed=2)
    cache = model.new_cache(1, 5)
    model.forward(np.array([[1, 2]]), cache)
    _, measured = model.decode_measured(np.array([[3]]), cache)
    shapes = trace_shapes(spec, f, (Phase.DECODE,), 2, 1, 1).ops
    assert len(_measured_ops("m", [], shapes, [measured])) == len(shapes)
    for steps in ([measured + measured[:1]], [measured[:-1]], []):
        with pytest.raises(RuntimeError, match="internal error"):
            _measured_ops("m", [], shapes, steps)
    with pytest.raises(WorkloadError, match="one token per sequence"):
        model.decode_measured(np.array([[3, 4]]), cache)


def test_threads_do_not_change_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared matmuls are exact: any thread count gives the same measured trace (helpers
    offered work whatever the machine's load: the idle-core probe reads a missing file)."""
    from tersim.functional import threads as threads_module

    monkeypatch.setattr(threads_module, "_LOADAVG", "/nonexistent/loadavg")
    spec = tiny_spec(hidden=256, heads=4, kv_heads=2, ffn=4096, vocab=64, max_context=64)
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    a = trace_measured(spec, f, BOTH, 3, 2, 1, seed=4, threads=1)
    b = trace_measured(spec, f, BOTH, 3, 2, 1, seed=4, threads=3)
    assert a == b


def test_progress_hears_every_stage() -> None:
    spec = tiny_spec()
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    calls: list[tuple[str, int, int]] = []
    trace_measured(spec, f, BOTH, 3, 2, 1, progress=lambda *a: calls.append(a))
    layers = spec.architecture.layers
    assert calls == [
        *(("weights", i, layers) for i in range(1, layers + 1)),
        *(("prefill", i, layers) for i in range(1, layers + 1)),
        ("decode", 1, 2),
        ("decode", 2, 2),
    ]


def test_prompt_ids_set_the_scenario() -> None:
    spec = tiny_spec()
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    prompt = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    wl = trace_measured(spec, f, BOTH, gen_tokens=1, prompt=prompt)
    assert (wl.batch, wl.prompt_tokens) == (2, 5)
    ref = trace_measured(spec, f, BOTH, gen_tokens=1, prompt=prompt[:, ::-1].copy())
    assert [o.shape_key() for o in wl.ops] == [o.shape_key() for o in ref.ops]
    assert wl != ref  # other tokens: other activations, other sparsity
    with pytest.raises(Exception, match="prompt: 2 sequences of 5 tokens"):
        trace_measured(spec, f, BOTH, prompt_tokens=4, prompt=prompt)


def test_measured_by_layer_sums_the_ops() -> None:
    from tersim.functional.summary import measured_by_layer

    spec = tiny_spec(ffn_type="relu2_glu")
    f = resolve_formats(spec, PEKind.TERNARY_ADD)
    wl = trace_measured(spec, f, BOTH, 3, 2, 1, seed=2)
    got = measured_by_layer(wl)
    assert set(got) == {"prefill", "decode"} and set(got["decode"]) == {"layer_0", "layer_1"}
    ops = [o for o in wl.ops if o.measured and o.phase is Phase.DECODE and o.layer == 1]
    cell = got["decode"]["layer_1"]
    assert cell["adds"] == sum(o.measured.adds for o in ops)  # type: ignore[union-attr]
    assert cell["skips"] == sum(o.measured.skips for o in ops)  # type: ignore[union-attr]
    first = [o for o in ops if o.step == 0]  # each matrix once
    zeros = sum(o.measured.weight_zero_fraction * o.k * o.n for o in first)  # type: ignore[union-attr]
    assert cell["weight_zero_fraction"] == pytest.approx(zeros / sum(o.k * o.n for o in first))
    acts = sum(o.measured.act_sparsity * o.m * o.k for o in ops)  # type: ignore[union-attr]
    assert cell["act_sparsity"] == pytest.approx(acts / sum(o.m * o.k for o in ops))


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )  # fmt: skip


def test_cli_checkpoint_prompt_ids_and_run(tmp_path: Path) -> None:
    """A measured trace from a checkpoint runs through ``tersim run``; its per-layer sparsity
    is in the JSON record."""
    import json

    from safetensors.numpy import save_file
    from test_checkpoint import random_tensors
    from test_checkpoint import tiny_spec as bitnet_spec

    spec = bitnet_spec()
    save_file(random_tensors(spec), str(tmp_path / "model.safetensors"))
    wl_yaml = tmp_path / "tiny.yaml"
    wl_yaml.write_text(
        "name: tiny-bitnet\n"
        "architecture: {hidden: 32, layers: 2, heads: 4, kv_heads: 2, ffn: 48,\n"
        "  ffn_type: relu2_glu, vocab: 64, tied_embeddings: true, sublayer_norm: true,\n"
        "  max_context: 32}\n"
        "quantization: {weight_format: ternary, kv_cache_bits: 4}\n"
        "scenario: {batch: 1, prompt_tokens: 4, gen_tokens: 2}\n"
    )
    ids = tmp_path / "ids.txt"
    ids.write_text("5 9 11 2 7 3\n1 2 3 4 5 6\n")
    out = tmp_path / "trace.json"
    proc = _cli("trace", str(wl_yaml), "--measure", "--checkpoint", str(tmp_path),
                "--prompt-ids", str(ids), "--threads", "2", "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    wl = load_workload_trace(out)
    assert wl.is_measured and (wl.batch, wl.prompt_tokens, wl.gen_tokens) == (2, 6, 2)
    record = tmp_path / "run.json"
    proc = _cli("run", "--workload", str(wl_yaml), "--checkpoint", str(tmp_path),
                "--json", str(record))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "measured (prefill, 2 layers): weight zero fraction" in proc.stdout
    doc = json.loads(record.read_text())
    layers = doc["measured_by_layer"]["decode"]
    assert set(layers) == {"layer_0", "layer_1"}
    assert all(0 < v["weight_zero_fraction"] < 1 for v in layers.values())
    assert doc["run"]["scenario"]["prompt_tokens"] == 4  # the workload's scenario
    assert doc["baseline"]["scenario"]["prompt_tokens"] == 4
    bad = _cli("trace", str(wl_yaml), "--checkpoint", str(tmp_path), "-o", str(out))
    assert bad.returncode == 2 and "need --measure" in bad.stderr
    bad = _cli("trace", str(wl_yaml), "--measure", "--checkpoint", str(tmp_path / "nope"),
               "-o", str(tmp_path / "x.json"))  # fmt: skip
    assert bad.returncode == 2 and "no such checkpoint" in bad.stderr
    assert "Traceback" not in bad.stderr
    ids.write_text("1 2 3\n4 99 6\n")
    bad = _cli("trace", str(wl_yaml), "--measure", "--prompt-ids", str(ids), "-o", str(out))
    assert bad.returncode == 2 and "line 2: token '99' is not an id in [0, 64)" in bad.stderr
    assert load_workload_trace(out).prompt_tokens == 6  # the earlier trace is untouched
