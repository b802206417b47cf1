"""Discrete-event simulation of a schedule on the hardware."""

from tersim.sim.engine import Fidelity, simulate
from tersim.sim.result import OpSpan, SimResult, UnitTimeline
from tersim.sim.timing import MemoryTiming, StagingBuffer, memory_timing

__all__ = [
    "Fidelity",
    "MemoryTiming",
    "OpSpan",
    "SimResult",
    "StagingBuffer",
    "UnitTimeline",
    "memory_timing",
    "simulate",
]
