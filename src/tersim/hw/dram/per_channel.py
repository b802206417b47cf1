"""Per-channel DRAM: bursts interleaved over ``channels``, each with its share of the bandwidth.

A transfer of ``x`` bytes is ``b = ceil(x / burst_bytes)`` bursts. Burst ``i`` goes to channel
``(next + i) mod channels`` (round robin, continuing where the previous transfer stopped), so
channel ``c`` receives ``n_c`` bursts. Each channel moves ``bw / channels`` bytes per cycle: it
is busy for ``ceil(n_c * burst_bytes * channels / bw)`` cycles from ``max(start, its idle
time)`` (its busy interval, as :mod:`tersim.hw.dram.base` records it). The transfer is done
when its last channel is. A transfer smaller than one burst per channel therefore uses only
part of the bandwidth: one 64-byte burst on 8 channels of 32 B/cycle takes 2 cycles, not the
0.25 of the aggregate pipe.
"""

from __future__ import annotations

import math

from tersim.config.enums import DramModelKind
from tersim.hw.dram.base import DramParams, DramState


class PerChannelDram:
    kind = DramModelKind.PER_CHANNEL

    def initial_state(self, p: DramParams) -> DramState:
        return DramState((0,) * p.channels, 0)

    def occupancy(
        self, p: DramParams, state: DramState, nbytes: int
    ) -> tuple[tuple[int, int], ...]:
        if nbytes <= 0:
            return ()
        ch = p.channels
        bursts = -(-nbytes // p.burst_bytes)
        per_channel, extra = divmod(bursts, ch)
        bw, burst = p.bw_bytes_per_cycle, p.burst_bytes
        return tuple(
            (
                (state.next_channel + offset) % ch,
                math.ceil((per_channel + (1 if offset < extra else 0)) * burst * ch / bw),
            )
            for offset in range(min(bursts, ch))
        )

    def transfer(
        self, p: DramParams, state: DramState, start_cycle: int, nbytes: int
    ) -> tuple[DramState, int]:
        if nbytes <= 0:
            return state, start_cycle
        free = list(state.free_cycles)
        done = start_cycle
        for c, busy in self.occupancy(p, state, nbytes):
            free[c] = max(start_cycle, free[c]) + busy
            done = max(done, free[c])
        bursts = -(-nbytes // p.burst_bytes)
        return DramState(tuple(free), (state.next_channel + bursts) % p.channels), done


MODEL = PerChannelDram()
