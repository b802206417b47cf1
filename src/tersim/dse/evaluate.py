"""Evaluate design points: run the pipeline, reusing what points share, and never raise.

Reuse rules (an :class:`Evaluator` holds the caches of one process):

* the trace is made once per weight/activation formats (the workload and scenario are the
  sweep's);
* the schedule once per (formats, mapping key): designs that differ only in fields the mapping
  never reads (``tersim.dse.points.mapping_key``) share it;
* the simulation once per (formats, mapping key, memory timing, clock, fidelity): designs that
  differ only in energy fields (technology node, overrides, DRAM energy) share it, and only
  the energy is recomputed.

Caches are bounded (least recently used entries are dropped). Reused results equal fresh ones
value for value (tests/unit/dse/test_reuse.py).

Faults: a point raising a :class:`TersimError` is ``failed`` with that message; any other
exception (a model bug, a value the schema let through) is ``failed`` with the exception's
type and message. Either way the sweep goes on.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.dse.metrics import record_rows
from tersim.dse.points import mapping_key
from tersim.dse.space import Params
from tersim.errors import TersimError
from tersim.mapping.schedule import Schedule
from tersim.run.pipeline import Progress, design_formats, map_design, run
from tersim.sim import Fidelity, SimResult, simulate
from tersim.sim.timing import MemoryTiming
from tersim.workload.formats import Formats
from tersim.workload.trace import Phase, Workload, trace_shapes

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True)
class SweepContext:
    """What every point of a sweep shares: the scenario, the fidelity and the workload
    (``spec``), or the workloads of the ``workload`` axis (``workloads``: by the name the
    sweep file writes)."""

    spec: ModelSpec
    phases: tuple[Phase, ...]
    prompt_tokens: int | None
    gen_tokens: int | None
    batch: int | None
    fidelity: Fidelity = Fidelity.FAST
    workloads: dict[str, ModelSpec] = field(default_factory=dict)

    def spec_of(self, workload: str | None) -> ModelSpec:
        """The workload a point runs (``workload``: its axis value; None: the sweep's)."""
        return self.spec if workload is None else self.workloads[workload]

    def to_json(self, workload: str | None = None) -> dict[str, Any]:
        """What a point's simulation depends on besides its design (hashed with it)."""
        return {
            "workload": self.spec_of(workload).model_dump(mode="json"),
            "phases": [p.value for p in self.phases],
            "prompt_tokens": self.prompt_tokens,
            "gen_tokens": self.gen_tokens,
            "batch": self.batch,
            "fidelity": self.fidelity.value,
        }


@dataclass(frozen=True)
class PointTask:
    """One valid design point to simulate."""

    index: int
    config_hash: str
    params: Params
    hardware: HardwareConfig
    workload: str | None = None  # the ``workload`` axis's value (None: the sweep's workload)


@dataclass(frozen=True)
class PointOutcome:
    """What became of a point: ``rows`` (phase -> metrics) when ok, else ``error``."""

    index: int
    config_hash: str
    params: Params
    status: Status
    error: str | None
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    elapsed_s: float = 0.0


class _LRU(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        if key in self.items:
            self.items.move_to_end(key)
            self.hits += 1
            return self.items[key]
        self.misses += 1
        value = make()
        self.items[key] = value
        if len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return value


@dataclass
class StageSeconds:
    """Wall seconds this evaluator spent per stage (what the benchmark reports)."""

    trace: float = 0.0
    map: float = 0.0
    simulate: float = 0.0
    rest: float = 0.0  # energy, record, metrics


class Evaluator:
    """Simulates points of one sweep context with reuse (see the module rules)."""

    def __init__(self, context: SweepContext, reuse: bool = True) -> None:
        self.context = context
        self.reuse = reuse
        self._traces: _LRU[tuple[str | None, Formats], Workload] = _LRU(4)
        self._schedules: _LRU[tuple[str | None, Formats, str], Schedule] = _LRU(32)
        self._sims: _LRU[tuple[Any, ...], SimResult] = _LRU(64)
        self.seconds = StageSeconds()

    def evaluate(self, task: PointTask) -> PointOutcome:
        t0 = time.perf_counter()
        try:
            rows = self._rows(task.hardware, task.workload)
        except TersimError as exc:
            return self._outcome(task, Status.FAILED, str(exc), {}, t0)
        except Exception as exc:  # one point's bug must not end the sweep (issue 16)
            return self._outcome(
                task, Status.FAILED, f"internal error: {type(exc).__name__}: {exc}", {}, t0
            )
        return self._outcome(task, Status.OK, None, rows, t0)

    def _outcome(
        self,
        task: PointTask,
        status: Status,
        error: str | None,
        rows: dict[str, dict[str, float]],
        t0: float,
    ) -> PointOutcome:
        elapsed = time.perf_counter() - t0
        return PointOutcome(task.index, task.config_hash, task.params, status, error, rows, elapsed)

    def _rows(self, hw: HardwareConfig, name: str | None) -> dict[str, dict[str, float]]:
        ctx, sec = self.context, self.seconds
        t0 = time.perf_counter()
        spec = ctx.spec_of(name)
        formats = design_formats(hw, spec)

        def make_trace() -> Workload:
            return trace_shapes(
                spec, formats, ctx.phases, ctx.prompt_tokens, ctx.gen_tokens, ctx.batch
            )

        workload = (
            self._traces.get_or_make((name, formats), make_trace) if self.reuse else make_trace()
        )
        t1 = time.perf_counter()
        sec.trace += t1 - t0
        mkey = mapping_key(hw)
        spent = {"map": 0.0, "sim": 0.0}

        def mapper(h: HardwareConfig, w: Workload) -> Schedule:
            s0 = time.perf_counter()
            try:
                if not self.reuse:
                    return map_design(h, w)
                return self._schedules.get_or_make((name, formats, mkey), lambda: map_design(h, w))
            finally:
                spent["map"] += time.perf_counter() - s0

        def simulator(
            s: Schedule,
            mem: MemoryTiming,
            clock_hz: float,
            fid: Fidelity,
            p: Progress | None,
            units: tuple[str, ...],
        ) -> SimResult:
            s0 = time.perf_counter()
            try:
                if not self.reuse:
                    return simulate(s, mem, clock_hz, fid, p, units)
                key = (name, formats, mkey, mem, clock_hz, fid, units)
                return self._sims.get_or_make(
                    key, lambda: simulate(s, mem, clock_hz, fid, p, units)
                )
            finally:
                spent["sim"] += time.perf_counter() - s0

        record = run(
            hw,
            spec,
            phases=ctx.phases,
            prompt_tokens=ctx.prompt_tokens,
            gen_tokens=ctx.gen_tokens,
            batch=ctx.batch,
            fidelity=ctx.fidelity,
            workload=workload,
            mapper=mapper,
            simulator=simulator,
        )
        rows = record_rows(record.to_json())
        sec.map += spent["map"]
        sec.simulate += spent["sim"]
        sec.rest += time.perf_counter() - t1 - spent["map"] - spent["sim"]
        return rows


def evaluate_batch(context: SweepContext, tasks: list[PointTask]) -> list[PointOutcome]:
    """Evaluate ``tasks`` with one evaluator (what a Dask task runs: its caches live as long
    as the batch)."""
    evaluator = Evaluator(context)
    return [evaluator.evaluate(t) for t in tasks]
