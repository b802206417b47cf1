"""Is the searched mapping ever slower than the heuristic's? Every shipped design x every
shipped workload (128-token prefill and decode), each distinct GEMM once per design: the
judge's span of the searched point against the heuristic plan's, priced by the same judge
(the rule of tests/unit/mapping/test_mapping_search.py's never-slower test, which checks
three designs on BitNet b1.58 3B). Prints each design's count and every shape that is worse.
About 11 minutes of CPU.

    python scripts/mapping_never_worse.py [--designs NAME ...] [--workloads NAME ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tersim.config import load_hardware, load_workload
from tersim.config.enums import MappingObjective
from tersim.errors import TersimError
from tersim.hw.counts import ActionCounts
from tersim.mapping.gemm import Operands, plan_gemm
from tersim.mapping.ops import _matmul_shape, runs_on_array
from tersim.mapping.schedule import spread_loads
from tersim.mapping.search import search
from tersim.mapping.space import GemmProblem, Geometry
from tersim.run.judge import engine_judge
from tersim.workload.formats import resolve_formats
from tersim.workload.ops import Phase
from tersim.workload.trace import trace_shapes

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", nargs="*", default=None)
    ap.add_argument("--workloads", nargs="*", default=None)
    a = ap.parse_args()
    designs = a.designs or sorted(p.stem for p in (ROOT / "hw_configs").glob("*.yaml"))
    workloads = a.workloads or sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))
    t0, shapes, worse = time.process_time(), 0, []
    for name in designs:
        hw = load_hardware(ROOT / "hw_configs" / f"{name}.yaml")
        judge, seen = engine_judge(hw), set()
        for w in workloads:
            spec = load_workload(ROOT / "workloads" / f"{w}.yaml")
            try:
                fm = resolve_formats(spec, hw.array.pe_kind, None, hw.array.weight_format)
                trace = trace_shapes(spec, fm, (Phase.PREFILL, Phase.DECODE), 128, 2, 1)
            except TersimError:
                continue  # a workload this design's PEs cannot run
            for op in trace.ops:
                if not (op.kind.is_matmul and runs_on_array(hw, op)) or op.step > 0:
                    continue
                shape, am = _matmul_shape(hw, op)
                key = (shape.m, shape.n, am.k, shape.count, am.input_bits, am.weight_bits)
                if key in seen:
                    continue
                seen.add(key)
                ops = Operands(am.input_bits, am.weight_bits, op.out_bits, 32, False, False)
                h = plan_gemm(hw, shape.m, shape.n, am.k, ops, instances=shape.count)
                tiles = spread_loads(h.tiles, sum(h.dram_read_bytes.values()))
                problem = GemmProblem.of(
                    hw, shape.m, shape.n, am.k, ops.bits, False, False, shape.count
                )
                write = Geometry(problem).write_bytes
                h_span = judge.op_cycles(tiles, write) - judge.first_load_cycles(
                    tiles[0].load_bytes
                )
                s = search(problem, judge, MappingObjective.LATENCY, ActionCounts())
                shapes += 1
                if s.span_cycles > h_span:
                    worse.append((name, w, key, s.span_cycles, h_span))
                    print(
                        f"  worse: {name} {w} (m, n, k, count, bits) = {key}: searched "
                        f"{s.span_cycles} > heuristic {h_span} cycles",
                        flush=True,
                    )
        print(f"{name}: {len(seen)} shapes, {time.process_time() - t0:.0f} s CPU", flush=True)
    print(f"{shapes} shapes, {len(worse)} where the search is slower than the heuristic")


if __name__ == "__main__":
    main()
