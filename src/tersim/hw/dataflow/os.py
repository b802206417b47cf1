"""Output stationary (OS): each PE owns one output element ``Y[m, n]``.

Mapping: M on the array rows, N on the columns, K streams in time. ``x[m, k]`` enters row
``m`` at the left edge and ``w[k, n]`` enters column ``n`` at the top edge, one reduction step
per cycle, so PE (i, j) does its k-th multiply-accumulate at ``start + k + i + j``.

TERSIM timing: each PE's accumulator is also a cell of its column's output shift chain (no extra
registers). A column starts shifting down once its last used row has finished; one output
leaves the bottom edge per column per cycle, so the value of row 0 needs R cycles. The next
pass's operand wavefront follows the drain wavefront: it may enter as soon as PE (0, 0) has
passed its value on, which is ``K + r_used - 1`` cycles after the current pass started. Summed
over passes (``sum of r_used = col_folds * M``)::

    total = F * (K - 1) + col_folds * M + tail + R - 1
    tail  = c_last, or with col_folds > 1:
            max(c_last, C - (K + r_last - 1) - (row_folds - 1) * (K + R - 1))

(the last output can come from the last pass of the previous, full-width column fold, which
started earlier but drains across all C columns). SCALESIM: ``F * (K + R + C - 2) - 1`` (no
output shift-out; the index of the last busy cycle).

SRAM words: inputs ``col_folds * M * K``, weights ``row_folds * K * N``, outputs ``M * N``
(SCALESIM adds ``F * (R + C)``, the padded rows and columns of every fold). Cutting K into
chunks reads each output's partial sum back once per extra chunk (TERSIM).

Ports: R input words and C weight words read, C outputs written per cycle.
"""

from __future__ import annotations

import numpy as np

from tersim.config.enums import BufferRole, CompatMode, Dataflow, Port
from tersim.hw.dataflow.base import (
    FoldGrid,
    GemmAccesses,
    OperandBits,
    PortDemand,
    StationaryOptions,
    SteppedArgs,
    SteppedRun,
    StreamedOperand,
)


class OutputStationary:
    kind = dataflow = Dataflow.OS

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        return m, n, k

    def with_temporal(self, m: int, n: int, k: int, t: int) -> tuple[int, int, int]:
        return m, n, t

    def preload_cycles(self, rows: int, opts: StationaryOptions) -> int:
        return 0

    def fill_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        return (rows_used - 1) + (cols_used - 1)

    def drain_cycles(self, rows: int, cols: int, rows_used: int, cols_used: int) -> int:
        return rows_used + cols_used + rows - 2  # skew to the last MAC, then R shifts down

    def issue_interval(self, t: int, rows: int, rows_used: int, opts: StationaryOptions) -> int:
        return t + rows_used - 1

    def tersim_cycles(
        self, grid: FoldGrid, m: int, k: int, rows: int, cols: int, opts: StationaryOptions
    ) -> int:
        tail = grid.last_cols_used
        if grid.col_folds > 1:
            gap = (k + grid.last_rows_used - 1) + (grid.row_folds - 1) * (k + rows - 1)
            tail = max(tail, cols - gap)
        return grid.count * (k - 1) + grid.col_folds * m + tail + rows - 1

    def scalesim_cycles(self, grid: FoldGrid, k: int, rows: int, cols: int) -> int:
        return grid.count * (k + rows + cols - 2) - 1

    def accesses(
        self, grid: FoldGrid, m: int, n: int, k: int, rows: int, cols: int, compat: CompatMode
    ) -> GemmAccesses:
        outputs = m * n
        if compat is CompatMode.SCALESIM:
            outputs += grid.count * (rows + cols)
        return GemmAccesses(grid.col_folds * m * k, grid.row_folds * k * n, outputs, 0)

    def chunk_psum_reads(self, chunks: int, m: int, n: int) -> int:
        return (chunks - 1) * m * n  # every K chunk after the first accumulates onto Y

    def port_demand(self, rows: int, cols: int, k_preload: int, bits: OperandBits) -> PortDemand:
        return {
            (BufferRole.INPUT, Port.READ): rows * bits.input_bits / 8,
            (BufferRole.WEIGHT, Port.READ): cols * bits.weight_bits / 8,
            (BufferRole.OUTPUT, Port.WRITE): cols * bits.output_bits / 8,
        }

    def temporal_step_bytes(
        self, rows: int, cols: int, bits: OperandBits
    ) -> tuple[tuple[BufferRole, float], ...]:
        return (
            (BufferRole.INPUT, rows * bits.input_bits / 8),
            (BufferRole.WEIGHT, cols * bits.weight_bits / 8),
        )

    def stream_chunk(self, m: int, n: int, k: int, bits: OperandBits) -> StreamedOperand | None:
        return None  # both operands stream along K

    def stepped(self, a: SteppedArgs) -> SteppedRun:
        from tersim.hw.dataflow.stepped import (
            _MAC,
            _STAT_READS,
            _STREAM_READS,
            _TERNARY_STAT,
            _os_kernel,
        )

        y = np.zeros((a.x.shape[0], a.w.shape[1]), a.acc_dtype)
        mode = _TERNARY_STAT if a.ternary else _MAC
        stats = _os_kernel(a.x, a.w, y, np.zeros(1, a.acc_dtype), a.rows, a.cols, a.scalesim, mode)
        return SteppedRun(y, stats, int(stats[_STREAM_READS]), int(stats[_STAT_READS]))


MODEL = OutputStationary()
