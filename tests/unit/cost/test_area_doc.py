"""docs/area.md's table of shipped-design areas is what the model computes (rewrite it with
``pytest tests/unit/cost/test_area_doc.py --regen-golden``)."""

from __future__ import annotations

from pathlib import Path

from tersim.config import load_hardware
from tersim.cost.area import chip_area, leakage_mw, pe_cell_area_um2
from tersim.tech import area as ta
from tersim.tech.area import area_table

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "area.md"
BEGIN, END = "<!-- area-table:begin -->", "<!-- area-table:end -->"


def render_table() -> str:
    head = (
        "| design | node | PE cell um^2 | PE array | SRAM | vector | DRAM PHY + ctrl | core | "
        "total | leakage mW |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for path in sorted((ROOT / "hw_configs").glob("*.yaml")):
        hw = load_hardware(path)
        a = chip_area(hw)
        pe = pe_cell_area_um2(hw, area_table(a.node)).value
        rows.append(
            f"| {hw.name} | {a.node} | {pe:.1f} | {a.pe_array_mm2.value:.3f} | "
            f"{a.sram_total_mm2:.3f} | {a.vector_unit_mm2.value:.3f} | "
            f"{a.dram_phy_controller_mm2:.2f} | {a.core_mm2:.2f} | {a.total_mm2:.2f} | "
            f"{leakage_mw(a).total_mw:.0f} |"
        )
    rows += ["", render_pe_table()]
    return "\n".join(rows)


def render_pe_table() -> str:
    """Cell area (um^2, before place and route) of each PE kind at each node."""
    recipes = {
        "ternary adder, acc 32, act 8": lambda t: ta.ternary_add_pe_um2(t, 32, 8),
        "ternary adder, acc 16, act 8": lambda t: ta.ternary_add_pe_um2(t, 16, 8),
        "INT8 MAC, acc 32": lambda t: ta.int8_mac_pe_um2(t, 32),
        "FP16 MAC, acc 32": lambda t: ta.fp16_mac_pe_um2(t, 32),
        "FP16 MAC, acc 16": lambda t: ta.fp16_mac_pe_um2(t, 16),
        "BF16 MAC, acc 32": lambda t: ta.bf16_mac_pe_um2(t, 32),
        "LUT PE, bit_plane g 4 (8 x 10-bit entries), acc 32": lambda t: ta.ternary_lut_pe_um2(
            t, 32, 8, 10, 4, 2
        ),
        "LUT row, bit_plane g 4, built in the array": lambda t: ta.lut_row_um2(t, 8, 10, 14),
        "LUT PE, direct g 4 (41 x 10-bit entries), acc 32": lambda t: ta.ternary_lut_pe_um2(
            t, 32, 41, 10, 7, 1
        ),
        "bit-serial PE, 8 planes, 1 per cycle, act 8, acc 32": lambda t: ta.bit_serial_int_pe_um2(
            t, 32, 8, 8, 1
        ),
        "BitMoD FP16 MAC (published at 28nm)": lambda t: t.bitmod_fp16_mac_um2,
        "BitMoD bit-serial 4-wide PE (published at 28nm)": ta.bit_serial_pe_um2,
        "vector lane": ta.vector_lane_um2,
    }
    nodes = ta.KNOWN_AREA_NODES
    rows = ["| PE (cell area, um^2) | " + " | ".join(nodes) + " |", "|---|" + "---:|" * len(nodes)]
    for name, fn in recipes.items():
        vals = " | ".join(f"{fn(area_table(n)).value:.1f}" for n in nodes)
        rows.append(f"| {name} | {vals} |")
    return "\n".join(rows)


def test_doc_table_matches_the_model(regen_golden: bool) -> None:
    text = DOC.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    table = render_table()
    if regen_golden:
        DOC.write_text(text[:start] + "\n" + table + "\n" + text[stop:])
        return
    assert text[start:stop].strip() == table, (
        "docs/area.md table is stale: rerun with --regen-golden"
    )
