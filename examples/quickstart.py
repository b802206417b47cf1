"""A notebook user's first ten minutes with tersim, as a script (run by the test suite).

    python examples/quickstart.py [OUT_DIR]

Loads a shipped design and workload, runs BitNet b1.58 2B4T's decode on a ternary array and on
its FP16 twin, prints the headline numbers and the costliest ops, derives a smaller array, and
writes the per-op table as CSV (and Parquet when pyarrow is installed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tersim
from tersim.run.export import TableFormat, write_tables


def main(out_dir: Path) -> None:
    hw = tersim.load_hardware("ternary-128x128-7nm")  # a shipped name, or a YAML path
    wl = tersim.load_workload("bitnet-b1.58-2b4t")  # or a Hugging Face config.json
    res = tersim.run(
        hw, wl, phase="decode", prompt_tokens=64, gen_tokens=4, baseline="fp16-128x128-7nm"
    )

    s = res.summary()
    d, b = s["design"], s["baseline"]
    print(
        f"{d['design']}: {d['decode_tokens_per_s_per_sequence']:.1f} tokens/s per sequence, "
        f"{d['energy_total_pj'] / 1e9:.2f} mJ"
    )
    print(
        f"{b['design']}: {b['decode_tokens_per_s_per_sequence']:.1f} tokens/s per sequence, "
        f"{b['energy_total_pj'] / 1e9:.2f} mJ"
    )
    print(f"energy saving (baseline / design): {s['ratios']['energy_saving']:.2f}x")

    ops = res.ops()  # one row per op and decode step, units in the field names
    top = sorted(ops, key=lambda r: r.energy_dynamic_pj, reverse=True)[:3]
    for r in top:
        print(
            f"  {r.op:<14} step {r.step}: {r.span_cycles:>9,} cycles, "
            f"{r.dram_read_weights_bytes:>10,} weight bytes, {r.energy_dynamic_pj / 1e6:.1f} uJ"
        )

    small = tersim.derive(
        hw, **{"array.rows": 64, "array.cols": 64}
    )  # validated, unlike model_copy
    small_res = tersim.run(small, wl, phase="decode", prompt_tokens=64, gen_tokens=4)
    print(
        f"64x64 array: {small_res.summary()['design']['latency_s'] * 1e3:.2f} ms "
        f"(128x128: {d['latency_s'] * 1e3:.2f} ms)"
    )

    tables = res.tables()
    written = write_tables(out_dir, tables, TableFormat.CSV)
    try:
        import pyarrow  # noqa: F401

        written += write_tables(out_dir, tables, TableFormat.PARQUET)
    except ImportError:
        pass
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("quickstart-out"))
