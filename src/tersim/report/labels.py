"""Words for the record's keys, and number formats, so no figure shows a snake_case key.

Rules: a ratio's label always says which way it points (``"FP16 / ternary energy"``); a
design is named by its weight format when the compared designs' formats differ, else by its
hardware name.
"""

from __future__ import annotations

from typing import Any

from tersim.report.data import Component
from tersim.sim.result import dram_channel_of

COMPONENT_WORDS: dict[Component, str] = {
    Component.LINEAR_ARITHMETIC: "linear-layer arithmetic",
    Component.OTHER_ARITHMETIC: "attention and LM-head arithmetic",
    Component.SRAM: "SRAM",
    Component.DRAM: "DRAM",
    Component.VECTOR: "vector unit",
    Component.LEAKAGE: "leakage",
}
COMPONENT_COLOURS: dict[Component, str] = {
    Component.LINEAR_ARITHMETIC: "#4c78a8",
    Component.OTHER_ARITHMETIC: "#9ecae9",
    Component.SRAM: "#f58518",
    Component.DRAM: "#e45756",
    Component.VECTOR: "#54a24b",
    Component.LEAKAGE: "#bab0ac",
}
# the record's energy_pj keys (a record's own component split)
RECORD_COMPONENT_WORDS = {
    "mul": "multiplies",
    "add": "adds",
    "lookup": "table lookups",
    "sram": "SRAM",
    "dram": "DRAM",
    "vector": "vector unit",
    "leakage": "leakage",
}
OP_KIND_WORDS = {
    "embedding": "embedding lookup",
    "norm": "normalization",
    "quant": "activation quantization",
    "linear": "linear layers (projections, FFN)",
    "rope": "rotary position embedding",
    "attn_qk": "attention scores (Q x K)",
    "softmax": "softmax",
    "attn_av": "attention values (scores x V)",
    "activation": "FFN activation",
    "residual": "residual adds",
    "lm_head": "LM head",
}
OPERAND_WORDS = {"weights": "weights", "activations": "activations", "kv_cache": "KV cache"}
UNIT_WORDS = {"array": "PE array", "vector": "vector unit", "dram": "DRAM"}
FORMAT_WORDS = {
    "ternary": "ternary",
    "binary": "binary",
    "int8": "INT8",
    "nf4": "NF4",
    "fp4": "FP4",
    "fp16": "FP16",
    "bf16": "BF16",
}
PHASE_WORDS = {"prefill": "prefill", "decode": "decode"}


def words(key: str, table: dict[str, str]) -> str:
    """``table``'s words for ``key``; an unknown key with its underscores turned to spaces."""
    return table.get(key, key.replace("_", " "))


def unit_words(unit: str) -> str:
    """A lane's name in words: a unit's, the DRAM's, or ``DRAM channel c`` (lane ``dram.chc``)."""
    c = dram_channel_of(unit)
    return words(unit, UNIT_WORDS) if c is None else f"DRAM channel {c}"


def short_names(records: list[dict[str, Any]]) -> list[str]:
    """One short name per record (module rules); names stay distinct."""
    formats = [r["formats"]["weight_format"] for r in records]
    if len(set(formats)) == len(formats):
        return [words(f, FORMAT_WORDS) for f in formats]
    names = [r["hardware"]["name"] for r in records]
    if len(set(names)) == len(names):
        return names
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]


def long_name(rec: dict[str, Any]) -> str:
    f = rec["formats"]
    return (
        f"{rec['hardware']['name']} ({words(f['weight_format'], FORMAT_WORDS)} weights, "
        f"{f['act_bits']}-bit activations)"
    )


def energy_text(pj: float) -> str:
    """An energy with a unit that keeps 3-4 significant digits."""
    for scale, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if abs(pj) >= scale:
            return f"{pj / scale:,.3g} {unit}" if pj / scale < 100 else f"{pj / scale:,.0f} {unit}"
    return f"{pj:.3g} pJ"


def bytes_text(n: float) -> str:
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(n) >= scale:
            return f"{n / scale:,.3g} {unit}" if n / scale < 100 else f"{n / scale:,.0f} {unit}"
    return f"{n:,.0f} B"


def seconds_text(s: float) -> str:
    if s >= 1:
        return f"{s:,.3g} s" if s < 100 else f"{s:,.0f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def ratio_text(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 10:
        return f"{x:.2f}x"
    return f"{x:.1f}x" if x < 100 else f"{x:,.0f}x"
