"""Workload traces: the ops a transformer executes, in order, with shapes, formats and bytes.

A trace comes either from shapes alone (:func:`trace_shapes`, fast enough for 70B models) or from
running the functional model (``tersim.functional.transformer``), which also measures the weight
zero fraction, activation sparsity and the exact adds / subtracts / skips. Both emit ops through
the same :class:`TraceBuilder`, in the same order, so they list the same ops and shapes.

Conventions
-----------
* A matrix product is ``count`` independent GEMMs of (M x K) activations times (K x N) weights
  (for attention, the "weights" operand is the K or V cache: ``weight_format`` is ``None``).
* Prefill processes the prompt in one pass; decode runs ``gen_tokens`` steps of one new token per
  sequence, step ``s`` attending over ``prompt_tokens + s + 1`` positions. Attention matmuls are
  full rectangles (no causal-tile skipping) and read K and V from the DRAM KV cache in its
  precision; K and V projections write their outputs to the cache.
* Vector-unit work is counted in element operations (``vector_ops``) from the per-element costs
  below, which are tersim's assumptions about a simple SIMD unit (one op per lane per cycle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from tersim.config.enums import FFNType, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import FileError, WorkloadError
from tersim.files import dumps_json, read_json, write_atomic
from tersim.workload.formats import Formats

TRACE_FORMAT = "tersim-trace"
TRACE_VERSION = 2  # 2: ops carry `group` (query heads per KV head)


class OpKind(StrEnum):
    EMBEDDING = "embedding"
    NORM = "norm"
    QUANT = "quant"  # per-token absmax quantization of activations (BitLinear input)
    LINEAR = "linear"
    ROPE = "rope"
    ATTN_QK = "attn_qk"
    SOFTMAX = "softmax"
    ATTN_AV = "attn_av"
    ACTIVATION = "activation"
    RESIDUAL = "residual"
    LM_HEAD = "lm_head"

    @property
    def is_matmul(self) -> bool:
        return self in (OpKind.LINEAR, OpKind.ATTN_QK, OpKind.ATTN_AV, OpKind.LM_HEAD)


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


# Element operations per element on the vector unit (tersim's assumption; documented above).
NORM_OPS_PER_ELEMENT = 4  # square, accumulate, scale by rsqrt, multiply by gain
QUANT_OPS_PER_ELEMENT = 4  # |x|, running max, scale, round/clip
RESCALE_OPS_PER_ELEMENT = 2  # int32 -> float, times (gamma * max|x| / Q)
ROPE_OPS_PER_ELEMENT = 3  # two multiplies and an add per element of a rotated pair
SOFTMAX_OPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide
RESIDUAL_OPS_PER_ELEMENT = 1
ACTIVATION_OPS_PER_ELEMENT: dict[FFNType, int] = {
    FFNType.SWIGLU: 5,  # sigmoid (exp, add, divide), multiply by x, multiply by up
    FFNType.RELU2_GLU: 3,  # max, square, multiply by up
    FFNType.GELU: 8,  # tanh approximation
}


def input_tensors(kind: OpKind, spec: ModelSpec) -> int:
    """Activation tensors a vector op reads: a residual add reads the stream and the branch,
    a gated FFN activation reads the gate and the up projection; the rest read one."""
    if kind == OpKind.RESIDUAL:
        return 2
    if kind == OpKind.ACTIVATION and spec.architecture.ffn_type != FFNType.GELU:
        return 2
    return 1


@dataclass(frozen=True)
class Measured:
    """What running the functional model measured for one matmul op."""

    weight_zero_fraction: float
    act_sparsity: float  # fraction of zero activation inputs
    adds: int
    subs: int
    skips: int


@dataclass(frozen=True)
class Op:
    """One operation of the trace."""

    name: str
    kind: OpKind
    layer: int  # -1 for embedding, final norm and LM head
    phase: Phase
    step: int  # decode step (0 in prefill)
    m: int  # rows of the activation operand (tokens)
    n: int  # output features (or KV positions for QK, head dim for AV)
    k: int  # reduction length (0 for vector ops)
    count: int = 1  # independent instances (batch x heads for attention)
    group: int = 1  # attention: query heads sharing one KV head (their GEMMs share an operand)
    weight_format: WeightFormat | None = None  # None: both operands are activations
    weight_bits: float = 0.0
    act_bits: int = 16
    out_bits: int = 16
    weight_read_bytes: int = 0
    act_read_bytes: int = 0
    act_write_bytes: int = 0
    kv_read_bytes: int = 0
    kv_write_bytes: int = 0
    vector_ops: int = 0  # element ops on the vector unit (for non-matmul ops)
    measured: Measured | None = None

    @property
    def macs(self) -> int:
        """Multiply-accumulates (or add/sub/skip slots) of a matmul: count * M * N * K."""
        return self.count * self.m * self.n * self.k if self.kind.is_matmul else 0

    def shape_key(self) -> tuple[Any, ...]:
        """Everything but measurements: what must agree between shape and measured traces."""
        d = asdict(self)
        d.pop("measured")
        return tuple(d.values())


@dataclass(frozen=True)
class Workload:
    """A traced workload: ops in execution order plus the scenario and formats they came from."""

    model: str
    formats: Formats
    batch: int
    prompt_tokens: int
    gen_tokens: int
    phases: tuple[Phase, ...]
    ops: tuple[Op, ...]
    is_measured: bool = False

    def ops_in(self, phase: Phase) -> tuple[Op, ...]:
        return tuple(op for op in self.ops if op.phase == phase)


def _bytes(elements: int, bits: float) -> int:
    """Storage bytes of ``elements`` values of ``bits`` each, rounded up to whole bytes."""
    return -(-round(elements * bits) // 8)


@dataclass
class TraceBuilder:
    """Appends ops for one model; the functional model and the shape tracer share it."""

    spec: ModelSpec
    formats: Formats
    batch: int
    ops: list[Op] = field(default_factory=list)
    phase: Phase = Phase.PREFILL
    step: int = 0

    @property
    def quantized_acts(self) -> bool:
        return self.formats.act_bits < 16

    def _add(self, op: Op) -> None:
        self.ops.append(op)

    def vector(
        self, name: str, kind: OpKind, layer: int, rows: int, width: int, ops_per_element: int
    ) -> None:
        elems = rows * width
        out_bits = self.formats.act_bits if kind == OpKind.QUANT else 16
        self._add(
            Op(
                name=name,
                kind=kind,
                layer=layer,
                phase=self.phase,
                step=self.step,
                m=rows,
                n=width,
                k=0,
                act_read_bytes=_bytes(elems, 16) * input_tensors(kind, self.spec),
                act_write_bytes=_bytes(elems, out_bits),
                out_bits=out_bits,
                vector_ops=elems * ops_per_element,
            )
        )

    def linear(
        self,
        name: str,
        layer: int,
        tokens: int,
        n: int,
        k: int,
        kv_write: bool = False,
        measured: Measured | None = None,
    ) -> None:
        f = self.formats
        self._add(
            Op(
                name=name,
                kind=OpKind.LINEAR,
                layer=layer,
                phase=self.phase,
                step=self.step,
                m=tokens,
                n=n,
                k=k,
                weight_format=f.weight_format,
                weight_bits=f.weight_bits,
                act_bits=f.act_bits,
                out_bits=f.out_bits,
                weight_read_bytes=_bytes(n * k, f.weight_bits),
                act_read_bytes=_bytes(tokens * k, f.act_bits),
                act_write_bytes=_bytes(tokens * n, f.out_bits),
                kv_write_bytes=_bytes(tokens * n, f.kv_bits) if kv_write else 0,
                vector_ops=tokens * n * RESCALE_OPS_PER_ELEMENT if self.quantized_acts else 0,
                measured=measured,
            )
        )

    def attention(self, layer: int, q_tokens: int, ctx: int) -> None:
        """QK^T, softmax and AV for every sequence and head, reading K and V from the cache."""
        a, f, b = self.spec.architecture, self.formats, self.batch
        hd, heads, kvh = a.head_dim, a.heads, a.kv_heads
        cache_bytes = _bytes(b * kvh * ctx * hd, f.kv_bits)  # K (or V) of this layer

        def matmul(kind: OpKind, n: int, k: int, out_width: int) -> Op:
            return Op(
                name=f"L{layer}.{kind.value}",
                kind=kind,
                layer=layer,
                phase=self.phase,
                step=self.step,
                m=q_tokens,
                n=n,
                k=k,
                count=b * heads,
                group=heads // kvh,
                weight_format=None,
                weight_bits=f.kv_bits,
                act_bits=f.act_bits if self.quantized_acts else 16,
                out_bits=16,
                act_read_bytes=_bytes(b * heads * q_tokens * k, 16),
                act_write_bytes=_bytes(b * heads * q_tokens * out_width, 16),
                kv_read_bytes=cache_bytes,
            )

        self._add(matmul(OpKind.ATTN_QK, ctx, hd, ctx))
        self.vector(
            f"L{layer}.softmax",
            OpKind.SOFTMAX,
            layer,
            b * heads * q_tokens,
            ctx,
            SOFTMAX_OPS_PER_ELEMENT,
        )
        self._add(matmul(OpKind.ATTN_AV, hd, ctx, hd))

    def embedding(self, tokens: int) -> None:
        h = self.spec.architecture.hidden
        self._add(
            Op(
                name="embedding",
                kind=OpKind.EMBEDDING,
                layer=-1,
                phase=self.phase,
                step=self.step,
                m=tokens,
                n=h,
                k=0,
                weight_read_bytes=_bytes(tokens * h, self.formats.embedding_bits),
                act_write_bytes=_bytes(tokens * h, 16),
            )
        )

    def lm_head(self, rows: int) -> None:
        a, f = self.spec.architecture, self.formats
        self._add(
            Op(
                name="lm_head",
                kind=OpKind.LM_HEAD,
                layer=-1,
                phase=self.phase,
                step=self.step,
                m=rows,
                n=a.vocab,
                k=a.hidden,
                weight_format=WeightFormat.FP16 if f.embedding_bits == 16 else WeightFormat.INT8,
                weight_bits=f.embedding_bits,
                act_bits=16,
                out_bits=16,
                weight_read_bytes=_bytes(a.vocab * a.hidden, f.embedding_bits),
                act_read_bytes=_bytes(rows * a.hidden, 16),
                act_write_bytes=_bytes(rows * a.vocab, 16),
            )
        )


def emit_layer(tb: TraceBuilder, layer: int, q_tokens: int, ctx: int) -> None:
    """Ops of one decoder layer for ``q_tokens`` new tokens per sequence, ``ctx`` positions."""
    a = tb.spec.architecture
    t = tb.batch * q_tokens
    h, kvd, ffn = a.hidden, a.kv_heads * a.head_dim, a.ffn
    quant = tb.quantized_acts
    p = f"L{layer}"
    tb.vector(f"{p}.attn_norm", OpKind.NORM, layer, t, h, NORM_OPS_PER_ELEMENT)
    if quant:
        tb.vector(f"{p}.attn_in_quant", OpKind.QUANT, layer, t, h, QUANT_OPS_PER_ELEMENT)
    tb.linear(f"{p}.q_proj", layer, t, h, h)
    tb.linear(f"{p}.k_proj", layer, t, kvd, h, kv_write=True)
    tb.linear(f"{p}.v_proj", layer, t, kvd, h, kv_write=True)
    tb.vector(f"{p}.rope", OpKind.ROPE, layer, t, h + kvd, ROPE_OPS_PER_ELEMENT)
    tb.attention(layer, q_tokens, ctx)
    if a.sublayer_norm:
        tb.vector(f"{p}.attn_sub_norm", OpKind.NORM, layer, t, h, NORM_OPS_PER_ELEMENT)
    if quant:
        tb.vector(f"{p}.o_in_quant", OpKind.QUANT, layer, t, h, QUANT_OPS_PER_ELEMENT)
    tb.linear(f"{p}.o_proj", layer, t, h, h)
    if not a.parallel_attention:
        tb.vector(f"{p}.attn_residual", OpKind.RESIDUAL, layer, t, h, RESIDUAL_OPS_PER_ELEMENT)
        tb.vector(f"{p}.ffn_norm", OpKind.NORM, layer, t, h, NORM_OPS_PER_ELEMENT)
        if quant:
            tb.vector(f"{p}.ffn_in_quant", OpKind.QUANT, layer, t, h, QUANT_OPS_PER_ELEMENT)
    gated = a.ffn_type in (FFNType.SWIGLU, FFNType.RELU2_GLU)
    if gated:
        tb.linear(f"{p}.gate_proj", layer, t, ffn, h)
    tb.linear(f"{p}.up_proj", layer, t, ffn, h)
    tb.vector(f"{p}.act", OpKind.ACTIVATION, layer, t, ffn, ACTIVATION_OPS_PER_ELEMENT[a.ffn_type])
    if a.sublayer_norm:
        tb.vector(f"{p}.ffn_sub_norm", OpKind.NORM, layer, t, ffn, NORM_OPS_PER_ELEMENT)
    if quant:
        tb.vector(f"{p}.down_in_quant", OpKind.QUANT, layer, t, ffn, QUANT_OPS_PER_ELEMENT)
    tb.linear(f"{p}.down_proj", layer, t, h, ffn)
    tb.vector(f"{p}.ffn_residual", OpKind.RESIDUAL, layer, t, h, RESIDUAL_OPS_PER_ELEMENT)


def emit_pass(tb: TraceBuilder, q_tokens: int, ctx: int) -> None:
    """One forward pass: embedding, every layer, final norm and the LM head (last token only)."""
    a = tb.spec.architecture
    tb.embedding(tb.batch * q_tokens)
    for layer in range(a.layers):
        emit_layer(tb, layer, q_tokens, ctx)
    tb.vector("final_norm", OpKind.NORM, -1, tb.batch * q_tokens, a.hidden, NORM_OPS_PER_ELEMENT)
    tb.lm_head(tb.batch)


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
    if Phase.PREFILL in phases:
        tb.phase, tb.step = Phase.PREFILL, 0
        emit_pass(tb, p, p)
    if Phase.DECODE in phases:
        tb.phase = Phase.DECODE
        for step in range(g):
            tb.step = step
            emit_pass(tb, 1, p + step + 1)
    return Workload(spec.name, formats, b, p, g, tuple(phases), tuple(tb.ops))


# --- file format -------------------------------------------------------------------------------

MAX_TRACE_BYTES = 1 << 31  # 2 GiB: a 4,096-token decode of a 70B model is about 0.7 GB
_OP_COLUMNS = [f.name for f in fields(Op) if f.name != "measured"]
_MEASURED_COLUMNS = [f.name for f in fields(Measured)]


def save_workload(wl: Workload, path: str | Path) -> None:
    """Write a trace as versioned, columnar JSON (see docs/trace-format.md)."""
    rows = []
    for op in wl.ops:
        row: list[Any] = [getattr(op, c) for c in _OP_COLUMNS]
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
        "op_columns": [*_OP_COLUMNS, "measured"],
        "measured_columns": _MEASURED_COLUMNS,
        "ops": rows,
    }
    write_atomic(path, dumps_json(doc, indent=None, separators=(",", ":")))


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
        cols = doc["op_columns"]
        f = doc["formats"]
        formats = Formats(
            weight_format=WeightFormat(f["weight_format"]),
            **{k: v for k, v in f.items() if k != "weight_format"},
        )
        ops = []
        for row in doc["ops"]:
            d = dict(zip(cols, row, strict=True))
            m = d.pop("measured")
            d["kind"] = OpKind(d["kind"])
            d["phase"] = Phase(d["phase"])
            if d["weight_format"] is not None:
                d["weight_format"] = WeightFormat(d["weight_format"])
            meas = (
                None
                if m is None
                else Measured(**dict(zip(doc["measured_columns"], m, strict=True)))
            )
            ops.append(Op(**d, measured=meas))
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
