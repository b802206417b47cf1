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
from tersim.errors import TersimError
from tersim.mapping.ops import runs_on_array
from tersim.mapping.versus import searched_versus_heuristic, shape_key
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
                if shape_key(hw, op) in seen:
                    continue
                v = searched_versus_heuristic(hw, judge, op)
                seen.add(v.key)
                shapes += 1
                if v.searched_cycles > v.heuristic_cycles:
                    worse.append(v)
                    print(
                        f"  worse: {name} {w} (m, n, k, count, bits) = {v.key}: searched "
                        f"{v.searched_cycles} > heuristic {v.heuristic_cycles} cycles",
                        flush=True,
                    )
        print(f"{name}: {len(seen)} shapes, {time.process_time() - t0:.0f} s CPU", flush=True)
    print(f"{shapes} shapes, {len(worse)} where the search is slower than the heuristic")


if __name__ == "__main__":
    main()
