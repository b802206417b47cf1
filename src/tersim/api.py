"""The Python API (``import tersim``): the entry points a notebook user calls.

Everything here is a thin, validated wrapper over the pipeline stages. Rules:

* Designs and workloads may be given as objects, as paths, or as shipped names (``"ternary-
  128x128-7nm"``, ``"bitnet-b1.58-2b4t"``), exactly as on the command line; a workload may
  also be a Hugging Face ``config.json``.
* Inputs are validated like YAML: a config passed in is validated again (``model_copy`` does
  not validate, so a copy with ``rows=0`` is caught here, as a :class:`~tersim.errors.
  ConfigError`); bad numbers, unknown names and unknown keyword arguments raise
  :class:`~tersim.errors.TersimError` with a message that says what to change. Derive
  configs with :func:`derive`, which validates.
* Results are plain data: :class:`Result` holds the design's :class:`~tersim.run.pipeline.
  RunRecord` and its baseline's, and turns them into dictionaries, rows and data frames.
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Never, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from tersim.config.enums import CompatMode, Dataflow, PEKind, WeightFormat
from tersim.config.hardware import HardwareConfig, design_problems
from tersim.config.hf_import import HFImport, import_hf_file, is_hf_config
from tersim.config.sweep import SweepSpec, sweep_problems
from tersim.config.workload import ModelSpec, model_problems
from tersim.errors import ConfigError, DesignError, Problem, TersimError, WorkloadError
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, Workload, trace_shapes

if TYPE_CHECKING:
    import pandas

    from tersim.dse.sweep import SweepSummary
    from tersim.run.pipeline import RunRecord
    from tersim.run.rows import OpRow
    from tersim.run.single_gemm import GemmResult

C = TypeVar("C", bound=BaseModel)
#: progress(label, done, total): ``label`` names the design being simulated
ProgressFn = Callable[[str, int, int], None]

DEFAULT_DESIGN = "ternary-128x128-7nm"
DEFAULT_BASELINE = "fp16-128x128-7nm"


class ImportNote(UserWarning):
    """An approximation or unknown key met while importing a Hugging Face config."""


class Table(StrEnum):
    """The tables of a :class:`Result`."""

    OPS = "ops"  # the design's ops
    BASELINE_OPS = "baseline_ops"
    RUNS = "runs"  # one summary row per run (design, then baseline)


# --- loading and deriving ---------------------------------------------------------------------


def load_hardware(name_or_path: str | Path) -> HardwareConfig:
    """A design from a YAML path, or a shipped design by name (``tersim list`` shows them).

    Raises:
        TersimError: no such file or shipped name; ConfigError: every problem of the file.
    """
    from tersim.config.yaml_io import load_hardware as load_yaml
    from tersim.shipped import resolve

    return load_yaml(resolve(name_or_path, "hardware"))


def load_workload(name_or_path: str | Path) -> ModelSpec:
    """A workload from a YAML path, a shipped name, or a Hugging Face ``config.json``.

    Importing a ``config.json`` warns (:class:`ImportNote`) once per approximation or unknown
    key; :func:`import_hf` returns them instead.
    """
    from tersim.config.yaml_io import load_workload as load_yaml
    from tersim.shipped import resolve

    if is_hf_config(name_or_path):
        imp = import_hf(name_or_path)
        for note in imp.notes:
            warnings.warn(f"{name_or_path}: {note}", ImportNote, stacklevel=2)
        return imp.spec
    return load_yaml(resolve(name_or_path, "workload"))


def import_hf(path: str | Path, name: str | None = None) -> HFImport:
    """Import a Hugging Face ``config.json``: the workload, and what became of every key
    (``.spec``, ``.keys``, ``.notes``, ``.yaml()``). See ``docs/import-hf.md``."""
    return import_hf_file(path, name=name)


_CHECKS: dict[type[BaseModel], Callable[[Any], list[tuple[str, str]]]] = {
    HardwareConfig: design_problems,
    ModelSpec: model_problems,
    SweepSpec: sweep_problems,
}


def validated(config: C, what: str = "", skip: str = "") -> C:
    """``config`` validated again, as if read from YAML (catches unvalidated ``model_copy``).

    ``skip``: a dotted prefix whose cross-field problems are left out (the API checks a
    workload's default ``scenario.`` only when the scenario is used: arguments override it).

    Raises:
        ConfigError: every problem, each naming the dotted field.
    """
    cls = type(config)
    label = what or _label(config)
    strays = _stray_fields(config, "")
    if strays:
        raise ConfigError(
            [
                Problem(
                    label,
                    None,
                    f,
                    "unknown field (set by model_copy, which does not "
                    "validate; use tersim.derive with the dotted field)",
                )
                for f in strays
            ]
        )
    return _validate(cls, config.model_dump(mode="json"), label, skip)


def _stray_fields(model: BaseModel, prefix: str) -> list[str]:
    """Attributes ``model_copy(update=...)`` added that are not fields, at any depth."""
    fields = type(model).model_fields
    out = [f"{prefix}{k}" for k in vars(model) if k not in fields]
    for name in fields:
        value = getattr(model, name, None)
        if isinstance(value, BaseModel):
            out += _stray_fields(value, f"{prefix}{name}.")
    return out


def derive(config: C, /, **changes: Any) -> C:
    """A validated copy of ``config`` with dotted fields changed:
    ``tersim.derive(hw, **{"array.rows": 64, "dram.bw_gb_per_s": 512.0})``.

    Raises:
        TersimError: a field that does not exist (with the nearest names);
        ConfigError: values that are invalid, as from YAML.
    """
    data = config.model_dump(mode="json")
    label = f"derive({_label(config)})"
    for dotted, value in changes.items():
        node: Any = data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = list(node) if isinstance(node, dict) else []
                near = difflib.get_close_matches(part, known, n=3)
                hint = f"did you mean {', '.join(near)}?" if near else "no such field"
                where = ".".join(parts[: i + 1])
                raise TersimError(
                    f"{label}: {where}: unknown field ({hint}; expected one of: "
                    f"{', '.join(map(str, known)) or 'nothing here'})"
                )
            if i < len(parts) - 1:
                node = node[part]
        node[parts[-1]] = value.value if isinstance(value, Enum) else value
    return _validate(type(config), data, label)


def _label(config: BaseModel) -> str:
    return str(getattr(config, "name", type(config).__name__))


def _validate(cls: type[C], data: dict[str, Any], label: str, skip: str = "") -> C:
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                label,
                None,
                ".".join(str(p) for p in e["loc"]),
                f"{e['msg'][0].lower()}{e['msg'][1:]} (got {e.get('input')!r})",
            )
            for e in exc.errors()
        ]
        raise ConfigError(problems) from None
    checks = _CHECKS.get(cls)
    found = (
        []
        if checks is None
        else [(f, m) for f, m in checks(obj) if not (skip and f.startswith(skip))]
    )
    if found:
        raise ConfigError([Problem(label, None, f, m) for f, m in found])
    return obj


def _hardware(hw: HardwareConfig | str | Path, what: str) -> HardwareConfig:
    if isinstance(hw, HardwareConfig):
        return validated(hw)
    if isinstance(hw, str | Path):
        return load_hardware(hw)
    raise TersimError(
        f"{what}: expected a HardwareConfig, a design's YAML path or a shipped name "
        f"(got {type(hw).__name__})"
    )


def _workload(workload: ModelSpec | str | Path) -> ModelSpec:
    if isinstance(workload, ModelSpec):
        # the scenario actually run is checked when traced (arguments may override the default)
        return validated(workload, skip="scenario.")
    if isinstance(workload, str | Path):
        return load_workload(workload)
    raise TersimError(
        "workload: expected a ModelSpec, a workload's YAML path, a shipped name or a "
        f"config.json (got {type(workload).__name__})"
    )


def _count(name: str, value: object, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TersimError(
            f"{name}: expected an integer of at least {minimum} or None (got {value!r})"
        )
    return value


def _choice(enum: type[Enum], value: object, name: str) -> Any:
    if value is None or isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(e.value) for e in enum)  # type: ignore[attr-defined]
        raise TersimError(f"{name}: unknown value {value!r} (expected one of: {allowed})") from None


def _unexpected(function: str, given: Mapping[str, Any], allowed: list[str]) -> None:
    """Raise for keyword arguments ``function`` does not take, naming the nearest ones."""
    if not given:
        return
    parts = []
    for key in given:
        near = difflib.get_close_matches(key, allowed, n=1)
        parts.append(f"'{key}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
    raise TersimError(
        f"{function}: unknown argument {', '.join(parts)} (expected: {', '.join(allowed)})"
    )


def phases_of(phase: str | Phase | tuple[Phase, ...]) -> tuple[Phase, ...]:
    """``"prefill"``, ``"decode"``, ``"both"``, a Phase, or a tuple of them."""
    return Phase.parse(phase)


# --- tracing ----------------------------------------------------------------------------------


def trace(
    spec: ModelSpec | str | Path,
    phase: str | Phase | tuple[Phase, ...] = "both",
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    pe_kind: PEKind | str = PEKind.TERNARY_ADD,
    weight_format: WeightFormat | str | None = None,
    measure: bool = False,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    prompt: np.ndarray | None = None,
    threads: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
    **unexpected: Never,
) -> Workload:
    """Trace ``spec`` in the formats a ``pe_kind`` array runs it in.

    Without ``measure`` the trace comes from shapes alone; with it, from running the functional
    model (same ops and shapes, plus measured zero fractions, activation sparsity and
    add/sub/skip counts) on the weights of a safetensors ``checkpoint``, or on synthetic
    weights drawn from ``seed``, with ``prompt`` token ids (batch, tokens) or a synthetic
    prompt, on up to ``threads`` threads; ``progress(stage, done, total)`` hears how far it
    got. Scenario values left ``None`` come from the workload's ``scenario`` (or the prompt).
    """
    _unexpected("trace", unexpected, _TRACE_ARGS)
    model = _workload(spec)
    phases = phases_of(phase)
    kind = _choice(PEKind, pe_kind, "pe_kind")
    fmt = _choice(WeightFormat, weight_format, "weight_format")
    p = _count("prompt_tokens", prompt_tokens, 1)
    g = _count("gen_tokens", gen_tokens, 0)
    b = _count("batch", batch, 1)
    formats = resolve_formats(model, kind, fmt)
    if not measure:
        if checkpoint is not None or prompt is not None:
            raise WorkloadError("checkpoint, prompt: only used with measure=True (--measure)")
        return trace_shapes(model, formats, phases, p, g, b)
    from tersim.functional.transformer import trace_measured

    return trace_measured(
        model,
        formats,
        phases,
        p,
        g,
        b,
        seed=seed,
        checkpoint=checkpoint,
        prompt=prompt,
        threads=threads,
        progress=progress,
    )


_TRACE_ARGS = [
    "spec",
    "phase",
    "prompt_tokens",
    "gen_tokens",
    "batch",
    "pe_kind",
    "weight_format",
    "measure",
    "seed",
    "checkpoint",
    "prompt",
    "threads",
    "progress",
]


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A design's run (``record``) and, when asked for, its baseline's on the same scenario."""

    record: RunRecord
    baseline: RunRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """The full JSON document (what ``tersim run --json`` writes): ``run``, and with a
        baseline ``baseline`` and ``ratios`` (baseline / design: above 1, the design wins)."""
        from tersim.run.rows import run_document

        return run_document(self.record, self.baseline)

    def summary(self) -> dict[str, Any]:
        """The headline numbers, flat, units in the keys: ``design`` (and ``baseline``) rows
        as in :meth:`to_dataframe` ``("runs")``, and ``ratios``."""
        from tersim.run.rows import summary_rows

        doc = self.to_dict()
        rows = summary_rows(doc)
        out: dict[str, Any] = {"design": rows[0]}
        if len(rows) > 1:
            out["baseline"] = rows[1]
            out["ratios"] = doc["ratios"]
        return out

    def ops(self, baseline: bool = False) -> list[OpRow]:
        """Per-op rows of the design (or of the baseline): op, layer, phase, unit, cycles,
        bytes by memory level and operand, energy by component, mapping."""
        from tersim.run.rows import op_rows

        if baseline and self.baseline is None:
            raise TersimError("ops(baseline=True): this result has no baseline run")
        return op_rows(self.baseline if baseline and self.baseline else self.record)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every table of the result as lists of rows (``runs``, ``ops``, ``baseline_ops``)."""
        from tersim.run.rows import summary_rows

        out: dict[str, list[dict[str, Any]]] = {
            Table.RUNS.value: summary_rows(self.to_dict()),
            Table.OPS.value: [r.to_dict() for r in self.ops()],
        }
        if self.baseline is not None:
            out[Table.BASELINE_OPS.value] = [r.to_dict() for r in self.ops(baseline=True)]
        return out

    def to_dataframe(self, table: Table | str = Table.OPS) -> pandas.DataFrame:
        """One table as a pandas DataFrame (``pip install 'tersim[pandas]'``)."""
        which = _choice(Table, table, "table")
        try:
            import pandas as pd
        except ImportError:
            raise TersimError("to_dataframe needs pandas (pip install 'tersim[pandas]')") from None
        if which is Table.RUNS:
            from tersim.run.rows import summary_rows

            return pd.DataFrame(summary_rows(self.to_dict()))
        rows = self.ops(baseline=which is Table.BASELINE_OPS)
        return pd.DataFrame([r.to_dict() for r in rows])


def default_baseline(hw: str | Path) -> str | None:
    """The baseline the command line compares a design with when none is named: the shipped
    default design (by name or by path) gets its FP16 twin; other designs get none."""
    from tersim.shipped import resolve

    try:
        given = resolve(hw, "hardware").resolve()
        default = resolve(DEFAULT_DESIGN, "hardware").resolve()
    except TersimError:
        return None
    return DEFAULT_BASELINE if given == default else None


def run(
    hw: HardwareConfig | str | Path,
    workload: ModelSpec | str | Path,
    phase: str | Phase | tuple[Phase, ...] | None = None,
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    baseline: HardwareConfig | str | Path | None = None,
    weight_format: WeightFormat | str | None = None,
    fidelity: str = "fast",
    trace: Workload | str | Path | None = None,
    progress: ProgressFn | None = None,
    **unexpected: Never,
) -> Result:
    """Simulate ``workload`` on ``hw`` (and on ``baseline``, if given, at the same scenario).

    ``phase`` is prefill, decode or both (default both); scenario values left ``None`` come
    from the workload's ``scenario``. ``trace`` runs a saved (e.g. measured) trace instead of
    tracing from shapes: the trace fixes the phases, prompt, generated tokens, batch and
    weight format, so giving any of them differently is an error, and the baseline runs the
    trace's scenario. ``fidelity`` is ``fast`` or ``tile``.

    Raises:
        TersimError: bad arguments (what to change is in the message); ConfigError: a config
            that does not validate; WorkloadError / DesignError: work the design cannot run.
    """
    _unexpected("run", unexpected, _RUN_ARGS)
    from tersim.run.pipeline import run as run_pipeline
    from tersim.sim import Fidelity
    from tersim.workload.trace import load_workload_trace

    design = _hardware(hw, "hw")
    base = None if baseline is None else _hardware(baseline, "baseline")
    spec = _workload(workload)
    fid = _choice(Fidelity, fidelity, "fidelity")
    fmt = _choice(WeightFormat, weight_format, "weight_format")
    phases = None if phase is None else phases_of(phase)
    p = _count("prompt_tokens", prompt_tokens, 1)
    g = _count("gen_tokens", gen_tokens, 0)
    b = _count("batch", batch, 1)
    traced: Workload | None = None
    if trace is not None:
        traced = trace if isinstance(trace, Workload) else load_workload_trace(trace)
        if traced.model != spec.name:
            raise TersimError(
                f"trace: a trace of '{traced.model}' but the workload is '{spec.name}' "
                "(expected the workload the trace came from)"
            )
        fixed: dict[str, tuple[object, object]] = {
            "phase": (phases, traced.phases),
            "prompt_tokens": (p, traced.prompt_tokens),
            "gen_tokens": (g, traced.gen_tokens),
            "batch": (b, traced.batch),
            "weight_format": (fmt, traced.formats.weight_format),
        }
        for name, (given, have) in fixed.items():
            if given is not None and given != have:
                shown = "+".join(x.value for x in traced.phases) if name == "phase" else have
                raise TersimError(
                    f"{name}: {given if name != 'phase' else phase} conflicts with the trace, "
                    f"which fixes {name} = {shown} (leave it out, or re-trace with it)"
                )
        phases, p, g, b = traced.phases, traced.prompt_tokens, traced.gen_tokens, traced.batch
    phases = phases or Phase.parse("both")

    def reporter(label: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        fn = progress
        return lambda done, total: fn(label, done, total)

    with _at_lines_of(hw):
        record = run_pipeline(
            design, spec, phases, p, g, b, fmt, fid, traced, reporter(design.name)
        )
    base_record = None
    if base is not None:
        with _at_lines_of(baseline):
            base_record = run_pipeline(
                base, spec, phases, p, g, b, None, fid, None, reporter(base.name)
            )
    return Result(record, base_record)


@contextlib.contextmanager
def _at_lines_of(hw: object) -> Iterator[None]:
    """A DesignError of a design given as a file is reported at that file's lines, and so is a
    ConfigError found after loading (its problems have no line: e.g. no unit runs an op)."""
    from tersim.config.yaml_io import locate_problems
    from tersim.shipped import resolve

    try:
        yield
    except DesignError as exc:
        if not isinstance(hw, str | Path):
            raise
        raise DesignError(locate_problems(resolve(hw, "hardware"), str(exc))) from None
    except ConfigError as exc:
        if not isinstance(hw, str | Path) or any(p.line is not None for p in exc.problems):
            raise
        text = "\n".join(f"{p.field}: {p.message}" for p in exc.problems)
        raise DesignError(locate_problems(resolve(hw, "hardware"), text)) from None


_RUN_ARGS = [
    "hw",
    "workload",
    "phase",
    "prompt_tokens",
    "gen_tokens",
    "batch",
    "baseline",
    "weight_format",
    "fidelity",
    "trace",
    "progress",
]


def gemm(
    hw: HardwareConfig | str | Path,
    m: int,
    n: int,
    k: int,
    dataflow: Dataflow | str | None = None,
    compat: CompatMode | str | None = None,
    ideal_memory: bool = False,
    **unexpected: Never,
) -> GemmResult:
    """Time one GEMM, ``X[m, k] @ W[k, n]``, on a design (operands start in DRAM).

    The result's ``to_json()`` holds cycles, folds, SRAM and DRAM bytes and PE actions; its
    ``seconds`` and ``energy`` give time and energy.
    """
    _unexpected("gemm", unexpected, ["hw", "m", "n", "k", "dataflow", "compat", "ideal_memory"])
    from tersim.run.single_gemm import run_gemm

    design = _hardware(hw, "hw")
    sizes = [_count(name, v, 1) for name, v in (("m", m), ("n", n), ("k", k))]
    if any(s is None for s in sizes):
        raise TersimError(f"gemm: m, n and k are required (got {m}, {n}, {k})")
    return run_gemm(
        design,
        m,
        n,
        k,
        _choice(Dataflow, dataflow, "dataflow"),
        _choice(CompatMode, compat, "compat"),
        ideal_memory,
    )


def sweep(
    spec: SweepSpec | str | Path,
    store: str | Path | None = None,
    jobs: int = 1,
    executor: str = "local",
    **unexpected: Never,
) -> SweepSummary:
    """Run a sweep (a SweepSpec or its YAML path) into its results store (default
    ``reports/<sweep-name>.sqlite``; rerunning resumes) and return its summary: every settled
    point (``.points``, each with its params, status, reason and objective values) and the
    Pareto front (``.front``). See ``docs/dse.md``."""
    _unexpected("sweep", unexpected, ["spec", "store", "jobs", "executor"])
    from tersim.config.yaml_io import load_sweep
    from tersim.dse.sweep import ExecutorChoice, run_sweep

    sw = validated(spec) if isinstance(spec, SweepSpec) else load_sweep(spec)
    n_jobs = _count("jobs", jobs, 1) or 1
    base = load_hardware(sw.hardware)
    model = load_workload(sw.workload)
    path = Path(store) if store is not None else Path("reports") / f"{sw.name}.sqlite"
    return run_sweep(sw, base, model, path, ExecutorChoice(kind=executor, jobs=n_jobs))
