"""What a simulation returns (frozen; no computation in constructors)."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, overload

import numpy as np

from tersim.hw.counts import ActionCounts
from tersim.workload.ops import OpKind, Phase

TIMELINE_BUCKETS = 512  # resolution of a unit's busy histogram
TIMELINE_MAX_INTERVALS = 2000  # exact intervals kept per unit (beyond: the histogram only)
PIECE_EDGES = 4  # a piece across more bucket edges is added to the histogram group by group
DRAM_LANE = "dram"  # the DRAM's lane: the cycles some transfer is moving (as in busy_cycles)
DRAM_CHANNEL_PREFIX = "dram.ch"  # channel c's lane is "dram.ch<c>" (a model with channels)


def dram_channel_lane(channel: int) -> str:
    """The timeline name of DRAM channel ``channel``'s lane (``dram.ch0``, ``dram.ch1``, ...)."""
    return f"{DRAM_CHANNEL_PREFIX}{channel}"


def dram_channel_of(lane: str) -> int | None:
    """The DRAM channel whose lane is named ``lane`` (None: not a channel's lane)."""
    tail = lane.removeprefix(DRAM_CHANNEL_PREFIX)
    return int(tail) if tail != lane and tail.isdigit() else None


def _busy_before(x: int, s: int, length: int, stride: int, count: int) -> int:
    """Busy cycles before cycle ``x`` of ``count`` intervals ``[s + i stride, s + i stride +
    length)`` (disjoint: ``length <= stride``)."""
    if x <= s:
        return 0
    if count == 1 or stride == 0:
        return min(x - s, length)
    k, r = divmod(x - s, stride)
    if k >= count:
        return count * length
    return k * length + min(r, length)


def merged_intervals(groups: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Every interval of strided groups ``(start, end, stride, count)``, sorted, touching ones
    merged."""
    return merge_sorted(
        sorted((s + k * stride, e + k * stride) for s, e, stride, c in groups for k in range(c))
    )


def merge_sorted(pts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Intervals sorted by start, with those that overlap or touch merged."""
    merged: list[tuple[int, int]] = []
    for a, b in pts:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True, eq=False)
class Piece:
    """Strided busy-interval groups ``(start, end, stride, count)`` stored compactly (a
    replayed segment's DRAM intervals: one piece, shared by every replay, each placed with its
    own shift), with their extent ``[lo, hi)``, busy cycles and interval count."""

    arr: np.ndarray  # one row per group: start, end, stride, count (int32 when they fit)
    lo: int
    hi: int
    busy: int
    count: int

    @staticmethod
    def of(groups: Sequence[Sequence[int]], shift: int = 0) -> Piece:
        """The groups, every time ``shift`` later."""
        arr = np.array(groups, dtype=np.int64).reshape(-1, 4)
        if not len(arr):
            return Piece(arr, 0, 0, 0, 0)
        arr[:, :2] += shift
        s, e, stride, c = arr.T
        if int(arr.min()) > -(1 << 31) and int(arr.max()) < 1 << 31:
            arr = arr.astype(np.int32)  # relative times of a segment: half the memory
        return Piece(
            arr,
            int(s.min()),
            int((e + (c - 1) * stride).max()),
            int(((e - s) * c).sum()),
            int(c.sum()),
        )

    def groups(self, shift: int = 0) -> list[tuple[int, int, int, int]]:
        return [(s + shift, e + shift, k, c) for s, e, k, c in self.arr.tolist()]

    def busy_before(self, x: int) -> int:
        """Busy cycles before cycle ``x`` (as :func:`_busy_before`, over every group)."""
        s, e, stride, c = self.arr.astype(np.int64).T
        length = e - s
        d = x - s
        single = (c == 1) | (stride == 0)
        k = d // np.where(single, 1, stride)
        r = d - k * np.where(single, 1, stride)
        many = np.where(k >= c, c * length, k * length + np.minimum(r, length))
        got = np.where(single, np.minimum(d, length), many)
        return int(np.where(d <= 0, 0, got).sum())


class PieceRun(NamedTuple):
    """``times`` copies of ``piece``, copy ``k`` placed ``shift + k * period`` later (``period
    > 0`` when ``times > 1``): the same segment replayed with the same relative entry state
    ``times`` times, one after another (one record, not one per copy). The copies' extents
    may overlap (a segment's work runs into the next's); their busy intervals do not."""

    piece: Piece
    shift: int
    period: int = 0
    times: int = 1

    @property
    def lo(self) -> int:
        return self.piece.lo + self.shift

    @property
    def hi(self) -> int:
        return self.piece.hi + self.shift + (self.times - 1) * self.period

    @property
    def busy(self) -> int:
        return self.piece.busy * self.times

    @property
    def intervals(self) -> int:
        return self.piece.count * self.times

    def copies_within(self, lo: int, hi: int) -> range:
        """The copies whose extent reaches into ``[lo, hi)``."""
        p = self.piece
        if self.times == 1:
            return range(1 if p.lo + self.shift < hi and p.hi + self.shift > lo else 0)
        first = max(0, (lo - p.hi - self.shift) // self.period + 1)
        last = min(self.times - 1, -(-(hi - p.lo - self.shift) // self.period) - 1)
        return range(first, last + 1)

    def groups(self) -> list[tuple[int, int, int, int]]:
        """Every copy's groups, copy by copy."""
        return self.groups_of(range(self.times))

    def groups_of(self, copies: range) -> list[tuple[int, int, int, int]]:
        out: list[tuple[int, int, int, int]] = []
        for k in copies:
            out.extend(self.piece.groups(self.shift + k * self.period))
        return out

    def busy_before(self, x: int) -> int:
        """Busy cycles before cycle ``x``: the copies wholly before it in full, those it cuts
        (:meth:`Piece.busy_before`) in part."""
        p = self.piece
        if self.times == 1:
            return p.busy_before(x - self.shift)
        whole = min(self.times, max(0, (x - p.hi - self.shift) // self.period + 1))
        reach = min(self.times, max(0, -(-(x - p.lo - self.shift) // self.period)))
        got = whole * p.busy
        for k in range(whole, reach):
            got += p.busy_before(x - self.shift - k * self.period)
        return got


def _add_busy(
    hist: list[int],
    width: int,
    groups: Sequence[Sequence[int]],
) -> None:
    """Add each group's busy cycles to the buckets of ``width`` cycles they fall in (exact)."""
    n = len(hist)
    for s, e, stride, c in groups:
        last_end = e + (c - 1) * stride
        b = s // width
        if b == (last_end - 1) // width:  # inside one bucket
            if b < n:
                hist[b] += (e - s) * c
            continue
        for b in range(s // width, min(n, -(-last_end // width))):
            lo, hi = b * width, (b + 1) * width
            hist[b] += _busy_before(hi, s, e - s, stride, c) - _busy_before(lo, s, e - s, stride, c)


@dataclass(frozen=True)
class UnitTimeline:
    """When one unit computed: its exact busy cycles, a histogram of them in equal buckets
    (each bucket's busy cycles, exact: no interval merging, no invented busy time) and, when
    there are few, the exact busy intervals (back-to-back tiles merged)."""

    busy_cycles: int
    bucket_cycles: int
    busy_per_bucket: tuple[int, ...]
    intervals: tuple[tuple[int, int], ...] | None  # None: more than TIMELINE_MAX_INTERVALS
    # the exact strided groups it was made from (in memory only, for zoomed-in views), and
    # pieces of them placed with a shift, each once or as copies (see :class:`PieceRun`)
    groups: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False, compare=False)
    pieces: tuple[PieceRun, ...] = field(default=(), repr=False, compare=False)

    @staticmethod
    def of(
        groups: Sequence[Sequence[int]],
        total_cycles: int,
        pieces: Sequence[PieceRun | tuple[Piece, int]] = (),
        intervals_count: int | None = None,
    ) -> UnitTimeline:
        """From strided interval groups ``(start, end, stride, count)`` and ``pieces`` (each a
        :class:`PieceRun`, or a ``(piece, shift)`` pair: one copy). The exact intervals are
        kept when the lane counts at most TIMELINE_MAX_INTERVALS of them: its groups' and
        pieces' intervals, or ``intervals_count`` when given (a lane built interval by
        interval counts two that touch as one when they arrive one after the other)."""
        width = max(1, -(-total_cycles // TIMELINE_BUCKETS))
        n = -(-total_cycles // width) if total_cycles else 0
        hist = [0] * n
        _add_busy(hist, width, groups)
        busy = sum((e - s) * c for s, e, _, c in groups)
        count = sum(c for _, _, _, c in groups)
        runs = tuple(p if isinstance(p, PieceRun) else PieceRun(*p) for p in pieces)
        for run in runs:
            busy += run.busy
            count += run.intervals
            b, last = run.lo // width, (run.hi - 1) // width
            if run.times == 1 and last - b > PIECE_EDGES:  # many bucket edges: group by group
                _add_busy(hist, width, run.groups())
                continue
            done = 0  # the run's busy cycles before bucket b
            for k in range(b, min(n, last + 1)):
                upto = run.busy if k == last else run.busy_before((k + 1) * width)
                hist[k] += upto - done
                done = upto
        kept = tuple((int(a), int(b), int(st), int(c)) for a, b, st, c in groups)
        intervals = None
        if (count if intervals_count is None else intervals_count) <= TIMELINE_MAX_INTERVALS:
            every = list(kept) + [g for run in runs for g in run.groups()]
            intervals = tuple(merged_intervals(every))
        return UnitTimeline(busy, width, tuple(hist), intervals, kept, runs)

    def groups_within(self, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
        """Its groups, and those of every piece's copies that reach into ``[lo, hi)`` (the
        others skipped)."""
        out = list(self.groups)
        for run in self.pieces:
            if run.lo < hi and run.hi > lo:
                out.extend(run.groups_of(run.copies_within(lo, hi)))
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "busy_cycles": self.busy_cycles,
            "bucket_cycles": self.bucket_cycles,
            "busy_per_bucket": list(self.busy_per_bucket),
            "intervals": None if self.intervals is None else [list(i) for i in self.intervals],
        }


class OpSpan(NamedTuple):
    """When one op computed: from its first tile's start to its last tile's end (cycles). A
    named tuple: a run holds one per op, so it must be cheap to make."""

    op_index: int
    name: str
    kind: OpKind
    unit: str
    layer: int
    phase: Phase
    step: int
    start_cycle: int
    end_cycle: int


def _same_sequence(a: Sequence[object], b: object) -> bool:
    """Sequence equality, element by element, with any sequence (not a string)."""
    if not isinstance(b, Sequence) or isinstance(b, str | bytes):
        return NotImplemented
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


class SegmentSpans:
    """A played segment's spans relative to its entry: per op of the segment (by its place),
    its first tile's start and last tile's end, with their least start and greatest end.
    Shared by every replay of the segment's outcome."""

    __slots__ = ("end", "hi", "lo", "start")

    def __init__(self, spans: Sequence[tuple[int, int]]) -> None:
        self.start = array("q", (a for a, _ in spans))
        self.end = array("q", (b for _, b in spans))
        self.lo = min(self.start, default=0)
        self.hi = max(self.end, default=0)

    def __len__(self) -> int:
        return len(self.start)


class SpanTable(Sequence[tuple[int, int]]):
    """Per op position, its first tile's start and last tile's end (cycles), held in blocks:
    a block is a segment's :class:`SegmentSpans` placed from op position ``first`` on, ``shift``
    later, ``count`` times (copy ``j``: the ops ``j * len(spans)`` further on, ``shift + j *
    period`` later). A segment played again and again with the same relative entry state
    (the copied layers of a pass) is one block, whatever its multiplicity. Positions no block
    covers are ``(0, 0)``. Equal, as a sequence, to the list of ``(start, end)`` pairs."""

    __slots__ = ("_blocks", "_firsts", "_n")

    def __init__(self, n: int) -> None:
        self._n = n
        self._firsts = array("q")
        self._blocks: list[list[object]] = []  # [first, spans, shift, period, count]

    @staticmethod
    def of(spans: Sequence[tuple[int, int]]) -> SpanTable:
        t = SpanTable(len(spans))
        if spans:
            t.place(0, SegmentSpans(spans), 0)
        return t

    def place(self, first: int, spans: SegmentSpans, shift: int) -> None:
        """Ops ``first, first + 1, ...`` have ``spans``, ``shift`` later; one more copy of the
        last block when it holds the same spans ending at ``first``, at a constant period."""
        if self._blocks:
            last = self._blocks[-1]
            f0, sp, s0, period, count = last
            assert isinstance(f0, int) and isinstance(s0, int)
            assert isinstance(period, int) and isinstance(count, int)
            if sp is spans and first == f0 + count * len(spans):
                if count == 1 and shift > s0:
                    last[3], last[4] = shift - s0, 2
                    return
                if count > 1 and shift == s0 + count * period:
                    last[4] = count + 1
                    return
        self._firsts.append(first)
        self._blocks.append([first, spans, shift, 0, 1])

    def __len__(self) -> int:
        return self._n

    def _block(self, pos: int) -> tuple[SegmentSpans, int, int] | None:
        """Position ``pos``'s spans, place in them and shift (None: no block covers it)."""
        b = bisect.bisect_right(self._firsts, pos) - 1
        if b < 0:
            return None
        first, spans, shift, period, count = self._blocks[b]
        assert isinstance(spans, SegmentSpans)
        j, k = divmod(pos - first, len(spans))  # type: ignore[operator]
        if j >= count:  # type: ignore[operator]
            return None
        return spans, k, shift + j * period  # type: ignore[operator]

    @overload
    def __getitem__(self, pos: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, pos: slice) -> list[tuple[int, int]]: ...

    def __getitem__(self, pos: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(pos, slice):
            return [self[k] for k in range(*pos.indices(self._n))]
        if pos < 0:
            pos += self._n
        if not 0 <= pos < self._n:
            raise IndexError("span position out of range")
        got = self._block(pos)
        if got is None:
            return 0, 0
        spans, k, shift = got
        return spans.start[k] + shift, spans.end[k] + shift

    def __iter__(self) -> Iterator[tuple[int, int]]:
        at = 0
        for first, spans, shift, period, count in self._blocks:
            assert isinstance(first, int) and isinstance(spans, SegmentSpans)
            assert isinstance(shift, int) and isinstance(period, int) and isinstance(count, int)
            while at < first:
                yield 0, 0
                at += 1
            for j in range(count):
                d = shift + j * period
                for a, b in zip(spans.start, spans.end, strict=True):
                    yield a + d, b + d
            at = first + count * len(spans)
        while at < self._n:
            yield 0, 0
            at += 1

    def extent(self, a: int, b: int) -> tuple[int, int]:
        """The least start and greatest end of positions ``[a, b)`` (``a < b``): from a
        block's bounds when they are one whole copy of it."""
        got = self._block(a)
        if got is not None:
            spans, k, shift = got
            if k == 0 and b - a == len(spans):
                return spans.lo + shift, spans.hi + shift
        pairs = [self[i] for i in range(a, b)]
        return min(p[0] for p in pairs), max(p[1] for p in pairs)

    def max_end(self) -> int:
        """The greatest end (0 for none)."""
        out = 0
        for _, spans, shift, period, count in self._blocks:
            assert isinstance(spans, SegmentSpans)
            if len(spans):
                out = max(out, spans.hi + shift + (count - 1) * period)  # type: ignore[operator]
        return out

    def __eq__(self, other: object) -> bool:
        return _same_sequence(self, other)

    def __hash__(self) -> int:
        return hash(len(self))


class SpanOp(Protocol):
    """What a span takes from the op's schedule (``tersim.mapping.schedule.OpSchedule``)."""

    @property
    def op_index(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> OpKind: ...

    @property
    def layer(self) -> int: ...

    @property
    def phase(self) -> Phase: ...

    @property
    def step(self) -> int: ...

    @property
    def unit(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SpanGroup:
    """Consecutive ops ``[first, end)`` of one pass and one part of the model (``layer_N``,
    ``embedding`` or ``final_norm_and_head``): what the per-phase and per-layer cycles are
    taken over. With ``times > 1``, ``times`` such groups one after another, copy ``j`` the
    ops ``j * (end - first)`` further on, of decoder layer ``layer + j`` (``part`` names copy
    0's)."""

    first: int
    end: int
    phase: Phase
    step: int
    part: str
    times: int = 1
    layer: int = -1

    def copies(self) -> Iterator[tuple[int, int, str]]:
        """Each copy's ops ``[first, end)`` and part."""
        yield self.first, self.end, self.part
        n = self.end - self.first
        for j in range(1, self.times):
            yield self.first + j * n, self.end + j * n, f"layer_{self.layer + j}"


def span_part(layer: int, kind: OpKind) -> str:
    """The part of the model an op belongs to, as ``layer_cycles`` names it."""
    if layer >= 0:
        return f"layer_{layer}"
    return "embedding" if kind is OpKind.EMBEDDING else "final_norm_and_head"


class OpSpans(Sequence[OpSpan]):
    """Every op's :class:`OpSpan`, built when indexed or iterated from the schedule's ops and
    the engine's :class:`SpanTable` (so a result holds 16 bytes per op, not a named tuple).
    ``groups`` (when the schedule is held by segments) cut the ops into
    :class:`SpanGroup` s, so the per-phase and per-layer cycles are taken group by group.
    Equal, as a sequence, to the tuple of its spans."""

    __slots__ = ("_groups", "_ops", "_table")

    def __init__(
        self,
        ops: Sequence[SpanOp],
        table: SpanTable,
        groups: tuple[SpanGroup, ...] | None = None,
    ) -> None:
        self._ops, self._table, self._groups = ops, table, groups

    def __len__(self) -> int:
        return len(self._table)

    @staticmethod
    def _span(op: SpanOp, a: int, b: int) -> OpSpan:
        return OpSpan(op.op_index, op.name, op.kind, op.unit, op.layer, op.phase, op.step, a, b)

    @overload
    def __getitem__(self, i: int) -> OpSpan: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[OpSpan, ...]: ...

    def __getitem__(self, i: int | slice) -> OpSpan | tuple[OpSpan, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("span index out of range")
        return self._span(self._ops[i], *self._table[i])

    def __iter__(self) -> Iterator[OpSpan]:
        for op, (a, b) in zip(self._ops, self._table, strict=True):
            yield self._span(op, a, b)

    def __eq__(self, other: object) -> bool:
        return _same_sequence(self, other)

    def __hash__(self) -> int:
        return hash(len(self))

    def extents(self) -> Iterator[tuple[Phase, int, str, int, int]]:
        """(phase, step, part, first start, last end) of each group of ops, in program order
        (without groups: of each op)."""
        table = self._table
        if self._groups is None:
            for op, (a, b) in zip(self._ops, table, strict=True):
                yield op.phase, op.step, span_part(op.layer, op.kind), a, b
            return
        for g in self._groups:
            for first, end, part in g.copies():
                yield g.phase, g.step, part, *table.extent(first, end)


@dataclass(frozen=True)
class SimResult:
    total_cycles: int
    clock_hz: float
    busy_cycles: dict[str, int]  # by unit name (array, vector, ...), and dram
    stall_cycles: dict[str, int]  # compute units waiting for DRAM data
    spans: Sequence[OpSpan]  # per op, in program order (an OpSpans from the engine)
    counts: ActionCounts
    fidelity: str
    # per unit, the DRAM's ("dram") and, when the DRAM model keeps several channels, each
    # channel's ("dram.ch0", ...; their union is the DRAM's lane)
    timelines: dict[str, UnitTimeline] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.total_cycles / self.clock_hz

    def _extents(self) -> Iterator[tuple[Phase, int, str, int, int]]:
        if isinstance(self.spans, OpSpans):
            yield from self.spans.extents()
            return
        for s in self.spans:
            yield s.phase, s.step, span_part(s.layer, s.kind), s.start_cycle, s.end_cycle

    def phase_cycles(self, phase: Phase) -> int:
        """Cycles from the phase's first op start to its last op end (0 if absent)."""
        lo = hi = None
        for ph, _, _, a, b in self._extents():
            if ph == phase:
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
        return 0 if lo is None or hi is None else hi - lo

    def layer_cycles(self) -> dict[tuple[Phase, int, str], int]:
        """(phase, step, part) -> cycles spanned; parts are ``layer_N``, ``embedding`` and
        ``final_norm_and_head``."""
        spans: dict[tuple[Phase, int, str], tuple[int, int]] = {}
        for phase, step, part, a, b in self._extents():
            key = (phase, step, part)
            lo, hi = spans.get(key, (a, b))
            spans[key] = (min(lo, a), max(hi, b))
        return {k: hi - lo for k, (lo, hi) in spans.items()}

    def layer_cycles_by_phase(self) -> dict[Phase, dict[str, int]]:
        """Per phase, per part: :meth:`layer_cycles` summed over the steps, taken pass by pass
        (a pass's ops are consecutive: each pass's spans are summed when the next begins, so
        the passes x parts are never held at once; a pass met again later: from
        :meth:`layer_cycles`)."""
        out: dict[Phase, dict[str, int]] = {}
        done: set[tuple[Phase, int]] = set()
        key: tuple[Phase, int] | None = None
        cur: dict[str, tuple[int, int]] = {}

        def flush() -> None:
            if key is not None:
                bucket = out.setdefault(key[0], {})
                for part, (lo, hi) in cur.items():
                    bucket[part] = bucket.get(part, 0) + hi - lo

        for phase, step, part, a, b in self._extents():
            if (phase, step) != key:
                if (phase, step) in done:
                    return _summed(self.layer_cycles())
                flush()
                if key is not None:
                    done.add(key)
                key, cur = (phase, step), {}
            lo, hi = cur.get(part, (a, b))
            cur[part] = (min(lo, a), max(hi, b))
        flush()
        return out

    def dram_channels(self) -> list[UnitTimeline]:
        """Each DRAM channel's lane, by channel (empty: a model without several channels)."""
        got = {c: t for n, t in self.timelines.items() if (c := dram_channel_of(n)) is not None}
        return [got[c] for c in sorted(got)]

    def timeline_json(self) -> dict[str, dict[str, object]]:
        """Every lane's busy timeline (see :class:`UnitTimeline`), for the record: the units',
        ``dram`` and, with several DRAM channels, ``dram.ch0`` ... (channel order)."""
        return {u: self.timelines[u].to_json() for u in sorted(self.timelines, key=lane_order)}


def _summed(cycles: dict[tuple[Phase, int, str], int]) -> dict[Phase, dict[str, int]]:
    out: dict[Phase, dict[str, int]] = {}
    for (phase, _step, part), c in cycles.items():
        bucket = out.setdefault(phase, {})
        bucket[part] = bucket.get(part, 0) + c
    return out


def lane_order(name: str) -> tuple[str, int]:
    """Sort key of timeline lanes: by name, each DRAM channel's right after the DRAM's, in
    channel order."""
    c = dram_channel_of(name)
    return (name, -1) if c is None else (DRAM_LANE, c)
