"""Packing of ternary weights: exact round trips, the documented byte layout, byte counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.errors import TersimError, WorkloadError
from tersim.functional.packing import (
    ARENA_ALIGN_BYTES,
    PANEL_N,
    PackedArena,
    PackedTernary,
    from_panels,
    host_nbytes,
    pack_ternary,
    packed_nbytes,
    to_panels,
    unpack_ternary,
)

BPWS = [2, 1.6]


def random_trits(rng: np.random.Generator, k: int, n: int, zero_fraction: float) -> np.ndarray:
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, n))
    return np.where(rng.random((k, n)) < zero_fraction, 0, signs).astype(np.int8)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    k=st.integers(0, 41),
    n=st.integers(0, 9),
    zero_fraction=st.sampled_from([0.0, 0.3, 1.0]),
    bpw=st.sampled_from(BPWS),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_any_shape(k, n, zero_fraction, bpw, seed):
    trits = random_trits(np.random.default_rng(seed), k, n, zero_fraction)
    packed = pack_ternary(trits, bpw)
    out = unpack_ternary(packed)
    assert out.dtype == np.int8
    assert out.shape == (k, n)
    np.testing.assert_array_equal(out, trits)
    tpe, tpb = (8, 4) if bpw == 2 else (5, 5)
    assert packed.matrix().shape == (-(-k // tpe), n)
    assert packed.nbytes == packed.data.nbytes == n * (-(-k // tpe)) * (2 if bpw == 2 else 1)
    assert packed_nbytes((k, n), bpw) == n * (-(-k // tpb))
    assert packed.plus_count == int(np.sum(trits == 1))
    assert packed.minus_count == int(np.sum(trits == -1))
    assert packed.zero_count == int(np.sum(trits == 0))


def test_layout_2bit_hand_packed():
    # Inputs k = 0..4 of column 0: +1, -1, 0, +1, -1, then three padding zeros; column 1 zeros.
    trits = np.array([[1, 0], [-1, 0], [0, 0], [1, 0], [-1, 0]], dtype=np.int8)
    packed = pack_ternary(trits, 2)
    # digits (trit + 1): 2, 0, 1, 2, 0, 1, 1, 1 at bits 0, 2, ..., 14:
    # 2 + (1 << 4) + (2 << 6) + (1 << 10) + (1 << 12) + (1 << 14) = 21650; all zeros 0x5555.
    np.testing.assert_array_equal(packed.data, np.array([21650, 0x5555], dtype=np.uint16))
    trits9 = np.vstack([trits, np.ones((4, 2), np.int8)])  # nine inputs: two words per column
    words = pack_ternary(trits9, 2).matrix()
    assert words[:, 0].tolist() == [2 + 16 + 128 + (2 << 10) + (2 << 12) + (2 << 14), 2 | 0x5554]


def test_panel_layout():
    """Outputs are stored in panels of PANEL_N columns, each a contiguous (rows, width) block."""
    rng = np.random.default_rng(3)
    n = 2 * PANEL_N + 37
    trits = random_trits(rng, 20, n, 0.3)
    packed = pack_ternary(trits, 2)
    plain = pack_ternary(trits[:, :1], 2).matrix()  # column 0 on its own
    words = packed.matrix()  # (3, n)
    np.testing.assert_array_equal(words[:, :1], plain)
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        block = packed.data[3 * p0 : 3 * (p0 + w)].reshape(3, w)
        np.testing.assert_array_equal(block, words[:, p0 : p0 + w])
        np.testing.assert_array_equal(block, pack_ternary(trits[:, p0 : p0 + w], 2).matrix())
    np.testing.assert_array_equal(from_panels(to_panels(words), 3, n), words)


def test_layout_base3_hand_packed():
    trits = np.array([[1, 0], [-1, 0], [0, 0], [1, 0], [-1, -1], [1, 0]], dtype=np.int8)
    packed = pack_ternary(trits, 1.6)
    # digits are trit + 1. Column 0: 2, 0, 1, 2, 0 -> 2 + 0*3 + 1*9 + 2*27 + 0*81 = 65; then
    # digit 2 and four padding zeros (digit 1) -> 2 + 3 + 9 + 27 + 81 = 122.
    # Column 1: 1, 1, 1, 1, 0 -> 1 + 3 + 9 + 27 = 40; then 1 + padding -> 121 (all zero).
    np.testing.assert_array_equal(packed.matrix(), np.array([[65, 40], [122, 121]], dtype=np.uint8))
    np.testing.assert_array_equal(packed.data, np.array([65, 40, 122, 121], dtype=np.uint8))


def test_base3_extreme_bytes():
    assert np.all(pack_ternary(-np.ones((5, 3), dtype=np.int8), 1.6).data == 0)
    assert np.all(pack_ternary(np.ones((5, 3), dtype=np.int8), 1.6).data == 242)
    assert np.all(pack_ternary(np.zeros((5, 3), dtype=np.int8), 1.6).data == 121)


def test_nbytes_hand_computed():
    assert packed_nbytes((4096, 4096), 2) == 4096 * 1024 == 4_194_304
    assert packed_nbytes((4096, 4096), 1.6) == 4096 * 820 == 3_358_720
    assert packed_nbytes((4096, 11008), 2) == 11008 * 1024
    assert packed_nbytes((10, 3), 2) == 9
    assert packed_nbytes((10, 3), 1.6) == 6


def test_packed_is_read_only():
    packed = pack_ternary(np.ones((4, 4), dtype=np.int8))
    with pytest.raises(ValueError):
        packed.data[0, 0] = 0


@pytest.mark.parametrize("bad", [3, 1.58, "2", None, True, 0])
def test_bad_bits_per_weight_names_parameter(bad):
    with pytest.raises(WorkloadError, match="bits_per_weight"):
        pack_ternary(np.zeros((4, 4), dtype=np.int8), bad)


@pytest.mark.parametrize(
    "trits",
    [
        np.array([[2, 0]], dtype=np.int8),
        np.array([[-2]], dtype=np.int64),
        np.zeros(4, dtype=np.int8),
        np.zeros((2, 2), dtype=np.float32),
    ],
)
def test_bad_trits_names_parameter(trits):
    with pytest.raises(TersimError, match="trits"):
        pack_ternary(trits)


def test_unpack_rejects_unused_2bit_code():
    good = pack_ternary(np.zeros((4, 1), dtype=np.int8), 2)
    bad = PackedTernary(
        data=np.array([0x5557], dtype=np.uint16),
        shape=(4, 1),
        bits_per_weight=2,
        plus_count=0,
        minus_count=0,
    )
    assert unpack_ternary(good).shape == (4, 1)
    with pytest.raises(WorkloadError, match="0b11"):
        unpack_ternary(bad)


def test_unpack_rejects_base3_byte_above_242():
    bad = PackedTernary(
        data=np.array([243], dtype=np.uint8),
        shape=(5, 1),
        bits_per_weight=1.6,
        plus_count=0,
        minus_count=0,
    )
    with pytest.raises(WorkloadError, match="242"):
        unpack_ternary(bad)


def test_constructor_checks_shape_and_counts():
    with pytest.raises(WorkloadError, match="data"):
        PackedTernary(
            data=np.zeros(6, dtype=np.uint16),
            shape=(4, 3),
            bits_per_weight=2,
            plus_count=0,
            minus_count=0,
        )
    with pytest.raises(WorkloadError, match="uint16"):
        PackedTernary(
            data=np.zeros(3, dtype=np.uint8),
            shape=(4, 3),
            bits_per_weight=2,
            plus_count=0,
            minus_count=0,
        )
    with pytest.raises(WorkloadError, match="plus_count"):
        PackedTernary(
            data=np.zeros(3, dtype=np.uint16),
            shape=(4, 3),
            bits_per_weight=2,
            plus_count=10,
            minus_count=5,
        )


def test_arena_places_copies_back_to_back_aligned():
    rng = np.random.default_rng(3)
    mats = [pack_ternary(random_trits(rng, k, n, 0.3), bpw) for k, n, bpw in
            [(17, 5, 2), (9, 3, 1.6), (40, 70, 2), (1, 1, 2)]]  # fmt: skip
    sizes = [m.nbytes for m in mats]
    assert [host_nbytes(m.shape, m.bits_per_weight) for m in mats] == sizes
    arena = PackedArena(PackedArena.nbytes_for(sizes))
    placed = [arena.place(m) for m in mats]
    addresses = [p.data.ctypes.data for p in placed]
    for m, p, a in zip(mats, placed, addresses, strict=True):
        assert a % ARENA_ALIGN_BYTES == 0
        assert not p.data.flags.writeable
        np.testing.assert_array_equal(p.data, m.data)
        np.testing.assert_array_equal(unpack_ternary(p), unpack_ternary(m))
        assert (p.shape, p.plus_count, p.minus_count) == (m.shape, m.plus_count, m.minus_count)
    # back to back: each starts at the previous one's end rounded up to the alignment
    for a0, a1, size in zip(addresses, addresses[1:], sizes, strict=False):
        assert a1 - a0 == -(-size // ARENA_ALIGN_BYTES) * ARENA_ALIGN_BYTES
    with pytest.raises(WorkloadError, match="do not fit"):
        arena.place(mats[0])
