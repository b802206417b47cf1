"""Measured decode speed of BitNet b1.58 700M against the bandwidth bound of the same run.

Run: ``python benchmarks/bench_decode.py [--steps 32] [--repeats 3]`` (about 2 minutes on 2
cores). The whole measured 3B trace is ``benchmarks/bench_measure.py``.

1. Synthetic weights of ``workloads/bitnet-b1.58-700m.yaml``, generated ``--repeats`` times:
   wall and CPU time per billion parameters (best and median). Target (issue 15): <= 1 s.
2. The read bandwidth of one thread, measured here (the best of NumPy passes over a 512 MiB
   array), and from it the bound on decode speed: a step reads every packed ternary weight, the
   float16 LM-head table and the KV cache once, so ``tokens/s <= bandwidth / bytes per step``
   (printed with and without the LM head).
3. A 16-token prompt, then decode steps of one token with every op recorded and measured (what
   ``tersim trace --measure`` does), in rounds that alternate: 1 thread; 2 threads
   (``KernelThreads(2)``); and the same two while a competing process the benchmark starts (a
   Python busy loop pinned to one core) holds a core, stopped afterwards. A step is what the
   measured trace runs (``TernaryModel.decode_measured``: the measurements, no ops built; the
   run's ops come from the shape trace at the end), and, as a reference, the same step recorded
   op by op into a trace builder (``forward``). Per configuration:
   tokens/s from the median and the best step, the share of the bound, and CPU time per step
   next to wall time. Targets: >= 50 tokens/s on 1 thread; 2 threads with a busy core no slower
   than 1 thread. The baseline of the same run: decode with every op run from Python
   (``fused_decode=False``, the executor the fused layers replace), on 1 thread.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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


def read_bandwidth(repeats: int = 5) -> float:
    """Best single-thread read rate (bytes/s) of NumPy passes that read 512 MiB once."""
    a = np.ones((512 << 20) // 8, dtype=np.float64)
    u = a.view(np.uint64)
    best = 0.0
    for fn in (a.sum, lambda: np.bitwise_or.reduce(u), a.max):
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = max(best, a.nbytes / (time.perf_counter() - t))
    return best


def bench_700m(steps: int, repeats: int) -> None:
    from tersim.config import PEKind, load_workload
    from tersim.functional.blas import single_blas_thread
    from tersim.functional.threads import KernelThreads
    from tersim.functional.transformer import TernaryModel, prompt_for
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import Phase, TraceBuilder

    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    formats = resolve_formats(spec, PEKind.TERNARY_ADD)
    TernaryModel.synthetic(spec.model_copy(update={"architecture": spec.architecture.model_copy(
        update={"layers": 1})}), formats, seed=1)  # fmt: skip  # compile / load the kernels
    gen: list[tuple[float, float]] = []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        model = TernaryModel.synthetic(spec, formats, seed=0)
        gen.append((time.perf_counter() - t0, time.process_time() - c0))
    ternary = sum(
        getattr(lw, n).shape[0] * getattr(lw, n).shape[1]
        for lw in model.weights.layers
        for n in LINEARS
    )
    tables = model.weights.embed.size + (
        0 if spec.architecture.tied_embeddings else model.weights.lm_head.size
    )
    packed_bytes = sum(getattr(lw, n).packed.nbytes for lw in model.weights.layers for n in LINEARS)
    params = (ternary + tables) / 1e9
    walls, cpus = sorted(w for w, _ in gen), sorted(c for _, c in gen)
    print(
        f"== {spec.name}: synthetic weights ({ternary / 1e6:.0f}M ternary + {tables / 1e6:.0f}M "
        f"table parameters), {repeats} generations =="
    )
    print(
        f"generation per billion parameters: wall best {walls[0] / params:.2f} s, median "
        f"{float(np.median(walls)) / params:.2f} s; CPU best {cpus[0] / params:.2f} s, median "
        f"{float(np.median(cpus)) / params:.2f} s (target <= 1 s)"
    )
    total = PROMPT_TOKENS + 6 * steps + 8  # every step of the 6 configurations, warm-ups
    cache = model.new_cache(1, total)
    head_bytes = model.weights.lm_head.nbytes
    kv_bytes = cache.nbytes * (PROMPT_TOKENS + total) // (2 * total)  # mean context read
    step_bytes = packed_bytes + head_bytes + kv_bytes
    bw = read_bandwidth()
    bound, bound_w = bw / step_bytes, bw / packed_bytes
    print(
        f"read bandwidth, 1 thread: {bw / 1e9:.1f} GB/s; bytes per decode step: packed ternary "
        f"{packed_bytes / 2**20:.0f} MiB + float16 LM head {head_bytes / 2**20:.0f} MiB + KV cache "
        f"{kv_bytes / 2**20:.1f} MiB -> bound {bound:.0f} tokens/s ({bound_w:.0f} tokens/s for "
        f"the ternary weights alone)"
    )
    tb = TraceBuilder(spec, formats, 1)
    with single_blas_thread():
        logits = model.forward(prompt_for(spec.architecture.vocab, 1, PROMPT_TOKENS, 0), cache, tb)
    tb.phase = Phase.DECODE

    def step(m: TernaryModel, record: bool = False) -> tuple[float, float]:
        """One decode step as ``tersim trace --measure`` runs it (``decode_measured``), or
        recorded op by op into the builder (``forward``, the earlier way) with ``record``."""
        nonlocal logits
        c, t = time.process_time(), time.perf_counter()
        tokens = np.argmax(logits, axis=-1)[:, None]
        if record:
            logits = m.forward(tokens, cache, tb)
        else:
            logits, _ = m.decode_measured(tokens, cache)
        return time.perf_counter() - t, time.process_time() - c

    runs: dict[str, list[tuple[float, float]]] = {}
    with KernelThreads(2) as team, single_blas_thread():
        two = replace(model, threads=team)
        plain = replace(model, fused_decode=False)  # the baseline: every op from Python
        for m in (model, two, plain):  # warm-up
            step(m)
        step(model, record=True)
        for busy in (False, True):
            proc = competitor() if busy else None
            try:
                time.sleep(0.2 if busy else 0)
                rounds = 4
                configs = [("1 thread", model, False), ("2 threads", two, False)]
                if not busy:
                    configs.append(("1 thread, op by op", plain, False))
                    configs.append(("1 thread, recorded", model, True))
                for _ in range(rounds):  # alternate, so that load changes hit all alike
                    for label, m, record in configs:
                        key = f"{label}{', busy core' if busy else ''}"
                        for _ in range(steps // rounds):
                            runs.setdefault(key, []).append(step(m, record))
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
    print(
        f"decode, batch 1, context {PROMPT_TOKENS}..{cache.length}, every op measured; "
        f"{steps // 4 * 4} steps each, interleaved; tokens/s from the median / best step:"
    )
    med = {}
    for key, ts in runs.items():
        wall = sorted(t for t, _ in ts)
        cpu = float(np.median([c for _, c in ts]))
        med[key] = float(np.median(wall))
        print(
            f"  {key:<22} {1 / med[key]:6.1f} / {1 / wall[0]:6.1f} tokens/s "
            f"({100 / med[key] / bound:3.0f}% / {100 / wall[0] / bound:3.0f}% of the bound); step "
            f"median {med[key] * 1e3:6.1f} ms, best {wall[0] * 1e3:6.1f} ms, CPU median "
            f"{cpu * 1e3:6.1f} ms"
        )
    print(
        f"  fused decode layers / op by op (the executor alone), 1 thread, median step time: "
        f"{med['1 thread'] / med['1 thread, op by op']:.2f}; unrecorded / recorded step "
        f"(decode_measured / forward with a builder): "
        f"{med['1 thread'] / med['1 thread, recorded']:.2f}"
    )
    one = 1 / med["1 thread"]
    print(
        f"  1 thread: {one:.1f} tokens/s median (target >= 50: {'met' if one >= 50 else 'NOT met'}); "
        f"busy core, 2 threads / 1 thread median step time: "
        f"{med['2 threads, busy core'] / med['1 thread, busy core']:.2f} (target <= 1)"
    )
    m = [op for op in tb.ops if op.measured is not None][-1].measured
    assert m is not None
    print(
        f"  last down_proj: weight zero fraction {m.weight_zero_fraction:.4f}, act sparsity "
        f"{m.act_sparsity:.4f}, adds {m.adds}, subs {m.subs}, skips {m.skips}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=32, help="decode steps per configuration")
    ap.add_argument("--repeats", type=int, default=3, help="weight generations timed")
    args = ap.parse_args()
    print(
        f"load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    bench_700m(args.steps, args.repeats)


if __name__ == "__main__":
    main()
