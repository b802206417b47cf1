"""Sweeps: expansion, validation with file lines, impossible points, the Pareto front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import load_hardware, load_workload
from tersim.config.sweep import SweepSpec
from tersim.config.yaml_io import load_sweep
from tersim.dse.sweep import PointResult, expand, pareto_front, run_sweep
from tersim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
TINY = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")


def _spec(**vary: list[object]) -> SweepSpec:
    return SweepSpec(name="s", hardware="ternary-8x8-tiny", workload="bitnet-b1.58-700m", vary=vary)


def test_expansion_is_the_cartesian_product() -> None:
    points = list(
        expand(
            _spec(**{"array.rows": [4, 8], "array.cols": [2, 4, 8], "dram.bw_gb_per_s": [8.0]}),
            TINY,
        )
    )
    assert len(points) == 6
    hw = dict(points[-1][0]), points[-1][1]
    assert hw[0] == {"array.rows": 8, "array.cols": 8, "dram.bw_gb_per_s": 8.0}
    design = hw[1]
    assert not isinstance(design, str)
    assert design.dram.bw_bytes_per_cycle is None and design.dram_bw_bytes_per_cycle == 8.0


def test_impossible_point_is_reported_not_run() -> None:
    points = dict((p, d) for p, d in expand(_spec(**{"array.rows": [0, 8]}), TINY))
    assert isinstance(points[(("array.rows", 0),)], str)
    assert "greater than 0" in points[(("array.rows", 0),)]
    assert not isinstance(points[(("array.rows", 8),)], str)


def test_sweep_runs_and_bigger_bandwidth_is_never_slower() -> None:
    spec = SweepSpec(
        name="s",
        hardware="ternary-8x8-tiny",
        workload="bitnet-b1.58-700m",
        scenario={"phase": "decode", "prompt_tokens": 8, "gen_tokens": 1},
        vary={"dram.bw_bytes_per_cycle": [4.0, 16.0, 64.0]},
    )
    small = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    res = run_sweep(spec, TINY, small, jobs=1)
    assert [r.error for r in res] == [None] * 3
    secs = [r.seconds for r in res]
    assert secs[0] >= secs[1] >= secs[2]


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=12))
def test_pareto_front_matches_brute_force(points: list[tuple[int, int]]) -> None:
    results = [
        PointResult((("i", i),), None, 0, float(s), float(e)) for i, (s, e) in enumerate(points)
    ]
    front = pareto_front(results)
    for r in results:
        beaten = any(
            o.seconds <= r.seconds
            and o.energy_pj <= r.energy_pj
            and (o.seconds, o.energy_pj) != (r.seconds, r.energy_pj)
            for o in results
        )
        assert (r in front) == (not beaten)


def test_bad_sweep_file_names_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "name: s\nhardware: ternary-8x8-tiny\nworkload: bitnet-b1.58-700m\nvary:\n"
        "  array.rowz: [4]\n  array.cols: []\n"
    )
    with pytest.raises(ConfigError) as info:
        load_sweep(f)
    got = sorted((p.line, p.field) for p in info.value.problems)
    assert got == [(5, "vary.array.rowz"), (6, "vary.array.cols")]


def test_shipped_sweep_loads_and_cli_writes_json(tmp_path: Path) -> None:
    shipped = ROOT / "hw_configs" / "sweeps" / "ternary-array-and-bandwidth.yaml"
    assert load_sweep(shipped).vary
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: s\nhardware: ternary-8x8-tiny\nworkload: bitnet-b1.58-700m\n"
        "scenario: {phase: decode, prompt_tokens: 8, gen_tokens: 1}\n"
        "vary:\n  array.cols: [4, 8]\n"
    )
    out = tmp_path / "out.json"
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", str(f), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert len(doc["points"]) == 2 and doc["pareto"]
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr


@pytest.mark.parametrize("scheduler", ["synchronous", "processes"])
def test_dask_executor_gives_the_same_points(scheduler: str) -> None:
    spec = SweepSpec(
        name="s",
        hardware="ternary-8x8-tiny",
        workload="bitnet-b1.58-700m",
        scenario={"phase": "decode", "prompt_tokens": 8, "gen_tokens": 1},
        vary={"array.cols": [4, 8], "array.rows": [0, 8]},
    )
    model = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    local = run_sweep(spec, TINY, model)
    via_dask = run_sweep(spec, TINY, model, jobs=2, executor="dask", dask_scheduler=scheduler)
    assert via_dask == local
    assert sum(r.error is not None for r in local) == 2  # rows = 0 is impossible


def test_unknown_executor_is_an_error() -> None:
    from tersim.errors import TersimError

    model = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    with pytest.raises(TersimError, match="unknown executor 'ray'"):
        run_sweep(_spec(**{"array.cols": [4]}), TINY, model, executor="ray")
