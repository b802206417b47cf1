"""A self-contained interactive HTML report of a `tersim run` record (and its baseline).

The input is the JSON document `tersim run --json` writes, so a report can be made again from a
stored record without simulating. plotly.js is embedded: the file opens offline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.io import to_html

from tersim.errors import FileError, TersimError
from tersim.files import read_json, write_atomic

MAX_RECORD_BYTES = 1 << 28  # 256 MiB; a run record is kilobytes

COMPONENTS = ("mul", "add", "sram", "dram", "vector", "leakage")


def _label(rec: dict[str, Any]) -> str:
    return f"{rec['hardware']['name']} ({rec['formats']['weight_format']})"


def _energy_figure(records: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for comp in COMPONENTS:
        fig.add_bar(
            name=comp,
            x=[_label(r) for r in records],
            y=[r["energy_pj"][comp] / 1e9 for r in records],
        )
    fig.update_layout(barmode="stack", title="Energy by component (mJ)", yaxis_title="mJ")
    return fig


def _layer_figure(records: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for r in records:
        by_layer = r["energy_pj"].get("by_layer", {})
        keys = sorted(
            by_layer,
            key=lambda k: (
                not k.startswith("layer_"),
                int(k.split("_")[1]) if k.startswith("layer_") else 0,
            ),
        )
        fig.add_scatter(
            name=_label(r), x=keys, y=[by_layer[k] / 1e9 for k in keys], mode="lines+markers"
        )
    fig.update_layout(title="Dynamic energy by layer (mJ, leakage excluded)", yaxis_title="mJ")
    return fig


def _dram_figure(records: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    kinds = sorted({k for r in records for k in r["dram_read_bytes_by_kind"]})
    for kind in kinds:
        fig.add_bar(
            name=f"read {kind}",
            x=[_label(r) for r in records],
            y=[r["dram_read_bytes_by_kind"].get(kind, 0) / 1e9 for r in records],
        )
    fig.add_bar(
        name="written",
        x=[_label(r) for r in records],
        y=[r["dram_write_bytes"] / 1e9 for r in records],
    )
    fig.update_layout(barmode="stack", title="DRAM traffic (GB)", yaxis_title="GB")
    return fig


def _timeline_figure(rec: dict[str, Any]) -> go.Figure:
    """Each unit's busy time. Exact intervals when the record has them (few enough); else the
    busy fraction of equal time buckets, exact per bucket: downsampling sums busy cycles,
    it never joins intervals, so no busy time is invented."""
    fig = go.Figure()
    clock = rec["hardware"]["array"]["clock_hz"]
    lines = rec.get("timeline", {})
    exact = all(t.get("intervals") is not None for t in lines.values())
    total = max(1, rec.get("total_cycles", 1))
    for unit, t in sorted(lines.items()):
        share = 100.0 * t["busy_cycles"] / total
        name = f"{unit} (busy {share:.1f} %)"
        if exact:
            xs: list[float | None] = []
            ys: list[str | None] = []
            for start, end in t["intervals"]:
                xs += [start / clock * 1e3, end / clock * 1e3, None]
                ys += [unit, unit, None]
            fig.add_scatter(x=xs, y=ys, mode="lines", line={"width": 18}, name=name)
        else:
            w = t["bucket_cycles"]
            fig.add_scatter(
                x=[(k + 0.5) * w / clock * 1e3 for k in range(len(t["busy_per_bucket"]))],
                y=[min(1.0, b / w) * 100 for b in t["busy_per_bucket"]],
                mode="lines",
                line={"shape": "hvh"},
                name=name,
            )
    how = (
        "exact busy intervals"
        if exact
        else "busy % of each time bucket, exact per bucket (no merged intervals)"
    )
    fig.update_layout(
        title=f"Unit busy time, {_label(rec)} ({how})",
        xaxis_title="ms",
        yaxis_title=None if exact else "% busy",
    )
    return fig


def _summary_table(records: list[dict[str, Any]]) -> str:
    rows = []
    for r in records:
        ph = r["phases"]
        ttft = ph.get("prefill", {}).get("seconds")
        tps = ph.get("decode", {}).get("tokens_per_s")
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    _label(r),
                    f"{r['seconds'] * 1e3:,.3f} ms",
                    "-" if ttft is None else f"{ttft * 1e3:,.3f} ms",
                    "-" if tps is None else f"{tps:,.1f}",
                    f"{r['dram_read_bytes'] / 1e9:,.2f} GB",
                    f"{r['utilization'] * 100:.2f} %",
                    f"{r['energy_pj']['total'] / 1e9:,.2f} mJ",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "design",
            "latency",
            "time to first token",
            "decode tokens/s",
            "DRAM read",
            "utilization",
            "energy",
        )
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_run_report(doc: dict[str, Any]) -> str:
    """HTML text of the report for a `tersim run --json` document."""
    if not isinstance(doc, dict) or "run" not in doc:
        raise TersimError("not a tersim run record (expected the JSON of `tersim run --json`)")
    doc = json.loads(json.dumps(doc, sort_keys=True))  # the same record, the same bytes
    records = [doc["run"]] + ([doc["baseline"]] if "baseline" in doc else [])
    spec = doc["run"]["workload"]
    sc = doc["run"]["scenario"]
    figs = [_energy_figure(records), _layer_figure(records), _dram_figure(records)]
    figs += [_timeline_figure(r) for r in records]
    parts = [
        to_html(f, full_html=False, include_plotlyjs=(i == 0), div_id=f"fig{i}")
        for i, f in enumerate(figs)
    ]
    title = (
        f"tersim: {spec['name']}, {sc['prompt_tokens']}-token prompt, "
        f"{sc['gen_tokens']} generated, batch {sc['batch']}"
    )
    ratios = doc.get("ratios", {})
    ratio_html = "".join(
        f"<li>{html.escape(k)}: {v:.2f}x</li>"
        for k, v in ratios.items()
        if isinstance(v, int | float)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>tersim {html.escape(str(doc["run"]["tersim_version"]))}; fidelity
{html.escape(str(doc["run"]["fidelity"]))}. Every number comes from the simulated counts in
the JSON record this report was made from.</p>
{_summary_table(records)}
{"<h2>Baseline / design</h2><ul>" + ratio_html + "</ul>" if ratio_html else ""}
{"".join(parts)}
</body></html>
"""


def write_run_report(doc: dict[str, Any], path: Path) -> None:
    """Write the report atomically (a failure leaves no half-written file)."""
    write_atomic(path, render_run_report(doc))


def load_run_json(path: Path) -> dict[str, Any]:
    try:
        doc = read_json(path, MAX_RECORD_BYTES, "the JSON written by tersim run --json")
    except FileError as exc:
        raise TersimError(f"{exc.path}: not a readable tersim run record: {exc.reason}") from None
    if not isinstance(doc, dict):
        raise TersimError(f"{path}: not a tersim run record (expected a JSON object)")
    return doc
