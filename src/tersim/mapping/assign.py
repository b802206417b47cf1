"""Op -> unit assignment and the order ops are queued in: list scheduling per layer.

The workload is cut into segments: consecutive ops of one pass and layer (the embedding and the
final norm with the LM head are segments of their own). Each segment is planned alone, from all
units idle, on estimated durations (an op's compute cycles on a unit: the sum over its tiles,
independent of the DRAM, so that bandwidth never changes a plan):

1. Priority (``scheduling.order: priority``): an op's *bottom level* is its estimated duration
   (the least over the units that may run it) plus the largest bottom level among the ops of
   the segment that depend on it. Ops are queued by decreasing bottom level, ties in program
   order (critical path first; a topological order, since an op's bottom level exceeds its
   dependants' or ties with them and comes first in the program). With ``order: program`` they
   are queued in program order.
2. Assignment, in that order: an op pinned by ``assign:`` (or with one candidate) goes to that
   unit; otherwise to the candidate on which it would finish earliest, given when each unit
   frees and when its dependencies in the segment finish (earliest finish time, HEFT-style),
   ties to the unit listed first in the design.

Segments follow each other in program order, so ops of different layers never interleave in the
queue. Every path that leaves a decoder layer passes through its last op (the residual), so the
segment-local bottom level orders a layer's ops as the whole graph's would.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from tersim.config.enums import OrderRule
from tersim.hw.units import ComputeUnit
from tersim.mapping.schedule import OpSchedule
from tersim.workload.ops import Op

Plan = tuple[tuple[str, ...], tuple[int, ...]]  # per op: unit name; queue order (relative)


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
    finish = [0] * n
    choice = [""] * n
    for i in order:
        ready = max((finish[d] for d in deps[i]), default=0)
        best = min(
            dur[i],
            key=lambda u: (max(free.get(u, 0), ready) + dur[i][u], unit_rank[u]),
        )
        finish[i] = max(free.get(best, 0), ready) + dur[i][best]
        free[best] = finish[i]
        choice[i] = best
    return tuple(choice), tuple(order)


def segment_bounds(ops: Sequence[Op]) -> list[tuple[int, int]]:
    """(start, end) of every segment: consecutive ops of one (phase, step, layer)."""
    out = []
    start = 0
    for _, group in groupby(ops, key=lambda op: (op.phase, op.step, op.layer)):
        n = sum(1 for _ in group)
        out.append((start, start + n))
        start += n
    return out


def plan_segments(
    ops: Sequence[Op],
    options: Sequence[dict[str, OpSchedule]],
    deps: Sequence[tuple[int, ...]],
    units: tuple[ComputeUnit, ...],
    rule: OrderRule,
) -> tuple[list[str], tuple[int, ...]]:
    """Every op's unit and the queue order of the whole workload (segments in program order;
    identical segments are planned once)."""
    rank = {u.name: k for k, u in enumerate(units)}
    choice: list[str] = [""] * len(ops)
    order: list[int] = []
    memo: dict[tuple[object, ...], Plan] = {}
    for a, b in segment_bounds(ops):
        local = tuple(tuple(d - a for d in deps[i] if d >= a) for i in range(a, b))
        key = (tuple(id(options[i]) for i in range(a, b)), local)
        plan = memo.get(key)
        if plan is None:
            plan = memo[key] = plan_segment(options[a:b], local, rank, rule)
        units_of, seg_order = plan
        choice[a:b] = units_of
        order.extend(a + k for k in seg_order)
    return choice, tuple(order)
