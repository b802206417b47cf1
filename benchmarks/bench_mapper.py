"""Speed of the mapping search, against the heuristic mapping, measured in one run.

    python benchmarks/bench_mapper.py [--repeats N]

Prints (1) the search's time per distinct matrix-product shape of the default ``tersim run``
(BitNet b1.58 3B, 512-token prompt, 128 generated tokens, on ternary-128x128-7nm and its FP16
baseline): points in the space, points assessed, points simulated, CPU milliseconds; and (2)
the mapping alone (map_design of both designs' default traces) and the whole default run
(design plus baseline, as the CLI runs it) with ``mapping.search: heuristic`` and ``searched``
side by side: minimum and median over the repeats of wall and CPU time, and the ratio of the
minima (target for the run: searched / heuristic <= 1.20); (3) the search over the distinct
shapes of SmolLM-135M and BitNet b1.58 1.3B (128-token prefill and decode) on the fast-load
design, the whole declared space against the same search with the write-back after the op only
(the space without the overlapped write-back: the choice whose pruning once cost 7x), minimum
and median of wall and CPU time over the repeats and the ratio of the minima.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from tersim.config import HardwareConfig, load_hardware, load_workload  # noqa: E402
from tersim.config.enums import MappingObjective, MappingSearch  # noqa: E402
from tersim.hw.counts import ActionCounts  # noqa: E402
from tersim.mapping.gemm import Operands, gemm_problem  # noqa: E402
from tersim.mapping.ops import _matmul_shape, runs_on_array  # noqa: E402
from tersim.mapping.search import search  # noqa: E402
from tersim.mapping.space import GemmProblem  # noqa: E402
from tersim.mapping.versus import distinct_gemms  # noqa: E402
from tersim.run.judge import engine_judge  # noqa: E402
from tersim.run.pipeline import map_design, run  # noqa: E402
from tersim.workload.formats import resolve_formats  # noqa: E402
from tersim.workload.trace import trace_shapes  # noqa: E402

DESIGNS = ("ternary-128x128-7nm", "fp16-128x128-7nm")
WORKLOAD = "bitnet-b1.58-3b"


def _with(hw: HardwareConfig, mode: MappingSearch) -> HardwareConfig:
    return hw.model_copy(update={"mapping": hw.mapping.model_copy(update={"search": mode})})


def per_shape() -> None:
    spec = load_workload(ROOT / "workloads" / f"{WORKLOAD}.yaml")
    print("search per distinct shape (X from DRAM; CPU ms):")
    for name in DESIGNS:
        hw = load_hardware(ROOT / "hw_configs" / f"{name}.yaml")
        judge = engine_judge(hw)
        formats = resolve_formats(spec, hw.array.pe_kind, None, hw.array.weight_format)
        wl = trace_shapes(spec, formats)
        shapes = {}
        for op in wl.ops:
            if op.kind.is_matmul and runs_on_array(hw, op):
                shape, am = _matmul_shape(hw, op)
                key = (shape.m, shape.n, am.k, shape.count, am.input_bits, am.weight_bits)
                shapes.setdefault(key, (op, am))
        total = 0.0
        rows = []
        for (m, n, k, inst, _, _), (op, am) in shapes.items():
            operands = Operands(
                am.input_bits, am.weight_bits, op.out_bits, hw.array.accumulator_bits,
                False, False, am.passes_per_tile,
            )  # fmt: skip
            problem = gemm_problem(hw, m, n, k, operands, inst)
            t0 = time.process_time()
            c = search(problem, judge, hw.mapping.objective, ActionCounts())
            dt = time.process_time() - t0
            total += dt
            rows.append((dt, f"{m}x{n}x{k} x{inst}", c))
        print(f"  {name}: {len(shapes)} distinct shapes, {total * 1e3:,.0f} ms in all")
        for dt, label, c in sorted(rows, key=lambda r: -r[0])[:8]:
            print(
                f"    {label:22s} {dt * 1e3:7.1f} ms  points {c.points:5d}  assessed "
                f"{c.assessed:4d}  simulated {c.simulated:3d}"
            )
        if len(rows) > 8:
            rest = sorted(r[0] for r in rows)[: len(rows) - 8]
            print(
                f"    ... {len(rest)} more, {sum(rest) * 1e3:.0f} ms in all (max "
                f"{max(rest) * 1e3:.1f} ms)"
            )


def whole_runs(repeats: int) -> None:
    spec = load_workload(ROOT / "workloads" / f"{WORKLOAD}.yaml")
    design, base = (load_hardware(ROOT / "hw_configs" / f"{n}.yaml") for n in DESIGNS)
    times: dict[tuple[MappingSearch, str], dict[str, list[float]]] = {}
    for _ in range(repeats):
        for mode in (MappingSearch.HEURISTIC, MappingSearch.SEARCHED):
            for what, fn in (
                ("mapping", lambda hw: map_design(hw, _default_trace(hw, spec))),
                ("run", lambda hw: run(hw, spec)),
            ):
                w0, c0 = time.perf_counter(), time.process_time()
                fn(_with(design, mode))
                fn(_with(base, mode))
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                slot = times.setdefault((mode, what), {"wall": [], "cpu": []})
                slot["wall"].append(wall)
                slot["cpu"].append(cpu)
    print(f"default tersim run ({WORKLOAD}, {DESIGNS[0]} + {DESIGNS[1]}), {repeats} repeats:")
    for what in ("mapping", "run"):
        h, s = times[(MappingSearch.HEURISTIC, what)], times[(MappingSearch.SEARCHED, what)]
        for label, t in (("heuristic", h), ("searched ", s)):
            print(
                f"  {what:7s} {label} wall min {min(t['wall']):6.2f} s  median "
                f"{statistics.median(t['wall']):6.2f} s   cpu min {min(t['cpu']):6.2f} s  "
                f"median {statistics.median(t['cpu']):6.2f} s"
            )
        print(
            f"  {what:7s} searched / heuristic (min): wall {min(s['wall']) / min(h['wall']):.3f}"
            f"   cpu {min(s['cpu']) / min(h['cpu']):.3f}"
            + ("  (target <= 1.20)" if what == "run" else "")
        )


FASTLOAD = "ternary-128x128-7nm-fastload"
FASTLOAD_WORKLOADS = ("smollm-135m", "bitnet-b1.58-1.3b")


def fastload_search(repeats: int) -> None:
    hw = load_hardware(ROOT / "hw_configs" / f"{FASTLOAD}.yaml")
    judge = engine_judge(hw)
    specs = [(w, load_workload(ROOT / "workloads" / f"{w}.yaml")) for w in FASTLOAD_WORKLOADS]
    problems = []
    for _, op in distinct_gemms(hw, specs):
        shape, am = _matmul_shape(hw, op)
        bits = Operands(am.input_bits, am.weight_bits, op.out_bits, 32, False, False).bits
        problems.append(GemmProblem.of(hw, shape.m, shape.n, am.k, bits, False, False, shape.count))
    variants = {
        "whole space": problems,
        "write-back after the op only": [replace(p, epilogue=True) for p in problems],
    }
    times: dict[str, dict[str, list[float]]] = {v: {"wall": [], "cpu": []} for v in variants}
    for _ in range(repeats):
        for label, probs in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for p in probs:
                search(p, judge, MappingObjective.LATENCY, ActionCounts())
            times[label]["wall"].append(time.perf_counter() - w0)
            times[label]["cpu"].append(time.process_time() - c0)
    print(f"search on {FASTLOAD}, {len(problems)} distinct shapes of "
          f"{' + '.join(FASTLOAD_WORKLOADS)}, {repeats} repeats:")  # fmt: skip
    for label, t in times.items():
        print(
            f"  {label:29s} wall min {min(t['wall']):6.2f} s  median "
            f"{statistics.median(t['wall']):6.2f} s   cpu min {min(t['cpu']):6.2f} s  "
            f"median {statistics.median(t['cpu']):6.2f} s"
        )
    whole, after = times["whole space"], times["write-back after the op only"]
    print(
        f"  whole / after-only (min): wall {min(whole['wall']) / min(after['wall']):.2f}"
        f"   cpu {min(whole['cpu']) / min(after['cpu']):.2f}"
    )


def _default_trace(hw: HardwareConfig, spec):  # type: ignore[no-untyped-def]
    formats = resolve_formats(spec, hw.array.pe_kind, None, hw.array.weight_format)
    return trace_shapes(spec, formats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fastload-only", action="store_true", help="only part (3)")
    args = ap.parse_args()
    if args.fastload_only:
        fastload_search(args.repeats)
        return
    warm = load_hardware(ROOT / "hw_configs" / f"{DESIGNS[1]}.yaml")
    tiny = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    run(warm, tiny, prompt_tokens=8, gen_tokens=1)  # warm-up (imports, numba)
    per_shape()
    whole_runs(args.repeats)
    fastload_search(args.repeats)


if __name__ == "__main__":
    main()
