"""The ``DramModel`` protocol: how long a DRAM transfer takes, given what the DRAM is doing.

Both engines (the exact recurrence and the simpy model) time every transfer through the design's
model and carry its state, so a model may remember anything that is a function of the transfers
so far: per-channel busy times, which channel the next burst goes to. A state is
``DramState(free_cycles, next_channel)``; shifting every time in it by the same amount shifts
the outcome by that amount (the recurrence relies on this to skip repeated work).

**Channel busy intervals.** Every engine records, per modelled channel ``c`` (entry ``c`` of
``free_cycles``), the cycles it is moving data, from the states before and after each transfer:
a transfer that starts at ``start`` and moves ``free_cycles[c]`` from ``old`` to ``new > old``
makes channel ``c`` busy over ``[max(start, old), new)``; a channel whose free time does not
move is not used by the transfer. This holds for a model whose channels each serve their share
of a transfer first come first served, from when the transfer starts and the channel is idle,
for as many cycles as :meth:`DramModel.occupancy` says (the per-tile oracle builds its lanes
that way, one simpy resource per channel, and the tests compare both constructions). Since
transfers reach the model in start order, the union of the channel lanes is the DRAM lane (the
union of the transfers' ``[start, end)``): the last channel a transfer ends on has been busy
without a gap since some transfer that started no later than it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tersim.config.enums import DramModelKind


@dataclass(frozen=True, slots=True)
class DramParams:
    """The design's DRAM, in the simulator's units."""

    bw_bytes_per_cycle: float  # summed over all channels
    latency_cycles: int  # from a transfer's end until its data is usable (pipelined)
    channels: int
    burst_bytes: int


@dataclass(frozen=True, slots=True)
class DramState:
    free_cycles: tuple[int, ...]  # per modelled channel: when it is next idle
    next_channel: int  # where the next burst goes (interleaving models)

    @property
    def idle_at(self) -> int:
        """When every channel is idle (the DMA engine issues one transfer at a time)."""
        return max(self.free_cycles)

    def shifted(self, d: int) -> DramState:
        return DramState(tuple(t + d for t in self.free_cycles), self.next_channel)

    def is_shift_of(self, other: DramState, d: int) -> bool:
        """Whether this state is ``other`` with every time ``d`` later (no allocation)."""
        if self.next_channel != other.next_channel:
            return False
        mine, theirs = self.free_cycles, other.free_cycles
        if len(mine) == 1:  # the aggregate pipe
            return mine[0] - theirs[0] == d
        return all(a - b == d for a, b in zip(mine, theirs, strict=True))


@runtime_checkable
class DramModel(Protocol):
    kind: DramModelKind

    def initial_state(self, p: DramParams) -> DramState: ...

    def transfer(
        self, p: DramParams, state: DramState, start_cycle: int, nbytes: int
    ) -> tuple[DramState, int]:
        """Move ``nbytes`` starting no earlier than ``start_cycle``: the new state and the cycle
        the last byte has moved (``start_cycle`` itself when nothing moves)."""
        ...

    def occupancy(
        self, p: DramParams, state: DramState, nbytes: int
    ) -> tuple[tuple[int, int], ...]:
        """``(channel, cycles)`` for every channel a transfer of ``nbytes`` made in ``state``
        occupies: each serves its part for that many cycles from when the transfer starts and
        the channel is idle (so :meth:`transfer` ends when the last part does)."""
        ...
