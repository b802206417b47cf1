"""Synthetic weights: the trit distribution of absmean-quantized normals, exact counts, tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tersim.functional.packing import unpack_ternary
from tersim.functional.quant import quantize_ternary
from tersim.functional.synthetic import (
    TABLE_STD,
    ZERO_PROBABILITY,
    synthetic_table,
    synthetic_ternary,
    tensor_key,
)


def test_zero_probability_is_that_of_quantized_normal_weights():
    """The analytic value against quantize_ternary of a large normal matrix (an independent
    path: the float weights, their absmean, rint)."""
    assert pytest.approx(0.31006, abs=1e-5) == ZERO_PROBABILITY
    w = np.random.default_rng(0).standard_normal((2000, 1000)) * 0.02
    assert quantize_ternary(w).zero_fraction == pytest.approx(ZERO_PROBABILITY, abs=2e-3)


@pytest.mark.parametrize("k", [1, 7, 8, 9, 300])
def test_counts_and_padding(k):
    packed = synthetic_ternary(tensor_key(1, 2, 3), k, 1100, binary=False)
    trits = unpack_ternary(packed)  # also checks that no 0b11 code was drawn
    assert trits.shape == (k, 1100)
    assert packed.plus_count == int(np.sum(trits == 1))
    assert packed.minus_count == int(np.sum(trits == -1))
    words = packed.matrix()
    pad = 8 * words.shape[0] - k
    if pad:  # padding digits are 1 (trit 0)
        assert np.all((words[-1] >> (2 * (8 - pad))) == (0x5555 >> (2 * (8 - pad))))


def test_trit_frequencies_match_the_model():
    n = 4096 * 1024
    trits = unpack_ternary(synthetic_ternary(tensor_key(7), 4096, 1024, binary=False))
    tolerance = 5 * math.sqrt(0.25 / n)  # five binomial standard deviations
    zero = np.mean(trits == 0)
    assert zero == pytest.approx(ZERO_PROBABILITY, abs=tolerance)
    assert np.mean(trits == 1) == pytest.approx((1 - ZERO_PROBABILITY) / 2, abs=tolerance)
    # neighbouring inputs, and a word's two hash halves, are uncorrelated
    corr = np.corrcoef(trits[0::2].ravel().astype(float), trits[1::2].ravel().astype(float))
    assert abs(corr[0, 1]) < 5 / math.sqrt(n / 2)


def test_binary_never_zero_and_keys_matter():
    b = synthetic_ternary(tensor_key(3), 40, 50, binary=True)
    assert b.zero_count == 0 and abs(b.plus_count - 1000) < 5 * math.sqrt(500)
    a1 = synthetic_ternary(tensor_key(3, 0), 40, 50, binary=False)
    a2 = synthetic_ternary(tensor_key(3, 0), 40, 50, binary=False)
    a3 = synthetic_ternary(tensor_key(3, 1), 40, 50, binary=False)
    np.testing.assert_array_equal(a1.data, a2.data)
    assert not np.array_equal(a1.data, a3.data)


def test_tables_are_exact_halves_of_the_stated_spread():
    table = synthetic_table(tensor_key(5), 300, 1000)
    assert table.dtype == np.float16
    v = table.astype(np.float64) * 8192  # Irwin-Hall sums minus 510: integers
    np.testing.assert_array_equal(v, np.rint(v))
    assert np.abs(v).max() <= 510
    assert v.std() / 8192 == pytest.approx(TABLE_STD, rel=0.01)
    assert abs(v.mean()) / 8192 < 5 * TABLE_STD / math.sqrt(table.size)
    np.testing.assert_array_equal(table, synthetic_table(tensor_key(5), 300, 1000))


def test_model_linears_share_one_buffer_in_decode_order():
    """synthetic_weights places every packed linear in one arena, layer by layer in the order
    of a decode step (q, k, v, o, gate, up, down), each where the previous one ends."""
    from tiny_models import tiny_spec

    from tersim.config import PEKind
    from tersim.functional.packing import ARENA_ALIGN_BYTES
    from tersim.functional.transformer import TernaryModel
    from tersim.workload.formats import resolve_formats

    spec = tiny_spec()
    model = TernaryModel.synthetic(spec, resolve_formats(spec, PEKind.TERNARY_ADD), seed=2)
    names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    packed = [getattr(lw, n).packed for lw in model.weights.layers for n in names]
    for a, b in itertools.pairwise(packed):
        step = -(-a.nbytes // ARENA_ALIGN_BYTES) * ARENA_ALIGN_BYTES
        assert b.data.ctypes.data - a.data.ctypes.data == step
    same = synthetic_ternary(tensor_key(2, 3, 0, 0), 32, 32, binary=False)  # layer 0 q_proj
    assert packed[0].data.base is not None
    np.testing.assert_array_equal(packed[0].data, same.data)
