"""The per-token float operations of the functional model, in Numba: norms, RoPE, FFN activations.

Both ways of running the model use these, so that they compute the same numbers bit for bit:
the op-by-op executor of ``transformer.py`` (prefill, and decode with helper threads) and the
fused decode layer of ``decode.py``. Every function works on C-contiguous float64 rows (one row
per token) and evaluates its formula operation by operation as written (no fast-math, so no
reassociation or fused multiply-adds): sums run left to right over the row, which differs
from NumPy's pairwise ``mean`` in the last bits only. ``transformer.norm``, ``transformer.rope``
and ``transformer.ffn_activation`` are the readable NumPy definitions the tests hold these to.

- :func:`norm_rows`: RMSNorm ``x / sqrt(mean(x^2) + eps) * w``, or LayerNorm
  ``(x - mu) / sqrt(var + eps) * w + b`` (``var`` the mean of ``(x - mu)^2``).
- :func:`rope_rows`: the HF "rotate_half" rotation with angles from a table
  (:func:`rope_table`), ``out_i = x_i cos_i - x_{i+h} sin_i`` and ``out_{i+h} = x_{i+h} cos_i
  + x_i sin_i`` for ``i < h = rotary_dim / 2`` in every head; dimensions past ``rotary_dim``
  pass through.
- :func:`rescale_rows`: BitLinear's ``y = acc * (act_scale * weight_scale)`` in float64 from
  the int32 sums, float32 per-token scales and a float32 (1, 1) or (1, N) weight scale.
- :func:`activation_rows`: SwiGLU ``g / (1 + exp(-g)) * u``, ReLU² GLU ``max(g, 0)^2 * u``,
  GeGLU ``gelu(g) * u`` and GELU ``gelu(u)``, with the tanh GELU
  ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tersim.config.enums import FFNType

#: Activation codes of :func:`activation_rows`, by FFN type.
ACTIVATION_CODE: dict[FFNType, int] = {
    FFNType.SWIGLU: 0,
    FFNType.RELU2_GLU: 1,
    FFNType.GEGLU: 2,
    FFNType.GELU: 3,
}
_GELU_C = math.sqrt(2.0 / math.pi)


def rope_table(theta: float, rotary_dim: int, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)``, float64 (positions, rotary_dim / 2): the angles ``p * theta **
    (-2i / rotary_dim)`` of positions ``p < positions`` (``transformer.rope``'s frequencies)."""
    inv_freq = theta ** (-np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)  # (R/2,)
    angles = np.arange(positions, dtype=np.float64)[:, None] * inv_freq  # (P, R/2)
    cos, sin = np.cos(angles), np.sin(angles)
    cos.flags.writeable = sin.flags.writeable = False
    return cos, sin


@numba.njit(cache=True, nogil=True)
def norm_row(x, w, bias, layernorm, eps, out):  # pragma: no cover - compiled
    """One row of :func:`norm_rows` (``bias`` is read only when ``layernorm``)."""
    n = x.size
    if layernorm:
        total = 0.0
        for i in range(n):
            total += x[i]
        mu = total / n
        sq = 0.0
        for i in range(n):
            d = x[i] - mu
            sq += d * d
        r = np.sqrt(sq / n + eps)
        for i in range(n):
            out[i] = (x[i] - mu) / r * np.float64(w[i]) + np.float64(bias[i])
    else:
        sq = 0.0
        for i in range(n):
            sq += x[i] * x[i]
        r = np.sqrt(sq / n + eps)
        for i in range(n):
            out[i] = x[i] / r * np.float64(w[i])


@numba.njit(cache=True, nogil=True)
def norm_rows(x, w, bias, layernorm, eps, out):  # pragma: no cover - compiled
    """``out[r] = norm(x[r])`` for float64 (R, D) ``x`` and float32 (D,) gain and bias."""
    for r in range(x.shape[0]):
        norm_row(x[r], w, bias, layernorm, eps, out[r])


@numba.njit(cache=True, nogil=True)
def rope_row(x, heads, d, rd, cos, sin, p, out):  # pragma: no cover - compiled
    """One token's ``heads`` heads of ``d`` values (``x``, 1-D) rotated at position ``p``."""
    h = rd // 2
    for hd in range(heads):
        o = hd * d
        for i in range(h):
            a = x[o + i]
            b = x[o + i + h]
            c = cos[p, i]
            s = sin[p, i]
            out[o + i] = a * c + (-b) * s
            out[o + i + h] = b * c + a * s
        for i in range(rd, d):
            out[o + i] = x[o + i]


@numba.njit(cache=True, nogil=True)
def rope_rows(x, heads, d, rd, cos, sin, start, t, out):  # pragma: no cover - compiled
    """:func:`rope_row` for rows ``(b, t)`` of ``x`` (B*T, heads*d): row ``r`` is at position
    ``start + r % t``."""
    for r in range(x.shape[0]):
        rope_row(x[r], heads, d, rd, cos, sin, start + r % t, out[r])


@numba.njit(cache=True, nogil=True)
def _gelu(v):  # pragma: no cover - compiled
    return 0.5 * v * (1.0 + np.tanh(_GELU_C * (v + 0.044715 * (v * v * v))))


@numba.njit(cache=True, nogil=True)
def activation_row(code, gate, up, out):  # pragma: no cover - compiled
    """One row of :func:`activation_rows` (``gate`` is read only for gated codes)."""
    for i in range(up.size):
        u = up[i]
        if code == 0:
            g = gate[i]
            out[i] = g / (1.0 + np.exp(-g)) * u
        elif code == 1:
            m = max(gate[i], 0.0)
            out[i] = m * m * u
        elif code == 2:
            out[i] = _gelu(gate[i]) * u
        else:
            out[i] = _gelu(u)


@numba.njit(cache=True, nogil=True)
def activation_rows(code, gate, up, out):  # pragma: no cover - compiled
    """``out = act(gate, up)`` row by row (``code``: :data:`ACTIVATION_CODE`); float64 (R, F)."""
    for r in range(up.shape[0]):
        activation_row(code, gate[r] if gate.shape[0] else up[r], up[r], out[r])


@numba.njit(cache=True, nogil=True)
def rescale_rows(acc, act_scale, scale, out):  # pragma: no cover - compiled
    """``out[r, j] = float64(acc[r, j]) * (float64(act_scale[r, 0]) * float64(scale[0, j]))``
    (``scale[0, 0]`` for every ``j`` when it has one column)."""
    per_column = scale.shape[1] > 1
    for r in range(acc.shape[0]):
        a = np.float64(act_scale[r, 0])
        for j in range(acc.shape[1]):
            w = np.float64(scale[0, j if per_column else 0])
            out[r, j] = np.float64(acc[r, j]) * (a * w)
