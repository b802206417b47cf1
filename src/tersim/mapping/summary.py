"""The mapping part of a run record: each distinct op's mapping and traffic against its bounds.

Ops that differ only by layer (``L3.q_proj`` and ``L4.q_proj``) and map alike are one entry,
named with ``L*``; decode steps whose ops map alike are one entry too. Per entry: how many ops
it stands for, the mapping (loop nest, tile, residency), and per op its DRAM bytes, compulsory
bytes (:mod:`tersim.mapping.bounds`), lower bound and ``dram_bytes / compulsory_bytes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tersim.mapping.schedule import MappingInfo, Schedule

_LAYER = re.compile(r"^L\d+\.")


@dataclass(frozen=True)
class OpTraffic:
    """One distinct op: its mapping and its DRAM traffic per op."""

    name: str  # with the layer replaced by ``L*``
    phase: str
    kind: str
    ops: int  # ops this entry stands for
    dram_bytes: int  # per op
    compulsory_bytes: int
    lower_bound_bytes: int
    mapping: MappingInfo | None

    def to_json(self) -> dict[str, Any]:
        ratio = self.dram_bytes / self.compulsory_bytes if self.compulsory_bytes else 1.0
        return {
            "name": self.name,
            "phase": self.phase,
            "kind": self.kind,
            "ops": self.ops,
            "dram_bytes": self.dram_bytes,
            "compulsory_bytes": self.compulsory_bytes,
            "lower_bound_bytes": self.lower_bound_bytes,
            "dram_to_compulsory": ratio,
            "mapping": None if self.mapping is None else self.mapping.to_json(),
        }


@dataclass(frozen=True)
class MappingSummary:
    """Run totals and the distinct matrix-product ops (vector ops count in the totals only:
    they read and write each tensor once, at the compulsory traffic)."""

    dram_bytes: int
    compulsory_bytes: int
    lower_bound_bytes: int
    entries: tuple[OpTraffic, ...]

    @property
    def dram_to_compulsory(self) -> float:
        return self.dram_bytes / self.compulsory_bytes if self.compulsory_bytes else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "dram_bytes": self.dram_bytes,
            "compulsory_bytes": self.compulsory_bytes,
            "lower_bound_bytes": self.lower_bound_bytes,
            "dram_to_compulsory": self.dram_to_compulsory,
            "ops": [e.to_json() for e in self.entries],
        }


def summarize(schedule: Schedule) -> MappingSummary:
    """The record's mapping section of ``schedule``.

    Ops are first counted per name and phase and per the objects their schedule shares with
    the ops mapped alike (runs, counts, mapping); the entries then join those groups by value,
    in the order their first ops come, so each op is looked at once and each distinct one
    compared once."""
    fine: dict[tuple[object, ...], list[Any]] = {}
    names: dict[str, str] = {}

    def layerless(name: str) -> str:
        got = names.get(name)
        if got is None:
            got = names[name] = _LAYER.sub("L*.", name)
        return got

    ops = schedule.ops
    if schedule.segments is not None and schedule.segments_cover_ops():
        # an op's schedule is its segment plan's at its place (the mapping's prototype); ops
        # are counted per name with the layer replaced (the entries' names), so the counts
        # do not hold a key per layer of every pass
        for ref in schedule.segment_copies():
            phase, at = schedule.op_head(ref.start).phase, ref.start
            for k, proto in enumerate(ref.plan.ops):
                name = layerless(schedule.op_head(at + k).name)
                key: tuple[object, ...] = (phase, name, id(proto))
                e = fine.get(key)
                if e is None:
                    fine[key] = [ops[at + k], 1]
                else:
                    e[1] += 1
    else:
        for op in ops:
            key = (
                op.phase, op.name, id(op.runs), op.write_bytes, id(op.counts), id(op.mapping),
                op.compulsory_bytes, op.lower_bound_bytes,
            )  # fmt: skip
            e = fine.get(key)
            if e is None:
                fine[key] = [op, 1]
            else:
                e[1] += 1
    groups: dict[tuple[object, ...], list[Any]] = {}
    dram = compulsory = bound = 0
    for op, n in fine.values():
        d = op.dram_bytes
        dram += d * n
        compulsory += op.compulsory_bytes * n
        bound += op.lower_bound_bytes * n
        if op.mapping is None:
            continue
        name = layerless(op.name)
        gkey = (op.phase, name, op.signature(), d, op.compulsory_bytes, op.lower_bound_bytes)
        entry = groups.get(gkey)
        if entry is None:
            groups[gkey] = [op, name, n]
        else:
            entry[2] += n
    entries = tuple(
        OpTraffic(
            name,
            op.phase.value,
            op.kind.value,
            count,
            op.dram_bytes,
            op.compulsory_bytes,
            op.lower_bound_bytes,
            op.mapping,
        )
        for op, name, count in groups.values()
    )
    return MappingSummary(dram, compulsory, bound, entries)
