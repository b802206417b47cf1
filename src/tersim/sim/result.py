"""What a simulation returns (frozen; no computation in constructors)."""

from __future__ import annotations

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
    # pieces of them placed with a shift (see :class:`Piece`)
    groups: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False, compare=False)
    pieces: tuple[tuple[Piece, int], ...] = field(default=(), repr=False, compare=False)

    @staticmethod
    def of(
        groups: Sequence[Sequence[int]],
        total_cycles: int,
        pieces: Sequence[tuple[Piece, int]] = (),
    ) -> UnitTimeline:
        """From strided interval groups ``(start, end, stride, count)`` and ``pieces`` (each
        placed at its shift)."""
        width = max(1, -(-total_cycles // TIMELINE_BUCKETS))
        n = -(-total_cycles // width) if total_cycles else 0
        hist = [0] * n
        _add_busy(hist, width, groups)
        busy = sum((e - s) * c for s, e, _, c in groups)
        count = sum(c for _, _, _, c in groups)
        for p, shift in pieces:
            busy += p.busy
            count += p.count
            b, last = (p.lo + shift) // width, (p.hi + shift - 1) // width
            if last - b > PIECE_EDGES:  # many bucket edges inside: group by group
                _add_busy(hist, width, p.groups(shift))
                continue
            done = 0  # the piece's busy cycles before bucket b
            for k in range(b, min(n, last + 1)):
                upto = p.busy if k == last else p.busy_before((k + 1) * width - shift)
                hist[k] += upto - done
                done = upto
        kept = tuple((int(a), int(b), int(st), int(c)) for a, b, st, c in groups)
        intervals = None
        if count <= TIMELINE_MAX_INTERVALS:
            every = list(kept) + [g for p, shift in pieces for g in p.groups(shift)]
            intervals = tuple(merged_intervals(every))
        return UnitTimeline(busy, width, tuple(hist), intervals, kept, tuple(pieces))

    def groups_within(self, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
        """Its groups, and those of every piece that reaches into ``[lo, hi)`` (a piece
        wholly outside is skipped)."""
        out = list(self.groups)
        for p, shift in self.pieces:
            if p.lo + shift < hi and p.hi + shift > lo:
                out.extend(p.groups(shift))
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


class SpanTable(Sequence[tuple[int, int]]):
    """Per op position, its first tile's start and last tile's end (cycles), in two arrays of
    8-byte integers: what an engine fills (``table[pos] = (start, end)``), 16 bytes per op.
    Equal, as a sequence, to the list of ``(start, end)`` pairs."""

    __slots__ = ("end", "start")

    def __init__(self, n: int) -> None:
        self.start = array("q", bytes(8 * n))
        self.end = array("q", bytes(8 * n))

    @staticmethod
    def of(spans: Sequence[tuple[int, int]]) -> SpanTable:
        t = SpanTable(0)
        t.start = array("q", (a for a, _ in spans))
        t.end = array("q", (b for _, b in spans))
        return t

    def __len__(self) -> int:
        return len(self.start)

    def __setitem__(self, pos: int, span: tuple[int, int]) -> None:
        self.start[pos], self.end[pos] = span

    @overload
    def __getitem__(self, pos: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, pos: slice) -> list[tuple[int, int]]: ...

    def __getitem__(self, pos: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(pos, slice):
            return list(zip(self.start[pos], self.end[pos], strict=True))
        return self.start[pos], self.end[pos]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.start, self.end, strict=True)

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
    taken over."""

    first: int
    end: int
    phase: Phase
    step: int
    part: str


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
        return self._span(self._ops[i], self._table.start[i], self._table.end[i])

    def __iter__(self) -> Iterator[OpSpan]:
        start, end = self._table.start, self._table.end
        for i, op in enumerate(self._ops):
            yield self._span(op, start[i], end[i])

    def __eq__(self, other: object) -> bool:
        return _same_sequence(self, other)

    def __hash__(self) -> int:
        return hash(len(self))

    def extents(self) -> Iterator[tuple[Phase, int, str, int, int]]:
        """(phase, step, part, first start, last end) of each group of ops, in program order
        (without groups: of each op)."""
        start, end = self._table.start, self._table.end
        if self._groups is None:
            for i, op in enumerate(self._ops):
                yield op.phase, op.step, span_part(op.layer, op.kind), start[i], end[i]
            return
        for g in self._groups:
            yield g.phase, g.step, g.part, min(start[g.first : g.end]), max(end[g.first : g.end])


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

    def dram_channels(self) -> list[UnitTimeline]:
        """Each DRAM channel's lane, by channel (empty: a model without several channels)."""
        got = {c: t for n, t in self.timelines.items() if (c := dram_channel_of(n)) is not None}
        return [got[c] for c in sorted(got)]

    def timeline_json(self) -> dict[str, dict[str, object]]:
        """Every lane's busy timeline (see :class:`UnitTimeline`), for the record: the units',
        ``dram`` and, with several DRAM channels, ``dram.ch0`` ... (channel order)."""
        return {u: self.timelines[u].to_json() for u in sorted(self.timelines, key=lane_order)}


def lane_order(name: str) -> tuple[str, int]:
    """Sort key of timeline lanes: by name, each DRAM channel's right after the DRAM's, in
    channel order."""
    c = dram_channel_of(name)
    return (name, -1) if c is None else (DRAM_LANE, c)
