"""Chip area of a design, by component, and its leakage power (pure; no simulation here).

Rules (numbers and their sources live in :mod:`tersim.tech.area`):

* PE array: (rows x cols x one PE's cell area + rows x the logic at a row's edge) x the
  place-and-route factor (1.5, BitMoD). The PE's model gives both (``PEModel.area``): ternary
  adder PE (adder at the accumulator width, partial-sum, activation and 2-bit weight registers,
  sign/zero gates), INT8 / FP16 / BF16 MAC (multiplier, adder by accumulator width, registers),
  LUT PE (index register, entry mux, adder; per row its tables and table builder), bit-serial
  PE (adders, shift register, gates). Activations are as wide as ``array.activation_bits``, else
  the kind's native width. ``shadow_stationary`` adds a second weight register per PE;
  ``act_zero_skipping`` a zero flag per PE and a zero detector per row.
* SRAM: each buffer is ``banks`` CACTI banks of ``size_bytes / banks`` bytes; a unified buffer
  is one entry. CACTI's areas are layout areas, so no place-and-route factor.
* Vector unit: lanes x ops per cycle per lane x one lane (FP16 adder + multiplier + registers)
  x the place-and-route factor.
* Several units (``units:``): every matrix unit's PE array (by its own PE model) adds to the PE
  array, its private buffers to the SRAM (named ``<unit>.<role>``), every further vector unit
  to the vector unit; units sharing the design's buffers add no SRAM.
* DRAM interface: HBM2 counts one HBM2e PHY and controller (LLMCompass) per 256 GB/s stack;
  LPDDR4 and DDR4 count DDR5 PHYs and controllers (LLMCompass's nearest figures) per 32-bit unit
  of half the preset's x64-channel bandwidth (12.8 GB/s); a custom DRAM's interface is not
  modeled (0 mm^2, said in its ``source``).
* Node: the design's ``tech.node``; a custom node uses the 7nm areas (as energy does).
* Leakage: logic (PE array, vector unit, DRAM controller) x the node's logic leakage density,
  SRAM x the SRAM leakage density; PHY leakage is not modeled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tersim.breakdown import parts, total
from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig, SramConfig
from tersim.hw.pe import PEArea, pe_model
from tersim.hw.units import matrix_units, vector_units
from tersim.tech import area as ta
from tersim.tech.dram import dram_preset
from tersim.tech.sourced import Sourced

HBM_STACK_GB_PER_S = 256.0  # one HBM2 stack (the hbm2 preset's bandwidth)


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of a design in mm^2 by component; every entry says how it was computed."""

    node: str  # the node whose area table was used
    pe_array_mm2: Sourced
    sram_mm2: dict[str, Sourced]  # by BufferRole value (input, weight, output) or "unified"
    vector_unit_mm2: Sourced
    dram_phy_mm2: Sourced
    dram_controller_mm2: Sourced

    @property
    def sram_total_mm2(self) -> float:
        return sum(s.value for s in self.sram_mm2.values())

    @property
    def dram_phy_controller_mm2(self) -> float:
        return self.dram_phy_mm2.value + self.dram_controller_mm2.value

    @property
    def core_mm2(self) -> float:
        """Everything but the DRAM interface (array, buffers, vector unit)."""
        return self.pe_array_mm2.value + self.sram_total_mm2 + self.vector_unit_mm2.value

    @property
    def total_mm2(self) -> float:
        return self.core_mm2 + self.dram_phy_controller_mm2

    def to_json(self) -> dict[str, object]:
        return {
            "node": self.node,
            "pe_array": self.pe_array_mm2.value,
            "sram": {k: v.value for k, v in self.sram_mm2.items()},
            "vector_unit": self.vector_unit_mm2.value,
            "dram_phy": self.dram_phy_mm2.value,
            "dram_controller": self.dram_controller_mm2.value,
            "core": self.core_mm2,
            "total": self.total_mm2,
        }


@dataclass(frozen=True)
class LeakageBreakdown:
    """Leakage power in mW by component (area x the node's leakage density)."""

    pe_array_mw: float
    sram_mw: float
    vector_unit_mw: float
    dram_controller_mw: float

    @property
    def total_mw(self) -> float:
        return float(total(self, "_mw"))

    def by_component(self) -> dict[str, float]:
        return parts(self, "_mw")


def area_node(hw: HardwareConfig) -> str:
    """The node whose area table prices ``hw`` (custom: 7nm)."""
    return "7nm" if hw.tech.node == "custom" else hw.tech.node


def pe_area(hw: HardwareConfig, t: ta.AreaTable) -> PEArea:
    """One PE of ``hw`` and its row logic, before place and route (the PE model's recipe)."""
    return pe_model(hw.array.pe_kind).area(t, hw.array)


def pe_cell_area_um2(hw: HardwareConfig, t: ta.AreaTable) -> Sourced:
    """One PE of ``hw`` before place and route."""
    return pe_area(hw, t).cell_um2


def _placed(count: int, cell: Sourced, t: ta.AreaTable, what: str) -> Sourced:
    """``count`` copies of a standard-cell block, placed and routed, in mm^2."""
    pr = t.place_route_factor
    return Sourced(
        count * cell.value * pr.value * 1e-6,
        f"{what} x {cell.value:.2f} um^2 x place and route {pr.value} ({pr.source}); "
        f"each: {cell.source}",
    )


def _one_array(hw: HardwareConfig, t: ta.AreaTable) -> Sourced:
    a = hw.array
    pe = pe_area(hw, t)
    cells = _placed(a.rows * a.cols, pe.cell_um2, t, f"{a.rows} x {a.cols} PEs")
    if pe.row_um2.value == 0.0:
        return cells
    rows = _placed(a.rows, pe.row_um2, t, f"{a.rows} rows' edge logic")
    return Sourced(cells.value + rows.value, f"{cells.source}; + {rows.source}")


def _pe_array(hw: HardwareConfig, t: ta.AreaTable) -> Sourced:
    """Every matrix unit's PE array (the design's ``array`` alone for a one-array design)."""
    parts = [(u.name, _one_array(u.view(hw), t)) for u in matrix_units(hw)]
    if len(parts) == 1:
        return parts[0][1]
    return Sourced(sum(p.value for _, p in parts), "; ".join(f"{n}: {p.source}" for n, p in parts))


def _buffers(sram: SramConfig, t: ta.AreaTable, prefix: str) -> dict[str, Sourced]:
    if sram.unified is not None:
        u = sram.unified
        return {f"{prefix}unified": ta.sram_mm2(t, u.size_bytes, u.banks)}
    out: dict[str, Sourced] = {}
    for r in BufferRole:
        b = getattr(sram, r.value)
        out[f"{prefix}{r.value}"] = ta.sram_mm2(t, b.size_bytes, b.banks)
    return out


def _sram(hw: HardwareConfig, t: ta.AreaTable) -> dict[str, Sourced]:
    out = _buffers(hw.sram, t, "")
    for u in matrix_units(hw):
        if u.private_sram:
            out.update(_buffers(u.sram, t, f"{u.name}."))
    return out


def _vector(hw: HardwareConfig, t: ta.AreaTable) -> Sourced:
    parts = [
        _placed(
            v.lanes * v.ops_per_cycle_per_lane,
            ta.vector_lane_um2(t),
            t,
            f"{v.name}: {v.lanes} lanes x {v.ops_per_cycle_per_lane} ops/cycle",
        )
        for v in vector_units(hw)
    ]
    if len(parts) == 1:
        return parts[0]
    return Sourced(sum(p.value for p in parts), "; ".join(p.source for p in parts))


def _dram(hw: HardwareConfig, t: ta.AreaTable) -> tuple[Sourced, Sourced]:
    kind = hw.dram.kind
    gbps = hw.dram_bw_bytes_per_cycle * hw.array.clock_hz / 1e9
    preset = dram_preset(kind)
    if preset is None:
        why = "custom DRAM: interface area not modeled (use kind hbm2, lpddr4 or ddr4)"
        return Sourced(0.0, why), Sourced(0.0, why)
    if kind == "hbm2":
        n = math.ceil(gbps / HBM_STACK_GB_PER_S)
        unit, phy, ctrl = (
            f"HBM2 stack of {HBM_STACK_GB_PER_S:g} GB/s",
            t.hbm_phy_mm2_per_stack,
            t.hbm_controller_mm2_per_stack,
        )
    else:
        per_unit = preset.typical_bw_gb_per_s / 2
        n = math.ceil(gbps / per_unit)
        unit, phy, ctrl = (
            f"32-bit {kind} unit of {per_unit:g} GB/s",
            t.ddr_phy_mm2_per_32b,
            t.ddr_controller_mm2_per_32b,
        )
    what = f"{n} x {unit} for {gbps:g} GB/s"
    return (
        Sourced(n * phy.value, f"{what} x PHY {phy.value:.3f} mm^2 ({phy.source})"),
        Sourced(n * ctrl.value, f"{what} x controller {ctrl.value:.3f} mm^2 ({ctrl.source})"),
    )


def chip_area(hw: HardwareConfig) -> AreaBreakdown:
    """Area of design ``hw`` by component (see module doc for the rules)."""
    node = area_node(hw)
    t = ta.area_table(node)
    phy, ctrl = _dram(hw, t)
    return AreaBreakdown(
        node=node,
        pe_array_mm2=_pe_array(hw, t),
        sram_mm2=_sram(hw, t),
        vector_unit_mm2=_vector(hw, t),
        dram_phy_mm2=phy,
        dram_controller_mm2=ctrl,
    )


def leakage_mw(area: AreaBreakdown, node: str | None = None) -> LeakageBreakdown:
    """Leakage of ``area`` at ``node`` (default: the node it was computed for)."""
    t = ta.area_table(node or area.node)
    logic = t.logic_leakage_mw_per_mm2.value
    return LeakageBreakdown(
        pe_array_mw=area.pe_array_mm2.value * logic,
        sram_mw=area.sram_total_mm2 * t.sram_leakage_mw_per_mm2.value,
        vector_unit_mw=area.vector_unit_mm2.value * logic,
        dram_controller_mw=area.dram_controller_mm2.value * logic,
    )
