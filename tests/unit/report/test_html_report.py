"""HTML reports: content, determinism, and rendering in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tersim.errors import TersimError
from tersim.report.html import render_run_report

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def run_doc(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("rec") / "rec.json"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "tersim",
            "run",
            "--workload",
            "bitnet-b1.58-700m",
            "--prompt-tokens",
            "32",
            "--gen-tokens",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


def test_report_has_every_figure_and_the_numbers(run_doc: dict) -> None:  # type: ignore[type-arg]
    text = render_run_report(run_doc)
    for i in range(5):  # energy, layers, DRAM, two timelines
        assert f'id="fig{i}"' in text
    assert text.count("plotly.js v") == 1  # embedded once: the file opens offline
    total_mj = run_doc["run"]["energy_pj"]["total"] / 1e9
    assert f"{total_mj:,.2f} mJ" in text
    assert render_run_report(run_doc) == text  # deterministic


def test_report_rejects_something_else() -> None:
    with pytest.raises(TersimError, match="not a tersim run record"):
        render_run_report({"hello": 1})


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(run_doc: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("chromium is not installed on this machine")
    page = tmp_path / "report.html"
    page.write_text(render_run_report(run_doc))
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
    # plotly draws each figure into an <svg class="main-svg"> once its script has run
    assert dom.count('class="main-svg"') >= 5, res.stderr[-2000:]
    assert "Energy by component" in dom
