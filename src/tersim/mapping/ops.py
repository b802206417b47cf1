"""Map a traced workload onto a design: every op becomes an :class:`OpSchedule`.

Which unit runs what:

* Matrix products run on the systolic array when its PEs can execute them (the PE model's
  ``runs_product``): a ternary adder array runs only products with ternary or binary weights;
  an INT8 array does not run the FP16 LM head. The rest (attention and the full-precision LM
  head on an adder array) runs on the vector unit as multiply-accumulates, one per lane per
  cycle: on a pure adder array this is real work the 71x claim does not count.
* Element-wise and reduction ops run on the vector unit: ``ceil(element ops / lanes)`` cycles.

Data placement is decided per named tensor, once (:class:`Placement`): an activation tensor
stays on chip from its producer to its consumers when it fits the activation capacity (the
smaller usable input and output buffer), else its producer writes it to DRAM and every consumer
reads it from there. A view (a consumer reading part of a tensor) follows its whole tensor.
Weights always come from DRAM; K and V are read from and written to the DRAM KV cache in its
precision (each cached element fetched once per op, so query heads of one KV group share their
fetch). Every DRAM amount is rounded up to whole bursts, per tensor.

PE actions per weight x activation slot come from the design's PE model (``tersim.hw.pe``):
a ternary adder uses the trace's measured counts when the trace was measured, else an assumed
zero fraction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from tersim.config.enums import BufferRole, CompatMode, MappingObjective, MappingSearch
from tersim.config.hardware import HardwareConfig
from tersim.hw.counts import ActionCounts, PECounts, buffer_bytes, dram_bytes
from tersim.hw.pe import MeasuredSlots, pe_model
from tersim.mapping.bounds import matmul_load_bound_bytes, on_chip_bytes, op_lower_bound_bytes
from tersim.mapping.buffers import burst_round
from tersim.mapping.gemm import (
    GemmPlan,
    Operands,
    choice_for,
    gemm_problem,
    heuristic_info,
    plan_gemm,
    searched_plan,
)
from tersim.mapping.placement import Placement, place_live, place_tensors
from tersim.mapping.schedule import (
    OpSchedule,
    Schedule,
    TileRun,
    Unit,
    merge_runs,
    spread_loads,
)
from tersim.mapping.search import Choice, Judge, search
from tersim.mapping.space import TooManyRuns
from tersim.workload.ops import Op, OpKind, Tensor, TensorKind, Workload

# Vector-unit streams (norm inputs, KV cache, LM-head weights) move in blocks of this size, so
# their loads overlap computation independently of how large the buffers are.
VECTOR_DMA_BLOCK_BYTES = 16 * 1024


def runs_on_array(hw: HardwareConfig, op: Op) -> bool:
    """Whether the systolic array's PEs can execute matrix op ``op`` (the PE model decides:
    an adder PE cannot multiply two activations; an INT8 MAC needs an 8-bit KV cache)."""
    return pe_model(hw.array.pe_kind).runs_product(op.weight_format, op.weight_bits)


def _dram_activation_bytes(hw: HardwareConfig, ts: tuple[Tensor, ...], place: Placement) -> int:
    """DRAM bytes of the activation tensors among ``ts`` that do not stay on chip."""
    return sum(
        burst_round(hw, t.size_bytes)
        for t in ts
        if t.kind is TensorKind.ACTIVATION and not place.resident(t)
    )


def _kind_bytes(hw: HardwareConfig, ts: tuple[Tensor, ...], kind: TensorKind) -> int:
    """DRAM bytes of the tensors of ``kind`` among ``ts`` (whole bursts per tensor)."""
    return sum(burst_round(hw, t.size_bytes) for t in ts if t.kind is kind)


def _vector_cycles(hw: HardwareConfig, ops: int) -> int:
    v = hw.vector_unit
    return -(-ops // (v.lanes * v.ops_per_cycle_per_lane)) if ops > 0 else 0


def _split(total_cycles: int, load_bytes: int, pieces: int, unit: Unit) -> tuple[TileRun, ...]:
    """``pieces`` tiles sharing cycles and loads evenly (remainders on the first tiles)."""
    pieces = max(1, pieces)
    qc, rc = divmod(total_cycles, pieces)
    ql, rl = divmod(load_bytes, pieces)
    cuts = sorted({0, rc, rl, pieces})
    runs = []
    for a, b in itertools.pairwise(cuts):
        if b > a:
            runs.append(TileRun(b - a, ql + (1 if a < rl else 0), qc + (1 if a < rc else 0), unit))
    return merge_runs(tuple(runs))


def _operands(hw: HardwareConfig, op: Op, x_on_chip: bool, y_on_chip: bool) -> Operands:
    return Operands(
        input_bits=op.act_bits,
        weight_bits=op.weight_bits,
        output_bits=op.out_bits,
        acc_bits=hw.array.accumulator_bits,
        input_on_chip=x_on_chip,
        output_on_chip=y_on_chip,
    )


def _gemm_shape(op: Op) -> tuple[int, int, int, int]:
    """(m, n, k, instances): the query heads of one KV group share K (or V), so they run as one
    GEMM of group x tokens rows each."""
    attention = op.kind in (OpKind.ATTN_QK, OpKind.ATTN_AV)
    group = op.group if attention and op.count % op.group == 0 else 1
    return op.m * group, op.n, op.k, op.count // group


def _fixed_parts(
    hw: HardwareConfig, op: Op, y_on_chip: bool
) -> tuple[PECounts, tuple[TileRun, ...], int, int]:
    """What the op does whatever its mapping: PE actions, its vector epilogue, and its DRAM
    write-backs (activations, KV cache)."""
    m = op.measured
    slots = None if m is None else MeasuredSlots(m.adds, m.subs, m.skips)
    pe = pe_model(hw.array.pe_kind).slot_actions(op.macs, op.weight_format, slots)
    rescale = _vector_cycles(hw, op.vector_ops)
    tail = (TileRun(1, 0, rescale, Unit.VECTOR),) if rescale else ()
    kv_write = _kind_bytes(hw, op.outputs, TensorKind.KV_CACHE)
    # the output tensor is one contiguous block in DRAM: whole bursts of the tensor, not of
    # each of the plan's instances (heads)
    act_write = 0
    if not y_on_chip:
        act_write = _kind_bytes(hw, op.outputs, TensorKind.ACTIVATION)
    return pe, tail, act_write, kv_write


def _array_op(
    hw: HardwareConfig, op: Op, place: Placement, plan: GemmPlan, searched: bool
) -> OpSchedule:
    """The op's schedule from its GEMM plan (heuristic: loads spread over the tiles, the KV
    cache read once; searched: the plan's own per-tile loads and KV traffic)."""
    attention = op.kind in (OpKind.ATTN_QK, OpKind.ATTN_AV)
    pe, tail, act_write, kv_write = _fixed_parts(hw, op, _output_on_chip(op, place))
    tiles = plan.tiles
    act_in = plan.dram_read_bytes[BufferRole.INPUT]
    second = plan.dram_read_bytes[BufferRole.WEIGHT]
    if attention:
        if not searched:
            second = _kind_bytes(hw, op.inputs, TensorKind.KV_CACHE)
            tiles = spread_loads(tiles, act_in + second)
        dram_read = dram_bytes(activations=act_in, kv_cache=second)
    else:
        dram_read = dram_bytes(activations=act_in, weights=second)
    tiles = (*tiles, *tail)
    sram_read = dict(plan.sram_read_bytes)
    # write-backs (to the activations and to the cache) read the output buffer
    sram_read[BufferRole.OUTPUT] += kv_write + act_write - plan.dram_write_bytes
    counts = ActionCounts(
        pe_by_kind={op.kind.value: pe},
        vector_ops=op.vector_ops,
        sram_read_bytes=sram_read,
        sram_write_bytes=dict(plan.sram_write_bytes),
        dram_read_bytes=dram_read,
        dram_write_bytes=dram_bytes(activations=act_write, kv_cache=kv_write),
    )
    compulsory = _compulsory(hw, op, place)
    m, n, k, inst = _gemm_shape(op)
    loads = 0
    if not place_resident(op.inputs[0], place):
        narrow = min(op.act_bits, op.weight_bits, op.out_bits)
        loads = matmul_load_bound_bytes(m, n, k, inst, narrow, on_chip_bytes(hw))
    bound = op_lower_bound_bytes(compulsory, loads, act_write + kv_write)
    info = plan.mapping
    if info is None:
        info = heuristic_info(plan, _operands(hw, op, False, False), inst)
    sched = OpSchedule(
        0, op.name, op.kind, op.layer, op.phase, op.step, tiles, act_write + kv_write, counts
    )
    return replace(sched, mapping=info, compulsory_bytes=compulsory, lower_bound_bytes=bound)


def _output_on_chip(op: Op, place: Placement) -> bool:
    """Whether every activation the op writes stays on chip (KV-cache outputs are written to
    the cache apart from the product's own write-back)."""
    return all(place_resident(t, place) for t in op.outputs if t.kind is TensorKind.ACTIVATION)


def place_resident(t: Tensor, place: Placement) -> bool:
    """Whether activation ``t`` stays on chip (other tensor kinds never do)."""
    return t.kind is TensorKind.ACTIVATION and place.resident(t)


def _compulsory(hw: HardwareConfig, op: Op, place: Placement) -> int:
    """Each DRAM tensor the op reads, read once, and each it writes, written once."""
    reads = sum(burst_round(hw, t.size_bytes) for t in op.inputs if not place_resident(t, place))
    writes = _dram_activation_bytes(hw, op.outputs, place) + _kind_bytes(
        hw, op.outputs, TensorKind.KV_CACHE
    )
    return reads + writes


def _vector_op(hw: HardwareConfig, op: Op, place: Placement) -> OpSchedule:
    act_in = _dram_activation_bytes(hw, op.inputs, place)
    act_out = _dram_activation_bytes(hw, op.outputs, place)
    kv_in = _kind_bytes(hw, op.inputs, TensorKind.KV_CACHE)
    kv_out = _kind_bytes(hw, op.outputs, TensorKind.KV_CACHE)
    weights = _kind_bytes(hw, op.inputs, TensorKind.WEIGHT)
    if op.kind.is_matmul:  # a matrix product the array cannot run
        macs = op.macs
        # the second operand (weights or K/V) streams through the weight buffer's read port
        port = hw.buffer(BufferRole.WEIGHT).read_bw_bytes_per_cycle
        second = op.read_bytes(TensorKind.WEIGHT) + op.read_bytes(TensorKind.KV_CACHE)
        cycles = max(_vector_cycles(hw, macs), math.ceil(second / port))
        vector_ops, vector_macs = op.vector_ops, macs
        cycles += _vector_cycles(hw, op.vector_ops)
    elif op.kind == OpKind.EMBEDDING:
        cycles = _vector_cycles(hw, op.m * op.n)  # move the looked-up rows
        vector_ops, vector_macs = 0, 0
    else:
        cycles = _vector_cycles(hw, op.vector_ops)
        vector_ops, vector_macs = op.vector_ops, 0
    load = act_in + weights + kv_in
    pieces = max(1, min(cycles, -(-load // VECTOR_DMA_BLOCK_BYTES)))
    tiles = _split(cycles, load, pieces, Unit.VECTOR)
    act_read = op.read_bytes(TensorKind.ACTIVATION)
    written = op.write_bytes(TensorKind.ACTIVATION) + op.write_bytes(TensorKind.KV_CACHE)
    counts = ActionCounts(
        vector_ops=vector_ops,
        vector_macs=vector_macs,
        sram_read_bytes=buffer_bytes(input=act_read + weights + kv_in, output=act_out + kv_out),
        sram_write_bytes=buffer_bytes(input=load, output=written),
        dram_read_bytes=dram_bytes(activations=act_in, weights=weights, kv_cache=kv_in),
        dram_write_bytes=dram_bytes(activations=act_out, kv_cache=kv_out),
    )
    sched = OpSchedule(
        0, op.name, op.kind, op.layer, op.phase, op.step, tiles, act_out + kv_out, counts
    )
    c = _compulsory(hw, op, place)
    return replace(sched, compulsory_bytes=c, lower_bound_bytes=c)


def _shape_key(op: Op) -> tuple[object, ...]:
    """What an op's mapping depends on apart from residency (ops with equal keys map alike)."""
    return (
        op.kind,
        op.m,
        op.n,
        op.k,
        op.count,
        op.group,
        op.weight_format,
        op.weight_bits,
        op.act_bits,
        op.out_bits,
        op.vector_ops,
        op.measured,
        tuple((t.kind, t.shape, t.bits) for t in op.inputs),
        tuple((t.kind, t.shape, t.bits) for t in op.outputs),
    )


def _cache_key(op: Op, on_chip: frozenset[str]) -> tuple[object, ...]:
    """What the op's schedule depends on (ops with equal keys map alike); ``on_chip``: the
    placement's resident tensors."""
    act = TensorKind.ACTIVATION
    return (
        _shape_key(op),
        tuple(t.kind is act and (t.view_of or t.name) in on_chip for t in op.inputs),
        tuple(t.kind is act and (t.view_of or t.name) in on_chip for t in op.outputs),
    )


class _Mapper:
    """Maps ops one design at a time, remembering each distinct GEMM's plan (the search runs
    once per distinct shape, residency and design)."""

    def __init__(self, hw: HardwareConfig, judge: Judge | None) -> None:
        self.hw = hw
        self.judge = judge
        self.plans: dict[tuple[object, ...], GemmPlan] = {}
        self.choices: dict[tuple[object, ...], Choice] = {}

    @property
    def searched(self) -> bool:
        return self.judge is not None

    def plan(self, op: Op, x_on_chip: bool, y_on_chip: bool) -> GemmPlan:
        key = (_shape_key(op), x_on_chip, y_on_chip)
        hit = self.plans.get(key)
        if hit is not None:
            return hit
        hw = self.hw
        m, n, k, inst = _gemm_shape(op)
        operands = _operands(hw, op, x_on_chip, y_on_chip)
        if self.judge is None:
            plan = plan_gemm(hw, m, n, k, operands, instances=inst)
        else:
            problem = gemm_problem(hw, m, n, k, operands, inst)
            goal = hw.mapping.objective
            # the write-back is the same for every point, so whether the output stays on chip
            # cannot change the choice, except through the energy x delay product
            ckey = (key[0], x_on_chip, y_on_chip if goal is MappingObjective.EDP else None)
            choice = self.choices.get(ckey)
            if choice is None:
                pe, tail, act_write, kv_write = _fixed_parts(hw, op, y_on_chip)
                fixed = ActionCounts(
                    pe_by_kind={op.kind.value: pe},
                    vector_ops=op.vector_ops,
                    sram_read_bytes=buffer_bytes(output=act_write + kv_write),
                    dram_write_bytes=dram_bytes(activations=act_write, kv_cache=kv_write),
                )
                try:
                    choice = search(problem, self.judge, goal, fixed, tail)
                except TooManyRuns:  # no compact schedule: the heuristic's (documented)
                    plan = plan_gemm(hw, m, n, k, operands, instances=inst)
                    self.plans[key] = plan
                    return plan
                self.choices[ckey] = choice
            else:
                choice = choice_for(problem, choice)
            plan = searched_plan(problem, choice, f"searched ({goal.value})")
        self.plans[key] = plan
        return plan

    def working_bytes(self, op: Op) -> int:
        """Bytes ``op`` holds in the buffer resident activations live in when its matrix input
        comes from DRAM (0 for ops on the vector unit)."""
        if not (op.kind.is_matmul and runs_on_array(self.hw, op)):
            return 0
        unified = self.hw.sram.unified is not None
        held = 0
        for y_on_chip in (False, True):
            plan = self.plan(op, False, y_on_chip)
            assert plan.mapping is not None
            roles = (
                plan.mapping.residency
                if unified
                else [r for r in plan.mapping.residency if r.operand is BufferRole.INPUT]
            )
            held = max(held, sum(r.held_bytes for r in roles))
            if self.hw.mapping.objective is not MappingObjective.EDP:
                break  # the write-back is the same for every point: it cannot change the choice
        return held


def _searched(hw: HardwareConfig) -> bool:
    return hw.mapping.search is MappingSearch.SEARCHED and hw.array.compat is CompatMode.TERSIM


def map_workload(hw: HardwareConfig, workload: Workload, judge: Judge | None = None) -> Schedule:
    """The schedule of every op of ``workload`` on design ``hw`` (pure).

    With ``mapping.search: searched`` (and the TERSIM cycle convention) each distinct matrix
    product is mapped by the search, which needs ``judge`` (``tersim.run.judge.engine_judge``),
    and residency follows the live pool; otherwise the heuristic rules apply and ``judge`` is
    not used."""
    searched = _searched(hw)
    if searched and judge is None:
        raise ValueError("a searched mapping needs a judge (tersim.run.judge.engine_judge)")
    mapper = _Mapper(hw, judge if searched else None)
    if searched:
        place = place_live(hw, workload, lambda i: mapper.working_bytes(workload.ops[i]))
    else:
        place = place_tensors(hw, workload)
    memo: dict[tuple[object, ...], OpSchedule] = {}
    out = []
    for i, op in enumerate(workload.ops):
        key = _cache_key(op, place.on_chip)
        proto = memo.get(key)
        if proto is None:
            if op.kind.is_matmul and runs_on_array(hw, op):
                x_on = place_resident(op.inputs[0], place)
                plan = mapper.plan(op, x_on, _output_on_chip(op, place))
                proto = _array_op(hw, op, place, plan, searched)
            else:
                proto = _vector_op(hw, op, place)
            memo[key] = proto
        out.append(
            OpSchedule(
                i,
                op.name,
                proto.kind,
                op.layer,
                op.phase,
                op.step,
                proto.runs,
                proto.write_bytes,
                proto.counts,
                proto.mapping,
                proto.compulsory_bytes,
                proto.lower_bound_bytes,
            )
        )
    return Schedule(tuple(out), place)
