"""The memory bound (issue 16, item 6): a run's peak memory grows with what is distinct in the
workload, not with tokens x layers.

Stated bound. A pass's copied layers (layers 1.. of a pass, each repeating the one before)
are one record with a multiplicity end to end: one segment reference (``SegmentRef.times``),
one placed segment, one span block (``SpanTable``), one span group and, per lane, one piece
placement (``PieceRun``) for the layers the engine replays with the same relative entry
state; energy by layer is taken over classes of layers that had the same ops. So:

* **Records**: the schedule's segment records, the engine's span blocks and lane pieces and
  the span groups are as many for 4, 8 and 16 layers (counted on the run's own objects).
* **Bytes per added layer** (measured with tracemalloc on ``run()``, 4 vs 8 vs 16 layers, at 9
  and 25 passes): an added layer costs at most ``PER_LAYER_BYTES`` whatever the passes (its
  entries in the outputs that list layers: energy and cycles by layer, the mapping summary),
  plus at most ``PER_LAYER_PASS_BYTES`` per pass: the placement's decisions by name for the
  layer's tensors read through a view (``Placement.on_chip``/``through_dram``), the one
  per-(pass, layer) record left. The lanes' exact intervals are turned off here
  (``TIMELINE_MAX_INTERVALS`` 0): the record lists at most that many per lane, a bound
  independent of the layers, which small runs reach slowly.
* **Per added decode step**: at most three quarters of what the step's ops would take as
  objects (an ``Op`` with its output tensors, an ``OpSchedule``, an ``OpSpan`` each), which the
  per-op path holds.

Measured (this test's procedure, at 9 and 33 passes): on main before the strided records (105a31e) an added
layer cost 44.0 KB at 9 passes and 126.2 KB at 33 (3.8 KB per pass), and every record count
grows with the layers (both fail); with them 10.3 KB and 12.1 KB (75 B per pass).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

import pytest

import tersim.sim.engine
import tersim.sim.result
from tersim.config import load_hardware
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.run.pipeline import RunRecord, run
from tersim.workload.ops import Op, Phase, TensorKind

ROOT = Path(__file__).resolve().parents[3]
PROMPT = 16
PER_LAYER_BYTES = 24_000  # per added layer, whatever the passes
PER_LAYER_PASS_BYTES = 256  # per added layer and pass: the placement's names of its views


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


def _records(record: RunRecord) -> dict[str, int]:
    """How many records the run holds that could grow with layers x passes."""
    sched, res = record.schedule, record.result
    assert sched is not None and sched.segments is not None
    spans = res.spans
    table = spans._table  # type: ignore[attr-defined]
    return {
        "segment records": len(sched.segments),
        "span blocks": len(getattr(table, "_blocks", table)),  # (a table per op: its rows)
        "span groups": len(spans._groups),  # type: ignore[attr-defined]
        "lane pieces": sum(len(t.pieces) + len(t.groups) for t in res.timelines.values()),
    }


def test_a_copied_layer_adds_no_record() -> None:
    hw = _hw()
    got = [_records(_run(hw, layers, 6)) for layers in (4, 8, 16)]
    assert got[0] == got[1] == got[2], got
    assert got[0]["segment records"] == 3 * 7  # embedding, the layers, the head per pass


def test_memory_grows_with_what_is_distinct_not_with_tokens_times_layers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tersim.sim.result, "TIMELINE_MAX_INTERVALS", 0)
    monkeypatch.setattr(tersim.sim.engine, "TIMELINE_MAX_INTERVALS", 0, raising=False)
    hw = _hw()
    slopes = {}
    for gen in (8, 24):
        _peak(hw, 2, gen)  # warm the process-wide caches (PE and DRAM models, shapes)
        p4, p8, p16 = (_peak(hw, layers, gen) for layers in (4, 8, 16))
        slopes[gen] = ((p8 - p4) / 4, (p16 - p8) / 8)
        for slope in slopes[gen]:
            bound = PER_LAYER_BYTES + PER_LAYER_PASS_BYTES * (1 + gen)
            assert slope <= bound, (
                f"{1 + gen} passes: an added layer costs {slope:,.0f} B (bound {bound:,.0f} B)"
            )
    per_pass = (slopes[24][1] - slopes[8][1]) / (24 - 8)
    assert per_pass <= PER_LAYER_PASS_BYTES, (
        f"an added layer costs {per_pass:,.0f} B more per pass (bound {PER_LAYER_PASS_BYTES} B)"
    )


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


def test_a_decode_step_costs_less_than_its_ops_as_objects() -> None:
    hw = _hw()
    layers, gen = 4, 8
    _peak(hw, 2, 2 * gen)
    base = _peak(hw, layers, gen)
    more_steps = _peak(hw, layers, 2 * gen)
    record = _run(hw, 2 * layers, gen)
    w = record.workload
    assert w is not None
    passes = 1 + gen
    ops_per_layer = w.repeats[0].length
    mid = w.repeats[0].start + ops_per_layer // 2
    per_op = sum(_op_object_bytes(w.ops[mid + k], record, mid + k) for k in range(ops_per_layer))
    per_op /= ops_per_layer
    ops_per_step = len(w.ops) // passes  # about (the prefill pass has as many ops)
    step_slope = (more_steps - base) / gen
    step_bound = 0.75 * ops_per_step * per_op
    assert step_slope <= step_bound, (
        f"an added decode step costs {step_slope:,.0f} B (bound {step_bound:,.0f} B: 3/4 of its "
        f"{ops_per_step} ops as objects)"
    )
