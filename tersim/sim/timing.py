"""The timing rules both fidelities implement, so they agree cycle for cycle.

* DRAM: one transfer queue served in program order by a DMA engine. A transfer of ``x`` bytes
  occupies the DRAM for ``ceil(x / bw)`` cycles (``bw`` = the design's aggregate bandwidth over
  all channels); its data is usable ``latency_cycles`` later (latency is pipelined: it does not
  occupy the DRAM). The mapping rounds each operand's traffic up to whole bursts, so ``x``
  already counts the bytes the bus really moves.
* Tiles: tile ``j`` may start loading when the DMA engine is free and a buffer slot is free; with
  double buffering there are two slots (the slot of tile ``j`` frees when tile ``j-2`` finishes
  computing), else one. A tile with nothing to load is ready as soon as the DMA engine reaches
  it. Tiles compute one after another in program order (each op's input is the previous op's
  output), on the array or the vector unit.
* Writes: an op whose output does not stay on chip is written back as one transfer, queued in
  program order after the op's loads, once the op's last tile has computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tersim.config.hardware import HardwareConfig


@dataclass(frozen=True)
class MemoryTiming:
    bw_bytes_per_cycle: float
    latency_cycles: int
    slots: int  # 2 with double buffering, else 1

    def transfer_cycles(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        return math.ceil(nbytes / self.bw_bytes_per_cycle)

    def latency_for(self, nbytes: int) -> int:
        return self.latency_cycles if nbytes > 0 else 0


def memory_timing(hw: HardwareConfig, ideal: bool = False) -> MemoryTiming:
    """The design's DRAM timing; ``ideal`` makes transfers free (data already on chip)."""
    slots = 2 if hw.buffer("weight").double_buffered else 1
    if ideal:
        return MemoryTiming(float("inf"), 0, slots)
    return MemoryTiming(hw.dram_bw_bytes_per_cycle, hw.dram.latency_cycles, slots)
