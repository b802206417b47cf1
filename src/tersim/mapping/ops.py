"""Map a traced workload onto a design: every op becomes an :class:`OpSchedule`.

Which unit runs what:

* Matrix products run on the systolic array when its PEs can execute them (see
  :func:`runs_on_array`): a ternary adder array runs only products with ternary or binary
  weights; an INT8 array does not run the FP16 LM head. The rest (attention and the
  full-precision LM head on an adder array) runs on the vector unit as multiply-accumulates,
  one per lane per cycle: on a pure adder array this is real work the 71x claim does not count.
* Element-wise and reduction ops run on the vector unit: ``ceil(element ops / lanes)`` cycles.

Data placement follows :mod:`tersim.mapping.gemm`: activations that fit a buffer stay on chip,
the rest go through DRAM; weights always come from DRAM; K and V are read from and written to
the DRAM KV cache in its precision (each cached element fetched once per op, so query heads of
one KV group share their fetch).

PE actions per weight x activation slot come from the design's PE model (``tersim.hw.pe``):
a ternary adder uses the trace's measured counts when the trace was measured, else an assumed
zero fraction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig
from tersim.hw.counts import ActionCounts, buffer_bytes, dram_bytes
from tersim.hw.pe import MeasuredSlots, pe_model
from tersim.mapping.gemm import Operands, burst_round, plan_gemm, usable_bytes
from tersim.mapping.schedule import (
    OpSchedule,
    Schedule,
    TileRun,
    Unit,
    merge_runs,
    spread_loads,
)
from tersim.workload.trace import Op, OpKind, Workload

# Vector-unit streams (norm inputs, KV cache, LM-head weights) move in blocks of this size, so
# their loads overlap computation independently of how large the buffers are.
VECTOR_DMA_BLOCK_BYTES = 16 * 1024


def runs_on_array(hw: HardwareConfig, op: Op) -> bool:
    """Whether the systolic array's PEs can execute matrix op ``op`` (the PE model decides:
    an adder PE cannot multiply two activations; an INT8 MAC needs an 8-bit KV cache)."""
    return pe_model(hw.array.pe_kind).runs_product(op.weight_format, op.weight_bits)


def activation_capacity_bytes(hw: HardwareConfig) -> int:
    """Largest activation tensor that stays on chip between producer and consumer."""
    return min(usable_bytes(hw, BufferRole.INPUT), usable_bytes(hw, BufferRole.OUTPUT))


def stays_on_chip(hw: HardwareConfig, tensor_bytes: int) -> bool:
    """The one residency rule for an activation tensor, applied alike by the op that writes it
    and the op that reads it (so nothing is read from DRAM that was not written there)."""
    return tensor_bytes <= activation_capacity_bytes(hw)


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


def _array_op(hw: HardwareConfig, op: Op) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
    attention = op.kind in (OpKind.ATTN_QK, OpKind.ATTN_AV)

    operands = Operands(
        input_bits=op.act_bits,
        weight_bits=op.weight_bits,
        output_bits=op.out_bits,
        acc_bits=hw.array.accumulator_bits,
        input_on_chip=stays_on_chip(hw, op.act_read_bytes),
        output_on_chip=stays_on_chip(hw, op.act_write_bytes),
    )
    # the query heads of one KV group share K (or V): one GEMM of group x tokens rows each
    group = op.group if attention and op.count % op.group == 0 else 1
    plan = plan_gemm(hw, op.m * group, op.n, op.k, operands, instances=op.count // group)
    tiles = plan.tiles
    act_in = plan.dram_read_bytes[BufferRole.INPUT]
    if attention:
        kv_in = burst_round(hw, op.kv_read_bytes)
        dram_read = dram_bytes(activations=act_in, kv_cache=kv_in)
        tiles = spread_loads(tiles, act_in + kv_in)
    else:
        dram_read = dram_bytes(activations=act_in, weights=plan.dram_read_bytes[BufferRole.WEIGHT])
    m = op.measured
    slots = None if m is None else MeasuredSlots(m.adds, m.subs, m.skips)
    pe = pe_model(hw.array.pe_kind).slot_actions(op.macs, op.weight_format, slots)
    rescale = _vector_cycles(hw, op.vector_ops)
    if rescale:
        tiles = (*tiles, TileRun(1, 0, rescale, Unit.VECTOR))
    kv_write = burst_round(hw, op.kv_write_bytes)
    writes = dram_bytes(activations=plan.dram_write_bytes, kv_cache=kv_write)
    counts = ActionCounts(
        pe_by_kind={op.kind.value: pe},
        vector_ops=op.vector_ops,
        sram_read_bytes=dict(plan.sram_read_bytes),
        sram_write_bytes=dict(plan.sram_write_bytes),
        dram_read_bytes=dram_read,
        dram_write_bytes=writes,
    )
    return tiles, plan.dram_write_bytes + kv_write, counts


def _vector_op(hw: HardwareConfig, op: Op) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
    # residency is decided per tensor, as its producer and consumer see it: RoPE reads q and k
    # (written by two projections) and writes both; a residual add and a gated activation
    # read two tensors
    two_in = op.kind == OpKind.ROPE or (
        op.kind in (OpKind.RESIDUAL, OpKind.ACTIVATION)
        and op.act_read_bytes >= 2 * op.act_write_bytes
    )
    in_chip = stays_on_chip(hw, op.act_read_bytes // (2 if two_in else 1))
    out_chip = stays_on_chip(hw, op.act_write_bytes // (2 if op.kind == OpKind.ROPE else 1))
    act_in = 0 if in_chip else burst_round(hw, op.act_read_bytes)
    act_out = 0 if out_chip else burst_round(hw, op.act_write_bytes)
    kv_in, kv_out = burst_round(hw, op.kv_read_bytes), burst_round(hw, op.kv_write_bytes)
    if op.kind.is_matmul:  # a matrix product the array cannot run
        macs = op.macs
        weights = burst_round(hw, op.weight_read_bytes)
        # the second operand (weights or K/V) streams through the weight buffer's read port
        port = hw.buffer(BufferRole.WEIGHT).read_bw_bytes_per_cycle
        cycles = max(
            _vector_cycles(hw, macs), math.ceil((op.weight_read_bytes + op.kv_read_bytes) / port)
        )
        vector_ops, vector_macs = op.vector_ops, macs
        cycles += _vector_cycles(hw, op.vector_ops)
    elif op.kind == OpKind.EMBEDDING:
        cycles = _vector_cycles(hw, op.m * op.n)  # move the looked-up rows
        weights, vector_ops, vector_macs = burst_round(hw, op.weight_read_bytes), 0, 0
    else:
        cycles = _vector_cycles(hw, op.vector_ops)
        weights, vector_ops, vector_macs = 0, op.vector_ops, 0
    load = act_in + weights + kv_in
    pieces = max(1, min(cycles, -(-load // VECTOR_DMA_BLOCK_BYTES)))
    tiles = _split(cycles, load, pieces, Unit.VECTOR)
    counts = ActionCounts(
        vector_ops=vector_ops,
        vector_macs=vector_macs,
        sram_read_bytes=buffer_bytes(input=op.act_read_bytes + weights + kv_in, output=act_out),
        sram_write_bytes=buffer_bytes(input=load, output=op.act_write_bytes),
        dram_read_bytes=dram_bytes(activations=act_in, weights=weights, kv_cache=kv_in),
        dram_write_bytes=dram_bytes(activations=act_out, kv_cache=kv_out),
    )
    return tiles, act_out + kv_out, counts


def _cache_key(op: Op) -> tuple[object, ...]:
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
        op.weight_read_bytes,
        op.act_read_bytes,
        op.act_write_bytes,
        op.kv_read_bytes,
        op.kv_write_bytes,
        op.vector_ops,
        op.measured,
    )


def map_workload(hw: HardwareConfig, workload: Workload) -> Schedule:
    """The schedule of every op of ``workload`` on design ``hw`` (pure)."""
    memo: dict[tuple[object, ...], OpSchedule] = {}
    out = []
    for i, op in enumerate(workload.ops):
        key = _cache_key(op)
        proto = memo.get(key)
        if proto is None:
            if op.kind.is_matmul and runs_on_array(hw, op):
                tiles, write, counts = _array_op(hw, op)
            else:
                tiles, write, counts = _vector_op(hw, op)
            proto = OpSchedule(
                i, op.name, op.kind.value, op.layer, op.phase.value, op.step, tiles, write, counts
            )
            memo[key] = proto
        out.append(
            replace(
                proto, op_index=i, name=op.name, layer=op.layer, phase=op.phase.value, step=op.step
            )
        )
    return Schedule(tuple(out))
