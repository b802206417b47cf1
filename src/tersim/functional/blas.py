"""One BLAS thread while the functional model runs (its own threads are in ``threads.py``).

NumPy's OpenBLAS runs a matmul on every core and its threads spin while they wait for work.
On a machine where another process holds a core that is ruinous: the attention products of a
512-token BitNet 3B prefill layer measured 0.97 s on two OpenBLAS threads and 0.16 s on one
(``benchmarks/`` machine, another process busy). The functional model's large products (the
ternary kernels) share work through ``KernelThreads``, which never waits for a helper; the
BLAS products that remain (attention, the float32 LM head of tests) run on one thread.

:func:`single_blas_thread` finds the OpenBLAS that NumPy loaded (by scanning the process's
mapped libraries, the way ``threadpoolctl`` does) and sets its thread count to 1 for the
duration, restoring it afterwards. Where there is no such library (another BLAS, another OS)
it does nothing: results never depend on BLAS threads, only speed does.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator
from pathlib import Path

# (set, get) symbol names of OpenBLAS builds NumPy ships or links against.
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _openblas() -> list[tuple[Callable[[int], None], Callable[[], int]]]:
    """(set, get) thread-count functions of every OpenBLAS mapped into this process."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return []
    try:
        paths = {
            line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()
        }
    except OSError:
        return []
    found: list[tuple[Callable[[int], None], Callable[[], int]]] = []
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                found.append((setter, getter))
                break
    return found


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the body with OpenBLAS on one thread (module docstring); restores the old count."""
    import numpy  # noqa: F401 - NumPy loads its BLAS on import

    libs = _openblas()
    before = [get() for _, get in libs]
    for setter, _ in libs:
        setter(1)
    try:
        yield
    finally:
        for (setter, _), n in zip(libs, before, strict=True):
            setter(n)
