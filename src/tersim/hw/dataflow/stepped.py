"""Cycle-stepped register-level model of a systolic array: the oracle for the closed forms.

Every cycle, every PE reads the registers its neighbours wrote in the previous cycle and writes
its own (synchronous logic). Operands carry tags (pass number, index along the reduction) so the
model checks itself: a PE that meets a weight from the wrong pass, a partial sum for a different
output, or an accumulator that is still occupied counts a *hazard*; :func:`simulate_gemm` raises
if any occurred. Nothing in this file uses the closed forms of :mod:`tersim.hw.dataflow`: when
each pass may start is decided by local, reactive rules, so the cycle counts it returns are an
independent check.

PE kinds: ternary (weights in {-1, 0, +1}; the PE adds, subtracts or skips; int32 accumulators)
or multiply-accumulate (integer with int64 accumulators, or float64).

Reactive control (``CompatMode.TERSIM``):

Each dataflow module's ``stepped`` hook says which kernel runs it and how its operands map:

* WS / IS (:func:`_stationary_kernel`; IS is WS on the transposed problem): column ``c`` starts
  loading the next tile the cycle after the current pass's last streamed operand has been
  used by PE (0, c). The load is a wavefront down the column's stationary registers (row ``r``
  shifts during load cycles ``r .. R-1``) and takes R cycles; the edge feeders start the next
  pass the cycle after column 0's load completes. Partial sums cross all R rows and leave at
  the bottom edge; partial sums of successive K folds are accumulated outside the array.
  With ``preload_rows_per_cycle = k`` the chain shifts k rows per load cycle (L = ceil(R/k)
  cycles) and the load starts R - L cycles later, so that it never overtakes the stream.
  With ``shadow_stationary`` the first tile loads as above, later tiles go through per-PE
  shadow registers: pass p's tile is copied into the live registers as a wavefront just
  ahead of its first operand, pass p+1's tile is written into each shadow row the cycle after
  that row's copy (at most k writes per column per cycle), and the controller issues passes
  every max(T, L, 2) cycles; the hazard checks verify every one of these register rules.
* OS (:func:`_os_kernel`): accumulators form each column's output shift chain. A finished
  value moves down when the cell below is empty or moving on (elastic), and leaves the array
  at the bottom edge. The edge feeders start the next pass when PE (0, 0)'s accumulator is
  free; a multiply-accumulate that finds its accumulator occupied is a hazard.

``CompatMode.SCALESIM``: passes are serialized (the next starts the cycle after the previous
pass's last activity) and padded to the full array with zero operands; OS results are taken
from the PEs directly (no shift-out). SCALE-Sim reports the index of that last busy cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError, WorkloadError

# argument validation only, no timing formulas
from tersim.hw.dataflow.base import StationaryOptions, SteppedArgs, positive

__all__ = ["SteppedResult", "simulate_gemm"]

# Layout of the int64 statistics vector returned by the kernels.
_LAST = 0  # index of the last cycle in which an output left the array (or, SCALESIM, was ready)
_ADDS = 1
_SUBS = 2
_SKIPS = 3
_MULS = 4
_STREAM_READS = 5  # words injected at the left edge
_STAT_READS = 6  # words read for stationary tiles (WS/IS) / injected at the top edge (OS)
_OUT_WRITES = 7  # outputs / partial sums that left the array
_HAZARDS = 8
_CYCLES_RUN = 9
_NSTATS = 10

# Kernel PE modes.
_MAC = 0
_TERNARY_STAT = 1  # the stationary operand (WS weights) or top-edge operand (OS weights) is ternary
_TERNARY_STREAM = 2  # the streamed operand (IS: weights stream) is ternary


@numba.njit(cache=True)
def _pe_op(a, b, mode, stats):  # pragma: no cover - compiled
    """One PE operation on operands a (streamed) and b; returns the contribution to the sum."""
    if mode == _MAC:
        stats[_MULS] += 1
        stats[_ADDS] += 1
        return a * b
    t = b if mode == _TERNARY_STAT else a
    v = a if mode == _TERNARY_STAT else b
    if t > 0:
        stats[_ADDS] += 1
        return v
    if t < 0:
        stats[_SUBS] += 1
        return -v
    stats[_SKIPS] += 1
    return v * 0


@numba.njit(cache=True)
def _new_stats():  # pragma: no cover - compiled
    """A zeroed statistics vector, no output seen yet."""
    stats = np.zeros(_NSTATS, np.int64)
    stats[_LAST] = -1
    return stats


@numba.njit(cache=True)
def _tagged(rows, cols, proto):  # pragma: no cover - compiled
    """One register per PE holding a tagged operand: its pass number (-1: empty), its index
    (along the reduction or the stream) and its value, of ``proto``'s dtype."""
    return (
        np.full((rows, cols), -1, np.int64),
        np.zeros((rows, cols), np.int64),
        np.zeros((rows, cols), proto.dtype),
    )


@numba.njit(cache=True)
def _folds(r_len, c_len, rows, cols):  # pragma: no cover - compiled
    """``(row folds, passes)`` of an ``r_len`` x ``c_len`` problem on ``rows`` x ``cols`` PEs."""
    row_folds = (r_len + rows - 1) // rows
    return row_folds, row_folds * ((c_len + cols - 1) // cols)


@numba.njit(cache=True)
def _fold_geom(f, row_folds, rows, cols, r_len, c_len):  # pragma: no cover - compiled
    """Pass ``f`` (row folds vary fastest) of an ``r_len`` x ``c_len`` problem folded onto
    ``rows`` x ``cols`` PEs: ``(r0, rows used, c0, cols used)``."""
    cf = f // row_folds
    r0 = (f - cf * row_folds) * rows
    c0 = cf * cols
    return r0, min(rows, r_len - r0), c0, min(cols, c_len - c0)


@numba.njit(cache=True)
def _max_cycles(n_folds, stream, rows, cols):  # pragma: no cover - compiled
    """The cycle after which a run that has not ended counts as a hazard (a generous bound)."""
    return n_folds * (stream + 3 * rows + 2 * cols + 4) + 16


@numba.njit(cache=True)
def _shift_right(tag, idx, val):  # pragma: no cover - compiled
    """Move every tagged operand one PE to the right; True if any is still in flight."""
    rows, cols = tag.shape
    busy = False
    for r in range(rows):
        for c in range(cols - 1, 0, -1):
            tag[r, c] = tag[r, c - 1]
            idx[r, c] = idx[r, c - 1]
            val[r, c] = val[r, c - 1]
            if tag[r, c] >= 0:
                busy = True
    return busy


@numba.njit(cache=True)
def _stationary_kernel(
    a, b, y, acc_proto, rows, cols, scalesim, mode, kp, shadow, early=0
):  # pragma: no cover
    """Weight-stationary array: ``y[T, S] += a[T, KD] @ b[KD, S]`` with ``b`` stationary.

    Row ``r`` of a pass holds reduction index ``k0 + r``; column ``c`` holds output column
    ``n0 + c``; ``a[t, k]`` enters row ``k - k0`` at the left edge at ``start + t + r`` and
    moves right one PE per cycle; partial sums move down one PE per cycle. ``kp`` rows of a
    tile are loaded per cycle; ``shadow`` gives every PE a shadow stationary register.
    ``early`` (tests only) makes the TERSIM schedule that many cycles too eager (live loads
    start earlier, shadow passes are issued closer), which must produce hazards.
    """
    t_len, kd = a.shape
    s_len = b.shape[1]
    rf_n, n_folds = _folds(kd, s_len, rows, cols)
    stats = _new_stats()

    # activation register: what PE (r, c) processes this cycle (tag, stream index, value)
    act_f, act_m, act_v = _tagged(rows, cols, a)
    # partial-sum register: what PE (r, c) produced last cycle, and what it produces now
    ps_f, ps_m, ps_v = _tagged(rows, cols, acc_proto)
    nps_f, nps_m, nps_v = _tagged(rows, cols, acc_proto)
    # stationary registers and their tag: pass number, -1 empty, -2 being loaded
    w_v = np.zeros((rows, cols), b.dtype)
    w_f = np.full((rows, cols), -1, np.int64)
    # shadow stationary registers (shadow=True) and their tag: pass number, -1 free
    sh_v = np.zeros((rows, cols), b.dtype)
    sh_f = np.full((rows, cols), -1, np.int64)
    n_load = (rows + kp - 1) // kp  # L: cycles of one preload through the live registers
    sh_lo = 0
    ld_start = np.full(cols, -1, np.int64)
    ld_fold = np.full(cols, -1, np.int64)
    start = np.full(n_folds + 1, -1, np.int64)

    def fold_geom(f):  # (k0, rows used, n0, cols used) of pass f
        return _fold_geom(f, rf_n, rows, cols, kd, s_len)

    # First pass: every used (SCALESIM: every) column loads at cycles 0 .. R-1.
    _, _, _, nu0 = fold_geom(0)
    for c in range(cols if scalesim else nu0):
        ld_start[c] = 0
        ld_fold[c] = 0

    max_cycles = _max_cycles(n_folds, t_len, rows, cols)
    feed_lo = 0
    t = 0
    while True:
        if t > max_cycles:
            stats[_HAZARDS] += 1
            break
        # 1. edge feeders inject into column 0
        for r in range(rows):
            act_f[r, 0] = -1
        f = feed_lo
        while f < n_folds and start[f] >= 0 and start[f] <= t:
            k0, ku, n0, nu = fold_geom(f)
            if t > start[f] + t_len - 1 + rows:
                if f == feed_lo:
                    feed_lo += 1
            else:
                for r in range(ku):
                    m = t - start[f] - r
                    if 0 <= m < t_len:
                        if act_f[r, 0] >= 0:
                            stats[_HAZARDS] += 1
                        act_f[r, 0] = f
                        act_m[r, 0] = m
                        act_v[r, 0] = a[m, k0 + r]
                        stats[_STREAM_READS] += 1
            f += 1
        # 2. PEs: consume the activation and the partial sum from above
        for c in range(cols):
            for r in range(rows):
                nps_f[r, c] = -1
                have_ps = r > 0 and ps_f[r - 1, c] >= 0
                af = act_f[r, c]
                if af >= 0:
                    k0, ku, n0, nu = fold_geom(af)
                    used = scalesim or c < nu
                    if used and r < ku:
                        if w_f[r, c] != af:
                            stats[_HAZARDS] += 1
                        acc = acc_proto[0] * 0
                        if r > 0:
                            if not have_ps or ps_f[r - 1, c] != af or ps_m[r - 1, c] != act_m[r, c]:
                                stats[_HAZARDS] += 1
                            else:
                                acc = ps_v[r - 1, c]
                        if c < nu:
                            acc = acc + _pe_op(act_v[r, c], w_v[r, c], mode, stats)
                        nps_f[r, c] = af
                        nps_m[r, c] = act_m[r, c]
                        nps_v[r, c] = acc
                    elif have_ps:
                        nps_f[r, c] = ps_f[r - 1, c]
                        nps_m[r, c] = ps_m[r - 1, c]
                        nps_v[r, c] = ps_v[r - 1, c]
                    # last activation of pass af has left PE (0, c): start the next load
                    # (with kp rows per load cycle the load waits R - L more cycles so that
                    # its faster wavefront never overtakes the stream)
                    if (
                        r == 0
                        and act_m[r, c] == t_len - 1
                        and not scalesim
                        and not shadow
                        and af + 1 < n_folds
                    ):
                        _, _, _, nu_next = fold_geom(af + 1)
                        if c < nu_next:
                            if ld_start[c] >= 0 and t <= ld_start[c] + n_load - 1:
                                stats[_HAZARDS] += 1
                            ld_start[c] = t + 1 + (rows - n_load) - early
                            ld_fold[c] = af + 1
                elif have_ps:
                    pf = ps_f[r - 1, c]
                    k0, ku, n0, nu = fold_geom(pf)
                    if r < ku and (scalesim or c < nu):
                        stats[_HAZARDS] += 1  # a used row without its activation
                    nps_f[r, c] = pf
                    nps_m[r, c] = ps_m[r - 1, c]
                    nps_v[r, c] = ps_v[r - 1, c]
        # 3. bottom edge: partial sums leave the array
        for c in range(cols):
            pf = nps_f[rows - 1, c]
            if pf >= 0:
                k0, ku, n0, nu = fold_geom(pf)
                m = nps_m[rows - 1, c]
                if c < nu:
                    y[m, n0 + c] += nps_v[rows - 1, c]
                    stats[_OUT_WRITES] += 1
                if c < nu or scalesim:
                    stats[_LAST] = t
                # SCALESIM: the pass is over when its last partial sum leaves column C-1
                if scalesim and c == cols - 1 and m == t_len - 1 and pf + 1 < n_folds:
                    for cc in range(cols):
                        ld_start[cc] = t + 1
                        ld_fold[cc] = pf + 1
        # 4. stationary loads through the live registers (wavefront: in load cycle q the chain
        #    shifts by kp rows and rows 0 .. kp*(q+1)-1 move; L = ceil(R/kp) cycles)
        for c in range(cols):
            if ld_start[c] < 0:
                continue
            q = t - ld_start[c]
            if q < 0 or q > n_load - 1:
                continue
            f = ld_fold[c]
            k0, ku, n0, nu = fold_geom(f)
            for r in range(min(kp * (q + 1), rows) - 1, -1, -1):
                if r < kp:
                    kr = r + kp * (n_load - 1 - q)  # the tile row that ends in row kr
                    if kr < ku and c < nu:
                        w_v[r, c] = b[k0 + kr, n0 + c]
                        stats[_STAT_READS] += 1
                    else:
                        w_v[r, c] = b[0, 0] * 0
                else:
                    w_v[r, c] = w_v[r - kp, c]
                w_f[r, c] = -2
            if q == n_load - 1:
                for r in range(rows):
                    w_f[r, c] = f
                if c == 0:
                    start[f] = t + 1
                    if shadow and f == 0:
                        # controller: passes are issued every max(T, L, 2) cycles
                        gap = max(t_len, n_load, 2) - early
                        for p in range(1, n_folds):
                            start[p] = start[0] + p * gap
        # 4b. shadow registers: pass p's tile is copied into the live registers as a
        #     wavefront (PE (r, c) at the end of cycle start[p] + r + c - 1, just before the
        #     pass's first operand uses it); pass p+1's tile is written into shadow row r of
        #     column c in cycle start[p] + r + c, one cycle after that row's copy. At most kp
        #     shadow writes per column per cycle (the load bus width).
        if shadow and start[0] >= 0:
            while sh_lo < n_folds and start[sh_lo] + rows + cols < t:
                sh_lo += 1
            for c in range(cols):
                p = max(sh_lo, 1)
                while p < n_folds and start[p] <= t + 1:
                    r = t + 1 - start[p] - c
                    _, _, _, nu = fold_geom(p)
                    if 0 <= r < rows and c < nu:
                        if sh_f[r, c] != p:
                            stats[_HAZARDS] += 1
                        w_v[r, c] = sh_v[r, c]
                        w_f[r, c] = p
                        sh_f[r, c] = -1
                    p += 1
                writes = 0
                p = sh_lo
                while p + 1 < n_folds and start[p] <= t:
                    r = t - start[p] - c
                    k0, ku, n0, nu = fold_geom(p + 1)
                    if 0 <= r < rows and c < nu:
                        if sh_f[r, c] != -1:
                            stats[_HAZARDS] += 1  # would overwrite a tile not yet copied
                        if r < ku:
                            sh_v[r, c] = b[k0 + r, n0 + c]
                            stats[_STAT_READS] += 1
                        else:
                            sh_v[r, c] = b[0, 0] * 0
                        sh_f[r, c] = p + 1
                        writes += 1
                    p += 1
                if writes > kp:
                    stats[_HAZARDS] += 1
        # 5. shift: activations move right, partial sums move down (via nps -> ps)
        busy = _shift_right(act_f, act_m, act_v)
        for r in range(rows):
            for c in range(cols):
                ps_f[r, c] = nps_f[r, c]
                ps_m[r, c] = nps_m[r, c]
                ps_v[r, c] = nps_v[r, c]
                if r < rows - 1 and ps_f[r, c] >= 0:
                    busy = True
        loading = False
        for c in range(cols):
            if ld_start[c] >= 0 and t < ld_start[c] + n_load - 1:
                loading = True
        t += 1
        if not busy and not loading and feed_lo >= n_folds:
            break
        if (
            not busy
            and not loading
            and start[n_folds - 1] >= 0
            and t > start[n_folds - 1] + t_len + rows
        ):
            break
    stats[_CYCLES_RUN] = t
    return stats


@numba.njit(cache=True)
def _os_feed(
    x, w, f, dt, m0, mu, n0, nu, rows, cols, scalesim, a_f, a_k, a_v, b_f, b_k, b_v, stats
):  # pragma: no cover
    """OS edge feeders, ``dt`` cycles after pass ``f`` started: row r gets x[m0+r, dt-r],
    column c gets w[dt-c, n0+c] (SCALESIM pads the unused rows and columns with zeros)."""
    k_len = x.shape[1]
    ru = rows if scalesim else mu
    cu = cols if scalesim else nu
    for r in range(ru):
        k = dt - r
        if 0 <= k < k_len:
            if a_f[r, 0] >= 0:
                stats[_HAZARDS] += 1
            a_f[r, 0] = f
            a_k[r, 0] = k
            if r < mu:
                a_v[r, 0] = x[m0 + r, k]
                stats[_STREAM_READS] += 1
            else:
                a_v[r, 0] = x[0, 0] * 0
    for c in range(cu):
        k = dt - c
        if 0 <= k < k_len:
            if b_f[0, c] >= 0:
                stats[_HAZARDS] += 1
            b_f[0, c] = f
            b_k[0, c] = k
            if c < nu:
                b_v[0, c] = w[k, n0 + c]
                stats[_STAT_READS] += 1
            else:
                b_v[0, c] = w[0, 0] * 0


@numba.njit(cache=True)
def _os_kernel(x, w, y, acc_proto, rows, cols, scalesim, mode):  # pragma: no cover - compiled
    """Output-stationary array: ``y[M, N] = x[M, K] @ w[K, N]``.

    ``x[m0 + r, k]`` enters row ``r`` at ``start + k + r`` and moves right; ``w[k, n0 + c]``
    enters column ``c`` at ``start + k + c`` and moves down; PE (r, c) accumulates output
    ``(m0 + r, n0 + c)``.
    """
    m_len, k_len = x.shape
    n_len = w.shape[1]
    rf_n, n_folds = _folds(m_len, n_len, rows, cols)
    stats = _new_stats()

    # operand registers (tag, reduction index, value): x moving right, w moving down
    a_f, a_k, a_v = _tagged(rows, cols, x)
    b_f, b_k, b_v = _tagged(rows, cols, w)
    # accumulator cells: state 0 empty, 1 accumulating, 2 done (waiting to shift out)
    acc_s = np.zeros((rows, cols), np.int64)
    acc_f = np.full((rows, cols), -1, np.int64)
    acc_i = np.zeros((rows, cols), np.int64)  # row of the output the value belongs to
    acc_v = np.zeros((rows, cols), acc_proto.dtype)
    moving = np.zeros(rows, np.bool_)
    received = np.zeros((rows, cols), np.bool_)
    start = np.full(n_folds, -1, np.int64)
    start[0] = 0

    def fold_geom(f):  # (m0, rows used, n0, cols used) of pass f
        return _fold_geom(f, rf_n, rows, cols, m_len, n_len)

    def feed(f, dt):  # the edge feeders of pass f, dt cycles after it started
        m0, mu, n0, nu = fold_geom(f)
        _os_feed(
            x, w, f, dt, m0, mu, n0, nu, rows, cols, scalesim, a_f, a_k, a_v, b_f, b_k, b_v, stats
        )

    max_cycles = _max_cycles(n_folds, k_len, rows, cols)
    started = 1
    feed_lo = 0
    t = 0
    while True:
        if t > max_cycles:
            stats[_HAZARDS] += 1
            break
        # 1. edge feeders for the passes already started
        for r in range(rows):
            a_f[r, 0] = -1
        for c in range(cols):
            b_f[0, c] = -1
        f = feed_lo
        while f < started:
            if t > start[f] + k_len + max(rows, cols):
                if f == feed_lo:
                    feed_lo += 1
            else:
                feed(f, t - start[f])
            f += 1
        # 2. drain (TERSIM): elastic shift down each column; the bottom cell leaves the array.
        #    A value moves into the cell below only if that cell is empty (or moving on) and
        #    does not start a multiply-accumulate this cycle.
        for c in range(cols):
            for r in range(rows):
                received[r, c] = False
        if not scalesim:
            for c in range(cols):
                for r in range(rows - 1, -1, -1):
                    if acc_s[r, c] != 2:
                        moving[r] = False
                    elif r == rows - 1:
                        moving[r] = True
                    elif a_f[r + 1, c] >= 0 and b_f[r + 1, c] >= 0:
                        moving[r] = False
                    else:
                        moving[r] = acc_s[r + 1, c] == 0 or moving[r + 1]
                if moving[rows - 1]:
                    m0, mu, n0, nu = fold_geom(acc_f[rows - 1, c])
                    y[m0 + acc_i[rows - 1, c], n0 + c] = acc_v[rows - 1, c]
                    stats[_OUT_WRITES] += 1
                    stats[_LAST] = t
                for r in range(rows - 1, -1, -1):
                    if r > 0 and moving[r - 1]:
                        acc_s[r, c] = 2
                        acc_f[r, c] = acc_f[r - 1, c]
                        acc_i[r, c] = acc_i[r - 1, c]
                        acc_v[r, c] = acc_v[r - 1, c]
                        received[r, c] = True
                    elif moving[r]:
                        acc_s[r, c] = 0
                        acc_f[r, c] = -1
        # 3. TERSIM: start the next pass when PE (0, 0)'s accumulator is free
        if not scalesim and started < n_folds:
            prev = started - 1
            if t >= start[prev] + k_len and acc_s[0, 0] == 0:
                start[started] = t
                feed(started, 0)
                started += 1
        # 4. multiply-accumulate where both operands meet
        for r in range(rows):
            for c in range(cols):
                f = a_f[r, c]
                if f < 0 or b_f[r, c] < 0:
                    continue
                if b_f[r, c] != f or b_k[r, c] != a_k[r, c]:
                    stats[_HAZARDS] += 1
                    continue
                m0, mu, n0, nu = fold_geom(f)
                real = r < mu and c < nu
                k = a_k[r, c]
                if k == 0:
                    if acc_s[r, c] != 0 or received[r, c]:
                        stats[_HAZARDS] += 1
                    acc_s[r, c] = 1
                    acc_f[r, c] = f
                    acc_i[r, c] = r
                    acc_v[r, c] = acc_proto[0] * 0
                elif acc_s[r, c] != 1 or acc_f[r, c] != f:
                    stats[_HAZARDS] += 1
                if real:
                    acc_v[r, c] = acc_v[r, c] + _pe_op(a_v[r, c], b_v[r, c], mode, stats)
                if k == k_len - 1:
                    if scalesim:
                        # SCALE-Sim: the result is taken from the PE when it is ready
                        if real:
                            y[m0 + r, n0 + c] = acc_v[r, c]
                            stats[_OUT_WRITES] += 1
                        acc_s[r, c] = 0
                        acc_f[r, c] = -1
                        stats[_LAST] = t
                        if r == rows - 1 and c == cols - 1 and started < n_folds:
                            start[started] = t + 1
                            started += 1
                    else:
                        acc_s[r, c] = 2
        # 5. shift operands: x right, w down
        busy = _shift_right(a_f, a_k, a_v)
        for c in range(cols):
            for r in range(rows - 1, 0, -1):
                b_f[r, c] = b_f[r - 1, c]
                b_k[r, c] = b_k[r - 1, c]
                b_v[r, c] = b_v[r - 1, c]
                if b_f[r, c] >= 0:
                    busy = True
        for r in range(rows):
            for c in range(cols):
                if acc_s[r, c] != 0:
                    busy = True
        t += 1
        if started == n_folds and not busy and t > start[n_folds - 1] + k_len:
            break
    stats[_CYCLES_RUN] = t
    return stats


@dataclass(frozen=True, eq=False)
class SteppedResult:
    """What the cycle-stepped model measured for one GEMM.

    ``product`` is X @ W (int32 for ternary PEs, int64 for integer MACs, float64 otherwise).
    ``last_output_cycle`` is the 0-based cycle in which the last output left the array
    (SCALESIM: the last busy cycle, which is what SCALE-Sim reports as Total Cycles);
    ``cycles`` = ``last_output_cycle + 1``. Counts cover real operand pairs only (not padding):
    ``adds + subs + skips`` = M * N * K for ternary PEs, ``muls`` = M * N * K for MAC PEs (each
    MAC also counts one add). Reads/writes are words crossing the array edges.
    """

    product: np.ndarray
    cycles: int
    last_output_cycle: int
    adds: int
    subs: int
    skips: int
    muls: int
    input_reads_words: int
    weight_reads_words: int
    output_writes_words: int


def _check_matrix(name: str, arr: np.ndarray) -> None:
    if arr.ndim != 2:
        raise WorkloadError(f"{name} must be a 2-D matrix (got shape {arr.shape})")
    for axis, size in enumerate(arr.shape):
        if size < 1:
            raise DesignError(f"{name} dimension {axis} must be positive (got shape {arr.shape})")


def simulate_gemm(
    x: np.ndarray,
    w: np.ndarray,
    rows: int,
    cols: int,
    dataflow: Dataflow,
    compat: CompatMode = CompatMode.TERSIM,
    ternary: bool = False,
    *,
    preload_rows_per_cycle: int = 1,
    shadow_stationary: bool = False,
) -> SteppedResult:
    """Run ``x[M, K] @ w[K, N]`` cycle by cycle on a ``rows`` x ``cols`` array.

    ``ternary=True``: ``w`` must hold only -1, 0, +1 and ``x`` integers; PEs add, subtract or
    skip with int32 accumulators. Otherwise PEs multiply-accumulate (int64 if both operands are
    integer, else float64). Meant for small shapes (cost ~ cycles * rows * cols).

    WS/IS, TERSIM only (OS ignores them; SCALESIM rejects non-defaults):
    ``preload_rows_per_cycle`` (k) rows of a stationary tile are loaded per cycle;
    ``shadow_stationary`` gives every PE a shadow register for the next pass's tile.
    """
    from tersim.hw.dataflow import dataflow_model

    rows, cols = positive("rows", rows), positive("cols", cols)
    df, mode_c = Dataflow(dataflow), CompatMode(compat)
    opts = StationaryOptions.checked(mode_c, preload_rows_per_cycle, shadow_stationary)
    x = np.asarray(x)
    w = np.asarray(w)
    _check_matrix("x", x)
    _check_matrix("w", w)
    if x.shape[1] != w.shape[0]:
        raise WorkloadError(f"x is {x.shape} but w is {w.shape}: inner dimensions differ")
    m, n = x.shape[0], w.shape[1]
    acc_dtype: type[np.generic]
    if ternary:
        if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer)):
            raise WorkloadError("ternary PEs need integer activations and weights")
        if not np.isin(w, (-1, 0, 1)).all():
            raise WorkloadError("ternary weights must be -1, 0 or +1")
        xa, wa, acc_dtype = x.astype(np.int32), w.astype(np.int8), np.int32
    elif np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer):
        xa, wa, acc_dtype = x.astype(np.int64), w.astype(np.int64), np.int64
    else:
        xa, wa, acc_dtype = x.astype(np.float64), w.astype(np.float64), np.float64
    scalesim = mode_c is CompatMode.SCALESIM
    args = SteppedArgs(xa, wa, acc_dtype, rows, cols, scalesim, ternary, opts)
    run = dataflow_model(df).stepped(args)
    y, stats = run.product, run.stats
    in_reads, w_reads = run.input_reads_words, run.weight_reads_words
    if stats[_HAZARDS] != 0:
        raise RuntimeError(
            f"cycle-stepped model found {int(stats[_HAZARDS])} hazards "
            f"({df.value}, {mode_c.value}, M={m} N={n} K={x.shape[1]}, {rows}x{cols})"
        )
    last = int(stats[_LAST])
    return SteppedResult(
        product=y,
        cycles=last + 1,
        last_output_cycle=last,
        adds=int(stats[_ADDS]),
        subs=int(stats[_SUBS]),
        skips=int(stats[_SKIPS]),
        muls=int(stats[_MULS]),
        input_reads_words=int(in_reads),
        weight_reads_words=int(w_reads),
        output_writes_words=int(stats[_OUT_WRITES]),
    )
