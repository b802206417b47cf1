"""The YAML loader behind :mod:`tersim.config.yaml_io` (its only user): YAML 1.2, with limits.

PyYAML implements YAML 1.1, whose plain scalars surprise config authors: ``1e9`` is a string,
``yes``/``no``/``on``/``off`` are booleans, ``0755`` is octal, ``1:30`` is 90 and ``2001-13-45`` is
a date (and a crash). This loader resolves plain scalars by the YAML 1.2 core schema instead
(https://yaml.org/spec/1.2.2/#1032-tag-resolution):

* null: ``null``, ``Null``, ``NULL``, ``~`` or nothing; bool: ``true``/``false`` (three casings);
* int: ``[-+]?[0-9]+`` (decimal, leading zeros too), ``0o[0-7]+``, ``0x[0-9a-fA-F]+``;
* float: ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?``, ``[-+]?.inf``, ``.nan``;
* everything else is a string. Merge keys (``<<: *base``) are kept.

Only those tags (and ``!!str``, ``!!seq``, ``!!map``) construct; any other tag is an error.

Limits, each an error at the line where it is crossed (a config has a few levels and a few
hundred values, so none of them bites a real file):

* nesting deeper than :data:`MAX_DEPTH` collections (PyYAML's composer recurses, so without it a
  deep file is a RecursionError);
* an alias inside the collection it names (``a: &a [*a]``: an infinite value);
* more than :data:`MAX_VALUES` values once aliases are expanded (a "billion laughs" file of a
  few hundred bytes expands to 10^9 values and exhausts memory downstream);
* an integer longer than :data:`MAX_INT_DIGITS` digits (Python refuses to convert it).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import Node
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

MAX_DEPTH = 64  # nested mappings/lists; tersim's schemas use at most 4
MAX_VALUES = 20_000  # scalars and collections, aliases expanded; a config has ~100
MAX_INT_DIGITS = 4300  # Python's own limit for converting decimal text to int

_TAG = "tag:yaml.org,2002:"


class LoadError(yaml.MarkedYAMLError):
    """A file crosses a limit or holds a value its tag cannot construct; ``problem`` is the
    message to show, ``problem_mark`` where."""

    def __init__(self, message: str, mark: Any):
        super().__init__(problem=message, problem_mark=mark)


class _Resolver(BaseResolver):
    """Plain scalars resolved by the YAML 1.2 core schema (see the module doc)."""


_CORE: list[tuple[str, str, str]] = [
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("merge", r"^<<$", "<"),
]
for _name, _pattern, _first in _CORE:
    _Resolver.add_implicit_resolver(f"{_TAG}{_name}", re.compile(_pattern), [*_first])
_Resolver.add_implicit_resolver(f"{_TAG}null", re.compile(r"^$"), [""])


class _Constructor(SafeConstructor):
    """Python values for the core schema's tags only; any other tag is an error."""

    def construct_core_null(self, node: Node) -> None:
        self.construct_scalar(node)  # type: ignore[arg-type]

    def construct_core_bool(self, node: Node) -> bool:
        value = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if value.lower() not in ("true", "false"):
            raise LoadError(
                f"not a boolean (got {value!r}; expected true or false)", node.start_mark
            )
        return value.lower() == "true"

    def construct_core_int(self, node: Node) -> int:
        value = str(self.construct_scalar(node))  # type: ignore[arg-type]
        digits = value.lstrip("-+")
        if len(digits) > MAX_INT_DIGITS:
            raise LoadError(
                f"integer too long (got {len(digits)} digits; expected at most {MAX_INT_DIGITS})",
                node.start_mark,
            )
        try:
            if digits.startswith(("0o", "0x")):
                return int(value, 0)
            return int(value, 10)
        except ValueError:
            raise LoadError(
                f"not an integer (got {value!r}; expected an integer)", node.start_mark
            ) from None

    def construct_core_float(self, node: Node) -> float:
        value = str(self.construct_scalar(node))  # type: ignore[arg-type]
        special = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
        if value.lower() in special:
            return special[value.lower()]
        if value.lower() == ".nan":
            return float("nan")
        try:
            return float(value)
        except ValueError:
            raise LoadError(
                f"not a number (got {value!r}; expected a number)", node.start_mark
            ) from None

    # PyYAML's registry of constructors by tag, replaced (not extended): only these construct.
    yaml_constructors: ClassVar[dict[Any, Any]] = {
        f"{_TAG}null": construct_core_null,
        f"{_TAG}bool": construct_core_bool,
        f"{_TAG}int": construct_core_int,
        f"{_TAG}float": construct_core_float,
        f"{_TAG}str": SafeConstructor.construct_yaml_str,
        f"{_TAG}seq": SafeConstructor.construct_yaml_seq,
        f"{_TAG}map": SafeConstructor.construct_yaml_map,
        None: SafeConstructor.construct_undefined,
    }


class _Composer(Composer):
    """PyYAML's composer with the depth, recursion and expansion limits of the module doc.

    The expanded size is counted as the file is read (one per value composed, plus, per alias,
    the size of the value it stands for), so the limit stops a long file or an alias bomb at
    the line where it is crossed, before the rest is composed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._open_anchors: list[str] = []
        self._sizes: dict[str, int] = {}  # anchor -> values its node expands to
        self._heights: dict[str, int] = {}  # anchor -> levels of collections its node has
        self._height_stack: list[int] = []  # per node being composed: its children's height
        self._values = 0  # values of the document so far, aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()  # type: ignore[attr-defined]  # from the Parser mixin
        if isinstance(event, AliasEvent):
            if event.anchor in self._open_anchors:
                raise LoadError(
                    f"alias *{event.anchor} is inside the value it names (got a recursive "
                    "alias; expected an alias of a complete value)",
                    event.start_mark,
                )
            anchor = str(event.anchor)
            self._count(self._sizes.get(anchor, 1), event.start_mark)
            height = self._heights.get(anchor, 0)
            if self._depth + height > MAX_DEPTH:
                raise self._too_deep(event.start_mark)
            self._report_height(height)
            return super().compose_node(parent, index)  # type: ignore[return-value]
        self._count(1, event.start_mark)
        before = self._values
        collection = isinstance(event, SequenceStartEvent | MappingStartEvent)
        self._height_stack.append(0)
        if collection:
            if self._depth >= MAX_DEPTH:
                raise self._too_deep(event.start_mark)
            self._depth += 1
            if event.anchor is not None:
                self._open_anchors.append(event.anchor)
        try:
            node: Node = super().compose_node(parent, index)  # type: ignore[assignment]
        finally:
            if collection:
                self._depth -= 1
                if event.anchor is not None:
                    self._open_anchors.pop()
        height = self._height_stack.pop() + (1 if collection else 0)
        self._report_height(height)
        if event.anchor is not None:
            self._sizes[event.anchor] = self._values - before + 1
            self._heights[event.anchor] = height
        return node

    def _report_height(self, height: int) -> None:
        if self._height_stack:
            self._height_stack[-1] = max(self._height_stack[-1], height)

    @staticmethod
    def _too_deep(mark: Any) -> LoadError:
        return LoadError(
            f"nested too deeply (got more than {MAX_DEPTH} levels of mappings and lists, "
            "counting what aliases stand for; expected a config's few levels)",
            mark,
        )

    def _count(self, values: int, mark: Any) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise LoadError(
                f"too many values (got more than {MAX_VALUES}, counting each alias as the "
                f"values it stands for; expected a config of at most {MAX_VALUES})",
                mark,
            )


class Loader(Reader, Scanner, Parser, _Composer, _Constructor, _Resolver):
    """A YAML 1.2 core-schema loader with limits; use ``get_single_node`` then
    ``construct_document`` (so the caller keeps the node tree for line numbers)."""

    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
