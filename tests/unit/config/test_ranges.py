"""Every number in the schemas has a stated range, and every number in a file is checked by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tersim.config import HardwareConfig, ModelSpec, load_any
from tersim.config.sweep import SweepSpec
from tersim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
FILES = [
    ROOT / "hw_configs" / "ternary-8x8-tiny.yaml",
    ROOT / "tests" / "data" / "fuzz" / "seeds" / "tiny-workload.yaml",
    ROOT / "tests" / "data" / "fuzz" / "seeds" / "tiny-sweep.yaml",
]


def _numeric_schemas(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            out.append((where, node))
        for key, value in node.items():
            out += _numeric_schemas(value, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _numeric_schemas(value, f"{where}[{i}]")
    return out


@pytest.mark.parametrize("model", [HardwareConfig, ModelSpec, SweepSpec])
def test_every_number_in_a_schema_has_a_lower_and_an_upper_bound(model: Any) -> None:
    numbers = _numeric_schemas(model.model_json_schema())
    assert len(numbers) >= 3
    unbounded = [
        where
        for where, node in numbers
        if "enum" not in node
        and not (
            {"maximum", "exclusiveMaximum"} & set(node)
            and {"minimum", "exclusiveMinimum"} & set(node)
        )
    ]
    assert unbounded == []


def _leaves(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*prefix, k))]
    return [prefix]


def _numbers(file: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """(file, dotted path) of every number the file gives (a sweep's vary lists excepted)."""
    doc = yaml.safe_load(file.read_text())
    out = []
    for path in _leaves(doc):
        value = doc
        for key in path:
            value = value[key]
        if isinstance(value, int | float) and not isinstance(value, bool) and "vary" not in path:
            out.append((file, path))
    return out


CASES = [case for f in FILES for case in _numbers(f)]


@pytest.mark.parametrize("value", [".nan", "-1", str(2**64)])
@pytest.mark.parametrize(("file", "path"), CASES, ids=[f"{f.stem}:{'.'.join(p)}" for f, p in CASES])
def test_each_number_refuses_nan_negative_and_huge(
    tmp_path: Path, file: Path, path: tuple[str, ...], value: str
) -> None:
    lines = file.read_text().splitlines()
    key = path[-1]
    # the key's line: the first line for this key after its parents' lines
    at = 0
    for part in path:
        at = next(i for i in range(at, len(lines)) if lines[i].strip().startswith(f"{part}:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = f"{indent}{key}: {value}"
    bad = tmp_path / file.name
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_any(bad)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (at + 1, ".".join(path)), str(problem)
