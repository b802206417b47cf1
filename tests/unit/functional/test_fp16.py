"""float16 tables in Numba: every finite half widens exactly; the LM head equals a float64 one."""

from __future__ import annotations

import numpy as np

from tersim.functional.fp16 import half_to_float, lm_head_f16


def test_every_finite_half_widens_exactly():
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = halves[np.isfinite(halves)]  # subnormals, both zeros, normals
    got = half_to_float(finite)
    np.testing.assert_array_equal(got.view(np.uint32), finite.astype(np.float32).view(np.uint32))


def test_lm_head_equals_a_float64_product():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((53, 37)).astype(np.float16)
    x = rng.standard_normal((3, 37)).astype(np.float32)
    exact = x.astype(np.float64) @ table.astype(np.float64).T
    got = lm_head_f16(x, table)
    assert got.dtype == np.float32 and got.shape == (3, table.shape[0])
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-5)
    assert lm_head_f16(x[:0], table).shape == (0, table.shape[0])
