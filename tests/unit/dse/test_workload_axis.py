"""The ``workload`` axis: each point runs the workload its axis value names, against the same
scenario, stored with that workload's name, hashed apart from the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import ROOT, make_spec, write_sweep

from tersim.config import load_workload
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.config.yaml_io import load_sweep
from tersim.dse.evaluate import Status
from tersim.dse.export import table_rows
from tersim.dse.store import ResultStore
from tersim.dse.sweep import run_sweep
from tersim.errors import TersimError
from tersim.run.pipeline import run
from tersim.workload.trace import Phase

SMALL = str(ROOT / "workloads" / "smollm-135m.yaml")


def test_each_point_runs_its_workload(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"workload": ["bitnet-b1.58-700m", SMALL], "dram.bw_gb_per_s": [4.0, 8.0]})
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert summary.count(Status.OK) == 4
    by_value = {"bitnet-b1.58-700m": model, SMALL: load_workload(SMALL)}
    assert by_value[SMALL].name != model.name  # the two really differ
    seen = set()
    with ResultStore.open(tmp_path / "s.sqlite") as store:
        for p in store.points():
            want = by_value[p.params["workload"]]
            assert p.workload == want.name
            hw = HardwareConfig.model_validate(p.config)
            rec = run(hw, want, phases=(Phase.DECODE,), prompt_tokens=8, gen_tokens=1).to_json()
            assert p.rows["all"]["seconds"] == rec["seconds"]
            assert p.rows["all"]["energy_pj.total"] == rec["energy_pj"]["total"]
            seen.add((p.workload, hw.dram.bw_gb_per_s))
        assert len(seen) == 4
        columns, rows = table_rows(store)
    assert columns.count("workload") == 1  # the axis value is not a second column
    assert {r["workload"] for r in rows} == {model.name, by_value[SMALL].name}


def test_a_rerun_resumes_every_workload_point(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"workload": ["bitnet-b1.58-700m", SMALL]})
    first = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    again = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert (first.ran, first.resumed) == (2, 0)
    assert (again.ran, again.resumed) == (0, 2)


def test_a_workload_that_does_not_load_stops_the_sweep_before_work(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"workload": ["bitnet-b1.58-700m", "no-such-model"]})
    with pytest.raises(TersimError, match=r"vary\.workload\.1: .*no-such-model"):
        run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists() or not list(
        ResultStore.open(tmp_path / "s.sqlite").points()
    )


def test_non_string_workloads_are_rejected_at_load(tmp_path: Path) -> None:
    path = write_sweep(tmp_path / "s.yaml", {"workload": ["bitnet-b1.58-700m", 7]})
    with pytest.raises(TersimError, match=r"vary\.workload\.1.*expected workloads"):
        load_sweep(path)


def test_each_workload_has_its_own_front(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec(
        {"workload": ["bitnet-b1.58-700m", SMALL], "dram.bw_gb_per_s": [4.0, 8.0]},
        objectives=["latency", "energy"],
    )
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    ok = [p for p in summary.points if p.status is Status.OK]
    small = [p for p in ok if p.params["workload"] == SMALL]
    big = [p for p in ok if p.params["workload"] != SMALL]
    # the small model beats the large one on both objectives at every point, so one front over
    # both workloads would hold only small-model points
    pairs = [zip(p.objectives, q.objectives, strict=True) for p in small for q in big]
    assert all(a < b for pair in pairs for a, b in pair)
    workloads = {p.params["workload"] for p in summary.front}
    assert workloads == {"bitnet-b1.58-700m", SMALL}
