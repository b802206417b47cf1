"""Speed of tersim's closed-form GEMM timing against SCALE-Sim on LLaMA-sized GEMMs.

    python benchmarks/bench_gemm_vs_scalesim.py [--live] [--live-shape 128 1024 1024]

tersim's side is timed here. SCALE-Sim is not a tersim dependency, so its wall time comes from
tests/data/scalesim/timing.json, measured earlier on the project VM (see the README there).
With ``SCALESIM_PYTHON`` pointing at a Python that can ``import scalesim`` (a scratch venv) and
``--live``, SCALE-Sim is also run side by side on ``--live-shape`` (default small enough to take
seconds), and its Total Cycles are checked against tersim's SCALESIM-compatible count.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tersim.config.enums import CompatMode, Dataflow  # noqa: E402
from tersim.hw.dataflow import gemm_accesses, gemm_timing  # noqa: E402

TIMING_JSON = ROOT / "tests" / "data" / "scalesim" / "timing.json"
ARRAY = (128, 128)
SHAPES = [(512, 4096, 4096), (512, 11008, 4096)]

_CFG = """[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 65536
FilterSramSzkB: 65536
OfmapSramSzkB: 65536
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

_DRIVER = """
import contextlib, io, sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                 layout=layout, input_type_gemm=True)
    s.run_scale(top_path=out)
"""


def time_closed_form_us(m: int, n: int, k: int, dataflow: Dataflow, compat: CompatMode) -> float:
    """Median microseconds for one gemm_timing + gemm_accesses call."""

    def call() -> None:
        gemm_timing(m, n, k, *ARRAY, dataflow, compat)
        gemm_accesses(m, n, k, *ARRAY, dataflow, compat)

    number = 2000
    runs = timeit.repeat(call, number=number, repeat=5)
    return sorted(runs)[len(runs) // 2] / number * 1e6


def run_scalesim(
    python: str, m: int, n: int, k: int, rows: int, cols: int, dataflow: Dataflow
) -> tuple[float, int]:
    """Run SCALE-Sim in its own interpreter; return (wall seconds, Total Cycles)."""
    with tempfile.TemporaryDirectory(prefix="bench_scalesim_") as tmp:
        d = Path(tmp)
        (d / "s.cfg").write_text(_CFG.format(rows=rows, cols=cols, dataflow=dataflow.value))
        (d / "gemm.csv").write_text(f"Layer, M, N, K,\nL0, {m}, {n}, {k},\n")
        (d / "layout.csv").write_text("Layer,\n")
        t0 = time.perf_counter()
        subprocess.run(
            [
                python,
                "-W",
                "ignore",
                "-c",
                _DRIVER,
                str(d / "s.cfg"),
                str(d / "gemm.csv"),
                str(d / "layout.csv"),
                str(d),
            ],
            check=True,
        )
        wall_s = time.perf_counter() - t0
        with open(d / "run" / "COMPUTE_REPORT.csv") as f:
            rows_csv = list(csv.reader(f))
        header = [h.strip() for h in rows_csv[0]]
        total = int(rows_csv[1][header.index("Total Cycles")].strip())
    return wall_s, total


def print_full_command_path(runs: dict) -> None:  # type: ignore[type-arg]
    """The whole `tersim gemm` path (mapping with buffers, DRAM, engine), timed in-process and
    as a fresh command (interpreter start-up and imports included), with SCALESIM compat so
    the cycle counts can be compared with SCALE-Sim's."""
    from tersim.config import load_hardware
    from tersim.run.single_gemm import run_gemm

    hw = load_hardware(ROOT / "hw_configs" / "fp16-128x128-7nm.yaml")
    print("\nfull `tersim gemm` path (ideal memory, --compat scalesim), fp16-128x128-7nm:")
    for m, n, k in SHAPES:
        for df in Dataflow:
            t0 = time.perf_counter()
            res = run_gemm(hw, m, n, k, df, CompatMode.SCALESIM, ideal_memory=True)
            wall = time.perf_counter() - t0
            rec = runs.get((m, n, k, df.value))
            cyc = res.result.total_cycles
            if rec is None:
                note = "SCALE-Sim not run"
            else:
                same = "same cycles" if rec["total_cycles"] == cyc else "DIFFERENT cycles"
                note = f"SCALE-Sim {rec['wall_s']:.0f} s, {same}: {rec['wall_s'] / wall:,.0f}x"
            print(f"  {m}x{n}x{k} {df.value}: {wall * 1e3:7.2f} ms, {cyc:,} cycles; {note}")
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tersim",
            "gemm",
            "--hw",
            "fp16-128x128-7nm",
            "--m",
            "512",
            "--n",
            "11008",
            "--k",
            "4096",
            "--json",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    print(
        f"  a fresh `tersim gemm` process, 512x11008x4096 (start-up included): "
        f"{time.perf_counter() - t0:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--live", action="store_true", help="also run SCALE-Sim via $SCALESIM_PYTHON"
    )
    parser.add_argument(
        "--live-shape", type=int, nargs=3, default=(128, 1024, 1024), metavar=("M", "N", "K")
    )
    args = parser.parse_args()

    recorded = json.loads(TIMING_JSON.read_text())
    print(f"closed form vs SCALE-Sim on a {ARRAY[0]}x{ARRAY[1]} array")
    print(f"* SCALE-Sim s: measured earlier, not now: {recorded['note']}")
    print()
    print(
        f"{'GEMM (MxNxK)':>18} {'df':>3} {'tersim us':>10} {'cycles (tersim)':>16} {'cycles (scalesim)':>18} "
        f"{'SCALE-Sim s*':>12} {'speed-up':>10}"
    )
    runs = {(r["M"], r["N"], r["K"], r["dataflow"]): r for r in recorded["runs"]}
    for m, n, k in SHAPES:
        for df in Dataflow:
            us = time_closed_form_us(m, n, k, df, CompatMode.TERSIM)
            ters = gemm_timing(m, n, k, *ARRAY, df).compute_cycles
            ss = gemm_timing(m, n, k, *ARRAY, df, CompatMode.SCALESIM).compute_cycles
            rec = runs.get((m, n, k, df.value))
            if rec is None:
                wall, ratio = "not run", "-"
            else:
                assert rec["total_cycles"] == ss, (
                    "stored SCALE-Sim cycles disagree with the closed form"
                )
                bound = ">=" if rec.get("lower_bound") else ""
                wall = f"{bound}{rec['wall_s']:.1f}"
                ratio = f"{bound}{rec['wall_s'] / (us * 1e-6):.2e}"
            print(
                f"{m:>5}x{n:>5}x{k:>5} {df.value:>3} {us:>10.2f} {ters:>16,} {ss:>18,} {wall:>12} {ratio:>10}"
            )

    print_full_command_path(runs)

    if args.live:
        python = os.environ.get("SCALESIM_PYTHON")
        if not python:
            print("\n--live needs SCALESIM_PYTHON=/path/to/python-with-scalesim; skipped")
            return
        m, n, k = args.live_shape
        print(f"\nlive, side by side: {m}x{n}x{k} on {ARRAY[0]}x{ARRAY[1]}")
        for df in Dataflow:
            wall_s, total = run_scalesim(python, m, n, k, *ARRAY, df)
            us = time_closed_form_us(m, n, k, df, CompatMode.SCALESIM)
            ours = gemm_timing(m, n, k, *ARRAY, df, CompatMode.SCALESIM).compute_cycles
            same = "same" if ours == total else f"DIFFERENT (tersim {ours})"
            print(
                f"  {df.value}: SCALE-Sim {wall_s:.2f} s, {total:,} cycles ({same}); tersim {us:.2f} us; "
                f"speed-up {wall_s / (us * 1e-6):.2e}"
            )


if __name__ == "__main__":
    main()
