"""WS/IS preload options (TERSIM): a k-rows-per-cycle load path and shadow stationary registers.

The cycle-stepped oracle models both register by register; its cycle counts must equal the
closed forms of tersim.hw.dataflow and its product must be exact.

Hand-derived case (see the systolic module docstring): WS, M = 1, K = 8, N = 1 on a 4 x 1
array with k = 2: T = 1, R = 4, L = ceil(4 / 2) = 2, two row folds. With shadow registers
D = max(T, L, 2) = 2; the first tile loads in cycles 0-1, pass 0 starts at 2 and its sum
leaves at cycle 5, pass 1 starts at 4 and its sum leaves at cycle 7: 8 cycles. Without
shadow registers D = T + R = 5: 2 + 5 + 1 + 4 - 2 + 1 = 11 cycles (13 with k = 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError
from tersim.hw.dataflow import (
    gemm_accesses,
    gemm_timing,
    pass_timing,
    preload_cycles,
    stationary_issue_interval,
)
from tersim.hw.dataflow.stepped import _HAZARDS, _stationary_kernel, simulate_gemm

STATIONARY = [Dataflow.WS, Dataflow.IS]
dims = st.integers(min_value=1, max_value=48)
array_dims = st.integers(min_value=1, max_value=16)


def _operands(m: int, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(m, k), dtype=np.int64)
    w = rng.integers(-1, 2, size=(k, n), dtype=np.int64)
    return x, w


def _check(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: Dataflow,
    kp: int,
    shadow: bool,
    seed: int,
) -> int:
    x, w = _operands(m, n, k, seed)
    res = simulate_gemm(
        x,
        w,
        rows,
        cols,
        dataflow,
        ternary=True,
        preload_rows_per_cycle=kp,
        shadow_stationary=shadow,
    )
    np.testing.assert_array_equal(res.product, x @ w)
    closed = gemm_timing(
        m, n, k, rows, cols, dataflow, preload_rows_per_cycle=kp, shadow_stationary=shadow
    )
    assert res.cycles == closed.compute_cycles
    assert res.adds + res.subs + res.skips == m * n * k
    acc = gemm_accesses(m, n, k, rows, cols, dataflow)
    assert res.input_reads_words == acc.input_reads_words
    assert res.weight_reads_words == acc.weight_reads_words
    assert res.output_writes_words == acc.output_writes_words
    return res.cycles


@pytest.mark.parametrize("shadow", [False, True])
@pytest.mark.parametrize("kp", [1, 2, 4, 8])
@pytest.mark.parametrize("dataflow", STATIONARY)
@settings(derandomize=True, deadline=None, max_examples=25)
@given(m=dims, n=dims, k=dims, rows=array_dims, cols=array_dims, seed=st.integers(0, 2**16))
def test_closed_form_equals_stepped(
    dataflow: Dataflow,
    kp: int,
    shadow: bool,
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    seed: int,
) -> None:
    _check(m, n, k, rows, cols, dataflow, kp, shadow, seed)


@pytest.mark.parametrize("shadow", [False, True])
@pytest.mark.parametrize("kp", [1, 2, 4, 8])
@pytest.mark.parametrize("dataflow", STATIONARY)
@pytest.mark.parametrize(
    ("m", "n", "k", "rows", "cols"),
    [
        (1, 1, 1, 1, 1),
        (1, 37, 48, 4, 4),  # GEMV
        (1, 48, 48, 16, 16),  # GEMV, full array
        (1, 40, 45, 16, 3),  # GEMV, narrow non-square, narrow last column fold
        (48, 48, 48, 16, 16),  # exact multiple
        (9, 10, 1, 16, 4),  # K = 1
        (33, 1, 20, 8, 16),  # non-square
        (17, 13, 29, 3, 5),  # odd everything
        (2, 3, 2, 16, 16),  # much smaller than the array
        (5, 48, 48, 13, 7),  # R not a multiple of k
    ],
)
def test_edge_shapes(
    dataflow: Dataflow, kp: int, shadow: bool, m: int, n: int, k: int, rows: int, cols: int
) -> None:
    _check(m, n, k, rows, cols, dataflow, kp, shadow, seed=m * 1000 + n)


def test_hand_derived_case() -> None:
    assert _check(1, 1, 8, 4, 1, Dataflow.WS, 2, True, 0) == 8
    assert _check(1, 1, 8, 4, 1, Dataflow.WS, 2, False, 0) == 11
    assert _check(1, 1, 8, 4, 1, Dataflow.WS, 1, False, 0) == 13
    assert _check(1, 1, 8, 4, 1, Dataflow.WS, 1, True, 0) == 4 + 4 + 1 + 4 - 2 + 1


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize(
    ("m", "n", "k", "rows", "cols"),
    [(1, 37, 50, 4, 4), (64, 64, 64, 16, 16), (17, 13, 29, 3, 5), (1, 64, 1, 16, 1)],
)
def test_defaults_unchanged(
    dataflow: Dataflow, m: int, n: int, k: int, rows: int, cols: int
) -> None:
    for compat in CompatMode:
        base = gemm_timing(m, n, k, rows, cols, dataflow, compat)
        explicit = gemm_timing(
            m,
            n,
            k,
            rows,
            cols,
            dataflow,
            compat,
            preload_rows_per_cycle=1,
            shadow_stationary=False,
        )
        assert base == explicit
    base = gemm_timing(m, n, k, rows, cols, dataflow)
    if dataflow is Dataflow.OS:
        # OS has no stationary tile: the options change nothing
        other = gemm_timing(
            m, n, k, rows, cols, dataflow, preload_rows_per_cycle=4, shadow_stationary=True
        )
        assert other.compute_cycles == base.compute_cycles
    else:
        # The pre-existing closed form F * (T + R) + R + tail - 2.
        grid_t = {Dataflow.WS: m, Dataflow.IS: n}[dataflow]
        rows_dim, cols_dim = k, (n if dataflow is Dataflow.WS else m)
        rf, cf = -(-rows_dim // rows), -(-cols_dim // cols)
        tail = cols_dim - (cf - 1) * cols
        if cf > 1:
            tail = max(tail, cols - rf * (grid_t + rows))
        assert base.compute_cycles == rf * cf * (grid_t + rows) + rows + tail - 2


def test_issue_interval_and_preload() -> None:
    assert preload_cycles(16, Dataflow.WS, preload_rows_per_cycle=8) == 2
    assert preload_cycles(13, Dataflow.IS, preload_rows_per_cycle=4) == 4
    assert preload_cycles(16, Dataflow.OS, preload_rows_per_cycle=8) == 0
    assert stationary_issue_interval(1, 16, preload_rows_per_cycle=8) == 17
    assert stationary_issue_interval(1, 16, preload_rows_per_cycle=8, shadow_stationary=True) == 2
    assert stationary_issue_interval(1, 16, shadow_stationary=True) == 16
    assert stationary_issue_interval(40, 16, preload_rows_per_cycle=4, shadow_stationary=True) == 40
    p = pass_timing(
        1, 16, 16, 16, 16, Dataflow.WS, preload_rows_per_cycle=8, shadow_stationary=True
    )
    assert p.preload_cycles == 2 and p.issue_interval_cycles == 2
    # A GEMV tile costs about ceil(R / k) with shadow registers instead of T + R.
    slow = gemm_timing(1, 64, 64, 16, 16, Dataflow.WS).compute_cycles
    fast = gemm_timing(
        1, 64, 64, 16, 16, Dataflow.WS, preload_rows_per_cycle=8, shadow_stationary=True
    ).compute_cycles
    assert slow == 16 * 17 + 16 + 16 - 2
    assert fast == 2 + 15 * 2 + 1 + 16 - 2 + 16


def _hazards(
    m: int, n: int, k: int, rows: int, cols: int, kp: int, shadow: bool, early: int
) -> int:
    x, w = _operands(m, n, k, 7)
    y = np.zeros((m, n), np.int32)
    stats = _stationary_kernel(
        x.astype(np.int32),
        w.astype(np.int8),
        y,
        np.zeros(1, np.int32),
        rows,
        cols,
        False,
        1,
        kp,
        shadow,
        early,
    )
    return int(stats[_HAZARDS])


@pytest.mark.parametrize(
    ("m", "rows", "kp"),
    [
        (1, 4, 1),  # D = L = R
        (1, 8, 2),  # D = L
        (1, 8, 8),  # D = 2
        (20, 4, 2),  # D = T
    ],
)
def test_shadow_interval_is_tight(m: int, rows: int, kp: int) -> None:
    """Issuing shadow passes one cycle closer than max(T, L, 2) breaks a register rule."""
    assert _hazards(m, 8, 64, rows, 4, kp, True, 0) == 0
    assert _hazards(m, 8, 64, rows, 4, kp, True, 1) > 0


@pytest.mark.parametrize("kp", [1, 2, 4, 8])
def test_live_load_cannot_start_earlier(kp: int) -> None:
    """Without shadow registers the delayed load start (R - L cycles later) is needed: the
    model keeps the k = 1 model's one-cycle margin, two cycles earlier overwrites a weight
    still in use."""
    assert _hazards(3, 8, 32, 8, 4, kp, False, 0) == 0
    assert _hazards(3, 8, 32, 8, 4, kp, False, 1) == 0
    assert _hazards(3, 8, 32, 8, 4, kp, False, 2) > 0


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_scalesim_rejects_options(dataflow: Dataflow) -> None:
    x, w = _operands(3, 4, 5, 0)
    scalesim = CompatMode.SCALESIM
    with pytest.raises(DesignError, match="preload_rows_per_cycle"):
        gemm_timing(3, 4, 5, 2, 2, dataflow, scalesim, preload_rows_per_cycle=2)
    with pytest.raises(DesignError, match="shadow_stationary"):
        gemm_timing(3, 4, 5, 2, 2, dataflow, scalesim, shadow_stationary=True)
    with pytest.raises(DesignError, match="preload_rows_per_cycle"):
        pass_timing(5, 2, 2, 2, 2, dataflow, scalesim, preload_rows_per_cycle=2)
    with pytest.raises(DesignError, match="shadow_stationary"):
        pass_timing(5, 2, 2, 2, 2, dataflow, scalesim, shadow_stationary=True)
    with pytest.raises(DesignError, match="preload_rows_per_cycle"):
        preload_cycles(2, dataflow, scalesim, preload_rows_per_cycle=2)
    with pytest.raises(DesignError, match="preload_rows_per_cycle"):
        simulate_gemm(x, w, 2, 2, dataflow, scalesim, preload_rows_per_cycle=2)
    with pytest.raises(DesignError, match="shadow_stationary"):
        simulate_gemm(x, w, 2, 2, dataflow, scalesim, shadow_stationary=True)
    # the defaults, spelled out, are accepted
    gemm_timing(3, 4, 5, 2, 2, dataflow, scalesim, preload_rows_per_cycle=1)


def test_bad_options() -> None:
    with pytest.raises(DesignError, match="preload_rows_per_cycle must be a positive integer"):
        gemm_timing(3, 4, 5, 2, 2, Dataflow.WS, preload_rows_per_cycle=0)
    with pytest.raises(DesignError, match="preload_rows_per_cycle must be a positive integer"):
        preload_cycles(2, Dataflow.WS, preload_rows_per_cycle=True)
    with pytest.raises(DesignError, match="shadow_stationary must be a bool"):
        gemm_timing(3, 4, 5, 2, 2, Dataflow.WS, shadow_stationary=1)  # type: ignore[arg-type]
