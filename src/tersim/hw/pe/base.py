"""The ``PEModel`` protocol: what one processing element kind takes, does, costs and occupies.

A PE model answers, for its kind: which weight formats it executes and its native formats; which
matrix products it can run at all (an adder PE cannot multiply two activations); the actions one
weight x activation slot costs (mul, add, sub, skip); how many array passes a tile needs (one for
a bit-parallel PE; a bit-serial PE takes one per weight bit-plane); the energy of each action
from the node's table at the configured accumulator width; and its area and leakage (area: the
area model of issue 10; leakage today from the node table's per-PE figure).

Each kind is one module of this package named after its :class:`PEKind` value, exporting
``MODEL``; :func:`tersim.hw.pe.pe_model` finds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tersim.config.enums import PEKind, WeightFormat
from tersim.hw.counts import PECounts
from tersim.tech.tables import EnergyTable, Sourced

# Zero fraction of absmean-quantized weights drawn from a normal distribution, assumed when a
# trace has no measured counts: P(|w| < gamma / 2) with gamma = E|w| = sigma sqrt(2 / pi), i.e.
# erf(1 / (2 sqrt(pi))) ~ 0.310, with +1 and -1 equally likely.
ASSUMED_TERNARY_ZERO_FRACTION = math.erf(1.0 / (2.0 * math.sqrt(math.pi)))


@dataclass(frozen=True)
class MeasuredSlots:
    """Adds, subtracts and zero-weight slots a functional run counted for one matmul op."""

    adds: int
    subs: int
    skips: int


@dataclass(frozen=True)
class PEPrices:
    """Energy per PE action (pJ) and static power per PE (uW), each with its source."""

    mul_pj: Sourced
    add_pj: Sourced  # one accumulation (a ternary add/sub, or a MAC's add)
    skip_pj: Sourced  # a zero-weight slot
    leakage_uw: Sourced


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

    def slot_actions(
        self, macs: int, weight_format: WeightFormat | None, measured: MeasuredSlots | None
    ) -> PECounts:
        """The actions of ``macs`` weight x activation slots."""
        ...

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float | None:
        """Zero-weight fraction ``slot_actions`` assumes without measured counts (None: the PE
        treats zeros like any weight)."""
        ...

    def passes_per_tile(self, weight_bits: float) -> int:
        """Array passes one tile takes (a bit-serial PE: one per weight bit-plane)."""
        ...

    def prices(self, table: EnergyTable, accumulator_bits: int, zero_skipping: bool) -> PEPrices:
        """Energy per action at the node of ``table``."""
        ...

    def area_um2(self, accumulator_bits: int) -> float | None:
        """Area of one PE, or None where the area model has no figure (issue 10)."""
        ...


def int_add(table: EnergyTable, bits: int) -> Sourced:
    """An integer add at an accumulator of ``bits``: INT8 up to 8, INT16 up to 16, else INT32."""
    if bits <= 8:
        return table.int8_add_pj
    if bits <= 16:
        return table.int16_add_pj
    return table.int32_add_pj
