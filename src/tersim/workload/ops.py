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

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, overload

from tersim.config.enums import OpKind, WeightFormat
from tersim.errors import WorkloadError
from tersim.workload.formats import Formats

__all__ = [
    "Listed",
    "Measured",
    "Op",
    "OpChunk",
    "OpHead",
    "OpKind",
    "OpSeq",
    "Phase",
    "Repeat",
    "Tensor",
    "TensorKind",
    "Workload",
]


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
    tensors, a segment's plan) is computed once for the source and shifted.

    ``times`` consecutive blocks repeat this way: block ``j`` (ops from ``start + j length``)
    repeats the ops from ``source + j length`` (with ``source = start - length``, each layer of
    a pass repeats the one before). One Repeat stands for a pass's copied layers, so a trace
    holds one per pass, not one per layer."""

    start: int
    source: int
    length: int
    times: int = 1

    @property
    def delta(self) -> int:
        return self.start - self.source

    def blocks(self) -> Iterator[Repeat]:
        """Each block as a Repeat of its own (``times`` 1)."""
        for j in range(self.times):
            k = j * self.length
            yield Repeat(self.start + k, self.source + k, self.length)


class OpHead(NamedTuple):
    """An op's identity without its tensors: what schedules and spans name it by."""

    name: str
    kind: OpKind
    layer: int
    phase: Phase
    step: int

    @staticmethod
    def of(op: Op) -> OpHead:
        return OpHead(op.name, op.kind, op.layer, op.phase, op.step)


def op_head(ops: Sequence[Op], i: int) -> OpHead:
    """Op ``i``'s :class:`OpHead` (from an :class:`OpSeq` without building the op)."""
    if isinstance(ops, OpSeq):
        return ops.head(i)
    return OpHead.of(ops[i])


def op_heads(ops: Sequence[Op]) -> Iterator[OpHead]:
    """Every op's :class:`OpHead`, in order."""
    if isinstance(ops, OpSeq):
        return ops.heads()
    return (OpHead.of(op) for op in ops)


class OpChunk(Protocol):
    """Consecutive ops of a workload held as parts (:class:`OpSeq`): a listed chunk has one
    part, its ops; a chunk of copied layers has one part per layer, built when asked for."""

    @property
    def length(self) -> int: ...

    @property
    def part_length(self) -> int:
        """Ops per part (every part has as many)."""
        ...

    def part(self, j: int) -> Sequence[Op]:
        """The ops of part ``j`` (built anew for copies: the caller keeps what it needs)."""
        ...

    def head(self, k: int) -> OpHead:
        """Op ``k`` of the chunk's :class:`OpHead` (without building the op)."""
        ...

    def macs(self) -> int:
        """Multiply-accumulates of the chunk's matrix ops."""
        ...


@dataclass(frozen=True)
class Listed:
    """Ops held as they are: one part."""

    ops: tuple[Op, ...]

    @property
    def length(self) -> int:
        return len(self.ops)

    @property
    def part_length(self) -> int:
        return len(self.ops)

    def part(self, j: int) -> Sequence[Op]:
        return self.ops

    def head(self, k: int) -> OpHead:
        return OpHead.of(self.ops[k])

    def macs(self) -> int:
        return sum(op.macs for op in self.ops)


class OpSeq(Sequence[Op]):
    """A workload's ops, in program order, held as chunks (:class:`OpChunk`) rather than one
    object per op: the shape tracer lists each pass's embedding, first layer and head, and
    holds its later layers as copies of the first, each built when indexed or iterated. So a
    trace holds what is distinct per pass, not tokens x layers ops; indexing op ``i`` builds
    (and keeps, until another part is asked for) the part it is in. Equal, as a sequence, to
    the tuple of its ops."""

    __slots__ = ("_chunks", "_last", "_n", "_starts")

    def __init__(self, chunks: Sequence[OpChunk]) -> None:
        self._chunks = tuple(c for c in chunks if c.length)
        starts = [0]
        for c in self._chunks:
            starts.append(starts[-1] + c.length)
        self._starts = tuple(starts)
        self._n = starts[-1]
        self._last: tuple[int, int, Sequence[Op]] = (-1, -1, ())

    @property
    def chunks(self) -> tuple[OpChunk, ...]:
        return self._chunks

    @property
    def chunk_starts(self) -> tuple[int, ...]:
        """The first op index of each chunk (and the op count at the end)."""
        return self._starts

    def __len__(self) -> int:
        return self._n

    def _part(self, c: int, j: int) -> Sequence[Op]:
        lc, lj, ops = self._last
        if lc == c and lj == j:
            return ops
        ops = self._chunks[c].part(j)
        self._last = (c, j, ops)
        return ops

    @overload
    def __getitem__(self, i: int) -> Op: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Op, ...]: ...

    def __getitem__(self, i: int | slice) -> Op | tuple[Op, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("op index out of range")
        c = bisect.bisect_right(self._starts, i) - 1
        k = i - self._starts[c]
        width = self._chunks[c].part_length
        return self._part(c, k // width)[k % width]

    def __iter__(self) -> Iterator[Op]:
        for chunk in self._chunks:
            n = chunk.length // chunk.part_length
            for j in range(n):
                yield from chunk.part(j)

    def head(self, i: int) -> OpHead:
        """Op ``i``'s :class:`OpHead` (no op built)."""
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("op index out of range")
        c = bisect.bisect_right(self._starts, i) - 1
        return self._chunks[c].head(i - self._starts[c])

    def heads(self) -> Iterator[OpHead]:
        for chunk in self._chunks:
            for k in range(chunk.length):
                yield chunk.head(k)

    def macs(self) -> int:
        """Multiply-accumulates of every matrix op, chunk by chunk."""
        return sum(c.macs() for c in self._chunks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash((self._n, self._starts))

    def __repr__(self) -> str:
        return f"OpSeq({self._n} ops in {len(self._chunks)} chunks)"


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
    ops: Sequence[Op]  # a tuple, or the shape tracer's OpSeq (copied layers built on demand)
    is_measured: bool = False
    repeats: tuple[Repeat, ...] = field(default=(), compare=False, repr=False)

    def repeat_blocks(self) -> Iterator[Repeat]:
        """Every repeated block (one per copied layer), in order."""
        for r in self.repeats:
            yield from r.blocks()

    def repeat_sources(self) -> list[int]:
        """Per op, the op it repeats (:class:`Repeat`), or -1 (one entry per op: for tests and
        the per-op path)."""
        src = [-1] * len(self.ops)
        for r in self.repeat_blocks():
            src[r.start : r.start + r.length] = range(r.source, r.source + r.length)
        return src

    def matmul_macs(self) -> int:
        """Multiply-accumulates (or ternary slots) of every matrix op."""
        if isinstance(self.ops, OpSeq):
            return self.ops.macs()
        return sum(op.macs for op in self.ops)

    def listed(self) -> Workload:
        """The same workload with every op held as an object and no repeats: the per-op form
        (the oracle the tests compare the lazy paths with)."""
        return replace(self, ops=tuple(self.ops), repeats=())
