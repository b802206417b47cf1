"""Interleaved queue entries played as repeated patterns (``Machine.pattern``: the period and the
drift closed forms), against the plain recurrence (every entry played one by one with
``Machine.item``) and the per-tile simpy oracle; the affine arithmetic the drift form runs on,
against brute force over the repetition index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.enums import DramModelKind
from tersim.sim import MemoryTiming, StagingBuffer
from tersim.sim.affine import Aff, Range, coefficients
from tersim.sim.core import (
    NEG,
    PATTERN_MAX_ITEMS,
    PATTERN_MIN_REPS,
    Machine,
    QItem,
    QOp,
    QRun,
    periodic_stretches,
)
from tersim.sim.fast import EngineRun, Template, run_fast
from tersim.sim.oracle import run_oracle


@st.composite
def interleaved(draw: st.DrawFn) -> tuple[list[QItem], int, int]:
    """A producer op (maybe writing back), then 1-3 ops that depend on it, on different units
    (and maybe buffers), each of one or two runs of 16-60 tiles whose costs are close to each
    other (so units drift against each other or the DRAM), queued as the planner interleaves
    ops that run at once: each op's first tile alone, then pieces of 1-2 tiles round robin,
    then each op's last tile; then a consumer of them all."""
    n = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 2))
    base = draw(st.integers(20, 130))
    prod = QOp(
        0, (QRun(1, draw(st.sampled_from([0, 64])), 7, 0, 0),), draw(st.sampled_from([0, 64])), ()
    )
    ops = [prod]
    for i in range(1, n + 1):
        runs = tuple(
            QRun(
                draw(st.integers(16, 60)),
                draw(st.sampled_from([0, 16, 64, 100, 300])),
                base + draw(st.integers(-2, 2)),
                (i - 1) % 3,
                draw(st.integers(0, nb - 1)),
            )
            for _ in range(draw(st.integers(1, 2)))
        )
        ops.append(QOp(i, runs, draw(st.sampled_from([0, 0, 50])), (0,)))
    last = QOp(n + 1, (QRun(1, 0, 5, 0, 0),), 0, tuple(range(1, n + 1)))
    piece = draw(st.integers(1, 2))
    items = [QItem(prod, 0, 0, 1)]
    if prod.write_bytes:
        items.append(QItem(prod, -1, 0, 0))
    queues = []
    for q in ops[1:]:
        tiles = [(k, t) for k, r in enumerate(q.runs) for t in range(r.count)]
        pieces: list[QItem] = [QItem(q, 0, 0, 1)]
        rest = tiles[1:-1]
        while rest:
            chunk, rest = rest[:piece], rest[piece:]
            k = chunk[0][0]
            same = [c for c in chunk if c[0] == k]
            if len(same) < len(chunk):
                rest = chunk[len(same) :] + rest
            pieces.append(QItem(q, k, same[0][1], len(same)))
        k, t = tiles[-1]
        pieces.append(QItem(q, k, t, 1))
        if q.write_bytes:
            pieces.append(QItem(q, -1, 0, 0))
        queues.append(pieces)
    while any(queues):
        for qs in queues:
            if qs:
                items.append(qs.pop(0))
    items.append(QItem(last, 0, 0, 1))
    return items, n, nb


def _mem(
    bw: float, lat: int, cap: int, depth: int, engines: int, dram: int, nb: int
) -> MemoryTiming:
    private = tuple((f"u{k}", StagingBuffer(cap, True, depth)) for k in range(1, nb))
    model = (DramModelKind.AGGREGATE, 1, 64) if dram == 1 else (DramModelKind.PER_CHANNEL, dram, 16)
    return MemoryTiming.of(bw, lat, cap, True, depth, *model, engines, private)


def _plain(items: list[QItem], n_pos: int, units: int, mem: MemoryTiming) -> EngineRun:
    """Every entry played one by one (the recurrence without patterns)."""
    m = Machine.new(mem, units, record=True)
    spans = [(0, 0)] * n_pos
    for it in items:
        span = m.item(it.op, it.run, it.first, it.count)
        if span is not None:
            spans[it.op.pos] = span
    m.flush()
    return EngineRun.of(m, spans, m.end_cycle)


def _same(a: EngineRun, b: EngineRun) -> None:
    assert a.spans == b.spans
    assert a.end_cycle == b.end_cycle
    assert a.stats == b.stats
    assert [t.intervals() for t in a.timelines] == [t.intervals() for t in b.timelines]
    assert a.dram.intervals() == b.dram.intervals()  # the DRAM lane through both closed forms
    # and each DRAM channel's
    assert [t.intervals() for t in a.channels] == [t.intervals() for t in b.channels]


@settings(max_examples=250)
@given(
    g=interleaved(),
    bw=st.sampled_from([1.0, 2.0, 4.0, 64.0]),
    lat=st.integers(0, 40),
    cap=st.sampled_from([100, 400, 4000]),
    depth=st.sampled_from([2, 4, 16]),
    engines=st.sampled_from([1, 2]),
    dram=st.sampled_from([1, 2, 3]),
)
def test_patterns_equal_the_plain_recurrence(g, bw, lat, cap, depth, engines, dram) -> None:  # type: ignore[no-untyped-def]
    """Spans, end, busy/stall/DRAM stats and every unit's busy intervals (group for group)
    equal playing every entry one by one; the queue has a stretch to play as a pattern."""
    items, n, nb = g
    mem = _mem(bw, lat, cap, depth, engines, dram, nb)
    t, _, _ = Template.from_items(items)
    assert t.stretches  # the interleaving repeats
    _same(run_fast(items, n + 2, 3, mem, None), _plain(items, n + 2, 3, mem))


@settings(max_examples=60)
@given(
    g=interleaved(),
    bw=st.sampled_from([2.0, 64.0]),
    lat=st.integers(0, 40),
    depth=st.sampled_from([2, 16]),
    engines=st.sampled_from([1, 2]),
)
def test_patterns_equal_the_per_tile_oracle(g, bw, lat, depth, engines) -> None:  # type: ignore[no-untyped-def]
    items, n, nb = g
    mem = _mem(bw, lat, 4000, depth, engines, 1, nb)
    a, b = run_fast(items, n + 2, 3, mem, None), run_oracle(items, n + 2, 3, mem)
    assert a.spans == b.spans
    assert a.end_cycle == b.end_cycle
    assert a.stats == b.stats
    assert [x.intervals() for x in a.timelines] == [x.intervals() for x in b.timelines]


@pytest.mark.parametrize("channels", [1, 4])
def test_drifting_units_take_the_drift_form(channels: int) -> None:
    """Two 300-tile ops interleaved tile by tile, on two units computing 129 and 128 cycles
    per tile, fed through one 16-tile window (the DRAM is fast): the vector unit gains one
    cycle per repetition on the array, so the state never repeats and no period exists, but
    it drifts. Played with far fewer single-tile steps than tiles, and equal to the plain
    recurrence (with 4 DRAM channels too: each channel's lane through the drift form)."""
    prod = QOp(0, (QRun(1, 0, 7, 0, 0),), 0, ())
    a = QOp(1, (QRun(300, 4096, 129, 0, 0),), 0, (0,))
    b = QOp(2, (QRun(300, 16331, 128, 1, 0),), 0, (0,))
    last = QOp(3, (QRun(1, 0, 5, 0, 0),), 0, (1, 2))
    items = [QItem(prod, 0, 0, 1), QItem(a, 0, 0, 1), QItem(b, 0, 0, 1)]
    for k in range(1, 299):
        items += [QItem(a, 0, k, 1), QItem(b, 0, k, 1)]
    items += [QItem(a, 0, 299, 1), QItem(b, 0, 299, 1), QItem(last, 0, 0, 1)]
    model = DramModelKind.AGGREGATE if channels == 1 else DramModelKind.PER_CHANNEL
    mem = MemoryTiming.of(256.0, 100, 1 << 22, True, 16, model, channels, 64)
    steps = 0
    step = Machine.step

    def counting(
        self: Machine, r: QRun, gate_w: int, gate: int, wb: int = 0, wready: int = NEG
    ) -> tuple[int, int]:
        nonlocal steps
        steps += 1
        return step(self, r, gate_w, gate, wb, wready)

    Machine.step = counting  # type: ignore[method-assign]
    try:
        fast = run_fast(items, 4, 2, mem, None)
        counted = steps
    finally:
        Machine.step = step  # type: ignore[method-assign]
    assert counted < 602 // 4
    _same(fast, _plain(items, 4, 2, mem))


@settings(max_examples=300)
@given(
    f0=st.integers(-50, 50),
    g=st.integers(-7, 7),
    last=st.integers(0, 40),
    op=st.sampled_from(["gt", "ge", "lt", "le", "eq"]),
    other=st.integers(-30, 30),
)
def test_affine_comparisons_hold_on_the_range_they_leave(f0, g, last, op, other) -> None:  # type: ignore[no-untyped-def]
    """A comparison of ``f0 + g j`` with a constant answers as at ``j = 0``, and leaves the
    range at the largest ``j`` up to which every ``j`` gives that answer (brute force)."""
    r = Range(last)
    x = Aff(f0, g, r)
    fns = {
        "gt": lambda v: v > other,
        "ge": lambda v: v >= other,
        "lt": lambda v: v < other,
        "le": lambda v: v <= other,
        "eq": lambda v: v == other,
    }
    got = fns[op](x)
    truth = [fns[op](f0 + g * j) for j in range(last + 1)]
    assert got == truth[0]
    assert all(t == got for t in truth[: r.last + 1])
    if r.last < last:
        assert truth[r.last + 1] != got
    assert coefficients(x + 3 - Aff(1, 1, r)) == (f0 + 2, g - 1)


@given(sigs=st.lists(st.sampled_from([None, "a", "b", "c"]), max_size=60))
def test_stretches_repeat_their_pattern(sigs) -> None:  # type: ignore[no-untyped-def]
    """Every stretch is eligible entries repeating its first ``period`` ones at least
    PATTERN_MIN_REPS times; stretches do not overlap; a run of one signature repeated that
    often is found."""
    end = 0
    for start, period, reps in periodic_stretches(sigs):
        assert start >= end and reps >= PATTERN_MIN_REPS
        block = sigs[start : start + period * reps]
        assert None not in block
        assert block == block[:period] * reps
        end = start + period * reps
    assert periodic_stretches(["a"] * PATTERN_MIN_REPS) == ((0, 1, PATTERN_MIN_REPS),)
    assert periodic_stretches(["a", "b"] * 7 + [None]) == ((0, 2, 7),)


def _stretches_slowly(sigs: list[str | None]) -> tuple[tuple[int, int, int], ...]:
    """periodic_stretches the obvious way: at each entry, every period, scanning forward."""
    out, i, n = [], 0, len(sigs)
    while i < n:
        best = (0, 0)
        for p in range(1, PATTERN_MAX_ITEMS + 1):
            if i + p > n or None in sigs[i : i + p]:
                break
            j = i + p
            while j < n and sigs[j] is not None and sigs[j] == sigs[j - p]:
                j += 1
            reps = (j - i) // p
            if reps >= PATTERN_MIN_REPS and reps * p > best[0]:
                best = (reps * p, p)
        if best[0]:
            out.append((i, best[1], best[0] // best[1]))
            i += best[0]
        else:
            i += 1
    return tuple(out)


@given(
    noise=st.lists(st.sampled_from([None, "a", "b", "c"]), max_size=40),
    pattern=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
    reps=st.integers(0, 9),
    at=st.integers(0, 40),
)
def test_stretches_equal_the_obvious_scan(noise, pattern, reps, at) -> None:  # type: ignore[no-untyped-def]
    sigs = noise[:at] + pattern * reps + noise[at:]
    assert periodic_stretches(sigs) == _stretches_slowly(sigs)
