"""Drawing points (grid, random, Latin hypercube) and Pareto fronts, against slow oracles."""

from __future__ import annotations

import itertools
import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config.sweep import Goal
from tersim.dse.pareto import pareto_front
from tersim.dse.space import DesignSpace, latin_hypercube_unit

AXES = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5, 1.5, 2.5, 3.5]}


def test_grid_is_the_cartesian_product_in_file_order() -> None:
    space = DesignSpace.of(AXES)
    got = list(space.grid())
    want = [tuple(zip("abc", v, strict=True)) for v in itertools.product(*AXES.values())]
    assert got == want and space.size == 24
    assert [space.point(space.decode(i)) for i in range(24)] == want


def test_random_draws_distinct_points_reproducibly_without_expanding() -> None:
    space = DesignSpace.of(AXES)
    a, b = list(space.random(10, seed=3)), list(space.random(10, seed=3))
    assert a == b and len(set(a)) == 10 and set(a) <= set(space.grid())
    assert list(space.random(10, seed=4)) != a
    assert sorted(space.random(100, seed=0)) == sorted(space.grid())  # capped at the space
    # 20 values on 12 axes is 4e15 points: sampling five takes no time and no memory
    huge = DesignSpace.of({f"x{i}": list(range(20)) for i in range(12)})
    t0 = time.perf_counter()
    pts = list(huge.random(5, seed=1))
    assert len(set(pts)) == 5 and time.perf_counter() - t0 < 1.0


@settings(max_examples=60)
@given(st.integers(1, 60), st.integers(1, 5), st.integers(0, 99))
def test_latin_hypercube_puts_one_point_in_every_stratum(n: int, dims: int, seed: int) -> None:
    pts = latin_hypercube_unit(n, dims, random.Random(seed))
    assert len(pts) == n
    for axis in range(dims):
        u = [p[axis] for p in pts]
        assert all(0.0 <= x < 1.0 for x in u)
        assert sorted(int(x * n) for x in u) == list(range(n))


def test_latin_hypercube_samples_each_value_equally_often() -> None:
    """With n a multiple of an axis's length, value i gets the strata [i n/len, (i+1) n/len):
    n/len of them. 12 samples over axes of 3 and 4 values: 4 and 3 draws per value (the
    draws are distinct here, so none is skipped)."""
    space = DesignSpace.of({"a": [1, 2, 3], "b": [10, 20, 30, 40], "c": list(range(12))})
    pts = list(space.latin_hypercube(12, seed=7))
    assert len(pts) == 12  # axis c alone makes them distinct
    for name, vals, times in (("a", [1, 2, 3], 4), ("b", [10, 20, 30, 40], 3)):
        got = [dict(p)[name] for p in pts]
        assert all(got.count(v) == times for v in vals)
    assert pts == list(space.latin_hypercube(12, seed=7))


def _brute_front(values: list[tuple[float, ...]], goals: list[Goal]) -> set[int]:
    signed = [
        tuple(v if g is Goal.MIN else -v for v, g in zip(row, goals, strict=True)) for row in values
    ]
    front = set()
    for i, a in enumerate(signed):
        beaten = any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a for b in signed)
        if not beaten:
            front.add(i)
    return front


@settings(max_examples=200)
@given(
    st.integers(2, 3).flatmap(
        lambda k: st.tuples(
            st.lists(st.tuples(*[st.integers(0, 6)] * k), min_size=1, max_size=25),
            st.lists(st.sampled_from(list(Goal)), min_size=k, max_size=k),
        )
    )
)
def test_pareto_front_matches_the_all_pairs_definition(
    case: tuple[list[tuple[int, ...]], list[Goal]],
) -> None:
    points, goals = case
    values = [tuple(float(v) for v in p) for p in points]
    assert set(pareto_front(values, goals)) == _brute_front(values, goals)


def test_pareto_front_by_hand() -> None:
    # (latency, energy): (1, 9) and (3, 3) and (9, 1) trade off; (4, 4) is beaten by (3, 3);
    # the duplicate (3, 3) is kept (neither beats the other)
    values = [(1.0, 9.0), (3.0, 3.0), (4.0, 4.0), (9.0, 1.0), (3.0, 3.0)]
    assert pareto_front(values, [Goal.MIN, Goal.MIN]) == [0, 1, 3, 4]
    # maximizing the second: (1, 9) beats everything with latency >= 1 and energy <= 9
    assert pareto_front(values, [Goal.MIN, Goal.MAX]) == [0]
