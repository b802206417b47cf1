"""Breakdowns by component: frozen dataclasses whose fields ``<part><suffix>`` (``pe_array_w``,
``sram_mw``, ``weights_bytes``) are the parts of one total, in declaration order."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def parts(obj: Any, suffix: str, *, keep_suffix: bool = False) -> dict[str, Any]:
    """``{part: value}`` for each dataclass field of ``obj`` named ``part + suffix``, in
    declaration order (``keep_suffix``: keyed by the full field name)."""
    n = len(suffix)
    return {
        (f.name if keep_suffix else f.name[:-n]): getattr(obj, f.name)
        for f in fields(obj)
        if f.name.endswith(suffix)
    }


def total(obj: Any, suffix: str) -> Any:
    """The sum of ``obj``'s parts (see :func:`parts`), added left to right in declaration
    order (``sum`` starts at 0, and 0 + x is x exactly, so this equals ``a + b + ...``)."""
    return sum(parts(obj, suffix).values())
