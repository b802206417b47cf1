"""Speed of whole-workload simulation, as ratios measured in one run.

    python benchmarks/bench_engine.py

Prints, for the ``fast`` fidelity: LLaMA-2 7B and 70B (512-token prefill + 128 decode steps on
the 128x128 FP16 design) wall time and simulated cycles per wall-clock second; for the ``tile``
fidelity (one simpy event per tile): one layer of LLaMA-2 7B (prefill of 512 tokens), with the
ratio fast / tile measured on the same layer; and tersim's whole 7B run against SCALE-Sim's wall
time on a single 512x4096x4096 GEMM (from tests/data/scalesim/timing.json, measured earlier on
this machine: SCALE-Sim is not a dependency).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tersim.config import load_hardware, load_workload  # noqa: E402
from tersim.run.pipeline import run  # noqa: E402
from tersim.sim import Fidelity  # noqa: E402
from tersim.workload.trace import Phase  # noqa: E402


def _timed(**kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    rec = run(**kwargs)
    return rec, time.perf_counter() - t0


def main() -> None:
    hw = load_hardware(ROOT / "hw_configs" / "fp16-128x128-7nm.yaml")
    run(
        hw=hw,
        spec=load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml"),
        prompt_tokens=8,
        gen_tokens=1,
    )  # warm-up (imports, numba)
    print("fast fidelity, 512-token prefill + 128 decode steps, fp16-128x128-7nm:")
    whole_7b = None
    for name in ("llama2-7b", "llama2-70b"):
        spec = load_workload(ROOT / "workloads" / f"{name}.yaml")
        rec, wall = _timed(hw=hw, spec=spec, prompt_tokens=512, gen_tokens=128)
        if name == "llama2-7b":
            whole_7b = wall
        cyc = rec.result.total_cycles
        print(
            f"  {name:11s} wall {wall:6.2f} s   simulated {cyc:,} cycles "
            f"({cyc / wall:,.0f} cycles per wall second)"
        )
    spec7 = load_workload(ROOT / "workloads" / "llama2-7b.yaml")
    one_layer = spec7.model_copy(
        update={"architecture": spec7.architecture.model_copy(update={"layers": 1})}
    )
    kw = dict(hw=hw, spec=one_layer, phases=(Phase.PREFILL,), prompt_tokens=512, gen_tokens=0)
    tile, t_tile = _timed(fidelity=Fidelity.TILE, **kw)
    fast, t_fast = _timed(fidelity=Fidelity.FAST, **kw)
    assert tile.result.total_cycles == fast.result.total_cycles
    print("tile fidelity, one LLaMA-2 7B layer, 512-token prefill:")
    print(
        f"  tile {t_tile:6.2f} s   fast {t_fast:6.3f} s   fast is {t_tile / t_fast:,.0f}x "
        f"faster, same cycles ({fast.result.total_cycles:,})"
    )
    timing = json.loads((ROOT / "tests" / "data" / "scalesim" / "timing.json").read_text())
    sc = min(r["wall_s"] for r in timing["runs"])
    assert whole_7b is not None
    print("against SCALE-Sim (one 512x4096x4096 GEMM, 128x128, measured earlier on this VM):")
    print(
        f"  SCALE-Sim {sc:.0f} s for one GEMM; tersim {whole_7b:.2f} s for all of LLaMA-2 7B "
        f"(prefill + 128 decode steps): {sc / whole_7b:,.0f}x"
    )


if __name__ == "__main__":
    main()
