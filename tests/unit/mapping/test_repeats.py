"""Layers mapped once and replicated (``Workload.repeats``) against the per-op computation.

The oracle is the same workload with its repeats dropped: every op's key computed, every op's
dependencies scanned, every segment planned from its keys. The schedules must be equal field
for field (ops, dependencies, residency, order, segments and their plans), on designs with one
and several units, searched and heuristic mappings, and both scheduling rules of each kind.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tersim.config import load_hardware, load_workload
from tersim.config.enums import DependencyRule, MappingSearch, OrderRule
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.mapping.deps import dependencies
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.run.pipeline import design_formats, map_design
from tersim.workload.layer import forward_pass
from tersim.workload.ops import Op, TensorKind, Workload
from tersim.workload.trace import Phase, TraceBuilder, trace_shapes

ROOT = Path(__file__).resolve().parents[3]


def _hw(name: str) -> HardwareConfig:
    return load_hardware(ROOT / "hw_configs" / f"{name}.yaml")


SMALL = ModelSpec(
    name="small",
    architecture=Architecture(
        hidden=32, layers=4, heads=4, kv_heads=2, ffn=48, ffn_type="swiglu", vocab=100,
        max_context=256,
    ),
)  # fmt: skip
PARALLEL = ModelSpec(
    name="parallel",
    architecture=Architecture(
        hidden=64, layers=3, heads=4, kv_heads=1, ffn=96, ffn_type="gelu", vocab=50,
        max_context=256, parallel_attention=True, norm="layernorm",
    ),
)  # fmt: skip


def _scheduling(hw: HardwareConfig, deps: DependencyRule, order: OrderRule) -> HardwareConfig:
    return hw.model_copy(
        update={
            "scheduling": hw.scheduling.model_copy(update={"dependencies": deps, "order": order})
        }
    )


def _heuristic(hw: HardwareConfig) -> HardwareConfig:
    return hw.model_copy(
        update={"mapping": hw.mapping.model_copy(update={"search": MappingSearch.HEURISTIC})}
    )


def _workload(hw: HardwareConfig, spec: ModelSpec, prompt: int, gen: int, batch: int) -> Workload:
    return trace_shapes(
        spec, design_formats(hw, spec), (Phase.PREFILL, Phase.DECODE), prompt, gen, batch
    )


def _same_up_to_layer(op: Op, src: Op, shift: int) -> None:
    """The repeat's promise, op by op (tersim.workload.ops.Repeat)."""
    assert op.name.split(".", 1)[1] == src.name.split(".", 1)[1]
    assert (op.kind, op.phase, op.step, op.m, op.n, op.k, op.count, op.group) == (
        src.kind, src.phase, src.step, src.m, src.n, src.k, src.count, src.group,
    )  # fmt: skip
    assert (op.weight_format, op.weight_bits, op.act_bits, op.out_bits, op.vector_ops) == (
        src.weight_format, src.weight_bits, src.act_bits, src.out_bits, src.vector_ops,
    )  # fmt: skip
    for a, b in ((op.inputs, src.inputs), (op.outputs, src.outputs)):
        assert [(t.kind, t.size_bytes) for t in a] == [(t.kind, t.size_bytes) for t in b]
        assert [t.producer for t in a] == [
            None if t.producer is None else t.producer + shift for t in b
        ]


def _described(
    spec: ModelSpec, hw: HardwareConfig, prompt: int, gen: int, batch: int
) -> tuple[Op, ...]:
    """The trace the long way: the layer description run for every layer of every pass."""
    tb = TraceBuilder(spec, design_formats(hw, spec), batch)
    tb.begin_pass(Phase.PREFILL, 0, prompt, prompt)
    forward_pass(tb, spec.architecture)
    for step in range(gen):
        tb.begin_pass(Phase.DECODE, step, 1, prompt + step + 1)
        forward_pass(tb, spec.architecture)
    return tuple(tb.ops)


@pytest.mark.parametrize(
    "name", ["bitnet-b1.58-3b", "bitnet-b1.58-2b4t", "falcon-7b", "llama2-7b", "gpt-6.7b"]
)
def test_copied_layers_are_the_layers_the_description_lists(name: str) -> None:
    """Layers after the first are copies of it in the shape tracer: equal, op for op and
    tensor for tensor (names, shapes, producers, views), to running the layer description for
    each; and they share one weight tensor per projection across passes, as the long way."""
    spec = load_workload(ROOT / "workloads" / f"{name}.yaml")
    spec = spec.model_copy(
        update={"architecture": spec.architecture.model_copy(update={"layers": 4})}
    )
    hw = _hw("fp16-128x128-7nm")
    w = _workload(hw, spec, 7, 3, 2)
    want = _described(spec, hw, 7, 3, 2)
    assert w.ops == want
    assert _weight_objects(w.ops) == _weight_objects(want)


def _weight_objects(ops: tuple[Op, ...]) -> int:
    return len({id(t) for op in ops for t in op.inputs if t.kind is TensorKind.WEIGHT})


CASES = [
    ("ternary-8x8-tiny", SMALL, 12, 4, 1),
    ("ternary-8x8-tiny", PARALLEL, 9, 3, 2),
    ("ternary-128x128-7nm", SMALL, 40, 3, 1),
    ("ternary-hetero-7nm", SMALL, 40, 3, 2),
    ("fp16-128x128-7nm", PARALLEL, 20, 3, 1),
]


@pytest.mark.parametrize(("design", "spec", "prompt", "gen", "batch"), CASES)
def test_the_tracers_repeats_keep_their_promise(
    design: str, spec: ModelSpec, prompt: int, gen: int, batch: int
) -> None:
    """Every layer after the first of each pass repeats the one before; fields, tensor sizes
    and shifted producers agree op by op, and so do the dependencies scanned op by op."""
    w = _workload(_hw(design), spec, prompt, gen, batch)
    layers = spec.architecture.layers
    assert len(w.repeats) == 1 + gen  # one per pass, standing for its copied layers
    blocks = list(w.repeat_blocks())
    assert len(blocks) == (layers - 1) * (1 + gen)
    for r in blocks:
        for k in range(r.length):
            _same_up_to_layer(w.ops[r.start + k], w.ops[r.source + k], r.delta)
    for rule in DependencyRule:
        slow = dependencies(w.ops, rule)
        assert dependencies(w.ops, rule, w.repeat_sources()) == slow
        for r in blocks:
            for k in range(r.length):
                assert slow[r.start + k] == tuple(d + r.delta for d in slow[r.source + k])


def _assert_same(fast: Schedule, slow: Schedule) -> None:
    assert fast.ops == slow.ops
    assert fast.placement == slow.placement
    assert fast.order == slow.order
    assert fast.segments == slow.segments
    assert fast.queue_items() == slow.queue_items()
    # the segments share plans exactly as the long way's do
    assert _sharing(fast) == _sharing(slow)


def _sharing(s: Schedule) -> list[int]:
    """Per segment, the first segment with the same plan object."""
    assert s.segments is not None
    first: dict[int, int] = {}
    return [first.setdefault(id(r.plan), k) for k, r in enumerate(s.segments)]


@pytest.mark.parametrize(("design", "spec", "prompt", "gen", "batch"), CASES)
@pytest.mark.parametrize("heuristic", [False, True])
def test_mapping_once_per_layer_gives_the_per_op_schedule(
    design: str, spec: ModelSpec, prompt: int, gen: int, batch: int, heuristic: bool
) -> None:
    hw = _hw(design)
    if heuristic:
        hw = _heuristic(hw)
    w = _workload(hw, spec, prompt, gen, batch)
    _assert_same(map_design(hw, w), map_design(hw, replace(w, repeats=())))


@pytest.mark.parametrize("deps", list(DependencyRule))
@pytest.mark.parametrize("order", list(OrderRule))
@pytest.mark.parametrize("design", ["ternary-8x8-tiny", "ternary-hetero-7nm"])
def test_mapping_once_per_layer_under_every_scheduling_rule(
    deps: DependencyRule, order: OrderRule, design: str
) -> None:
    hw = _scheduling(_hw(design), deps, order)
    w = _workload(hw, SMALL, 16, 3, 1)
    _assert_same(map_design(hw, w), map_design(hw, replace(w, repeats=())))


def test_a_residency_that_differs_from_the_source_falls_back_to_the_key() -> None:
    """On a buffer too small for some activations of the prefill (the live pool admits some
    layers' tensors and not others'), repeats whose residency differs are mapped from their
    own key, and the result is still the per-op one."""
    hw = _hw("ternary-8x8-tiny")
    w = _workload(hw, SMALL, 64, 2, 1)
    slow = map_design(hw, replace(w, repeats=()))
    place, src = slow.placement, w.repeat_sources()

    def resident(op: Op) -> list[bool]:
        ts = (*op.inputs, *op.outputs)
        return [place.resident(t) for t in ts if t.kind is TensorKind.ACTIVATION]

    differ = [i for i, s in enumerate(src) if s >= 0 and resident(w.ops[i]) != resident(w.ops[s])]
    assert differ  # the case this test is for
    _assert_same(map_design(hw, w), slow)


def test_placed_copies_equal_schedules_built_field_by_field() -> None:
    """Every op's schedule (a copy of the first op mapped alike) equals the one the
    constructor builds from that op's fields and its prototype's."""
    hw = _hw("ternary-hetero-7nm")
    w = _workload(hw, SMALL, 16, 3, 1)
    s = map_design(hw, w)
    for i, (op, o) in enumerate(zip(w.ops, s.ops, strict=True)):
        want = OpSchedule(
            i, op.name, op.kind, op.layer, op.phase, op.step, o.runs, o.write_bytes, o.counts,
            o.deps, o.mapping, o.compulsory_bytes, o.lower_bound_bytes,
        )  # fmt: skip
        assert o == want
        assert o.__dict__ == want.__dict__
