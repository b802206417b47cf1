"""Rough edges of the command line found by trying it as a new user; each test failed before
its fix. Exports (run/report --csv/--parquet) are here too: they share the run fixture."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SMALL_RUN = ("--workload", "bitnet-b1.58-700m", "--prompt-tokens", "16", "--gen-tokens", "1")


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def _small_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "small.yaml"
    spec.write_text(
        "name: small\narchitecture: {hidden: 64, layers: 2, heads: 4, kv_heads: 2, ffn: 96,\n"
        "  ffn_type: relu2_glu, vocab: 128, max_context: 64}\n"
        "quantization: {weight_format: ternary}\n"
        "scenario: {prompt_tokens: 20, gen_tokens: 5}\n"  # not the trace's scenario
    )
    return spec


def test_trace_fixes_the_baselines_scenario_and_conflicts_are_errors(tmp_path: Path) -> None:
    spec = _small_spec(tmp_path)
    trace = tmp_path / "t.json"
    res = _cli("trace", str(spec), "--prompt-tokens", "6", "--gen-tokens", "2", "-o", str(trace))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "rec.json"
    res = _cli(
        "run", "--hw", "ternary-8x8-tiny", "--baseline", "fp16-128x128-7nm",
        "--workload", str(spec), "--trace", str(trace), "--json", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    want = {"phases": ["prefill", "decode"], "prompt_tokens": 6, "gen_tokens": 2, "batch": 1}
    assert doc["run"]["scenario"] == want
    assert doc["baseline"]["scenario"] == want  # was the workload's 20 + 5
    res = _cli(
        "run", "--hw", "ternary-8x8-tiny", "--workload", str(spec), "--trace", str(trace),
        "--prompt-tokens", "7",
    )  # fmt: skip
    assert res.returncode == 2, res.stdout  # was silently ignored
    assert "prompt_tokens: 7 conflicts with the trace" in res.stderr
    assert "Traceback" not in res.stderr


def test_json_is_one_convention(tmp_path: Path) -> None:
    out = tmp_path / "claim.json"
    res = _cli(
        "claim", "--no-sweep", "--prompt-tokens", "16", "--gen-tokens", "1", "--json", str(out)
    )
    assert res.returncode == 0, res.stderr  # was: --json took no value
    assert "paper_ratio" in json.loads(out.read_text())
    res = _cli(
        "run",
        "--hw",
        "ternary-8x8-tiny",
        "--baseline",
        "none",
        *SMALL_RUN,
        "--json",
        "-",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout[res.stdout.index("\n{") + 1 :])  # after the table
    assert doc["run"]["hardware"]["name"] == "ternary-8x8-tiny"
    assert not (tmp_path / "-").exists()  # was written to a file named '-'
    bare = _cli("gemm", "--hw", "ternary-8x8-tiny", "--m", "4", "--n", "4", "--k", "4", "--json")
    assert bare.returncode == 0 and json.loads(bare.stdout)["m"] == 4  # the old flag still prints


def test_default_design_by_path_keeps_its_baseline() -> None:
    res = _cli("run", "--hw", str(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml"), *SMALL_RUN)
    assert res.returncode == 0, res.stderr
    assert "fp16-128x128-7nm" in res.stdout  # was dropped when the design came by path


def test_no_decode_rate_without_decode_tokens() -> None:
    res = _cli("run", "--hw", "ternary-8x8-tiny", "--baseline", "none", "--workload",
               "bitnet-b1.58-700m", "--prompt-tokens", "8", "--gen-tokens", "0")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "decode tokens/s" not in res.stdout and "time to first token" in res.stdout


def test_gemm_prints_time_and_energy() -> None:
    args = ("gemm", "--hw", "ternary-8x8-tiny", "--m", "16", "--n", "16", "--k", "16")
    res = _cli(*args)
    assert res.returncode == 0, res.stderr
    cycles = json.loads(_cli(*args, "--json").stdout)["total_cycles"]
    assert f"{cycles / 1e3:,.3f} us at 1 GHz" in res.stdout  # the tiny design runs at 1 GHz
    assert "energy (total)" in res.stdout and "energy: DRAM" in res.stdout


def test_status_page_speaks_for_itself() -> None:
    text = (ROOT / "docs" / "status.md").read_text()
    assert "issue notes" not in text and "see the issue" not in text


# --- exports ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export")
    res = _cli(
        "run", "--hw", "ternary-8x8-tiny", "--baseline", "fp16-128x128-7nm", *SMALL_RUN,
        "--json", str(d / "rec.json"), "--csv", str(d / "csv"), "--parquet", str(d / "pq"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return d


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_exports_runs_and_ops(exported: Path) -> None:
    doc = json.loads((exported / "rec.json").read_text())
    runs = _rows(exported / "csv" / "runs.csv")
    assert [r["role"] for r in runs] == ["design", "baseline"]
    assert int(runs[0]["total_cycles"]) == doc["run"]["total_cycles"]
    assert float(runs[1]["energy_total_pj"]) == doc["baseline"]["energy_pj"]["total"]
    ops = _rows(exported / "csv" / "ops.csv")
    assert (
        sum(int(r["dram_read_weights_bytes"]) for r in ops)
        == (doc["run"]["dram_read_bytes_by_kind"]["weights"])
    )
    unitless = [c for c in ops[0] if c.endswith(("cycles", "bytes", "pj")) is False]
    assert set(unitless) <= {
        "op_index", "op", "kind", "layer", "phase", "step", "unit", "mapping", "m", "n", "k",
        "count", "macs", "weight_format", "tiles", "pe_add", "pe_sub", "pe_skip", "pe_mul",
        "vector_ops", "vector_macs", "start_cycle", "end_cycle",
    }  # fmt: skip
    import pyarrow.parquet as pq

    table = pq.read_table(exported / "pq" / "ops.parquet")
    assert table.num_rows == len(ops)
    assert table.column("energy_dynamic_pj").to_pylist() == [
        float(r["energy_dynamic_pj"]) for r in ops
    ]
    assert (exported / "csv" / "baseline_ops.csv").exists()


def test_report_exports_a_stored_record_by_rerunning_it(exported: Path, tmp_path: Path) -> None:
    res = _cli("report", str(exported / "rec.json"), "--csv", str(tmp_path / "again"))
    assert res.returncode == 0, res.stderr
    for name in ("runs.csv", "ops.csv", "baseline_ops.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (exported / "csv" / name).read_bytes()
    doc = json.loads((exported / "rec.json").read_text())
    doc["run"]["total_cycles"] += 1  # a record the current model does not reproduce
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc))
    res = _cli("report", str(odd), "--csv", str(tmp_path / "odd"))
    assert res.returncode == 0, res.stderr
    assert "does not reproduce" in res.stderr
    assert (tmp_path / "odd" / "runs.csv").exists() and not (tmp_path / "odd" / "ops.csv").exists()
    assert (tmp_path / "odd" / "baseline_ops.csv").exists()
    res = _cli("report", str(odd))
    assert res.returncode == 2 and "nothing to write" in res.stderr


def test_export_to_an_unwritable_place_is_a_clean_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    res = _cli(
        "run", "--hw", "ternary-8x8-tiny", "--baseline", "none", *SMALL_RUN, "--csv", str(blocker)
    )
    assert res.returncode == 2 and "cannot create the folder" in res.stderr
    assert "Traceback" not in res.stderr and blocker.read_text() == "keep me"
