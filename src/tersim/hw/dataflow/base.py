"""The ``DataflowModel`` protocol, the records it returns, and the helpers dataflows share.

A dataflow decides which GEMM dimension goes on the array rows, which on the columns and which
streams in time; from that follow its closed-form pass timing, its SRAM accesses, the bytes per
cycle it needs from each buffer port, and how the cycle-stepped oracle runs it. Each dataflow is
one module of this package (``os``, ``ws``, ``is_``), found from the :class:`Dataflow` enum by
:func:`tersim.hw.dataflow.dataflow_model`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tersim.config.enums import BufferRole, CompatMode, Dataflow, Port
from tersim.errors import DesignError


def positive(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise DesignError naming ``name`` if it is not >= 1."""
    if isinstance(value, bool):
        raise DesignError(f"{name} must be a positive integer (got {value!r})")
    try:
        as_int = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise DesignError(f"{name} must be a positive integer (got {value!r})") from None
    if as_int < 1:
        raise DesignError(f"{name} must be a positive integer (got {as_int})")
    return as_int


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class StationaryOptions:
    """WS/IS stationary-register options (TERSIM only; OS ignores them).

    ``preload_rows_per_cycle``: rows of a stationary tile loaded per cycle (k);
    ``shadow_stationary``: a shadow register per PE, so the next tile loads during a pass.
    """

    preload_rows_per_cycle: int = 1
    shadow_stationary: bool = False

    @staticmethod
    def checked(
        compat: CompatMode, preload_rows_per_cycle: int = 1, shadow_stationary: bool = False
    ) -> StationaryOptions:
        """Validated options; SCALESIM accepts only the defaults."""
        k = positive("preload_rows_per_cycle", preload_rows_per_cycle)
        if not isinstance(shadow_stationary, bool):
            raise DesignError(f"shadow_stationary must be a bool (got {shadow_stationary!r})")
        if CompatMode(compat) is CompatMode.SCALESIM:
            if k != 1:
                raise DesignError(
                    f"preload_rows_per_cycle={k} is not modelled by CompatMode.SCALESIM (must be 1)"
                )
            if shadow_stationary:
                raise DesignError(
                    "shadow_stationary=True is not modelled by CompatMode.SCALESIM (must be False)"
                )
        return StationaryOptions(k, shadow_stationary)


@dataclass(frozen=True, slots=True)
class FoldGrid:
    """How one GEMM is cut into array passes (folds).

    ``row_folds`` folds along the array rows times ``col_folds`` along the columns; the last
    fold of each kind uses ``last_rows_used`` rows / ``last_cols_used`` columns.
    """

    row_folds: int
    col_folds: int
    last_rows_used: int
    last_cols_used: int
    temporal: int  # T: the streamed dimension (K for OS, M for WS, N for IS)

    @property
    def count(self) -> int:
        """Number of array passes."""
        return self.row_folds * self.col_folds


@dataclass(frozen=True, slots=True)
class PassTiming:
    """Timing of one array pass, in cycles.

    ``preload_cycles`` loads the stationary operand (WS: weights, IS: activations; 0 for OS).
    ``stream_cycles`` is T: the cycles during which the first row's edge feeder injects.
    ``fill_cycles`` is the skew until the farthest used PE sees its first operand (it overlaps
    the stream). ``drain_cycles`` runs from the last injection to the last output leaving the
    array (SCALESIM: to the last busy cycle). ``latency_cycles`` = preload + stream + drain is the
    pass on its own; ``issue_interval_cycles`` is the distance between the starts of two
    consecutive passes (equal to the latency when passes are serialized).
    """

    preload_cycles: int
    fill_cycles: int
    stream_cycles: int
    drain_cycles: int
    issue_interval_cycles: int

    @property
    def latency_cycles(self) -> int:
        return self.preload_cycles + self.stream_cycles + self.drain_cycles


@dataclass(frozen=True, slots=True)
class GemmTiming:
    """Compute cycles of one GEMM on one array (ideal SRAM: no stalls).

    ``compute_cycles`` follows ``compat``. ``folds`` is ``(row_folds, col_folds)``.
    ``pass_cycles`` is the latency of the first (largest) pass on its own. ``useful_pe_cycles``
    = M * N * K; ``utilization`` = useful / (compute_cycles * R * C), as SCALE-Sim's "Overall
    Util" (SCALESIM reports 0 cycles for a 1x1x1 OS GEMM on a 1x1 array; the denominator is
    then taken as 1 cycle).
    """

    dataflow: Dataflow
    compat: CompatMode
    m: int
    n: int
    k: int
    rows: int
    cols: int
    compute_cycles: int
    folds: tuple[int, int]
    pass_cycles: int
    useful_pe_cycles: int
    utilization: float

    @property
    def fold_count(self) -> int:
        return self.folds[0] * self.folds[1]


@dataclass(frozen=True, slots=True)
class GemmAccesses:
    """SRAM accesses of one GEMM, in words (one word = one operand element).

    ``input_reads_words``: activations X read by the array edge feeders (SCALE-Sim's "ifmap").
    ``weight_reads_words``: weights W read ("filter"). ``output_writes_words``: outputs and
    partial sums written ("ofmap"). ``output_reads_words``: partial sums read back to accumulate
    across folds of K (TERSIM only; SCALE-Sim does not count them).
    """

    input_reads_words: int
    weight_reads_words: int
    output_writes_words: int
    output_reads_words: int


@dataclass(frozen=True, slots=True)
class OperandBits:
    """Bits per element of each operand at the array's edges."""

    input_bits: float
    weight_bits: float
    acc_bits: float  # partial sums in the output buffer
    output_bits: float  # final outputs


@dataclass(frozen=True, slots=True)
class SteppedArgs:
    """One run of the cycle-stepped oracle: operands already cast to the PE's types."""

    x: np.ndarray  # (M, K) activations
    w: np.ndarray  # (K, N) weights
    acc_dtype: type[np.generic]
    rows: int
    cols: int
    scalesim: bool
    ternary: bool
    opts: StationaryOptions


@dataclass(frozen=True, slots=True)
class SteppedRun:
    """What a dataflow's stepped-oracle hook returns: the product and the kernel statistics,
    with the edge reads attributed to the input and weight operands."""

    product: np.ndarray
    stats: np.ndarray
    input_reads_words: int
    weight_reads_words: int


@dataclass(frozen=True, slots=True)
class StreamedOperand:
    """The operand a WS/IS array streams: its buffer, streamed length and bytes per step."""

    role: BufferRole
    length: int
    step_bytes: float


PortDemand = dict[tuple[BufferRole, Port], float]


@runtime_checkable
class DataflowModel(Protocol):
    """Everything tersim knows about one dataflow. Times are cycles, sizes elements."""

    kind: Dataflow
    dataflow: Dataflow  # the same as ``kind``

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        """``(rows_dim, cols_dim, temporal_dim)``: which GEMM dimension goes where."""
        ...

    def with_temporal(self, m: int, n: int, k: int, t: int) -> tuple[int, int, int]:
        """``(m, n, k)`` of the GEMM whose streamed dimension is cut to length ``t``."""
        ...

    def preload_cycles(self, rows: int, opts: StationaryOptions) -> int: ...

    def fill_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        """TERSIM skew until the farthest PE that matters sees its first operand."""
        ...

    def drain_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        """TERSIM cycles from the last edge injection to the last output leaving the array."""
        ...

    def issue_interval(self, t: int, rows: int, rows_used: int, opts: StationaryOptions) -> int:
        """TERSIM distance between the starts of two consecutive passes."""
        ...

    def tersim_cycles(
        self, grid: FoldGrid, m: int, k: int, rows: int, cols: int, opts: StationaryOptions
    ) -> int:
        """TERSIM compute cycles of a whole GEMM (closed form)."""
        ...

    def scalesim_cycles(self, grid: FoldGrid, k: int, rows: int, cols: int) -> int:
        """SCALE-Sim 3.0.0's "Total Cycles" of a whole GEMM (closed form)."""
        ...

    def accesses(
        self, grid: FoldGrid, m: int, n: int, k: int, rows: int, cols: int, compat: CompatMode
    ) -> GemmAccesses: ...

    def chunk_psum_reads(self, chunks: int, m: int, n: int) -> int:
        """Partial sums read back when the streamed dimension is cut into ``chunks`` (TERSIM)."""
        ...

    def port_demand(self, rows: int, cols: int, k_preload: int, bits: OperandBits) -> PortDemand:
        """Bytes per cycle the array needs from each buffer port to run at full rate."""
        ...

    def temporal_step_bytes(
        self, rows: int, cols: int, bits: OperandBits
    ) -> tuple[tuple[BufferRole, float], ...]:
        """Bytes one step of the streamed dimension occupies in each buffer it streams through
        (a fold's streamed slices must fit there)."""
        ...

    def stream_chunk(self, m: int, n: int, k: int, bits: OperandBits) -> StreamedOperand | None:
        """The operand streamed along T alone (WS: inputs, IS: weights), whose buffer must
        hold a whole chunk for the stream-outer loop order; None when both stream (OS)."""
        ...

    def stepped(self, a: SteppedArgs) -> SteppedRun:
        """Run ``a.x @ a.w`` on the cycle-stepped oracle."""
        ...


def _role_bits(bits: OperandBits, role: BufferRole) -> float:
    return bits.input_bits if role is BufferRole.INPUT else bits.weight_bits


class StationaryDataflow:
    """Timing shared by the dataflows that preload a stationary tile (WS and IS).

    See :mod:`tersim.hw.dataflow.ws` for the derivation; IS is WS on the transposed problem.
    """

    # the operand held in the PEs and the one streamed along the rows (WS: weights, inputs;
    # IS: inputs, weights)
    stationary: BufferRole
    streamed: BufferRole

    def accesses(
        self, grid: FoldGrid, m: int, n: int, k: int, rows: int, cols: int, compat: CompatMode
    ) -> GemmAccesses:
        """The stationary operand is read once, the streamed one once per column fold; every
        row fold writes the outputs, all but the first read the partial sums back (TERSIM)."""
        psums = 0 if compat is CompatMode.SCALESIM else (grid.row_folds - 1) * m * n
        rows_of_k = {BufferRole.INPUT: m, BufferRole.WEIGHT: n}
        reads = {
            self.stationary: rows_of_k[self.stationary] * k,
            self.streamed: grid.col_folds * rows_of_k[self.streamed] * k,
        }
        return GemmAccesses(
            reads[BufferRole.INPUT], reads[BufferRole.WEIGHT], grid.row_folds * m * n, psums
        )

    def port_demand(self, rows: int, cols: int, k_preload: int, bits: OperandBits) -> PortDemand:
        """R streamed words read, ``k * C`` stationary words read (preload), C partial sums
        read and written per cycle."""
        return {
            (self.streamed, Port.READ): rows * _role_bits(bits, self.streamed) / 8,
            (self.stationary, Port.READ): cols * _role_bits(bits, self.stationary) / 8 * k_preload,
            (BufferRole.OUTPUT, Port.READ): cols * bits.acc_bits / 8,
            (BufferRole.OUTPUT, Port.WRITE): cols * bits.acc_bits / 8,
        }

    def temporal_step_bytes(
        self, rows: int, cols: int, bits: OperandBits
    ) -> tuple[tuple[BufferRole, float], ...]:
        """Per streamed step: R streamed elements in, C partial sums accumulated."""
        return (
            (self.streamed, rows * _role_bits(bits, self.streamed) / 8),
            (BufferRole.OUTPUT, cols * bits.acc_bits / 8),
        )

    def stream_chunk(self, m: int, n: int, k: int, bits: OperandBits) -> StreamedOperand | None:
        """The streamed operand in rows of K (WS: M rows of X, IS: N columns of W)."""
        size = k * _role_bits(bits, self.streamed) / 8
        return StreamedOperand(self.streamed, m if self.streamed is BufferRole.INPUT else n, size)

    def preload_cycles(self, rows: int, opts: StationaryOptions) -> int:
        return ceil_div(rows, opts.preload_rows_per_cycle)

    def fill_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        return (rows - 1) + (cols_used - 1)  # the first partial sum crosses all R rows

    def drain_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        return rows + cols_used - 2

    def issue_interval(self, t: int, rows: int, rows_used: int, opts: StationaryOptions) -> int:
        if opts.shadow_stationary:
            return max(t, ceil_div(rows, opts.preload_rows_per_cycle), 2)
        return t + rows

    def tersim_cycles(
        self, grid: FoldGrid, m: int, k: int, rows: int, cols: int, opts: StationaryOptions
    ) -> int:
        first = ceil_div(rows, opts.preload_rows_per_cycle)
        interval = self.issue_interval(grid.temporal, rows, rows, opts)
        tail = grid.last_cols_used
        if grid.col_folds > 1:
            tail = max(tail, cols - grid.row_folds * interval)
        return first + (grid.count - 1) * interval + grid.temporal + rows - 2 + tail

    def scalesim_cycles(self, grid: FoldGrid, k: int, rows: int, cols: int) -> int:
        return grid.count * (2 * rows + cols + grid.temporal - 2) - 1

    def chunk_psum_reads(self, chunks: int, m: int, n: int) -> int:
        return 0  # chunks of the streamed M (WS) or N (IS) hold disjoint outputs

    @staticmethod
    def run_stationary(
        stream: np.ndarray, stat: np.ndarray, a: SteppedArgs, ternary_mode: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``stream @ stat`` on the stationary kernel (``stat`` held in the PEs): the product
        and the kernel statistics."""
        from tersim.hw.dataflow.stepped import _MAC, _stationary_kernel

        y = np.zeros((stream.shape[0], stat.shape[1]), a.acc_dtype)
        mode = ternary_mode if a.ternary else _MAC
        o = a.opts
        stats = _stationary_kernel(
            stream,
            stat,
            y,
            np.zeros(1, a.acc_dtype),
            a.rows,
            a.cols,
            a.scalesim,
            mode,
            o.preload_rows_per_cycle,
            o.shadow_stationary,
        )
        return y, stats
