"""A workload: ops over named tensors, in program order.

Each op lists the tensors it reads and writes. A :class:`Tensor` has a name unique in the
workload, a kind (activation, weight, KV cache), a shape, its storage bits per element and the
op that produces it (an op index; ``None`` for weights, the KV cache's earlier contents and the
token ids). Bytes moved are a property of the tensors, never a separate count: the mapping
decides once per activation tensor whether it stays on chip, and its producer and every consumer
read that one decision.

A consumer may read part of a tensor (the LM head reads the last position's row of the final
norm's output): that is a *view*, a tensor of its own with ``view_of`` naming the whole one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tersim.config.enums import OpKind, WeightFormat
from tersim.errors import WorkloadError
from tersim.workload.formats import Formats

__all__ = ["Measured", "Op", "OpKind", "Phase", "Repeat", "Tensor", "TensorKind", "Workload"]


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"

    @staticmethod
    def parse(phase: str | Phase | tuple[Phase, ...]) -> tuple[Phase, ...]:
        """``"prefill"``, ``"decode"``, ``"both"``, a Phase, or a tuple of them (the one parser
        of phase names; an unknown name is a WorkloadError)."""
        if isinstance(phase, tuple):
            if all(isinstance(p, Phase) for p in phase) and phase:
                return phase
            raise WorkloadError(f"phase: expected Phase values (got {phase!r})")
        if isinstance(phase, Phase):
            return (phase,)
        if phase == "both":
            return (Phase.PREFILL, Phase.DECODE)
        try:
            return (Phase(phase),)
        except ValueError:
            raise WorkloadError(
                f"phase: unknown phase {phase!r} (expected prefill, decode or both)"
            ) from None


class TensorKind(StrEnum):
    ACTIVATION = "activation"  # produced and consumed by ops; on chip or through DRAM
    WEIGHT = "weight"  # model parameters in DRAM (embedding rows, projections, LM head)
    KV_CACHE = "kv_cache"  # keys and values in DRAM, in the cache's precision


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str  # unique in the workload (activations carry their phase and step)
    kind: TensorKind
    shape: tuple[int, ...]
    bits: float  # storage bits per element
    producer: int | None = None  # index of the op that writes it in this workload
    view_of: str | None = None  # the whole tensor when this is a part of it
    elements: int = field(init=False, repr=False, compare=False)
    size_bytes: int = field(init=False, repr=False, compare=False)  # rounded up to whole bytes

    def __post_init__(self) -> None:
        elements = math.prod(self.shape)
        object.__setattr__(self, "elements", elements)
        object.__setattr__(self, "size_bytes", -(-round(elements * self.bits) // 8))

    @property
    def base(self) -> str:
        """The name of the whole tensor (itself unless a view)."""
        return self.view_of if self.view_of is not None else self.name

    def moved(self, name: str, producer: int | None, view_of: str | None) -> Tensor:
        """This tensor under another name, producer and whole tensor (kind, shape, bits and
        sizes kept; built without recomputing the sizes)."""
        t = object.__new__(Tensor)
        put = object.__setattr__
        put(t, "name", name)
        put(t, "kind", self.kind)
        put(t, "shape", self.shape)
        put(t, "bits", self.bits)
        put(t, "producer", producer)
        put(t, "view_of", view_of)
        put(t, "elements", self.elements)
        put(t, "size_bytes", self.size_bytes)
        return t


@dataclass(frozen=True, slots=True)
class Measured:
    """What running the functional model measured for one matmul op."""

    weight_zero_fraction: float
    act_sparsity: float  # fraction of zero activation inputs
    adds: int
    subs: int
    skips: int


@dataclass(frozen=True)
class Op:
    """One operation of the trace.

    A matrix product is ``count`` independent GEMMs of (M x K) activations times (K x N)
    weights (for attention the second operand is the K or V cache, ``weight_format`` None);
    ``group`` query heads share one KV head. Vector ops have ``k = 0``.
    """

    name: str
    kind: OpKind
    layer: int  # -1 for embedding, final norm and LM head
    phase: Phase
    step: int  # decode step (0 in prefill)
    m: int
    n: int
    k: int
    inputs: tuple[Tensor, ...] = ()
    outputs: tuple[Tensor, ...] = ()
    count: int = 1
    group: int = 1
    weight_format: WeightFormat | None = None  # None: both operands are activations
    weight_bits: float = 0.0  # bits of the second operand (weights or KV cache)
    act_bits: int = 16
    out_bits: int = 16
    vector_ops: int = 0  # element ops on the vector unit (rescale of a matmul; vector ops)
    measured: Measured | None = None

    @property
    def macs(self) -> int:
        """Multiply-accumulates (or add/sub/skip slots) of a matmul: count * M * N * K."""
        return self.count * self.m * self.n * self.k if self.kind.is_matmul else 0

    def read_bytes(self, kind: TensorKind) -> int:
        return sum(t.size_bytes for t in self.inputs if t.kind is kind)

    def moved(
        self, name: str, layer: int, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]
    ) -> Op:
        """This op under another name and layer, over other tensors (every other field kept;
        a field-for-field copy that skips the constructor)."""
        op = object.__new__(Op)
        d = op.__dict__
        d.update(self.__dict__)
        d["name"] = name
        d["layer"] = layer
        d["inputs"] = inputs
        d["outputs"] = outputs
        return op

    def write_bytes(self, kind: TensorKind) -> int:
        return sum(t.size_bytes for t in self.outputs if t.kind is kind)

    def shape_key(self) -> tuple[Any, ...]:
        """Everything but measurements: what must agree between shape and measured traces."""
        return (
            self.name,
            self.kind,
            self.layer,
            self.phase,
            self.step,
            self.m,
            self.n,
            self.k,
            self.inputs,
            self.outputs,
            self.count,
            self.group,
            self.weight_format,
            self.weight_bits,
            self.act_bits,
            self.out_bits,
            self.vector_ops,
        )


@dataclass(frozen=True, slots=True)
class Repeat:
    """Ops ``[start, start + length)`` repeat ops ``[source, source + length)`` (``source <
    start``), one decoder layer elsewhere in the same pass (the shape tracer's promise; the tests
    check it against the per-op computation). Op ``start + k`` and op ``source + k`` then have

    * equal fields apart from name and layer (kind, phase, step, shape, count, group, formats,
      vector ops, measurements), and equal names after the layer's ``L<i>.`` prefix;
    * tensors of equal kinds and sizes, pairwise, with every producer ``start - source`` later
      (or both without one);
    * dependencies (:mod:`tersim.mapping.deps`, either rule) ``start - source`` later.

    So whatever the mapping computes from those alone (an op's schedule for one residency of its
    tensors, a segment's plan) is computed once for the source and shifted."""

    start: int
    source: int
    length: int

    @property
    def delta(self) -> int:
        return self.start - self.source


@dataclass(frozen=True)
class Workload:
    """A traced workload: ops in execution order plus the scenario and formats they came from.

    ``repeats`` (from the shape tracer; empty for measured and loaded traces) name the decoder
    layers that repeat an earlier one (:class:`Repeat`): a hint the mapping uses to map, order
    and plan each distinct layer once. It is not part of the trace's content (equality and the
    saved file ignore it)."""

    model: str
    formats: Formats
    batch: int
    prompt_tokens: int
    gen_tokens: int
    phases: tuple[Phase, ...]
    ops: tuple[Op, ...]
    is_measured: bool = False
    repeats: tuple[Repeat, ...] = field(default=(), compare=False, repr=False)

    def repeat_sources(self) -> list[int]:
        """Per op, the op it repeats (:class:`Repeat`), or -1."""
        src = [-1] * len(self.ops)
        for r in self.repeats:
            src[r.start : r.start + r.length] = range(r.source, r.source + r.length)
        return src
