"""Shared fixtures and hypothesis profiles (derandomized, so CI runs are repeatable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="tests/fuzz: run the long fuzz (--fuzz-cases cases) and print its figures.",
    )
    parser.addoption(
        "--fuzz-cases", type=int, default=2000, help="tests/fuzz: cases of the long fuzz."
    )
    parser.addoption(
        "--fuzz-seed",
        type=int,
        default=None,
        help="tests/fuzz: seed of the long fuzz (default: derandomized, the same cases each run).",
    )
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/regression/golden/*.json from the current model (review the diff).",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))
