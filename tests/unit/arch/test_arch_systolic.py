"""Closed-form systolic GEMM timing: hand-derived cases, validation, formulas and speed."""

from __future__ import annotations

import pytest

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError, TersimError
from tersim.hw.dataflow import (
    GemmTiming,
    drain_cycles,
    fill_cycles,
    gemm_accesses,
    gemm_folds,
    gemm_timing,
    pass_timing,
    preload_cycles,
)

OS, WS, IS = Dataflow.OS, Dataflow.WS, Dataflow.IS
TERSIM, SCALESIM = CompatMode.TERSIM, CompatMode.SCALESIM


# --- hand-calculated: a 2x2 by 2x2 GEMM on a 2x2 array (one fold, cycles counted from 0) ---
#
# OS, TERSIM. x[i, k] enters row i at cycle k + i, w[k, j] enters column j at cycle k + j,
# so PE (i, j) does its k-th MAC at cycle k + i + j: the last MACs are PE (0,0)@1, (0,1)@2,
# (1,0)@2, (1,1)@3. Column 0's bottom row finishes at 2, so column 0 shifts out at cycles 3
# (row 1's value) and 4 (row 0's); column 1 at 4 and 5. Last output leaves in cycle 5: 6 cycles.
# OS, SCALESIM: no shift-out; last MAC in cycle 3, reported as "3" (index of the last cycle).
#
# WS, TERSIM. Weights shift in from the top during cycles 0-1 (preload R = 2). x[m, k] enters
# row k at 2 + m + k; the partial sum for (m, n) is at row k at 2 + m + k + n and leaves the
# bottom (row 1) at 3 + m + n: last (m = 1, n = 1) in cycle 5: 6 cycles. SCALESIM: same
# events, reported as 5. IS is the same with the roles of X and W swapped.
@pytest.mark.parametrize(
    ("dataflow", "compat", "expected"),
    [
        (OS, TERSIM, 6),
        (OS, SCALESIM, 3),
        (WS, TERSIM, 6),
        (WS, SCALESIM, 5),
        (IS, TERSIM, 6),
        (IS, SCALESIM, 5),
    ],
)
def test_two_by_two_on_two_by_two(dataflow: Dataflow, compat: CompatMode, expected: int) -> None:
    timing = gemm_timing(2, 2, 2, 2, 2, dataflow, compat)
    assert timing.compute_cycles == expected
    assert timing.folds == (1, 1)
    assert timing.useful_pe_cycles == 8
    assert timing.utilization == pytest.approx(8 / (expected * 4))


def test_ws_two_folds_overlap_by_hand() -> None:
    # M=1, N=2, K=4 on 2x2, WS: two row folds (k 0-1, k 2-3). Fold 0: load cycles 0-1, x enters
    # row 0 at 2, PE (0, 0) has seen the last (only) activation at cycle 2, so column 0 loads
    # fold 1 in cycles 3-4 and fold 1 streams from 5 = 2 + T + R. Its last partial sum reaches
    # the bottom of column 1 at 5 + (R - 1) + (C - 1) = 7: 8 cycles. SCALE-Sim serializes:
    # 2 * (2R + C + T - 2) - 1 = 2 * 5 - 1 = 9.
    assert gemm_timing(1, 2, 4, 2, 2, WS, TERSIM).compute_cycles == 8
    assert gemm_timing(1, 2, 4, 2, 2, WS, SCALESIM).compute_cycles == 9


@pytest.mark.parametrize("name", ["m", "n", "k", "rows", "cols"])
@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_dimension_names_the_parameter(name: str, bad: int) -> None:
    args = {"m": 4, "n": 4, "k": 4, "rows": 2, "cols": 2}
    args[name] = bad
    with pytest.raises(DesignError, match=rf"^{name} must be a positive integer") as err:
        gemm_timing(dataflow=WS, **args)
    assert isinstance(err.value, TersimError)
    with pytest.raises(DesignError, match=name):
        gemm_accesses(dataflow=OS, **args)


@pytest.mark.parametrize("bad", [1.5, "4", None, True])
def test_non_integer_dimension_is_rejected(bad: object) -> None:
    with pytest.raises(DesignError, match="k must be a positive integer"):
        gemm_timing(4, 4, bad, 2, 2, OS)  # type: ignore[arg-type]


def test_fold_grid_mapping() -> None:
    g = gemm_folds(m=100, n=70, k=45, rows=16, cols=4, dataflow=OS)
    assert (g.row_folds, g.col_folds, g.last_rows_used, g.last_cols_used, g.temporal) == (
        7,
        18,
        4,
        2,
        45,
    )
    g = gemm_folds(m=100, n=70, k=45, rows=16, cols=4, dataflow=WS)
    assert (g.row_folds, g.col_folds, g.last_rows_used, g.last_cols_used, g.temporal) == (
        3,
        18,
        13,
        2,
        100,
    )
    g = gemm_folds(m=100, n=70, k=45, rows=16, cols=4, dataflow=IS)
    assert (g.row_folds, g.col_folds, g.last_rows_used, g.last_cols_used, g.temporal) == (
        3,
        25,
        13,
        4,
        70,
    )
    assert g.count == 75


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize("compat", list(CompatMode))
def test_single_fold_equals_pass_latency(dataflow: Dataflow, compat: CompatMode) -> None:
    # One fold that fills the array exactly: total = latency of that pass (SCALESIM: minus 1).
    m, n, k, r, c = {OS: (8, 4, 13), WS: (13, 4, 8), IS: (4, 13, 8)}[dataflow] + (8, 4)
    timing = gemm_timing(m, n, k, r, c, dataflow, compat)
    p = pass_timing(13, r, c, 8, 4, dataflow, compat)  # every case: 8 x 4 used, T = 13
    assert timing.fold_count == 1
    assert timing.pass_cycles == p.latency_cycles
    offset = 1 if compat is SCALESIM else 0
    assert timing.compute_cycles == p.latency_cycles - offset


def test_pass_phases() -> None:
    assert (
        preload_cycles(16, WS) == 16
        and preload_cycles(16, IS) == 16
        and preload_cycles(16, OS) == 0
    )
    assert fill_cycles(16, 8, 5, 3, OS) == 6
    assert fill_cycles(16, 8, 5, 3, WS) == 17
    assert fill_cycles(16, 8, 5, 3, OS, SCALESIM) == 22
    assert drain_cycles(16, 8, 5, 3, OS) == 5 + 3 + 16 - 2
    assert drain_cycles(16, 8, 5, 3, IS) == 16 + 3 - 2
    assert drain_cycles(16, 8, 5, 3, WS, SCALESIM) == 22
    p = pass_timing(100, 16, 8, 16, 8, WS)
    assert (p.preload_cycles, p.stream_cycles, p.drain_cycles, p.issue_interval_cycles) == (
        16,
        100,
        22,
        116,
    )
    p = pass_timing(100, 16, 8, 5, 8, OS)
    assert p.issue_interval_cycles == 104 and p.latency_cycles == 100 + 5 + 8 + 14
    p = pass_timing(100, 16, 8, 5, 8, OS, SCALESIM)
    assert p.issue_interval_cycles == p.latency_cycles == 100 + 22


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_tersim_never_slower_than_scalesim_beyond_fencepost(dataflow: Dataflow) -> None:
    # TERSIM overlaps passes; it may exceed SCALE-Sim only by the OS shift-out of one pass.
    for m, n, k in [(1, 4096, 4096), (512, 4096, 4096), (37, 91, 300), (128, 128, 128)]:
        t = gemm_timing(m, n, k, 32, 32, dataflow, TERSIM).compute_cycles
        s = gemm_timing(m, n, k, 32, 32, dataflow, SCALESIM).compute_cycles
        assert t <= s + 1 + (32 + 32 if dataflow is OS else 0)


def test_accesses_tersim() -> None:
    # M=100, N=70, K=45 on 16x4: OS folds 7 x 18, WS 3 x 18, IS 3 x 25.
    a = gemm_accesses(100, 70, 45, 16, 4, OS)
    assert (
        a.input_reads_words,
        a.weight_reads_words,
        a.output_writes_words,
        a.output_reads_words,
    ) == (
        18 * 100 * 45,
        7 * 45 * 70,
        100 * 70,
        0,
    )
    a = gemm_accesses(100, 70, 45, 16, 4, WS)
    assert (
        a.input_reads_words,
        a.weight_reads_words,
        a.output_writes_words,
        a.output_reads_words,
    ) == (
        18 * 100 * 45,
        45 * 70,
        3 * 100 * 70,
        2 * 100 * 70,
    )
    a = gemm_accesses(100, 70, 45, 16, 4, IS)
    assert (
        a.input_reads_words,
        a.weight_reads_words,
        a.output_writes_words,
        a.output_reads_words,
    ) == (
        100 * 45,
        25 * 45 * 70,
        3 * 100 * 70,
        2 * 100 * 70,
    )
    # SCALE-Sim's OS output count adds F * (R + C); it never counts partial-sum reads
    s = gemm_accesses(100, 70, 45, 16, 4, OS, SCALESIM)
    assert s.output_writes_words == 100 * 70 + 7 * 18 * (16 + 4) and s.output_reads_words == 0


def test_result_is_frozen() -> None:
    t = gemm_timing(4, 4, 4, 2, 2, OS)
    assert isinstance(t, GemmTiming)
    with pytest.raises(AttributeError):
        t.compute_cycles = 0  # type: ignore[misc]


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_big_gemms_are_closed_forms(dataflow: Dataflow) -> None:
    # (speed is measured in benchmarks/bench_gemm_vs_scalesim.py, not asserted here)
    t = gemm_timing(512, 11008, 4096, 128, 128, dataflow)
    assert t.useful_pe_cycles == 512 * 11008 * 4096
    assert 0.0 < t.utilization <= 1.0
