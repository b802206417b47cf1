"""Multiply-accumulate PEs: one ``mul`` and one accumulating ``add`` per weight x activation slot.

Shared by the FP16, BF16 and INT8 MAC kinds (each its own module naming its formats and
prices). A MAC PE multiplies, so it also runs activation x activation products (attention):
float MACs any, an INT8 MAC only against an operand of at most 8 bits (an 8-bit KV cache).
Float MACs take either 16-bit float weight format (the FP16 LM head on a BF16 array).
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import PE_WEIGHT_FORMATS, PEKind, WeightFormat
from tersim.hw.counts import PECounts
from tersim.hw.pe.base import MeasuredSlots, PEPrices, int_add
from tersim.tech.tables import EnergyTable

FLOAT16_FORMATS = (WeightFormat.FP16, WeightFormat.BF16)


@dataclass(frozen=True)
class MacPE:
    kind: PEKind
    native_act_bits: int
    native_out_bits: int
    is_float: bool  # float multiplier and adder (FP16 figures; BF16 has none of its own)
    max_operand_bits: float  # widest activation operand its multiplier takes

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

    def passes_per_tile(self, weight_bits: float) -> int:
        return 1

    def prices(self, table: EnergyTable, accumulator_bits: int, zero_skipping: bool) -> PEPrices:
        if self.is_float:
            mul = table.fp16_mul_pj
            add = table.fp16_add_pj if accumulator_bits <= 16 else table.fp32_add_pj
            leak = table.fp16_mac_pe_leakage_uw
        else:
            mul, add, leak = (
                table.int8_mul_pj,
                int_add(table, accumulator_bits),
                (table.int8_mac_pe_leakage_uw),
            )
        return PEPrices(mul_pj=mul, add_pj=add, skip_pj=add, leakage_uw=leak)

    def area_um2(self, accumulator_bits: int) -> float | None:
        return None
