"""``fast`` fidelity: the timing rules of :mod:`tersim.sim.timing` as an exact recurrence.

Per tile ``j`` (``lf``: DMA engine free, ``c1``/``c2``: end of the previous / second previous
compute)::

    load_start = max(lf, slot_free)        slot_free = c2 (two slots) or c1 (one slot)
    lf         = load_start + transfer(l)
    ready      = lf + latency (if anything was loaded)
    start      = max(ready, c1);  end = start + c;  c2, c1 = c1, end

Two exact shortcuts keep whole models fast:

* Runs of identical tiles: the update is max-plus linear, so once the state after ``p`` more
  tiles (p = 1 or 2) equals the state before plus the same amount ``d`` in every component, the
  rest of the run repeats with period ``p``; whole periods are skipped arithmetically.
* Identical layers: a layer's outcome depends only on its ops' timing signatures and the entry
  state relative to ``c1``; repeated layers (and decode steps whose layers match) reuse it.

Tests check both against the one-event-per-tile simpy model (``tile`` fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tersim.mapping.schedule import OpSchedule, TileRun
from tersim.sim.timing import MemoryTiming

State = tuple[int, int, int]  # (lf, c1, c2)


@dataclass
class _Stats:
    busy: dict[str, int] = field(default_factory=lambda: {"array": 0, "vector": 0, "dram": 0})
    stall: dict[str, int] = field(default_factory=lambda: {"array": 0, "vector": 0})

    def add(self, other: _Stats, times: int = 1) -> None:
        for k, v in other.busy.items():
            self.busy[k] += v * times
        for k, v in other.stall.items():
            self.stall[k] += v * times

    def copy(self) -> _Stats:
        return _Stats(dict(self.busy), dict(self.stall))

    def minus(self, other: _Stats) -> _Stats:
        return _Stats(
            {k: v - other.busy[k] for k, v in self.busy.items()},
            {k: v - other.stall[k] for k, v in self.stall.items()},
        )


class FastTimer:
    """Advances the recurrence over ops; memoizes layers."""

    def __init__(self, mem: MemoryTiming) -> None:
        self.mem = mem
        self.state: State = (0, 0, 0)
        self.stats = _Stats()
        self.spans: list[tuple[int, int]] = []  # per op: (start, end)
        self._memo: dict[tuple[object, ...], tuple[State, _Stats, list[tuple[int, int]]]] = {}

    # -- one tile, one run --------------------------------------------------------------------
    def _step(
        self, s: State, load_bytes: int, compute: int, unit: str, st: _Stats
    ) -> tuple[State, int]:
        lf, c1, c2 = s
        t = self.mem.transfer_cycles(load_bytes)
        slot_free = c2 if self.mem.slots == 2 else c1
        ls = max(lf, slot_free)
        lf = ls + t
        ready = lf + self.mem.latency_for(load_bytes)
        start = ready if ready > c1 else c1
        st.busy[unit] += compute
        st.busy["dram"] += t
        st.stall[unit] += start - c1
        return (lf, start + compute, c1), start

    def _run(self, s: State, run: TileRun, st: _Stats) -> tuple[State, int]:
        """Advance through ``run``; return the new state and the first tile's start."""
        unit = run.unit.value
        history: list[tuple[State, _Stats]] = [(s, st.copy())]
        first_start = -1
        done = 0
        while done < run.count:
            s, start = self._step(s, run.load_bytes, run.compute_cycles, unit, st)
            if first_start < 0:
                first_start = start
            done += 1
            history.append((s, st.copy()))
            if len(history) > 3:
                history.pop(0)
            left = run.count - done
            if left < 2:
                continue
            for p in (1, 2):
                if len(history) <= p:
                    continue
                prev_s, prev_st = history[-1 - p]
                d = s[0] - prev_s[0]
                if s[1] - prev_s[1] == d and s[2] - prev_s[2] == d:
                    periods = left // p
                    s = (s[0] + periods * d, s[1] + periods * d, s[2] + periods * d)
                    st.add(history[-1][1].minus(prev_st), periods)
                    done += periods * p
                    history = [(s, st.copy())]
                    break
        return s, first_start

    # -- ops and layers -----------------------------------------------------------------------
    def _op(self, s: State, op: OpSchedule, st: _Stats) -> tuple[State, tuple[int, int]]:
        first = -1
        for run in op.runs:
            if run.count <= 0:
                continue
            s, start = self._run(s, run, st)
            if first < 0:
                first = start
        lf, c1, c2 = s
        if first < 0:  # an op with no tiles takes no time
            first = c1
        if op.write_bytes > 0:
            t = self.mem.transfer_cycles(op.write_bytes)
            lf = max(lf, c1) + t
            st.busy["dram"] += t
        return (lf, c1, c2), (first, c1)

    def advance_segment(self, ops: list[OpSchedule]) -> None:
        """Time a group of ops (one layer), reusing an earlier identical layer if possible."""
        lf, c1, c2 = self.state
        key = (tuple(op.signature() for op in ops), lf - c1, c2 - c1)
        hit = self._memo.get(key)
        if hit is None:
            rel: State = (lf - c1, 0, c2 - c1)
            st = _Stats()
            spans = []
            s = rel
            for op in ops:
                s, span = self._op(s, op, st)
                spans.append(span)
            hit = (s, st, spans)
            self._memo[key] = hit
        (rlf, rc1, rc2), st, spans = hit
        self.state = (rlf + c1, rc1 + c1, rc2 + c1)
        self.stats.add(st)
        self.spans.extend((a + c1, b + c1) for a, b in spans)

    @property
    def total_cycles(self) -> int:
        lf, c1, _ = self.state
        return max(lf, c1)
