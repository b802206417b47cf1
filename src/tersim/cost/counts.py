"""Action counts: what the hardware did, the input of the energy model.

Produced by the simulator (``tersim.sim``) and consumed by ``tersim.cost.energy``. Plain integers, so
anyone can recompute an energy by hand from a JSON record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

BUFFERS = ("input", "weight", "output")
DRAM_OPERANDS = ("weights", "activations", "kv_cache")


@dataclass(frozen=True)
class PECounts:
    """Processing-element actions.

    A MAC array does one ``mul`` and one accumulating ``add`` per multiply-accumulate. A ternary
    adder array does one ``add`` (+1 weight), ``sub`` (-1 weight) or ``skip`` (zero weight) per
    weight-activation pair; whether a skip costs an add or only a zero check is the design's
    ``zero_skipping`` choice, priced by the energy model.
    """

    add: int = 0
    sub: int = 0
    skip: int = 0
    mul: int = 0

    def __add__(self, other: PECounts) -> PECounts:
        return PECounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scaled(self, k: int) -> PECounts:
        return PECounts(*(getattr(self, f.name) * k for f in fields(self)))


def _zeros(keys: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


@dataclass(frozen=True)
class ActionCounts:
    """Everything the energy model prices, for one run (or one op)."""

    pe_by_kind: dict[str, PECounts] = field(default_factory=dict)  # op kind -> PE actions
    vector_ops: int = 0  # element ops on the vector unit
    vector_macs: int = 0  # matrix products run on the vector unit (mul + add each)
    sram_read_bytes: dict[str, int] = field(default_factory=lambda: _zeros(BUFFERS))
    sram_write_bytes: dict[str, int] = field(default_factory=lambda: _zeros(BUFFERS))
    dram_read_bytes: dict[str, int] = field(default_factory=lambda: _zeros(DRAM_OPERANDS))
    dram_write_bytes: dict[str, int] = field(default_factory=lambda: _zeros(DRAM_OPERANDS))
    cycles: int = 0

    @property
    def pe_total(self) -> PECounts:
        total = PECounts()
        for c in self.pe_by_kind.values():
            total = total + c
        return total

    def __add__(self, other: ActionCounts) -> ActionCounts:
        def merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}

        kinds = {**self.pe_by_kind, **other.pe_by_kind}
        return ActionCounts(
            pe_by_kind={
                k: self.pe_by_kind.get(k, PECounts()) + other.pe_by_kind.get(k, PECounts())
                for k in kinds
            },
            vector_ops=self.vector_ops + other.vector_ops,
            vector_macs=self.vector_macs + other.vector_macs,
            sram_read_bytes=merge(self.sram_read_bytes, other.sram_read_bytes),
            sram_write_bytes=merge(self.sram_write_bytes, other.sram_write_bytes),
            dram_read_bytes=merge(self.dram_read_bytes, other.dram_read_bytes),
            dram_write_bytes=merge(self.dram_write_bytes, other.dram_write_bytes),
            cycles=self.cycles + other.cycles,
        )

    def to_json(self) -> dict[str, object]:
        pe = self.pe_total
        return {
            "mul": pe.mul,
            "add": pe.add,
            "sub": pe.sub,
            "skip": pe.skip,
            "pe_by_kind": {k: vars(v) for k, v in sorted(self.pe_by_kind.items())},
            "vector_ops": self.vector_ops,
            "vector_macs": self.vector_macs,
            "sram_read_bytes": dict(self.sram_read_bytes),
            "sram_write_bytes": dict(self.sram_write_bytes),
            "dram_read_bytes": dict(self.dram_read_bytes),
            "dram_write_bytes": dict(self.dram_write_bytes),
            "cycles": self.cycles,
        }


def sum_counts(items: list[ActionCounts], cycles: int = 0) -> ActionCounts:
    """The sum of many counts (faster than chaining ``+``), with ``cycles`` set.

    Schedules share one counts object among identical ops, so each distinct object is added
    once, times the number of its occurrences (integer sums: exact)."""
    occurrences: dict[int, list[Any]] = {}
    for c in items:
        seen = occurrences.get(id(c))
        if seen is None:
            occurrences[id(c)] = [c, 1]
        else:
            seen[1] += 1
    pe: dict[str, list[int]] = {}
    vec_ops = vec_macs = 0
    acc: dict[str, dict[str, int]] = {
        "sram_read_bytes": {},
        "sram_write_bytes": {},
        "dram_read_bytes": {},
        "dram_write_bytes": {},
    }
    for c, n in occurrences.values():
        for kind, p in c.pe_by_kind.items():
            t = pe.setdefault(kind, [0, 0, 0, 0])
            t[0] += p.add * n
            t[1] += p.sub * n
            t[2] += p.skip * n
            t[3] += p.mul * n
        vec_ops += c.vector_ops * n
        vec_macs += c.vector_macs * n
        for name, target in acc.items():
            for k, v in getattr(c, name).items():
                target[k] = target.get(k, 0) + v * n
    return ActionCounts(
        pe_by_kind={k: PECounts(*v) for k, v in pe.items()},
        vector_ops=vec_ops,
        vector_macs=vec_macs,
        sram_read_bytes={**_zeros(BUFFERS), **acc["sram_read_bytes"]},
        sram_write_bytes={**_zeros(BUFFERS), **acc["sram_write_bytes"]},
        dram_read_bytes={**_zeros(DRAM_OPERANDS), **acc["dram_read_bytes"]},
        dram_write_bytes={**_zeros(DRAM_OPERANDS), **acc["dram_write_bytes"]},
        cycles=cycles,
    )
