"""``fast`` fidelity: the timing rules of :mod:`tersim.sim.timing` as an exact recurrence.

State: ``lf`` (DMA engine free), the DRAM model's state, ``c1`` (end of the previous compute)
and the window of tiles still holding buffer space, as (compute end, bytes) in program order.
Per tile ``j``::

    room_at    = the compute end of the oldest window tile whose release makes room for l_j
                 and leaves fewer than max_outstanding tiles in flight (double buffering),
                 or c1 (single buffering)
    load_start = max(lf, room_at)
    lf, dram   = the DRAM model's end of moving l_j from load_start (load_start if l_j = 0)
    ready      = lf + latency (if anything was loaded)
    start      = max(ready, c1);  end = start + c_j;  c1 = end;  window += (end, l_j)

Two exact shortcuts keep whole models fast:

* Runs of identical tiles: the update is max-plus linear (shift-equivariant), so once the state
  after ``p`` more tiles equals the state before plus the same amount ``d`` in every time
  component (same window bytes), the rest of the run repeats with period ``p``; whole periods
  are skipped arithmetically.
* Identical layers: a layer's outcome depends only on its ops' timing signatures and the entry
  state relative to ``c1``; repeated layers (and decode steps whose layers match) reuse it.

Tests check both against the one-event-per-tile simpy model (``tile`` fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tersim.hw.dram import DramState
from tersim.mapping.schedule import OpSchedule, TileRun
from tersim.sim.timing import MemoryTiming

Window = tuple[tuple[int, int], ...]  # (compute end, bytes held), oldest first
State = tuple[int, DramState, int, Window]  # (lf, dram, c1, window)
MAX_PERIOD = 64  # longest repeat period searched for in a run of identical tiles


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


def _shift(s: State, d: int) -> State:
    lf, dram, c1, window = s
    return (lf + d, dram.shifted(d), c1 + d, tuple((e + d, b) for e, b in window))


def _shifted_by(new: State, old: State) -> int | None:
    """``d`` if ``new`` is ``old`` shifted by ``d`` in every time component, else None."""
    d = new[0] - old[0]
    if new[2] - old[2] != d or len(new[3]) != len(old[3]):
        return None
    if not new[1].is_shift_of(old[1], d):
        return None
    for (e1, b1), (e0, b0) in zip(new[3], old[3], strict=True):
        if b1 != b0 or e1 - e0 != d:
            return None
    return d


class FastTimer:
    """Advances the recurrence over ops; memoizes layers."""

    def __init__(self, mem: MemoryTiming) -> None:
        self.mem = mem
        self.state: State = (0, mem.initial_dram(), 0, ())
        self.stats = _Stats()
        self.spans: list[tuple[int, int]] = []  # per op: (start, end)
        self._memo: dict[tuple[object, ...], tuple[State, _Stats, list[tuple[int, int]]]] = {}

    # -- one tile, one run --------------------------------------------------------------------
    def _step(
        self, s: State, load_bytes: int, compute: int, unit: str, st: _Stats
    ) -> tuple[State, int]:
        lf, dram, c1, window = s
        mem = self.mem
        need = mem.held_bytes(load_bytes)
        if not mem.double_buffered:
            room_at = c1
        else:
            room_at = lf  # no constraint (states are relative: times may be negative)
            held = sum(b for _, b in window)
            i = 0
            while need and (
                held + need > mem.buffer_bytes or len(window) - i >= mem.max_outstanding
            ):
                room_at, freed = window[i]
                held -= freed
                i += 1
        ls = max(lf, room_at)
        dram, lf = mem.transfer(dram, ls, load_bytes)
        t = lf - ls
        ready = lf + mem.latency_for(load_bytes)
        start = ready if ready > c1 else c1
        end = start + compute
        # tiles whose compute ends by the time the DMA engine is next free can no longer
        # constrain a later load: drop them (keeps the state small and comparable)
        kept = tuple(w for w in window if w[0] > lf)
        if need and end > lf:
            kept = (*kept, (end, need))
        st.busy[unit] += compute
        st.busy["dram"] += t
        st.stall[unit] += start - c1
        return (lf, dram, end, kept), start

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
            if len(history) > MAX_PERIOD + 1:
                history.pop(0)
            left = run.count - done
            if left < 2:
                continue
            for p in range(1, len(history)):
                old_s, old_st = history[-1 - p]
                if s[0] - old_s[0] != s[2] - old_s[2]:  # cheap scalar test first
                    continue
                d = _shifted_by(s, old_s)
                if d is None:
                    continue
                periods = left // p
                if periods == 0:
                    break
                s = _shift(s, periods * d)
                st.add(history[-1][1].minus(old_st), periods)
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
        lf, dram, c1, window = s
        if op.write_bytes > 0:
            begin = max(lf, c1)
            dram, lf = self.mem.transfer(dram, begin, op.write_bytes)
            st.busy["dram"] += lf - begin
        return (lf, dram, c1, window), (first, c1)

    def advance_segment(self, ops: list[OpSchedule]) -> None:
        """Time a group of ops (one layer), reusing an earlier identical layer if possible."""
        c1 = self.state[2]
        rel = _shift(self.state, -c1)
        key = (tuple(op.signature() for op in ops), rel)
        hit = self._memo.get(key)
        if hit is None:
            st = _Stats()
            spans = []
            s = rel
            for op in ops:
                s, span = self._op(s, op, st)
                spans.append(span)
            hit = (s, st, spans)
            self._memo[key] = hit
        s_rel, st, spans = hit
        self.state = _shift(s_rel, c1)
        self.stats.add(st)
        self.spans.extend((a + c1, b + c1) for a, b in spans)

    @property
    def total_cycles(self) -> int:
        lf, dram, c1, _ = self.state
        return max(lf, dram.idle_at, c1)
