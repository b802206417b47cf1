"""The only YAML reader in tersim: loads a file, keeps the line of every field, validates.

Every problem in a file is collected and raised at once as a :class:`ConfigError`, each rendered
``FILE:LINE: dotted.field: what is wrong (got X; expected Y)``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tersim.config.hardware import HardwareConfig, design_problems
from tersim.config.sweep import SweepSpec, sweep_problems
from tersim.config.workload import ModelSpec, model_problems
from tersim.config.yaml_loader import Loader as _Loader
from tersim.config.yaml_loader import LoadError as _LoadError
from tersim.errors import ConfigError, FileError, Problem
from tersim.files import read_bounded

MAX_FILE_BYTES = 1 << 20  # configs are small; anything larger is a mistake, not a design
MAX_PROBLEMS = 100  # reported per file; past that, the first ones are what to fix
Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class _Lines:
    """Line numbers (1-based) of every key and item in a YAML document, by path."""

    def __init__(self) -> None:
        self.by_path: dict[Path_, int] = {}
        self.duplicates: list[tuple[Path_, int, int]] = []  # path, first line, repeat line

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that the file has."""
        for n in range(len(path), -1, -1):
            line = self.by_path.get(path[:n])
            if line is not None:
                return line
        return None

    def line_of_dotted(self, field: str) -> int | None:
        """The line of a dotted field; keys may contain dots themselves (``vary.array.rows``)."""
        for path, line in self.by_path.items():
            if _dotted(path) == field:
                return line
        return self.line_of(tuple(field.split(".")))

    def record(self, node: yaml.Node, path: Path_) -> None:
        self.by_path.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    self.duplicates.append(((*path, key), seen[key], line))
                    continue
                seen[key] = line
                self.by_path[(*path, key)] = line
                self.record(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.record(item, (*path, i))


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def read_yaml(path: Path) -> tuple[Any, _Lines]:
    """Parse ``path``; return its data and line map, or raise ConfigError naming the problem."""
    name = str(path)
    try:
        raw = read_bounded(path, MAX_FILE_BYTES, "a YAML file")
    except FileError as exc:
        raise ConfigError([Problem(name, None, "(file)", exc.reason)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                Problem(
                    name,
                    line,
                    "(file)",
                    f"file is not UTF-8 text (got byte 0x{raw[exc.start]:02x}; expected UTF-8)",
                )
            ]
        ) from None
    if not text.lstrip("\ufeff").strip():
        raise ConfigError(
            [Problem(name, 1, "(file)", "file is empty (got nothing; expected a YAML mapping)")]
        )
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _LoadError as exc:
        mark = exc.problem_mark
        at = mark.line + 1 if mark is not None else None
        raise ConfigError([Problem(name, at, "(file)", exc.problem or "")]) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(name, exc)]) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            [
                Problem(
                    name,
                    line,
                    "(file)",
                    f"YAML syntax error (got character "
                    f"#x{exc.character:04x}, which YAML does not allow; "
                    "expected printable text)",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            [Problem(name, None, "(file)", f"YAML error (got {exc}; expected valid YAML)")]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise ConfigError(
            [
                Problem(
                    name,
                    1,
                    "(file)",
                    "file has only comments (got nothing; expected a YAML mapping)",
                )
            ]
        )
    lines = _Lines()
    lines.record(node, ())
    return data, lines


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    where = f" at column {mark.column + 1}" if mark is not None else ""
    what = exc.problem or exc.context or "invalid YAML"
    hint = ""
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        hint = f"; {exc.context} started on line {exc.context_mark.line + 1}"
    return Problem(
        name, line, "(file)", f"YAML syntax error (got: {what}{where}; expected valid YAML{hint})"
    )


def _model_at(cls: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The pydantic model class found at ``path`` inside ``cls``, if there is one."""
    current: Any = cls
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
        return None
    return annotation


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "greater_than": ("value too small", lambda c: f"a number > {c['gt']}"),
    "greater_than_equal": ("value too small", lambda c: f"a number >= {c['ge']}"),
    "less_than": ("value too large", lambda c: f"a number < {c['lt']}"),
    "less_than_equal": ("value too large", lambda c: f"a number <= {c['le']}"),
    "enum": ("not a valid choice", lambda c: f"one of {c['expected']}"),
    "int_type": ("not an integer", lambda c: "an integer"),
    "float_type": ("not a number", lambda c: "a number"),
    "finite_number": ("not a finite number", lambda c: "a finite number"),
    "bool_type": ("not a boolean", lambda c: "true or false"),
    "string_type": ("not a string", lambda c: "a string"),
    "dict_type": ("not a mapping", lambda c: "a mapping of keys to values"),
}
# pydantic error types worded as another type's
_EXPECTED.update(
    {
        alias: _EXPECTED[like]
        for alias, like in {
            "literal_error": "enum",
            "int_parsing": "int_type",
            "int_from_float": "int_type",
            "float_parsing": "float_type",
            "bool_parsing": "bool_type",
            "model_type": "dict_type",
            "model_attributes_type": "dict_type",
        }.items()
    }
)


def _problem_from_error(err: Any, cls: type[BaseModel], name: str, lines: _Lines) -> Problem:
    loc: Path_ = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx", {}) or {}
    field = _dotted(loc)
    line = lines.line_of(loc)
    if kind == "missing":
        parent = _model_at(cls, loc[:-1])
        desc = ""
        if parent is not None:
            info = parent.model_fields.get(str(loc[-1]))
            if info is not None and info.description:
                desc = f": {info.description}"
        return Problem(
            name, line, field, f"required field is missing (got nothing; expected a value{desc})"
        )
    if kind == "extra_forbidden":
        parent = _model_at(cls, loc[:-1])
        known = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return Problem(
            name,
            line,
            field,
            f"unknown key (got '{loc[-1]}'; expected one of {', '.join(known)}{hint})",
        )
    got = _got(err.get("input"))
    expectation = _EXPECTED.get(kind)
    if expectation is not None:
        what, expected = expectation
        return Problem(name, line, field, f"{what} (got {got}; expected {expected(ctx)})")
    what = err["msg"][0].lower() + err["msg"][1:]
    return Problem(name, line, field, f"{what} (got {got})")


def validate_data(
    cls: type[M],
    data: Any,
    lines: _Lines,
    name: str,
    checks: Callable[[M], list[tuple[str, str]]],
) -> M:
    """Validate parsed YAML against ``cls`` then ``checks``; raise every problem at once."""
    problems: list[Problem] = [
        Problem(
            name,
            repeat,
            _dotted(path),
            f"duplicate key (got it again; first given on line {first}; expected each key once)",
        )
        for path, first, repeat in lines.duplicates
    ]
    if not isinstance(data, dict):
        problems.append(
            Problem(
                name,
                1,
                "(top level)",
                f"the file must be a mapping of keys "
                f"to values (got {_got(data)}; expected {cls.__name__} fields)",
            )
        )
        raise ConfigError(_capped(problems, name))
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem_from_error(e, cls, name, lines) for e in exc.errors())
        raise ConfigError(_capped(problems, name)) from None
    for field, message in checks(obj):
        problems.append(Problem(name, lines.line_of_dotted(field), field, message))
    if problems:
        raise ConfigError(_capped(problems, name))
    return obj


def _capped(problems: list[Problem], name: str) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS` problems, and a line saying how many more there are."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - MAX_PROBLEMS
    return [
        *problems[:MAX_PROBLEMS],
        Problem(name, None, "(file)", f"{more} more problems not shown (fix the ones above first)"),
    ]


def load_hardware(path: str | Path) -> HardwareConfig:
    """Load and validate a hardware design from YAML."""
    p = Path(path)
    data, lines = read_yaml(p)
    return validate_data(HardwareConfig, data, lines, str(p), design_problems)


def load_workload(path: str | Path) -> ModelSpec:
    """Load and validate a workload (model spec) from YAML."""
    p = Path(path)
    data, lines = read_yaml(p)
    return validate_data(ModelSpec, data, lines, str(p), model_problems)


def load_sweep(path: str | Path) -> SweepSpec:
    """Load and validate a sweep file from YAML."""
    p = Path(path)
    data, lines = read_yaml(p)
    return validate_data(SweepSpec, data, lines, str(p), sweep_problems)


def load_any(path: str | Path) -> HardwareConfig | ModelSpec | SweepSpec:
    """Load a hardware, workload or sweep file, telling them apart by their top-level keys."""
    p = Path(path)
    data, lines = read_yaml(p)
    if isinstance(data, dict) and "vary" in data:
        return validate_data(SweepSpec, data, lines, str(p), sweep_problems)
    if isinstance(data, dict) and "architecture" in data and "array" not in data:
        return validate_data(ModelSpec, data, lines, str(p), model_problems)
    if isinstance(data, dict) and "array" in data:
        return validate_data(HardwareConfig, data, lines, str(p), design_problems)
    raise ConfigError(
        [
            Problem(
                str(p),
                1,
                "(top level)",
                "cannot tell what this file is (got "
                f"{_got(data) if not isinstance(data, dict) else 'keys ' + ', '.join(map(str, data))}; "
                "expected a hardware design with 'array', a workload with "
                "'architecture' or a sweep with 'vary')",
            )
        ]
    )


_FIELD_FIRST = re.compile(r"^(?P<field>[A-Za-z_][\w]*(?:\.[\w]+)*): (?P<rest>.*)$")


def locate_problems(path: str | Path, message: str) -> str:
    """``message`` (one problem per line, as a DesignError gives them) with each line placed in
    the file: ``FILE:LINE: field: ...`` when it starts with a dotted field of the file (the
    line of the field, or of the nearest enclosing key the file gives), else ``FILE: ...``. For problems found after loading,
    such as a buffer port too slow for the array."""
    try:
        _, lines = read_yaml(Path(path))
    except ConfigError:
        lines = _Lines()
    out = []
    for text in message.split("\n"):
        m = _FIELD_FIRST.match(text)
        line = None
        if m is not None and (m.group("field").split(".")[0],) in lines.by_path:
            line = lines.line_of_dotted(m.group("field"))
        out.append(f"{path}:{line}: {text}" if line is not None else f"{path}: {text}")
    return "\n".join(out)


def dump_model(obj: BaseModel) -> str:
    """YAML text of a config (enums as plain strings), loadable again by this module."""
    return yaml.safe_dump(obj.model_dump(mode="json"), sort_keys=False)
