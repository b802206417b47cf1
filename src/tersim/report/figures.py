"""The run report's figures (plotly), one function per figure, from :mod:`tersim.report.data`.

Rules: axes and legends use words (:mod:`tersim.report.labels`); a figure that downsamples or
approximates says so in its title; each figure is self-contained (no shared state).
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tersim.report.data import Component, RunDetail, Window, base_name
from tersim.report.labels import (
    COMPONENT_COLOURS,
    COMPONENT_WORDS,
    OP_KIND_WORDS,
    OPERAND_WORDS,
    RECORD_COMPONENT_WORDS,
    bytes_text,
    energy_text,
    ratio_text,
    unit_words,
    words,
)
from tersim.report.waterfall import Step
from tersim.sim.result import dram_channel_of

FONT = {"family": "Helvetica, Arial, sans-serif", "size": 13}
UNIT_COLOURS = {"array": "#4c78a8", "vector": "#54a24b", "dram": "#e45756"}
DESIGN_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2")


def _style(fig: go.Figure, title: str, height: int = 420, subtitle: str = "") -> go.Figure:
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(
        title={"text": text, "x": 0.01, "xanchor": "left"},
        font=FONT,
        height=height,
        margin={"l": 70, "r": 30, "t": 110 if subtitle else 80, "b": 60},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.18, "x": 0},
    )
    fig.update_xaxes(showline=True, linecolor="#888", gridcolor="#eee")
    fig.update_yaxes(showline=True, linecolor="#888", gridcolor="#eee")
    return fig


def _si(x: float) -> str:
    """``x`` with an SI prefix and a trailing space: 1.64e13 -> "16.4 T"."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}"
    return f"{x:.3g} "


def _energy_scale(max_pj: float) -> tuple[float, str]:
    return (1e12, "J") if max_pj >= 1e12 else (1e9, "mJ")


def energy_by_component(details: list[RunDetail], names: list[str]) -> go.Figure:
    """Per phase (side by side): each design's energy stacked by component."""
    phases = [p.phase for p in details[0].phases]
    fig = make_subplots(rows=1, cols=len(phases), subplot_titles=phases, shared_yaxes=False)
    for col, ph in enumerate(phases, start=1):
        per = [next((p for p in d.phases if p.phase == ph), None) for d in details]
        top = max((p.total_pj for p in per if p is not None), default=1.0)
        scale, unit = _energy_scale(top)
        for comp in Component:
            ys = [0.0 if p is None else p.by_component_pj[comp] / scale for p in per]
            fig.add_bar(
                x=names,
                y=ys,
                name=COMPONENT_WORDS[comp],
                marker_color=COMPONENT_COLOURS[comp],
                legendgroup=comp.value,
                showlegend=col == 1,
                hovertemplate="%{x}: %{y:.4g} " + unit + f"<extra>{COMPONENT_WORDS[comp]}</extra>",
                row=1,
                col=col,
            )
        totals = [0.0 if p is None else p.total_pj for p in per]
        fig.add_scatter(
            x=names,
            y=[t / scale for t in totals],
            mode="text",
            text=[energy_text(t) for t in totals],
            textposition="top center",
            showlegend=False,
            hoverinfo="skip",
            row=1,
            col=col,
        )
        fig.update_yaxes(title_text=f"energy ({unit})", rangemode="tozero", row=1, col=col)
    fig.update_layout(barmode="stack")
    return _style(fig, "Energy by component, prefill and decode side by side", 460)


def energy_by_op_kind(details: list[RunDetail], names: list[str]) -> go.Figure:
    """Per phase: each design's dynamic energy (leakage excluded) by op kind."""
    phases = [p.phase for p in details[0].phases]
    fig = make_subplots(rows=1, cols=len(phases), subplot_titles=phases, horizontal_spacing=0.2)
    for col, ph in enumerate(phases, start=1):
        per = [next((p for p in d.phases if p.phase == ph), None) for d in details]
        kinds = sorted(
            {k for p in per if p is not None for k in p.by_op_kind_pj},
            key=lambda k: (max(p.by_op_kind_pj.get(k, 0.0) for p in per if p is not None), k),
        )
        top = max((v for p in per if p is not None for v in p.by_op_kind_pj.values()), default=1)
        scale, unit = _energy_scale(top)
        for i, (p, name) in enumerate(zip(per, names, strict=True)):
            vals = [0.0 if p is None else p.by_op_kind_pj.get(k, 0.0) / scale for k in kinds]
            fig.add_bar(
                y=[words(k, OP_KIND_WORDS) for k in kinds],
                x=vals,
                orientation="h",
                name=name,
                marker_color=DESIGN_COLOURS[i % len(DESIGN_COLOURS)],
                legendgroup=name,
                showlegend=col == 1,
                hovertemplate="%{y}: %{x:.4g} " + unit + f"<extra>{name}</extra>",
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=f"dynamic energy ({unit})", row=1, col=col)
    fig.update_layout(barmode="group")
    return _style(fig, "Energy by op kind (leakage excluded: it belongs to time, not ops)", 520)


SHORT_STEP = (
    "paper's pricing",
    "zero weights",
    "accumulator width",
    "+ attention, LM head",
    "+ SRAM",
    "+ DRAM",
    "+ vector unit",
    "+ leakage",
)


def claim_waterfall(steps_by_phase: dict[str, tuple[Step, ...]], ratio_words: str) -> go.Figure:
    """Per phase: the claim's ratio after each step (see :mod:`tersim.report.waterfall`), as a
    waterfall on a log axis: each step's bar spans from the previous ratio to the new one, so
    its length is its factor (the first bar and the whole-chip bar start at 1)."""
    phases = list(steps_by_phase)
    fig = make_subplots(rows=1, cols=len(phases), subplot_titles=phases, shared_yaxes=True)
    for col, ph in enumerate(phases, start=1):
        steps = steps_by_phase[ph]
        xs = [SHORT_STEP[i] if i < len(SHORT_STEP) else s.label for i, s in enumerate(steps)]
        xs.append("whole chip")
        lows, highs, colours, texts, hover = [], [], [], [], []
        prev = 1.0
        for i, s in enumerate(steps):
            new = s.ratio
            lo, hi = (1.0, new) if i == 0 else (min(prev, new), max(prev, new))
            lows.append(lo)
            highs.append(hi)
            f = new / prev
            colours.append(
                "#4c78a8"
                if i == 0
                else "#e45756"
                if f < 0.995
                else "#54a24b"
                if f > 1.005
                else "#999"
            )
            texts.append(f"{new:.1f}x" if i == 0 else f"x{f:.2f}")
            hover.append(f"{s.label}<br>{s.note}<br>ratio so far: {new:.3g}x")
            prev = new
        lows.append(1.0)
        highs.append(steps[-1].ratio)
        colours.append("#4c78a8")
        texts.append(f"{steps[-1].ratio:.2f}x")
        hover.append(f"whole-chip ratio: {steps[-1].ratio:.3g}x")
        # a step that changes nothing still gets a visible sliver
        heights = [max(h / lo, 1.01) for lo, h in zip(lows, highs, strict=True)]
        fig.add_bar(
            x=xs,
            base=[math.log10(lo) for lo in lows],
            y=[math.log10(h) for h in heights],
            marker_color=colours,
            text=texts,
            textposition="outside",
            cliponaxis=False,
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
            row=1,
            col=col,
        )
        fig.update_xaxes(tickangle=-35, row=1, col=col)
    top = max(s.ratio for steps in steps_by_phase.values() for s in steps)
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if v <= top * 2]
    fig.update_yaxes(
        tickvals=[math.log10(v) for v in ticks],
        ticktext=[f"{v}x" for v in ticks],
        range=[-0.05, math.log10(top) + 0.25],
    )
    fig.update_yaxes(title_text=f"{ratio_words} (log scale)", row=1, col=1)
    return _style(
        fig,
        f"The claim, step by step: {ratio_words} from matmul arithmetic to the whole chip",
        500,
        "bar labels: each step's factor; red lowers the ratio, green raises it; hover a bar "
        "for how it was computed",
    )


def roofline(details: list[RunDetail], names: list[str], clock_hz: list[float]) -> go.Figure:
    """Per design: every op (one point per phase, op and shape) by arithmetic intensity and
    attained throughput, under the compute roofs and the DRAM bandwidth roof."""
    fig = make_subplots(rows=1, cols=len(details), subplot_titles=names)
    for col, (det, clock) in enumerate(zip(details, clock_hz, strict=True), start=1):
        placed = [g for g in det.groups if g.span_cycles and g.operations]
        finite = [g.intensity for g in placed if g.intensity is not None]
        knee = max(det.compute_roofs.values()) / det.dram_bytes_per_s
        lo = min(min(finite, default=0.01), knee / 100) / 3
        hi = max(max(finite, default=100.0), knee * 4) * 3
        edge = hi * 3  # ops that move no DRAM bytes sit at the right edge
        for unit in sorted({g.unit for g in det.groups}):
            for ph, symbol in (("prefill", "circle"), ("decode", "diamond")):
                pts = [g for g in placed if g.unit == unit and g.phase == ph]
                if not pts:
                    continue
                fig.add_scatter(
                    x=[edge if g.intensity is None else g.intensity for g in pts],
                    y=[g.operations / (g.span_cycles / clock) for g in pts],
                    mode="markers",
                    marker={
                        "symbol": symbol,
                        "size": 8,
                        "color": UNIT_COLOURS.get(unit, "#888"),
                        "opacity": 0.7,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    name=f"{ph} ops on the {unit_words(unit)}",
                    legendgroup=f"{ph}{unit}",
                    showlegend=col == 1,
                    text=[
                        f"{g.name} ({ph}), {g.m}x{g.k}x{g.n}, {g.instances} instance(s)<br>"
                        f"{g.operations:,} operations, {bytes_text(g.dram_bytes)} DRAM"
                        + ("" if g.intensity is not None else " (none: drawn at the right edge)")
                        for g in pts
                    ],
                    hovertemplate="%{text}<br>%{x:.3g} op/B, %{y:.3g} op/s<extra></extra>",
                    row=1,
                    col=col,
                )
        xs = [lo * (hi / lo) ** (i / 60) for i in range(61)]
        for unit, roof in sorted(det.compute_roofs.items()):
            fig.add_scatter(
                x=xs,
                y=[min(roof, det.dram_bytes_per_s * x) for x in xs],
                mode="lines",
                line={"color": UNIT_COLOURS.get(unit, "#888"), "dash": "dash", "width": 1.5},
                hoverinfo="skip",
                showlegend=False,
                row=1,
                col=col,
            )
            fig.add_annotation(
                x=math.log10(hi),
                y=math.log10(roof),
                text=f"{unit_words(unit)} roof: {_si(roof)}op/s",
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font={"size": 11, "color": UNIT_COLOURS.get(unit, "#888")},
                row=1,
                col=col,
            )
        mid = math.sqrt(min(det.compute_roofs.values()) * max(det.compute_roofs.values()))
        fig.add_annotation(
            x=math.log10(mid / det.dram_bytes_per_s),
            y=math.log10(mid),
            text=f"DRAM roof: {det.dram_bytes_per_s / 1e9:.3g} GB/s",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"size": 11, "color": "#666"},
            row=1,
            col=col,
        )
        fig.update_xaxes(type="log", dtick=1, title_text="operations per DRAM byte", row=1, col=col)
        fig.update_yaxes(
            type="log", dtick=1, exponentformat="SI", title_text="attained operations/s",
            row=1, col=col,
        )  # fmt: skip
    return _style(
        fig,
        "Roofline: every op by arithmetic intensity and attained throughput",
        560,
        "one point per phase, op and shape; a multiply-accumulate is one operation; attained ="
        " operations / the op's span; ops that move no DRAM bytes sit at the right edge",
    )


def _rects(intervals: list[tuple[float, float]], y0: float, y1: float) -> tuple[list, list]:  # type: ignore[type-arg]
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in intervals:
        xs += [a, b, b, a, a, None]
        ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


MAX_RECTS = 3000  # busy rectangles drawn per unit before the timeline downsamples
DRAM_LANE = "dram"  # the DRAM's lane, named as in the record's busy cycles
BUCKETS = 1000  # buckets of a downsampled lane
CHANNEL_COLOURS = ("#e45756", "#f2a2a1")  # DRAM channel lanes, alternating shades of the DRAM's


def _lane_key(lane: str) -> tuple[int, int, str]:
    """Lanes top to bottom: the units by name, the DRAM, then its channels in channel order."""
    c = dram_channel_of(lane)
    if c is not None:
        return (2, c, "")
    return (1 if lane == DRAM_LANE else 0, 0, lane)


def _lane_colour(lane: str) -> str:
    c = dram_channel_of(lane)
    return UNIT_COLOURS.get(lane, "#b279a2") if c is None else CHANNEL_COLOURS[c % 2]


def _downsampling_notes(notes: list[tuple[str, int, str, str]]) -> list[str]:
    """One line per downsampled lane ``(lane, intervals, why, how)``; DRAM channel lanes
    downsampled alike (same reason, same buckets) share one line."""
    out: list[str] = []
    alike: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for lane, n, why, how in notes:
        c = dram_channel_of(lane)
        if c is None:
            out.append(f"{unit_words(lane)}: {n:,} intervals{why} {how}")
        else:
            alike.setdefault((why, how), []).append((c, n))
    for (why, how), got in alike.items():
        chans = ", ".join(str(c) for c, _ in got)
        lo, hi = min(n for _, n in got), max(n for _, n in got)
        count = f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"
        out.append(f"DRAM channels {chans}: {count} intervals each{why} {how}")
    return out


def drawn_busy_cycles(fig: go.Figure) -> dict[str, float]:
    """Busy cycles per unit as drawn in a :func:`timeline` figure (for tests): the summed
    areas of its busy shapes in cycles (width x height, a full-height rectangle being its
    width), read back from the figure's data."""
    out: dict[str, float] = {}
    for tr in fig.data:
        meta = tr.meta or {}
        if meta.get("busy_unit") is None:
            continue
        u = meta["busy_unit"]
        out[u] = out.get(u, 0.0) + sum((b - a) * h for a, b, h in meta["cycles"])
    return out


def _downsample(
    busy: list[tuple[int, int]], lo: int, hi: int, buckets: int
) -> tuple[int, list[tuple[int, int, float]]]:
    """(bucket width, [(start, end, busy share)]) of ``buckets`` equal buckets of
    ``[lo, hi)``: each bucket's share is its exact busy cycles over its width."""
    width = max(1, -(-(hi - lo) // buckets))
    acc: dict[int, int] = {}
    for a, b in busy:
        k = (a - lo) // width
        while a < b:
            edge = lo + (k + 1) * width
            take = min(b, edge) - a
            acc[k] = acc.get(k, 0) + take
            a += take
            k += 1
    out = []
    for k in sorted(acc):
        a = lo + k * width
        b = min(hi, a + width)
        out.append((a, b, acc[k] / (b - a)))
    return width, out


def timeline(window: Window, name: str, clock_hz: float) -> go.Figure:
    """A Gantt chart of ``window``: one lane per unit, then one for the DRAM (the cycles some
    transfer is moving); grey bars are op spans (hover for the op), coloured shapes the
    lane's exact busy intervals. A lane with more than MAX_RECTS intervals is downsampled into
    equal buckets, each drawn with the height of its exact busy share (so the drawn busy area
    stays exact), and so is a lane whose intervals are on average narrower than a bucket
    (drawn one by one they would be invisible or, outlined, look solid); the figure says
    so."""
    fig = go.Figure()
    units = sorted(
        {o.unit for o in window.ops} | {u for u, iv in window.busy_intervals.items() if iv},
        key=_lane_key,
    )
    us = 1e6 / clock_hz
    t0 = window.start_cycle
    span = max(1, window.end_cycle - window.start_cycle)
    notes: list[tuple[str, int, str, str]] = []  # (lane, intervals, why, how) downsampled
    shares = [  # the DRAM channels' busy shares of the window (one legend entry for them all)
        sum(b - a for a, b in window.busy_intervals.get(u, ())) / span
        for u in units
        if dram_channel_of(u) is not None
    ]
    first_channel = True
    for lane, unit in enumerate(units):
        ops = [o for o in window.ops if o.unit == unit]
        colour = _lane_colour(unit)
        for o in ops:
            busy_text = ", ".join(
                f"{unit_words(u)} {c:,}" for u, c in sorted(o.busy_by_unit.items())
            )
            fig.add_scatter(
                x=[(o.start_cycle - t0) * us, (o.end_cycle - t0) * us],
                y=[lane, lane],
                mode="lines",
                line={"width": 26, "color": "rgba(120,120,120,0.18)"},
                hovertemplate=(
                    f"{base_name(o.name)} ({words(o.kind, OP_KIND_WORDS)})<br>"
                    f"span {o.end_cycle - o.start_cycle:,} cycles; busy cycles: {busy_text}"
                    "<extra></extra>"
                ),
                showlegend=False,
            )
        busy = list(window.busy_intervals.get(unit, ()))
        bucket = max(1, -(-(window.end_cycle - window.start_cycle) // BUCKETS))
        narrow = bool(busy) and sum(b - a for a, b in busy) < bucket * len(busy)
        if len(busy) > MAX_RECTS or narrow:
            width, shapes = _downsample(busy, window.start_cycle, window.end_cycle, BUCKETS)
            why = "" if len(busy) > MAX_RECTS else ", narrower than a bucket on average,"
            how = f"shown as {BUCKETS:,} buckets of {width:,} cycles, bar height = the bucket's "
            notes.append((unit, len(busy), why, how + "busy share"))
        else:
            shapes = [(a, b, 1.0) for a, b in busy]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for a, b, h in shapes:
            x0, x1 = (a - t0) * us, (b - t0) * us
            y0, y1 = lane + 0.3, lane + 0.3 - 0.6 * h  # lanes top down: the bar grows up
            xs += [x0, x1, x1, x0, x0, None]
            ys += [y0, y0, y1, y1, y0, None]
        share = sum(b - a for a, b in busy) / span
        label = f"{unit_words(unit)} busy {share * 100:.1f}% of the window"
        show, group = True, None
        if dram_channel_of(unit) is not None:
            lo, hi = min(shares) * 100, max(shares) * 100
            each = f"{lo:.1f}%" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}% to {hi:.1f}%"
            label = f"DRAM channels busy {each} of the window each"
            show, group = first_channel, "dram-channels"
            first_channel = False
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            fill="toself",
            line={"width": 0, "color": colour},  # an outline would widen thin intervals
            fillcolor=colour,
            name=label,
            hoverinfo="skip",
            meta={"busy_unit": unit, "cycles": [list(sh) for sh in shapes]},
            showlegend=show,
            legendgroup=group,
        )
        for o in ops:  # op names on their spans when wide enough to read
            if (o.end_cycle - o.start_cycle) > 0.05 * (window.end_cycle - window.start_cycle):
                fig.add_annotation(
                    x=((o.start_cycle + o.end_cycle) / 2 - t0) * us,
                    y=lane - 0.42,
                    text=base_name(o.name),
                    showarrow=False,
                    font={"size": 10, "color": "#333"},
                )
    fig.update_yaxes(
        tickvals=list(range(len(units))),
        ticktext=[unit_words(u) for u in units],
        range=[len(units) - 0.3, -0.7],  # the units at the top, then the DRAM, its channels
    )
    slider_y = {"rangemode": "fixed", "range": [len(units) - 0.3, -0.7]}  # drawn the same way
    fig.update_xaxes(
        title_text=f"microseconds from the start of {window.title}",
        rangeslider={"visible": True, "thickness": 0.08, "yaxis": slider_y},
    )
    said = _downsampling_notes(notes)
    how = "".join(f"<br>downsampled: {n}" for n in said) or ", not downsampled"
    chans = sum(1 for u in units if dram_channel_of(u) is not None)
    what = "DRAM: the cycles some transfer is moving"
    if chans:
        what += "; DRAM channel c: the cycles channel c moves its share of the bursts"
    _style(
        fig,
        f"Timeline of {window.title}, {name}",
        230 + 90 * (len(units) - chans) + 50 * chans + 18 * len(said),
        f"drag to zoom, or use the slider; grey: op spans (hover for the op); colour: exact busy "
        f"intervals ({what}){how}",
    )
    # the title block at the top, the legend (about three entries a row) between it and the plot
    entries = len(units) - chans + (1 if chans else 0)
    top = 64 + 18 * len(said) + 24 * -(-entries // 3)
    fig.update_layout(
        margin={"t": top},
        title={"yref": "container", "y": 1 - 24 / fig.layout.height, "yanchor": "top"},
        legend={"orientation": "h", "y": 1.0, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    return fig


def run_busy(records: list[dict[str, Any]], names: list[str]) -> go.Figure:
    """Per design: each unit's busy share of equal time buckets over the whole run, from the
    record's timeline (exact per bucket: a bucket's busy cycles over its width)."""
    fig = make_subplots(
        rows=len(records), cols=1, subplot_titles=names, vertical_spacing=0.18, shared_xaxes=False
    )
    for row, rec in enumerate(records, start=1):
        clock = rec["hardware"]["array"]["clock_hz"]
        total = max(1, rec["total_cycles"])
        lanes = sorted(rec.get("timeline", {}).items(), key=lambda kv: _lane_key(kv[0]))
        shares = [
            100 * t["busy_cycles"] / total for u, t in lanes if dram_channel_of(u) is not None
        ]
        for unit, t in lanes:
            w = t["bucket_cycles"]
            hist = t["busy_per_bucket"]
            xs = [k * w / clock for k in range(len(hist) + 1)]
            ys = [100 * b / min(w, total - k * w) for k, b in enumerate(hist)]
            c = dram_channel_of(unit)
            line = {"shape": "hv", "color": _lane_colour(unit), "width": 1.5}
            name = f"{unit_words(unit)} ({100 * t['busy_cycles'] / total:.1f}% of the run)"
            group, show = f"{row}{unit}", True
            if c is not None:  # thin dotted lines, one legend entry for every channel
                line |= {"width": 1, "dash": "dot"}
                lo, hi = min(shares), max(shares)
                each = f"{lo:.1f}%" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}% to {hi:.1f}%"
                name = f"DRAM channels 0 to {len(shares) - 1} ({each} of the run each)"
                group, show = f"{row}dram-channels", c == 0
            fig.add_scatter(
                x=xs,
                y=ys + ys[-1:],
                mode="lines",
                line=line,
                name=name,
                legendgroup=group,
                showlegend=show,
                hovertemplate="%{x:.4g} s: %{y:.1f}% busy<extra>" + unit_words(unit) + "</extra>",
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text="% busy", range=[0, 105], row=row, col=1)
        fig.update_xaxes(title_text="seconds from the start of the run", row=row, col=1)
    return _style(
        fig,
        "How busy each unit is over the whole run",
        260 + 240 * len(records),
        "each step is one of the record's equal time buckets: its exact busy cycles over its "
        "width (no merged intervals, no invented busy time)",
    )


def dram_by_operand(details: list[RunDetail], names: list[str]) -> go.Figure:
    """Per phase: each design's DRAM bytes by operand (read) and written."""
    phases = [p.phase for p in details[0].phases]
    fig = make_subplots(rows=1, cols=len(phases), subplot_titles=phases)
    colours = {"weights": "#4c78a8", "activations": "#f58518", "kv_cache": "#54a24b"}
    for col, ph in enumerate(phases, start=1):
        per = [next((p for p in d.phases if p.phase == ph), None) for d in details]
        ops = sorted({k for p in per if p is not None for k in p.dram_read_by_operand_bytes})
        for op in ops:
            fig.add_bar(
                x=names,
                y=[0 if p is None else p.dram_read_by_operand_bytes.get(op, 0) / 1e9 for p in per],
                name=f"read: {words(op, OPERAND_WORDS)}",
                marker_color=colours.get(op, "#888"),
                legendgroup=op,
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.add_bar(
            x=names,
            y=[0 if p is None else p.dram_write_bytes / 1e9 for p in per],
            name="written",
            marker_color="#bab0ac",
            legendgroup="written",
            showlegend=col == 1,
            row=1,
            col=col,
        )
        fig.update_yaxes(title_text="GB", row=1, col=col)
    fig.update_layout(barmode="stack")
    return _style(fig, "DRAM traffic by operand", 420)


def compare_energy(records: list[dict[str, Any]], names: list[str]) -> go.Figure:
    """N records side by side: each one's energy by the record's components."""
    fig = go.Figure()
    top = max(r["energy_pj"]["total"] for r in records)
    scale, unit = _energy_scale(top)
    for key, label in RECORD_COMPONENT_WORDS.items():
        ys = [r["energy_pj"].get(key, 0.0) / scale for r in records]
        if any(ys):
            fig.add_bar(x=names, y=ys, name=label)
    fig.update_layout(barmode="stack", yaxis_title=f"energy ({unit})")
    return _style(fig, "Energy by component, run by run", 460)


def compare_bars(
    records: list[dict[str, Any]], names: list[str], title: str, value: Any, unit: str
) -> go.Figure:
    """N records side by side: one number each (``value(record)``), labelled."""
    ys = [value(r) for r in records]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[0 if v is None else v for v in ys],
            text=["-" if v is None else f"{v:.4g}" for v in ys],
            textposition="outside",
            marker_color=[DESIGN_COLOURS[i % len(DESIGN_COLOURS)] for i in range(len(ys))],
        )
    )
    fig.update_layout(yaxis_title=unit)
    return _style(fig, title, 380)


__all__ = [
    "claim_waterfall",
    "compare_bars",
    "compare_energy",
    "dram_by_operand",
    "drawn_busy_cycles",
    "energy_by_component",
    "energy_by_op_kind",
    "ratio_text",
    "roofline",
    "timeline",
]
