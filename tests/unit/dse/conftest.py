"""Fixtures of the sweep tests (see sweep_helpers.py)."""

from __future__ import annotations

from sweep_helpers import model, tiny

__all__ = ["model", "tiny"]
