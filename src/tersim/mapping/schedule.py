"""Typed schedules: what the simulator executes, produced by the mapping (pure functions).

A :class:`Schedule` is a sequence of :class:`OpSchedule` in program order, the ops it depends
on (``deps``) and the order they are queued in (``order``). Each op is a list of
:class:`TileRun` s: runs of identical tiles, each tile being one DRAM->SRAM load followed by one
compute pass on a named compute unit (``array``, ``vector`` or a unit of ``units:``). The
engine expands runs into individual events (``tile`` fidelity) or handles a run at once.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import NotImplementedType
from typing import overload

from tersim.config.enums import BufferRole
from tersim.hw.counts import ActionCounts
from tersim.mapping.placement import Placement
from tersim.workload.ops import Op, OpHead, OpKind, Phase, op_head, op_heads


class Unit(StrEnum):
    """The names of the units a design's ``array`` and ``vector_unit`` are (a unit of ``units:``
    has the name its entry gives)."""

    ARRAY = "array"
    VECTOR = "vector"


@dataclass(frozen=True)
class TileRun:
    """``count`` identical tiles: each loads ``load_bytes`` then computes ``compute_cycles``;
    each then writes back ``write_bytes`` (the outputs it completes), queued right after the
    load of its op's next tile, from ``write_ready_cycles`` after its compute ends (see
    :mod:`tersim.sim.timing`). The op's last tile writes nothing here: its outputs go with the
    op's write-back (``OpSchedule.write_bytes``)."""

    count: int
    load_bytes: int  # DRAM bytes read before this tile can compute (0: already on chip)
    compute_cycles: int
    unit: str  # the compute unit's name
    write_bytes: int = 0  # DRAM bytes written back after each tile (0: with the op's write-back)
    write_ready_cycles: int = 0  # from its compute end until its outputs are complete
    # a fused epilogue (``scheduling.fused_epilogue``): the cycles unit ``epilogue_unit`` spends
    # on the outputs each tile completes, from ``write_ready_cycles`` after its compute end
    epilogue_cycles: int = 0
    epilogue_unit: str = ""

    def alike(self, other: TileRun) -> bool:
        """Whether its tiles are the same as ``other``'s (the count aside)."""
        return (
            self.load_bytes == other.load_bytes
            and self.compute_cycles == other.compute_cycles
            and self.unit == other.unit
            and self.write_bytes == other.write_bytes
            and self.write_ready_cycles == other.write_ready_cycles
            and self.epilogue_cycles == other.epilogue_cycles
            and self.epilogue_unit == other.epilogue_unit
        )


def merge_runs(runs: tuple[TileRun, ...]) -> tuple[TileRun, ...]:
    """Adjacent runs of identical tiles joined into one."""
    out: list[TileRun] = []
    for run in runs:
        last = out[-1] if out else None
        if last and last.alike(run):
            out[-1] = replace(run, count=last.count + run.count)
        else:
            out.append(run)
    return tuple(out)


def spread_loads(runs: tuple[TileRun, ...], load_bytes: int) -> tuple[TileRun, ...]:
    """The same tiles with ``load_bytes`` spread evenly over them (the first
    ``load_bytes % tiles`` tiles carry one byte more)."""
    total = sum(t.count for t in runs)
    q, extra = divmod(load_bytes, total)
    out: list[TileRun] = []
    for t in runs:
        take = min(extra, t.count)
        if take:
            out.append(replace(t, count=take, load_bytes=q + 1))
        if t.count - take:
            out.append(replace(t, count=t.count - take, load_bytes=q))
        extra -= take
    return merge_runs(tuple(out))


@dataclass(frozen=True, slots=True)
class OperandResidency:
    """How one operand lives in its buffer under a chosen mapping (for people to read)."""

    operand: BufferRole
    held_from: str  # the outermost loop the buffer spans ("whole operand", "one pass", ...)
    stays_across: tuple[str, ...]  # loops it is reused across without a refetch
    footprint_bytes: int
    double_buffered: bool
    fetches: int  # times each element comes from DRAM (0: already on chip)

    @property
    def held_bytes(self) -> int:
        """Buffer bytes it takes (twice the footprint when double-buffered)."""
        return self.footprint_bytes * (2 if self.double_buffered else 1)

    def to_json(self) -> dict[str, object]:
        return {
            "held_from": self.held_from,
            "stays_across": list(self.stays_across),
            "footprint_bytes": self.footprint_bytes,
            "double_buffered": self.double_buffered,
            "fetches": self.fetches,
        }


WRITE_AFTER = "after the last tile"
WRITE_OVERLAPPED = "overlapped with later tiles"


class LoadPlacement(StrEnum):
    """Which passes carry an op's DRAM reads: each pass loads the slices it is the first to
    touch, or the op's reads are spread evenly over its passes (the heuristic plan's rule,
    :func:`spread_loads`)."""

    FIRST_TOUCH = "at first touch"
    SPREAD = "spread evenly over the passes"


@dataclass(frozen=True, slots=True)
class MappingInfo:
    """The mapping an op runs with: loop nest, tile, residency, and how it was chosen."""

    chosen_by: str  # "searched (latency)" or "heuristic"
    loops: tuple[str, ...]  # DRAM-level tile loops then the array's fold loops, outer first
    tile: tuple[int, int, int]  # (M, N, K) elements held per tile
    residency: tuple[OperandResidency, ...]
    points: int = 0  # points of the space (searched)
    assessed: int = 0  # points whose closed forms were computed (the rest bounded out)
    simulated: int = 0  # points the engine ran
    write_back: str = WRITE_AFTER  # when the outputs go to DRAM
    loads: LoadPlacement = LoadPlacement.FIRST_TOUCH  # which passes carry the DRAM reads

    def to_json(self) -> dict[str, object]:
        return {
            "chosen_by": self.chosen_by,
            "loops": list(self.loops),
            "tile": {"m": self.tile[0], "n": self.tile[1], "k": self.tile[2]},
            "residency": {r.operand.value: r.to_json() for r in self.residency},
            "write_back": self.write_back,
            "loads": self.loads.value,
            "space": {
                "points": self.points,
                "assessed": self.assessed,
                "simulated": self.simulated,
            },
        }


@dataclass(frozen=True)
class OpSchedule:
    """One trace op mapped onto the hardware."""

    op_index: int
    name: str
    kind: OpKind
    layer: int
    phase: Phase
    step: int
    runs: tuple[TileRun, ...]
    write_bytes: int  # DRAM bytes written when the op's last tile is done (0: stays on chip);
    #                   its tiles' own write-backs (``TileRun.write_bytes``) come on top
    counts: ActionCounts  # actions of the whole op (PE ops, SRAM and DRAM bytes)
    deps: tuple[int, ...] = ()  # op indices whose outputs it waits for
    mapping: MappingInfo | None = None  # how a matrix product was mapped (None: vector op)
    compulsory_bytes: int = 0  # DRAM bytes if each operand were read once, outputs written once
    lower_bound_bytes: int = 0  # no schedule moves fewer DRAM bytes (tersim.mapping.bounds)

    @property
    def unit(self) -> str:
        """The unit its first tiles run on (a quantized product's epilogue runs elsewhere)."""
        return self.runs[0].unit

    @property
    def dram_bytes(self) -> int:
        """DRAM bytes the op reads and writes."""
        c = self.counts
        return sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values())

    @property
    def tiles(self) -> int:
        return sum(r.count for r in self.runs)

    def signature(self) -> tuple[object, ...]:
        """What determines the op's timing (two ops with equal signatures time alike)."""
        return (self.runs, self.write_bytes)

    def placed(
        self, op_index: int, name: str, layer: int, phase: Phase, step: int, deps: tuple[int, ...]
    ) -> OpSchedule:
        """This schedule as op ``op_index``'s (an op mapped alike): its position, name, layer,
        pass and dependencies, everything else this one's (a field-for-field copy that skips
        the constructor)."""
        o = object.__new__(OpSchedule)
        d = o.__dict__
        d.update(self.__dict__)
        d["op_index"] = op_index
        d["name"] = name
        d["layer"] = layer
        d["phase"] = phase
        d["step"] = step
        d["deps"] = deps
        return o


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One entry of the DMA queue: ``count`` consecutive tiles of run ``run`` of op ``op`` (a
    position in ``Schedule.ops``) from tile ``first`` of that run, or (``run == -1``) the op's
    write-back."""

    op: int
    run: int
    first: int = 0
    count: int = 0


def op_by_op(ops: Sequence[OpSchedule], order: Sequence[int]) -> tuple[QueueItem, ...]:
    """The queue of ``ops`` taken whole in ``order``: each op's runs, then its write-back."""
    out: list[QueueItem] = []
    for k in order:
        op = ops[k]
        out.extend(QueueItem(k, r, 0, run.count) for r, run in enumerate(op.runs) if run.count)
        if op.write_bytes > 0:
            out.append(QueueItem(k, -1))
    return tuple(out)


@dataclass(frozen=True)
class SegmentPlan:
    """One planned segment (consecutive ops of one layer of one pass), relative to its first
    op: shared by every segment planned alike, so a workload's DMA queue is held once per
    distinct layer, not per tile of every layer.

    ``deps[k]`` lists op ``k``'s dependencies in its own order: ``d >= 0`` is op ``d`` of the
    segment, ``d < 0`` the segment's external dependency ``-1 - d`` (see :class:`SegmentRef`).
    ``items`` is the segment's part of the DMA queue, ops by their place in the segment."""

    ops: tuple[OpSchedule, ...]  # what each op runs (the first such op's mapping)
    deps: tuple[tuple[int, ...], ...]
    items: tuple[QueueItem, ...]
    order: tuple[int, ...] = ()  # the ops by priority (list scheduling's order)


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """A segment of the schedule: its ``plan`` from op position ``start`` on; ``ext``: the
    positions of the ops before it that its ops depend on, ascending. With ``times > 1``,
    ``times`` segments one after another, each the one before repeated (the copied layers of
    a pass: one record, whatever their number): copy ``j`` is the plan from ``start + j n``
    on, every external dependency ``j n`` later (``n``: the plan's ops)."""

    start: int
    plan: SegmentPlan
    ext: tuple[int, ...]
    times: int = 1

    @property
    def end(self) -> int:
        """The position after its last copy's last op."""
        return self.start + self.times * len(self.plan.ops)

    def copy(self, j: int) -> SegmentRef:
        """Copy ``j`` as a segment of its own."""
        if j == 0 and self.times == 1:
            return self
        d = j * len(self.plan.ops)
        return SegmentRef(self.start + d, self.plan, tuple(e + d for e in self.ext))

    def copies(self) -> Iterator[SegmentRef]:
        """Each copy as a segment of its own."""
        for j in range(self.times):
            yield self.copy(j)

    def joined(self, nxt: SegmentRef) -> SegmentRef | None:
        """This record with ``nxt`` as one more copy (``nxt`` is the segment right after it,
        planned alike, its external dependencies one copy later than the last copy's); None
        when it is not."""
        d = self.times * len(self.plan.ops)
        if nxt.plan is not self.plan or nxt.start != self.start + d or nxt.times != 1:
            return None
        if len(nxt.ext) != len(self.ext) or any(
            b != a + d for a, b in zip(self.ext, nxt.ext, strict=True)
        ):
            return None
        return SegmentRef(self.start, self.plan, self.ext, self.times + 1)


def append_segment(refs: list[SegmentRef], ref: SegmentRef) -> None:
    """Append ``ref`` to ``refs``, as one more copy of the last when it repeats it
    (:meth:`SegmentRef.joined`)."""
    if refs:
        got = refs[-1].joined(ref)
        if got is not None:
            refs[-1] = got
            return
    refs.append(ref)


class _BySegment:
    """What the segment views share: the segments and their first op positions."""

    __slots__ = ("_refs", "_starts")

    def __init__(self, refs: tuple[SegmentRef, ...]) -> None:
        self._refs = refs
        self._starts = array("q", (r.start for r in refs))

    def _at(self, i: int) -> tuple[SegmentRef, int]:
        """The segment (one copy) holding position ``i`` and ``i``'s place in it."""
        ref = self._refs[bisect.bisect_right(self._starts, i) - 1]
        if ref.times == 1:
            return ref, i - ref.start
        j, k = divmod(i - ref.start, len(ref.plan.ops))
        return ref.copy(j), k

    def _index(self, i: int, n: int) -> int:
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("op position out of range")
        return i


class SegmentOps(_BySegment, Sequence[OpSchedule]):
    """``Schedule.ops`` of a schedule held by segments: op ``i``'s schedule is its segment
    plan's op at ``i``'s place, under op ``i``'s name, layer and pass (from the workload's
    ops), with its dependencies decoded from the plan's relative ones. Built when indexed or
    iterated, so a schedule holds one object per distinct op mapping and a small record per
    segment, not one per op. Equal, as a sequence, to the tuple of those schedules."""

    __slots__ = ("_ops",)

    def __init__(self, refs: tuple[SegmentRef, ...], ops: Sequence[Op]) -> None:
        super().__init__(refs)
        self._ops = ops

    def __len__(self) -> int:
        return len(self._ops)

    @staticmethod
    def _placed(ref: SegmentRef, k: int, i: int, op: OpHead) -> OpSchedule:
        start, ext = ref.start, ref.ext
        deps = tuple(start + d if d >= 0 else ext[-1 - d] for d in ref.plan.deps[k])
        return ref.plan.ops[k].placed(i, op.name, op.layer, op.phase, op.step, deps)

    @overload
    def __getitem__(self, i: int) -> OpSchedule: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[OpSchedule, ...]: ...

    def __getitem__(self, i: int | slice) -> OpSchedule | tuple[OpSchedule, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        i = self._index(i, len(self))
        ref, k = self._at(i)
        return self._placed(ref, k, i, op_head(self._ops, i))

    def head(self, i: int) -> OpHead:
        """Op ``i``'s name, kind, layer and pass (nothing built)."""
        return op_head(self._ops, i)

    def __iter__(self) -> Iterator[OpSchedule]:
        ops = op_heads(self._ops)
        for record in self._refs:
            for ref in record.copies():
                for k in range(len(ref.plan.ops)):
                    i = ref.start + k
                    yield self._placed(ref, k, i, next(ops))

    def __eq__(self, other: object) -> bool:
        return _same_sequence(self, other)

    def __hash__(self) -> int:
        return hash((len(self), id(self._refs)))


class SegmentOrder(_BySegment, Sequence[int]):
    """``Schedule.order`` of a schedule held by segments: each segment's ops by its plan's
    priority order, segments in program order (equal, as a sequence, to that tuple)."""

    __slots__ = ("_n",)

    def __init__(self, refs: tuple[SegmentRef, ...]) -> None:
        super().__init__(refs)
        self._n = refs[-1].end if refs else 0

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> int: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[int, ...]: ...

    def __getitem__(self, i: int | slice) -> int | tuple[int, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(self._n)))
        i = self._index(i, self._n)
        ref, k = self._at(i)
        return ref.start + ref.plan.order[k]

    def __iter__(self) -> Iterator[int]:
        for ref in self._refs:
            n = len(ref.plan.ops)
            for j in range(ref.times):
                a = ref.start + j * n
                for k in ref.plan.order:
                    yield a + k

    def __eq__(self, other: object) -> bool:
        return _same_sequence(self, other)

    def __hash__(self) -> int:
        return hash((self._n, id(self._refs)))


def _same_sequence(a: Sequence[object], b: object) -> bool | NotImplementedType:
    if not isinstance(b, Sequence) or isinstance(b, str | bytes):
        return NotImplemented
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class Schedule:
    """``ops``: a tuple, or (the mapping's, for a workload with repeated layers) a
    :class:`SegmentOps` view of ``segments``; ``order`` likewise."""

    ops: Sequence[OpSchedule]
    placement: Placement  # residency of every activation tensor the ops read and write
    order: Sequence[int] | None = None  # positions in ``ops`` by priority (None: as listed)
    items: tuple[QueueItem, ...] | None = None  # the DMA queue (None: from ``segments``, or
    #                                             else op by op in ``order``)
    segments: tuple[SegmentRef, ...] | None = None  # the queue segment by segment (a
    #                                                  record with ``times``: its copies)

    def segments_cover_ops(self) -> bool:
        """Whether ``segments`` lists every op once, in order (as the mapping builds them)."""
        if self.segments is None:
            return False
        at = 0
        for ref in self.segments:
            if ref.start != at:
                return False
            at = ref.end
        return at == len(self.ops)

    def segment_copies(self) -> Iterator[SegmentRef]:
        """Every segment, each copy of a record with ``times`` as one of its own, in order."""
        for ref in self.segments or ():
            yield from ref.copies()

    def op_head(self, i: int) -> OpHead:
        """Op ``i``'s name, kind, layer and pass (from a :class:`SegmentOps` without building
        its schedule)."""
        if isinstance(self.ops, SegmentOps):
            return self.ops.head(i)
        o = self.ops[i]
        return OpHead(o.name, o.kind, o.layer, o.phase, o.step)

    def queue(self) -> Sequence[int]:
        """Positions of the ops in priority order."""
        return range(len(self.ops)) if self.order is None else self.order

    def queue_items(self) -> tuple[QueueItem, ...]:
        """The DMA queue: tiles (in pieces of runs) and write-backs, in order."""
        if self.items is not None:
            return self.items
        if self.segments is not None:
            return tuple(
                QueueItem(s.start + it.op, it.run, it.first, it.count)
                for s in self.segment_copies()
                for it in s.plan.items
            )
        return op_by_op(self.ops, self.queue())
