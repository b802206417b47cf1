"""The mapping search's judge: the engine's cycles and the energy model's prices for one design.

The mapping layer sits below the simulator and the energy model, so it cannot call them; this
object, built here (above both), is passed down to it. A point's cycles are the fast engine's
cycles of its tiles run alone from an idle machine, so what the mapper predicts is what the
engine measures for the op on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import DramModelKind
from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import PriceList, estimate_energy, price_list
from tersim.hw.counts import ActionCounts
from tersim.mapping.schedule import TileRun
from tersim.sim import MemoryTiming, memory_timing
from tersim.sim.alone import op_alone_cycles


@dataclass(frozen=True)
class EngineJudge:
    """Cycles from the engine on the op alone (:func:`tersim.sim.alone.op_alone_cycles`, what
    :func:`tersim.sim.simulate` measures for a one-op schedule); energy
    from :func:`tersim.cost.energy.estimate_energy` at the design's prices."""

    mem: MemoryTiming
    prices: PriceList
    clock_hz: float
    leak_pj_per_cycle: float  # leakage energy of one cycle at these prices

    @property
    def dram_bw_bytes_per_cycle(self) -> float:
        return self.mem.params.bw_bytes_per_cycle

    @property
    def dram_latency_cycles(self) -> int:
        return self.mem.params.latency_cycles

    @property
    def leakage_pj_per_cycle(self) -> float:
        return self.leak_pj_per_cycle

    @property
    def loads_overlap(self) -> bool:
        m = self.mem
        several = m.dma_engines > 1 and m.params.channels > 1
        return several and m.dram.kind is not DramModelKind.AGGREGATE

    def op_cycles(self, runs: tuple[TileRun, ...], write_bytes: int) -> int:
        return op_alone_cycles(runs, write_bytes, self.mem)

    def first_load_cycles(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        _, end = self.mem.transfer(self.mem.initial_dram(), 0, nbytes)
        return end + self.mem.latency_for(nbytes)

    def energy_pj(self, counts: ActionCounts) -> float:
        return estimate_energy(counts, self.prices).total_pj


def engine_judge(hw: HardwareConfig, ideal_memory: bool = False) -> EngineJudge:
    """The judge of design ``hw`` (``ideal_memory``: free DRAM, as the run's timing)."""
    prices = price_list(hw)
    leak = estimate_energy(ActionCounts(cycles=1), prices).leakage_pj
    return EngineJudge(memory_timing(hw, ideal=ideal_memory), prices, hw.array.clock_hz, leak)
