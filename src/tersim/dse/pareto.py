"""Pareto fronts over two or three objectives, each minimized or maximized.

Point ``a`` dominates ``b`` when ``a`` is no worse on every objective and better on at least
one; the front is every point no other point dominates (points with equal objective values
are all kept). Method: flip maximized objectives, sort lexicographically, and keep a point
when no point already on the front dominates it: after the sort a point can only be dominated
by an earlier one, and whatever dominates it is itself dominated by (or is) a front point, so
comparing against the front suffices. Cost O(n log n + n * front size); tested against the
all-pairs definition.
"""

from __future__ import annotations

from collections.abc import Sequence

from tersim.config.sweep import Goal


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` dominates ``b`` (all objectives minimized)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(values: Sequence[Sequence[float]], goals: Sequence[Goal]) -> list[int]:
    """Indices (ascending) of the non-dominated entries of ``values``."""
    signs = [1.0 if g is Goal.MIN else -1.0 for g in goals]
    keyed = [tuple(s * v for s, v in zip(signs, row, strict=True)) for row in values]
    order = sorted(range(len(keyed)), key=lambda i: keyed[i])
    front: list[int] = []
    for i in order:
        if not any(dominates(keyed[j], keyed[i]) for j in front):
            front.append(i)
    return sorted(front)
