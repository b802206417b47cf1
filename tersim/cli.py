"""Command-line interface: parse, call the library, print. Errors exit 2 without a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tersim import __version__
from tersim.config import HardwareConfig, ModelSpec, load_any
from tersim.errors import ConfigError, TersimError
from tersim.shipped import shipped_files

app = typer.Typer(
    name="tersim",
    help="Cycle-level simulator of ternary (1.58-bit) LLM accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        _out().print(f"tersim {__version__}")
        raise typer.Exit(0)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Hardware or workload YAML files.")],
) -> None:
    """Check hardware and workload files; print every problem; exit 0 if all are valid, else 2."""
    failed = False
    out, err = _out(), _err()
    for f in files:
        try:
            obj = load_any(f)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                err.print(str(problem), markup=False, soft_wrap=True)
            continue
        kind = "hardware" if isinstance(obj, HardwareConfig) else "workload"
        out.print(f"{f}: ok ({kind} '{obj.name}')", markup=False)
    if failed:
        raise typer.Exit(2)


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="hardware or workload")],
) -> None:
    """Print the JSON Schema of hardware or workload files (for editor autocompletion)."""
    models: dict[str, type[HardwareConfig] | type[ModelSpec]] = {
        "hardware": HardwareConfig,
        "workload": ModelSpec,
    }
    if kind not in models:
        raise TersimError(f"schema: unknown kind '{kind}' (expected hardware or workload)")
    print(json.dumps(models[kind].model_json_schema(), indent=2))


@app.command("list")
def list_shipped() -> None:
    """List the shipped hardware designs and workloads."""
    table = Table(title="Shipped configurations")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("description")
    for kind in ("hardware", "workload"):
        for path in shipped_files(kind):  # type: ignore[arg-type]
            obj = load_any(path)
            desc = obj.description if isinstance(obj, HardwareConfig) else obj.source
            table.add_row(kind, path.stem, desc)
    _out().print(table)


def main() -> None:
    """Console entry point: run the app; user errors print cleanly and exit 2."""
    try:
        code = app(standalone_mode=False)
    except TersimError as exc:
        _err().print(str(exc), markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _err().print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (missing argument, bad option) come from typer's click layer.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
