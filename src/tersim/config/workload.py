"""Transformer workload schema (``ModelSpec``): architecture, number formats and a scenario."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tersim.config.enums import FFNType, ScaleGranularity, WeightFormat
from tersim.config.types import (
    MAX_BATCH,
    MAX_CONTEXT_TOKENS,
    Flag,
    NonNegInt,
    PosFloat,
    PosInt,
)

# Upper bounds where a larger value describes no model: 3x to 8x the largest published ones
# (PaLM 540B: d_model 18,432, FFN 73,728, arXiv 2204.02311 Table 1; Llama 3.1 405B: 126 layers,
# arXiv 2407.21783 Table 3; Gemma: a 256k vocabulary, arXiv 2403.08295); see
# tersim.config.types.
MAX_HIDDEN = 1 << 16
MAX_LAYERS = 1 << 10
MAX_HEADS = 1 << 12
MAX_FFN = 1 << 18
MAX_VOCAB = 1 << 20
MAX_ROPE_THETA = 1.0e12
MAX_GROUP_SIZE = 1 << 20
MAX_HEAD_DIM = 1 << 11  # 8x the widest published heads (Gemma: 256, arXiv 2403.08295)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_Strict):
    """Shapes of a decoder-only transformer."""

    hidden: PosInt = Field(description="Model width d_model", le=MAX_HIDDEN)
    layers: PosInt = Field(description="Decoder layers", le=MAX_LAYERS)
    heads: PosInt = Field(description="Query heads", le=MAX_HEADS)
    kv_heads: PosInt = Field(
        description="Key/value heads (= heads for MHA, 1 for MQA)", le=MAX_HEADS
    )
    head_dim: PosInt | None = Field(
        None, description="Width of one attention head (default: hidden / heads)", le=MAX_HEAD_DIM
    )
    ffn: PosInt = Field(description="FFN inner width", le=MAX_FFN)
    ffn_type: FFNType
    vocab: PosInt = Field(description="Vocabulary size", le=MAX_VOCAB)
    tied_embeddings: Flag = False
    parallel_attention: Flag = Field(False, description="Attention and FFN read the same input")
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    sublayer_norm: Flag = Field(False, description="BitNet's extra norm before o_proj and down")
    max_context: PosInt = Field(
        2048, description="Longest sequence (prompt + generated) in tokens", le=MAX_CONTEXT_TOKENS
    )
    rope_theta: PosFloat = Field(10000.0, description="RoPE base frequency", le=MAX_ROPE_THETA)
    rotary_dim: PosInt | None = Field(
        None,
        description="Leading dimensions of each head that RoPE rotates (default: all)",
        le=MAX_HEAD_DIM,
    )

    @property
    def head_size(self) -> int:
        """The head width in use: ``head_dim``, or ``hidden / heads`` when it is not given."""
        return self.head_dim if self.head_dim is not None else self.hidden // self.heads

    @property
    def attn_dim(self) -> int:
        """Width of the query projection and of the attention output: ``heads * head_size``."""
        return self.heads * self.head_size

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection: ``kv_heads * head_size``."""
        return self.kv_heads * self.head_size

    @property
    def rotary_size(self) -> int:
        """Dimensions of each head RoPE rotates: ``rotary_dim``, or the whole head."""
        return self.rotary_dim if self.rotary_dim is not None else self.head_size


class Quantization(_Strict):
    """Number formats the model runs in. ``None`` means: the hardware's native format."""

    weight_format: WeightFormat | None = None
    scale_granularity: ScaleGranularity = ScaleGranularity.TENSOR
    group_size: PosInt | None = Field(
        None, description="Weights per scale for 'group'", le=MAX_GROUP_SIZE
    )
    activation_bits: Literal[4, 8, 16] = 8
    kv_cache_bits: Literal[3, 4, 8, 16] = 16
    embedding_format: Literal["fp16", "bf16", "int8"] = "fp16"


class Scenario(_Strict):
    """The default inference scenario."""

    batch: PosInt = Field(1, description="Sequences per batch", le=MAX_BATCH)
    prompt_tokens: PosInt = Field(512, description="Prompt length", le=MAX_CONTEXT_TOKENS)
    gen_tokens: NonNegInt = Field(128, description="Generated tokens", le=MAX_CONTEXT_TOKENS)


class ModelSpec(_Strict):
    """A workload: a model architecture, its formats and a default scenario."""

    name: str
    source: str = Field("", description="Where the shapes come from")
    architecture: Architecture
    quantization: Quantization = Field(default_factory=Quantization)
    scenario: Scenario = Field(default_factory=Scenario)


def model_problems(spec: ModelSpec) -> list[tuple[str, str]]:
    """Cross-field problems of a structurally valid spec, as (dotted field, message)."""
    out: list[tuple[str, str]] = []
    a = spec.architecture
    if a.head_dim is None and a.hidden % a.heads:
        out.append(
            (
                "architecture.heads",
                f"hidden must be a multiple of heads (got hidden "
                f"{a.hidden}, heads {a.heads}; expected a divisor of {a.hidden}, "
                f"or an explicit head_dim)",
            )
        )
    if a.head_dim is not None and a.heads * a.head_dim > MAX_HIDDEN:
        out.append(
            (
                "architecture.head_dim",
                f"attention wider than any model (got {a.heads} heads x {a.head_dim} = "
                f"{a.heads * a.head_dim}; expected heads x head_dim at most {MAX_HIDDEN})",
            )
        )
    if a.heads % a.kv_heads:
        out.append(
            (
                "architecture.kv_heads",
                f"heads must be a multiple of kv_heads (got "
                f"{a.kv_heads} for {a.heads} heads; expected a divisor of {a.heads})",
            )
        )
    if a.head_dim is not None or a.hidden % a.heads == 0:
        field = "architecture.head_dim" if a.head_dim is not None else "architecture.heads"
        if a.rotary_dim is not None and a.rotary_dim > a.head_size:
            out.append(
                (
                    "architecture.rotary_dim",
                    f"RoPE cannot rotate more dimensions than a head has (got "
                    f"{a.rotary_dim}; expected at most the head width {a.head_size})",
                )
            )
        elif a.rotary_size % 2:
            where = "architecture.rotary_dim" if a.rotary_dim is not None else field
            out.append(
                (
                    where,
                    f"RoPE rotates pairs of dimensions, so it needs an even width (got "
                    f"{a.rotary_size}; expected an even "
                    f"{'rotary_dim' if a.rotary_dim is not None else 'head width'})",
                )
            )
    q = spec.quantization
    if q.scale_granularity == ScaleGranularity.GROUP and q.group_size is None:
        out.append(
            (
                "quantization.group_size",
                "group scales need a group size (got nothing; "
                "expected a positive integer such as 64)",
            )
        )
    if q.group_size is not None and q.scale_granularity != ScaleGranularity.GROUP:
        out.append(
            (
                "quantization.group_size",
                f"group_size only applies to 'group' scales (got "
                f"{q.group_size} with '{q.scale_granularity}'; expected no group_size)",
            )
        )
    s = spec.scenario
    if s.prompt_tokens + s.gen_tokens > a.max_context:
        out.append(
            (
                "scenario.gen_tokens",
                f"prompt plus generated tokens exceed the context "
                f"(got {s.prompt_tokens} + {s.gen_tokens}; expected at most "
                f"{a.max_context} in all)",
            )
        )
    return out
