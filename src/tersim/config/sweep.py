"""Design-space sweep schema (``SweepSpec``): a base design, a workload, what to vary, how to
sample it, which points to keep (constraints) and what to optimize (objectives).

Constraint and objective syntax is part of the file format, so it is parsed and checked here,
at the boundary, with the file's line numbers:

* A constraint is one comparison chain over names and numbers, combined with ``and``, ``or``,
  ``not`` and arithmetic (``+ - * / **``, ``abs``, ``min``, ``max``), e.g.
  ``array.rows == array.cols`` or ``energy_pj.total <= 5e9 and decode.tokens_per_s > 100``.
  A dotted name that is a hardware field is read from the design point (the constraint is then
  checked before the point runs); any other name is a metric of the point's run record (checked
  after the run; see ``tersim.dse.metrics`` for the names).
* An objective is an alias (``latency``, ``energy``, ``edp``, ``tokens_per_s``,
  ``tokens_per_s_per_w``, ``ttft``, ``area``) or ``min NAME`` / ``max NAME`` for any metric.
"""

from __future__ import annotations

import ast
import math
import operator
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tersim.config.hardware import HardwareConfig
from tersim.config.types import MAX_BATCH, MAX_CONTEXT_TOKENS, MAX_SEED, NonNegInt, PosInt

DEFAULT_MAX_POINTS = 1_000_000


MAX_SWEEP_POINTS = 10**9  # a billion points is days of work even at 1,000 a minute


class SweepScenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: Literal["prefill", "decode", "both"] = "both"
    prompt_tokens: PosInt | None = Field(
        None, description="Prompt length (default: the workload's)", le=MAX_CONTEXT_TOKENS
    )
    gen_tokens: NonNegInt | None = Field(
        None, description="Generated tokens (default: the workload's)", le=MAX_CONTEXT_TOKENS
    )
    batch: PosInt | None = Field(
        None, description="Sequences per batch (default: the workload's)", le=MAX_BATCH
    )


class SamplingMethod(StrEnum):
    """How design points are drawn from the ``vary`` axes."""

    GRID = "grid"  # every combination, in file order (last axis fastest)
    RANDOM = "random"  # ``samples`` distinct combinations drawn uniformly with ``seed``
    LHS = "lhs"  # Latin hypercube: ``samples`` points, each axis's range split into strata
    NSGA2 = "nsga2"  # multi-objective search (Optuna's NSGA-II sampler), ``samples`` trials


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: SamplingMethod = SamplingMethod.GRID
    samples: PosInt | None = Field(
        None, description="random / lhs: points to draw; nsga2: trials to run", le=MAX_SWEEP_POINTS
    )
    seed: NonNegInt = Field(0, description="Seed of the sampler", le=MAX_SEED)
    population: Annotated[int, Field(strict=True, ge=2)] | None = Field(
        None, description="nsga2: population per generation (default: Optuna's, 50)", le=1 << 20
    )


class SweepSpec(BaseModel):
    """Every combination of the ``vary`` values is one design point (or a sample of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    hardware: str = Field(description="Base design: a YAML path or a shipped name")
    workload: str = Field(description="Workload: a YAML path or a shipped name")
    scenario: SweepScenario = Field(default_factory=SweepScenario)
    vary: dict[str, list[Any]] = Field(
        description="Dotted hardware field -> values, e.g. array.rows: [64, 128, 256]; the "
        "axis `design` takes designs (shipped names or YAML paths) each point starts from "
        "instead of `hardware`"
    )
    equal_area: str | None = Field(
        None,
        description="Resize every point's array to this design's chip area (shipped name or "
        "YAML path), by the rule of `tersim run --iso-area`",
        max_length=4096,
    )
    scale_sram_bandwidth: bool = Field(
        True,
        description="Scale every buffer port's bandwidth with the array's larger growth factor, "
        "so a bigger array is still fed (unless the sweep varies a bandwidth itself)",
    )
    sampling: Sampling = Field(default_factory=Sampling)
    constraints: list[str] = Field(
        default_factory=list,
        description="Conditions a point must meet, e.g. 'array.rows == array.cols'",
    )
    objectives: list[str] = Field(
        default_factory=lambda: ["latency", "energy"],
        description="Two or three objectives of the Pareto front (aliases or 'min/max METRIC')",
    )
    max_points: PosInt = Field(
        DEFAULT_MAX_POINTS,
        description="Refuse sweeps of more points than this (before any work)",
        le=MAX_SWEEP_POINTS,
    )


# -- objectives -------------------------------------------------------------------------------


class Goal(StrEnum):
    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Objective:
    label: str  # what the user wrote, e.g. "latency" or "max decode.tokens_per_s"
    metric: str  # a metric name of tersim.dse.metrics
    goal: Goal


OBJECTIVE_ALIASES: dict[str, tuple[str, Goal]] = {
    "latency": ("seconds", Goal.MIN),
    "energy": ("energy_pj.total", Goal.MIN),
    "edp": ("edp_pj_s", Goal.MIN),
    "ttft": ("prefill.seconds", Goal.MIN),
    "tokens_per_s": ("decode.tokens_per_s", Goal.MAX),
    "tokens_per_s_per_w": ("tokens_per_s_per_w", Goal.MAX),
    "area": ("area_mm2", Goal.MIN),
}


def parse_objective(text: str) -> Objective:
    """``latency`` (an alias) or ``min NAME`` / ``max NAME``; ValueError says what is wrong."""
    words = text.split()
    if len(words) == 1 and words[0] in OBJECTIVE_ALIASES:
        metric, goal = OBJECTIVE_ALIASES[words[0]]
        return Objective(text, metric, goal)
    if len(words) == 2 and words[0] in ("min", "max") and _is_name(words[1]):
        return Objective(text, words[1], Goal(words[0]))
    raise ValueError(
        f"not an objective (got '{text}'; expected one of {', '.join(OBJECTIVE_ALIASES)} "
        "or 'min NAME' / 'max NAME' for a metric)"
    )


def _is_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


# -- constraints ------------------------------------------------------------------------------

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@dataclass(frozen=True)
class Condition:
    """A parsed constraint: its text, the names it reads, and its syntax tree."""

    text: str
    names: tuple[str, ...]
    tree: ast.Expression

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is true for ``values`` (name -> value); KeyError names a
        missing name; arithmetic errors (division by zero) count as false."""
        try:
            return bool(self._eval(self.tree.body, values))
        except (ZeroDivisionError, OverflowError, TypeError, ValueError):
            return False

    def _eval(self, node: ast.expr, values: Mapping[str, Any]) -> Any:
        name = _dotted(node)
        if name is not None:
            if name in ("true", "false"):
                return name == "true"
            return values[name]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BoolOp):
            parts = (self._eval(v, values) for v in node.values)
            return all(parts) if isinstance(node.op, ast.And) else any(parts)
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, values)
            return (
                (not v)
                if isinstance(node.op, ast.Not)
                else (-v if isinstance(node.op, ast.USub) else +v)
            )
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](
                self._eval(node.left, values), self._eval(node.right, values)
            )
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, values)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self._eval(right_node, values)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _FUNCTIONS[node.func.id](*(self._eval(a, values) for a in node.args))
        raise AssertionError(f"unchecked node {type(node).__name__}")  # parse_condition rejects


def parse_condition(text: str) -> Condition:
    """Parse a constraint; ValueError says what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(
            f"not a condition (got '{text}': {exc.msg}; expected e.g. 'array.rows == array.cols')"
        ) from None
    names: list[str] = []

    def check(node: ast.expr) -> None:
        name = _dotted(node)
        if name is not None:
            if name not in ("true", "false") and name not in names:
                names.append(name)
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            if isinstance(node.value, float) and not math.isfinite(node.value):
                raise ValueError(f"non-finite number in '{text}' (expected a finite number)")
            return
        children: list[ast.expr]
        if isinstance(node, ast.BoolOp):
            children = list(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            children = [node.operand]
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            children = [node.left, node.right]
        elif isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
            children = [node.left, *node.comparators]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
            and node.args
        ):
            children = list(node.args)
        else:
            raise ValueError(
                f"'{ast.unparse(node)}' is not allowed in a condition (got '{text}'; expected "
                "names, numbers, comparisons, and/or/not, + - * / ** and abs/min/max)"
            )
        for child in children:
            check(child)

    check(tree.body)
    return Condition(text, tuple(names), tree)


# -- hardware fields --------------------------------------------------------------------------


def _walk(path: list[str]) -> tuple[Any, Any] | None:
    """The annotation and field info of the dotted HardwareConfig field ``path`` (nested models
    followed; of a union, its first model), or None if there is no such field."""
    current: Any = HardwareConfig
    found = None
    for i, part in enumerate(path):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        found = (ann, info)
        if typing.get_origin(ann) in (typing.Union, types.UnionType) and i < len(path) - 1:
            models = [
                a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            ann = models[0] if models else ann
        current = ann
    return found


def field_adapter(path: list[str]) -> TypeAdapter[Any] | None:
    """A validator for the dotted hardware field ``path`` (None if no such field)."""
    found = _walk(path)
    if found is None:
        return None
    ann, info = found
    full = Annotated[ann, *info.metadata] if info.metadata else ann  # type: ignore[valid-type]
    return TypeAdapter(typing.cast(Any, full))


def _field_exists(path: list[str]) -> bool:
    """Whether a dotted path names a field of HardwareConfig (nested models followed)."""
    return _walk(path) is not None


DESIGN_AXIS = "design"  # the axis whose values are whole designs (each point's starting point)
WORKLOAD_AXIS = "workload"  # the axis whose values are workloads (each point runs its own)
NAMED_AXES = {DESIGN_AXIS: "designs", WORKLOAD_AXIS: "workloads"}  # axis -> what it names


def is_hardware_field(name: str) -> bool:
    return _field_exists(name.split("."))


def _value_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the field ``key`` (None if it can)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number (got {value}; expected a finite value)"
    adapter = field_adapter(key.split("."))
    if adapter is None:
        return None  # a nested model (e.g. a whole buffer): validated per point
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"{err['msg']} (got {value!r})"
    return None


def grid_size(spec: SweepSpec) -> int:
    """Number of combinations of the ``vary`` values."""
    return math.prod(len(v) for v in spec.vary.values())


def sweep_problems(spec: SweepSpec) -> list[tuple[str, str]]:
    """Cross-field problems of a sweep file, as (dotted field, message)."""
    out: list[tuple[str, str]] = []
    if not spec.vary:
        out.append(
            ("vary", "nothing to vary (got an empty mapping; expected e.g. array.rows: [64, 128])")
        )
    for key, values in spec.vary.items():
        if key in NAMED_AXES:
            bad = next((i for i, v in enumerate(values) if not isinstance(v, str) or not v), None)
            if not values or bad is not None:
                at = f"vary.{key}" if bad is None else f"vary.{key}.{bad}"
                out.append(
                    (
                        at,
                        f"expected {NAMED_AXES[key]}: shipped names or YAML paths (got "
                        f"{values[bad] if bad is not None else 'an empty list'!r})",
                    )
                )
            continue
        if not _field_exists(key.split(".")):
            out.append(
                (
                    f"vary.{key}",
                    f"not a hardware field (got '{key}'; expected a dotted "
                    "path such as array.rows or dram.bw_gb_per_s)",
                )
            )
            continue
        if not values:
            out.append((f"vary.{key}", "no values (got an empty list; expected at least one)"))
        for i, value in enumerate(values):
            why = _value_problem(key, value)
            if why is not None:
                out.append((f"vary.{key}.{i}", f"value {i + 1}: {why}"))
                break
    for i, text in enumerate(spec.constraints):
        try:
            parse_condition(text)
        except ValueError as exc:
            out.append((f"constraints.{i}", str(exc)))
    objectives = []
    for i, text in enumerate(spec.objectives):
        try:
            objectives.append(parse_objective(text))
        except ValueError as exc:
            out.append((f"objectives.{i}", str(exc)))
    if not 2 <= len(spec.objectives) <= 3:
        out.append(
            (
                "objectives",
                f"a front needs two or three objectives (got {len(spec.objectives)}; "
                "expected e.g. [latency, energy])",
            )
        )
    elif len({o.metric for o in objectives}) < len(objectives):
        out.append(("objectives", "the same metric twice (expected distinct objectives)"))
    s = spec.sampling
    if s.method in (SamplingMethod.RANDOM, SamplingMethod.LHS, SamplingMethod.NSGA2):
        if s.samples is None:
            out.append(
                (
                    "sampling.samples",
                    f"{s.method.value} sampling needs a number of samples (got nothing; "
                    "expected e.g. samples: 200)",
                )
            )
        elif s.samples > spec.max_points:
            out.append(
                (
                    "sampling.samples",
                    f"more samples than max_points (got {s.samples:,}; expected at most "
                    f"{spec.max_points:,}, or raise max_points)",
                )
            )
    elif spec.vary and all(spec.vary.values()):
        n = grid_size(spec)
        if n > spec.max_points:
            out.append(
                (
                    "vary",
                    f"the grid has {n:,} points, more than max_points {spec.max_points:,} "
                    "(expected fewer values, sampling: {method: random | lhs | nsga2, "
                    "samples: N}, or a larger max_points)",
                )
            )
    if s.population is not None and s.method is not SamplingMethod.NSGA2:
        out.append(("sampling.population", "only nsga2 sampling has a population"))
    return out
