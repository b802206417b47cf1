"""Hypothesis strategies for hostile config files: mutations of every shipped file.

Bases: every shipped hardware design, workload and sweep, plus the seeds in
``tests/data/fuzz/seeds`` (a tiny workload and a tiny sweep, so that what stays valid runs fast).

* structural mutations (parse, change 1-4 things, dump): a value replaced by junk of another type
  or by a negative, zero, huge, NaN or infinite number; a number set to a schema bound or just
  past it (read from the schemas' JSON Schema); keys deleted, added, misspelt; a list for a map
  and a map for a list; values wrapped in deep nesting; unicode;
* text mutations of a base or of a structural mutation: truncation at a random offset, tabs,
  byte-order marks, binary junk, NUL and control characters, CRLF, lines duplicated (duplicate
  keys), deleted or swapped, a flipped byte;
* hostile documents: alias bombs, recursive aliases and merges, deep nesting (flow and block),
  explicit tags, 5,000-digit integers, YAML 1.1 forms (``yes``, ``0755``, ``1:30``, dates),
  legitimate anchors and merge keys, several documents.
"""

from __future__ import annotations

import copy
import enum
import math
import typing
from pathlib import Path
from typing import Any

import yaml
from fuzz_harness import ROOT, SEEDS, TINY_WORKLOAD, Case
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo


def _bases() -> list[tuple[str, str]]:
    files = sorted((ROOT / "hw_configs").glob("*.yaml"))
    files += sorted((ROOT / "hw_configs" / "sweeps").glob("*.yaml"))
    files += sorted((ROOT / "workloads").glob("*.yaml"))
    files += sorted(SEEDS.glob("*.yaml"))
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        if f.parent == SEEDS and "vary:" in text:  # the tiny sweep: its workload, wherever we run
            text = text.replace("tests/data/fuzz/seeds/tiny-workload.yaml", str(TINY_WORKLOAD))
        out.append((f.name, text))
    return out


BASES = _bases()
BASE_DOCS = [(name, yaml.safe_load(text)) for name, text in BASES]


def _schema_bounds() -> list[float]:
    """Every minimum and maximum in the hardware, workload and sweep schemas."""
    from tersim.config import HardwareConfig, ModelSpec
    from tersim.config.sweep import SweepSpec

    found: set[float] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for model in (HardwareConfig, ModelSpec, SweepSpec):
        walk(model.model_json_schema())
    return sorted(found)


BOUNDS = _schema_bounds()

SPECIAL_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    7,
    -0.0,
    0.5,
    2**31,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    10**30,
    1e-300,
    5e-324,
    1e300,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
]

numbers = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.sampled_from(BOUNDS),
    st.sampled_from(BOUNDS).map(lambda b: b + 1 if isinstance(b, int) else b * (1 + 1e-9)),
    st.sampled_from(BOUNDS).map(lambda b: b - 1 if isinstance(b, int) else b * (1 - 1e-9)),
    st.integers(),
    st.floats(),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=20),
    st.sampled_from(["", "yes", "no", "on", "0x1f", "1e9", "1:30", "null", "~", "\u00e9\u6f22"]),
)
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _tweak(value: Any, draw: st.DrawFn) -> Any:
    """A number changed arithmetically (or any value replaced, for non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return draw(junk)
    op = draw(st.sampled_from(["zero", "negate", "scale", "plus", "minus", "float", "str"]))
    if op == "zero":
        return 0
    if op == "negate":
        return -value
    if op == "scale":
        return value * draw(st.sampled_from([2, 10, 1000, 2**20, 2**40, 0.5, 1e-6]))
    if op == "plus":
        return value + 1
    if op == "minus":
        return value - 1
    if op == "float":
        return float(value)
    return str(value)


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


@st.composite
def structural(draw: st.DrawFn) -> Case:
    name, base = draw(st.sampled_from(BASE_DOCS))
    doc = copy.deepcopy(base)
    ops: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(
            st.sampled_from(
                ["junk", "number", "tweak", "delete", "add", "rename", "list", "map", "nest"]
            )
        )
        ops.append(f"{action}@{'.'.join(map(str, path))}")
        if not path:
            if action in ("junk", "list", "nest"):
                doc = draw(junk) if action == "junk" else _nest(doc, draw(st.integers(1, 80)), True)
            continue
        parent = _get(doc, path[:-1])
        key = path[-1]
        value = parent[key]
        if action == "junk":
            parent[key] = draw(junk)
        elif action == "number":
            parent[key] = draw(numbers)
        elif action == "tweak":
            parent[key] = _tweak(value, draw)
        elif action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(junk)
        elif action == "rename" and isinstance(parent, dict):
            new = str(key)[:-1] if len(str(key)) > 1 and draw(st.booleans()) else f"{key}x"
            parent[new] = parent.pop(key)
        elif action == "list":
            parent[key] = list(value.values()) if isinstance(value, dict) else [value]
        elif action == "map":
            parent[key] = dict(enumerate(value)) if isinstance(value, list) else {"v": value}
        elif action == "nest":
            parent[key] = _nest(value, draw(st.integers(1, 80)), draw(st.booleans()))
    text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False, width=10**6)
    return Case(f"structural {name}: {', '.join(ops)}", text.encode("utf-8"))


def _model_of(doc: Any) -> type[BaseModel] | None:
    from tersim.config import HardwareConfig, ModelSpec
    from tersim.config.sweep import SweepSpec

    if not isinstance(doc, dict):
        return None
    if "vary" in doc:
        return SweepSpec
    return ModelSpec if "architecture" in doc else HardwareConfig


def _constraints(annotation: Any) -> list[Any]:
    """The annotated-types constraints inside an annotation (Optional and Annotated unwrapped)."""
    out: list[Any] = []
    for arg in typing.get_args(annotation):
        if isinstance(arg, FieldInfo):
            out += arg.metadata
        elif arg is not type(None):
            out += _constraints(arg)
    return out


def _range(info: FieldInfo) -> tuple[Any, Any] | None:
    """(lowest, highest) valid value of a numeric field, from its constraints."""
    lo: Any = None
    hi: Any = None
    whole = "int" in str(info.annotation)
    for c in [*info.metadata, *_constraints(info.annotation)]:
        if getattr(c, "ge", None) is not None:
            lo = c.ge if lo is None else max(lo, c.ge)
        if getattr(c, "gt", None) is not None:
            above = c.gt + 1 if whole else c.gt + 1e-9
            lo = above if lo is None else max(lo, above)
        if getattr(c, "le", None) is not None:
            hi = c.le if hi is None else min(hi, c.le)
    if lo is None or hi is None:
        return None
    return (int(lo), int(hi)) if whole else (float(lo), float(hi))


def _choices(annotation: Any) -> list[Any]:
    """The values of an enum or Literal field (Optional unwrapped), as YAML would give them."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [m.value for m in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    found: list[Any] = []
    for arg in typing.get_args(annotation):
        if arg is not type(None):
            found += _choices(arg)
    return found


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _settable(
    model: type[BaseModel], doc: dict[str, Any], prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], st.SearchStrategy[Any]]:
    """Every field of ``model`` a valid value can be given to (present in ``doc`` or not; the
    fields of nested models that ``doc`` has), with a strategy of valid values, the extremes
    of each range most often."""
    out: dict[tuple[str, ...], st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        sub = _submodel(info.annotation)
        if sub is not None:
            if isinstance(doc.get(name), dict):
                out.update(_settable(sub, doc[name], path))
            continue
        bounds = _range(info)
        choices = _choices(info.annotation)
        if path == ("tech", "overrides_pj") and bounds is not None:
            from tersim.tech.tables import energy_field_names

            out[path] = st.dictionaries(
                st.sampled_from(energy_field_names()),
                st.sampled_from(bounds) | st.floats(*bounds),
                min_size=1,
                max_size=3,
            )
        elif bounds is not None:
            lo, hi = bounds
            if isinstance(lo, int):
                out[path] = st.one_of(
                    st.sampled_from([lo, hi, min(2, hi), min(3, hi)]), st.integers(lo, hi)
                )
            else:
                out[path] = st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi))
        elif choices:
            out[path] = st.sampled_from(choices)
        elif info.annotation is bool or typing.get_args(info.annotation)[:1] == (bool,):
            out[path] = st.booleans()
    return out


@st.composite
def in_range(draw: st.DrawFn) -> Case:
    """A valid file with 1-3 fields (given or left to their defaults) set to valid values:
    numbers within their ranges, often at the extremes, and other choices of enums and flags
    (exercises the simulator on valid but extreme designs and models)."""
    name, base = draw(st.sampled_from(BASE_DOCS))
    doc = copy.deepcopy(base)
    model = _model_of(doc)
    fields = {} if model is None else _settable(model, doc)
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        if not fields:
            break
        path = draw(st.sampled_from(sorted(fields)))
        value = draw(fields[path])
        _get(doc, path[:-1])[path[-1]] = value
        ops.append(f"{'.'.join(path)}={value}")
    text = yaml.safe_dump(doc, sort_keys=False, width=10**6)
    return Case(f"in-range {name}: {', '.join(ops)}", text.encode("utf-8"))


def _tiny_hardware_fields() -> dict[str, st.SearchStrategy[Any]]:
    """Dotted field -> valid values, for every field of the tiny design a sweep can vary."""
    from tersim.config import HardwareConfig

    doc = yaml.safe_load((ROOT / "hw_configs" / "ternary-8x8-tiny.yaml").read_text())
    return {".".join(p): strategy for p, strategy in _settable(HardwareConfig, doc).items()}


TINY_FIELDS = _tiny_hardware_fields()


@st.composite
def sweep_points(draw: st.DrawFn) -> Case:
    """The tiny sweep varying 1-2 hardware fields over 1-3 values each: mostly valid values
    (often extremes), sometimes values past the range or of the wrong type."""
    name, base = next((n, d) for n, d in BASE_DOCS if n == "tiny-sweep.yaml")
    doc = copy.deepcopy(base)
    fields = draw(
        st.lists(st.sampled_from(sorted(TINY_FIELDS)), min_size=1, max_size=2, unique=True)
    )
    valid_only = draw(st.booleans()) or draw(st.booleans())  # three sweeps in four
    doc["vary"] = {
        f: draw(
            st.lists(
                TINY_FIELDS[f] if valid_only else st.one_of(TINY_FIELDS[f], numbers, scalars),
                min_size=1,
                max_size=3,
            )
        )
        for f in fields
    }
    text = yaml.safe_dump(doc, sort_keys=False, width=10**6)
    return Case(f"sweep-points {name}: {doc['vary']!r}"[:300], text.encode("utf-8"))


TEXT_OPS = [
    "truncate",
    "tab",
    "bom8",
    "bom16",
    "junk",
    "nul",
    "control",
    "unicode",
    "crlf",
    "dup_line",
    "del_line",
    "swap_lines",
    "flip",
]


@st.composite
def textual(draw: st.DrawFn) -> Case:
    if draw(st.booleans()):
        name, text = draw(st.sampled_from(BASES))
        raw, label = text.encode("utf-8"), name
    else:
        inner = draw(structural())
        raw, label = inner.data, inner.label
    ops = draw(st.lists(st.sampled_from(TEXT_OPS), min_size=1, max_size=3))
    for op in ops:
        raw = _text_op(op, raw, draw)
    return Case(f"text {label}: {', '.join(ops)}", raw)


def _text_op(op: str, raw: bytes, draw: st.DrawFn) -> bytes:
    at = draw(st.integers(0, len(raw)))
    lines = raw.split(b"\n")
    line = draw(st.integers(0, max(0, len(lines) - 1)))
    if op == "truncate":
        return raw[:at]
    if op == "tab":
        lines[line] = b"\t" + lines[line].lstrip(b" ")
        return b"\n".join(lines)
    if op == "bom8":
        return b"\xef\xbb\xbf" + raw
    if op == "bom16":
        return raw.decode("utf-8", errors="replace").encode("utf-16")
    if op == "junk":
        return raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    if op == "nul":
        return raw[:at] + b"\x00" + raw[at:]
    if op == "control":
        return raw[:at] + bytes([draw(st.sampled_from([1, 7, 8, 11, 12, 27, 127]))]) + raw[at:]
    if op == "unicode":
        text = draw(st.text(min_size=1, max_size=8))
        return raw[:at] + text.encode("utf-8", errors="surrogatepass") + raw[at:]
    if op == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if op == "dup_line":
        lines.insert(line, lines[line])
        return b"\n".join(lines)
    if op == "del_line":
        del lines[line]
        return b"\n".join(lines)
    if op == "swap_lines":
        other = draw(st.integers(0, max(0, len(lines) - 1)))
        lines[line], lines[other] = lines[other], lines[line]
        return b"\n".join(lines)
    if op == "flip" and raw:
        at = min(at, len(raw) - 1)
        return raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1 :]
    return raw


def _embed(draw: st.DrawFn, snippet: str) -> str:
    """A base file with ``snippet`` put in place of one of its top-level values."""
    _, text = draw(st.sampled_from(BASES))
    lines = text.splitlines()
    tops = [i for i, x in enumerate(lines) if x and x[0].isalpha() and ":" in x]
    i = draw(st.sampled_from(tops))
    key = lines[i].split(":")[0]
    j = i + 1
    while j < len(lines) and (not lines[j] or lines[j][0] in " #"):
        j += 1
    return "\n".join([*lines[:i], f"{key}: {snippet}", *lines[j:]]) + "\n"


@st.composite
def hostile(draw: st.DrawFn) -> Case:
    kind = draw(
        st.sampled_from(
            [
                "alias_bomb",
                "recursive",
                "deep_flow",
                "deep_block",
                "tags",
                "long_int",
                "yaml11",
                "anchors",
                "documents",
            ]
        )
    )
    if kind == "alias_bomb":
        levels, fan = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        parts = ["a0: &a0 [" + ",".join(["lol"] * fan) + "]"]
        for n in range(1, levels):
            parts.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * fan) + "]")
        text = "\n".join(parts) + "\n"
        if draw(st.booleans()):  # the anchors first, then a base file using the last one
            text += _embed(draw, f"*a{levels - 1}")
    elif kind == "recursive":
        text = _embed(
            draw, draw(st.sampled_from(["&r [*r]", "&r {a: *r}", "&r {<<: *r}", "&r [1, [2, *r]]"]))
        )
    elif kind == "deep_flow":
        depth = draw(st.integers(10, 3000))
        text = _embed(draw, "[" * depth + "1" + "]" * depth)
    elif kind == "deep_block":
        depth = draw(st.integers(10, 200))
        text = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v: 1\n"
    elif kind == "tags":
        tag = draw(
            st.sampled_from(
                [
                    "!!python/object/apply:os.getcwd []",
                    "!!timestamp 2001-13-45",
                    "!!binary 'not base64!'",
                    "!!set {a, b}",
                    "!!omap [a: 1]",
                    "!!float eight",
                    "!!int 1.5",
                    "!!bool maybe",
                    "!!str 12",
                    "!!map [1]",
                    "!custom 3",
                    "!!null x",
                ]
            )
        )
        text = _embed(draw, tag)
    elif kind == "long_int":
        text = _embed(draw, "9" * draw(st.integers(4000, 6000)))
    elif kind == "yaml11":
        text = _embed(
            draw,
            draw(
                st.sampled_from(
                    [
                        "yes",
                        "off",
                        "0755",
                        "1:30",
                        "2001-13-45",
                        "2001-12-14",
                        "1_000",
                        "0b101",
                        "=",
                    ]
                )
            ),
        )
    elif kind == "anchors":
        _name, text = draw(st.sampled_from(BASES))
        if "  input:\n" in text and "  weight:\n" in text:
            text = text.replace("  input:\n", "  input: &buf\n", 1)
            text = text.replace("  weight:\n", "  weight:\n    <<: *buf\n", 1)
    else:
        _, text = draw(st.sampled_from(BASES))
        text = text + "---\n" + text if draw(st.booleans()) else "---\n" + text + "...\n"
    return Case(f"hostile {kind}", text.encode("utf-8"))


def cases() -> st.SearchStrategy[Case]:
    """Every kind of case, structural mutations most often."""
    return st.one_of(
        structural(), structural(), in_range(), in_range(), sweep_points(), textual(), hostile()
    )


def corpus() -> list[Case]:
    """The hand-made files: tests/data/fuzz/hostile (valid but tricky files, and junk) and
    tests/data/bad_configs (broken files whose problems are marked with ``# expect:``)."""
    folders = [
        ROOT / "tests" / "data" / "fuzz" / "hostile",
        ROOT / "tests" / "data" / "bad_configs",
    ]
    return [
        Case(f"corpus {p.parent.name}/{p.name}", p.read_bytes(), file_name=p.name)
        for folder in folders
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix == ".yaml"
    ]


def seeds() -> list[Path]:
    return sorted(SEEDS.glob("*.yaml"))
