"""Packed storage of ternary weights: 2 bits per weight, or 5 trits per byte (1.6 bits per weight).

Weight convention (the whole ``tersim.functional`` package): a weight matrix has shape ``(K, N)``,
``K`` input features by ``N`` output features, so a layer computes ``y = x @ w`` with ``x`` of
shape ``(M, K)``.

Layout
------
Both packings group the ``K`` trits of each output column ``n`` into groups of ``t`` consecutive
inputs and store each trit as a digit ``d = w + 1`` (``-1 -> 0``, ``0 -> 1``, ``+1 -> 2``), the
offset code the Hugging Face BitNet packing also uses (``transformers/integrations/bitnet.py``,
``pack_weights``: "values in {-1, 0, 1} ... adjusted to {0, 1, 2}"). One row of ``data`` holds one
group of inputs for many outputs, contiguous along ``N``, which is what lets the kernels work on
many outputs at once in SIMD lanes (see ``kernels.py``). Trits past ``K`` in the last group are
padding and are the trit 0 (digit 1).

Outputs are stored in **panels** of :data:`PANEL_N` = 1024 (the last one narrower): the words of
panel ``p`` (outputs ``p * 1024 .. min(N, (p + 1) * 1024)``) form one C-contiguous
``(rows, width)`` block, and the blocks follow each other in the 1-D array ``data``. A kernel that
works on a panel, or on a part of one, therefore streams contiguous memory; on the plain
``(rows, N)`` layout a tile of outputs is a strided walk across pages, which measured up to 1.7x
slower (``benchmarks/bench_gemv.py`` history). :meth:`PackedTernary.matrix` returns the plain
``(rows, N)`` view of the words (a copy).

- 2 bits per weight: ``t = 8`` inputs per **16-bit word**, uint16 words; the word of group
  ``g`` and output ``n`` is ``sum_j d_j << (2 j)``, ``j = 0..7``: the digit of input
  ``8 g + j`` sits in bits ``2j`` and ``2j + 1``. The code ``0b11`` is never produced and is
  rejected by :func:`unpack_ternary`. (A word rather than a byte: one 16-bit SIMD lane then
  holds eight weights of one output, see ``kernels.py``.)
- 1.6 bits per weight (base 3): ``t = 5`` inputs per byte, uint8; the byte of group ``g`` and
  output ``n`` is ``sum_j d_j * 3**j``, ``j = 0..4`` (least significant
  digit = input ``5 g``), a byte from 0 to ``3**5 - 1 = 242`` (all-zero trits give 121).

Sizes: :func:`packed_nbytes` is the size of the *format*, ``N * ceil(K / trits_per_byte)`` bytes
(2 bits per weight, 4 trits per byte; or 5 trits per byte), which is what a design stores and
what the footprint counts. :attr:`PackedTernary.nbytes` is the host buffer, which for 2-bit
packing pads ``K`` to a multiple of 8 instead of 4 (the same bytes whenever ``K % 8`` is 0 or at
least 5).

Operation counts (how many weights are +1, -1 and 0) are taken once, at pack time, so that the
kernels never have to count in their inner loops.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numba
import numpy as np

from tersim.errors import WorkloadError

#: Supported packings: bits per weight -> trits per byte (the format's unit of storage).
TRITS_PER_BYTE: dict[float, int] = {2.0: 4, 1.6: 5}
#: Trits per element of the host array ``PackedTernary.data``, by packing.
TRITS_PER_ELEMENT: dict[float, int] = {2.0: 8, 1.6: 5}
#: dtype of ``PackedTernary.data``, by packing.
ELEMENT_DTYPE: dict[float, type] = {2.0: np.uint16, 1.6: np.uint8}
#: Outputs per panel of the layout (module docstring).
PANEL_N = 1024

# Place values of the base-3 digits in one packed byte.
_BASE3_PLACES = np.array([1, 3, 9, 27, 81], dtype=np.int64)


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
    """Bytes of the format: a ``(K, N)`` ternary matrix at ``bits_per_weight``.

    Each output column is padded to whole bytes: ``N * ceil(K / trits_per_byte)``.
    """
    bpw = _check_bits_per_weight(bits_per_weight)
    k, n = shape
    tpb = TRITS_PER_BYTE[bpw]
    return n * (-(-k // tpb))


def host_nbytes(shape: tuple[int, int], bits_per_weight: float = 2.0) -> int:
    """Bytes of :attr:`PackedTernary.data` for a ``(K, N)`` matrix: ``ceil(K / t) * N``
    elements of ``t`` trits (:data:`TRITS_PER_ELEMENT`; see the module docstring's sizes)."""
    bpw = _check_bits_per_weight(bits_per_weight)
    k, n = shape
    return -(-k // TRITS_PER_ELEMENT[bpw]) * n * np.dtype(ELEMENT_DTYPE[bpw]).itemsize


def to_panels(words: np.ndarray) -> np.ndarray:
    """The panel layout (module docstring) of a plain ``(rows, N)`` array, as a 1-D array."""
    rows, n = words.shape
    out = np.empty(rows * n, dtype=words.dtype)
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        out[rows * p0 : rows * (p0 + w)] = words[:, p0 : p0 + w].ravel()
    return out


def from_panels(data: np.ndarray, rows: int, n: int) -> np.ndarray:
    """The plain ``(rows, N)`` array of a 1-D panel-layout array (inverse of :func:`to_panels`)."""
    out = np.empty((rows, n), dtype=data.dtype)
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        out[:, p0 : p0 + w] = data[rows * p0 : rows * (p0 + w)].reshape(rows, w)
    return out


@dataclass(frozen=True)
class PackedTernary:
    """A ``(K, N)`` ternary weight matrix packed for the kernels (layout in the module docstring).

    Attributes:
        data: 1-D uint16 (2-bit) or uint8 (1.6-bit) array of ``rows * N`` elements in panel
            layout, ``rows = ceil(K / trits_per_element)``; read-only.
        shape: ``(K, N)`` of the unpacked matrix.
        bits_per_weight: 2.0 or 1.6.
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
        dtype = ELEMENT_DTYPE[bpw]
        if not isinstance(self.data, np.ndarray) or self.data.dtype != dtype:
            raise WorkloadError(
                f"data: must be a {np.dtype(dtype).name} numpy array at {bpw} bits per weight"
            )
        k, n = self.shape
        size = self.rows * n
        if self.data.shape != (size,):
            raise WorkloadError(
                f"data: shape {self.data.shape} does not match shape={self.shape} at "
                f"{bpw} bits per weight (expected {(size,)})"
            )
        if min(self.plus_count, self.minus_count) < 0 or (
            self.plus_count + self.minus_count > k * n
        ):
            raise WorkloadError(
                f"plus_count, minus_count: {self.plus_count}, {self.minus_count} are not "
                f"possible counts for {k * n} weights"
            )

    @property
    def trits_per_element(self) -> int:
        """Trits per element of ``data``: 8 (2-bit, uint16) or 5 (1.6-bit, uint8)."""
        return TRITS_PER_ELEMENT[self.bits_per_weight]

    @property
    def rows(self) -> int:
        """Input groups: ``ceil(K / trits_per_element)``."""
        return -(-self.shape[0] // self.trits_per_element)

    def matrix(self) -> np.ndarray:
        """The words (or bytes) as a plain ``(rows, N)`` array: element ``[g, n]`` holds inputs
        ``g * trits_per_element ..`` of output ``n`` (a copy)."""
        return from_panels(self.data, self.rows, self.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the host buffer ``data`` (excludes scales; see the module docstring)."""
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


@numba.njit(cache=True, nogil=True)
def _pack_words(t, out):  # pragma: no cover - compiled
    """Pack int8 trits ``t`` (K, N) into uint16 words in panel layout (1-D ``out``); returns
    (plus, minus). Word of group g, output n: ``sum_j (t[8g + j, n] + 1) << 2j``, padding digit 1.
    """
    k, n = t.shape
    rows = (k + 7) // 8
    plus = 0
    minus = 0
    for p0 in range(0, n, PANEL_N):
        w = min(PANEL_N, n - p0)
        block = out[rows * p0 : rows * (p0 + w)].reshape((rows, w))
        for g in range(rows):
            word = block[g]
            word[:] = 0
            for j in range(8):
                shift = 2 * j
                if 8 * g + j >= k:  # padding: digit 1 (trit 0)
                    pad = np.uint16(1 << shift)
                    for i in range(w):
                        word[i] |= pad
                    continue
                row = t[8 * g + j, p0 : p0 + w]
                for i in range(w):
                    v = row[i]
                    plus += v == 1
                    minus += v == -1
                    word[i] |= np.uint16((v + 1) << shift)
    return plus, minus


def _check_trits(trits: np.ndarray) -> np.ndarray:
    t = np.asarray(trits)
    if t.ndim != 2:
        raise WorkloadError(f"trits: must be a 2-D (K, N) array; got {t.ndim} dimensions")
    if not np.issubdtype(t.dtype, np.integer):
        raise WorkloadError(f"trits: must have an integer dtype; got {t.dtype}")
    if t.size and (t.min() < -1 or t.max() > 1):
        raise WorkloadError(
            f"trits: values must be -1, 0 or +1; found values in [{t.min()}, {t.max()}]"
        )
    return t


def pack_ternary(trits: np.ndarray, bits_per_weight: float = 2.0) -> PackedTernary:
    """Pack a ``(K, N)`` matrix of trits in {-1, 0, +1} (any integer dtype).

    Args:
        trits: 2-D integer array, ``K`` inputs by ``N`` outputs.
        bits_per_weight: 2 (8 trits per 16-bit word) or 1.6 (5 trits per byte, base 3).

    Raises:
        WorkloadError: ``trits`` is not a 2-D integer array of -1, 0 and +1, or
            ``bits_per_weight`` is not supported.
    """
    bpw = _check_bits_per_weight(bits_per_weight)
    t = _check_trits(trits)
    k, n = t.shape
    tpe = TRITS_PER_ELEMENT[bpw]
    rows = -(-k // tpe)
    if bpw == 2.0:
        data = np.empty(rows * n, dtype=np.uint16)
        plus, minus = _pack_words(np.ascontiguousarray(t, dtype=np.int8), data)
    else:
        digits = np.ones((rows * tpe, n), dtype=np.int64)  # padding: digit 1 (trit 0)
        digits[:k] = t.astype(np.int64) + 1  # -1 -> 0, 0 -> 1, +1 -> 2
        # (rows, 5, N) digits weighted by their place values, summed over the group.
        plain = np.einsum("gjn,j->gn", digits.reshape(rows, tpe, n), _BASE3_PLACES)
        data = to_panels(plain.astype(np.uint8))
        plus, minus = int(np.count_nonzero(t == 1)), int(np.count_nonzero(t == -1))
    data.flags.writeable = False
    return PackedTernary(
        data=data, shape=(k, n), bits_per_weight=bpw, plus_count=int(plus), minus_count=int(minus)
    )


def unpack_ternary(packed: PackedTernary) -> np.ndarray:
    """Inverse of :func:`pack_ternary`: the ``(K, N)`` int8 trit matrix.

    Raises:
        WorkloadError: the packed data holds a code no packing produces (2-bit code ``0b11``,
            or a base-3 byte above 242).
    """
    tpe = packed.trits_per_element
    k, n = packed.shape
    data = packed.matrix().astype(np.int64)  # (rows, N)
    if packed.bits_per_weight == 2.0:
        digits = (data[:, None, :] >> (2 * np.arange(tpe))[None, :, None]) & 3
        if np.any(digits == 3):
            raise WorkloadError("packed.data: contains the unused 2-bit code 0b11")
    else:
        if data.size and data.max() > 242:
            raise WorkloadError(
                f"packed.data: base-3 bytes must be at most 242; found {data.max()}"
            )
        digits = (data[:, None, :] // _BASE3_PLACES[None, :, None]) % 3
    trits = (digits - 1).astype(np.int8)  # (rows, tpe, N)
    return trits.reshape(data.shape[0] * tpe, n)[:k]


#: Matrices in a :class:`PackedArena` start at multiples of this many bytes (a cache line).
ARENA_ALIGN_BYTES = 64


class PackedArena:
    """One host buffer for the packed matrices of a model, back to back in the order they are
    placed (which should be the order a decode step reads them).

    Why: a decode step streams every packed weight once, from DRAM. Each matrix in its own
    allocation measured 2.2x slower than the same matrices read from one buffer: the 168 GEMVs
    of a BitNet b1.58 700M step took 28.9 ms (5.9 GB/s) against 13.2 ms (12.9 GB/s) in one
    buffer and 12.3 ms (13.9 GB/s) with the buffer on transparent huge pages, best of 15 with
    the caches flushed, one thread, the 2-core machine of ``benchmarks/`` (separate arrays of
    0.5 to 1.5 MiB sit on scattered 4 KiB pages; a single buffer is one stream the hardware
    prefetcher follows from one matrix into the next). The buffer is one NumPy allocation of
    ``nbytes`` (NumPy asks Linux for huge pages for allocations of 4 MiB and more).

    Raises:
        WorkloadError: a placed matrix does not fit in what is left of the buffer.
    """

    def __init__(self, nbytes: int) -> None:
        self._buf = np.empty(max(0, nbytes) + ARENA_ALIGN_BYTES, dtype=np.uint8)
        self._offset = -self._buf.ctypes.data % ARENA_ALIGN_BYTES
        self._end = self._offset + max(0, nbytes)

    @staticmethod
    def nbytes_for(sizes: list[int]) -> int:
        """Bytes of an arena for matrices of ``sizes`` bytes (each rounded up to the alignment)."""
        a = ARENA_ALIGN_BYTES
        return sum(-(-s // a) * a for s in sizes)

    def place(self, packed: PackedTernary) -> PackedTernary:
        """``packed`` with its data copied into the next free bytes of the buffer (read-only)."""
        size = packed.nbytes
        end = self._offset + size
        if end > self._end:
            raise WorkloadError(
                f"packed: {size} bytes do not fit in the {self._end - self._offset} bytes "
                "left of the arena (size it with PackedArena.nbytes_for)"
            )
        dst = self._buf[self._offset : end].view(packed.data.dtype)
        dst[:] = packed.data
        dst.flags.writeable = False
        self._offset += -(-size // ARENA_ALIGN_BYTES) * ARENA_ALIGN_BYTES
        return PackedTernary(
            dst, packed.shape, packed.bits_per_weight, packed.plus_count, packed.minus_count
        )
