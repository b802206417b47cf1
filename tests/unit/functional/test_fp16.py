"""float16 tables in Numba: every finite half widens exactly; the LM head equals a float64 one."""

from __future__ import annotations

import numpy as np

from tersim.functional.fp16 import double_to_half, half_to_float, lm_head_f16


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


def test_narrowing_rounds_as_numpy() -> None:
    """Every half, every midpoint between neighbours and its two float64 neighbours, wide random
    values, overflow and underflow edges: the bits NumPy's ``astype(np.float16)`` gives."""
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = np.unique(halves[np.isfinite(halves)].astype(np.float64))
    mids = (finite[:-1] + finite[1:]) / 2
    rng = np.random.default_rng(0)
    wide = rng.standard_normal(200_000) * np.exp(rng.uniform(-25, 12, 200_000))
    edges = [65504.0, 65519.99, 65520.0, 1e6, -1e6, np.inf, -np.inf, 2.0**-25, 2.0**-26, 5e-324]
    x = np.concatenate(
        [finite, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), wide, edges]
    )
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(double_to_half(x).view(np.uint16), want)
    assert double_to_half(np.array([np.nan]))[0] != double_to_half(np.array([np.nan]))[0]
