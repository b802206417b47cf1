"""Quantizers for weights and activations, each reporting the bytes its format takes to store.

Conventions
-----------
- A weight matrix ``w`` has shape ``(K, N)``: ``K`` input features (rows) by ``N`` output
  features (columns), so a layer computes ``y = x @ w`` for activations ``x`` of shape
  ``(M, K)``. This is the transpose of PyTorch's ``nn.Linear.weight`` (``(N, K)``).
- Scale granularity (:class:`~tersim.config.enums.ScaleGranularity`) refers to that ``(K, N)``
  matrix:

  * ``TENSOR``: one scale, shape ``(1, 1)``.
  * ``ROW``: one scale per input feature ``k`` (a row of ``w``), shape ``(K, 1)``.
  * ``COLUMN``: one scale per output feature ``n`` (a column of ``w``; a row of PyTorch's
    weight), shape ``(1, N)``. This is the usual "per output channel" scale, and the only
    non-tensor one that can be applied after an integer matmul (``y[:, n] * s[n]``).
  * ``GROUP``: one scale per group of ``group_size`` consecutive inputs within each column,
    shape ``(ceil(K / group_size), N)``; the last group may be shorter. Use ``expanded_scale()``
    to get a ``(K, N)`` array.

- Rounding is NumPy's ``rint`` (round half to even), as ``torch.round``. Arithmetic is in
  float64; stored scales are float32.
- Storage bytes count the packed payload and the scales as stored (float32 scales, 4 bytes
  each, unless a format says otherwise).

Numerics (BitNet b1.58, arXiv 2402.17764; QLoRA, arXiv 2305.14314):

- ternary: ``gamma = mean(|W|)`` over the scale's elements, ``W~ = clip(rint(W / (gamma + eps)),
  -1, 1)`` with ``eps = 1e-5`` (:data:`EPS`), dequantized as ``W~ * gamma``. (The HF reference code
  divides by ``max(gamma, 1e-5)`` instead of ``gamma + 1e-5``; for ``gamma >= 1e-5`` the divisors
  differ by 1e-5, which changes a trit only when ``|W| / gamma`` lies within about
  ``0.5e-5 / gamma`` of the rounding threshold 0.5.)
- binary: ``sign(W)`` with ``sign(0) = +1``, scale ``mean(|W|)``.
- activations, per token: ``x~ = clip(rint(x * Q / max|x|), -Q-1, Q)``, ``Q = 2**(b-1) - 1``.
- int8 weights: ``clip(rint(W * 127 / max|W|), -127, 127)``.
- NF4 / FP4: blocks of 64 weights, one absmax per block, each weight rounded to the nearest
  code of a 16-value codebook scaled by the block's absmax; optional double quantization of the
  absmax values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from tersim.config.enums import ScaleGranularity, WeightFormat
from tersim.errors import WorkloadError
from tersim.functional.packing import packed_nbytes

#: Added to the absmean before dividing, so an all-zero weight matrix quantizes to zeros.
EPS = 1e-5

#: Bytes of one stored float32 scale.
SCALE_BYTES = 4

#: NF4 codebook: the exact values listed in QLoRA (arXiv 2305.14314) and shipped by bitsandbytes,
#: sorted. The tests re-derive them from normal quantiles (``create_normal_map``).
#: Code ``i`` dequantizes to ``NF4_CODEBOOK[i] * absmax``. 0 and +-1 are exact.
NF4_CODEBOOK = np.array(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ],
    dtype=np.float32,
)

#: FP4 E2M1 values (OCP Microscaling spec): code ``s eem`` -> ``(-1)**s * value``. Codes 0-7 are
#: +0, 0.5, 1, 1.5, 2, 3, 4, 6; codes 8-15 their negatives (code 8 is -0). A block is scaled so
#: that its absmax maps to 6, the largest magnitude.
FP4_E2M1_CODEBOOK = np.array(
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0],
    dtype=np.float32,
)

#: Largest magnitude of FP4 E2M1.
FP4_E2M1_MAX = 6.0


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _as_weight_matrix(w: np.ndarray, name: str = "w") -> np.ndarray:
    """``w`` as a finite float64 ``(K, N)`` array, or raise naming the parameter."""
    a = np.asarray(w)
    if a.ndim != 2:
        raise WorkloadError(f"{name}: must be a 2-D (K, N) weight matrix; got {a.ndim} dimensions")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise WorkloadError(f"{name}: must be a real numeric array; got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise WorkloadError(f"{name}: contains NaN or infinite values")
    return a


def _check_granularity(granularity: ScaleGranularity, group_size: int | None) -> ScaleGranularity:
    """``granularity`` as the enum, checked against ``group_size``, or raise naming either."""
    try:
        gran = ScaleGranularity(granularity)
    except ValueError:
        raise WorkloadError(
            f"granularity: must be one of {[g.value for g in ScaleGranularity]}; "
            f"got {granularity!r}"
        ) from None
    if gran is ScaleGranularity.GROUP:
        if not isinstance(group_size, int | np.integer) or group_size < 1:
            raise WorkloadError(
                f"group_size: granularity 'group' needs a positive integer group size; "
                f"got {group_size!r}"
            )
    elif group_size is not None:
        raise WorkloadError(
            f"group_size: only used with granularity 'group'; got {group_size!r} with "
            f"granularity {gran.value!r}"
        )
    return gran


def _reduce(
    absw: np.ndarray, gran: ScaleGranularity, group_size: int | None, op: str
) -> np.ndarray:
    """Mean (``op='mean'``) or max (``op='max'``) of ``absw`` (K, N) in compact scale shape."""
    k, n = absw.shape
    if absw.size == 0:
        shapes = {
            ScaleGranularity.TENSOR: (1, 1),
            ScaleGranularity.ROW: (k, 1),
            ScaleGranularity.COLUMN: (1, n),
            ScaleGranularity.GROUP: (-(-k // (group_size or 1)), n),
        }
        return np.zeros(shapes[gran], dtype=np.float64)
    if gran is ScaleGranularity.GROUP:
        assert group_size is not None
        starts = np.arange(0, k, group_size)
        if op == "max":
            return np.maximum.reduceat(absw, starts, axis=0)
        sizes = np.diff(np.append(starts, k)).astype(np.float64)
        return np.add.reduceat(absw, starts, axis=0) / sizes[:, None]
    axis = {
        ScaleGranularity.TENSOR: None,
        ScaleGranularity.ROW: 1,
        ScaleGranularity.COLUMN: 0,
    }[gran]
    reducer = np.max if op == "max" else np.mean
    return np.asarray(reducer(absw, axis=axis, keepdims=True), dtype=np.float64).reshape(
        {
            ScaleGranularity.TENSOR: (1, 1),
            ScaleGranularity.ROW: (k, 1),
            ScaleGranularity.COLUMN: (1, n),
        }[gran]
    )


def _expand(scale: np.ndarray, gran: ScaleGranularity, group_size: int | None, k: int):
    """Scale in a shape that broadcasts against a (K, N) matrix."""
    if gran is ScaleGranularity.GROUP:
        assert group_size is not None
        return np.repeat(scale, group_size, axis=0)[:k]
    return scale


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Ternary and binary weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ScaledWeights:
    """int8 ``(K, N)`` codes with float32 scales in the compact shape of ``granularity``
    (the common part of :class:`TernaryWeights` and :class:`BinaryWeights`)."""

    scale: np.ndarray
    granularity: ScaleGranularity
    group_size: int | None

    @property
    def codes(self) -> np.ndarray:
        """The int8 ``(K, N)`` codes (trits or signs)."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, N)``."""
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    def expanded_scale(self) -> np.ndarray:
        """The scale as an array that broadcasts against the codes (``(K, N)`` for groups)."""
        return _expand(self.scale, self.granularity, self.group_size, self.shape[0])

    def dequantize(self) -> np.ndarray:
        """float32 ``codes * scale``, shape ``(K, N)``."""
        return (self.codes * self.expanded_scale()).astype(np.float32)

    @property
    def scale_bytes(self) -> int:
        """Bytes of the float32 scales."""
        return int(self.scale.size) * SCALE_BYTES


@dataclass(frozen=True)
class TernaryWeights(_ScaledWeights):
    """Ternary (1.58-bit) weights with absmean scales.

    Attributes:
        trits: int8 ``(K, N)`` array of -1, 0 and +1 (read-only).
        scale: float32 absmean scales in the compact shape of ``granularity`` (see module doc).
        granularity: what each scale covers.
        group_size: inputs per group for ``GROUP`` granularity, else None.
    """

    trits: np.ndarray = field(kw_only=True)

    @property
    def codes(self) -> np.ndarray:
        return self.trits

    @property
    def zero_fraction(self) -> float:
        """Fraction of weights quantized to 0."""
        return float(np.mean(self.trits == 0)) if self.trits.size else 0.0

    def payload_bytes(self, bits_per_weight: float = 2.0) -> int:
        """Bytes of the packed trits (``packing.packed_nbytes``), 2 or 1.6 bits per weight."""
        return packed_nbytes(self.shape, bits_per_weight)

    def storage_bytes(self, bits_per_weight: float = 2.0) -> int:
        """Packed trits plus float32 scales."""
        return self.payload_bytes(bits_per_weight) + self.scale_bytes


def _scaled_by(
    w: np.ndarray, granularity: ScaleGranularity, group_size: int | None
) -> tuple[np.ndarray, np.ndarray, ScaleGranularity, int | None]:
    """``(W, gamma = mean(|W|) per scale, granularity, group_size or None)`` of a checked
    weight matrix (the common start of :func:`quantize_ternary` and :func:`quantize_binary`)."""
    a = _as_weight_matrix(w)
    gran = _check_granularity(granularity, group_size)
    gamma = _reduce(np.abs(a), gran, group_size, "mean")
    return a, gamma, gran, group_size if gran is ScaleGranularity.GROUP else None


def quantize_ternary(
    w: np.ndarray,
    granularity: ScaleGranularity = ScaleGranularity.TENSOR,
    group_size: int | None = None,
) -> TernaryWeights:
    """Absmean ternary quantization of a ``(K, N)`` weight matrix (BitNet b1.58).

    ``gamma = mean(|W|)`` over each scale's elements (whole matrix, a row ``k``, a column ``n``,
    or a group of ``group_size`` consecutive ``k`` in one column), then
    ``trits = clip(rint(W / (gamma + EPS)), -1, 1)`` with ``EPS = 1e-5``.

    Raises:
        WorkloadError: ``w`` is not a finite 2-D array, or granularity/group_size are invalid.
    """
    a, gamma, gran, group = _scaled_by(w, granularity, group_size)
    full = _expand(gamma, gran, group_size, a.shape[0])
    trits = np.clip(np.rint(a / (full + EPS)), -1, 1).astype(np.int8)
    return TernaryWeights(_readonly(gamma.astype(np.float32)), gran, group, trits=_readonly(trits))


@dataclass(frozen=True)
class BinaryWeights(_ScaledWeights):
    """Binary weights {-1, +1} with mean-abs scales (BitNet b1 / XNOR-Net style).

    Attributes:
        signs: int8 ``(K, N)`` array of -1 and +1 (read-only).
        scale: float32 ``mean(|W|)`` in the compact shape of ``granularity``.
        granularity: what each scale covers.
        group_size: inputs per group for ``GROUP`` granularity, else None.
    """

    signs: np.ndarray = field(kw_only=True)

    @property
    def codes(self) -> np.ndarray:
        return self.signs

    @property
    def payload_bytes(self) -> int:
        """1 bit per weight, 8 weights per byte along K, each column padded to whole bytes."""
        k, n = self.shape
        return n * (-(-k // 8))

    @property
    def storage_bytes(self) -> int:
        """Packed signs plus float32 scales."""
        return self.payload_bytes + self.scale_bytes


def quantize_binary(
    w: np.ndarray,
    granularity: ScaleGranularity = ScaleGranularity.TENSOR,
    group_size: int | None = None,
) -> BinaryWeights:
    """Binarize a ``(K, N)`` matrix: ``sign(W)`` (0 -> +1) with scale ``mean(|W|)``.

    The mean-abs scale minimizes ``||W - s * sign(W)||_2`` for fixed signs (XNOR-Net).
    """
    a, scale, gran, group = _scaled_by(w, granularity, group_size)
    signs = np.where(a < 0, -1, 1).astype(np.int8)
    return BinaryWeights(_readonly(scale.astype(np.float32)), gran, group, signs=_readonly(signs))


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantizedActivations:
    """Per-token absmax-quantized activations.

    Attributes:
        values: int8 array, same shape as the input; in ``[-Q-1, Q]``, ``Q = 2**(bits-1) - 1``.
        scale: float32, shape ``x.shape[:-1] + (1,)``: ``max|x| / Q`` per token, so
            ``x ~= values * scale``. 0 for an all-zero token.
        bits: bits per value (8 or 4 usually).
    """

    values: np.ndarray
    scale: np.ndarray
    bits: int

    @property
    def qmax(self) -> int:
        """``Q = 2**(bits-1) - 1``."""
        return 2 ** (self.bits - 1) - 1

    def dequantize(self) -> np.ndarray:
        """float32 ``values * scale``."""
        return (self.values * self.scale.astype(np.float64)).astype(np.float32)

    @property
    def storage_bytes(self) -> int:
        """Values packed at ``bits`` bits (per token, padded to whole bytes) plus float32 scales."""
        k = int(self.values.shape[-1])
        tokens = int(np.prod(self.values.shape[:-1]))
        return tokens * (-(-k * self.bits // 8)) + int(self.scale.size) * SCALE_BYTES


def quantize_activations(x: np.ndarray, bits: int = 8) -> QuantizedActivations:
    """Per-token (last axis) absmax quantization to signed ``bits``-bit integers.

    ``x~ = clip(rint(x * Q / max|x|), -Q-1, Q)`` with ``Q = 2**(bits-1) - 1`` (127 for 8 bits,
    7 for 4 bits). A token whose values are all zero quantizes to zeros with scale 0. The
    round-trip error is at most ``scale / 2`` per value.

    Raises:
        WorkloadError: ``bits`` is not in 2..8, or ``x`` is empty-dimensional or not finite.
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 2 <= bits <= 8:
        raise WorkloadError(f"bits: must be an integer from 2 to 8; got {bits!r}")
    a = np.asarray(x)
    if a.ndim < 1:
        raise WorkloadError("x: must have at least one dimension (features on the last axis)")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise WorkloadError(f"x: must be a real numeric array; got dtype {a.dtype}")
    q = 2 ** (int(bits) - 1) - 1
    rows = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, a.shape[-1] if a.size else 0)
    values = np.zeros(rows.shape, np.int8)
    scale = np.zeros((rows.shape[0], 1), np.float32)
    if rows.size and not _quantize_rows(rows, q, values, scale):
        raise WorkloadError("x: contains NaN or infinite values")
    return QuantizedActivations(
        values=_readonly(values.reshape(a.shape)),
        scale=_readonly(scale.reshape((*a.shape[:-1], 1))),
        bits=int(bits),
    )


@numba.njit(cache=True, nogil=True)
def _quantize_rows(a, q, values, scale):  # pragma: no cover - compiled
    """Per row of ``a`` (float64 (R, K)): ``values = clip(rint(a * q / amax), -q-1, q)`` (with
    ``amax`` 1 for an all-zero row, whose scale is 0), ``scale = float32(amax / q)``, in float64
    operation for operation as written; False if a value is not finite."""
    for r in range(a.shape[0]):
        row = a[r]
        amax = 0.0
        for v in row:
            if not np.isfinite(v):
                return False
            amax = max(amax, abs(v))
        safe = amax if amax > 0 else 1.0
        out = values[r]
        for i in range(row.size):
            out[i] = np.int8(min(max(np.rint(row[i] * q / safe), -q - 1), q))
        scale[r, 0] = np.float32(amax / q)
    return True


# --------------------------------------------------------------------------------------------
# int8 weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Int8Weights:
    """Symmetric absmax int8 weights.

    Attributes:
        values: int8 ``(K, N)`` in [-127, 127].
        scale: float32 ``max|W| / 127`` in the compact shape of ``granularity``.
        granularity: what each scale covers.
    """

    values: np.ndarray
    scale: np.ndarray
    granularity: ScaleGranularity

    def dequantize(self) -> np.ndarray:
        """float32 ``values * scale``."""
        return (self.values * self.scale.astype(np.float64)).astype(np.float32)

    @property
    def storage_bytes(self) -> int:
        """One byte per weight plus float32 scales."""
        return int(self.values.size) + int(self.scale.size) * SCALE_BYTES


def quantize_int8(
    w: np.ndarray, granularity: ScaleGranularity = ScaleGranularity.COLUMN
) -> Int8Weights:
    """Absmax int8 quantization of a ``(K, N)`` matrix: ``clip(rint(W * 127 / max|W|), ±127)``.

    The default, ``COLUMN``, is one scale per output feature: a column of our ``(K, N)`` matrix,
    which is a *row* of PyTorch's ``(N, K)`` weight (LLM.int8's "vector-wise" weight scale).
    ``TENSOR`` and ``ROW`` are also accepted.
    """
    a = _as_weight_matrix(w)
    if granularity == ScaleGranularity.GROUP:
        raise WorkloadError("granularity: int8 weights support tensor, row or column scales")
    gran = _check_granularity(granularity, None)
    amax = _reduce(np.abs(a), gran, None, "max")
    safe = np.where(amax > 0, amax, 1.0)
    values = np.clip(np.rint(a * 127 / safe), -127, 127).astype(np.int8)
    return Int8Weights(
        values=_readonly(values),
        scale=_readonly((amax / 127).astype(np.float32)),
        granularity=gran,
    )


# --------------------------------------------------------------------------------------------
# 4-bit block formats (NF4, FP4) with optional double quantization
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoubleQuantizedAbsmax:
    """Block absmax values quantized again (QLoRA "double quantization").

    The absmax values (all positive) are centred by subtracting their mean ``offset`` and then
    quantized symmetrically to int8 in blocks of ``block_size`` (256), each block with a float32
    scale: ``absmax ~= codes * scale / 127 + offset``. (QLoRA uses an 8-bit float code for the
    second step; this uses linear int8, same storage.)
    """

    codes: np.ndarray
    scale: np.ndarray
    offset: float
    block_size: int

    def dequantize(self) -> np.ndarray:
        """float32 absmax per first-level block."""
        per = np.repeat(self.scale.astype(np.float64), self.block_size)[: self.codes.size]
        return (self.codes * per / 127 + self.offset).astype(np.float32)

    @property
    def storage_bytes(self) -> int:
        """1 byte per code, a float32 scale per block of codes, and the float32 offset."""
        return int(self.codes.size) + int(self.scale.size) * SCALE_BYTES + SCALE_BYTES


def _double_quantize(absmax: np.ndarray, block_size: int) -> DoubleQuantizedAbsmax:
    a = absmax.astype(np.float64)
    offset = float(np.mean(a)) if a.size else 0.0
    c = a - offset
    nblocks = -(-c.size // block_size)
    padded = np.zeros(nblocks * block_size)
    padded[: c.size] = c
    smax = np.max(np.abs(padded.reshape(nblocks, block_size)), axis=1) if nblocks else padded
    safe = np.where(smax > 0, smax, 1.0)
    codes = np.clip(np.rint(c * 127 / np.repeat(safe, block_size)[: c.size]), -127, 127)
    return DoubleQuantizedAbsmax(
        codes=_readonly(codes.astype(np.int8)),
        scale=_readonly(smax.astype(np.float32)),
        offset=offset,
        block_size=block_size,
    )


@dataclass(frozen=True)
class FourBitWeights:
    """NF4 or FP4 block-quantized weights.

    Blocks are ``block_size`` consecutive weights of ``w.T`` flattened, i.e. consecutive inputs
    ``k`` of one output column, running on into the next column when ``K`` is not a multiple of
    the block size (as bitsandbytes does with PyTorch's ``(N, K)`` weight). The last block may be
    short.

    Attributes:
        codes: uint8 ``(K, N)`` codebook indices 0..15 (stored 2 per byte; unpacked here).
        fmt: ``WeightFormat.NF4`` or ``WeightFormat.FP4``.
        block_size: weights per absmax block.
        absmax: float32 per-block absmax used to dequantize (after double quantization if any).
        double_quant: the double-quantized absmax, or None if absmax is stored as float32.
    """

    codes: np.ndarray
    fmt: WeightFormat
    block_size: int
    absmax: np.ndarray
    double_quant: DoubleQuantizedAbsmax | None = None

    @property
    def codebook(self) -> np.ndarray:
        """Values of codes 0..15 for a block absmax of 1."""
        if self.fmt is WeightFormat.NF4:
            return NF4_CODEBOOK
        return FP4_E2M1_CODEBOOK / np.float32(FP4_E2M1_MAX)

    def dequantize(self) -> np.ndarray:
        """float32 ``(K, N)``: ``codebook[code] * absmax`` of the weight's block."""
        k, n = self.codes.shape
        flat_codes = self.codes.T.reshape(-1)
        per = np.repeat(self.absmax.astype(np.float64), self.block_size)[: flat_codes.size]
        flat = self.codebook.astype(np.float64)[flat_codes] * per
        return flat.reshape(n, k).T.astype(np.float32)

    @property
    def payload_bytes(self) -> int:
        """4 bits per weight, two per byte."""
        return -(-int(self.codes.size) // 2)

    @property
    def absmax_bytes(self) -> int:
        """float32 per block, or the double-quantized codes, scales and offset."""
        if self.double_quant is not None:
            return self.double_quant.storage_bytes
        return int(self.absmax.size) * SCALE_BYTES

    @property
    def storage_bytes(self) -> int:
        """Packed 4-bit codes plus absmax storage."""
        return self.payload_bytes + self.absmax_bytes


def _nearest_code(values: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook value for each value (ties to the lower value)."""
    order = np.argsort(codebook, kind="stable")
    uniq_vals, first = np.unique(codebook[order].astype(np.float64), return_index=True)
    codes_sorted = order[first]  # for duplicate values (FP4 +-0) keep the first code
    mids = (uniq_vals[1:] + uniq_vals[:-1]) / 2
    idx = np.searchsorted(mids, values, side="left")
    return codes_sorted[idx].astype(np.uint8)


def quantize_4bit(
    w: np.ndarray,
    fmt: WeightFormat = WeightFormat.NF4,
    block_size: int = 64,
    double_quant: bool = False,
    double_quant_block_size: int = 256,
) -> FourBitWeights:
    """Block-wise NF4 or FP4 quantization of a ``(K, N)`` weight matrix (QLoRA).

    Each block of ``block_size`` weights (see :class:`FourBitWeights` for the block order) is
    divided by its absmax and each value is replaced by the nearest codebook entry: NF4's 16
    normal-quantile values in [-1, 1], or FP4 E2M1 values divided by 6. With ``double_quant`` the
    float32 absmax values are themselves quantized to int8 in blocks of
    ``double_quant_block_size`` (QLoRA: 256), saving storage; the codes are chosen with the exact
    absmax and dequantized with the reconstructed one.
    """
    a = _as_weight_matrix(w)
    try:
        f = WeightFormat(fmt)
    except ValueError:
        f = None
    if f not in (WeightFormat.NF4, WeightFormat.FP4):
        raise WorkloadError(f"fmt: must be 'nf4' or 'fp4'; got {fmt!r}")
    for name, value in (
        ("block_size", block_size),
        ("double_quant_block_size", double_quant_block_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise WorkloadError(f"{name}: must be a positive integer; got {value!r}")
    k, n = a.shape
    flat = a.T.reshape(-1)  # column-major: consecutive k of one column
    nblocks = -(-flat.size // block_size)
    padded = np.zeros(nblocks * block_size)
    padded[: flat.size] = flat
    absmax = np.max(np.abs(padded.reshape(nblocks, block_size)), axis=1) if nblocks else padded
    safe = np.where(absmax > 0, absmax, 1.0)
    normed = flat / np.repeat(safe, block_size)[: flat.size]
    if f is WeightFormat.NF4:
        codebook = NF4_CODEBOOK
    else:
        codebook = FP4_E2M1_CODEBOOK / np.float32(FP4_E2M1_MAX)
    codes = _nearest_code(normed, codebook).reshape(n, k).T.copy()
    dq = None
    used_absmax = absmax.astype(np.float32)
    if double_quant:
        dq = _double_quantize(used_absmax, int(double_quant_block_size))
        used_absmax = dq.dequantize()
    return FourBitWeights(
        codes=_readonly(codes),
        fmt=f,
        block_size=int(block_size),
        absmax=_readonly(used_absmax),
        double_quant=dq,
    )
