"""Closed-form cycle counts and SRAM action counts for one GEMM on an R x C systolic array.

The GEMM is ``Y[M, N] = X[M, K] @ W[K, N]``: ``X`` holds activations (M tokens by K input
features), ``W`` the (ternary or dense) weights, ``Y`` the outputs. The array has ``rows`` (R)
rows and ``cols`` (C) columns of processing elements (PEs). Operands enter at the left edge (one
stream per row) and the top edge (one per column); outputs leave at the bottom edge.

Mapping of GEMM dimensions (the same in both conventions; it is also SCALE-Sim's)::

    dataflow  stationary in PEs   array rows  array cols  time (streamed)
    OS        outputs Y[m, n]     M           N           K
    WS        weights W[k, n]     K           N           M
    IS        activations X[m, k] K           M           N

The dimension on the rows is cut into ``row_folds = ceil(rows_dim / R)`` folds, the one on the
columns into ``col_folds = ceil(cols_dim / C)``; the ``row_folds * col_folds`` folds (array passes)
run one after the other, column folds outer, row folds inner. The last row fold uses
``rows_dim - (row_folds - 1) * R`` rows, the last column fold ``cols_dim - (col_folds - 1) * C``
columns. ``T`` is the streamed (time) dimension.

Two cycle-counting conventions (:class:`~tersim.config.enums.CompatMode`):

``SCALESIM`` reproduces SCALE-Sim 3.0.0's "Total Cycles" (compute cycles with ideal SRAM) for
GEMM layers. Folds are serialized and always padded to the full array::

    OS:     total = F * (K + R + C - 2) - 1
    WS/IS:  total = F * (2R + C + T - 2) - 1

A WS/IS pass is a weight (input) preload of R cycles, then T stream cycles, then R + C - 2
cycles of skew until the last partial sum leaves the bottom of column C - 1. An OS pass ends
with the last multiply-accumulate in PE (R-1, C-1); SCALE-Sim does not model shifting the
outputs out of the array. The final ``- 1`` is SCALE-Sim's fencepost: it reports the index of
the last busy cycle (counted from 0), not the number of cycles.

``TERSIM`` (the default) counts the cycles from the first operand entering the array to the
last output leaving it, for hardware that overlaps consecutive passes where it can:

* WS/IS: the stationary tile is loaded from the top edge through the stationary registers
  themselves (no shadow copy of the tile: the smallest PE; see ``shadow_stationary`` below
  for a double-buffered PE). Column ``c`` starts loading the next tile
  the cycle after the current pass's last streamed operand has left PE (0, c); the load is a
  wavefront (row ``r`` shifts from load cycle ``r`` on), so it never overwrites a weight still
  in use. The load takes R cycles. The next pass starts streaming when column 0 has its new
  tile, so passes are issued every ``T + R`` cycles and each pass's skew drain
  (``R + c_used - 2`` cycles) hides under the next preload and stream. Partial sums still cross all R rows (unused rows
  hold zero weights) but only the used columns matter::

      total = F * (T + R) + R + c_last - 2     (see gemm_timing for the narrow-last-fold case)

* OS: each PE's accumulator is also a cell of its column's output shift chain (no extra
  registers). A column starts shifting down once its last used row has finished; one
  output leaves the bottom edge per column per cycle, so the value of row 0 needs R cycles.
  The next pass's operand wavefront follows the drain wavefront: it may enter as soon as
  PE (0, 0) has passed its value on, which is ``K + r_used - 1`` cycles after the current
  pass started. Summed over passes (``sum of r_used = col_folds * M``)::

      total = F * (K - 1) + col_folds * M + c_last + R - 1   (idem)

WS/IS preload options (TERSIM only; ``CompatMode.SCALESIM`` rejects non-default values):

* ``preload_rows_per_cycle = k``: the load path of a column carries k rows per cycle (for
  2-bit weights a column bus holds several rows' weights). The stationary chain then shifts
  by k rows per load cycle (rows ``0 .. k(q+1) - 1`` move in load cycle q), so a preload
  takes ``L = ceil(R / k)`` cycles and row r is first overwritten in load cycle
  ``floor(r / k)``.
* ``shadow_stationary``: every PE has a second (shadow) stationary register.

Without shadow registers the next tile still goes through the live registers, and a load
wavefront that moves k rows per cycle must not overtake the stream (which moves one row per
cycle). Column c's last operand of the pass started at ``s`` is used by PE (r, c) at
``s + T - 1 + r + c``; the load starting at ``ld`` overwrites row r at ``ld + floor(r / k)``.
Keeping the k = 1 model's rule (each row is overwritten at least one cycle after its last
use) gives ``ld = s + T + c + max_r (r - floor(r / k)) = s + T + c + (R - L)``, the binding
row being R - 1: the load starts ``R - L`` cycles later than with k = 1 and still ends at
``s + T + c + R - 1``. (A shift chain completes every row in its last load cycle, and row
R - 1 is busy until ``s + T + R + c - 2``, so no load order of the live chain does better.)
Hence the issue interval stays ``D = T + R`` whatever k; a wider load path only shortens the
first preload, to L.

With shadow registers pass p's tile is copied from the shadow into the live registers as a
wavefront with the operands: PE (r, c) copies at the end of cycle ``s_p + r + c - 1``, just
before the pass's first operand reaches it (and after the previous pass's last operand,
used at ``s_{p-1} + T - 1 + r + c``: needs ``D >= T``). Shadow row r of column c is free
from that copy on, and pass p+1's tile is written into it one cycle later, in cycle
``s_p + r + c``: the shadow write is a second wavefront, one row per cycle, so a column
receives R writes spread over R cycles per pass. Tile p+1 must be in the shadow before its
own copy at ``s_{p+1} + r + c - 1``: ``D >= 2``. Passes issued every D cycles put
``ceil(R / D)`` write wavefronts in flight in a column at once; the bus carries k rows per
cycle, so ``D >= ceil(R / k) = L``. The first tile is preloaded through the live registers
(L cycles) as without shadow registers. Hence (the stepped oracle checks every one of these
constraints as a hazard)::

    D = T + R                      (no shadow registers; any k)
    D = max(T, L, 2)               (shadow registers)
    total = L + (F - 1) * D + T + R - 2 + tail,   tail = max(c_last, C - row_folds * D)

(``C - row_folds * D`` only when ``col_folds > 1``: the last pass of the previous column fold
drains across all C columns). With k = 1 and no shadow this is the formula above. A GEMV
(T = 1) thus costs about ``L = ceil(R / k)`` cycles per tile instead of ``T + R``.

Hand-derived example (WS, M = 1, K = 8, N = 1 on a 4 x 1 array, k = 2, shadow registers):
T = 1, R = 4, L = 2, F = 2 row folds, D = max(1, 2, 2) = 2. The first tile loads in cycles
0-1; pass 0 injects x[0, r] into row r at cycle 2 + r and its partial sum leaves row 3 at
cycle 5; tile 1 is written into shadow row r at cycle 2 + r and copied at the end of cycle
3 + r; pass 1 starts at 4 and its sum leaves at cycle 7: ``2 + 1 * 2 + 1 + 4 - 2 + 1 = 8``
cycles. Without shadow registers D = T + R = 5 and the count is ``2 + 5 + 4 = 11`` (13 with
k = 1).

With one fold, the TERSIM WS/IS count equals SCALE-Sim's count plus one (when
``c_used = C``): both model the same preload, stream and skew. TERSIM's OS count adds the
output shift-out that SCALE-Sim leaves out.

SRAM action counts (words) follow from the same mapping: each streamed operand is read once per
fold of the other spatial dimension, each stationary operand once in total, and each output is
written once per fold of the reduction dimension K (and, in TERSIM, the partial sum read back
for accumulation every time but the first). See :func:`gemm_accesses`.

All functions are closed forms: microseconds for any GEMM size.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError

__all__ = [
    "FoldGrid",
    "GemmAccesses",
    "GemmTiming",
    "PassTiming",
    "drain_cycles",
    "fill_cycles",
    "gemm_accesses",
    "gemm_folds",
    "gemm_timing",
    "pass_timing",
    "preload_cycles",
    "spatial_temporal_dims",
    "stationary_issue_interval",
    "stream_cycles",
]


def _positive(name: str, value: object) -> int:
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


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


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

    ``compute_cycles`` follows ``compat`` (see the module docstring). ``folds`` is
    ``(row_folds, col_folds)``. ``pass_cycles`` is the latency of the first (largest) pass on
    its own. ``useful_pe_cycles`` = M * N * K; ``utilization`` = useful / (compute_cycles *
    R * C), as SCALE-Sim's "Overall Util" (SCALESIM reports 0 cycles for a 1x1x1 OS GEMM on a
    1x1 array; the denominator is then taken as 1 cycle).
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


def spatial_temporal_dims(m: int, n: int, k: int, dataflow: Dataflow) -> tuple[int, int, int]:
    """Return ``(rows_dim, cols_dim, temporal_dim)``: which GEMM dimension goes where."""
    if dataflow is Dataflow.OS:
        return m, n, k
    if dataflow is Dataflow.WS:
        return k, n, m
    if dataflow is Dataflow.IS:
        return k, m, n
    raise DesignError(f"dataflow must be one of {[d.value for d in Dataflow]} (got {dataflow!r})")


def gemm_folds(m: int, n: int, k: int, rows: int, cols: int, dataflow: Dataflow) -> FoldGrid:
    """Cut an M x K by K x N GEMM into passes over a ``rows`` x ``cols`` array."""
    m, n, k = _positive("m", m), _positive("n", n), _positive("k", k)
    rows, cols = _positive("rows", rows), _positive("cols", cols)
    rows_dim, cols_dim, temporal = spatial_temporal_dims(m, n, k, Dataflow(dataflow))
    row_folds = _ceil_div(rows_dim, rows)
    col_folds = _ceil_div(cols_dim, cols)
    return FoldGrid(
        row_folds=row_folds,
        col_folds=col_folds,
        last_rows_used=rows_dim - (row_folds - 1) * rows,
        last_cols_used=cols_dim - (col_folds - 1) * cols,
        temporal=temporal,
    )


def _stationary_options(
    compat: CompatMode, preload_rows_per_cycle: int, shadow_stationary: bool
) -> tuple[int, bool]:
    """Validate the WS/IS preload options; SCALESIM accepts only the defaults."""
    k = _positive("preload_rows_per_cycle", preload_rows_per_cycle)
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
    return k, shadow_stationary


def preload_cycles(
    rows: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
    *,
    preload_rows_per_cycle: int = 1,
) -> int:
    """Cycles to load a stationary tile: ``ceil(R / k)`` for WS and IS (k rows per cycle,
    ``k = preload_rows_per_cycle``; R with the default k = 1), 0 for OS."""
    rows = _positive("rows", rows)
    k, _ = _stationary_options(compat, preload_rows_per_cycle, False)
    return 0 if Dataflow(dataflow) is Dataflow.OS else _ceil_div(rows, k)


def stationary_issue_interval(
    temporal: int,
    rows: int,
    *,
    preload_rows_per_cycle: int = 1,
    shadow_stationary: bool = False,
) -> int:
    """TERSIM WS/IS distance between the starts of two consecutive passes.

    Without shadow registers ``T + R`` whatever ``k``; with them ``max(T, ceil(R / k), 2)``
    (see the module docstring).
    """
    t, rows = stream_cycles(temporal), _positive("rows", rows)
    k, shadow = _stationary_options(CompatMode.TERSIM, preload_rows_per_cycle, shadow_stationary)
    if shadow:
        return max(t, _ceil_div(rows, k), 2)
    return t + rows


def stream_cycles(temporal: int) -> int:
    """Cycles during which one row's edge feeder injects: the streamed dimension T."""
    return _positive("temporal", temporal)


def fill_cycles(
    rows: int,
    cols: int,
    rows_used: int,
    cols_used: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
) -> int:
    """Skew until the farthest PE that matters sees its first operand.

    OS: ``(r_used - 1) + (c_used - 1)``. WS/IS: the first partial sum crosses all R rows, so
    ``(R - 1) + (c_used - 1)``. SCALESIM pads every pass to the full array (used = R, C).
    """
    rows, cols = _positive("rows", rows), _positive("cols", cols)
    rows_used, cols_used = _positive("rows_used", rows_used), _positive("cols_used", cols_used)
    if CompatMode(compat) is CompatMode.SCALESIM:
        rows_used, cols_used = rows, cols
    if Dataflow(dataflow) is Dataflow.OS:
        return (rows_used - 1) + (cols_used - 1)
    return (rows - 1) + (cols_used - 1)


def drain_cycles(
    rows: int,
    cols: int,
    rows_used: int,
    cols_used: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
) -> int:
    """Cycles from the last edge injection to the end of the pass.

    TERSIM: to the last output leaving the bottom edge. OS: ``r_used + c_used + R - 2``
    (skew to the last multiply-accumulate, then R shifts down the column). WS/IS:
    ``R + c_used - 2`` (the last partial sum crosses R rows and c_used - 1 columns of skew).
    SCALESIM: ``R + C - 2`` for every dataflow (skew of the full array; for OS to the last
    multiply-accumulate, with no output shift).
    """
    rows, cols = _positive("rows", rows), _positive("cols", cols)
    rows_used, cols_used = _positive("rows_used", rows_used), _positive("cols_used", cols_used)
    if CompatMode(compat) is CompatMode.SCALESIM:
        return rows + cols - 2
    if Dataflow(dataflow) is Dataflow.OS:
        return rows_used + cols_used + rows - 2
    return rows + cols_used - 2


def pass_timing(
    temporal: int,
    rows: int,
    cols: int,
    rows_used: int,
    cols_used: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
    *,
    preload_rows_per_cycle: int = 1,
    shadow_stationary: bool = False,
) -> PassTiming:
    """Timing of one pass that uses ``rows_used`` x ``cols_used`` PEs and streams ``temporal``.

    Issue interval (start of this pass to start of the next): SCALESIM serializes passes, so it
    is the full latency. TERSIM: ``T + R`` for WS/IS (the next preload overlaps this pass's
    drain), ``K + r_used - 1`` for OS (the next wavefront follows this pass's drain wavefront).
    WS/IS with ``preload_rows_per_cycle = k`` and/or ``shadow_stationary`` (TERSIM only): the
    preload is ``ceil(R / k)`` and the interval :func:`stationary_issue_interval`.
    """
    df, mode = Dataflow(dataflow), CompatMode(compat)
    kk, shadow = _stationary_options(mode, preload_rows_per_cycle, shadow_stationary)
    t = stream_cycles(temporal)
    pre = preload_cycles(rows, df, mode, preload_rows_per_cycle=kk)
    fill = fill_cycles(rows, cols, rows_used, cols_used, df, mode)
    drain = drain_cycles(rows, cols, rows_used, cols_used, df, mode)
    if mode is CompatMode.SCALESIM:
        interval = pre + t + drain
    elif df is Dataflow.OS:
        interval = t + rows_used - 1
    else:
        interval = stationary_issue_interval(
            t, rows, preload_rows_per_cycle=kk, shadow_stationary=shadow
        )
    return PassTiming(
        preload_cycles=pre,
        fill_cycles=fill,
        stream_cycles=t,
        drain_cycles=drain,
        issue_interval_cycles=interval,
    )


def gemm_timing(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
    *,
    preload_rows_per_cycle: int = 1,
    shadow_stationary: bool = False,
) -> GemmTiming:
    """Compute cycles of ``X[m, k] @ W[k, n]`` on a ``rows`` x ``cols`` array.

    Closed forms (F = row_folds * col_folds, T the streamed dimension, c_last the columns used
    by the last column fold)::

        SCALESIM  OS     F * (K + R + C - 2) - 1
                  WS/IS  F * (2R + C + T - 2) - 1
        TERSIM    OS     F * (K - 1) + col_folds * M + tail + R - 1
                  WS/IS  F * (T + R) + R + tail - 2

    ``tail`` is normally ``c_last``. The last output can instead come from the last pass of the
    previous, full-width column fold, which started earlier but drains across all C columns
    (this matters for short passes, e.g. GEMVs): with ``col_folds > 1``::

        OS     tail = max(c_last, C - (K + r_last - 1) - (row_folds - 1) * (K + R - 1))
        WS/IS  tail = max(c_last, C - row_folds * (T + R))

    where ``r_last`` is the rows used by the last row fold.

    WS/IS with ``preload_rows_per_cycle = kp`` and ``shadow_stationary`` (TERSIM only; OS
    ignores them): with ``L = ceil(R / kp)`` and ``D`` the issue interval
    (:func:`stationary_issue_interval`: ``T + R`` without shadow registers, ``max(T, L, 2)``
    with them)::

        WS/IS  L + (F - 1) * D + T + R - 2 + tail,   tail = max(c_last, C - row_folds * D)

    (the second term of ``tail`` only when ``col_folds > 1``); with the defaults this is the
    formula above.
    """
    df, mode = Dataflow(dataflow), CompatMode(compat)
    kk, shadow = _stationary_options(mode, preload_rows_per_cycle, shadow_stationary)
    grid = gemm_folds(m, n, k, rows, cols, df)
    f, t = grid.count, grid.temporal
    if mode is CompatMode.SCALESIM:
        if df is Dataflow.OS:
            total = f * (k + rows + cols - 2) - 1
        else:
            total = f * (2 * rows + cols + t - 2) - 1
    elif df is Dataflow.OS:
        # The last output usually comes from the last pass; with a narrow last column fold
        # it can come from the last pass of the previous (full-width) column fold instead.
        tail = grid.last_cols_used
        if grid.col_folds > 1:
            gap = (k + grid.last_rows_used - 1) + (grid.row_folds - 1) * (k + rows - 1)
            tail = max(tail, cols - gap)
        total = f * (k - 1) + grid.col_folds * m + tail + rows - 1
    else:
        first = _ceil_div(rows, kk)
        interval = stationary_issue_interval(
            t, rows, preload_rows_per_cycle=kk, shadow_stationary=shadow
        )
        tail = grid.last_cols_used
        if grid.col_folds > 1:
            tail = max(tail, cols - grid.row_folds * interval)
        total = first + (f - 1) * interval + t + rows - 2 + tail
    rows_dim, cols_dim, _ = spatial_temporal_dims(m, n, k, df)
    full = pass_timing(
        t,
        rows,
        cols,
        min(rows, rows_dim),
        min(cols, cols_dim),
        df,
        mode,
        preload_rows_per_cycle=kk,
        shadow_stationary=shadow,
    )
    useful = m * n * k
    return GemmTiming(
        dataflow=df,
        compat=mode,
        m=m,
        n=n,
        k=k,
        rows=rows,
        cols=cols,
        compute_cycles=total,
        folds=(grid.row_folds, grid.col_folds),
        pass_cycles=full.latency_cycles,
        useful_pe_cycles=useful,
        utilization=useful / (max(total, 1) * rows * cols),
    )


def gemm_accesses(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
) -> GemmAccesses:
    """SRAM reads and writes of one GEMM, in words.

    With ``fm = ceil(M/R)`` (OS row folds), ``fn = ceil(N/C)``, ``fk = ceil(K/R)`` and
    ``fmc = ceil(M/C)`` (IS column folds)::

                 input reads   weight reads   output writes        output reads (TERSIM)
        OS       fn * M * K    fm * K * N     M * N                0
        WS       fn * M * K    K * N          fk * M * N           (fk - 1) * M * N
        IS       M * K         fmc * K * N    fk * M * N           (fk - 1) * M * N

    SCALESIM reproduces SCALE-Sim's report, which for OS adds ``F * (R + C)`` to the output
    writes (it counts the padded rows and columns of every fold once) and never counts partial-
    sum reads.
    """
    df, mode = Dataflow(dataflow), CompatMode(compat)
    grid = gemm_folds(m, n, k, rows, cols, df)
    if df is Dataflow.OS:
        inputs, weights, outputs = grid.col_folds * m * k, grid.row_folds * k * n, m * n
        psum_reads = 0
        if mode is CompatMode.SCALESIM:
            outputs += grid.count * (rows + cols)
    elif df is Dataflow.WS:
        inputs, weights, outputs = grid.col_folds * m * k, k * n, grid.row_folds * m * n
        psum_reads = (grid.row_folds - 1) * m * n
    else:
        inputs, weights, outputs = m * k, grid.col_folds * k * n, grid.row_folds * m * n
        psum_reads = (grid.row_folds - 1) * m * n
    if mode is CompatMode.SCALESIM:
        psum_reads = 0
    return GemmAccesses(
        input_reads_words=inputs,
        weight_reads_words=weights,
        output_writes_words=outputs,
        output_reads_words=psum_reads,
    )
