"""Mapping of one GEMM onto the array and its SRAM buffers: folds, chunks, tiles, traffic.

``plan_gemm`` is a pure function from (design, GEMM shape, operand precisions) to a
:class:`GemmPlan`: the array passes (tiles) in order with their compute cycles and DRAM loads,
and the SRAM and DRAM traffic per operand.

Rules (stated so they can be checked by hand):

* Spatial mapping, fold order and per-pass timing come from the dataflow's model
  (:mod:`tersim.hw.dataflow`). A
  tile is one array pass (fold); its compute cycles are the pass's issue interval, and the
  GEMM's last tile also carries the final drain, so the tiles add up to ``gemm_timing``. A PE
  that takes ``passes_per_tile`` P > 1 (a bit-serial PE's beat of P cycles) multiplies every
  tile's compute cycles, and so the total, by P.
* The streamed (temporal) dimension is cut into chunks when one fold's streamed operand or
  partial sums would not fit their buffer's usable capacity (half the buffer when double-
  buffered). Each chunk is a GEMM of its own, run back to back.
* DRAM: an operand that fits its buffer's usable capacity is fetched once; one that does not is
  fetched as often as the array reads it (the SRAM read count). Every DRAM amount is rounded up
  to whole bursts (``dram.burst_bytes``). For WS and IS a second loop
  order is considered: cut the streamed dimension into chunks whose streamed operand fits its
  buffer (fetched once), refetching the stationary operand once per chunk. Among the orders
  whose roofline time ``max(compute cycles, DRAM bytes / bandwidth)`` is within 2% of the best,
  the one with the least DRAM traffic is taken (then the first). Activation inputs that fit the
  input buffer are already on chip (the previous op left them there); outputs that fit the
  output buffer stay on chip, others are written to DRAM once. An op's DRAM reads are spread
  evenly over its tiles.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tersim.config.enums import BufferRole, CompatMode, Dataflow, MappingObjective, Port
from tersim.config.hardware import HardwareConfig
from tersim.errors import DesignError
from tersim.hw.counts import ActionCounts
from tersim.hw.dataflow import (
    DataflowModel,
    OperandBits,
    StationaryOptions,
    dataflow_model,
    gemm_accesses,
    gemm_folds,
    gemm_timing,
    pass_timing,
)
from tersim.mapping.buffers import burst_round, usable_bytes
from tersim.mapping.schedule import (
    LoadPlacement,
    MappingInfo,
    OperandResidency,
    TileRun,
    Unit,
    merge_runs,
    spread_loads,
)
from tersim.mapping.search import Choice, Judge, search
from tersim.mapping.space import (
    Capacity,
    GemmProblem,
    Geometry,
    describe,
    plan_counts,
)


@dataclass(frozen=True)
class Operands:
    """Bits per element of each operand, and where the GEMM's data lives."""

    input_bits: float
    weight_bits: float
    output_bits: float  # final outputs written back
    acc_bits: int  # partial sums in the output buffer
    input_on_chip: bool  # activations already on chip (their producer kept them there)
    output_on_chip: bool  # outputs stay on chip for their consumer (else written to DRAM)
    passes_per_tile: int = 1  # the PE's passes per tile (bit-serial: cycles per systolic beat)

    @property
    def bits(self) -> OperandBits:
        return OperandBits(self.input_bits, self.weight_bits, self.acc_bits, self.output_bits)


@dataclass(frozen=True)
class GemmPlan:
    dataflow: Dataflow
    compat: CompatMode
    m: int
    n: int
    k: int
    rows: int
    cols: int
    chunks: int  # pieces of the streamed dimension
    folds: tuple[int, int]  # (row folds, col folds) of a full chunk
    tiles: tuple[TileRun, ...]
    compute_cycles: int  # ideal memory
    sram_read_bytes: dict[BufferRole, int]
    sram_write_bytes: dict[BufferRole, int]
    sram_read_words: dict[BufferRole, int]  # operand elements (SCALE-Sim's "words")
    sram_write_words: dict[BufferRole, int]
    dram_read_bytes: dict[BufferRole, int]  # input and weight operands
    dram_write_bytes: int
    useful_macs: int
    mapping: MappingInfo | None = None  # the chosen mapping, readable
    predicted_cycles: int | None = None  # the engine's cycles of the op alone (searched)

    @property
    def tile_count(self) -> int:
        return sum(t.count for t in self.tiles)

    @property
    def end_write_bytes(self) -> int:
        """What the write-back after the last tile moves: the output but what the tiles
        write themselves (an overlapped write-back)."""
        return self.dram_write_bytes - sum(t.count * t.write_bytes for t in self.tiles)


def stationary_options(hw: HardwareConfig, compat: CompatMode) -> StationaryOptions:
    """The design's stationary-register options (SCALE-Sim's convention knows neither)."""
    if compat is CompatMode.SCALESIM:
        return StationaryOptions()
    return StationaryOptions(hw.array.preload_rows_per_cycle, hw.array.shadow_stationary)


def _bytes(elements: int, bits: float) -> int:
    return -(-round(elements * bits) // 8)


def sram_demand_bytes_per_cycle(
    hw: HardwareConfig, df: Dataflow, ops: Operands
) -> dict[tuple[BufferRole, Port], float]:
    """Bytes per cycle the array needs from each buffer port to run at full rate (the
    dataflow's ``port_demand``: e.g. WS streams inputs into R rows, preloads k rows of C weights
    per cycle and reads and writes C partial sums per cycle)."""
    a = hw.array
    return dataflow_model(df).port_demand(a.rows, a.cols, a.preload_rows_per_cycle, ops.bits)


def check_sram_bandwidth(hw: HardwareConfig, df: Dataflow, ops: Operands) -> None:
    """Raise DesignError if a buffer cannot feed the array at full rate (every problem)."""
    problems = []
    demand = sram_demand_bytes_per_cycle(hw, df, ops)
    if hw.sram.unified is not None:  # one buffer serves every role: its ports carry the sum
        summed: dict[Port, float] = {}
        for (_, port), need in demand.items():
            summed[port] = summed.get(port, 0.0) + need
        checks = [("unified", hw.sram.unified, port, need) for port, need in summed.items()]
    else:
        checks = [(r.value, hw.buffer(r), port, need) for (r, port), need in demand.items()]
    for name, buf, port, need in checks:
        got = buf.read_bw_bytes_per_cycle if port is Port.READ else buf.write_bw_bytes_per_cycle
        if got < need:
            problems.append(
                f"sram.{name}.{port.value}_bw_bytes_per_cycle: the {hw.array.rows}x"
                f"{hw.array.cols} array ({df.value.upper()}) needs {need:g} bytes per cycle from "
                f"the {name} buffer (got {got:g}; expected at least {need:g})"
            )
    if problems:
        raise DesignError("\n".join(problems))


def _max_temporal(hw: HardwareConfig, model: DataflowModel, ops: Operands) -> int:
    """Longest streamed length whose per-fold slices fit the buffers."""
    best = None
    for role, per_step in model.temporal_step_bytes(hw.array.rows, hw.array.cols, ops.bits):
        t = int(usable_bytes(hw, role) // per_step)
        if t < 1:
            need = int(per_step * (2 if hw.buffer(role).double_buffered else 1)) + 1
            raise DesignError(
                f"sram.{role.value}: buffer too small to stream one step of a "
                f"{model.dataflow.value.upper()} fold (got {hw.buffer(role).size_bytes} bytes; "
                f"expected at least {need})"
            )
        best = t if best is None else min(best, t)
    assert best is not None
    return best


def _tile_sequence(
    hw: HardwareConfig, m: int, n: int, k: int, df: Dataflow, compat: CompatMode
) -> tuple[list[tuple[int, int]], int]:
    """Run-length list of (tiles, compute cycles) of one GEMM's passes in order (column folds
    outer, row folds inner); the last tile also carries the final drain. And the total."""
    r, c = hw.array.rows, hw.array.cols
    grid = gemm_folds(m, n, k, r, c, df)
    o = stationary_options(hw, compat)
    kp, shadow = o.preload_rows_per_cycle, o.shadow_stationary
    total = gemm_timing(
        m, n, k, r, c, df, compat, preload_rows_per_cycle=kp, shadow_stationary=shadow
    ).compute_cycles

    def interval(rows_used: int, cols_used: int) -> int:
        return pass_timing(
            grid.temporal,
            r,
            c,
            rows_used,
            cols_used,
            df,
            compat,
            preload_rows_per_cycle=kp,
            shadow_stationary=shadow,
        ).issue_interval_cycles

    def col_fold(cols_used: int) -> list[tuple[int, int]]:
        seq = [(grid.row_folds - 1, interval(r, cols_used))] if grid.row_folds > 1 else []
        return [*seq, (1, interval(grid.last_rows_used, cols_used))]

    seq: list[tuple[int, int]] = []
    full = col_fold(c)
    for _ in range(grid.col_folds - 1):
        seq += full
    seq += col_fold(grid.last_cols_used)
    tail = total - sum(count * cyc for count, cyc in seq)
    count, cyc = seq.pop()
    if count > 1:
        seq.append((count - 1, cyc))
    seq.append((1, cyc + tail))
    return seq, total


def plan_gemm(
    hw: HardwareConfig,
    m: int,
    n: int,
    k: int,
    ops: Operands,
    instances: int = 1,
    dataflow: Dataflow | None = None,
    compat: CompatMode | None = None,
    ideal_memory: bool = False,
) -> GemmPlan:
    """Map ``instances`` independent (m x k) @ (k x n) GEMMs onto design ``hw``."""
    _check_dims(m, n, k, instances)
    model = dataflow_model(hw.array.dataflow if dataflow is None else dataflow)
    mode = hw.array.compat if compat is None else compat
    if not ideal_memory:
        check_sram_bandwidth(hw, model.dataflow, ops)
    _, _, temporal = model.dims(m, n, k)
    t_max = temporal if ideal_memory else _max_temporal(hw, model, ops)
    candidates = [t_max]
    if not ideal_memory:
        t_fit = _stream_chunk(hw, m, n, k, model, ops)
        if t_fit is not None and t_fit < t_max:
            candidates.append(t_fit)
    plans = [_plan(hw, m, n, k, ops, instances, model, mode, t, ideal_memory) for t in candidates]
    bw = hw.dram_bw_bytes_per_cycle

    def traffic(p: GemmPlan) -> int:
        return sum(p.dram_read_bytes.values()) + p.dram_write_bytes

    def roofline(p: GemmPlan) -> float:
        return max(p.compute_cycles, traffic(p) / bw)

    best = min(roofline(p) for p in plans)
    return min((p for p in plans if roofline(p) <= 1.02 * best), key=traffic)


def _plan(
    hw: HardwareConfig,
    m: int,
    n: int,
    k: int,
    ops: Operands,
    instances: int,
    model: DataflowModel,
    mode: CompatMode,
    t_chunk: int,
    ideal_memory: bool,
) -> GemmPlan:
    r, c = hw.array.rows, hw.array.cols
    df = model.dataflow
    _, _, temporal = model.dims(m, n, k)
    t_max = t_chunk
    chunk_lens = [t_max] * (temporal // t_max) + ([temporal % t_max] if temporal % t_max else [])

    def dims(t: int) -> tuple[int, int, int]:
        return model.with_temporal(m, n, k, t)

    streamed = model.stream_chunk(m, n, k, ops.bits)
    # SRAM accesses (words of each operand), summed over chunks and instances
    acc = {"input": 0, "weight": 0, "out_w": 0, "out_r": 0}
    seq_all: list[tuple[int, int]] = []
    total = 0
    for t in chunk_lens:
        cm, cn, ck = dims(t)
        a = gemm_accesses(cm, cn, ck, r, c, df, mode)
        acc["input"] += a.input_reads_words
        acc["weight"] += a.weight_reads_words
        acc["out_w"] += a.output_writes_words
        acc["out_r"] += a.output_reads_words
        seq, cyc = _tile_sequence(hw, cm, cn, ck, df, mode)
        # a PE that takes P passes per tile (hw.pe: passes_per_tile) stretches every tile P-fold
        seq_all += [(count, cycles * ops.passes_per_tile) for count, cycles in seq]
        total += cyc * ops.passes_per_tile
    in_bytes = _bytes(m * k, ops.input_bits)
    w_bytes = _bytes(k * n, ops.weight_bits)
    out_bytes = _bytes(m * n, ops.output_bits)
    if mode is CompatMode.TERSIM:
        acc["out_r"] += model.chunk_psum_reads(len(chunk_lens), m, n)  # across K chunks (OS)
    sram_read = {
        BufferRole.INPUT: _bytes(acc["input"], ops.input_bits),
        BufferRole.WEIGHT: _bytes(acc["weight"], ops.weight_bits),
        BufferRole.OUTPUT: _bytes(acc["out_r"], ops.acc_bits),
    }
    if ideal_memory:
        dram_in = dram_w = dram_out = 0
    else:
        # a chunked streamed operand is fetched once only if each chunk fits its buffer
        chunked_role = None
        if (
            streamed is not None
            and len(chunk_lens) > 1
            and chunk_lens[0] * streamed.step_bytes <= usable_bytes(hw, streamed.role)
        ):
            chunked_role = streamed.role
        dram_in = _fetch(
            in_bytes,
            sram_read[BufferRole.INPUT],
            usable_bytes(hw, BufferRole.INPUT),
            chunked_role is BufferRole.INPUT,
        )
        dram_w = _fetch(
            w_bytes,
            sram_read[BufferRole.WEIGHT],
            usable_bytes(hw, BufferRole.WEIGHT),
            chunked_role is BufferRole.WEIGHT,
        )
        if ops.input_on_chip:
            dram_in = 0
        dram_out = 0 if ops.output_on_chip else out_bytes
        dram_in, dram_w, dram_out = (burst_round(hw, x) for x in (dram_in, dram_w, dram_out))
    sram_write = {
        BufferRole.INPUT: dram_in,
        BufferRole.WEIGHT: dram_w,
        BufferRole.OUTPUT: _bytes(acc["out_w"], ops.acc_bits),
    }
    sram_read[BufferRole.OUTPUT] += dram_out  # the write-back reads the output buffer
    # spread each instance's DRAM reads evenly over its tiles
    runs = spread_loads(
        tuple(TileRun(count, 0, cyc, Unit.ARRAY) for count, cyc in seq_all), dram_in + dram_w
    )
    tiles = tuple(runs) * instances if instances > 1 else tuple(runs)
    read_words = {
        BufferRole.INPUT: acc["input"],
        BufferRole.WEIGHT: acc["weight"],
        BufferRole.OUTPUT: acc["out_r"] + (m * n if dram_out else 0),
    }
    write_words = {
        BufferRole.INPUT: int(dram_in * 8 // ops.input_bits),
        BufferRole.WEIGHT: int(dram_w * 8 // ops.weight_bits),
        BufferRole.OUTPUT: acc["out_w"],
    }
    scale = instances
    return GemmPlan(
        dataflow=df,
        compat=mode,
        m=m,
        n=n,
        k=k,
        rows=r,
        cols=c,
        chunks=len(chunk_lens),
        folds=(
            gemm_folds(*dims(chunk_lens[0]), r, c, df).row_folds,
            gemm_folds(*dims(chunk_lens[0]), r, c, df).col_folds,
        ),
        tiles=merge_runs(tiles),
        compute_cycles=total * instances,
        sram_read_bytes={k_: v * scale for k_, v in sram_read.items()},
        sram_write_bytes={k_: v * scale for k_, v in sram_write.items()},
        sram_read_words={k_: v * scale for k_, v in read_words.items()},
        sram_write_words={k_: v * scale for k_, v in write_words.items()},
        dram_read_bytes={BufferRole.INPUT: dram_in * scale, BufferRole.WEIGHT: dram_w * scale},
        dram_write_bytes=dram_out * scale,
        useful_macs=m * n * k * instances,
    )


def _check_dims(m: int, n: int, k: int, instances: int) -> None:
    """DesignError unless every GEMM dimension and the instance count are positive."""
    for name, v in (("m", m), ("n", n), ("k", k), ("instances", instances)):
        if v < 1:
            raise DesignError(f"GEMM dimension {name} must be a positive integer (got {v})")


def _fetch(nbytes: int, sram_bytes: int, usable: int, streamed_chunked: bool) -> int:
    """DRAM bytes to fetch an operand (see the module rules)."""
    if nbytes <= usable:
        return nbytes
    if streamed_chunked:
        return nbytes  # each chunk of the streamed operand fits: fetched once
    return sram_bytes  # re-fetched as often as the array reads it (per chunk, per fold)


def _stream_chunk(
    hw: HardwareConfig, m: int, n: int, k: int, model: DataflowModel, ops: Operands
) -> int | None:
    """Chunk length of the streamed dimension whose streamed operand fits its buffer."""
    streamed = model.stream_chunk(m, n, k, ops.bits)
    if streamed is None:
        return None  # the dataflow streams both operands (OS): no stream-outer order
    usable = usable_bytes(hw, streamed.role)
    if streamed.length * streamed.step_bytes <= usable:
        return None  # fits already: fetched once in either order
    t_fit = int(usable // streamed.step_bytes)
    return t_fit if t_fit >= 1 else None


# -- the searched mapping ----------------------------------------------------------------------


def gemm_problem(
    hw: HardwareConfig,
    m: int,
    n: int,
    k: int,
    ops: Operands,
    instances: int = 1,
    capacity: Capacity | None = None,
    unit: str = Unit.ARRAY,
) -> GemmProblem:
    """The search's problem for ``instances`` (m x k) @ (k x n) products on design ``hw`` (as
    matrix unit ``unit`` sees it; DesignError for a bad shape or a buffer port that cannot feed
    the array)."""
    _check_dims(m, n, k, instances)
    check_sram_bandwidth(hw, hw.array.dataflow, ops)
    return GemmProblem.of(
        hw,
        m,
        n,
        k,
        ops.bits,
        ops.input_on_chip,
        ops.output_on_chip,
        instances,
        capacity,
        ops.passes_per_tile,
        unit,
    )


def search_gemm(
    hw: HardwareConfig,
    m: int,
    n: int,
    k: int,
    ops: Operands,
    judge: Judge,
    instances: int = 1,
    dataflow: Dataflow | None = None,
    capacity: Capacity | None = None,
    fixed: ActionCounts | None = None,
    tail: tuple[TileRun, ...] = (),
    objective: MappingObjective | None = None,
) -> GemmPlan:
    """Map ``instances`` (m x k) @ (k x n) products by searching the declared space
    (:mod:`tersim.mapping.space`, :mod:`tersim.mapping.search`). ``fixed``: the op's actions
    every point shares (PE actions, write-backs), so the energy compared is the op's;
    ``tail``: tiles the op runs after the product (its vector epilogue)."""
    if dataflow is not None and dataflow is not hw.array.dataflow:
        hw = hw.model_copy(update={"array": hw.array.model_copy(update={"dataflow": dataflow})})
    problem = gemm_problem(hw, m, n, k, ops, instances, capacity)
    if tail:  # an epilogue finishes the output: written at the op's end
        problem = replace(problem, epilogue=True)
    goal = hw.mapping.objective if objective is None else objective
    base = fixed if fixed is not None else ActionCounts()
    choice = search(problem, judge, goal, base, tail)
    return searched_plan(problem, choice, f"searched ({goal.value})")


def choice_for(problem: GemmProblem, choice: Choice) -> Choice:
    """``choice`` (made for an equal problem, or one whose only difference cannot change the
    choice) applied to ``problem``: the same point, tiles and cycles."""
    a = Geometry(problem).assess(choice.assessment.mapping)
    assert a is not None  # the residency rules do not depend on the output's destination
    return replace(choice, assessment=a)


def searched_plan(problem: GemmProblem, choice: Choice, chosen_by: str) -> GemmPlan:
    """The plan record of a search's choice."""
    a = choice.assessment
    c = plan_counts(problem, a)
    geo = Geometry(problem)
    grid = gemm_folds(
        problem.m, problem.n, problem.k, problem.rows, problem.cols, problem.model.dataflow
    )
    info = describe(geo, a, chosen_by, choice.points, choice.assessed, choice.simulated)
    return GemmPlan(
        dataflow=problem.model.dataflow,
        compat=CompatMode.TERSIM,
        m=problem.m,
        n=problem.n,
        k=problem.k,
        rows=problem.rows,
        cols=problem.cols,
        chunks=a.temporal_tiles,
        folds=(grid.row_folds, grid.col_folds),
        tiles=choice.runs,
        compute_cycles=choice.compute_cycles,
        sram_read_bytes=c.sram_read_bytes,
        sram_write_bytes=c.sram_write_bytes,
        sram_read_words=c.sram_read_words,
        sram_write_words=c.sram_write_words,
        dram_read_bytes={BufferRole.INPUT: c.dram_in, BufferRole.WEIGHT: c.dram_w},
        dram_write_bytes=c.dram_out,
        useful_macs=problem.m * problem.n * problem.k * problem.instances,
        mapping=info,
        predicted_cycles=choice.cycles,
    )


def heuristic_info(plan: GemmPlan, ops: Operands, instances: int = 1) -> MappingInfo:
    """The readable form of a heuristic plan: the streamed dimension in ``chunks``, column folds
    outer, row folds inner; an operand fetched once if it fit, else as often as it was read."""
    loops = []
    if plan.chunks > 1:
        loops.append(f"streamed dimension: {plan.chunks} chunks")
    loops += [f"{plan.folds[1]} column folds", f"{plan.folds[0]} row folds"]
    sizes = {
        BufferRole.INPUT: _bytes(instances * plan.m * plan.k, ops.input_bits),
        BufferRole.WEIGHT: _bytes(instances * plan.k * plan.n, ops.weight_bits),
    }
    res = []
    for role, size in sizes.items():
        fetched = plan.dram_read_bytes[role]
        times = 0 if fetched == 0 else max(1, round(fetched / max(1, size)))
        res.append(OperandResidency(role, "heuristic", (), 0, True, times))
    return MappingInfo(
        "heuristic",
        tuple(loops),
        (plan.m, plan.n, plan.k),
        tuple(res),
        loads=LoadPlacement.SPREAD,
    )
