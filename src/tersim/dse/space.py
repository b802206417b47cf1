"""The design space of a sweep: its axes and the lazy ways of drawing points from them.

A point is a tuple of (dotted field, value) pairs, one per axis, in the file's axis order.
Nothing here materializes the space: a grid is walked with ``itertools.product``; a random
sample draws distinct flat indices with ``random.Random(seed).sample(range(size), n)`` (which
never builds the range) and decodes each in mixed radix; a Latin hypercube builds ``n`` strata
per axis. Memory is bounded by the axes' value lists and the number of samples.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class DesignSpace:
    """Axes in file order: (dotted field, its values)."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def of(cls, vary: dict[str, list[Any]]) -> DesignSpace:
        return cls(tuple((k, tuple(v)) for k, v in vary.items()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.axes)

    @property
    def size(self) -> int:
        return math.prod(len(v) for _, v in self.axes)

    def point(self, indices: tuple[int, ...]) -> Params:
        return tuple((k, vals[i]) for (k, vals), i in zip(self.axes, indices, strict=True))

    def decode(self, flat: int) -> tuple[int, ...]:
        """Axis indices of grid position ``flat`` (last axis fastest, as ``grid`` walks)."""
        out = []
        for _, vals in reversed(self.axes):
            flat, i = divmod(flat, len(vals))
            out.append(i)
        return tuple(reversed(out))

    def grid(self) -> Iterator[Params]:
        """Every combination, last axis fastest."""
        names = self.names
        for values in itertools.product(*(v for _, v in self.axes)):
            yield tuple(zip(names, values, strict=True))

    def random(self, n: int, seed: int) -> Iterator[Params]:
        """``min(n, size)`` distinct grid points, uniformly, reproducible from ``seed``."""
        rng = random.Random(seed)
        for flat in rng.sample(range(self.size), min(n, self.size)):
            yield self.point(self.decode(flat))

    def latin_hypercube(self, n: int, seed: int) -> Iterator[Params]:
        """``n`` Latin-hypercube samples (see :func:`latin_hypercube_unit`): coordinate ``u``
        of an axis picks value ``floor(u * len(values))``; equal samples are yielded once."""
        unit = latin_hypercube_unit(n, len(self.axes), random.Random(seed))
        seen: set[tuple[int, ...]] = set()
        for coords in unit:
            row = tuple(
                min(len(vals) - 1, int(u * len(vals)))
                for u, (_, vals) in zip(coords, self.axes, strict=True)
            )
            if row not in seen:
                seen.add(row)
                yield self.point(row)


def latin_hypercube_unit(n: int, dims: int, rng: random.Random) -> list[tuple[float, ...]]:
    """``n`` points in the unit cube [0, 1)^dims such that, on every axis, each of the ``n``
    strata [k/n, (k+1)/n) holds exactly one point (at a uniform position inside it); the
    strata are paired across axes by independent shuffles."""
    columns = []
    for _ in range(dims):
        strata = list(range(n))
        rng.shuffle(strata)
        columns.append([(k + rng.random()) / n for k in strata])
    return list(zip(*columns, strict=True))
