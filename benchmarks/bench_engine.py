"""Speed and memory of whole-workload simulation (issue 11's targets), as ratios in one run.

    python benchmarks/bench_engine.py [--repeats 3] [--quick]

Every case runs in a fresh child process (so its peak resident memory is its own, imports
included), ``--repeats`` times; the table gives wall and CPU time (min and median over the
repeats) and the peak RSS (max over the repeats), each against its baseline measured in the same
run where there is one, and against the target:

1. ``default``: what ``tersim run`` simulates by default (BitNet b1.58 3B, 512-token prompt +
   128 generated tokens, on ternary-128x128-7nm and its FP16 baseline, fast fidelity), design
   and baseline in one process, from the shapes to both records. Target: <= 1.0 s CPU, <= 200 MB.
   The ``imports`` case (the same child, loading the configs and the pipeline, simulating
   nothing) is the floor every case pays.
2. ``llama-G``: LLaMA-2 7B on fp16-128x128-7nm, 512-token prompt + G generated tokens, for
   G = 256, 512, 1024, 2048 (``--quick``: 256 and 512): CPU time per generated token shows
   whether decode cost is linear in G. Target for G = 2048: <= 10 s, <= 300 MB.
3. ``simpy``: the default workload on the simpy engine (``--fidelity run``) against ``default``
   (the fast path), ratio of CPU times. Target: <= 10x, <= 1 GB.
4. ``tile`` against ``fast`` on one LLaMA-2 7B layer (512-token prefill): the per-tile oracle's
   cost, with equal cycles asserted.
5. SCALE-Sim's wall time on one 512x4096x4096 GEMM (tests/data/scalesim/timing.json, measured
   earlier on this machine: SCALE-Sim is not a dependency) against the whole LLaMA-2 7B run
   of case 2 (G = 256).

``--baseline-src DIR`` also runs every case on another checkout's ``src`` (its shipped designs
and workloads are read beside it), e.g. ``git worktree add --detach /tmp/base REV`` then
``--baseline-src /tmp/base/src``. Each repeat runs both checkouts back to back, alternating which
goes first, after one untimed run of each (numba caches, file caches); every case line is then
followed by the baseline's and the ratios this / baseline of CPU min, CPU median and wall min
(below 1: this checkout is faster). A case the baseline cannot run (its fidelity does not exist
there) says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_TARGET_CPU_S = 1.0
DEFAULT_TARGET_MB = 200.0
LLAMA_TARGET_S = 10.0
LLAMA_TARGET_MB = 300.0
SIMPY_TARGET_RATIO = 10.0
SIMPY_TARGET_MB = 1024.0


def _case(name: str, src: Path) -> dict[str, object]:
    """Run one case in this process on the checkout ``src``; return what it measured."""
    c0, t0 = time.process_time(), time.perf_counter()
    sys.path.insert(0, str(src))
    root = src.parent
    from tersim.config import load_hardware, load_workload
    from tersim.run.pipeline import run
    from tersim.sim import Fidelity
    from tersim.workload.trace import Phase

    def hw(n: str):  # type: ignore[no-untyped-def]
        return load_hardware(root / "hw_configs" / f"{n}.yaml")

    def wl(n: str):  # type: ignore[no-untyped-def]
        return load_workload(root / "workloads" / f"{n}.yaml")

    out: dict[str, object] = {"cycles": []}
    if name in ("default", "simpy"):
        if name == "simpy" and not hasattr(Fidelity, "RUN"):
            return {"missing": "no simpy (run) fidelity in this checkout"}
        fid = Fidelity.FAST if name == "default" else Fidelity.RUN
        spec = wl("bitnet-b1.58-3b")
        cycles = []
        for design in ("ternary-128x128-7nm", "fp16-128x128-7nm"):
            rec = run(hw(design), spec, prompt_tokens=512, gen_tokens=128, fidelity=fid)
            cycles.append(rec.result.total_cycles)
        out["cycles"] = cycles
    elif name.startswith("llama-"):
        g = int(name.split("-")[1])
        rec = run(hw("fp16-128x128-7nm"), wl("llama2-7b"), prompt_tokens=512, gen_tokens=g)
        out["cycles"] = [rec.result.total_cycles]
    elif name in ("tile", "fast-layer"):
        spec7 = wl("llama2-7b")
        one = spec7.model_copy(
            update={"architecture": spec7.architecture.model_copy(update={"layers": 1})}
        )
        fid = Fidelity.TILE if name == "tile" else Fidelity.FAST
        rec = run(
            hw("fp16-128x128-7nm"), one, phases=(Phase.PREFILL,), prompt_tokens=512,
            gen_tokens=0, fidelity=fid,
        )  # fmt: skip
        out["cycles"] = [rec.result.total_cycles]
    elif name != "imports":
        raise SystemExit(f"unknown case {name}")
    out["cpu_s"] = time.process_time() - c0
    out["wall_s"] = time.perf_counter() - t0
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _child(name: str, src: Path) -> dict[str, object]:
    """Case ``name`` in a fresh child process on the checkout ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, __file__, "--case", name, "--src", str(src)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd="/",
    )
    if p.returncode:
        raise SystemExit(f"{src}: case {name} failed:\n{p.stderr[-2000:]}")
    r: dict[str, object] = json.loads(p.stdout.strip().splitlines()[-1])
    r["process_wall_s"] = time.perf_counter() - t0
    return r


def _summary(name: str, runs: list[dict[str, object]]) -> dict[str, object]:
    """Min/median times and max RSS of ``runs`` (or what made the case impossible)."""
    if "missing" in runs[0]:
        return {"missing": runs[0]["missing"]}
    cpu = [float(r["cpu_s"]) for r in runs]  # type: ignore[arg-type]
    wall = [float(r["wall_s"]) for r in runs]  # type: ignore[arg-type]
    cycles: set[tuple[int, ...]] = {tuple(r["cycles"]) for r in runs}  # type: ignore[arg-type]
    assert len(cycles) == 1, f"{name}: cycles differ between repeats"
    return {
        "cpu_min": min(cpu),
        "cpu_med": statistics.median(cpu),
        "wall_min": min(wall),
        "wall_med": statistics.median(wall),
        "rss_mb": max(float(r["rss_mb"]) for r in runs),  # type: ignore[arg-type]
        "cycles": runs[0]["cycles"],
    }


def _measure(
    name: str, repeats: int, baseline: Path | None, results: dict[str, dict[str, object]]
) -> dict[str, object]:
    """``repeats`` fresh children running case ``name`` (with a baseline: both checkouts each
    repeat, alternating which goes first, after one untimed run of each); the baseline's summary
    goes into ``results``."""
    sides = [ROOT / "src"] if baseline is None else [ROOT / "src", baseline]
    if baseline is not None:
        for src in sides:
            _child(name, src)
    runs: dict[Path, list[dict[str, object]]] = {src: [] for src in sides}
    for i in range(repeats):
        for src in sides if i % 2 == 0 else sides[::-1]:
            runs[src].append(_child(name, src))
    if baseline is not None:
        results[name] = _summary(name, runs[baseline])
    return _summary(name, runs[ROOT / "src"])


def _line(label: str, m: dict[str, object], extra: str, base: dict[str, object] | None) -> None:
    print(
        f"  {label:14s} cpu {m['cpu_min']:7.2f} s (median {m['cpu_med']:7.2f})   wall "
        f"{m['wall_min']:7.2f} s (median {m['wall_med']:7.2f})   peak {m['rss_mb']:6.0f} MB   "
        f"{extra}"
    )
    if base is None:
        return
    if "missing" in base:
        print(f"  {'  baseline':14s} {base['missing']}")
        return
    ratio = {k: float(m[k]) / float(base[k]) for k in ("cpu_min", "cpu_med", "wall_min", "rss_mb")}  # type: ignore[arg-type]
    print(
        f"  {'  baseline':14s} cpu {base['cpu_min']:7.2f} s (median {base['cpu_med']:7.2f})   "
        f"wall {base['wall_min']:7.2f} s (median {base['wall_med']:7.2f})   peak "
        f"{base['rss_mb']:6.0f} MB   this / baseline: cpu {ratio['cpu_min']:.2f} (median "
        f"{ratio['cpu_med']:.2f}), wall {ratio['wall_min']:.2f}, peak {ratio['rss_mb']:.2f}"
        + ("" if base["cycles"] == m["cycles"] else f"; baseline cycles {base['cycles']}")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated: llama, simpy, tile")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="(child) checkout's src")
    ap.add_argument("--baseline-src", type=Path, default=None, help="another checkout's src")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, args.src.resolve())))
        return
    bsrc = None if args.baseline_src is None else args.baseline_src.resolve()
    b: dict[str, dict[str, object]] = {}
    skip = set(filter(None, args.skip.split(",")))
    rep = args.repeats
    print(f"each case in a fresh process, {rep} repeats (cpu/wall: min and median; peak RSS):")
    if bsrc is not None:
        print(f"baseline: {bsrc}")
    imp = _measure("imports", rep, bsrc, b)
    _line("imports", imp, "(the floor every case pays)", b.get("imports"))
    base = _measure("default", rep, bsrc, b)
    c = float(base["cpu_min"])  # type: ignore[arg-type]
    _line(
        "default",
        base,
        f"cpu {c / DEFAULT_TARGET_CPU_S:.2f}x the {DEFAULT_TARGET_CPU_S} s target, peak "
        f"{float(base['rss_mb']) / DEFAULT_TARGET_MB:.2f}x the {DEFAULT_TARGET_MB:.0f} MB target",  # type: ignore[arg-type]
        b.get("default"),
    )
    llama_256 = None
    if "llama" not in skip:
        gens = (256, 512) if args.quick else (256, 512, 1024, 2048)
        prev = None
        for g in gens:
            m = _measure(f"llama-{g}", 1 if g >= 1024 else rep, bsrc, b)
            cpu = float(m["cpu_min"])  # type: ignore[arg-type]
            note = f"{(cpu - float(imp['cpu_min'])) / g * 1e3:.2f} ms cpu per generated token"  # type: ignore[arg-type]
            if prev is not None:
                note += f"; {cpu / prev:.2f}x the previous G (linear: about 2x)"
            if g == 2048:
                note += (
                    f"; {cpu / LLAMA_TARGET_S:.2f}x the {LLAMA_TARGET_S:.0f} s target, peak "
                    f"{float(m['rss_mb']) / LLAMA_TARGET_MB:.2f}x the {LLAMA_TARGET_MB:.0f} MB target"  # type: ignore[arg-type]
                )
            _line(f"llama2-7b G={g}", m, note, b.get(f"llama-{g}"))
            prev = cpu
            if g == 256:
                llama_256 = float(m["wall_min"])  # type: ignore[arg-type]
    if "simpy" not in skip:
        m = _measure("simpy", rep, bsrc, b)
        assert m["cycles"] == base["cycles"], "simpy and fast cycles differ"
        ratio = float(m["cpu_min"]) / c  # type: ignore[arg-type]
        _line(
            "simpy (run)",
            m,
            f"{ratio:.2f}x the fast path's cpu (target <= {SIMPY_TARGET_RATIO:.0f}x), peak "
            f"{float(m['rss_mb']) / SIMPY_TARGET_MB:.2f}x the 1 GB target, same cycles",  # type: ignore[arg-type]
            b.get("simpy"),
        )
    if "tile" not in skip:
        fast = _measure("fast-layer", rep, bsrc, b)
        tile = _measure("tile", 1, bsrc, b)
        assert tile["cycles"] == fast["cycles"]
        _line(
            "fast, 1 layer", fast, "LLaMA-2 7B, one layer, 512-token prefill", b.get("fast-layer")
        )
        ratio = (float(tile["cpu_min"]) - float(imp["cpu_min"])) / max(  # type: ignore[arg-type]
            1e-9,
            float(fast["cpu_min"]) - float(imp["cpu_min"]),  # type: ignore[arg-type]
        )
        _line(
            "tile, 1 layer",
            tile,
            f"{ratio:,.0f}x the fast path (imports excluded), same cycles",
            b.get("tile"),
        )

    if llama_256 is not None:
        timing = json.loads((ROOT / "tests" / "data" / "scalesim" / "timing.json").read_text())
        sc = min(r["wall_s"] for r in timing["runs"])
        print(
            f"  SCALE-Sim {sc:.0f} s wall for one 512x4096x4096 GEMM (measured earlier); tersim "
            f"{llama_256:.2f} s for all of LLaMA-2 7B (512 + 256): {sc / llama_256:,.0f}x"
        )


if __name__ == "__main__":
    main()
