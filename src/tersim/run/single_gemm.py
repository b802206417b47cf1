"""One GEMM on one design: the unit hardware people reason in (``tersim gemm``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tersim.config.enums import CompatMode, Dataflow, PEKind
from tersim.config.hardware import HardwareConfig
from tersim.cost.counts import ActionCounts, PECounts
from tersim.cost.energy import EnergyBreakdown, estimate_energy, price_list
from tersim.mapping.gemm import GemmPlan, Operands, plan_gemm
from tersim.mapping.ops import ASSUMED_ZERO_FRACTION
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.sim import SimResult, memory_timing, simulate

# (input bits, weight bits, output bits) of each PE kind's native format
NATIVE_BITS: dict[PEKind, tuple[int, float, int]] = {
    PEKind.TERNARY_ADD: (8, 2.0, 8),
    PEKind.INT8_MAC: (8, 8.0, 8),
    PEKind.FP16_MAC: (16, 16.0, 16),
    PEKind.BF16_MAC: (16, 16.0, 16),
}


@dataclass(frozen=True)
class GemmResult:
    plan: GemmPlan
    result: SimResult
    pe_ops: PECounts
    zero_fraction: float | None  # assumed zero fraction of ternary weights (None for MACs)
    energy: EnergyBreakdown  # the GEMM's actions at the design's prices, leakage included

    @property
    def seconds(self) -> float:
        return self.result.seconds

    def to_json(self) -> dict[str, Any]:
        p, r = self.plan, self.result
        useful = p.useful_macs
        return {
            "m": p.m,
            "n": p.n,
            "k": p.k,
            "rows": p.rows,
            "cols": p.cols,
            "dataflow": p.dataflow.value,
            "compat": p.compat.value,
            "total_cycles": r.total_cycles,
            "compute_cycles": p.compute_cycles,
            "stall_cycles": r.total_cycles - p.compute_cycles,
            "folds": {
                "row": p.folds[0],
                "col": p.folds[1],
                "chunks": p.chunks,
                "passes": p.tile_count,
            },
            "utilization": useful / (p.rows * p.cols * r.total_cycles),
            "sram_reads_bytes": dict(p.sram_read_bytes),
            "sram_writes_bytes": dict(p.sram_write_bytes),
            "sram_reads_words": dict(p.sram_read_words),
            "sram_writes_words": dict(p.sram_write_words),
            "dram_read_bytes": sum(p.dram_read_bytes.values()),
            "dram_read_bytes_by_operand": dict(p.dram_read_bytes),
            "dram_write_bytes": p.dram_write_bytes,
            "pe_ops": vars(self.pe_ops),
            "assumed_zero_fraction": self.zero_fraction,
            "seconds": self.seconds,
            "energy_pj": self.energy.to_json(),
        }


def run_gemm(
    hw: HardwareConfig,
    m: int,
    n: int,
    k: int,
    dataflow: Dataflow | None = None,
    compat: CompatMode | None = None,
    ideal_memory: bool = False,
) -> GemmResult:
    """Map and simulate X[m, k] @ W[k, n]: operands start in DRAM, outputs return there."""
    in_bits, w_bits, out_bits = NATIVE_BITS[hw.array.pe_kind]
    ops = Operands(
        in_bits,
        w_bits,
        out_bits,
        hw.array.accumulator_bits,
        input_on_chip=False,
        output_on_chip=False,
    )
    plan = plan_gemm(hw, m, n, k, ops, dataflow=dataflow, compat=compat, ideal_memory=ideal_memory)
    macs = m * n * k
    zero: float | None = None
    if hw.array.pe_kind == PEKind.TERNARY_ADD:
        zero = ASSUMED_ZERO_FRACTION
        skip = round(macs * zero)
        add = (macs - skip + 1) // 2
        pe = PECounts(add=add, sub=macs - skip - add, skip=skip)
    else:
        pe = PECounts(add=macs, mul=macs)
    counts = ActionCounts(  # everything the energy model prices, from the plan
        pe_by_kind={"linear": pe},
        sram_read_bytes=dict(plan.sram_read_bytes),
        sram_write_bytes=dict(plan.sram_write_bytes),
        dram_read_bytes={
            "weights": plan.dram_read_bytes.get("weight", 0),
            "activations": plan.dram_read_bytes.get("input", 0),
            "kv_cache": 0,
        },
        dram_write_bytes={"weights": 0, "activations": plan.dram_write_bytes, "kv_cache": 0},
    )
    sched = Schedule(
        (
            OpSchedule(
                0, "gemm", "linear", 0, "prefill", 0, plan.tiles, plan.dram_write_bytes, counts
            ),
        )
    )
    result = simulate(sched, memory_timing(hw, ideal=ideal_memory), hw.array.clock_hz)
    return GemmResult(plan, result, pe, zero, estimate_energy(result.counts, price_list(hw)))
