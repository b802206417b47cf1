"""Weight stationary (WS): each PE holds one weight ``W[k, n]``.

Mapping: K on the array rows, N on the columns, M streams in time. ``x[m, k]`` enters row
``k - k0`` at the left edge at ``start + m + r`` and moves right; partial sums move down and
leave at the bottom edge; partial sums of successive K folds are accumulated in the output
buffer.

TERSIM timing (the derivation; IS shares it). The stationary tile is loaded from the top edge
through the stationary registers themselves (no shadow copy: the smallest PE). Column ``c``
starts loading the next tile the cycle after the current pass's last streamed operand has left
PE (0, c); the load is a wavefront (row ``r`` shifts from load cycle ``r`` on), so it never
overwrites a weight still in use. It takes R cycles; the next pass streams when column 0 has its
tile, so passes are issued every ``T + R`` cycles and each pass's skew drain (``R + c_used - 2``)
hides under the next preload and stream::

    total = F * (T + R) + R + c_last - 2

Options (TERSIM only; SCALESIM rejects them):

* ``preload_rows_per_cycle = k``: the column load path carries k rows per cycle, so a preload
  takes ``L = ceil(R / k)`` cycles and row r is first overwritten in load cycle ``floor(r/k)``.
  Without shadow registers the load wavefront must not overtake the stream (one row per cycle):
  column c's last operand is used by PE (r, c) at ``s + T - 1 + r + c`` and the load starting at
  ``ld`` overwrites row r at ``ld + floor(r / k)``; keeping each row overwritten at least one
  cycle after its last use gives ``ld = s + T + c + (R - L)``, which still ends at
  ``s + T + c + R - 1``. So the issue interval stays ``D = T + R``; a wider path only shortens
  the first preload, to L. (Row R - 1 is busy until ``s + T + R + c - 2``: no load order of the
  live chain does better.)
* ``shadow_stationary``: pass p's tile is copied from the shadow into the live registers as a
  wavefront with the operands (PE (r, c) copies at the end of ``s_p + r + c - 1``, after the
  previous pass's last operand at ``s_{p-1} + T - 1 + r + c``: needs ``D >= T``). Shadow row r
  is free from then on and pass p+1's tile is written into it in cycle ``s_p + r + c``: a second
  wavefront, R writes spread over R cycles per pass; the tile must be in the shadow before its
  copy at ``s_{p+1} + r + c - 1``: ``D >= 2``. ``ceil(R / D)`` write wavefronts are in flight
  per column and the bus carries k rows per cycle: ``D >= L``.

Hence (the stepped oracle checks every one of these constraints as a hazard)::

    D = T + R                      (no shadow registers; any k)
    D = max(T, L, 2)               (shadow registers)
    total = L + (F - 1) * D + T + R - 2 + tail,   tail = max(c_last, C - row_folds * D)

(``C - row_folds * D`` only when ``col_folds > 1``: the last pass of the previous column fold
drains across all C columns). A GEMV (T = 1) thus costs about ``L`` cycles per tile instead of
``T + R``. Hand-derived example (M = 1, K = 8, N = 1 on a 4 x 1 array, k = 2, shadow): T = 1,
R = 4, L = 2, F = 2, D = 2: ``2 + 1 * 2 + 1 + 4 - 2 + 1 = 8`` cycles; without shadow registers
D = 5 and the count is ``2 + 5 + 4 = 11`` (13 with k = 1).

SCALESIM: passes serialized and padded to the full array, ``F * (2R + C + T - 2) - 1``; with
one fold TERSIM's count is SCALE-Sim's plus one (when ``c_used = C``).

SRAM words: inputs ``col_folds * M * K``, weights ``K * N``, outputs ``row_folds * M * N``, and
``(row_folds - 1) * M * N`` partial sums read back (TERSIM). Ports: R input words read,
``k * C`` weight words read (preload), C partial sums read and written per cycle.
"""

from __future__ import annotations

from tersim.config.enums import BufferRole, Dataflow
from tersim.hw.dataflow.base import (
    StationaryDataflow,
    SteppedArgs,
    SteppedRun,
)


class WeightStationary(StationaryDataflow):
    kind = dataflow = Dataflow.WS
    stationary, streamed = BufferRole.WEIGHT, BufferRole.INPUT

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        return k, n, m

    def with_temporal(self, m: int, n: int, k: int, t: int) -> tuple[int, int, int]:
        return t, n, k

    def stepped(self, a: SteppedArgs) -> SteppedRun:
        from tersim.hw.dataflow.stepped import _STAT_READS, _STREAM_READS, _TERNARY_STAT

        y, stats = self.run_stationary(a.x, a.w, a, _TERNARY_STAT)
        return SteppedRun(y, stats, int(stats[_STREAM_READS]), int(stats[_STAT_READS]))


MODEL = WeightStationary()
