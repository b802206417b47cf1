"""Input stationary (IS): each PE holds one activation ``X[m, k]``.

Mapping: K on the array rows, M on the columns, N streams in time: WS on the transposed problem
``Y^T = W^T X^T``, so its timing is WS's (:mod:`tersim.hw.dataflow.ws`) with T = N.

SRAM words: inputs ``M * K`` (stationary, read once), weights ``col_folds * K * N``, outputs
``row_folds * M * N`` and ``(row_folds - 1) * M * N`` partial sums read back (TERSIM). Ports: R
weight words read, ``k * C`` input words read (preload), C partial sums read and written per
cycle.

(The module is named ``is_`` because ``is`` is a Python keyword.)
"""

from __future__ import annotations

import numpy as np

from tersim.config.enums import BufferRole, CompatMode, Dataflow, Port
from tersim.hw.dataflow.base import (
    FoldGrid,
    GemmAccesses,
    OperandBits,
    PortDemand,
    StationaryDataflow,
    SteppedArgs,
    SteppedRun,
    StreamedOperand,
)
from tersim.hw.dataflow.stepped import _STAT_READS, _STREAM_READS, _TERNARY_STREAM


class InputStationary(StationaryDataflow):
    kind = dataflow = Dataflow.IS

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        return k, m, n

    def with_temporal(self, m: int, n: int, k: int, t: int) -> tuple[int, int, int]:
        return m, t, k

    def accesses(
        self, grid: FoldGrid, m: int, n: int, k: int, rows: int, cols: int, compat: CompatMode
    ) -> GemmAccesses:
        psums = 0 if compat is CompatMode.SCALESIM else (grid.row_folds - 1) * m * n
        return GemmAccesses(m * k, grid.col_folds * k * n, grid.row_folds * m * n, psums)

    def port_demand(self, rows: int, cols: int, k_preload: int, bits: OperandBits) -> PortDemand:
        return {
            (BufferRole.WEIGHT, Port.READ): rows * bits.weight_bits / 8,
            (BufferRole.INPUT, Port.READ): cols * bits.input_bits / 8 * k_preload,
            (BufferRole.OUTPUT, Port.READ): cols * bits.acc_bits / 8,
            (BufferRole.OUTPUT, Port.WRITE): cols * bits.acc_bits / 8,
        }

    def temporal_step_bytes(
        self, rows: int, cols: int, bits: OperandBits
    ) -> tuple[tuple[BufferRole, float], ...]:
        # stream weights (R x T), accumulate outputs (T x C)
        return (
            (BufferRole.WEIGHT, rows * bits.weight_bits / 8),
            (BufferRole.OUTPUT, cols * bits.acc_bits / 8),
        )

    def stream_chunk(self, m: int, n: int, k: int, bits: OperandBits) -> StreamedOperand | None:
        return StreamedOperand(BufferRole.WEIGHT, n, k * bits.weight_bits / 8)  # N columns of K

    def stepped(self, a: SteppedArgs) -> SteppedRun:
        # stationary activations, streamed weights: WS on the transposed problem
        wt, xt = np.ascontiguousarray(a.w.T), np.ascontiguousarray(a.x.T)
        yt, stats = self.run_stationary(wt, xt, a, _TERNARY_STREAM)
        y = np.ascontiguousarray(yt.T)
        return SteppedRun(y, stats, int(stats[_STAT_READS]), int(stats[_STREAM_READS]))


MODEL = InputStationary()
