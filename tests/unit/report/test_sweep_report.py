"""The sweep report: content from the store, determinism, rendering in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tersim.dse.store import ResultStore
from tersim.dse.sweep import report_data
from tersim.errors import TersimError
from tersim.report.sweep_html import render_sweep_report


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    f = d / "s.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "name": "report-test",
                "hardware": "ternary-8x8-tiny",
                "workload": "bitnet-b1.58-700m",
                "scenario": {"phase": "both", "prompt_tokens": 8, "gen_tokens": 1},
                "vary": {"array.cols": [2, 4, 8], "array.dataflow": ["ws", "os"]},
                "objectives": ["latency", "energy", "max decode.tokens_per_s"],
            }
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "sweep", str(f), "--store", str(d / "s.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return d / "s.sqlite"


def test_report_shows_the_stored_front(store: Path) -> None:
    with ResultStore.open(store, create=False) as st:
        doc = report_data(st)
    text = render_sweep_report(doc)
    assert 'id="fig0"' in text and 'id="fig1"' in text and text.count("plotly.js v") == 1
    front = [p for p in doc["points"] if p["front"]]
    assert front and len(doc["points"]) == 6
    body = text.split('<table id="front">')[1]
    assert body.count("<tr>") == 1 + len(front)  # header + one row per front point
    for p in front:
        assert f"{p['metrics']['seconds']:.6g}" in body
    assert "array.dataflow = os" in text  # hover text names the fields
    assert render_sweep_report(doc) == text
    with pytest.raises(TersimError, match="not a tersim sweep store"):
        render_sweep_report({"hello": 1})


def test_report_renders_in_headless_chromium(store: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("chromium is not installed on this machine")
    page = tmp_path / "sweep.html"
    res = subprocess.run(
        [sys.executable, "-m", "tersim", "report", str(store), "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
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
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    dom = res.stdout
    assert dom.count('class="main-svg"') >= 2, res.stderr[-2000:]
    assert "Pareto scatter" in dom and "Parallel coordinates" in dom
    assert 'class="parcoords"' in dom or "parcoords" in dom
