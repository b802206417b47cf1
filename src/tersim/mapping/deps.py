"""The dependency graph over named tensors: which ops each op waits for.

Rules (``scheduling.dependencies``):

* ``tensors`` (the default): an op depends on the producer of every activation it reads (a view
  follows the tensor it is part of, through the producer recorded on the view); on the last
  earlier op that wrote part of a KV cache it reads (RoPE writes this pass's keys, the V
  projection its values: attention waits for both, older positions were written, and waited
  for, by earlier passes); and an embedding lookup on the previous pass's LM head (the token it
  looks up was sampled from those logits).
* ``program_order``: every op depends on the one before it (a single chain, tersim v1's rule).

Weights and the KV cache's earlier contents have no producer in the workload.

An op that repeats an earlier one (``repeat_of``, from :class:`tersim.workload.ops.Repeat`)
depends on that op's dependencies shifted by the distance between them (the repeat's promise),
so only the ops no repeat covers are scanned for producers.
"""

from __future__ import annotations

from collections.abc import Sequence

from tersim.config.enums import DependencyRule
from tersim.workload.ops import Op, OpKind, TensorKind


class DependencyScan:
    """The ``tensors`` rule op by op, in program order: :meth:`of` gives an op's
    dependencies and records what it writes (the KV caches' last writers, the last LM head).
    An op left out (a repeated layer's, whose dependencies are its source's shifted) writes
    only caches that no op given here reads (each layer reads its own cache, and a layer is
    repeated in every pass or in none), so leaving it out changes no answer; except an LM
    head, which the caller reports with :meth:`head`."""

    def __init__(self) -> None:
        self.last_writer: dict[str, int] = {}  # KV cache -> the last op that wrote part of it
        self.last_head: int | None = None

    def head(self, i: int) -> None:
        self.last_head = i

    def record(self, op: Op, i: int) -> None:
        """What op ``i`` writes (an op whose dependencies come from elsewhere)."""
        for t in op.outputs:
            if t.kind is TensorKind.KV_CACHE:
                self.last_writer[t.base] = i
        if op.kind is OpKind.LM_HEAD:
            self.last_head = i

    def of(self, op: Op, i: int) -> tuple[int, ...]:
        """Op ``i``'s dependencies, ascending; records what it writes."""
        deps: set[int] = set()
        for t in op.inputs:
            if t.producer is not None:
                deps.add(t.producer)
            elif t.kind is TensorKind.KV_CACHE:
                w = self.last_writer.get(t.base)
                if w is not None:
                    deps.add(w)
        if op.kind is OpKind.EMBEDDING and self.last_head is not None:
            deps.add(self.last_head)
        self.record(op, i)
        deps.discard(i)
        return tuple(sorted(deps))


def dependencies(
    ops: Sequence[Op], rule: DependencyRule, repeat_of: Sequence[int] = ()
) -> list[tuple[int, ...]]:
    """Per op (by index), the indices of the ops it waits for, ascending. ``repeat_of[i]``: the
    op op ``i`` repeats, or -1 (empty: none does)."""
    if rule is DependencyRule.PROGRAM_ORDER:
        return [() if i == 0 else (i - 1,) for i in range(len(ops))]
    out: list[tuple[int, ...]] = []
    scan = DependencyScan()
    for i, op in enumerate(ops):
        s = repeat_of[i] if repeat_of else -1
        if s >= 0:
            shift = i - s
            out.append(tuple(d + shift for d in out[s]))
            scan.record(op, i)
            continue
        out.append(scan.of(op, i))
    return out


def program_order(i: int) -> tuple[int, ...]:
    """Op ``i``'s dependencies under ``program_order``."""
    return () if i == 0 else (i - 1,)
