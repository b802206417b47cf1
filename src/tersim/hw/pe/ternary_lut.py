"""LUT-based ternary PE: a table of a group of g activations' partial sums, indexed by g weights.

Rules (docs/pe-kinds-research.md has the sources; each is cited where it is used):

* **Groups.** The reduction K is cut into ``G = ceil(K / g)`` groups of ``g`` weights
  (``array.lut_group_size``; the last group is padded with zero weights and activations). An
  array row holds one group: the array runs a GEMM of reduction length G whose stationary
  element is a group's index and whose streamed element is the group's table (T-MAC, bitnet.cpp
  TL1/TL2 and the LUT Tensor Core all replace g multiply-accumulates by one lookup).
* **Tables, scheme ``bit_plane``** (T-MAC ``lut_ctor.cc``; LUT Tensor Core RTL
  ``A_LUT_DIM = 2**(K_DIM-1)``): a weight bit-plane is read as signs ``s_i`` in {-1, +1}; the
  table holds the ``2^(g-1)`` sums ``a_0 + sum_{i>0} s_i a_i`` and mirror symmetry gives the
  rest (``T(-s) = -T(s)``: the plane's first sign picks the negation). Ternary weights are two
  planes with tersim's encoding ``w = (s0 + s1) / 2`` (+1: ++, -1: --, 0: +-), so
  ``2 y = sum over groups of T(s0) + T(s1)``, exact in integers (a derived encoding: T-MAC
  weighs its planes 1/2, 1, ... with a bias term instead); binary weights are one plane,
  ``w = s0``. One lookup and one accumulating add per output, group and plane; the PE takes one
  plane per cycle (LUT Tensor Core: "each cycle handles one bit plane"), so a tile takes as many
  array passes as planes.
* **Tables, scheme ``direct``** (bitnet.cpp TL2, ``preprocess_three_weights_tl2`` and
  ``three_lut_ctor``): the weights' balanced-ternary code ``v = sum w_i 3^(g-1-i)`` gives index
  ``|v|`` and a sign bit ``v < 0``; the table holds the ``(3^g + 1) / 2`` sums whose first
  non-zero coefficient is +1 (and 0). One lookup (plus the conditional negation, in the
  lookup's datapath) and one add per output and group; one pass per tile.
* **Building a table** (research rule: one add per stored entry beyond what is free). bit_plane:
  a tree, level j's ``2^(j-1)`` sums are level j-1's plus and minus ``a_j``: ``2^g - 2`` adds.
  direct: every entry with two or more non-zero coefficients is a shorter stored entry plus or
  minus one activation, one add; zero and the ``g`` single activations are free:
  ``(3^g + 1) / 2 - 1 - g`` adds. A table is built once per group of one activation row and
  serves all N outputs (its cost divides by N).
* **Where the build runs** (``array.lut_table_build``): ``array``: adders at each array row's
  edge build one table per cycle from the g activations streamed into the row (the input buffer
  streams ``g x act_bits`` per row element; pipelined, its latency is not counted);
  ``vector``: the vector unit builds every table first (``table adds`` vector ops, and cycles at
  its lane rate), writes them to the input buffer, and the array streams tables
  (``entries x entry_bits`` per element; T-MAC and bitnet.cpp build on the CPU, the LUT Tensor
  Core in a fused software operator). Tables built on chip never go to DRAM (their spilling is
  not modeled); the activations they come from are read as usual.
* **Entries** are ``act_bits + ceil(log2 g)`` bits (a sum of g signed activations); the table is
  held once per array row and broadcast to the row's PEs (the LUT Tensor Core's layout); the
  timing keeps the systolic skew of :mod:`tersim.hw.dataflow` (conservative by C - 1 cycles a
  pass) and the broadcast wires' energy is not modeled.
* **Zeros.** A lookup sums g activations: a zero activation or weight saves nothing
  (``act_zero_skipping`` and ``zero_skipping`` have no effect). Compaction drops groups whose g
  activations are zero for every token (:mod:`.base`).
* **Energy.** Accumulating add: an integer add at the accumulator width; table add: an integer
  add at the entry width; lookup: the cells on the selected path of the entry mux
  (``ceil(log2 entries)`` levels of ``entry_bits`` 2:1 muxes) and the negation XORs, priced at
  the INT8 adder's energy per um^2 (tersim assumption: switched energy proportional to the area
  of the cells that switch; no published per-lookup figure was found).
* **Area** (:func:`tersim.tech.area.ternary_lut_pe_um2`, :func:`~tersim.tech.area.lut_row_um2`):
  per PE the index register, plane select, entry mux, negation, adder and partial sum; per row
  two tables in flip-flops and, for an in-array build, its adders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tersim.config.enums import PE_WEIGHT_FORMATS, LutScheme, PEKind, TableBuild, WeightFormat
from tersim.config.hardware import ArrayConfig
from tersim.hw.counts import PECounts
from tersim.hw.pe.base import (
    ArrayMatmul,
    MatmulShape,
    MeasuredSlots,
    PEArea,
    PEPrices,
    compaction_prep,
    datapath_act_bits,
    dropped_rows,
    int_add,
)
from tersim.tech import area as ta
from tersim.tech.tables import EnergyTable, Sourced

# ---- the table rules ------------------------------------------------------------------------


def entries(scheme: LutScheme, g: int) -> int:
    """Stored entries of one table."""
    return 2 ** (g - 1) if scheme is LutScheme.BIT_PLANE else (3**g + 1) // 2


def build_adds(scheme: LutScheme, g: int) -> int:
    """Adds to build one table (module rules)."""
    return 2**g - 2 if scheme is LutScheme.BIT_PLANE else entries(scheme, g) - 1 - g


def planes(scheme: LutScheme, weight_bits: float) -> int:
    """Lookups per output and group: the weight's bit-planes (bit_plane), or 1 (direct)."""
    if scheme is LutScheme.DIRECT:
        return 1
    return 1 if weight_bits < 2 else 2


def index_bits(scheme: LutScheme, g: int) -> int:
    """Bits of one group's stationary index, per plane (sign included)."""
    if scheme is LutScheme.BIT_PLANE:
        return g  # g - 1 index bits and the first sign
    return math.ceil(math.log2(entries(scheme, g))) + 1  # |v| and its sign


def entry_bits(act_bits: float, g: int) -> int:
    """Bits of one entry: a sum of g signed activations."""
    return math.ceil(act_bits) + math.ceil(math.log2(g))


# ---- the PE's arithmetic, executable (the hand test and any check run it) --------------------


@dataclass(frozen=True)
class LutRun:
    """What :func:`lut_product` did: the product and its actions."""

    product: np.ndarray  # (M, N) int64
    tables: int
    table_adds: int
    lookups: int
    adds: int
    table_entries: tuple[np.ndarray, ...]  # every table built, in (row, group) order


def _bit_plane_table(a: np.ndarray) -> tuple[np.ndarray, int]:
    """The 2^(g-1) sums a0 + sum s_i a_i (entry index bit i-1 set: s_i = +1), and its adds."""
    level = [int(a[0])]
    adds = 0
    for ai in a[1:]:
        level = [v for e in level for v in (e - int(ai), e + int(ai))]
        adds += len(level)
    # level order: index bit (i - 1) is the choice at level i, most significant first
    g = len(a)
    table = np.zeros(2 ** (g - 1), np.int64)
    for pos, v in enumerate(level):
        idx = sum(((pos >> (g - 1 - i)) & 1) << (i - 1) for i in range(1, g))
        table[idx] = v
    return table, adds


def _digits(code: int, g: int) -> list[int]:
    """Balanced-ternary digits of ``code`` (most significant first), g of them."""
    out = []
    for _ in range(g):
        r = code % 3
        code //= 3
        if r == 2:
            r, code = -1, code + 1
        out.append(r)
    return out[::-1]


def _direct_table(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Entries for codes 0..(3^g - 1) / 2 (leading non-zero digit +1), and the adds."""
    g = len(a)
    n = entries(LutScheme.DIRECT, g)
    table = np.zeros(n, np.int64)
    adds = 0
    for code in range(1, n):
        d = _digits(code, g)
        p = next(i for i, v in enumerate(d) if v)
        rest = code - 3 ** (g - 1 - p)
        if rest == 0:
            table[code] = int(a[p])
        else:
            table[code] = int(a[p]) + (1 if rest > 0 else -1) * table[abs(rest)]
            adds += 1
    return table, adds


def _plane_signs(trits: np.ndarray, weight_format: WeightFormat) -> list[np.ndarray]:
    """The sign planes of ``trits``: ternary (s0, s1) with w = (s0 + s1) / 2, binary w = s0."""
    t = np.asarray(trits, np.int64)
    if weight_format is WeightFormat.BINARY:
        return [t]
    s0 = np.where(t == -1, -1, 1)
    s1 = np.where(t == 1, 1, -1)
    return [s0, s1]


def lut_product(
    x: np.ndarray,
    trits: np.ndarray,
    g: int,
    scheme: LutScheme,
    weight_format: WeightFormat = WeightFormat.TERNARY,
) -> LutRun:
    """``x @ trits`` the way the LUT PE computes it: build each activation row's tables per
    group, look each weight group up, accumulate. ``x``: (M, K) integers; ``trits``: (K, N)."""
    xa = np.asarray(x, np.int64)
    w = np.asarray(trits, np.int64)
    m_rows, k = xa.shape
    n = w.shape[1]
    groups = -(-k // g)
    xp = np.zeros((m_rows, groups * g), np.int64)
    xp[:, :k] = xa
    wp = np.zeros((groups * g, n), np.int64)
    wp[:k] = w
    y = np.zeros((m_rows, n), np.int64)
    built: list[np.ndarray] = []
    t_adds = lookups = adds = 0
    sign_planes = _plane_signs(wp, weight_format) if scheme is LutScheme.BIT_PLANE else []
    for row in range(m_rows):
        for j in range(groups):
            a = xp[row, j * g : (j + 1) * g]
            table, cost = (_bit_plane_table if scheme is LutScheme.BIT_PLANE else _direct_table)(a)
            built.append(table)
            t_adds += cost
            for col in range(n):
                if scheme is LutScheme.BIT_PLANE:
                    for s in sign_planes:
                        sg = s[j * g : (j + 1) * g, col]
                        first = int(sg[0])
                        idx = sum(int(first * sg[i] > 0) << (i - 1) for i in range(1, g))
                        y[row, col] += first * table[idx]
                        lookups += 1
                        adds += 1
                else:
                    digits = wp[j * g : (j + 1) * g, col]
                    code = sum(int(v) * 3 ** (g - 1 - i) for i, v in enumerate(digits))
                    y[row, col] += (1 if code >= 0 else -1) * table[abs(code)]
                    lookups += 1
                    adds += 1
    if scheme is LutScheme.BIT_PLANE and weight_format is not WeightFormat.BINARY:
        assert np.all(y % 2 == 0)
        y //= 2  # 2 y = T(s0) + T(s1): a shift
    return LutRun(y, m_rows * groups, t_adds, lookups, adds, tuple(built))


# ---- the PE model ---------------------------------------------------------------------------


def _format_bits(array: ArrayConfig, native: WeightFormat) -> float:
    return 1.0 if (array.weight_format or native) is WeightFormat.BINARY else 2.0


class TernaryLutPE:
    kind = PEKind.TERNARY_LUT
    native_act_bits = 8
    native_out_bits = 16  # integer sums rescaled to a 16-bit float, as the adder PE

    @property
    def weight_formats(self) -> tuple[WeightFormat, ...]:
        return PE_WEIGHT_FORMATS[self.kind]

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        return weight_format in self.weight_formats  # tables need weights; no attention

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float | None:
        return None  # zero weights are looked up like any other

    def passes_per_tile(self, array: ArrayConfig, weight_bits: float) -> int:
        return planes(array.lut_scheme, weight_bits)

    def map_matmul(
        self, array: ArrayConfig, shape: MatmulShape, measured: MeasuredSlots | None
    ) -> ArrayMatmul:
        g, scheme = array.lut_group_size, array.lut_scheme
        groups = -(-shape.k // g)
        kept = groups - dropped_rows(array, groups, shape.m, g, shape.act_sparsity)
        p = planes(scheme, shape.weight_bits)
        lookups = shape.count * shape.m * shape.n * kept * p
        tables = shape.count * shape.m * kept
        adds = tables * build_adds(scheme, g)
        e_bits = entry_bits(datapath_act_bits(self, array), g)
        scan_ops, index_bytes = compaction_prep(array, shape, kept, groups)
        w_bits = p * index_bits(scheme, g)
        if array.lut_table_build is TableBuild.ARRAY:
            return ArrayMatmul(
                k=max(kept, 1),
                input_bits=g * shape.act_bits,
                weight_bits=w_bits,
                passes_per_tile=p,
                input_built_on_chip=False,
                prep_vector_ops=scan_ops,
                prep_input_read_bytes=index_bytes,
                prep_input_write_bytes=index_bytes,
                actions=PECounts(add=lookups, lookup=lookups, table_add=adds),
            )
        table_bits = entries(scheme, g) * e_bits
        act_bytes = -(-round(shape.count * shape.m * shape.k * shape.act_bits) // 8)
        return ArrayMatmul(
            k=max(kept, 1),
            input_bits=table_bits,
            weight_bits=w_bits,
            passes_per_tile=p,
            input_built_on_chip=True,
            prep_vector_ops=scan_ops + adds,
            prep_input_read_bytes=index_bytes + act_bytes,
            prep_input_write_bytes=index_bytes + -(-tables * table_bits // 8),
            actions=PECounts(add=lookups, lookup=lookups),
        )

    def lookup_pj(self, table: EnergyTable, array: ArrayConfig) -> Sourced:
        """Energy of one lookup (module rule: selected-path cells at the INT8 adder's pJ/um^2)."""
        t = ta.area_table(table.node)
        g, scheme = array.lut_group_size, array.lut_scheme
        e_bits = entry_bits(datapath_act_bits(self, array), g)
        levels = math.ceil(math.log2(entries(scheme, g))) if entries(scheme, g) > 1 else 0
        path_um2 = levels * e_bits * t.mux2_bit_um2.value + e_bits * t.gate_bit_um2.value
        per_um2 = table.int8_add_pj.value / t.int8_add_um2.value
        return Sourced(
            path_um2 * per_um2,
            f"tersim assumption: mux path {levels} levels x {e_bits} bits + {e_bits} XORs = "
            f"{path_um2:.2f} um^2 x INT8 add {table.int8_add_pj.value} pJ / "
            f"{t.int8_add_um2.value:.2f} um^2",
        )

    def prices(self, table: EnergyTable, array: ArrayConfig) -> PEPrices:
        add = int_add(table, array.accumulator_bits)
        e_bits = entry_bits(datapath_act_bits(self, array), array.lut_group_size)
        return PEPrices(
            mul_pj=Sourced(0.0, "no multiplier"),
            add_pj=add,
            skip_pj=add,
            lookup_pj=self.lookup_pj(table, array),
            table_add_pj=int_add(table, e_bits),
        )

    def peak_pj_per_cycle(self, prices: PEPrices, array: ArrayConfig) -> float:
        pj = prices.lookup_pj.value + prices.add_pj.value
        if array.lut_table_build is TableBuild.ARRAY:
            g, scheme = array.lut_group_size, array.lut_scheme
            p = planes(scheme, _format_bits(array, self.weight_formats[0]))
            pj += prices.table_add_pj.value * build_adds(scheme, g) / (p * array.cols)
        return pj

    def pe_cycles(self, actions: PECounts, array: ArrayConfig) -> int:
        return actions.lookup

    def area(self, t: ta.AreaTable, array: ArrayConfig) -> PEArea:
        g, scheme = array.lut_group_size, array.lut_scheme
        n_entries = entries(scheme, g)
        e_bits = entry_bits(datapath_act_bits(self, array), g)
        p = planes(scheme, _format_bits(array, self.weight_formats[0]))
        cell = ta.ternary_lut_pe_um2(
            t,
            array.accumulator_bits,
            n_entries,
            e_bits,
            index_bits(scheme, g),
            p,
            array.shadow_stationary,
        )
        builds = build_adds(scheme, g) if array.lut_table_build is TableBuild.ARRAY else 0
        return PEArea(cell, ta.lut_row_um2(t, n_entries, e_bits, builds))


MODEL = TernaryLutPE()
