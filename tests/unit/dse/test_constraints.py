"""The constraint and objective language of sweep files, against Python's own evaluation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.sweep import Goal, parse_condition, parse_objective
from tersim.dse.metrics import point_metrics, record_rows


@settings(max_examples=200)
@given(
    st.integers(-5, 5),
    st.integers(-5, 5),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    st.sampled_from(["+", "-", "*"]),
    st.sampled_from(["and", "or"]),
)
def test_conditions_evaluate_like_python(
    a: int, b: int, c: float, cmp: str, op: str, join: str
) -> None:
    text = f"array.rows {op} array.cols {cmp} 2 {join} not energy_pj.total > {c!r}"
    cond = parse_condition(text)
    assert set(cond.names) == {"array.rows", "array.cols", "energy_pj.total"}
    values = {"array.rows": a, "array.cols": b, "energy_pj.total": c / 2}
    python = (
        text.replace("array.rows", "A").replace("array.cols", "B").replace("energy_pj.total", "E")
    )
    want = eval(python, {}, {"A": a, "B": b, "E": c / 2})
    assert cond.holds(values) == bool(want)


def test_chained_comparison_and_functions() -> None:
    cond = parse_condition("16 <= min(array.rows, array.cols) < max(64, abs(-65))")
    assert cond.holds({"array.rows": 16, "array.cols": 32})
    assert not cond.holds({"array.rows": 8, "array.cols": 32})
    assert not parse_condition("seconds / x > 1").holds({"seconds": 1.0, "x": 0})  # 1/0: false


@pytest.mark.parametrize(
    "text",
    [
        "import os",
        "__import__('os')",
        "array.rows.__class__()",
        "[1, 2]",
        "lambda: 1",
        "open('f')",
        "array.rows if 1 else 2",
        "x[0]",
        "1e999 > seconds",
        "rows ===",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_condition(text)


def test_objectives_parse() -> None:
    assert parse_objective("latency").metric == "seconds"
    assert parse_objective("tokens_per_s").goal is Goal.MAX
    o = parse_objective("max decode.tokens_per_s")
    assert (o.metric, o.goal) == ("decode.tokens_per_s", Goal.MAX)
    for bad in ("fastest", "min", "up seconds", "min a..b"):
        with pytest.raises(ValueError):
            parse_objective(bad)


def test_metrics_flatten_every_number_and_derive_by_hand() -> None:
    record = {
        "hardware": {"array": {"rows": 8}},  # inputs are not metrics
        "seconds": 2.0,
        "total_cycles": 2000,
        "energy_pj": {"total": 4e12, "dram": 1e12, "by_layer": {"layer_0": 5.0}},
        "dram_read_bytes": 300,
        "dram_write_bytes": 20,
        "area_mm2": 41.5,  # a field the record gains later is a metric at once
        "flag": True,  # booleans are not metrics
        "phases": {
            "prefill": {"cycles": 1500, "seconds": 1.5, "tokens": 8, "tokens_per_s": 8 / 1.5},
            "decode": {"cycles": 500, "seconds": 0.5, "tokens": 2, "tokens_per_s": 4.0},
        },
        "layer_cycles": {"decode": {"layer_0": 250}},
    }
    rows = record_rows(record)
    assert rows["all"]["energy_pj.by_layer.layer_0"] == 5.0
    assert rows["all"]["area_mm2"] == 41.5 and "flag" not in rows["all"]
    assert "hardware.array.rows" not in rows["all"]
    assert rows["all"]["dram_bytes"] == 320
    assert rows["all"]["edp_pj_s"] == 8e12
    assert rows["all"]["power_w"] == 2.0  # 4 J over 2 s
    assert rows["all"]["tokens_per_s_per_w"] == 10 / 4.0  # 10 tokens per 4 J
    assert rows["decode"] == {
        "cycles": 500,
        "seconds": 0.5,
        "tokens": 2,
        "tokens_per_s": 4.0,
        "layer_cycles.layer_0": 250,
    }
    flat = point_metrics(rows)
    assert flat["decode.tokens_per_s"] == 4.0 and flat["prefill.seconds"] == 1.5
