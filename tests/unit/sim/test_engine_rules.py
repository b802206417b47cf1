"""The engine's timing rules on hand-made schedules: hand calculations, and fast == tile."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.counts import ActionCounts
from tersim.mapping.schedule import OpSchedule, Schedule, TileRun, Unit
from tersim.sim.engine import Fidelity, simulate
from tersim.sim.timing import MemoryTiming


def _op(i: int, runs: list[TileRun], write: int = 0, layer: int = 0, step: int = 0) -> OpSchedule:
    return OpSchedule(
        i, f"op{i}", "linear", layer, "prefill", step, tuple(runs), write, ActionCounts()
    )


def _both(ops: list[OpSchedule], mem: MemoryTiming):  # type: ignore[no-untyped-def]
    sched = Schedule(tuple(ops))
    return simulate(sched, mem, 1e9, Fidelity.TILE), simulate(sched, mem, 1e9, Fidelity.FAST)


def test_double_buffered_pipeline_by_hand() -> None:
    """4 tiles, load 10 cycles (100 B at 10 B/cycle, no latency), compute 4: memory-bound.
    Loads back to back end at 10, 20, 30, 40; each compute follows its load: total 44.
    Array stalls: 10 before the first tile, then 6 before each later one: 28."""
    mem = MemoryTiming(10.0, 0, 2)
    tile, fast = _both([_op(0, [TileRun(4, 100, 4, Unit.ARRAY)])], mem)
    assert tile.total_cycles == fast.total_cycles == 44
    assert tile.stall_cycles["array"] == fast.stall_cycles["array"] == 10 + 3 * 6
    assert tile.busy_cycles == fast.busy_cycles == {"array": 16, "vector": 0, "dram": 40}


def test_compute_bound_and_single_buffer_by_hand() -> None:
    """Load 2, compute 10, latency 3, 3 tiles. Two slots: first data at 2+3=5, computes
    back to back: 5 + 3*10 = 35. One slot: each load waits for the previous compute:
    tile 0 ready 5, ends 15; tile 1 loads 15-17, ready 20, ends 30; tile 2 ends 45."""
    two = MemoryTiming(1.0, 3, 2)
    tile, fast = _both([_op(0, [TileRun(3, 2, 10, Unit.ARRAY)])], two)
    assert tile.total_cycles == fast.total_cycles == 35
    one = MemoryTiming(1.0, 3, 1)
    tile, fast = _both([_op(0, [TileRun(3, 2, 10, Unit.ARRAY)])], one)
    assert tile.total_cycles == fast.total_cycles == 45


def test_transfer_rounding_and_write_back_by_hand() -> None:
    """65 bytes at 32 B/cycle take ceil(65 / 32) = 3 cycles. The op's 100-byte output (4
    cycles) is written after its compute ends (3 + 7 = 10): total 14."""
    mem = MemoryTiming(32.0, 0, 2)
    tile, fast = _both([_op(0, [TileRun(1, 65, 7, Unit.VECTOR)], write=100)], mem)
    assert tile.total_cycles == fast.total_cycles == 14
    assert tile.busy_cycles["dram"] == fast.busy_cycles["dram"] == 7


def test_vector_and_array_ops_follow_each_other() -> None:
    mem = MemoryTiming(1e9, 0, 2)
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
        st.integers(0, 300),
        st.integers(0, 50),
        st.sampled_from([Unit.ARRAY, Unit.VECTOR]),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150)
@given(
    ops=st.lists(st.tuples(runs, st.integers(0, 200), st.integers(0, 2)), min_size=1, max_size=8),
    bw=st.sampled_from([1.0, 3.0, 7.5, 64.0]),
    latency=st.integers(0, 20),
    slots=st.sampled_from([1, 2]),
)
def test_fast_equals_tile(ops, bw, latency, slots) -> None:  # type: ignore[no-untyped-def]
    mem = MemoryTiming(bw, latency, slots)
    sched = [
        _op(i, [TileRun(c, lb, cc, u) for c, lb, cc, u in rs], write, layer=layer)
        for i, (rs, write, layer) in enumerate(ops)
    ]
    # repeat the whole list as further "layers" so that layer reuse is exercised
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
