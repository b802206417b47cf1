"""Aggregate DRAM: one pipe with the summed bandwidth of all channels (tersim's first model).

A transfer of ``x`` bytes occupies the DRAM for ``ceil(x / bw)`` cycles from when it is both
requested and the DRAM is idle; the mapping has already rounded ``x`` up to whole bursts. Its
one channel's busy lane is the DRAM lane itself (engines record no channel lanes for it).
"""

from __future__ import annotations

import math

from tersim.config.enums import DramModelKind
from tersim.hw.dram.base import DramParams, DramState


class AggregateDram:
    kind = DramModelKind.AGGREGATE

    def initial_state(self, p: DramParams) -> DramState:
        return DramState((0,), 0)

    def transfer(
        self, p: DramParams, state: DramState, start_cycle: int, nbytes: int
    ) -> tuple[DramState, int]:
        if nbytes <= 0:
            return state, start_cycle
        begin = max(start_cycle, state.free_cycles[0])
        done = begin + math.ceil(nbytes / p.bw_bytes_per_cycle)
        return DramState((done,), 0), done

    def occupancy(
        self, p: DramParams, state: DramState, nbytes: int
    ) -> tuple[tuple[int, int], ...]:
        if nbytes <= 0:
            return ()
        return ((0, math.ceil(nbytes / p.bw_bytes_per_cycle)),)


MODEL = AggregateDram()
