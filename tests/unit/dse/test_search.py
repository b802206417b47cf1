"""NSGA-II search (optuna): runs its trials into the store and resumes without recomputing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import make_spec

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.dse.evaluate import Status
from tersim.dse.pareto import pareto_front
from tersim.dse.sweep import run_sweep

pytest.importorskip("optuna")

VARY = {
    "array.cols": [2, 4, 8],
    "array.rows": [4, 8],
    "dram.bw_bytes_per_cycle": [4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
    "vector_unit.lanes": [4, 8, 16],
}  # 108 points


def _spec(samples: int) -> object:
    return make_spec(
        VARY,
        name="nsga",
        sampling={"method": "nsga2", "samples": samples, "population": 6, "seed": 3},
        objectives=["latency", "energy"],
    )


def test_search_runs_its_trials_and_resumes(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    store = tmp_path / "s.sqlite"
    first = run_sweep(_spec(18), tiny, model, store)  # type: ignore[arg-type]
    settled = [p for p in first.points if p.status is Status.OK]
    assert 1 <= first.ran <= 18 and len(first.points) == first.ran  # repeats are not rerun
    # the printed front is the front of what was stored
    idx = pareto_front([p.objectives for p in settled], [o.goal for o in first.objectives])
    assert {settled[i].config_hash for i in idx} == {p.config_hash for p in first.front}
    again = run_sweep(_spec(18), tiny, model, store)  # type: ignore[arg-type]
    assert again.ran == 0 and again.resumed == first.ran
    more = run_sweep(_spec(30), tiny, model, store)  # type: ignore[arg-type]
    assert more.resumed == first.ran and more.ran <= 30 - first.ran
    assert len({p.config_hash for p in more.points}) == len(more.points)  # nothing twice
