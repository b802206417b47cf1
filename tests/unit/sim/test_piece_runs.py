"""Lanes kept as strided piece placements (a segment replayed again and again: one record)
against the same intervals added one by one to a plain ``Timeline`` (the layer-by-layer
code's lane), on seeded random pieces: busy cycles, every bucket's busy cycles, the exact
intervals, the interval count that decides whether they are listed, and zoomed windows."""

from __future__ import annotations

import random

from tersim.report.data import clipped
from tersim.sim.core import Timeline
from tersim.sim.fast import UnitLane
from tersim.sim.result import Piece, PieceRun, UnitTimeline


def _piece(rng: random.Random) -> tuple[Piece, int]:
    """A segment's busy intervals (a plain lane's groups, relative) and its length."""
    tl = Timeline()
    t = rng.randint(0, 3)
    for _ in range(rng.randint(1, 6)):
        length = rng.choice([2, 3, 5])
        tl.add(t, t + length)
        t += length + rng.choice([0, 0, 1, 4])
    return Piece.of(tl.groups), t


def _lanes(seed: int) -> tuple[UnitLane, Timeline, int]:
    rng = random.Random(seed)
    lane, plain = UnitLane(), Timeline()
    at = 0
    for _ in range(rng.randint(1, 5)):
        piece, length = _piece(rng)
        period = length + rng.choice([0, 0, 2, 7])
        for _ in range(rng.randint(1, 9)):
            lane.place(piece, at)
            plain.place(piece, at)  # a plain lane copies the groups in
            at += period
        at += rng.choice([0, 3])
    return lane, plain, at


def test_piece_runs_give_the_lane_of_their_intervals_added_one_by_one() -> None:
    for seed in range(300):
        lane, plain, end = _lanes(seed)
        assert any(r.times > 1 for r in lane.placed) or len(lane.placed) <= 5
        want_count = sum(g[3] for g in plain.groups)
        for limit in (0, 3, want_count - 1, want_count, 10_000):
            got = lane.count_upto(limit)
            assert got == want_count if want_count <= limit else got > limit, (seed, limit)
        for total in (end, end + 37, 5 * end):
            mine = UnitTimeline.of(lane.groups, total, lane.pieces(), lane.count_upto(10_000))
            old = UnitTimeline.of(plain.groups, total)
            assert (mine.busy_cycles, mine.busy_per_bucket, mine.intervals) == (
                old.busy_cycles, old.busy_per_bucket, old.intervals,
            ), seed  # fmt: skip
            for lo, hi in ((0, total), (total // 3, total // 2), (end // 2, end // 2 + 9)):
                assert clipped(mine.groups_within(lo, hi), lo, hi) == clipped(
                    old.groups_within(lo, hi), lo, hi
                )


def test_a_piece_run_is_its_copies() -> None:
    piece = Piece.of([(0, 4, 0, 1), (6, 8, 3, 2)])
    run = PieceRun(piece, 10, 20, 3)
    want = [g for k in range(3) for g in piece.groups(10 + 20 * k)]
    assert run.groups() == want
    assert (run.lo, run.hi, run.busy, run.intervals) == (10, 10 + 11 + 40, 3 * 8, 9)
    every = [(s + i * st, e + i * st) for s, e, st, c in want for i in range(c)]
    for x in range(0, 80):
        assert run.busy_before(x) == sum(max(0, min(x, e) - s) for s, e in every), x
    assert list(run.copies_within(31, 32)) == [1]
    assert list(run.copies_within(0, 10)) == []
