"""Per-operation energies (pJ) for the technology nodes tersim knows, each with its source.

Primary sources:

* ``BITNET_T2``: Wang et al., "BitNet: Scaling 1-bit Transformers for Large Language Models",
  arXiv 2310.11453, Table 2 (45nm and 7nm add/mul energies, taken from Horowitz 2014 and
  Zhang et al. CVPR 2022 "PokeBNN").
* ``HOROWITZ``: M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, 45nm 0.9 V: integer add 8/16/32 bit 0.03/0.05/0.1 pJ, integer mul 32 bit 3.1 pJ,
  SRAM read of 64 bits from 8 KB / 32 KB / 1 MB arrays 10 / 20 / 100 pJ.

Where a 7nm figure is not published in those sources, it is *derived* and says so: the integer
adder figures scale the 45nm value by the INT8-add ratio of BitNet's Table 2
(0.007 / 0.03), and SRAM scales by the FP16 add ratio (0.16 / 0.4), a stand-in for wire and
bit-line energy scaling. Derived numbers are estimates; override them in YAML (``tech.overrides``)
when you have a better figure for your process.

28nm (rules; docs/area.md has the reasoning):

* Logic (adds, multiplies, zero check, vector op): the 45nm figure x ``K_28NM`` = 0.77 / 1.5 =
  0.5133, the factor that turns Horowitz's FP16 multiply + add (1.1 + 0.4 pJ) into BitMoD's
  28nm FP16 MAC (0.77 pJ, its simulator's ``test_baseline.py``). Stillmaker & Baas's energy
  factor 45nm -> 28nm at 0.9 V (0.507) agrees within 1.3%.
* SRAM: Horowitz's 45nm access energy x the CACTI 7.0 ratio 28nm / 45nm at the same size
  (8 KB, 32 KB, 1 MB; 64-bit reads; tersim.tech.area has the CACTI runs).

Leakage is not an energy field: it is area x a leakage density per node
(``tersim.tech.area``, ``tersim.cost.area.leakage_mw``).

``BITMOD_FP16_MAC_28NM_PJ`` and ``BITMOD_BIT_SERIAL_PE_28NM_PJ`` keep BitMoD's per-PE energies
(per MAC, and per cycle of its 4-wide bit-serial dot product) for the PE models.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from tersim.tech import area as _area
from tersim.tech.sourced import Sourced

BITNET_T2 = "BitNet (arXiv 2310.11453) Table 2"
HOROWITZ = "Horowitz, ISSCC 2014, 45nm 0.9V"
ASSUMED = "tersim assumption"
BITMOD_SIM = "BitMoD HPCA 2025 simulator (abdelfattah-lab/BitMoD-HPCA-25 bitmod_sim), 28nm"

BITMOD_FP16_MAC_28NM_PJ = Sourced(0.77, BITMOD_SIM + ", test_baseline.py pe_energy")
BITMOD_BIT_SERIAL_PE_28NM_PJ = Sourced(0.56, BITMOD_SIM + ", test_bitmod.py pe_energy")
# 45nm -> 28nm factor for logic energy: BitMoD's FP16 MAC over Horowitz's FP16 mul + add.
K_28NM = BITMOD_FP16_MAC_28NM_PJ.value / (1.1 + 0.4)

__all__ = ["EnergyTable", "Sourced", "energy_field_names", "energy_table", "known_nodes"]


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in picojoules at one technology node.

    SRAM energies are per 64-bit access at three reference array sizes (Horowitz's points);
    ``tersim.cost.energy`` interpolates between them in log(size).
    """

    node: str
    fp32_add_pj: Sourced
    fp32_mul_pj: Sourced
    fp16_add_pj: Sourced
    fp16_mul_pj: Sourced
    int8_add_pj: Sourced
    int8_mul_pj: Sourced
    int16_add_pj: Sourced
    int32_add_pj: Sourced
    int32_mul_pj: Sourced
    zero_check_pj: Sourced
    sram_8kb_read_64b_pj: Sourced
    sram_32kb_read_64b_pj: Sourced
    sram_1mb_read_64b_pj: Sourced
    vector_op_pj: Sourced  # one element op of the vector unit

    def with_overrides(self, overrides_pj: dict[str, float]) -> EnergyTable:
        """A copy with some fields replaced by user values (source: the user's config)."""
        update: dict[str, Any] = {
            name: Sourced(float(v), "override in hardware config")
            for name, v in overrides_pj.items()
        }
        return replace(self, **update)


def energy_field_names() -> tuple[str, ...]:
    """Names of the overridable per-action energy fields."""
    return tuple(f.name for f in fields(EnergyTable) if f.name != "node")


def _derived(value_45nm: float, ratio: float, what: str) -> Sourced:
    return Sourced(
        round(value_45nm * ratio, 6),
        f"derived: {HOROWITZ} value {value_45nm} pJ x {what}",
    )


def _table_45nm() -> EnergyTable:
    return EnergyTable(
        node="45nm",
        fp32_add_pj=Sourced(0.9, BITNET_T2),
        fp32_mul_pj=Sourced(3.7, BITNET_T2),
        fp16_add_pj=Sourced(0.4, BITNET_T2),
        fp16_mul_pj=Sourced(1.1, BITNET_T2),
        int8_add_pj=Sourced(0.03, BITNET_T2),
        int8_mul_pj=Sourced(0.2, BITNET_T2),
        int16_add_pj=Sourced(0.05, HOROWITZ),
        int32_add_pj=Sourced(0.1, HOROWITZ),
        int32_mul_pj=Sourced(3.1, HOROWITZ),
        # A zero test on a 2-bit trit is a couple of gates; priced as a tenth of an INT8 add.
        zero_check_pj=Sourced(0.003, ASSUMED + ": 0.1 x INT8 add"),
        sram_8kb_read_64b_pj=Sourced(10.0, HOROWITZ),
        sram_32kb_read_64b_pj=Sourced(20.0, HOROWITZ),
        sram_1mb_read_64b_pj=Sourced(100.0, HOROWITZ),
        vector_op_pj=Sourced(0.4, ASSUMED + ": one FP16 add per element op (BitNet Table 2)"),
    )


def _table_7nm() -> EnergyTable:
    int_ratio = 0.007 / 0.03  # BitNet Table 2: INT8 add 7nm / 45nm
    wire_ratio = 0.16 / 0.4  # BitNet Table 2: FP16 add 7nm / 45nm
    int_what = "INT8-add scaling 0.007/0.03 (BitNet Table 2)"
    wire_what = "FP16-add scaling 0.16/0.4 (BitNet Table 2)"
    return EnergyTable(
        node="7nm",
        fp32_add_pj=Sourced(0.38, BITNET_T2),
        fp32_mul_pj=Sourced(1.31, BITNET_T2),
        fp16_add_pj=Sourced(0.16, BITNET_T2),
        fp16_mul_pj=Sourced(0.34, BITNET_T2),
        int8_add_pj=Sourced(0.007, BITNET_T2),
        int8_mul_pj=Sourced(0.07, BITNET_T2),
        int16_add_pj=_derived(0.05, int_ratio, int_what),
        int32_add_pj=_derived(0.1, int_ratio, int_what),
        int32_mul_pj=_derived(3.1, int_ratio, int_what),
        zero_check_pj=Sourced(0.0007, ASSUMED + ": 0.1 x INT8 add"),
        sram_8kb_read_64b_pj=_derived(10.0, wire_ratio, wire_what),
        sram_32kb_read_64b_pj=_derived(20.0, wire_ratio, wire_what),
        sram_1mb_read_64b_pj=_derived(100.0, wire_ratio, wire_what),
        vector_op_pj=Sourced(0.16, ASSUMED + ": one FP16 add per element op (BitNet Table 2)"),
    )


def _k28(value_45nm: float, what: str) -> Sourced:
    return Sourced(
        round(value_45nm * K_28NM, 6),
        f"derived: {what} {value_45nm} pJ at 45nm x {K_28NM:.4f} (BitMoD 28nm FP16 MAC 0.77 pJ / "
        f"Horowitz FP16 mul + add 1.5 pJ)",
    )


def _sram_28nm(value_45nm: float, size_bytes: int, label: str) -> Sourced:
    c28 = _area.CACTI_READ_64B_PJ["28nm"][size_bytes]
    c45 = _area.CACTI_READ_64B_PJ["45nm"][size_bytes]
    return Sourced(
        round(value_45nm * c28 / c45, 6),
        f"derived: {HOROWITZ} {label} {value_45nm} pJ x CACTI 7.0 28nm/45nm ratio "
        f"{c28}/{c45} (64-bit read, {_area.CACTI})",
    )


def _table_28nm() -> EnergyTable:
    return EnergyTable(
        node="28nm",
        fp32_add_pj=_k28(0.9, "FP32 add (BitNet Table 2)"),
        fp32_mul_pj=_k28(3.7, "FP32 mul (BitNet Table 2)"),
        fp16_add_pj=_k28(0.4, "FP16 add (BitNet Table 2)"),
        fp16_mul_pj=_k28(1.1, "FP16 mul (BitNet Table 2)"),
        int8_add_pj=_k28(0.03, "INT8 add (BitNet Table 2)"),
        int8_mul_pj=_k28(0.2, "INT8 mul (BitNet Table 2)"),
        int16_add_pj=_k28(0.05, "INT16 add (Horowitz)"),
        int32_add_pj=_k28(0.1, "INT32 add (Horowitz)"),
        int32_mul_pj=_k28(3.1, "INT32 mul (Horowitz)"),
        zero_check_pj=_k28(0.003, ASSUMED + ": zero check 0.1 x INT8 add,"),
        sram_8kb_read_64b_pj=_sram_28nm(10.0, 8 * 1024, "8 KB read"),
        sram_32kb_read_64b_pj=_sram_28nm(20.0, 32 * 1024, "32 KB read"),
        sram_1mb_read_64b_pj=_sram_28nm(100.0, 1 << 20, "1 MB read"),
        vector_op_pj=_k28(0.4, ASSUMED + ": one FP16 add per element op,"),
    )


def known_nodes() -> tuple[str, ...]:
    return ("7nm", "28nm", "45nm")


def energy_table(node: str) -> EnergyTable:
    """The energy table of a named node (``7nm``, ``28nm`` or ``45nm``)."""
    if node == "7nm":
        return _table_7nm()
    if node == "28nm":
        return _table_28nm()
    if node == "45nm":
        return _table_45nm()
    raise KeyError(node)
