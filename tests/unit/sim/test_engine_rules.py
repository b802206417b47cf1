"""The engine's timing rules on hand-made schedules: hand calculations, and fast == tile."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import DramModelKind
from tersim.hw.counts import ActionCounts
from tersim.mapping.placement import Placement
from tersim.mapping.schedule import OpSchedule, Schedule, TileRun, Unit
from tersim.sim.engine import Fidelity, simulate
from tersim.sim.timing import MemoryTiming
from tersim.workload.ops import OpKind, Phase


def _op(
    i: int,
    runs: list[TileRun],
    write: int = 0,
    layer: int = 0,
    step: int = 0,
    deps: tuple[int, ...] | None = None,
) -> OpSchedule:
    """Op ``i``; by default it depends on op ``i - 1`` (a chain, as these hand calculations
    assume)."""
    chain = (i - 1,) if i else ()
    return OpSchedule(
        i,
        f"op{i}",
        OpKind.LINEAR,
        layer,
        Phase.PREFILL,
        step,
        tuple(runs),
        write,
        ActionCounts(),
        chain if deps is None else deps,
    )


def _both(ops: list[OpSchedule], mem: MemoryTiming):  # type: ignore[no-untyped-def]
    sched = Schedule(tuple(ops), Placement.none())
    return simulate(sched, mem, 1e9, Fidelity.TILE), simulate(sched, mem, 1e9, Fidelity.FAST)


def test_double_buffered_pipeline_by_hand() -> None:
    """4 tiles, load 10 cycles (100 B at 10 B/cycle, no latency), compute 4: memory-bound.
    Loads back to back end at 10, 20, 30, 40; each compute follows its load: total 44.
    Array stalls: 10 before the first tile, then 6 before each later one: 28."""
    mem = MemoryTiming.of(10.0, 0, 200)
    tile, fast = _both([_op(0, [TileRun(4, 100, 4, Unit.ARRAY)])], mem)
    assert tile.total_cycles == fast.total_cycles == 44
    assert tile.stall_cycles["array"] == fast.stall_cycles["array"] == 10 + 3 * 6
    assert tile.busy_cycles == fast.busy_cycles == {"array": 16, "vector": 0, "dram": 40}


def test_compute_bound_and_single_buffer_by_hand() -> None:
    """Load 2, compute 10, latency 3, 3 tiles. Double-buffered: first data at 2+3=5, computes
    back to back: 5 + 3*10 = 35. Single-buffered: each load waits for the previous compute:
    tile 0 ready 5, ends 15; tile 1 loads 15-17, ready 20, ends 30; tile 2 ends 45."""
    double = MemoryTiming.of(1.0, 3, 100, True)
    tile, fast = _both([_op(0, [TileRun(3, 2, 10, Unit.ARRAY)])], double)
    assert tile.total_cycles == fast.total_cycles == 35
    single = MemoryTiming.of(1.0, 3, 100, False)
    tile, fast = _both([_op(0, [TileRun(3, 2, 10, Unit.ARRAY)])], single)
    assert tile.total_cycles == fast.total_cycles == 45


def test_buffer_space_limits_prefetch_by_hand() -> None:
    """Tiles of 10 bytes, loads of 1 cycle, latency 20, compute 5; 6 tiles.
    A 20-byte buffer holds two tiles: tile j may load only when tile j-2 has computed.
    t0 loads 0-1, ready 21, computes 21-26; t1 loads 1-2, ready 22, computes 26-31;
    t2 waits for t0's end (26): loads 26-27, ready 47, computes 47-52; t3 waits for 31:
    ready 52, computes 52-57; t4 waits for 52: ready 73, 73-78; t5 waits for 57: ready 78,
    78-83. A 60-byte buffer holds all six: loads back to back, first ready 21, computes
    back to back: 21 + 6 * 5 = 51."""
    ops = [_op(0, [TileRun(6, 10, 5, Unit.ARRAY)])]
    tile, fast = _both(ops, MemoryTiming.of(10.0, 20, 20))
    assert tile.total_cycles == fast.total_cycles == 83
    tile, fast = _both(ops, MemoryTiming.of(10.0, 20, 60))
    assert tile.total_cycles == fast.total_cycles == 51


def test_transfer_rounding_and_write_back_by_hand() -> None:
    """65 bytes at 32 B/cycle take ceil(65 / 32) = 3 cycles. The op's 100-byte output (4
    cycles) is written after its compute ends (3 + 7 = 10): total 14."""
    mem = MemoryTiming.of(32.0, 0, 1000)
    tile, fast = _both([_op(0, [TileRun(1, 65, 7, Unit.VECTOR)], write=100)], mem)
    assert tile.total_cycles == fast.total_cycles == 14
    assert tile.busy_cycles["dram"] == fast.busy_cycles["dram"] == 7


def test_vector_and_array_ops_follow_each_other() -> None:
    mem = MemoryTiming.of(1e9, 0, 1000)
    ops = [
        _op(0, [TileRun(2, 0, 5, Unit.ARRAY)]),
        _op(1, [TileRun(1, 0, 7, Unit.VECTOR)]),
        _op(2, [TileRun(1, 0, 3, Unit.ARRAY)]),
    ]
    tile, fast = _both(ops, mem)
    assert [(s.start_cycle, s.end_cycle) for s in tile.spans] == [(0, 10), (10, 17), (17, 20)]
    assert [(s.start_cycle, s.end_cycle) for s in fast.spans] == [(0, 10), (10, 17), (17, 20)]


runs = st.lists(
    st.tuples(
        st.integers(1, 40),
        st.one_of(st.just(0), st.integers(0, 300)),  # tiles with nothing to load are common
        st.integers(0, 50),
        st.sampled_from([Unit.ARRAY, Unit.VECTOR]),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=400)
@given(
    ops=st.lists(st.tuples(runs, st.integers(0, 200), st.integers(0, 7)), min_size=1, max_size=8),
    bw=st.sampled_from([1.0, 3.0, 7.5, 64.0]),
    latency=st.integers(0, 120),
    buffer_bytes=st.sampled_from([1, 50, 200, 1000, 10**6]),
    double=st.booleans(),
    depth=st.sampled_from([1, 2, 3, 16]),
    dram=st.sampled_from(
        [(DramModelKind.AGGREGATE, 1, 64), (DramModelKind.PER_CHANNEL, 1, 8)]
        + [(DramModelKind.PER_CHANNEL, ch, b) for ch in (2, 3, 8) for b in (4, 32)]
    ),
)
def test_fast_equals_tile(ops, bw, latency, buffer_bytes, double, depth, dram) -> None:  # type: ignore[no-untyped-def]
    model, channels, burst = dram
    mem = MemoryTiming.of(bw, latency, buffer_bytes, double, depth, model, channels, burst)
    sched = [
        _op(i, [TileRun(c, lb, cc, u) for c, lb, cc, u in rs], write, layer=layer)
        for i, (rs, write, layer) in enumerate(ops)
    ]
    # repeat the whole list as further "layers" so that layer reuse (and its relative,
    # possibly negative, state times) is exercised
    sched += [
        _op(len(sched) + i, list(op.runs), op.write_bytes, layer=op.layer + 10)
        for i, op in enumerate(sched)
    ]
    tile, fast = _both(sched, mem)
    assert fast.total_cycles == tile.total_cycles
    assert fast.busy_cycles == tile.busy_cycles
    assert fast.stall_cycles == tile.stall_cycles
    assert [(s.start_cycle, s.end_cycle) for s in fast.spans] == [
        (s.start_cycle, s.end_cycle) for s in tile.spans
    ]


def test_prefetch_across_layer_boundaries_by_hand() -> None:
    """bw 1 B/cycle, no latency. A (layer 0): loads 10 B in 0-10, computes 10-60. B (layer 1):
    nothing to load, computes 60-61. C (layer 2): its 100 B may load as soon as the DMA engine
    is free, at 10 (during A's compute): ready 110, computes 110-115. (A layer-reuse bug once
    moved the DMA engine's free time to the end of A's compute, giving 165.)"""
    mem = MemoryTiming.of(1.0, 0, 10_000)
    ops = [
        _op(0, [TileRun(1, 10, 50, Unit.ARRAY)], layer=0),
        _op(1, [TileRun(1, 0, 1, Unit.VECTOR)], layer=1),
        _op(2, [TileRun(1, 100, 5, Unit.ARRAY)], layer=2),
    ]
    tile, fast = _both(ops, mem)
    assert tile.total_cycles == fast.total_cycles == 115


def test_outstanding_tiles_limit_prefetch_by_hand() -> None:
    """The buffer has room for all 6 tiles of the buffer test, but the DMA engine keeps at most
    2 in flight: the same timeline as a 2-tile buffer, 83 cycles."""
    ops = [_op(0, [TileRun(6, 10, 5, Unit.ARRAY)])]
    tile, fast = _both(ops, MemoryTiming.of(10.0, 20, 10_000, True, 2))
    assert tile.total_cycles == fast.total_cycles == 83


def test_per_channel_dram_by_hand() -> None:
    """8 B/cycle over 4 channels (2 B/cycle each), 8-byte bursts. A 24-byte load is 3 bursts on
    channels 0, 1, 2: each busy ceil(1 * 8 * 4 / 8) = 4 cycles (0-4; the aggregate pipe would
    take 3). The next load (16 B) starts on channel 3 and wraps to channel 0: 4-8. Each tile
    computes 1 cycle once its data is in: A at 4-5, B at 8-9."""
    mem = MemoryTiming.of(8.0, 0, 10_000, True, 16, DramModelKind.PER_CHANNEL, 4, 8)
    ops = [_op(0, [TileRun(1, 24, 1, Unit.ARRAY)], 0), _op(1, [TileRun(1, 16, 1, Unit.ARRAY)], 0)]
    tile, fast = _both(ops, mem)
    assert [(s.start_cycle, s.end_cycle) for s in fast.spans] == [(4, 5), (8, 9)]
    assert fast.total_cycles == tile.total_cycles == 9
    assert fast.busy_cycles["dram"] == 8
    agg = MemoryTiming.of(8.0, 0, 10_000)
    _, fast_agg = _both(ops, agg)
    assert [(s.start_cycle, s.end_cycle) for s in fast_agg.spans] == [(3, 4), (5, 6)]


def test_per_channel_state_carries_the_next_channel() -> None:
    """The model's state, not just the byte count, decides a transfer's time: one burst after
    a transfer that left channel 0 busy until cycle 8 still takes only its own channel's time
    when it lands on an idle channel."""
    from tersim.hw.dram import DramParams, dram_model

    model = dram_model(DramModelKind.PER_CHANNEL)
    p = DramParams(bw_bytes_per_cycle=8.0, latency_cycles=0, channels=4, burst_bytes=8)
    s0 = model.initial_state(p)
    s1, end1 = model.transfer(p, s0, 0, 8 * 5)  # 5 bursts: ch0 twice, ch1-3 once
    assert end1 == 8 and s1.free_cycles == (8, 4, 4, 4) and s1.next_channel == 1
    s2, end2 = model.transfer(p, s1, 4, 8)  # one burst on channel 1, idle since 4
    assert end2 == 8 and s2.free_cycles == (8, 8, 4, 4) and s2.next_channel == 2
    s3, end3 = model.transfer(p, s2, 4, 8 * 3)  # channels 2, 3, then 0 (busy until 8)
    assert end3 == 12 and s3.next_channel == 1


def test_tile_write_backs_overlap_later_tiles_by_hand() -> None:
    """4 tiles, each loading 100 B (10 cycles at 10 B/cycle, no latency) and computing 30
    cycles; each completes 200 B of output (a 20-cycle transfer). One DMA engine.

    Serialized (today's rule, one 800 B write-back after the last tile): loads [0,10] [10,20]
    [20,30] [30,40]; computes [10,40] [40,70] [70,100] [100,130]; the write-back starts at
    130 and moves 80 cycles: the op ends at 210.

    Overlapped (each tile's 200 B queued right after the load of the next tile, the last
    tile's with the op's write-back): L0 [0,10], C0 [10,40]; L1 [10,20], C1 [40,70]; W0 is
    dispatched at 20, waits for C0: [40,60]; L2 after it [60,70], C2 [70,100]; W1 [70,90];
    L3 [90,100], C3 [100,130]; W2 [100,120]; the op's write-back waits for C3: [130,150].
    The op ends at 150: the three 20-cycle writes hidden behind computes, 60 cycles saved.
    Same bytes, same DRAM busy time (40 + 80 cycles)."""
    mem = MemoryTiming.of(10.0, 0, 1000)
    serial = [_op(0, [TileRun(4, 100, 30, Unit.ARRAY)], write=800)]
    overlap = [
        _op(
            0,
            [TileRun(3, 100, 30, Unit.ARRAY, write_bytes=200), TileRun(1, 100, 30, Unit.ARRAY)],
            write=200,
        )
    ]
    for ops, total in ((serial, 210), (overlap, 150)):
        tile, fast = _both(ops, mem)
        run = simulate(Schedule(tuple(ops), Placement.none()), mem, 1e9, Fidelity.RUN)
        assert tile.total_cycles == fast.total_cycles == run.total_cycles == total
        assert tile.busy_cycles["dram"] == fast.busy_cycles["dram"] == 40 + 80
        assert tile.stall_cycles["array"] == fast.stall_cycles["array"] == 10
    tile, fast = _both(overlap, mem)
    lane = [(0, 20), (40, 120), (130, 150)]  # L0 L1 | W0 L2 W1 L3 W2 | the write-back
    assert tile.timelines["dram"].intervals == fast.timelines["dram"].intervals == tuple(lane)
    assert fast.timelines["array"].intervals == ((10, 130),)


def test_a_tile_write_waits_for_its_outputs_to_drain_by_hand() -> None:
    """The case above with each tile's outputs complete 5 cycles after its compute ends
    (``write_ready_cycles``: the pass's drain). W0 [45,65]; L2 [65,75], C2 [75,105]; W1 waits
    for C1 + 5 = 75: [75,95]; L3 [95,105], C3 [105,135]; W2 waits for 110: [110,130]; the
    op's write-back (its last tile carries its own drain) [135,155]: 155 cycles."""
    mem = MemoryTiming.of(10.0, 0, 1000)
    w = TileRun(3, 100, 30, Unit.ARRAY, write_bytes=200, write_ready_cycles=5)
    tile, fast = _both([_op(0, [w, TileRun(1, 100, 30, Unit.ARRAY)], write=200)], mem)
    assert tile.total_cycles == fast.total_cycles == 155
    assert fast.timelines["array"].intervals == ((10, 70), (75, 135))
