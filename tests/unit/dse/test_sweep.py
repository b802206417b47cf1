"""Sweeps end to end: points, dropped and failed points, resume, bad sweep files, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_helpers import ROOT, make_spec, store_rows, write_sweep

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.config.yaml_io import load_sweep
from tersim.dse.evaluate import Status
from tersim.dse.points import make_point
from tersim.dse.sweep import ExecutorChoice, run_sweep
from tersim.errors import ConfigError, TersimError
from tersim.run.pipeline import run
from tersim.workload.trace import Phase


def test_point_is_the_base_with_the_fields_replaced(tiny: HardwareConfig) -> None:
    params = (("array.cols", 4), ("dram.bw_gb_per_s", 8.0))
    pt = make_point(0, params, tiny, tiny.model_dump(mode="json"), True)
    assert pt.hardware is not None
    assert pt.hardware.array.cols == 4 and pt.hardware.array.rows == tiny.array.rows
    # the bandwidth was given in GB/s: the other unit is cleared, not left conflicting
    assert pt.hardware.dram.bw_bytes_per_cycle is None
    assert pt.hardware.dram_bw_bytes_per_cycle == 8.0e9 / tiny.array.clock_hz


def test_sweep_values_equal_single_runs(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    """Every stored metric is the one a plain pipeline run of that design gives."""
    spec = make_spec({"array.cols": [4, 8], "dram.bw_bytes_per_cycle": [4.0, 64.0]})
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert summary.count(Status.OK) == 4
    from tersim.dse.store import ResultStore

    with ResultStore.open(tmp_path / "s.sqlite") as store:
        for p in store.points():
            hw = HardwareConfig.model_validate(p.config)
            rec = run(hw, model, phases=(Phase.DECODE,), prompt_tokens=8, gen_tokens=1).to_json()
            assert p.rows["all"]["seconds"] == rec["seconds"]
            assert p.rows["all"]["energy_pj.total"] == rec["energy_pj"]["total"]
            assert p.rows["decode"]["tokens_per_s"] == rec["phases"]["decode"]["tokens_per_s"]
    # more bandwidth is never slower, at either array width
    secs = {tuple(p.params.values()): p.objectives[0] for p in summary.points}
    for cols in (4, 8):
        assert secs[(cols, 64.0)] <= secs[(cols, 4.0)]


def test_invalid_design_is_dropped_with_its_reason(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    # a 128x8 tile of 4-byte outputs, double-buffered, needs 8,192 bytes; the buffer has 4,096
    spec = make_spec({"array.rows": [8, 128]})
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    by_rows = {p.params["array.rows"]: p for p in summary.points}
    assert by_rows[8].status is Status.OK
    assert by_rows[128].status is Status.DROPPED
    assert "invalid design: sram." in (by_rows[128].reason or "")
    assert "size_bytes" in (by_rows[128].reason or "")


def test_constraints_drop_before_and_after_running(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    free = run_sweep(
        make_spec({"array.rows": [4, 8], "array.cols": [4, 8]}, name="free"),
        tiny,
        model,
        tmp_path / "free.sqlite",
    )
    seconds = sorted(p.objectives[0] for p in free.points)
    limit = seconds[1]  # keeps exactly the two fastest square-or-not designs
    spec = make_spec(
        {"array.rows": [4, 8], "array.cols": [4, 8]},
        constraints=["array.rows == array.cols", f"seconds <= {limit!r}"],
    )
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    # the two non-square designs never ran
    assert summary.dropped_before_run == {"constraint 'array.rows == array.cols' not met": 2}
    assert summary.ran == 2
    kept = [p for p in summary.points if p.status is Status.OK]
    want = {
        (p.params["array.rows"], p.params["array.cols"])
        for p in free.points
        if p.params["array.rows"] == p.params["array.cols"] and p.objectives[0] <= limit
    }
    assert {(p.params["array.rows"], p.params["array.cols"]) for p in kept} == want
    assert summary.count(Status.DROPPED) == 4 - len(want)


def test_unknown_metric_in_a_constraint_is_a_clear_error(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"array.cols": [4, 8]}, constraints=["area_mm2 <= 50"])
    with pytest.raises(TersimError, match="'area_mm2' is neither a hardware field nor a metric"):
        run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    # what ran before the error is stored, and a fixed sweep reuses it
    fixed = make_spec({"array.cols": [4, 8]}, constraints=["energy_pj.total <= 1e30"])
    summary = run_sweep(fixed, tiny, model, tmp_path / "s.sqlite")
    assert summary.resumed >= 1 and summary.count(Status.OK) == 2


def test_resume_recomputes_nothing_and_duplicates_nothing(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"array.cols": [2, 4, 8]})
    first = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    rows = store_rows(tmp_path / "s.sqlite")
    again = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert (first.ran, again.ran, again.resumed) == (3, 0, 3)
    assert store_rows(tmp_path / "s.sqlite") == rows
    wider = make_spec({"array.cols": [2, 4, 8, 1]})
    more = run_sweep(wider, tiny, model, tmp_path / "s.sqlite")
    assert (more.ran, more.resumed) == (1, 3)


def test_the_banks_reproducer_is_now_an_invalid_point(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    """Issue 16: 16,777,216 banks raised a math domain error that ended the sweep. The schema
    now bounds banks, so that point is dropped as an invalid design with its reason and the
    valid point still runs, serially and in a pool. (Points raising internal errors are
    covered in test_faults.py.)"""
    for jobs in (1, 2):
        spec = make_spec({"sram.input.banks": [32, 16777216]})
        summary = run_sweep(
            spec, tiny, model, tmp_path / f"s{jobs}.sqlite", ExecutorChoice("local", jobs)
        )
        status = {p.params["sram.input.banks"]: p for p in summary.points}
        assert status[32].status is Status.OK
        assert status[16777216].status is Status.DROPPED
        assert "banks" in (status[16777216].reason or "")


def test_store_of_another_sweep_is_refused(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    run_sweep(make_spec({"array.cols": [4]}, name="a"), tiny, model, tmp_path / "s.sqlite")
    with pytest.raises(TersimError, match="holds the results of sweep 'a', not 'b'"):
        run_sweep(make_spec({"array.cols": [4]}, name="b"), tiny, model, tmp_path / "s.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    with pytest.raises(TersimError, match="not a tersim results store"):
        run_sweep(make_spec({"array.cols": [4]}), tiny, model, junk)
    assert junk.read_text() == "not a database"  # untouched


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            "vary:\n  array.rowz: [4]\n  array.cols: []\n",
            [(5, "vary.array.rowz"), (6, "vary.array.cols")],
        ),
        ("vary:\n  array.rows: [4, '8']\n", [(5, "vary.array.rows.1")]),
        ("vary:\n  array.rows: [4, -8]\n", [(5, "vary.array.rows.1")]),
        ("vary:\n  dram.bw_gb_per_s: [.nan]\n", [(5, "vary.dram.bw_gb_per_s.0")]),
        ("vary:\n  array.rows: [4]\nconstraints: ['import os']\n", [(6, "constraints.0")]),
        (
            "vary:\n  array.rows: [4]\nconstraints: ['array.rows.__class__()']\n",
            [(6, "constraints.0")],
        ),
        ("vary:\n  array.rows: [4]\nobjectives: [latency]\n", [(6, "objectives")]),
        ("vary:\n  array.rows: [4]\nobjectives: [latency, speed]\n", [(6, "objectives.1")]),
        ("vary:\n  array.rows: [4]\nsampling: {method: lhs}\n", [(6, "sampling.samples")]),
    ],
)
def test_bad_sweep_file_names_line_and_field(
    tmp_path: Path, body: str, where: list[tuple[int, str]]
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: s\nhardware: ternary-8x8-tiny\nworkload: bitnet-b1.58-700m\n" + body)
    with pytest.raises(ConfigError) as info:
        load_sweep(f)
    got = sorted((p.line, p.field) for p in info.value.problems)
    assert got == sorted(where), info.value


def test_too_many_points_is_an_error_before_any_work(tmp_path: Path) -> None:
    """Issue 16: a 6-axis sweep of 20 values each (6.4e7 points) was expanded in memory."""
    values = list(range(1, 21))
    axes = [
        "array.rows",
        "array.cols",
        "vector_unit.lanes",
        "dram.burst_bytes",
        "dram.channels",
        "dram.latency_cycles",
    ]
    f = write_sweep(tmp_path / "big.yaml", {a: values for a in axes})
    with pytest.raises(ConfigError, match=r"64,000,000 points, more than max_points 1,000,000"):
        load_sweep(f)
    # the same space sampled is fine
    f = write_sweep(
        tmp_path / "sampled.yaml",
        {a: values for a in axes},
        sampling={"method": "random", "samples": 3, "seed": 1},
    )
    assert load_sweep(f).sampling.samples == 3


def test_cli_prints_front_and_summary_then_resumes_and_exports(tmp_path: Path) -> None:
    f = write_sweep(tmp_path / "s.yaml", {"array.cols": [2, 4, 8]}, name="cli-sweep")
    store = tmp_path / "out.sqlite"
    cmd = [sys.executable, "-m", "tersim", "sweep", str(f), "--store", str(store)]
    res = subprocess.run(
        [*cmd, "--json", str(tmp_path / "o.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "Pareto front (latency vs energy)" in res.stdout
    assert "3 points planned: 3 ok" in res.stdout
    doc = json.loads((tmp_path / "o.json").read_text())
    assert len(doc["points"]) == 3 and doc["pareto"]
    res = subprocess.run([*cmd, "--all"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "0 simulated" in res.stdout and "3 from the store" in res.stdout
    assert "every point" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", "export", str(store), "--csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:7] == [
        "config_hash",
        "index",
        "workload",
        "phase",
        "status",
        "error",
        "array.cols",
    ]
    assert "energy_pj.total" in header and "tokens_per_s" in header
    assert len(lines) == 1 + 3 * 2  # a row per point and phase (all, decode)
    # default store path is reports/<name>.sqlite under the working directory
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", str(f)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0 and (tmp_path / "reports" / "cli-sweep.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "nope.yaml"], "nope.yaml"),
        (["sweep", "export", "nope.sqlite", "--csv"], "no such results file"),
        (["sweep", "export", "STORE", "--csv", "--parquet"], "exactly one of --csv or --parquet"),
        (["sweep", "SWEEP", "--executor", "ray"], "unknown executor 'ray'"),
        (
            ["sweep", "SWEEP", "--executor", "dask", "--dask-scheduler", "tcp://127.0.0.1:9"],
            "cannot reach the Dask scheduler at tcp://127.0.0.1:9",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    f = write_sweep(tmp_path / "s.yaml", {"array.cols": [4]})
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"")
    args = [str(f) if a == "SWEEP" else str(store) if a == "STORE" else a for a in args]
    res = subprocess.run(
        [sys.executable, "-m", "tersim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_shipped_sweeps_load() -> None:
    shipped = sorted((ROOT / "hw_configs" / "sweeps").glob("*.yaml"))
    assert len(shipped) >= 3
    for f in shipped:
        assert load_sweep(f).vary
