"""Power from energy and time, and a design's peak array power (pure arithmetic).

Rules:

* Average power = energy / time, time = cycles / clock: ``P_W = E_pJ * 1e-12 * f_Hz / cycles``.
* Peak array power = every PE doing one operation per cycle at the clock rate: rows x cols x
  f x (multiply + accumulate energy of one PE operation, from the design's price list). It
  counts PE arithmetic only (no SRAM, DRAM, vector unit or leakage).
* Leakage power is static: ``tersim.cost.area.leakage_mw``; ``leakage_energy_pj`` turns it into
  energy over a run.
"""

from __future__ import annotations

from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import PriceList


def average_power_w(energy_pj: float, cycles: int, clock_hz: float) -> float:
    """Average power of ``energy_pj`` spent over ``cycles`` at ``clock_hz``."""
    if cycles <= 0:
        raise ValueError(f"cycles must be positive (got {cycles})")
    return energy_pj * 1e-12 * clock_hz / cycles


def peak_array_power_w(hw: HardwareConfig, prices: PriceList) -> float:
    """Power with every PE doing one multiply-accumulate (ternary: one add) per cycle."""
    a = hw.array
    per_op_pj = prices.mul_pj.value + prices.add_pj.value
    return a.rows * a.cols * a.clock_hz * per_op_pj * 1e-12


def leakage_energy_pj(leakage_mw: float, cycles: int, clock_hz: float) -> float:
    """Energy leaked at ``leakage_mw`` over ``cycles`` (mW x s = 1e9 pJ)."""
    return leakage_mw * (cycles / clock_hz) * 1e9
