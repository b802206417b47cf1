"""Designs with several compute units: assignment, its errors, and the engines on whole small
workloads (the per-tile oracle equals the run-level simpy engine and the fast path, per op and
per unit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import load_hardware
from tersim.config.enums import OpKind
from tersim.config.hardware import HardwareConfig, UnitConfig, VectorUnitConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.errors import ConfigError
from tersim.hw.counts import ActionCounts
from tersim.mapping.assign import plan_segment
from tersim.mapping.placement import Placement
from tersim.mapping.schedule import OpSchedule, Schedule, TileRun
from tersim.run.pipeline import RunRecord, run
from tersim.sim import Fidelity, MemoryTiming, simulate
from tersim.workload.ops import Phase

ROOT = Path(__file__).resolve().parents[3]
TINY = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
KW = dict(prompt_tokens=12, gen_tokens=3, batch=2)


def _spec(layers: int = 2) -> ModelSpec:
    return ModelSpec(
        name="small",
        architecture=Architecture(
            hidden=32,
            layers=layers,
            heads=4,
            kv_heads=2,
            ffn=48,
            ffn_type="swiglu",
            vocab=100,
            max_context=256,
        ),
    )


def _with_units(hw: HardwareConfig, *units: UnitConfig, **extra: object) -> HardwareConfig:
    return hw.model_copy(update={"units": tuple(units), **extra})


ATTN = UnitConfig(
    name="attn",
    matrix=TINY.array.model_copy(update={"pe_kind": "int8_mac", "rows": 4, "cols": 4}),
)
HETERO = _with_units(TINY, ATTN, kv_cache_bits=8)


def _kinds_on(rec: RunRecord) -> dict[str, set[str]]:
    assert rec.schedule is not None
    out: dict[str, set[str]] = {}
    for op in rec.schedule.ops:
        out.setdefault(op.unit, set()).add(op.kind.value)
    return out


def test_attention_goes_to_the_int8_unit_only_against_an_8bit_cache() -> None:
    """Automatic assignment: a matrix unit that can run the product; an INT8 MAC runs
    attention against an 8-bit KV cache; against a 16-bit one attention stays on the vector
    unit (the ternary array cannot multiply activations)."""
    on = _kinds_on(run(HETERO, _spec(), **KW))
    assert {"attn_qk", "attn_av"} <= on["attn"]
    assert "lm_head" in on["vector"]  # FP16 head: no matrix unit takes FP16 weights
    off = _kinds_on(run(_with_units(TINY, ATTN), _spec(), **KW))
    assert {"attn_qk", "attn_av"} <= off["vector"]
    assert "attn_qk" not in off.get("attn", set())


def test_assign_pins_an_op_kind() -> None:
    pinned = _with_units(TINY, ATTN, kv_cache_bits=8, assign={OpKind.LINEAR: "attn"})
    on = _kinds_on(run(pinned, _spec(), **KW))
    assert "linear" in on["attn"] and "linear" not in on.get("array", set())


def test_an_impossible_assignment_names_op_kind_and_unit() -> None:
    """The ternary array cannot run attention: a ConfigError naming assign.attn_qk, the unit
    and why."""
    bad = TINY.model_copy(update={"assign": {OpKind.ATTN_QK: "array"}})
    with pytest.raises(ConfigError, match=r"assign\.attn_qk: unit 'array' .*cannot run attn_qk"):
        run(bad, _spec(), **KW)
    no_vector = TINY.model_copy(
        update={"vector_unit": VectorUnitConfig(runs=("norm", "quantize", "rescale"))}
    )
    with pytest.raises(ConfigError, match=r"no unit can run"):
        run(no_vector, _spec(), **KW)


def test_a_unit_no_op_uses_changes_nothing() -> None:
    """An extra vector unit that runs nothing, and an INT8 unit every op kind is pinned away
    from: the same cycles per op, per unit and in total."""
    base = run(TINY, _spec(), **KW).result
    idle_vec = UnitConfig(name="idle", vector=VectorUnitConfig(lanes=64, runs=()))
    pins = {
        OpKind.LINEAR: "array",
        OpKind.ATTN_QK: "vector",
        OpKind.ATTN_AV: "vector",
        OpKind.LM_HEAD: "vector",
    }
    for hw in (
        _with_units(TINY, idle_vec),
        _with_units(TINY, ATTN, idle_vec, assign=pins),
    ):
        got = run(hw, _spec(), **KW).result
        assert got.total_cycles == base.total_cycles
        assert got.spans == base.spans
        assert {k: v for k, v in got.busy_cycles.items() if k in base.busy_cycles} == (
            base.busy_cycles
        )
        assert got.busy_cycles["idle"] == 0


@pytest.mark.parametrize(
    "hw", [TINY, HETERO, _with_units(HETERO, dram=TINY.dram.model_copy(update={"dma_engines": 2}))]
)
def test_oracle_equals_run_engine_and_fast_on_small_workloads(hw: HardwareConfig) -> None:
    """Whole small workloads on one, then three units (and two DMA engines): every op's span,
    every unit's busy and stall cycles and busy intervals agree across the three engines."""
    results = [run(hw, _spec(), fidelity=f, **KW).result for f in Fidelity]
    first = results[0]
    for r in results[1:]:
        assert r.total_cycles == first.total_cycles
        assert r.spans == first.spans
        assert r.busy_cycles == first.busy_cycles
        assert r.stall_cycles == first.stall_cycles
        assert r.timelines == first.timelines
        assert r.counts == first.counts


def _two_units(durations: list[int], deps: list[tuple[int, ...]]) -> int:
    """Plan one segment of single-tile ops on two identical units and simulate it with free
    memory: the run's cycles."""
    options = [
        {
            u: OpSchedule(
                i,
                f"op{i}",
                OpKind.LINEAR,
                0,
                Phase.PREFILL,
                0,
                (TileRun(1, 0, d, u),),
                0,
                ActionCounts(),
                deps[i],
            )
            for u in ("a", "b")
        }
        for i, d in enumerate(durations)
    ]
    from tersim.config.enums import OrderRule

    choice, order, queue = plan_segment(options, deps, {"a": 0, "b": 1}, OrderRule.PRIORITY)
    ops = tuple(options[i][choice[i]] for i in range(len(durations)))
    sched = Schedule(ops, Placement.none(), order, queue)
    mem = MemoryTiming.of(float("inf"), 0, 1000)
    return simulate(sched, mem, 1e9, Fidelity.FAST, units=("a", "b")).total_cycles


def test_list_scheduling_anomaly_a_shorter_op_lengthens_the_run() -> None:
    """Graham's anomaly (1969), in tersim's list scheduling: on two identical units, op 0 (5
    cycles) feeds ops 1 and 2 (1 cycle each); op 3 (independent) takes 2 cycles.

    Bottom levels 6, 1, 1, 2: queue 0, 3, 1, 2. Op 0 on a (0-5); op 3 on b, free first (0-2);
    op 1 on a (5-6, tie broken to a); op 2 on b (5-6): 6 cycles. Shorten op 3 to 1 cycle: its
    bottom level ties with ops 1 and 2 and program order puts it last: 0 on a (0-5), 1 on a
    (5-6), 2 on b (5-6), 3 ties at 7 on both and goes to a (6-7): 7 cycles.

    So "a faster op never slows the run" is false; what holds (and is tested on random graphs
    in test_graph_engine.py) is max(critical path, busiest unit) <= cycles <= every compute
    serialized, and, for a fixed plan, monotonicity in bandwidth, channels and DMA engines."""
    deps: list[tuple[int, ...]] = [(), (0,), (0,), ()]
    assert _two_units([5, 1, 1, 2], deps) == 6
    assert _two_units([5, 1, 1, 1], deps) == 7
    for d in ([5, 1, 1, 2], [5, 1, 1, 1]):
        assert max(5 + 1, sum(d) / 2) <= _two_units(d, deps) <= sum(d)
