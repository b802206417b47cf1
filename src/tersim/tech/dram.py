"""DRAM presets: access energy per bit with its source, and a typical bandwidth.

Figures are for the interface plus the core access of a read or write, per bit moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.tech.tables import Sourced


@dataclass(frozen=True)
class DramPreset:
    kind: str
    energy_pj_per_bit: Sourced
    typical_bw_gb_per_s: float  # one stack / one x64 channel, for orientation only


def dram_preset(kind: str) -> DramPreset | None:
    """The preset of ``kind`` (hbm2, lpddr4, ddr4), or None for ``custom``."""
    if kind == "hbm2":
        return DramPreset(
            "hbm2",
            Sourced(3.9, "O'Connor et al., 'Fine-Grained DRAM', MICRO 2017 (HBM2 ~3.9 pJ/bit)"),
            256.0,
        )
    if kind == "lpddr4":
        return DramPreset(
            "lpddr4",
            Sourced(
                6.0,
                "tersim assumption within the 4-20 pJ/bit range cited in shared/REFERENCES.md "
                "(mobile DRAM, short channel); override dram.energy_pj_per_bit when known",
            ),
            25.6,
        )
    if kind == "ddr4":
        return DramPreset(
            "ddr4",
            Sourced(
                15.0,
                "tersim assumption: between GDDR5's ~14 pJ/bit (O'Connor et al., MICRO 2017) "
                "and DDR3's 20-40 pJ/bit (Horowitz, ISSCC 2014); override when known",
            ),
            25.6,
        )
    return None
