"""The capacity rules every mapping decision shares: usable buffer bytes and DRAM bursts."""

from __future__ import annotations

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig


def usable_bytes(hw: HardwareConfig, role: BufferRole) -> int:
    """Capacity one tile can use: half the buffer when double-buffered; a unified buffer is
    shared by the three roles, a third each."""
    buf = hw.buffer(role)
    size = buf.size_bytes // 3 if hw.sram.unified is not None else buf.size_bytes
    return size // 2 if buf.double_buffered else size


def burst_round(hw: HardwareConfig, nbytes: int) -> int:
    """Bytes the DRAM bus moves for ``nbytes`` of data: whole bursts."""
    burst = hw.dram.burst_bytes
    return -(-nbytes // burst) * burst
