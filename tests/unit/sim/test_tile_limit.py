"""The per-tile oracle's memory bound (issue 16, item 6): a run with more tiles than the oracle
can hold is refused before any simulation, with what to use instead; a smaller one runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tersim.config import load_hardware
from tersim.config.workload import Architecture, ModelSpec
from tersim.run.pipeline import run
from tersim.sim import Fidelity
from tersim.sim.engine import MAX_TILE_FIDELITY_TILES
from tersim.workload.trace import Phase

ROOT = Path(__file__).resolve().parents[3]


def test_a_run_within_the_limit_runs_per_tile() -> None:
    hw = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    arch = Architecture(
        hidden=128, layers=1, heads=4, kv_heads=4, ffn=256, ffn_type="swiglu", vocab=100,
        max_context=64,
    )  # fmt: skip
    spec = ModelSpec(name="small", architecture=arch)
    tile = run(
        hw, spec, phases=(Phase.PREFILL,), prompt_tokens=4, gen_tokens=0, fidelity=Fidelity.TILE
    )
    fast = run(hw, spec, phases=(Phase.PREFILL,), prompt_tokens=4, gen_tokens=0)
    assert tile.schedule is not None
    assert sum(op.tiles for op in tile.schedule.ops) <= MAX_TILE_FIDELITY_TILES
    assert tile.result.total_cycles == fast.result.total_cycles


def test_too_many_tiles_is_a_one_line_error_before_simulating() -> None:
    # BitNet 700M on the 8x8 array: about 10.6 million tiles for a 4-token prompt
    t0 = time.monotonic()
    out = subprocess.run(
        [
            sys.executable, "-m", "tersim", "run", "--hw", "ternary-8x8-tiny",
            "--workload", "bitnet-b1.58-700m", "--baseline", "none", "--phase", "prefill",
            "--prompt-tokens", "4", "--fidelity", "tile",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "--fidelity tile" in lines[0] and "use --fidelity run" in lines[0]
    assert time.monotonic() - t0 < 120  # refused after mapping, not after simulating
