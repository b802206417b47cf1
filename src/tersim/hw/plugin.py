"""How a hardware axis finds the model of a config enum value: one module per value.

The model of ``Kind.X`` (value ``"x"``) is ``MODEL`` in the module ``<package>.x`` (with a
trailing underscore where ``x`` is a Python keyword, e.g. ``is_``). No registry is built at
import time and nothing is mutable: a module is imported the first time its kind is asked for.
Adding a kind to an axis is its module plus its value in the enum.
"""

from __future__ import annotations

import functools
import importlib
import keyword
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


def module_name(kind: Enum) -> str:
    value = str(kind.value)
    return value + ("_" if keyword.iskeyword(value) else "")


@functools.cache
def _load(package: str, kind: Enum) -> Any:
    return importlib.import_module(f"{package}.{module_name(kind)}").MODEL


def load_model(package: str, kind: Enum, protocol: type[T]) -> T:
    """``MODEL`` of ``kind``'s module in ``package``, checked against ``protocol`` (a
    runtime-checkable Protocol) and against the kind it declares."""
    model = _load(package, kind)
    if getattr(model, "kind", None) is not kind or not isinstance(model, protocol):
        raise TypeError(
            f"{package}.{module_name(kind)}.MODEL is not the {protocol.__name__} of {kind}"
        )
    return model
