"""Map a traced workload onto a design: every op becomes an :class:`OpSchedule`.

Which unit runs what (the candidates; :mod:`tersim.mapping.assign` picks one):

* Matrix products run on a matrix unit whose PEs can execute them (the PE model's
  ``runs_product``): a ternary adder array runs only products with ternary or binary weights;
  an INT8 array does not run the FP16 LM head, and runs attention only against an 8-bit KV
  cache. Only a product that no matrix unit runs goes to a vector unit (one that lists
  ``matmul``), as multiply-accumulates, one per lane per cycle: on a pure adder array this is
  real work the 71x claim does not count.
* Element-wise and reduction ops run on a vector unit that lists their work:
  ``ceil(element ops / (lanes x ops per cycle per lane))`` cycles.
* The rescale epilogue of a quantized product, and work a PE needs before the array's tiles
  (a LUT PE's table builds, activation compaction scans), run on the first vector unit that
  lists ``rescale``.
* ``assign:`` pins an op kind to a named unit; a unit that cannot run an op of that kind is a
  ConfigError naming both.

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
from dataclasses import replace

from tersim.config.enums import BufferRole, VectorOp
from tersim.config.hardware import ArrayConfig, HardwareConfig
from tersim.errors import ConfigError, Problem
from tersim.hw.counts import ActionCounts, buffer_bytes, dram_bytes
from tersim.hw.pe import MatmulShape, MeasuredSlots, pe_model
from tersim.hw.units import (
    VECTOR_WORK,
    ComputeUnit,
    MatrixUnit,
    VectorUnit,
    compute_units,
)
from tersim.mapping.assign import plan_segments
from tersim.mapping.buffers import burst_round
from tersim.mapping.deps import dependencies
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


def _can_run(unit: ComputeUnit, op: Op) -> bool:
    if isinstance(unit, MatrixUnit):
        return op.kind.is_matmul and unit.runs_product(op.weight_format, op.weight_bits)
    work = VectorOp.MATMUL if op.kind.is_matmul else VECTOR_WORK[op.kind]
    return unit.runs_work(work)


def _why_not(unit: ComputeUnit, op: Op) -> str:
    if isinstance(unit, MatrixUnit):
        if not op.kind.is_matmul:
            return "a matrix unit runs matrix products only"
        second = (
            f"{op.weight_format.value} weights"
            if op.weight_format is not None
            else f"a {op.weight_bits:g}-bit KV cache operand"
        )
        return f"its {unit.array.pe_kind.value} PEs cannot run a product with {second}"
    work = VectorOp.MATMUL if op.kind.is_matmul else VECTOR_WORK[op.kind]
    return f"its runs list has no {work.value}"


def candidate_units(
    hw: HardwareConfig, units: tuple[ComputeUnit, ...], op: Op
) -> tuple[ComputeUnit, ...]:
    """The units that may run ``op``, in design order: the unit ``assign`` names, else the
    matrix units that can run a matrix product (vector units only if none can), or the vector
    units that list an element op's work. Raises ConfigError when there is none."""
    pinned = hw.assign.get(op.kind)
    if pinned is not None:
        unit = next(u for u in units if u.name == pinned)
        if not _can_run(unit, op):
            raise ConfigError(
                [
                    Problem(
                        hw.name,
                        None,
                        f"assign.{op.kind.value}",
                        f"unit '{unit.name}' ({unit.describe()}) cannot run {op.kind.value} "
                        f"(got {op.name}: {_why_not(unit, op)}; expected a unit that can, or "
                        "no assignment)",
                    )
                ]
            )
        return (unit,)
    able: list[ComputeUnit] = [u for u in units if _can_run(u, op)]
    if op.kind.is_matmul:
        on_matrix: list[ComputeUnit] = [u for u in able if isinstance(u, MatrixUnit)]
        able = on_matrix or able
    if not able:
        raise ConfigError(
            [
                Problem(
                    hw.name,
                    None,
                    "units",
                    f"no unit can run {op.kind.value} (got {op.name}; expected a vector unit "
                    f"whose runs list has "
                    f"{(VectorOp.MATMUL if op.kind.is_matmul else VECTOR_WORK[op.kind]).value})",
                )
            ]
        )
    return tuple(able)


def epilogue_unit(hw: HardwareConfig, units: tuple[ComputeUnit, ...], op: Op) -> VectorUnit:
    """The vector unit that rescales a quantized product's outputs (the first listing it)."""
    for u in units:
        if isinstance(u, VectorUnit) and u.runs_work(VectorOp.RESCALE):
            return u
    raise ConfigError(
        [
            Problem(
                hw.name,
                None,
                "units",
                f"no vector unit runs rescale (got {op.name}, a quantized product; expected a "
                "vector unit whose runs list has rescale)",
            )
        ]
    )


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


def _split(total_cycles: int, load_bytes: int, pieces: int, unit: str) -> tuple[TileRun, ...]:
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


def act_sparsity(array: ArrayConfig, op: Op) -> float:
    """Fraction of zero activation inputs of ``op``: measured, else the array's assumption for
    its projection (0 for anything else)."""
    if op.measured is not None:
        return op.measured.act_sparsity
    if op.kind is not OpKind.LINEAR:
        return 0.0
    return array.assumed_act_sparsity.get(op.name.rsplit(".", 1)[-1], 0.0)


def _array_op(
    hw: HardwareConfig, units: tuple[ComputeUnit, ...], op: Op, place: Placement, unit: MatrixUnit
) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
    """``op`` on matrix unit ``unit``; ``hw`` is the design as the unit sees it. Work before the
    array's tiles (table builds, compaction scans) and the rescale epilogue run on the
    epilogue's vector unit (:func:`epilogue_unit`)."""
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
        act_sparsity(hw.array, op),
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
    if unit.name != Unit.ARRAY:
        tiles = tuple(replace(t, unit=unit.name) for t in tiles)
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
    prep_ops, epilogue_ops = am.prep_vector_ops, op.vector_ops
    if prep_ops or prep_load or epilogue_ops:
        vec = epilogue_unit(hw, units, op)
        prep = vec.cycles(prep_ops)
        if prep or prep_load:  # table builds or the compaction scan run before the array's tiles
            tiles = (TileRun(1, prep_load, prep, vec.name), *tiles)
        rescale = vec.cycles(epilogue_ops)
        if rescale:
            tiles = (*tiles, TileRun(1, 0, rescale, vec.name))
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
        pe_by_unit={unit.name: {op.kind.value: am.actions}},
        vector_ops=op.vector_ops + am.prep_vector_ops,
        sram_read_bytes=sram_read,
        sram_write_bytes=sram_write,
        dram_read_bytes=dram_read,
        dram_write_bytes=dram_bytes(activations=act_write, kv_cache=kv_write),
    )
    return tiles, act_write + kv_write, counts


def _vector_op(
    hw: HardwareConfig, op: Op, place: Placement, unit: VectorUnit
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
        cycles = max(unit.cycles(macs), math.ceil(second / port))
        vector_ops, vector_macs = op.vector_ops, macs
        cycles += unit.cycles(op.vector_ops)
    elif op.kind == OpKind.EMBEDDING:
        cycles = unit.cycles(op.m * op.n)  # move the looked-up rows
        vector_ops, vector_macs = 0, 0
    else:
        cycles = unit.cycles(op.vector_ops)
        vector_ops, vector_macs = op.vector_ops, 0
    load = act_in + weights + kv_in
    pieces = max(1, min(cycles, -(-load // VECTOR_DMA_BLOCK_BYTES)))
    tiles = _split(cycles, load, pieces, unit.name)
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


def map_op(
    hw: HardwareConfig,
    units: tuple[ComputeUnit, ...],
    op: Op,
    place: Placement,
    unit: ComputeUnit,
) -> tuple[tuple[TileRun, ...], int, ActionCounts]:
    """``op`` mapped onto ``unit``: its tiles, the DRAM bytes it writes back, its actions."""
    if isinstance(unit, MatrixUnit):
        return _array_op(unit.view(hw), units, op, place, unit)
    return _vector_op(hw, op, place, unit)


def map_workload(hw: HardwareConfig, workload: Workload) -> Schedule:
    """The schedule of every op of ``workload`` on design ``hw`` (pure): each op mapped onto
    every unit that may run it, one picked and the ops ordered by :func:`plan_segments`."""
    place = place_tensors(hw, workload)
    units = compute_units(hw)
    matrix = [u for u in units if isinstance(u, MatrixUnit)]
    memo: dict[tuple[object, ...], dict[str, OpSchedule]] = {}
    options: list[dict[str, OpSchedule]] = []
    for i, op in enumerate(workload.ops):
        key = (*_cache_key(op, place), *(act_sparsity(u.array, op) for u in matrix))
        protos = memo.get(key)
        if protos is None:
            protos = {}
            for unit in candidate_units(hw, units, op):
                tiles, write, counts = map_op(hw, units, op, place, unit)
                protos[unit.name] = OpSchedule(
                    i, op.name, op.kind, op.layer, op.phase, op.step, tiles, write, counts
                )
            memo[key] = protos
        options.append(protos)
    deps = dependencies(workload.ops, hw.scheduling.dependencies)
    choice, order, queue = plan_segments(workload.ops, options, deps, units, hw.scheduling.order)
    out = []
    for i, op in enumerate(workload.ops):
        proto = options[i][choice[i]]
        out.append(
            replace(
                proto,
                op_index=i,
                name=op.name,
                layer=op.layer,
                phase=op.phase,
                step=op.step,
                deps=deps[i],
            )
        )
    return Schedule(tuple(out), place, order, queue)
