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

from tersim.config.enums import BufferRole, Dataflow
from tersim.hw.dataflow.base import (
    StationaryDataflow,
    SteppedArgs,
    SteppedRun,
)


class InputStationary(StationaryDataflow):
    kind = dataflow = Dataflow.IS
    stationary, streamed = BufferRole.INPUT, BufferRole.WEIGHT

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        return k, m, n

    def with_temporal(self, m: int, n: int, k: int, t: int) -> tuple[int, int, int]:
        return m, t, k

    def stepped(self, a: SteppedArgs) -> SteppedRun:
        from tersim.hw.dataflow.stepped import _STAT_READS, _STREAM_READS, _TERNARY_STREAM

        # stationary activations, streamed weights: WS on the transposed problem
        wt, xt = np.ascontiguousarray(a.w.T), np.ascontiguousarray(a.x.T)
        yt, stats = self.run_stationary(wt, xt, a, _TERNARY_STREAM)
        y = np.ascontiguousarray(yt.T)
        return SteppedRun(y, stats, int(stats[_STAT_READS]), int(stats[_STREAM_READS]))


MODEL = InputStationary()
