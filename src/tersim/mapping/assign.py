"""Op -> unit assignment and the order ops are queued in: list scheduling per layer.

The workload is cut into segments: consecutive ops of one pass and layer (the embedding and the
final norm with the LM head are segments of their own). Each segment is planned alone, from all
units idle, on estimated durations (an op's compute cycles on a unit: the sum over its tiles,
independent of the DRAM, so that bandwidth never changes a plan):

1. Priority (``scheduling.order: priority``): an op's *bottom level* is its estimated duration
   (the least over the units that may run it) plus the largest bottom level among the ops of
   the segment that depend on it. Ops are taken by decreasing bottom level, ties in program
   order (critical path first; a topological order, since an op's bottom level exceeds its
   dependants' or ties with them and comes first in the program).
2. Assignment, in that order: an op pinned by ``assign:`` (or with one candidate) goes to that
   unit; otherwise to the candidate on which it would finish earliest, given when each unit
   frees and when its dependencies in the segment finish (earliest finish time, HEFT-style),
   ties to the unit listed first in the design. This gives each op an estimated start.
3. The DMA queue lists tiles by when the plan expects them: op ``i``'s ``T`` tiles are spread
   evenly over its estimated span, tile ``k`` at ``start + floor(duration x k / T)``, and its
   write-back at ``start + duration``; ties go to the op taken first in step 1, then to the
   earlier tile. So the loads of ops the plan runs at the same time on different units
   interleave (a projection's weights and attention's K cache), and a unit's ops keep the order
   of step 1. With ``order: program`` ops are assigned and queued in program order, whole.

Segments follow each other in program order, so ops of different layers never interleave in the
queue. Every path that leaves a decoder layer passes through its last op (the residual), so the
segment-local bottom level orders a layer's ops as the whole graph's would.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import groupby

from tersim.config.enums import OrderRule
from tersim.hw.units import ComputeUnit
from tersim.mapping.schedule import (
    OpSchedule,
    QueueItem,
    SegmentPlan,
    SegmentRef,
    append_segment,
    op_by_op,
)
from tersim.workload.ops import Op

# per op: unit name; priority order; the queue (ops relative to the segment)
Plan = tuple[tuple[str, ...], tuple[int, ...], tuple[QueueItem, ...]]


def estimated_cycles(s: OpSchedule) -> int:
    """Compute cycles of all the op's tiles (any unit): the planner's duration estimate."""
    return sum(r.count * r.compute_cycles for r in s.runs)


def plan_segment(
    options: Sequence[dict[str, OpSchedule]],
    deps: Sequence[tuple[int, ...]],
    unit_rank: dict[str, int],
    rule: OrderRule,
) -> Plan:
    """Plan one segment. ``options[i]``: unit name -> the op mapped there; ``deps[i]``: indices
    (relative to the segment) of the segment's ops it depends on."""
    n = len(options)
    dur = [{u: estimated_cycles(s) for u, s in opt.items()} for opt in options]
    if rule is OrderRule.PRIORITY:
        succ: list[list[int]] = [[] for _ in range(n)]
        for i, ds in enumerate(deps):
            for d in ds:
                succ[d].append(i)
        bottom = [0] * n
        for i in range(n - 1, -1, -1):
            bottom[i] = min(dur[i].values()) + max((bottom[s] for s in succ[i]), default=0)
        order = sorted(range(n), key=lambda i: (-bottom[i], i))
    else:
        order = list(range(n))
    free: dict[str, int] = {}
    start = [0] * n
    finish = [0] * n
    choice = [""] * n
    for i in order:
        ready = max((finish[d] for d in deps[i]), default=0)
        best = min(
            dur[i],
            key=lambda u: (max(free.get(u, 0), ready) + dur[i][u], unit_rank[u]),
        )
        start[i] = max(free.get(best, 0), ready)
        finish[i] = start[i] + dur[i][best]
        free[best] = finish[i]
        choice[i] = best
    chosen = tuple(options[i][choice[i]] for i in range(n))
    if rule is OrderRule.PRIORITY:
        queue = interleave(chosen, order, start, [dur[i][choice[i]] for i in range(n)])
    else:
        queue = op_by_op(chosen, tuple(order))
    return tuple(choice), tuple(order), queue


def interleave(
    ops: Sequence[OpSchedule], order: Sequence[int], start: Sequence[int], dur: Sequence[int]
) -> tuple[QueueItem, ...]:
    """The DMA queue of step 3: every op's tiles at their planned times, merged."""
    rank = {i: k for k, i in enumerate(order)}
    total = [sum(r.count for r in op.runs) for op in ops]

    def key(i: int, k: int) -> tuple[int, int, int]:
        if k >= total[i]:  # the write-back, after the op's last tile
            return (start[i] + dur[i], rank[i], k)
        return (start[i] + dur[i] * k // total[i], rank[i], k)

    def last_before(i: int, k: int, limit: tuple[int, int, int]) -> int:
        """The largest tile index ``j >= k`` of op ``i`` whose key is below ``limit`` (tile
        ``k``'s is): time ``start + floor(dur j / T)`` below the limit's, or equal to it with
        a smaller rank (two entries of one op are never both in the heap)."""
        lt, lr, _ = limit
        s, d, t = start[i], dur[i], total[i]
        bound = lt - s + (1 if rank[i] < lr else 0)  # floor(d j / t) < bound
        if bound <= 0:
            return k
        j = t - 1 if d == 0 else min(t - 1, (bound * t - 1) // d)
        return j if j > k else k

    heap = [(key(i, 0), i, 0) for i in range(len(ops))]
    heapq.heapify(heap)
    out: list[QueueItem] = []
    while heap:
        _, i, k = heapq.heappop(heap)
        op = ops[i]
        if k >= total[i]:
            if op.write_bytes > 0:
                out.append(QueueItem(i, -1))
            continue
        limit = heap[0][0] if heap else (1 << 62, 0, 0)
        end = last_before(i, k, limit) + 1  # tiles [k, end) come before every other op's next
        # split at run boundaries
        base = 0
        for r, run in enumerate(op.runs):
            lo, hi = max(k, base), min(end, base + run.count)
            if lo < hi:
                out.append(QueueItem(i, r, lo - base, hi - lo))
            base += run.count
        heapq.heappush(heap, (key(i, end), i, end))
    return tuple(_merged(out))


def _merged(items: list[QueueItem]) -> list[QueueItem]:
    """Adjacent pieces of one run joined."""
    out: list[QueueItem] = []
    for it in items:
        last = out[-1] if out else None
        if (
            last is not None
            and it.run >= 0
            and (last.op, last.run) == (it.op, it.run)
            and last.first + last.count == it.first
        ):
            out[-1] = QueueItem(it.op, it.run, last.first, last.count + it.count)
        else:
            out.append(it)
    return out


def segment_bounds(ops: Sequence[Op]) -> list[tuple[int, int]]:
    """(start, end) of every segment: consecutive ops of one (phase, step, layer)."""
    out = []
    start = 0
    for _, group in groupby(ops, key=lambda op: (op.phase, op.step, op.layer)):
        n = sum(1 for _ in group)
        out.append((start, start + n))
        start += n
    return out


class SegmentPlanner:
    """Plans a workload's segments one after another, in program order (:func:`plan_segments`
    does it for a whole workload; the mapping's per-layer path calls it segment by segment).
    Identical segments (the same op mappings and dependencies relative to the segment) are
    planned once and share one :class:`SegmentPlan`."""

    def __init__(self, units: tuple[ComputeUnit, ...], rule: OrderRule) -> None:
        self.rank = {u.name: k for k, u in enumerate(units)}
        self.rule = rule
        self.memo: dict[tuple[object, ...], Plan] = {}
        self.shared: dict[tuple[object, ...], SegmentPlan] = {}

    def plan(
        self,
        a: int,
        options: Sequence[dict[str, OpSchedule]],
        deps: Sequence[tuple[int, ...]],
    ) -> SegmentRef:
        """The segment of ops ``a, a + 1, ...`` (``options`` and ``deps`` per op, absolute)."""
        ext = sorted({d for ds in deps for d in ds if d < a})
        xidx = {d: -1 - k for k, d in enumerate(ext)}
        rel = tuple(tuple(d - a if d >= a else xidx[d] for d in ds) for ds in deps)
        local = tuple(tuple(d for d in ds if d >= 0) for ds in rel)
        ids = tuple(id(o) for o in options)
        key = (ids, local)
        plan = self.memo.get(key)
        if plan is None:
            plan = self.memo[key] = plan_segment(options, local, self.rank, self.rule)
        units_of, seg_order, seg_queue = plan
        skey = (ids, rel)
        sp = self.shared.get(skey)
        if sp is None:
            chosen = tuple(o[u] for o, u in zip(options, units_of, strict=True))
            sp = self.shared[skey] = SegmentPlan(chosen, rel, seg_queue, seg_order)
        return SegmentRef(a, sp, tuple(ext))

    @staticmethod
    def repeat(a: int, source: SegmentRef) -> SegmentRef:
        """Segment ``a``, a repeat of ``source`` with the same mappings: its plan, the
        external dependencies shifted."""
        shift = a - source.start
        return SegmentRef(a, source.plan, tuple(e + shift for e in source.ext))


def plan_segments(
    ops: Sequence[Op],
    options: Sequence[dict[str, OpSchedule]],
    deps: Sequence[tuple[int, ...]],
    units: tuple[ComputeUnit, ...],
    rule: OrderRule,
    repeat_of: Sequence[int] = (),
) -> tuple[tuple[int, ...], tuple[SegmentRef, ...]]:
    """The priority order and the segments (each op's unit and the DMA queue) of the whole
    workload, segment by segment in program order (:class:`SegmentPlanner`).

    A segment that repeats an earlier one op for op (``repeat_of``, see
    :class:`tersim.workload.ops.Repeat`) with the same mappings (the same ``options`` objects)
    has that segment's relative dependencies (the repeat shifts them all alike), so it takes
    that segment's plan, its external dependencies shifted."""
    planner = SegmentPlanner(units, rule)
    order: list[int] = []
    refs: list[SegmentRef] = []
    seg_at: dict[int, tuple[int, SegmentRef]] = {}  # start -> (end, ref)
    for a, b in segment_bounds(ops):
        s = repeat_of[a] if repeat_of else -1
        src = seg_at.get(s) if s >= 0 else None
        if (
            src is not None
            and src[0] - s == b - a
            and all(repeat_of[a + k] == s + k for k in range(b - a))
            and all(options[a + k] is options[s + k] for k in range(b - a))
        ):
            ref = planner.repeat(a, src[1])
        else:
            ref = planner.plan(a, options[a:b], deps[a:b])
        order.extend(a + k for k in ref.plan.order)
        append_segment(refs, ref)
        seg_at[a] = (b, ref)
    return tuple(order), tuple(refs)
