"""``tersim trace bitnet-b1.58-3b --measure`` at the default scenario: wall, CPU, peak memory.

Run: ``python benchmarks/bench_measure.py [--threads N] [--no-stages]`` (a few minutes on 2
cores).

1. The command itself (512-token prompt, 128 generated tokens, every op measured) in a child
   process: wall time, CPU time and peak resident memory of the child (``getrusage``). Targets
   (issue 15): <= 2 minutes, <= 3 GB.
2. Where the time goes (unless ``--no-stages``): the same trace through
   ``tersim.functional.transformer.trace_measured`` in a second child, with wall and CPU time at
   the end of each stage (weights, prefill, decode) from its progress callback; the rest is
   the check against the shape trace and building the workload.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = "bitnet-b1.58-3b"

_STAGES = """
import sys, time
import numba
from tersim.config import PEKind, load_workload
from tersim.functional.transformer import trace_measured
from tersim.workload.formats import resolve_formats
spec = load_workload("workloads/{name}.yaml")
formats = resolve_formats(spec, PEKind.TERNARY_ADD)
t0, c0 = time.perf_counter(), time.process_time()
last = [t0, c0]
def progress(stage, done, total):
    if done == total:
        t, c = time.perf_counter(), time.process_time()
        print(f"  {{stage:<8}} {{t - last[0]:6.1f}} s wall {{c - last[1]:6.1f}} s CPU", flush=True)
        last[:] = [t, c]
wl = trace_measured(spec, formats, threads={threads}, progress=progress)
t, c = time.perf_counter(), time.process_time()
print(f"  rest     {{t - last[0]:6.1f}} s wall {{c - last[1]:6.1f}} s CPU ({{len(wl.ops)}} ops)")
print(f"  total    {{t - t0:6.1f}} s wall {{c - c0:6.1f}} s CPU")
"""


def child_usage() -> tuple[float, float]:
    """(CPU seconds, peak resident bytes) of the waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="--threads of the command")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown")
    args = ap.parse_args()
    print(
        f"load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trace.json"
        cmd = [sys.executable, "-m", "tersim", "trace", WORKLOAD, "--measure", "-o", str(out)]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        cpu0, _ = child_usage()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu1, peak = child_usage()
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(proc.returncode)
        size_mb = out.stat().st_size / 1e6
    shown = " ".join(c if c != str(out) else "TMP/trace.json" for c in cmd[2:])
    print(f"== tersim {shown[7:]} (512-token prompt + 128 generated) ==")
    print(f"  {proc.stdout.strip()}  [{size_mb:.1f} MB]")
    print(
        f"  wall {wall:.1f} s (target <= 120 s: {'met' if wall <= 120 else 'NOT met'}), CPU "
        f"{cpu1 - cpu0:.1f} s, peak resident memory {peak / 1e9:.2f} GB (target <= 3 GB: "
        f"{'met' if peak <= 3e9 else 'NOT met'})"
    )
    if args.no_stages:
        return
    threads = "numba.get_num_threads()" if args.threads is None else str(args.threads)
    print(f"== where the time goes (trace_measured, threads={threads}, a second child) ==")
    sys.stdout.flush()
    code = _STAGES.format(name=WORKLOAD, threads=threads)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
