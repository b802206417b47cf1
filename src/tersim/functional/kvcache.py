"""The KV cache of the functional model, stored in the workload's ``kv_cache_bits``.

Each position's key (after RoPE) and value are stored per KV head, ``head_dim`` numbers at a
time, in the configured precision:

- 16 bits: float16 (round to nearest even), the cache of an FP16 model;
- 8, 4 or 3 bits: signed integer codes with one float32 scale per position and KV head, the
  per-token absmax rule of the activations (:func:`~tersim.functional.quant.quantize_activations`
  over the head dimension): ``code = clip(rint(x * Q / max|x|), -Q-1, Q)``, ``Q = 2**(bits-1) - 1``
  (127, 7, 3), ``scale = max|x| / Q`` (float32); a vector of zeros gets codes 0 and scale 0.
  BitNet a4.8 (arXiv 2411.04965) runs with a 3-bit KV cache; the per-head, per-token absmax
  granularity is tersim's choice (the paper's abstract does not fix it).

The codes sit in int8 containers (the simulator charges ``kv_cache_bits`` per element; the
host keeps a byte). What attention reads is the dequantized cache, ``code * scale`` (or the
float16 value) in float64, which is exact: an int8 times a float32 has at most 32 significant
bits. :meth:`KVCache.attend` widens each value as attention reads it (``attention.py``), so
the cache costs its stored bits (plus scales) per element, never 8 bytes; :meth:`KVCache.read`
returns the dequantized positions of one layer (for tests and the NumPy definition).
Because each position is quantized on its own, a KV-cached decode and a full recompute of the
same tokens read the same cache values.

``reference.reference_kv_roundtrip`` is the slow oracle the tests hold this to, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from tersim.errors import WorkloadError
from tersim.functional.attention import attend_cache, attend_dense
from tersim.functional.fp16 import half_float
from tersim.functional.quant import quantize_activations
from tersim.workload.layer import CacheSlot

#: KV-cache precisions the functional model stores.
KV_BITS = (3, 4, 8, 16)


@numba.njit(cache=True, nogil=True)
def _widen64(bits, ctx, out):  # pragma: no cover - compiled
    """``out[..., :ctx, :] = float64(half bits[..., :ctx, :])`` for C-contiguous uint16 and
    float64 arrays (B, heads, capacity, D): positions ``0..ctx-1`` of a head are contiguous."""
    for i in range(bits.shape[0]):
        for j in range(bits.shape[1]):
            src = bits[i, j].reshape(-1)
            dst = out[i, j].reshape(-1)
            for e in range(ctx * bits.shape[3]):
                dst[e] = np.float64(half_float(src[e]))


@numba.njit(cache=True, nogil=True)
def _dequantize(codes, scales, ctx, out):  # pragma: no cover - compiled
    """``out[..., :ctx, :] = codes * scales`` in float64 (exact) for C-contiguous int8 codes,
    float32 scales (B, heads, capacity, 1) and a float64 output."""
    d = codes.shape[3]
    for i in range(codes.shape[0]):
        for j in range(codes.shape[1]):
            for p in range(ctx):
                s = np.float64(scales[i, j, p, 0])
                src = codes[i, j, p]
                dst = out[i, j, p]
                for e in range(d):
                    dst[e] = np.float64(src[e]) * s


@dataclass
class KVCache:
    """Keys and values of every layer in ``bits`` bits; the only mutable state of a generation.

    Attributes:
        bits: 16 (float16 storage) or 8, 4, 3 (int8 codes plus float32 scales).
        keys, values: (layers, B, kv_heads, capacity, head_dim): float16, or int8 codes
            (``keys[layer]`` is a layer's; one array for all layers, so that a decode step
            hands them to the compiled layers in one call).
        key_scales, value_scales: (layers, B, kv_heads, capacity, 1) float32 (no layers for
            16 bits).
        length: positions filled.
    """

    bits: int
    keys: np.ndarray
    values: np.ndarray
    key_scales: np.ndarray
    value_scales: np.ndarray
    length: int = 0
    _scratch: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def empty(
        cls, bits: int, layers: int, batch: int, kv_heads: int, capacity: int, head_dim: int
    ) -> KVCache:
        """A cache for ``batch`` sequences of at most ``capacity`` positions.

        Raises:
            WorkloadError: ``bits`` is not one of :data:`KV_BITS`.
        """
        if bits not in KV_BITS:
            raise WorkloadError(
                f"kv_cache_bits: the functional model stores 3, 4, 8 or 16 bits; got {bits!r}"
            )
        shape = (layers, batch, kv_heads, capacity, head_dim)
        dtype = np.float16 if bits == 16 else np.int8
        scales = np.zeros((0 if bits == 16 else layers, *shape[1:4], 1), np.float32)
        return cls(
            bits=bits,
            keys=np.zeros(shape, dtype),
            values=np.zeros(shape, dtype),
            key_scales=scales,
            value_scales=scales.copy(),
        )

    @property
    def batch(self) -> int:
        return int(self.keys.shape[1])

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[3])

    @property
    def nbytes(self) -> int:
        """Host bytes of the stored cache (codes or halves, and scales)."""
        arrays = (self.keys, self.values, self.key_scales, self.value_scales)
        return int(sum(a.nbytes for a in arrays))

    def write(self, layer: int, start: int, keys: np.ndarray, values: np.ndarray) -> None:
        """Store ``keys`` and ``values`` (B, kv_heads, T, head_dim) at positions ``start..``."""
        self.write_one(CacheSlot.K, layer, start, keys)
        self.write_one(CacheSlot.V, layer, start, values)

    def write_one(self, slot: CacheSlot, layer: int, start: int, x: np.ndarray) -> None:
        """Store keys (``CacheSlot.K``) or values (B, kv_heads, T, head_dim) at ``start..``
        (the layer description writes K after RoPE and V straight from its projection)."""
        stop = start + x.shape[2]
        store, scales = (
            (self.keys, self.key_scales)
            if slot is CacheSlot.K
            else (self.values, self.value_scales)
        )
        if self.bits == 16:
            store[layer][:, :, start:stop] = x  # rounds to nearest float16
        else:
            q = quantize_activations(x, self.bits)  # per (sequence, head, position)
            store[layer][:, :, start:stop] = q.values
            scales[layer][:, :, start:stop] = q.scale

    def attend(self, layer: int, q: np.ndarray, start: int) -> np.ndarray:
        """Causal attention of ``q`` (B, T, heads, D) at positions ``start..`` over this
        layer's cache (``attention.py``): read as stored for T = 1, dequantized
        (:meth:`read`) into NumPy products for T > 1; (B, T, heads * D) float64."""
        t = int(q.shape[1])
        if t > 1:  # several queries per sequence: dequantize once, BLAS products
            keys, values = self.read(layer, start + t)
            return attend_dense(q, keys, values, start)
        half = self.bits == 16
        return attend_cache(
            q,
            self.keys[layer],
            None if half else self.key_scales[layer],
            self.values[layer],
            None if half else self.value_scales[layer],
            start,
        )

    def read(self, layer: int, ctx: int) -> tuple[np.ndarray, np.ndarray]:
        """The dequantized float64 keys and values of positions ``0..ctx-1`` of ``layer``
        (B, kv_heads, ctx, head_dim), exact; views of a scratch buffer that the next
        :meth:`read` overwrites."""
        if self._scratch is None:
            shape = self.keys[0].shape
            self._scratch = (np.empty(shape, np.float64), np.empty(shape, np.float64))
        out = []
        for store, scales, scratch in (
            (self.keys, self.key_scales, self._scratch[0]),
            (self.values, self.value_scales, self._scratch[1]),
        ):
            if self.bits == 16:
                _widen64(store[layer].view(np.uint16), ctx, scratch)
            else:
                _dequantize(store[layer], scales[layer], ctx, scratch)
            out.append(scratch[:, :, :ctx])
        return out[0], out[1]
