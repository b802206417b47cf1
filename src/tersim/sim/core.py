"""The rules of :mod:`tersim.sim.timing` as an exact recurrence over the DMA queue.

Processing transfers in queue order determines everything: a load waits only for earlier
transfers and for the computes of earlier tiles (buffer room, the previous tile of its buffer),
and a compute only for its data, its unit's previous (earlier) tile and the ops its op depends
on (earlier in the queue). So when a run of tiles reaches the head of the queue, its whole
timeline is a function of the machine's state then. With several DMA engines a write-back may
wait for its op while later loads start, and transfers reach the DRAM model in start order: such
a write is kept *pending* and applied as soon as nothing later in the queue can start before it.

A tile's own write-back (:meth:`Machine.tile_write`, queued after the load of its op's next
tile) is applied at once: every later transfer starts after it ends (the last load's start
``lls`` is raised to its end), so nothing later in the queue can reach the DRAM before it.

State (:class:`Machine`): the last dispatch cycle ``D``; each DMA engine's free cycle (or its
pending write); the DRAM model's state; the last load's start (or tile write's end); each unit's last compute end;
per staging buffer the tiles holding space (compute end, bytes; sorted by end), the last grant
of room and (single-buffered) the last tile's compute end. Every update is a max-plus
expression of earlier times (shift-equivariant and monotone), so:

* A run of identical tiles repeats once the part of the state it touches equals the state
  ``p`` tiles earlier shifted by ``d`` in every time; the remaining whole periods are added
  arithmetically (tile ``k + n p`` starts ``n d`` after tile ``k``). That is the closed form
  inside a run; tests check it against the one-event-per-tile simpy model.
* For a fixed queue, more bandwidth, channels or DMA engines can only make times earlier.

A tile with a fused epilogue (``QRun.epi_cycles``) also computes, right after it in its
epilogue unit's order, the epilogue of the outputs it completes: from ``write_ready`` after
its compute end and its epilogue unit's last end, for ``epi_cycles`` (:meth:`Machine.step`).
Its op ends at the latest of its tiles' and epilogues' ends; the op's next run still waits only
for its previous run's tiles.

Times below the last dispatch ``D`` are equivalent to ``D`` where they only bound later starts
(engine free times, the last load start, grants, single-buffer ends); snapshots clamp them, so
that states that behave alike compare equal.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tersim.hw.dram import DramState
from tersim.sim.affine import Aff, Range, coefficients, value_at
from tersim.sim.result import Piece, PieceRun, merged_intervals
from tersim.sim.timing import MemoryTiming, StagingBuffer

NEG = -(1 << 60)  # "no constraint" (far below every time, also when shifted)
MAX_PERIOD = 64  # a run looks for its period among the last 4 x MAX_PERIOD tiles
MEMO_MIN_TILES = 4  # runs of at least this many tiles are looked up by their entry state
# A run longer than LONG_RUN compares its state every KEY_STRIDE tiles (a period of p tiles is
# then found as one of lcm(p, KEY_STRIDE) tiles: the same skip, found a little later).
LONG_RUN = 32
KEY_STRIDE = 8
# A stretch of queue entries repeating a pattern of at most PATTERN_MAX_ITEMS entries (each of at
# most PATTERN_MAX_TILES tiles, none gated) at least PATTERN_MIN_REPS times is played as a run
# of patterns (:meth:`Machine.pattern`): the interleaved tiles of ops that run at once.
PATTERN_MAX_ITEMS = 6
PATTERN_MAX_TILES = 8
PATTERN_MIN_REPS = 6
PATTERN_KEY_STRIDE = 4  # repetitions between two comparisons of the state (a period p is found
#                         as one of lcm(p, PATTERN_KEY_STRIDE) repetitions)
# The drift closed form (Machine._drift) covers at least DRIFT_MIN_REPS + 1 repetitions; after
# a failure it waits DRIFT_BACKOFF repetitions (doubling) before trying again.
DRIFT_MIN_REPS = 3
DRIFT_BACKOFF = 4


@dataclass(frozen=True, slots=True)
class QRun:
    """A run as the engine sees it: units and buffers by index."""

    count: int
    load_bytes: int
    compute_cycles: int
    unit: int
    buf: int
    write_bytes: int = 0  # DRAM bytes each tile writes back: the outputs it completes
    write_ready: int = 0  # cycles after a tile's compute end until those outputs are complete
    # a fused epilogue: after each tile, ``epi_cycles`` on unit ``epi_unit`` for the outputs
    # the tile completes, from ``write_ready`` after its compute end (0: none)
    epi_cycles: int = 0
    epi_unit: int = -1


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


def periodic_stretches(
    sigs: Sequence[object | None],
) -> tuple[tuple[int, int, int], ...]:
    """Stretches ``(start, period, reps)`` of ``sigs`` (one signature per queue entry, None:
    not eligible) where ``reps`` whole repetitions of ``period`` eligible entries follow each
    other (entry ``i + period`` has entry ``i``'s signature), ``reps >= PATTERN_MIN_REPS``;
    greedy from the left, the period covering the most entries first (the shortest on ties)."""
    n = len(sigs)
    # reach[p][j]: how many entries from j on equal the entry p before them (all eligible)
    reach = []
    for p in range(1, PATTERN_MAX_ITEMS + 1):
        r = [0] * (n + 1)
        for j in range(n - 1, p - 1, -1):
            x = sigs[j]
            if x is not None and x == sigs[j - p]:
                r[j] = r[j + 1] + 1
        reach.append(r)
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < n:
        best = (0, 0)  # (entries covered, period)
        for p in range(1, min(PATTERN_MAX_ITEMS, n - i) + 1):
            if sigs[i + p - 1] is None:
                break
            reps = (p + reach[p - 1][i + p]) // p if i + p < n else 1
            if reps >= PATTERN_MIN_REPS and reps * p > best[0]:
                best = (reps * p, p)
        if best[0]:
            out.append((i, best[1], best[0] // best[1]))
            i += best[0]
        else:
            i += 1
    return tuple(out)


def _steady(snaps: list[tuple[tuple[object, ...], list[int]]]) -> list[int] | None:
    """The change of every time between the last two of three states, if it is the change
    between the first two (and their shapes are equal)."""
    if len(snaps) < 3:
        return None
    (s0, x0), (s1, x1), (s2, x2) = snaps
    if not s0 == s1 == s2:
        return None
    delta = [b - a for a, b in zip(x1, x2, strict=True)]
    return delta if delta == [b - a for a, b in zip(x0, x1, strict=True)] else None


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
    # per DRAM channel, the busy intervals it added (none: channels not recorded)
    channel_groups: tuple[tuple[tuple[int, int, int, int], ...], ...] = ()
    # a fused epilogue's unit: its last end, busy cycles and busy intervals added
    epi_free: int = 0
    epi_busy: int = 0
    epi_groups: tuple[tuple[int, int, int, int], ...] = ()


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

    def pieces(self) -> list[PieceRun]:
        """Its intervals as pieces (none: they are all in ``groups``)."""
        return []


class _Pairs(Timeline):
    """Stands in for the DRAM lane while :meth:`Machine._drift` plays an affine repetition:
    keeps each interval as given (affine times), for the caller to lay out per repetition."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[object, object]] = []

    def add(self, s: object, e: object) -> None:  # type: ignore[override]
        self.pairs.append((s, e))


class PieceTimeline(Timeline):
    """A timeline that keeps placed pieces by reference: a replayed segment's intervals are
    its memoized outcome's, so a lane costs one reference per segment played instead of a copy
    of every interval, and the same piece placed again at a constant period after its last
    copy (a segment replayed with the same relative entry state, again and again) one more
    copy of that reference (:class:`PieceRun`): the copied layers of a pass cost one record.
    The intervals added directly are in ``groups``."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: list[PieceRun] = []

    def place(self, piece: Piece, shift: int) -> None:
        if not piece.count:
            return
        if self.placed:
            last = self.placed[-1]
            if last.piece is piece:
                if last.times == 1 and shift > last.shift:
                    self.placed[-1] = PieceRun(piece, last.shift, shift - last.shift, 2)
                    return
                if last.times > 1 and shift == last.shift + last.times * last.period:
                    self.placed[-1] = last._replace(times=last.times + 1)
                    return
        self.placed.append(PieceRun(piece, shift))

    def intervals(self) -> list[tuple[int, int]]:
        every = [list(g) for g in self.groups]
        every += [list(g) for run in self.placed for g in run.groups()]
        return merged_intervals(every)

    def pieces(self) -> list[PieceRun]:
        return list(self.placed)


def _alike(times: tuple[int, ...]) -> bool:
    """Whether every time is the same (affine times: the same function of the repetition,
    compared by coefficients, so that no range shrinks)."""
    t0 = times[0]
    if type(t0) is int:
        return times == (t0,) * len(times)
    c0 = coefficients(t0)
    return all(coefficients(t) == c0 for t in times)


def channel_timelines(lanes: Sequence[Timeline]) -> list[Timeline]:
    """Each DRAM channel's lane from a machine's ``dram_channels`` (each channel's own
    intervals, then the shared lane of those every channel had alike): channel ``c``'s own
    groups and pieces with the shared ones (references, not copies of the intervals)."""
    *own, shared = lanes
    out: list[Timeline] = []
    for t in own:
        lane = PieceTimeline()
        lane.groups = [*t.groups, *shared.groups]
        lane.placed = [*t.pieces(), *shared.pieces()]
        out.append(lane)
    return out


def _repeat_ends(tl: Timeline, ends: Sequence[int], c: int, d: int, periods: int) -> None:
    """Add ``periods`` more copies of one period's intervals of ``c`` cycles ending at ``ends``
    (the k-th ``k d`` later)."""
    p = len(ends)
    if c and all(ends[k + 1] - ends[k] == c for k in range(p - 1)) and p * c == d:
        tl.add(ends[0] - c + d, ends[-1] + periods * d)
    else:
        for e in ends:
            tl.add_group(e - c + d, e + d, d, periods)


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
    lls: int  # the last load's start, or the last tile write's end if later (the fence)
    unit_free: list[int]
    win: list[list[tuple[int, int]]]  # per buffer: (compute end, bytes), sorted
    acq: list[int]  # per buffer: the last grant of room
    last_end: list[int]  # per buffer: the last tile's compute end
    stats: Stats
    ends: dict[int, int] = field(default_factory=dict)  # op pos -> compute end
    open: dict[int, list[int]] = field(default_factory=dict)  # op pos -> [start, gate/end,
    #                                          gate_w, tiles left, last fused epilogue's end]
    wends: dict[int, int] = field(default_factory=dict)  # op pos -> write-back end
    last_transfer_end: int = 0
    timelines: list[Timeline] | None = None  # per unit, when busy intervals are recorded
    # the DRAM's busy intervals (recorded with the units'): each transfer adds the cycles it
    # moves that no earlier transfer covered, so their total is ``stats.dram``
    dram_timeline: Timeline | None = None
    # per DRAM channel, its busy intervals (the rule of :mod:`tersim.hw.dram.base`), when the
    # model keeps more than one channel (one channel's lane would be ``dram_timeline``); one
    # more, last, holds the intervals every channel was busy alike, kept once (see
    # :func:`channel_timelines`)
    dram_channels: list[Timeline] | None = None
    # the same intervals, while a run looks for its period: (lane, start, end), lane -1 the
    # DRAM's, c >= 0 ``dram_channels[c]`` (the last one the shared lane)
    dram_capture: list[tuple[int, int, int]] | None = None
    wlog: list[tuple[int, int]] | None = None  # write-backs applied, when someone listens
    run_log: list[tuple[int, int, int, int]] | None = None  # (op pos, unit, start, end) per run
    run_memo: dict[tuple[object, ...], RunOutcome] = field(default_factory=dict)
    latency: int = 0  # the DRAM's latency (cycles), from ``mem``

    @staticmethod
    def new(mem: MemoryTiming, units: int, record: bool = False) -> Machine:
        bufs = mem.buffers()
        dram = mem.initial_dram()
        width = len(dram.free_cycles)
        return Machine(
            mem=mem,
            bufs=bufs,
            D=0,
            free=[0] * mem.dma_engines,
            pending=[],
            dram=dram,
            lls=0,
            unit_free=[0] * units,
            win=[[] for _ in bufs],
            acq=[0] * len(bufs),
            last_end=[0] * len(bufs),
            stats=Stats([0] * units, [0] * units),
            timelines=[Timeline() for _ in range(units)] if record else None,
            dram_timeline=PieceTimeline() if record else None,
            dram_channels=[PieceTimeline() for _ in range(width + 1)]
            if record and width > 1
            else None,
            latency=mem.params.latency_cycles,
        )

    # -- the DRAM and the engines ----------------------------------------------------------
    def _apply(self, start: int, nbytes: int) -> int:
        old = self.dram
        idle = old.idle_at
        self.dram, end = self.mem.transfer(old, start, nbytes)
        begin = start if start > idle else idle
        if end > begin:  # the cycles some transfer is moving (transfers apply in start order)
            self.stats.dram += end - begin
            tl = self.dram_timeline
            if tl is not None:
                tl.add(begin, end)
                if self.dram_capture is not None:
                    self.dram_capture.append((-1, begin, end))
        if self.dram_channels is not None:
            self._channel_busy(old, start, idle)
        if end > self.last_transfer_end:
            self.last_transfer_end = end
        return end

    def _channel_busy(self, old: DramState, start: int, idle: int) -> None:
        """Record each channel's busy interval of the transfer that took the DRAM from ``old``
        (every channel idle at ``idle``) to the current state: ``[max(start, old free), new
        free)`` where its free time moved (:mod:`tersim.hw.dram.base`). When every channel
        ends alike and started alike (or was idle at ``start``), their one interval goes once
        to the shared last lane."""
        lanes = self.dram_channels
        assert lanes is not None
        cap = self.dram_capture
        olds, news = old.free_cycles, self.dram.free_cycles
        n = len(news)
        if _alike(news):
            b0 = news[0]
            s0: int | None = None
            if type(b0) is int and start >= idle:  # each channel that moved began at start
                s0 = start
            elif _alike(olds):
                a0 = olds[0]
                s0 = start if start > a0 else a0
            if s0 is not None:
                if b0 > s0:  # every channel busy [s0, b0)
                    lanes[n].add(s0, b0)
                    if cap is not None:
                        cap.append((n, s0, b0))
                return
        for c in range(n):
            a, b = olds[c], news[c]
            if b > a:
                s = start if start > a else a
                lanes[c].add(s, b)
                if cap is not None:
                    cap.append((c, s, b))

    def _repeat_dram(
        self, captured: Sequence[tuple[int, int, int]], period: int, times: int
    ) -> None:
        """Add the DRAM intervals ``captured`` in one period (see ``dram_capture``) ``times``
        more times to their lanes, the k-th copy ``k * period`` later."""
        tl = self.dram_timeline
        assert tl is not None
        chans = self.dram_channels
        if chans is None:
            tl.repeat([(s, e) for _, s, e in captured], period, times)
            return
        by_lane: list[list[tuple[int, int]]] = [[] for _ in range(len(chans) + 1)]
        for k, s, e in captured:
            by_lane[k].append((s, e))  # lane -1: the last list
        tl.repeat(by_lane[-1], period, times)
        for lane, got in zip(chans, by_lane, strict=False):
            if got:
                lane.repeat(got, period, times)

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

    def step(
        self, run: QRun, gate_w: int, gate: int, wb: int = 0, wready: int = NEG
    ) -> tuple[int, int]:
        """Load and compute one tile of ``run``: its compute (start, end). ``wb``: the bytes
        the op's previous tile writes back, queued right after this load, ready at ``wready``
        (NEG: the previous tile is this run's, on this unit: its end plus its run's
        ``write_ready``)."""
        nbytes = run.load_bytes
        buf = run.buf
        start, end = self.load(nbytes, buf, gate_w)
        ready = end + self.latency if nbytes > 0 else start
        u = run.unit
        if wb:
            self.tile_write(wb, self.unit_free[u] + run.write_ready if wready == NEG else wready)
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
        if run.epi_cycles:
            self._epilogue(run, e)
        return s, e

    def _epilogue(self, run: QRun, e: int) -> None:
        """The fused epilogue of a tile of ``run`` that computed until ``e``: on its unit, after
        the unit's last end and ``write_ready`` after ``e``."""
        v = run.epi_unit
        a = e + run.write_ready
        f = self.unit_free[v]
        es = a if a > f else f
        ee = es + run.epi_cycles
        self.unit_free[v] = ee
        self.stats.busy[v] += run.epi_cycles
        if self.timelines is not None:
            self.timelines[v].add(es, ee)

    def tile_write(self, nbytes: int, ready: int) -> None:
        """A tile's write-back of the outputs it completed (ready at ``ready``), queued after the
        load of its op's next tile: it starts once dispatched, ready and after the loads queued
        before it started, and every later transfer starts after it ends (``lls``: the fence),
        so it is applied at once."""
        d = self.dispatch()
        t = d if d > ready else ready
        if self.lls > t:
            t = self.lls
        while self.pending and self._pending_min_start() <= t:
            self._apply_first_pending()
        end = self._apply(t, nbytes)
        self.free.append(end)
        self.lls = end

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

    def _state_key(self, us: Sequence[int], bs: Sequence[int]) -> tuple[object, ...]:
        """:meth:`_run_key` for the units ``us`` and buffers ``bs`` together."""
        d = self.D
        bufs = []
        for b in bs:
            acq = self.acq[b]
            floor = acq if acq > d else d
            le = self.last_end[b]
            bufs.append(
                (
                    tuple((e - d, x) for e, x in self.win[b] if e > floor),
                    floor - d,
                    le - d if le > d else 0,
                )
            )
        return (
            tuple(sorted((f - d if f > d else 0) for f in self.free)),
            self.dram.shifted(-d),
            self.lls - d if self.lls > d else 0,
            tuple(self.unit_free[u] - d for u in us),
            tuple(bufs),
        )

    def state_key(self, u: int, b: int) -> tuple[object, ...]:
        """:meth:`_run_key`, for callers that replay runs on unit ``u`` and buffer ``b`` with no
        writes pending and no other gates (equal keys: the same future, shifted by the
        difference of the two ``D``)."""
        return self._run_key(u, b)

    def run(
        self, r: QRun, gate_w: int, gate: int, count: int, wb: int = 0, wready: int = NEG
    ) -> tuple[int, int]:
        """``count`` tiles of ``r``: (first start, last end); the first load is followed by the
        write-back ``wb`` of the op's previous tile, ready at ``wready`` (see :meth:`step`).

        A run of at least MEMO_MIN_TILES tiles is looked up by its tiles, the part of the
        state it touches (:meth:`_run_key`, relative to ``D``), its gates relative to ``D``
        (the write gate bounds loads that start at ``D`` or later, the compute gate the first
        tile beside its unit's last end) and the writes pending (their starts and bytes, and
        then the engines' free cycles unclamped): equal keys, the same outcome shifted (the
        recurrence is shift-equivariant), the same pending writes applied. So an op met again in the same relative
        state (a projection of a later decode step) is not re-derived."""
        if count < MEMO_MIN_TILES:
            return self._run(r, gate_w, gate, count, wb, wready)
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
            # the previous tile's write starts at the dispatch D or later
            (wb, (wready if wready > d else d) - d) if wb else None,
            self.unit_free[r.epi_unit] - d if r.epi_cycles else None,
        )
        out = self.run_memo.get(key)
        if out is None:
            out = self.run_memo[key] = self._record_run(r, gate_w, gate, count, pend, wb, wready)
        return self._replay_run(out, r, d, pend)

    def _record_run(
        self,
        r: QRun,
        gate_w: int,
        gate: int,
        count: int,
        pend: list[tuple[int, int, int]],
        wb: int,
        wready: int,
    ) -> RunOutcome:
        """Simulate the run and describe its outcome relative to the entry ``D`` (undoing the
        effects :meth:`_replay_run` redoes: stats, busy intervals, the last transfer end, the
        log of applied writes)."""
        d = self.D
        u, b, v = r.unit, r.buf, r.epi_unit
        st = self.stats
        busy, stall, dram_busy = st.busy[u], st.stall[u], st.dram
        vbusy = st.busy[v] if r.epi_cycles else 0
        saved_te = self.last_transfer_end
        self.last_transfer_end = NEG
        saved_tl = self.timelines
        tl, vtl = Timeline(), Timeline()
        if saved_tl is not None:
            self.timelines = [
                tl if k == u else vtl if k == v and r.epi_cycles else saved_tl[k]
                for k in range(len(saved_tl))
            ]
        saved_dtl = self.dram_timeline
        dtl = Timeline()
        if saved_dtl is not None:
            self.dram_timeline = dtl
        saved_ch = self.dram_channels
        chans = None if saved_ch is None else [Timeline() for _ in saved_ch]
        self.dram_channels = chans
        saved_wlog = self.wlog
        wlog: list[tuple[int, int]] = []
        self.wlog = wlog
        first, last = self._run(r, gate_w, gate, count, wb, wready)
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
            channel_groups=()
            if chans is None
            else tuple(tuple((s - d, e - d, k, c) for s, e, k, c in t.groups) for t in chans),
        )
        if r.epi_cycles:
            out = replace(
                out,
                epi_free=self.unit_free[v] - d,
                epi_busy=st.busy[v] - vbusy,
                epi_groups=tuple((s - d, e - d, k, c) for s, e, k, c in vtl.groups),
            )
            st.busy[v] = vbusy
        st.busy[u], st.stall[u], st.dram = busy, stall, dram_busy
        self.last_transfer_end = saved_te
        self.timelines = saved_tl
        self.dram_timeline = saved_dtl
        self.dram_channels = saved_ch
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
        if r.epi_cycles:
            v = r.epi_unit
            self.unit_free[v] = o.epi_free + d
            st.busy[v] += o.epi_busy
            if self.timelines is not None:
                self.timelines[v].extend(o.epi_groups, d)
        if self.dram_timeline is not None:
            self.dram_timeline.extend(o.dram_groups, d)
        if self.dram_channels is not None:
            for lane, groups in zip(self.dram_channels, o.channel_groups, strict=True):
                lane.extend(groups, d)
        return o.first + d, o.last + d

    def _run(
        self, r: QRun, gate_w: int, gate: int, count: int, wb: int = 0, wready: int = NEG
    ) -> tuple[int, int]:
        """``count`` tiles of ``r``: (first start, last end). Tile by tile until the state the
        run touches repeats (relative to ``D``), then whole periods at once. Every tile is
        recorded (its dispatch, stats and compute end); only some are compared."""
        first, last = self.step(r, gate_w, gate, wb, wready)
        wb = r.write_bytes  # every later tile's previous tile is this run's
        done = 1
        u, b = r.unit, r.buf
        v = r.epi_unit if r.epi_cycles else u  # a fused epilogue's unit (else the run's)
        seen: dict[tuple[object, ...], int] = {}
        # (D, busy, stall, dram, last end, DRAM intervals captured, the epilogue unit's busy
        # and last end)
        recs: list[tuple[int, int, int, int, int, int, int, int]] = []
        st = self.stats
        stride = 1 if count <= LONG_RUN else KEY_STRIDE
        cap: list[tuple[int, int, int]] = []
        if self.dram_timeline is not None:  # a skipped period repeats its DRAM intervals
            self.dram_capture = cap
        while done < count:
            if not self.pending:
                if len(recs) >= 4 * MAX_PERIOD:  # a long transient: look again from here
                    seen, recs = {}, []
                    cap.clear()
                here = (
                    self.D,
                    st.busy[u],
                    st.stall[u],
                    st.dram,
                    last,
                    len(cap),
                    st.busy[v],
                    self.unit_free[v],
                )
                if len(recs) % stride:  # the state is compared every ``stride`` tiles
                    recs.append(here)
                    _, last = self.step(r, gate_w, gate, wb)
                    done += 1
                    continue
                key = self._run_key(u, b)
                if v != u:
                    key = (key, self.unit_free[v] - self.D)
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
            _, last = self.step(r, gate_w, gate, wb)
            done += 1
        self.dram_capture = None
        return first, last

    def _skip(
        self,
        recs: list[tuple[int, int, int, int, int, int, int, int]],
        j: int,
        here: tuple[int, int, int, int, int, int, int, int],
        periods: int,
        r: QRun,
    ) -> int:
        """Advance ``periods`` whole periods (the tiles since ``recs[j]``); return the new last
        compute end."""
        old = recs[j]
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
            _repeat_ends(self.timelines[u], ends, r.compute_cycles, d, periods)
            if r.epi_cycles:  # and their epilogues'
                ends = [x[7] for x in recs[j + 1 :]] + [here[7]]
                _repeat_ends(self.timelines[r.epi_unit], ends, r.epi_cycles, d, periods)
        if self.dram_timeline is not None and self.dram_capture is not None and d > 0:
            self._repeat_dram(self.dram_capture[old[5] :], d, periods)
        self.D += total
        self.free = [f + total for f in self.free]
        self.dram = self.dram.shifted(total)
        self.lls += total
        self.unit_free[u] += total
        if r.epi_cycles:
            v = r.epi_unit
            st.busy[v] += (here[6] - old[6]) * periods
            self.unit_free[v] += total
        self.win[b] = [(e + total, x) for e, x in self.win[b]]
        self.acq[b] += total
        self.last_end[b] += total
        self.last_transfer_end = max(self.last_transfer_end, max(self.free))
        return here[4] + total

    def pattern(self, items: Sequence[QItem], reps: int) -> None:
        """``reps`` repetitions of the queue entries ``items``: each an open op's tiles that its
        gates do not hold (not the op's first tiles; a later run on its previous run's unit,
        whose end its unit's last end already bounds) and not its last. Exactly what playing
        the entries one by one does, with two closed forms, tried at each repetition's start
        when no write is pending:

        * **period**: the state the entries touch (:meth:`_state_key`) equals the state ``p``
          repetitions earlier shifted by ``d`` (the ops' write gates behind): the remaining
          whole periods at once, each a copy of the last one ``d`` later;
        * **drift** (:meth:`_drift`): the last two repetitions changed every time of the state
          by the same amounts ``delta`` (units running at different rates): one repetition
          played on the state ``x + j delta`` for all ``j`` at once (:mod:`tersim.sim.affine`)
          takes the same branches for every ``j`` and ends in ``x + (j + 1) delta``: then all
          those repetitions are that one, ``j`` after ``j``."""
        ops = [(it.op, it.op.runs[it.run], it.count, self.open[it.op.pos]) for it in items]
        assert not any(r.epi_cycles for _, r, _, _ in ops), "fused epilogues play entry by entry"
        gate_w = max(st[2] for _, _, _, st in ops)
        us = sorted({r.unit for _, r, _, _ in ops})
        bs = sorted({r.buf for _, r, _, _ in ops})
        per_rep: dict[int, int] = {}  # op pos -> tiles per repetition
        for q, _, c, _ in ops:
            per_rep[q.pos] = per_rep.get(q.pos, 0) + c
        stats = self.stats
        seen: dict[tuple[object, ...], int] = {}
        recs: list[tuple[int, tuple[int, ...], tuple[int, ...], int, int, int, int, int, int]] = []
        tiles: list[tuple[int, int, int]] = []  # (unit, start, end) per tile played
        log: list[tuple[int, int, int, int]] = []  # (op pos, unit, start, end) per entry
        rep_te: list[int] = []  # the last transfer end within each repetition (NEG: none)
        snaps: list[tuple[tuple[object, ...], list[int]]] = []  # the last repetitions' states
        next_drift, backoff = 0, DRIFT_BACKOFF
        done = 0
        # the DRAM's busy intervals since the last reset (a skipped period repeats its own)
        saved_cap = self.dram_capture
        dcap: list[tuple[int, int, int]] = []
        if self.dram_timeline is not None:
            self.dram_capture = dcap
        while done < reps:
            if not self.pending and done % PATTERN_KEY_STRIDE == 0:
                if len(recs) >= 4 * MAX_PERIOD:  # a long transient: look again from here
                    seen, recs, tiles, log, rep_te = {}, [], [], [], []
                    dcap.clear()
                key = self._state_key(us, bs)
                j = seen.get(key)
                if j is not None and recs[j][0] >= gate_w:
                    p = done - recs[j][7]  # repetitions in the period
                    periods = (reps - done) // p
                    if periods:
                        total = self._skip_pattern(
                            recs[j], periods, us, bs, tiles, log, rep_te, dcap[recs[j][8] :]
                        )
                        for pos, n in per_rep.items():
                            st = self.open[pos]
                            st[1] += total  # its last tile, in the last period
                            st[3] -= n * p * periods
                        done += periods * p
                        seen, recs, tiles, log, rep_te, snaps = {}, [], [], [], [], []
                        dcap.clear()
                        continue
                seen[key] = len(recs)
                recs.append(
                    (
                        self.D,
                        tuple(stats.busy[u] for u in us),
                        tuple(stats.stall[u] for u in us),
                        stats.dram,
                        len(tiles),
                        len(log),
                        len(rep_te),
                        done,
                        len(dcap),
                    )
                )
            if not self.pending:
                left = reps - done
                if left > DRIFT_MIN_REPS and done + 2 >= next_drift:
                    snaps = [*snaps[-2:], (self._shape(bs), self._fields(us, bs))]
                    delta = _steady(snaps)
                    if delta is not None and done >= next_drift:
                        n = self._drift(ops, us, bs, snaps[-1][1], delta, left - 1, per_rep)
                        if n:
                            done += n
                            seen, recs, tiles, log, rep_te, snaps = {}, [], [], [], [], []
                            dcap.clear()
                            backoff = DRIFT_BACKOFF
                            continue
                        next_drift, backoff = done + backoff, 2 * backoff
            saved_te = self.last_transfer_end
            self.last_transfer_end = NEG
            self._rep(ops, tiles, log)
            te = self.last_transfer_end
            rep_te.append(te)
            if saved_te > te:
                self.last_transfer_end = saved_te
            done += 1
        self.dram_capture = saved_cap

    def _rep(
        self,
        ops: list[tuple[QOp, QRun, int, list[int]]],
        tiles: list[tuple[int, int, int]],
        log: list[tuple[int, int, int, int]],
    ) -> None:
        """One repetition of :meth:`pattern`'s entries, recording its tiles and entries."""
        for q, r, c, st in ops:
            u = r.unit
            s, e = self.step(r, st[2], NEG)
            tiles.append((u, s, e))
            first = s
            for _ in range(c - 1):
                s, e = self.step(r, st[2], NEG)
                tiles.append((u, s, e))
            st[1] = e
            st[3] -= c
            log.append((q.pos, u, first, e))
            if self.run_log is not None:
                self.run_log.append((q.pos, u, first, e))

    def _shape(self, bs: Sequence[int]) -> tuple[object, ...]:
        """What :meth:`_fields` leaves out: how many times each part holds, and the rest."""
        return (
            len(self.free),
            len(self.dram.free_cycles),
            self.dram.next_channel,
            tuple(tuple(x for _, x in self.win[b]) for b in bs),
        )

    def _fields(self, us: Sequence[int], bs: Sequence[int]) -> list[int]:
        """Every time of the state the units ``us`` and buffers ``bs`` touch, in one order."""
        out = [self.D, self.lls, *self.free, *self.dram.free_cycles]
        out.extend(self.unit_free[u] for u in us)
        for b in bs:
            out.append(self.acq[b])
            out.append(self.last_end[b])
            out.extend(e for e, _ in self.win[b])
        return out

    def _set_fields(self, vals: Sequence[Any], us: Sequence[int], bs: Sequence[int]) -> None:
        """The inverse of :meth:`_fields` (the shape unchanged); the values may be affine."""
        it = iter(vals)
        self.D = next(it)
        self.lls = next(it)
        self.free = [next(it) for _ in self.free]
        self.dram = DramState(
            tuple(next(it) for _ in self.dram.free_cycles), self.dram.next_channel
        )
        for u in us:
            self.unit_free[u] = next(it)
        for b in bs:
            self.acq[b] = next(it)
            self.last_end[b] = next(it)
            self.win[b] = [(next(it), x) for _, x in self.win[b]]

    def _drift(
        self,
        ops: list[tuple[QOp, QRun, int, list[int]]],
        us: Sequence[int],
        bs: Sequence[int],
        x: list[int],
        delta: list[int],
        span: int,
        per_rep: dict[int, int],
    ) -> int:
        """Play up to ``span + 1`` repetitions at once from state ``x`` (the current one), if
        the next ones keep changing it by ``delta`` (see :meth:`pattern`); return how many
        were played (0: none, the state unchanged)."""
        st = self.stats
        saved = (
            self.free,
            self.dram,
            [list(self.win[b]) for b in bs],
            list(st.busy),
            list(st.stall),
            st.dram,
            self.last_transfer_end,
            [(o[1], o[3]) for _, _, _, o in ops],
            self.timelines,
            self.run_log,
        )
        shape = self._shape(bs)
        r = Range(span)
        self._set_fields([Aff(a, d, r) for a, d in zip(x, delta, strict=True)], us, bs)
        self.timelines = self.run_log = None
        self.last_transfer_end = NEG
        tiles: list[tuple[int, int, int]] = []
        log: list[tuple[int, int, int, int]] = []
        dram_tl, dram_cap, chans = self.dram_timeline, self.dram_capture, self.dram_channels
        lane = _Pairs() if dram_tl is not None else None
        chan_pairs = None if chans is None else [_Pairs() for _ in chans]
        self.dram_timeline, self.dram_capture = lane, None
        self.dram_channels = chan_pairs  # type: ignore[assignment]
        try:
            self._rep(ops, tiles, log)
        except TypeError:  # a DRAM model that cannot time affine cycles
            self.dram_timeline, self.dram_capture = dram_tl, dram_cap
            self.dram_channels = chans
            self._undo_drift(saved, x, us, bs, ops)
            return 0
        self.dram_timeline, self.dram_capture = dram_tl, dram_cap
        self.dram_channels = chans
        got = self._fields(us, bs)
        if (
            r.last < DRIFT_MIN_REPS
            or self._shape(bs) != shape
            or [coefficients(v) for v in got] != [(a + d, d) for a, d in zip(x, delta, strict=True)]
        ):
            self._undo_drift(saved, x, us, bs, ops)
            return 0
        n = self._apply_drift(saved, got, tiles, log, r.last, bs, us, per_rep)
        if dram_tl is not None and lane is not None:  # every repetition's, in order
            lines = [(dram_tl, *coefficients(b), *coefficients(e)) for b, e in lane.pairs]
            if chans is not None and chan_pairs is not None:
                lines += [
                    (t, *coefficients(b), *coefficients(e))
                    for t, got in zip(chans, chan_pairs, strict=True)
                    for b, e in got.pairs
                ]
            for j in range(n):
                for tl, ba, bb, ea, eb in lines:
                    tl.add(ba + bb * j, ea + eb * j)
        return n

    def _undo_drift(
        self,
        saved: tuple[Any, ...],
        x: list[int],
        us: Sequence[int],
        bs: Sequence[int],
        ops: list[tuple[QOp, QRun, int, list[int]]],
    ) -> None:
        """Back to the state :meth:`_drift` started from."""
        free, dram, win, busy, stall, dram_busy, te, open_, timelines, run_log = saved
        self.free, self.dram = free, dram
        for b, w in zip(bs, win, strict=True):
            self.win[b] = w
        self._set_fields(x, us, bs)
        st = self.stats
        st.busy[:] = busy
        st.stall[:] = stall
        st.dram = dram_busy
        self.last_transfer_end = te
        for (_, _, _, o), (end, left) in zip(ops, open_, strict=True):
            o[1], o[3] = end, left
        self.timelines, self.run_log = timelines, run_log

    def _apply_drift(
        self,
        saved: tuple[Any, ...],
        got: list[Any],
        tiles: list[tuple[Any, Any, Any]],
        log: list[tuple[int, int, Any, Any]],
        span: int,
        bs: Sequence[int],
        us: Sequence[int],
        per_rep: dict[int, int],
    ) -> int:
        """Repetitions ``0 .. span`` of the affine one just played (see :meth:`_drift`)."""
        _, _, _, busy, stall, dram_busy, te0, _, timelines, run_log = saved
        n = span + 1
        tri = span * n // 2  # sum of j over the repetitions

        def summed(now: object, before: int) -> int:
            a, b = coefficients(now)
            return before + n * (a - before) + b * tri

        self._set_fields([value_at(v, span) for v in got], us, bs)
        st = self.stats
        for u in range(len(st.busy)):
            st.busy[u] = summed(st.busy[u], busy[u])
            st.stall[u] = summed(st.stall[u], stall[u])
        st.dram = summed(st.dram, dram_busy)
        te = self.last_transfer_end
        self.last_transfer_end = te0
        if isinstance(te, Aff) or te > NEG:  # the latest is at one end of the range
            last = max(value_at(te, 0), value_at(te, span))
            if last > te0:
                self.last_transfer_end = last
        self.timelines, self.run_log = timelines, run_log
        if timelines is not None:  # every repetition's tiles, in order (as played one by one)
            lines = [(timelines[u].add, *coefficients(s), *coefficients(e)) for u, s, e in tiles]
            for j in range(n):
                for add, sa, sb, ea, eb in lines:
                    add(sa + sb * j, ea + eb * j)
        if run_log is not None:
            entries = [(pos, u, *coefficients(s), *coefficients(e)) for pos, u, s, e in log]
            for j in range(n):
                run_log.extend(
                    (pos, u, sa + sb * j, ea + eb * j) for pos, u, sa, sb, ea, eb in entries
                )
        for pos, k in per_rep.items():
            o = self.open[pos]
            o[1] = value_at(o[1], span)
            o[3] -= span * k  # the affine repetition took one
        return n

    def _skip_pattern(
        self,
        rec: tuple[int, tuple[int, ...], tuple[int, ...], int, int, int, int, int, int],
        periods: int,
        us: Sequence[int],
        bs: Sequence[int],
        tiles: list[tuple[int, int, int]],
        log: list[tuple[int, int, int, int]],
        rep_te: list[int],
        dram_period: Sequence[tuple[int, int, int]],
    ) -> int:
        """Advance ``periods`` copies of the period since checkpoint ``rec`` (see
        :meth:`pattern`; ``dram_period``: the DRAM's captured intervals in the period); return the
        shift ``periods x d``."""
        d0, busy0, stall0, dram0, t0, l0, r0, _, _ = rec
        d = self.D - d0
        total = periods * d
        st = self.stats
        for k, u in enumerate(us):
            st.busy[u] += (st.busy[u] - busy0[k]) * periods
            st.stall[u] += (st.stall[u] - stall0[k]) * periods
        st.dram += (st.dram - dram0) * periods
        if self.timelines is not None:  # every copy's tiles, in order (as played one by one)
            tl = self.timelines
            period = tiles[t0:]
            for k in range(1, periods + 1):
                sh = k * d
                for u, s, e in period:
                    tl[u].add(s + sh, e + sh)
        if self.run_log is not None:
            period_log = log[l0:]
            for k in range(1, periods + 1):
                sh = k * d
                self.run_log.extend((pos, u, s + sh, e + sh) for pos, u, s, e in period_log)
        if self.dram_timeline is not None and dram_period and d > 0:
            self._repeat_dram(dram_period, d, periods)
        te = max(rep_te[r0:])  # the copies' transfers end ``k d`` after the period's
        if te > NEG and te + total > self.last_transfer_end:
            self.last_transfer_end = te + total
        self.D += total
        self.free = [f + total for f in self.free]
        self.dram = self.dram.shifted(total)
        self.lls += total
        for u in us:
            self.unit_free[u] += total
        for b in bs:
            self.win[b] = [(e + total, x) for e, x in self.win[b]]
            self.acq[b] += total
            self.last_end[b] += total
        return total

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
            st = self.open[q.pos] = [NEG, gate, gate_w, sum(r.count for r in q.runs), NEG]
        r = q.runs[run]
        # the first tile of a run waits for the op's dependencies (run 0) or its previous run
        gate = st[1] if first == 0 else NEG
        # the op's previous tile (its end: st[1]) writes back after this piece's first load
        prev = r if first > 0 else (q.runs[run - 1] if run > 0 else None)
        wb = prev.write_bytes if prev is not None else 0
        wready = st[1] + prev.write_ready if prev is not None and wb else NEG
        v = r.epi_unit
        vfree = self.unit_free[v] if r.epi_cycles else NEG
        s, e = self.run(r, st[2], gate, count, wb, wready)
        if st[0] == NEG:
            st[0] = s
        st[1] = e
        st[3] -= count
        if r.epi_cycles and self.unit_free[v] > st[4]:
            st[4] = self.unit_free[v]  # the run's last epilogue's end (they run in order)
        if self.run_log is not None:
            self.run_log.append((q.pos, r.unit, s, e))
            if r.epi_cycles:  # its epilogues, from the first tile's
                a = s + r.compute_cycles + r.write_ready
                self.run_log.append((q.pos, v, a if a > vfree else vfree, self.unit_free[v]))
        if st[3] > 0:
            return None
        del self.open[q.pos]
        if st[4] > e:
            e = st[4]
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
