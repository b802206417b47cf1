"""Whole workloads: fast == tile for every dataflow, and the physics a roofline predicts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import Dataflow, load_hardware, load_workload
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.run.pipeline import run
from tersim.sim import Fidelity
from tersim.workload.trace import Phase

ROOT = Path(__file__).resolve().parents[3]
TINY_HW = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
FP16_HW = load_hardware(ROOT / "hw_configs" / "fp16-128x128-7nm.yaml")


def _spec(
    hidden: int = 32,
    layers: int = 2,
    ffn: int = 48,
    heads: int = 4,
    kv: int = 2,
    ffn_type: str = "swiglu",
) -> ModelSpec:
    return ModelSpec(
        name="small",
        architecture=Architecture(
            hidden=hidden,
            layers=layers,
            heads=heads,
            kv_heads=kv,
            ffn=ffn,
            ffn_type=ffn_type,
            vocab=100,
            max_context=256,
        ),
    )


def _hw(base: HardwareConfig, **array: object) -> HardwareConfig:
    """``base`` with array fields changed and buffers wide enough to feed any array here."""
    wide = {
        r: base.buffer(r).model_copy(
            update={"read_bw_bytes_per_cycle": 1024.0, "write_bw_bytes_per_cycle": 1024.0}
        )
        for r in ("input", "weight", "output")
    }
    return base.model_copy(
        update={
            "array": base.array.model_copy(update=array),
            "sram": base.sram.model_copy(update=wide),
        }
    )


def _dram(base: HardwareConfig, bw: float) -> HardwareConfig:
    return base.model_copy(
        update={
            "dram": base.dram.model_copy(update={"bw_bytes_per_cycle": bw, "bw_gb_per_s": None})
        }
    )


@pytest.mark.parametrize("df", list(Dataflow))
@pytest.mark.parametrize("pe", ["ternary_add", "int8_mac"])
def test_fast_equals_tile_small_workload(df: Dataflow, pe: str) -> None:
    hw = _hw(TINY_HW, dataflow=df, pe_kind=pe)
    spec = _spec()
    kw = dict(prompt_tokens=12, gen_tokens=3, batch=2)
    tile = run(hw, spec, fidelity=Fidelity.TILE, **kw)
    fast = run(hw, spec, fidelity=Fidelity.FAST, **kw)
    assert fast.result.total_cycles == tile.result.total_cycles
    assert fast.result.busy_cycles == tile.result.busy_cycles
    assert fast.result.stall_cycles == tile.result.stall_cycles
    assert fast.result.spans == tile.result.spans
    assert fast.result.busy_cycles["dram"] == _dram_busy_by_hand(hw, fast)


def _dram_busy_by_hand(hw: HardwareConfig, rec) -> int:  # type: ignore[no-untyped-def]
    """The aggregate DRAM is busy ceil(bytes / bw) per tile load and per op write-back: summed
    from the schedule, without either engine."""
    bw = hw.dram_bw_bytes_per_cycle
    total = 0
    for op in rec.schedule.ops:
        total += sum(r.count * math.ceil(r.load_bytes / bw) for r in op.runs if r.load_bytes)
        total += math.ceil(op.write_bytes / bw) if op.write_bytes else 0
    return total


@pytest.mark.parametrize("df", list(Dataflow))
def test_fast_equals_tile_medium_workload(df: Dataflow) -> None:
    """A 2-layer model of width 256 on a 16x16 array: thousands of tiles per op."""
    hw = _hw(TINY_HW, dataflow=df, rows=16, cols=16)
    big_buffers = {
        r: hw.buffer(r).model_copy(update={"size_bytes": 1 << 16})
        for r in ("input", "weight", "output")
    }
    hw = hw.model_copy(update={"sram": hw.sram.model_copy(update=big_buffers)})
    spec = _spec(hidden=256, ffn=512, heads=8, kv=8)
    kw = dict(prompt_tokens=40, gen_tokens=2, batch=1)
    tile = run(hw, spec, fidelity=Fidelity.TILE, **kw)
    fast = run(hw, spec, fidelity=Fidelity.FAST, **kw)
    assert fast.result.total_cycles == tile.result.total_cycles
    assert fast.result.busy_cycles == tile.result.busy_cycles
    assert fast.result.busy_cycles["dram"] == _dram_busy_by_hand(hw, fast)


def test_dram_reads_cover_the_weights_used() -> None:
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    rec = run(
        load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml"),
        spec,
        prompt_tokens=64,
        gen_tokens=2,
    )
    from tersim.workload.trace import trace_shapes

    wl = trace_shapes(spec, rec.formats, prompt_tokens=64, gen_tokens=2)
    from tersim.workload.ops import TensorKind

    used = sum(op.read_bytes(TensorKind.WEIGHT) for op in wl.ops)
    assert rec.result.counts.dram_read_bytes["weights"] >= used


def test_tiny_bandwidth_makes_dram_the_bound() -> None:
    """As bandwidth shrinks, total cycles approach DRAM bytes / bandwidth from above.

    Not within a fixed factor at any one bandwidth: per-op DRAM latency and computes the
    double buffer cannot hide add a constant, so the ratio falls towards 1 as bw -> 0."""
    spec = _spec()
    ratios = []
    for bw in (0.5, 0.05, 0.005):
        rec = run(_dram(TINY_HW, bw), spec, prompt_tokens=8, gen_tokens=2)
        c = rec.result.counts
        bound = (sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values())) / bw
        assert rec.result.total_cycles >= bound
        ratios.append(rec.result.total_cycles / bound)
    assert ratios[0] > ratios[1] > ratios[2]
    assert ratios[2] < 1.01


def test_ideal_memory_makes_compute_the_bound() -> None:
    """With free transfers nothing waits for data: in one chain (program order) the run is
    exactly the computes end to end; over the graph the units overlap, so it lies between the
    busiest unit and that sum, strictly below it here (RoPE beside the V projection)."""
    from tersim.config.enums import DependencyRule, OrderRule

    chain_hw = TINY_HW.model_copy(
        update={
            "scheduling": TINY_HW.scheduling.model_copy(
                update={"dependencies": DependencyRule.PROGRAM_ORDER, "order": OrderRule.PROGRAM}
            )
        }
    )
    chain = run(chain_hw, _spec(), prompt_tokens=8, gen_tokens=2, ideal_memory=True).result
    busy = chain.busy_cycles["array"] + chain.busy_cycles["vector"]
    assert chain.total_cycles == busy
    assert sum(chain.stall_cycles.values()) == 0
    graph = run(TINY_HW, _spec(), prompt_tokens=8, gen_tokens=2, ideal_memory=True).result
    assert graph.busy_cycles == chain.busy_cycles
    assert max(graph.busy_cycles["array"], graph.busy_cycles["vector"]) <= graph.total_cycles
    assert graph.total_cycles < busy


def test_tiny_array_makes_compute_the_bound() -> None:
    """A 2x2 array: total cycles approach the compute units' busy time from above.

    With the DRAM latency at 0: at 50 cycles, two buffer slots cannot hide the latency behind
    2x2 passes of ~10 cycles each, and the run is latency-bound instead (the true statement:
    a tiny array is the bound only when the memory can keep up). In one chain (program order)
    the bound is the units' summed busy time; over the graph the units overlap, so the run lies
    between the busiest unit and the chain's time."""
    from tersim.config.enums import DependencyRule, OrderRule

    hw = _hw(TINY_HW, rows=2, cols=2)
    hw = hw.model_copy(update={"dram": hw.dram.model_copy(update={"latency_cycles": 0})})
    chain_rules = hw.scheduling.model_copy(
        update={"dependencies": DependencyRule.PROGRAM_ORDER, "order": OrderRule.PROGRAM}
    )
    chain = run(
        hw.model_copy(update={"scheduling": chain_rules}), _spec(), prompt_tokens=8, gen_tokens=2
    )
    busy = chain.result.busy_cycles["array"] + chain.result.busy_cycles["vector"]
    assert busy <= chain.result.total_cycles <= 1.05 * busy
    graph = run(hw, _spec(), prompt_tokens=8, gen_tokens=2).result
    most = max(graph.busy_cycles["array"], graph.busy_cycles["vector"])
    assert most <= graph.total_cycles <= chain.result.total_cycles


@settings(max_examples=25)
@given(
    bw=st.sampled_from([1.0, 2.0, 4.0, 16.0, 64.0]),
    factor=st.sampled_from([2, 4]),
    df=st.sampled_from(list(Dataflow)),
)
def test_more_bandwidth_never_slower(bw: float, factor: int, df: Dataflow) -> None:
    spec = _spec()
    hw = _hw(TINY_HW, dataflow=df)
    slow = run(_dram(hw, bw), spec, prompt_tokens=8, gen_tokens=2).result.total_cycles
    fast = run(_dram(hw, bw * factor), spec, prompt_tokens=8, gen_tokens=2).result.total_cycles
    assert fast <= slow


def test_decode_memory_bound_prefill_compute_bound_7b() -> None:
    """LLaMA-2 7B on the FP16 128x128 design with HBM2 (256 B/cycle): decode moves ~13 GB of
    weights per token at 256 B/cycle and computes ~6.7 G MACs on 16k PEs: the roofline says
    memory-bound. Prefill of 512 tokens reuses each weight 512 times: compute-bound."""
    spec = load_workload(ROOT / "workloads" / "llama2-7b.yaml")
    dec = run(FP16_HW, spec, phases=(Phase.DECODE,), prompt_tokens=512, gen_tokens=1)
    pre = run(FP16_HW, spec, phases=(Phase.PREFILL,), prompt_tokens=512, gen_tokens=0)
    bw = FP16_HW.dram_bw_bytes_per_cycle
    dec_mem = sum(dec.result.counts.dram_read_bytes.values()) / bw
    assert dec.result.busy_cycles["dram"] >= 0.5 * dec.result.total_cycles
    assert dec.result.total_cycles >= dec_mem
    pre_mem = sum(pre.result.counts.dram_read_bytes.values()) / bw
    assert pre.result.busy_cycles["array"] > 2 * pre_mem
    assert pre.result.stall_cycles["array"] < 0.1 * pre.result.total_cycles


@pytest.mark.parametrize("df", list(Dataflow))
def test_dram_counts_are_the_bytes_transferred(df: Dataflow) -> None:
    """At 1 byte per cycle every transferred byte is one busy DRAM cycle."""
    rec = run(_dram(_hw(TINY_HW, dataflow=df), 1.0), _spec(), prompt_tokens=8, gen_tokens=2)
    c = rec.result.counts
    assert rec.result.busy_cycles["dram"] == (
        sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values())
    )


def test_kv_cache_that_does_not_fit_dram_is_an_error() -> None:
    from tersim.errors import DesignError

    spec = load_workload(ROOT / "workloads" / "llama2-7b.yaml")
    small = FP16_HW.model_copy(
        update={"dram": FP16_HW.dram.model_copy(update={"capacity_bytes": 16 * 2**30})}
    )
    run(small, spec, prompt_tokens=128, gen_tokens=1)  # 13.5 GB of weights + small KV: fits
    with pytest.raises(
        DesignError, match=r"^dram\.capacity_bytes: .*KV cache .* dram\.capacity_bytes"
    ):
        run(small, spec, prompt_tokens=2048, gen_tokens=2048, batch=8)


def test_trace_in_a_format_the_pe_cannot_run_is_an_error() -> None:
    from tersim.errors import WorkloadError
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import trace_shapes

    spec = _spec()
    wl = trace_shapes(
        spec, resolve_formats(spec, TINY_HW.array.pe_kind), prompt_tokens=4, gen_tokens=1
    )
    with pytest.raises(WorkloadError, match=r"cannot run on .*fp16_mac"):
        run(FP16_HW, spec, workload=wl)


def test_vector_streams_run_near_the_roofline() -> None:
    """Every vector-unit op of a 3B decode step on the ternary design (attention, LM head)
    finishes within 1.25x of max(its compute, its DRAM bytes / bandwidth) plus the DRAM
    latency: prefetch hides latency (two fixed slots once ran these at 7% of the bandwidth)."""
    from tersim.mapping.ops import map_workload
    from tersim.sim import memory_timing, simulate
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import trace_shapes

    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml")
    wl = trace_shapes(
        spec,
        resolve_formats(spec, hw.array.pe_kind),
        phases=(Phase.DECODE,),
        prompt_tokens=512,
        gen_tokens=1,
    )
    sched = map_workload(hw, wl)
    res = simulate(sched, memory_timing(hw), hw.array.clock_hz)
    bw = hw.dram_bw_bytes_per_cycle
    checked = 0
    for op, span in zip(sched.ops, res.spans, strict=True):
        if op.kind not in ("attn_qk", "attn_av", "lm_head"):
            continue
        compute = sum(r.count * r.compute_cycles for r in op.runs)
        load = sum(r.count * r.load_bytes for r in op.runs)
        bound = max(compute, load / bw)
        assert span.end_cycle - span.start_cycle <= 1.25 * bound + hw.dram.latency_cycles, op.name
        checked += 1
    assert checked == 2 * 26 + 1


def test_vector_matmul_is_limited_by_the_weight_port_by_hand() -> None:
    """The FP16 LM head of BitNet 3B on the ternary design runs on 128 lanes: 32000 x 3200
    MACs per token = 800,000 cycles of lanes, but its 204.8 MB of FP16 weights cross the
    weight buffer's 128 B/cycle read port in 1,600,000 cycles: the port is the bound."""
    from tersim.mapping.ops import map_workload
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import trace_shapes

    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml")
    wl = trace_shapes(
        spec,
        resolve_formats(spec, hw.array.pe_kind),
        phases=(Phase.DECODE,),
        prompt_tokens=8,
        gen_tokens=1,
    )
    sched = map_workload(hw, wl)
    head = next(o for o in sched.ops if o.kind == "lm_head")
    assert sum(r.count * r.compute_cycles for r in head.runs) == 32000 * 3200 * 2 // 128


def test_layer_cycles_cover_the_phase() -> None:
    """Ops run one after another, so the layers' spans add up to the phase's cycles."""
    rec = run(TINY_HW, _spec(), prompt_tokens=8, gen_tokens=3)
    layers = rec.layer_cycles()
    assert set(layers) == {"prefill", "decode"}
    assert sum(layers["prefill"].values()) == rec.result.phase_cycles("prefill")
    assert sum(layers["decode"].values()) <= rec.result.phase_cycles("decode")
    assert len([k for k in layers["decode"] if k.startswith("layer_")]) == 2


def test_fast_weight_path_makes_ternary_decode_memory_bound() -> None:
    """With shadow registers and an 8-row load path, BitNet 3B decode on the ternary design is
    no longer preload-bound: it runs several times faster and DRAM is busy most of the time."""
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml")
    kw = dict(phases=(Phase.DECODE,), prompt_tokens=512, gen_tokens=2)
    slow = run(load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml"), spec, **kw)
    fast = run(load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm-fastload.yaml"), spec, **kw)
    assert fast.result.total_cycles * 4 < slow.result.total_cycles
    assert fast.result.busy_cycles["dram"] > 0.7 * fast.result.total_cycles
    assert slow.result.busy_cycles["dram"] < 0.2 * slow.result.total_cycles
