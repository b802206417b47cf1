"""The per-tile oracle: the rules of :mod:`tersim.sim.timing` as a simpy model with one event
per tile load and compute (small cases only: its memory grows with the tile count).

Processes and resources, each mirroring one rule:

* a dispatcher walks the DMA queue and takes a DMA engine (a simpy ``Resource`` with
  ``dma_engines`` slots, granted in request order) for every transfer, then starts a process
  for it;
* a load process waits for its op's dependencies' write-backs (their events), for room in its
  staging buffer (granted in queue order: it first waits for the previous load of that buffer
  to have been granted, then takes a slot and the bytes from ``Container`` s that the computes
  refill), or single-buffered for the previous tile of its buffer to have computed, and for
  the previous load to have started; then it moves its bytes;
* a write process waits for its op's last tile, then moves the op's output; a tile's write
  process (the outputs it completed, dispatched right after the load of its op's next tile)
  waits for the tile's compute end plus its ``write_ready`` and for that load's start; every
  transfer dispatched after a tile's write waits for that write to end (the fence);
* every transfer reaches the DRAM model through an arbiter that runs after everything else at
  the same cycle and applies that cycle's transfers in queue order (so "start order, ties in
  queue order" holds whatever order simpy resumes the processes in);
* each DRAM channel the model keeps (when it keeps several) is a simpy ``Resource`` of one
  slot: the arbiter starts,
  for every part of a transfer (:meth:`tersim.hw.dram.base.DramModel.occupancy`), a process
  that holds its channel for the part's cycles (granted first come first served), and that
  channel's lane records the cycles it held it (built this way, not from the model's state as
  the engines do, so that the tests compare two constructions);
* one process per unit computes that unit's tiles in queue order, each once its data has
  arrived and (first tile of a run) its op's gate has opened; a tile's fused epilogue is that
  of its epilogue unit's work placed right after the tile in the queue: it waits for the tile's
  compute end plus its ``write_ready``, then holds the unit for its cycles. An op is done when
  its last piece of work (tile or epilogue) is.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import simpy

from tersim.sim.core import NEG, QItem, QOp, Stats, Timeline
from tersim.sim.result import merged_intervals
from tersim.sim.timing import MemoryTiming

LOW = 2  # priority of the DRAM arbiter: after every NORMAL (1) event of the same cycle


@dataclass
class OracleRun:
    spans: list[tuple[int, int]]  # per op position: (first tile start, last tile end)
    stats: Stats
    end_cycle: int
    timelines: list[Timeline]
    dram: Timeline  # the union of every transfer's [start, end)
    channels: list[Timeline]  # per channel the model keeps (none for one): the cycles a part
    #                           held it


@dataclass
class _Tile:
    op: int  # index into ops
    run: int  # index of the run in its op
    first: bool  # first tile of its run
    last_of_run: bool
    load_bytes: int
    compute: int
    unit: int
    buf: int
    write_bytes: int  # written back after the load of its op's next tile
    write_ready: int
    epi_cycles: int  # its fused epilogue, on unit epi_unit (0: none)
    epi_unit: int


def run_oracle(items: Sequence[QItem], n_pos: int, units: int, mem: MemoryTiming) -> OracleRun:
    """Simulate the DMA queue ``items`` tile by tile."""
    env = simpy.Environment()
    bufs = mem.buffers()
    engines = simpy.Resource(env, capacity=mem.dma_engines)
    space = [simpy.Container(env, capacity=b.capacity_bytes, init=b.capacity_bytes) for b in bufs]
    tokens = [
        simpy.Container(env, capacity=b.max_outstanding, init=b.max_outstanding) for b in bufs
    ]
    dram = {"state": mem.initial_dram()}
    requests: list[tuple[int, int, int, simpy.Event]] = []  # (queue position, start, bytes, ev)
    arbiter_at: set[int] = set()
    stats = Stats([0] * units, [0] * units)
    timelines = [Timeline() for _ in range(units)]
    last = {"transfer": 0}
    transfers: list[tuple[int, int]] = []  # every transfer's (start, end): DRAM busy is their union
    width = len(mem.initial_dram().free_cycles)
    width = width if width > 1 else 0  # one channel's lane is the DRAM lane
    channels = [simpy.Resource(env, capacity=1) for _ in range(width)]
    lanes = [Timeline() for _ in range(width)]

    ops: list[QOp] = []
    index: dict[int, int] = {}
    for it in items:
        if it.op.pos not in index:
            index[it.op.pos] = len(ops)
            ops.append(it.op)
    tiles: list[_Tile] = []
    for it in items:
        if it.run < 0:
            continue
        r = it.op.runs[it.run]
        for j in range(it.first, it.first + it.count):
            tiles.append(
                _Tile(
                    index[it.op.pos],
                    it.run,
                    j == 0,
                    j == r.count - 1,
                    r.load_bytes,
                    r.compute_cycles,
                    r.unit,
                    r.buf,
                    r.write_bytes,
                    r.write_ready,
                    r.epi_cycles,
                    r.epi_unit,
                )
            )
    ready = [env.event() for _ in tiles]
    done = [env.event() for _ in tiles]
    computed = [0] * len(tiles)  # each tile's compute end
    granted = [env.event() for _ in tiles]
    started = [env.event() for _ in tiles]
    run_done: list[list[simpy.Event]] = [[env.event() for _ in q.runs] for q in ops]
    op_done = [env.event() for _ in ops]
    wrote = [env.event() for _ in ops]
    op_end: dict[int, int] = {}
    # per op: its pieces of work (tiles and epilogues) not yet done, and their latest end
    work_left = [0] * len(ops)
    work_end = [NEG] * len(ops)
    for tile in tiles:
        work_left[tile.op] += 2 if tile.epi_cycles else 1
    spans: list[tuple[int, int]] = [(0, 0)] * n_pos
    prev_in_buf: list[int | None] = []
    seen: dict[int, int] = {}
    for t, tile in enumerate(tiles):
        prev_in_buf.append(seen.get(tile.buf))
        seen[tile.buf] = t

    def arbitrate(event: simpy.Event) -> None:
        now = int(env.now)
        arbiter_at.discard(now)
        batch = sorted((r for r in requests if r[1] == now), key=lambda r: r[0])
        requests[:] = [r for r in requests if r[1] != now]
        for _, start, nbytes, ev in batch:
            if width:
                for c, cycles in mem.dram.occupancy(mem.params, dram["state"], nbytes):
                    env.process(hold(c, cycles))  # started (so queued) in arbitration order
            idle = dram["state"].idle_at
            dram["state"], end = mem.transfer(dram["state"], start, nbytes)
            stats.dram += max(0, end - max(start, idle))
            ev.succeed(end)

    def hold(c: int, cycles: int) -> Generator[simpy.Event, object, None]:
        with channels[c].request() as req:
            yield req
            begin = int(env.now)
            yield env.timeout(cycles)
            lanes[c].add(begin, int(env.now))

    def to_dram(qpos: int, nbytes: int) -> simpy.Event:
        now = int(env.now)
        ev = env.event()
        requests.append((qpos, now, nbytes, ev))
        if now not in arbiter_at:
            arbiter_at.add(now)
            trigger = simpy.Event(env)
            trigger._ok = True  # a triggered event scheduled at low priority
            trigger._value = None
            trigger.callbacks.append(arbitrate)  # type: ignore[union-attr]
            env.schedule(trigger, priority=LOW)  # type: ignore[arg-type]
        return ev

    def deliver(event: simpy.Event, delay: int) -> Generator[simpy.Event, object, None]:
        yield env.timeout(delay)
        event.succeed()

    def transfer(qpos: int, nbytes: int, req: simpy.Event) -> Generator[simpy.Event, object, None]:
        """Move ``nbytes`` through the DRAM from now, then free the DMA engine ``req``."""
        start = int(env.now)
        end = yield to_dram(qpos, nbytes)
        assert isinstance(end, int)
        if end > start:
            transfers.append((start, end))
            yield env.timeout(end - start)
        last["transfer"] = max(last["transfer"], end)
        engines.release(req)  # type: ignore[arg-type]

    def load(
        t: int, qpos: int, req: simpy.Event, fence: simpy.Event | None
    ) -> Generator[simpy.Event, object, None]:
        tile = tiles[t]
        q = ops[tile.op]
        waits = [wrote[index[d]] for d in q.deps if ops[index[d]].write_bytes > 0]
        if waits:
            yield simpy.AllOf(env, waits)
        b = bufs[tile.buf]
        pb = prev_in_buf[t]
        if not b.double_buffered:
            if pb is not None:
                yield done[pb]
        else:
            need = b.held_bytes(tile.load_bytes)
            if pb is not None:
                yield granted[pb]
            if need:
                yield tokens[tile.buf].get(1)
                yield space[tile.buf].get(need)
        granted[t].succeed()
        if t > 0:
            yield started[t - 1]
        if fence is not None:
            yield fence  # after the tile write-backs queued before it
        started[t].succeed()
        if tile.load_bytes > 0:
            yield from transfer(qpos, tile.load_bytes, req)
            lat = mem.params.latency_cycles
            if lat:
                env.process(deliver(ready[t], lat))
            else:
                ready[t].succeed()
        else:
            engines.release(req)  # type: ignore[arg-type]
            ready[t].succeed()

    def write(
        i: int, qpos: int, req: simpy.Event, prev: int, fence: simpy.Event | None
    ) -> Generator[simpy.Event, object, None]:
        yield op_done[i]
        if prev >= 0:
            yield started[prev]  # after the loads queued before it
        if fence is not None:
            yield fence
        yield from transfer(qpos, ops[i].write_bytes, req)
        wrote[i].succeed()

    def tile_write(
        p: int, t: int, qpos: int, req: simpy.Event, fence: simpy.Event | None, out: simpy.Event
    ) -> Generator[simpy.Event, object, None]:
        """Tile ``p``'s write-back, dispatched after the load of tile ``t``."""
        yield done[p]
        wait = computed[p] + tiles[p].write_ready - int(env.now)
        if wait > 0:
            yield env.timeout(wait)
        yield started[t]
        if fence is not None:
            yield fence
        yield from transfer(qpos, tiles[p].write_bytes, req)
        out.succeed()

    def dispatcher() -> Generator[simpy.Event, object, None]:
        t = 0
        qpos = 0  # every transfer's place in the queue (ties at the DRAM go in this order)
        fence: simpy.Event | None = None  # the end of the last tile write-back dispatched
        last_of: dict[int, int] = {}  # op index -> its last tile dispatched
        for it in items:
            if it.run < 0:
                req = engines.request()
                yield req
                env.process(write(index[it.op.pos], qpos, req, t - 1, fence))
                qpos += 1
                continue
            for _ in range(it.count):
                req = engines.request()
                yield req
                env.process(load(t, qpos, req, fence))
                qpos += 1
                p = last_of.get(tiles[t].op)
                last_of[tiles[t].op] = t
                if p is not None and tiles[p].write_bytes > 0:
                    req = engines.request()
                    yield req
                    out = env.event()
                    env.process(tile_write(p, t, qpos, req, fence, out))
                    fence = out
                    qpos += 1
                t += 1

    def finish(i: int, e: int) -> None:
        """A piece of op ``i``'s work ended at ``e``."""
        work_left[i] -= 1
        work_end[i] = max(work_end[i], e)
        if not work_left[i]:
            q = ops[i]
            op_end[q.pos] = work_end[i]
            spans[q.pos] = (spans[q.pos][0], work_end[i])
            op_done[i].succeed()

    def computer(u: int) -> Generator[simpy.Event, object, None]:
        prev_end = 0
        for t, tile in enumerate(tiles):
            if tile.unit == u:
                prev_end = yield from compute(u, t, prev_end)
            if tile.epi_cycles and tile.epi_unit == u:
                prev_end = yield from epilogue(u, t, prev_end)

    def compute(u: int, t: int, prev_end: int) -> Generator[simpy.Event, object, int]:
        """Tile ``t`` on unit ``u``: its end."""
        tile = tiles[t]
        q = ops[tile.op]
        gate = NEG
        if tile.first:
            if tile.run == 0:
                deps = [op_done[index[d]] for d in q.deps]
                if deps:
                    yield simpy.AllOf(env, deps)
                gate = max((op_end[d] for d in q.deps), default=NEG)
            else:
                prev = run_done[tile.op][tile.run - 1]
                yield prev
                gate = int(prev.value)  # type: ignore[arg-type]
        yield ready[t]
        s = int(env.now)
        base = max(prev_end, gate)
        stats.stall[u] += s - base
        if tile.first and tile.run == 0:
            spans[q.pos] = (s, 0)
        if tile.compute:
            yield env.timeout(tile.compute)
        e = int(env.now)
        stats.busy[u] += tile.compute
        timelines[u].add(s, e)
        computed[t] = e
        b = bufs[tile.buf]
        need = b.held_bytes(tile.load_bytes)
        if b.double_buffered and need:
            yield space[tile.buf].put(need)
            yield tokens[tile.buf].put(1)
        done[t].succeed()
        if tile.last_of_run:
            run_done[tile.op][tile.run].succeed(e)
        finish(tile.op, e)
        return e

    def epilogue(u: int, t: int, prev_end: int) -> Generator[simpy.Event, object, int]:
        """Tile ``t``'s fused epilogue on unit ``u``: its end."""
        tile = tiles[t]
        yield done[t]
        wait = computed[t] + tile.write_ready - int(env.now)
        if wait > 0:
            yield env.timeout(wait)
        s = int(env.now)
        yield env.timeout(tile.epi_cycles)
        e = int(env.now)
        stats.busy[u] += tile.epi_cycles
        timelines[u].add(s, e)
        finish(tile.op, e)
        return e

    env.process(dispatcher())
    for u in range(units):
        env.process(computer(u))
    env.run()
    end = max(max(op_end.values(), default=0), last["transfer"])
    busy = Timeline()
    for a, b in merged_intervals([(a, b, 0, 1) for a, b in transfers]):
        busy.add(a, b)
    return OracleRun(spans, stats, end, timelines, busy, lanes)
