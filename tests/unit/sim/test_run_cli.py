"""`tersim run` through the console entry point: the README's main job and its JSON record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_run_with_no_arguments_compares_ternary_and_fp16(tmp_path: Path) -> None:
    res = _cli("run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ternary-128x128-7nm" in res.stdout and "fp16-128x128-7nm" in res.stdout
    assert "bitnet-b1.58-3b" in res.stdout
    for row in ("latency", "time to first token", "decode tokens/s", "DRAM read", "energy: total"):
        assert row in res.stdout


def test_run_json_record(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    res = _cli(
        "run",
        "--workload",
        "bitnet-b1.58-700m",
        "--prompt-tokens",
        "32",
        "--gen-tokens",
        "2",
        "--json",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    rec = doc["run"]
    for key in (
        "total_cycles",
        "seconds",
        "phases",
        "dram_read_bytes",
        "dram_write_bytes",
        "dram_read_bytes_by_kind",
        "utilization",
        "hardware",
        "workload",
        "tersim_version",
        "energy_pj",
        "counts",
    ):
        assert key in rec
    assert set(rec["phases"]) == {"prefill", "decode"}
    assert rec["phases"]["decode"]["tokens"] == 2
    for key in ("mul", "add", "sram", "dram", "vector", "leakage", "total"):
        assert key in rec["energy_pj"]
    assert rec["hardware"]["name"] == "ternary-128x128-7nm"
    assert doc["baseline"]["hardware"]["name"] == "fp16-128x128-7nm"
    assert doc["ratios"]["energy_saving"] > 1


def test_run_bad_input_exits_2_and_keeps_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    out.write_text("previous result\n")
    res = _cli(
        "run", "--workload", "bitnet-b1.58-700m", "--prompt-tokens", "4000", "--json", str(out)
    )
    assert res.returncode == 2
    assert "exceeds the model's context" in res.stderr and "Traceback" not in res.stderr
    assert out.read_text() == "previous result\n"
    res = _cli("run", "--hw", "no-such-design")
    assert res.returncode == 2 and "no shipped hardware" in res.stderr
    res = _cli("run", "--weight-format", "fp16", "--baseline", "none")
    assert res.returncode == 2 and "cannot run on a 'ternary_add' array" in res.stderr


def test_same_inputs_give_byte_identical_json(tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        out = tmp_path / f"rec{i}.json"
        res = _cli(
            "run",
            "--workload",
            "bitnet-b1.58-700m",
            "--prompt-tokens",
            "16",
            "--gen-tokens",
            "2",
            "--json",
            str(out),
        )
        assert res.returncode == 0, res.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_measured_trace_counts_flow_into_the_run(tmp_path: Path) -> None:
    """tersim trace --measure, then tersim run --trace: the run's adds, subs and skips are the
    functional model's counted ones, summed over the linear ops of the trace."""
    spec = tmp_path / "small.yaml"
    spec.write_text(
        "name: small\narchitecture: {hidden: 64, layers: 2, heads: 4, kv_heads: 2, ffn: 96,\n"
        "  ffn_type: relu2_glu, vocab: 128, max_context: 64}\n"
        "quantization: {weight_format: ternary}\n"
        "scenario: {prompt_tokens: 6, gen_tokens: 2}\n"
    )
    trace = tmp_path / "t.json"
    res = _cli(
        "trace",
        str(spec),
        "--measure",
        "--prompt-tokens",
        "6",
        "--gen-tokens",
        "2",
        "-o",
        str(trace),
    )
    assert res.returncode == 0, res.stderr
    out = tmp_path / "rec.json"
    res = _cli(
        "run",
        "--hw",
        "ternary-8x8-tiny",
        "--workload",
        str(spec),
        "--trace",
        str(trace),
        "--prompt-tokens",
        "6",
        "--gen-tokens",
        "2",
        "--json",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    from tersim.workload.trace import load_workload_trace

    wl = load_workload_trace(trace)
    measured = [op.measured for op in wl.ops if op.measured is not None]
    counts = json.loads(out.read_text())["run"]["counts"]
    assert counts["add"] == sum(m.adds for m in measured)
    assert counts["sub"] == sum(m.subs for m in measured)
    assert counts["skip"] == sum(m.skips for m in measured)
