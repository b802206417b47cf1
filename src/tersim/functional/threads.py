"""Helper threads for the kernels that can never make a call slower than the caller alone.

Why not Numba's ``prange``: a parallel region ends when *every* thread has finished its share.
On a machine where another process holds a core, the thread that lands on that core waits for
a scheduler time slice (milliseconds) and every matmul waits with it; with static scheduling a
1536 x 1536 GEMV measured 0.089 ms on one thread and 4.79 ms on two.

The rule here instead: the caller never waits for a helper.

- Work is cut into chunks that write disjoint parts of the output. Every participant claims
  chunks with an atomic counter (dynamic scheduling) and marks each finished chunk done.
- The caller claims chunks too. When none are left to claim it looks at the done flags and
  computes, itself, any chunk a helper claimed but has not finished. Both write the same values
  (the kernels are exact and deterministic), so the duplicate work is harmless; a caller that
  recomputed a chunk returns a copy of the output, so a helper finishing late writes only into
  a buffer nobody reads.
- So the worst case is the caller doing all the work plus the cost of posting it: a helper
  that never gets a core costs nothing but its wake-up.
- A helper is only worth waking when a core is idle: on a machine whose cores are all taken a
  woken helper runs on the caller's core, in the caller's time, and may duplicate a chunk.
  :meth:`KernelThreads.helpers_available` therefore counts the idle cores from the kernel's
  instantaneous count of runnable tasks (the fourth field of ``/proc/loadavg``, which includes
  the caller), sampled at most every ``IDLE_SAMPLE_S`` seconds, and offers work to at most that
  many helpers (to all of them where ``/proc/loadavg`` does not exist). Measured on 2 cores with
  another process on one (and other work on the machine): a 4096 x 11008 GEMV took 1.21x the
  single-thread time (median; 1.18x best) when shared regardless, 1.00x best with this rule
  (``benchmarks/bench_gemv.py``).

:class:`KernelThreads` owns the helpers (``threads - 1`` daemon threads, started on first use,
stopped by :meth:`KernelThreads.close`). The kernels decide per call whether to share at all
(small matmuls run on the caller alone) and how to chunk; see ``kernels.py``. After a
``fork`` the child has no helpers: a team used in another process than the one that created
it runs everything on the caller.

The chunk claims use the atomics of ``intrinsics.py`` inside ``nogil`` Numba functions.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

from tersim.errors import WorkloadError

#: Idle cores are re-sampled at most this often (seconds).
IDLE_SAMPLE_S = 0.02
_LOADAVG = "/proc/loadavg"


def idle_cores() -> int | None:
    """Cores no runnable task wants right now (this thread counts as one), or None if the
    kernel does not say (no ``/proc/loadavg``)."""
    try:
        with open(_LOADAVG) as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, (cores or 1) - running)


class KernelThreads:
    """A team of ``threads - 1`` helper threads the kernels may share work with.

    :meth:`share` hands a callable to idle helpers and returns at once; the caller then runs the
    same callable itself and never waits for them (see the module docstring). ``threads == 1``
    has no helpers. ``idle_probe`` counts idle cores (default :func:`idle_cores`; a probe that
    returns None means "unknown": offer work to every helper). Use as a context manager, or
    call :meth:`close`.

    Raises:
        WorkloadError: ``threads`` is not a positive integer.
    """

    def __init__(self, threads: int, idle_probe: Callable[[], int | None] = idle_cores) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise WorkloadError(f"threads: must be a positive integer; got {threads!r}")
        self._threads = threads
        self._probe = idle_probe
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._job: Callable[[], object] | None = None
        self._seq = 0
        self._closed = False
        self._helpers: list[threading.Thread] = []
        self._idle: tuple[float, int] = (-1.0, 0)  # (sample time, helpers available)
        self._wake = 0  # helpers still to take the current job

    @property
    def threads(self) -> int:
        """Threads that may work on one call, the caller included."""
        return self._threads

    @property
    def jobs_offered(self) -> int:
        """Jobs handed to helpers so far (calls of :meth:`share` that woke one)."""
        return self._seq

    @property
    def usable(self) -> bool:
        """Whether helpers can run here (more than one thread, not closed, same process)."""
        return self._threads > 1 and not self._closed and os.getpid() == self._pid

    def helpers_available(self) -> int:
        """Helpers worth waking now: at most ``threads - 1``, and no more than the idle cores
        (module docstring; sampled at most every ``IDLE_SAMPLE_S``)."""
        if not self.usable:
            return 0
        now = time.monotonic()
        stamp, count = self._idle
        if now - stamp >= IDLE_SAMPLE_S:
            idle = self._probe()
            count = self._threads - 1 if idle is None else min(self._threads - 1, idle)
            self._idle = (now, count)
        return count

    def share(self, job: Callable[[], object], helpers: int | None = None) -> bool:
        """Offer ``job`` to up to ``helpers`` helpers (default: all; each woken helper calls
        it once); True if offered.

        ``job`` must be safe to run concurrently on several threads and must tolerate running
        after the caller has moved on (it claims work atomically and finds none left).
        """
        wake = self._threads - 1 if helpers is None else min(helpers, self._threads - 1)
        if not self.usable or wake < 1:
            return False
        with self._cond:
            if not self._helpers:
                for i in range(self._threads - 1):
                    t = threading.Thread(
                        target=self._helper, name=f"tersim-kernel-{i}", daemon=True
                    )
                    t.start()
                    self._helpers.append(t)
            self._job = job
            self._seq += 1
            self._wake = wake
            self._cond.notify_all()
        return True

    def _helper(self) -> None:
        seen = 0
        while True:
            with self._cond:
                while (self._seq == seen or self._wake < 1) and not self._closed:
                    if self._seq != seen:  # a job for fewer helpers than are awake: skip it
                        seen = self._seq
                    self._cond.wait()
                if self._closed:
                    return
                self._wake -= 1
                seen, job = self._seq, self._job
            if job is not None:
                with contextlib.suppress(Exception):  # the caller recomputes what a helper left
                    job()

    def close(self) -> None:
        """Stop the helpers (they finish the job in hand first). Idempotent."""
        with self._cond:
            self._closed = True
            self._job = None
            self._cond.notify_all()
        if os.getpid() == self._pid:
            for t in self._helpers:
                t.join()
        self._helpers = []

    def __enter__(self) -> KernelThreads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
