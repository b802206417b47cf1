"""Ternary GEMV speed against the machine's read bandwidth and NumPy, measured in one run.

Usage: ``python benchmarks/bench_gemv.py [--repeats 40] [--quick] [--gemm-only]``

It prints, for the 2-bit GEMV of LLaMA-7B's up projection (K = 4096 inputs, N = 11008
outputs) and a BitNet-700M-sized square one (1536 x 1536):

- the read bandwidth of one thread, measured here: the best of NumPy reductions over a 512 MiB
  array (``sum``, ``bitwise_or.reduce``, ``max``: each reads every byte once);
- NumPy float32 ``W @ x`` (W of shape (N, K), one BLAS thread: the script re-runs itself with
  ``OPENBLAS_NUM_THREADS=1``), cold: weights evicted from the caches before every call;
- ``ternary_matmul`` on 1 thread (caller alone) and on 2 threads (``KernelThreads(2)``), cold
  and warm (weights left in the last-level cache), and on 2 threads while a competing process
  that the benchmark starts (a Python busy loop pinned to one core) holds a core;

with best and median wall times over the repeats, the process CPU time per call next to them,
weight bytes per second against the read bandwidth, and the speed-up over NumPy. Targets
(issue 15): cold 1-thread GEMV at >= 50% of the read bandwidth and >= 8x NumPy float32; 2
threads with a busy core no slower than 1 thread.

Then a prefill GEMM, 512 rows of a BitNet 3B up projection (K = 3200, N = 8640), on one thread,
interleaved: the byte-pair kernel ``ternary_matmul`` picks (AVX2), the int16 kernel it replaces
for GEMMs (``PAIR_MIN_ROWS`` raised past 512), and NumPy float32 ``x @ W`` (exact here, every
partial sum an integer below 2**24), each checked against the oracle; then the byte-pair kernel
on 2 threads against 1 while the competing process holds a core.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
if any(os.environ.get(k) != v for k, v in _ENV.items()):  # one BLAS thread, set before numpy
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_ENV})

import numpy as np  # noqa: E402

from tersim.functional import kernels  # noqa: E402
from tersim.functional.kernels import ternary_matmul  # noqa: E402
from tersim.functional.packing import pack_ternary  # noqa: E402
from tersim.functional.reference import reference_matmul  # noqa: E402
from tersim.functional.threads import KernelThreads  # noqa: E402

READ_BYTES = 512 << 20
EVICT_BYTES = 96 << 20  # three times the 32 MiB L3 of the machine this was written on
SHAPES = [(4096, 11008), (1536, 1536)]  # (K inputs, N outputs)


@dataclass(frozen=True)
class Timing:
    best_s: float
    median_s: float
    cpu_s: float  # median process CPU time per call (all threads)


def timed(
    fn: Callable[[], object], repeats: int, before: Callable[[], object] | None = None
) -> Timing:
    """Wall (best, median) and median CPU seconds of ``fn()`` after 2 warm-up calls."""
    for _ in range(2):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        if before is not None:
            before()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(min(wall), float(np.median(wall)), float(np.median(cpu)))


def interleaved(
    a: Callable[[], object], b: Callable[[], object], repeats: int
) -> tuple[Timing, Timing]:
    """Timings of ``a`` and ``b`` called alternately (the same load conditions for both)."""
    runs: dict[int, tuple[list[float], list[float]]] = {0: ([], []), 1: ([], [])}
    for _ in range(2):
        a(), b()
    for _ in range(repeats):
        for i, fn in enumerate((a, b)):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            runs[i][0].append(time.perf_counter() - t0)
            runs[i][1].append(time.process_time() - c0)
    out = [Timing(min(w), float(np.median(w)), float(np.median(c))) for w, c in runs.values()]
    return out[0], out[1]


def read_bandwidth(repeats: int) -> tuple[float, str]:
    """Best single-thread read rate (bytes/s) of NumPy passes that read ``READ_BYTES`` once:
    reductions, and a one-thread BLAS float32 GEMV (a pure stream of the matrix)."""
    a = np.ones(READ_BYTES // 8, dtype=np.float64)
    u = a.view(np.uint64)
    m = a.view(np.float32).reshape(-1, 4096)
    v = np.ones(4096, dtype=np.float32)
    best, name = 0.0, ""
    for label, fn in (
        ("sum float64", lambda: a.sum()),
        ("bitwise_or.reduce uint64", lambda: np.bitwise_or.reduce(u)),
        ("max float64", lambda: a.max()),
        ("BLAS float32 GEMV", lambda: m @ v),
    ):
        rate = READ_BYTES / timed(fn, max(3, repeats // 8)).best_s
        if rate > best:
            best, name = rate, label
    return best, name


def competitor() -> subprocess.Popen[bytes]:
    """A busy process pinned to the last core (as another program holding a core)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    code = (
        "import os\n"
        f"hasattr(os, 'sched_setaffinity') and os.sched_setaffinity(0, {{{cores[-1]}}})\n"
        "while True: pass\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


@dataclass(frozen=True)
class ShapeResult:
    k: int
    n: int
    numpy_cold: Timing
    numpy_bytes: int
    packed_bytes: int
    rows: list[tuple[str, Timing]]


def bench_shape(
    k: int, n: int, rng: np.random.Generator, repeats: int, evict: Callable[[], object]
) -> ShapeResult:
    """NumPy float32 and ternary timings of one GEMV shape (module docstring)."""
    w32 = rng.standard_normal((n, k), dtype=np.float32)
    x32 = rng.standard_normal(k, dtype=np.float32)
    numpy_cold = timed(partial(np.matmul, w32, x32), repeats, evict)
    numpy_bytes = w32.nbytes
    del w32
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, n))
    trits = np.where(rng.random((k, n)) < 0.31, 0, signs).astype(np.int8)
    packed = pack_ternary(trits, 2)
    x = rng.integers(-128, 128, size=(1, k)).astype(np.int8)
    y_ref = reference_matmul(x, trits)
    rows: list[tuple[str, Timing]] = []
    with KernelThreads(2) as team:
        for label, threads, before in (
            ("1 thread, cold", None, evict),
            ("1 thread, warm", None, None),
            ("2 threads, cold", team, evict),
            ("2 threads, warm", team, None),
        ):
            call = partial(ternary_matmul, x, packed, threads)
            y, _ = call()
            assert np.array_equal(y.astype(np.int64), y_ref), "kernel disagrees with oracle"
            rows.append((label, timed(call, repeats, before)))
        busy = competitor()
        try:
            time.sleep(0.2)
            one, two = interleaved(
                partial(ternary_matmul, x, packed),
                partial(ternary_matmul, x, packed, team),
                repeats,
            )
            rows += [("1 thread, busy core", one), ("2 threads, busy core", two)]
        finally:
            busy.kill()
            busy.wait()
    return ShapeResult(k, n, numpy_cold, numpy_bytes, packed.nbytes, rows)


GEMM_SHAPE = (512, 3200, 8640)  # (M rows, K inputs, N outputs)


def bench_gemm(rng: np.random.Generator, repeats: int) -> None:
    """The prefill GEMM comparison of the module docstring; prints its lines."""
    m, k, n = GEMM_SHAPE
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, n))
    trits = np.where(rng.random((k, n)) < 0.31, 0, signs).astype(np.int8)
    packed = pack_ternary(trits, 2)
    x = rng.integers(-127, 128, size=(m, k)).astype(np.int8)
    y_ref = reference_matmul(x, trits)
    x32, w32 = x.astype(np.float32), trits.astype(np.float32)
    pairs_on = kernels.uses_pairs(m, packed)

    def int16_kernel() -> np.ndarray:
        saved = kernels.PAIR_MIN_ROWS
        kernels.PAIR_MIN_ROWS = m + 1
        try:
            return ternary_matmul(x, packed)[0]
        finally:
            kernels.PAIR_MIN_ROWS = saved

    calls: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("byte pairs (chosen)" if pairs_on else "int16 (chosen; no AVX2)",
         lambda: ternary_matmul(x, packed)[0]),
        ("int16 kernel", int16_kernel),
        ("numpy float32 x @ W", lambda: x32 @ w32),
    ]  # fmt: skip
    for label, fn in calls:
        assert np.array_equal(np.asarray(fn()).astype(np.int64), y_ref), f"{label}: wrong"
    runs: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _ in calls}
    for _ in range(repeats):  # interleaved: the same load for all three
        for label, fn in calls:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            runs[label][0].append(time.perf_counter() - t0)
            runs[label][1].append(time.process_time() - c0)
    print()
    print(f"== GEMM M={m} x K={k} x N={n} (2-bit weights), 1 thread, {repeats} interleaved ==")
    cpu = {label: float(np.median(c)) for label, (_, c) in runs.items()}
    for label, (w, _) in runs.items():
        print(
            f"{label:<24} wall best / median {min(w) * 1e3:8.1f} / {np.median(w) * 1e3:8.1f} ms, "
            f"CPU median {cpu[label] * 1e3:8.1f} ms ({m * k * n / cpu[label] / 1e9:5.1f} G "
            f"weight-activation pairs per CPU second)"
        )
    first = calls[0][0]
    print(
        f"CPU ratio int16 / chosen: {cpu['int16 kernel'] / cpu[first]:.2f}; numpy float32 / "
        f"chosen: {cpu['numpy float32 x @ W'] / cpu[first]:.2f}"
    )
    with KernelThreads(2) as team:
        busy = competitor()
        try:
            time.sleep(0.2)
            one, two = interleaved(
                partial(ternary_matmul, x, packed), partial(ternary_matmul, x, packed, team),
                max(2, repeats // 2),
            )  # fmt: skip
        finally:
            busy.kill()
            busy.wait()
    print(
        f"busy core: 2 threads / 1 thread median time = {two.median_s / one.median_s:.2f} "
        f"(target <= 1; 1 thread {ms(one)}, 2 threads {ms(two)})"
    )


def ms(t: Timing) -> str:
    return f"{t.best_s * 1e3:8.3f} / {t.median_s * 1e3:8.3f} ms (cpu {t.cpu_s * 1e3:7.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per measurement")
    parser.add_argument("--quick", action="store_true", help="10 repeats")
    parser.add_argument("--gemm-only", action="store_true", help="only the prefill GEMM")
    args = parser.parse_args()
    repeats = 10 if args.quick else args.repeats
    if args.gemm_only:
        bench_gemm(np.random.default_rng(0), max(3, repeats // 8))
        return

    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}")
    print(
        f"load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"numpy {np.__version__}; BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}")
    bw, how = read_bandwidth(repeats)
    print(
        f"read bandwidth, 1 thread, at the start ({how}, {READ_BYTES >> 20} MiB): {bw / 1e9:.1f} GB/s"
    )
    evict_buf = np.ones(EVICT_BYTES // 8, dtype=np.uint64)

    def evict() -> None:
        np.bitwise_or.reduce(evict_buf)  # read 96 MiB (clean lines): the weights leave the caches

    rng = np.random.default_rng(0)
    results = []
    for k, n in SHAPES:
        results.append(bench_shape(k, n, rng, repeats, evict))
    bw_end, how_end = read_bandwidth(repeats)
    print(f"read bandwidth, 1 thread, at the end ({how_end}): {bw_end / 1e9:.1f} GB/s")
    streams = [r.numpy_bytes / r.numpy_cold.best_s for r in results]  # cold GEMVs: pure reads
    bw = max(bw, bw_end, *streams)
    print(
        f"read bandwidth used below: {bw / 1e9:.1f} GB/s, the highest of these probes and of the "
        f"cold NumPy GEMVs below ({', '.join(f'{x / 1e9:.1f}' for x in streams)} GB/s)"
    )
    for r in results:
        k, n, np_cold, np_bytes, nbytes, rows = (
            r.k, r.n, r.numpy_cold, r.numpy_bytes, r.packed_bytes, r.rows
        )  # fmt: skip
        print()
        print(f"== GEMV K={k} x N={n} (2-bit weights); wall best / median, CPU per call ==")
        print(
            f"numpy float32 W @ x, cold         {ms(np_cold)}   {np_bytes / np_cold.best_s / 1e9:5.1f} GB/s"
        )
        for label, t in rows:
            rate = nbytes / t.best_s
            print(
                f"ternary {label:<22} {ms(t)}   {rate / 1e9:5.1f} GB/s = {rate / bw * 100:5.1f}% of read BW, "
                f"{np_cold.best_s / t.best_s:5.1f}x numpy (best), {np_cold.median_s / t.median_s:5.1f}x (median)"
            )
        one = dict(rows)["1 thread, busy core"]
        two = dict(rows)["2 threads, busy core"]
        print(
            f"busy core: 2 threads / 1 thread median time = {two.median_s / one.median_s:.2f} "
            f"(target <= 1; best {two.best_s / one.best_s:.2f})"
        )
    bench_gemm(rng, max(3, repeats // 8))


if __name__ == "__main__":
    main()
