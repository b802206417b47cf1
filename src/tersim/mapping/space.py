"""The declared mapping space of one matrix product and the closed forms of each of its points.

A matrix product ``Y[M, N] = X[M, K] @ W[K, N]`` (``instances`` independent copies of it, run one
after another) is mapped onto an R x C array whose dataflow puts one GEMM dimension on the rows
(``dr``), one on the columns (``dc``) and streams the third (``dt``; OS: M, N, K; WS: K, N, M;
IS: K, M, N). A point of the space (:class:`GemmMapping`) is:

* a **tile** ``(Mt, Nt, Kt)``: the part of the GEMM whose operands the SRAM buffers hold at
  once. Along ``dr`` and ``dc`` a tile is a whole number of array folds (R rows, C columns) or
  the whole dimension; along ``dt`` any length. Candidates per dimension: the balanced
  halvings ``ceil(F / 2**j)`` of its F folds (or F elements along ``dt``), j = 0, 1, ...
* a **loop order** of the three tile loops at the DRAM<->SRAM level, outer to inner (all six
  permutations, loops of one trip dropped, duplicates removed). Inside a tile the array runs its
  fixed order: column folds outer, row folds inner, each pass streaming the tile's ``dt``.

So the loop nest is ``[tile loop, tile loop, tile loop, column folds, row folds, pass]``,
positions 0..5. Derived from the point, not searched independently (they follow by rule):

* **Residency.** Each operand's buffer holds the operand's data for every iteration of the
  loops from some position ``p`` inward (``p = 0``: the whole operand; ``p = 5``: one pass's
  slice). An operand is refetched once per iteration of its *irrelevant* loops (X: the N loops,
  W: the M loops, Y: the K loops) that lie outside ``p`` and outside its innermost relevant loop
  there; its DRAM traffic is its size times that product (1, the number of tiles of the
  irrelevant dimension, or its number of folds). Each operand takes the level with the least
  traffic that fits its buffer (then the smallest footprint). Outputs must be written once:
  partial sums never go back to DRAM (the level must keep them across every K loop).
* **Double buffering only what is replaced.** An operand whose buffer content changes during
  the op (refetched, or a footprint smaller than the operand, or several instances) needs twice
  its footprint when its buffer is double-buffered; one that is loaded once and kept needs it
  once. A point is valid only if every footprint fits: separate buffers each hold their own
  operand, a unified buffer holds the sum. An activation input already on chip (its producer
  left it there, :mod:`tersim.mapping.placement`) takes no working space and no traffic.
* **Loads at first touch.** Each pass loads the slices of X and W it is the first to touch since
  they were last evicted (its per-pass DRAM load); a pass's compute is its issue interval from
  the dataflow's closed forms; the op's last pass carries the drain, the end of the op being the
  latest ``pass start + pass latency``.
* **Write-back**, a choice of the point: after the op's last tile (the whole output in one
  transfer), or **overlapped with later tiles**: each pass that completes outputs (the last
  iteration of every K loop: a reduction-outer nest completes them only in its last K tile)
  writes its ``M x N`` block back itself, queued after the next pass's load, from its drain's
  end (``latency - issue interval`` after its compute); the op's last pass's block goes with
  the op's write-back (the engine's rules, :mod:`tersim.sim.timing`). Valid when the output
  leaves the chip, is final at the array (no vector epilogue after it) and its buffer holds the
  block being written beside the one being accumulated: double-buffered, or holding the whole
  output anyway. Same bytes either way, only when they move.
* **Load placement**, a choice of the point: each pass loads the slices it first touches (above),
  or the op's DRAM reads (the same bytes) are **spread evenly** over its passes, the first
  ``reads mod passes`` passes carrying a byte more: the heuristic plan's accounting
  (:func:`tersim.mapping.schedule.spread_loads`), which every engine times. It moves loads from
  the passes that touch much to those that touch little (edge folds, passes reusing resident
  data), so the DRAM stays busy while a short pass computes; the buffers hold the same
  footprints (the accounting does not model the prefetch distance). Same bytes either way,
  only which pass carries them.

Everything here is a pure function of the problem and the point: traffic, footprints, SRAM
accesses, compute cycles and the tile runs the engine executes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tersim.config.enums import BufferRole, CompatMode
from tersim.config.hardware import HardwareConfig
from tersim.hw.counts import ActionCounts, dram_bytes
from tersim.hw.dataflow import (
    DataflowModel,
    OperandBits,
    StationaryOptions,
    dataflow_model,
)
from tersim.hw.dataflow.base import FoldGrid, ceil_div
from tersim.mapping.epilogue import FusedEpilogue
from tersim.mapping.schedule import (
    WRITE_AFTER,
    WRITE_OVERLAPPED,
    LoadPlacement,
    MappingInfo,
    OperandResidency,
    TileRun,
    Unit,
)


class Dim(StrEnum):
    M = "m"
    N = "n"
    K = "k"


# the dimensions each operand is indexed by, and the one it is not
RELEVANT: dict[BufferRole, tuple[Dim, Dim]] = {
    BufferRole.INPUT: (Dim.M, Dim.K),
    BufferRole.WEIGHT: (Dim.K, Dim.N),
    BufferRole.OUTPUT: (Dim.M, Dim.N),
}
IRRELEVANT: dict[BufferRole, Dim] = {
    BufferRole.INPUT: Dim.N,
    BufferRole.WEIGHT: Dim.M,
    BufferRole.OUTPUT: Dim.K,
}
_INDEX = {Dim.M: 0, Dim.N: 1, Dim.K: 2}
MAX_RUNS = 2048  # a point whose tiles form more runs is outside the space (engine cost)


POINTS_PER_ORDER = 4  # two write-back choices x two load placements


def first_index(tile_index: int) -> int:
    """The place in the space's order of a tile's first point (each tile has six loop orders,
    each with two write-back choices, each with two load placements)."""
    return tile_index * 6 * POINTS_PER_ORDER


class TooManyRuns(Exception):
    """The point's tiles would form more than MAX_RUNS runs of identical tiles."""


COL_FOLD_POS = 3
ROW_FOLD_POS = 4
PASS_POS = 5
LEVELS = range(PASS_POS + 1)


@dataclass(frozen=True, slots=True)
class Capacity:
    """Working bytes each buffer offers one op (its whole size; the resident activations of
    :mod:`tersim.mapping.placement` already taken out of the input buffer). ``unified``: one
    buffer serves all three roles; its size is ``unified_bytes``."""

    input_bytes: int
    weight_bytes: int
    output_bytes: int
    double_buffered: tuple[bool, bool, bool]  # input, weight, output
    unified_bytes: int | None = None

    def of(self, role: BufferRole) -> int:
        return {
            BufferRole.INPUT: self.input_bytes,
            BufferRole.WEIGHT: self.weight_bytes,
            BufferRole.OUTPUT: self.output_bytes,
        }[role]

    def doubles(self, role: BufferRole) -> bool:
        return self.double_buffered[list(BufferRole).index(role)]


def design_capacity(hw: HardwareConfig, taken_input_bytes: int = 0) -> Capacity:
    """The design's buffers, with ``taken_input_bytes`` of the input (or unified) buffer held by
    resident activations."""
    db = tuple(hw.buffer(r).double_buffered for r in BufferRole)
    if hw.sram.unified is not None:
        size = hw.sram.unified.size_bytes - taken_input_bytes
        return Capacity(size, size, size, (db[0], db[1], db[2]), unified_bytes=size)
    return Capacity(
        hw.buffer(BufferRole.INPUT).size_bytes - taken_input_bytes,
        hw.buffer(BufferRole.WEIGHT).size_bytes,
        hw.buffer(BufferRole.OUTPUT).size_bytes,
        (db[0], db[1], db[2]),
    )


@dataclass(frozen=True, slots=True)
class GemmProblem:
    """One matrix product to map: shape, precisions, where its data lives, the array and the
    buffers it may use."""

    m: int
    n: int
    k: int
    instances: int
    bits: OperandBits
    input_on_chip: bool  # X already on chip (no traffic, no working space)
    output_on_chip: bool  # Y stays on chip for its consumer (no write-back)
    rows: int
    cols: int
    model: DataflowModel
    opts: StationaryOptions
    capacity: Capacity
    burst_bytes: int
    passes_per_tile: int = 1  # the PE's passes per tile (bit-serial): every pass P times longer
    unit: str = Unit.ARRAY  # the matrix unit's name (its tiles carry it)
    epilogue: bool = False  # a vector epilogue finishes the output (written at the op's end)
    # that epilogue fused (scheduling.fused_epilogue): each pass completing outputs carries
    # their epilogue (tersim.mapping.epilogue)
    fused: FusedEpilogue | None = None

    @staticmethod
    def of(
        hw: HardwareConfig,
        m: int,
        n: int,
        k: int,
        bits: OperandBits,
        input_on_chip: bool,
        output_on_chip: bool,
        instances: int = 1,
        capacity: Capacity | None = None,
        passes_per_tile: int = 1,
        unit: str = Unit.ARRAY,
    ) -> GemmProblem:
        a = hw.array
        return GemmProblem(
            m,
            n,
            k,
            instances,
            bits,
            input_on_chip,
            output_on_chip,
            a.rows,
            a.cols,
            dataflow_model(a.dataflow),
            StationaryOptions(a.preload_rows_per_cycle, a.shadow_stationary),
            design_capacity(hw) if capacity is None else capacity,
            hw.dram.burst_bytes,
            passes_per_tile,
            unit,
        )

    @property
    def dims(self) -> dict[Dim, int]:
        return {Dim.M: self.m, Dim.N: self.n, Dim.K: self.k}

    @property
    def roles(self) -> tuple[Dim, Dim, Dim]:
        """(rows dim, columns dim, streamed dim) of the dataflow."""
        r, c, t = self.model.dims(0, 1, 2)  # which position each dim goes to
        names = (Dim.M, Dim.N, Dim.K)
        return names[r], names[c], names[t]

    def element_bits(self, role: BufferRole) -> float:
        b = self.bits
        return {
            BufferRole.INPUT: b.input_bits,
            BufferRole.WEIGHT: b.weight_bits,
            BufferRole.OUTPUT: b.acc_bits,
        }[role]


@dataclass(frozen=True, slots=True)
class GemmMapping:
    """A point of the space: tile sizes and the order of the tile loops (outer to inner; loops
    of one trip are left out)."""

    tile: tuple[int, int, int]  # (Mt, Nt, Kt) elements
    order: tuple[Dim, ...]
    overlap: bool = False  # outputs written back as passes complete them (else after the op)
    loads: LoadPlacement = LoadPlacement.FIRST_TOUCH  # which passes carry the DRAM reads

    @property
    def spread(self) -> bool:
        return self.loads is LoadPlacement.SPREAD

    def size(self, d: Dim) -> int:
        return self.tile[_INDEX[d]]


@dataclass(frozen=True, slots=True)
class Residency:
    """Where one operand's buffer starts holding it, and what that costs."""

    level: int  # loop position from which the buffer holds the operand (0: all of it)
    footprint_bytes: int  # bytes held at once (one copy)
    fetches: int  # times each element comes from DRAM (0: on chip already)
    double_buffered: bool  # the held bytes count twice

    @property
    def held_bytes(self) -> int:
        return self.footprint_bytes * (2 if self.double_buffered else 1)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The closed forms of one valid point."""

    mapping: GemmMapping
    residency: dict[BufferRole, Residency]
    traffic_bytes: dict[BufferRole, int]  # DRAM reads of X and W (whole bursts); Y: write-back
    sram_read_words: dict[BufferRole, int]
    sram_write_words: dict[BufferRole, int]  # array writes (output); DRAM fills are separate
    temporal_tiles: int


@dataclass(frozen=True, slots=True)
class _Loop:
    pos: int
    dim: Dim
    fold: bool  # an array fold loop inside a tile (else a tile loop)


class Geometry:
    """Per-problem constants every point shares (computed once per search)."""

    def __init__(self, p: GemmProblem) -> None:
        self.p = p
        self.dr, self.dc, self.dt = p.roles
        self.dims = p.dims
        self.unit = {self.dr: p.rows, self.dc: p.cols, self.dt: 1}
        self.folds = {d: ceil_div(self.dims[d], self.unit[d]) for d in Dim}
        self._timing: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._opts: dict[tuple[object, ...], tuple[Residency, ...]] = {}
        self._words: dict[
            tuple[int, int, int], tuple[dict[BufferRole, int], dict[BufferRole, int]]
        ] = {}
        self._doubles = {r: p.capacity.doubles(r) for r in BufferRole}
        self._isum: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._size: int | None = None
        # a point's passes at first touch, kept until its other load placement takes them
        self._placed: dict[
            tuple[object, ...], tuple[list[tuple[int, int, int, int, int, int]], int, int]
        ] = {}
        self.whole_bytes = {
            BufferRole.INPUT: _bytes(p.instances * p.m * p.k, p.bits.input_bits),
            BufferRole.WEIGHT: _bytes(p.instances * p.k * p.n, p.bits.weight_bits),
        }
        self.write_bytes = _burst(
            _bytes(p.instances * p.m * p.n, p.bits.output_bits), p.burst_bytes
        )
        self.overlaps = (False, True) if self.may_overlap else (False,)

    @property
    def may_overlap(self) -> bool:
        """Whether the space offers the overlapped write-back (the output leaves the chip and
        the array finishes it)."""
        return not self.p.output_on_chip and not self.p.epilogue

    # -- the declared space ------------------------------------------------------------------
    def tile_choices(self, d: Dim) -> tuple[int, ...]:
        """Tile sizes along ``d``: balanced halvings of its folds, largest first."""
        f, u, size = self.folds[d], self.unit[d], self.dims[d]
        out: list[int] = []
        pieces = 1
        while True:
            t = min(ceil_div(f, pieces) * u, size)
            if t not in out:
                out.append(t)
            if ceil_div(f, pieces) == 1:
                return tuple(out)
            pieces *= 2

    def tiles(self) -> list[tuple[int, int, int]]:
        """Every tile of the declared space, in a fixed order (largest first)."""
        choices = [self.tile_choices(d) for d in (Dim.M, Dim.N, Dim.K)]
        return [(a, b, c) for a, b, c in itertools.product(*choices)]

    def orders(
        self, tile: tuple[int, int, int], tile_index: int
    ) -> Iterator[tuple[int, GemmMapping]]:
        """The points of one tile with their place in the space's order: the six loop orders
        (loops of one trip dropped, duplicates skipped), each with the write-back after the op
        and then (where the space offers it) overlapped, each with its loads at first touch
        and then spread evenly."""
        trips = {d: ceil_div(self.dims[d], t) for d, t in zip(Dim, tile, strict=True)}
        seen: set[tuple[Dim, ...]] = set()
        for i, perm in enumerate(itertools.permutations(Dim)):
            order = tuple(d for d in perm if trips[d] > 1)
            if order not in seen:
                seen.add(order)
                for w in self.overlaps:
                    for s, loads in enumerate(LoadPlacement):
                        index = first_index(tile_index) + POINTS_PER_ORDER * i + 2 * w + s
                        yield index, GemmMapping(tile, order, w, loads)

    def size(self) -> int:
        """Points in the declared space: per tile, the orders of its loops of more than one
        trip (k such loops: k! orders), times the write-back choices (1 or 2), times the two
        load placements."""
        if self._size is None:
            self._size = (
                len(self.overlaps)
                * len(LoadPlacement)
                * sum(
                    math.factorial(
                        sum(1 for d, t in zip(Dim, tile, strict=True) if self.dims[d] > t)
                    )
                    for tile in self.tiles()
                )
            )
        return self._size

    def points(self) -> Iterator[tuple[int, GemmMapping]]:
        """Every point of the declared space with its place in the fixed order."""
        for ti, tile in enumerate(self.tiles()):
            yield from self.orders(tile, ti)

    def heuristic_like(self, t_chunk: int) -> GemmMapping:
        """The point of the pre-search rules: the streamed dimension in chunks of ``t_chunk``
        (outermost), the spatial dimensions whole."""
        tile = {d: self.dims[d] for d in Dim}
        tile[self.dt] = t_chunk
        order = (self.dt,) if t_chunk < self.dims[self.dt] else ()
        return GemmMapping((tile[Dim.M], tile[Dim.N], tile[Dim.K]), order)

    def trips(self, g: GemmMapping, d: Dim) -> int:
        return ceil_div(self.dims[d], g.size(d))

    def loops(self, g: GemmMapping) -> list[_Loop]:
        """The active loops of the nest, outer to inner."""
        out = [_Loop(i, d, False) for i, d in enumerate(g.order)]
        if g.size(self.dc) > self.unit[self.dc]:
            out.append(_Loop(COL_FOLD_POS, self.dc, True))
        if g.size(self.dr) > self.unit[self.dr]:
            out.append(_Loop(ROW_FOLD_POS, self.dr, True))
        return out

    # -- one point -----------------------------------------------------------------------------
    def table(self, g: GemmMapping) -> dict[Dim, tuple[int, int]]:
        """Per dimension: (position of its tile loop, position of its fold loop), -1 if that
        loop is not active."""
        out = {}
        for d in Dim:
            tp = g.order.index(d) if d in g.order else -1
            fp = -1
            if d is self.dc and g.size(d) > self.unit[d]:
                fp = COL_FOLD_POS
            elif d is self.dr and g.size(d) > self.unit[d]:
                fp = ROW_FOLD_POS
            out[d] = (tp, fp)
        return out

    def _options(
        self, g: GemmMapping, table: dict[Dim, tuple[int, int]], role: BufferRole
    ) -> tuple[Residency, ...]:
        """The distinct residency levels of ``role``, least traffic first (then least space)."""
        a, b = RELEVANT[role]
        d = IRRELEVANT[role]
        key = (role, g.size(a), g.size(b), table[a], table[b], table[d], self.trips(g, d))
        hit = self._opts.get(key)
        if hit is not None:
            return hit
        p = self.p
        bits = p.element_bits(role)
        whole = self.dims[a] * self.dims[b]
        (tpa, fpa), (tpb, fpb), (tpd, fpd) = table[a], table[b], table[d]
        n_d, f_d = self.trips(g, d), self.folds[d]
        da, db, ua, ub, ta, tb = (
            self.dims[a],
            self.dims[b],
            self.unit[a],
            self.unit[b],
            g.size(a),
            g.size(b),
        )
        rel = sorted(x for x in (tpa, fpa, tpb, fpb) if x >= 0)
        double_ok = self._doubles[role]
        seen: dict[tuple[int, int], Residency] = {}
        for level in LEVELS:
            ea = da if 0 <= level <= tpa else (ua if 0 <= fpa < level else ta)
            eb = db if 0 <= level <= tpb else (ub if 0 <= fpb < level else tb)
            elems = ea * eb
            inner = -1
            for x in rel:
                if x < level:
                    inner = x
            if 0 <= fpd < inner:
                fetch = f_d
            elif 0 <= tpd < inner:
                fetch = n_d
            else:
                fetch = 1
            if fetch > 1 and role is BufferRole.OUTPUT:
                continue  # partial sums would go back to DRAM: not in the space
            fp_bytes = _bytes(elems, bits)
            if (fp_bytes, fetch) not in seen:
                replaced = p.instances > 1 or fetch > 1 or elems < whole
                seen[(fp_bytes, fetch)] = Residency(level, fp_bytes, fetch, replaced and double_ok)
        out = tuple(sorted(seen.values(), key=lambda r: (r.fetches, r.held_bytes, r.level)))
        self._opts[key] = out
        return out

    def counted(
        self, table: dict[Dim, tuple[int, int]], role: BufferRole, level: int
    ) -> tuple[bool, bool]:
        """(tile loop counted, fold loop counted): the irrelevant loops of ``role`` that refetch
        it when it is held from ``level`` (outside the level and outside its innermost relevant
        loop there)."""
        a, b = RELEVANT[role]
        inner = max((x for x in (*table[a], *table[b]) if 0 <= x < level), default=-1)
        tp, fp = table[IRRELEVANT[role]]
        return 0 <= tp < inner, 0 <= fp < inner

    def assess(self, g: GemmMapping) -> Assessment | None:
        """The point's closed forms, or None when no residency fits the buffers."""
        p = self.p
        table = self.table(g)
        cap = p.capacity
        opts = {
            BufferRole.INPUT: (
                (Residency(0, 0, 0, False),)
                if p.input_on_chip
                else self._options(g, table, BufferRole.INPUT)
            ),
            BufferRole.WEIGHT: self._options(g, table, BufferRole.WEIGHT),
            BufferRole.OUTPUT: self._options(g, table, BufferRole.OUTPUT),
        }
        chosen: dict[BufferRole, Residency] | None
        if cap.unified_bytes is None:
            chosen = {}
            for role, cands in opts.items():
                room = cap.of(role)
                fit = next((r for r in cands if r.held_bytes <= room), None)
                if fit is None:
                    return None
                chosen[role] = fit
        else:
            chosen = _unified_choice(opts, cap.unified_bytes, p)
            if chosen is None:
                return None
        if g.overlap and not self.overlap_fits(chosen[BufferRole.OUTPUT]):
            return None
        traffic = {
            role: _burst(self.whole_bytes[role] * chosen[role].fetches, p.burst_bytes)
            for role in (BufferRole.INPUT, BufferRole.WEIGHT)
        }
        traffic[BufferRole.OUTPUT] = 0 if p.output_on_chip else self.write_bytes
        reads, writes = self._sram_words(g)
        return Assessment(g, chosen, traffic, reads, writes, self.trips(g, self.dt))

    def overlap_fits(self, y: Residency) -> bool:
        """Whether the output buffer, holding ``y``, can hold a block being written beside the
        blocks being accumulated: double-buffered (``y`` counted twice when replaced), or
        holding the whole output of the one instance (nothing is replaced)."""
        p = self.p
        whole = _bytes(p.m * p.n, p.element_bits(BufferRole.OUTPUT))
        return y.double_buffered or (p.instances == 1 and y.footprint_bytes >= whole)

    def _tile_classes(self, g: GemmMapping) -> Iterator[tuple[int, tuple[int, int, int]]]:
        """(count, (m, n, k)) of the distinct tile shapes (full and edge tiles)."""
        per_dim = []
        for d in Dim:
            t, size = g.size(d), self.dims[d]
            full, rest = divmod(size, t)
            per_dim.append([(full, t)] + ([(1, rest)] if rest else []))
        for combo in itertools.product(*per_dim):
            count = combo[0][0] * combo[1][0] * combo[2][0]
            if count:
                yield count, (combo[0][1], combo[1][1], combo[2][1])

    def _sram_words(self, g: GemmMapping) -> tuple[dict[BufferRole, int], dict[BufferRole, int]]:
        """SRAM words the array reads and writes (per the dataflow, summed over tiles), plus the
        partial sums read back when K is cut into tiles."""
        hit = self._words.get(g.tile)
        if hit is not None:
            return hit
        p = self.p
        acc = [0, 0, 0, 0]
        for count, (tm, tn, tk) in self._tile_classes(g):
            rows_dim, cols_dim, temporal = p.model.dims(tm, tn, tk)
            rf, cf = ceil_div(rows_dim, p.rows), ceil_div(cols_dim, p.cols)
            grid = FoldGrid(
                rf, cf, rows_dim - (rf - 1) * p.rows, cols_dim - (cf - 1) * p.cols, temporal
            )
            a = p.model.accesses(grid, tm, tn, tk, p.rows, p.cols, CompatMode.TERSIM)
            acc[0] += count * a.input_reads_words
            acc[1] += count * a.weight_reads_words
            acc[2] += count * a.output_writes_words
            acc[3] += count * a.output_reads_words
        acc[3] += (self.trips(g, Dim.K) - 1) * p.m * p.n
        i = p.instances
        reads = {
            BufferRole.INPUT: acc[0] * i,
            BufferRole.WEIGHT: acc[1] * i,
            BufferRole.OUTPUT: acc[3] * i,
        }
        writes = {BufferRole.INPUT: 0, BufferRole.WEIGHT: 0, BufferRole.OUTPUT: acc[2] * i}
        self._words[g.tile] = (reads, writes)
        return reads, writes

    # -- timing ----------------------------------------------------------------------------------
    def pass_timing(self, t: int, rows_used: int, cols_used: int) -> tuple[int, int]:
        """(issue interval, latency) of one pass streaming ``t`` (TERSIM closed forms)."""
        key = (t, rows_used, cols_used)
        hit = self._timing.get(key)
        if hit is None:
            p, m = self.p, self.p.model
            interval = m.issue_interval(t, p.rows, rows_used, p.opts)
            latency = (
                m.preload_cycles(p.rows, p.opts)
                + t
                + m.drain_cycles(p.rows, p.cols, rows_used, cols_used)
            )
            hit = (interval * p.passes_per_tile, latency * p.passes_per_tile)
            self._timing[key] = hit
        return hit

    def interval_sum(self, tile: tuple[int, int, int]) -> int:
        """Sum of every pass's issue interval over the op (a lower bound on its compute)."""
        return self._tile_totals(tile)[0]

    def compute_floor(self, tile: tuple[int, int, int]) -> int:
        """A lower bound on the op's compute with ideal memory (every order of ``tile``): its
        passes run one after another, each at least its issue interval, and the last one (the
        edge tile's last row and column fold, streaming the edge of ``dt``) ends its latency
        after it starts."""
        ext = self.last_pass(tile)
        interval, latency = self.pass_timing(ext[self.dt], ext[self.dr], ext[self.dc])
        total = self.interval_sum(tile)
        return max(total, total - interval + latency)

    def last_pass(self, tile: tuple[int, int, int]) -> dict[Dim, int]:
        """Extents of the op's last pass under every order of ``tile`` (the last iteration of
        every loop is its edge): the edge tile's last row and column fold, streaming the edge
        of ``dt``."""
        ext = {}
        for d in Dim:
            t = self.dims[d] - (ceil_div(self.dims[d], tile[_INDEX[d]]) - 1) * tile[_INDEX[d]]
            u = self.unit[d]
            ext[d] = t - (ceil_div(t, u) - 1) * u if d is not self.dt else t
        return ext

    def last_block_bytes(self, tile: tuple[int, int, int]) -> int:
        """Output bytes the op's last pass completes (rounded down): an overlapping point's
        write-back after its last tile moves at least these (the pass's block goes with it,
        and the tiles write at most the rest of the output)."""
        ext = self.last_pass(tile)
        return int(ext[Dim.M] * ext[Dim.N] * self.p.bits.output_bits // 8)

    def pass_count(self, tile: tuple[int, int, int]) -> int:
        """Array passes of the whole op."""
        return self._tile_totals(tile)[1]

    def _tile_totals(self, tile: tuple[int, int, int]) -> tuple[int, int]:
        hit = self._isum.get(tile)
        if hit is not None:
            return hit
        p = self.p
        g = GemmMapping(tile, ())
        total = passes = 0
        for count, (tm, tn, tk) in self._tile_classes(g):
            rows_dim, cols_dim, t = p.model.dims(tm, tn, tk)
            rf, cf = ceil_div(rows_dim, p.rows), ceil_div(cols_dim, p.cols)
            last = rows_dim - (rf - 1) * p.rows
            per_col = (rf - 1) * self.pass_timing(t, p.rows, p.cols)[0]
            per_col += self.pass_timing(t, last, p.cols)[0]
            total += count * cf * per_col
            passes += count * rf * cf
        hit = (total * p.instances, passes * p.instances)
        self._isum[tile] = hit
        return hit

    def first_slice(self, g: GemmMapping, role: BufferRole) -> int:
        """Elements of ``role`` the op's first pass touches."""
        first = {self.dr: self.unit[self.dr], self.dc: self.unit[self.dc]}
        elems = 1
        for d in RELEVANT[role]:
            elems *= min(first.get(d, g.size(d)), g.size(d))
        return elems

    def passes(self, a: Assessment) -> list[tuple[int, int, int, tuple[int, int, int], int]]:
        """The op's passes in order as runs ``(count, input elements loaded, weight elements
        loaded, timing key, output elements completed)``: loads at first touch, for one
        instance; outputs counted only when the point overlaps its write-back or fuses an
        epilogue (a pass in the last iteration of every K loop completes its block of
        outputs)."""
        g = a.mapping
        loops = self.loops(g)
        table = self.table(g)
        flags: dict[BufferRole, tuple[bool, bool] | None] = {}
        for role in (BufferRole.INPUT, BufferRole.WEIGHT):
            res = a.residency[role]
            if res.fetches == 0:
                flags[role] = None  # on chip: nothing to load
            else:
                flags[role] = self.counted(table, role, res.level)
        out: list[list[Any]] = []
        ext = {d: g.size(d) for d in Dim}
        first = {BufferRole.INPUT: True, BufferRole.WEIGHT: True}
        self._walk(loops, 0, ext, first, flags, out, g.overlap or self.p.fused is not None)
        return [(c, x, w, key, y) for c, x, w, key, y in out]

    def _walk(
        self,
        loops: list[_Loop],
        i: int,
        ext: dict[Dim, int],
        first: dict[BufferRole, bool],
        flags: dict[BufferRole, tuple[bool, bool] | None],
        out: list[list[Any]],
        last_k: bool,
    ) -> None:
        """Loops ``i`` on; ``last_k``: every K loop outside is in its last iteration (and the
        point counts completed outputs). Inside every loop: one pass, loading the slices of X
        and W it is the first to touch."""
        if i == len(loops):
            loads = []
            for role in (BufferRole.INPUT, BufferRole.WEIGHT):
                if flags[role] is None or not first[role]:
                    loads.append(0)
                    continue
                ra, rb = RELEVANT[role]
                loads.append(ext[ra] * ext[rb])
            key = (ext[self.dt], ext[self.dr], ext[self.dc])  # (T, rows used, columns used)
            _append(out, [1, loads[0], loads[1], key, ext[Dim.M] * ext[Dim.N] if last_k else 0])
            return
        lp = loops[i]
        d = lp.dim
        if lp.fold:
            span, step = ext[d], self.unit[d]
        else:
            span, step = self.dims[d], ext[d]
        n = ceil_div(span, step)
        last_size = span - (n - 1) * step
        classes: list[tuple[int, bool, int]] = [(1, True, step if n > 1 else last_size)]
        if n > 2:
            classes.append((n - 2, False, step))
        if n > 1:
            classes.append((1, False, last_size))
        for c, (count, is_first, size) in enumerate(classes):
            inner_last = last_k and (d is not Dim.K or c == len(classes) - 1)
            inner_ext = dict(ext)
            inner_ext[d] = size
            inner_first = dict(first)
            for role in (BufferRole.INPUT, BufferRole.WEIGHT):
                f = flags[role]
                if f is None or IRRELEVANT[role] is not d:
                    continue
                counted = f[1] if lp.fold else f[0]
                if not counted and not is_first:
                    inner_first[role] = False
            block: list[list[Any]] = []
            self._walk(loops, i + 1, inner_ext, inner_first, flags, block, inner_last)
            if count > 1 and len(block) == 1:
                block[0][0] *= count
            elif count > 1:
                if count * len(block) > MAX_RUNS:
                    raise TooManyRuns
                block = [list(r) for _ in range(count) for r in block]
            for row in block:
                _append(out, row)
            if len(out) > MAX_RUNS:
                raise TooManyRuns

    def schedule(self, a: Assessment) -> tuple[tuple[TileRun, ...], int]:
        """The tile runs of the whole op (every instance) and its compute cycles: each pass's
        compute is its issue interval, the last pass carries the drain to the latest
        ``start + latency``; each pass loads its first-touch slices, and each operand's
        rounding to whole bursts rides on its first load. An overlapping point's passes write
        back the outputs they complete, but the last (its block, and the rounding, go with the
        op's write-back). A point spreading its loads gives every pass an even share of them
        (:func:`_spread`)."""
        g = a.mapping
        twin = (g.tile, g.order, g.overlap)
        hit = self._placed.pop(twin, None)  # the other load placement's, computed first
        if hit is None:
            hit = self._first_touch(a)
            self._placed[twin] = hit
        seq, end, last_start = list(hit[0]), hit[1], hit[2]
        if g.spread:
            seq = _spread(
                seq, a.traffic_bytes[BufferRole.INPUT] + a.traffic_bytes[BufferRole.WEIGHT]
            )
        # the last pass carries the drain: its compute ends at the op's end; its outputs go
        # with the op's write-back
        count, load, interval, wb, ready, epi = seq.pop()
        if count > 1:
            seq.append((count - 1, load, interval, wb, ready, epi))
        seq.append((1, load, end - last_start, 0, 0, epi))  # its epilogue from the op's end
        fused = self.p.fused
        return _tile_runs(seq, self.p.unit, fused.unit if fused is not None else ""), end

    def _first_touch(
        self, a: Assessment
    ) -> tuple[list[tuple[int, int, int, int, int, int]], int, int]:
        """The passes of the whole op with their loads at first touch, as ``(count, load bytes,
        compute cycles, write-back bytes, write ready cycles, epilogue cycles)``, its end and
        its last pass's
        start (see :meth:`schedule`)."""
        runs = self.passes(a)
        p = self.p
        inst = p.instances
        if len(runs) > 1 and len(runs) * inst > MAX_RUNS:
            raise TooManyRuns
        bits_x, bits_w = p.bits.input_bits, p.bits.weight_bits
        # integer bytes per loading pass; the remainder up to the burst-rounded total goes to
        # the operand's first load
        sums = [0, 0]
        for count, x, w, _, _ in runs:
            sums[0] += count * int(x * bits_x // 8)
            sums[1] += count * int(w * bits_w // 8)
        extra = [
            a.traffic_bytes[BufferRole.INPUT] - sums[0] * inst,
            a.traffic_bytes[BufferRole.WEIGHT] - sums[1] * inst,
        ]
        # every instance runs the same passes; only the first carries the burst rounding
        first, period, end_one, last_one = self._instance(runs, bits_x, bits_w, extra)
        rest = self._instance(runs, bits_x, bits_w, [0, 0])[0] if inst > 1 else []
        seq = first + rest * (inst - 1)
        shift = (inst - 1) * period  # instance i starts i periods after the first
        if any(extra):  # an operand with traffic but no loading pass: a bug in the rules
            raise AssertionError(f"unplaced DRAM bytes {extra} for {a.mapping}")
        return seq, end_one + shift, last_one + shift

    def _instance(
        self,
        runs: list[tuple[int, int, int, tuple[int, int, int], int]],
        bits_x: float,
        bits_w: float,
        extra: list[int],
    ) -> tuple[list[tuple[int, int, int, int, int, int]], int, int, int]:
        """One instance's passes as ``(count, load bytes, compute cycles, write-back bytes,
        write ready cycles, epilogue cycles)``, each operand's ``extra`` bytes on its first
        load (``extra`` is consumed), and the instance's span of issue intervals, its latest
        ``start + latency`` and its last pass's start. A pass completing ``y`` outputs writes
        their whole bytes (the rounding to bursts goes with the op's write-back), or with a
        fused epilogue runs their epilogue, once its drain is done."""
        seq: list[tuple[int, int, int, int, int, int]] = []
        start = end = last_start = 0
        bits_y = self.p.bits.output_bits
        fused = self.p.fused
        for count, x, w, key, y in runs:
            lx, lw = int(x * bits_x // 8), int(w * bits_w // 8)
            interval, latency = self.pass_timing(*key)
            wb = int(y * bits_y // 8) if fused is None else 0
            epi = fused.cycles(y) if fused is not None else 0
            ready = max(0, latency - interval) if wb or epi else 0
            bumps = 0
            if x and extra[0]:
                bumps += extra[0]
                extra[0] = 0
            if w and extra[1]:
                bumps += extra[1]
                extra[1] = 0
            if bumps:
                seq.append((1, lx + lw + bumps, interval, wb, ready, epi))
                if count > 1:
                    seq.append((count - 1, lx + lw, interval, wb, ready, epi))
            else:
                seq.append((count, lx + lw, interval, wb, ready, epi))
            last_start = start + (count - 1) * interval
            end = max(end, last_start + latency)
            start += count * interval
        return seq, start, end, last_start


@dataclass(frozen=True, slots=True)
class PlanCounts:
    """SRAM and DRAM traffic of one point."""

    sram_read_bytes: dict[BufferRole, int]
    sram_write_bytes: dict[BufferRole, int]
    sram_read_words: dict[BufferRole, int]
    sram_write_words: dict[BufferRole, int]
    dram_in: int
    dram_w: int
    dram_out: int


def plan_counts(problem: GemmProblem, a: Assessment) -> PlanCounts:
    """SRAM and DRAM traffic of point ``a`` (the heuristic's accounting: DRAM fills write the
    buffers, the write-back reads the output buffer)."""
    b = problem.bits
    dram_in = a.traffic_bytes[BufferRole.INPUT]
    dram_w = a.traffic_bytes[BufferRole.WEIGHT]
    dram_out = a.traffic_bytes[BufferRole.OUTPUT]
    r, w = a.sram_read_words, a.sram_write_words
    return PlanCounts(
        sram_read_bytes={
            BufferRole.INPUT: _bytes(r[BufferRole.INPUT], b.input_bits),
            BufferRole.WEIGHT: _bytes(r[BufferRole.WEIGHT], b.weight_bits),
            BufferRole.OUTPUT: _bytes(r[BufferRole.OUTPUT], b.acc_bits) + dram_out,
        },
        sram_write_bytes={
            BufferRole.INPUT: dram_in,
            BufferRole.WEIGHT: dram_w,
            BufferRole.OUTPUT: _bytes(w[BufferRole.OUTPUT], b.acc_bits),
        },
        sram_read_words={
            BufferRole.INPUT: r[BufferRole.INPUT],
            BufferRole.WEIGHT: r[BufferRole.WEIGHT],
            BufferRole.OUTPUT: r[BufferRole.OUTPUT]
            + (problem.m * problem.n * problem.instances if dram_out else 0),
        },
        sram_write_words={
            BufferRole.INPUT: int(dram_in * 8 // b.input_bits),
            BufferRole.WEIGHT: int(dram_w * 8 // b.weight_bits),
            BufferRole.OUTPUT: w[BufferRole.OUTPUT],
        },
        dram_in=dram_in,
        dram_w=dram_w,
        dram_out=dram_out,
    )


def own_counts(c: PlanCounts) -> ActionCounts:
    """The point's own actions (without its write-back, which every point shares)."""
    sram_read = dict(c.sram_read_bytes)
    sram_read[BufferRole.OUTPUT] -= c.dram_out
    return ActionCounts(
        sram_read_bytes=sram_read,
        sram_write_bytes=dict(c.sram_write_bytes),
        dram_read_bytes=dram_bytes(activations=c.dram_in, weights=c.dram_w),
    )


def _tile_runs(
    seq: list[tuple[int, int, int, int, int, int]], unit: str, epilogue_unit: str
) -> tuple[TileRun, ...]:
    """``(count, load bytes, compute cycles, write-back bytes, write ready cycles, epilogue
    cycles)`` as tile runs on ``unit`` (a fused epilogue on ``epilogue_unit``), adjacent alike
    runs joined (as :func:`tersim.mapping.schedule.merge_runs` does); equal runs share one
    object."""
    joined: list[list[int]] = []
    for c, *rest in seq:
        if joined and joined[-1][1:] == rest:
            joined[-1][0] += c
        else:
            joined.append([c, *rest])
    made: dict[tuple[int, ...], TileRun] = {}
    out = []
    for row in joined:
        k = tuple(row)
        r = made.get(k)
        if r is None:
            c, ld, cyc, wb, ready, epi = row
            r = made[k] = TileRun(c, ld, cyc, unit, wb, ready, epi, epilogue_unit if epi else "")
        out.append(r)
    return tuple(out)


def _spread(
    seq: list[tuple[int, int, int, int, int, int]], total_bytes: int
) -> list[tuple[int, int, int, int, int, int]]:
    """Passes ``(count, load bytes, ...)`` with ``total_bytes`` spread evenly over them, the
    first ``total_bytes mod passes`` carrying a byte more (the rule of
    :func:`tersim.mapping.schedule.spread_loads`)."""
    q, extra = divmod(total_bytes, sum(row[0] for row in seq))
    out: list[tuple[int, int, int, int, int, int]] = []
    for count, _, interval, wb, ready, epi in seq:
        take = min(extra, count)
        if take:
            out.append((take, q + 1, interval, wb, ready, epi))
        if count - take:
            out.append((count - take, q, interval, wb, ready, epi))
        extra -= take
    return out


def tile_write_bytes(runs: tuple[TileRun, ...]) -> int:
    """Bytes the tiles write back themselves (the rest of an op's output goes with its
    write-back)."""
    return sum(r.count * r.write_bytes for r in runs)


def _append(out: list[list[Any]], row: list[Any]) -> None:
    """Append a run of passes, joining it to the previous run when they are alike."""
    if out and out[-1][1:] == row[1:]:
        out[-1][0] += row[0]
    else:
        out.append(row)


def _unified_choice(
    opts: dict[BufferRole, tuple[Residency, ...]], size: int, p: GemmProblem
) -> dict[BufferRole, Residency] | None:
    """One buffer for all roles: the combination with the least traffic that fits (then the
    least space, then the first)."""
    best: tuple[tuple[int, int], dict[BufferRole, Residency]] | None = None
    roles = list(opts)
    whole = {
        BufferRole.INPUT: p.m * p.k * p.instances,
        BufferRole.WEIGHT: p.k * p.n * p.instances,
        BufferRole.OUTPUT: 0,  # written once whatever the level
    }
    for combo in itertools.product(*(opts[r] for r in roles)):
        held = sum(r.held_bytes for r in combo)
        if held > size:
            continue
        traffic = sum(
            round(r.fetches * whole[role] * p.element_bits(role))
            for role, r in zip(roles, combo, strict=True)
        )
        key = (traffic, held)
        if best is None or key < best[0]:
            best = (key, dict(zip(roles, combo, strict=True)))
    return None if best is None else best[1]


def _bytes(elements: int, bits: float) -> int:
    return -(-round(elements * bits) // 8)


def _burst(nbytes: int, burst: int) -> int:
    return -(-nbytes // burst) * burst


def loop_label(geo: Geometry, g: GemmMapping, pos: int) -> str:
    """``"k: 43 tiles of 256"`` or ``"n: 32 column folds"`` for the loop at ``pos``."""
    if pos < COL_FOLD_POS:
        d = g.order[pos]
        return f"{d.value}: {geo.trips(g, d)} tiles of {g.size(d)}"
    d = geo.dc if pos == COL_FOLD_POS else geo.dr
    kind = "column" if pos == COL_FOLD_POS else "row"
    return f"{d.value}: {ceil_div(g.size(d), geo.unit[d])} {kind} folds per tile"


def describe(
    geo: Geometry, a: Assessment, chosen_by: str, points: int, assessed: int, simulated: int
) -> MappingInfo:
    """The readable form of assessment ``a``."""
    g = a.mapping
    table = geo.table(g)
    active = sorted({x for d in Dim for x in table[d] if x >= 0})  # loop positions present
    labels = {pos: loop_label(geo, g, pos) for pos in active}
    out = []
    for role in BufferRole:
        res = a.residency[role]
        if res.fetches == 0:
            out.append(OperandResidency(role, "on chip before the op", (), 0, False, 0))
            continue
        inside = [pos for pos in active if pos >= res.level]
        held = (
            "whole operand"
            if not [x for x in active if x < res.level]
            else ("one pass" if not inside else f"from loop '{labels[inside[0]]}'")
        )
        irr = IRRELEVANT[role]
        across = tuple(labels[pos] for pos in inside if _loop_dim(g, geo, pos) is irr)
        out.append(
            OperandResidency(
                role, held, across, res.footprint_bytes, res.double_buffered, res.fetches
            )
        )
    return MappingInfo(
        chosen_by,
        tuple(labels[pos] for pos in active),
        g.tile,
        tuple(out),
        points,
        assessed,
        simulated,
        WRITE_OVERLAPPED if g.overlap else WRITE_AFTER,
        g.loads,
    )


def _loop_dim(g: GemmMapping, geo: Geometry, pos: int) -> Dim:
    if pos < COL_FOLD_POS:
        return g.order[pos]
    return geo.dc if pos == COL_FOLD_POS else geo.dr
