"""Strict scalar types for YAML fields: ``rows: "128"`` or ``double_buffered: 1`` are errors."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

PosInt = Annotated[int, Strict(), Field(gt=0)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
PosFloat = Annotated[float, Strict(), Field(gt=0)]
Flag = Annotated[bool, Strict()]
