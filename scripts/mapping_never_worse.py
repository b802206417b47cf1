"""Is the searched mapping ever slower than the heuristic's? Every shipped design x every
shipped workload (128-token prefill and decode), each distinct GEMM once per design: the
judge's span of the searched point against the heuristic plan's, priced by the same judge
(:mod:`tersim.mapping.versus`; tests/unit/mapping/test_never_worse.py checks a subset in CI).
Prints each design's count and every shape that is worse; exits 1 if any is.

    python scripts/mapping_never_worse.py [--designs NAME ...] [--workloads NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tersim.config import load_hardware, load_workload
from tersim.mapping.versus import distinct_gemms, searched_versus_heuristic
from tersim.run.judge import engine_judge

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", nargs="*", default=None)
    ap.add_argument("--workloads", nargs="*", default=None)
    a = ap.parse_args()
    designs = a.designs or sorted(p.stem for p in (ROOT / "hw_configs").glob("*.yaml"))
    workloads = a.workloads or sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))
    specs = [(w, load_workload(ROOT / "workloads" / f"{w}.yaml")) for w in workloads]
    t0, shapes, worse = time.process_time(), 0, 0
    for name in designs:
        hw = load_hardware(ROOT / "hw_configs" / f"{name}.yaml")
        judge, count = engine_judge(hw), 0
        for w, op in distinct_gemms(hw, specs):
            v = searched_versus_heuristic(hw, judge, op)
            count += 1
            if v.searched_cycles > v.heuristic_cycles:
                worse += 1
                print(
                    f"  worse: {name} {w} (m, n, k, count, bits) = {v.key}: searched "
                    f"{v.searched_cycles} > heuristic {v.heuristic_cycles} cycles",
                    flush=True,
                )
        shapes += count
        print(f"{name}: {count} shapes, {time.process_time() - t0:.0f} s CPU", flush=True)
    print(f"{shapes} shapes, {worse} where the search is slower than the heuristic")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
