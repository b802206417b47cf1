"""The Python API users call (``tersim.trace``); thin wrappers over the pipeline stages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tersim.config.enums import PEKind, WeightFormat
from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, Workload, trace_shapes

_PHASES = {
    "prefill": (Phase.PREFILL,),
    "decode": (Phase.DECODE,),
    "both": (Phase.PREFILL, Phase.DECODE),
}


def phases_of(phase: str | Phase | tuple[Phase, ...]) -> tuple[Phase, ...]:
    """``"prefill"``, ``"decode"``, ``"both"``, a Phase, or a tuple of them."""
    if isinstance(phase, tuple):
        return phase
    key = phase.value if isinstance(phase, Phase) else phase
    if key not in _PHASES:
        raise WorkloadError(f"phase: unknown phase '{phase}' (expected prefill, decode or both)")
    return _PHASES[key]


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
    checkpoint: str | Path | None = None,
    prompt: np.ndarray | None = None,
    threads: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> Workload:
    """Trace ``spec`` in the formats a ``pe_kind`` array runs it in.

    Without ``measure`` the trace comes from shapes alone; with it, from running the functional
    model (same ops and shapes, plus measured zero fractions, activation sparsity and
    add/sub/skip counts) on the weights of a safetensors ``checkpoint``, or on synthetic
    weights drawn from ``seed``, with ``prompt`` token ids (batch, tokens) or a synthetic
    prompt, on up to ``threads`` threads; ``progress(stage, done, total)`` hears how far it
    got. Scenario values left ``None`` come from the workload's ``scenario`` (or the prompt).
    """
    phases = phases_of(phase)
    formats = resolve_formats(spec, pe_kind, weight_format)
    if not measure:
        if checkpoint is not None or prompt is not None:
            raise WorkloadError("checkpoint, prompt: only used with measure=True (--measure)")
        return trace_shapes(spec, formats, phases, prompt_tokens, gen_tokens, batch)
    from tersim.functional.transformer import trace_measured

    return trace_measured(
        spec,
        formats,
        phases,
        prompt_tokens,
        gen_tokens,
        batch,
        seed=seed,
        checkpoint=checkpoint,
        prompt=prompt,
        threads=threads,
        progress=progress,
    )
