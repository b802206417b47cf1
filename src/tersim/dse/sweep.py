"""Run a sweep: draw points, drop what cannot or need not run, simulate the rest through an
executor into the results store, and summarize the store (front, counts, reasons).

Rules:

* The store is the only record. A drawn point whose config hash is stored already is not run
  again (resume); everything reported comes from the store.
* A point whose design is invalid (a buffer smaller than a tile, ...) is stored as
  ``dropped`` with the reason. A point that fails a constraint over hardware fields only is
  dropped before it runs (not stored: constraints belong to the sweep file, not the design);
  one that fails a constraint over metrics is dropped when summarizing. Changing the
  constraints and running again therefore never recomputes a stored point.
* A point that fails to simulate is stored as ``failed`` with its error; ``retry_failed``
  forgets those before the sweep starts.
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tersim.config.hardware import HardwareConfig
from tersim.config.sweep import (
    DESIGN_AXIS,
    WORKLOAD_AXIS,
    Condition,
    Objective,
    SamplingMethod,
    SweepSpec,
    is_hardware_field,
    parse_condition,
    parse_objective,
)
from tersim.config.workload import ModelSpec
from tersim.dse.evaluate import PointOutcome, PointTask, Status, SweepContext
from tersim.dse.executors import DaskExecutor, Executor, PoolExecutor, SerialExecutor
from tersim.dse.metrics import point_metrics
from tersim.dse.pareto import pareto_front
from tersim.dse.points import DesignPoint, SweepDesigns, config_hash, make_point, workload_of
from tersim.dse.space import DesignSpace, Params
from tersim.dse.store import ResultStore, StoredPoint
from tersim.errors import TersimError
from tersim.sim import Fidelity
from tersim.workload.ops import Phase


@dataclass(frozen=True)
class ExecutorChoice:
    """Where points run: ``local`` (this process, or a pool of worker processes when
    ``jobs`` > 1 or a point time limit is set) or ``dask`` (``scheduler``: ``local`` for a
    LocalCluster, or ``tcp://host:port``)."""

    kind: str = "local"
    jobs: int = 1
    scheduler: str = "local"
    point_timeout_s: float | None = None  # local: fail a point that runs longer (pool)

    def make(self, context: SweepContext) -> Executor:
        if self.jobs < 1:
            raise TersimError(f"--jobs must be at least 1 (got {self.jobs})")
        if self.kind == "dask":
            return DaskExecutor(context, self.scheduler, self.jobs)
        if self.kind != "local":
            raise TersimError(
                f"--executor: unknown executor '{self.kind}' (expected local or dask)"
            )
        if self.point_timeout_s is not None and not self.point_timeout_s > 0:
            raise TersimError(
                f"--point-timeout must be a positive number of seconds (got {self.point_timeout_s})"
            )
        if self.jobs == 1 and self.point_timeout_s is None:
            return SerialExecutor(context)
        return PoolExecutor(context, self.jobs, self.point_timeout_s)


@dataclass(frozen=True)
class SweepProgress:
    done: int  # points settled (ok, failed or dropped), resumed ones included
    failed: int
    dropped: int
    resumed: int
    total: int  # points planned
    ran: int  # simulated in this run
    elapsed_s: float


@dataclass(frozen=True)
class PointView:
    """A settled point as the summary shows it."""

    index: int
    config_hash: str
    params: dict[str, Any]
    status: Status
    reason: str | None  # why it failed or was dropped
    objectives: tuple[float, ...]  # in the sweep's objective order (ok points)


@dataclass(frozen=True)
class SweepSummary:
    name: str
    store: Path
    objectives: tuple[Objective, ...]
    axes: tuple[str, ...]
    planned: int
    ran: int
    resumed: int
    points: tuple[PointView, ...]  # every settled point of this sweep, in draw order
    front: tuple[PointView, ...]  # sorted by the first objective
    dropped_before_run: dict[str, int] = field(default_factory=dict)  # reason -> count
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(p.status is status for p in self.points) + (
            sum(self.dropped_before_run.values()) if status is Status.DROPPED else 0
        )


def context_of(
    spec: SweepSpec,
    model: ModelSpec,
    fidelity: Fidelity,
    workloads: dict[str, ModelSpec] | None = None,
) -> SweepContext:
    sc = spec.scenario
    return SweepContext(
        model,
        Phase.parse(sc.phase),
        sc.prompt_tokens,
        sc.gen_tokens,
        sc.batch,
        fidelity,
        workloads or {},
    )


def _lookup(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


@dataclass(frozen=True)
class Rules:
    """The sweep file's constraints (split by when they can be checked) and objectives."""

    before_run: tuple[Condition, ...]
    after_run: tuple[Condition, ...]
    objectives: tuple[Objective, ...]

    @classmethod
    def of(cls, spec: SweepSpec) -> Rules:
        conds = [parse_condition(c) for c in spec.constraints]
        before = tuple(c for c in conds if all(is_hardware_field(n) for n in c.names))
        after = tuple(c for c in conds if c not in before)
        return cls(before, after, tuple(parse_objective(o) for o in spec.objectives))

    def design_reason(self, doc: dict[str, Any]) -> str | None:
        """Why a design is dropped before it runs (None: it runs)."""
        for c in self.before_run:
            values = {n: _lookup(doc, n) for n in c.names}
            if not c.holds(values):
                return f"constraint '{c.text}' not met"
        return None

    def metric_reason(self, config: dict[str, Any], metrics: dict[str, float]) -> str | None:
        """Why a simulated point is dropped (None: it is kept); TersimError for a name that is
        neither a hardware field nor a metric."""
        for c in self.after_run:
            values = {}
            for n in c.names:
                if n in metrics:
                    values[n] = metrics[n]
                elif is_hardware_field(n):
                    values[n] = _lookup(config, n)
                else:
                    raise TersimError(_unknown_name(f"constraint '{c.text}'", n, metrics))
            if not c.holds(values):
                return f"constraint '{c.text}' not met"
        return None

    def objective_values(self, metrics: dict[str, float]) -> tuple[float, ...]:
        out = []
        for o in self.objectives:
            if o.metric not in metrics:
                raise TersimError(_unknown_name(f"objective '{o.label}'", o.metric, metrics))
            out.append(float(metrics[o.metric]))
        return tuple(out)


def _unknown_name(where: str, name: str, metrics: dict[str, float]) -> str:
    close = difflib.get_close_matches(name, list(metrics), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"sweep: {where}: '{name}' is neither a hardware field nor a metric of the run record "
        f"(expected e.g. seconds, energy_pj.total, decode.tokens_per_s, dram_bytes{hint})"
    )


def draw(spec: SweepSpec) -> Iterator[Params]:
    """The sweep's points in draw order (grid, random or Latin hypercube; lazy)."""
    space = DesignSpace.of(spec.vary)
    s = spec.sampling
    if s.method is SamplingMethod.GRID:
        yield from space.grid()
    elif s.method is SamplingMethod.RANDOM:
        assert s.samples is not None  # sweep_problems
        yield from space.random(s.samples, s.seed)
    elif s.method is SamplingMethod.LHS:
        assert s.samples is not None
        yield from space.latin_hypercube(s.samples, s.seed)
    else:
        raise AssertionError("nsga2 draws through tersim.dse.search")


def planned_points(spec: SweepSpec) -> int:
    s = spec.sampling
    size = DesignSpace.of(spec.vary).size
    if s.method is SamplingMethod.GRID:
        return size
    assert s.samples is not None
    return s.samples if s.method is SamplingMethod.NSGA2 else min(s.samples, size)


@dataclass
class _Run:
    """State of one sweep run (counters for progress; the store holds the results)."""

    spec: SweepSpec
    designs: SweepDesigns
    context: SweepContext
    store: ResultStore
    rules: Rules
    progress: Callable[[SweepProgress], None] | None
    known: dict[str, Status]
    drawn: set[str] = field(default_factory=set)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped_before: Counter[str] = field(default_factory=Counter)
    done: int = 0
    failed: int = 0
    dropped: int = 0
    resumed: int = 0
    ran: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.context_docs = {
            name: self.context.to_json(name) for name in (None, *self.context.workloads)
        }

    def tick(self) -> None:
        if self.progress is not None:
            self.progress(
                SweepProgress(
                    self.done,
                    self.failed,
                    self.dropped,
                    self.resumed,
                    planned_points(self.spec),
                    self.ran,
                    time.perf_counter() - self.t0,
                )
            )

    def point(self, index: int, params: Params) -> DesignPoint:
        start = self.designs.start_of(params)
        doc = self.docs.get(start.name)
        if doc is None:
            doc = self.docs[start.name] = start.model_dump(mode="json")
        return make_point(
            index,
            params,
            start,
            doc,
            self.spec.scale_sram_bandwidth,
            self.designs.equal_area,
        )

    def hash_of(self, pt: DesignPoint) -> str:
        return config_hash(pt.doc, self.context_docs[workload_of(pt.params)])

    def admit(self, index: int, params: Params) -> PointTask | None:
        """The task of a drawn point, or None if it is settled without running."""
        pt = self.point(index, params)
        h = self.hash_of(pt)
        if h in self.drawn:
            return None  # drawn twice (e.g. equal after port scaling): counted once
        self.drawn.add(h)
        if h in self.known:
            self.resumed += 1
            self.settle_stored(h)
            return None
        if pt.hardware is None:
            outcome = PointOutcome(
                index, h, params, Status.DROPPED, f"invalid design: {pt.invalid}"
            )
            self.configs[h] = pt.doc
            self.record(outcome)
            return None
        reason = self.rules.design_reason(pt.doc)
        if reason is not None:
            self.dropped_before[reason] += 1
            self.drawn.discard(h)
            self.done += 1
            self.dropped += 1
            self.tick()
            return None
        self.configs[h] = pt.doc
        return PointTask(index, h, params, pt.hardware, workload_of(params))

    def settle_stored(self, h: str) -> None:
        status = self.known[h]
        self.done += 1
        self.failed += status is Status.FAILED
        self.dropped += status is Status.DROPPED
        self.tick()

    def record(self, outcome: PointOutcome) -> None:
        """Store a finished point (one transaction) and count it."""
        config = self.configs.pop(outcome.config_hash)
        spec = self.context.spec_of(workload_of(outcome.params))
        self.store.add([outcome], {outcome.config_hash: config}, spec.name)
        self.known[outcome.config_hash] = outcome.status
        self.done += 1
        if outcome.status is Status.FAILED:
            self.failed += 1
        elif outcome.status is Status.DROPPED:
            self.dropped += 1
        else:
            self.ran += 1
            metrics = point_metrics(outcome.rows)
            self.rules.objective_values(metrics)  # unknown names: a clear error, early
            if self.rules.metric_reason(config, metrics) is not None:
                self.dropped += 1
        self.tick()


def sweep_designs(spec: SweepSpec, base: HardwareConfig) -> SweepDesigns:
    """The designs ``spec`` starts its points from (loaded once, before any work; a design
    that does not load is the loader's one-line error)."""
    from tersim.config import load_hardware
    from tersim.shipped import resolve

    def load(name: str) -> HardwareConfig:
        return load_hardware(resolve(name, "hardware"))

    def load_at(field: str, name: str) -> HardwareConfig:
        try:
            return load(name)
        except TersimError as exc:
            raise TersimError(f"sweep {spec.name}: {field}: {exc}") from None

    names = [str(v) for v in spec.vary.get(DESIGN_AXIS, [])]
    by_name = {v: load_at(f"vary.{DESIGN_AXIS}.{i}", v) for i, v in enumerate(names)}
    target = load_at("equal_area", spec.equal_area) if spec.equal_area is not None else None
    return SweepDesigns(base, by_name, target)


def sweep_workloads(spec: SweepSpec) -> dict[str, ModelSpec]:
    """The workloads the ``workload`` axis names, by the name written in the sweep (loaded
    once, before any work; one that does not load is the loader's one-line error)."""
    from tersim.config import load_workload
    from tersim.shipped import resolve

    out: dict[str, ModelSpec] = {}
    for i, value in enumerate(spec.vary.get(WORKLOAD_AXIS, [])):
        name = str(value)
        try:
            out[name] = load_workload(resolve(name, "workload"))
        except TersimError as exc:
            raise TersimError(f"sweep {spec.name}: vary.{WORKLOAD_AXIS}.{i}: {exc}") from None
    return out


def run_sweep(
    spec: SweepSpec,
    base: HardwareConfig,
    model: ModelSpec,
    store_path: Path,
    executor: ExecutorChoice | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
    fidelity: Fidelity = Fidelity.FAST,
    retry_failed: bool = False,
    pool: Executor | None = None,
) -> SweepSummary:
    """Run ``spec`` into the store at ``store_path`` and summarize it (see the module rules).
    ``pool``, if given, is used (and closed) instead of the executor ``executor`` describes."""
    choice = executor or ExecutorChoice()
    rules = Rules.of(spec)
    context = context_of(spec, model, fidelity, sweep_workloads(spec))
    with ResultStore.open(store_path, spec.name) as store:
        if retry_failed:
            store.forget_failed()
        store.set_sweep(spec.model_dump(mode="json"))
        designs = sweep_designs(spec, base)
        state = _Run(spec, designs, context, store, rules, progress, store.known())
        state.tick()
        pool = pool if pool is not None else choice.make(context)
        try:
            if spec.sampling.method is SamplingMethod.NSGA2:
                from tersim.dse.search import run_nsga2

                run_nsga2(state, pool)
            else:
                tasks = (
                    t
                    for i, params in enumerate(draw(spec))
                    if (t := state.admit(i, params)) is not None
                )
                for outcome in pool.run(tasks):
                    state.record(outcome)
        finally:
            pool.close()
        return summarize(
            store,
            spec,
            rules,
            state.drawn,
            dict(state.dropped_before),
            state.ran,
            state.resumed,
            time.perf_counter() - state.t0,
        )


def view(p: StoredPoint, rules: Rules) -> PointView:
    """A stored point with the sweep's metric constraints and objectives applied."""
    if p.status is not Status.OK:
        return PointView(p.index, p.config_hash, p.params, p.status, p.error, ())
    metrics = point_metrics(p.rows)
    reason = rules.metric_reason(p.config, metrics)
    objectives = rules.objective_values(metrics)
    if reason is not None:
        return PointView(p.index, p.config_hash, p.params, Status.DROPPED, reason, objectives)
    return PointView(p.index, p.config_hash, p.params, Status.OK, None, objectives)


def summarize(
    store: ResultStore,
    spec: SweepSpec,
    rules: Rules,
    hashes: set[str] | None,
    dropped_before: dict[str, int],
    ran: int = 0,
    resumed: int = 0,
    seconds: float = 0.0,
) -> SweepSummary:
    """The sweep's points from the store (``hashes``: only those; None: every stored point)."""
    points = tuple(view(p, rules) for p in store.points(hashes))
    goals = [o.goal for o in rules.objectives]
    # points of different workloads are not compared: each workload has its own front
    by_workload: dict[str | None, list[PointView]] = {}
    for p in points:
        if p.status is Status.OK:
            by_workload.setdefault(workload_of(tuple(p.params.items())), []).append(p)
    front: list[PointView] = []
    for group in by_workload.values():
        front += [group[i] for i in pareto_front([p.objectives for p in group], goals)]
    front.sort(key=lambda p: (workload_of(tuple(p.params.items())) or "", p.objectives, p.index))
    return SweepSummary(
        spec.name,
        store.path,
        rules.objectives,
        tuple(spec.vary),
        planned_points(spec),
        ran,
        resumed,
        points,
        tuple(front),
        dropped_before,
        seconds,
    )


def report_data(store: ResultStore) -> dict[str, Any]:
    """The plain document the sweep report is made from: every stored point with its fields,
    flat metrics, status and front membership, under the sweep file the store last ran."""
    sweep_doc = store.sweep_doc()
    if sweep_doc is None:
        raise TersimError(f"{store.path}: no sweep has run into this store yet")
    spec = SweepSpec.model_validate(sweep_doc)
    rules = Rules.of(spec)
    summary = summarize(store, spec, rules, None, {})
    front = {p.config_hash for p in summary.front}
    views = {p.config_hash: p for p in summary.points}
    points = []
    for p in store.points():
        v = views[p.config_hash]
        points.append(
            {
                "index": p.index,
                "config_hash": p.config_hash,
                "status": v.status.value,
                "reason": v.reason,
                "params": p.params,
                "metrics": point_metrics(p.rows) if p.rows else {},
                "front": p.config_hash in front,
            }
        )
    return {
        "name": spec.name,
        "axes": list(spec.vary),
        "objectives": [
            {"label": o.label, "metric": o.metric, "goal": o.goal.value} for o in rules.objectives
        ],
        "points": points,
    }
