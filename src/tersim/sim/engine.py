"""Simulate a schedule on the hardware: ``tile`` (simpy, one event per tile) or ``fast``.

This is the only module that imports simpy. Both fidelities implement the rules of
:mod:`tersim.sim.timing`; tests prove they agree cycle for cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby

import simpy

from tersim.hw.counts import sum_counts
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.sim.fast import FastTimer
from tersim.sim.result import OpSpan, SimResult
from tersim.sim.timing import MemoryTiming
from tersim.workload.ops import Phase

Progress = Callable[[int, int], None]  # (ops done, ops total)


class Fidelity(StrEnum):
    TILE = "tile"
    FAST = "fast"


def simulate(
    schedule: Schedule,
    mem: MemoryTiming,
    clock_hz: float,
    fidelity: Fidelity = Fidelity.FAST,
    progress: Progress | None = None,
) -> SimResult:
    """Run ``schedule``; return cycles, busy/stall per unit, op spans and action counts."""
    ops = list(schedule.ops)
    empty = [op.name for op in ops if op.tiles == 0]
    if empty:
        raise ValueError(f"schedule has ops without tiles: {empty[:3]}")  # mapping bug
    if fidelity == Fidelity.FAST:
        run = _run_fast(ops, mem, progress)
    else:
        run = _run_tiles(ops, mem, progress)
    total = max(max((t[1] for t in run.spans), default=0), run.end_cycle)
    spans = tuple(
        OpSpan(op.op_index, op.name, op.kind, op.runs[0].unit, op.layer, op.phase, op.step, a, b)
        for op, (a, b) in zip(ops, run.spans, strict=True)
    )
    counts = sum_counts([op.counts for op in ops], cycles=total)
    return SimResult(total, clock_hz, run.busy, run.stall, spans, counts, fidelity.value)


@dataclass(frozen=True)
class _EngineRun:
    """What an engine measured: per-op (start, end), busy and stall cycles by unit, and the
    cycle its last activity (a compute or a DRAM transfer) ended."""

    spans: list[tuple[int, int]]
    busy: dict[str, int]
    stall: dict[str, int]
    end_cycle: int


def _segment_key(op: OpSchedule) -> tuple[Phase, int, int]:
    return (op.phase, op.step, op.layer)


def _run_fast(ops: list[OpSchedule], mem: MemoryTiming, progress: Progress | None) -> _EngineRun:
    timer = FastTimer(mem)
    done = 0
    for _, group in groupby(ops, key=_segment_key):
        seg = list(group)
        timer.advance_segment(seg)
        done += len(seg)
        if progress is not None:
            progress(done, len(ops))
    return _EngineRun(
        timer.spans, dict(timer.stats.busy), dict(timer.stats.stall), timer.total_cycles
    )


def _tiles(ops: list[OpSchedule]) -> Iterator[tuple[int, int, int, str]]:
    """(op position, load bytes, compute cycles, unit) of every tile, in program order."""
    for i, op in enumerate(ops):
        for run in op.runs:
            for _ in range(run.count):
                yield i, run.load_bytes, run.compute_cycles, run.unit.value


def _run_tiles(
    ops: list[OpSchedule], mem: MemoryTiming, progress: Progress | None = None
) -> _EngineRun:
    env = simpy.Environment()
    dram = {"state": mem.initial_dram()}  # the DRAM model's state (one DMA engine moves data)
    # free bytes of the staging buffer (a tile holds its bytes from load start to compute end)
    space = simpy.Container(env, capacity=mem.buffer_bytes, init=mem.buffer_bytes)
    tokens = simpy.Container(env, capacity=mem.max_outstanding, init=mem.max_outstanding)
    tiles = list(_tiles(ops))
    ready = [env.event() for _ in tiles]
    done = [env.event() for _ in tiles]
    op_done = [env.event() for _ in ops]
    last_tile = {i: j for j, (i, *_rest) in enumerate(tiles)}
    busy = {"array": 0, "vector": 0, "dram": 0}
    stall = {"array": 0, "vector": 0}
    first_start: dict[int, int] = {}
    end_of: dict[int, int] = {}
    state = {"last_end": 0}

    def deliver(event: simpy.Event, delay: int) -> Generator[simpy.Event, object, None]:
        yield env.timeout(delay)
        event.succeed()

    def loader() -> Generator[simpy.Event, object, None]:
        j = 0
        for i, op in enumerate(ops):
            n = sum(r.count for r in op.runs)
            for _ in range(n):
                _, load_bytes, _, _ = tiles[j]
                need = mem.held_bytes(load_bytes)
                if not mem.double_buffered:
                    if j > 0:
                        yield done[j - 1]
                elif need:
                    yield tokens.get(1)  # a free DMA slot (at most max_outstanding in flight)
                    yield space.get(need)  # and room in the staging buffer
                now = int(env.now)
                dram["state"], end = mem.transfer(dram["state"], now, load_bytes)
                if end > now:
                    yield env.timeout(end - now)
                    busy["dram"] += end - now
                lat = mem.latency_for(load_bytes)
                if lat:
                    env.process(deliver(ready[j], lat))
                else:
                    ready[j].succeed()
                j += 1
            if op.write_bytes > 0:
                yield op_done[i]
                now = int(env.now)
                dram["state"], end = mem.transfer(dram["state"], now, op.write_bytes)
                yield env.timeout(end - now)
                busy["dram"] += end - now
        state["dma_end"] = int(env.now)

    def computer() -> Generator[simpy.Event, object, None]:
        for j, (i, _, compute, unit) in enumerate(tiles):
            yield ready[j]
            start = int(env.now)
            stall[unit] += start - state["last_end"]
            first_start.setdefault(i, start)
            if compute:
                yield env.timeout(compute)
            busy[unit] += compute
            state["last_end"] = int(env.now)
            held = mem.held_bytes(tiles[j][1])
            if mem.double_buffered and held:
                yield space.put(held)  # the tile's data is consumed: its space frees
                yield tokens.put(1)
            done[j].succeed()
            if last_tile[i] == j:
                end_of[i] = int(env.now)
                op_done[i].succeed()
                if progress is not None and (i % 64 == 0 or i == len(ops) - 1):
                    progress(i + 1, len(ops))

    env.process(loader())
    env.process(computer())
    env.run()
    times = [(first_start[i], end_of[i]) for i in range(len(ops))]
    return _EngineRun(times, busy, stall, max(state.get("dma_end", 0), state["last_end"]))
