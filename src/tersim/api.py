"""The Python API users call (``tersim.trace``); thin wrappers over the pipeline stages."""

from __future__ import annotations

from tersim.config.enums import PEKind, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, Workload, trace_shapes


def phases_of(phase: str | Phase | tuple[Phase, ...]) -> tuple[Phase, ...]:
    """``"prefill"``, ``"decode"``, ``"both"``, a Phase, or a tuple of them."""
    return Phase.parse(phase)


def trace(
    spec: ModelSpec,
    phase: str | Phase | tuple[Phase, ...] = "both",
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    pe_kind: PEKind = PEKind.TERNARY_ADD,
    weight_format: WeightFormat | None = None,
    measure: bool = False,
    seed: int = 0,
) -> Workload:
    """Trace ``spec`` in the formats a ``pe_kind`` array runs it in.

    Without ``measure`` the trace comes from shapes alone; with it, from running the functional
    model on synthetic weights drawn from ``seed`` (same ops and shapes, plus measured zero
    fractions, activation sparsity and add/sub/skip counts). Scenario values left ``None`` come
    from the workload's ``scenario``.
    """
    phases = phases_of(phase)
    formats = resolve_formats(spec, pe_kind, weight_format)
    if not measure:
        return trace_shapes(spec, formats, phases, prompt_tokens, gen_tokens, batch)
    from tersim.functional.transformer import trace_measured

    return trace_measured(spec, formats, phases, prompt_tokens, gen_tokens, batch, seed=seed)
