"""Processes dying mid-sweep: the main process (kill -9, then resume) and a pool worker.

The oracle is an uninterrupted serial run of the same sweep: after the fault and a resume,
the store must hold every point exactly once with that run's values.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sweep_helpers import store_rows, write_sweep

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.config.yaml_io import load_sweep
from tersim.dse.sweep import run_sweep

VARY = {
    "array.cols": [2, 4, 8],
    "array.rows": [4, 8],
    "dram.bw_bytes_per_cycle": [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
}
POINTS = 48


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, tiny: HardwareConfig, model: ModelSpec
) -> tuple[Path, list[object]]:
    d = tmp_path_factory.mktemp("ref")
    f = write_sweep(d / "s.yaml", VARY, name="faults")
    run_sweep(load_sweep(f), tiny, model, d / "ref.sqlite")
    return f, store_rows(d / "ref.sqlite")


def _ok_points(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM points WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for(store: Path, n: int, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while _ok_points(store) < n:
        assert proc.poll() is None, "the sweep ended before the fault was injected"
        assert time.monotonic() < end, "the sweep made no progress"
        time.sleep(0.02)


def _gone(pids: list[int], timeout_s: float = 10) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _sweep(f: Path, store: Path, *extra: str) -> subprocess.Popen[str]:
    # output to files, not pipes: nothing may block the sweep while the test waits
    out = (store.parent / "out.txt").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "tersim", "sweep", str(f), "--store", str(store), *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _output(store: Path) -> str:
    return (store.parent / "out.txt").read_text()


def test_kill_9_of_the_main_process_then_resume(
    tmp_path: Path, reference: tuple[Path, list[object]]
) -> None:
    f, want = reference
    store = tmp_path / "s.sqlite"
    proc = _sweep(f, store, "--jobs", "2")
    _wait_for(store, 5, proc)
    workers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert workers, "expected pool workers"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _gone(workers), "pool workers outlived the killed main process"
    stored = _ok_points(store)
    assert 5 <= stored < POINTS
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", str(f), "--store", str(store), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert f"{stored} from the store" in res.stdout
    assert f"{POINTS - stored} simulated" in res.stdout
    assert store_rows(store) == want  # every point once, with the uninterrupted values


def test_a_killed_worker_loses_nothing(
    tmp_path: Path, reference: tuple[Path, list[object]]
) -> None:
    f, want = reference
    store = tmp_path / "s.sqlite"
    proc = _sweep(f, store, "--jobs", "2")
    _wait_for(store, 3, proc)
    workers = [
        c
        for c in psutil.Process(proc.pid).children(recursive=True)
        if "spawn_main" in " ".join(c.cmdline())  # not multiprocessing's resource tracker
    ]
    assert len(workers) == 2
    workers[0].send_signal(signal.SIGKILL)
    assert _ok_points(store) < POINTS, "the sweep ended before the worker was killed"
    proc.wait(timeout=300)
    out = _output(store)
    assert proc.returncode == 0, out
    assert f"{POINTS} ok" in out and "0 failed" in out
    assert store_rows(store) == want


def test_a_point_over_the_time_limit_fails_alone(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    """Issue 16: a 1-column array steps tile by tile and takes minutes; with a time limit
    it fails and the sweep goes on."""
    from sweep_helpers import make_spec

    from tersim.dse.evaluate import Status
    from tersim.dse.sweep import ExecutorChoice

    spec = make_spec({"array.cols": [8, 1], "array.rows": [8, 1]})
    t0 = time.monotonic()
    summary = run_sweep(
        spec, tiny, model, tmp_path / "s.sqlite", ExecutorChoice("local", 1, point_timeout_s=4.0)
    )
    by = {(p.params["array.rows"], p.params["array.cols"]): p for p in summary.points}
    assert by[(8, 8)].status is Status.OK
    slow = [p for p in summary.points if p.status is Status.FAILED]
    assert slow and all("point time limit of 4 s" in (p.reason or "") for p in slow)
    assert time.monotonic() - t0 < 4.0 * len(slow) + 60


def test_an_internal_error_in_one_point_fails_that_point_alone(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (an exception that is not a TersimError) raised while one point runs is stored
    as that point's failure with the exception named; every other point equals a clean run."""
    from sweep_helpers import make_spec

    import tersim.dse.evaluate as evaluate
    from tersim.dse.evaluate import Status

    spec = make_spec({"array.cols": [2, 4, 8]})
    clean = run_sweep(spec, tiny, model, tmp_path / "clean.sqlite")
    real_run = evaluate.run

    def buggy(hw: HardwareConfig, *args: object, **kwargs: object) -> object:
        if hw.array.cols == 4:
            raise ZeroDivisionError("injected")
        return real_run(hw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate, "run", buggy)
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    by = {p.params["array.cols"]: p for p in summary.points}
    assert by[4].status is Status.FAILED
    assert by[4].reason == "internal error: ZeroDivisionError: injected"
    want = {p.params["array.cols"]: p.objectives for p in clean.points}
    for cols in (2, 8):
        assert by[cols].status is Status.OK and by[cols].objectives == want[cols]
