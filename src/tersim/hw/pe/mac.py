"""Multiply-accumulate PEs: one ``mul`` and one accumulating ``add`` per weight x activation slot.

Shared by the FP16, BF16 and INT8 MAC kinds (each its own module naming its formats and
prices; the two 16-bit float kinds through :func:`float16_mac`). A MAC PE multiplies, so it also runs activation x activation products (attention):
float MACs any, an INT8 MAC only against an operand of at most 8 bits (an 8-bit KV cache).
Float MACs take either 16-bit float weight format (the FP16 LM head on a BF16 array). A MAC
multiplies zero weights too; a zero activation is gated (operand isolation: ``act_skip``, a zero
check) with ``array.act_zero_skipping``, and compaction applies (:mod:`.base`).

Area (:mod:`tersim.tech.area`): multiplier, adder by accumulator width, registers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tersim.config.enums import PE_WEIGHT_FORMATS, PEKind, WeightFormat
from tersim.config.hardware import ArrayConfig
from tersim.hw.counts import PECounts
from tersim.hw.pe.base import (
    MeasuredSlots,
    OnePassSlotPE,
    PEArea,
    PEPrices,
    gated_area,
    int_add,
)
from tersim.tech import area as ta
from tersim.tech.tables import EnergyTable, Sourced

FLOAT16_FORMATS = (WeightFormat.FP16, WeightFormat.BF16)


@dataclass(frozen=True)
class MacPE(OnePassSlotPE):
    kind: PEKind
    native_act_bits: int
    native_out_bits: int
    is_float: bool  # float multiplier and adder (FP16 figures; BF16 has none of its own)
    max_operand_bits: float  # widest activation operand its multiplier takes
    cell_um2: Callable[[ta.AreaTable, int, bool], Sourced]  # (table, accumulator bits, shadow)

    @property
    def weight_formats(self) -> tuple[WeightFormat, ...]:
        return PE_WEIGHT_FORMATS[self.kind]

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        if weight_format is None:  # activations x KV cache
            return operand_bits <= self.max_operand_bits
        if weight_format in self.weight_formats:
            return True
        return self.is_float and weight_format in FLOAT16_FORMATS

    def slot_actions(
        self, macs: int, weight_format: WeightFormat | None, measured: MeasuredSlots | None
    ) -> PECounts:
        return PECounts(add=macs, mul=macs)  # a MAC multiplies zeros too

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float | None:
        return None

    def prices(self, table: EnergyTable, array: ArrayConfig) -> PEPrices:
        acc = array.accumulator_bits
        if self.is_float:
            mul = table.fp16_mul_pj
            add = table.fp16_add_pj if acc <= 16 else table.fp32_add_pj
        else:
            mul, add = table.int8_mul_pj, int_add(table, acc)
        return PEPrices(mul_pj=mul, add_pj=add, skip_pj=add, act_skip_pj=table.zero_check_pj)

    def peak_pj_per_cycle(self, prices: PEPrices, array: ArrayConfig) -> float:
        return prices.mul_pj.value + prices.add_pj.value

    def pe_cycles(self, actions: PECounts, array: ArrayConfig) -> int:
        return actions.mul + actions.act_skip

    def area(self, t: ta.AreaTable, array: ArrayConfig) -> PEArea:
        cell = self.cell_um2(t, array.accumulator_bits, array.shadow_stationary)
        return gated_area(t, array, cell, self.native_act_bits)


def float16_mac(kind: PEKind, cell_um2: Callable[[ta.AreaTable, int, bool], Sourced]) -> MacPE:
    """A 16-bit float MAC PE (FP16, BF16): 16-bit activations and outputs, a float multiplier that
    takes any activation operand of at most 16 bits; ``cell_um2`` prices its cell."""
    return MacPE(
        kind,
        native_act_bits=16,
        native_out_bits=16,
        is_float=True,
        max_operand_bits=16,
        cell_um2=cell_um2,
    )
