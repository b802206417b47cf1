"""The one description of a decoder's op graph: attention, FFN, block and forward pass.

Both the shape tracer (:class:`tersim.workload.trace.TraceBuilder`, whose values are tensor
handles) and the functional model (``tersim.functional.transformer``, whose values are arrays
that also carry their handles) *execute* these functions through the :class:`LayerExecutor`
protocol, so the layer is defined once: what the trace lists is what the model computes.

LLaMA-style pre-norm blocks (RMSNorm or LayerNorm, RoPE, MHA/GQA/MQA against a KV cache, a
gated or plain FFN), with the variants the shipped models need: BitNet b1.58 2B4T's sub-layer
norms, and Falcon's parallel attention (attention and FFN read the same normed input; one
residual adds both branches). With quantized activations (BitLinear), each projection's input is
quantized per token first. The KV cache holds the *rotated* keys: RoPE writes them to the cache,
the V projection writes values there directly.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol, TypeVar

from tersim.config.workload import Architecture

V = TypeVar("V")


class CacheSlot(StrEnum):
    K = "k"
    V = "v"


class LayerExecutor(Protocol[V]):
    """What a block asks of whoever runs it. ``V``: the executor's value (a tensor handle, or an
    array with its handle). ``layer`` is -1 outside the decoder layers."""

    @property
    def quantized(self) -> bool:
        """Activations are quantized before each projection (BitLinear)."""
        ...

    def embedding(self, name: str) -> V: ...

    def norm(self, layer: int, name: str, x: V, weight: str) -> V: ...

    def quant(self, layer: int, name: str, x: V) -> V: ...

    def linear(
        self,
        layer: int,
        name: str,
        x: V,
        weight: str,
        out_features: int,
        cache: CacheSlot | None = None,
    ) -> V:
        """``x @ weight``; with ``cache`` the output goes to that slot of the KV cache."""
        ...

    def rope(self, layer: int, name: str, q: V, k: V) -> V:
        """Rotate q and k; the rotated keys go to the KV cache, the rotated queries return."""
        ...

    def attention(self, layer: int, q: V) -> V:
        """QK^T, softmax and AV of ``q`` against the layer's cache (this pass's keys and values
        included)."""
        ...

    def activation(self, layer: int, name: str, gate: V | None, up: V) -> V: ...

    def residual(self, layer: int, name: str, x: V, branches: tuple[V, ...]) -> V: ...

    def lm_head(self, name: str, x: V) -> V:
        """Logits of the last position of each sequence."""
        ...


def _maybe_quant(ex: LayerExecutor[V], layer: int, name: str, x: V) -> V:
    return ex.quant(layer, name, x) if ex.quantized else x


def _normed(ex: LayerExecutor[V], layer: int, x: V, norm: str, quant: str) -> V:
    """A branch's input: the residual stream ``x`` normed by ``norm``, then quantized."""
    p = f"L{layer}"
    return _maybe_quant(ex, layer, f"{p}.{quant}", ex.norm(layer, f"{p}.{norm}", x, norm))


def _project_out(
    ex: LayerExecutor[V], a: Architecture, layer: int, x: V, sub_norm: str, quant: str, proj: str
) -> V:
    """A branch's output projection back to the hidden width: the sub-layer norm ``sub_norm``
    (when the model has them), the quantizer, then ``proj``."""
    p = f"L{layer}"
    if a.sublayer_norm:
        x = ex.norm(layer, f"{p}.{sub_norm}", x, sub_norm)
    x = _maybe_quant(ex, layer, f"{p}.{quant}", x)
    return ex.linear(layer, f"{p}.{proj}", x, proj, a.hidden)


def attention_block(ex: LayerExecutor[V], a: Architecture, layer: int, h: V) -> V:
    """Projections, RoPE, attention and the output projection of a normed input ``h``."""
    p = f"L{layer}"
    q = ex.linear(layer, f"{p}.q_proj", h, "q_proj", a.attn_dim)
    k = ex.linear(layer, f"{p}.k_proj", h, "k_proj", a.kv_dim)
    ex.linear(layer, f"{p}.v_proj", h, "v_proj", a.kv_dim, cache=CacheSlot.V)
    q = ex.rope(layer, f"{p}.rope", q, k)
    att = ex.attention(layer, q)
    return _project_out(ex, a, layer, att, "attn_sub_norm", "o_in_quant", "o_proj")


def ffn_block(ex: LayerExecutor[V], a: Architecture, layer: int, h: V) -> V:
    """Gate/up projections, activation and the down projection of a normed input ``h``."""
    p = f"L{layer}"
    gate = ex.linear(layer, f"{p}.gate_proj", h, "gate_proj", a.ffn) if a.ffn_type.gated else None
    up = ex.linear(layer, f"{p}.up_proj", h, "up_proj", a.ffn)
    act = ex.activation(layer, f"{p}.act", gate, up)
    return _project_out(ex, a, layer, act, "ffn_sub_norm", "down_in_quant", "down_proj")


def block(ex: LayerExecutor[V], a: Architecture, layer: int, x: V) -> V:
    """One decoder layer on the residual stream ``x``."""
    p = f"L{layer}"
    h = _normed(ex, layer, x, "attn_norm", "attn_in_quant")
    o = attention_block(ex, a, layer, h)
    if a.parallel_attention:  # the FFN reads the attention's input; one residual adds both
        d = ffn_block(ex, a, layer, h)
        return ex.residual(layer, f"{p}.ffn_residual", x, (o, d))
    x = ex.residual(layer, f"{p}.attn_residual", x, (o,))
    h = _normed(ex, layer, x, "ffn_norm", "ffn_in_quant")
    d = ffn_block(ex, a, layer, h)
    return ex.residual(layer, f"{p}.ffn_residual", x, (d,))


Block = Callable[[LayerExecutor[V], Architecture, int, V], V]


def forward_pass(
    ex: LayerExecutor[V],
    a: Architecture,
    on_layer: Callable[[int], None] | None = None,
    run_block: Block[V] = block,
) -> V:
    """Embedding, every layer, the final norm and the LM head (last position only);
    ``on_layer(i)`` after layer ``i`` (progress). ``run_block`` runs a layer (:func:`block`;
    the shape tracer copies layers after the first, which :func:`block` lists alike)."""
    x = ex.embedding("embedding")
    for layer in range(a.layers):
        x = run_block(ex, a, layer, x)
        if on_layer is not None:
            on_layer(layer)
    x = ex.norm(-1, "final_norm", x, "final_norm")
    return ex.lm_head("lm_head", x)
