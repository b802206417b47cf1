"""tersim v1's timing rules are the v2 engine with one chain in program order.

``tests/data/v1_cycles.json`` keeps the cycles the golden records held before the v2 engine
(ops over a dependency graph, queued by priority): with ``scheduling: {dependencies:
program_order, order: program}`` every shipped design reproduces them exactly, so the goldens'
moved numbers come from those two rules alone (the commit that regenerated them lists them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tersim.config import load_hardware, load_workload
from tersim.config.enums import DependencyRule, OrderRule
from tersim.run.pipeline import run
from tersim.workload.trace import Phase

ROOT = Path(__file__).resolve().parents[2]
V1 = json.loads((ROOT / "tests" / "data" / "v1_cycles.json").read_text())
PHASES = {"prefill": ((Phase.PREFILL,), 128, 0), "decode": ((Phase.DECODE,), 128, 4)}
CASES = sorted(k for k in V1 if "__bitnet-b1.58-700m__" in k)


@pytest.mark.parametrize("case", CASES)
def test_chain_in_program_order_reproduces_v1(case: str) -> None:
    design, workload, phase = case.split("__")
    hw = load_hardware(ROOT / "hw_configs" / f"{design}.yaml")
    chain = hw.scheduling.model_copy(
        update={"dependencies": DependencyRule.PROGRAM_ORDER, "order": OrderRule.PROGRAM}
    )
    phases, prompt, gen = PHASES[phase]
    rec = run(
        hw.model_copy(update={"scheduling": chain}),
        load_workload(ROOT / "workloads" / f"{workload}.yaml"),
        phases=phases,
        prompt_tokens=prompt,
        gen_tokens=gen,
        batch=1,
    ).to_json()
    want = V1[case]
    got = {k: rec[k] for k in ("total_cycles", "busy_cycles", "stall_cycles")}
    # v1's phase entries (the record's phases gained per-area and per-energy rates since)
    got["phases"] = {p: {k: rec["phases"][p][k] for k in v} for p, v in want["phases"].items()}
    assert got == want


def test_every_design_has_v1_cycles() -> None:
    designs = {k.split("__")[0] for k in V1}
    shipped = {p.stem for p in (ROOT / "hw_configs").glob("*.yaml")}
    assert len(CASES) == 2 * len(designs)
    assert designs <= shipped
