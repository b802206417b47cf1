"""The timing rules both fidelities implement, so they agree cycle for cycle.

* DRAM: one transfer queue served in program order by a DMA engine. A transfer of ``x`` bytes
  occupies the DRAM for ``ceil(x / bw)`` cycles (``bw`` = the design's aggregate bandwidth over
  all channels); its data is usable ``latency_cycles`` later (latency is pipelined: it does not
  occupy the DRAM). The mapping rounds each operand's traffic up to whole bursts, so ``x``
  already counts the bytes the bus really moves.
* Buffer space: a tile's loaded bytes occupy the staging buffer (the weight buffer, which also
  receives streamed KV-cache and LM-head data) from the start of its load until its compute
  ends. With double buffering, tile ``j`` may start loading as soon as the DMA engine is free
  and the buffer has room for it next to the tiles still loaded or computing, and fewer than
  ``max_outstanding_tiles`` tiles are in flight: prefetch runs as deep as the buffer and the
  DMA engine allow. Without double buffering a tile's load waits for the previous
  tile's compute to end (load and compute never overlap). A tile larger than the buffer is
  treated as filling it. A tile with nothing to load is ready as soon as the DMA engine
  reaches it.
* Compute: tiles compute one after another in program order (each op's input is the previous
  op's output), on the array or the vector unit, each once its data has arrived.
* Writes: an op whose output does not stay on chip is written back as one transfer, queued in
  program order after the op's loads, once the op's last tile has computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig


@dataclass(frozen=True)
class MemoryTiming:
    bw_bytes_per_cycle: float
    latency_cycles: int
    buffer_bytes: int  # staging capacity for prefetched tiles
    double_buffered: bool = True
    max_outstanding: int = 16  # tiles in flight (loaded or loading, not yet computed)

    def transfer_cycles(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        return math.ceil(nbytes / self.bw_bytes_per_cycle)

    def latency_for(self, nbytes: int) -> int:
        return self.latency_cycles if nbytes > 0 else 0

    def held_bytes(self, nbytes: int) -> int:
        """Buffer space a tile of ``nbytes`` occupies (at most the whole buffer)."""
        return min(nbytes, self.buffer_bytes)


def memory_timing(hw: HardwareConfig, ideal: bool = False) -> MemoryTiming:
    """The design's DRAM timing; ``ideal`` makes transfers free (data already on chip)."""
    buf = hw.buffer(BufferRole.WEIGHT)
    depth = hw.dram.max_outstanding_tiles
    if ideal:
        return MemoryTiming(float("inf"), 0, buf.size_bytes, buf.double_buffered, depth)
    return MemoryTiming(
        hw.dram_bw_bytes_per_cycle,
        hw.dram.latency_cycles,
        buf.size_bytes,
        buf.double_buffered,
        depth,
    )
