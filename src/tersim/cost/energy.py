"""Energy = action counts x energy per action (pure; no simulation here).

:func:`price_list` turns a design and its node's table into per-action prices (each with its
source); :func:`estimate_energy` multiplies counts by prices. Units are in every name.

Pricing rules (stated so a reader can redo them by hand):

* PE actions: each PE kind's model prices its own actions (``tersim.hw.pe``: e.g. a ternary
  adder's add or sub is one integer add at the accumulator width, <=8 bits INT8, <=16 INT16,
  else INT32, and a skip a zero check when the design skips zeros; a MAC's mul is one multiply
  in its format and its add one accumulation at the accumulator width; a LUT PE's lookup and
  table-build add, a bit-serial PE's plane add, a gated zero activation's zero check). Every
  :class:`PECounts` field times its price; lookups and table-build adds form the ``lookup``
  component, multiplies ``mul``, every other action ``add``.
* SRAM: per byte, the 64-bit access energy of an array of one bank's size divided by 8,
  interpolated linearly in log2(size) through Horowitz's 8 KB / 32 KB / 1 MB points,
  extrapolated along the last segment above 1 MB and scaled with sqrt(size) below 8 KB (an
  assumption). Writes cost the same as reads.
* DRAM: bits moved x pJ per bit of the preset (or the design's value).
* Vector unit: ``vector_op_pj`` per element op; a matrix product run on the vector unit costs an
  FP16 multiply and an FP16 add per multiply-accumulate.
* Leakage: the design's area by component x the node's leakage density
  (:func:`tersim.cost.area.leakage_mw`: logic for the PE arrays, vector units and DRAM
  controller, SRAM for the buffers) x simulated time.
* Several matrix units (``units:``): each unit's PE actions are priced by its own PE model and
  accumulator width; SRAM accesses at the design's buffer of that role (a unit's private
  buffers are not priced by their own size: a stated simplification).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from tersim.config.enums import BufferRole, DramOperand, PEKind
from tersim.config.hardware import HardwareConfig
from tersim.cost.area import chip_area, leakage_mw
from tersim.hw.counts import ActionCounts, PECounts
from tersim.hw.pe import PEPrices, pe_model
from tersim.hw.units import matrix_units
from tersim.tech.dram import dram_preset
from tersim.tech.tables import EnergyTable, Sourced, energy_table


@dataclass(frozen=True)
class PriceList:
    """Energy per action for one design, in pJ (leakage in mW), each with its source."""

    pe_kind: PEKind
    pe: PEPrices  # every PE action's price
    sram_pj_per_byte: dict[BufferRole, float]
    dram_pj_per_bit: Sourced
    vector_op_pj: Sourced
    vector_mac_pj: float
    leakage_mw: dict[str, float]  # by component: pe_array, sram, vector_unit, dram_controller
    clock_hz: float
    pe_by_unit: dict[str, PEPrices] = field(default_factory=dict)  # each matrix unit's prices

    @property
    def mul_pj(self) -> Sourced:
        return self.pe.mul_pj

    @property
    def add_pj(self) -> Sourced:
        return self.pe.add_pj

    @property
    def skip_pj(self) -> Sourced:
        return self.pe.skip_pj


def sram_pj_per_byte(table: EnergyTable, size_bytes: int) -> float:
    """Energy per byte of an access to an SRAM array of ``size_bytes`` (see module doc)."""
    pts = [
        (math.log2(8 * 1024), table.sram_8kb_read_64b_pj.value),
        (math.log2(32 * 1024), table.sram_32kb_read_64b_pj.value),
        (math.log2(1024 * 1024), table.sram_1mb_read_64b_pj.value),
    ]
    x = math.log2(size_bytes)
    if x < pts[0][0]:
        # below 8 KB: scale the 8 KB energy with the square root of the size (bit-line and
        # word-line lengths shrink with the side of the array): a tersim assumption
        return pts[0][1] * math.sqrt(size_bytes / (8 * 1024)) / 8.0
    (x0, y0), (x1, y1) = (pts[0], pts[1]) if x <= pts[1][0] else (pts[1], pts[2])
    return (y0 + (y1 - y0) * (x - x0) / (x1 - x0)) / 8.0


def price_list(hw: HardwareConfig, table: EnergyTable | None = None) -> PriceList:
    """Per-action prices of design ``hw`` (its node's table with the YAML's overrides)."""
    if table is None:
        base = energy_table("7nm" if hw.tech.node == "custom" else hw.tech.node)
        table = base.with_overrides(dict(hw.tech.overrides_pj))
    a = hw.array
    pe = pe_model(a.pe_kind).prices(table, a)
    by_unit = {u.name: pe_model(u.array.pe_kind).prices(table, u.array) for u in matrix_units(hw)}
    preset = dram_preset(hw.dram.kind)
    if hw.dram.energy_pj_per_bit is not None:
        dram = Sourced(hw.dram.energy_pj_per_bit, "hardware config dram.energy_pj_per_bit")
    else:
        assert preset is not None  # custom without energy is rejected at load time
        dram = preset.energy_pj_per_bit
    bank_bytes = {r: hw.buffer(r).size_bytes // hw.buffer(r).banks for r in BufferRole}
    return PriceList(
        pe_kind=a.pe_kind,
        pe=pe,
        sram_pj_per_byte={r: sram_pj_per_byte(table, s) for r, s in bank_bytes.items()},
        dram_pj_per_bit=dram,
        vector_op_pj=table.vector_op_pj,
        vector_mac_pj=table.fp16_mul_pj.value + table.fp16_add_pj.value,
        leakage_mw=leakage_mw(chip_area(hw)).by_component(),
        clock_hz=a.clock_hz,
        pe_by_unit=by_unit,
    )


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of a run by component (pJ), with matmul arithmetic by op kind."""

    mul_pj: float
    add_pj: float  # accumulations, adds, subtracts and priced skips of matmuls on the array
    sram_pj: float
    dram_pj: float
    vector_pj: float
    leakage_pj: float
    lookup_pj: float = 0.0  # LUT PEs: lookups and in-array table-build adds
    arithmetic_by_kind_pj: dict[str, float] = field(default_factory=dict)
    sram_by_buffer_pj: dict[BufferRole, float] = field(default_factory=dict)
    dram_by_operand_pj: dict[DramOperand, float] = field(default_factory=dict)
    leakage_by_component_pj: dict[str, float] = field(default_factory=dict)

    # the components in the record's order (and the order they are added in)
    COMPONENTS = ("mul", "add", "lookup", "sram", "dram", "vector", "leakage")

    def components_pj(self) -> dict[str, float]:
        return {c: getattr(self, f"{c}_pj") for c in self.COMPONENTS}

    @property
    def total_pj(self) -> float:
        return sum(self.components_pj().values())  # left to right, as a + b + ...

    def to_json(self) -> dict[str, object]:
        return {
            **self.components_pj(),
            "total": self.total_pj,
            "arithmetic_by_kind": dict(sorted(self.arithmetic_by_kind_pj.items())),
            "sram_by_buffer": {k.value: v for k, v in self.sram_by_buffer_pj.items()},
            "dram_by_operand": {k.value: v for k, v in self.dram_by_operand_pj.items()},
            "leakage_by_component": dict(self.leakage_by_component_pj),
        }


LOOKUP_ACTIONS = ("lookup", "table_add")


def pe_energy_pj(pe: PECounts, prices: PEPrices) -> tuple[float, float, float]:
    """(multiply, add, lookup) energy of PE actions at one PE model's prices (module rules)."""
    parts = {"mul": 0.0, "add": 0.0, "lookup": 0.0}
    for f in fields(pe):
        part = "mul" if f.name == "mul" else "lookup" if f.name in LOOKUP_ACTIONS else "add"
        parts[part] += getattr(pe, f.name) * prices.price(f.name).value
    return parts["mul"], parts["add"], parts["lookup"]


def estimate_energy(counts: ActionCounts, prices: PriceList) -> EnergyBreakdown:
    """Energy of ``counts`` at ``prices``."""
    by_kind: dict[str, float] = {}
    mul_total = add_total = lookup_total = 0.0
    if counts.pe_by_unit and all(u in prices.pe_by_unit for u in counts.pe_by_unit):
        priced = [
            (kind, pe, prices.pe_by_unit[unit])
            for unit, kinds in counts.pe_by_unit.items()
            for kind, pe in kinds.items()
        ]
    else:
        priced = [(kind, pe, prices.pe) for kind, pe in counts.pe_by_kind.items()]
    for kind, pe, unit_prices in priced:
        mul, add, lookup = pe_energy_pj(pe, unit_prices)
        by_kind[kind] = by_kind.get(kind, 0.0) + mul + add + lookup
        mul_total += mul
        add_total += add
        lookup_total += lookup
    sram = {
        r: (counts.sram_read_bytes[r] + counts.sram_write_bytes[r]) * prices.sram_pj_per_byte[r]
        for r in BufferRole
    }
    dram = {
        k: 8
        * (counts.dram_read_bytes[k] + counts.dram_write_bytes[k])
        * prices.dram_pj_per_bit.value
        for k in DramOperand
    }
    vector = (
        counts.vector_ops * prices.vector_op_pj.value + counts.vector_macs * prices.vector_mac_pj
    )
    seconds = counts.cycles / prices.clock_hz
    # mW x s = mJ = 1e9 pJ
    leakage = {part: mw * seconds * 1e9 for part, mw in prices.leakage_mw.items()}
    return EnergyBreakdown(
        mul_pj=mul_total,
        add_pj=add_total,
        sram_pj=sum(sram.values()),
        dram_pj=sum(dram.values()),
        vector_pj=vector,
        leakage_pj=sum(leakage.values()),
        lookup_pj=lookup_total,
        arithmetic_by_kind_pj=by_kind,
        sram_by_buffer_pj=sram,
        dram_by_operand_pj=dram,
        leakage_by_component_pj=leakage,
    )
