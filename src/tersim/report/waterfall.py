"""The BitNet energy claim as a chain of steps, from matmul arithmetic to the whole chip.

Each step adds one piece of reality to both sides of the ratio *baseline energy / design
energy* (above 1: the design uses less), in this order, for one phase of a run:

0. the linear layers' arithmetic priced as BitNet b1.58 prices it (arXiv 2402.17764 section
   3): the baseline's FP16 multiplies and adds at the node's FP16 prices, the design's every
   weight slot (zeros included) at one INT8 add;
1. zero weights as the design handles them: a zero check if it skips zeros, else an INT8 add;
2. the adds at the accumulators' widths, as simulated: both sides' own linear-layer arithmetic
   energy (the design's INT32 adds; the baseline's multiply-accumulates at its accumulator's
   width);
3. the other matrix arithmetic on the array (attention products, LM head);
4. SRAM; 5. DRAM; 6. the vector unit; 7. leakage: the last step's sides are the phase's whole
   energies, so its ratio is the whole-chip ratio.

Every number comes from the run's simulated counts and the node's energy table; nothing is a
constant. Each step's factor is its ratio over the previous one, so the factors multiply to the
last ratio over the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.hardware import HardwareConfig
from tersim.report.data import Component, PhaseEnergy
from tersim.tech.tables import EnergyTable, energy_table


@dataclass(frozen=True)
class Step:
    label: str
    note: str
    baseline_pj: float  # the baseline's energy counted so far
    design_pj: float  # the design's energy counted so far

    @property
    def ratio(self) -> float:
        return self.baseline_pj / self.design_pj if self.design_pj else float("inf")


def node_table(hw: HardwareConfig) -> EnergyTable:
    """The energy table the design was priced with (its node, its YAML overrides)."""
    node = hw.tech.node
    return energy_table("7nm" if node == "custom" else node).with_overrides(
        dict(hw.tech.overrides_pj)
    )


def applies(design_hw: HardwareConfig, baseline_hw: HardwareConfig) -> bool:
    """The claim compares a ternary adder design with an FP16 multiply-accumulate baseline."""
    return (
        design_hw.array.pe_kind.value == "ternary_add"
        and baseline_hw.array.pe_kind.value == "fp16_mac"
    )


def claim_steps(
    design: PhaseEnergy,
    baseline: PhaseEnergy,
    design_hw: HardwareConfig,
    table: EnergyTable,
) -> tuple[Step, ...]:
    """The steps (module rules) for one phase of a design and its FP16 baseline."""
    b, d = baseline.by_component_pj, design.by_component_pj
    bl, dl = baseline.linear_pe, design.linear_pe
    int8 = table.int8_add_pj.value
    fp16 = bl.mul * table.fp16_mul_pj.value + bl.add * table.fp16_add_pj.value
    slots = dl.add + dl.sub + dl.skip
    skips = design_hw.array.zero_skipping
    zero_pj = table.zero_check_pj.value if skips else int8
    bits = design_hw.array.accumulator_bits
    steps = [
        Step(
            "matmul arithmetic, as the paper prices it",
            f"FP16: {bl.mul:,} multiplies x {table.fp16_mul_pj.value} pJ + {bl.add:,} adds x "
            f"{table.fp16_add_pj.value} pJ; ternary: {slots:,} weight slots x one INT8 add "
            f"({int8} pJ)",
            fp16,
            slots * int8,
        ),
        Step(
            "zero weights" + (" skipped" if skips else " still added"),
            (
                f"{dl.skip:,} zero weights cost a {zero_pj} pJ zero check"
                if skips
                else f"this design does not skip its {dl.skip:,} zero weights: each costs an add"
            ),
            fp16,
            (dl.add + dl.sub) * int8 + dl.skip * zero_pj,
        ),
        Step(
            "adds at the accumulators' widths",
            f"both sides' linear-layer arithmetic as simulated: the design's adds at its "
            f"{bits}-bit accumulator ({d[Component.LINEAR_ARITHMETIC] / max(1, slots):.4g} pJ "
            "per weight slot; an INT8 accumulator overflows in a long dot product), the "
            f"baseline's {b[Component.LINEAR_ARITHMETIC] / max(1, bl.mul):.4g} pJ per "
            "multiply-accumulate",
            b[Component.LINEAR_ARITHMETIC],
            d[Component.LINEAR_ARITHMETIC],
        ),
    ]
    added = (
        (Component.OTHER_ARITHMETIC, "+ attention and LM-head arithmetic on the array",
         "the other matrix products where the design runs them on its PE array"),
        (Component.SRAM, "+ SRAM", "on-chip buffer reads and writes"),
        (Component.DRAM, "+ DRAM", "weights, activations and KV cache moved off chip"),
        (Component.VECTOR, "+ vector unit", "norms, softmax, rotary, residuals (and attention "
         "where the design runs it there)"),
        (Component.LEAKAGE, "+ leakage", "static power over the phase's time"),
    )  # fmt: skip
    base_pj, design_pj = steps[-1].baseline_pj, steps[-1].design_pj
    for comp, label, note in added:
        base_pj += b[comp]
        design_pj += d[comp]
        steps.append(Step(label, note, base_pj, design_pj))
    return tuple(steps)
