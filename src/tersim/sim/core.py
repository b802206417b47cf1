"""The rules of :mod:`tersim.sim.timing` as an exact recurrence over the DMA queue.

Processing transfers in queue order determines everything: a load waits only for earlier
transfers and for the computes of earlier tiles (buffer room, the previous tile of its buffer),
and a compute only for its data, its unit's previous (earlier) tile and the ops its op depends
on (earlier in the queue). So when a run of tiles reaches the head of the queue, its whole
timeline is a function of the machine's state then. With several DMA engines a write-back may
wait for its op while later loads start, and transfers reach the DRAM model in start order: such
a write is kept *pending* and applied as soon as nothing later in the queue can start before it.

State (:class:`Machine`): the last dispatch cycle ``D``; each DMA engine's free cycle (or its
pending write); the DRAM model's state; the last load's start; each unit's last compute end;
per staging buffer the tiles holding space (compute end, bytes; sorted by end), the last grant
of room and (single-buffered) the last tile's compute end. Every update is a max-plus
expression of earlier times (shift-equivariant and monotone), so:

* A run of identical tiles repeats once the part of the state it touches equals the state
  ``p`` tiles earlier shifted by ``d`` in every time; the remaining whole periods are added
  arithmetically (tile ``k + n p`` starts ``n d`` after tile ``k``). That is the closed form
  inside a run; tests check it against the one-event-per-tile simpy model.
* For a fixed queue, more bandwidth, channels or DMA engines can only make times earlier.

Times below the last dispatch ``D`` are equivalent to ``D`` where they only bound later starts
(engine free times, the last load start, grants, single-buffer ends); snapshots clamp them, so
that states that behave alike compare equal.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from tersim.hw.dram import DramState
from tersim.sim.result import Piece, merged_intervals
from tersim.sim.timing import MemoryTiming, StagingBuffer

NEG = -(1 << 60)  # "no constraint" (far below every time, also when shifted)
MAX_PERIOD = 64  # a run looks for its period among the last 4 x MAX_PERIOD tiles
MEMO_MIN_TILES = 4  # runs of at least this many tiles are looked up by their entry state
# A run longer than LONG_RUN compares its state every KEY_STRIDE tiles (a period of p tiles is
# then found as one of lcm(p, KEY_STRIDE) tiles: the same skip, found a little later).
LONG_RUN = 32
KEY_STRIDE = 8


@dataclass(frozen=True, slots=True)
class QRun:
    """A run as the engine sees it: units and buffers by index."""

    count: int
    load_bytes: int
    compute_cycles: int
    unit: int
    buf: int


@dataclass(frozen=True, slots=True)
class QOp:
    pos: int  # where its results go (its position in the schedule)
    runs: tuple[QRun, ...]
    write_bytes: int
    deps: tuple[int, ...]  # positions of the ops it waits for


@dataclass(frozen=True, slots=True)
class QItem:
    """A DMA-queue entry: ``count`` tiles of run ``run`` of ``op`` from tile ``first``; or,
    with ``run == -1``, the op's write-back."""

    op: QOp
    run: int
    first: int
    count: int


def whole_ops(ops: list[QOp] | tuple[QOp, ...]) -> list[QItem]:
    """The queue of ``ops`` taken whole, in order (each op's runs, then its write-back)."""
    out: list[QItem] = []
    for q in ops:
        out.extend(QItem(q, k, 0, r.count) for k, r in enumerate(q.runs))
        if q.write_bytes > 0:
            out.append(QItem(q, -1, 0, 0))
    return out


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run did, relative to the dispatch cycle ``D`` it met (see :meth:`Machine.run`)."""

    first: int
    last: int
    D: int
    free: tuple[int, ...]
    dram: DramState
    lls: int
    unit_free: int
    win: tuple[tuple[int, int], ...]  # the tiles still holding room (none already released)
    acq: int
    last_end: int
    busy: int
    stall: int
    dram_busy: int
    transfer_end: int  # NEG: no transfer
    groups: tuple[tuple[int, int, int, int], ...]  # busy intervals added to its unit
    dram_groups: tuple[tuple[int, int, int, int], ...]  # DRAM busy intervals it added
    writes: tuple[tuple[int, int], ...]  # pending writes it applied: (index, end), in order


class Timeline:
    """Busy intervals of one unit, exact and compact: groups ``[start, end, stride, count]``
    (``count`` intervals ``[start + i stride, end + i stride)``), back-to-back tiles merged."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    def add(self, s: int, e: int) -> None:
        if e <= s:
            return
        g = self.groups
        if g:
            last = g[-1]
            if last[3] == 1 and s == last[1]:
                last[1] = e
                return
            length = last[1] - last[0]
            if e - s == length:
                if last[3] == 1 and s - last[0] > length:
                    last[2] = s - last[0]
                    last[3] = 2
                    return
                if last[3] > 1 and s == last[0] + last[3] * last[2]:
                    last[3] += 1
                    return
        g.append([s, e, 0, 1])

    def add_group(self, s: int, e: int, stride: int, count: int) -> None:
        if count <= 0 or e <= s:
            return
        if count == 1:
            self.add(s, e)
        else:
            self.groups.append([s, e, stride, count])

    def extend(self, groups: Sequence[Sequence[int]], shift: int) -> None:
        """Add strided groups ``(start, end, stride, count)``, every time ``shift`` later."""
        for s, e, stride, c in groups:
            if c == 1:
                self.add(s + shift, e + shift)
            else:
                self.add_group(s + shift, e + shift, stride, c)

    def repeat(self, intervals: Sequence[tuple[int, int]], period: int, times: int) -> None:
        """Add ``intervals`` (sorted, disjoint: one period of a repeating pattern) ``times``
        more times, the k-th copy ``k * period`` later (k = 1 .. times)."""
        merged: list[list[int]] = []
        for a, b in intervals:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        if len(merged) == 1 and merged[0][1] - merged[0][0] == period:
            a = merged[0][0]  # busy the whole period: one interval
            self.add(a + period, a + period * (times + 1))
            return
        for a, b in merged:
            self.add_group(a + period, b + period, period, times)

    def place(self, piece: Piece, shift: int) -> None:
        """Add ``piece``'s groups, ``shift`` later (copied)."""
        self.extend(piece.groups(), shift)

    def intervals(self) -> list[tuple[int, int]]:
        """Every interval, merged where they touch (for tests and small runs)."""
        return merged_intervals(self.groups)

    def pieces(self) -> list[tuple[Piece, int]]:
        """Its intervals as pieces (none: they are all in ``groups``)."""
        return []


class PieceTimeline(Timeline):
    """A timeline that keeps placed pieces by reference: a replayed segment's intervals are
    its memoized outcome's, so a run's DRAM lane costs one reference per segment played
    instead of a copy of every interval (the intervals added directly are in ``groups``)."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: list[tuple[Piece, int]] = []

    def place(self, piece: Piece, shift: int) -> None:
        if piece.count:
            self.placed.append((piece, shift))

    def intervals(self) -> list[tuple[int, int]]:
        every = [list(g) for g in self.groups]
        every += [list(g) for p, shift in self.placed for g in p.groups(shift)]
        return merged_intervals(every)

    def pieces(self) -> list[tuple[Piece, int]]:
        return list(self.placed)


@dataclass
class Stats:
    busy: list[int]  # per unit
    stall: list[int]  # per unit
    dram: int = 0


@dataclass
class Machine:
    """The engine state, advanced transfer by transfer (see the module rules)."""

    mem: MemoryTiming
    bufs: tuple[StagingBuffer, ...]
    D: int
    free: list[int]  # known engine free cycles
    pending: list[tuple[int, int, int]]  # writes not yet applied: (start, op pos, bytes)
    dram: DramState
    lls: int  # the last load's start
    unit_free: list[int]
    win: list[list[tuple[int, int]]]  # per buffer: (compute end, bytes), sorted
    acq: list[int]  # per buffer: the last grant of room
    last_end: list[int]  # per buffer: the last tile's compute end
    stats: Stats
    ends: dict[int, int] = field(default_factory=dict)  # op pos -> compute end
    open: dict[int, list[int]] = field(default_factory=dict)  # op pos -> [start, gate/end,
    #                                                            gate_w, tiles left]
    wends: dict[int, int] = field(default_factory=dict)  # op pos -> write-back end
    last_transfer_end: int = 0
    timelines: list[Timeline] | None = None  # per unit, when busy intervals are recorded
    # the DRAM's busy intervals (recorded with the units'): each transfer adds the cycles it
    # moves that no earlier transfer covered, so their total is ``stats.dram``
    dram_timeline: Timeline | None = None
    dram_capture: list[tuple[int, int]] | None = None  # the same intervals, while a run looks
    #                                                    for its period
    wlog: list[tuple[int, int]] | None = None  # write-backs applied, when someone listens
    run_log: list[tuple[int, int, int, int]] | None = None  # (op pos, unit, start, end) per run
    run_memo: dict[tuple[object, ...], RunOutcome] = field(default_factory=dict)
    latency: int = 0  # the DRAM's latency (cycles), from ``mem``

    @staticmethod
    def new(mem: MemoryTiming, units: int, record: bool = False) -> Machine:
        bufs = mem.buffers()
        return Machine(
            mem=mem,
            bufs=bufs,
            D=0,
            free=[0] * mem.dma_engines,
            pending=[],
            dram=mem.initial_dram(),
            lls=0,
            unit_free=[0] * units,
            win=[[] for _ in bufs],
            acq=[0] * len(bufs),
            last_end=[0] * len(bufs),
            stats=Stats([0] * units, [0] * units),
            timelines=[Timeline() for _ in range(units)] if record else None,
            dram_timeline=PieceTimeline() if record else None,
            latency=mem.params.latency_cycles,
        )

    # -- the DRAM and the engines ----------------------------------------------------------
    def _apply(self, start: int, nbytes: int) -> int:
        idle = self.dram.idle_at
        self.dram, end = self.mem.transfer(self.dram, start, nbytes)
        begin = start if start > idle else idle
        if end > begin:  # the cycles some transfer is moving (transfers apply in start order)
            self.stats.dram += end - begin
            tl = self.dram_timeline
            if tl is not None:
                tl.add(begin, end)
                if self.dram_capture is not None:
                    self.dram_capture.append((begin, end))
        if end > self.last_transfer_end:
            self.last_transfer_end = end
        return end

    def _apply_first_pending(self) -> None:
        p = self.pending
        k = min(range(len(p)), key=lambda i: (p[i][0], p[i][1]))
        start, pos, nbytes = p.pop(k)
        end = self._apply(start, nbytes)
        self.wends[pos] = end
        self.free.append(end)
        if self.wlog is not None:
            self.wlog.append((pos, end))

    def _pending_min_start(self) -> int:
        return min(p[0] for p in self.pending)

    def flush(self) -> None:
        """Apply every pending write (the queue is empty)."""
        while self.pending:
            self._apply_first_pending()

    def write_end(self, pos: int) -> int:
        """When op ``pos``'s write-back ends (NEG if it writes nothing)."""
        while any(p[1] == pos for p in self.pending):
            self._apply_first_pending()
        return self.wends.get(pos, NEG)

    def dispatch(self) -> int:
        """The cycle the next transfer is dispatched (it takes the earliest free engine)."""
        while self.pending and (not self.free or min(self.free) > self._pending_min_start()):
            self._apply_first_pending()  # nothing later in the queue can start before it
        f = min(self.free)
        self.free.remove(f)
        if f > self.D:
            self.D = f
        return self.D

    # -- tiles and write-backs ----------------------------------------------------------------
    def load(self, nbytes: int, buf: int, gate_w: int) -> tuple[int, int]:
        """Dispatch and start the next load: its (start, end)."""
        free = self.free
        if self.pending:
            t = self.dispatch()
        else:  # dispatch() without writes to apply
            f = min(free) if len(free) > 1 else free[0]
            free.remove(f)
            if f > self.D:
                self.D = f
            t = self.D
        if gate_w > t:
            t = gate_w
        b = self.bufs[buf]
        if not b.double_buffered:
            if self.last_end[buf] > t:
                t = self.last_end[buf]
        else:
            if self.acq[buf] > t:  # room is granted in queue order
                t = self.acq[buf]
            cap = b.capacity_bytes
            need = nbytes if nbytes < cap else cap
            if need:
                w = self.win[buf]
                held = 0
                for _, x in w:
                    held += x
                i = 0
                room = NEG
                most = b.max_outstanding
                n = len(w)
                while held + need > cap or n - i >= most:
                    room, freed = w[i]
                    held -= freed
                    i += 1
                if room > t:
                    t = room
                # tiles released by this grant can no longer constrain a later one
                while i < n and w[i][0] <= t:
                    i += 1
                if i:
                    del w[:i]
            self.acq[buf] = t
        if self.lls > t:
            t = self.lls
        self.lls = t
        while self.pending and self._pending_min_start() <= t:
            self._apply_first_pending()
        end = self._apply(t, nbytes) if nbytes > 0 else t
        free.append(end)
        return t, end

    def step(self, run: QRun, gate_w: int, gate: int) -> tuple[int, int]:
        """Load and compute one tile of ``run``: its compute (start, end)."""
        nbytes = run.load_bytes
        buf = run.buf
        start, end = self.load(nbytes, buf, gate_w)
        ready = end + self.latency if nbytes > 0 else start
        u = run.unit
        prev = self.unit_free[u]
        base = prev if prev > gate else gate
        s = ready if ready > base else base
        c = run.compute_cycles
        e = s + c
        self.unit_free[u] = e
        st = self.stats
        st.busy[u] += c
        st.stall[u] += s - base
        b = self.bufs[buf]
        if b.double_buffered:
            cap = b.capacity_bytes
            need = nbytes if nbytes < cap else cap
            if need:
                bisect.insort(self.win[buf], (e, need))
        else:
            self.last_end[buf] = e
        if self.timelines is not None:
            self.timelines[u].add(s, e)
        return s, e

    def write(self, pos: int, nbytes: int) -> None:
        """Queue op ``pos``'s write-back (its compute end is known)."""
        d = self.dispatch()
        c = self.ends[pos]
        start = max(d, c, self.lls)  # transfers enter the DRAM after the loads queued before
        self.pending.append((start, pos, nbytes))

    # -- runs and ops ---------------------------------------------------------------------------
    def _run_key(self, u: int, b: int) -> tuple[object, ...]:
        """The part of the state a run on unit ``u`` and buffer ``b`` touches, relative to the
        last dispatch ``D`` and clamped (equal keys: the same future, shifted)."""
        d = self.D
        acq = self.acq[b]
        floor = acq if acq > d else d
        le = self.last_end[b]
        return (
            tuple(sorted((f - d if f > d else 0) for f in self.free)),
            self.dram.shifted(-d),
            self.lls - d if self.lls > d else 0,
            self.unit_free[u] - d,
            tuple((e - d, x) for e, x in self.win[b] if e > floor),
            floor - d,
            le - d if le > d else 0,
        )

    def run(self, r: QRun, gate_w: int, gate: int, count: int) -> tuple[int, int]:
        """``count`` tiles of ``r``: (first start, last end).

        A run of at least MEMO_MIN_TILES tiles is looked up by its tiles, the part of the
        state it touches (:meth:`_run_key`, relative to ``D``), its gates relative to ``D``
        (the write gate bounds loads that start at ``D`` or later, the compute gate the first
        tile beside its unit's last end) and the writes pending (their starts and bytes, and
        then the engines' free cycles unclamped): equal keys, the same outcome shifted (the
        recurrence is shift-equivariant), the same pending writes applied. So an op met again in the same relative
        state (a projection of a later decode step) is not re-derived."""
        if count < MEMO_MIN_TILES:
            return self._run(r, gate_w, gate, count)
        d = self.D
        u, b = r.unit, r.buf
        uf = self.unit_free[u]
        pend = sorted(self.pending)  # applied in (start, position) order
        key = (
            r,
            count,
            self._run_key(u, b),
            (gate_w if gate_w > d else d) - d,
            (gate if gate > uf else uf) - d,
            # pending writes are compared with engine free times below D: both unclamped
            tuple((ps - d, nb) for ps, _, nb in pend),
            tuple(sorted(f - d for f in self.free)) if pend else (),
        )
        out = self.run_memo.get(key)
        if out is None:
            out = self.run_memo[key] = self._record_run(r, gate_w, gate, count, pend)
        return self._replay_run(out, r, d, pend)

    def _record_run(
        self, r: QRun, gate_w: int, gate: int, count: int, pend: list[tuple[int, int, int]]
    ) -> RunOutcome:
        """Simulate the run and describe its outcome relative to the entry ``D`` (undoing the
        effects :meth:`_replay_run` redoes: stats, busy intervals, the last transfer end, the
        log of applied writes)."""
        d = self.D
        u, b = r.unit, r.buf
        st = self.stats
        busy, stall, dram_busy = st.busy[u], st.stall[u], st.dram
        saved_te = self.last_transfer_end
        self.last_transfer_end = NEG
        saved_tl = self.timelines
        tl = Timeline()
        if saved_tl is not None:
            self.timelines = [tl if k == u else saved_tl[k] for k in range(len(saved_tl))]
        saved_dtl = self.dram_timeline
        dtl = Timeline()
        if saved_dtl is not None:
            self.dram_timeline = dtl
        saved_wlog = self.wlog
        wlog: list[tuple[int, int]] = []
        self.wlog = wlog
        first, last = self._run(r, gate_w, gate, count)
        floor = max(self.acq[b], self.D)
        index = {p[1]: k for k, p in enumerate(pend)}
        out = RunOutcome(
            first=first - d,
            last=last - d,
            D=self.D - d,
            free=tuple(f - d for f in self.free),
            dram=self.dram.shifted(-d),
            lls=self.lls - d,
            unit_free=self.unit_free[u] - d,
            win=tuple((e - d, x) for e, x in self.win[b] if e > floor),
            acq=self.acq[b] - d,
            last_end=self.last_end[b] - d,
            busy=st.busy[u] - busy,
            stall=st.stall[u] - stall,
            dram_busy=st.dram - dram_busy,
            transfer_end=self.last_transfer_end - d if self.last_transfer_end > NEG else NEG,
            groups=tuple((s - d, e - d, k, c) for s, e, k, c in tl.groups),
            dram_groups=tuple((s - d, e - d, k, c) for s, e, k, c in dtl.groups),
            writes=tuple((index[pos], e - d) for pos, e in wlog),
        )
        st.busy[u], st.stall[u], st.dram = busy, stall, dram_busy
        self.last_transfer_end = saved_te
        self.timelines = saved_tl
        self.dram_timeline = saved_dtl
        self.wlog = saved_wlog
        return out

    def _replay_run(
        self, o: RunOutcome, r: QRun, d: int, pend: list[tuple[int, int, int]]
    ) -> tuple[int, int]:
        """Apply outcome ``o`` of a run met at dispatch cycle ``d`` with writes ``pend``
        pending (sorted)."""
        u, b = r.unit, r.buf
        if o.writes:
            for k, e in o.writes:
                pos = pend[k][1]
                self.wends[pos] = e + d
                if self.wlog is not None:
                    self.wlog.append((pos, e + d))
            done = {k for k, _ in o.writes}
            self.pending = [p for k, p in enumerate(pend) if k not in done]
        self.D = o.D + d
        self.free = [f + d for f in o.free]
        self.dram = o.dram.shifted(d)
        self.lls = o.lls + d
        self.unit_free[u] = o.unit_free + d
        self.win[b] = [(e + d, x) for e, x in o.win]
        self.acq[b] = o.acq + d
        self.last_end[b] = o.last_end + d
        st = self.stats
        st.busy[u] += o.busy
        st.stall[u] += o.stall
        st.dram += o.dram_busy
        if o.transfer_end > NEG and o.transfer_end + d > self.last_transfer_end:
            self.last_transfer_end = o.transfer_end + d
        if self.timelines is not None:
            tl = self.timelines[u]
            for s, e, k, c in o.groups:
                if c == 1:
                    tl.add(s + d, e + d)
                else:
                    tl.add_group(s + d, e + d, k, c)
        if self.dram_timeline is not None:
            self.dram_timeline.extend(o.dram_groups, d)
        return o.first + d, o.last + d

    def _run(self, r: QRun, gate_w: int, gate: int, count: int) -> tuple[int, int]:
        """``count`` tiles of ``r``: (first start, last end). Tile by tile until the state the
        run touches repeats (relative to ``D``), then whole periods at once. Every tile is
        recorded (its dispatch, stats and compute end); only some are compared."""
        first, last = self.step(r, gate_w, gate)
        done = 1
        u, b = r.unit, r.buf
        seen: dict[tuple[object, ...], int] = {}
        # (D, busy, stall, dram, last end, DRAM intervals captured)
        recs: list[tuple[int, int, int, int, int, int]] = []
        st = self.stats
        stride = 1 if count <= LONG_RUN else KEY_STRIDE
        cap: list[tuple[int, int]] = []
        if self.dram_timeline is not None:  # a skipped period repeats its DRAM intervals
            self.dram_capture = cap
        while done < count:
            if not self.pending:
                if len(recs) >= 4 * MAX_PERIOD:  # a long transient: look again from here
                    seen, recs = {}, []
                    cap.clear()
                here = (self.D, st.busy[u], st.stall[u], st.dram, last, len(cap))
                if len(recs) % stride:  # the state is compared every ``stride`` tiles
                    recs.append(here)
                    _, last = self.step(r, gate_w, gate)
                    done += 1
                    continue
                key = self._run_key(u, b)
                j = seen.get(key)
                if j is not None and recs[j][0] >= gate_w:
                    p = len(recs) - j
                    periods = (count - done) // p
                    if periods:
                        last = self._skip(recs, j, here, periods, r)
                        done += periods * p
                        seen, recs = {}, []
                        cap.clear()
                        continue
                seen[key] = len(recs)
                recs.append(here)
            _, last = self.step(r, gate_w, gate)
            done += 1
        self.dram_capture = None
        return first, last

    def _skip(
        self,
        recs: list[tuple[int, int, int, int, int, int]],
        j: int,
        here: tuple[int, int, int, int, int, int],
        periods: int,
        r: QRun,
    ) -> int:
        """Advance ``periods`` whole periods (the tiles since ``recs[j]``); return the new last
        compute end."""
        old = recs[j]
        p = len(recs) - j
        d = here[0] - old[0]
        total = periods * d
        u, b = r.unit, r.buf
        st = self.stats
        st.busy[u] += (here[1] - old[1]) * periods
        st.stall[u] += (here[2] - old[2]) * periods
        st.dram += (here[3] - old[3]) * periods
        if self.timelines is not None and d > 0:
            # the compute ends of the p tiles of one period
            ends = [x[4] for x in recs[j + 1 :]] + [here[4]]
            tl = self.timelines[u]
            c = r.compute_cycles
            if c and all(ends[k + 1] - ends[k] == c for k in range(p - 1)) and p * c == d:
                tl.add(ends[0] - c + d, ends[-1] + total)
            else:
                for e in ends:
                    tl.add_group(e - c + d, e + d, d, periods)
        if self.dram_timeline is not None and self.dram_capture is not None and d > 0:
            self.dram_timeline.repeat(self.dram_capture[old[5] :], d, periods)
        self.D += total
        self.free = [f + total for f in self.free]
        self.dram = self.dram.shifted(total)
        self.lls += total
        self.unit_free[u] += total
        self.win[b] = [(e + total, x) for e, x in self.win[b]]
        self.acq[b] += total
        self.last_end[b] += total
        self.last_transfer_end = max(self.last_transfer_end, max(self.free))
        return here[4] + total

    def item(self, q: QOp, run: int, first: int, count: int) -> tuple[int, int] | None:
        """One queue entry: ``count`` tiles of run ``run`` of ``q`` from tile ``first`` (or,
        ``run == -1``, its write-back). Returns the op's (first start, last end) once its last
        tile has computed, else None."""
        if run < 0:
            self.write(q.pos, q.write_bytes)
            return None
        st = self.open.get(q.pos)
        if st is None:
            gate = gate_w = NEG
            for d in q.deps:
                c = self.ends[d]
                if c > gate:
                    gate = c
                w = self.write_end(d)
                if w > gate_w:
                    gate_w = w
            st = self.open[q.pos] = [NEG, gate, gate_w, sum(r.count for r in q.runs)]
        r = q.runs[run]
        # the first tile of a run waits for the op's dependencies (run 0) or its previous run
        gate = st[1] if first == 0 else NEG
        s, e = self.run(r, st[2], gate, count)
        if st[0] == NEG:
            st[0] = s
        st[1] = e
        st[3] -= count
        if self.run_log is not None:
            self.run_log.append((q.pos, r.unit, s, e))
        if st[3] > 0:
            return None
        del self.open[q.pos]
        self.ends[q.pos] = e
        return st[0], e

    def op(self, q: QOp) -> tuple[int, int]:
        """Every run of op ``q``, whole, then its write-back: (first start, last end)."""
        span: tuple[int, int] | None = None
        for k, r in enumerate(q.runs):
            span = self.item(q, k, 0, r.count)
        assert span is not None
        if q.write_bytes > 0:
            self.write(q.pos, q.write_bytes)
        return span

    @property
    def end_cycle(self) -> int:
        """When the last compute or transfer ended (after :meth:`flush`)."""
        return max(max(self.unit_free, default=0), self.last_transfer_end)
