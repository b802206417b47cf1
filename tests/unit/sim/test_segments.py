"""The compact schedule: segments planned once and shared, played as templates, and counts
summed per distinct object x multiplicity, each against the long way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tersim.config import load_hardware
from tersim.config.workload import Architecture, ModelSpec
from tersim.hw.counts import ActionCounts, PECounts, dram_bytes, sum_counts, sum_counts_times
from tersim.run.pipeline import design_formats, map_design
from tersim.sim import Fidelity, memory_timing, simulate
from tersim.workload.trace import Phase, trace_shapes

ROOT = Path(__file__).resolve().parents[3]
TINY = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
SPEC = ModelSpec(
    name="small",
    architecture=Architecture(
        hidden=32, layers=3, heads=4, kv_heads=2, ffn=48, ffn_type="swiglu", vocab=100,
        max_context=256,
    ),
)  # fmt: skip


def test_sum_counts_takes_each_distinct_object_times_its_multiplicity() -> None:
    """a three times and b once: 3 x 2 + 5 adds, 3 x 7 vector ops, 3 x 64 + 128 DRAM weight
    bytes (by hand), whether summed one by one or as (counts, times) pairs."""
    a = ActionCounts(
        pe_by_kind={"linear": PECounts(add=2)}, vector_ops=7, dram_read_bytes=dram_bytes(64)
    )
    b = ActionCounts(pe_by_kind={"linear": PECounts(add=5)}, dram_read_bytes=dram_bytes(128))
    got = sum_counts([a, b, a, a], cycles=9)
    assert got == sum_counts_times([(a, 3), (b, 1)], cycles=9)
    assert got.pe_by_kind["linear"].add == 11
    assert got.vector_ops == 21
    assert sum(got.dram_read_bytes.values()) == 320
    assert got.cycles == 9


def _schedule():  # type: ignore[no-untyped-def]
    w = trace_shapes(SPEC, design_formats(TINY, SPEC), (Phase.PREFILL, Phase.DECODE), 12, 4, 1)
    return w, map_design(TINY, w)


def test_segments_share_plans_and_expand_to_every_op_in_program_order() -> None:
    """One ref per layer of each pass (a pass's copied layers: one record with their
    multiplicity); layers of one pass share a plan; the expanded queue holds every op of the
    workload, each op's runs in order."""
    w, s = _schedule()
    assert s.segments is not None
    assert sum(len(r.plan.ops) * r.times for r in s.segments) == len(w.ops)
    copies = list(s.segment_copies())
    assert len({id(r.plan) for r in copies}) < len(copies)
    assert any(r.times > 1 for r in s.segments) and len(s.segments) < len(copies)
    items = s.queue_items()
    assert {it.op for it in items} == set(range(len(w.ops)))
    for r in copies:
        for k, op in enumerate(r.plan.ops):
            assert s.ops[r.start + k].runs == op.runs
            assert s.ops[r.start + k].deps == tuple(
                r.start + d if d >= 0 else r.ext[-1 - d] for d in r.plan.deps[k]
            )


def test_templates_give_what_the_expanded_queue_gives() -> None:
    """The same schedule with its queue listed item by item (the path every engine took before
    segments were shared): the same cycles, spans, busy, stall, timelines and counts, for the
    fast path and the simpy engine."""
    _, s = _schedule()
    flat = replace(s, items=s.queue_items(), segments=None)
    mem = memory_timing(TINY)
    for fid in (Fidelity.FAST, Fidelity.RUN):
        a, b = simulate(s, mem, 1e9, fid), simulate(flat, mem, 1e9, fid)
        assert (a.total_cycles, a.spans, a.busy_cycles, a.stall_cycles) == (
            b.total_cycles, b.spans, b.busy_cycles, b.stall_cycles,
        )  # fmt: skip
        assert (a.timelines, a.counts) == (b.timelines, b.counts)
