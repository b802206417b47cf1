"""Design-space sweep schema (``SweepSpec``): a base design, a workload, and what to vary."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tersim.config.hardware import HardwareConfig
from tersim.config.types import MAX_BATCH, MAX_CONTEXT_TOKENS, NonNegInt, PosInt


class SweepScenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: Literal["prefill", "decode", "both"] = "both"
    prompt_tokens: PosInt | None = Field(
        None, description="Prompt length (default: the workload's)", le=MAX_CONTEXT_TOKENS
    )
    gen_tokens: NonNegInt | None = Field(
        None, description="Generated tokens (default: the workload's)", le=MAX_CONTEXT_TOKENS
    )
    batch: PosInt | None = Field(
        None, description="Sequences per batch (default: the workload's)", le=MAX_BATCH
    )


class SweepSpec(BaseModel):
    """Every combination of the ``vary`` values is one design point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    hardware: str = Field(description="Base design: a YAML path or a shipped name")
    workload: str = Field(description="Workload: a YAML path or a shipped name")
    scenario: SweepScenario = Field(default_factory=SweepScenario)
    vary: dict[str, list[Any]] = Field(
        description="Dotted hardware field -> values, e.g. array.rows: [64, 128, 256]"
    )
    scale_sram_bandwidth: bool = Field(
        True,
        description="Scale every buffer port's bandwidth with the array's larger growth factor, "
        "so a bigger array is still fed (unless the sweep varies a bandwidth itself)",
    )


def _field_exists(path: list[str]) -> bool:
    """Whether a dotted path names a field of HardwareConfig (nested models followed)."""
    import types
    import typing

    current: Any = HardwareConfig
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return False
        info = current.model_fields.get(part)
        if info is None:
            return False
        ann = info.annotation
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            models = [
                a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            ann = models[0] if models else ann
        current = ann
    return True


def sweep_problems(spec: SweepSpec) -> list[tuple[str, str]]:
    """Cross-field problems of a sweep file, as (dotted field, message)."""
    out: list[tuple[str, str]] = []
    if not spec.vary:
        out.append(
            ("vary", "nothing to vary (got an empty mapping; expected e.g. array.rows: [64, 128])")
        )
    for key, values in spec.vary.items():
        if not _field_exists(key.split(".")):
            out.append(
                (
                    f"vary.{key}",
                    f"not a hardware field (got '{key}'; expected a dotted "
                    "path such as array.rows or dram.bw_gb_per_s)",
                )
            )
        if not values:
            out.append((f"vary.{key}", "no values (got an empty list; expected at least one)"))
        for i, value in enumerate(values):
            if _has_non_finite(value):
                out.append(
                    (
                        f"vary.{key}.{i}",
                        f"not a finite number (got {value!r}; expected a finite value, "
                        "since every point's parameters are written as standard JSON)",
                    )
                )
    return out


def _has_non_finite(value: Any) -> bool:
    """Whether ``value`` is, or holds, a NaN or an infinity."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False
