"""Expand a sweep into design points, run them (in parallel), and find the Pareto front.

Each point is the base design with the ``vary`` fields replaced, validated exactly like a
hardware file; an impossible point is reported as such, not run, and does not stop the sweep.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tersim.config.hardware import HardwareConfig, design_problems
from tersim.config.sweep import SweepSpec
from tersim.config.workload import ModelSpec
from tersim.errors import TersimError
from tersim.workload.ops import Phase


@dataclass(frozen=True)
class PointResult:
    params: tuple[tuple[str, Any], ...]
    error: str | None = None
    total_cycles: int = 0
    seconds: float = 0.0
    energy_pj: float = 0.0
    dram_bytes: int = 0
    tokens_per_s_decode: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "error": self.error,
            "total_cycles": self.total_cycles,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
            "dram_bytes": self.dram_bytes,
            "tokens_per_s_decode": self.tokens_per_s_decode,
        }


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    if dotted == "dram.bw_gb_per_s":
        doc["dram"]["bw_bytes_per_cycle"] = None
    elif dotted == "dram.bw_bytes_per_cycle":
        doc["dram"]["bw_gb_per_s"] = None


def _scale_ports(doc: dict[str, Any], base: HardwareConfig) -> None:
    """Multiply buffer port bandwidths by the array's larger growth factor (if it grew)."""
    try:
        factor = max(doc["array"]["rows"] / base.array.rows, doc["array"]["cols"] / base.array.cols)
    except (TypeError, KeyError):
        return  # an invalid array: validation will say so
    if factor <= 1:
        return
    for buf in (doc["sram"].get(r) for r in ("input", "weight", "output", "unified")):
        if isinstance(buf, dict):
            for port in ("read_bw_bytes_per_cycle", "write_bw_bytes_per_cycle"):
                if isinstance(buf.get(port), int | float):
                    buf[port] = buf[port] * factor


def expand(
    spec: SweepSpec, base: HardwareConfig
) -> Iterator[tuple[tuple[tuple[str, Any], ...], HardwareConfig | str]]:
    """Every combination: (params, the design) or (params, why it is impossible)."""
    keys = list(spec.vary)
    for values in itertools.product(*(spec.vary[k] for k in keys)):
        params = tuple(zip(keys, values, strict=True))
        doc = base.model_dump(mode="json")
        for key, value in params:
            _set(doc, key, value)
        if spec.scale_sram_bandwidth and not any(
            "bw_bytes_per_cycle" in k and k.startswith("sram.") for k in keys
        ):
            _scale_ports(doc, base)
        doc["name"] = f"{base.name}[" + ",".join(f"{k}={v}" for k, v in params) + "]"
        try:
            hw = HardwareConfig.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            yield params, f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
            continue
        problems = design_problems(hw)
        yield params, hw if not problems else f"{problems[0][0]}: {problems[0][1]}"


def run_point(
    args: tuple[tuple[tuple[str, Any], ...], HardwareConfig, ModelSpec, dict[str, Any]],
) -> PointResult:
    """Simulate one design point (a top-level function, so process pools can call it)."""
    from tersim.run.pipeline import run

    params, hw, model, scenario = args
    try:
        rec = run(
            hw,
            model,
            phases=Phase.parse(scenario["phase"]),
            prompt_tokens=scenario["prompt_tokens"],
            gen_tokens=scenario["gen_tokens"],
            batch=scenario["batch"],
        )
    except TersimError as exc:
        return PointResult(params, error=str(exc))
    c = rec.result.counts
    decode = rec.phase_summary().get("decode", {})
    return PointResult(
        params,
        None,
        rec.result.total_cycles,
        rec.result.seconds,
        rec.energy.total_pj,
        sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values()),
        float(decode.get("tokens_per_s", 0.0)),
    )


def _run_with_dask(args: list[Any], jobs: int, scheduler: str) -> list[PointResult]:
    """Run points as dask tasks: a local scheduler (processes, threads, synchronous) or a
    dask.distributed cluster at ``tcp://host:port`` for sweeps that outgrow one machine."""
    try:
        import dask
    except ImportError:
        raise TersimError("--executor dask needs dask (pip install 'tersim[dask]')") from None
    tasks = [dask.delayed(run_point)(a) for a in args]
    if "://" in scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise TersimError(
                f"a dask cluster ({scheduler}) needs dask.distributed "
                "(pip install 'dask[distributed]')"
            ) from None
        with Client(scheduler) as client:
            return list(client.gather(client.compute(tasks)))
    if scheduler not in ("processes", "threads", "synchronous"):
        raise TersimError(
            f"--dask-scheduler: unknown scheduler '{scheduler}' (expected processes, threads, "
            "synchronous or tcp://host:port)"
        )
    return list(dask.compute(*tasks, scheduler=scheduler, num_workers=jobs))


def run_sweep(
    spec: SweepSpec,
    base: HardwareConfig,
    model: ModelSpec,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    executor: str = "local",
    dask_scheduler: str = "processes",
) -> list[PointResult]:
    """All points in expansion order; ``jobs`` > 1 runs them in a process pool, or
    ``executor="dask"`` hands them to dask."""
    if executor not in ("local", "dask"):
        raise TersimError(f"--executor: unknown executor '{executor}' (expected local or dask)")
    scenario = spec.scenario.model_dump()
    points = list(expand(spec, base))
    results: list[PointResult | None] = [None] * len(points)
    todo = []
    for i, (params, hw) in enumerate(points):
        if isinstance(hw, str):
            results[i] = PointResult(params, error=hw)
        else:
            todo.append((i, (params, hw, model, scenario)))
    done = len(points) - len(todo)
    if executor == "dask" and todo:
        ran = _run_with_dask([a for _, a in todo], jobs, dask_scheduler)
        for (i, _), res in zip(todo, ran, strict=True):
            results[i] = res
        if progress:
            progress(len(points), len(points))
    elif jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for (i, _), res in zip(todo, pool.map(run_point, [a for _, a in todo]), strict=True):
                results[i] = res
                done += 1
                if progress:
                    progress(done, len(points))
    else:
        for i, a in todo:
            results[i] = run_point(a)
            done += 1
            if progress:
                progress(done, len(points))
    return [r for r in results if r is not None]


def pareto_front(results: list[PointResult]) -> list[PointResult]:
    """Points no other point beats on both latency and energy (errors excluded)."""
    ok = [r for r in results if r.error is None]
    front = []
    for r in ok:
        dominated = any(
            o.seconds <= r.seconds
            and o.energy_pj <= r.energy_pj
            and (o.seconds < r.seconds or o.energy_pj < r.energy_pj)
            for o in ok
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r.seconds)
