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
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

BITNET_T2 = "BitNet (arXiv 2310.11453) Table 2"
HOROWITZ = "Horowitz, ISSCC 2014, 45nm 0.9V"
ASSUMED = "tersim assumption"


@dataclass(frozen=True)
class Sourced:
    """A number with the place it comes from."""

    value: float
    source: str


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
    sram_leakage_mw_per_mb: Sourced
    ternary_pe_leakage_uw: Sourced
    int8_mac_pe_leakage_uw: Sourced
    fp16_mac_pe_leakage_uw: Sourced

    def value(self, name: str) -> float:
        """The number of field ``name`` in pJ."""
        entry = getattr(self, name)
        if not isinstance(entry, Sourced):
            raise KeyError(name)
        return entry.value

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
        sram_leakage_mw_per_mb=Sourced(2.0, ASSUMED + ": no published figure used; set yours"),
        ternary_pe_leakage_uw=Sourced(0.5, ASSUMED + ": proportional to PE area"),
        int8_mac_pe_leakage_uw=Sourced(1.5, ASSUMED + ": proportional to PE area"),
        fp16_mac_pe_leakage_uw=Sourced(8.0, ASSUMED + ": proportional to PE area"),
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
        sram_leakage_mw_per_mb=Sourced(4.0, ASSUMED + ": no published figure used; set yours"),
        ternary_pe_leakage_uw=Sourced(0.2, ASSUMED + ": proportional to PE area"),
        int8_mac_pe_leakage_uw=Sourced(0.6, ASSUMED + ": proportional to PE area"),
        fp16_mac_pe_leakage_uw=Sourced(3.0, ASSUMED + ": proportional to PE area"),
    )


def known_nodes() -> tuple[str, ...]:
    return ("7nm", "45nm")


def energy_table(node: str) -> EnergyTable:
    """The energy table of a named node (``7nm`` or ``45nm``)."""
    if node == "7nm":
        return _table_7nm()
    if node == "45nm":
        return _table_45nm()
    raise KeyError(node)
