"""The lazy workload (ops built on demand from each pass's first layer, schedules and spans
viewed through segments) against the per-op path, field for field.

The oracle is the same trace with every op held as an object and no repeats
(``Workload.listed``): it is mapped op by op (``tersim.mapping.ops.map_ops``), every op's
options, dependencies and schedule listed. The run records must be equal in everything they
hold: the JSON record, every op's schedule, span and per-op row, the action counts; and the
per-distinct totals (counts, phase and layer cycles, energy groups) must equal their per-op
sums computed here the obvious way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import load_hardware
from tersim.config.enums import MappingSearch
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.hw.counts import sum_counts
from tersim.run.pipeline import RunRecord, design_formats, run
from tersim.run.rows import op_rows
from tersim.sim import Fidelity
from tersim.sim.result import OpSpan, OpSpans
from tersim.workload.ops import OpKind, OpSeq, Phase, Workload
from tersim.workload.trace import trace_shapes

ROOT = Path(__file__).resolve().parents[3]

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


def _hw(name: str, heuristic: bool = False) -> HardwareConfig:
    hw = load_hardware(ROOT / "hw_configs" / f"{name}.yaml")
    if heuristic:
        hw = hw.model_copy(
            update={"mapping": hw.mapping.model_copy(update={"search": MappingSearch.HEURISTIC})}
        )
    return hw


def _trace(hw: HardwareConfig, spec: ModelSpec, prompt: int, gen: int, batch: int) -> Workload:
    return trace_shapes(
        spec, design_formats(hw, spec), (Phase.PREFILL, Phase.DECODE), prompt, gen, batch
    )


def _run(hw: HardwareConfig, spec: ModelSpec, w: Workload, fidelity: Fidelity) -> RunRecord:
    return run(hw, spec, w.phases, w.prompt_tokens, w.gen_tokens, w.batch, fidelity=fidelity,
               workload=w)  # fmt: skip


CASES = [
    ("ternary-128x128-7nm", False, SMALL, 40, 5, 1, Fidelity.FAST),
    ("ternary-128x128-7nm", True, SMALL, 40, 5, 2, Fidelity.FAST),
    ("fp16-128x128-7nm", False, PARALLEL, 20, 4, 1, Fidelity.FAST),
    ("ternary-hetero-7nm", False, SMALL, 24, 3, 2, Fidelity.FAST),
    ("ternary-hetero-7nm", True, PARALLEL, 12, 3, 1, Fidelity.FAST),
    ("ternary-8x8-tiny", False, SMALL, 64, 2, 1, Fidelity.FAST),  # prefill not by size
    ("ternary-8x8-tiny", False, SMALL, 12, 2, 1, Fidelity.RUN),
    ("fp16-128x128-7nm", True, SMALL, 16, 2, 1, Fidelity.RUN),
]


@pytest.mark.parametrize(("design", "heuristic", "spec", "prompt", "gen", "batch", "fid"), CASES)
def test_the_lazy_run_is_the_per_op_run(
    design: str,
    heuristic: bool,
    spec: ModelSpec,
    prompt: int,
    gen: int,
    batch: int,
    fid: Fidelity,
) -> None:
    hw = _hw(design, heuristic)
    w = _trace(hw, spec, prompt, gen, batch)
    assert isinstance(w.ops, OpSeq) and w.repeats
    slow_w = w.listed()
    assert isinstance(slow_w.ops, tuple) and not slow_w.repeats
    lazy, slow = _run(hw, spec, w, fid), _run(hw, spec, slow_w, fid)
    assert lazy.schedule is not None and slow.schedule is not None
    assert isinstance(slow.schedule.ops, tuple)  # the per-op path
    assert type(lazy.schedule.ops).__name__ == "SegmentOps"  # the lazy path
    assert lazy.to_json() == slow.to_json()
    assert lazy.schedule.ops == slow.schedule.ops
    assert tuple(lazy.schedule.ops) == slow.schedule.ops
    assert lazy.schedule.queue_items() == slow.schedule.queue_items()
    assert list(lazy.schedule.queue()) == list(slow.schedule.queue())
    assert lazy.result.spans == tuple(slow.result.spans)
    assert op_rows(lazy) == op_rows(slow)
    # indexing builds the same op as iterating does, anywhere
    n = len(w.ops)
    for i in (0, 1, n // 3, n // 2, n - 2, n - 1):
        assert w.ops[i] == slow_w.ops[i]
        assert lazy.schedule.ops[i] == slow.schedule.ops[i]
        assert lazy.result.spans[i] == slow.result.spans[i]


@pytest.mark.parametrize(("design", "heuristic"), [("ternary-128x128-7nm", False),
                                                   ("ternary-hetero-7nm", True)])  # fmt: skip
def test_per_distinct_totals_equal_their_per_op_sums(design: str, heuristic: bool) -> None:
    """Counts, phase and layer cycles, MACs and spans taken per distinct plan or per segment
    group equal the same quantities summed op by op here."""
    hw = _hw(design, heuristic)
    w = _trace(hw, SMALL, 20, 4, 1)
    r = _run(hw, SMALL, w, Fidelity.FAST)
    sched, res = r.schedule, r.result
    assert sched is not None
    ops = list(sched.ops)
    assert res.counts == sum_counts([o.counts for o in ops], cycles=res.total_cycles)
    assert r.matmul_macs == sum(op.macs for op in w.ops)
    spans = list(res.spans)
    assert isinstance(res.spans, OpSpans)
    assert spans == [
        OpSpan(o.op_index, o.name, o.kind, o.unit, o.layer, o.phase, o.step, s.start_cycle,
               s.end_cycle)
        for o, s in zip(ops, spans, strict=True)
    ]  # fmt: skip
    for phase in Phase:
        mine = [s for s in spans if s.phase is phase]
        want = max(s.end_cycle for s in mine) - min(s.start_cycle for s in mine) if mine else 0
        assert res.phase_cycles(phase) == want
    by: dict[tuple[Phase, int, str], tuple[int, int]] = {}
    for s in spans:
        part = (
            f"layer_{s.layer}" if s.layer >= 0
            else "embedding" if s.kind is OpKind.EMBEDDING else "final_norm_and_head"
        )  # fmt: skip
        lo, hi = by.get((s.phase, s.step, part), (s.start_cycle, s.end_cycle))
        by[(s.phase, s.step, part)] = (min(lo, s.start_cycle), max(hi, s.end_cycle))
    assert res.layer_cycles() == {k: hi - lo for k, (lo, hi) in by.items()}
    assert list(res.layer_cycles()) == list(by)  # the record's key order


def test_a_trace_holds_each_pass_first_layer_not_every_layer() -> None:
    """The shape tracer keeps the ops it listed (each pass's embedding, first layer and head)
    and one chunk of copies per pass: the ops held as objects do not grow with the layers."""
    hw = _hw("fp16-128x128-7nm")
    few = SMALL.model_copy(update={"architecture": SMALL.architecture.model_copy(
        update={"layers": 2})})  # fmt: skip
    many = SMALL.model_copy(update={"architecture": SMALL.architecture.model_copy(
        update={"layers": 16})})  # fmt: skip
    held = []
    for spec in (few, many):
        ops = _trace(hw, spec, 8, 3, 1).ops
        assert isinstance(ops, OpSeq)
        held.append(sum(len(c.ops) for c in ops.chunks if hasattr(c, "ops") and
                        isinstance(c.ops, tuple)))  # fmt: skip
    assert held[0] == held[1]


def test_a_pass_not_placed_by_size_builds_each_copied_layer_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checking a copied layer's residency against its source (a pass not placed by size: the
    tiny design's 64-token prefill) reads both layers' ops; the sequence keeps one built part,
    so reading them op by op in turn rebuilt a layer per op (a 1,024-layer SmolLM on the tiny
    design: 13 s, now 3 s). Each copied layer of such a pass is built a few times in all
    (the residency check, placement, planning: 6 here), not once per op (its 40 ops: 465
    builds before for 11 copied layers)."""
    from tersim.run.pipeline import map_design
    from tersim.workload import trace as trace_mod

    hw = _hw("ternary-8x8-tiny")
    layers = 12
    spec = SMALL.model_copy(
        update={"architecture": SMALL.architecture.model_copy(update={"layers": layers})}
    )
    w = trace_shapes(spec, design_formats(hw, spec), (Phase.PREFILL,), 64, 0, 1)
    builds = 0
    real = trace_mod._LayerCopy.build

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal builds
        builds += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(trace_mod._LayerCopy, "build", counted)
    map_design(hw, w)
    assert 0 < builds <= 8 * (layers - 1)
