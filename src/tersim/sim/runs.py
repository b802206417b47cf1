"""``run`` fidelity: the reference simpy engine, with events per run of identical tiles.

Processes (simpy): a *dispatcher* walks the DMA queue layer by layer. When a layer's entries
reach the head of the queue (simulated time is advanced to the cycle its first transfer can be
dispatched), their runs' timelines follow in closed form from the machine state
(:mod:`tersim.sim.core`; a layer is looked up by its entries and relative entry state, so a
repeated one is not re-derived) and each run is handed to its *unit's* process, which holds
the unit from the run's first tile's start to its last tile's end. Memory holds the runs in flight,
never the tiles. The per-tile oracle (:mod:`tersim.sim.oracle`) checks the closed forms; the
``fast`` fidelity replays whole layers of the same recurrence and is tested equal to this.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import simpy

from tersim.sim.core import Machine, QItem
from tersim.sim.fast import EngineRun, Placed, Segments, UnitLane, placed_items, played_copies
from tersim.sim.result import SpanTable
from tersim.sim.timing import MemoryTiming

Progress = Callable[[int, int], None]


def run_simpy(
    items: Sequence[QItem],
    n_pos: int,
    units: int,
    mem: MemoryTiming,
    progress: Progress | None,
    segments: Sequence[tuple[int, int]] | None = None,
) -> EngineRun:
    """Play the DMA queue ``items`` cut at ``segments`` (as :func:`tersim.sim.fast.run_fast`)."""
    return run_simpy_placed(placed_items(items, segments), n_pos, units, mem, progress, len(items))


def run_simpy_placed(
    segments: Sequence[Placed],
    n_pos: int,
    units: int,
    mem: MemoryTiming,
    progress: Progress | None,
    total: int,
) -> EngineRun:
    """Play the queue segment by segment in simpy (``total``: what ``done`` counts up to)."""
    env = simpy.Environment()
    m = Machine.new(mem, units, record=True)
    m.run_log = []
    m.timelines = [UnitLane() for _ in range(units)]
    player = Segments(m, units)
    spans = SpanTable(n_pos)
    inbox = [simpy.Store(env) for _ in range(units)]
    finished = {"runs": 0, "ends": 0}

    def dispatcher() -> Generator[simpy.Event, object, None]:
        assert m.run_log is not None
        for seg, p0, ext, done, _ in played_copies(segments):
            head = min(m.free) if m.free else m.D  # when an engine can take its first load
            if head > env.now:
                yield env.timeout(head - env.now)
            player.play_template(seg.key, seg.t, p0, ext, spans)
            for _pos, u, start, end in m.run_log:
                inbox[u].put((start, end))
            m.run_log.clear()
            if progress is not None:
                progress(done, total)
        for box in inbox:
            box.put(None)

    def unit(u: int) -> Generator[simpy.Event, object, None]:
        while True:
            item = yield inbox[u].get()
            if item is None:
                return
            assert isinstance(item, tuple)
            start: int = item[0]
            end: int = item[1]
            if start > env.now:
                yield env.timeout(start - env.now)
            if end > env.now:
                yield env.timeout(end - env.now)
            finished["runs"] += 1
            finished["ends"] = max(finished["ends"], int(env.now))

    env.process(dispatcher())
    for u in range(units):
        env.process(unit(u))
    env.run()
    m.flush()
    return EngineRun.of(m, spans, max(m.end_cycle, finished["ends"]))
