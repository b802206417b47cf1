"""What a simulation returns (frozen; no computation in constructors)."""

from __future__ import annotations

from dataclasses import dataclass

from tersim.hw.counts import ActionCounts
from tersim.mapping.schedule import Unit
from tersim.workload.ops import OpKind, Phase


@dataclass(frozen=True)
class OpSpan:
    """When one op computed: from its first tile's start to its last tile's end (cycles)."""

    op_index: int
    name: str
    kind: OpKind
    unit: Unit
    layer: int
    phase: Phase
    step: int
    start_cycle: int
    end_cycle: int


@dataclass(frozen=True)
class SimResult:
    total_cycles: int
    clock_hz: float
    busy_cycles: dict[str, int]  # by unit: array, vector, dram
    stall_cycles: dict[str, int]  # compute units waiting for DRAM data
    spans: tuple[OpSpan, ...]  # per op, in program order
    counts: ActionCounts
    fidelity: str

    @property
    def seconds(self) -> float:
        return self.total_cycles / self.clock_hz

    def phase_cycles(self, phase: Phase) -> int:
        """Cycles from the phase's first op start to its last op end (0 if absent)."""
        spans = [s for s in self.spans if s.phase == phase]
        if not spans:
            return 0
        return max(s.end_cycle for s in spans) - min(s.start_cycle for s in spans)

    def layer_cycles(self) -> dict[tuple[Phase, int, str], int]:
        """(phase, step, part) -> cycles spanned; parts are ``layer_N``, ``embedding`` and
        ``final_norm_and_head``."""
        spans: dict[tuple[Phase, int, str], tuple[int, int]] = {}
        for s in self.spans:
            part = (
                f"layer_{s.layer}"
                if s.layer >= 0
                else ("embedding" if s.kind is OpKind.EMBEDDING else "final_norm_and_head")
            )
            key = (s.phase, s.step, part)
            lo, hi = spans.get(key, (s.start_cycle, s.end_cycle))
            spans[key] = (min(lo, s.start_cycle), max(hi, s.end_cycle))
        return {k: hi - lo for k, (lo, hi) in spans.items()}

    def timeline(self, max_intervals: int = 2000) -> dict[str, list[tuple[int, int]]]:
        """Merged busy intervals per compute unit, at most ``max_intervals`` each (coarsened)."""
        result: dict[str, list[tuple[int, int]]] = {}
        for unit in sorted({s.unit.value for s in self.spans}):
            merged: list[list[int]] = []
            for s in self.spans:
                if s.unit.value != unit:
                    continue
                if merged and s.start_cycle <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], s.end_cycle)
                else:
                    merged.append([s.start_cycle, s.end_cycle])
            while len(merged) > max_intervals:  # join the closest neighbours pairwise
                merged = [
                    [merged[i][0], merged[min(i + 1, len(merged) - 1)][1]]
                    for i in range(0, len(merged), 2)
                ]
            result[unit] = [(a, b) for a, b in merged]
        return result
