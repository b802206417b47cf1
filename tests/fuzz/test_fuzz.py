"""The fuzzer: hostile files through ``tersim validate`` and, for what validates, a short run.

Zero tracebacks, hangs, over-memory commands or invalid JSON; every rejection names its file
(and, for a field's problem, its line). The normal suite runs the hand-made corpus, the seeds,
a derandomized slice of generated cases and a few cases in real subprocesses;
``pytest tests/fuzz --fuzz-long`` runs ``--fuzz-cases`` (default 2,000) generated cases, every
50th also in a subprocess, and prints the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_cases import cases, corpus, seeds
from fuzz_harness import (
    MEMORY_LIMIT_BYTES,
    Case,
    Tally,
    Verdict,
    check_case,
    run_subprocess,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

SLICE_CASES = 60
SUBPROCESS_EVERY = 50


def _fuzz(
    n: int, workdir: Path, seed: int | None = None, subprocess_tally: Tally | None = None
) -> Tally:
    tally = Tally()

    @settings(
        max_examples=n,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def one(case: Case) -> None:
        tally.add(case, check_case(case, workdir / "in-process"))
        if subprocess_tally is not None and tally.cases % SUBPROCESS_EVERY == 1:
            sub = workdir / "subprocess"
            sub.mkdir(parents=True, exist_ok=True)
            subprocess_tally.add(
                case, check_case(case, sub, runner=lambda args: run_subprocess(args, sub))
            )

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    one()
    return tally


def _assert_clean(tally: Tally, where: Path) -> None:
    assert not tally.failures, f"{tally.summary()}\n{tally.report_failures(where)}"


def test_seeds_validate_and_run(tmp_path: Path) -> None:
    """The seeds are valid and run, so mutations that stay valid exercise the simulator."""
    for path in seeds():
        judged = check_case(Case(f"seed {path.name}", path.read_bytes()), tmp_path)
        assert [j.verdict for j in judged] == [Verdict.OK, Verdict.OK], [j.why for j in judged]


def test_hostile_corpus(tmp_path: Path) -> None:
    """Every hand-made hostile file (the issue's reproducers among them) is handled cleanly."""
    tally = Tally()
    for case in corpus():
        tally.add(case, check_case(case, tmp_path))
    _assert_clean(tally, tmp_path / "failures")
    assert tally.cases >= 60 and tally.runs + tally.sweeps >= 5


def test_fuzz_slice(tmp_path: Path) -> None:
    """A derandomized slice of generated cases (the same ones every run)."""
    tally = _fuzz(SLICE_CASES, tmp_path)
    _assert_clean(tally, tmp_path / "failures")
    assert tally.figure(Verdict.REJECTED) > 0 and tally.runs > 0


def test_subprocess_sample(tmp_path: Path) -> None:
    """A few cases through ``python -m tersim``: real exit statuses, stderr and peak memory."""
    picked = {"billion_laughs.yaml"}
    sample = [c for c in corpus() if c.file_name in picked]
    sample.append(Case("seed tiny workload", seeds()[-1].read_bytes()))
    tally = Tally()
    for case in sample:
        tally.add(case, check_case(case, tmp_path, runner=lambda a: run_subprocess(a, tmp_path)))
    _assert_clean(tally, tmp_path / "failures")
    assert tally.runs == 1 and tally.figure(Verdict.REJECTED) == 1
    assert 0 < tally.peak_growth_bytes < MEMORY_LIMIT_BYTES


@pytest.mark.skipif("not config.getoption('--fuzz-long')", reason="long fuzz: --fuzz-long")
def test_long_fuzz(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    n = int(request.config.getoption("--fuzz-cases"))
    seed = request.config.getoption("--fuzz-seed")
    sub = Tally()
    tally = _fuzz(n, tmp_path, seed, subprocess_tally=sub)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{tally.summary()}")
        print("subprocess sample:\n" + sub.summary().replace("fuzz:", "  "))
    failures = tally.report_failures(tmp_path / "failures")
    sub_failures = sub.report_failures(tmp_path / "subprocess-failures")
    assert not tally.failures and not sub.failures, f"{failures}\n{sub_failures}"
    assert tally.cases >= n
