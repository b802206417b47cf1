"""Power from energy and time, and a design's peak power (pure arithmetic).

Rules:

* Average power = energy / time, time = cycles / clock: ``P_W = E_pJ * 1e-12 * f_Hz / cycles``.
* Peak array power = every PE fully busy every cycle at the clock rate: rows x cols x f x the PE
  model's energy of a busy cycle (``peak_pj_per_cycle``: a MAC's multiply + accumulate, a
  ternary adder's add, a LUT PE's lookup + add and its share of the row's table build, a
  bit-serial PE's plane adds per cycle).
  With several matrix units (``units:``), the sum over them, each at its own PE's prices.
* Peak power (:func:`peak_power`) adds, at full rate: the vector units (every lane one FP16
  multiply-accumulate per op slot per cycle), every SRAM port at its configured bandwidth
  (bytes per cycle x the buffer's energy per byte), DRAM at its bandwidth (bits x pJ per bit),
  and leakage. It is the power a design can draw, not what a workload draws.
* Leakage power is static: ``tersim.cost.area.leakage_mw``; ``leakage_energy_pj`` turns it into
  energy over a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.breakdown import parts, total
from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import PriceList
from tersim.hw.pe import pe_model
from tersim.hw.units import matrix_units, vector_units


def average_power_w(energy_pj: float, cycles: int, clock_hz: float) -> float:
    """Average power of ``energy_pj`` spent over ``cycles`` at ``clock_hz``."""
    if cycles <= 0:
        raise ValueError(f"cycles must be positive (got {cycles})")
    return energy_pj * 1e-12 * clock_hz / cycles


def peak_array_power_w(hw: HardwareConfig, prices: PriceList) -> float:
    """Power with every PE of every matrix unit fully busy every cycle (a MAC: one
    multiply-accumulate), each unit at its own PE model's prices."""
    total_pj = 0.0
    for u in matrix_units(hw):
        a = u.array
        unit_prices = prices.pe_by_unit.get(u.name, prices.pe)
        total_pj += a.rows * a.cols * pe_model(a.pe_kind).peak_pj_per_cycle(unit_prices, a)
    return hw.array.clock_hz * total_pj * 1e-12


@dataclass(frozen=True)
class PeakPower:
    """Peak power by component, in W (module rules)."""

    pe_array_w: float
    vector_unit_w: float
    sram_w: float
    dram_w: float
    leakage_w: float

    @property
    def total_w(self) -> float:
        return float(total(self, "_w"))

    def to_json(self) -> dict[str, float]:
        return {**parts(self, "_w"), "total": self.total_w}


def peak_power(hw: HardwareConfig, prices: PriceList) -> PeakPower:
    """The power ``hw`` draws with every unit at full rate (module rules)."""
    f = hw.array.clock_hz
    lanes = sum(v.lanes * v.ops_per_cycle_per_lane for v in vector_units(hw))
    if hw.sram.unified is not None:
        u = hw.sram.unified
        port_bytes = {BufferRole.INPUT: u.read_bw_bytes_per_cycle + u.write_bw_bytes_per_cycle}
    else:
        port_bytes = {
            r: hw.buffer(r).read_bw_bytes_per_cycle + hw.buffer(r).write_bw_bytes_per_cycle
            for r in BufferRole
        }
    sram_pj = sum(b * prices.sram_pj_per_byte[r] for r, b in port_bytes.items())
    dram_pj = hw.dram_bw_bytes_per_cycle * 8 * prices.dram_pj_per_bit.value
    return PeakPower(
        pe_array_w=peak_array_power_w(hw, prices),
        vector_unit_w=lanes * prices.vector_mac_pj * f * 1e-12,
        sram_w=sram_pj * f * 1e-12,
        dram_w=dram_pj * f * 1e-12,
        leakage_w=sum(prices.leakage_mw.values()) / 1000.0,
    )


def leakage_energy_pj(leakage_mw: float, cycles: int, clock_hz: float) -> float:
    """Energy leaked at ``leakage_mw`` over ``cycles`` (mW x s = 1e9 pJ)."""
    return leakage_mw * (cycles / clock_hz) * 1e9
