"""Dask for real: a scheduler and two workers as separate processes on 127.0.0.1 (dashboards
off), one worker killed mid-sweep; and a LocalCluster. Both must store exactly what a local
serial run stores."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import make_spec, store_rows

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.dse.evaluate import Status
from tersim.dse.sweep import ExecutorChoice, SweepProgress, run_sweep

pytest.importorskip("distributed")

SPEC = make_spec(
    {
        "array.cols": [2, 4, 8],
        "array.rows": [4, 8],
        "dram.bw_bytes_per_cycle": [8.0, 16.0, 64.0, 256.0],
    },
    name="dask",
)


@pytest.fixture(scope="module")
def local_rows(
    tmp_path_factory: pytest.TempPathFactory, tiny: HardwareConfig, model: ModelSpec
) -> list[object]:
    path = tmp_path_factory.mktemp("local") / "s.sqlite"
    run_sweep(SPEC, tiny, model, path)
    return store_rows(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask_cli() -> list[str]:
    exe = Path(sys.executable).parent / "dask"
    return [str(exe)] if exe.exists() else [shutil.which("dask") or "dask"]


def test_a_real_cluster_with_a_worker_killed_mid_sweep(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec, local_rows: list[object]
) -> None:
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "dask.log").open("w")
    procs = [
        subprocess.Popen(
            [
                *_dask_cli(),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *_dask_cli(),
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                    ],
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=5) as c:
                    c.wait_for_workers(2, timeout=120)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
                time.sleep(0.5)
        killed: list[int] = []

        def kill_one(p: SweepProgress) -> None:
            if p.done >= 6 and not killed:
                procs[1].send_signal(signal.SIGKILL)
                killed.append(procs[1].pid)

        store = tmp_path / "s.sqlite"
        summary = run_sweep(SPEC, tiny, model, store, ExecutorChoice("dask", 2, address), kill_one)
        assert killed, "the sweep ended before a worker was killed"
        assert procs[1].wait(timeout=10) == -signal.SIGKILL
        assert summary.count(Status.OK) == 24
        assert store_rows(store) == local_rows
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_a_local_cluster_stores_what_a_local_run_stores(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec, local_rows: list[object]
) -> None:
    store = tmp_path / "s.sqlite"
    run_sweep(SPEC, tiny, model, store, ExecutorChoice("dask", 2, "local"))
    assert store_rows(store) == local_rows


def test_an_unreachable_scheduler_is_a_quick_clear_error(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    from tersim.errors import TersimError

    t0 = time.monotonic()
    with pytest.raises(
        TersimError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:"
    ):
        run_sweep(
            SPEC,
            tiny,
            model,
            tmp_path / "s.sqlite",
            ExecutorChoice("dask", 1, f"tcp://127.0.0.1:{_free_port()}"),
        )
    assert time.monotonic() - t0 < 10
