"""The cycle-stepped array is the oracle: it must compute X @ W exactly and its cycle counts
must equal the closed forms of tersim.hw.dataflow in both conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import CompatMode, Dataflow
from tersim.errors import DesignError, WorkloadError
from tersim.hw.dataflow import gemm_accesses, gemm_timing
from tersim.hw.dataflow.stepped import simulate_gemm

dims = st.integers(min_value=1, max_value=64)
array_dims = st.integers(min_value=1, max_value=16)


def _operands(m: int, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(m, k), dtype=np.int64)  # int8 activations
    w = rng.integers(-1, 2, size=(k, n), dtype=np.int64)  # ternary weights
    return x, w


def _check(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: Dataflow, compat: CompatMode, seed: int
) -> None:
    x, w = _operands(m, n, k, seed)
    res = simulate_gemm(x, w, rows, cols, dataflow, compat, ternary=True)
    np.testing.assert_array_equal(res.product, x @ w)
    assert res.product.dtype == np.int32
    closed = gemm_timing(m, n, k, rows, cols, dataflow, compat)
    measured = res.last_output_cycle if compat is CompatMode.SCALESIM else res.cycles
    assert measured == closed.compute_cycles
    assert res.adds + res.subs + res.skips == m * n * k
    assert res.skips == int((w == 0).sum()) * m
    assert res.adds == int((w == 1).sum()) * m and res.subs == int((w == -1).sum()) * m
    assert res.muls == 0
    acc = gemm_accesses(m, n, k, rows, cols, dataflow, CompatMode.TERSIM)
    assert res.input_reads_words == acc.input_reads_words
    assert res.weight_reads_words == acc.weight_reads_words
    assert res.output_writes_words == acc.output_writes_words


@pytest.mark.parametrize("compat", list(CompatMode))
@pytest.mark.parametrize("dataflow", list(Dataflow))
@settings(derandomize=True, deadline=None, max_examples=40)
@given(m=dims, n=dims, k=dims, rows=array_dims, cols=array_dims, seed=st.integers(0, 2**16))
def test_closed_form_equals_stepped(
    dataflow: Dataflow, compat: CompatMode, m: int, n: int, k: int, rows: int, cols: int, seed: int
) -> None:
    _check(m, n, k, rows, cols, dataflow, compat, seed)


@pytest.mark.parametrize("compat", list(CompatMode))
@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize(
    ("m", "n", "k", "rows", "cols"),
    [
        (1, 1, 1, 1, 1),
        (1, 37, 50, 4, 4),  # GEMV
        (64, 64, 64, 16, 16),  # exact multiple
        (9, 10, 1, 16, 4),  # K = 1
        (1, 64, 1, 16, 1),  # degenerate
        (33, 1, 20, 8, 16),  # N = 1, non-square
        (17, 13, 29, 3, 5),  # odd everything
        (2, 3, 2, 16, 16),  # much smaller than the array
    ],
)
def test_edge_shapes(
    dataflow: Dataflow, compat: CompatMode, m: int, n: int, k: int, rows: int, cols: int
) -> None:
    _check(m, n, k, rows, cols, dataflow, compat, seed=m * 1000 + n)


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_integer_mac_product(dataflow: Dataflow) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-1000, 1000, size=(13, 21))
    w = rng.integers(-1000, 1000, size=(21, 9))
    res = simulate_gemm(x, w, 4, 3, dataflow)
    np.testing.assert_array_equal(res.product, x @ w)
    assert res.product.dtype == np.int64
    assert res.muls == 13 * 9 * 21 and res.adds == res.muls and res.subs == res.skips == 0
    assert res.cycles == gemm_timing(13, 9, 21, 4, 3, dataflow).compute_cycles


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_float_mac_product(dataflow: Dataflow) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 11)).astype(np.float32)
    w = rng.standard_normal((11, 5))
    res = simulate_gemm(x, w, 3, 4, dataflow, CompatMode.SCALESIM)
    np.testing.assert_allclose(res.product, x.astype(np.float64) @ w, rtol=1e-12, atol=1e-12)
    assert (
        res.last_output_cycle
        == gemm_timing(7, 5, 11, 3, 4, dataflow, CompatMode.SCALESIM).compute_cycles
    )


def test_bad_inputs() -> None:
    x = np.ones((3, 4), dtype=np.int64)
    with pytest.raises(WorkloadError, match="ternary weights"):
        simulate_gemm(x, np.full((4, 2), 2), 2, 2, Dataflow.WS, ternary=True)
    with pytest.raises(WorkloadError, match="inner dimensions"):
        simulate_gemm(x, np.ones((3, 2)), 2, 2, Dataflow.WS)
    with pytest.raises(WorkloadError, match="integer"):
        simulate_gemm(
            x.astype(float), np.ones((4, 2), dtype=np.int64), 2, 2, Dataflow.OS, ternary=True
        )
    with pytest.raises(DesignError, match=r"^rows must be a positive integer"):
        simulate_gemm(x, np.ones((4, 2)), 0, 2, Dataflow.IS)
    with pytest.raises(DesignError, match=r"^cols must be a positive integer"):
        simulate_gemm(x, np.ones((4, 2)), 2, -1, Dataflow.IS)
    with pytest.raises(DesignError, match="x dimension 0 must be positive"):
        simulate_gemm(np.ones((0, 4)), np.ones((4, 2)), 2, 2, Dataflow.OS)
