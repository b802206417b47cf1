"""What a simulation returns (frozen; no computation in constructors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from tersim.hw.counts import ActionCounts
from tersim.workload.ops import OpKind, Phase

TIMELINE_BUCKETS = 512  # resolution of a unit's busy histogram
TIMELINE_MAX_INTERVALS = 2000  # exact intervals kept per unit (beyond: the histogram only)


def _busy_before(x: int, s: int, length: int, stride: int, count: int) -> int:
    """Busy cycles before cycle ``x`` of ``count`` intervals ``[s + i stride, s + i stride +
    length)`` (disjoint: ``length <= stride``)."""
    if x <= s:
        return 0
    if count == 1 or stride == 0:
        return min(x - s, length)
    k, r = divmod(x - s, stride)
    if k >= count:
        return count * length
    return k * length + min(r, length)


def merged_intervals(groups: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Every interval of strided groups ``(start, end, stride, count)``, sorted, touching ones
    merged."""
    pts = sorted((s + k * stride, e + k * stride) for s, e, stride, c in groups for k in range(c))
    merged: list[tuple[int, int]] = []
    for a, b in pts:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True)
class UnitTimeline:
    """When one unit computed: its exact busy cycles, a histogram of them in equal buckets
    (each bucket's busy cycles, exact: no interval merging, no invented busy time) and, when
    there are few, the exact busy intervals (back-to-back tiles merged)."""

    busy_cycles: int
    bucket_cycles: int
    busy_per_bucket: tuple[int, ...]
    intervals: tuple[tuple[int, int], ...] | None  # None: more than TIMELINE_MAX_INTERVALS
    # the exact strided groups it was made from (in memory only, for zoomed-in views)
    groups: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False, compare=False)

    @staticmethod
    def of(groups: Sequence[Sequence[int]], total_cycles: int) -> UnitTimeline:
        """From strided interval groups ``(start, end, stride, count)``."""
        busy = sum((e - s) * c for s, e, _, c in groups)
        width = max(1, -(-total_cycles // TIMELINE_BUCKETS))
        n = -(-total_cycles // width) if total_cycles else 0
        hist = [0] * n
        count = 0
        for s, e, stride, c in groups:
            count += c
            last_end = e + (c - 1) * stride
            for b in range(s // width, min(n, -(-last_end // width))):
                lo, hi = b * width, (b + 1) * width
                hist[b] += _busy_before(hi, s, e - s, stride, c) - _busy_before(
                    lo, s, e - s, stride, c
                )
        intervals = tuple(merged_intervals(groups)) if count <= TIMELINE_MAX_INTERVALS else None
        kept = tuple((int(a), int(b), int(st), int(c)) for a, b, st, c in groups)
        return UnitTimeline(busy, width, tuple(hist), intervals, kept)

    def to_json(self) -> dict[str, object]:
        return {
            "busy_cycles": self.busy_cycles,
            "bucket_cycles": self.bucket_cycles,
            "busy_per_bucket": list(self.busy_per_bucket),
            "intervals": None if self.intervals is None else [list(i) for i in self.intervals],
        }


class OpSpan(NamedTuple):
    """When one op computed: from its first tile's start to its last tile's end (cycles). A
    named tuple: a run holds one per op, so it must be cheap to make."""

    op_index: int
    name: str
    kind: OpKind
    unit: str
    layer: int
    phase: Phase
    step: int
    start_cycle: int
    end_cycle: int


@dataclass(frozen=True)
class SimResult:
    total_cycles: int
    clock_hz: float
    busy_cycles: dict[str, int]  # by unit name (array, vector, ...), and dram
    stall_cycles: dict[str, int]  # compute units waiting for DRAM data
    spans: tuple[OpSpan, ...]  # per op, in program order
    counts: ActionCounts
    fidelity: str
    timelines: dict[str, UnitTimeline] = field(default_factory=dict)  # per unit

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

    def timeline_json(self) -> dict[str, dict[str, object]]:
        """Every unit's busy timeline (see :class:`UnitTimeline`), for the record."""
        return {u: t.to_json() for u, t in sorted(self.timelines.items())}
