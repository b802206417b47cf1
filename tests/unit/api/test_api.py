"""The Python API: entry points, validation like YAML's, the result object and its rows."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import tersim
from tersim.cost.energy import price_list
from tersim.errors import ConfigError, TersimError, WorkloadError

ROOT = Path(__file__).resolve().parents[3]
TINY = "ternary-8x8-tiny"
SMALL = "bitnet-b1.58-700m"


@pytest.fixture(scope="module")
def result() -> tersim.Result:
    return tersim.run(
        TINY, SMALL, phase="both", prompt_tokens=8, gen_tokens=2, baseline="fp16-128x128-7nm"
    )


def test_top_level_names_and_the_pipeline_module() -> None:
    assert callable(tersim.run) and tersim.run.__module__ == "tersim.api"
    from tersim.run import pipeline
    from tersim.run.pipeline import RunRecord

    assert pipeline.RunRecord is RunRecord


def test_functional_exports_compute_an_exact_ternary_product() -> None:
    from tersim.functional import pack_ternary, quantize_ternary, ternary_matmul

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 24))
    tw = quantize_ternary(w)
    x = rng.integers(-128, 128, size=(5, 64), dtype=np.int8)
    y, counts = ternary_matmul(x, pack_ternary(tw.trits))
    np.testing.assert_array_equal(y, x.astype(np.int64) @ tw.trits.astype(np.int64))
    zeros = int(np.sum(tw.trits == 0))
    assert (counts.skip, counts.add + counts.sub) == (5 * zeros, 5 * (64 * 24 - zeros))


def test_loading_by_name_path_and_config_json() -> None:
    by_name = tersim.load_hardware(TINY)
    assert tersim.load_hardware(ROOT / "hw_configs" / f"{TINY}.yaml") == by_name
    assert tersim.load_workload(SMALL).name == SMALL
    with pytest.warns(tersim.ImportNote, match="sliding_window"):
        spec = tersim.load_workload(ROOT / "tests" / "data" / "hf_configs" / "mistral-7b-v0.1.json")
    assert spec.architecture.max_context == 4096
    with pytest.raises(TersimError, match="no shipped hardware"):
        tersim.load_hardware("no-such-design")


def test_summary_and_document(result: tersim.Result) -> None:
    s = result.summary()
    d, b = s["design"], s["baseline"]
    assert (d["design"], b["design"]) == (TINY, "fp16-128x128-7nm")
    assert d["prompt_tokens"] == b["prompt_tokens"] == 8 and d["gen_tokens"] == 2
    rec = result.record
    assert d["latency_s"] == rec.result.total_cycles / rec.result.clock_hz
    assert d["decode_tokens_per_s_batch"] == pytest.approx(2 / d["decode_s"])
    assert d["energy_total_pj"] == rec.energy.total_pj
    assert s["ratios"]["energy_saving"] == pytest.approx(
        b["energy_total_pj"] / d["energy_total_pj"]
    )
    doc = result.to_dict()
    assert (
        set(doc) == {"run", "baseline", "ratios"}
        and doc["run"]["total_cycles"] == d["total_cycles"]
    )


def test_op_rows_add_up_to_the_run(result: tersim.Result) -> None:
    """Rows are built from the schedule and the spans; the run's totals from the simulator's
    summed counts. They must agree to the byte and (for energy) to rounding."""
    for rec, rows in ((result.record, result.ops()), (result.baseline, result.ops(baseline=True))):
        assert rec is not None
        c = rec.result.counts
        assert len(rows) == len(rec.result.spans)
        for operand in ("weights", "activations", "kv_cache"):
            assert (
                sum(getattr(r, f"dram_read_{operand}_bytes") for r in rows)
                == c.dram_read_bytes[operand]
            )
            assert (
                sum(getattr(r, f"dram_write_{operand}_bytes") for r in rows)
                == c.dram_write_bytes[operand]
            )
        for buf in ("input", "weight", "output"):
            assert sum(getattr(r, f"sram_read_{buf}_bytes") for r in rows) == c.sram_read_bytes[buf]
        pe = c.pe_total
        assert sum(r.pe_add + r.pe_sub + r.pe_skip for r in rows) == pe.add + pe.sub + pe.skip
        assert sum(r.pe_mul for r in rows) == pe.mul
        dynamic = rec.energy.total_pj - rec.energy.leakage_pj
        assert math.isclose(sum(r.energy_dynamic_pj for r in rows), dynamic, rel_tol=1e-9)
        # the run ends when its last op does, or later, when the last write reaches DRAM
        assert max(r.end_cycle for r in rows) <= rec.result.total_cycles
        assert all(
            (r.span_cycles >= 0 and r.compute_cycles <= r.span_cycles) or r.unit == "vector"
            for r in rows
        )
        assert {r.phase for r in rows} == {"prefill", "decode"}
        assert max(r.step for r in rows if r.phase == "decode") == 1


def test_one_op_row_by_hand(result: tersim.Result) -> None:
    """Decode q_proj of the 700M model (1536 x 1536, 2-bit trits) on the tiny ternary array:
    weights 1536 * 1536 / 4 bytes from DRAM, one add/sub/skip slot per weight, energy = counts x
    the design's prices."""
    row = next(r for r in result.ops() if r.op == "L0.q_proj" and r.phase == "decode")
    assert (row.m, row.n, row.k, row.macs, row.unit) == (1, 1536, 1536, 1536 * 1536, "array")
    assert row.dram_read_weights_bytes == 1536 * 1536 // 4
    assert row.pe_add + row.pe_sub + row.pe_skip == 1536 * 1536 and row.pe_mul == 0
    prices = price_list(result.record.hardware)
    dram_bytes = sum(
        getattr(row, f"dram_{d}_{o}_bytes")
        for d in ("read", "write")
        for o in ("weights", "activations", "kv_cache")
    )
    assert row.energy_dram_pj == pytest.approx(8 * dram_bytes * prices.dram_pj_per_bit.value)
    add = (row.pe_add + row.pe_sub) * prices.add_pj.value + row.pe_skip * prices.skip_pj.value
    assert row.energy_add_pj == pytest.approx(add)
    assert row.mapping.startswith("array: ") and "dataflow" in row.mapping


def test_dataframes(result: tersim.Result) -> None:
    ops = result.to_dataframe()
    assert ops.shape == (len(result.ops()), len(result.ops()[0].to_dict()))
    assert "energy_dynamic_pj" in ops.columns and "dram_read_weights_bytes" in ops.columns
    runs = result.to_dataframe("runs")
    assert list(runs["role"]) == ["design", "baseline"]
    assert result.to_dataframe(tersim.Table.BASELINE_OPS).shape[0] == len(result.ops(baseline=True))
    with pytest.raises(TersimError, match="table: unknown value 'opz'"):
        result.to_dataframe("opz")


# --- misuse gives TersimError with what to change ---------------------------------------------


def test_wrong_keyword_is_a_tersim_error() -> None:
    with pytest.raises(TersimError, match=r"unknown argument 'phases' \(did you mean 'phase'\?\)"):
        tersim.run(TINY, SMALL, phases="prefill")  # type: ignore[call-arg]
    from tersim.run.pipeline import run as run_pipeline

    hw, spec = tersim.load_hardware(TINY), tersim.load_workload(SMALL)
    with pytest.raises(WorkloadError, match="phases: expected a non-empty tuple of Phase"):
        run_pipeline(hw, spec, phases="prefill")  # type: ignore[arg-type]


def test_unvalidated_copies_are_caught() -> None:
    hw = tersim.load_hardware(TINY)
    bad = hw.model_copy(update={"array": hw.array.model_copy(update={"rows": 0})})
    with pytest.raises(ConfigError, match=r"array\.rows: input should be greater than 0"):
        tersim.run(bad, SMALL, phase="prefill", prompt_tokens=4)
    with pytest.raises(ConfigError, match=r"rows: unknown field .*tersim\.derive"):
        tersim.gemm(hw.model_copy(update={"rows": 0}), 4, 4, 4)  # a key that does not exist


def test_derive_validates() -> None:
    hw = tersim.load_hardware(TINY)
    small = tersim.derive(hw, **{"array.rows": 4, "array.cols": 4})
    assert (small.array.rows, small.array.cols, hw.array.rows) == (4, 4, 8)
    with pytest.raises(ConfigError, match=r"array\.rows: input should be greater than 0"):
        tersim.derive(hw, **{"array.rows": 0})
    with pytest.raises(TersimError, match=r"array\.rowz: unknown field \(did you mean rows"):
        tersim.derive(hw, **{"array.rowz": 4})
    spec = tersim.derive(tersim.load_workload(SMALL), **{"scenario.prompt_tokens": 16})
    assert spec.scenario.prompt_tokens == 16


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prompt_tokens": -1}, "prompt_tokens: expected an integer of at least 1"),
        ({"gen_tokens": 1.5}, "gen_tokens: expected an integer"),
        ({"batch": True}, "batch: expected an integer"),
        ({"fidelity": "exact"}, "fidelity: unknown value 'exact'"),
        ({"weight_format": "fp8"}, "weight_format: unknown value 'fp8'"),
        ({"phase": "warmup"}, "unknown phase 'warmup'"),
        ({"hw": 42}, "hw: expected a HardwareConfig"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"hw": TINY, "workload": SMALL, "prompt_tokens": 4, "gen_tokens": 0}
    args.update(kwargs)
    with pytest.raises(TersimError, match=needle):
        tersim.run(**args)  # type: ignore[arg-type]


def test_a_trace_fixes_the_scenario_of_both_runs(tmp_path: Path) -> None:
    wl = tersim.trace(SMALL, phase="decode", prompt_tokens=8, gen_tokens=1)
    res = tersim.run(TINY, SMALL, trace=wl, baseline="fp16-128x128-7nm")
    assert res.baseline is not None
    for rec in (res.record, res.baseline):
        assert (rec.scenario.prompt_tokens, rec.scenario.gen_tokens) == (8, 1)
    with pytest.raises(TersimError, match="prompt_tokens: 16 conflicts with the trace"):
        tersim.run(TINY, SMALL, trace=wl, prompt_tokens=16)


def test_gemm_time_and_energy_by_hand() -> None:
    g = tersim.gemm(TINY, 16, 16, 16)
    doc = g.to_json()
    hw = tersim.load_hardware(TINY)
    p = price_list(hw)
    assert g.seconds == doc["total_cycles"] / hw.array.clock_hz
    pe = doc["pe_ops"]
    arithmetic = (pe["add"] + pe["sub"]) * p.add_pj.value + pe["skip"] * p.skip_pj.value
    sram = sum(
        (doc["sram_reads_bytes"][b] + doc["sram_writes_bytes"][b]) * p.sram_pj_per_byte[b]
        for b in ("input", "weight", "output")
    )
    dram = 8 * (doc["dram_read_bytes"] + doc["dram_write_bytes"]) * p.dram_pj_per_bit.value
    leak = sum(p.leakage_mw.values()) * g.seconds * 1e9  # area x density, by component
    assert g.energy.total_pj == pytest.approx(arithmetic + sram + dram + leak, rel=1e-12)
    with pytest.raises(TersimError, match="k: expected an integer of at least 1"):
        tersim.gemm(TINY, 4, 4, 0)


def test_sweep_api(tmp_path: Path) -> None:
    summary = tersim.sweep(ROOT / "tests" / "data" / "api_sweep.yaml", store=tmp_path / "s.sqlite")
    points = sorted(summary.points, key=lambda p: p.params["array.rows"])
    assert [p.params["array.rows"] for p in points] == [4, 8]
    assert all(p.status.value == "ok" and p.reason is None for p in points)
    latency = [o.metric for o in summary.objectives].index("seconds")
    assert points[0].objectives[latency] > points[1].objectives[latency]  # half the rows: slower


def test_example_script_runs(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert "energy saving (baseline / design)" in res.stdout
    runs = (tmp_path / "runs.csv").read_text().splitlines()
    assert len(runs) == 3 and "energy_total_pj" in runs[0] and "latency_s" in runs[0]
    assert (tmp_path / "ops.csv").exists() and (tmp_path / "baseline_ops.csv").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped path: no import notes
        tersim.load_workload("bitnet-b1.58-2b4t")
