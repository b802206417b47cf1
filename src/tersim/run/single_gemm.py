"""One GEMM on one design: the unit hardware people reason in (``tersim gemm``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tersim.config.enums import BufferRole, CompatMode, Dataflow, MappingSearch
from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import EnergyBreakdown, estimate_energy, price_list
from tersim.hw.counts import ActionCounts, PECounts, dram_bytes
from tersim.hw.pe import MatmulShape, pe_model
from tersim.mapping.gemm import GemmPlan, Operands, heuristic_info, plan_gemm, search_gemm
from tersim.mapping.placement import Placement
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.run.judge import engine_judge
from tersim.sim import SimResult, memory_timing, simulate
from tersim.workload.formats import weight_bits
from tersim.workload.ops import OpKind, Phase


@dataclass(frozen=True)
class GemmResult:
    plan: GemmPlan
    result: SimResult
    pe_ops: PECounts
    zero_fraction: float | None  # assumed zero fraction of ternary weights (None for MACs)
    energy: EnergyBreakdown  # the GEMM's actions at the design's prices, leakage included
    k: int = 0  # the GEMM's reduction length (the plan's k is the array's: a LUT PE's groups)

    @property
    def seconds(self) -> float:
        return self.result.seconds

    def to_json(self) -> dict[str, Any]:
        p, r = self.plan, self.result
        k = self.k or p.k
        useful = p.m * p.n * k
        return {
            "m": p.m,
            "n": p.n,
            "k": k,
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
            "sram_reads_bytes": {r.value: v for r, v in p.sram_read_bytes.items()},
            "sram_writes_bytes": {r.value: v for r, v in p.sram_write_bytes.items()},
            "sram_reads_words": {r.value: v for r, v in p.sram_read_words.items()},
            "sram_writes_words": {r.value: v for r, v in p.sram_write_words.items()},
            "dram_read_bytes": sum(p.dram_read_bytes.values()),
            "dram_read_bytes_by_operand": {r.value: v for r, v in p.dram_read_bytes.items()},
            "dram_write_bytes": p.dram_write_bytes,
            "mapping": None if p.mapping is None else p.mapping.to_json(),
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
    """Map and simulate X[m, k] @ W[k, n]: operands start in DRAM, outputs return there.

    The GEMM is mapped by the search (:func:`search_gemm`) when the design's ``mapping.search``
    is ``searched``, the cycle convention tersim's and the memory real; otherwise by the
    heuristic rules (SCALE-Sim compatibility keeps SCALE-Sim's own schedule)."""
    pe = pe_model(hw.array.pe_kind)
    native = pe.weight_formats[0]
    shape = MatmulShape(m, n, k, 1, pe.native_act_bits, weight_bits(native), native)
    am = pe.map_matmul(hw.array, shape, None)
    ops = Operands(
        am.input_bits,
        am.weight_bits,
        pe.native_out_bits,
        hw.array.accumulator_bits,
        input_on_chip=False,
        output_on_chip=False,
        passes_per_tile=am.passes_per_tile,
    )
    mode = hw.array.compat if compat is None else compat
    if (
        hw.mapping.search is MappingSearch.SEARCHED
        and mode is CompatMode.TERSIM
        and not ideal_memory
    ):
        view = hw
        if dataflow is not None and dataflow is not hw.array.dataflow:
            view = hw.model_copy(
                update={"array": hw.array.model_copy(update={"dataflow": dataflow})}
            )
        plan = search_gemm(view, m, n, am.k, ops, engine_judge(view))
    else:
        plan = plan_gemm(
            hw, m, n, am.k, ops, dataflow=dataflow, compat=compat, ideal_memory=ideal_memory
        )
        plan = replace(plan, mapping=heuristic_info(plan, ops))
    actions = am.actions
    zero = pe.assumed_zero_fraction(native)
    counts = ActionCounts(  # everything the energy model prices, from the plan
        pe_by_kind={"linear": actions},
        sram_read_bytes=dict(plan.sram_read_bytes),
        sram_write_bytes=dict(plan.sram_write_bytes),
        dram_read_bytes=dram_bytes(
            weights=plan.dram_read_bytes.get(BufferRole.WEIGHT, 0),
            activations=plan.dram_read_bytes.get(BufferRole.INPUT, 0),
        ),
        dram_write_bytes=dram_bytes(activations=plan.dram_write_bytes),
    )
    sched = Schedule(
        (
            OpSchedule(
                0,
                "gemm",
                OpKind.LINEAR,
                0,
                Phase.PREFILL,
                0,
                plan.tiles,
                plan.end_write_bytes,  # the tiles write the rest themselves
                counts,
            ),
        ),
        Placement.none(),
    )
    result = simulate(sched, memory_timing(hw, ideal=ideal_memory), hw.array.clock_hz)
    energy = estimate_energy(result.counts, price_list(hw))
    return GemmResult(plan, result, actions, zero, energy, k)
