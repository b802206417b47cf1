"""Dataflows: closed-form cycle counts and SRAM accesses of one GEMM on an R x C systolic array.

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
last output leaving it, for hardware that overlaps consecutive passes where it can. Each
dataflow's module derives its own closed forms and the options it takes: :mod:`.os`, :mod:`.ws`,
:mod:`.is_` (``is`` is a keyword). OS ignores the WS/IS preload options.

SRAM action counts (words) follow from the same mapping: each streamed operand is read once per
fold of the other spatial dimension, each stationary operand once in total, and each output is
written once per fold of the reduction dimension K (and, in TERSIM, the partial sum read back
for accumulation every time but the first). See :func:`gemm_accesses`.

All functions are closed forms: microseconds for any GEMM size.

Plug-in rule: the dataflow of enum value ``v`` is the module ``tersim.hw.dataflow.<v>`` (a
trailing underscore where ``v`` is a Python keyword) exporting ``MODEL``, an object satisfying
:class:`~tersim.hw.dataflow.base.DataflowModel`. Adding a dataflow is its module plus its value
in :class:`~tersim.config.enums.Dataflow`.
"""

from __future__ import annotations

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError
from tersim.hw.dataflow.base import (
    DataflowModel,
    FoldGrid,
    GemmAccesses,
    GemmTiming,
    OperandBits,
    PassTiming,
    StationaryOptions,
    ceil_div,
    positive,
)
from tersim.hw.plugin import load_model

__all__ = [
    "DataflowModel",
    "FoldGrid",
    "GemmAccesses",
    "GemmTiming",
    "OperandBits",
    "PassTiming",
    "StationaryOptions",
    "dataflow_model",
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


def dataflow_model(dataflow: Dataflow) -> DataflowModel:
    """The model of ``dataflow`` (a :class:`Dataflow` or its value); anything else is an error."""
    try:
        kind = Dataflow(dataflow)
    except ValueError:
        raise DesignError(
            f"dataflow must be one of {[d.value for d in Dataflow]} (got {dataflow!r})"
        ) from None
    return load_model(__name__, kind, DataflowModel)  # type: ignore[type-abstract]


def spatial_temporal_dims(m: int, n: int, k: int, dataflow: Dataflow) -> tuple[int, int, int]:
    """Return ``(rows_dim, cols_dim, temporal_dim)``: which GEMM dimension goes where."""
    return dataflow_model(dataflow).dims(m, n, k)


def gemm_folds(m: int, n: int, k: int, rows: int, cols: int, dataflow: Dataflow) -> FoldGrid:
    """Cut an M x K by K x N GEMM into passes over a ``rows`` x ``cols`` array."""
    m, n, k = positive("m", m), positive("n", n), positive("k", k)
    rows, cols = positive("rows", rows), positive("cols", cols)
    rows_dim, cols_dim, temporal = spatial_temporal_dims(m, n, k, dataflow)
    row_folds = ceil_div(rows_dim, rows)
    col_folds = ceil_div(cols_dim, cols)
    return FoldGrid(
        row_folds=row_folds,
        col_folds=col_folds,
        last_rows_used=rows_dim - (row_folds - 1) * rows,
        last_cols_used=cols_dim - (col_folds - 1) * cols,
        temporal=temporal,
    )


def preload_cycles(
    rows: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
    *,
    preload_rows_per_cycle: int = 1,
) -> int:
    """Cycles to load a stationary tile: ``ceil(R / k)`` for WS and IS (k rows per cycle,
    ``k = preload_rows_per_cycle``; R with the default k = 1), 0 for OS."""
    rows = positive("rows", rows)
    opts = StationaryOptions.checked(CompatMode(compat), preload_rows_per_cycle, False)
    return dataflow_model(dataflow).preload_cycles(rows, opts)


def stationary_issue_interval(
    temporal: int,
    rows: int,
    *,
    preload_rows_per_cycle: int = 1,
    shadow_stationary: bool = False,
) -> int:
    """TERSIM WS/IS distance between the starts of two consecutive passes.

    Without shadow registers ``T + R`` whatever ``k``; with them ``max(T, ceil(R / k), 2)``
    (see :mod:`tersim.hw.dataflow.ws`).
    """
    t, rows = stream_cycles(temporal), positive("rows", rows)
    opts = StationaryOptions.checked(CompatMode.TERSIM, preload_rows_per_cycle, shadow_stationary)
    return dataflow_model(Dataflow.WS).issue_interval(t, rows, rows, opts)


def stream_cycles(temporal: int) -> int:
    """Cycles during which one row's edge feeder injects: the streamed dimension T."""
    return positive("temporal", temporal)


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
    rows, cols, rows_used, cols_used = _pass_geometry(rows, cols, rows_used, cols_used)
    if CompatMode(compat) is CompatMode.SCALESIM:
        rows_used, cols_used = rows, cols
    return dataflow_model(dataflow).fill_cycles(rows, cols, rows_used, cols_used)


def _pass_geometry(rows: int, cols: int, rows_used: int, cols_used: int) -> tuple[int, ...]:
    """The array and the PEs a pass uses, each checked to be a positive integer."""
    names = ("rows", "cols", "rows_used", "cols_used")
    return tuple(
        positive(n, v) for n, v in zip(names, (rows, cols, rows_used, cols_used), strict=True)
    )


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
    rows, cols, rows_used, cols_used = _pass_geometry(rows, cols, rows_used, cols_used)
    model = dataflow_model(dataflow)
    if CompatMode(compat) is CompatMode.SCALESIM:
        return rows + cols - 2
    return model.drain_cycles(rows, cols, rows_used, cols_used)


def _resolved(
    dataflow: Dataflow, compat: CompatMode, preload_rows_per_cycle: int, shadow_stationary: bool
) -> tuple[CompatMode, DataflowModel, StationaryOptions]:
    """The convention, the dataflow's model and the checked stationary options of one call."""
    mode, model = CompatMode(compat), dataflow_model(dataflow)
    return mode, model, StationaryOptions.checked(mode, preload_rows_per_cycle, shadow_stationary)


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
    is the full latency; TERSIM: the dataflow's rule (``T + R`` for WS/IS without shadow
    registers, ``K + r_used - 1`` for OS).
    """
    mode, model, opts = _resolved(dataflow, compat, preload_rows_per_cycle, shadow_stationary)
    t = stream_cycles(temporal)
    pre = preload_cycles(
        rows, model.dataflow, mode, preload_rows_per_cycle=opts.preload_rows_per_cycle
    )
    fill = fill_cycles(rows, cols, rows_used, cols_used, model.dataflow, mode)
    drain = drain_cycles(rows, cols, rows_used, cols_used, model.dataflow, mode)
    if mode is CompatMode.SCALESIM:
        interval = pre + t + drain
    else:
        interval = model.issue_interval(t, rows, rows_used, opts)
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
    """Compute cycles of ``X[m, k] @ W[k, n]`` on a ``rows`` x ``cols`` array (the dataflow
    module's closed form in the ``compat`` convention)."""
    mode, model, opts = _resolved(dataflow, compat, preload_rows_per_cycle, shadow_stationary)
    grid = gemm_folds(m, n, k, rows, cols, model.dataflow)
    if mode is CompatMode.SCALESIM:
        total = model.scalesim_cycles(grid, k, rows, cols)
    else:
        total = model.tersim_cycles(grid, m, k, rows, cols, opts)
    rows_dim, cols_dim, _ = model.dims(m, n, k)
    full = pass_timing(
        grid.temporal,
        rows,
        cols,
        min(rows, rows_dim),
        min(cols, cols_dim),
        model.dataflow,
        mode,
        preload_rows_per_cycle=opts.preload_rows_per_cycle,
        shadow_stationary=opts.shadow_stationary,
    )
    useful = m * n * k
    return GemmTiming(
        dataflow=model.dataflow,
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
    model = dataflow_model(dataflow)
    grid = gemm_folds(m, n, k, rows, cols, model.dataflow)
    return model.accesses(grid, m, n, k, rows, cols, CompatMode(compat))
