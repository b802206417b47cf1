"""Typed schedules: what the simulator executes, produced by the mapping (pure functions).

A :class:`Schedule` is a sequence of :class:`OpSchedule` in program order. Each op is a list of
:class:`TileRun` s: runs of identical tiles, each tile being one DRAM->SRAM load followed by one
compute pass on a unit (the systolic array or the vector unit). The engine expands runs into
individual events (``tile`` fidelity) or handles a run at once (``fast`` fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tersim.counts import ActionCounts


class Unit(StrEnum):
    ARRAY = "array"
    VECTOR = "vector"


@dataclass(frozen=True)
class TileRun:
    """``count`` identical tiles: each loads ``load_bytes`` then computes ``compute_cycles``."""

    count: int
    load_bytes: int  # DRAM bytes read before this tile can compute (0: already on chip)
    compute_cycles: int
    unit: Unit


@dataclass(frozen=True)
class OpSchedule:
    """One trace op mapped onto the hardware."""

    op_index: int
    name: str
    kind: str
    layer: int
    phase: str
    step: int
    runs: tuple[TileRun, ...]
    write_bytes: int  # DRAM bytes written when the op's last tile is done (0: stays on chip)
    counts: ActionCounts  # actions of the whole op (PE ops, SRAM and DRAM bytes)

    @property
    def tiles(self) -> int:
        return sum(r.count for r in self.runs)

    def signature(self) -> tuple[object, ...]:
        """What determines the op's timing (two ops with equal signatures time alike)."""
        return (self.runs, self.write_bytes)


@dataclass(frozen=True)
class Schedule:
    ops: tuple[OpSchedule, ...]
