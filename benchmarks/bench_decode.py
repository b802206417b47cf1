"""Measured decode speed (700M) and peak memory (2B4T) of the functional ternary model.

Run: ``python benchmarks/bench_decode.py`` (about a minute on 2 cores).

1. ``workloads/bitnet-b1.58-700m.yaml``: synthetic weights, an 8-token prompt (prefill also
   compiles / loads the numba kernels), one warm-up decode step, then timed decode steps of one
   token with every op recorded and measured. Target: under 1 s per token.
2. ``workloads/bitnet-b1.58-2b4t.yaml``: a whole measured decode trace (``trace_measured``, 8-token
   prompt, 1 generated token) in a fresh child process, whose peak resident memory
   (``getrusage`` maxrss) is reported. Target: under 2 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 8
TIMED_STEPS = 10


def _spec(name: str):  # type: ignore[no-untyped-def]
    from tersim.config import load_workload

    return load_workload(ROOT / "workloads" / f"{name}.yaml")


def bench_700m() -> None:
    import numba
    import numpy as np

    from tersim.config import PEKind
    from tersim.functional.transformer import TernaryModel, prompt_for
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import Phase, TraceBuilder

    spec = _spec("bitnet-b1.58-700m")
    formats = resolve_formats(spec, PEKind.TERNARY_ADD)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    model = TernaryModel.synthetic(spec, formats, seed=0)
    t_init = time.perf_counter() - t0
    packed_mb = (
        sum(
            getattr(lw, n).packed.nbytes
            for lw in model.weights.layers
            for n in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
        )
        / 2**20
    )
    cache = model.new_cache(1, PROMPT_TOKENS + TIMED_STEPS + 1)
    tb = TraceBuilder(spec, formats, 1)
    t0 = time.perf_counter()
    logits = model.forward(prompt_for(spec.architecture.vocab, 1, PROMPT_TOKENS, 0), cache, tb)
    t_prefill = time.perf_counter() - t0
    tb.phase = Phase.DECODE
    logits = model.forward(np.argmax(logits, axis=-1)[:, None], cache, tb)  # warm-up step
    times = []
    for _ in range(TIMED_STEPS):
        t0 = time.perf_counter()
        logits = model.forward(np.argmax(logits, axis=-1)[:, None], cache, tb)
        times.append(time.perf_counter() - t0)
    linear = [op for op in tb.ops if op.measured is not None]
    best, med = min(times), sorted(times)[len(times) // 2]
    print(f"== {spec.name}: measured decode, batch 1, {numba.get_num_threads()} numba threads ==")
    load = ", ".join(f"{x:.2f}" for x in load_before)
    print(f"load average before the run (1/5/15 min): {load}; other processes share the cores")
    print(f"synthetic weights (draw, quantize, pack): {t_init:.1f} s; packed {packed_mb:.0f} MiB")
    print(f"prefill of {PROMPT_TOKENS} tokens (incl. kernel load/compile): {t_prefill:.2f} s")
    print(
        f"decode, one token, {TIMED_STEPS} steps: best {best * 1e3:.0f} ms, median "
        f"{med * 1e3:.0f} ms -> {1 / med:.2f} tokens/s (target < 1000 ms/token: "
        f"{'met' if med < 1.0 else 'NOT met'})"
    )
    m = linear[-1].measured
    assert m is not None
    print(
        f"last down_proj: weight zero fraction {m.weight_zero_fraction:.4f}, act sparsity "
        f"{m.act_sparsity:.4f}, adds {m.adds}, subs {m.subs}, skips {m.skips}"
    )


def child_2b4t() -> None:
    """Runs in its own process: the whole measured decode trace of 2B4T, then peak RSS."""
    from tersim.config import PEKind
    from tersim.functional.transformer import trace_measured
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import Phase

    spec = _spec("bitnet-b1.58-2b4t")
    formats = resolve_formats(spec, PEKind.TERNARY_ADD)
    t0 = time.perf_counter()
    wl = trace_measured(spec, formats, (Phase.DECODE,), PROMPT_TOKENS, 1, 1, seed=0)
    elapsed = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB
    n_lin = sum(1 for op in wl.ops if op.measured is not None)
    print(f"== {spec.name}: trace_measured, decode phase, prompt {PROMPT_TOKENS}, 1 token ==")
    print(f"{len(wl.ops)} ops ({n_lin} measured linears) in {elapsed:.1f} s (weights included)")
    print(
        f"peak resident memory (maxrss): {peak_gb:.2f} GB (target < 2 GB: "
        f"{'met' if peak_gb < 2.0 else 'NOT met'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child-2b4t", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip-2b4t", action="store_true", help="Only the 700M speed benchmark.")
    args = ap.parse_args()
    if args.child_2b4t:
        child_2b4t()
        return
    bench_700m()
    if not args.skip_2b4t:
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--child-2b4t"], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
