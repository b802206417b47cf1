"""The comparison rows `tersim run` prints and the report shows (tersim.run.compare)."""

from __future__ import annotations

from typing import Any

import pytest

from tersim.run.compare import Better, ComparisonRow, Quantity, comparison_rows, format_value


def _record(
    seconds: float, energy_pj: float, tokens_per_s: float, units: dict[str, int]
) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "total_cycles": 1000,
        "scenario": {"batch": 1},
        "phases": {
            "prefill": {"seconds": seconds / 2, "tokens": 8},
            "decode": {"seconds": seconds / 2, "tokens": 4, "tokens_per_s": tokens_per_s},
        },
        "dram_read_bytes": 2e9,
        "dram_write_bytes": 1e9,
        "utilization": 0.5,
        "busy_cycles": {**units, "dram": 10},
        "energy_pj": {"total": energy_pj, "mul": 0.0},
        "area_mm2": {
            "total": 10.0,
            "pe_array": 1.0,
            "sram": {"input": 1.0, "weight": 2.0},
            "dram_phy": 3.0,
            "dram_controller": 4.0,
        },
    }


def _row(rows: list[ComparisonRow], label: str) -> ComparisonRow:
    return next(r for r in rows if r.label == label)


def test_advantage_above_one_means_the_first_record_is_better() -> None:
    design = _record(1.0, 2e9, 40.0, {"array": 500, "vector": 100})
    base = _record(3.0, 8e9, 10.0, {"array": 900, "vector": 5, "attn": 7})
    rows = comparison_rows([design, base])
    assert _row(rows, "latency").advantage() == pytest.approx(3.0)  # 3 s / 1 s, lower better
    assert _row(rows, "energy: total").advantage() == pytest.approx(4.0)
    assert _row(rows, "decode tokens/s (per sequence)").advantage() == pytest.approx(4.0)  # 40/10
    # a unit only the second design has: a value for it alone, no advantage
    attn = _row(rows, "busy: attn")
    assert attn.values == (None, 0.007) and attn.advantage() is None
    assert _row(rows, "busy: array").values == (0.5, 0.9)
    assert _row(rows, "busy: array").better is Better.NEITHER
    # a zero side has no ratio
    assert _row(rows, "energy: matmul multiplies").advantage() is None
    assert _row(rows, "area: SRAM").values == (3.0, 3.0)
    assert _row(rows, "area: DRAM PHY + controller").values == (7.0, 7.0)


def test_rows_follow_the_first_records_phases() -> None:
    rec = _record(1.0, 1.0, 5.0, {"array": 1})
    rec["phases"]["decode"]["tokens"] = 0
    del rec["phases"]["prefill"]
    labels = [r.label for r in comparison_rows([rec])]
    assert "time to first token" not in labels
    assert not any(label.startswith("decode tokens") for label in labels)  # no rate without tokens
    rec["scenario"]["batch"] = 4
    rec["phases"]["decode"]["tokens"] = 8
    labels = [r.label for r in comparison_rows([rec])]
    assert "decode tokens/s (summed over the batch of 4)" in labels


@pytest.mark.parametrize(
    ("value", "quantity", "text"),
    [
        (0.1234567, Quantity.SECONDS, "123.457 ms"),
        (4.0734, Quantity.SECONDS, "4.073 s"),
        (159.48e9, Quantity.BYTES, "159.5 GB"),
        (1.8914e9, Quantity.BYTES, "1.891 GB"),
        (0.0309, Quantity.FRACTION, "3.09 %"),
        (8018.68e9, Quantity.ENERGY_PJ, "8,018.68 mJ"),
        (12345.6, Quantity.RATE, "12,346"),
        (None, Quantity.RATE, "-"),
    ],
)
def test_format(value: float | None, quantity: Quantity, text: str) -> None:
    assert format_value(value, quantity) == text
