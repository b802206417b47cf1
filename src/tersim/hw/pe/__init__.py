"""Processing-element models, one module per :class:`~tersim.config.enums.PEKind` value.

To add a PE kind: its value in ``PEKind`` with its row of ``PE_WEIGHT_FORMATS``
(``config/enums.py``), and a module here named after the value exporting ``MODEL`` (a
:class:`~tersim.hw.pe.base.PEModel`). Nothing else dispatches on the kind.
"""

from __future__ import annotations

from tersim.config.enums import PEKind
from tersim.hw.pe.base import (
    ASSUMED_TERNARY_ZERO_FRACTION,
    ArrayMatmul,
    MatmulShape,
    MeasuredSlots,
    PEArea,
    PEModel,
    PEPrices,
)
from tersim.hw.plugin import load_model

__all__ = [
    "ASSUMED_TERNARY_ZERO_FRACTION",
    "ArrayMatmul",
    "MatmulShape",
    "MeasuredSlots",
    "PEArea",
    "PEModel",
    "PEPrices",
    "pe_model",
]


def pe_model(kind: PEKind) -> PEModel:
    """The model of PE kind ``kind``."""
    return load_model(__name__, PEKind(kind), PEModel)  # type: ignore[type-abstract]
