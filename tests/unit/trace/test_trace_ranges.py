"""A saved trace is input: every number in it is range-checked when it is read (issue 16).

Each case edits one value of a valid trace file; reading it must be a WorkloadError naming the
file, the op and the field (not a crash later in the mapping or a run that never ends), and
``tersim run --trace`` prints it on one line with exit code 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_workload
from tersim.config.enums import PEKind
from tersim.errors import WorkloadError
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import load_workload_trace, save_workload, trace_shapes

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def trace_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    wl = trace_shapes(
        spec, resolve_formats(spec, PEKind.TERNARY_ADD), prompt_tokens=4, gen_tokens=1
    )
    path = tmp_path_factory.mktemp("t") / "t.json"
    save_workload(wl, path)
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _matmul_row(doc: dict[str, Any]) -> int:
    kind = doc["op_columns"].index("kind")
    return next(i for i, row in enumerate(doc["ops"]) if row[kind] == "linear")


def _edit_op(doc: dict[str, Any], column: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    out["ops"][_matmul_row(doc)][doc["op_columns"].index(column)] = value
    return out


CASES = [
    ("m", 0, "m: out of range"),
    ("n", -5, "n: out of range"),
    ("k", 2**40, "k: out of range"),
    ("count", 2**30, "count: out of range"),
    ("m", 1.5, "m: not an integer"),
    ("m", True, "m: not an integer"),
    ("act_bits", 0, "act_bits: out of range"),
    ("weight_bits", 1e300, "weight_bits: out of range"),
    ("vector_ops", -1, "vector_ops: out of range"),
    ("step", -1, "step: out of range"),
]


@pytest.mark.parametrize(("column", "value", "message"), CASES)
def test_an_op_value_out_of_range_is_named(
    tmp_path: Path, trace_doc: dict[str, Any], column: str, value: Any, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_edit_op(trace_doc, column, value)))
    with pytest.raises(WorkloadError) as err:
        load_workload_trace(path)
    text = str(err.value)
    assert str(path) in text and f"op {_matmul_row(trace_doc)} (" in text and message in text
    assert "\n" not in text


def _rejects(path: Path, doc: dict[str, Any], message: str) -> None:
    path.write_text(json.dumps(doc))
    with pytest.raises(WorkloadError, match=message):
        load_workload_trace(path)


def test_huge_products_and_tensor_fields_are_named(
    tmp_path: Path, trace_doc: dict[str, Any]
) -> None:
    path = tmp_path / "bad.json"
    i = _matmul_row(trace_doc)
    big = json.loads(json.dumps(trace_doc))
    cols = big["op_columns"]
    for c in ("m", "n", "k"):
        big["ops"][i][cols.index(c)] = 2**31
    _rejects(path, big, "multiply-accumulates")
    for edit, message in (
        (lambda t: t.__setitem__(2, [0, 4]), "shape: out of range"),
        (lambda t: t.__setitem__(3, -8), "bits: out of range"),
        (lambda t: t.__setitem__(4, 10**6), "producer: out of range"),
    ):
        bad = json.loads(json.dumps(trace_doc))
        edit(bad["ops"][i][cols.index("inputs")][0])
        _rejects(path, bad, message)


def test_measured_fractions_and_scenario_are_checked(
    tmp_path: Path, trace_doc: dict[str, Any]
) -> None:
    path = tmp_path / "bad.json"
    i = _matmul_row(trace_doc)
    bad = json.loads(json.dumps(trace_doc))
    bad["ops"][i][bad["op_columns"].index("measured")] = [1.5, 0.0, 1, 1, 1]
    _rejects(path, bad, r"measured\.weight_zero_fraction: not a fraction")
    for field, value in (("batch", 2**40), ("gen_tokens", -1), ("prompt_tokens", 0)):
        bad = json.loads(json.dumps(trace_doc))
        bad[field] = value
        _rejects(path, bad, f"{field}: out of range")


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path, trace_doc: dict[str, Any]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_edit_op(trace_doc, "m", 0)))
    out = subprocess.run(
        [sys.executable, "-m", "tersim", "run", "--hw", "ternary-8x8-tiny", "--trace", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "m: out of range" in lines[0]


def test_a_valid_trace_still_loads(tmp_path: Path, trace_doc: dict[str, Any]) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(trace_doc))
    assert len(load_workload_trace(path).ops) == len(trace_doc["ops"])
