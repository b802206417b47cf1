"""The ``PEModel`` protocol: what one processing element kind takes, does, costs and occupies.

A PE model answers, for its kind: which weight formats it executes and its native formats; which
matrix products it can run at all (an adder PE cannot multiply two activations); how a matrix
op maps onto an array of such PEs (:meth:`PEModel.map_matmul`: the reduction length along the
array rows, the bits of one streamed and one stationary element, the array passes per tile, the
work the vector unit does first, and every PE action); the energy of each action from the node's
table (``prices``); and its area (``area``: one PE cell, plus the logic at each array row's
edge, before place and route).

Each kind is one module of this package named after its :class:`PEKind` value, exporting
``MODEL``; :func:`tersim.hw.pe.pe_model` finds it.

Rules shared by the kinds (helpers below):

* **Activation sparsity.** ``MatmulShape.act_sparsity`` is the fraction of zero activation
  inputs (measured by the functional model, or the design's assumed fraction). With
  ``array.act_compaction`` the weight rows whose activations are zero for *every* token of the op
  are dropped before the array runs; assuming independent zeros, a row of ``g`` activations
  (``g`` = 1, or a LUT PE's group) for ``m`` tokens is all zero with probability
  ``s ** (m * g)``, so ``round(rows * s ** (m * g))`` rows are dropped: the reduction, the
  weight bytes and the slots shrink (decode, ``m = 1``, gains; prefill, ``m`` in the hundreds,
  does not). Its cost: the vector unit reads every activation once (one element op each) and
  writes the kept rows' indices (``ceil(log2 rows)`` bits each) to the input buffer, which the
  weight fetch reads back. With ``array.act_zero_skipping`` a slot whose activation is zero
  costs one zero check (``act_skip``) instead of its actions (PE kinds that can gate); the
  zero slots left after compaction are ``round(slots * s)`` minus the dropped ones.
* **Measured counts** (adds, subtracts, skips of a functional run) are split over the slots
  that remain in proportion (largest remainder), assuming weight and activation zeros are
  independent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

from tersim.config.enums import PEKind, WeightFormat
from tersim.config.hardware import ArrayConfig
from tersim.hw.counts import PECounts
from tersim.tech import area as ta
from tersim.tech.area import AreaTable
from tersim.tech.tables import EnergyTable, Sourced

# Zero fraction of absmean-quantized weights drawn from a normal distribution, assumed when a
# trace has no measured counts: P(|w| < gamma / 2) with gamma = E|w| = sigma sqrt(2 / pi), i.e.
# erf(1 / (2 sqrt(pi))) ~ 0.310, with +1 and -1 equally likely.
ASSUMED_TERNARY_ZERO_FRACTION = math.erf(1.0 / (2.0 * math.sqrt(math.pi)))

NOT_AN_ACTION = Sourced(0.0, "not an action of this PE kind")


@dataclass(frozen=True)
class MeasuredSlots:
    """Adds, subtracts and zero-weight slots a functional run counted for one matmul op."""

    adds: int
    subs: int
    skips: int


@dataclass(frozen=True)
class MatmulShape:
    """One matrix op as the array sees it: ``count`` GEMMs of (m x k) activations times (k x n)
    weights (or, ``weight_format`` None, a KV-cache operand of ``weight_bits``)."""

    m: int
    n: int
    k: int
    count: int
    act_bits: float
    weight_bits: float
    weight_format: WeightFormat | None
    act_sparsity: float = 0.0  # fraction of zero activation inputs

    @property
    def slots(self) -> int:
        """Weight x activation products: count * m * n * k."""
        return self.count * self.m * self.n * self.k


@dataclass(frozen=True)
class ArrayMatmul:
    """How one matrix op runs on the array, and the work the vector unit does before it."""

    k: int  # reduction length along the array rows (K; K / g groups; minus dropped rows)
    input_bits: float  # bits of one streamed element (an activation, g of them, or a table)
    weight_bits: float  # bits of one stationary element (a weight, or a group's index)
    passes_per_tile: int  # array passes per tile (a bit-serial PE: one per bit-plane beat)
    input_built_on_chip: bool  # the streamed operand is made on chip (tables, vector unit)
    prep_vector_ops: int  # vector-unit element ops before the array (table builds, compaction)
    prep_input_read_bytes: int  # input-buffer bytes that work reads
    prep_input_write_bytes: int  # input-buffer bytes it writes (tables, row indices)
    actions: PECounts


@dataclass(frozen=True)
class PEPrices:
    """Energy per PE action (pJ), each with its source; names follow :class:`PECounts`."""

    mul_pj: Sourced
    add_pj: Sourced  # one accumulation (a ternary add/sub, a MAC's or a lookup's add)
    skip_pj: Sourced  # a zero-weight slot
    lookup_pj: Sourced = NOT_AN_ACTION
    table_add_pj: Sourced = NOT_AN_ACTION
    plane_add_pj: Sourced = NOT_AN_ACTION
    act_skip_pj: Sourced = NOT_AN_ACTION

    def price(self, action: str) -> Sourced:
        """The price of :class:`PECounts` field ``action`` (``sub`` is priced as ``add``)."""
        return self.add_pj if action == "sub" else getattr(self, f"{action}_pj")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PEArea:
    """Area before place and route: one PE, and the logic at the edge of each array row."""

    cell_um2: Sourced
    row_um2: Sourced


NO_ROW_LOGIC = Sourced(0.0, "no per-row logic")


@runtime_checkable
class PEModel(Protocol):
    kind: PEKind
    native_act_bits: int  # activation bits of its native format (inputs of matrix products)
    native_out_bits: int  # bits of the outputs it writes back (after rescaling)

    @property
    def weight_formats(self) -> tuple[WeightFormat, ...]:
        """Weight formats it executes, the native one first."""
        ...

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        """Whether the array can run a matrix product whose second operand has
        ``weight_format`` (None: an activation, e.g. the KV cache) of ``operand_bits``."""
        ...

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float | None:
        """Zero-weight fraction it assumes without measured counts (None: the PE treats zeros
        like any weight)."""
        ...

    def passes_per_tile(self, array: ArrayConfig, weight_bits: float) -> int:
        """Array passes one tile takes (a bit-serial PE: one per beat of weight bit-planes)."""
        ...

    def map_matmul(
        self, array: ArrayConfig, shape: MatmulShape, measured: MeasuredSlots | None
    ) -> ArrayMatmul:
        """How ``shape`` runs on an array of these PEs, with every action."""
        ...

    def prices(self, table: EnergyTable, array: ArrayConfig) -> PEPrices:
        """Energy per action at the node of ``table``."""
        ...

    def peak_pj_per_cycle(self, prices: PEPrices, array: ArrayConfig) -> float:
        """Energy one PE spends in a cycle of full activity (its share of row logic included)."""
        ...

    def pe_cycles(self, actions: PECounts, array: ArrayConfig) -> int:
        """PE-cycles ``actions`` keep the array busy (for utilization)."""
        ...

    def area(self, t: AreaTable, array: ArrayConfig) -> PEArea:
        """Area of one PE and of each row's edge logic at the node of ``t``."""
        ...


def int_add(table: EnergyTable, bits: int) -> Sourced:
    """An integer add at an accumulator of ``bits``: INT8 up to 8, INT16 up to 16, else INT32."""
    if bits <= 8:
        return table.int8_add_pj
    if bits <= 16:
        return table.int16_add_pj
    return table.int32_add_pj


def datapath_act_bits(pe: PEModel, array: ArrayConfig) -> int:
    """Width of the PEs' activation datapath: the design's ``activation_bits``, else native."""
    return array.activation_bits if array.activation_bits is not None else pe.native_act_bits


# ---- shared rules ---------------------------------------------------------------------------


def proportional(parts: dict[str, int], total: int) -> dict[str, int]:
    """``parts`` rescaled to sum to ``total``, by largest remainder (ties: first key)."""
    have = sum(parts.values())
    if have == total:
        return dict(parts)
    if have == 0:
        return {k: 0 for k in parts}
    exact = {k: v * total / have for k, v in parts.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    order = sorted(parts, key=lambda k: (-(exact[k] - out[k]), list(parts).index(k)))
    for k in order[: total - sum(out.values())]:
        out[k] += 1
    return out


def scale_measured(measured: MeasuredSlots | None, slots: int) -> MeasuredSlots | None:
    """``measured`` spread over ``slots`` slots in its own proportions."""
    if measured is None:
        return None
    p = proportional({"a": measured.adds, "s": measured.subs, "z": measured.skips}, slots)
    return MeasuredSlots(p["a"], p["s"], p["z"])


def dropped_rows(array: ArrayConfig, rows: int, m: int, group: int, sparsity: float) -> int:
    """Rows (of ``group`` activations each, for ``m`` tokens) that compaction drops."""
    if not array.act_compaction or sparsity <= 0.0:
        return 0
    return round(rows * sparsity ** (m * group))


def compaction_prep(
    array: ArrayConfig, shape: MatmulShape, kept_rows: int, rows: int
) -> tuple[int, int]:
    """(vector ops, index bytes) of compacting ``shape``'s activations to ``kept_rows``."""
    if not array.act_compaction or shape.act_sparsity <= 0.0:
        return 0, 0
    index_bits = max(1, math.ceil(math.log2(rows))) if rows > 1 else 1
    return shape.count * shape.m * shape.k, -(-shape.count * kept_rows * index_bits // 8)


SlotActions = Callable[[int, WeightFormat | None, MeasuredSlots | None], PECounts]


def slotwise_matmul(
    array: ArrayConfig,
    shape: MatmulShape,
    measured: MeasuredSlots | None,
    slot_actions: SlotActions,
    passes_per_tile: int,
    gates_zero_activations: bool,
) -> ArrayMatmul:
    """The mapping of a PE that does one weight x activation slot per array position (adder,
    MAC, bit-serial): the module doc's compaction and gating rules around ``slot_actions``."""
    drop = dropped_rows(array, shape.k, shape.m, 1, shape.act_sparsity)
    kept_rows = shape.k - drop
    dropped_slots = shape.count * shape.m * shape.n * drop
    kept = shape.slots - dropped_slots
    zero = 0
    if array.act_zero_skipping and gates_zero_activations:
        zero = min(kept, max(0, round(shape.slots * shape.act_sparsity) - dropped_slots))
    live = kept - zero
    actions = slot_actions(live, shape.weight_format, scale_measured(measured, live))
    if zero:
        actions = actions + PECounts(act_skip=zero)
    ops, index_bytes = compaction_prep(array, shape, kept_rows, shape.k)
    return ArrayMatmul(
        k=max(kept_rows, 1),
        input_bits=shape.act_bits,
        weight_bits=shape.weight_bits,
        passes_per_tile=passes_per_tile,
        input_built_on_chip=False,
        prep_vector_ops=ops,
        prep_input_read_bytes=index_bytes,
        prep_input_write_bytes=index_bytes,
        actions=actions,
    )


def weighted_pj(counts: PECounts, prices: PEPrices) -> float:
    """Energy of ``counts`` at ``prices`` (every action field times its price)."""
    return sum(getattr(counts, f.name) * prices.price(f.name).value for f in fields(counts))


def gated_area(t: AreaTable, array: ArrayConfig, cell: Sourced, act_bits: int) -> PEArea:
    """``cell`` plus, with ``act_zero_skipping``, the gating hardware: a zero flag register bit
    per PE and a zero detector (``act_bits`` gate bits) per row; no row logic otherwise."""
    if not array.act_zero_skipping:
        return PEArea(cell, NO_ROW_LOGIC)
    flag = ta.register_um2(t, 1)
    detector = Sourced(act_bits * t.gate_bit_um2.value, f"{act_bits} gate bits (zero detector)")
    return PEArea(
        Sourced(cell.value + flag.value, f"{cell.source} + zero flag {flag.value:.2f} um^2"),
        detector,
    )


class OnePassSlotPE:
    """What a PE doing one weight x activation slot per array position in one pass per tile
    shares (adder, MAC): its tiles are single passes and its mapping is :func:`slotwise_matmul`
    with zero activations gated. A subclass gives ``slot_actions``."""

    def slot_actions(
        self, macs: int, weight_format: WeightFormat | None, measured: MeasuredSlots | None
    ) -> PECounts:
        raise NotImplementedError

    def passes_per_tile(self, array: ArrayConfig, weight_bits: float) -> int:
        return 1

    def map_matmul(
        self, array: ArrayConfig, shape: MatmulShape, measured: MeasuredSlots | None
    ) -> ArrayMatmul:
        return slotwise_matmul(array, shape, measured, self.slot_actions, 1, True)
