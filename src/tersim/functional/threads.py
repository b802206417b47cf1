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
from collections.abc import Callable

from tersim.errors import WorkloadError


class KernelThreads:
    """A team of ``threads - 1`` helper threads the kernels may share work with.

    :meth:`share` hands a callable to idle helpers and returns at once; the caller then runs the
    same callable itself and never waits for them (see the module docstring). ``threads == 1``
    has no helpers. Use as a context manager, or call :meth:`close`.

    Raises:
        WorkloadError: ``threads`` is not a positive integer.
    """

    def __init__(self, threads: int) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise WorkloadError(f"threads: must be a positive integer; got {threads!r}")
        self._threads = threads
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._job: Callable[[], object] | None = None
        self._seq = 0
        self._closed = False
        self._helpers: list[threading.Thread] = []

    @property
    def threads(self) -> int:
        """Threads that may work on one call, the caller included."""
        return self._threads

    @property
    def usable(self) -> bool:
        """Whether helpers can run here (more than one thread, not closed, same process)."""
        return self._threads > 1 and not self._closed and os.getpid() == self._pid

    def share(self, job: Callable[[], object]) -> bool:
        """Offer ``job`` to the helpers (each idle helper calls it once); True if offered.

        ``job`` must be safe to run concurrently on several threads and must tolerate running
        after the caller has moved on (it claims work atomically and finds none left).
        """
        if not self.usable:
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
            self._cond.notify_all()
        return True

    def _helper(self) -> None:
        seen = 0
        while True:
            with self._cond:
                while self._seq == seen and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
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
