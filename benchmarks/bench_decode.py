"""Measured decode speed of BitNet b1.58 700M against the bandwidth bound of the same run.

Run: ``python benchmarks/bench_decode.py [--steps 24] [--repeats 3]`` (about 1 minute on 2
cores). The whole measured 3B trace is ``benchmarks/bench_measure.py``.

1. Synthetic weights of ``workloads/bitnet-b1.58-700m.yaml``, generated ``--repeats`` times:
   wall and CPU time per billion parameters (best and median). Target (issue 15): <= 1 s.
2. The read bandwidth of one thread, measured here (the best of NumPy reductions and a
   float32 BLAS GEMV over 512 MiB), and from it the bound on decode speed: a step reads every packed ternary weight, the
   float16 LM-head table and the KV cache once, so ``tokens/s <= bandwidth / bytes per step``
   (printed with and without the LM head).
3. A 16-token prompt, then decode steps of one token with every op measured (what
   ``tersim trace --measure`` does), one step of each configuration in turn (the order
   rotating, so that a change of load or the growing context hits all alike): 1 thread; 2
   threads (``KernelThreads(2)``); every op from Python (``fused_decode=False``, the executor
   the fused step replaces: the baseline of the same run); and the step recorded op by op
   into a trace builder (``forward``). A step is what the measured trace runs
   (``TernaryModel.decode_measured``: the measurements, no ops built; the run's ops come from
   the shape trace at the end). Then, while a competing process the benchmark starts (a Python
   busy loop pinned to one core) holds a core, ``2 * --steps`` pairs of 1 thread and 2 threads
   in ABBA order; the process is stopped afterwards. Per configuration: tokens/s from the
   median and the best step, the share of the bound, and CPU time per step next to wall time.
   Targets: >= 50 tokens/s on 1 thread (median); 2 threads with a busy core no slower than 1
   thread: the ratio of the median steps, with a 95% bootstrap interval over the pairs (met
   when the interval reaches 1 or below: not measurably slower), and how many jobs were
   handed to the helper thread.
4. Where a 1-thread step goes: the ternary GEMVs, the LM head and the attention each timed
   alone (caches flushed before each), and next to each the same bytes read alone by a
   bitwise-or reduction in the same rounds: the part's floor on this machine at this load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from tersim.functional.kvcache import KVCache
from tersim.functional.transformer import TernaryModel

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
    """Best single-thread read rate (bytes/s) of passes that read 512 MiB once: NumPy's sum,
    bitwise-or reduction and max, and a float32 BLAS GEMV (one BLAS thread), the fastest
    reader on the machine this was written on (as in ``bench_gemv.py``)."""
    from tersim.functional.blas import single_blas_thread

    a = np.ones((512 << 20) // 8, dtype=np.float64)
    u = a.view(np.uint64)
    m = a.view(np.float32).reshape(8192, -1)  # (8192, 16384) float32
    x = np.ones(m.shape[1], np.float32)
    best = 0.0
    with single_blas_thread():
        for fn in (a.sum, lambda: np.bitwise_or.reduce(u), a.max, lambda: m @ x):
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                best = max(best, a.nbytes / (time.perf_counter() - t))
    return best


@numba.njit(nogil=True)
def _or_words(a: np.ndarray) -> int:  # pragma: no cover - compiled
    """Bitwise or of every 8-byte word of a 1-D uint64 array: a plain read of its bytes."""
    acc = np.uint64(0)
    for i in range(a.size):
        acc |= a[i]
    return int(acc)


@numba.njit(nogil=True)
def _or_rows(a: np.ndarray, n: int) -> int:  # pragma: no cover - compiled
    """:func:`_or_words` over the first ``n`` positions of every head of a (layers, B, heads,
    capacity, D) uint16 cache: the bytes one decode step's attention reads."""
    acc = np.uint16(0)
    for i in range(a.shape[0]):
        for b in range(a.shape[1]):
            for h in range(a.shape[2]):
                for p in range(n):
                    for d in range(a.shape[4]):
                        acc |= a[i, b, h, p, d]
    return int(acc)


def as_words(a: np.ndarray) -> np.ndarray:
    """The bytes of a C-contiguous array as 1-D uint64 (a tail of fewer than 8 bytes dropped)."""
    flat = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return flat[: flat.size // 8 * 8].view(np.uint64)


def median_ratio(
    a: list[float], b: list[float], resamples: int = 2000
) -> tuple[float, float, float]:
    """``median(a) / median(b)`` of paired samples, with the 2.5% and 97.5% quantiles of the
    ratio over ``resamples`` bootstrap resamples of the pairs (seeded)."""
    x, y = np.asarray(a), np.asarray(b)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, x.size, (resamples, x.size))
    boot = np.median(x[idx], axis=1) / np.median(y[idx], axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return float(np.median(x) / np.median(y)), float(lo), float(hi)


def breakdown(
    model: TernaryModel,
    cache: KVCache,
    ctx: int,
    step: Callable[[], object],
    repeats: int = 12,
) -> None:
    """Print where a fused decode step goes: ``repeats`` rounds of one ``step`` and each part
    alone (the caches flushed by a 512 MiB pass before each), interleaved so that the load of
    the machine hits all alike; best of each. Attention at ``ctx`` positions of ``cache``."""
    from tersim.functional import decode
    from tersim.functional.attention import _attend
    from tersim.functional.transformer import lm_head

    sa = model._step_args(1)
    rng = np.random.default_rng(0)
    inputs = {
        k: rng.integers(-127, 128, (1, k)).astype(np.int8) for k in set(sa.lins[:, :, 0].ravel())
    }
    one = np.ones((1, 1), np.float32)
    flush = np.ones((512 << 20) // 8)

    def gemvs() -> None:
        for i in range(sa.lins.shape[0]):
            for j in range(7):
                lin = sa.lins[i, j]
                off, size = sa.words_at[i, j]
                if size:
                    y = np.empty((1, int(lin[decode.L_N])))
                    decode._linear(
                        inputs[int(lin[decode.L_K])], one, sa.words[off : off + size], one, lin, y
                    )

    c = model.config
    q = rng.standard_normal((1, 1, c.heads, c.head_dim))
    out = np.empty_like(q)
    half = cache.bits == 16
    keys = cache.keys.view(np.uint16) if half else cache.keys
    values = cache.values.view(np.uint16) if half else cache.values

    def attention() -> None:
        for i in range(c.layers):
            ks = cache.key_scales[i] if not half else np.zeros((0, 1, 1, 1), np.float32)
            vs = cache.value_scales[i] if not half else ks
            _attend(q, keys[i], ks, values[i], vs, ctx - 1, out)

    x = rng.standard_normal((1, c.hidden))
    words, table = as_words(sa.words), as_words(model.weights.lm_head)
    parts = {
        f"{int(sa.lins[:, :, 1].astype(bool).sum())} ternary GEMVs": gemvs,
        "float16 LM head": lambda: lm_head(x, model.weights.lm_head),
        f"attention over the cache ({ctx} positions)": attention,
    }
    # Each part's bytes read alone (a bitwise-or reduction, no arithmetic): the floor of the
    # part on this machine in this run.
    reads = {
        "read packed ternary": lambda: _or_words(words),
        "read LM head": lambda: _or_words(table),
        "read KV cache": lambda: (_or_rows(keys, ctx), _or_rows(values, ctx)) if half else None,
    }
    read_bytes = [words.nbytes, table.nbytes, 2 * keys[..., :ctx, :].size * keys.itemsize]
    parts["step"] = step
    times: dict[str, list[float]] = {name: [] for name in (*parts, *reads)}
    every = {**parts, **reads}
    for fn in every.values():
        fn()
    for _ in range(repeats):
        for name, fn in every.items():
            flush.sum()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {name: min(times[name]) for name in parts}
    step_s = best.pop("step")
    rest = step_s - sum(best.values())
    floors = [min(times[name]) for name in reads]
    print(
        f"  where a 1-thread step's {step_s * 1e3:.1f} ms (best) go, each part alone, best of "
        f"{repeats}; next to it the part's bytes read alone (or-reduction, same run, best):"
    )
    for (name, t), floor, nbytes in zip(best.items(), floors, read_bytes, strict=True):
        print(
            f"    {name:<44} {t * 1e3:6.2f} ms ({100 * t / step_s:3.0f}%); read alone "
            f"{floor * 1e3:5.2f} ms ({nbytes / floor / 1e9:4.1f} GB/s; part / read {t / floor:.2f})"
        )
    print(f"    {'the rest (norms, quantization, RoPE, cache writes, Python)':<44} {rest * 1e3:6.2f} ms "
          f"({100 * rest / step_s:3.0f}%)")  # fmt: skip
    floor_s = sum(floors)
    print(
        f"    reading the bytes of the three parts alone: {floor_s * 1e3:.2f} ms, "
        f"{1 / floor_s:.0f} tokens/s with nothing else; with the rest as measured "
        f"{1 / (floor_s + max(rest, 0.0)):.0f} tokens/s"
    )


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
    total = PROMPT_TOKENS + 8 * steps + 24  # every step of the configurations, warm-ups
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
        idle = [("1 thread", model, False), ("2 threads", two, False),
                ("1 thread, op by op", plain, False), ("1 thread, recorded", model, True)]  # fmt: skip
        for i in range(steps):  # one step each in turn, the order rotating: a change of load or
            for label, m, record in idle[i % 4 :] + idle[: i % 4]:  # context hits all alike
                runs.setdefault(label, []).append(step(m, record))
        proc = competitor()
        try:
            time.sleep(0.2)
            busy = [("1 thread, busy core", model), ("2 threads, busy core", two)]
            for i in range(2 * steps):  # pairs in ABBA order (a linear drift cancels)
                for label, m in busy if i % 2 == 0 else busy[::-1]:
                    runs.setdefault(label, []).append(step(m))
        finally:
            proc.kill()
            proc.wait()
    print(
        f"decode, batch 1, context {PROMPT_TOKENS}..{cache.length}, every op measured; "
        f"{steps} steps each ({2 * steps} with the busy core), interleaved step by step; "
        "tokens/s from the median / best step:"
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
    ratio, lo, hi = median_ratio(
        [t for t, _ in runs["2 threads, busy core"]], [t for t, _ in runs["1 thread, busy core"]]
    )
    print(
        f"  1 thread: {one:.1f} tokens/s median (target >= 50: {'met' if one >= 50 else 'NOT met'})"
    )
    print(
        f"  busy core, 2 threads / 1 thread median step time: {ratio:.3f} (95% interval of the "
        f"pairs {lo:.3f}..{hi:.3f}; target <= 1: "
        f"{'met' if lo <= 1 else 'NOT met'}, i.e. 2 threads not measurably slower); jobs "
        f"handed to the helper thread: {team.jobs_offered}"
    )
    with single_blas_thread():
        breakdown(model, cache, (PROMPT_TOKENS + cache.length) // 2, lambda: step(model))
    m = [op for op in tb.ops if op.measured is not None][-1].measured
    assert m is not None
    print(
        f"  last down_proj: weight zero fraction {m.weight_zero_fraction:.4f}, act sparsity "
        f"{m.act_sparsity:.4f}, adds {m.adds}, subs {m.subs}, skips {m.skips}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=24, help="decode steps per configuration")
    ap.add_argument("--repeats", type=int, default=3, help="weight generations timed")
    args = ap.parse_args()
    print(
        f"load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    bench_700m(args.steps, args.repeats)


if __name__ == "__main__":
    main()
