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


def _busy_cycles(p: DramParams, bursts: int) -> int:
    """Cycles one channel takes for ``bursts`` bursts (its share of the bandwidth)."""
    return math.ceil(bursts * p.burst_bytes * p.channels / p.bw_bytes_per_cycle)


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
        return tuple(
            ((state.next_channel + k) % ch, _busy_cycles(p, per_channel + (k < extra)))
            for k in range(min(bursts, ch))
        )

    def transfer(
        self, p: DramParams, state: DramState, start_cycle: int, nbytes: int
    ) -> tuple[DramState, int]:
        if nbytes <= 0:
            return state, start_cycle
        ch = p.channels
        bursts = -(-nbytes // p.burst_bytes)
        per_channel, extra = divmod(bursts, ch)
        free = list(state.free_cycles)
        done = start_cycle
        # the channels of the first ``extra`` offsets take one burst more (as in occupancy)
        more, fewer = _busy_cycles(p, per_channel + 1), _busy_cycles(p, per_channel)
        for offset in range(min(bursts, ch)):
            c = (state.next_channel + offset) % ch
            free[c] = max(start_cycle, free[c]) + (more if offset < extra else fewer)
            done = max(done, free[c])
        return DramState(tuple(free), (state.next_channel + bursts) % ch), done


MODEL = PerChannelDram()
