"""HTML run reports: content, both ways of making one, N records side by side, size, and
rendering in a real headless browser (every figure drawn, no console error, a screenshot kept)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tersim
from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import price_list
from tersim.errors import TersimError
from tersim.report import figures
from tersim.report.data import TimelineChoice
from tersim.report.html import comparison_details, render_comparison_report, render_run_report

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = ROOT / "reports" / "test-artefacts"  # reports/ is git-ignored
SMALL = ["--workload", "bitnet-b1.58-700m", "--prompt-tokens", "32", "--gen-tokens", "2"]
MAX_BYTES = 10 * 1024 * 1024


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small run's record and its report written by ``tersim run --report``."""
    d = tmp_path_factory.mktemp("rec")
    res = _cli("run", *SMALL, "--json", str(d / "rec.json"), "--report", str(d / "run.html"))
    assert res.returncode == 0, res.stderr
    return {"json": d / "rec.json", "html": d / "run.html", "dir": d}


@pytest.fixture(scope="module")
def run_doc(made: dict[str, Path]) -> dict[str, Any]:
    return json.loads(made["json"].read_text())


@pytest.fixture(scope="module")
def page(run_doc: dict[str, Any]) -> str:
    return render_run_report(run_doc)


def test_report_from_the_record_equals_the_one_from_the_run(made: dict[str, Path]) -> None:
    """`tersim report REC` re-simulates the record's inputs for the per-op figures: the page is
    byte for byte the one `tersim run --report` wrote from the runs in memory."""
    out = made["dir"] / "again.html"
    res = _cli("report", str(made["json"]), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_text() == made["html"].read_text()


def test_report_has_every_part_and_the_numbers(run_doc: dict[str, Any], page: str) -> None:
    text = page
    n_figs = len(re.findall(r'<div id="fig\d+"', text))
    # energy by component, by op kind, waterfall, roofline, 2 layer timelines x 2 designs,
    # the whole run's busy shares, DRAM
    assert n_figs == 10
    assert text.count("plotly.js v") == 1  # inlined once: the file opens offline
    assert "<script src=" not in text  # nothing to fetch
    d, b = run_doc["run"], run_doc["baseline"]
    e = b["energy_pj"]["total"] / d["energy_pj"]["total"]
    assert f"FP16 / ternary energy: {e:.2f}x" in text  # the headline's ratio, and its direction
    assert f"FP16 / ternary: {e:.2f}x" in text  # the summary table's
    for heading in ("Energy by component", "The claim, step by step", "Roofline", "Timeline of "
                    "layer 0 of prefill", "DRAM traffic by operand", "decode tokens/s (per "
                    "sequence)", "How busy each unit is over the whole run"):  # fmt: skip
        assert heading in text
    # the inputs are embedded as YAML
    assert "ternary-128x128-7nm: hardware" not in text  # named by format, not key
    assert "ternary: hardware (ternary-128x128-7nm)" in text
    assert "pe_kind: ternary_add" in text and "hidden: 1536" in text
    assert render_run_report(run_doc) == text  # deterministic (figures' data sorted)


def test_op_table_sums_to_the_phase_energy(run_doc: dict[str, Any], page: str) -> None:
    """The per-op table's rows (one per design, phase and op) carry each op's dynamic energy;
    per design and phase they add up to the record's phase energy minus its leakage."""
    text = page
    table = text[text.index('<table class="sortable"') :]
    table = table[: table.index("</table>")]
    sums: dict[tuple[str, str], float] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        vals = re.findall(r'data-v="([^"]*)"', row)
        sums[(vals[0], vals[1])] = sums.get((vals[0], vals[1]), 0.0) + float(vals[11])
    for name, rec in (("ternary", run_doc["run"]), ("FP16", run_doc["baseline"])):
        leak_mw = sum(
            price_list(HardwareConfig.model_validate(rec["hardware"])).leakage_mw.values()
        )
        for ph, p in rec["phases"].items():
            dynamic = p["energy_pj"] - leak_mw * p["seconds"] * 1e9
            assert sums[(name, ph)] == pytest.approx(dynamic, rel=1e-9)


def test_a_record_that_does_not_reproduce_keeps_its_summary(run_doc: dict[str, Any]) -> None:
    odd = json.loads(json.dumps(run_doc))
    odd["run"]["total_cycles"] += 1  # no longer what its inputs simulate to
    text = render_run_report(odd)
    assert "does not reproduce" in text
    assert "<h2>Summary</h2>" in text and "Energy: ternary wins" in text


def test_report_rejects_something_else() -> None:
    with pytest.raises(TersimError, match="not a tersim run record"):
        render_run_report({"hello": 1})


def test_comparison_of_three_records(made: dict[str, Path], tmp_path: Path) -> None:
    a = made["json"]
    b, c = tmp_path / "longer.json", tmp_path / "fp16.json"
    for path, extra in (
        (b, ["--gen-tokens", "4", "--baseline", "none"]),
        (c, ["--hw", "fp16-128x128-7nm", "--baseline", "none"]),
    ):
        res = _cli("run", *SMALL, *extra, "--json", str(path))
        assert res.returncode == 0, res.stderr
    out = tmp_path / "cmp.html"
    res = _cli("report", str(a), str(b), str(c), "-o", str(out))
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert text.count("plotly.js v") == 1
    assert "3 runs side by side" in text
    docs = [json.loads(p.read_text())["run"] for p in (a, b, c)]
    # the FP16 run against the first: its energy is higher, the ratio says which way
    e = docs[2]["energy_pj"]["total"] / docs[0]["energy_pj"]["total"]
    assert f"fp16 / rec: {e:.2f}x" in text
    # energy, latency, tokens/s, DRAM read; then per op: energy by op kind, DRAM by operand
    assert len(re.findall(r'<div id="fig\d+"', text)) == 6
    assert "<h2>Per op</h2>" in text and "Left out" not in text
    # what the per-op figures draw adds up, per record, to the record's own book-keeping
    names = ["rec", "longer", "fp16"]
    details, kept, left = comparison_details(docs, names)
    assert kept == names and not left
    for det, rec in zip(details, docs, strict=True):
        kinds: dict[str, float] = {}
        reads: dict[str, int] = {}
        for p in det.phases:
            for k, v in p.by_op_kind_pj.items():
                kinds[k] = kinds.get(k, 0.0) + v
            for k, b in p.dram_read_by_operand_bytes.items():
                reads[k] = reads.get(k, 0) + b
        assert kinds == pytest.approx(rec["energy_pj"]["by_op_kind"], rel=1e-12)
        assert {k: v for k, v in reads.items() if v} == {
            k: v for k, v in rec["dram_read_bytes_by_kind"].items() if v
        }
    fig = figures.energy_by_op_kind(details, kept)
    assert {tr.name for tr in fig.data} == set(names)
    # a record that does not reproduce is left out of the per-op figures, and named
    odd = json.loads(json.dumps(docs[1]))
    odd["total_cycles"] += 1
    details, kept, left = comparison_details([docs[0], odd], ["rec", "odd"])
    assert kept == ["rec"] and len(left) == 1 and left[0].startswith("odd: ")
    page = render_comparison_report([{"run": docs[0]}, {"run": odd}], ["rec", "odd"])
    assert "Left out (they do not reproduce): odd" in page
    assert len(re.findall(r'<div id="fig\d+"', page)) == 6
    # bad input: tables take one record; a non-record is named
    res = _cli("report", str(a), str(b), "--csv", str(tmp_path / "t"))
    assert res.returncode == 2 and "one comparison page" in res.stderr
    (tmp_path / "x.json").write_text("[1]")
    res = _cli("report", str(a), str(tmp_path / "x.json"), "-o", str(tmp_path / "y.html"))
    assert res.returncode == 2 and "x.json" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "y.html").exists()


def test_comparison_rejects_a_non_record() -> None:
    with pytest.raises(TersimError, match=r"b\.json: not a tersim run record"):
        render_comparison_report([{"run": {}}, {"x": 1}], ["a.json", "b.json"])


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["bitnet-b1.58-3b", "llama2-7b"])
def test_report_stays_under_10_mb(workload: str) -> None:
    """The default run (BitNet 3B, 512-token prompt, 128 generated) and a 7B run."""
    res = tersim.run(hw="ternary-128x128-7nm", baseline="fp16-128x128-7nm", workload=workload)
    assert res.baseline is not None
    text = render_run_report(res.to_dict(), (res.record, res.baseline))
    assert len(text.encode()) < MAX_BYTES
    assert text.count("plotly.js v") == 1


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browse(
    browser: str, page: Path, profile: Path, *mode: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )


def _console_errors(stderr: str) -> list[str]:
    """Chromium's log lines for page console messages and uncaught errors."""
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]


def test_report_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("chromium is not installed on this machine")
    # the checker sees a console error (a test that the test can fail)
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); undefinedName();</script>")
    assert _console_errors(_browse(browser, bad, tmp_path / "p0", "--dump-dom").stderr)

    text = page
    html_file = tmp_path / "report.html"
    html_file.write_text(text)
    res = _browse(browser, html_file, tmp_path / "p1", "--dump-dom")
    dom = res.stdout
    n_figs = len(re.findall(r'<div id="fig\d+"', text))
    # plotly draws each figure into its div once its script has run: count the drawn ones
    drawn = re.findall(r'<div id="fig\d+" class="plotly-graph-div js-plotly-plot"', dom)
    assert len(drawn) == n_figs, res.stderr[-2000:]
    assert dom.count('class="main-svg"') >= 2 * n_figs  # a plot's svg and its hover layer
    assert "Energy by component" in dom and "Timeline of layer 0" in dom
    # every timeline draws its DRAM lane (a lane label and its legend entry)
    n_timelines = text.count("Timeline of layer")
    assert n_timelines == 4 and dom.count("DRAM busy ") >= n_timelines
    assert not _console_errors(res.stderr), _console_errors(res.stderr)
    shot = tmp_path / "report.png"
    res = _browse(
        browser, html_file, tmp_path / "p2", "--window-size=1300,7600", f"--screenshot={shot}"
    )
    assert shot.exists() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "run-report.png")


PER_CHANNEL = ROOT / "tests" / "data" / "designs" / "ternary-128x128-7nm-per-channel.yaml"


@pytest.fixture(scope="module")
def per_channel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``tersim run --report`` on the default design with its 8 DRAM channels modelled one by
    one (dram.model: per_channel)."""
    d = tmp_path_factory.mktemp("ch")
    res = _cli(
        "run", "--hw", str(PER_CHANNEL), *SMALL, "--baseline", "none",
        "--json", str(d / "rec.json"), "--report", str(d / "run.html"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {"json": d / "rec.json", "html": d / "run.html", "dir": d}


def test_per_channel_record_has_a_lane_per_channel(per_channel: dict[str, Path]) -> None:
    """The record keeps the DRAM lane and adds dram.ch0 ... dram.ch7 (after it, in channel
    order), each a lane like the units' (busy cycles = its histogram's sum, at most the run);
    the channels' busy cycles cover the DRAM's, none exceeds it."""
    rec = json.loads(per_channel["json"].read_text())["run"]
    names = list(rec["timeline"])
    chans = [f"dram.ch{c}" for c in range(8)]
    assert names[names.index("dram") + 1 : names.index("dram") + 9] == chans
    busy = [rec["timeline"][c]["busy_cycles"] for c in chans]
    for c in chans:
        assert rec["timeline"][c]["busy_cycles"] == sum(rec["timeline"][c]["busy_per_bucket"])
    dram = rec["busy_cycles"]["dram"]
    assert rec["timeline"]["dram"]["busy_cycles"] == dram
    assert max(busy) <= dram <= sum(busy) and max(busy) <= rec["total_cycles"]
    # 8 channels of 32 B/cycle: moving every byte takes at least bytes / 32 channel-cycles
    moved = rec["dram_read_bytes"] + rec["dram_write_bytes"]
    clock = rec["hardware"]["array"]["clock_hz"]
    per_channel_bw = rec["hardware"]["dram"]["bw_gb_per_s"] * 1e9 / clock / 8  # B per cycle
    assert sum(busy) >= moved / per_channel_bw


def test_per_channel_report_renders_its_lanes_in_chromium(
    per_channel: dict[str, Path], tmp_path: Path
) -> None:
    """The per-channel design's report in headless Chromium: every figure drawn, no console
    error, and each timeline draws the eight channel lanes (their labels, their one legend
    entry, their downsampling said on the figure); a screenshot kept."""
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("chromium is not installed on this machine")
    text = per_channel["html"].read_text()
    res = _browse(browser, per_channel["html"], tmp_path / "p1", "--dump-dom")
    dom = res.stdout
    n_figs = len(re.findall(r'<div id="fig\d+"', text))
    drawn = re.findall(r'<div id="fig\d+" class="plotly-graph-div js-plotly-plot"', dom)
    assert len(drawn) == n_figs, res.stderr[-2000:]
    assert not _console_errors(res.stderr), _console_errors(res.stderr)
    n_timelines = text.count("Timeline of layer")
    assert n_timelines == 2  # prefill and the first decode step, no baseline
    for c in range(8):  # a lane label per channel in each timeline (SVG tick text)
        assert dom.count(f">DRAM channel {c}<") >= n_timelines
    assert dom.count("DRAM channels busy ") >= n_timelines  # the legend entry
    assert "DRAM channel c: the cycles channel c moves its share of the bursts" in dom
    shot = tmp_path / "channels.png"
    res = _browse(
        browser, per_channel["html"], tmp_path / "p2", "--window-size=1300,7600",
        f"--screenshot={shot}",
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "run-report-dram-channels.png")


def test_timeline_layer_is_chosen_and_checked(made: dict[str, Path], tmp_path: Path) -> None:
    doc = json.loads(made["json"].read_text())
    text = render_run_report(doc, timeline=TimelineChoice(3))
    assert "Timeline of layer 3 of prefill" in text and "Timeline of layer 0" not in text
    out = tmp_path / "x.html"
    res = _cli("report", str(made["json"]), "-o", str(out), "--timeline-layer", "24")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--timeline-layer: bitnet-b1.58-700m has layers 0 to 23 (got 24)" in res.stderr
    assert not out.exists()


def test_timeline_op_range_from_the_cli(made: dict[str, Path], tmp_path: Path) -> None:
    """--timeline-ops START:END: one timeline per run over those ops; bad ranges (syntax, out
    of the run, both options) are one-line errors, exit 2, nothing written."""
    out = tmp_path / "ops.html"
    res = _cli("report", str(made["json"]), "-o", str(out), "--timeline-ops", "30:70")
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert text.count("Timeline of ops 30 to 69 (") == 2  # the design's and the baseline's
    assert "Timeline of layer" not in text
    for args, msg in (
        (["--timeline-ops", "30-70"], "--timeline-ops: expected START:END"),
        (["--timeline-ops", "70:30"], "--timeline-ops: START must be below END"),
        (["--timeline-ops", "0:5000"], "--timeline-ops: this run of bitnet-b1.58-700m has ops 0"),
        (["--timeline-ops", "1:4", "--timeline-layer", "2"], "give one"),
    ):
        bad = tmp_path / "bad.html"
        res = _cli("report", str(made["json"]), "-o", str(bad), *args)
        assert res.returncode == 2 and msg in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not bad.exists()
    # tersim run checks the range before it writes anything
    rec = tmp_path / "r.json"
    res = _cli("run", *SMALL, "--baseline", "none", "--json", str(rec), "--report",
               str(tmp_path / "r.html"), "--timeline-ops", "0:5000")  # fmt: skip
    assert res.returncode == 2 and "--timeline-ops: this run of" in res.stderr
    assert not rec.exists() and not (tmp_path / "r.html").exists()
