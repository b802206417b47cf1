"""Silicon area (and leakage density) of the pieces an accelerator is built from, per node.

Every number is a :class:`Sourced` value. Published figures name their source; numbers we
compute name the rule and its inputs (``derived: ...``); choices without a source say
``tersim assumption``. docs/area.md lists them all with the reasoning.

Base sources
------------
* ``HOROWITZ_AREA``: M. Horowitz, ISSCC 2014 keynote, 45nm areas in um^2: integer add 8/16/32 bit
  36/67/137, integer multiply 8/32 bit 282/3495, FP16 add/multiply 1360/1640, FP32 add/multiply
  4184/7700. Quoted from shared/REFERENCES.md; the slide itself was not available to us
  (unconfirmed).
* ``ALADDIN``: the Aladdin simulator's standard-cell models (Shao et al., ISCA 2014;
  harvard-acc/ALADDIN ``common/power_func.h``, "commercial 40g", 1 ns cycle): register
  5.981433 um^2 and 7.395312e-5 mW leakage per bit; 32-bit adder 277.9792 um^2, 2.249908e-3 mW;
  32-bit multiplier 6351.338 um^2, 7.786052e-2 mW; 32-bit AND/OR/XOR 50.36996 um^2.
* ``BITMOD``: BitMoD (Chen et al., HPCA 2025) simulator (abdelfattah-lab/BitMoD-HPCA-25,
  ``bitmod_sim``): FP16 MAC PE 1968.7 um^2 (``test_baseline.py``), bit-serial 4-wide
  dot-product PE 1507.7 um^2 (``test_bitmod.py``), both at 28nm (the CACTI runs there use
  ``technology: 0.028``), and a 1.5x place-and-route factor (``pe_array.py``, ``PR_SCALING``).
* ``CACTI``: SRAM banks from CACTI 7.0 (HewlettPackard/cacti @1ffd8df) run by us: ``ram``, one
  read/write port, 64-bit port, no ECC, itrs-lstp cells with itrs-hp periphery, 360 K (CACTI's
  default temperature), CACTI's default optimisation weights. The points are kept below as data.
* ``LLMCOMPASS``: LLMCompass (Zhang et al., ISCA 2024) ``cost_model/cost_model.py``
  (PrincetonUniversity/LLMCompass @2e015fd): HBM2e PHY 10.45 mm^2 per 1024-bit stack interface
  ("PHYs do not scale" with the node), HBM2e controller 552,743,000 transistors per stack, DDR5
  PHY 1.45 mm^2 and controller 90,446,400 transistors per 32-bit unit; 7nm logic density
  96.3 MTr/mm^2 (its ``ttm-cas`` submodule). So the 7nm HBM2e controller is 5.740 mm^2.
  shared/REFERENCES.md quotes the paper's Table II as 5.707 mm^2 (not seen; unconfirmed).

Derivation rules
----------------
* Node scaling of logic: Stillmaker & Baas area factors (``tersim.tech.scaling``): a 45nm
  figure times 0.3767 at 28nm and 0.059 at 7nm; Aladdin's 40nm figures are first moved to
  45nm (divide by 0.7923); BitMoD's 28nm figures move to other nodes by the same factors.
* SRAM at 7nm: the 28nm CACTI bank area times the bit-cell area ratio 0.027 / 0.114464 = 0.2359
  (TSMC 7nm high-density 6T cell 0.027 um^2, Wu et al., IEDM 2016; CACTI's cell is 146 F^2,
  0.114464 um^2 at F = 28nm). Bit cells shrink less than logic, so the logic factor is not used.
* A mux2 bit is two logic-gate bits (an AND-OR pair): tersim assumption.
* BF16 multiplier = FP16 multiplier x (7/10)^2: multiplier area grows with the square of the
  stored mantissa bits (the rule LLMCompass applies to FPUs).
* Controllers scale with the node (Stillmaker factor from 7nm); PHYs do not (LLMCompass).
* Leakage densities: logic from Aladdin's adder + multiplier + register (total leakage / total
  area = 12.085 mW/mm^2 at 40nm), moved to other nodes by (Stillmaker energy factor at 0.9 V) /
  (area factor): per-device leakage scaled like per-device energy, the rule hwcomponents uses.
  SRAM from the 1 MB CACTI bank (standby leakage / area); 7nm from 28nm by energy factor /
  bit-cell area ratio.

Composite pieces (PEs, lanes) are returned as cell area *before* place and route; multiply by
``place_route_factor`` for placed area (``tersim.cost.area`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tersim.tech.scaling import STILLMAKER, area_factor, energy_factor
from tersim.tech.sourced import Sourced

HOROWITZ_AREA = "Horowitz ISSCC 2014 45nm area (via shared/REFERENCES.md; slide unconfirmed)"
ALADDIN = "Aladdin ISCA 2014, harvard-acc/ALADDIN common/power_func.h (commercial 40nm, 1 ns)"
BITMOD = "BitMoD HPCA 2025 simulator, abdelfattah-lab/BitMoD-HPCA-25 bitmod_sim (28nm)"
CACTI = (
    "CACTI 7.0 @1ffd8df run by tersim (ram, 1 RW port, 64-bit, no ECC, lstp cells, hp "
    "periphery, 360 K)"
)
LLMCOMPASS = "LLMCompass ISCA 2024, cost_model/cost_model.py @2e015fd"
TSMC7_CELL = "TSMC 7nm HD 6T SRAM cell 0.027 um^2 (Wu et al., IEDM 2016)"
ASSUMED = "tersim assumption"

KNOWN_AREA_NODES = ("45nm", "28nm", "7nm")

# CACTI 7.0 SRAM banks (config in CACTI above): bank bytes -> (area mm^2, standby leakage mW).
CACTI_SRAM_BANKS: dict[str, dict[int, tuple[float, float]]] = {
    "45nm": {
        256: (0.00141153, 0.1145),
        512: (0.00214403, 0.1874),
        1024: (0.00360096, 0.2951),
        2048: (0.00686051, 0.3661),
        4096: (0.0144701, 1.2687),
        8192: (0.0286018, 1.9554),
        16384: (0.0507509, 3.7121),
        32768: (0.111929, 7.4242),
        65536: (0.245876, 8.7896),
        131072: (0.429587, 16.1575),
        262144: (0.872084, 32.3151),
        524288: (1.85517, 35.8972),
        1048576: (3.40941, 126.567),
        2097152: (6.70419, 253.134),
        4194304: (13.2847, 504.238),
        8388608: (26.2263, 1008.48),
    },
    "28nm": {
        256: (0.000578589, 0.0508),
        512: (0.000863867, 0.0849),
        1024: (0.00176796, 0.2197),
        2048: (0.00346879, 0.3258),
        4096: (0.00570612, 0.5909),
        8192: (0.0110792, 0.8248),
        16384: (0.0245051, 1.6495),
        32768: (0.0514276, 3.299),
        65536: (0.0952456, 3.586),
        131072: (0.193151, 7.1721),
        262144: (0.383196, 13.8173),
        524288: (0.718653, 14.94),
        1048576: (1.32016, 50.9724),
        2097152: (2.59591, 101.945),
        4194304: (5.14323, 203.39),
        8388608: (10.1536, 406.78),
    },
}
# 64-bit read energy (pJ) of the same CACTI banks at the three sizes the energy tables use.
CACTI_READ_64B_PJ: dict[str, dict[int, float]] = {
    "45nm": {8192: 7.9248, 32768: 12.6288, 1048576: 63.7934},
    "28nm": {8192: 3.3099, 32768: 5.0482, 1048576: 29.5135},
}
CACTI_CELL_F2 = 146.0  # CACTI 7 tech_params, SRAM area_cell, in F^2
TSMC7_CELL_UM2 = 0.027
SRAM_7NM_FROM_28NM = TSMC7_CELL_UM2 / (CACTI_CELL_F2 * 0.028**2)


@dataclass(frozen=True)
class SramBank:
    """One CACTI bank point: its size, area and standby leakage."""

    bank_bytes: int
    area_mm2: float
    leakage_mw: float


@dataclass(frozen=True)
class AreaTable:
    """Areas at one node. Logic pieces are cell areas in um^2 before place and route."""

    node: str
    int8_add_um2: Sourced
    int16_add_um2: Sourced
    int32_add_um2: Sourced
    int8_mul_um2: Sourced
    int32_mul_um2: Sourced
    fp16_add_um2: Sourced
    fp16_mul_um2: Sourced
    fp32_add_um2: Sourced
    fp32_mul_um2: Sourced
    bf16_mul_um2: Sourced
    register_bit_um2: Sourced
    gate_bit_um2: Sourced  # one bit of a 2-input AND/OR/XOR
    mux2_bit_um2: Sourced  # one bit of a 2:1 multiplexer
    bitmod_fp16_mac_um2: Sourced
    bitmod_bit_serial_pe_um2: Sourced  # 4-wide dot product, bit-serial weights
    place_route_factor: Sourced
    hbm_phy_mm2_per_stack: Sourced
    hbm_controller_mm2_per_stack: Sourced
    ddr_phy_mm2_per_32b: Sourced
    ddr_controller_mm2_per_32b: Sourced
    logic_leakage_mw_per_mm2: Sourced
    sram_leakage_mw_per_mm2: Sourced
    sram_banks: tuple[SramBank, ...]
    sram_source: str


def sourced_fields(table: AreaTable) -> dict[str, Sourced]:
    """Every :class:`Sourced` entry of ``table`` by field name."""
    return {k: v for k, v in vars(table).items() if isinstance(v, Sourced)}


def _scaled(base: Sourced, from_node: str, node: str, what: str) -> Sourced:
    """``base`` (given at ``from_node``) moved to ``node`` by the Stillmaker area factor."""
    if node == from_node:
        return base
    f = area_factor(from_node, node)
    return Sourced(
        base.value * f,
        f"derived: {what} {base.value:g} at {from_node} ({base.source}) x area factor "
        f"{from_node}->{node} {f:.4f} ({STILLMAKER})",
    )


def _aladdin_45nm(value_40nm: float, what: str) -> Sourced:
    f = area_factor("40nm", "45nm")
    return Sourced(
        value_40nm * f,
        f"derived: {what} {value_40nm:g} um^2 at 40nm ({ALADDIN}) x area factor 40nm->45nm "
        f"{f:.4f} ({STILLMAKER})",
    )


def _sram_banks(node: str) -> tuple[tuple[SramBank, ...], str]:
    if node in CACTI_SRAM_BANKS:
        pts = CACTI_SRAM_BANKS[node]
        return tuple(SramBank(b, a, leak) for b, (a, leak) in pts.items()), f"{CACTI} at {node}"
    pts = CACTI_SRAM_BANKS["28nm"]
    r = SRAM_7NM_FROM_28NM
    banks = tuple(SramBank(b, a * r, leak) for b, (a, leak) in pts.items())
    how = (
        f"derived: {CACTI} at 28nm x bit-cell ratio {r:.4f} ({TSMC7_CELL} / CACTI's 146 F^2 "
        "cell at 28nm); leakage column not used at 7nm"
    )
    return banks, how


def _logic_leakage(node: str) -> Sourced:
    leak_mw = 2.249908e-3 + 7.786052e-2 + 7.395312e-5
    area_um2 = 277.9792 + 6351.338 + 5.981433
    density_40 = leak_mw / area_um2 * 1e6
    e = energy_factor("40nm", node)
    a = area_factor("40nm", node)
    return Sourced(
        density_40 * e / a,
        f"derived: {density_40:.3f} mW/mm^2 at 40nm (adder + multiplier + register leakage / "
        f"area, {ALADDIN}) x energy factor {e:.4f} (0.9 V) / area factor {a:.4f} 40nm->{node} "
        f"({STILLMAKER}; leakage per device scaled like energy, as hwcomponents does)",
    )


def _sram_leakage(node: str) -> Sourced:
    if node in CACTI_SRAM_BANKS:
        area, leak = CACTI_SRAM_BANKS[node][1 << 20]
        return Sourced(leak / area, f"{CACTI} at {node}: 1 MB bank, {leak} mW / {area} mm^2")
    area, leak = CACTI_SRAM_BANKS["28nm"][1 << 20]
    e = energy_factor("28nm", node)
    return Sourced(
        leak / area * e / SRAM_7NM_FROM_28NM,
        f"derived: 28nm 1 MB CACTI bank {leak / area:.3f} mW/mm^2 ({CACTI}) x energy factor "
        f"28nm->{node} {e:.4f} (0.9 V, {STILLMAKER}) / bit-cell area ratio "
        f"{SRAM_7NM_FROM_28NM:.4f}",
    )


def area_table(node: str) -> AreaTable:
    """The area table of ``node`` (45nm, 28nm or 7nm)."""
    if node not in KNOWN_AREA_NODES:
        raise KeyError(node)
    h = {
        "int8_add": 36.0,
        "int16_add": 67.0,
        "int32_add": 137.0,
        "int8_mul": 282.0,
        "int32_mul": 3495.0,
        "fp16_add": 1360.0,
        "fp16_mul": 1640.0,
        "fp32_add": 4184.0,
        "fp32_mul": 7700.0,
    }
    base = {k: Sourced(v, HOROWITZ_AREA) for k, v in h.items()}
    base["bf16_mul"] = Sourced(
        h["fp16_mul"] * (7 / 10) ** 2,
        f"derived: FP16 multiplier {h['fp16_mul']:g} um^2 ({HOROWITZ_AREA}) x (7/10)^2 "
        f"(stored mantissa bits BF16/FP16, squared: {LLMCOMPASS} FPU rule)",
    )
    reg = _aladdin_45nm(5.981433, "register bit")
    gate = _aladdin_45nm(50.36996 / 32, "32-bit AND/OR/XOR / 32 =")
    mux2 = Sourced(
        2 * gate.value,
        f"{ASSUMED}: a 2:1 mux bit is two logic-gate bits (an AND-OR pair); gate bit "
        f"{gate.value:.4f} um^2 = {gate.source}",
    )
    logic45 = {f"{k}_um2": v for k, v in base.items()}
    logic45 |= {"register_bit_um2": reg, "gate_bit_um2": gate, "mux2_bit_um2": mux2}
    logic = {k: _scaled(v, "45nm", node, k) for k, v in logic45.items()}
    bitmod_mac = _scaled(Sourced(1968.7, BITMOD + ", test_baseline.py"), "28nm", node, "FP16 MAC")
    bitmod_bs = _scaled(Sourced(1507.7, BITMOD + ", test_bitmod.py"), "28nm", node, "bit-serial PE")
    hbm_ctrl_7 = Sourced(
        552_743_000 / 96.3e6,
        f"{LLMCOMPASS}: HBM2e controller 552,743,000 transistors / 96.3 MTr/mm^2 (7nm)",
    )
    ddr_ctrl_7 = Sourced(
        90_446_400 / 96.3e6,
        f"{LLMCOMPASS}: DDR5 controller 90,446,400 transistors per 32-bit unit / 96.3 MTr/mm^2",
    )
    banks, sram_how = _sram_banks(node)
    return AreaTable(
        node=node,
        **logic,
        bitmod_fp16_mac_um2=bitmod_mac,
        bitmod_bit_serial_pe_um2=bitmod_bs,
        place_route_factor=Sourced(1.5, BITMOD + ", pe_array.py PR_SCALING"),
        hbm_phy_mm2_per_stack=Sourced(10.45, LLMCOMPASS + ": HBM2e PHY per 1024-bit unit"),
        hbm_controller_mm2_per_stack=_scaled(hbm_ctrl_7, "7nm", node, "HBM2e controller"),
        ddr_phy_mm2_per_32b=Sourced(1.45, LLMCOMPASS + ": DDR5 PHY per 32-bit unit"),
        ddr_controller_mm2_per_32b=_scaled(ddr_ctrl_7, "7nm", node, "DDR5 controller"),
        logic_leakage_mw_per_mm2=_logic_leakage(node),
        sram_leakage_mw_per_mm2=_sram_leakage(node),
        sram_banks=banks,
        sram_source=sram_how,
    )


# ---- pieces ---------------------------------------------------------------------------------


def int_adder_um2(t: AreaTable, bits: int) -> Sourced:
    """An integer adder of ``bits`` bits.

    Rule: Horowitz's 8/16/32-bit points, linear in width between them; below 8 or above 32 bits,
    proportional to width from the nearest point.
    """
    pts = [(8, t.int8_add_um2.value), (16, t.int16_add_um2.value), (32, t.int32_add_um2.value)]
    if bits <= 8:
        v = pts[0][1] * bits / 8
    elif bits >= 32:
        v = pts[2][1] * bits / 32
    else:
        (b0, a0), (b1, a1) = (pts[0], pts[1]) if bits <= 16 else (pts[1], pts[2])
        v = a0 + (a1 - a0) * (bits - b0) / (b1 - b0)
    exact = {8: t.int8_add_um2, 16: t.int16_add_um2, 32: t.int32_add_um2}
    if bits in exact:
        return exact[bits]
    return Sourced(v, f"derived: {bits}-bit adder, linear in width through the 8/16/32-bit adders")


def register_um2(t: AreaTable, bits: int) -> Sourced:
    """``bits`` flip-flops (a register, or a LUT's entries held in flip-flops)."""
    return Sourced(bits * t.register_bit_um2.value, f"{bits} x register bit")


def lut_storage_um2(t: AreaTable, entries: int, entry_bits: int) -> Sourced:
    """A table of ``entries`` words of ``entry_bits`` bits held in flip-flops."""
    r = register_um2(t, entries * entry_bits)
    return Sourced(r.value, f"{entries} entries x {entry_bits} bits x register bit")


def mux_um2(t: AreaTable, inputs: int, bits: int) -> Sourced:
    """An ``inputs``:1 multiplexer of ``bits``-bit words: (inputs - 1) x bits mux2 bits."""
    n = max(inputs - 1, 0) * bits
    return Sourced(n * t.mux2_bit_um2.value, f"({inputs} - 1) x {bits} bits x mux2 bit")


def fp_adder_um2(t: AreaTable, accumulator_bits: int) -> Sourced:
    """The floating-point accumulator adder: FP16 up to 16 bits, FP32 above (as energy prices)."""
    return t.fp16_add_um2 if accumulator_bits <= 16 else t.fp32_add_um2


def _sum(parts: list[tuple[str, Sourced]], what: str) -> Sourced:
    total = sum(p.value for _, p in parts)
    terms = " + ".join(f"{name} {p.value:.2f}" for name, p in parts)
    return Sourced(total, f"derived: {what} = {terms} um^2 (before place and route)")


def ternary_add_pe_um2(
    t: AreaTable, accumulator_bits: int, activation_bits: int = 8, shadow: bool = False
) -> Sourced:
    """A ternary add/subtract/skip PE of a weight-stationary array.

    Adder at the accumulator width; registers: partial sum (accumulator width), the forwarded
    activation, the 2-bit weight (and a shadow copy if preloading under compute); sign and zero
    handling: one XOR (conditional invert; the adder's carry-in completes the negation) and one
    AND (zero gating) per activation bit.
    """
    weight_bits = 2 * (2 if shadow else 1)
    parts = [
        ("adder", int_adder_um2(t, accumulator_bits)),
        ("registers", register_um2(t, accumulator_bits + activation_bits + weight_bits)),
        ("sign/zero gates", Sourced(2 * activation_bits * t.gate_bit_um2.value, "gates")),
    ]
    return _sum(parts, f"ternary PE (acc {accumulator_bits} b, act {activation_bits} b)")


def _mac(t: AreaTable, mul: Sourced, adder: Sourced, reg_bits: int, what: str) -> Sourced:
    return _sum(
        [("multiplier", mul), ("adder", adder), ("registers", register_um2(t, reg_bits))], what
    )


def int8_mac_pe_um2(t: AreaTable, accumulator_bits: int, shadow: bool = False) -> Sourced:
    """INT8 MAC PE: 8-bit multiplier, adder at the accumulator width, registers for the partial
    sum, the activation and the weight (twice with a shadow weight register)."""
    regs = accumulator_bits + 8 + 8 * (2 if shadow else 1)
    return _mac(t, t.int8_mul_um2, int_adder_um2(t, accumulator_bits), regs, "INT8 MAC PE")


def fp16_mac_pe_um2(t: AreaTable, accumulator_bits: int, shadow: bool = False) -> Sourced:
    """FP16 MAC PE: FP16 multiplier, FP16/FP32 adder by accumulator width, registers."""
    regs = accumulator_bits + 16 + 16 * (2 if shadow else 1)
    return _mac(t, t.fp16_mul_um2, fp_adder_um2(t, accumulator_bits), regs, "FP16 MAC PE")


def bf16_mac_pe_um2(t: AreaTable, accumulator_bits: int, shadow: bool = False) -> Sourced:
    """BF16 MAC PE: BF16 multiplier, FP16/FP32 adder by accumulator width, registers."""
    regs = accumulator_bits + 16 + 16 * (2 if shadow else 1)
    return _mac(t, t.bf16_mul_um2, fp_adder_um2(t, accumulator_bits), regs, "BF16 MAC PE")


def ternary_lut_pe_um2(
    t: AreaTable,
    accumulator_bits: int,
    entries: int,
    entry_bits: int,
    index_bits: int,
    planes: int,
    shadow: bool = False,
) -> Sourced:
    """A LUT PE of a weight-stationary array whose row's table is broadcast to it (the LUT
    Tensor Core's organisation): the stationary index register (``index_bits`` per plane, twice
    with a shadow copy), a ``planes``:1 select of the plane's index, an ``entries``:1 mux of
    ``entry_bits``-bit entries, one XOR per entry bit (conditional negation; the adder's carry-in
    completes it), the accumulator adder and the partial-sum register."""
    reg_bits = accumulator_bits + planes * index_bits * (2 if shadow else 1)
    parts = [
        ("entry mux", mux_um2(t, entries, entry_bits)),
        ("plane select", mux_um2(t, planes, index_bits)),
        ("negate", Sourced(entry_bits * t.gate_bit_um2.value, "XOR per entry bit")),
        ("adder", int_adder_um2(t, accumulator_bits)),
        ("registers", register_um2(t, reg_bits)),
    ]
    return _sum(parts, f"LUT PE ({entries} x {entry_bits}-bit entries, acc {accumulator_bits} b)")


def lut_row_um2(t: AreaTable, entries: int, entry_bits: int, build_adds: int) -> Sourced:
    """The logic at one array row of a LUT array: two tables in flip-flops (the one being read
    and the next one; tersim assumption) and, when tables are built in the array, ``build_adds``
    adders of ``entry_bits`` bits (one table per cycle)."""
    parts = [("tables", lut_storage_um2(t, 2 * entries, entry_bits))]
    if build_adds:
        adder = int_adder_um2(t, entry_bits)
        parts.append(
            (
                "table builder",
                Sourced(build_adds * adder.value, f"{build_adds} x {entry_bits}-bit adder"),
            )
        )
    return _sum(parts, f"LUT row ({entries} entries, {build_adds} build adders)")


def bit_serial_int_pe_um2(
    t: AreaTable,
    accumulator_bits: int,
    activation_bits: int,
    weight_planes: int,
    planes_per_cycle: int,
    shadow: bool = False,
) -> Sourced:
    """A bit-serial PE with integer activations, least significant plane first: the activation
    sits in a shift register of ``activation_bits + weight_planes - 1`` bits (a 2:1 mux per bit:
    load or shift); each of the ``planes_per_cycle`` lanes taps it (shifted by its lane, wiring)
    through an AND per bit (the weight bit) and an XOR per bit (the negative top plane) into an
    adder at the accumulator width; registers hold the partial sum and the weight's
    ``weight_planes`` bits (twice with a shadow copy)."""
    shifted = activation_bits + weight_planes - 1
    lane = int_adder_um2(t, accumulator_bits).value + 2 * shifted * t.gate_bit_um2.value
    parts = [
        (
            f"{planes_per_cycle} lane(s)",
            Sourced(planes_per_cycle * lane, "adder + AND/XOR per shifted bit, per lane"),
        ),
        ("shift register", register_um2(t, shifted)),
        ("shift mux", Sourced(shifted * t.mux2_bit_um2.value, "mux2 per shifted bit")),
        ("registers", register_um2(t, accumulator_bits + weight_planes * (2 if shadow else 1))),
    ]
    return _sum(
        parts,
        f"bit-serial PE ({weight_planes} planes, {planes_per_cycle}/cycle, act "
        f"{activation_bits} b, acc {accumulator_bits} b)",
    )


def bit_serial_pe_um2(t: AreaTable) -> Sourced:
    """BitMoD's bit-serial PE: a 4-wide dot product taking weights 2 bits per cycle."""
    return t.bitmod_bit_serial_pe_um2


def vector_lane_um2(t: AreaTable) -> Sourced:
    """One vector-unit lane: an FP16 adder, an FP16 multiplier and three 16-bit registers (two
    operands and a result)."""
    parts = [
        ("FP16 adder", t.fp16_add_um2),
        ("FP16 multiplier", t.fp16_mul_um2),
        ("registers", register_um2(t, 48)),
    ]
    return _sum(parts, "vector lane")


# ---- SRAM -----------------------------------------------------------------------------------


def sram_bank_mm2(t: AreaTable, bank_bytes: int) -> Sourced:
    """One SRAM bank of ``bank_bytes`` bytes.

    Rule: linear in log(area) vs log(size) between the CACTI points (256 B to 8 MB); outside
    them, proportional to size from the nearest point.
    """
    pts = t.sram_banks
    by_size = {p.bank_bytes: p.area_mm2 for p in pts}
    if bank_bytes in by_size:
        return Sourced(by_size[bank_bytes], f"{bank_bytes} B bank: {t.sram_source}")
    lo, hi = pts[0], pts[-1]
    if bank_bytes < lo.bank_bytes or bank_bytes > hi.bank_bytes:
        p = lo if bank_bytes < lo.bank_bytes else hi
        return Sourced(
            p.area_mm2 * bank_bytes / p.bank_bytes,
            f"derived: {p.bank_bytes} B bank x size ratio (outside the CACTI points): "
            f"{t.sram_source}",
        )
    below = [p for p in pts if p.bank_bytes < bank_bytes][-1]  # points are sorted by size
    above = next(p for p in pts if p.bank_bytes > bank_bytes)
    x = (math.log(bank_bytes) - math.log(below.bank_bytes)) / (
        math.log(above.bank_bytes) - math.log(below.bank_bytes)
    )
    v = math.exp(
        math.log(below.area_mm2) + x * (math.log(above.area_mm2) - math.log(below.area_mm2))
    )
    return Sourced(
        v,
        f"derived: log-log interpolation between the {below.bank_bytes} B and "
        f"{above.bank_bytes} B banks: {t.sram_source}",
    )


def sram_mm2(t: AreaTable, size_bytes: int, banks: int) -> Sourced:
    """An SRAM buffer of ``size_bytes`` split into ``banks`` equal banks."""
    bank = sram_bank_mm2(t, max(size_bytes // banks, 1))
    return Sourced(
        banks * bank.value, f"{banks} banks x {size_bytes // banks} B ({bank.value:.5f} mm^2)"
    )
