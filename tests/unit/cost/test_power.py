"""Power helpers against hand calculations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import load_hardware
from tersim.cost.energy import price_list
from tersim.cost.power import average_power_w, leakage_energy_pj, peak_array_power_w

ROOT = Path(__file__).resolve().parents[3]


def test_average_power_by_hand() -> None:
    """5e9 pJ (5 mJ) over 1e6 cycles at 1 GHz (1 ms) is 5 W."""
    assert average_power_w(5e9, 1_000_000, 1e9) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        average_power_w(1.0, 0, 1e9)


def test_peak_array_power_by_hand() -> None:
    """Ternary 128x128 at 45nm, INT32 accumulators: 16384 PEs x 1e9 /s x 0.1 pJ = 1.6384 W.
    FP16 128x128 at 7nm, 32-bit accumulators: 16384 x 1e9 x (0.34 + 0.38) pJ = 11.796 W."""
    tern = load_hardware(ROOT / "hw_configs" / "ternary-128x128-45nm.yaml")
    assert peak_array_power_w(tern, price_list(tern)) == pytest.approx(1.6384)
    fp16 = load_hardware(ROOT / "hw_configs" / "fp16-128x128-7nm.yaml")
    assert peak_array_power_w(fp16, price_list(fp16)) == pytest.approx(16384 * 0.72e-3)


def test_leakage_energy_by_hand() -> None:
    """100 mW for 2e6 cycles at 1 GHz (2 ms) is 0.2 mJ = 2e8 pJ."""
    assert leakage_energy_pj(100.0, 2_000_000, 1e9) == pytest.approx(2e8)
