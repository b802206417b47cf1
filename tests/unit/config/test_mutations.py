"""Random mutations of a valid config either load or raise ConfigError, never anything else."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import load_any
from tersim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
BASES = [
    yaml.safe_load((ROOT / "hw_configs" / "ternary-8x8-tiny.yaml").read_text()),
    yaml.safe_load((ROOT / "workloads" / "bitnet-b1.58-700m.yaml").read_text()),
]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                doc = draw(junk)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict):
            continue
        if action == "replace":
            parent[path[-1]] = draw(junk)
        elif action == "delete":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    return doc


@settings(max_examples=300)
@given(mutated())
def test_mutation_loads_or_raises_config_error(tmp_path_factory: Any, doc: Any) -> None:
    path = tmp_path_factory.mktemp("m") / "cfg.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        load_any(path)
    except ConfigError as exc:
        assert exc.problems
        assert all(p.file == str(path) for p in exc.problems)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_load_or_raise_config_error(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("b") / "cfg.yaml"
    path.write_bytes(raw)
    try:
        load_any(path)
    except ConfigError as exc:
        assert exc.problems
