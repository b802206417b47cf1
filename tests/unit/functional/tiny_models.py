"""Small model specs shared by the functional-model tests."""

from __future__ import annotations

from typing import Any

from tersim.config.workload import ModelSpec


def tiny_spec(**arch: Any) -> ModelSpec:
    """A small ternary model; ``arch`` overrides architecture fields."""
    a: dict[str, Any] = dict(
        hidden=32,
        layers=2,
        heads=4,
        kv_heads=2,
        ffn=48,
        ffn_type="swiglu",
        vocab=64,
        max_context=32,
    )
    a.update(arch)
    return ModelSpec.model_validate(
        {"name": "tiny", "architecture": a, "quantization": {"weight_format": "ternary"}}
    )
