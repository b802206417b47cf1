"""Where each activation tensor lives between its producer and its consumers.

Residency is decided once per tensor, for the whole workload, before any op is mapped; the
producer (which writes it back or not) and every consumer (which reads it from DRAM or not)
look the one decision up. Two rules:

* **Per tensor** (:func:`place_tensors`, the heuristic mapping's): a tensor stays on chip when
  it fits the activation capacity (the smaller usable input and output buffer), whatever else
  is on chip at the time.
* **Live pool** (:func:`place_live`, the searched mapping's): resident activations live in the
  input buffer (the unified buffer on such designs) from their producer to their last
  consumer. A tensor is admitted when, at every op of its lifetime, the resident tensors, it,
  and the working tiles that op's chosen mapping holds in that buffer fit the buffer's whole
  size (a resident tensor is never replaced, so it is not double-buffered). The working tiles
  are the op's tiles of X when X comes from DRAM (none when X is resident), and on a unified
  buffer its tiles of W and Y as well. Candidates are tried in order of the DRAM traffic they
  save per byte and op they occupy, ``(1 + consumers) / lifetime in ops`` (then program order):
  a tensor is written once and read by each consumer when it goes through DRAM. Admitting a
  tensor changes no op's mapping except its consumers' (whose X then comes from the buffer,
  mapped as such), so the traffic only falls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig
from tersim.mapping.buffers import usable_bytes
from tersim.workload.ops import Op, Phase, Tensor, TensorKind, Workload


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
    resident_bytes: tuple[int, ...] = ()  # live pool: resident bytes at each op (else empty)
    # passes (phase, step) where every tensor produced stays on chip iff it fits one size
    # (all of them with ``by_size_everywhere``): there, tensors of equal sizes are placed alike
    by_size: frozenset[tuple[Phase, int]] = frozenset()
    by_size_everywhere: bool = False

    def placed_by_size(self, phase: Phase, step: int) -> bool:
        """Whether the tensors pass (``phase``, ``step``) produces are placed by size alone."""
        return self.by_size_everywhere or (phase, step) in self.by_size

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
    return Placement(frozenset(on), frozenset(off), by_size_everywhere=True)


def pool_capacity_bytes(hw: HardwareConfig) -> int:
    """The buffer resident activations live in: the input buffer (or the unified one)."""
    if hw.sram.unified is not None:
        return hw.sram.unified.size_bytes
    return hw.buffer(BufferRole.INPUT).size_bytes


def matmul_input(op: Op) -> Tensor | None:
    """The activation operand X of a matrix product (its first input), if it is one."""
    if op.kind.is_matmul and op.inputs and op.inputs[0].kind is TensorKind.ACTIVATION:
        return op.inputs[0]
    return None


WorkingBytes = Callable[[int, bool], int]


def place_live(hw: HardwareConfig, workload: Workload, working_bytes: WorkingBytes) -> Placement:
    """The live-pool residency (module rules). ``working_bytes(i, x_resident)``: bytes op
    ``i``'s mapping holds in the pool's buffer besides resident tensors (0 for ops that hold
    none); called only where a cheaper bound (X double-buffered whole, with separate
    buffers) does not settle the check."""
    cap = pool_capacity_bytes(hw)
    ops = workload.ops
    prod: dict[str, int] = {}
    last: dict[str, int] = {}
    size: dict[str, int] = {}
    readers: dict[str, int] = {}
    act = TensorKind.ACTIVATION
    unified = hw.sram.unified is not None
    # an upper bound on what op i holds in the pool with X from DRAM: X double-buffered whole
    # (on a unified buffer W and Y live there too: no cheap bound, the whole buffer)
    x_of: list[Tensor | None] = []
    cheap: list[int] = []
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t.kind is act:
                base = t.view_of or t.name
                last[base] = i
                readers[base] = readers.get(base, 0) + 1
        for t in op.outputs:
            if t.kind is act:
                name = t.name
                prod[name] = i
                size[name] = t.size_bytes
                if name not in last:
                    last[name] = i
        x = matmul_input(op)
        x_of.append(x)
        cheap.append(0 if x is None else (cap if unified else min(2 * x.size_bytes, cap)))
    live = [0] * len(ops)
    exact: dict[tuple[int, bool], int] = {}
    on: set[str] = set()

    def need(j: int, name: str) -> int:
        x = x_of[j]
        if x is None:
            return 0
        x_res = x.base == name or x.base in on
        if x_res and not unified:
            return 0  # its X takes no working space; W and Y live in their own buffers
        if not x_res and live[j] + size[name] + cheap[j] <= cap:
            return cheap[j]
        k = (j, x_res)
        if k not in exact:
            exact[k] = working_bytes(j, x_res)
        return exact[k]

    # tensors never outlive their pass (phase and step), so each pass is placed on its own;
    # a pass where every tensor fits at once next to a cheap bound of the working tiles
    # admits them all
    passes: dict[tuple[Phase, int], list[str]] = {}
    for name, i in prod.items():
        passes.setdefault((ops[i].phase, ops[i].step), []).append(name)
    by_size: set[tuple[Phase, int]] = set()
    for pass_key, names in passes.items():
        lo = min(prod[t] for t in names)
        hi = max(last[t] for t in names)
        # resident bytes at each op if every tensor that fits stayed: sizes added at each
        # producer and taken off after each last reader, summed along the pass
        delta = [0] * (hi - lo + 2)
        for nm in names:
            b = size[nm]
            if b <= cap:
                delta[prod[nm] - lo] += b
                delta[last[nm] - lo + 1] -= b
        total = list(itertools.accumulate(delta[:-1]))
        if all(t + c <= cap for t, c in zip(total, cheap[lo : hi + 1], strict=True)):
            on.update(nm for nm in names if size[nm] <= cap)
            live[lo : hi + 1] = [a + t for a, t in zip(live[lo : hi + 1], total, strict=True)]
            by_size.add(pass_key)
            continue
        order = sorted(
            names,
            key=lambda nm: (-(1 + readers.get(nm, 0)) / (last[nm] - prod[nm] + 1), prod[nm], nm),
        )
        for name in order:
            b = size[name]
            if b > cap:
                continue
            span = range(prod[name], last[name] + 1)
            if all(live[j] + b + need(j, name) <= cap for j in span):
                on.add(name)
                for j in span:
                    live[j] += b
    off = frozenset(prod) - on
    return Placement(frozenset(on), off, tuple(live), frozenset(by_size))
