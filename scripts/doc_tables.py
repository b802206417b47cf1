"""Print the design tables of README.md and docs/claim.md from fresh runs.

    python scripts/doc_tables.py            # every table (a few minutes)
    python scripts/doc_tables.py --readme   # the README's table of designs only

Every figure comes from ``tersim.run`` on the default job (BitNet b1.58 3B, 512-token prompt,
128 generated tokens, batch 1), each design alone (no baseline). Paste the output over the
tables when the model changes.
"""

from __future__ import annotations

import argparse
from typing import Any

import tersim

README_DESIGNS = (
    "ternary-128x128-7nm",
    "ternary-128x128-7nm-fastload",
    "ternary-lut-128x128-7nm",
    "bit-serial-128x128-7nm",
    "ternary-hetero-7nm",
    "int8-128x128-7nm",
    "fp16-128x128-7nm",
    "ternary-iso-area-fp16-128x128-7nm",
    "ternary-lut-iso-area-fp16-128x128-7nm",
    "bit-serial-iso-area-fp16-128x128-7nm",
    "ternary-hetero-iso-area-fp16-128x128-7nm",
)
ISO_FP16 = (
    ("FP16 MAC", "fp16-128x128-7nm"),
    ("ternary adder", "ternary-iso-area-fp16-128x128-7nm"),
    ("ternary LUT, g = 4", "ternary-lut-iso-area-fp16-128x128-7nm"),
    ("bit-serial", "bit-serial-iso-area-fp16-128x128-7nm"),
    ("ternary adder + INT8 attention", "ternary-hetero-iso-area-fp16-128x128-7nm"),
)
ISO_INT8 = (
    ("INT8 MAC", "int8-128x128-7nm"),
    ("ternary adder", "ternary-iso-area-int8-128x128-7nm"),
    ("ternary LUT, g = 4", "ternary-lut-iso-area-int8-128x128-7nm"),
    ("bit-serial", "bit-serial-iso-area-int8-128x128-7nm"),
)


def _record(design: str, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if design not in cache:
        hw = tersim.load_hardware(design)
        wl = tersim.load_workload("bitnet-b1.58-3b")
        cache[design] = tersim.run(hw, wl, baseline=None).to_dict()["run"]
    return cache[design]


def _array(doc: dict[str, Any]) -> str:
    a = doc["hardware"]["array"]
    return f"{a['pe_kind']} {a['rows']}x{a['cols']}" + (
        " + " + ", ".join(u["name"] for u in doc["hardware"].get("units", []))
        if doc["hardware"].get("units")
        else ""
    )


def readme_table(cache: dict[str, dict[str, Any]]) -> str:
    head = (
        "| design | PE, array | area mm² (core) | time to first token | decode tokens/s | energy "
        "| average power | peak power |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for d in README_DESIGNS:
        r = _record(d, cache)
        ph = r["phases"]
        rows.append(
            f"| `{d}` | {_array(r)} | {r['area_mm2']['total']:.1f} ({r['area_mm2']['core']:.1f}) "
            f"| {ph['prefill']['seconds'] * 1e3:,.0f} ms | {ph['decode']['tokens_per_s']:,.1f} "
            f"| {r['energy_pj']['total'] / 1e9:,.0f} mJ | {r['power_w']:.2f} W "
            f"| {r['peak_power_w']['total']:.1f} W |"
        )
    return "\n".join(rows)


def iso_table(designs: tuple[tuple[str, str], ...], cache: dict[str, dict[str, Any]]) -> str:
    head = (
        "| design | array | prefill latency | prefill energy | prefill tok/s/mm² | decode tok/s "
        "| decode energy / token | decode tok/s/mm² |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for label, d in designs:
        r = _record(d, cache)
        p, dec = r["phases"]["prefill"], r["phases"]["decode"]
        a = r["hardware"]["array"]
        rows.append(
            f"| {label} (`{d}`) | {a['rows']}x{a['cols']} | {p['seconds'] * 1e3:,.0f} ms "
            f"| {p['energy_pj'] / 1e9:,.0f} mJ | {p['tokens_per_s_per_mm2']:.1f} "
            f"| {dec['tokens_per_s']:.1f} | {dec['energy_pj'] / dec['tokens'] / 1e9:.1f} mJ "
            f"| {dec['tokens_per_s_per_mm2']:.2f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="the README's table only")
    args = parser.parse_args()
    cache: dict[str, dict[str, Any]] = {}
    print(readme_table(cache))
    if not args.readme:
        print("\nAt the FP16 MAC 128x128 chip's area:\n")
        print(iso_table(ISO_FP16, cache))
        print("\nAt the INT8 MAC 128x128 chip's area:\n")
        print(iso_table(ISO_INT8, cache))


if __name__ == "__main__":
    main()
