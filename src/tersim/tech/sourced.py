"""A number together with where it comes from (paper, table, tool run, or the rule deriving it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sourced:
    """A number with the place it comes from.

    ``source`` names the paper and table, the tool run, or, for a derived number, the rule and
    the inputs it was derived from (prefixed ``derived:``), or the assumption (``tersim
    assumption``). It is never empty.
    """

    value: float
    source: str
