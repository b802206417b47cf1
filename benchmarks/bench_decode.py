"""Measured decode speed (BitNet b1.58 700M) and a whole measured 3B trace: time and memory.

Run: ``python benchmarks/bench_decode.py [--steps 32] [--skip-3b]`` (about 3 minutes on 2 cores).

1. ``workloads/bitnet-b1.58-700m.yaml``, synthetic weights (their generation is timed, per
   billion parameters), a 16-token prompt, then decode steps of one token with every op
   recorded and measured (what ``tersim trace --measure`` does), in rounds that alternate:
   1 thread; 2 threads (``KernelThreads(2)``); and the same two while a competing process the
   benchmark starts (a Python busy loop pinned to one core) holds a core, stopped afterwards.
   Tokens/s from the median step time, best step time, and CPU time per step. Targets (issue
   15): >= 50 tokens/s on 1 thread; 2 threads with a busy core no slower than 1 thread.
2. ``tersim trace bitnet-b1.58-3b --measure`` at the default scenario (512-token prompt, 128
   generated) in a child process: wall time, CPU time and peak resident memory (``getrusage``
   of the child). Targets: <= 2 minutes, <= 3 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 16
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def competitor() -> subprocess.Popen[bytes]:
    """A busy process pinned to the last core (as another program holding a core)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    code = (
        "import os\n"
        f"hasattr(os, 'sched_setaffinity') and os.sched_setaffinity(0, {{{cores[-1]}}})\n"
        "while True: pass\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def bench_700m(steps: int) -> None:
    from tersim.config import PEKind, load_workload
    from tersim.functional.threads import KernelThreads
    from tersim.functional.transformer import TernaryModel, prompt_for
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import Phase, TraceBuilder

    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    formats = resolve_formats(spec, PEKind.TERNARY_ADD)
    TernaryModel.synthetic(spec.model_copy(update={"architecture": spec.architecture.model_copy(
        update={"layers": 1})}), formats, seed=1)  # fmt: skip  # compile / load the kernels
    c0, t0 = time.process_time(), time.perf_counter()
    model = TernaryModel.synthetic(spec, formats, seed=0)
    t_init, c_init = time.perf_counter() - t0, time.process_time() - c0
    ternary = sum(
        getattr(lw, n).shape[0] * getattr(lw, n).shape[1]
        for lw in model.weights.layers
        for n in LINEARS
    )
    tables = model.weights.embed.size + (
        0 if spec.architecture.tied_embeddings else model.weights.lm_head.size
    )
    packed_mb = (
        sum(getattr(lw, n).packed.nbytes for lw in model.weights.layers for n in LINEARS) / 2**20
    )
    params = (ternary + tables) / 1e9
    print(
        f"== {spec.name}: synthetic weights ({ternary / 1e6:.0f}M ternary + {tables / 1e6:.0f}M table parameters) =="
    )
    print(
        f"generation: {t_init:.2f} s wall, {c_init:.2f} s CPU = {t_init / params:.2f} s per billion "
        f"parameters (target <= 1 s); packed ternary weights {packed_mb:.0f} MiB"
    )
    total = PROMPT_TOKENS + 1 + 8 * steps + 8
    cache = model.new_cache(1, total)
    tb = TraceBuilder(spec, formats, 1)
    logits = model.forward(prompt_for(spec.architecture.vocab, 1, PROMPT_TOKENS, 0), cache, tb)
    tb.phase = Phase.DECODE

    def step(m: TernaryModel) -> tuple[float, float]:
        nonlocal logits
        c, t = time.process_time(), time.perf_counter()
        logits = m.forward(np.argmax(logits, axis=-1)[:, None], cache, tb)
        return time.perf_counter() - t, time.process_time() - c

    runs: dict[str, list[tuple[float, float]]] = {}
    with KernelThreads(2) as team:
        two = replace(model, threads=team)
        for m in (model, two):  # warm-up
            step(m)
        for busy in (False, True):
            proc = competitor() if busy else None
            try:
                time.sleep(0.2 if busy else 0)
                rounds = 4
                for _ in range(rounds):  # alternate, so that load changes hit both alike
                    for label, m in (("1 thread", model), ("2 threads", two)):
                        key = f"{label}{', busy core' if busy else ''}"
                        for _ in range(steps // rounds):
                            runs.setdefault(key, []).append(step(m))
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
    print(
        f"decode, batch 1, context {PROMPT_TOKENS}..{cache.length}, every op measured; "
        f"{steps} steps each, interleaved:"
    )
    med = {}
    for key, ts in runs.items():
        wall = sorted(t for t, _ in ts)
        cpu = float(np.median([c for _, c in ts]))
        med[key] = float(np.median(wall))
        print(
            f"  {key:<22} {1 / med[key]:6.1f} tokens/s (median step {med[key] * 1e3:6.1f} ms, "
            f"best {wall[0] * 1e3:6.1f} ms, CPU {cpu * 1e3:6.1f} ms per step)"
        )
    print(
        f"  1 thread: {1 / med['1 thread']:.1f} tokens/s (target >= 50: "
        f"{'met' if 1 / med['1 thread'] >= 50 else 'NOT met'}); busy core, 2 threads / 1 thread "
        f"step time: {med['2 threads, busy core'] / med['1 thread, busy core']:.2f} (target <= 1)"
    )
    m = [op for op in tb.ops if op.measured is not None][-1].measured
    assert m is not None
    print(
        f"  last down_proj: weight zero fraction {m.weight_zero_fraction:.4f}, act sparsity "
        f"{m.act_sparsity:.4f}, adds {m.adds}, subs {m.subs}, skips {m.skips}"
    )


def bench_3b() -> None:
    """``tersim trace bitnet-b1.58-3b --measure`` in a child process: time, CPU, peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trace.json"
        cmd = [
            sys.executable,
            "-m",
            "tersim",
            "trace",
            "bitnet-b1.58-3b",
            "--measure",
            "-o",
            str(out),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(proc.returncode)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        peak_gb = after.ru_maxrss * 1024 / 1e9  # Linux: KiB; the largest child so far
        size_mb = out.stat().st_size / 1e6
    print("== tersim trace bitnet-b1.58-3b --measure (512-token prompt + 128 generated) ==")
    print(f"  {proc.stdout.strip()}  [{size_mb:.1f} MB]")
    print(
        f"  wall {wall:.1f} s (target <= 120 s: {'met' if wall <= 120 else 'NOT met'}), CPU "
        f"{cpu:.1f} s, peak resident memory {peak_gb:.2f} GB (target <= 3 GB: "
        f"{'met' if peak_gb <= 3 else 'NOT met'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=32, help="decode steps per configuration")
    ap.add_argument("--skip-3b", action="store_true", help="only the 700M decode benchmark")
    args = ap.parse_args()
    print(
        f"load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    bench_700m(args.steps)
    sys.stdout.flush()
    if not args.skip_3b:
        bench_3b()


if __name__ == "__main__":
    main()
