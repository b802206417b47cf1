"""Where the shipped designs (``hw_configs/``) and workloads (``workloads/``) live.

They sit at the root of a source checkout, beside ``src/`` (``pip install -e .``); ``TERSIM_HOME`` points
elsewhere when needed. A name without ``.yaml`` resolves to a shipped file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from tersim.errors import TersimError

Kind = Literal["hardware", "workload"]
_FOLDER: dict[Kind, str] = {"hardware": "hw_configs", "workload": "workloads"}


def shipped_root() -> Path:
    """The folder holding ``hw_configs/`` and ``workloads/``."""
    env = os.environ.get("TERSIM_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[2]


def shipped_files(kind: Kind) -> list[Path]:
    folder = shipped_root() / _FOLDER[kind]
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def resolve(name_or_path: str | Path, kind: Kind) -> Path:
    """A path as given if it exists, else the shipped file of that name."""
    p = Path(name_or_path)
    # os.path.lexists, not Path.exists: a name too long or with a NUL byte is "not there"
    # (Path.exists raises for those); a link or folder is returned, for the reader to refuse.
    if os.path.lexists(p):
        return p
    file_name = p.name if p.name.endswith((".yaml", ".yml")) else f"{p.name}.yaml"
    candidate = shipped_root() / _FOLDER[kind] / file_name
    if os.path.lexists(candidate):
        return candidate
    names = ", ".join(f.stem for f in shipped_files(kind)) or "(none found)"
    raise TersimError(
        f"{name_or_path}: no such file, and no shipped {kind} of that name "
        f"(expected a path or one of: {names})"
    )
