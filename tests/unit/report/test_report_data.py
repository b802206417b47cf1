"""The run report's numbers, each against an independent source: the record's own totals, the
per-op rows of tersim.run.rows, the claim code (tersim.run.claim), the per-tile oracle engine,
and hand calculations."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

import tersim
from tersim.config import load_hardware, load_workload
from tersim.config.enums import DramModelKind
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.cost.energy import price_list
from tersim.errors import TersimError
from tersim.report import figures
from tersim.report.data import (
    Component,
    RunDetail,
    TimelineChoice,
    Window,
    clipped,
    parse_op_range,
    run_detail,
)
from tersim.report.headline import headline
from tersim.report.labels import short_names, unit_words
from tersim.report.waterfall import claim_steps, node_table
from tersim.run.claim import make_claim
from tersim.run.pipeline import RunRecord, run
from tersim.run.rows import op_rows
from tersim.sim import Fidelity
from tersim.sim.result import merged_intervals
from tersim.workload.ops import Phase

ROOT = Path(__file__).resolve().parents[3]
HW = ROOT / "hw_configs"
SMALL = {"workload": "bitnet-b1.58-700m", "prompt_tokens": 32, "gen_tokens": 2}


@pytest.fixture(scope="module")
def both() -> tersim.api.Result:
    return tersim.run(hw="ternary-128x128-7nm", baseline="fp16-128x128-7nm", **SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def details(both: tersim.api.Result) -> tuple[RunDetail, RunDetail]:
    assert both.baseline is not None
    return run_detail(both.record), run_detail(both.baseline)


def _records(both: tersim.api.Result) -> tuple[RunRecord, RunRecord]:
    assert both.baseline is not None
    return both.record, both.baseline


def test_phase_components_sum_to_the_records_phase_energy(
    both: tersim.api.Result, details: tuple[RunDetail, RunDetail]
) -> None:
    for rec, det in zip(_records(both), details, strict=True):
        doc = rec.to_json()
        assert [p.phase for p in det.phases] == ["prefill", "decode"]
        for p in det.phases:
            assert p.total_pj == pytest.approx(doc["phases"][p.phase]["energy_pj"], rel=1e-12)
        # the phases' dynamic parts add up to the run's dynamic energy
        dynamic = sum(p.total_pj - p.by_component_pj[Component.LEAKAGE] for p in det.phases)
        e = doc["energy_pj"]
        assert dynamic == pytest.approx(e["total"] - e["leakage"], rel=1e-12)
        dram = sum(p.by_component_pj[Component.DRAM] for p in det.phases)
        assert dram == pytest.approx(e["dram"], rel=1e-12)


def test_busy_cycles_from_the_ops_equal_the_records(
    both: tersim.api.Result, details: tuple[RunDetail, RunDetail]
) -> None:
    for rec, det in zip(_records(both), details, strict=True):
        busy = {u: c for u, c in rec.result.busy_cycles.items() if u != "dram"}
        assert {u: c for u, c in det.busy_cycles.items() if c} == {
            u: c for u, c in busy.items() if c
        }
        for p in det.phases:  # a unit is busy at most the whole phase
            assert all(c <= p.cycles for c in p.busy_cycles.values())


def test_op_groups_match_the_per_op_rows(
    both: tersim.api.Result, details: tuple[RunDetail, RunDetail]
) -> None:
    """Summed over instances, the groups hold exactly what tersim.run.rows' per-op rows do."""
    rows = op_rows(both.record)
    det = details[0]
    for ph in ("prefill", "decode"):
        mine = [g for g in det.groups if g.phase == ph]
        theirs = [r for r in rows if r.phase == ph]
        assert sum(g.instances for g in mine) == len(theirs)
        assert sum(g.dram_bytes * g.instances for g in mine) == sum(
            sum(v for k, v in r.to_dict().items() if k.startswith("dram_")) for r in theirs
        )
        assert sum(g.energy_dynamic_pj * g.instances for g in mine) == pytest.approx(
            sum(r.energy_dynamic_pj for r in theirs), rel=1e-12
        )
        assert sum(g.busy_cycles * g.instances for g in mine) == sum(
            r.compute_cycles for r in theirs
        )


def test_roofline_roofs_and_a_point_by_hand(
    both: tersim.api.Result, details: tuple[RunDetail, RunDetail]
) -> None:
    det = details[0]
    assert det.compute_roofs["array"] == 128 * 128 * 1e9
    assert det.compute_roofs["vector"] == 128 * 1 * 1e9
    assert det.dram_bytes_per_s == pytest.approx(256e9)
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    h = spec.architecture.hidden
    q = next(g for g in det.groups if g.phase == "prefill" and g.name == "q_proj")
    row = next(r for r in op_rows(both.record) if r.op == "L0.q_proj" and r.phase == "prefill")
    assert row.macs == 32 * h * h
    # one per multiply-accumulate, one per vector element op (the output's rescale epilogue)
    assert q.operations == row.macs + row.vector_ops
    assert 0 < row.vector_ops <= 4 * 32 * h
    # attention runs on this design's vector unit: its MACs count once, and no op beats its
    # unit's roof (span >= busy cycles >= operations / peak rate)
    qk = next(r for r in op_rows(both.record) if r.op == "L0.attn_qk" and r.phase == "prefill")
    assert qk.unit == "vector" and qk.vector_macs == qk.macs > 0
    g = next(g for g in det.groups if g.phase == "prefill" and g.name == "attn_qk")
    assert g.operations == qk.macs + qk.vector_ops
    for g in det.groups:
        if g.span_cycles and g.operations:
            assert g.operations / (g.span_cycles / 1e9) <= det.compute_roofs[g.unit] * (1 + 1e-9)
    assert q.instances == spec.architecture.layers
    # 2-bit weights (4 per byte) plus the activations' bytes, if any
    assert q.dram_bytes >= h * h // 4


def test_claim_steps_against_the_claim_code() -> None:
    """A prefill-only run's waterfall starts at the claim's paper ratio and ends at its
    whole-chip prefill ratio; the accumulator step equals the claim's INT32 pricing."""
    tern = load_hardware(HW / "ternary-128x128-7nm.yaml")
    fp16 = load_hardware(HW / "fp16-128x128-7nm.yaml")
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    claim = make_claim(tern, fp16, spec, prompt_tokens=32, gen_tokens=2)
    res = tersim.run(hw=tern, baseline=fp16, workload=spec, phase="prefill", prompt_tokens=32)
    assert res.baseline is not None
    d, b = run_detail(res.record).phases[0], run_detail(res.baseline).phases[0]
    steps = claim_steps(d, b, tern, node_table(tern))
    assert len(steps) == 8
    assert steps[0].ratio == pytest.approx(claim.paper_ratio, rel=1e-12)
    assert round(steps[0].ratio, 1) == 71.4
    assert steps[1].ratio == pytest.approx(steps[0].ratio)  # this design adds its zeros
    t = claim.table
    assert steps[2].design_pj == pytest.approx(
        claim.ternary_matmul_pj(t.int32_add_pj.value, t.int32_add_pj.value), rel=1e-12
    )
    # the last step's sides are the phase's energies as the record books them: the run's
    # total less the leakage of the cycles outside every op span (the first load's latency)
    for side, rec in ((steps[-1].design_pj, res.record), (steps[-1].baseline_pj, res.baseline)):
        assert side == pytest.approx(rec.to_json()["phases"]["prefill"]["energy_pj"], rel=1e-12)
        outside = rec.result.total_cycles - rec.result.phase_cycles(Phase.PREFILL)
        leak_pj = sum(price_list(rec.hardware).leakage_mw.values()) * outside / 1e9 * 1e9
        assert rec.energy.total_pj - side == pytest.approx(leak_pj, rel=1e-9, abs=1e-3)
    # so the claim's whole-chip prefill ratio (run totals) differs by that sliver only
    assert steps[-1].ratio == pytest.approx(claim.to_json()["whole_chip_ratio_prefill"], rel=1e-5)
    factors = math.prod(b.ratio / a.ratio for a, b in itertools.pairwise(steps))
    assert factors == pytest.approx(steps[-1].ratio / steps[0].ratio, rel=1e-12)
    # a design that skips zeros: the zero step is the claim's zero-skip ratio
    skip = tern.model_copy(update={"array": tern.array.model_copy(update={"zero_skipping": True})})
    steps = claim_steps(d, b, skip, node_table(skip))
    assert steps[1].ratio == pytest.approx(claim.zero_skip_ratio, rel=1e-12)


def test_clipped_intervals_against_expanding_them() -> None:
    groups = ((10, 14, 10, 7), (100, 130, 0, 1), (200, 205, 5, 4), (300, 301, 3, 50))
    every = merged_intervals(groups)
    for lo, hi in ((0, 1000), (12, 57), (103, 210), (215, 330), (0, 11), (500, 600)):
        want = [(max(a, lo), min(b, hi)) for a, b in every if min(b, hi) > max(a, lo)]
        assert clipped(groups, lo, hi) == want


def _drawn_equals_busy(rec: RunRecord, window: Window) -> None:
    fig = figures.timeline(window, "x", rec.hardware.array.clock_hz)
    drawn = figures.drawn_busy_cycles(fig)
    want = {u: sum(b - a for a, b in iv) for u, iv in window.busy_intervals.items() if iv}
    assert drawn == pytest.approx(want, abs=1e-6)


def _small_fast_and_tile(hw: HardwareConfig) -> tuple[RunRecord, RunRecord]:
    """A 2-layer model's 16-token prefill and 2 decode steps on ``hw``: the fast engine's run
    and the per-tile oracle's."""
    arch = Architecture(
        hidden=256, layers=2, heads=8, kv_heads=8, ffn=512, ffn_type="swiglu", vocab=1000,
        max_context=256,
    )  # fmt: skip
    spec = ModelSpec(name="small", architecture=arch)
    fast = run(hw, spec, prompt_tokens=16, gen_tokens=2)
    return fast, run(hw, spec, prompt_tokens=16, gen_tokens=2, fidelity=Fidelity.TILE)


def test_timeline_draws_the_oracles_busy_time() -> None:
    """A layer's drawn busy time per unit, and on the DRAM lane, equals the per-tile simpy
    oracle's busy intervals inside that layer's window (an engine independent of the fast one
    the report reads; its DRAM intervals are the union of its transfers' [start, end))."""
    hw = load_hardware(HW / "ternary-hetero-7nm.yaml")  # three compute units
    fast, tile = _small_fast_and_tile(hw)
    windows = run_detail(fast).windows
    assert len(windows) == 2
    assert {u for w in windows for u, iv in w.busy_intervals.items() if iv} == {
        "array",
        "vector",
        "attn_array",
        "dram",
    }
    for w in windows:
        oracle = {
            u: sum(
                b - a for a, b in clipped(t.groups_within(0, 1 << 62), w.start_cycle, w.end_cycle)
            )
            for u, t in tile.result.timelines.items()
        }
        assert oracle["dram"] > 0
        drawn = figures.drawn_busy_cycles(figures.timeline(w, "x", 1e9))
        assert drawn == pytest.approx({u: c for u, c in oracle.items() if c}, abs=1e-6)
        # the layer's own ops are inside it: their busy cycles are at most what is drawn
        own: dict[str, int] = {}
        for o in w.ops:
            for u, c in o.busy_by_unit.items():
                own[u] = own.get(u, 0) + c
        assert all(own[u] <= drawn.get(u, 0) + 1e-6 for u in own)
    # the whole run as one window: drawn busy = the record's busy cycles
    whole = Window(
        "the run",
        0,
        fast.result.total_cycles,
        (),
        {
            u: tuple(
                clipped(t.groups_within(0, fast.result.total_cycles), 0, fast.result.total_cycles)
            )
            for u, t in fast.result.timelines.items()
        },
    )
    drawn = figures.drawn_busy_cycles(figures.timeline(whole, "x", 1e9))
    busy = {u: c for u, c in fast.result.busy_cycles.items() if c}  # the DRAM's too
    assert "dram" in busy
    assert drawn == pytest.approx(busy, abs=1e-6)
    # the record's timeline carries the DRAM lane: its busy cycles and histogram add up
    lane = fast.to_json()["timeline"]["dram"]
    assert lane["busy_cycles"] == sum(lane["busy_per_bucket"]) == busy["dram"]


@pytest.mark.parametrize("lane", ["array", "dram"])
def test_downsampled_lane_keeps_the_busy_area_and_says_so(lane: str) -> None:
    busy = tuple((i * 10, i * 10 + 3) for i in range(figures.MAX_RECTS + 500))
    wide = ((0, 7000), (12_000, 30_000))  # wider than a bucket (35 cycles): drawn exactly
    w = Window("many tiles", 0, busy[-1][1], (), {lane: busy, "vector": wide})
    fig = figures.timeline(w, "x", 1e9)
    drawn = figures.drawn_busy_cycles(fig)
    assert drawn[lane] == pytest.approx(3 * len(busy), rel=1e-12)
    assert drawn["vector"] == 25_000
    shapes = {tr.meta["busy_unit"]: tr.meta["cycles"] for tr in fig.data if tr.meta}
    assert shapes["vector"] == [[0, 7000, 1.0], [12_000, 30_000, 1.0]]
    text = fig.layout.title.text
    assert "downsampled" in text and "buckets" in text and unit_words(lane) in text
    # the DRAM lane is drawn last, under the compute units
    assert list(fig.layout.yaxis.ticktext)[-1] == ("DRAM" if lane == "dram" else "vector unit")
    # few intervals, but narrower than a bucket on average: bucketed too, area kept, said so
    thin = tuple((i * 1000, i * 1000 + 4) for i in range(30))  # buckets of 30 cycles
    fig = figures.timeline(Window("thin", 0, 30_000, (), {lane: thin}), "x", 1e9)
    assert figures.drawn_busy_cycles(fig)[lane] == pytest.approx(4 * 30, rel=1e-12)
    assert "30 intervals, narrower than a bucket on average," in fig.layout.title.text
    (tr,) = [tr for tr in fig.data if tr.meta]
    assert all(h < 1 for _, _, h in tr.meta["cycles"])


def test_headline_ratios_point_the_right_way(both: tersim.api.Result, details) -> None:  # type: ignore[no-untyped-def]
    doc = both.to_dict()
    recs = [doc["run"], doc["baseline"]]
    names = short_names(recs)
    assert names == ["ternary", "FP16"]
    text = " ".join(headline(doc, (names[0], names[1]), details))
    e = doc["baseline"]["energy_pj"]["total"] / doc["run"]["energy_pj"]["total"]
    assert e > 1
    assert f"FP16 / ternary energy: {e:.2f}x" in text
    lat = doc["run"]["seconds"] / doc["baseline"]["seconds"]
    word = (
        f"ternary / FP16 latency: {lat:.2f}x"
        if lat > 1
        else f"FP16 / ternary latency: {1 / lat:.2f}x"
    )
    assert word in text
    assert "_" not in text  # words, not keys


def test_whole_run_busy_shares_add_up_to_the_busy_cycles(both: tersim.api.Result) -> None:
    doc = both.to_dict()
    recs = [doc["run"], doc["baseline"]]
    fig = figures.run_busy(recs, ["a", "b"])
    assert len(fig.data) == 6  # two units and the DRAM per design
    for tr in fig.data:
        rec = recs[0] if tr.xaxis in ("x", "x1") else recs[1]
        unit = next(u for u in rec["timeline"] if tr.name.startswith(unit_words(u)))
        clock, total = rec["hardware"]["array"]["clock_hz"], rec["total_cycles"]
        w = rec["timeline"][unit]["bucket_cycles"]
        busy = sum(
            y / 100 * min(w, total - round(x * clock))
            for x, y in zip(tr.x[:-1], tr.y[:-1], strict=True)
        )
        assert busy == pytest.approx(rec["busy_cycles"][unit], rel=1e-9)


def test_an_op_range_is_one_window_of_those_ops(both: tersim.api.Result) -> None:
    """--timeline-ops 5:40: one window per run, from the first start to the last end of ops 5
    to 39 as tersim.run.rows reports them, holding those ops only; every lane's drawn busy
    time equals its intervals clipped to the window. Bad ranges are one-line errors."""
    rows = [r for r in op_rows(both.record) if 5 <= r.op_index < 40]
    (w,) = run_detail(both.record, TimelineChoice(ops=(5, 40))).windows
    assert w.start_cycle == min(r.start_cycle for r in rows)
    assert w.end_cycle == max(r.end_cycle for r in rows)
    assert [o.name for o in w.ops] == [r.op for r in sorted(rows, key=lambda r: r.op_index)]
    assert w.title.startswith("ops 5 to 39 (") and rows[0].op in w.title
    res = both.record.result
    for u, t in res.timelines.items():
        want = clipped(t.groups_within(w.start_cycle, w.end_cycle), w.start_cycle, w.end_cycle)
        assert w.busy_intervals[u] == tuple(want)
    _drawn_equals_busy(both.record, w)
    n = len(both.record.workload.ops)  # type: ignore[union-attr]
    for bad in ((0, n + 1), (n, n + 1)):
        with pytest.raises(TersimError, match=r"--timeline-ops: this run of .* has ops 0 to"):
            run_detail(both.record, TimelineChoice(ops=bad))
    for text in ("5-9", "9:5", ":4", "a:b", "-1:3"):
        with pytest.raises(TersimError, match="--timeline-ops"):
            parse_op_range(text)
    assert parse_op_range("0:1449") == (0, 1449)


def test_timeline_draws_the_oracles_dram_channel_lanes() -> None:
    """A design with 4 DRAM channels (per-channel model, 48 B bursts: transfers split
    unevenly): each window has one lane per channel below the units and the DRAM, in channel
    order, and each channel's drawn busy time equals the per-tile oracle's lane for it (one
    simpy resource per channel, not the engines' construction) inside the window; over the
    whole run, the record's channel lanes are busy at most the run each and their busy cycles
    cover the DRAM's."""
    hw = load_hardware(HW / "ternary-hetero-7nm.yaml")
    hw = hw.model_copy(
        update={
            "dram": hw.dram.model_copy(
                update={"model": DramModelKind.PER_CHANNEL, "channels": 4, "burst_bytes": 48}
            )
        }
    )
    fast, tile = _small_fast_and_tile(hw)
    chans = [f"dram.ch{c}" for c in range(4)]
    assert [n for n in tile.result.timelines if n.startswith("dram.")] == chans
    for w in run_detail(fast).windows:
        fig = figures.timeline(w, "x", 1e9)
        ticks = list(fig.layout.yaxis.ticktext)
        assert ticks[-5:] == ["DRAM"] + [f"DRAM channel {c}" for c in range(4)]
        oracle = {
            u: sum(
                b - a for a, b in clipped(t.groups_within(0, 1 << 62), w.start_cycle, w.end_cycle)
            )
            for u, t in tile.result.timelines.items()
        }
        drawn = figures.drawn_busy_cycles(fig)
        assert all(oracle[c] > 0 for c in chans)
        assert drawn == pytest.approx({u: c for u, c in oracle.items() if c}, abs=1e-6)
    doc = fast.to_json()
    lanes = [doc["timeline"][c] for c in chans]
    total = doc["total_cycles"]
    busy = [t["busy_cycles"] for t in lanes]
    assert all(b == sum(t["busy_per_bucket"]) for b, t in zip(busy, lanes, strict=True))
    assert max(busy) <= doc["busy_cycles"]["dram"] <= sum(busy) and max(busy) <= total
    # the whole-run busy chart: one dotted line per channel, one legend entry for them all,
    # each line's area its channel's busy cycles
    fig = figures.run_busy([doc], ["x"])
    lines = [tr for tr in fig.data if tr.legendgroup == "1dram-channels"]
    assert len(lines) == 4 and [tr.showlegend for tr in lines] == [True, False, False, False]
    clock = doc["hardware"]["array"]["clock_hz"]
    for tr, t in zip(lines, lanes, strict=True):
        w = t["bucket_cycles"]
        area = sum(
            y / 100 * min(w, total - round(x * clock))
            for x, y in zip(tr.x[:-1], tr.y[:-1], strict=True)
        )
        assert area == pytest.approx(t["busy_cycles"], rel=1e-9)
