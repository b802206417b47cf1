"""Shared sweep helpers: the tiny 8x8 design running BitNet 700M decode for one token (about
0.05 s a point), and helpers to write sweep files and compare stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tersim.config import load_hardware, load_workload
from tersim.config.hardware import HardwareConfig
from tersim.config.sweep import SweepSpec
from tersim.config.workload import ModelSpec

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = {"phase": "decode", "prompt_tokens": 8, "gen_tokens": 1}


@pytest.fixture(scope="session")
def tiny() -> HardwareConfig:
    return load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")


@pytest.fixture(scope="session")
def model() -> ModelSpec:
    return load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")


def make_spec(vary: dict[str, list[Any]], **extra: Any) -> SweepSpec:
    return SweepSpec(
        name=extra.pop("name", "s"),
        hardware="ternary-8x8-tiny",
        workload="bitnet-b1.58-700m",
        scenario=extra.pop("scenario", SCENARIO),
        vary=vary,
        **extra,
    )


def write_sweep(path: Path, vary: dict[str, list[Any]], **extra: Any) -> Path:
    doc = {
        "name": extra.pop("name", "s"),
        "hardware": "ternary-8x8-tiny",
        "workload": "bitnet-b1.58-700m",
        "scenario": extra.pop("scenario", SCENARIO),
        "vary": vary,
        **extra,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def store_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every result row and every point's status, sorted (what two runs must agree on)."""
    with sqlite3.connect(path) as conn:
        results = sorted(conn.execute("SELECT config_hash, workload, phase, metrics FROM results"))
        points = sorted(
            conn.execute("SELECT config_hash, idx, params, config, status, error FROM points")
        )
    return [*results, *points]
