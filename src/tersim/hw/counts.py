"""Action counts: what the hardware did, the input of the energy model.

Produced by the mapping (per op) and summed by the simulator; priced by ``tersim.cost.energy``.
Plain integers keyed by enums (which serialize as their values), so anyone can recompute an
energy by hand from a JSON record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from tersim.config.enums import BufferRole, DramOperand


@dataclass(frozen=True)
class PECounts:
    """Processing-element actions.

    A MAC array does one ``mul`` and one accumulating ``add`` per multiply-accumulate. A ternary
    adder array does one ``add`` (+1 weight), ``sub`` (-1 weight) or ``skip`` (zero weight) per
    weight-activation pair; whether a skip costs an add or only a zero check is the design's
    ``zero_skipping`` choice, priced by the energy model. A LUT array does one ``lookup`` (and
    one accumulating ``add``) per group of g weights and bit-plane, and ``table_add`` adds to
    build its tables in the array; a bit-serial array one ``plane_add`` per weight bit-plane of
    each pair. ``act_skip``: pairs whose zero activation was gated (a zero check instead).
    Each PE model prices the fields it produces (``tersim.hw.pe``).
    """

    add: int = 0
    sub: int = 0
    skip: int = 0
    mul: int = 0
    lookup: int = 0
    table_add: int = 0
    plane_add: int = 0
    act_skip: int = 0

    def __add__(self, other: PECounts) -> PECounts:
        return PECounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def times(self, k: int) -> PECounts:
        """``k`` times these actions."""
        return PECounts(*(getattr(self, f.name) * k for f in fields(self)))

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PE_ACTIONS = tuple(f.name for f in fields(PECounts))


_ROLES = tuple(BufferRole)  # iterating an enum class is slow; the members never change
_OPERANDS = tuple(DramOperand)


def buffer_bytes(input: int = 0, weight: int = 0, output: int = 0) -> dict[BufferRole, int]:
    """Bytes by buffer role, every role present."""
    return {BufferRole.INPUT: input, BufferRole.WEIGHT: weight, BufferRole.OUTPUT: output}


def dram_bytes(weights: int = 0, activations: int = 0, kv_cache: int = 0) -> dict[DramOperand, int]:
    """Bytes by DRAM operand, every operand present."""
    return {
        DramOperand.WEIGHTS: weights,
        DramOperand.ACTIVATIONS: activations,
        DramOperand.KV_CACHE: kv_cache,
    }


@dataclass(frozen=True)
class ActionCounts:
    """Everything the energy model prices, for one run (or one op)."""

    pe_by_kind: dict[str, PECounts] = field(default_factory=dict)  # op kind -> PE actions
    # matrix unit -> op kind -> PE actions (the same actions as pe_by_kind, by unit, so that
    # each is priced at its unit's PE; empty: all on the design's array)
    pe_by_unit: dict[str, dict[str, PECounts]] = field(default_factory=dict)
    vector_ops: int = 0  # element ops on the vector unit
    vector_macs: int = 0  # matrix products run on the vector unit (mul + add each)
    sram_read_bytes: dict[BufferRole, int] = field(default_factory=buffer_bytes)
    sram_write_bytes: dict[BufferRole, int] = field(default_factory=buffer_bytes)
    dram_read_bytes: dict[DramOperand, int] = field(default_factory=dram_bytes)
    dram_write_bytes: dict[DramOperand, int] = field(default_factory=dram_bytes)
    cycles: int = 0

    @property
    def pe_total(self) -> PECounts:
        total = PECounts()
        for c in self.pe_by_kind.values():
            total = total + c
        return total

    def to_json(self) -> dict[str, object]:
        return {
            **self.pe_total.to_json(),
            "pe_by_kind": {k: v.to_json() for k, v in sorted(self.pe_by_kind.items())},
            "vector_ops": self.vector_ops,
            "vector_macs": self.vector_macs,
            "sram_read_bytes": {k.value: v for k, v in self.sram_read_bytes.items()},
            "sram_write_bytes": {k.value: v for k, v in self.sram_write_bytes.items()},
            "dram_read_bytes": {k.value: v for k, v in self.dram_read_bytes.items()},
            "dram_write_bytes": {k.value: v for k, v in self.dram_write_bytes.items()},
            "cycles": self.cycles,
        }


def sum_counts(items: Iterable[ActionCounts], cycles: int = 0) -> ActionCounts:
    """The sum of many counts, with ``cycles`` set. Counts are plain integers, so each distinct
    object is added once, times how often it occurs (ops mapped alike share their counts)."""
    distinct: dict[int, ActionCounts] = {}
    times: dict[int, int] = {}
    for c in items:
        k = id(c)
        if k in times:
            times[k] += 1
        else:
            distinct[k] = c
            times[k] = 1
    return sum_counts_times(((c, times[k]) for k, c in distinct.items()), cycles)


def sum_counts_times(items: Iterable[tuple[ActionCounts, int]], cycles: int = 0) -> ActionCounts:
    """The sum of counts each taken a number of times (``(counts, times)`` pairs)."""
    pe: dict[str, PECounts] = {}
    by_unit: dict[str, dict[str, PECounts]] = {}
    vec_ops = vec_macs = 0
    sram_r, sram_w = buffer_bytes(), buffer_bytes()
    dram_r, dram_w = dram_bytes(), dram_bytes()
    for c, n in items:
        for kind, p in c.pe_by_kind.items():
            p = p if n == 1 else p.times(n)
            pe[kind] = pe[kind] + p if kind in pe else p
        for unit, kinds in c.pe_by_unit.items():
            u = by_unit.setdefault(unit, {})
            for kind, p in kinds.items():
                p = p if n == 1 else p.times(n)
                u[kind] = u[kind] + p if kind in u else p
        vec_ops += c.vector_ops * n
        vec_macs += c.vector_macs * n
        for role in _ROLES:
            sram_r[role] += c.sram_read_bytes[role] * n
            sram_w[role] += c.sram_write_bytes[role] * n
        for operand in _OPERANDS:
            dram_r[operand] += c.dram_read_bytes[operand] * n
            dram_w[operand] += c.dram_write_bytes[operand] * n
    return ActionCounts(
        pe_by_kind=pe,
        pe_by_unit=by_unit,
        vector_ops=vec_ops,
        vector_macs=vec_macs,
        sram_read_bytes=sram_r,
        sram_write_bytes=sram_w,
        dram_read_bytes=dram_r,
        dram_write_bytes=dram_w,
        cycles=cycles,
    )
