"""BitNet b1.58's claim from simulated counts: 71.4 at 7nm, 50.0 at 45nm, and the wider view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tersim.config import load_hardware, load_workload
from tersim.run.claim import make_claim
from tersim.workload.footprint import linear_shapes

ROOT = Path(__file__).resolve().parents[3]


def _claim(node: str, workload: str = "bitnet-b1.58-3b", prompt: int = 512):  # type: ignore[no-untyped-def]
    return make_claim(
        load_hardware(ROOT / "hw_configs" / f"ternary-128x128-{node}.yaml"),
        load_hardware(ROOT / "hw_configs" / f"fp16-128x128-{node}.yaml"),
        load_workload(ROOT / "workloads" / f"{workload}.yaml"),
        prompt,
        4,
    )


@pytest.mark.parametrize(("node", "expected"), [("7nm", 71.4), ("45nm", 50.0)])
def test_paper_ratio_from_simulated_counts(node: str, expected: float) -> None:
    report = _claim(node)
    assert round(report.paper_ratio, 1) == expected
    # the counts are the simulated ones: every linear weight once per prompt token
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml")
    macs = 512 * sum(k * n for k, n in linear_shapes(spec))
    t = report.ternary_linear
    assert report.fp16_linear.mul == report.fp16_linear.add == macs
    assert t.add + t.sub + t.skip == macs


def test_extended_ratios_by_hand_7nm() -> None:
    r = _claim("7nm", "bitnet-b1.58-700m", prompt=64)
    t = r.ternary_linear
    slots = t.add + t.sub + t.skip
    fp = slots * (0.34 + 0.16)
    assert r.zero_skip_ratio == pytest.approx(fp / ((t.add + t.sub) * 0.007 + t.skip * 0.0007))
    int32 = 0.1 * 0.007 / 0.03
    assert r.accumulator_ratio(32) == pytest.approx(fp / (slots * round(int32, 6)))
    assert r.zero_skip_ratio > r.paper_ratio > r.accumulator_ratio(16) > r.accumulator_ratio(32)
    # whole-chip ratios are real simulated energies, far below the arithmetic-only claim
    doc = r.to_json()
    assert 1.0 < doc["whole_chip_ratio_prefill"] < r.paper_ratio
    assert 1.0 < doc["whole_chip_ratio_decode"] < r.paper_ratio


def test_claim_cli_json() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "tersim",
            "claim",
            "--node",
            "45nm",
            "--workload",
            "bitnet-b1.58-700m",
            "--prompt-tokens",
            "64",
            "--gen-tokens",
            "2",
            "--no-sweep",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    for key in (
        "node",
        "workload",
        "paper_ratio",
        "zero_skip_ratio",
        "realistic_accumulator_ratio",
        "whole_chip_ratio_prefill",
        "whole_chip_ratio_decode",
        "counts",
        "energy_per_op_pj",
    ):
        assert key in doc
    assert round(doc["paper_ratio"], 1) == 50.0
