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

How a matrix op runs on the array comes from the design's PE model (``tersim.hw.pe``,
``map_matmul``): the reduction length on the array rows (a LUT PE's groups; rows dropped by
activation compaction), the bits of the streamed and stationary elements, the passes per tile
(bit-serial), the PE actions (a ternary adder uses the trace's measured counts when the trace
was measured, else an assumed zero fraction), and work for the vector unit before the array
(table builds, compaction scans), which runs as a vector tile ahead of the op's array tiles.
The activation sparsity it is given is the trace's measured fraction, else the design's
``array.assumed_act_sparsity`` for the projection (the op name's last part, e.g. ``down_proj``).
"""

from __future__ import annotations

import itertools
import math

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig
from tersim.hw.counts import ActionCounts, buffer_bytes, dram_bytes
from tersim.hw.pe import MatmulShape, MeasuredSlots, pe_model
from tersim.mapping.buffers import burst_round
from tersim.mapping.gemm import Operands, plan_gemm
from tersim.mapping.placement import Placement, place_tensors
from tersim.mapping.schedule import (
    OpSchedule,
    Schedule,
    TileRun,
    Unit,
    merge_runs,
    spread_loads,
)
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


def act_sparsity(hw: HardwareConfig, op: Op) -> float:
    """Fraction of zero activation inputs of ``op``: measured, else the design's assumption for
    its projection (0 for anything else)."""
    if op.measured is not None:
        return op.measured.act_sparsity
    if op.kind is not OpKind.LINEAR:
        return 0.0
    return hw.array.assumed_act_sparsity.get(op.name.rsplit(".", 1)[-1], 0.0)


def _array_op(
    hw: HardwareConfig, op: Op, place: Placement
) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
    attention = op.kind in (OpKind.ATTN_QK, OpKind.ATTN_AV)
    x, out = op.inputs[0], op.outputs[0]
    # the query heads of one KV group share K (or V): one GEMM of group x tokens rows each
    group = op.group if attention and op.count % op.group == 0 else 1
    m = op.measured
    slots = None if m is None else MeasuredSlots(m.adds, m.subs, m.skips)
    shape = MatmulShape(
        op.m * group,
        op.n,
        op.k,
        op.count // group,
        op.act_bits,
        op.weight_bits,
        op.weight_format,
        act_sparsity(hw, op),
    )
    am = pe_model(hw.array.pe_kind).map_matmul(hw.array, shape, slots)
    operands = Operands(
        input_bits=am.input_bits,
        weight_bits=am.weight_bits,
        output_bits=op.out_bits,
        acc_bits=hw.array.accumulator_bits,
        input_on_chip=place.resident(x) or am.input_built_on_chip,
        # an output that goes to the KV cache is written there below, not as an activation
        output_on_chip=out.kind is not TensorKind.ACTIVATION or place.resident(out),
        passes_per_tile=am.passes_per_tile,
    )
    plan = plan_gemm(hw, shape.m, shape.n, am.k, operands, instances=shape.count)
    tiles = plan.tiles
    act_in = plan.dram_read_bytes[BufferRole.INPUT]
    prep_load = 0  # activations the vector unit fetches to build the streamed operand on chip
    if am.input_built_on_chip and not place.resident(x):
        prep_load = burst_round(hw, x.size_bytes)
        act_in += prep_load
    if attention:
        kv_in = _kind_bytes(hw, op.inputs, TensorKind.KV_CACHE)
        dram_read = dram_bytes(activations=act_in, kv_cache=kv_in)
        tiles = spread_loads(tiles, act_in + kv_in)
    else:
        dram_read = dram_bytes(activations=act_in, weights=plan.dram_read_bytes[BufferRole.WEIGHT])
    prep = _vector_cycles(hw, am.prep_vector_ops)
    if prep or prep_load:  # table builds or the compaction scan run before the array's tiles
        tiles = (TileRun(1, prep_load, prep, Unit.VECTOR), *tiles)
    rescale = _vector_cycles(hw, op.vector_ops)
    if rescale:
        tiles = (*tiles, TileRun(1, 0, rescale, Unit.VECTOR))
    kv_write = _kind_bytes(hw, op.outputs, TensorKind.KV_CACHE)
    # the output tensor is one contiguous block in DRAM: whole bursts of the tensor, not of
    # each of the plan's instances (heads)
    act_write = _dram_activation_bytes(hw, op.outputs, place)
    sram_read = dict(plan.sram_read_bytes)
    # write-backs (to the activations and to the cache) read the output buffer
    sram_read[BufferRole.OUTPUT] += kv_write + act_write - plan.dram_write_bytes
    sram_read[BufferRole.INPUT] += am.prep_input_read_bytes
    sram_write = dict(plan.sram_write_bytes)
    sram_write[BufferRole.INPUT] += am.prep_input_write_bytes + prep_load
    counts = ActionCounts(
        pe_by_kind={op.kind.value: am.actions},
        vector_ops=op.vector_ops + am.prep_vector_ops,
        sram_read_bytes=sram_read,
        sram_write_bytes=sram_write,
        dram_read_bytes=dram_read,
        dram_write_bytes=dram_bytes(activations=act_write, kv_cache=kv_write),
    )
    return tiles, act_write + kv_write, counts


def _vector_op(
    hw: HardwareConfig, op: Op, place: Placement
) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
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
    return tiles, act_out + kv_out, counts


def _tensor_key(t: Tensor, place: Placement) -> tuple[object, ...]:
    resident = t.kind is TensorKind.ACTIVATION and place.resident(t)
    return (t.kind, t.size_bytes, resident)


def _cache_key(op: Op, place: Placement) -> tuple[object, ...]:
    """What the op's schedule depends on (ops with equal keys map alike)."""
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
        tuple(_tensor_key(t, place) for t in op.inputs),
        tuple(_tensor_key(t, place) for t in op.outputs),
    )


def map_workload(hw: HardwareConfig, workload: Workload) -> Schedule:
    """The schedule of every op of ``workload`` on design ``hw`` (pure)."""
    place = place_tensors(hw, workload)
    memo: dict[tuple[object, ...], OpSchedule] = {}
    out = []
    for i, op in enumerate(workload.ops):
        key = (*_cache_key(op, place), act_sparsity(hw, op))
        proto = memo.get(key)
        if proto is None:
            if op.kind.is_matmul and runs_on_array(hw, op):
                tiles, write, counts = _array_op(hw, op, place)
            else:
                tiles, write, counts = _vector_op(hw, op, place)
            proto = OpSchedule(
                i, op.name, op.kind, op.layer, op.phase, op.step, tiles, write, counts
            )
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
            )
        )
    return Schedule(tuple(out), place)
