"""Ternary GEMV speed against NumPy float32 ``W @ x`` of the same shape, measured in one run.

Usage: ``python benchmarks/bench_gemv.py [--repeats 50] [--quick]``

For each shape (K inputs, N outputs) it prints best-of-N and median times of

- NumPy float32 ``W @ x`` with ``W`` of shape (N, K) (the BLAS GEMV every framework calls),
- ``tersim.functional.kernels.ternary_matmul`` on 2-bit and 1.6-bit packed weights, with all
  Numba threads and with one thread, warm (weights left in cache between calls) and cold (a
  buffer larger than the last-level cache is written before each timed call),

the ratio NumPy / ternary, and the packed weight bytes streamed per second next to the machine's
memory copy bandwidth (``np.copyto`` of a large array, bytes read + written per second).

Times on a shared machine are noisy: the median is the fairer number when other processes
compete for the cores, the best shows what the code can do when they do not. When another
process keeps a core busy, multi-threaded runs (NumPy's BLAS and Numba alike) stall for whole
scheduler time slices; compare one core against one core with
``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_gemv.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numba
import numpy as np

from tersim.functional.kernels import ternary_matmul
from tersim.functional.packing import pack_ternary
from tersim.functional.reference import reference_matmul

SHAPES = [(4096, 4096), (4096, 11008)]  # (K inputs, N outputs)
COPY_BYTES = 256 * 1024 * 1024
EVICT_BYTES = 128 * 1024 * 1024


def timed(
    fn: Callable[[], object], repeats: int, before: Callable[[], object] | None = None
) -> tuple[float, float]:
    """(best, median) seconds of ``fn()`` over ``repeats`` calls after 3 warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def copy_bandwidth_bytes_per_s(repeats: int) -> float:
    src = np.ones(COPY_BYTES, dtype=np.uint8)
    dst = np.empty_like(src)
    best, _ = timed(lambda: np.copyto(dst, src), max(3, repeats // 5))
    return 2 * COPY_BYTES / best  # read + write


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per measurement")
    parser.add_argument("--quick", action="store_true", help="10 repeats, no cold-cache runs")
    args = parser.parse_args()
    repeats = 10 if args.quick else args.repeats

    threads = numba.get_num_threads()
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}")
    print(f"numpy {np.__version__}, numba {numba.__version__}, numba threads={threads}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var)
        print(f"  {var}: {'set to ' + repr(value) if value is not None else 'not set'}")
    if any(os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
        print("  note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; they can slow NumPy's BLAS")
    copy_bw = copy_bandwidth_bytes_per_s(repeats)
    print(f"memory copy bandwidth (np.copyto, read+write): {copy_bw / 1e9:.1f} GB/s")
    evict_buf = np.zeros(EVICT_BYTES, dtype=np.uint8)

    def evict() -> None:
        np.add(evict_buf, 1, out=evict_buf)  # write 128 MiB: evicts the packed weights

    rng = np.random.default_rng(0)
    for k, n in SHAPES:
        print()
        print(f"== K={k} inputs x N={n} outputs (GEMV, M=1); times in ms: best / median ==")
        w32 = rng.standard_normal((n, k), dtype=np.float32)
        x32 = rng.standard_normal(k, dtype=np.float32)
        np_best, np_med = timed(partial(np.matmul, w32, x32), repeats)
        print(
            f"numpy float32 W @ x          {fmt_ms(np_best)} / {fmt_ms(np_med)}   "
            f"weights {w32.nbytes / 2**20:7.1f} MiB, {w32.nbytes / np_best / 1e9:6.1f} GB/s"
        )
        del w32
        signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, n))
        trits = np.where(rng.random((k, n)) < 0.31, 0, signs).astype(np.int8)
        x = rng.integers(-128, 128, size=(1, k)).astype(np.int8)
        y_ref = reference_matmul(x, trits)
        for bpw in (2, 1.6):
            packed = pack_ternary(trits, bpw)
            y, _ = ternary_matmul(x, packed)
            assert np.array_equal(y.astype(np.int64), y_ref), "kernel disagrees with oracle"
            runs: list[tuple[str, int, Callable[[], object] | None]] = [("warm", threads, None)]
            if threads > 1:
                runs.append(("warm", 1, None))
            if not args.quick:
                runs.append(("cold", threads, evict))
            for cache, nthreads, before in runs:
                numba.set_num_threads(nthreads)
                try:
                    best, med = timed(partial(ternary_matmul, x, packed), repeats, before)
                finally:
                    numba.set_num_threads(threads)
                print(
                    f"ternary {bpw:>3} bit {cache} {nthreads}thr   {fmt_ms(best)} / {fmt_ms(med)}   "
                    f"weights {packed.nbytes / 2**20:7.1f} MiB, "
                    f"{packed.nbytes / best / 1e9:6.1f} GB/s   "
                    f"speed-up vs numpy: {np_best / best:5.1f}x best, {np_med / med:5.1f}x median"
                )


if __name__ == "__main__":
    main()
