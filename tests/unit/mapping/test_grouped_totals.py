"""The run's per-group totals (energy by layer, kind and phase; the mapping summary) counted
once per distinct op x multiplicity, against the op-by-op computations they replace."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_hardware
from tersim.config.workload import Architecture, ModelSpec
from tersim.cost.energy import estimate_energy, price_list
from tersim.hw.counts import ActionCounts, sum_counts
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.mapping.summary import MappingSummary, OpTraffic, summarize
from tersim.run.pipeline import design_formats, dynamic_energy_by, map_design
from tersim.workload.trace import Phase, trace_shapes

ROOT = Path(__file__).resolve().parents[3]
SPEC = ModelSpec(
    name="small",
    architecture=Architecture(
        hidden=32, layers=3, heads=4, kv_heads=2, ffn=48, ffn_type="swiglu", vocab=100,
        max_context=256,
    ),
)  # fmt: skip


def _energy_by(
    schedule: Schedule, hw: Any, key: Callable[[OpSchedule], object]
) -> dict[object, float]:
    """Op by op: each group's counts summed, then priced."""
    prices = price_list(hw)
    groups: dict[object, list[ActionCounts]] = {}
    for op in schedule.ops:
        groups.setdefault(key(op), []).append(op.counts)
    return {k: estimate_energy(sum_counts(v), prices).total_pj for k, v in groups.items()}


def _summary(schedule: Schedule) -> MappingSummary:
    """Op by op: every op's key computed and looked up."""
    groups: dict[tuple[object, ...], list[Any]] = {}
    dram = compulsory = bound = 0
    for op in schedule.ops:
        d = op.dram_bytes
        dram += d
        compulsory += op.compulsory_bytes
        bound += op.lower_bound_bytes
        if op.mapping is None:
            continue
        name = re.sub(r"^L\d+\.", "L*.", op.name)
        key = (op.phase, name, op.signature(), d, op.compulsory_bytes, op.lower_bound_bytes)
        if key in groups:
            groups[key][2] += 1
        else:
            groups[key] = [op, name, 1]
    entries = tuple(
        OpTraffic(
            n,
            o.phase.value,
            o.kind.value,
            c,
            o.dram_bytes,
            o.compulsory_bytes,
            o.lower_bound_bytes,
            o.mapping,
        )
        for o, n, c in groups.values()
    )
    return MappingSummary(dram, compulsory, bound, entries)


@pytest.mark.parametrize(
    "design",
    ["ternary-8x8-tiny", "ternary-hetero-7nm", "fp16-128x128-7nm", "ternary-lut-128x128-7nm"],
)
def test_grouped_totals_equal_the_op_by_op_ones(design: str) -> None:
    """Equal values (floats bit for bit: the same sums in the same order) and equal key order."""
    hw = load_hardware(ROOT / "hw_configs" / f"{design}.yaml")
    w = trace_shapes(SPEC, design_formats(hw, SPEC), (Phase.PREFILL, Phase.DECODE), 20, 4, 2)
    s = map_design(hw, w)
    by_layer, by_kind, by_phase = dynamic_energy_by(s, price_list(hw))
    want_layer = _energy_by(
        s, hw, lambda op: "embedding_and_head" if op.layer < 0 else f"layer_{op.layer}"
    )
    assert list(by_layer.items()) == list(want_layer.items())
    assert list(by_kind.items()) == list(_energy_by(s, hw, lambda op: op.kind).items())
    assert list(by_phase.items()) == list(_energy_by(s, hw, lambda op: op.phase.value).items())
    assert len(by_layer) == SPEC.architecture.layers + 1
    # op by op when the schedule lists no segments
    flat = replace(s, items=s.queue_items(), segments=None)
    got_flat = dynamic_energy_by(flat, price_list(hw))
    assert [list(g.items()) for g in got_flat] == [
        list(g.items()) for g in (by_layer, by_kind, by_phase)
    ]
    got, want = summarize(s), _summary(s)
    assert got == want
    assert summarize(flat) == want  # op by op when the schedule lists no segments
    assert sum(e.ops for e in got.entries) == sum(1 for op in s.ops if op.mapping is not None)
