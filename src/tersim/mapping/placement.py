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

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    """Which activation tensors stay on chip; the rest go through DRAM.

    Built once per workload by :func:`place_tensors` or :func:`place_live`; the op that writes
    a tensor and every op that reads it look the decision up here (:meth:`resident`). A pass
    (phase, step) *placed by size* keeps exactly its tensors of at most ``cap_bytes`` on chip:
    its decisions are that rule, not a list of names (so a placement holds what is distinct,
    not one name per tensor of every layer of every step). Tensors of the other passes, and
    every tensor some op reads a part of (a view: the rule would need the whole tensor's size),
    are listed by whole-tensor name in ``on_chip`` or ``through_dram``.
    """

    on_chip: frozenset[str]
    through_dram: frozenset[str]
    cap_bytes: int = 0  # the by-size rule's capacity
    # passes (phase, step) where every tensor produced stays on chip iff it fits ``cap_bytes``
    # (all of them with ``by_size_everywhere``): there, tensors of equal sizes are placed alike
    by_size: frozenset[tuple[Phase, int]] = frozenset()
    by_size_everywhere: bool = False
    # the first op index of each pass placed by size, and its key (to find a tensor's pass)
    pass_starts: tuple[int, ...] = ()
    pass_keys: tuple[tuple[Phase, int], ...] = ()

    def placed_by_size(self, phase: Phase, step: int) -> bool:
        """Whether the tensors pass (``phase``, ``step``) produces are placed by size alone."""
        return self.by_size_everywhere or (phase, step) in self.by_size

    @staticmethod
    def none() -> Placement:
        """No activation tensors (a schedule of ops that neither read nor write any)."""
        return Placement(frozenset(), frozenset())

    def resident(self, t: Tensor) -> bool:
        """Whether activation ``t`` (or the tensor it is a view of) stays on chip."""
        base = t.base
        if base in self.on_chip:
            return True
        if base in self.through_dram:
            return False
        if t.view_of is None and t.producer is not None and self._by_size_at(t.producer):
            return t.size_bytes <= self.cap_bytes
        raise KeyError(f"internal error: tensor {t.name} was never produced in this workload")

    def _by_size_at(self, producer: int) -> bool:
        if self.by_size_everywhere:
            return True
        k = bisect.bisect_right(self.pass_starts, producer) - 1
        return k >= 0 and self.pass_keys[k] in self.by_size

    def decisions(self, ops: Iterable[Op]) -> dict[str, bool]:
        """Every activation tensor ``ops`` produce, by name: whether it stays on chip (for
        comparing placements by what they decide)."""
        return {
            t.name: self.resident(t)
            for op in ops
            for t in op.outputs
            if t.kind is TensorKind.ACTIVATION
        }


def _passes(ops: Iterable[Op]) -> Iterator[tuple[int, list[Op]]]:
    """The ops pass by pass (consecutive ops of one phase and step): first index and ops."""
    start, key = 0, None
    cur: list[Op] = []
    for i, op in enumerate(ops):
        k = (op.phase, op.step)
        if k != key and cur:
            yield start, cur
            start, cur = i, []
        key = k
        cur.append(op)
    if cur:
        yield start, cur


def _viewed(ops: Sequence[Op]) -> set[str]:
    """Whole tensors some op of ``ops`` reads a part of."""
    return {
        t.view_of
        for op in ops
        for t in op.inputs
        if t.view_of is not None and t.kind is TensorKind.ACTIVATION
    }


def place_tensors(hw: HardwareConfig, workload: Workload) -> Placement:
    """The residency of every activation tensor the workload produces: on chip iff it fits
    :func:`activation_capacity_bytes`."""
    cap = activation_capacity_bytes(hw)
    on: set[str] = set()
    off: set[str] = set()
    for _, ops in _passes(workload.ops):
        viewed = _viewed(ops)
        if not viewed:
            continue
        for op in ops:
            for t in op.outputs:
                if t.kind is TensorKind.ACTIVATION and t.name in viewed:
                    (on if t.size_bytes <= cap else off).add(t.name)
    return Placement(frozenset(on), frozenset(off), cap, by_size_everywhere=True)


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


def place_live(
    hw: HardwareConfig,
    workload: Workload,
    working_bytes: WorkingBytes,
    live_out: list[int] | None = None,
) -> Placement:
    """The live-pool residency (module rules). ``working_bytes(i, x_resident)``: bytes op
    ``i``'s mapping holds in the pool's buffer besides resident tensors (0 for ops that hold
    none); called only where a cheaper bound (X double-buffered whole, with separate
    buffers) does not settle the check. Tensors never outlive their pass (phase and step), so
    each pass is placed on its own, holding only that pass's ops while it is placed.
    ``live_out``, if given, gets the resident bytes at every op appended (for tests)."""
    cap = pool_capacity_bytes(hw)
    on: set[str] = set()
    off: set[str] = set()
    by_size: set[tuple[Phase, int]] = set()
    starts: list[int] = []
    keys: list[tuple[Phase, int]] = []
    for first, ops in _passes(workload.ops):
        key = (ops[0].phase, ops[0].step)
        live = _place_pass(hw, cap, first, ops, working_bytes, on, off)
        if live is None:
            by_size.add(key)
            starts.append(first)
            keys.append(key)
        if live_out is not None:
            live_out.extend(live if live is not None else _by_size_live(cap, first, ops))
    return Placement(
        frozenset(on), frozenset(off), cap, frozenset(by_size), False, tuple(starts), tuple(keys)
    )


def _lifetimes(
    first: int, ops: Sequence[Op]
) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Per activation tensor of the pass: producer, last reader, size and readers."""
    prod: dict[str, int] = {}
    last: dict[str, int] = {}
    size: dict[str, int] = {}
    readers: dict[str, int] = {}
    act = TensorKind.ACTIVATION
    for i, op in enumerate(ops, first):
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
    return prod, last, size, readers


def _fitting_totals(
    cap: int, first: int, n: int, prod: dict[str, int], last: dict[str, int], size: dict[str, int]
) -> list[int]:
    """Resident bytes at each op of a pass (``n`` ops from ``first``) if every tensor that fits
    stayed: sizes added at each producer and taken off after each last reader."""
    delta = [0] * (n + 1)
    for nm, b in size.items():
        if b <= cap:
            delta[prod[nm] - first] += b
            delta[last[nm] - first + 1] -= b
    return list(itertools.accumulate(delta[:-1]))


def _by_size_live(cap: int, first: int, ops: Sequence[Op]) -> list[int]:
    prod, last, size, _ = _lifetimes(first, ops)
    return _fitting_totals(cap, first, len(ops), prod, last, size)


def _place_pass(
    hw: HardwareConfig,
    cap: int,
    first: int,
    ops: Sequence[Op],
    working_bytes: WorkingBytes,
    on: set[str],
    off: set[str],
) -> list[int] | None:
    """Place one pass (``ops``, the first at index ``first``): None when every tensor that
    fits stays (placed by size; only tensors read through a view are listed), else the resident
    bytes at each op, its decisions added to ``on`` and ``off`` by name."""
    prod, last, size, readers = _lifetimes(first, ops)
    unified = hw.sram.unified is not None
    # an upper bound on what op i holds in the pool with X from DRAM: X double-buffered whole
    # (on a unified buffer W and Y live there too: no cheap bound, the whole buffer)
    x_of: list[Tensor | None] = []
    cheap: list[int] = []
    for op in ops:
        x = matmul_input(op)
        x_of.append(x)
        cheap.append(0 if x is None else (cap if unified else min(2 * x.size_bytes, cap)))
    total = _fitting_totals(cap, first, len(ops), prod, last, size)
    if all(t + c <= cap for t, c in zip(total, cheap, strict=True)):
        # a pass where every tensor fits at once next to a cheap bound of the working tiles
        # admits them all
        for nm in _viewed(ops):
            if nm in size:
                (on if size[nm] <= cap else off).add(nm)
        return None
    live = [0] * len(ops)
    exact: dict[tuple[int, bool], int] = {}
    mine: set[str] = set()

    def need(j: int, name: str) -> int:
        x = x_of[j - first]
        if x is None:
            return 0
        x_res = x.base == name or x.base in mine
        if x_res and not unified:
            return 0  # its X takes no working space; W and Y live in their own buffers
        if not x_res and live[j - first] + size[name] + cheap[j - first] <= cap:
            return cheap[j - first]
        k = (j, x_res)
        if k not in exact:
            exact[k] = working_bytes(j, x_res)
        return exact[k]

    order = sorted(
        prod,
        key=lambda nm: (-(1 + readers.get(nm, 0)) / (last[nm] - prod[nm] + 1), prod[nm], nm),
    )
    for name in order:
        b = size[name]
        if b > cap:
            continue
        span = range(prod[name], last[name] + 1)
        if all(live[j - first] + b + need(j, name) <= cap for j in span):
            mine.add(name)
            for j in span:
                live[j - first] += b
    on.update(mine)
    off.update(nm for nm in prod if nm not in mine)
    return live
