"""Self-contained interactive HTML reports of `tersim run` records: one run (with its
baseline), or N runs side by side.

The input is the JSON document `tersim run --json` writes, so a report can be made again from a
stored record. The per-op figures need the run's ops, which a record does not keep: they come
from the :class:`RunRecord` s when the caller has them (``tersim run --report``), else from
simulating the record's embedded inputs again, which must reproduce the stored cycles and
energy (a record that does not, such as a run of a saved trace, gets its record-level figures
and a note). plotly.js is inlined once: the file opens offline. The page embeds the record's
hardware and workload as YAML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import yaml
from plotly.io import to_html

from tersim.config.hardware import HardwareConfig
from tersim.errors import FileError, TersimError
from tersim.files import read_json, write_atomic
from tersim.report import figures
from tersim.report.data import RunDetail, TimelineChoice, base_name, run_detail
from tersim.report.headline import headline
from tersim.report.labels import (
    OP_KIND_WORDS,
    PHASE_WORDS,
    bytes_text,
    energy_text,
    long_name,
    ratio_text,
    short_names,
    unit_words,
    words,
)
from tersim.report.waterfall import applies, claim_steps, node_table
from tersim.run.compare import Better, ComparisonRow, comparison_rows, format_value
from tersim.run.pipeline import RunRecord

MAX_RECORD_BYTES = 1 << 28  # 256 MiB; a run record is kilobytes

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1280px;color:#222;
 padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;
 border-bottom:1px solid #ddd;padding-bottom:.2em}
.headline{background:#f4f7fb;border-left:4px solid #4c78a8;padding:.6em 1em;font-size:1.05em;
 line-height:1.5} .headline p{margin:.4em 0}
.note{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.92em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
table.sortable .t{text-align:left} table.sortable th{cursor:pointer} table.sortable th:hover{background:#e4e9f0}
.scroll{max-height:560px;overflow:auto;border:1px solid #eee}
pre{background:#fafafa;border:1px solid #eee;padding:.6em;font-size:.85em;overflow:auto}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0],rows=Array.from(body.rows),up=th.dataset.up!=='1';
  t.querySelectorAll('th').forEach(function(h){h.dataset.up=''});th.dataset.up=up?'1':'0';
  rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
   var p=parseFloat(x),q=parseFloat(y);
   var c=(isNaN(p)||isNaN(q))?String(x).localeCompare(String(y)):p-q;return up?c:-c;});
  rows.forEach(function(r){body.appendChild(r)});});});});
"""


def _esc(x: object) -> str:
    return html.escape(str(x))


def _cell(text: str, value: object = None) -> str:
    if value is None:  # a text column: left-aligned, sorted as text
        return f'<td class="t" data-v="{_esc(text)}">{_esc(text)}</td>'
    return f'<td data-v="{_esc(value)}">{_esc(text)}</td>'


def _fig_html(figs: list[Any]) -> list[str]:
    """Each figure's div; plotly.js inlined with the first only."""
    return [
        to_html(
            f,
            full_html=False,
            include_plotlyjs=(i == 0),
            div_id=f"fig{i}",
            config={"displaylogo": False, "responsive": True},
        )
        for i, f in enumerate(figs)
    ]


def _tps(rec: dict[str, Any], phase: str, per_sequence: bool) -> float | None:
    p = rec["phases"].get(phase)
    if p is None or not p.get("tokens") or not p.get("seconds"):
        return None
    rate = p["tokens"] / p["seconds"]
    return rate / rec["scenario"]["batch"] if per_sequence else rate


def _label(row: ComparisonRow) -> str:
    """A comparison row's label, unit names in words."""
    if row.label.startswith("busy: "):
        return f"busy: {unit_words(row.label[6:])}"
    return row.label


def _ratio(a: float | None, b: float | None, na: str, nb: str, better: Better) -> str:
    """The ratio of two values, named so it reads "how much the better one wins by"
    (``NEITHER``, e.g. how busy a unit is: ``a / b``)."""
    if a is None or b is None or not a or not b:
        return "-"
    if better is Better.NEITHER:
        return f"{na} / {nb}: {ratio_text(a / b)}"
    a_wins = a <= b if better is Better.LOWER else a >= b
    hi, lo = (max(a, b), min(a, b))
    if better is Better.LOWER:
        return (
            f"{nb} / {na}: {ratio_text(hi / lo)}"
            if a_wins
            else f"{na} / {nb}: {ratio_text(hi / lo)}"
        )
    return (
        f"{na} / {nb}: {ratio_text(hi / lo)}" if a_wins else f"{nb} / {na}: {ratio_text(hi / lo)}"
    )


# the summary's first rows (tersim.run.compare labels); the rest fold away
KEY_ROWS = frozenset(
    ("latency", "time to first token", "DRAM read", "energy: total", "power (average)", "TOPS/W")
)


def _summary_table(
    records: list[dict[str, Any]], names: list[str], short: list[str] | None = None
) -> str:
    """The rows ``tersim run`` prints (tersim.run.compare), one column per record; two records
    get a ratio column, more get each one's ratio to the first in its cell (``short``: the
    records' names in ratios; default ``names``)."""
    short = names if short is None else short
    head = "<th>per run</th>" + "".join(f"<th>{_esc(n)}</th>" for n in names)
    pair = len(records) == 2
    if pair:
        head += "<th>ratio (each says which way it points)</th>"
    rows = []
    for row in comparison_rows(records):
        cells = []
        for i, v in enumerate(row.values):
            text = format_value(v, row.quantity)
            if len(records) > 2 and i and v is not None:
                text += f" ({_ratio(row.values[0], v, short[0], short[i], row.better)})"
            cells.append(f"<td>{_esc(text)}</td>")
        if pair:
            a, b = row.values[0], row.values[1]
            cells.append(f"<td>{_esc(_ratio(a, b, short[0], short[1], row.better))}</td>")
        key = row.label in KEY_ROWS or row.label.startswith("decode tokens/s (")
        rows.append((key, f"<tr><td>{_esc(_label(row))}</td>{''.join(cells)}</tr>"))
    first = "".join(r for k, r in rows if k)
    rest = "".join(r for k, r in rows if not k)
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{first}</tbody></table>"
        f"<details><summary>every number ({sum(not k for k, _ in rows)} more rows: area, "
        "power, efficiency, energy by component, busy units)</summary>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table></details>"
    )


def _op_table(details: list[RunDetail], names: list[str], clocks: list[float]) -> str:
    """One row per design, phase and op (over layers, decode steps and shapes)."""
    cols = (
        "design", "phase", "op", "kind", "unit", "instances", "busy cycles", "span cycles",
        "busy % of span", "operations", "DRAM bytes", "dynamic energy", "share of phase energy",
        "operations / DRAM byte", "attained operations/s",
    )  # fmt: skip
    rows = []
    for det, name, clock in zip(details, names, clocks, strict=True):
        phase_dyn = {
            p.phase: sum(p.by_op_kind_pj.values()) or 1.0 for p in det.phases
        }  # dynamic energy per phase
        agg: dict[tuple[str, str], dict[str, Any]] = {}
        for g in det.groups:
            a = agg.setdefault(
                (g.phase, g.name),
                {"kind": g.kind, "unit": g.unit, "n": 0, "busy": 0, "span": 0, "ops": 0,
                 "dram": 0, "pj": 0.0},
            )  # fmt: skip
            a["n"] += g.instances
            a["busy"] += g.busy_cycles * g.instances
            a["span"] += g.span_cycles * g.instances
            a["ops"] += g.operations * g.instances
            a["dram"] += g.dram_bytes * g.instances
            a["pj"] += g.energy_dynamic_pj * g.instances
        for (ph, op), a in agg.items():
            inten = a["ops"] / a["dram"] if a["dram"] else None
            rate = a["ops"] / (a["span"] / clock) if a["span"] else None
            rows.append(
                "<tr>"
                + _cell(name)
                + _cell(words(ph, PHASE_WORDS))
                + _cell(base_name(op))
                + _cell(words(a["kind"], OP_KIND_WORDS))
                + _cell(unit_words(a["unit"]))
                + _cell(f"{a['n']:,}", a["n"])
                + _cell(f"{a['busy']:,}", a["busy"])
                + _cell(f"{a['span']:,}", a["span"])
                + _cell(
                    f"{100 * a['busy'] / max(1, a['span']):.0f}%", a["busy"] / max(1, a["span"])
                )
                + _cell(f"{a['ops']:,}", a["ops"])
                + _cell(bytes_text(a["dram"]), a["dram"])
                + _cell(energy_text(a["pj"]), a["pj"])
                + _cell(f"{100 * a['pj'] / phase_dyn[ph]:.1f}%", a["pj"] / phase_dyn[ph])
                + _cell("no DRAM bytes" if inten is None else f"{inten:.3g}", inten or 1e300)
                + _cell("-" if rate is None else f"{rate:.3g}", rate or 0)
                + "</tr>"
            )
    head = "".join(
        f'<th class="t">{_esc(c)}</th>' if i < 5 else f"<th>{_esc(c)}</th>"
        for i, c in enumerate(cols)
    )
    return (
        '<div class="scroll"><table class="sortable" id="ops"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _inputs(records: list[dict[str, Any]], names: list[str]) -> str:
    parts = []
    for rec, name in zip(records, names, strict=True):
        for what, key in (("hardware", "hardware"), ("workload", "workload")):
            text = yaml.safe_dump(rec[key], sort_keys=False, allow_unicode=True)
            parts.append(
                f"<details><summary>{_esc(name)}: {what} ({_esc(rec[key]['name'])})</summary>"
                f"<pre>{_esc(text)}</pre></details>"
            )
    return "".join(parts)


def details_of(
    doc: dict[str, Any], timeline: TimelineChoice | None = None
) -> tuple[list[RunDetail] | None, str]:
    """Per-op details of every run in ``doc`` by simulating its inputs again; (None, why)
    when one does not reproduce."""
    from tersim.run.rows import rerun

    out = []
    for role in ("run", "baseline"):
        if role not in doc:
            continue
        rec = rerun(doc[role])
        if rec is None:
            return None, (
                f"the {'design' if role == 'run' else 'baseline'} run does not reproduce from "
                "its record (another tersim version, or a run of a saved trace), so the per-op "
                "figures are left out; make the report with tersim run --report"
            )
        out.append(run_detail(rec, timeline))
    return out, ""


def render_run_report(
    doc: dict[str, Any],
    records: tuple[RunRecord, ...] | None = None,
    timeline: TimelineChoice | None = None,
) -> str:
    """HTML text of the report for a `tersim run --json` document. ``records``: the runs
    themselves (design, then baseline), for the per-op figures; else they are simulated
    again from the document. ``timeline``: what the timelines show (default: layer 0)."""
    if not isinstance(doc, dict) or "run" not in doc:
        raise TersimError("not a tersim run record (expected the JSON of `tersim run --json`)")
    doc = json.loads(json.dumps(doc, sort_keys=True))  # the same record, the same bytes
    timeline = TimelineChoice() if timeline is None else timeline
    if timeline.ops is None:  # checked before simulating again (an op range: once simulated)
        timeline.check(
            doc["run"]["workload"]["architecture"]["layers"], 0, doc["run"]["workload"]["name"]
        )
    recs = [doc["run"]] + ([doc["baseline"]] if "baseline" in doc else [])
    names = short_names(recs)
    if records is not None:
        details: list[RunDetail] | None = [run_detail(r, timeline) for r in records]
        why = ""
    else:
        details, why = details_of(doc, timeline)
    spec, sc = doc["run"]["workload"], doc["run"]["scenario"]
    title = (
        f"{spec['name']} on {' vs '.join(r['hardware']['name'] for r in recs)}: "
        f"{sc['prompt_tokens']}-token prompt, {sc['gen_tokens']} generated, batch {sc['batch']}"
    )
    sentences = headline(
        doc,
        (names[0], names[-1]),
        (details[0], details[-1]) if details is not None and len(details) == 2 else None,
    )
    clocks = [r["hardware"]["array"]["clock_hz"] for r in recs]
    sections: list[tuple[str, str, Any]] = []  # (heading, note html, figure or html)
    if details is not None:
        sections.append(("Energy", "", figures.energy_by_component(details, names)))
        sections.append(("", "", figures.energy_by_op_kind(details, names)))
        if len(recs) == 2:
            hw = [HardwareConfig.model_validate(r["hardware"]) for r in recs]
            if applies(hw[0], hw[1]):
                table = node_table(hw[0])
                steps = {
                    pd.phase: claim_steps(pd, pb, hw[0], table)
                    for pd, pb in zip(details[0].phases, details[1].phases, strict=True)
                }
                sections.append(
                    (
                        "The energy claim, step by step",
                        "BitNet b1.58 prices matmul arithmetic only (arXiv 2402.17764, section "
                        "3). Each bar adds one more part of the chip to both sides of the "
                        "ratio, from this run's simulated counts and the node's energy table; "
                        "hover a bar for how it was computed.",
                        figures.claim_waterfall(steps, f"{names[1]} / {names[0]} energy"),
                    )
                )
        sections.append(
            (
                "Where the time goes",
                "Roofline: a point below the slanted roof is limited by DRAM bandwidth, one "
                "under the flat roof by its compute unit; far below both, by latency or by "
                "waiting for the other unit.",
                figures.roofline(details, names, clocks),
            )
        )
        for det, name, clock in zip(details, names, clocks, strict=True):
            for w in det.windows:
                sections.append(("", "", figures.timeline(w, name, clock)))
    if all(r.get("timeline") for r in recs):
        sections.append(
            ("" if details else "Where the time goes", "", figures.run_busy(recs, names))
        )
    if details is not None:
        sections.append(("DRAM traffic", "", figures.dram_by_operand(details, names)))
    figs = [f for _, _, f in sections]
    divs = iter(_fig_html(figs))
    body = []
    for heading, note, _ in sections:
        if heading:
            body.append(f"<h2>{_esc(heading)}</h2>")
        if note:
            body.append(f'<p class="note">{_esc(note)}</p>')
        body.append(next(divs))
    if details is not None:
        body.append("<h2>Ops</h2>")
        body.append(
            '<p class="note">One row per design, phase and op, summed over layers and decode '
            "steps. Click a heading to sort.</p>"
        )
        body.append(_op_table(details, names, clocks))
    else:
        body.append(f'<p class="note">{_esc(why)}</p>')
    heads = "".join(f"<p>{_esc(s)}</p>" for s in sentences)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>{CSS}</style></head>
<body><h1>{_esc(title)}</h1>
<p class="note">{" vs ".join(_esc(long_name(r)) for r in recs)}. tersim
{_esc(doc["run"]["tersim_version"])}, {_esc(doc["run"]["fidelity"])} fidelity. Every number
comes from the simulated counts of the record this report was made from.</p>
{'<div class="headline">' + heads + "</div>" if heads else ""}
<h2>Summary</h2>
{_summary_table(recs, names)}
{"".join(body)}
<h2>Inputs</h2>
{_inputs(recs, names)}
<script>{SORT_JS}</script>
</body></html>
"""


def comparison_details(
    recs: list[dict[str, Any]], names: list[str]
) -> tuple[list[RunDetail], list[str], list[str]]:
    """Per-op details of the design runs ``recs`` (named ``names``) that reproduce from their
    embedded inputs: (details, their names, a note per run left out)."""
    details, kept, left = [], [], []
    for rec, name in zip(recs, names, strict=True):
        got, why = details_of({"run": rec})
        if got is None:
            left.append(f"{name}: {why.split(', so')[0]}")
        else:
            details.append(got[0])
            kept.append(name)
    return details, kept, left


def render_comparison_report(docs: list[dict[str, Any]], labels: list[str]) -> str:
    """HTML text comparing the design runs of N `tersim run --json` documents side by side
    (``labels``: a name for each, such as its file name). The per-op figures (energy by op
    kind, DRAM traffic by operand, per phase) come from simulating each record's inputs
    again, for the records that reproduce (the page names the others)."""
    recs = []
    for doc, label in zip(docs, labels, strict=True):
        if not isinstance(doc, dict) or "run" not in doc:
            raise TersimError(f"{label}: not a tersim run record (expected the JSON of tersim run)")
        recs.append(json.loads(json.dumps(doc["run"], sort_keys=True)))
    names = [f"{label}: {n}" for label, n in zip(labels, short_names(recs), strict=True)]
    details, kept, left = comparison_details(recs, names)
    per_op = (
        [figures.energy_by_op_kind(details, kept), figures.dram_by_operand(details, kept)]
        if details
        else []
    )
    note = (
        "Per op, by phase: from simulating each record's inputs again (the totals match the "
        "records)."
        + ("" if not left else " Left out (they do not reproduce): " + "; ".join(left) + ".")
    )
    figs = [
        figures.compare_energy(recs, names),
        figures.compare_bars(
            recs, names, "Latency of the whole run", lambda r: r["seconds"], "seconds"
        ),
        figures.compare_bars(
            recs,
            names,
            "Decode tokens/s per sequence",
            lambda r: _tps(r, "decode", True),
            "tokens/s per sequence",
        ),
        figures.compare_bars(recs, names, "DRAM read", lambda r: r["dram_read_bytes"] / 1e9, "GB"),
    ]
    divs = _fig_html(figs + per_op)
    per_op_html = f'<h2>Per op</h2><p class="note">{_esc(note)}</p>' + "".join(divs[len(figs) :])
    table = _summary_table(recs, names, labels)
    title = f"tersim: {len(recs)} runs side by side"
    runs = "".join(
        f"<li>{_esc(n)}: {_esc(long_name(r))}; {_esc(r['workload']['name'])}, "
        f"{r['scenario']['prompt_tokens']}-token prompt, {r['scenario']['gen_tokens']} "
        f"generated, batch {r['scenario']['batch']}</li>"
        for n, r in zip(names, recs, strict=True)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>{CSS}</style></head>
<body><h1>{_esc(title)}</h1>
<ul class="note">{runs}</ul>
<p class="note">Ratios in brackets compare each run with the first, named so they read above
1 (e.g. "b / a: 2.00x" is b's number over a's, and a is better).</p>
<h2>Summary</h2>{table}
{"".join(divs[: len(figs)])}
{per_op_html}
<h2>Inputs</h2>
{_inputs(recs, names)}
</body></html>
"""


def write_run_report(
    doc: dict[str, Any],
    path: Path,
    records: tuple[RunRecord, ...] | None = None,
    timeline: TimelineChoice | None = None,
) -> None:
    """Write the report atomically (a failure leaves no half-written file)."""
    write_atomic(path, render_run_report(doc, records, timeline))


def write_comparison_report(docs: list[dict[str, Any]], labels: list[str], path: Path) -> None:
    write_atomic(path, render_comparison_report(docs, labels))


def load_run_json(path: Path) -> dict[str, Any]:
    try:
        doc = read_json(path, MAX_RECORD_BYTES, "the JSON written by tersim run --json")
    except FileError as exc:
        raise TersimError(f"{exc.path}: not a readable tersim run record: {exc.reason}") from None
    if not isinstance(doc, dict):
        raise TersimError(f"{path}: not a tersim run record (expected a JSON object)")
    return doc
