"""DRAM timing models, one module per :class:`~tersim.config.enums.DramModelKind` value.

To add a DRAM model: its value in ``DramModelKind`` and a module here named after it exporting
``MODEL`` (a :class:`~tersim.hw.dram.base.DramModel`). Access energy per bit comes from the
presets in :mod:`tersim.tech.dram` (or the design's ``dram.energy_pj_per_bit``), whatever the
timing model.
"""

from __future__ import annotations

from tersim.config.enums import DramModelKind
from tersim.hw.dram.base import DramModel, DramParams, DramState
from tersim.hw.plugin import load_model

__all__ = ["DramModel", "DramParams", "DramState", "dram_model"]


def dram_model(kind: DramModelKind) -> DramModel:
    """The timing model of ``kind``."""
    return load_model(__name__, DramModelKind(kind), DramModel)  # type: ignore[type-abstract]
