"""Simulate a schedule on the hardware, at one of three fidelities (all exact, all equal):

* ``tile``: the per-tile simpy oracle (:mod:`tersim.sim.oracle`), one event per tile load and
  compute; small cases only.
* ``run``: the reference simpy engine (:mod:`tersim.sim.runs`): events per run of identical
  tiles, each run's timeline in closed form when it reaches the head of the DMA queue.
* ``fast``: the same recurrence without simpy, reusing whole layers whose ops and entry state
  (relative) repeat (:mod:`tersim.sim.fast`).

Tests prove them equal cycle for cycle, per op and per unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any

from tersim.errors import DesignError
from tersim.hw.counts import ActionCounts, sum_counts_times
from tersim.mapping.schedule import OpSchedule, Schedule, TileRun, Unit
from tersim.runtime import cyclic_gc_paused
from tersim.sim.core import QItem, QOp, QRun
from tersim.sim.fast import (
    Placed,
    Template,
    lane_intervals_count,
    run_fast,
    run_placed,
    segment_starts,
)
from tersim.sim.result import (
    TIMELINE_MAX_INTERVALS,
    OpSpans,
    SimResult,
    SpanGroup,
    SpanTable,
    UnitTimeline,
    dram_channel_lane,
    span_part,
)
from tersim.sim.timing import MemoryTiming
from tersim.workload.ops import OpKind

Progress = Callable[[int, int], None]  # (ops done, ops total)


class Fidelity(StrEnum):
    TILE = "tile"
    RUN = "run"
    FAST = "fast"


def unit_names(schedule: Schedule, units: Sequence[str] | None = None) -> tuple[str, ...]:
    """``units`` (the design's, in order) or else ``array``, ``vector`` and every other unit
    the schedule uses, in order of first use; always including every unit a tile runs on."""
    names: list[str] = list(units) if units is not None else [Unit.ARRAY, Unit.VECTOR]
    for runs in _distinct_runs(schedule):
        for r in runs:
            for u in (r.unit, r.epilogue_unit) if r.epilogue_cycles else (r.unit,):
                if u not in names:
                    names.append(u)
    return tuple(names)


def _distinct_ops(schedule: Schedule) -> Iterator[tuple[OpSchedule, int]]:
    """Every op's schedule as it maps (runs, counts: the fields ops mapped alike share), with
    how many ops it stands for, in order of first use: per distinct segment plan when the
    segments cover the ops (a plan's ops stand for their op in each segment planned alike),
    else op by op."""
    if schedule.segments is not None and schedule.segments_cover_ops():
        times: dict[int, list[Any]] = {}
        for ref in schedule.segments:
            e = times.get(id(ref.plan))
            if e is None:
                times[id(ref.plan)] = [ref.plan, ref.times]
            else:
                e[1] += ref.times
        for plan, n in times.values():
            for op in plan.ops:
                yield op, n
        return
    for op in schedule.ops:
        yield op, 1


def _distinct_runs(schedule: Schedule) -> list[tuple[TileRun, ...]]:
    """Every op's runs, each tuple once (ops mapped alike share theirs), in order of first
    use."""
    seen: dict[int, tuple[TileRun, ...]] = {}
    for op, _ in _distinct_ops(schedule):
        seen.setdefault(id(op.runs), op.runs)
    return list(seen.values())


def _qrun(r: TileRun, unit: int, buf: int, index: dict[str, int]) -> QRun:
    """A tile run as the engines see it: its unit, staging buffer and fused epilogue's unit
    by index."""
    epi = index[r.epilogue_unit] if r.epilogue_cycles else -1
    return QRun(
        r.count,
        r.load_bytes,
        r.compute_cycles,
        unit,
        buf,
        r.write_bytes,
        r.write_ready_cycles,
        r.epilogue_cycles,
        epi,
    )


def run_counts(schedule: Schedule, cycles: int) -> ActionCounts:
    """The actions of every op: each distinct counts object once, times how many ops share it,
    in order of first use (as ``sum_counts`` over the ops in program order)."""
    times: dict[int, list[Any]] = {}
    for op, n in _distinct_ops(schedule):
        e = times.get(id(op.counts))
        if e is None:
            times[id(op.counts)] = [op.counts, n]
        else:
            e[1] += n
    return sum_counts_times(((c, n) for c, n in times.values()), cycles)


def span_groups(schedule: Schedule) -> tuple[SpanGroup, ...] | None:
    """The ops cut into groups of one pass and part (:class:`SpanGroup`), one per segment
    when the segments cover the ops and each segment is one part (None otherwise); a record's
    copies of one pass on consecutive decoder layers are one group with its multiplicity."""
    if schedule.segments is None or not schedule.segments_cover_ops():
        return None
    out: list[SpanGroup] = []
    kinds: dict[int, set[OpKind]] = {}  # per plan
    for ref in schedule.segments:
        n = len(ref.plan.ops)
        last: SpanGroup | None = None
        plan_kinds = kinds.get(id(ref.plan))
        if plan_kinds is None:
            plan_kinds = kinds[id(ref.plan)] = {o.kind for o in ref.plan.ops}
        for j in range(ref.times):
            first = ref.start + j * n
            op = schedule.op_head(first)
            parts = {span_part(op.layer, k) for k in plan_kinds}
            if len(parts) != 1:
                return None
            part = parts.pop()
            if (
                last is not None
                and op.layer >= 0
                and last.layer + last.times == op.layer
                and (last.phase, last.step) == (op.phase, op.step)
                and part == f"layer_{op.layer}"
            ):
                last = replace(last, times=last.times + 1)
                out[-1] = last
                continue
            last = SpanGroup(first, first + n, op.phase, op.step, part, 1, op.layer)
            out.append(last)
    return tuple(out)


def queue_items(schedule: Schedule, names: Sequence[str], mem: MemoryTiming) -> list[QItem]:
    """The schedule's DMA queue as the engines see it (units and buffers by index)."""
    index = {n: k for k, n in enumerate(names)}
    pos = {op.op_index: k for k, op in enumerate(schedule.ops)}
    buf = {n: mem.buffer_of(n) for n in names}
    qops: dict[int, QOp] = {}

    def qop(k: int) -> QOp:
        q = qops.get(k)
        if q is None:
            op = schedule.ops[k]
            runs = tuple(_qrun(r, index[r.unit], buf[r.unit], index) for r in op.runs)
            q = qops[k] = QOp(k, runs, op.write_bytes, tuple(pos[d] for d in op.deps))
        return q

    return [QItem(qop(it.op), it.run, it.first, it.count) for it in schedule.queue_items()]


def placed_segments(
    schedule: Schedule, names: Sequence[str], mem: MemoryTiming
) -> list[Placed] | None:
    """The schedule's queue as placed templates, one per distinct planned segment (None: the
    schedule lists its queue item by item)."""
    if schedule.segments is None or schedule.items is not None:
        return None
    index = {n: k for k, n in enumerate(names)}
    buf = {n: mem.buffer_of(n) for n in names}
    by_plan: dict[int, tuple[int, Template]] = {}
    interned: dict[Template, int] = {}
    out = []
    for ref in schedule.segments:
        got = by_plan.get(id(ref.plan))
        if got is None:
            plan = ref.plan
            tops = [
                (
                    k,
                    tuple(_qrun(r, index[r.unit], buf[r.unit], index) for r in op.runs),
                    op.write_bytes,
                    deps,
                )
                for k, (op, deps) in enumerate(zip(plan.ops, plan.deps, strict=True))
            ]
            t = Template.of(tops, [(it.op, it.run, it.first, it.count) for it in plan.items])
            got = by_plan[id(ref.plan)] = (interned.setdefault(t, len(interned)), t)
        end = ref.start + len(ref.plan.ops)
        out.append(Placed(got[0], got[1], ref.start, ref.ext, end, ref.times))
    return out


def segments_of(schedule: Schedule, items: Sequence[QItem]) -> list[tuple[int, int]]:
    """(start, end) in ``items`` of each layer of each pass (consecutive entries of ops of one
    (phase, step, layer))."""
    ops = schedule.ops
    return segment_starts(
        [(ops[it.op.pos].phase, ops[it.op.pos].step, ops[it.op.pos].layer) for it in items]
    )


# The per-tile oracle holds every tile's events, about 1.5 KB and 0.1 ms of CPU per tile
# (measured: 82,043 tiles, 125 MB above the fast path, 7.9 s): bound its memory and time
MAX_TILE_FIDELITY_TILES = 500_000


def simulate(
    schedule: Schedule,
    mem: MemoryTiming,
    clock_hz: float,
    fidelity: Fidelity = Fidelity.FAST,
    progress: Progress | None = None,
    units: Sequence[str] | None = None,
) -> SimResult:
    """Run ``schedule``; return cycles, busy/stall per unit, op spans, busy timelines and
    action counts. ``units``: the design's unit names (results list every one)."""
    fidelity = Fidelity(fidelity)
    ops = schedule.ops
    if any(sum(r.count for r in runs) == 0 for runs in _distinct_runs(schedule)):
        empty = [op.name for op in ops[:1000] if op.tiles == 0]
        raise ValueError(f"schedule has ops without tiles: {empty[:3]}")  # mapping bug
    names = unit_names(schedule, units)
    placed = None if fidelity is Fidelity.TILE else placed_segments(schedule, names, mem)
    if placed is not None:
        from tersim.sim.runs import run_simpy_placed

        if fidelity is Fidelity.RUN:  # simpy's events do form cycles: collected as usual
            p = run_simpy_placed(placed, len(ops), len(names), mem, progress, len(ops))
        else:
            with cyclic_gc_paused():
                p = run_placed(placed, len(ops), len(names), mem, progress, len(ops))
        spans, stats, end, timelines = p.spans, p.stats, p.end_cycle, p.timelines
        dram = p.dram
        channels = p.channels
    elif fidelity is Fidelity.TILE:
        tiles = sum(op.tiles for op in ops)
        if tiles > MAX_TILE_FIDELITY_TILES:
            raise DesignError(
                f"--fidelity tile: this run has {tiles:,} tiles, each simulated as simpy events "
                f"(at most {MAX_TILE_FIDELITY_TILES:,}: about 0.75 GB); use --fidelity run (the simpy "
                "engine with events per run of tiles, the same cycles) or a smaller scenario"
            )
        items = queue_items(schedule, names, mem)
        from tersim.sim.oracle import run_oracle

        o = run_oracle(items, len(ops), len(names), mem)
        spans, stats, end, timelines = o.spans, o.stats, o.end_cycle, o.timelines
        dram = o.dram
        channels = o.channels
    elif fidelity is Fidelity.RUN:
        from tersim.sim.runs import run_simpy

        items = queue_items(schedule, names, mem)
        r = run_simpy(items, len(ops), len(names), mem, progress, segments_of(schedule, items))
        spans, stats, end, timelines = r.spans, r.stats, r.end_cycle, r.timelines
        dram = r.dram
        channels = r.channels
    else:
        items = queue_items(schedule, names, mem)
        f = run_fast(items, len(ops), len(names), mem, progress, segments_of(schedule, items))
        spans, stats, end, timelines = f.spans, f.stats, f.end_cycle, f.timelines
        dram = f.dram
        channels = f.channels
    table = spans if isinstance(spans, SpanTable) else SpanTable.of(spans)
    total = max(table.max_end(), end)
    op_spans = OpSpans(ops, table, span_groups(schedule))
    counts = run_counts(schedule, total)
    busy = {n: stats.busy[k] for k, n in enumerate(names)}
    busy["dram"] = stats.dram
    stall = {n: stats.stall[k] for k, n in enumerate(names)}
    lines = {
        n: UnitTimeline.of(
            (lane := timelines[k]).groups,
            total,
            lane.pieces(),
            lane_intervals_count(lane, TIMELINE_MAX_INTERVALS),
        )
        for k, n in enumerate(names)
    }
    lines["dram"] = UnitTimeline.of(dram.groups, total, dram.pieces())  # named as in busy_cycles
    for c, lane in enumerate(channels):  # none for one channel (its lane is the DRAM's)
        lines[dram_channel_lane(c)] = UnitTimeline.of(lane.groups, total, lane.pieces())
    return SimResult(total, clock_hz, busy, stall, op_spans, counts, fidelity.value, lines)
