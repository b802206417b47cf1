"""The timing rules every engine implements, so that they agree cycle for cycle.

A schedule is a graph: each op lists the ops it waits for (``OpSchedule.deps``, from the named
tensors it reads) and the order it is queued in (``Schedule.order``, from list scheduling: see
:mod:`tersim.mapping.assign`). An op is runs of identical tiles; a tile is one DRAM load (possibly
of nothing) then one compute on a named unit.

* **The queue.** Every transfer is in one DMA queue, op by op in queue order: each tile's load,
  then the op's write-back (if its output leaves the chip). ``dma_engines`` engines serve the
  queue: transfer ``x`` is dispatched, in queue order, as soon as an engine is free (``D_x =
  max(D_{x-1}, earliest free engine)``), and holds that engine until it ends.
* **Loads.** A load starts at the latest of: its dispatch; the end of every write-back of the
  ops its op depends on (data that went through DRAM is read after it was written); room in its
  unit's staging buffer, granted in queue order; and the start of the previous load (loads
  enter the DRAM in queue order). Room, double-buffered: the buffer (a matrix unit's weight
  buffer, private or the design's; vector units stage in the design's) holds the bytes of every
  tile from its load's start until its compute ends, and at most ``max_outstanding_tiles``
  tiles in flight; a tile larger than the buffer fills it; a tile with nothing to load needs
  none. Single-buffered: a load waits until the previous tile of its buffer has computed.
* **DRAM.** A transfer of ``x`` bytes occupies the DRAM as the design's model says
  (:mod:`tersim.hw.dram`; the aggregate pipe: ``ceil(x / bw)`` cycles), and its data is usable
  ``latency_cycles`` after it ends (latency is pipelined). Transfers reach the DRAM model in the
  order of their start cycles, ties in queue order. The mapping has rounded ``x`` up to bursts.
* **Compute.** Each unit computes its tiles in queue order. A tile starts at the latest of: its
  data's arrival (its load's start if it loads nothing), its unit's previous tile's end, and
  its op's gate: the first run of an op waits for every op it depends on to have computed, a
  later run (a product's rescale epilogue on a vector unit) for the op's previous run.
* **Writes.** An op's write-back starts once its last tile has computed, its engine is
  dispatched and the loads queued before it have started; with one DMA engine it blocks the
  queue meanwhile, with more the others keep loading.
* **Tile writes.** A tile may write back the outputs it completes (``write_bytes``, when the
  mapping overlaps the write-back with later tiles): that transfer is queued right after the
  load of its op's next tile (the op's last tile has none: its outputs go with the op's
  write-back). It starts once dispatched, ``write_ready_cycles`` after the tile's compute
  ended (its outputs drained) and after the loads queued before it started; every transfer
  queued after it starts after it ends (a fence: so the op's next-but-one tile, whose load
  comes after it, computes only once the write has freed its output space; a double-buffered
  output buffer holds the outputs being written beside the ones being accumulated). With one
  DMA engine the fence changes nothing (the engine is busy until the write ends).

* **Fused epilogues.** A tile may carry the epilogue of the outputs it completes
  (``epilogue_cycles`` on ``epilogue_unit``, under ``scheduling.fused_epilogue``: a quantized
  product's rescale, :mod:`tersim.mapping.epilogue`). In that unit's order it comes right after
  the tile (queue order); it starts at the latest of the tile's compute end plus
  ``write_ready_cycles`` (the block's drain) and the unit's previous work's end, and holds the
  unit for its cycles; it moves nothing through DRAM and counts no stall. The op ends at the
  latest end of its tiles and epilogues (its dependents and its write-back wait for that); its
  next run waits for its previous run's tiles only. Over ``n`` blocks completing at ``a + i T``,
  ``v`` cycles each, the unit free from ``c``: the op ends at ``max(c + n v, a + n v, a + (n - 1)
  T + v)``.

Stall: the cycles a unit's tile waited for its data beyond both its unit's previous tile and its
gate. DRAM busy: the cycles during which some transfer is moving (with one DMA engine, the sum
of the transfers' durations).

With ``scheduling: {dependencies: program_order, order: program}`` and one DMA engine these are
tersim v1's rules (one chain of computes in program order; tests pin v1's cycles).
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import BufferRole, DramModelKind
from tersim.config.hardware import HardwareConfig
from tersim.hw.dram import DramModel, DramParams, DramState, dram_model
from tersim.hw.units import MatrixUnit, compute_units


@dataclass(frozen=True)
class StagingBuffer:
    """Where a unit's loaded tiles wait for their compute."""

    capacity_bytes: int
    double_buffered: bool = True
    max_outstanding: int = 16  # tiles in flight (loaded or loading, not yet computed)

    def held_bytes(self, nbytes: int) -> int:
        """Buffer space a tile of ``nbytes`` occupies (at most the whole buffer)."""
        return min(nbytes, self.capacity_bytes)


@dataclass(frozen=True)
class MemoryTiming:
    dram: DramModel
    params: DramParams
    buffer_bytes: int  # the design's staging buffer (shared by every unit without its own)
    double_buffered: bool = True
    max_outstanding: int = 16  # tiles in flight (loaded or loading, not yet computed)
    dma_engines: int = 1
    private: tuple[tuple[str, StagingBuffer], ...] = ()  # units with their own staging buffer

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
        dma_engines: int = 1,
        private: tuple[tuple[str, StagingBuffer], ...] = (),
    ) -> MemoryTiming:
        """Timing from plain numbers (tests and single-GEMM studies)."""
        params = DramParams(bw_bytes_per_cycle, latency_cycles, channels, burst_bytes)
        return MemoryTiming(
            dram_model(model),
            params,
            buffer_bytes,
            double_buffered,
            max_outstanding,
            dma_engines,
            private,
        )

    def initial_dram(self) -> DramState:
        return self.dram.initial_state(self.params)

    def transfer(self, state: DramState, start_cycle: int, nbytes: int) -> tuple[DramState, int]:
        """The DRAM state after moving ``nbytes`` from ``start_cycle`` on, and its end cycle."""
        return self.dram.transfer(self.params, state, start_cycle, nbytes)

    def latency_for(self, nbytes: int) -> int:
        return self.params.latency_cycles if nbytes > 0 else 0

    def held_bytes(self, nbytes: int) -> int:
        """Space a tile of ``nbytes`` occupies in the shared staging buffer."""
        return min(nbytes, self.buffer_bytes)

    def buffers(self) -> tuple[StagingBuffer, ...]:
        """Staging buffers: the shared one first, then each private one."""
        shared = StagingBuffer(self.buffer_bytes, self.double_buffered, self.max_outstanding)
        return (shared, *(b for _, b in self.private))

    def buffer_of(self, unit: str) -> int:
        """Index (in :meth:`buffers`) of the staging buffer ``unit`` loads into."""
        for k, (name, _) in enumerate(self.private):
            if name == unit:
                return k + 1
        return 0


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
    private = []
    for u in compute_units(hw):
        if isinstance(u, MatrixUnit) and u.private_sram:
            w = u.sram.weight if u.sram.weight is not None else u.sram.unified
            assert w is not None  # guaranteed by design_problems
            private.append(
                (u.name, StagingBuffer(w.size_bytes, w.double_buffered, d.max_outstanding_tiles))
            )
    return MemoryTiming(
        dram_model(d.model),
        params,
        buf.size_bytes,
        buf.double_buffered,
        d.max_outstanding_tiles,
        d.dma_engines,
        tuple(private),
    )
