"""Where points run: in this process, in a pool of worker processes, or on a Dask cluster.

Every executor takes a lazy iterator of tasks and yields outcomes as points finish, keeping
only a bounded number of tasks in flight (so a long sweep is never expanded in memory).

Fault rules:

* A point that raises never takes others down (the evaluator turns any exception into a
  failed outcome).
* Pool: a point running longer than ``point_timeout_s`` is failed and its worker replaced.
  Each worker runs one task at a time, so when a worker process dies (killed, out of
  memory) the pool knows the point it held: that point is run again on a fresh worker once,
  and if its worker dies again it is failed with the exit code. Finished points are never lost
  (they were handed back before). Workers exit when the main process goes away: an idle one
  sees its pipe close; a busy one is stopped by a watchdog thread that checks its parent.
* Dask: a task is a small batch of points; the cluster reruns the batches of a lost worker
  elsewhere (``allowed_failures``), and a batch that still fails is reported as failed
  points. An unreachable scheduler is a one-line error within ``connect_timeout_s``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Protocol
from urllib.parse import urlparse

from tersim.dse.evaluate import (
    Evaluator,
    PointOutcome,
    PointTask,
    Status,
    SweepContext,
    evaluate_batch,
)
from tersim.errors import TersimError


class Executor(Protocol):
    def run(self, tasks: Iterator[PointTask]) -> Iterator[PointOutcome]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Points one after another in this process (one evaluator, so full reuse)."""

    def __init__(self, context: SweepContext) -> None:
        self.evaluator = Evaluator(context)

    def run(self, tasks: Iterator[PointTask]) -> Iterator[PointOutcome]:
        for task in tasks:
            yield self.evaluator.evaluate(task)

    def close(self) -> None:
        pass


# -- process pool -----------------------------------------------------------------------------


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)  # the sweep's main process is gone: stop at once


def _worker_main(conn: Connection, context: SweepContext, parent_pid: int) -> None:
    """A pool worker: evaluate the tasks the main process sends until it sends None or goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    evaluator = Evaluator(context)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        outcome = evaluator.evaluate(task)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.task: PointTask | None = None
        self.started = 0.0  # when the current task was sent (monotonic seconds)


class PoolExecutor:
    """``jobs`` worker processes (see the module's fault rules)."""

    RETRIES = 1  # a point whose worker died is run again this many times

    def __init__(
        self, context: SweepContext, jobs: int, point_timeout_s: float | None = None
    ) -> None:
        self.context = context
        self.jobs = jobs
        self.point_timeout_s = point_timeout_s
        self._mp = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self.worker_deaths = 0

    def _spawn(self) -> _Worker:
        ours, theirs = self._mp.Pipe()
        proc = self._mp.Process(
            target=_worker_main,
            args=(theirs, self.context, os.getpid()),
            daemon=True,
            name="tersim-sweep-worker",
        )
        proc.start()
        theirs.close()
        w = _Worker(proc, ours)
        self._workers.append(w)
        return w

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def run(self, tasks: Iterator[PointTask]) -> Iterator[PointOutcome]:
        while len(self._workers) < self.jobs:
            self._spawn()
        retry: deque[PointTask] = deque()
        deaths: dict[str, int] = {}
        exhausted = False

        def next_task() -> PointTask | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if exhausted:
                return None
            try:
                return next(tasks)
            except StopIteration:
                exhausted = True
                return None

        while True:
            for w in list(self._workers):
                if w.task is None:
                    task = next_task()
                    if task is None:
                        break
                    try:
                        w.conn.send(task)
                        w.task = task
                        w.started = time.monotonic()
                    except (BrokenPipeError, OSError):  # died while idle: not the task's fault
                        retry.appendleft(task)
                        self._replace(w)
                        self.worker_deaths += 1
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                if retry:
                    continue
                return
            ready = wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy],
                timeout=self._wait_s(busy),
            )
            for w in busy:
                settled = w.conn in ready or w.process.sentinel in ready
                if not settled and self._overdue(w):
                    late = w.task
                    assert late is not None
                    w.process.kill()
                    self._replace(w)
                    yield PointOutcome(
                        late.index,
                        late.config_hash,
                        late.params,
                        Status.FAILED,
                        f"took longer than the point time limit of {self.point_timeout_s:g} s "
                        "(the worker was stopped; raise --point-timeout to let it finish)",
                    )
                    continue
                if w.conn in ready or w.process.sentinel in ready:
                    outcome = self._collect(w)
                    if outcome is not None:
                        yield outcome
                        continue
                    dead = w.task
                    assert dead is not None
                    self._replace(w)
                    self.worker_deaths += 1
                    deaths[dead.config_hash] = deaths.get(dead.config_hash, 0) + 1
                    if deaths[dead.config_hash] <= self.RETRIES:
                        retry.append(dead)
                    else:
                        yield PointOutcome(
                            dead.index,
                            dead.config_hash,
                            dead.params,
                            Status.FAILED,
                            f"the worker process died while simulating this point, "
                            f"{deaths[dead.config_hash]} times (exit code "
                            f"{w.process.exitcode}; out of memory or killed?)",
                        )

    def _wait_s(self, busy: list[_Worker]) -> float | None:
        if self.point_timeout_s is None:
            return None
        first = min(w.started for w in busy)
        return max(0.0, first + self.point_timeout_s - time.monotonic())

    def _overdue(self, w: _Worker) -> bool:
        limit = self.point_timeout_s
        return limit is not None and time.monotonic() - w.started >= limit

    def _collect(self, w: _Worker) -> PointOutcome | None:
        """The worker's finished outcome, or None if it died without one."""
        try:
            if w.conn.poll():
                outcome = w.conn.recv()
                w.task = None
                return outcome  # type: ignore[no-any-return]
        except (EOFError, OSError):
            pass
        return None

    def _replace(self, w: _Worker) -> None:
        w.process.join(timeout=5)
        w.conn.close()
        self._workers.remove(w)
        self._spawn()

    def close(self) -> None:
        for w in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                w.conn.send(None)
        for w in self._workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()
        self._workers = []


# -- dask -------------------------------------------------------------------------------------


def _check_reachable(address: str, timeout_s: float) -> None:
    url = urlparse(address)
    if url.scheme not in ("tcp", "tls") or url.hostname is None or url.port is None:
        raise TersimError(
            f"--dask-scheduler: '{address}' is not a scheduler address (expected local or "
            "tcp://HOST:PORT)"
        )
    try:
        socket.create_connection((url.hostname, url.port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TersimError(
            f"--dask-scheduler: cannot reach the Dask scheduler at {address} ({reason}; "
            "expected a running 'dask scheduler' there, or --dask-scheduler local)"
        ) from None


class DaskExecutor:
    """Batches of points as tasks on a dask.distributed cluster: ``local`` starts a
    ``LocalCluster`` of ``jobs`` single-threaded worker processes (dashboard off); an address
    ``tcp://host:port`` connects to a running scheduler."""

    def __init__(
        self,
        context: SweepContext,
        scheduler: str,
        jobs: int,
        batch: int = 4,
        connect_timeout_s: float = 10.0,
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise TersimError(
                "--executor dask needs dask.distributed (pip install 'tersim[dask]')"
            ) from None
        self.context = context
        self.batch = batch
        self.jobs = jobs
        self._cluster = None
        if scheduler == "local":
            self._cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            self.client = Client(self._cluster)
        else:
            _check_reachable(scheduler, min(connect_timeout_s, 5.0))
            try:
                self.client = Client(scheduler, timeout=connect_timeout_s)
            except (OSError, TimeoutError) as exc:
                raise TersimError(
                    f"--dask-scheduler: cannot connect to the Dask scheduler at {scheduler} "
                    f"({exc}; expected a running 'dask scheduler' there)"
                ) from None

    def run(self, tasks: Iterator[PointTask]) -> Iterator[PointOutcome]:
        from distributed import as_completed

        workers = max(1, len(self.client.scheduler_info().get("workers", {})), self.jobs)
        in_flight = 2 * workers
        pending = as_completed()
        batches: dict[object, list[PointTask]] = {}

        def submit() -> bool:
            batch = []
            for task in tasks:
                batch.append(task)
                if len(batch) == self.batch:
                    break
            if not batch:
                return False
            fut = self.client.submit(evaluate_batch, self.context, batch, pure=False)
            batches[fut.key] = batch
            pending.add(fut)
            return True

        for _ in range(in_flight):
            if not submit():
                break
        for fut in pending:
            batch = batches.pop(fut.key)
            try:
                outcomes = fut.result()
            except Exception as exc:  # the batch failed on every worker it was given to
                outcomes = [
                    PointOutcome(
                        t.index,
                        t.config_hash,
                        t.params,
                        Status.FAILED,
                        f"dask could not run this point: {type(exc).__name__}: {exc}",
                    )
                    for t in batch
                ]
            fut.release()
            yield from outcomes
            submit()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
