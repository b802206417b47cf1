"""The 28nm node: its energies reproduce their sources, its rules are the stated ones, and a
design at 28nm validates and is priced."""

from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import load_hardware
from tersim.cost.energy import price_list
from tersim.tech import area as ta
from tersim.tech.scaling import energy_factor
from tersim.tech.tables import energy_field_names, energy_table, known_nodes

ROOT = Path(__file__).resolve().parents[3]


def test_28nm_is_a_known_node() -> None:
    assert "28nm" in known_nodes()


def test_fp16_mac_reproduces_bitmod() -> None:
    """BitMoD's simulator prices a 28nm FP16 MAC at 0.77 pJ (test_baseline.py, pe_energy)."""
    t = energy_table("28nm")
    assert t.fp16_mul_pj.value + t.fp16_add_pj.value == pytest.approx(0.77, abs=1e-6)


def test_logic_factor_agrees_with_stillmaker() -> None:
    """Independent check of the 45nm -> 28nm factor 0.77 / 1.5 = 0.5133: Stillmaker & Baas's
    energy polynomials at 0.9 V give 0.5066 (28nm interpolated between 32nm and 20nm)."""
    t28, t45 = energy_table("28nm"), energy_table("45nm")
    k = t28.int8_add_pj.value / t45.int8_add_pj.value
    assert k == pytest.approx(0.77 / 1.5, rel=1e-4)
    assert k == pytest.approx(energy_factor("45nm", "28nm"), rel=0.02)


def test_every_logic_entry_is_45nm_times_the_factor() -> None:
    t28, t45 = energy_table("28nm"), energy_table("45nm")
    for name in (
        "fp32_add_pj",
        "fp32_mul_pj",
        "fp16_add_pj",
        "fp16_mul_pj",
        "int8_add_pj",
        "int8_mul_pj",
        "int16_add_pj",
        "int32_add_pj",
        "int32_mul_pj",
        "zero_check_pj",
        "vector_op_pj",
    ):
        got = getattr(t28, name).value
        assert got == pytest.approx(getattr(t45, name).value * 0.77 / 1.5, abs=1e-6), name
        assert getattr(t28, name).source.startswith("derived"), name


def test_sram_is_horowitz_times_the_cacti_ratio() -> None:
    """8 KB: 10 x 3.3099 / 7.9248; 32 KB: 20 x 5.0482 / 12.6288; 1 MB: 100 x 29.5135 / 63.7934."""
    t = energy_table("28nm")
    assert t.sram_8kb_read_64b_pj.value == pytest.approx(10 * 3.3099 / 7.9248, rel=1e-6)
    assert t.sram_32kb_read_64b_pj.value == pytest.approx(20 * 5.0482 / 12.6288, rel=1e-6)
    assert t.sram_1mb_read_64b_pj.value == pytest.approx(100 * 29.5135 / 63.7934, rel=1e-6)


def test_leakage_is_no_energy_field_but_area_times_density() -> None:
    """Leakage left the energy tables: a 28nm design's PE-array leakage is its placed PE area
    (rows x cols x cell x 1.5) times the node's logic density, its SRAM's the CACTI area times
    the SRAM density."""
    assert not [n for n in energy_field_names() if "leak" in n]
    a = ta.area_table("28nm")
    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-45nm.yaml")
    hw = hw.model_copy(update={"tech": hw.tech.model_copy(update={"node": "28nm"})})
    p = price_list(hw)
    pe_mm2 = 128 * 128 * ta.ternary_add_pe_um2(a, 32).value * 1.5 * 1e-6
    assert p.leakage_mw["pe_array"] == pytest.approx(
        pe_mm2 * a.logic_leakage_mw_per_mm2.value, rel=1e-9
    )
    mb_area, mb_leak = ta.CACTI_SRAM_BANKS["28nm"][1 << 20]
    assert a.sram_leakage_mw_per_mm2.value == pytest.approx(mb_leak / mb_area)


def test_every_28nm_number_has_a_source() -> None:
    t = energy_table("28nm")
    for name in energy_field_names():
        entry = getattr(t, name)
        assert entry.value > 0 and entry.source.strip(), name


def test_bitnet_ratio_at_28nm() -> None:
    """One factor for all logic keeps the 45nm ratio: (1.1 + 0.4) / 0.03 = 50."""
    t = energy_table("28nm")
    got = (t.fp16_mul_pj.value + t.fp16_add_pj.value) / t.int8_add_pj.value
    assert got == pytest.approx(50.0, abs=0.01)


def test_a_28nm_design_loads_and_is_priced(tmp_path: Path) -> None:
    text = (ROOT / "hw_configs" / "ternary-128x128-45nm.yaml").read_text()
    path = tmp_path / "ternary-28nm.yaml"
    path.write_text(text.replace("node: 45nm", "node: 28nm"))
    hw = load_hardware(path)
    assert hw.tech.node == "28nm"
    prices = price_list(hw)
    assert prices.add_pj.value == energy_table("28nm").int32_add_pj.value
