"""Workload traces: the ops a transformer executes, in order, over named tensors.

A trace comes either from shapes alone (:func:`trace_shapes`, fast enough for 70B models) or from
running the functional model (``tersim.functional.transformer``), which also measures the weight
zero fraction, activation sparsity and the exact adds / subtracts / skips. Both execute the one
layer description (:mod:`tersim.workload.layer`) and emit ops through :class:`TraceBuilder`, so
they list the same ops, shapes and tensors.

Conventions
-----------
* A matrix product is ``count`` independent GEMMs of (M x K) activations times (K x N) weights
  (for attention, the second operand is the K or V cache: ``weight_format`` is ``None``).
* Prefill processes the prompt in one pass; decode runs ``gen_tokens`` steps of one new token per
  sequence, step ``s`` attending over ``prompt_tokens + s + 1`` positions. Attention matmuls are
  full rectangles (no causal-tile skipping) and read K and V from the DRAM KV cache in its
  precision; RoPE writes the rotated keys and the V projection the values to the cache.
* Activation tensors are named ``<pass>/<op>.out`` (``prefill`` or ``decode<step>``), weights
  ``<op>.weight``, KV-cache parts ``L<i>.<k|v>_cache[<from>:<to>]`` (views of the layer's cache).
* Vector-unit work is counted in element operations (``vector_ops``) from the per-element costs
  below, which are tersim's assumptions about a simple SIMD unit (one op per lane per cycle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tersim.config.enums import FFNType, WeightFormat
from tersim.config.types import MAX_BATCH, MAX_CONTEXT_TOKENS
from tersim.config.workload import Architecture, ModelSpec
from tersim.errors import FileError, WorkloadError
from tersim.files import dumps_json, read_json, write_atomic
from tersim.workload.formats import Formats
from tersim.workload.layer import CacheSlot, LayerExecutor, block, forward_pass
from tersim.workload.ops import (
    Listed,
    Measured,
    Op,
    OpChunk,
    OpHead,
    OpKind,
    OpSeq,
    Phase,
    Repeat,
    Tensor,
    TensorKind,
    Workload,
)

__all__ = [
    "Measured",
    "Op",
    "OpKind",
    "Phase",
    "Tensor",
    "TensorKind",
    "TraceBuilder",
    "Workload",
    "check_scenario",
    "load_workload_trace",
    "save_workload",
    "trace_shapes",
]

TRACE_FORMAT = "tersim-trace"
TRACE_VERSION = 3  # 2: ops carry `group`; 3: ops list their input and output tensors

# Element operations per element on the vector unit (tersim's assumption; documented above).
NORM_OPS_PER_ELEMENT = 4  # square, accumulate, scale by rsqrt, multiply by gain
QUANT_OPS_PER_ELEMENT = 4  # |x|, running max, scale, round/clip
RESCALE_OPS_PER_ELEMENT = 2  # int32 -> float, times (gamma * max|x| / Q)
ROPE_OPS_PER_ELEMENT = 3  # two multiplies and an add per element of a rotated pair
SOFTMAX_OPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide
RESIDUAL_OPS_PER_ELEMENT = 1  # per added branch
ACTIVATION_OPS_PER_ELEMENT: dict[FFNType, int] = {
    FFNType.SWIGLU: 5,  # sigmoid (exp, add, divide), multiply by x, multiply by up
    FFNType.RELU2_GLU: 3,  # max, square, multiply by up
    FFNType.GEGLU: 9,  # the GELU below on the gate, then multiply by up
    FFNType.GELU: 8,  # tanh approximation
}


@dataclass
class TraceBuilder:
    """Executes the layer description on tensor handles, appending one op per call.

    ``q_tokens`` new tokens per sequence attend over ``ctx`` positions in the current pass
    (set by :meth:`begin_pass`). The functional model drives the same builder, passing the
    counts it measured.
    """

    spec: ModelSpec
    formats: Formats
    batch: int
    ops: list[Op] = field(default_factory=list)
    phase: Phase = Phase.PREFILL
    step: int = 0
    q_tokens: int = 1
    ctx: int = 1
    _scope: str = "prefill"
    _weights: dict[tuple[str, int, int], Tensor] = field(default_factory=dict)
    offset: int = 0  # ops listed before ``ops[0]`` (held elsewhere: the tracer's chunks)

    @property
    def position(self) -> int:
        """The index the next op gets in the workload."""
        return self.offset + len(self.ops)

    @property
    def quantized(self) -> bool:
        return self.formats.act_bits < 16

    @property
    def tokens(self) -> int:
        return self.batch * self.q_tokens

    def begin_pass(self, phase: Phase, step: int, q_tokens: int, ctx: int) -> None:
        self.phase, self.step, self.q_tokens, self.ctx = phase, step, q_tokens, ctx
        self._scope = "prefill" if phase is Phase.PREFILL else f"decode{step}"

    def _weight(self, name: str, k: int, n: int) -> Tensor:
        """The weight tensor of projection ``name`` (one object for every pass that reads it)."""
        key = (name, k, n)
        w = self._weights.get(key)
        if w is None:
            w = Tensor(f"{name}.weight", TensorKind.WEIGHT, (k, n), self.formats.weight_bits)
            self._weights[key] = w
        return w

    # -- tensors ------------------------------------------------------------------------------
    def _act(
        self, op_name: str, shape: tuple[int, ...], bits: float, suffix: str = "out"
    ) -> Tensor:
        name = f"{self._scope}/{op_name}.{suffix}"
        return Tensor(name, TensorKind.ACTIVATION, shape, bits, producer=self.position)

    def _cache(self, layer: int, slot: CacheSlot, lo: int, hi: int, written: bool) -> Tensor:
        a = self.spec.architecture
        whole = f"L{layer}.{slot.value}_cache"
        return Tensor(
            f"{whole}[{lo}:{hi}]" if written else f"{whole}[:{hi}]",
            TensorKind.KV_CACHE,
            (self.batch, a.kv_heads, hi - lo, a.head_size),
            self.formats.kv_bits,
            producer=self.position if written else None,
            view_of=whole,
        )

    def _add(self, op: Op, measured: Measured | None = None) -> Tensor:
        self.ops.append(op if measured is None else _with_measured(op, measured))
        return op.outputs[0]

    def _vector(
        self,
        layer: int,
        name: str,
        kind: OpKind,
        inputs: tuple[Tensor, ...],
        outputs: tuple[Tensor, ...],
        vector_ops: int,
        width: int | None = None,
    ) -> Tensor:
        """A vector-unit op over ``rows x width`` elements (width: the first output's)."""
        out = outputs[0]
        rows = out.shape[0]
        op = Op(
            name=name,
            kind=kind,
            layer=layer,
            phase=self.phase,
            step=self.step,
            m=rows,
            n=out.elements // rows if width is None else width,
            k=0,
            inputs=inputs,
            outputs=outputs,
            out_bits=round(out.bits),
            vector_ops=vector_ops,
        )
        return self._add(op)

    def _elementwise(
        self, layer: int, name: str, kind: OpKind, inputs: tuple[Tensor, ...], out: Tensor, per: int
    ) -> Tensor:
        return self._vector(layer, name, kind, inputs, (out,), out.elements * per)

    # -- the executor protocol (tersim.workload.layer.LayerExecutor[Tensor]) -------------------
    def embedding(self, name: str) -> Tensor:
        h, t = self.spec.architecture.hidden, self.tokens
        rows = Tensor(
            f"{self._scope}/embed_table.rows",
            TensorKind.WEIGHT,
            (t, h),
            self.formats.embedding_bits,
            view_of="embed_table",
        )
        out = self._act(name, (t, h), 16)
        return self._add(
            Op(name, OpKind.EMBEDDING, -1, self.phase, self.step, t, h, 0, (rows,), (out,))
        )

    def norm(self, layer: int, name: str, x: Tensor, weight: str) -> Tensor:
        out = self._act(name, x.shape, 16)
        return self._elementwise(layer, name, OpKind.NORM, (x,), out, NORM_OPS_PER_ELEMENT)

    def quant(self, layer: int, name: str, x: Tensor) -> Tensor:
        out = self._act(name, x.shape, self.formats.act_bits)
        return self._elementwise(layer, name, OpKind.QUANT, (x,), out, QUANT_OPS_PER_ELEMENT)

    def linear(
        self,
        layer: int,
        name: str,
        x: Tensor,
        weight: str,
        out_features: int,
        cache: CacheSlot | None = None,
        measured: Measured | None = None,
    ) -> Tensor:
        f, t = self.formats, self.tokens
        k = x.shape[-1]
        w = self._weight(name, k, out_features)
        if cache is None:
            out = self._act(name, (t, out_features), f.out_bits)
        else:
            out = self._cache(layer, cache, self.ctx - self.q_tokens, self.ctx, written=True)
        op = Op(
            name=name,
            kind=OpKind.LINEAR,
            layer=layer,
            phase=self.phase,
            step=self.step,
            m=t,
            n=out_features,
            k=k,
            inputs=(x, w),
            outputs=(out,),
            weight_format=f.weight_format,
            weight_bits=f.weight_bits,
            act_bits=f.act_bits,
            out_bits=f.out_bits,
            vector_ops=t * out_features * RESCALE_OPS_PER_ELEMENT if self.quantized else 0,
            measured=measured,
        )
        return self._add(op)

    def rope(self, layer: int, name: str, q: Tensor, k: Tensor) -> Tensor:
        q_rot = self._act(name, q.shape, 16, suffix="q")
        k_rot = self._cache(layer, CacheSlot.K, self.ctx - self.q_tokens, self.ctx, written=True)
        a = self.spec.architecture
        width = (a.heads + a.kv_heads) * a.rotary_size  # q and k elements rotated per token
        ops = q.shape[0] * width * ROPE_OPS_PER_ELEMENT
        return self._vector(layer, name, OpKind.ROPE, (q, k), (q_rot, k_rot), ops, width)

    def attention(self, layer: int, q: Tensor) -> Tensor:
        """QK^T, softmax and AV for every sequence and head, reading K and V from the cache."""
        a, f, b = self.spec.architecture, self.formats, self.batch
        hd, heads, kvh = a.head_size, a.heads, a.kv_heads
        qt, ctx, p = self.q_tokens, self.ctx, f"L{layer}"
        act_bits = f.act_bits if self.quantized else 16

        def matmul(
            kind: OpKind, x: Tensor, slot: CacheSlot, n: int, k: int, out_shape: tuple[int, int]
        ) -> Tensor:
            name = f"{p}.{kind.value}"
            out = self._act(name, out_shape, 16)
            cache = self._cache(layer, slot, 0, ctx, written=False)
            return self._add(
                Op(
                    name=name,
                    kind=kind,
                    layer=layer,
                    phase=self.phase,
                    step=self.step,
                    m=qt,
                    n=n,
                    k=k,
                    inputs=(x, cache),
                    outputs=(out,),
                    count=b * heads,
                    group=heads // kvh,
                    weight_format=None,
                    weight_bits=f.kv_bits,
                    act_bits=act_bits,
                    out_bits=16,
                )
            )

        scores = matmul(OpKind.ATTN_QK, q, CacheSlot.K, ctx, hd, (b * heads * qt, ctx))
        probs_t = self._act(f"{p}.softmax", scores.shape, 16)
        probs = self._elementwise(
            layer, f"{p}.softmax", OpKind.SOFTMAX, (scores,), probs_t, SOFTMAX_OPS_PER_ELEMENT
        )
        # the heads' outputs are the (B*T, H*D) rows the next op reads
        return matmul(OpKind.ATTN_AV, probs, CacheSlot.V, hd, ctx, (b * qt, heads * hd))

    def activation(self, layer: int, name: str, gate: Tensor | None, up: Tensor) -> Tensor:
        inputs = (up,) if gate is None else (gate, up)
        out = self._act(name, up.shape, 16)
        per_element = ACTIVATION_OPS_PER_ELEMENT[self.spec.architecture.ffn_type]
        return self._elementwise(layer, name, OpKind.ACTIVATION, inputs, out, per_element)

    def residual(self, layer: int, name: str, x: Tensor, branches: tuple[Tensor, ...]) -> Tensor:
        out = self._act(name, x.shape, 16)
        per_element = RESIDUAL_OPS_PER_ELEMENT * len(branches)
        return self._elementwise(layer, name, OpKind.RESIDUAL, (x, *branches), out, per_element)

    def lm_head(self, name: str, x: Tensor) -> Tensor:
        a, f, b = self.spec.architecture, self.formats, self.batch
        last = Tensor(f"{x.name}[last]", x.kind, (b, a.hidden), x.bits, x.producer, x.name)
        table = Tensor("lm_head.weight", TensorKind.WEIGHT, (a.hidden, a.vocab), f.embedding_bits)
        out = self._act(name, (b, a.vocab), 16)
        op = Op(
            name=name,
            kind=OpKind.LM_HEAD,
            layer=-1,
            phase=self.phase,
            step=self.step,
            m=b,
            n=a.vocab,
            k=a.hidden,
            inputs=(last, table),
            outputs=(out,),
            weight_format=WeightFormat.FP16 if f.embedding_bits == 16 else WeightFormat.INT8,
            weight_bits=f.embedding_bits,
            act_bits=16,
            out_bits=16,
        )
        return self._add(op)


@dataclass(frozen=True)
class _LayerCopy:
    """How to list a layer of a pass as a copy of the pass's first layer (which the layer
    description listed): what :func:`tersim.workload.layer.block` lists for layer ``i`` is
    that layer with ``L0.`` moved to ``L<i>.`` in every op and tensor name, the layer index
    moved, every producer shifted by the distance between the two, and the layer's input (the
    one tensor it reads from outside) replaced (tested against the layer description run for
    every layer). Built once per pass: per tensor the parts of its name around the layer
    prefix, per op the tensors it reads and writes by position."""

    first: int  # the source layer's first op index
    # per tensor but the input: (source tensor, name before and after the layer prefix,
    # whole-tensor name after it (views), whether it is a weight)
    tensors: tuple[tuple[Tensor, str, str, str | None, bool], ...]
    # per op: (source op, name after the layer prefix, inputs, outputs: positions in the layer's
    # tensors, 0 being its input)
    ops: tuple[tuple[Op, str, tuple[int, ...], tuple[int, ...]], ...]

    @staticmethod
    def of(src: list[Op], src_x: Tensor, first: int) -> _LayerCopy:
        cut = len(f"L{src[0].layer}.")
        at: dict[int, int] = {id(src_x): 0}
        tensors: list[tuple[Tensor, str, str, str | None, bool]] = []

        def slot(t: Tensor) -> int:
            k = at.get(id(t))
            if k is None:
                if (
                    t.kind is not TensorKind.WEIGHT
                    and t.producer is not None
                    and t.producer < first
                ):
                    raise AssertionError(f"internal error: {t.name} comes from outside the layer")
                head, _, rest = t.name.rpartition("/") if t.kind is TensorKind.ACTIVATION else (
                    "", "", t.name
                )  # fmt: skip
                head = f"{head}/" if head else ""
                view = None if t.view_of is None else t.view_of[cut:]
                tensors.append((t, head, rest[cut:], view, t.kind is TensorKind.WEIGHT))
                k = at[id(t)] = len(tensors)
            return k

        ops = tuple(
            (
                op,
                op.name[cut:],
                tuple(slot(t) for t in op.inputs),
                tuple(slot(t) for t in op.outputs),
            )
            for op in src
        )
        return _LayerCopy(first, tuple(tensors), ops)

    def build(
        self, x: Tensor, layer: int, shift: int, weights: dict[tuple[str, int, int], Tensor]
    ) -> list[Op]:
        """Layer ``layer`` on input ``x``, its producers ``shift`` after the source's (its
        weights from ``weights``, shared with the builder: one object per projection)."""
        pre = f"L{layer}."
        new = [x]
        for t, head, tail, view, is_weight in self.tensors:
            if is_weight:
                key = (pre + tail[: -len(".weight")], t.shape[0], t.shape[1])
                w = weights.get(key)
                if w is None:
                    w = weights[key] = t.moved(pre + tail, None, None)
                new.append(w)
            else:
                producer = None if t.producer is None else t.producer + shift
                new.append(
                    t.moved(head + pre + tail, producer, None if view is None else pre + view)
                )
        return [
            op.moved(pre + tail, layer, tuple([new[k] for k in ins]), tuple([new[k] for k in outs]))
            for op, tail, ins, outs in self.ops
        ]

    def output(self, layer: int, shift: int) -> Tensor:
        """The output of layer ``layer`` placed ``shift`` after the source (the last op's first
        output, built alone)."""
        k = self.ops[-1][3][0]
        t, head, tail, view, _ = self.tensors[k - 1]
        producer = None if t.producer is None else t.producer + shift
        pre = f"L{layer}."
        return t.moved(head + pre + tail, producer, None if view is None else pre + view)


@dataclass(frozen=True)
class LayerCopies:
    """A chunk of a workload's ops (:class:`tersim.workload.ops.OpChunk`): layers ``first``
    to ``first + count - 1`` of a pass, each a copy of the pass's first layer (``copy``), the
    first of them on ``x`` (the first layer's output), built when asked for."""

    copy: _LayerCopy
    x: Tensor
    source_layer: int
    first: int  # the first copied layer
    count: int
    start: int  # the first copied layer's first op index
    weights: dict[tuple[str, int, int], Tensor] = field(compare=False, repr=False)

    @property
    def part_length(self) -> int:
        return len(self.copy.ops)

    @property
    def length(self) -> int:
        return self.count * len(self.copy.ops)

    def _shift(self, j: int) -> int:
        return self.start + j * len(self.copy.ops) - self.copy.first

    def part(self, j: int) -> list[Op]:
        layer = self.first + j
        x = self.x if j == 0 else self.copy.output(layer - 1, self._shift(j - 1))
        return self.copy.build(x, layer, self._shift(j), self.weights)

    def head(self, k: int) -> OpHead:
        n = len(self.copy.ops)
        op, tail, _, _ = self.copy.ops[k % n]
        layer = self.first + k // n
        return OpHead(f"L{layer}.{tail}", op.kind, layer, op.phase, op.step)

    def macs(self) -> int:
        """Every copied layer has the first layer's matrix ops (the Repeat promise)."""
        return self.count * sum(op.macs for op, _, _, _ in self.copy.ops)

    def output(self) -> Tensor:
        """The last copied layer's output."""
        return self.copy.output(self.first + self.count - 1, self._shift(self.count - 1))


def _with_measured(op: Op, measured: Measured) -> Op:
    return replace(op, measured=measured)


def check_scenario(spec: ModelSpec, prompt_tokens: int, gen_tokens: int, batch: int) -> None:
    """Raise WorkloadError if the scenario is impossible for the model."""
    if prompt_tokens < 1 or gen_tokens < 0 or batch < 1:
        raise WorkloadError(
            f"scenario: prompt_tokens must be >= 1, gen_tokens >= 0 and batch >= 1 (got "
            f"prompt {prompt_tokens}, gen {gen_tokens}, batch {batch})"
        )
    ctx = spec.architecture.max_context
    if prompt_tokens + gen_tokens > ctx:
        raise WorkloadError(
            f"{spec.name}: prompt_tokens + gen_tokens = {prompt_tokens + gen_tokens} exceeds the "
            f"model's context of {ctx} (expected at most {ctx}; lower --prompt-tokens or "
            f"--gen-tokens)"
        )


def trace_shapes(
    spec: ModelSpec,
    formats: Formats,
    phases: tuple[Phase, ...] = (Phase.PREFILL, Phase.DECODE),
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
) -> Workload:
    """The trace of ``spec`` from shapes alone (no arithmetic); scenario defaults from the spec."""
    s = spec.scenario
    p = s.prompt_tokens if prompt_tokens is None else prompt_tokens
    g = s.gen_tokens if gen_tokens is None else gen_tokens
    b = s.batch if batch is None else batch
    check_scenario(spec, p, g, b)
    tb = TraceBuilder(spec, formats, b)
    a = spec.architecture
    repeats: list[Repeat] = []
    chunks: list[OpChunk] = []

    def flush() -> None:
        if tb.ops:
            chunks.append(Listed(tuple(tb.ops)))
            tb.offset += len(tb.ops)
            tb.ops = []

    def one_pass() -> None:
        """A forward pass: the layer description runs layer 0; the later layers are copies of
        it (one LayerCopies chunk), each repeating the one before (one Repeat)."""

        def run_block(ex: LayerExecutor[Tensor], a: Architecture, layer: int, x: Tensor) -> Tensor:
            if layer == 0:
                start = len(tb.ops)
                out = block(ex, a, layer, x)
                copy = _LayerCopy.of(tb.ops[start:], x, tb.offset + start)
                if a.layers == 1:
                    return out
                flush()
                n = len(copy.ops)
                c = LayerCopies(copy, out, 0, 1, a.layers - 1, tb.offset, tb._weights)
                repeats.append(Repeat(tb.offset, tb.offset - n, n, a.layers - 1))
                chunks.append(c)
                tb.offset += c.length
                return c.output()
            return x  # listed by the LayerCopies chunk above

        forward_pass(tb, a, run_block=run_block)

    if Phase.PREFILL in phases:
        tb.begin_pass(Phase.PREFILL, 0, p, p)
        one_pass()
    if Phase.DECODE in phases:
        for step in range(g):
            tb.begin_pass(Phase.DECODE, step, 1, p + step + 1)
            one_pass()
    flush()
    ops = OpSeq(chunks)
    return Workload(spec.name, formats, b, p, g, tuple(phases), ops, repeats=tuple(repeats))


# --- file format -------------------------------------------------------------------------------

MAX_TRACE_BYTES = 1 << 31  # 2 GiB: a 4,096-token decode of a 70B model is about 0.7 GB
_OP_COLUMNS = [f.name for f in fields(Op) if f.name not in ("measured", "inputs", "outputs")]
_MEASURED_COLUMNS = [f.name for f in fields(Measured)]
_TENSOR_COLUMNS = [f.name for f in fields(Tensor)]


def _tensor_row(t: Tensor) -> list[Any]:
    return [t.name, t.kind.value, list(t.shape), t.bits, t.producer, t.view_of]


def _tensor_of(row: list[Any]) -> Tensor:
    name, kind, shape, bits, producer, view_of = row
    return Tensor(name, TensorKind(kind), tuple(shape), bits, producer, view_of)


def save_workload(wl: Workload, path: str | Path) -> None:
    """Write a trace as versioned, columnar JSON (see docs/trace-format.md)."""
    rows = []
    for op in wl.ops:
        row: list[Any] = [getattr(op, c) for c in _OP_COLUMNS]
        row.append([_tensor_row(t) for t in op.inputs])
        row.append([_tensor_row(t) for t in op.outputs])
        row.append(
            None if op.measured is None else [getattr(op.measured, c) for c in _MEASURED_COLUMNS]
        )
        rows.append(row)
    doc = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "model": wl.model,
        "formats": asdict(wl.formats),
        "batch": wl.batch,
        "prompt_tokens": wl.prompt_tokens,
        "gen_tokens": wl.gen_tokens,
        "phases": [p.value for p in wl.phases],
        "is_measured": wl.is_measured,
        "op_columns": [*_OP_COLUMNS, "inputs", "outputs", "measured"],
        "measured_columns": _MEASURED_COLUMNS,
        "tensor_columns": _TENSOR_COLUMNS,
        "ops": rows,
    }
    write_atomic(path, dumps_json(doc, indent=None, separators=(",", ":")))


# Physical ranges of a saved trace's numbers (a trace is input like a YAML file: issue 16)
MAX_TRACE_DIM = 1 << 32  # one GEMM dimension or tensor axis
MAX_TRACE_COUNT = 1 << 20  # GEMM instances (heads) of one op
MAX_TRACE_WORK = 1 << 62  # multiply-accumulates, element ops or counted actions of one op
MAX_TRACE_BITS = 64.0


def _int_problem(value: Any, lo: int, hi: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"not an integer (got {value!r})"
    if not lo <= value <= hi:
        return f"out of range (got {value}; expected {lo} to {hi})"
    return None


def _bits_problem(value: Any, lo_exclusive: bool = True) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"not a number (got {value!r})"
    positive = value > 0.0 if lo_exclusive else value >= 0.0
    if not positive or not value <= MAX_TRACE_BITS:
        return f"out of range (got {value}; expected a width up to {MAX_TRACE_BITS:g} bits)"
    return None


def _tensor_problem(t: Tensor, op_index: int) -> str | None:
    if not t.shape:
        return "shape: empty (expected at least one axis)"
    for axis in t.shape:
        why = _int_problem(axis, 1, MAX_TRACE_DIM)
        if why is not None:
            return f"shape: {why}"
    why = _bits_problem(t.bits)
    if why is not None:
        return f"bits: {why}"
    if t.producer is not None:
        why = _int_problem(t.producer, 0, op_index)
        if why is not None:
            return f"producer: {why} (a tensor is produced by an earlier op or this one)"
    return None


def _op_problem(op: Op, index: int) -> str | None:
    """Why op ``index`` of a saved trace cannot be simulated (None if it can)."""
    ints = (
        ("layer", op.layer, -1, MAX_TRACE_DIM),
        ("step", op.step, 0, MAX_CONTEXT_TOKENS),
        ("m", op.m, 1, MAX_TRACE_DIM),
        ("n", op.n, 1, MAX_TRACE_DIM),
        ("k", op.k, 0, MAX_TRACE_DIM),
        ("count", op.count, 1, MAX_TRACE_COUNT),
        ("group", op.group, 1, MAX_TRACE_COUNT),
        ("act_bits", op.act_bits, 1, int(MAX_TRACE_BITS)),
        ("out_bits", op.out_bits, 1, int(MAX_TRACE_BITS)),
        ("vector_ops", op.vector_ops, 0, MAX_TRACE_WORK),
    )
    for name, value, lo, hi in ints:
        why = _int_problem(value, lo, hi)
        if why is not None:
            return f"{name}: {why}"
    why = _bits_problem(op.weight_bits, lo_exclusive=False)
    if why is not None:
        return f"weight_bits: {why}"
    if op.macs > MAX_TRACE_WORK:
        return f"count x m x n x k: {op.macs} multiply-accumulates (expected at most 2^62)"
    for t in (*op.inputs, *op.outputs):
        why = _tensor_problem(t, index)
        if why is not None:
            return f"tensor {t.name}: {why}"
    m = op.measured
    if m is not None:
        for name in ("weight_zero_fraction", "act_sparsity"):
            v = getattr(m, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                return f"measured.{name}: not a fraction (got {v!r}; expected 0 to 1)"
        for name in ("adds", "subs", "skips"):
            why = _int_problem(getattr(m, name), 0, MAX_TRACE_WORK)
            if why is not None:
                return f"measured.{name}: {why}"
    return None


def _scenario_problem(doc: dict[str, Any]) -> str | None:
    for name, value, lo, hi in (
        ("batch", doc["batch"], 1, MAX_BATCH),
        ("prompt_tokens", doc["prompt_tokens"], 1, MAX_CONTEXT_TOKENS),
        ("gen_tokens", doc["gen_tokens"], 0, MAX_CONTEXT_TOKENS),
    ):
        why = _int_problem(value, lo, hi)
        if why is not None:
            return f"{name}: {why}"
    return None


def load_workload_trace(path: str | Path) -> Workload:
    """Read a trace written by :func:`save_workload`; a wrong format or version is an error."""
    p = Path(path)
    try:
        doc = read_json(p, MAX_TRACE_BYTES, "a trace written by tersim trace")
    except FileError as exc:
        raise WorkloadError(f"{exc.path}: not a readable tersim trace: {exc.reason}") from None
    if not isinstance(doc, dict) or doc.get("format") != TRACE_FORMAT:
        raise WorkloadError(f'{p}: not a tersim trace (expected "format": "{TRACE_FORMAT}")')
    if doc.get("version") != TRACE_VERSION:
        raise WorkloadError(
            f"{p}: trace version {doc.get('version')} is not supported "
            f"(expected {TRACE_VERSION}; re-run tersim trace)"
        )
    try:
        why = _scenario_problem(doc)
        if why is not None:
            raise WorkloadError(f"{p}: {why} (re-run tersim trace)")
        cols = doc["op_columns"]
        f = doc["formats"]
        formats = Formats(
            weight_format=WeightFormat(f["weight_format"]),
            **{k: v for k, v in f.items() if k != "weight_format"},
        )
        ops: list[Op] = []
        for row in doc["ops"]:
            d = dict(zip(cols, row, strict=True))
            m = d.pop("measured")
            d["inputs"] = tuple(_tensor_of(t) for t in d["inputs"])
            d["outputs"] = tuple(_tensor_of(t) for t in d["outputs"])
            d["kind"] = OpKind(d["kind"])
            d["phase"] = Phase(d["phase"])
            if d["weight_format"] is not None:
                d["weight_format"] = WeightFormat(d["weight_format"])
            meas = (
                None
                if m is None
                else Measured(**dict(zip(doc["measured_columns"], m, strict=True)))
            )
            op = Op(**d, measured=meas)
            why = _op_problem(op, len(ops))
            if why is not None:
                raise WorkloadError(
                    f"{p}: op {len(ops)} ({str(op.name)[:80]}): {why} (re-run tersim trace)"
                )
            ops.append(op)
        return Workload(
            doc["model"],
            formats,
            doc["batch"],
            doc["prompt_tokens"],
            doc["gen_tokens"],
            tuple(Phase(x) for x in doc["phases"]),
            tuple(ops),
            doc["is_measured"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WorkloadError(f"{p}: malformed tersim trace ({exc})") from None
