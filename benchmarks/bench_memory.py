"""Peak memory and CPU time of ``run()`` against generated tokens and layers (issue 16 item 6,
issue 11's memory targets), for this checkout and, optionally, a baseline checkout measured in
the same invocation.

Run: ``python benchmarks/bench_memory.py [--gen 256 512 1024 2048] [--baseline-src DIR]``
(this checkout alone: about 4 minutes on 2 cores; a baseline from before the lazy workload
adds about 6 minutes and 3 GB at 2,048 tokens). ``DIR`` is another checkout's ``src`` (e.g.
``git archive main src hw_configs workloads | tar -x -C /tmp/main`` then ``--baseline-src
/tmp/main/src``: the shipped designs and workloads are found beside ``src``).

Every point runs in a fresh subprocess (``PYTHONPATH`` set to the checkout's ``src``), which
runs one design (``--hw``, default the FP16 design LLaMA-2 7B is measured on) on
``--workload`` with ``--prompt`` tokens, and reports its peak resident set
(``ru_maxrss``), its CPU time (user + system) next to its wall time, and, with
``--tracemalloc``, the peak of Python allocations during the run (slower). Points:

* ``G`` generated tokens for each ``--gen`` value, at the model's layers;
* at the smallest ``G``, the model with its layers doubled (``layers`` x 2: every added layer
  identical to the others).

Printed: per point the peak and the times; the growth per generated token (the slope of the
peak between consecutive ``G``) and per added layer per pass (the doubled model's peak minus
the model's, over the added layers x passes); with a baseline, the same for it and the ratios
baseline / this (above 1: this checkout uses less). Targets (issue 11): LLaMA-2 7B with 2,048
generated tokens at most 300 MB and 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, tracemalloc
from tersim.api import _hardware, _workload
from tersim.run.pipeline import run
from tersim.workload.trace import Phase
hw_name, wl_name, prompt, gen, layers, trace = sys.argv[1:7]
hw = _hardware(hw_name, "hw")
spec = _workload(wl_name)
if int(layers):
    spec = spec.model_copy(update={"architecture": spec.architecture.model_copy(
        update={"layers": int(layers)})})
if trace == "1":
    tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
r = run(hw, spec, (Phase.PREFILL, Phase.DECODE), int(prompt), int(gen), 1)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak_py = tracemalloc.get_traced_memory()[1] if trace == "1" else 0
print(json.dumps({
    "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "cpu_s": cpu, "wall_s": wall,
    "py_peak_bytes": peak_py, "cycles": r.result.total_cycles,
    "layers": spec.architecture.layers,
}))
"""


def measure(src: Path, hw: str, wl: str, prompt: int, gen: int, layers: int, trace: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1")
    args = [hw, wl, str(prompt), str(gen), str(layers), "1" if trace else "0"]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, cwd="/"
    )
    if out.returncode:
        raise SystemExit(f"{src}: the run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def series(src: Path, a: argparse.Namespace, label: str) -> dict[str, dict]:
    pts: dict[str, dict] = {}
    for g in a.gen:
        pts[f"G={g}"] = p = measure(src, a.hw, a.workload, a.prompt, g, 0, a.tracemalloc)
        show(label, f"G={g}", p)
    g0 = min(a.gen)
    layers = pts[f"G={g0}"]["layers"]
    pts["2L"] = p = measure(src, a.hw, a.workload, a.prompt, g0, 2 * layers, a.tracemalloc)
    show(label, f"G={g0}, {2 * layers} layers", p)
    return pts


def show(label: str, point: str, p: dict) -> None:
    py = f", python peak {p['py_peak_bytes'] / 2**20:7.1f} MiB" if p["py_peak_bytes"] else ""
    print(
        f"{label:>8} {point:>20}: peak RSS {p['rss_kb'] / 1024:7.1f} MiB{py}, "
        f"CPU {p['cpu_s']:6.2f} s, wall {p['wall_s']:6.2f} s, cycles {p['cycles']}"
    )


def growth(pts: dict[str, dict], gens: list[int], prompt_passes: int = 1) -> dict[str, float]:
    """KiB per generated token (consecutive G) and per added layer per pass."""
    out: dict[str, float] = {}
    gs = sorted(gens)
    for a, b in itertools.pairwise(gs):
        d = pts[f"G={b}"]["rss_kb"] - pts[f"G={a}"]["rss_kb"]
        out[f"per token {a}->{b}"] = d / (b - a)
    g0 = gs[0]
    base = pts[f"G={g0}"]
    added = pts["2L"]["layers"] - base["layers"]
    out["per layer per pass"] = (pts["2L"]["rss_kb"] - base["rss_kb"]) / (
        added * (prompt_passes + g0)
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--hw", default="fp16-128x128-7nm")
    ap.add_argument("--workload", default="llama2-7b")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, nargs="+", default=[256, 512, 1024, 2048])
    ap.add_argument("--baseline-src", type=Path, default=None)
    ap.add_argument("--tracemalloc", action="store_true")
    a = ap.parse_args()
    mine = series(ROOT / "src", a, "this")
    base = series(a.baseline_src, a, "baseline") if a.baseline_src else None
    print()
    g_mine = growth(mine, a.gen)
    g_base = growth(base, a.gen) if base else {}
    for k, v in g_mine.items():
        line = f"growth {k:>22}: this {v:8.2f} KiB"
        if base:
            b = g_base[k]
            line += f", baseline {b:8.2f} KiB, baseline / this {b / v if v else float('inf'):6.1f}"
        print(line)
    for g in a.gen:
        m = mine[f"G={g}"]
        line = f"G={g:>5}: this {m['rss_kb'] / 1024:7.1f} MiB {m['cpu_s']:6.2f} s CPU"
        if base:
            b = base[f"G={g}"]
            same = "same cycles" if b["cycles"] == m["cycles"] else "CYCLES DIFFER"
            line += (
                f"; baseline {b['rss_kb'] / 1024:7.1f} MiB {b['cpu_s']:6.2f} s CPU; memory "
                f"baseline / this {b['rss_kb'] / m['rss_kb']:5.2f}, CPU "
                f"{b['cpu_s'] / m['cpu_s']:5.2f} ({same})"
            )
        print(line)


if __name__ == "__main__":
    main()
