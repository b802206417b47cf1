"""The YAML reader's scalar rules (YAML 1.2 core schema) and its limits.

The expected values of the scalar table are the YAML 1.2.2 specification's examples of the core
schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution, examples 10.8 and 10.9), plus the
YAML 1.1 forms that the core schema reads as strings.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_any, load_hardware
from tersim.config.yaml_io import MAX_PROBLEMS, read_yaml
from tersim.config.yaml_loader import MAX_DEPTH, MAX_VALUES
from tersim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "hw_configs" / "ternary-8x8-tiny.yaml"
HOSTILE = ROOT / "tests" / "data" / "fuzz" / "hostile"

CORE_SCALARS: list[tuple[str, Any]] = [
    ("null", None),
    ("Null", None),
    ("NULL", None),
    ("~", None),
    ("", None),
    ("true", True),
    ("True", True),
    ("TRUE", True),
    ("false", False),
    ("FALSE", False),
    ("0", 0),
    ("0o7", 7),
    ("0x3A", 58),
    ("-19", -19),
    ("0755", 755),  # decimal in YAML 1.2 (octal 493 in YAML 1.1)
    ("0.", 0.0),
    ("-0.0", -0.0),
    (".5", 0.5),
    ("+12e03", 12000.0),
    ("-2E+05", -200000.0),
    ("1e9", 1e9),  # a string in YAML 1.1 (no dot)
    ("1.0e+9", 1e9),
    (".inf", math.inf),
    ("-.Inf", -math.inf),
    ("+.INF", math.inf),
    # strings in the core schema (YAML 1.1 read them as booleans, numbers or dates)
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("1:30", "1:30"),
    ("1_000", "1_000"),
    ("0b101", "0b101"),
    ("2001-12-14", "2001-12-14"),
    ("2001-13-45", "2001-13-45"),
    ("=", "="),
]


def _value(tmp_path: Path, text: str) -> Any:
    f = tmp_path / "v.yaml"
    f.write_text(f"v: {text}\n")
    data, _ = read_yaml(f)
    return data["v"]


@pytest.mark.parametrize(
    ("text", "expected"), CORE_SCALARS, ids=[t or "empty" for t, _ in CORE_SCALARS]
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(
    tmp_path: Path, text: str, expected: Any
) -> None:
    got = _value(tmp_path, text)
    assert type(got) is type(expected) and got == expected
    if isinstance(expected, float):
        assert math.copysign(1, got) == math.copysign(1, expected)


def test_nan_is_a_float(tmp_path: Path) -> None:
    assert all(math.isnan(_value(tmp_path, t)) for t in (".nan", ".NaN", ".NAN"))


def test_clock_written_1e9_is_a_valid_design(tmp_path: Path) -> None:
    f = tmp_path / "hw.yaml"
    f.write_text(TINY.read_text().replace("clock_hz: 1.0e+9", "clock_hz: 1e9"))
    assert load_hardware(f).array.clock_hz == 1e9


def test_anchors_and_merge_keys_give_the_same_design_as_the_plain_file() -> None:
    assert load_hardware(HOSTILE / "alias-legit.yaml") == load_hardware(TINY)


def test_a_byte_order_mark_and_crlf_line_ends_are_read() -> None:
    assert load_hardware(HOSTILE / "bom-utf8.yaml") == load_hardware(TINY)
    assert load_hardware(HOSTILE / "crlf.yaml") == load_hardware(TINY)


def _problem(path: Path) -> Any:
    with pytest.raises(ConfigError) as info:
        load_any(path)
    return info.value.problems


def test_nesting_up_to_the_limit_reads_and_one_more_level_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    read_yaml(f)  # the top mapping is level 1
    f.write_text("a:\n  " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
    (problem,) = _problem(f)
    assert problem.line == 2 and "nested too deeply" in problem.message


def test_values_up_to_the_limit_read_and_one_more_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "many.yaml"
    # the items, plus the mapping, its key and the list
    f.write_text("a: [" + ",".join(["0"] * (MAX_VALUES - 3)) + "]\n")
    read_yaml(f)
    f.write_text("a: [" + ",".join(["0"] * (MAX_VALUES - 2)) + "]\n")
    (problem,) = _problem(f)
    assert "too many values" in problem.message


def test_the_billion_laughs_is_refused_quickly() -> None:
    """380 bytes expanding to 10^9 values took 68 s and 6.2 GB before failing."""
    start = time.process_time()
    (problem,) = _problem(ROOT / "tests" / "data" / "bad_configs" / "billion_laughs.yaml")
    assert time.process_time() - start < 5
    assert "too many values" in problem.message


def test_aliases_count_what_they_stand_for(tmp_path: Path) -> None:
    f = tmp_path / "fan.yaml"
    base = ",".join(["1"] * 150)
    f.write_text(f"a: &a [{base}]\nb: [" + ",".join(["*a"] * 150) + "]\n")  # 22,500 values
    (problem,) = _problem(f)
    assert problem.line == 2 and "counting each alias" in problem.message


def test_a_recursive_alias_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("name: x\nsram:\n  input: &a\n    nested: [1, *a]\n")
    (problem,) = _problem(f)
    assert problem.line == 4 and "alias *a is inside the value it names" in problem.message


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    problems = _problem(HOSTILE / "many-unknown-keys.yaml")
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message.startswith("4900 more problems not shown")
