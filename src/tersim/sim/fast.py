"""``fast`` fidelity: the recurrence of :mod:`tersim.sim.core`, reusing repeated layers.

The queue is cut into segments (one layer of one pass, as planned by the mapping). A segment's
outcome depends only on its ops (runs, write-backs, dependencies, relative to the segment) and
on the machine state when it starts, relative to the last dispatch cycle ``D``: the parts of it
the segment can touch (its units' last computes and its buffers, every DMA engine, pending
writes, the DRAM state) and the completion times of the earlier ops it depends on. The update
is shift-equivariant, so a segment met again with the same relative key has the same relative
outcome: it is replayed (stats, spans, busy intervals, exit state) instead of re-simulated.
Decode steps whose layers match, and the layers of one pass, mostly replay.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tersim.sim.core import (
    NEG,
    PATTERN_MAX_TILES,
    Machine,
    PieceTimeline,
    QItem,
    QOp,
    QRun,
    Stats,
    Timeline,
    channel_timelines,
    periodic_stretches,
)
from tersim.sim.result import Piece, SegmentSpans, SpanTable
from tersim.sim.timing import MemoryTiming

Progress = Callable[[int, int], None]
Enc = tuple[str, int]  # how a segment refers to an op: ("s", in segment) | ("x", dependency)
#                        | ("e", pending at entry)


@dataclass
class EngineRun:
    """What an engine measured: per op position (first start, last end), stats, the cycle its
    last activity ended, every unit's busy intervals, the DRAM's and (a model with several
    channels) each DRAM channel's."""

    spans: Sequence[tuple[int, int]] | SpanTable
    stats: Stats
    end_cycle: int
    timelines: list[Timeline]
    dram: Timeline
    channels: list[Timeline] = field(default_factory=list)

    @staticmethod
    def of(m: Machine, spans: Sequence[tuple[int, int]] | SpanTable, end_cycle: int) -> EngineRun:
        """What machine ``m`` (recording, flushed) measured, with ``spans``, ending at
        ``end_cycle``."""
        assert m.timelines is not None and m.dram_timeline is not None
        chans = [] if m.dram_channels is None else channel_timelines(m.dram_channels)
        return EngineRun(spans, m.stats, end_cycle, m.timelines, m.dram_timeline, chans)


@dataclass(frozen=True)
class _Outcome:
    """A segment's effect, relative to its entry ``D``."""

    D: int
    free: tuple[int, ...]
    pending: tuple[tuple[int, Enc, int], ...]
    dram: object
    lls: int
    unit_free: tuple[int, ...]  # of the segment's units
    win: tuple[tuple[tuple[int, int], ...], ...]  # of its buffers
    acq: tuple[int, ...]
    last_end: tuple[int, ...]
    busy: tuple[int, ...]  # per unit (all), deltas
    stall: tuple[int, ...]
    dram_busy: int
    spans: SegmentSpans  # per op of the segment, by its place
    wends: tuple[tuple[Enc, int], ...]  # write-backs applied during the segment
    transfer_end: int
    unit_lanes: tuple[Piece, ...]  # per unit (all): its busy intervals
    dram_lane: Piece  # the DRAM's busy intervals
    channel_lanes: tuple[Piece, ...]  # each DRAM channel's (none: channels not recorded)
    runs: tuple[tuple[int, int, int, int], ...]  # (op in segment, unit, start, end) per run,
    #                                              when the machine logs runs


@dataclass(frozen=True)
class Template:
    """A segment as the engine sees it, relative to its first op ``p0``: per op its offset,
    runs, write-back bytes and dependencies (``d >= 0``: the op at offset ``d``; ``d < 0``: the
    segment's external dependency ``-1 - d``); its queue entries (op offset, run, first,
    count); the units and buffers it touches; its stretches of entries repeating a pattern
    (:func:`tersim.sim.core.periodic_stretches`: start, period, repetitions)."""

    ops: tuple[tuple[int, tuple[QRun, ...], int, tuple[int, ...]], ...]
    items: tuple[tuple[int, int, int, int], ...]
    units: tuple[int, ...]
    bufs: tuple[int, ...]
    stretches: tuple[tuple[int, int, int], ...] = ()

    @staticmethod
    def of(
        ops: Sequence[tuple[int, tuple[QRun, ...], int, tuple[int, ...]]],
        items: Sequence[tuple[int, int, int, int]],
    ) -> Template:
        us = sorted(
            {u for _, runs, _, _ in ops for r in runs for u in (r.unit, r.epi_unit) if u >= 0}
        )
        bs = sorted({r.buf for _, runs, _, _ in ops for r in runs})
        return Template(tuple(ops), tuple(items), tuple(us), tuple(bs), _stretches(ops, items))

    @staticmethod
    def from_items(seg: Sequence[QItem]) -> tuple[Template, int, list[int]]:
        """The template of queue entries ``seg``, its ``p0`` and external dependencies."""
        ops = {it.op.pos: it.op for it in seg}
        p0 = min(ops)
        ext = sorted({d for q in ops.values() for d in q.deps if d not in ops})
        xidx = {d: -1 - k for k, d in enumerate(ext)}
        tops = [
            (
                q.pos - p0,
                q.runs,
                q.write_bytes,
                tuple(d - p0 if d in ops else xidx[d] for d in q.deps),
            )
            for q in ops.values()
        ]
        items = [(it.op.pos - p0, it.run, it.first, it.count) for it in seg]
        return Template.of(tops, items), p0, ext

    def materialize(self, p0: int, ext: Sequence[int]) -> list[QItem]:
        """The queue entries of this template placed at ``p0``."""
        qops = {
            k: QOp(p0 + k, runs, w, tuple(p0 + d if d >= 0 else ext[-1 - d] for d in deps))
            for k, runs, w, deps in self.ops
        }
        return [QItem(qops[k], r, f, c) for k, r, f, c in self.items]


def _stretches(
    ops: Sequence[tuple[int, tuple[QRun, ...], int, tuple[int, ...]]],
    items: Sequence[tuple[int, int, int, int]],
) -> tuple[tuple[int, int, int], ...]:
    """The stretches :meth:`Machine.pattern` may play: an entry is eligible when its op is
    open and not gated (a later piece of a run, or a later run on its previous run's unit), it
    is not the op's last tile entry, no tile of it writes back or follows one that does and
    none has a fused epilogue; its signature is (op, run, tiles)."""
    runs_of = {k: runs for k, runs, _, _ in ops}
    last: dict[int, int] = {}
    for i, (k, run, _, _) in enumerate(items):
        if run >= 0:
            last[k] = i
    sigs: list[object | None] = []
    for i, (k, run, first, count) in enumerate(items):
        runs = runs_of[k]
        free = first > 0 or (run > 0 and runs[run - 1].unit == runs[run].unit)
        ok = run >= 0 and free and count <= PATTERN_MAX_TILES and last[k] != i
        # tiles that write back (or follow one that does) are played entry by entry
        if ok and (runs[run].write_bytes or (first == 0 and runs[run - 1].write_bytes)):
            ok = False
        if ok and runs[run].epi_cycles:  # fused epilogues too (a second unit per tile)
            ok = False
        sigs.append((k, runs[run], count) if ok else None)
    return periodic_stretches(sigs)


def _segment_spans(
    closed: Sequence[tuple[int, tuple[int, int]]], p0: int, ref: int
) -> SegmentSpans:
    """The spans of a segment's ops (each closed once: ``(position, (start, end))``) relative
    to ``p0`` and ``ref``, by place in the segment."""
    by = sorted((pos - p0, a - ref, b - ref) for pos, (a, b) in closed)
    assert [k for k, _, _ in by] == list(range(len(by))), "a segment's ops are consecutive"
    return SegmentSpans([(a, b) for _, a, b in by])


class UnitLane(PieceTimeline):
    """A unit's lane in a run played segment by segment: the replayed segments' busy
    intervals kept as pieces (:class:`PieceTimeline`)."""

    def count_upto(self, limit: int) -> int:
        """How many intervals the lane holds built interval by interval (``Timeline.add``:
        two that touch, arriving one after the other, are one), the pieces added in the order
        they were placed; any number above ``limit`` once the count passes it (it never
        falls as intervals arrive, and only the last interval is looked at: a short walk)."""
        tl = Timeline()
        tl.groups = [list(g) for g in self.groups]
        done = sum(g[3] for g in tl.groups[:-1])
        del tl.groups[:-1]
        for run in self.placed:
            for k in range(run.times):
                tl.extend(run.piece.groups(), run.shift + k * run.period)
                done += sum(g[3] for g in tl.groups[:-1])
                del tl.groups[:-1]
                if done + tl.groups[-1][3] > limit:
                    return done + tl.groups[-1][3]
        return done + sum(g[3] for g in tl.groups)


def lane_intervals_count(lane: Timeline, limit: int) -> int | None:
    """A lane's interval count as :class:`UnitTimeline` compares it with ``limit`` (see
    :meth:`UnitLane.count_upto`; None: as its groups and pieces hold them)."""
    return lane.count_upto(limit) if isinstance(lane, UnitLane) else None


class Segments:
    """Plays segments on a machine, memoizing their relative outcomes."""

    def __init__(self, m: Machine, units: int) -> None:
        self.m = m
        self.units = units
        self.memo: dict[tuple[object, ...], _Outcome] = {}
        self.hits = 0
        self.log_runs = m.run_log is not None  # the caller reads every run (simpy's units)

    def play(self, seg: Sequence[QItem], spans: SpanTable) -> None:
        """Play the queue entries ``seg`` (every entry of the ops they touch)."""
        t, p0, ext = Template.from_items(seg)
        self.play_template(t, t, p0, ext, spans)

    def play_template(
        self,
        tkey: object,
        t: Template,
        p0: int,
        ext: Sequence[int],
        spans: SpanTable,
    ) -> None:
        """Play template ``t`` (identified by ``tkey``: equal keys, equal templates) placed at
        op position ``p0`` with external dependencies ``ext``."""
        m = self.m
        us, bs = t.units, t.bufs
        xidx = {d: k for k, d in enumerate(ext)}
        ref = m.D
        pend = sorted(m.pending)
        penc: list[Enc] = [
            ("x", xidx[p]) if p in xidx else ("e", j) for j, (_, p, _) in enumerate(pend)
        ]
        d = ref
        key = (
            tkey,
            tuple(sorted((f if f > d else d) - ref for f in m.free)),
            tuple((s - ref, e, b) for (s, _, b), e in zip(pend, penc, strict=True)),
            m.dram.shifted(-ref),
            (m.lls if m.lls > d else d) - ref,
            tuple(m.unit_free[u] - ref for u in us),
            tuple(self._window(b, ref) for b in bs),
            tuple((m.acq[b] if m.acq[b] > d else d) - ref for b in bs),
            tuple((m.last_end[b] if m.last_end[b] > d else d) - ref for b in bs),
            tuple((m.ends[x] - ref, m.wends[x] - ref if x in m.wends else None) for x in ext),
        )
        out = self.memo.get(key)
        if out is None:
            seg = t.materialize(p0, ext)
            inside = {p0 + k for k, _, _, _ in t.ops}
            out = self._simulate(seg, t.stretches, p0, inside, xidx, pend, list(us), list(bs), ref)
            self.memo[key] = out
        else:
            self.hits += 1
        self._replay(out, p0, list(ext), pend, list(us), list(bs), ref, spans)

    def _window(self, b: int, ref: int) -> tuple[tuple[int, int], ...]:
        m = self.m
        floor = max(m.acq[b], m.D)
        return tuple((e - ref, x) for e, x in m.win[b] if e > floor)

    def _simulate(
        self,
        seg: Sequence[QItem],
        stretches: Sequence[tuple[int, int, int]],
        p0: int,
        inside: set[int],
        xidx: dict[int, int],
        pend: list[tuple[int, int, int]],
        us: list[int],
        bs: list[int],
        ref: int,
    ) -> _Outcome:
        m = self.m
        before_busy, before_stall, before_dram = (
            list(m.stats.busy),
            list(m.stats.stall),
            (m.stats.dram),
        )
        saved_tl = m.timelines
        m.timelines = [Timeline() for _ in range(self.units)]
        saved_dtl = m.dram_timeline
        dtl = m.dram_timeline = Timeline()
        saved_ch = m.dram_channels
        chans = m.dram_channels = None if saved_ch is None else [Timeline() for _ in saved_ch]
        saved_te = m.last_transfer_end
        m.last_transfer_end = NEG
        wlog: list[tuple[int, int]] = []
        m.wlog = wlog
        saved_log = m.run_log
        rlog: list[tuple[int, int, int, int]] = []
        if self.log_runs:
            m.run_log = rlog
        entry_pos = {p: j for j, (_, p, _) in enumerate(pend)}

        def enc(pos: int) -> Enc:
            if pos in inside:
                return ("s", pos - p0)
            if pos in xidx:
                return ("x", xidx[pos])
            return ("e", entry_pos[pos])

        closed = []
        i = 0
        for a, period, reps in stretches:
            for it in seg[i:a]:
                span = m.item(it.op, it.run, it.first, it.count)
                if span is not None:
                    closed.append((it.op.pos, span))
            m.pattern(seg[a : a + period], reps)
            i = a + period * reps
        for it in seg[i:]:
            span = m.item(it.op, it.run, it.first, it.count)
            if span is not None:
                closed.append((it.op.pos, span))
        assert not m.open, "a segment holds every queue entry of its ops"
        m.wlog = None
        m.run_log = saved_log
        out = _Outcome(
            D=m.D - ref,
            free=tuple(f - ref for f in m.free),
            pending=tuple((s - ref, enc(p), b) for s, p, b in m.pending),
            dram=m.dram.shifted(-ref),
            lls=m.lls - ref,
            unit_free=tuple(m.unit_free[u] - ref for u in us),
            win=tuple(tuple((e - ref, x) for e, x in m.win[b]) for b in bs),
            acq=tuple(m.acq[b] - ref for b in bs),
            last_end=tuple(m.last_end[b] - ref for b in bs),
            busy=tuple(a - b for a, b in zip(m.stats.busy, before_busy, strict=True)),
            stall=tuple(a - b for a, b in zip(m.stats.stall, before_stall, strict=True)),
            dram_busy=m.stats.dram - before_dram,
            spans=_segment_spans(closed, p0, ref),
            wends=tuple((enc(p), e - ref) for p, e in wlog),
            transfer_end=m.last_transfer_end - ref if m.last_transfer_end > NEG else NEG,
            unit_lanes=tuple(Piece.of(tl.groups, -ref) for tl in m.timelines),
            dram_lane=Piece.of(dtl.groups, -ref),
            channel_lanes=() if chans is None else tuple(Piece.of(t.groups, -ref) for t in chans),
            runs=tuple((pos - p0, u, a - ref, b - ref) for pos, u, a, b in rlog),
        )
        # undo what replay will redo, so that both paths share one replay
        m.stats.busy, m.stats.stall, m.stats.dram = before_busy, before_stall, before_dram
        m.timelines = saved_tl
        m.dram_timeline = saved_dtl
        m.dram_channels = saved_ch
        m.last_transfer_end = saved_te
        return out

    def _replay(
        self,
        o: _Outcome,
        p0: int,
        ext: list[int],
        pend: list[tuple[int, int, int]],
        us: list[int],
        bs: list[int],
        ref: int,
        spans: SpanTable,
    ) -> None:
        m = self.m

        def dec(e: Enc) -> int:
            kind, k = e
            if kind == "s":
                return p0 + k
            if kind == "x":
                return ext[k]
            return pend[k][1]

        m.D = o.D + ref
        m.free = [f + ref for f in o.free]
        m.pending = [(s + ref, dec(e), b) for s, e, b in o.pending]
        m.dram = o.dram.shifted(ref)  # type: ignore[attr-defined]
        m.lls = o.lls + ref
        for u, f in zip(us, o.unit_free, strict=True):
            m.unit_free[u] = f + ref
        for k, b in enumerate(bs):
            m.win[b] = [(e + ref, x) for e, x in o.win[k]]
            m.acq[b] = o.acq[k] + ref
            m.last_end[b] = o.last_end[k] + ref
        st = m.stats
        for u in range(self.units):
            st.busy[u] += o.busy[u]
            st.stall[u] += o.stall[u]
        st.dram += o.dram_busy
        spans.place(p0, o.spans, ref)
        ends = m.ends
        for k, b in enumerate(o.spans.end, p0):
            ends[k] = b + ref
        for e, w in o.wends:
            m.wends[dec(e)] = w + ref
        if o.transfer_end > NEG and o.transfer_end + ref > m.last_transfer_end:
            m.last_transfer_end = o.transfer_end + ref
        if m.run_log is not None:
            m.run_log.extend((p0 + k, u, a + ref, b + ref) for k, u, a, b in o.runs)
        if m.timelines is not None:
            for tl, piece in zip(m.timelines, o.unit_lanes, strict=True):
                tl.place(piece, ref)
        if m.dram_timeline is not None:
            m.dram_timeline.place(o.dram_lane, ref)
        if m.dram_channels is not None:
            for lane, piece in zip(m.dram_channels, o.channel_lanes, strict=True):
                lane.place(piece, ref)


def segment_starts(keys: Sequence[object]) -> list[tuple[int, int]]:
    """(start, end) of the runs of equal consecutive ``keys``."""
    out = []
    a = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[a]:
            out.append((a, i))
            a = i
    return out


@dataclass(frozen=True)
class Placed:
    """A segment of the queue: template ``t`` (identified by ``key``) at op position ``p0``,
    with its external dependencies ``ext`` (positions, ascending); ``done``: the ops (or queue
    entries) finished once it has played, for progress reports. With ``times > 1``, ``times``
    such segments one after another (the copied layers of a pass): copy ``j`` at ``p0 + j n``
    with every external dependency ``j n`` later and ``j n`` more done (``n``: the template's
    ops)."""

    key: object
    t: Template
    p0: int
    ext: tuple[int, ...]
    done: int
    times: int = 1

    def copies(self) -> Iterator[tuple[int, tuple[int, ...], int]]:
        """Each copy's first op position, external dependencies and ``done``."""
        yield self.p0, self.ext, self.done
        n = len(self.t.ops)
        for j in range(1, self.times):
            d = j * n
            yield self.p0 + d, tuple(e + d for e in self.ext), self.done + d


def placed_items(
    items: Sequence[QItem], segments: Sequence[tuple[int, int]] | None = None
) -> list[Placed]:
    """Queue entries cut at ``segments`` ((start, end) in ``items``; None: one segment)."""
    bounds = segments if segments is not None else ([(0, len(items))] if items else [])
    out = []
    for a, b in bounds:
        t, p0, ext = Template.from_items(items[a:b])
        out.append(Placed(t, t, p0, tuple(ext), b))
    return out


def _dependency_floors(segments: Sequence[Placed]) -> array[int]:
    """Per segment index ``j``, the least op position segments ``j, j + 1, ...`` depend on
    from outside themselves or start at (the last entry: no segment left, no limit; a
    segment's later copies depend on later positions than its first)."""
    floor = array("q", bytes(8 * (len(segments) + 1)))
    low = 1 << 62
    floor[len(segments)] = low
    for j in range(len(segments) - 1, -1, -1):
        seg = segments[j]
        low = min(low, seg.p0, *seg.ext) if seg.ext else min(low, seg.p0)
        floor[j] = low
    return floor


def played_copies(
    segments: Sequence[Placed],
) -> Iterator[tuple[Placed, int, tuple[int, ...], int, int]]:
    """Every segment copy in queue order: its segment, first op position, external
    dependencies, ``done`` and the least op position the copies after it depend on or start
    at (:func:`_dependency_floors`)."""
    floor = _dependency_floors(segments)
    for i, seg in enumerate(segments):
        n = len(seg.t.ops)
        low_ext = min(seg.ext, default=seg.p0)
        for j, (p0, ext, done) in enumerate(seg.copies()):
            after = floor[i + 1]
            if j + 1 < seg.times:
                d = (j + 1) * n
                after = min(after, seg.p0 + d, low_ext + d)
            yield seg, p0, ext, done, after


def _forget_before(m: Machine, floor: int) -> None:
    """Drop the compute and write-back ends of ops before ``floor`` (no later segment reads
    them; a write still pending keeps its own record until applied)."""
    if len(m.ends) > 64:
        for d in (m.ends, m.wends):
            for pos in [p for p in d if p < floor]:
                del d[pos]


def run_fast(
    items: Sequence[QItem],
    n_pos: int,
    units: int,
    mem: MemoryTiming,
    progress: Progress | None,
    segments: Sequence[tuple[int, int]] | None = None,
) -> EngineRun:
    """Play the DMA queue ``items``; ``segments``: (start, end) in the queue of each segment
    (every entry of its ops; None: the whole queue as one segment, nothing reused)."""
    return run_placed(placed_items(items, segments), n_pos, units, mem, progress, len(items))


def run_placed(
    segments: Sequence[Placed],
    n_pos: int,
    units: int,
    mem: MemoryTiming,
    progress: Progress | None,
    total: int,
) -> EngineRun:
    """Play the queue segment by segment (``total``: what ``done`` counts up to). The ops'
    compute and write-back ends are kept only while a later segment may depend on them (its
    external dependencies are at or after the least of theirs), so the machine holds a few
    segments' ops, not every op's."""
    m = Machine.new(mem, units, record=True)
    m.timelines = [UnitLane() for _ in range(units)]
    spans = SpanTable(n_pos)
    player = Segments(m, units)
    for seg, p0, ext, done, after in played_copies(segments):
        player.play_template(seg.key, seg.t, p0, ext, spans)
        _forget_before(m, after)
        if progress is not None:
            progress(done, total)
    m.flush()
    return EngineRun.of(m, spans, m.end_cycle)
