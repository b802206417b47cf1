"""Packed storage of ternary weights: 2 bits per weight, or 5 trits per byte (1.6 bits per weight).

Weight convention (the whole ``tersim.functional`` package): a weight matrix has shape ``(K, N)``,
``K`` input features by ``N`` output features, so a layer computes ``y = x @ w`` with ``x`` of
shape ``(M, K)``.

Layout
------
Both packings group the ``K`` trits of each output column ``n`` into groups of ``t`` consecutive
inputs (``t = 4`` for 2 bits, ``t = 5`` for 1.6 bits). The packed array has shape
``(ceil(K / t), N)``: byte ``data[g, n]`` holds the trits ``w[t*g : t*g + t, n]``. One row of
``data`` therefore holds one group of inputs for *all* outputs, contiguous along ``N``, which is
what lets the GEMV kernel work on many outputs at once in SIMD lanes (see ``kernels.py``).
Trits past ``K`` in the last group are padding and are the trit 0.

- 2 bits per weight: each trit ``w`` becomes a 2-bit code ``c`` (``0 -> 0b00``, ``+1 -> 0b01``,
  ``-1 -> 0b10``) and ``data[g, n] = sum_j c_j << (2 j)``, ``j = 0..3``: the trit for input
  ``4 g + j`` sits in bits ``2j`` (set for +1) and ``2j + 1`` (set for -1). The code ``0b11`` is
  never produced and is rejected by :func:`unpack_ternary`.
- 1.6 bits per weight (base 3): each trit becomes the digit ``d = w + 1`` (``-1 -> 0``,
  ``0 -> 1``, ``+1 -> 2``) and ``data[g, n] = sum_j d_j * 3**j``, ``j = 0..4`` (least
  significant digit = input ``5 g``), a byte from 0 to ``3**5 - 1 = 242``. Equivalently
  ``data[g, n] - 121 = sum_j w_j * 3**j`` is the group's balanced-ternary value, which the kernel
  decodes with compares and additions only (all-zero trits give the byte 121).

Operation counts (how many weights are +1, -1 and 0) are taken once, at pack time, so that the
kernels never have to count in their inner loops.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from tersim.errors import WorkloadError

#: Supported packings: bits per weight -> trits per byte.
TRITS_PER_BYTE: dict[float, int] = {2.0: 4, 1.6: 5}

# Place values of the digits in one packed byte, by packing.
_PLACE_VALUES: dict[float, np.ndarray] = {
    2.0: np.array([1, 4, 16, 64], dtype=np.int64),
    1.6: np.array([1, 3, 9, 27, 81], dtype=np.int64),
}


def _check_bits_per_weight(bits_per_weight: float) -> float:
    """Return ``bits_per_weight`` as one of the keys of :data:`TRITS_PER_BYTE`, or raise."""
    if isinstance(bits_per_weight, numbers.Real) and not isinstance(bits_per_weight, bool):
        for supported in TRITS_PER_BYTE:
            if float(bits_per_weight) == supported:
                return supported
    raise WorkloadError(
        f"bits_per_weight: must be 2 (4 trits per byte) or 1.6 (5 trits per byte); "
        f"got {bits_per_weight!r}"
    )


def packed_nbytes(shape: tuple[int, int], bits_per_weight: float = 2.0) -> int:
    """Bytes taken by a ``(K, N)`` ternary matrix packed with ``bits_per_weight``.

    Each output column is padded to whole bytes: ``N * ceil(K / trits_per_byte)``.
    """
    bpw = _check_bits_per_weight(bits_per_weight)
    k, n = shape
    tpb = TRITS_PER_BYTE[bpw]
    return n * (-(-k // tpb))


@dataclass(frozen=True)
class PackedTernary:
    """A ``(K, N)`` ternary weight matrix packed into bytes (layout in the module docstring).

    Attributes:
        data: uint8 array of shape ``(ceil(K / trits_per_byte), N)``, read-only.
        shape: ``(K, N)`` of the unpacked matrix.
        bits_per_weight: 2.0 (4 trits per byte) or 1.6 (5 trits per byte).
        plus_count: number of weights equal to +1.
        minus_count: number of weights equal to -1.
    """

    data: np.ndarray
    shape: tuple[int, int]
    bits_per_weight: float
    plus_count: int
    minus_count: int

    def __post_init__(self) -> None:
        bpw = _check_bits_per_weight(self.bits_per_weight)
        if not isinstance(self.data, np.ndarray) or self.data.dtype != np.uint8:
            raise WorkloadError("data: must be a uint8 numpy array")
        k, n = self.shape
        groups = -(-k // TRITS_PER_BYTE[bpw])
        if self.data.shape != (groups, n):
            raise WorkloadError(
                f"data: shape {self.data.shape} does not match shape={self.shape} at "
                f"{bpw} bits per weight (expected {(groups, n)})"
            )
        if min(self.plus_count, self.minus_count) < 0 or (
            self.plus_count + self.minus_count > k * n
        ):
            raise WorkloadError(
                f"plus_count, minus_count: {self.plus_count}, {self.minus_count} are not "
                f"possible counts for {k * n} weights"
            )

    @property
    def trits_per_byte(self) -> int:
        """4 for 2-bit packing, 5 for 1.6-bit packing."""
        return TRITS_PER_BYTE[self.bits_per_weight]

    @property
    def nbytes(self) -> int:
        """Bytes of packed weight data (excludes scales)."""
        return int(self.data.nbytes)

    @property
    def zero_count(self) -> int:
        """Number of weights equal to 0."""
        return self.shape[0] * self.shape[1] - self.plus_count - self.minus_count

    @property
    def zero_fraction(self) -> float:
        """Fraction of weights equal to 0 (0.0 for an empty matrix)."""
        total = self.shape[0] * self.shape[1]
        return self.zero_count / total if total else 0.0


def pack_ternary(trits: np.ndarray, bits_per_weight: float = 2.0) -> PackedTernary:
    """Pack a ``(K, N)`` matrix of trits in {-1, 0, +1} (any integer dtype).

    Args:
        trits: 2-D integer array, ``K`` inputs by ``N`` outputs.
        bits_per_weight: 2 (4 trits per byte) or 1.6 (5 trits per byte, base 3).

    Raises:
        WorkloadError: ``trits`` is not a 2-D integer array of -1, 0 and +1, or
            ``bits_per_weight`` is not supported.
    """
    bpw = _check_bits_per_weight(bits_per_weight)
    t = np.asarray(trits)
    if t.ndim != 2:
        raise WorkloadError(f"trits: must be a 2-D (K, N) array; got {t.ndim} dimensions")
    if not np.issubdtype(t.dtype, np.integer):
        raise WorkloadError(f"trits: must have an integer dtype; got {t.dtype}")
    if t.size and (t.min() < -1 or t.max() > 1):
        raise WorkloadError(
            f"trits: values must be -1, 0 or +1; found values in [{t.min()}, {t.max()}]"
        )
    k, n = t.shape
    tpb = TRITS_PER_BYTE[bpw]
    groups = -(-k // tpb)
    if bpw == 2.0:
        digits = np.zeros((groups * tpb, n), dtype=np.int64)  # padding: code 0 (trit 0)
        digits[:k] = np.where(t < 0, 2, t)  # +1 -> 0b01, -1 -> 0b10, 0 -> 0b00
    else:
        digits = np.ones((groups * tpb, n), dtype=np.int64)  # padding: digit 1 (trit 0)
        digits[:k] = t.astype(np.int64) + 1  # -1 -> 0, 0 -> 1, +1 -> 2
    # (groups, tpb, N) digits weighted by their place values, summed over the group.
    packed = np.einsum("gjn,j->gn", digits.reshape(groups, tpb, n), _PLACE_VALUES[bpw])
    data = packed.astype(np.uint8)
    data.flags.writeable = False
    return PackedTernary(
        data=data,
        shape=(k, n),
        bits_per_weight=bpw,
        plus_count=int(np.count_nonzero(t == 1)),
        minus_count=int(np.count_nonzero(t == -1)),
    )


def unpack_ternary(packed: PackedTernary) -> np.ndarray:
    """Inverse of :func:`pack_ternary`: the ``(K, N)`` int8 trit matrix.

    Raises:
        WorkloadError: the packed data holds a byte no packing produces (2-bit code ``0b11``,
            or a base-3 byte above 242).
    """
    bpw = packed.bits_per_weight
    tpb = packed.trits_per_byte
    k, n = packed.shape
    data = packed.data.astype(np.int64)
    if bpw == 2.0:
        codes = (data[:, None, :] >> (2 * np.arange(tpb))[None, :, None]) & 3
        if np.any(codes == 3):
            raise WorkloadError("packed.data: contains the unused 2-bit code 0b11")
        trits = np.where(codes == 2, -1, codes).astype(np.int8)  # (groups, tpb, N)
    else:
        if data.size and data.max() > 242:
            raise WorkloadError(
                f"packed.data: base-3 bytes must be at most 242; found {data.max()}"
            )
        digits = (data[:, None, :] // _PLACE_VALUES[bpw][None, :, None]) % 3
        trits = (digits - 1).astype(np.int8)  # (groups, tpb, N)
    return trits.reshape(data.shape[0] * tpb, n)[:k]
