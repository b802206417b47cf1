"""The timing rules both fidelities implement, so they agree cycle for cycle.

* DRAM: one transfer queue served in program order by a DMA engine, one transfer at a time. How
  long a transfer of ``x`` bytes occupies the DRAM is the design's DRAM model's answer
  (``dram.model``; :mod:`tersim.hw.dram`): ``ceil(x / bw)`` cycles for the aggregate pipe
  (``bw`` = the bandwidth summed over all channels), or bursts interleaved over the channels
  for the per-channel model. Its data is usable ``latency_cycles`` after the transfer ends
  (latency is pipelined: it does not occupy the DRAM). The mapping rounds each operand's
  traffic up to whole bursts, so ``x`` already counts the bytes the bus really moves.
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

from dataclasses import dataclass

from tersim.config.enums import BufferRole, DramModelKind
from tersim.config.hardware import HardwareConfig
from tersim.hw.dram import DramModel, DramParams, DramState, dram_model


@dataclass(frozen=True)
class MemoryTiming:
    dram: DramModel
    params: DramParams
    buffer_bytes: int  # staging capacity for prefetched tiles
    double_buffered: bool = True
    max_outstanding: int = 16  # tiles in flight (loaded or loading, not yet computed)

    @staticmethod
    def of(
        bw_bytes_per_cycle: float,
        latency_cycles: int,
        buffer_bytes: int,
        double_buffered: bool = True,
        max_outstanding: int = 16,
        model: DramModelKind = DramModelKind.AGGREGATE,
        channels: int = 1,
        burst_bytes: int = 64,
    ) -> MemoryTiming:
        """Timing from plain numbers (tests and single-GEMM studies)."""
        params = DramParams(bw_bytes_per_cycle, latency_cycles, channels, burst_bytes)
        return MemoryTiming(
            dram_model(model), params, buffer_bytes, double_buffered, max_outstanding
        )

    def initial_dram(self) -> DramState:
        return self.dram.initial_state(self.params)

    def transfer(self, state: DramState, start_cycle: int, nbytes: int) -> tuple[DramState, int]:
        """The DRAM state after moving ``nbytes`` from ``start_cycle`` on, and its end cycle."""
        return self.dram.transfer(self.params, state, start_cycle, nbytes)

    def latency_for(self, nbytes: int) -> int:
        return self.params.latency_cycles if nbytes > 0 else 0

    def held_bytes(self, nbytes: int) -> int:
        """Buffer space a tile of ``nbytes`` occupies (at most the whole buffer)."""
        return min(nbytes, self.buffer_bytes)


def memory_timing(hw: HardwareConfig, ideal: bool = False) -> MemoryTiming:
    """The design's DRAM timing; ``ideal`` makes transfers free (data already on chip)."""
    buf = hw.buffer(BufferRole.WEIGHT)
    d = hw.dram
    params = DramParams(
        bw_bytes_per_cycle=float("inf") if ideal else hw.dram_bw_bytes_per_cycle,
        latency_cycles=0 if ideal else d.latency_cycles,
        channels=d.channels,
        burst_bytes=d.burst_bytes,
    )
    return MemoryTiming(
        dram_model(d.model), params, buf.size_bytes, buf.double_buffered, d.max_outstanding_tiles
    )
