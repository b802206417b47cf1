"""Reuse across points: the mapping key's excluded fields never change a schedule, and a
sweep with every cache equals one without, value for value."""

from __future__ import annotations

from typing import Any

import pytest
from sweep_helpers import make_spec

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.dse.evaluate import Evaluator, PointTask, Status
from tersim.dse.points import make_point, mapping_key
from tersim.dse.space import DesignSpace
from tersim.dse.sweep import context_of
from tersim.mapping.ops import map_workload
from tersim.sim import Fidelity
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, trace_shapes

# fields mapping_key leaves out, each with a changed value
IRRELEVANT: list[tuple[str, Any]] = [
    ("array.clock_hz", 2.0e9),  # the bandwidth stays in bytes per cycle
    ("dram.kind", "hbm2"),
    ("dram.energy_pj_per_bit", 1.5),
    ("dram.latency_cycles", 400),
    ("dram.max_outstanding_tiles", 2),
    ("dram.capacity_bytes", 10**12),
    ("dram.channels", 8),
    ("tech.node", "45nm"),
    ("tech.overrides_pj", {"int8_add_pj": 0.5}),
    ("name", "another"),
    ("description", "changed"),
]


def _with(base: HardwareConfig, field: str, value: Any) -> HardwareConfig:
    doc = base.model_dump(mode="json")
    node = doc
    *head, last = field.split(".")
    for part in head:
        node = node[part]
    node[last] = value
    return HardwareConfig.model_validate(doc)


@pytest.mark.parametrize(("field", "value"), IRRELEVANT[:-2])
def test_the_searched_mapping_keys_on_what_its_judge_reads(
    tiny: HardwareConfig, field: str, value: Any
) -> None:
    """The search compares points by the engine's cycles and the energy model's prices, so a
    change of DRAM timing or energy is a different mapping key (a sweep remaps)."""
    assert tiny.mapping.search.value == "searched"
    assert mapping_key(_with(tiny, field, value)) != mapping_key(tiny)
    assert mapping_key(_with(tiny, "name", "another")) == mapping_key(tiny)


@pytest.mark.parametrize(("field", "value"), IRRELEVANT)
@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_excluded_fields_never_change_the_schedule(
    tiny: HardwareConfig, model: ModelSpec, field: str, value: Any, dataflow: str
) -> None:
    # the heuristic mapping reads none of these; the searched one reads the judge's fields
    base = _with(_with(tiny, "array.dataflow", dataflow), "mapping.search", "heuristic")
    other = _with(base, field, value)
    assert mapping_key(other) == mapping_key(base)
    fmt = resolve_formats(model, base.array.pe_kind, None, None)
    wl = trace_shapes(model, fmt, (Phase.PREFILL, Phase.DECODE), 16, 2, 1)
    assert map_workload(other, wl) == map_workload(base, wl)


def test_included_fields_change_the_key(tiny: HardwareConfig) -> None:
    for field, value in [
        ("array.cols", 4),
        ("dram.bw_bytes_per_cycle", 32.0),
        ("sram.input.size_bytes", 8192),
        ("vector_unit.lanes", 16),
        ("dram.burst_bytes", 32),
    ]:
        assert mapping_key(_with(tiny, field, value)) != mapping_key(tiny), field
    # the same bandwidth in GB/s is the same key
    same = _with(_with(tiny, "dram.bw_bytes_per_cycle", None), "dram.bw_gb_per_s", 16.0)
    assert mapping_key(same) == mapping_key(tiny)


@pytest.mark.parametrize(
    ("search", "misses"), [("heuristic", (1, 4, 8)), ("searched", (1, 16, 16))]
)
def test_reused_results_equal_fresh_ones(
    tiny: HardwareConfig, model: ModelSpec, search: str, misses: tuple[int, int, int]
) -> None:
    spec = make_spec(
        {
            "array.cols": [4, 8],
            "dram.bw_bytes_per_cycle": [8.0, 16.0],
            "dram.latency_cycles": [50, 200],
            "tech.node": ["7nm", "45nm"],
        },
        scenario={"phase": "both", "prompt_tokens": 8, "gen_tokens": 2},
    )
    context = context_of(spec, model, Fidelity.FAST)
    cached, fresh = Evaluator(context), Evaluator(context, reuse=False)
    base = _with(tiny, "mapping.search", search)
    doc = base.model_dump(mode="json")
    for i, params in enumerate(DesignSpace.of(spec.vary).grid()):
        pt = make_point(i, params, base, doc, False)
        assert pt.hardware is not None
        task = PointTask(i, "h", params, pt.hardware)
        a, b = cached.evaluate(task), fresh.evaluate(task)
        assert a.status is Status.OK and a.rows == b.rows, params
    # the reuse happened: 16 points, 1 trace, 4 schedules (heuristic; the searched mapping reads
    # the DRAM timing and the energy prices, so every point is its own), 8 simulations
    assert (cached._traces.misses, cached._schedules.misses, cached._sims.misses) == misses
