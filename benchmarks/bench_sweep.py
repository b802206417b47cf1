"""Sweep throughput: design points per minute for BitNet b1.58 3B decode (32 generated tokens
after a 512-token prompt) on the 7nm ternary design at the default (fast) fidelity.

Runs the same sweep (array rows x cols x dataflow, and the DRAM bandwidth) three ways, each
into a fresh store, and prints points per minute (wall) with the CPU seconds beside them:

* baseline: one pipeline run per point, nothing reused (what a sweep did before the store);
* 1 worker: this process, reusing the trace, schedules and simulations across points;
* 2 workers: the process pool.

The ratios are against the baseline measured in the same run; "per CPU-min" divides by the
CPU time of this process and its workers (what a busy shared machine still measures fairly). The serial run also prints the
share of its time per stage (trace, map, simulate, the rest: energy, record, metrics).

    python benchmarks/bench_sweep.py [--points N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tersim.config import load_hardware, load_workload
from tersim.config.sweep import SweepSpec
from tersim.dse.evaluate import Evaluator, PointTask
from tersim.dse.executors import SerialExecutor
from tersim.dse.points import make_point
from tersim.dse.sweep import ExecutorChoice, context_of, draw, run_sweep
from tersim.shipped import resolve
from tersim.sim import Fidelity


def _spec(points: int) -> SweepSpec:
    vary = {
        "array.rows": [64, 128, 256],
        "array.cols": [64, 128, 256],
        "array.dataflow": ["ws", "os", "is"],
        "dram.bw_gb_per_s": [128.0, 256.0, 512.0, 1024.0],
    }
    return SweepSpec(
        name="bench",
        hardware="ternary-128x128-7nm",
        workload="bitnet-b1.58-3b",
        scenario={"phase": "decode", "prompt_tokens": 512, "gen_tokens": 32},
        vary=vary,
        sampling={"method": "random", "samples": points, "seed": 0},
    )


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=36)
    args = ap.parse_args()
    spec = _spec(args.points)
    base = load_hardware(resolve(spec.hardware, "hardware"))
    model = load_workload(resolve(spec.workload, "workload"))
    context = context_of(spec, model, Fidelity.FAST)
    rows = []

    # baseline: nothing reused
    doc = base.model_dump(mode="json")
    tasks = []
    for i, params in enumerate(draw(spec)):
        pt = make_point(i, params, base, doc, True)
        if pt.hardware is not None:
            tasks.append(PointTask(i, str(i), params, pt.hardware))
    fresh = Evaluator(context, reuse=False)
    w0, c0 = time.perf_counter(), time.process_time()
    for t in tasks:
        fresh.evaluate(t)
    rows.append(
        (
            "baseline (no reuse)",
            len(tasks),
            time.perf_counter() - w0,
            time.process_time() - c0,
            fresh,
        )
    )

    with tempfile.TemporaryDirectory() as d:
        for jobs in (1, 2):
            store = Path(d) / f"s{jobs}.sqlite"
            w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
            serial = SerialExecutor(context) if jobs == 1 else None
            summary = run_sweep(
                spec, base, model, store, ExecutorChoice("local", jobs), pool=serial
            )
            wall = time.perf_counter() - w0
            cpu = time.process_time() - c0 + _children_cpu() - k0
            ev = serial.evaluator if serial is not None else None
            rows.append((f"{jobs} worker{'s' if jobs > 1 else ''}", summary.ran, wall, cpu, ev))

    base_rate = rows[0][1] / rows[0][2] * 60
    print(
        f"{'run':<22}{'points':>8}{'wall s':>10}{'CPU s':>10}{'points/min':>12}"
        f"{'x baseline':>12}{'per CPU-min':>13}"
    )
    for name, n, wall, cpu, _ in rows:
        rate = n / wall * 60
        print(
            f"{name:<22}{n:>8}{wall:>10.1f}{cpu:>10.1f}{rate:>12.0f}{rate / base_rate:>12.2f}"
            f"{n / cpu * 60:>13.0f}"
        )
    one, two = rows[1][1] / rows[1][2], rows[2][1] / rows[2][2]
    print(f"scaling 1 -> 2 workers: {two / one:.2f}x (wall)")
    for name, n, _wall, _cpu, ev in rows[:2]:
        s = ev.seconds
        total = s.trace + s.map + s.simulate + s.rest
        print(
            f"stage shares, {name}: trace {s.trace / total:.0%}, map {s.map / total:.0%}, "
            f"simulate {s.simulate / total:.0%}, rest {s.rest / total:.0%} "
            f"({total / max(1, n):.3f} s a point)"
        )


if __name__ == "__main__":
    main()
