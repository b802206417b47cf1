"""The results store: atomic points, no duplicates, export to CSV (and Parquet if installed)."""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

import pytest
from sweep_helpers import make_spec

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.dse.evaluate import PointOutcome, Status
from tersim.dse.export import TableFormat, export_store
from tersim.dse.store import ResultStore
from tersim.dse.sweep import run_sweep
from tersim.errors import TersimError


def _outcome(h: str, index: int = 0) -> PointOutcome:
    return PointOutcome(
        index,
        h,
        (("array.cols", index),),
        Status.OK,
        None,
        {"all": {"seconds": 1.0 + index}, "decode": {"tokens_per_s": 2.0}},
        0.1,
    )


def test_a_point_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with ResultStore.open(path, "s") as store:
        store.add([_outcome("a")], {"a": {"x": 1}}, "w")
        bad = PointOutcome(1, "b", (), Status.OK, None, {"all": {"seconds": float("nan")}})
        with pytest.raises(ValueError):  # NaN is not JSON: the transaction rolls back
            store.add([bad], {"b": {"x": 2}}, "w")
        assert store.known() == {"a": Status.OK}
        store.add([_outcome("a", 5)], {"a": {"x": 9}}, "w")  # stored already: ignored
        (point,) = store.points()
        assert point.rows == {"all": {"seconds": 1.0}, "decode": {"tokens_per_s": 2.0}}
        assert point.config == {"x": 1}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (2,)


def test_export_csv_has_a_line_per_point_and_phase(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"array.cols": [4, 8], "array.rows": [8, 256]})
    run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    with ResultStore.open(tmp_path / "s.sqlite") as store:
        n = export_store(store, TableFormat.CSV, tmp_path / "s.csv", with_config=True)
        stored = list(store.points())
    with (tmp_path / "s.csv").open() as f:
        lines = list(csv.DictReader(f))
    ok = [p for p in stored if p.status is Status.OK]
    dropped = [p for p in stored if p.status is Status.DROPPED]
    assert len(ok) == 2 and len(dropped) == 2  # 256 rows do not fit the buffers
    assert n == len(lines) == 2 * len(ok) + len(dropped)
    for p in ok:
        mine = {line["phase"]: line for line in lines if line["config_hash"] == p.config_hash}
        assert set(mine) == {"all", "decode"}
        assert float(mine["all"]["energy_pj.total"]) == p.rows["all"]["energy_pj.total"]
        assert mine["all"]["array.cols"] == str(p.params["array.cols"])
        assert '"rows": 8' in mine["all"]["config"]
    for p in dropped:
        (line,) = [x for x in lines if x["config_hash"] == p.config_hash]
        assert line["status"] == "dropped" and "invalid design" in line["error"]


def test_export_parquet_or_a_clear_error(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sweep(make_spec({"array.cols": [4, 8]}), tiny, model, tmp_path / "s.sqlite")
    out = tmp_path / "s.parquet"
    with ResultStore.open(tmp_path / "s.sqlite") as store:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            pq = None
        if pq is not None:
            assert export_store(store, TableFormat.PARQUET, out) == 4
            table = pq.read_table(out).to_pylist()
            assert sorted(r["phase"] for r in table) == ["all", "all", "decode", "decode"]
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
        out.unlink(missing_ok=True)
        with pytest.raises(TersimError, match=r"--parquet needs pyarrow \(pip install"):
            export_store(store, TableFormat.PARQUET, out)
        assert not out.exists() and not list(tmp_path.glob("*.tmp"))
