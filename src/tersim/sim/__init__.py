"""Discrete-event simulation of a schedule on the hardware."""

from tersim.sim.engine import Fidelity, simulate
from tersim.sim.result import OpSpan, SimResult
from tersim.sim.timing import MemoryTiming, memory_timing

__all__ = ["Fidelity", "MemoryTiming", "OpSpan", "SimResult", "memory_timing", "simulate"]
