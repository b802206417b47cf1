"""The search over one matrix product's mapping space (:mod:`tersim.mapping.space`).

The objective (``mapping.objective`` of the design) compares points by the cycles and energy of
the op's array tiles run alone on an idle machine:

* ``latency``: cycles, then energy;
* ``energy``: energy (dynamic energy of the point's counts plus leakage over its cycles), then
  cycles;
* ``edp``: energy x cycles, then cycles;

then loads at first touch before loads spread evenly (the exact placement when it is as
good), then fewer tile runs, then the point's place in the space's fixed order. So the choice
is deterministic. The op's write-back is part of the comparison: the same bytes
whatever the point, written after its last tile or, on a point that overlaps it, partly by the
passes that complete outputs (:mod:`tersim.mapping.space`); the engine times both.

Cycles come from the engine itself: the caller passes a :class:`Judge` (``tersim.run.judge``
builds one from the simulator and the energy model, the layers above the mapping), so a point's
cycles are exactly what the engine will measure when it runs the op alone.

Best-first branch and bound: every valid point gets a lower bound on its cycles from closed
forms,

    max(first pass's load + DRAM latency + sum of all passes' issue intervals,
        DRAM bytes read / bandwidth + DRAM latency),

then the engine without back-pressure plus the op's write-back after its last compute
(:func:`relaxed_cycles`)
(a pass cannot start before its data arrived, passes run one after another and none is
shorter than its issue interval; the DRAM moves at most its bandwidth) and an energy bound at
those cycles (energy grows with cycles through leakage). Points are refined in order of their
bound (:func:`_search`), and the first point whose exact key comes up is taken: no other
point's bound, hence its key, is smaller. So the result equals the exhaustive evaluation of
every point (``search(..., exhaustive=True)``, used by the tests), usually after simulating a handful.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tersim.config.enums import BufferRole, MappingObjective
from tersim.errors import DesignError
from tersim.hw.counts import ActionCounts, dram_bytes, sum_counts
from tersim.mapping.schedule import LoadPlacement, TileRun
from tersim.mapping.space import (
    Assessment,
    Dim,
    GemmMapping,
    GemmProblem,
    Geometry,
    TooManyRuns,
    first_index,
    own_counts,
    plan_counts,
    tile_write_bytes,
)


class Judge(Protocol):
    """What the mapping asks the layers above it: the engine's cycles and the energy model."""

    @property
    def dram_bw_bytes_per_cycle(self) -> float:
        """Bytes the DRAM moves per cycle at most (infinite with ideal memory)."""
        ...

    @property
    def dram_latency_cycles(self) -> int:
        """Cycles from a transfer's end until its data is usable (0 with ideal memory)."""
        ...

    @property
    def leakage_pj_per_cycle(self) -> float: ...

    @property
    def loads_overlap(self) -> bool:
        """Whether two transfers may move side by side (several DMA engines on a DRAM of
        several channels): then :func:`relaxed_cycles`, which moves one load at a time, is no
        lower bound and the search does not use it."""
        ...

    def op_cycles(self, runs: tuple[TileRun, ...], write_bytes: int) -> int:
        """Cycles of one op's tiles (and write-back) run alone on an idle machine."""
        ...

    def first_load_cycles(self, nbytes: int) -> int:
        """Cycles until ``nbytes`` loaded into an idle DRAM's first transfer are usable."""
        ...

    def energy_pj(self, counts: ActionCounts) -> float:
        """Energy of ``counts`` (including leakage over ``counts.cycles``)."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    """The point a search chose and what it costs."""

    assessment: Assessment
    runs: tuple[TileRun, ...]  # the array tiles in order
    compute_cycles: int  # ideal memory
    cycles: int  # the engine's cycles of ``runs``, tail and write-back, run alone from idle
    span_cycles: int  # ``cycles`` from the first tile's start (the objective's cycles)
    energy_pj: float  # the objective's energy: the op's actions, leakage over the span
    points: int  # points in the declared space
    assessed: int  # points whose closed forms were computed (the rest were bounded out)
    simulated: int  # points the engine ran (distinct schedules)


Key = tuple[float, float, int, int, int]


def objective_key(
    objective: MappingObjective,
    cycles: float,
    energy: float,
    runs: int,
    index: int,
    spread: bool = False,
) -> Key:
    """The ordering of points (smaller is better): the objective, the other quantity, then
    loads at first touch before spread ones, then the simpler schedule (fewer tile runs), then
    the point's place in the space's order."""
    if objective is MappingObjective.LATENCY:
        return (cycles, energy, spread, runs, index)
    if objective is MappingObjective.ENERGY:
        return (energy, cycles, spread, runs, index)
    return (energy * cycles, cycles, spread, runs, index)


def _first_bytes(geo: Geometry, g: GemmMapping) -> int:
    """Bytes the first pass loads at least (its slices of X, unless on chip, and of W)."""
    p = geo.p
    first = int(geo.first_slice(g, BufferRole.WEIGHT) * p.bits.weight_bits // 8)
    if not p.input_on_chip:
        first += int(geo.first_slice(g, BufferRole.INPUT) * p.bits.input_bits // 8)
    return first


def relaxed_cycles(
    runs: tuple[TileRun, ...], bw: float, latency: int, write_cycles: int = 0
) -> int:
    """The engine's recurrence without its back-pressure (the DMA engine never waits for
    buffer room or a free slot): a lower bound on the engine's cycles, and equal to them when
    back-pressure never delays a tile. Per run of ``n`` tiles loading ``l`` bytes in
    ``t = ceil(l / bw)`` cycles and computing ``c``: the DMA position moves ``n * t``; the
    run ends at ``max(previous end + n * c, dma + lat + max(n * t + c, t + n * c))``
    (``dma + n * c`` with nothing to load). The op's write-back (``write_cycles`` on an idle
    DRAM) starts after the last compute.

    Tile write-backs (``w`` bytes, ``tw = ceil(w / bw)`` cycles, ready ``rw`` after the
    tile's compute end ``E``): tile ``j``'s write is queued after load ``j + 1`` and load
    ``j + 2`` starts after it ends. So a run's first load is followed by the previous tile's
    write (from ``max(load end, E + rw)``); inside a run of ``n >= 2`` writing tiles, with
    ``two = t + lat + c + rw + tw`` (load, data, compute, ready, write), the loads' starts
    grow by ``t + tw`` per tile and by ``two`` per two tiles, and so do the compute ends
    (``E_{j+1} >= E_{j-1} + two``): ``E_{n-1} >= E_0 + floor((n - 1) / 2) two``. A fused
    epilogue ends its op at least its ready time and cycles after the last tile's end."""
    lf = 0  # the next load starts no earlier
    end = 0  # the last compute's end
    carry: tuple[int, int, int] | None = None  # the last tile's (write cycles, ready, end)
    finite = math.isfinite(bw)

    def cycles(nbytes: int) -> int:
        return math.ceil(nbytes / bw) if finite else 0

    for r in runs:
        n, c = r.count, r.compute_cycles
        tw = cycles(r.write_bytes) if r.write_bytes else 0
        if r.load_bytes <= 0:
            end = max(end, lf) + n * c
            carry = (tw, r.write_ready_cycles, end) if r.write_bytes else None
            continue
        t = cycles(r.load_bytes)
        first_end = max(end, lf + t + latency) + c  # the run's first tile
        after = lf + t  # where the DMA stands after that load ...
        if carry is not None:  # ... and the previous tile's write
            after = max(after, carry[2] + carry[1]) + carry[0]
        if n == 1:
            end, lf = first_end, after
        elif not r.write_bytes:
            ready = after + latency + ((n - 1) * t + c if t >= c else t + (n - 1) * c)
            end = max(first_end + (n - 1) * c, ready)
            lf = after + (n - 1) * t
        else:
            two = t + latency + c + r.write_ready_cycles + tw
            last = after + max((n - 2) * (t + tw), (n - 2) // 2 * two)  # the last load
            end = max(
                first_end + (n - 1) * c,
                first_end + (n - 1) // 2 * two,
                last + t + latency + c,
            )
            lf = last + t + tw
        carry = (tw, r.write_ready_cycles, end) if r.write_bytes else None
    if runs and runs[-1].epilogue_cycles:  # the last tile's fused epilogue follows it
        end += runs[-1].write_ready_cycles + runs[-1].epilogue_cycles
    return max(end + write_cycles if write_cycles else end, lf)


def search(
    problem: GemmProblem,
    judge: Judge,
    objective: MappingObjective,
    fixed: ActionCounts,
    tail: tuple[TileRun, ...] = (),
    exhaustive: bool = False,
) -> Choice:
    """The best point of the space (see the module rules); DesignError if none fits.
    ``fixed``: the op's actions every point shares (PE actions, write-backs); ``tail``: tiles
    the op runs after the product. ``exhaustive``: run every valid point on the engine
    instead of stopping at the first exact key (the oracle of the tests; the same best)."""
    return _search(Geometry(problem), judge, objective, fixed, tail, exhaustive)


def _search(
    geo: Geometry,
    judge: Judge,
    objective: MappingObjective,
    fixed: ActionCounts,
    tail: tuple[TileRun, ...],
    exhaustive: bool,
) -> Choice:
    """Best-first branch and bound. Every entry of a heap carries a lower bound of the
    objective's key of the points it stands for; the entry with the least key is refined next,
    in four stages: (0) a tile, bounded from the tile alone (its passes' intervals; compulsory
    reads beyond the first tile's) -> its loop orders, (1) a point, bounded from its closed
    forms (its own reads) -> its schedule, (2) a schedule, bounded by the engine without
    back-pressure -> the engine's cycles, (3) an exact key. The first exact key taken off the
    heap is the optimum: every other entry's bound, hence every point's key, is no smaller.
    ``exhaustive`` refines every entry to the end instead (the oracle of the tests)."""
    p = geo.p
    leak = judge.leakage_pj_per_cycle
    tail_cycles = sum(r.count * r.compute_cycles for r in tail)
    compulsory = geo.whole_bytes[BufferRole.WEIGHT] + (
        0 if p.input_on_chip else geo.whole_bytes[BufferRole.INPUT]
    )
    floor_pj = judge.energy_pj(
        sum_counts([fixed, ActionCounts(dram_read_bytes=dram_bytes(weights=compulsory))])
    )
    bw = judge.dram_bw_bytes_per_cycle
    lat = judge.dram_latency_cycles
    overlap = judge.loads_overlap
    # the op's output bytes (its own write-back plus its tiles')
    write_total = max(
        sum(fixed.dram_write_bytes.values()), 0 if p.output_on_chip else geo.write_bytes
    )

    def end_write(runs: tuple[TileRun, ...]) -> int:
        """What the op's write-back moves after its last tile."""
        return write_total - tile_write_bytes(runs)

    def after_first(reads: int, g: GemmMapping) -> int:
        """Cycles the DRAM needs for the reads after the first tile's (at first touch: at
        most its slices, its operands' rounding to bursts and a byte per loading pass;
        spread: at most ``reads // passes + 1``)."""
        if not math.isfinite(bw):
            return 0
        if g.spread:
            first = reads // geo.pass_count(g.tile) + 1
        else:
            first = _first_bytes(geo, g) + 2 * (p.burst_bytes + 1) + geo.pass_count(g.tile)
        return math.ceil(max(0, reads - first) / bw)

    def write_cycles(nbytes: int) -> int:
        """Cycles an idle DRAM takes to write ``nbytes`` (a busy one takes no fewer)."""
        return judge.first_load_cycles(nbytes) - lat if nbytes > 0 else 0

    def end_write_floor(g: GemmMapping) -> int:
        """Bytes the op's write-back moves after its last tile at least: the whole output,
        or on an overlapping point its last pass's block."""
        return min(write_total, geo.last_block_bytes(g.tile)) if g.overlap else write_total

    def tile_bound(tile: tuple[int, int, int]) -> int:
        """A lower bound on the span of every point of ``tile``: its passes' intervals, then
        the least write-back after them (it starts once the op's last tile has computed), and
        the compulsory reads after the first tile's under either load placement (the bound
        grows with the reads)."""
        after = min(
            after_first(compulsory, GemmMapping(tile, (), False, loads)) for loads in LoadPlacement
        )
        least = min(end_write_floor(GemmMapping(tile, (), w)) for w in geo.overlaps)
        return max(geo.compute_floor(tile) + tail_cycles + write_cycles(least), after)

    def point_bound(g: GemmMapping, reads: int) -> int:
        """:func:`tile_bound` for one point: its own write-back and reads."""
        floor = geo.compute_floor(g.tile) + tail_cycles + write_cycles(end_write_floor(g))
        return max(floor, after_first(reads, g))

    def key(cycles: float, energy: float, index: int, g: GemmMapping, runs: int = 1) -> Key:
        return objective_key(objective, cycles, energy, runs, index, g.spread)

    heap: list[tuple[Key, int, int, Any]] = []
    seq = 0

    def push(k: Key, stage: int, data: Any) -> None:
        nonlocal seq
        heapq.heappush(heap, (k, -stage, seq, data))  # at equal keys the later stage first
        seq += 1

    for ti, tile in enumerate(geo.tiles()):
        lb0 = tile_bound(tile)
        push(key(lb0, floor_pj + leak * lb0, first_index(ti), GemmMapping(tile, ())), 0, (ti, tile))
    seen: dict[tuple[TileRun, ...], tuple[int, int]] = {}
    relaxations: dict[tuple[TileRun, ...], tuple[int, int]] = {}
    best: tuple[Key, Assessment, tuple[TileRun, ...], int, int, int, float] | None = None
    assessed = 0
    while heap:
        k, neg_stage, _, data = heapq.heappop(heap)
        if not exhaustive and best is not None and k >= best[0]:
            break  # no entry left can beat the best
        stage = -neg_stage
        if stage == 0:
            ti, tile = data
            lb0 = tile_bound(tile)
            twin: tuple[GemmMapping, Assessment | None, float] | None = None
            for index, g in geo.orders(tile, ti):
                base = replace(g, loads=LoadPlacement.FIRST_TOUCH)
                if twin is not None and twin[0] == base:  # its other load placement
                    a = None if twin[1] is None else replace(twin[1], mapping=g)
                    e_dyn = twin[2]
                else:
                    a = geo.assess(g)
                    e_dyn = (
                        0.0
                        if a is None
                        else judge.energy_pj(sum_counts([own_counts(plan_counts(p, a)), fixed]))
                    )
                    twin = (base, a, e_dyn)
                if a is None:
                    continue
                assessed += 1
                reads = a.traffic_bytes[BufferRole.INPUT] + a.traffic_bytes[BufferRole.WEIGHT]
                lb1 = max(lb0, point_bound(g, reads))
                push(key(lb1, e_dyn + leak * lb1, index, g), 1, (index, a, e_dyn, lb1))
        elif stage == 1:
            index, a, e_dyn, lb1 = data
            try:
                runs, compute = geo.schedule(a)
            except TooManyRuns:
                continue
            timed = seen.get(runs)
            if timed is not None:
                cycles, span = timed
                push(
                    key(span, e_dyn + leak * span, index, a.mapping, len(runs)),
                    3,
                    (a, runs, compute, cycles, span, e_dyn),
                )
                continue
            relaxed = relaxations.get(runs)
            if relaxed is None:  # points with the same tiles share their bound
                ready = judge.first_load_cycles(runs[0].load_bytes)
                ew = end_write(runs)
                wcyc = judge.first_load_cycles(ew) - lat if ew > 0 else 0
                # overlapping loads can beat the one-at-a-time recurrence: no stage-2 bound
                lb_relaxed = 0 if overlap else relaxed_cycles(runs + tail, bw, lat, wcyc) - ready
                relaxed = relaxations[runs] = (lb_relaxed, ready)
            lb2 = max(lb1, relaxed[0])
            ready = relaxed[1]
            push(
                key(lb2, e_dyn + leak * lb2, index, a.mapping, len(runs)),
                2,
                (index, a, runs, compute, e_dyn, ready),
            )
        elif stage == 2:
            index, a, runs, compute, e_dyn, ready = data
            timed = seen.get(runs)
            if timed is None:
                cycles = judge.op_cycles(runs + tail, end_write(runs))
                timed = seen[runs] = (cycles, cycles - ready)
            cycles, span = timed
            push(
                key(span, e_dyn + leak * span, index, a.mapping, len(runs)),
                3,
                (a, runs, compute, cycles, span, e_dyn),
            )
        else:
            a, runs, compute, cycles, span, e_dyn = data
            if best is None or k < best[0]:
                best = (k, a, runs, compute, cycles, span, e_dyn + leak * span)
            if not exhaustive:
                break  # the least key of all: the optimum
    if best is None:
        if assessed:
            raise TooManyRuns  # points fit, but none within the engine's run limit
        raise _no_fit(geo)
    _, a, runs, compute, cycles, span, energy = best
    return Choice(a, runs, compute, cycles, span, energy, geo.size(), assessed, len(seen))


def _no_fit(geo: Geometry) -> DesignError:
    """The error when even one-fold tiles held for one pass do not fit."""
    p = geo.p
    smallest = GemmMapping(
        tuple(min(geo.unit[d], geo.dims[d]) for d in (Dim.M, Dim.N, Dim.K)),  # type: ignore[arg-type]
        (Dim.M, Dim.N, Dim.K),
    )
    need = {
        role: 2 * geo.first_slice(smallest, role) * p.element_bits(role) / 8 for role in BufferRole
    }
    parts = ", ".join(f"{r.value} {math.ceil(v):,} bytes" for r, v in need.items())
    return DesignError(
        f"sram: no mapping of the {p.m}x{p.k} @ {p.k}x{p.n} product fits the buffers (one "
        f"fold per operand, double-buffered, needs about {parts}; expected larger buffers)"
    )
