"""Where each activation tensor lives between its producer and its consumers.

The one residency rule: an activation tensor stays on chip when it fits the activation capacity
(the smaller usable input and output buffer), else it goes through DRAM. It is decided once per
tensor, for the whole workload, before any op is mapped; the producer (which writes it back or
not) and every consumer (which reads it from DRAM or not) look it up.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig
from tersim.mapping.buffers import usable_bytes
from tersim.workload.ops import Tensor, TensorKind, Workload


def activation_capacity_bytes(hw: HardwareConfig) -> int:
    """Largest activation tensor that stays on chip between producer and consumer."""
    return min(usable_bytes(hw, BufferRole.INPUT), usable_bytes(hw, BufferRole.OUTPUT))


@dataclass(frozen=True)
class Placement:
    """Which activation tensors stay on chip (by whole-tensor name); the rest go through DRAM.

    Built once per workload by :func:`place_tensors`; the op that writes a tensor and every op
    that reads it look the decision up here.
    """

    on_chip: frozenset[str]
    through_dram: frozenset[str]

    @staticmethod
    def none() -> Placement:
        """No activation tensors (a schedule of ops that neither read nor write any)."""
        return Placement(frozenset(), frozenset())

    def resident(self, t: Tensor) -> bool:
        """Whether activation ``t`` (or the tensor it is a view of) stays on chip."""
        if t.base in self.on_chip:
            return True
        if t.base in self.through_dram:
            return False
        raise KeyError(f"internal error: tensor {t.name} was never produced in this workload")


def place_tensors(hw: HardwareConfig, workload: Workload) -> Placement:
    """The residency of every activation tensor the workload produces: on chip iff it fits
    :func:`activation_capacity_bytes`."""
    cap = activation_capacity_bytes(hw)
    on: set[str] = set()
    off: set[str] = set()
    for op in workload.ops:
        for t in op.outputs:
            if t.kind is TensorKind.ACTIVATION:
                (on if t.size_bytes <= cap else off).add(t.base)
    return Placement(frozenset(on), frozenset(off))
