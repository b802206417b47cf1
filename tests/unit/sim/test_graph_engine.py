"""The v2 engine: ops over a dependency graph on several units, checked by hand, against the
per-tile simpy oracle, and for the properties a scheduler must have.

Every engine (``tile``: one simpy event per tile; ``run``: simpy, one event per run of
identical tiles; ``fast``: the recurrence replaying repeated layers) must give the same cycles
per op, per unit and per busy interval.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import DramModelKind
from tersim.hw.counts import ActionCounts
from tersim.mapping.placement import Placement
from tersim.mapping.schedule import OpSchedule, QueueItem, Schedule, TileRun
from tersim.sim import Fidelity, MemoryTiming, SimResult, StagingBuffer, simulate
from tersim.sim.core import QItem, QOp, QRun, whole_ops
from tersim.sim.fast import run_fast, segment_starts
from tersim.sim.oracle import run_oracle
from tersim.sim.result import merge_sorted
from tersim.sim.runs import run_simpy
from tersim.workload.ops import OpKind, Phase

UNITS3 = ("array", "vector", "attn")


def _op(
    i: int, runs: list[TileRun], deps: tuple[int, ...] = (), write: int = 0, layer: int = 0
) -> OpSchedule:
    return OpSchedule(
        i, f"op{i}", OpKind.LINEAR, layer, Phase.PREFILL, 0, tuple(runs), write, ActionCounts(),
        deps,
    )  # fmt: skip


def _all(
    ops: list[OpSchedule], mem: MemoryTiming, units: tuple[str, ...] = UNITS3
) -> list[SimResult]:
    sched = Schedule(tuple(ops), Placement.none())
    return [simulate(sched, mem, 1e9, f, units=units) for f in Fidelity]


def _same(results: list[SimResult]) -> SimResult:
    first = results[0]
    for r in results[1:]:
        assert r.total_cycles == first.total_cycles
        assert r.spans == first.spans
        assert r.busy_cycles == first.busy_cycles
        assert r.stall_cycles == first.stall_cycles
        assert r.timelines == first.timelines
    return first


def _spans(r: SimResult) -> list[tuple[int, int]]:
    return [(s.start_cycle, s.end_cycle) for s in r.spans]


def test_two_units_by_hand() -> None:
    """bw 1 B/cycle, no latency. A (array): loads 10 B in 0-10, computes 20: 10-30. B (vector,
    independent of A): its 5 B load is dispatched when the DMA engine frees at 10: 10-15,
    computes 4: 15-19, beside A. C (array, reads A and B): nothing to load (ready at its
    dispatch, 15), waits for A (30): 30-36. Stalls: A waited 10 for its data, B 15, C none."""
    mem = MemoryTiming.of(1.0, 0, 10_000)
    ops = [
        _op(0, [TileRun(1, 10, 20, "array")]),
        _op(1, [TileRun(1, 5, 4, "vector")]),
        _op(2, [TileRun(1, 0, 6, "array")], deps=(0, 1)),
    ]
    r = _same(_all(ops, mem))
    assert _spans(r) == [(10, 30), (15, 19), (30, 36)]
    assert r.total_cycles == 36
    assert r.busy_cycles == {"array": 26, "vector": 4, "attn": 0, "dram": 15}
    assert r.stall_cycles == {"array": 10, "vector": 15, "attn": 0}
    assert r.timelines["array"].intervals == ((10, 36),)
    assert r.timelines["dram"].intervals == ((0, 15),)  # A's load, then B's, back to back
    assert r.timelines["vector"].intervals == ((15, 19),)
    assert r.timelines["attn"].intervals == ()


def test_three_units_by_hand() -> None:
    """bw 2 B/cycle, latency 1. Q (array): 8 B load 0-4, ready 5, computes 5-15. K (attn):
    dispatched at 4, 4 B in 4-6, ready 7, computes 7-19. S (vector, reads K): loads nothing
    (dispatched at 6) and waits for K: 19-24. V (array, reads Q and S): waits for S: 24-27.
    Three units busy at once from 7 to 15."""
    mem = MemoryTiming.of(2.0, 1, 10_000)
    ops = [
        _op(0, [TileRun(1, 8, 10, "array")]),
        _op(1, [TileRun(1, 4, 12, "attn")]),
        _op(2, [TileRun(1, 0, 5, "vector")], deps=(1,)),
        _op(3, [TileRun(1, 0, 3, "array")], deps=(0, 2)),
    ]
    r = _same(_all(ops, mem))
    assert _spans(r) == [(5, 15), (7, 19), (19, 24), (24, 27)]
    assert r.total_cycles == 27
    assert r.stall_cycles == {"array": 5, "vector": 0, "attn": 7}
    assert r.timelines["array"].intervals == ((5, 15), (24, 27))
    assert r.timelines["attn"].intervals == ((7, 19),)
    assert r.timelines["vector"].intervals == ((19, 24),)


def test_a_second_dma_engine_lets_loads_pass_a_waiting_write_by_hand() -> None:
    """W (array) computes 0-10 and writes 20 B back; X (vector, independent) loads 10 B.
    bw 1. One engine: W's write holds it from dispatch until W has computed and the 20 B have
    moved (10-30); X loads 30-40 and computes 40-41. Two engines: X loads on the second at 0-10
    (it starts before the write, so it reaches the DRAM first), computes 10-11; the write moves
    10-30: done at 30."""
    ops = [_op(0, [TileRun(1, 0, 10, "array")], write=20), _op(1, [TileRun(1, 10, 1, "vector")])]
    one = _same(_all(ops, MemoryTiming.of(1.0, 0, 10_000)))
    assert _spans(one) == [(0, 10), (40, 41)] and one.total_cycles == 41
    assert one.timelines["dram"].intervals == ((10, 40),)  # the write 10-30, X's load 30-40
    two = _same(_all(ops, MemoryTiming.of(1.0, 0, 10_000, dma_engines=2)))
    assert _spans(two) == [(0, 10), (10, 11)] and two.total_cycles == 30
    assert two.timelines["dram"].intervals == ((0, 30),)  # X's load 0-10, the write 10-30


def test_dram_lane_is_the_union_of_overlapping_transfers_by_hand() -> None:
    """Per-channel DRAM, 2 channels of 1 B/cycle, 8-byte bursts, two DMA engines. A (array)
    loads 16 B: one burst per channel, each 8 cycles: 0-8. B (vector, independent) is
    dispatched on the second engine at 0 and starts with A (loads enter in queue order, same
    cycle): its one burst goes to channel 0, busy until 8: it moves 8-16. The transfers last
    8 + 16 cycles but overlap: the DRAM is busy 0-16, 16 cycles, one interval. A computes
    8-10, B 16-17."""
    mem = MemoryTiming.of(2.0, 0, 10_000, True, 16, DramModelKind.PER_CHANNEL, 2, 8, 2)
    ops = [_op(0, [TileRun(1, 16, 2, "array")]), _op(1, [TileRun(1, 8, 1, "vector")])]
    r = _same(_all(ops, mem))
    assert _spans(r) == [(8, 10), (16, 17)]
    assert r.busy_cycles["dram"] == 16
    assert r.timelines["dram"].intervals == ((0, 16),)
    assert r.timelines["dram"].busy_cycles == 16


def test_a_consumer_reads_through_dram_after_the_write_by_hand() -> None:
    """P (array) computes 0-5 and writes its 10 B output; C (vector) reads it back (its load
    carries the bytes), bw 1, two engines: C's load waits for P's write (5-15): 15-25, C
    computes 25-27, even though a second engine was free from cycle 0."""
    ops = [
        _op(0, [TileRun(1, 0, 5, "array")], write=10),
        _op(1, [TileRun(1, 10, 2, "vector")], deps=(0,)),
    ]
    r = _same(_all(ops, MemoryTiming.of(1.0, 0, 10_000, dma_engines=2)))
    assert _spans(r) == [(0, 5), (25, 27)]


def test_the_epilogue_run_follows_the_matrix_tiles_by_hand() -> None:
    """An op's runs are a chain: the vector-unit rescale (3 cycles) starts when the array's
    last tile ends (2 x 4 = 8), not when the vector unit is free (0)."""
    ops = [_op(0, [TileRun(2, 0, 4, "array"), TileRun(1, 0, 3, "vector")])]
    r = _same(_all(ops, MemoryTiming.of(1.0, 0, 10_000)))
    assert _spans(r) == [(0, 11)]
    assert r.timelines["vector"].intervals == ((8, 11),)


def test_a_fused_epilogue_streams_behind_the_output_blocks_by_hand() -> None:
    """Three array tiles of 10 cycles (nothing to load), each completing a block whose outputs
    drain 2 cycles after its compute; the rescale takes 6 cycles per block on the vector unit.
    Unfused (one 18-cycle vector tile after the last array tile): 30-48. Fused: block k's
    epilogue starts at max(its tile's end + 2, the vector unit's last end): 12-18, 22-28, 32-38;
    the op ends at 38. A vector op queued after it (5 cycles) follows the epilogues: 38-43
    (unfused: 48-53)."""
    mem = MemoryTiming.of(1.0, 0, 10_000)
    after = _op(1, [TileRun(1, 0, 5, "vector")])
    unfused = [_op(0, [TileRun(3, 0, 10, "array", 0, 2), TileRun(1, 0, 18, "vector")]), after]
    r = _same(_all(unfused, mem))
    assert _spans(r) == [(0, 48), (48, 53)]
    assert r.timelines["vector"].intervals == ((30, 53),)
    fused = [_op(0, [TileRun(3, 0, 10, "array", 0, 2, 6, "vector")]), after]
    r = _same(_all(fused, mem))
    assert _spans(r) == [(0, 38), (38, 43)]
    assert r.timelines["array"].intervals == ((0, 30),)
    assert r.timelines["vector"].intervals == ((12, 18), (22, 28), (32, 43))
    assert r.busy_cycles["vector"] == 23 and r.total_cycles == 43
    assert r.stall_cycles == {"array": 0, "vector": 0, "attn": 0}


def test_a_fused_epilogue_longer_than_the_tiles_by_hand() -> None:
    """The vector unit is the bottleneck: blocks complete at a = 12, 22, 32 (T = 10), the
    epilogue takes v = 15 per block, and the vector unit is busy until c = 4 with an earlier
    op: 12-27, 27-42, 42-57, so the op ends at max(c + 3v, a + 3v, a + 2T + v) = max(49, 57,
    47) = 57. Its consumer on the array (3 cycles) waits for the last epilogue: 57-60."""
    mem = MemoryTiming.of(1.0, 0, 10_000)
    ops = [
        _op(0, [TileRun(1, 0, 4, "vector")]),
        _op(1, [TileRun(3, 0, 10, "array", 0, 2, 15, "vector")]),
        _op(2, [TileRun(1, 0, 3, "array")], deps=(1,)),
    ]
    r = _same(_all(ops, mem))
    assert _spans(r) == [(0, 4), (0, 57), (57, 60)]
    assert r.timelines["vector"].intervals == ((0, 4), (12, 57))
    assert r.timelines["array"].intervals == ((0, 30), (57, 60))


@settings(max_examples=200)
@given(
    n=st.integers(1, 40),
    t=st.integers(1, 30),
    v=st.integers(1, 30),
    ready=st.integers(0, 20),
    c=st.integers(0, 300),
)
def test_fused_epilogue_closed_form(n, t, v, ready, c) -> None:  # type: ignore[no-untyped-def]
    """The closed form docs/engine.md states: n blocks completing at a + i T (a = T + ready:
    tiles of T cycles from 0), v cycles each, the vector unit free from c: the op ends at
    max(c + n v, a + n v, a + (n - 1) T + v); every engine plays it tile by tile or skips
    periods of the run."""
    mem = MemoryTiming.of(1.0, 0, 10_000)
    ops = [
        _op(0, [TileRun(1, 0, c, "vector")]),
        _op(1, [TileRun(n, 0, t, "array", 0, ready, v, "vector")]),
    ]
    r = _same(_all(ops, mem))
    a = t + ready
    assert r.spans[1].end_cycle == max(c + n * v, a + n * v, a + (n - 1) * t + v)
    assert r.busy_cycles["vector"] == c + n * v


# --- the closed form inside a run, and layer replay, against the per-tile oracle ----------


def _qrun(draw: st.DrawFn, max_count: int, units: int, nb: int) -> QRun:
    """A drawn run: some tiles write back their own outputs, some (on two or more units) have
    a fused epilogue on another unit."""
    unit = draw(st.integers(0, units - 1))
    r = QRun(
        draw(st.integers(1, max_count)),
        draw(st.sampled_from([0, 0, 5, 64, 100, 300])),
        draw(st.integers(0, 30)),
        unit,
        draw(st.integers(0, nb - 1)),
        draw(st.sampled_from([0, 0, 0, 40, 128])),  # each tile's own write-back
        draw(st.integers(0, 20)),
    )
    if units > 1 and draw(st.integers(0, 3)) == 0:
        other = (unit + draw(st.integers(1, units - 1))) % units
        r = replace(r, epi_cycles=draw(st.sampled_from([1, 7, 25, 60])), epi_unit=other)
    return r


@st.composite
def graphs(draw: st.DrawFn, max_count: int = 12) -> tuple[list[QItem], int, int]:
    """Random small graphs: ops of 1-3 runs on 1-3 units and 1-2 staging buffers, each
    depending on up to 3 earlier ops, some writing back at their end, some tiles writing back
    their own outputs (after the load of their op's next tile); queued whole in program order, or
    interleaved: runs cut into pieces, the pieces of ops whose dependencies are queued taken
    in a random order (as the planner interleaves ops it runs at once)."""
    n = draw(st.integers(1, 7))
    units = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 2))
    ops = []
    for i in range(n):
        runs = tuple(_qrun(draw, max_count, units, nb) for _ in range(draw(st.integers(1, 3))))
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        ops.append(QOp(i, runs, draw(st.sampled_from([0, 0, 50, 200])), deps))
    if not draw(st.booleans()):
        return whole_ops(ops), units, nb
    pending: dict[int, list[QItem]] = {}
    for q in ops:
        pieces: list[QItem] = []
        for k, r in enumerate(q.runs):
            cuts = (
                sorted(draw(st.sets(st.integers(1, r.count - 1), max_size=2)))
                if r.count > 1
                else []
            )
            bounds = [0, *cuts, r.count]
            pieces += [QItem(q, k, a, b - a) for a, b in itertools.pairwise(bounds)]
        if q.write_bytes:
            pieces.append(QItem(q, -1, 0, 0))
        pending[q.pos] = pieces
    done: set[int] = set()
    items: list[QItem] = []
    while pending:
        ready = sorted(p for p in pending if all(d in done for d in ops[p].deps))
        p = draw(st.sampled_from(ready))
        items.append(pending[p].pop(0))
        if not pending[p]:
            del pending[p]
            done.add(p)
    return items, units, nb


DRAMS = st.sampled_from(
    [
        (DramModelKind.AGGREGATE, 1, 64),
        (DramModelKind.PER_CHANNEL, 3, 8),
        (DramModelKind.PER_CHANNEL, 2, 32),
        (DramModelKind.PER_CHANNEL, 4, 16),
        (DramModelKind.PER_CHANNEL, 1, 64),
    ]
)  # bursts of 8-64 B: the graphs' 5, 50, 100, 200 and 300 B split unevenly over channels


def _mem(
    bw: float,
    lat: int,
    cap: int,
    double: bool,
    depth: int,
    engines: int,
    dram: tuple[DramModelKind, int, int],
    nb: int,
) -> MemoryTiming:
    private = tuple((f"u{k}", StagingBuffer(cap * 2, double, depth)) for k in range(1, nb))
    return MemoryTiming.of(bw, lat, cap, double, depth, *dram, engines, private)


def _equal(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.spans == b.spans
    assert a.end_cycle == b.end_cycle
    assert a.stats == b.stats
    assert [t.intervals() for t in a.timelines] == [t.intervals() for t in b.timelines]
    # the DRAM lane: the same intervals (the oracle's is the union of its transfers' [start,
    # end)), and its busy time is the DRAM busy total each engine counts
    assert a.dram.intervals() == b.dram.intervals()
    for r in (a, b):
        assert sum(e - s for s, e in r.dram.intervals()) == r.stats.dram
    # each DRAM channel's lane, interval for interval (the oracle's from one simpy resource per
    # channel, the engines' from the model's state before and after each transfer)
    assert _channel_lanes(a) == _channel_lanes(b)
    for r in (a, b):
        _check_channel_union(r)


def _channel_lanes(r) -> list[list[tuple[int, int]]]:  # type: ignore[no-untyped-def]
    """Each DRAM channel's intervals (none for a model of one channel: its lane is the
    DRAM's)."""
    return [t.intervals() for t in r.channels]


def _check_channel_union(r) -> None:  # type: ignore[no-untyped-def]
    """The channels' lanes together are the DRAM lane (transfers reach the model in start
    order: see tersim.hw.dram.base); each lane lies inside it."""
    if not r.channels:
        return
    every = sorted(iv for t in r.channels for iv in t.intervals())
    assert merge_sorted(every) == r.dram.intervals()
    busy = [sum(e - s for s, e in t.intervals()) for t in r.channels]
    assert max(busy) <= r.stats.dram <= sum(busy)


@settings(max_examples=300)
@given(
    g=graphs(max_count=40),
    bw=st.sampled_from([1.0, 3.0, 7.5, 64.0]),
    lat=st.integers(0, 50),
    cap=st.sampled_from([1, 50, 200, 1000]),
    double=st.booleans(),
    depth=st.sampled_from([1, 2, 16]),
    engines=st.sampled_from([1, 2, 3]),
    dram=DRAMS,
)
def test_recurrence_equals_per_tile_oracle(g, bw, lat, cap, double, depth, engines, dram) -> None:  # type: ignore[no-untyped-def]
    """The closed form inside runs (period skipping) and the whole recurrence, against one
    simpy event per tile: spans, per-unit busy and stall, DRAM busy, every busy interval."""
    items, units, nb = g
    n = len({it.op.pos for it in items})
    mem = _mem(bw, lat, cap, double, depth, engines, dram, nb)
    _equal(run_fast(items, n, units, mem, None), run_oracle(items, n, units, mem))


@settings(max_examples=100)
@given(
    g=graphs(),
    bw=st.sampled_from([1.0, 7.5, 64.0]),
    lat=st.integers(0, 50),
    cap=st.sampled_from([50, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2]),
    dram=DRAMS,
)
def test_simpy_run_engine_equals_per_tile_oracle(g, bw, lat, cap, double, engines, dram) -> None:  # type: ignore[no-untyped-def]
    items, units, nb = g
    n = len({it.op.pos for it in items})
    mem = _mem(bw, lat, cap, double, 16, engines, dram, nb)
    _equal(run_simpy(items, n, units, mem, None), run_oracle(items, n, units, mem))


def _layers(items: list[QItem], n: int, reps: int) -> list[QItem]:
    """The graph repeated ``reps`` times, each copy's first op waiting for the previous copy's
    last op."""
    out = []
    for r in range(reps):
        shifted: dict[int, QOp] = {}
        for it in items:
            q = it.op
            if q.pos not in shifted:
                chain = (r * n - 1,) if r and q.pos == 0 else ()
                deps = tuple(d + r * n for d in q.deps) + chain
                shifted[q.pos] = QOp(q.pos + r * n, q.runs, q.write_bytes, deps)
            out.append(QItem(shifted[q.pos], it.run, it.first, it.count))
    return out


@settings(max_examples=150)
@given(
    g=graphs(),
    reps=st.integers(2, 4),
    bw=st.sampled_from([1.0, 7.5, 64.0]),
    lat=st.integers(0, 50),
    cap=st.sampled_from([50, 200, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2]),
    dram=DRAMS,
)
def test_layer_replay_equals_playing_every_op(g, reps, bw, lat, cap, double, engines, dram) -> None:  # type: ignore[no-untyped-def]
    """The graph repeated as layers (each layer's first op waits for the previous layer's
    last): replaying memoized layers gives what playing every op gives, and playing them as
    one segment (repeated runs looked up by their relative entry state) what one simpy event
    per tile gives."""
    items, units, nb = g
    n = len({it.op.pos for it in items})
    layered = _layers(items, n, reps)
    keys = [r for r in range(reps) for _ in items]
    mem = _mem(bw, lat, cap, double, 16, engines, dram, nb)
    replayed = run_fast(layered, n * reps, units, mem, None, segment_starts(keys))
    whole = run_fast(layered, n * reps, units, mem, None)  # one segment: runs looked up
    _equal(replayed, whole)
    _equal(whole, run_oracle(layered, n * reps, units, mem))


# --- properties ------------------------------------------------------------------------------


def _ops(items: list[QItem]) -> list[QOp]:
    seen: dict[int, QOp] = {}
    for it in items:
        seen.setdefault(it.op.pos, it.op)
    return sorted(seen.values(), key=lambda q: q.pos)


def _critical_path(ops: list[QOp]) -> int:
    """Longest chain of computes through the dependencies (an op's runs one after another)."""
    finish: dict[int, int] = {}
    for q in ops:
        start = max((finish[d] for d in q.deps), default=0)
        finish[q.pos] = start + sum(r.count * r.compute_cycles for r in q.runs)
    return max(finish.values(), default=0)


def _serialized(ops: list[QOp], bw: float, lat: int) -> int:
    """Every transfer and compute one after another (loads, latency, computes, writes)."""
    total = 0
    for q in ops:
        for r in q.runs:
            move = -(-r.load_bytes // 1) and (int(-(-r.load_bytes // bw)) + lat)
            total += r.count * (move + r.compute_cycles)
            if r.epi_cycles:  # a fused epilogue waits write_ready after its tile's compute
                total += r.count * (r.write_ready + r.epi_cycles)
            if r.write_bytes:  # a tile's own write-back waits write_ready after its compute
                total += r.count * (int(-(-r.write_bytes // bw)) + r.write_ready)
        total += int(-(-q.write_bytes // bw))
    return total


def _tile_writes(q: QOp) -> int:
    """Bytes its tiles write back themselves: every tile's but its last's (no later load of
    the op queues that one)."""
    return sum(r.count * r.write_bytes for r in q.runs) - q.runs[-1].write_bytes


@settings(max_examples=200)
@given(
    g=graphs(max_count=20),
    bw=st.sampled_from([1.0, 3.0, 64.0]),
    lat=st.integers(0, 30),
    cap=st.sampled_from([50, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2, 3]),
)
def test_total_lies_between_the_bounds(g, bw, lat, cap, double, engines) -> None:  # type: ignore[no-untyped-def]
    """max(critical path, busiest unit, DRAM transfers one at a time on the aggregate pipe)
    <= total <= every transfer and compute serialized."""
    items, units, nb = g
    ops = _ops(items)
    mem = _mem(bw, lat, cap, double, 16, engines, (DramModelKind.AGGREGATE, 1, 64), nb)
    r = run_fast(items, len(ops), units, mem, None)
    lower = max(_critical_path(ops), max(r.stats.busy), r.stats.dram)
    moved = sum(r_.count * r_.load_bytes for q in ops for r_ in q.runs) + sum(
        q.write_bytes + _tile_writes(q) for q in ops
    )
    assert r.stats.dram >= moved / bw
    assert lower <= r.end_cycle <= _serialized(ops, bw, lat)
    if engines == 1:  # one DMA engine: transfers never overlap, DRAM busy is their sum
        each = [r_.load_bytes for q in ops for r_ in q.runs for _ in range(r_.count)]
        each += [q.write_bytes for q in ops]
        each += [r_.write_bytes for q in ops for r_ in q.runs for _ in range(r_.count)]
        each += [-q.runs[-1].write_bytes for q in ops]  # the last tile's is not queued
        assert r.stats.dram == sum(math.copysign(math.ceil(abs(x) / bw), x) for x in each)


@settings(max_examples=200)
@given(
    g=graphs(max_count=20),
    bw=st.sampled_from([1.0, 3.0, 16.0]),
    factor=st.sampled_from([2, 4]),
    lat=st.integers(0, 30),
    cap=st.sampled_from([50, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2]),
    dram=DRAMS,
)
def test_more_bandwidth_or_engines_never_slower(
    g, bw, factor, lat, cap, double, engines, dram
) -> None:  # type: ignore[no-untyped-def]
    """For a fixed queue (the plan does not depend on the DRAM), every time is a max-plus
    expression, monotone in each transfer's duration and each engine's free cycle: more
    bandwidth, or one more DMA engine, never delays any op."""
    ops, units, nb = g
    n = len(_ops(ops))
    base = run_fast(ops, n, units, _mem(bw, lat, cap, double, 16, engines, dram, nb), None)
    wider = run_fast(
        ops, n, units, _mem(bw * factor, lat, cap, double, 16, engines, dram, nb), None
    )
    more = run_fast(ops, n, units, _mem(bw, lat, cap, double, 16, engines + 1, dram, nb), None)
    for other in (wider, more):
        assert other.end_cycle <= base.end_cycle
        assert all(b <= a for (_, a), (_, b) in zip(base.spans, other.spans, strict=True))


@settings(max_examples=200)
@given(
    g=graphs(max_count=20),
    per_channel=st.sampled_from([1.0, 4.0, 16.0]),
    channels=st.sampled_from([1, 2, 4]),
    lat=st.integers(0, 30),
    burst=st.sampled_from([8, 32]),
)
def test_more_channels_never_slower(g, per_channel, channels, lat, burst) -> None:  # type: ignore[no-untyped-def]
    """Per-channel DRAM, each channel with the same bandwidth: doubling the channels never
    delays the run."""
    ops, units, nb = g

    def total(ch: int) -> int:
        mem = _mem(
            per_channel * ch, lat, 1000, True, 16, 1, (DramModelKind.PER_CHANNEL, ch, burst), nb
        )
        return run_fast(ops, len(ops), units, mem, None).end_cycle

    assert total(2 * channels) <= total(channels)


def _unfused(q: QOp) -> QOp:
    """``q`` with its fused epilogues taken out of its tiles: their cycles as one tile on the
    epilogue's unit after the op's last tile (loading nothing), as without the option."""
    extra = [(r.epi_unit, r.count * r.epi_cycles) for r in q.runs if r.epi_cycles]
    if not extra:
        return q
    runs = [replace(r, epi_cycles=0, epi_unit=-1) for r in q.runs]
    unit = extra[0][0]
    runs.append(QRun(1, 0, sum(c for _, c in extra), unit, 0))
    return QOp(q.pos, tuple(runs), q.write_bytes, q.deps)


@settings(max_examples=150)
@given(
    g=graphs(max_count=20),
    bw=st.sampled_from([1.0, 7.5, 64.0]),
    lat=st.integers(0, 30),
    cap=st.sampled_from([50, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2]),
)
def test_fused_epilogue_never_slower_on_whole_op_queues(g, bw, lat, cap, double, engines) -> None:  # type: ignore[no-untyped-def]
    """Ops queued whole (no other op's tiles between an op's first and last), each op's fused
    epilogues on one unit and ready at their tile's end (as the mapping's: a block's drain
    ends by the op's last compute end, which carries the drain): fusing never delays any op,
    since an op's last epilogue ends by max(its unit's last end, its last tile's end) plus all
    its epilogue cycles (the unfused tile's end) and every other time is monotone in it."""
    items, units, nb = g
    ops = []
    for q in _ops(items):
        epi = [r.epi_unit for r in q.runs if r.epi_cycles]
        runs = tuple(
            replace(r, write_ready=0, epi_unit=epi[0])
            if r.epi_cycles and epi[0] != r.unit
            else replace(r, epi_cycles=0, epi_unit=-1)
            for r in q.runs
        )
        ops.append(QOp(q.pos, runs, q.write_bytes, q.deps))
    mem = _mem(bw, lat, cap, double, 16, engines, (DramModelKind.AGGREGATE, 1, 64), nb)
    fused = run_fast(whole_ops(ops), len(ops), units, mem, None)
    plain = run_fast(whole_ops([_unfused(q) for q in ops]), len(ops), units, mem, None)
    assert fused.end_cycle <= plain.end_cycle
    assert all(f <= p for (_, f), (_, p) in zip(fused.spans, plain.spans, strict=True))


def test_a_fused_epilogue_can_slow_an_interleaved_queue_by_hand() -> None:
    """The counterexample when other vector work is queued between a fused op's tiles (as the
    planner interleaves ops that run at once): A (array, 2 tiles of 10, epilogues of 10 on the
    vector unit), then B (vector, 5), queued between A's tiles; C (array, 3) reads B, D (array,
    100) reads C. Unfused: B 0-5, A's rescale 20-40, C 20-23, D 23-123: 123 cycles. Fused: A's
    first epilogue 10-20 comes before B in the vector unit's order, so B runs 20-25, C 25-28 and
    D 28-128: 128 cycles, though A itself ends at 35 instead of 40. What still holds: the
    bounds of test_total_lies_between_the_bounds."""
    mem = MemoryTiming.of(1.0, 0, 10_000)

    def play(fused: bool) -> SimResult:
        a = (
            [TileRun(2, 0, 10, "array", 0, 0, 10, "vector")]
            if fused
            else [TileRun(2, 0, 10, "array"), TileRun(1, 0, 20, "vector")]
        )
        ops = [
            _op(0, a),
            _op(1, [TileRun(1, 0, 5, "vector")]),
            _op(2, [TileRun(1, 0, 3, "array")], deps=(1,)),
            _op(3, [TileRun(1, 0, 100, "array")], deps=(2,)),
        ]
        queue = [(0, 0, 0, 1), (1, 0, 0, 1), (0, 0, 1, 1), *([(0, 1, 0, 1)] if not fused else [])]
        queue += [(2, 0, 0, 1), (3, 0, 0, 1)]
        sched = Schedule(tuple(ops), Placement.none(), items=tuple(QueueItem(*x) for x in queue))
        return _same([simulate(sched, mem, 1e9, f, units=UNITS3) for f in Fidelity])

    plain, fused = play(False), play(True)
    assert _spans(plain) == [(0, 40), (0, 5), (20, 23), (23, 123)]
    assert _spans(fused) == [(0, 35), (20, 25), (25, 28), (28, 128)]
    assert fused.total_cycles == 128 > plain.total_cycles == 123


# --- reuse: runs looked up by their relative entry state -------------------------------------


def test_a_repeated_run_is_looked_up_and_matches_the_oracle() -> None:
    """Four layers of a 40-tile load-bound run (300 B per tile at 7.5 B/cycle: 40 cycles of DRAM
    per 10-cycle compute) then a 1-tile op. The first layer meets an idle machine, every later
    one the same relative state (the previous layer's tail): the run is simulated twice and
    looked up twice (the memo holds two entries), and the result equals one simpy event per
    tile."""
    from tersim.sim.core import Machine

    ops = [QOp(0, (QRun(40, 300, 10, 0, 0),), 0, ()), QOp(1, (QRun(1, 0, 5, 1, 0),), 0, (0,))]
    items = _layers(whole_ops(ops), 2, 4)
    mem = MemoryTiming.of(7.5, 20, 1000)
    m = Machine.new(mem, 2, record=True)
    for it in items:
        m.item(it.op, it.run, it.first, it.count)
    assert len(m.run_memo) == 2
    _equal(run_fast(items, 8, 2, mem, None), run_oracle(items, 8, 2, mem))


def test_a_run_met_with_a_write_pending_is_looked_up_and_matches_the_oracle() -> None:
    """Each layer: a vector op computing 300 cycles then writing 500 B back, and a 40-tile run
    on the array beside it (independent), two DMA engines: the run starts while the write
    waits for its op (pending). Layers after the first meet the same relative state, pending
    write included: the run is simulated twice and looked up twice, and the write's end, the
    spans and the busy intervals equal one simpy event per tile."""
    from tersim.sim.core import Machine

    ops = [QOp(0, (QRun(1, 0, 300, 1, 0),), 500, ()), QOp(1, (QRun(40, 300, 10, 0, 0),), 0, ())]
    items = _layers(whole_ops(ops), 2, 4)
    mem = MemoryTiming.of(7.5, 20, 1000, dma_engines=2)
    m = Machine.new(mem, 2, record=True)
    pending_at_run = []
    for it in items:
        if it.run >= 0 and it.op.runs[it.run].count == 40:
            pending_at_run.append(bool(m.pending))
        m.item(it.op, it.run, it.first, it.count)
    assert pending_at_run == [True] * 4
    assert len(m.run_memo) == 2
    _equal(run_fast(items, 8, 2, mem, None), run_oracle(items, 8, 2, mem))


@st.composite
def _disjoint_groups(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """Strided groups ``(start, end, stride, count)`` of disjoint intervals, one after the
    other in time (as a lane records them)."""
    out = []
    t = draw(st.integers(0, 50))
    for _ in range(draw(st.integers(0, 12))):
        length = draw(st.integers(1, 40))
        count = draw(st.integers(1, 6))
        stride = length + draw(st.integers(0, 30)) if count > 1 else 0
        out.append((t, t + length, stride, count))
        t += (count - 1) * stride + length + draw(st.integers(0, 60))
    return out


@settings(max_examples=200)
@given(
    g=_disjoint_groups(),
    cut=st.integers(0, 12),
    shift=st.integers(0, 500),
    total=st.integers(1, 5000),
)
def test_a_placed_piece_gives_the_timeline_of_its_groups(g, cut, shift, total) -> None:  # type: ignore[no-untyped-def]
    """A lane kept as shared pieces (a replayed segment's DRAM intervals) has the busy cycles,
    per-bucket histogram and intervals of the same groups kept one by one."""
    from tersim.sim import result
    from tersim.sim.result import Piece, UnitTimeline

    whole = [(s + shift, e + shift, k, c) for s, e, k, c in g]
    total = max(total, max((e + (c - 1) * k for _, e, k, c in whole), default=0))
    head, tail = g[:cut], g[cut:]
    pieces = [(Piece.of(head, 7), shift - 7), (Piece.of(tail), shift)]
    plain = UnitTimeline.of(whole, total)
    edges = result.PIECE_EDGES
    try:  # both ways of adding a piece across bucket edges: at each edge, and group by group
        for result.PIECE_EDGES in (edges, 0, 1 << 40):
            placed = UnitTimeline.of((), total, [p for p in pieces if p[0].count])
            assert placed == plain
    finally:
        result.PIECE_EDGES = edges
    assert placed.busy_cycles == sum((e - s) * c for s, e, _, c in g)
    lo, hi = total // 3, total // 2
    assert _clipped_sum(placed.groups_within(lo, hi), lo, hi) == _clipped_sum(whole, lo, hi)


def _clipped_sum(groups: list[tuple[int, int, int, int]], lo: int, hi: int) -> int:
    return sum(
        max(0, min(hi, e + i * k) - max(lo, s + i * k)) for s, e, k, c in groups for i in range(c)
    )


# --- DRAM channel lanes ------------------------------------------------------------------------


def test_channel_lanes_by_hand() -> None:
    """Two channels of 32 B/cycle (64 B/cycle in all), 64 B bursts, three DMA engines; loads of
    64 B at cycle 0, 192 B at 1 and 128 B at 10 (their write gates). One burst on a channel
    takes ceil(64 x 2 / 64) = 2 cycles.

    * 64 B: 1 burst, to channel 0 (the round robin starts there): ch0 [0, 2); next: ch1.
    * 192 B: 3 bursts from ch1: ch1, ch0, ch1: ch1 2 bursts, 4 cycles from max(1, 0):
      [1, 5); ch0 1 burst from max(1, 2): [2, 4). Ends at 5; next: ch0.
    * 128 B: 2 bursts, one each: [10, 12) on both.

    DRAM lane: [0, 2), [2, 5) (what no earlier transfer covered), [10, 12). Channel busy: 6 and
    6 cycles, 12 in all = 384 B / 32 B per cycle (whole bursts: the bound is met)."""
    from tersim.sim.core import Machine, channel_timelines

    mem = MemoryTiming.of(64.0, 0, 10_000, True, 16, DramModelKind.PER_CHANNEL, 2, 64, 3)
    m = Machine.new(mem, 1, record=True)
    assert m.load(64, 0, 0) == (0, 2)
    assert m.load(192, 0, 1) == (1, 5)
    assert m.load(128, 0, 10) == (10, 12)
    assert m.dram_timeline is not None and m.dram_channels is not None
    lanes = channel_timelines(m.dram_channels)
    assert [t.intervals() for t in lanes] == [[(0, 4), (10, 12)], [(1, 5), (10, 12)]]
    assert m.dram_channels[-1].intervals() == [(10, 12)]  # both alike: kept once
    assert m.dram_timeline.intervals() == [(0, 5), (10, 12)]
    assert m.stats.dram == 7
    # the model's own account of the parts: (channel, cycles), from the state before
    from tersim.hw.dram import DramState

    model, p = mem.dram, mem.params
    assert model.occupancy(p, DramState((0, 0), 0), 64) == ((0, 2),)
    assert model.occupancy(p, DramState((2, 0), 1), 192) == ((1, 4), (0, 2))
    assert model.occupancy(p, DramState((4, 5), 0), 128) == ((0, 2), (1, 2))


def test_an_aggregate_design_records_no_channel_lanes() -> None:
    """The aggregate pipe is one channel: its lane would be the DRAM lane, so no engine keeps
    one (the record shows ``dram`` only); neither does a per-channel model of one channel."""
    mem = MemoryTiming.of(8.0, 3, 1000)
    ops = [QOp(0, (QRun(5, 100, 4, 0, 0),), 64, ()), QOp(1, (QRun(3, 40, 9, 0, 0),), 0, (0,))]
    items = whole_ops(ops)
    fast, oracle = run_fast(items, 2, 1, mem, None), run_oracle(items, 2, 1, mem)
    assert fast.channels == [] and oracle.channels == []
    assert oracle.dram.intervals() == fast.dram.intervals()
    one = MemoryTiming.of(8.0, 3, 1000, True, 16, DramModelKind.PER_CHANNEL, 1, 64)
    assert run_fast(items, 2, 1, one, None).channels == run_oracle(items, 2, 1, one).channels == []


def _transfer_sizes(items: list[QItem]) -> list[int]:
    """Every DRAM transfer's bytes in queue order, from the queue's description: each tile's
    load, then (docs/engine.md, tile writes) the write of the op's previous tile, whose
    completed outputs it holds; an op's write-back item its bytes."""
    out: list[int] = []
    for it in items:
        if it.run < 0:
            out.append(it.op.write_bytes)
            continue
        runs = it.op.runs
        r = runs[it.run]
        for j in range(it.first, it.first + it.count):
            out.append(r.load_bytes)
            prev = r if j > 0 else (runs[it.run - 1] if it.run > 0 else None)
            if prev is not None:
                out.append(prev.write_bytes)
    return out


def _channel_parts_one_engine(items: list[QItem], channels: int, burst: int, bw: float):  # type: ignore[no-untyped-def]
    """Each channel's busy cycles with one DMA engine (transfers reach the DRAM in queue
    order), written from the model's description: bursts round robin from where the last
    transfer stopped, channel c busy ceil(n_c x burst x channels / bw) per transfer."""
    import math

    busy = [0] * channels
    nxt = 0
    for x in _transfer_sizes(items):
        if x <= 0:
            continue
        b = -(-x // burst)
        for c in range(channels):
            n_c = sum(1 for i in range(b) if (nxt + i) % channels == c)
            if n_c:
                busy[c] += math.ceil(n_c * burst * channels / bw)
        nxt = (nxt + b) % channels
    return busy


@settings(max_examples=150)
@given(
    g=graphs(max_count=20),
    bw=st.sampled_from([1.0, 3.0, 7.5, 64.0]),
    lat=st.integers(0, 30),
    cap=st.sampled_from([50, 1000]),
    double=st.booleans(),
    engines=st.sampled_from([1, 2, 3]),
    channels=st.integers(1, 4),
    burst=st.sampled_from([8, 16, 48, 64]),
)
def test_channel_busy_bounds(g, bw, lat, cap, double, engines, channels, burst) -> None:  # type: ignore[no-untyped-def]
    """What holds exactly for the per-channel model: each channel busy at most the run; the
    channels' busy cycles sum to at least every byte moved at one channel's bandwidth (bursts
    only round up); with one DMA engine, each channel's busy cycles are the sum of its parts
    computed from the model's description transfer by transfer."""
    items, units, nb = g
    ops = _ops(items)
    mem = _mem(bw, lat, cap, double, 16, engines, (DramModelKind.PER_CHANNEL, channels, burst), nb)
    r = run_fast(items, len(ops), units, mem, None)
    if channels == 1:
        assert r.channels == []
        return
    busy = [sum(e - s for s, e in t.intervals()) for t in r.channels]
    assert all(b <= r.end_cycle for b in busy)
    moved = sum(_transfer_sizes(items))
    assert sum(busy) >= moved * channels / bw
    if engines == 1:
        assert busy == _channel_parts_one_engine(items, channels, burst, bw)
    _check_channel_union(r)


def test_channel_lanes_in_the_result() -> None:
    """simulate() names the lanes dram.ch0, dram.ch1 (after dram, in channel order), each
    with its exact busy cycles, for a model with channels; none for the aggregate pipe."""
    ops = [
        _op(0, [TileRun(6, 192, 5, "array")], write=100),
        _op(1, [TileRun(4, 64, 3, "vector")], (0,)),
    ]
    per = MemoryTiming.of(16.0, 2, 1000, True, 16, DramModelKind.PER_CHANNEL, 2, 64, 2)
    got = _all(ops, per, ("array", "vector"))
    first = got[0]
    assert [n for n in first.timeline_json() if n.startswith("dram")] == [
        "dram", "dram.ch0", "dram.ch1"
    ]  # fmt: skip
    lanes = first.dram_channels()
    assert len(lanes) == 2 and all(t.intervals for t in lanes)
    for r in got:
        assert [t.intervals for t in r.dram_channels()] == [t.intervals for t in lanes]
        assert [t.busy_cycles for t in r.dram_channels()] == [t.busy_cycles for t in lanes]
    agg = _all(ops, MemoryTiming.of(16.0, 2, 1000), ("array", "vector"))[0]
    assert agg.dram_channels() == [] and "dram.ch0" not in agg.timelines
