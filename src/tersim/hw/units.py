"""Compute units: the matrix units and vector units of a design, and what each can run.

A design's units are its ``array`` (the matrix unit named ``array``), its ``vector_unit`` (the
vector unit named ``vector``) and every further entry of ``units:``, in that order (the order
breaks ties in the automatic assignment). So a design with only ``array`` and ``vector_unit`` is
one matrix unit and one vector unit, exactly as before ``units:`` existed.

What a unit can run:

* A matrix unit runs a matrix product when its PE model says so (``runs_product``: the weight
  format, or for activation x activation products such as attention the second operand's bits:
  an INT8 MAC needs an 8-bit KV cache; an adder PE runs no such product).
* A vector unit runs the element work it lists in ``runs`` (norm, quantize, rope, softmax,
  activation, residual, embedding, the rescale epilogue of an integer product) and, if it lists
  ``matmul``, matrix products as multiply-accumulates, ``lanes x ops_per_cycle_per_lane`` per
  cycle.

A matrix unit uses the design's buffers unless it has private ones; :meth:`MatrixUnit.view`
gives the design as that unit sees it (its array, its buffers), which the per-GEMM mapping takes
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from tersim.config.enums import OpKind, VectorOp, WeightFormat
from tersim.config.hardware import (
    SHORTHAND_UNITS,
    ArrayConfig,
    HardwareConfig,
    SramConfig,
)
from tersim.hw.pe import pe_model

# The vector-unit work each non-matrix op kind is
VECTOR_WORK: dict[OpKind, VectorOp] = {
    OpKind.EMBEDDING: VectorOp.EMBEDDING,
    OpKind.NORM: VectorOp.NORM,
    OpKind.QUANT: VectorOp.QUANT,
    OpKind.ROPE: VectorOp.ROPE,
    OpKind.SOFTMAX: VectorOp.SOFTMAX,
    OpKind.ACTIVATION: VectorOp.ACTIVATION,
    OpKind.RESIDUAL: VectorOp.RESIDUAL,
}


@dataclass(frozen=True)
class MatrixUnit:
    name: str
    array: ArrayConfig
    sram: SramConfig  # the buffers it uses (private, or the design's)
    private_sram: bool

    def runs_product(self, weight_format: WeightFormat | None, operand_bits: float) -> bool:
        """Whether its PEs run a product whose second operand has ``weight_format`` (None: an
        activation such as the KV cache) of ``operand_bits``."""
        return pe_model(self.array.pe_kind).runs_product(weight_format, operand_bits)

    def view(self, hw: HardwareConfig) -> HardwareConfig:
        """``hw`` as this unit sees it: its array and its buffers (not re-validated)."""
        if self.array is hw.array and self.sram is hw.sram:
            return hw
        return hw.model_copy(update={"array": self.array, "sram": self.sram})

    def describe(self) -> str:
        a = self.array
        return f"{a.rows}x{a.cols} {a.pe_kind.value} ({a.dataflow.value})"


@dataclass(frozen=True)
class VectorUnit:
    name: str
    lanes: int
    ops_per_cycle_per_lane: int
    runs: frozenset[VectorOp]

    def runs_work(self, work: VectorOp) -> bool:
        return work in self.runs

    def cycles(self, element_ops: int) -> int:
        """``ceil(element ops / (lanes x ops per cycle per lane))`` (0 for no work)."""
        rate = self.lanes * self.ops_per_cycle_per_lane
        return -(-element_ops // rate) if element_ops > 0 else 0

    def describe(self) -> str:
        return f"{self.lanes}-lane vector unit"


ComputeUnit = MatrixUnit | VectorUnit


def compute_units(hw: HardwareConfig) -> tuple[ComputeUnit, ...]:
    """Every compute unit of ``hw``: ``array``, ``vector_unit``, then ``units:`` in order."""
    v = hw.vector_unit
    out: list[ComputeUnit] = [
        MatrixUnit(SHORTHAND_UNITS[0], hw.array, hw.sram, False),
        VectorUnit(SHORTHAND_UNITS[1], v.lanes, v.ops_per_cycle_per_lane, frozenset(v.runs)),
    ]
    for u in hw.units:
        if u.matrix is not None:
            sram = u.sram if u.sram is not None else hw.sram
            out.append(MatrixUnit(u.name, u.matrix, sram, u.sram is not None))
        elif u.vector is not None:
            w = u.vector
            out.append(VectorUnit(u.name, w.lanes, w.ops_per_cycle_per_lane, frozenset(w.runs)))
    return tuple(out)


def matrix_units(hw: HardwareConfig) -> tuple[MatrixUnit, ...]:
    return tuple(u for u in compute_units(hw) if isinstance(u, MatrixUnit))


def vector_units(hw: HardwareConfig) -> tuple[VectorUnit, ...]:
    return tuple(u for u in compute_units(hw) if isinstance(u, VectorUnit))
