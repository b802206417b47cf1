"""Run records side by side: the rows ``tersim run`` prints and the report shows.

One function builds them (:func:`comparison_rows`) from JSON run records (``RunRecord.to_json``,
or the ``run`` / ``baseline`` entries of ``tersim run --json``), so the terminal and the report
cannot disagree. Every row has a label in words, one value per record (``None`` where a record
has no such value, e.g. a unit the other design lacks), its unit, and which way is better.

Advantage (:meth:`ComparisonRow.advantage`): of the first record over the second, oriented so
that above 1 always means the first is better: ``second / first`` where lower is better,
``first / second`` where higher is better, none for rows that are neither (how busy a unit
is) or where a side is zero or missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"
    NEITHER = "neither"


class Quantity(StrEnum):
    """What a row's values are, in the unit they are stored in."""

    SECONDS = "s"
    BYTES = "B"
    FRACTION = "fraction"  # shown as a percentage
    AREA_MM2 = "mm2"
    WATTS = "W"
    ENERGY_PJ = "pJ"  # shown in mJ
    RATE = "rate"  # tokens/s, tokens/J, TOPS/W: a plain number


@dataclass(frozen=True)
class ComparisonRow:
    label: str
    values: tuple[float | None, ...]  # one per record, in the order given
    quantity: Quantity
    better: Better

    def advantage(self) -> float | None:
        """The first record's advantage over the second (module rule), or None."""
        if len(self.values) < 2 or self.better is Better.NEITHER:
            return None
        a, b = self.values[0], self.values[1]
        if a is None or b is None or not a or not b:
            return None
        return b / a if self.better is Better.LOWER else a / b


def _sig(x: float, digits: int = 4) -> str:
    """``x`` with about ``digits`` significant digits and thousands separators."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def format_value(value: float | None, quantity: Quantity) -> str:
    """A row's value as the terminal and the report show it."""
    if value is None:
        return "-"
    if quantity is Quantity.SECONDS:
        return f"{value * 1e3:.3f} ms" if value < 1 else f"{value:.3f} s"
    if quantity is Quantity.BYTES:
        return f"{_sig(value / 1e9)} GB"
    if quantity is Quantity.FRACTION:
        return f"{value * 100:.2f} %"
    if quantity is Quantity.AREA_MM2:
        return f"{_sig(value)} mm2"
    if quantity is Quantity.WATTS:
        return f"{_sig(value)} W"
    if quantity is Quantity.ENERGY_PJ:
        return f"{value / 1e9:,.2f} mJ"
    return _sig(value)


ENERGY_PARTS = (
    ("matmul multiplies", "mul"),
    ("matmul adds", "add"),
    ("matmul lookups", "lookup"),
    ("SRAM", "sram"),
    ("DRAM", "dram"),
    ("vector units", "vector"),
    ("leakage", "leakage"),
    ("total", "total"),
)


def _get(doc: Mapping[str, Any], *path: str) -> float | None:
    node: Any = doc
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def comparison_rows(records: Sequence[Mapping[str, Any]]) -> list[ComparisonRow]:
    """The comparison of ``records`` (JSON run records), first record first (module rules).

    Phase rows appear when the first record has that phase (decode rates only with decode
    tokens); a unit's busy row for every unit of any record.
    """
    rows: list[ComparisonRow] = []

    def add(label: str, quantity: Quantity, better: Better, *path: str) -> None:
        rows.append(ComparisonRow(label, tuple(_get(r, *path) for r in records), quantity, better))

    first = records[0]
    phases = first.get("phases", {})
    batch = first.get("scenario", {}).get("batch", 1)
    per = "per sequence" if batch == 1 else f"summed over the batch of {batch}"
    decoding = "decode" in phases and phases["decode"].get("tokens", 0) > 0
    add("latency", Quantity.SECONDS, Better.LOWER, "seconds")
    if "prefill" in phases:
        add("time to first token", Quantity.SECONDS, Better.LOWER, "phases", "prefill", "seconds")
    if decoding:
        add(
            f"decode tokens/s ({per})",
            Quantity.RATE,
            Better.HIGHER,
            "phases",
            "decode",
            "tokens_per_s",
        )
    add("DRAM read", Quantity.BYTES, Better.LOWER, "dram_read_bytes")
    add("DRAM write", Quantity.BYTES, Better.LOWER, "dram_write_bytes")
    add("array utilization", Quantity.FRACTION, Better.HIGHER, "utilization")
    units = sorted({u for r in records for u in r.get("busy_cycles", {}) if u != "dram"})
    for unit in units:
        total = [r.get("total_cycles") or 0 for r in records]
        busy = [r.get("busy_cycles", {}).get(unit) for r in records]
        rows.append(
            ComparisonRow(
                f"busy: {unit}",
                tuple(
                    None if b is None or not t else b / t for b, t in zip(busy, total, strict=True)
                ),
                Quantity.FRACTION,
                Better.NEITHER,
            )
        )
    add("area (chip)", Quantity.AREA_MM2, Better.LOWER, "area_mm2", "total")
    add("area: PE arrays", Quantity.AREA_MM2, Better.LOWER, "area_mm2", "pe_array")
    rows.append(
        ComparisonRow(
            "area: SRAM",
            tuple(_sram_mm2(r) for r in records),
            Quantity.AREA_MM2,
            Better.LOWER,
        )
    )
    rows.append(
        ComparisonRow(
            "area: DRAM PHY + controller",
            tuple(
                _sum(_get(r, "area_mm2", "dram_phy"), _get(r, "area_mm2", "dram_controller"))
                for r in records
            ),
            Quantity.AREA_MM2,
            Better.LOWER,
        )
    )
    add("power (average)", Quantity.WATTS, Better.LOWER, "power_w")
    add("peak power", Quantity.WATTS, Better.LOWER, "peak_power_w", "total")
    for ph in ("prefill", "decode"):
        if ph in phases and phases[ph].get("tokens", 0) > 0:
            add(
                f"{ph} tokens/s/mm2",
                Quantity.RATE,
                Better.HIGHER,
                "phases",
                ph,
                "tokens_per_s_per_mm2",
            )
            add(f"{ph} tokens/J", Quantity.RATE, Better.HIGHER, "phases", ph, "tokens_per_j")
    add("TOPS/W", Quantity.RATE, Better.HIGHER, "tops_per_w")
    for label, key in ENERGY_PARTS:
        add(f"energy: {label}", Quantity.ENERGY_PJ, Better.LOWER, "energy_pj", key)
    return rows


def _sum(*parts: float | None) -> float | None:
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _sram_mm2(doc: Mapping[str, Any]) -> float | None:
    sram = doc.get("area_mm2", {}).get("sram") if isinstance(doc.get("area_mm2"), Mapping) else None
    if not isinstance(sram, Mapping):
        return None
    return float(sum(v for v in sram.values() if isinstance(v, int | float)))
