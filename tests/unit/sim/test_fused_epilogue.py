"""The fused epilogue (``scheduling.fused_epilogue``) on mapped workloads: the schedule the
mapping builds (checked by hand against the array's folds and the vector unit's rate), every
engine equal on it (the per-tile simpy oracle, the run engine, the fast path), and the option's
configuration errors. The engine rule itself is checked by hand and on drawn graphs in
test_graph_engine.py and test_alone.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import Dataflow, load_hardware
from tersim.config.enums import MappingObjective
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.errors import ConfigError
from tersim.hw.counts import ActionCounts
from tersim.mapping.epilogue import FusedEpilogue
from tersim.mapping.gemm import Operands, gemm_problem
from tersim.mapping.schedule import TileRun
from tersim.mapping.search import search
from tersim.run.judge import engine_judge
from tersim.run.pipeline import run
from tersim.sim import Fidelity
from tersim.workload.ops import OpKind

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "hw_configs" / "ternary-8x8-tiny.yaml"
SPEC = ModelSpec(
    name="small",
    architecture=Architecture(
        hidden=32, layers=2, heads=4, kv_heads=2, ffn=48, ffn_type="swiglu", vocab=100,
        max_context=256,
    ),
)  # fmt: skip
SCENARIO = {"prompt_tokens": 12, "gen_tokens": 3, "batch": 2}


def _design(df: Dataflow, fused: bool) -> HardwareConfig:
    """The tiny ternary design (8x8 array, 8-lane vector unit, 8-bit activations: every
    projection has a rescale epilogue) with buffer ports wide enough for any dataflow."""
    hw = load_hardware(TINY)
    wide = {
        r: hw.buffer(r).model_copy(
            update={"read_bw_bytes_per_cycle": 1024.0, "write_bw_bytes_per_cycle": 1024.0}
        )
        for r in ("input", "weight", "output")
    }
    return hw.model_copy(
        update={
            "array": hw.array.model_copy(update={"dataflow": df}),
            "sram": hw.sram.model_copy(update=wide),
            "scheduling": hw.scheduling.model_copy(update={"fused_epilogue": fused}),
        }
    )


def test_the_rescale_streams_behind_the_output_blocks_by_hand() -> None:
    """q_proj of the 24-token prefill (2 x 12 tokens, 32 outputs) on the 8x8 OS array: 3 x 4
    passes, each completing an 8x8 block of outputs. Unfused, its rescale is one vector tile
    of 24 x 32 x 2 ops / 8 lanes = 192 cycles after the last pass. Fused, every pass carries
    its block's epilogue, 8 x 8 x 2 / 8 = 16 cycles on the vector unit, from its drain's end
    (the pass latency minus its issue interval: what the last pass's compute adds to the
    others'); the last pass's from its own end. The same 192 cycles in all."""
    plain = run(_design(Dataflow.OS, False), SPEC, **SCENARIO).schedule
    fused = run(_design(Dataflow.OS, True), SPEC, **SCENARIO).schedule
    q0 = next(op for op in plain.ops if op.name == "L0.q_proj")
    q1 = next(op for op in fused.ops if op.name == "L0.q_proj")
    assert q0.runs[-1].unit == "vector" and q0.runs[-1].compute_cycles == 192
    array = q0.runs[:-1]
    assert sum(r.count for r in array) == 12
    assert [(r.count, r.compute_cycles) for r in q1.runs] == [
        (r.count, r.compute_cycles) for r in array
    ]
    assert all(r.epilogue_cycles == 16 and r.epilogue_unit == "vector" for r in q1.runs)
    drain = q1.runs[-1].compute_cycles - q1.runs[0].compute_cycles
    assert drain > 0
    assert [r.write_ready_cycles for r in q1.runs] == [drain] * (len(q1.runs) - 1) + [0]
    assert sum(r.count * r.epilogue_cycles for r in q1.runs) == 192
    # only the ops with a rescale change: the same ops, kinds and DRAM traffic
    assert [(o.name, o.kind, o.counts) for o in plain.ops] == [
        (o.name, o.kind, o.counts) for o in fused.ops
    ]
    for a, b in zip(plain.ops, fused.ops, strict=True):
        fused_runs = any(r.epilogue_cycles for r in b.runs)
        assert fused_runs == (a.kind is OpKind.LINEAR), a.name
        if not fused_runs:
            assert a.runs == b.runs


@pytest.mark.parametrize("df", list(Dataflow))
def test_every_engine_agrees_with_the_fused_epilogue(df: Dataflow) -> None:
    """The per-tile simpy oracle, the run engine and the fast path on a small workload (2
    layers, prefill and 3 decode steps), fused: the same cycles, per op, per unit."""
    hw = _design(df, True)
    got = [run(hw, SPEC, fidelity=f, **SCENARIO).result for f in Fidelity]
    first = got[0]
    for r in got[1:]:
        assert r.total_cycles == first.total_cycles
        assert list(r.spans) == list(first.spans)
        assert r.busy_cycles == first.busy_cycles
        assert r.stall_cycles == first.stall_cycles
        assert r.timelines == first.timelines
    plain = run(_design(df, False), SPEC, **SCENARIO).result
    # the vector unit's busy cycles move only by the per-block rounding (none here: every
    # block's ops are a multiple of the 8 lanes)
    assert first.busy_cycles == plain.busy_cycles


def _yaml(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "design.yaml"
    p.write_text(TINY.read_text() + extra)
    return p


def test_the_fused_epilogue_needs_the_searched_mapping(tmp_path: Path) -> None:
    bad = _yaml(tmp_path, "scheduling:\n  fused_epilogue: true\nmapping:\n  search: heuristic\n")
    with pytest.raises(ConfigError, match=r"scheduling\.fused_epilogue.*mapping\.search"):
        load_hardware(bad)
    ok = _yaml(tmp_path, "scheduling:\n  fused_epilogue: true\n")
    assert load_hardware(ok).scheduling.fused_epilogue


def test_the_attention_pipeline_is_not_built(tmp_path: Path) -> None:
    bad = _yaml(tmp_path, "scheduling:\n  attention_pipeline: true\n")
    with pytest.raises(ConfigError, match=r"scheduling\.attention_pipeline.*not built yet"):
        load_hardware(bad)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    k=st.integers(1, 48),
    instances=st.integers(1, 3),
    df=st.sampled_from(list(Dataflow)),
    y_on_chip=st.booleans(),
)
def test_the_searched_fused_product_against_the_unfused(
    m: int, n: int, k: int, instances: int, df: Dataflow, y_on_chip: bool
) -> None:
    """A product with a rescale (2 ops per output, 8 lanes) searched with its epilogue fused
    and unfused on the tiny design: the search with the fused epilogue (its relaxed bound
    includes the last block's epilogue) finds the exhaustive optimum, and is never slower than
    the unfused optimum by more than the per-block rounding (the fused epilogue cycles beyond
    the unfused tile's): each point's op ends by max(vector unit, last pass) plus all its
    epilogue cycles."""
    hw = _design(df, True)
    judge = engine_judge(hw)
    ops = Operands(8, 2, 8, 32, input_on_chip=False, output_on_chip=y_on_chip)
    problem = replace(gemm_problem(hw, m, n, k, ops, instances), epilogue=True)
    rescale = -(-m * n * instances * 2 // 8)
    goal = MappingObjective.LATENCY
    plain = search(problem, judge, goal, ActionCounts(), (TileRun(1, 0, rescale, "vector"),))
    fused_problem = replace(problem, fused=FusedEpilogue("vector", 2, 8))
    fused = search(fused_problem, judge, goal, ActionCounts())
    assert (
        fused.cycles == search(fused_problem, judge, goal, ActionCounts(), exhaustive=True).cycles
    )
    excess = sum(r.count * r.epilogue_cycles for r in fused.runs) - rescale
    assert excess >= 0
    assert all(r.epilogue_unit == "vector" for r in fused.runs if r.epilogue_cycles)
    assert fused.cycles <= plain.cycles + excess
