"""A self-contained interactive HTML report of a sweep's results store.

The input is the plain document ``tersim.dse.report_data.sweep_report_data`` builds from a
store: the sweep's axes and objectives and, per point, its status, fields, metrics and
whether it is on the Pareto front. The page has:

* a Pareto scatter of any two metrics (menus pick x, y and the colour; the front is drawn
  as outlined diamonds; hovering a point shows its fields);
* parallel coordinates over the axes and the objectives (categorical axes as indices with
  their values as tick labels);
* the front as a table that sorts by any column when its header is clicked.

plotly.js is embedded once: the file opens offline. The same document gives the same bytes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.io import to_html

from tersim.errors import TersimError
from tersim.files import write_atomic

EXTRA_METRICS = (
    "seconds",
    "energy_pj.total",
    "edp_pj_s",
    "dram_bytes",
    "utilization",
    "power_w",
    "tokens_per_s_per_w",
    "prefill.seconds",
    "decode.tokens_per_s",
)


def _candidates(doc: dict[str, Any]) -> list[str]:
    ok = [p for p in doc["points"] if p["status"] == "ok"]
    names = [o["metric"] for o in doc["objectives"]]
    names += [m for m in EXTRA_METRICS if m not in names]
    return [m for m in names if ok and all(m in p["metrics"] for p in ok)]


def _hover(p: dict[str, Any], axes: list[str]) -> str:
    fields = "<br>".join(f"{html.escape(a)} = {html.escape(str(p['params'].get(a)))}" for a in axes)
    return f"point {p['index']}<br>{fields}"


def _scatter(doc: dict[str, Any], metrics: list[str]) -> go.Figure:
    ok = [p for p in doc["points"] if p["status"] == "ok"]
    groups = [[p for p in ok if not p["front"]], [p for p in ok if p["front"]]]
    x0, y0 = metrics[0], metrics[1]
    c0 = metrics[2] if len(doc["objectives"]) > 2 else metrics[min(2, len(metrics) - 1)]

    def col(m: str) -> list[list[float]]:
        return [[p["metrics"][m] for p in g] for g in groups]

    fig = go.Figure()
    for g, name, symbol in (
        (groups[0], "dominated", "circle"),
        (groups[1], "Pareto front", "diamond"),
    ):
        fig.add_scatter(
            x=[p["metrics"][x0] for p in g],
            y=[p["metrics"][y0] for p in g],
            mode="markers",
            name=name,
            text=[_hover(p, doc["axes"]) for p in g],
            hovertemplate="%{text}<br>x %{x:.4g}<br>y %{y:.4g}<extra></extra>",
            marker={
                "symbol": symbol,
                "size": 11 if symbol == "diamond" else 7,
                "color": [p["metrics"][c0] for p in g],
                "coloraxis": "coloraxis",
                "line": {"width": 2 if symbol == "diamond" else 0, "color": "black"},
            },
        )

    def menu(attr: str, axis: str, y: float, active: int) -> dict[str, Any]:
        return {
            "active": active,
            "buttons": [
                {
                    "label": m,
                    "method": "update",
                    "args": [{attr: col(m)}, {f"{axis}.title.text": m}],
                }
                for m in metrics
            ],
            "direction": "down",
            "x": 1.02,
            "xanchor": "left",
            "y": y,
            "showactive": True,
        }

    color_menu = {
        "active": metrics.index(c0),
        "buttons": [
            {
                "label": m,
                "method": "update",
                "args": [{"marker.color": col(m)}, {"coloraxis.colorbar.title.text": m}],
            }
            for m in metrics
        ],
        "direction": "down",
        "x": 1.02,
        "xanchor": "left",
        "y": 0.55,
    }
    fig.update_layout(
        title="Pareto scatter (menus: x, y, colour)",
        xaxis_title=x0,
        yaxis_title=y0,
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": c0}, "x": 1.3}},
        updatemenus=[menu("x", "xaxis", 1.0, 0), menu("y", "yaxis", 0.8, 1), color_menu],
        legend={"orientation": "h", "y": -0.2},
        margin={"r": 260},
    )
    return fig


def _parallel(doc: dict[str, Any]) -> go.Figure:
    ok = [p for p in doc["points"] if p["status"] == "ok"]
    dims = []
    for axis in doc["axes"]:
        values = [p["params"].get(axis) for p in ok]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            dims.append({"label": axis, "values": values})
        else:
            labels = sorted({str(v) for v in values})
            dims.append(
                {
                    "label": axis,
                    "values": [labels.index(str(v)) for v in values],
                    "tickvals": list(range(len(labels))),
                    "ticktext": labels,
                }
            )
    for o in doc["objectives"]:
        dims.append({"label": o["label"], "values": [p["metrics"][o["metric"]] for p in ok]})
    first = doc["objectives"][0]["metric"]
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": [p["metrics"][first] for p in ok],
                "colorscale": "Viridis",
                "showscale": True,
            },
            dimensions=dims,
        )
    )
    fig.update_layout(
        title="Parallel coordinates: axes and objectives (drag along an axis to filter)"
    )
    return fig


def _front_table(doc: dict[str, Any]) -> str:
    front = [p for p in doc["points"] if p["front"]]
    heads = ["point", *doc["axes"], *(o["label"] for o in doc["objectives"])]
    rows = []
    for p in front:
        cells = [str(p["index"]), *(str(p["params"].get(a)) for a in doc["axes"])]
        cells += [f"{p['metrics'][o['metric']]:.6g}" for o in doc["objectives"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(
        f'<th onclick="sortFront({i})" title="sort">{html.escape(h)}</th>'
        for i, h in enumerate(heads)
    )
    return f'<table id="front"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_SORT_JS = """<script>
function sortFront(col) {
  var body = document.querySelector('#front tbody');
  var rows = Array.from(body.rows);
  var up = body.dataset.col == col && body.dataset.dir == 'up' ? false : true;
  rows.sort(function (a, b) {
    var x = a.cells[col].textContent, y = b.cells[col].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return up ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
  body.dataset.col = col; body.dataset.dir = up ? 'up' : 'down';
}
</script>"""


def render_sweep_report(doc: dict[str, Any]) -> str:
    """HTML text of the report of a sweep store's document (see the module rules)."""
    if not isinstance(doc, dict) or "points" not in doc or "objectives" not in doc:
        raise TersimError("not a tersim sweep store (expected the results of tersim sweep)")
    doc = json.loads(json.dumps(doc, sort_keys=True))
    ok = [p for p in doc["points"] if p["status"] == "ok"]
    counts = {s: sum(p["status"] == s for p in doc["points"]) for s in ("ok", "failed", "dropped")}
    title = f"tersim sweep: {doc['name']}"
    figs_html = ""
    metrics = _candidates(doc)
    if ok and len(metrics) >= 2:
        figs = [_scatter(doc, metrics), _parallel(doc)]
        figs_html = "".join(
            to_html(f, full_html=False, include_plotlyjs=(i == 0), div_id=f"fig{i}")
            for i, f in enumerate(figs)
        )
    else:
        figs_html = "<p>No simulated point to plot.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{cursor:pointer}}</style>
{_SORT_JS}</head>
<body><h1>{html.escape(title)}</h1>
<p>{len(doc["points"]):,} stored points: {counts["ok"]:,} ok, {counts["failed"]:,} failed,
{counts["dropped"]:,} dropped; {sum(p["front"] for p in doc["points"]):,} on the Pareto front of
{html.escape(", ".join(o["label"] for o in doc["objectives"]))}. Every number comes from the
results store this report was made from.</p>
{figs_html}
<h2>Pareto front (click a column to sort)</h2>
{_front_table(doc)}
</body></html>
"""


def write_sweep_report(doc: dict[str, Any], path: Path) -> None:
    """Write the report atomically (a failure leaves no half-written file)."""
    write_atomic(path, render_sweep_report(doc))
