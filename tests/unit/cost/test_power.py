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


def test_peak_power_by_hand() -> None:
    """Ternary 128x128 at 45nm, everything at full rate: PEs 1.6384 W (above); vector unit
    128 lanes x (1.1 + 0.4) pJ x 1e9 = 0.192 W; SRAM ports: input 256 B/cycle and weight
    256 B/cycle at their bank sizes (256 and 128 KiB: 64-bit energies 20 + 80 x 3/5 = 68 and
    20 + 80 x 2/5 = 52 pJ by the log interpolation, /8 per byte), output 1024 B/cycle at
    68 / 8 pJ; HBM2 at 256 B/cycle x 8 x 3.9 pJ/bit; leakage the area model's."""
    from tersim.cost.area import chip_area, leakage_mw
    from tersim.cost.power import peak_power

    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-45nm.yaml")
    p = peak_power(hw, price_list(hw))
    assert p.pe_array_w == pytest.approx(1.6384)
    assert p.vector_unit_w == pytest.approx(128 * 1.5e-3)
    sram_pj = 256 * 68 / 8 + 256 * 52 / 8 + 1024 * 68 / 8
    assert p.sram_w == pytest.approx(sram_pj * 1e-3)
    assert p.dram_w == pytest.approx(256 * 8 * 3.9e-3)
    assert p.leakage_w == pytest.approx(leakage_mw(chip_area(hw)).total_mw / 1000)
    assert p.total_w == pytest.approx(sum(v for k, v in p.to_json().items() if k != "total"))


def test_the_record_carries_area_power_and_rates() -> None:
    """A tiny run's record: power = energy / time; tokens/J = tokens / energy; TOPS/W = 2 x
    every matrix op's multiply-accumulates / energy; tokens/s/mm^2 over the chip area; the
    phases' energies add up to the total; the summary row (CSV) carries the same numbers."""
    from tersim.config import load_workload
    from tersim.run.pipeline import run
    from tersim.run.rows import summary_row

    hw = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    rec = run(hw, spec, prompt_tokens=4, gen_tokens=2)
    doc = rec.to_json()
    joules = rec.energy.total_pj * 1e-12
    assert doc["power_w"] == pytest.approx(joules / rec.result.seconds)
    assert doc["tokens_per_j"] == pytest.approx((4 + 2) / joules)
    macs = sum(op.macs for op in rec.workload.ops)  # type: ignore[union-attr]
    assert doc["tops_per_w"] == pytest.approx(2 * macs / joules / 1e12)
    area = doc["area_mm2"]["total"]
    for ph, tokens in (("prefill", 4), ("decode", 2)):
        p = doc["phases"][ph]
        assert p["tokens_per_s_per_mm2"] == pytest.approx(tokens / p["seconds"] / area)
    # a phase's energy is its ops' dynamic energy plus leakage over its span (first op start to
    # last op end); the cycles no phase spans (DRAM latency before the first op, write-backs
    # after the last) leak too, so the phases fall short of the total by exactly that
    from tersim.cost.energy import price_list as prices_of

    phases = sum(doc["phases"][ph]["energy_pj"] for ph in ("prefill", "decode"))
    r = rec.result
    gap = r.total_cycles - sum(r.phase_cycles(ph) for ph in rec.scenario.phases)
    leak_mw = sum(prices_of(hw).leakage_mw.values())
    assert rec.energy.total_pj - phases == pytest.approx(leak_mw * gap / r.clock_hz * 1e9)
    row = summary_row(doc, "design")
    assert row["area_mm2"] == area and row["power_w"] == doc["power_w"]
