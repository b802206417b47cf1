"""`tersim gemm`: JSON fields, ideal memory, and SCALE-Sim's counts through the whole path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tersim.config import CompatMode, Dataflow, load_hardware
from tersim.run.single_gemm import run_gemm

ROOT = Path(__file__).resolve().parents[3]
RECORDS = json.loads((ROOT / "tests" / "data" / "scalesim" / "results.json").read_text())["records"]
TINY = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, timeout=120
    )


def test_gemm_json_fields_and_ideal_memory() -> None:
    res = _cli(
        "gemm",
        "--hw",
        "ternary-8x8-tiny",
        "--m",
        "20",
        "--n",
        "9",
        "--k",
        "13",
        "--ideal-memory",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    for key in (
        "total_cycles",
        "compute_cycles",
        "stall_cycles",
        "folds",
        "utilization",
        "sram_reads_bytes",
        "sram_writes_bytes",
        "dram_read_bytes",
        "dram_write_bytes",
        "pe_ops",
    ):
        assert key in doc
    assert set(doc["sram_reads_bytes"]) == {"input", "weight", "output"}
    from tersim.hw.counts import PE_ACTIONS

    assert set(doc["pe_ops"]) == set(PE_ACTIONS)
    assert doc["total_cycles"] == doc["compute_cycles"]
    assert doc["stall_cycles"] == 0
    assert sum(doc["pe_ops"].values()) == 20 * 9 * 13


def test_gemm_bad_input_exits_2_naming_the_parameter() -> None:
    res = _cli("gemm", "--hw", "ternary-8x8-tiny", "--m", "0", "--n", "4", "--k", "4")
    assert res.returncode == 2
    assert "'--m'" in res.stderr and "Traceback" not in res.stderr
    res = _cli(
        "gemm", "--hw", "ternary-8x8-tiny", "--m", "4", "--n", "4", "--k", "4", "--dataflow", "xs"
    )
    assert res.returncode == 2 and "dataflow" in res.stderr


@pytest.mark.parametrize(
    "rec",
    RECORDS[::4],
    ids=lambda r: f"{r['dataflow']}-{r['array_rows']}x{r['array_cols']}-{r['M']}x{r['N']}x{r['K']}",
)
def test_gemm_with_scalesim_compat_reproduces_scalesim(rec: dict[str, int | str]) -> None:
    hw = TINY.model_copy(
        update={
            "array": TINY.array.model_copy(
                update={"rows": rec["array_rows"], "cols": rec["array_cols"]}
            )
        }
    )
    res = run_gemm(
        hw,
        int(rec["M"]),
        int(rec["N"]),
        int(rec["K"]),
        Dataflow(str(rec["dataflow"])),
        CompatMode.SCALESIM,
        ideal_memory=True,
    )
    doc = res.to_json()
    assert doc["compute_cycles"] == rec["total_cycles"]
    assert doc["total_cycles"] == rec["total_cycles"]
    assert doc["sram_reads_words"]["input"] == rec["sram_ifmap_reads"]
    assert doc["sram_reads_words"]["weight"] == rec["sram_filter_reads"]
