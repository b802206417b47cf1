"""Bit-serial PE: a weight's bit-planes one (or a few) per cycle, shift-added into the sum.

Rules (docs/pe-kinds-research.md has the sources):

* **Planes.** A weight of b bits is ``floor(b)`` bit-planes (BitMoD's simulator,
  ``pe_array.py``: ``math.floor(w_prec)``): ternary 2 (two's complement: -1 = 11, the top plane
  weighs -2), binary 1, INT8 8; a KV-cache operand its cache bits (a 3-bit cache: 3 planes).
  The serial operand is the weight (BitMoD); activations stay bit-parallel integers (unlike
  Stripes, which serializes activations).
* **Cycles.** The PE handles ``array.serial_bits_per_cycle`` planes per cycle (BitMoD: 2;
  cycles per tile ``ceil(floor(w_bits) / 2)``), so every systolic step (an operand hop, a partial
  sum hop, a preload shift: the array's control beat) takes ``P = ceil(planes /
  serial_bits_per_cycle)`` cycles and a tile's compute cycles are the bit-parallel tile's times
  P (``passes_per_tile``). Operands are read from SRAM once and held in the PE during the beat,
  so SRAM accesses do not change (BitMoD halves its buffer port widths in bit-serial mode; the
  port check here is not relaxed, which is conservative).
* **Actions.** Each weight x activation slot costs one ``plane_add`` per plane (an add of the
  shifted activation at the accumulator width; bit-level zero skipping is not modeled). With
  ``zero_skipping`` a zero weight (measured, or the ternary assumed fraction) costs one zero
  check (``skip``) instead; a zero activation is gated with ``act_zero_skipping``
  (``act_skip``); compaction applies (:mod:`.base`). Energy: BitMoD prices 0.56 pJ per cycle of
  its 4-wide, 2-planes-per-cycle PE at 28nm (``test_bitmod.py``), 0.07 pJ per plane-MAC; we
  price an integer add at the accumulator width (28nm INT32: 0.051 pJ), built like every other
  PE from the node's table (a test keeps the two within 1.5x).
* **Area** (:func:`tersim.tech.area.bit_serial_int_pe_um2`): per plane handled each cycle an
  adder and gates, the activation's shift register, the partial sum and a weight register of
  8 planes (the widest operand the kind runs: INT8 weights or an 8-bit KV cache, as BitMoD's PE
  takes any precision).
"""

from __future__ import annotations

import math

from tersim.config.enums import PE_WEIGHT_FORMATS, PEKind, WeightFormat
from tersim.config.hardware import ArrayConfig
from tersim.hw.counts import PECounts
from tersim.hw.pe.base import (
    ASSUMED_TERNARY_ZERO_FRACTION,
    ArrayMatmul,
    MatmulShape,
    MeasuredSlots,
    PEArea,
    PEPrices,
    SlotActions,
    datapath_act_bits,
    gated_area,
    int_add,
    slotwise_matmul,
)
from tersim.tech import area as ta
from tersim.tech.tables import EnergyTable, Sourced

MAX_PLANES = 8  # the widest operand it runs (INT8 weights, an 8-bit KV cache)


def weight_planes(weight_bits: float) -> int:
    """Bit-planes of a ``weight_bits``-bit operand (BitMoD: floor of the bits; at least 1)."""
    return max(1, math.floor(weight_bits))


def beats(planes: int, bits_per_cycle: int) -> int:
    """Cycles per systolic step: ``ceil(planes / bits_per_cycle)``."""
    return -(-planes // bits_per_cycle)


class BitSerialPE:
    kind = PEKind.BIT_SERIAL
    native_act_bits = 8
    native_out_bits = 16

    @property
    def weight_formats(self) -> tuple[WeightFormat, ...]:
        return PE_WEIGHT_FORMATS[self.kind]

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        if weight_format is None:  # activations x an integer KV cache: the cache is serial
            return operand_bits <= 8
        return weight_format in self.weight_formats

    def assumed_zero_fraction(self, weight_format: WeightFormat | None) -> float | None:
        return ASSUMED_TERNARY_ZERO_FRACTION if weight_format is WeightFormat.TERNARY else None

    def passes_per_tile(self, array: ArrayConfig, weight_bits: float) -> int:
        return beats(weight_planes(weight_bits), array.serial_bits_per_cycle)

    def _slot_actions(self, array: ArrayConfig, weight_bits: float) -> SlotActions:
        p = weight_planes(weight_bits)

        def actions(
            slots: int, weight_format: WeightFormat | None, measured: MeasuredSlots | None
        ) -> PECounts:
            if not array.zero_skipping:
                return PECounts(plane_add=slots * p)
            if measured is not None:
                zeros = measured.skips
            else:
                zeros = round(slots * (self.assumed_zero_fraction(weight_format) or 0.0))
            return PECounts(plane_add=(slots - zeros) * p, skip=zeros)

        return actions

    def map_matmul(
        self, array: ArrayConfig, shape: MatmulShape, measured: MeasuredSlots | None
    ) -> ArrayMatmul:
        return slotwise_matmul(
            array,
            shape,
            measured,
            self._slot_actions(array, shape.weight_bits),
            self.passes_per_tile(array, shape.weight_bits),
            True,
        )

    def prices(self, table: EnergyTable, array: ArrayConfig) -> PEPrices:
        add = int_add(table, array.accumulator_bits)
        return PEPrices(
            mul_pj=Sourced(0.0, "no multiplier"),
            add_pj=add,
            skip_pj=table.zero_check_pj,
            plane_add_pj=add,
            act_skip_pj=table.zero_check_pj,
        )

    def peak_pj_per_cycle(self, prices: PEPrices, array: ArrayConfig) -> float:
        return array.serial_bits_per_cycle * prices.plane_add_pj.value

    def pe_cycles(self, actions: PECounts, array: ArrayConfig) -> int:
        """Plane adds at the planes-per-cycle rate; a skipped slot counted as one cycle."""
        return (
            -(-actions.plane_add // array.serial_bits_per_cycle) + actions.skip + actions.act_skip
        )

    def area(self, t: ta.AreaTable, array: ArrayConfig) -> PEArea:
        act = datapath_act_bits(self, array)
        cell = ta.bit_serial_int_pe_um2(
            t,
            array.accumulator_bits,
            act,
            MAX_PLANES,
            array.serial_bits_per_cycle,
            array.shadow_stationary,
        )
        return gated_area(t, array, cell, act)


MODEL = BitSerialPE()
