"""Golden records: cycles, bytes and energy by component for every shipped design.

A change to the model that moves any number fails here. If the change is intended, rewrite the
records with ``pytest tests/regression --regen-golden`` and review the diff of
``tests/regression/golden/`` in the commit: every moved number must be explained.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_hardware, load_workload
from tersim.run.pipeline import run
from tersim.workload.trace import Phase

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
DESIGNS = sorted(p.stem for p in (ROOT / "hw_configs").glob("*.yaml"))
WORKLOADS = ("bitnet-b1.58-700m", "bitnet-b1.58-2b4t", "llama2-7b")
PHASES = {"prefill": ((Phase.PREFILL,), 128, 0), "decode": ((Phase.DECODE,), 128, 4)}
ENERGY_REL_TOL = 1e-9


def _record(design: str, workload: str, phase: str) -> dict[str, Any]:
    phases, prompt, gen = PHASES[phase]
    rec = run(
        load_hardware(ROOT / "hw_configs" / f"{design}.yaml"),
        load_workload(ROOT / "workloads" / f"{workload}.yaml"),
        phases=phases,
        prompt_tokens=prompt,
        gen_tokens=gen,
        batch=1,
    )
    full = rec.to_json()
    return {
        k: full[k]
        for k in (
            "total_cycles",
            "phases",
            "busy_cycles",
            "stall_cycles",
            "dram_read_bytes_by_kind",
            "dram_write_bytes_by_kind",
            "counts",
            "energy_pj",
        )
    }


def _compare(got: Any, want: Any, path: str) -> list[str]:
    if isinstance(want, dict):
        out = []
        if set(got) != set(want):
            out.append(f"{path}: keys {sorted(got)} != {sorted(want)}")
        for k in want:
            if k in got:
                out += _compare(got[k], want[k], f"{path}.{k}")
        return out
    if isinstance(want, float) or isinstance(got, float):
        if not math.isclose(got, want, rel_tol=ENERGY_REL_TOL, abs_tol=1e-9):
            return [f"{path}: {got!r} != golden {want!r}"]
        return []
    return [] if got == want else [f"{path}: {got!r} != golden {want!r}"]


@pytest.mark.parametrize("phase", sorted(PHASES))
@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("design", DESIGNS)
def test_golden_record(design: str, workload: str, phase: str, regen_golden: bool) -> None:
    path = GOLDEN / f"{design}__{workload}__{phase}.json"
    got = _record(design, workload, phase)
    if regen_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        return
    assert path.exists(), f"no golden record {path.name}: run pytest --regen-golden"
    problems = _compare(got, json.loads(path.read_text()), "")
    assert not problems, "\n".join(problems[:20])


def test_every_design_has_golden_records() -> None:
    names = {p.name.split("__")[0] for p in GOLDEN.glob("*__*__*.json")}
    assert set(DESIGNS) <= names


@pytest.mark.parametrize("node", ["7nm", "45nm"])
def test_golden_claim(node: str, regen_golden: bool) -> None:
    """The ratios `tersim claim` prints (and docs/claim.md quotes), pinned."""
    from tersim.run.claim import SWEEP_MODELS, make_claim

    report = make_claim(
        load_hardware(ROOT / "hw_configs" / f"ternary-128x128-{node}.yaml"),
        load_hardware(ROOT / "hw_configs" / f"fp16-128x128-{node}.yaml"),
        load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml"),
        512,
        128,
        tuple(load_workload(ROOT / "workloads" / f"{m}.yaml") for m in SWEEP_MODELS),
    )
    doc = report.to_json()
    got = {
        k: doc[k]
        for k in (
            "paper_ratio",
            "zero_skip_ratio",
            "int16_accumulator_ratio",
            "realistic_accumulator_ratio",
            "whole_chip_ratio_prefill",
            "whole_chip_ratio_decode",
            "weight_zero_fraction",
        )
    }
    got["sweep"] = {p["model"]: p["ratio"] for p in doc["model_size_sweep"]}
    path = GOLDEN / f"claim__{node}.json"
    if regen_golden:
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        return
    problems = _compare(got, json.loads(path.read_text()), "")
    assert not problems, "\n".join(problems)
