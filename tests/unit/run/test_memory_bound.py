"""The memory bound (issue 16, item 6): a run's peak memory grows with what is distinct in the
workload, not with tokens x layers.

Stated bound, measured with tracemalloc on ``run()`` of one design at two sizes each way:

* **Per added layer** (identical to the others): per pass, at most the layer's records that
  are not ops: one segment reference, the engine's placed segment and span group, 16 bytes of
  span table per op, the busy-interval groups the unit timelines keep for one replayed
  segment, and the by-layer energy's entry per distinct counts object of the segment's plan
  (each measured here with ``sys.getsizeof`` on the run's own objects), twice over
  (containers over-allocate, and the per-segment summaries hold a key per segment for a
  moment). This is checked to be under what the layer's ops would take as objects (an ``Op``
  with its output tensors, an ``OpSchedule``, an ``OpSpan`` each), which the per-op path
  holds (and more: names in the placement, dependency tuples, the engine's per-op ends).
* **Per added decode step**: at most three quarters of what the step's ops would take as
  objects (a step adds its listed first layer, the schedules of its few distinct attention
  ops, its segment plans and the engine's records of its distinct layer entries, and the
  per-layer records above for each layer), where the per-op path holds all of them.

Measured (this test's procedure): on main before the lazy workload (c805384) an added layer
cost 36.4 KB per pass against the bound's 12.8 KB, and an added step 178.6 KB against the
bound's 99.4 KB (both fail); with the lazy workload 8.1 KB and 85.6 KB.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

from tersim.config import load_hardware
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.run.pipeline import RunRecord, run
from tersim.workload.ops import Op, Phase, TensorKind

ROOT = Path(__file__).resolve().parents[3]
PROMPT = 16
SPAN_TABLE_BYTES_PER_OP = 16  # two 8-byte integers (tersim.sim.result.SpanTable)


def _spec(layers: int) -> ModelSpec:
    return ModelSpec(
        name="small",
        architecture=Architecture(
            hidden=64, layers=layers, heads=4, kv_heads=2, ffn=96, ffn_type="swiglu",
            vocab=128, max_context=1024,
        ),
    )  # fmt: skip


def _hw() -> HardwareConfig:
    return load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")


def _run(hw: HardwareConfig, layers: int, gen: int) -> RunRecord:
    return run(hw, _spec(layers), (Phase.PREFILL, Phase.DECODE), PROMPT, gen, 1)


def _peak(hw: HardwareConfig, layers: int, gen: int) -> int:
    """Peak bytes allocated while the run is made (its record dropped after)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    record = _run(hw, layers, gen)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del record
    return peak


def _op_object_bytes(op: Op, record: RunRecord, i: int) -> int:
    """What op ``i`` takes held as objects: the op, its own tensors (not weights), its
    schedule and its span."""
    assert record.schedule is not None
    s = record.schedule.ops[i]
    own = [t for t in (*op.inputs, *op.outputs) if t.kind is not TensorKind.WEIGHT]
    return (
        sys.getsizeof(op) + sys.getsizeof(op.__dict__)
        + sum(sys.getsizeof(t) + sys.getsizeof(t.name) for t in own) // 2  # shared with a neighbour
        + sys.getsizeof(s) + sys.getsizeof(s.__dict__)
        + sys.getsizeof(tuple(record.result.spans[i]))
    )  # fmt: skip


def _deep(x: object) -> int:
    if isinstance(x, tuple | list):
        return sys.getsizeof(x) + sum(_deep(y) for y in x)
    return sys.getsizeof(x)


def _segment_record_bytes(record: RunRecord) -> float:
    """A repeated segment's records (not ops): its reference, the engine's placed segment and
    span group, and its share of the unit timelines' kept groups and intervals."""
    from tersim.sim.engine import placed_segments, span_groups
    from tersim.sim.timing import memory_timing

    sched = record.schedule
    assert sched is not None and sched.segments is not None
    ref = sched.segments[len(sched.segments) // 2]
    names = tuple(record.result.busy_cycles)[:-1]
    placed = placed_segments(sched, names, memory_timing(record.hardware))
    assert placed is not None
    p = placed[len(placed) // 2]
    groups = span_groups(sched)
    assert groups is not None
    timeline = sum(
        _deep(t.groups) + (0 if t.intervals is None else _deep(t.intervals))
        for t in record.result.timelines.values()
    )
    # the energy by layer lists, per layer and pass, each distinct counts object of its plan
    # (decode steps differ in their attention's): a key, a [counts, times] pair, a dict slot
    counts = len({id(o.counts) for o in ref.plan.ops})
    energy = counts * (sys.getsizeof((0, 0, None, None)) + sys.getsizeof([None, 0]) + 3 * 8)
    return (
        sys.getsizeof(ref) + sys.getsizeof(ref.ext) + sys.getsizeof(p) + sys.getsizeof(p.ext)
        + sys.getsizeof(groups[0]) + timeline / len(sched.segments) + energy
    )  # fmt: skip


def test_memory_grows_with_what_is_distinct_not_with_tokens_times_layers() -> None:
    hw = _hw()
    _peak(hw, 2, 2)  # warm the process-wide caches (PE and DRAM models, imports)
    layers, gen = 4, 8
    base = _peak(hw, layers, gen)
    more_layers = _peak(hw, 2 * layers, gen)
    more_steps = _peak(hw, layers, 2 * gen)

    record = _run(hw, 2 * layers, gen)
    w = record.workload
    assert w is not None and record.schedule is not None
    passes = 1 + gen
    ops_per_layer = w.repeats[0].length
    mid = w.repeats[0].start + ops_per_layer // 2
    per_op = sum(_op_object_bytes(w.ops[mid + k], record, mid + k) for k in range(ops_per_layer))
    per_op /= ops_per_layer
    layer_objects = ops_per_layer * per_op  # what the per-op path holds per layer and pass

    layer_slope = (more_layers - base) / (layers * passes)
    per_segment = _segment_record_bytes(record) + SPAN_TABLE_BYTES_PER_OP * ops_per_layer
    layer_bound = 2 * per_segment
    assert layer_bound < layer_objects  # the bound says something: less than the ops take
    assert layer_slope <= layer_bound, (
        f"an added layer costs {layer_slope:,.0f} B per pass (bound {layer_bound:,.0f} B; its "
        f"ops as objects: {layer_objects:,.0f} B)"
    )

    ops_per_step = len(w.ops) // passes  # about (the prefill pass has as many ops)
    step_slope = (more_steps - base) / gen
    step_bound = 0.75 * ops_per_step * per_op
    assert step_slope <= step_bound, (
        f"an added decode step costs {step_slope:,.0f} B (bound {step_bound:,.0f} B: 3/4 of its "
        f"{ops_per_step} ops as objects)"
    )
