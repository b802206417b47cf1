"""The fused epilogue (``scheduling.fused_epilogue``): a quantized product's rescale streams on
its vector unit behind the matrix unit's output blocks instead of running after the op's last
tile (the rule, for every engine: :mod:`tersim.sim.timing`; docs/engine.md).

Which work qualifies: the rescale of a quantized matrix product (``Op.vector_ops`` of a
product mapped on a matrix unit: int32 -> float times the scales), an element-wise function of
each output, done where the op's rescale runs (the first vector unit listing ``rescale``,
:func:`tersim.mapping.ops.epilogue_unit`). Every pass of the searched mapping that completes a
block of ``b`` outputs (a pass in the last iteration of every K loop) carries that block's
epilogue, ``ceil(b x ops per output / (lanes x ops per lane per cycle))`` cycles on the vector
unit (:meth:`FusedEpilogue.cycles`): rounded per block, so the fused epilogue's cycles are at
least the unfused one's ``ceil(M N ops per output / rate)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FusedEpilogue:
    """The epilogue a product's output blocks stream through."""

    unit: str  # the vector unit running it
    ops_per_output: int  # element ops per output element
    ops_per_cycle: int  # the unit's element ops per cycle (lanes x ops per lane per cycle)

    def cycles(self, outputs: int) -> int:
        """Cycles of the epilogue of a block of ``outputs`` elements (0 for none)."""
        return -(-outputs * self.ops_per_output // self.ops_per_cycle) if outputs > 0 else 0


def fused_epilogue(
    unit: str, vector_ops: int, outputs: int, ops_per_cycle: int
) -> FusedEpilogue | None:
    """The epilogue of a product of ``outputs`` elements whose rescale is ``vector_ops``
    element ops on ``unit`` (None when there is none, or when it is not a whole number of ops
    per output: then it runs unfused, after the op's last tile)."""
    if vector_ops <= 0 or outputs <= 0 or vector_ops % outputs:
        return None
    return FusedEpilogue(unit, vector_ops // outputs, ops_per_cycle)
