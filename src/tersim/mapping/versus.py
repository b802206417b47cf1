"""The searched mapping of one GEMM against the heuristic's, priced by the same judge.

The span of a plan is the judge's cycles of the op alone from its first data (what the
search minimizes under ``mapping.objective: latency``); the heuristic plan's DRAM bytes are
spread over its tiles as the mapper spreads them (``spread_loads``)."""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import MappingObjective
from tersim.config.hardware import HardwareConfig
from tersim.hw.counts import ActionCounts
from tersim.mapping.gemm import Operands, plan_gemm
from tersim.mapping.ops import _matmul_shape
from tersim.mapping.schedule import spread_loads
from tersim.mapping.search import Judge, search
from tersim.mapping.space import GemmProblem, Geometry
from tersim.workload.ops import Op


@dataclass(frozen=True)
class Versus:
    key: tuple[object, ...]  # (m, n, k, instances, input bits, weight bits)
    searched_cycles: int
    heuristic_cycles: int


def shape_key(hw: HardwareConfig, op: Op) -> tuple[object, ...]:
    """What makes two matrix ops the same GEMM for this comparison."""
    shape, am = _matmul_shape(hw, op)
    return (shape.m, shape.n, am.k, shape.count, am.input_bits, am.weight_bits)


def searched_versus_heuristic(hw: HardwareConfig, judge: Judge, op: Op) -> Versus:
    """The span of ``op``'s searched point and of its heuristic plan (operands from DRAM,
    output to DRAM, 32-bit accumulators)."""
    shape, am = _matmul_shape(hw, op)
    ops = Operands(am.input_bits, am.weight_bits, op.out_bits, 32, False, False)
    h = plan_gemm(hw, shape.m, shape.n, am.k, ops, instances=shape.count)
    tiles = spread_loads(h.tiles, sum(h.dram_read_bytes.values()))
    problem = GemmProblem.of(hw, shape.m, shape.n, am.k, ops.bits, False, False, shape.count)
    write = Geometry(problem).write_bytes  # the heuristic writes it after its tiles
    h_span = judge.op_cycles(tiles, write) - judge.first_load_cycles(tiles[0].load_bytes)
    s = search(problem, judge, MappingObjective.LATENCY, ActionCounts())
    return Versus(shape_key(hw, op), s.span_cycles, h_span)
