"""The searched mapping of one GEMM against the heuristic's, priced by the same judge.

The span of a plan is the judge's cycles of the op alone from its first data (what the
search minimizes under ``mapping.objective: latency``); the heuristic plan's DRAM bytes are
spread over its tiles as the mapper spreads them (``spread_loads``). :func:`distinct_gemms`
lists a design's distinct GEMMs over several workloads (each once, in trace order), the set
the never-worse check (``scripts/mapping_never_worse.py`` and its test) compares."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tersim.config.enums import MappingObjective
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.errors import TersimError
from tersim.hw.counts import ActionCounts
from tersim.mapping.gemm import Operands, plan_gemm
from tersim.mapping.ops import _matmul_shape, runs_on_array
from tersim.mapping.schedule import spread_loads
from tersim.mapping.search import Judge, search
from tersim.mapping.space import GemmProblem, Geometry
from tersim.workload.formats import resolve_formats
from tersim.workload.ops import Op, Phase
from tersim.workload.trace import trace_shapes

PROMPT_TOKENS = 128  # the prefill length of the check (and one decode step)


@dataclass(frozen=True)
class Versus:
    key: tuple[object, ...]  # (m, n, k, instances, input bits, weight bits)
    searched_cycles: int
    heuristic_cycles: int


def shape_key(hw: HardwareConfig, op: Op) -> tuple[object, ...]:
    """What makes two matrix ops the same GEMM for this comparison."""
    shape, am = _matmul_shape(hw, op)
    return (shape.m, shape.n, am.k, shape.count, am.input_bits, am.weight_bits)


def distinct_gemms(
    hw: HardwareConfig, specs: Iterable[tuple[str, ModelSpec]]
) -> Iterator[tuple[str, Op]]:
    """``(workload name, op)`` for each distinct GEMM (:func:`shape_key`) the array of ``hw``
    runs in the workloads' 128-token prefill and first decode step, first occurrence first; a
    workload this design's PEs cannot run is skipped."""
    seen: set[tuple[object, ...]] = set()
    for name, spec in specs:
        try:
            fm = resolve_formats(spec, hw.array.pe_kind, None, hw.array.weight_format)
            trace = trace_shapes(spec, fm, (Phase.PREFILL, Phase.DECODE), PROMPT_TOKENS, 2, 1)
        except TersimError:
            continue
        for op in trace.ops:
            if not (op.kind.is_matmul and runs_on_array(hw, op)) or op.step > 0:
                continue
            key = shape_key(hw, op)
            if key not in seen:
                seen.add(key)
                yield name, op


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
