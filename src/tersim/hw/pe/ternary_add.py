"""Ternary adder PE: a weight in {-1, 0, +1} adds, subtracts or skips its activation.

Actions per slot: ``add`` (+1), ``sub`` (-1) or ``skip`` (0). Measured counts come from the
functional model; otherwise the assumed zero fraction (:data:`ASSUMED_TERNARY_ZERO_FRACTION`;
binary weights never skip) with +1 and -1 equally likely (the odd slot is an add). A zero
activation is gated with ``array.act_zero_skipping`` (``act_skip``), and compaction applies
(:mod:`.base`).

Energy: each add or sub is one integer add at the accumulator width (BitNet's claim prices an
INT8 add); a skip costs a zero check when the design skips zeros, else the same add (a zero is
accumulated like any other weight). It has no multiplier, so it cannot run an activation x
activation product (attention).

Area (:func:`tersim.tech.area.ternary_add_pe_um2`): adder at the accumulator width, registers
for the partial sum, the forwarded activation and the 2-bit weight, sign and zero gates.
"""

from __future__ import annotations

from tersim.config.enums import PE_WEIGHT_FORMATS, PEKind, WeightFormat
from tersim.config.hardware import ArrayConfig
from tersim.hw.counts import PECounts
from tersim.hw.pe.base import (
    ASSUMED_TERNARY_ZERO_FRACTION,
    MeasuredSlots,
    OnePassSlotPE,
    PEArea,
    PEPrices,
    datapath_act_bits,
    gated_area,
    int_add,
)
from tersim.tech import area as ta
from tersim.tech.tables import EnergyTable, Sourced


class TernaryAddPE(OnePassSlotPE):
    kind = PEKind.TERNARY_ADD
    native_act_bits = 8
    native_out_bits = 16  # int32 sums rescaled by gamma * max|x| / 127 to a 16-bit float

    @property
    def weight_formats(self) -> tuple[WeightFormat, ...]:
        return PE_WEIGHT_FORMATS[self.kind]

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        return weight_format in self.weight_formats

    def slot_actions(
        self, macs: int, weight_format: WeightFormat | None, measured: MeasuredSlots | None
    ) -> PECounts:
        if measured is not None:
            return PECounts(add=measured.adds, sub=measured.subs, skip=measured.skips)
        skip = round(macs * self.assumed_zero_fraction(weight_format))
        add = (macs - skip + 1) // 2
        return PECounts(add=add, sub=macs - skip - add, skip=skip)

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float:
        return 0.0 if weight_format == WeightFormat.BINARY else ASSUMED_TERNARY_ZERO_FRACTION

    def prices(self, table: EnergyTable, array: ArrayConfig) -> PEPrices:
        add = int_add(table, array.accumulator_bits)
        return PEPrices(
            mul_pj=Sourced(0.0, "no multiplier"),
            add_pj=add,
            skip_pj=table.zero_check_pj if array.zero_skipping else add,
            act_skip_pj=table.zero_check_pj,
        )

    def peak_pj_per_cycle(self, prices: PEPrices, array: ArrayConfig) -> float:
        return prices.add_pj.value

    def pe_cycles(self, actions: PECounts, array: ArrayConfig) -> int:
        return actions.add + actions.sub + actions.skip + actions.act_skip

    def area(self, t: ta.AreaTable, array: ArrayConfig) -> PEArea:
        cell = ta.ternary_add_pe_um2(
            t, array.accumulator_bits, datapath_act_bits(self, array), array.shadow_stationary
        )
        return gated_area(t, array, cell, datapath_act_bits(self, array))


MODEL = TernaryAddPE()
