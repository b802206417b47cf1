"""The ``design`` axis (points starting from different designs) and ``equal_area`` (every
point's array resized to one design's chip area)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sweep_helpers import ROOT, make_spec

from tersim.config.hardware import HardwareConfig, resized
from tersim.config.workload import ModelSpec
from tersim.config.yaml_io import load_sweep
from tersim.cost.area import chip_area
from tersim.dse.evaluate import Status
from tersim.dse.store import ResultStore
from tersim.dse.sweep import run_sweep
from tersim.errors import TersimError
from tersim.run.pipeline import run
from tersim.workload.trace import Phase

TINY = ROOT / "hw_configs" / "ternary-8x8-tiny.yaml"


def _variant(tmp_path: Path, name: str, buffer_bytes: int | None = None, **array: object) -> Path:
    doc = yaml.safe_load(TINY.read_text())
    doc["name"] = name
    doc["array"].update(array)
    for buf in doc["sram"].values():
        if buffer_bytes is not None and isinstance(buf, dict):
            buf["size_bytes"] = buffer_bytes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _points(path: Path) -> list[tuple[dict[str, object], HardwareConfig]]:
    with ResultStore.open(path) as store:
        return [(p.params, HardwareConfig.model_validate(p.config)) for p in store.points()]


def test_each_point_starts_from_its_design(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    other = _variant(tmp_path, "tiny-os", dataflow="os")
    spec = make_spec({"design": ["ternary-8x8-tiny", str(other)], "dram.bw_gb_per_s": [4.0]})
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert summary.count(Status.OK) == 2
    with ResultStore.open(tmp_path / "s.sqlite") as store:
        for p in store.points():
            hw = HardwareConfig.model_validate(p.config)
            want = "os" if p.params["design"] == str(other) else tiny.array.dataflow.value
            assert hw.array.dataflow.value == want
            assert hw.dram.bw_gb_per_s == 4.0
            rec = run(hw, model, phases=(Phase.DECODE,), prompt_tokens=8, gen_tokens=1).to_json()
            assert p.rows["all"]["seconds"] == rec["seconds"]


def test_equal_area_resizes_every_point_to_the_target(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    # both designs have buffers deep enough for a 32 x 33 tile
    start = _variant(tmp_path, "tiny-deep", buffer_bytes=1 << 16)
    target_path = _variant(tmp_path, "tiny-32", buffer_bytes=1 << 16, rows=32, cols=32)
    target = HardwareConfig.model_validate(yaml.safe_load(target_path.read_text()))
    target_mm2 = chip_area(target).total_mm2
    spec = make_spec({"design": [str(start), str(target_path)]}, equal_area=str(target_path))
    run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    points = _points(tmp_path / "s.sqlite")
    assert len(points) == 2
    for params, hw in points:
        a = hw.array
        # at most the target's area; one more column would exceed it (the stated rule)
        assert chip_area(hw).total_mm2 <= target_mm2
        assert chip_area(resized(hw, a.rows, a.cols + 1)).total_mm2 > target_mm2
        assert a.cols >= a.rows
        if params["design"] == str(target_path):
            assert (a.rows, a.cols) == (32, 32)  # the target resized to itself is itself
        else:
            assert a.rows > tiny.array.rows  # the 8x8 design grew into the 32x32's area


def test_an_area_too_small_is_a_dropped_point(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    # a target without a DRAM interface (a custom DRAM) is smaller than the tiny design's
    # LPDDR4 PHY and controller alone: no array fits
    doc = yaml.safe_load(TINY.read_text())
    doc["name"] = "tiny-custom-dram"
    doc["dram"].update({"kind": "custom", "energy_pj_per_bit": 4.0})
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(doc))
    spec = make_spec({"dram.bw_gb_per_s": [4.0]}, equal_area=str(small))
    summary = run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    (pt,) = summary.points
    assert pt.status is Status.DROPPED
    assert "equal_area" in (pt.reason or "") and "exceeds" in (pt.reason or "")


def test_a_design_that_does_not_exist_is_an_error_before_any_work(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    spec = make_spec({"design": ["ternary-8x8-tiny", "no-such-design"]})
    with pytest.raises(TersimError, match="no-such-design"):
        run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists() or _points(tmp_path / "s.sqlite") == []


def test_design_values_must_be_names(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "hardware": "ternary-8x8-tiny",
                "workload": "bitnet-b1.58-700m",
                "vary": {"design": ["ternary-8x8-tiny", 3]},
            }
        )
    )
    with pytest.raises(TersimError, match=r"vary\.design\.1"):
        load_sweep(path)


def test_the_shipped_equal_area_sweep_loads() -> None:
    spec = load_sweep(ROOT / "hw_configs" / "sweeps" / "pe-kinds-equal-area-7nm.yaml")
    assert spec.equal_area == "fp16-128x128-7nm"
    assert len(spec.vary["design"]) == 6


def test_a_point_keeps_its_designs_kv_cache_format(
    tmp_path: Path, tiny: HardwareConfig, model: ModelSpec
) -> None:
    # a design's kv_cache_bits overrides the workload's KV-cache precision (as in tersim run):
    # a sweep point of such a design must run it so (it once traced the workload's 16 bits)
    path = _variant(tmp_path, "tiny-kv8")
    doc = yaml.safe_load(path.read_text())
    doc["kv_cache_bits"] = 8
    path.write_text(yaml.safe_dump(doc))
    spec = make_spec({"design": [str(path)]})
    run_sweep(spec, tiny, model, tmp_path / "s.sqlite")
    ((_, hw),) = _points(tmp_path / "s.sqlite")
    assert hw.kv_cache_bits == 8
    with ResultStore.open(tmp_path / "s.sqlite") as store:
        (p,) = list(store.points())
    rec = run(hw, model, phases=(Phase.DECODE,), prompt_tokens=8, gen_tokens=1).to_json()
    plain = run(tiny, model, phases=(Phase.DECODE,), prompt_tokens=8, gen_tokens=1).to_json()
    assert rec["dram_read_bytes"] < plain["dram_read_bytes"]  # the 8-bit cache is read
    assert p.rows["all"]["dram_read_bytes"] == rec["dram_read_bytes"]
    assert p.rows["all"]["energy_pj.total"] == rec["energy_pj"]["total"]
