"""``run`` fidelity: the reference simpy engine, with events per run of identical tiles.

Processes (simpy): a *dispatcher* walks the DMA queue op by op. When an op reaches the head
of the queue (simulated time is advanced to the cycle its first transfer can be dispatched),
its runs' timelines follow in closed form from the machine state (:mod:`tersim.sim.core`; each
op is looked up by its runs and relative entry state, so a repeated op is not re-derived) and
each run is handed to its *unit's* process, which holds the unit from the run's first tile's
start to its last tile's end and then signals the run done. Memory holds the runs in flight,
never the tiles. The per-tile oracle (:mod:`tersim.sim.oracle`) checks the closed forms; the
``fast`` fidelity replays whole layers of the same recurrence and is tested equal to this.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import simpy

from tersim.sim.core import Machine, QOp
from tersim.sim.fast import EngineRun, Segments
from tersim.sim.timing import MemoryTiming

Progress = Callable[[int, int], None]


def run_simpy(
    ops: Sequence[QOp], n_pos: int, units: int, mem: MemoryTiming, progress: Progress | None
) -> EngineRun:
    env = simpy.Environment()
    m = Machine.new(mem, units, record=True)
    m.run_log = []
    player = Segments(m, units)
    spans: list[tuple[int, int]] = [(0, 0)] * n_pos
    inbox = [simpy.Store(env) for _ in range(units)]
    finished = {"runs": 0, "ends": 0}

    def dispatcher() -> Generator[simpy.Event, object, None]:
        assert m.run_log is not None
        for k, q in enumerate(ops):
            head = min(m.free) if m.free else m.D  # when an engine can take its first load
            if head > env.now:
                yield env.timeout(head - env.now)
            player.play((q,), spans)
            for _pos, u, a, b in m.run_log:
                inbox[u].put((a, b))
            m.run_log.clear()
            if progress is not None and (k % 256 == 0 or k == len(ops) - 1):
                progress(k + 1, len(ops))
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
    assert m.timelines is not None
    return EngineRun(spans, m.stats, max(m.end_cycle, finished["ends"]), m.timelines)
