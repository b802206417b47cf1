"""Parts of a breakdown dataclass, and their total, against hand-written values."""

from __future__ import annotations

from dataclasses import dataclass

from tersim.breakdown import parts, total
from tersim.cost.power import PeakPower
from tersim.workload.footprint import Footprint, StorageFormat


@dataclass(frozen=True)
class _B:
    b_w: float
    name: str
    a_w: float
    c_mw: float


def test_parts_in_declaration_order_with_and_without_suffix() -> None:
    x = _B(0.1, "n", 0.2, 7.0)
    assert list(parts(x, "_w").items()) == [("b", 0.1), ("a", 0.2)]
    assert list(parts(x, "_w", keep_suffix=True)) == ["b_w", "a_w"]
    assert parts(x, "_mw") == {"c": 7.0}
    # left to right, as 0.1 + 0.2 (0.30000000000000004, not 0.3)
    assert total(x, "_w") == 0.1 + 0.2 and total(x, "_w") != 0.3


def test_records_keep_their_keys_and_sums() -> None:
    p = PeakPower(1.0, 2.0, 4.0, 8.0, 16.5)
    assert p.to_json() == {
        "pe_array": 1.0,
        "vector_unit": 2.0,
        "sram": 4.0,
        "dram": 8.0,
        "leakage": 16.5,
        "total": 31.5,
    }
    f = Footprint(StorageFormat.FP16, 10, 20, 3, 4)
    assert list(f.to_json()) == [
        "format",
        "weights_bytes",
        "embedding_bytes",
        "norm_bytes",
        "kv_cache_bytes",
        "total_bytes",
    ]
    assert f.total_bytes == 37
