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


def _load_spec(workload: str) -> ModelSpec:
    from tersim.config import load_workload
    from tersim.shipped import resolve

    return load_workload(resolve(workload, "workload"))


@app.command()
def trace(
    workload: Annotated[str, typer.Argument(help="Workload YAML file or shipped name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trace file to write.")],
    phase: Annotated[str, typer.Option(help="prefill, decode or both.")] = "both",
    prompt_tokens: Annotated[int | None, typer.Option(help="Prompt length.")] = None,
    gen_tokens: Annotated[int | None, typer.Option(help="Generated tokens.")] = None,
    batch: Annotated[int | None, typer.Option(help="Sequences per batch.")] = None,
    pe_kind: Annotated[str, typer.Option(help="PE kind whose native format to trace in.")] = (
        "ternary_add"
    ),
    measure: Annotated[bool, typer.Option(help="Run the functional model and measure.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic weights.")] = 0,
) -> None:
    """Trace a workload's ops (shapes, formats, bytes; with --measure, real counts)."""
    from tersim.api import trace as trace_api
    from tersim.config import PEKind
    from tersim.trace import save_workload

    spec = _load_spec(workload)
    phases = _phases(phase)
    try:
        kind = PEKind(pe_kind)
    except ValueError:
        raise TersimError(
            f"--pe-kind: unknown PE kind '{pe_kind}' (expected one of: "
            f"{', '.join(k.value for k in PEKind)})"
        ) from None
    wl = trace_api(
        spec,
        phases=phases,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        batch=batch,
        pe_kind=kind,
        measure=measure,
        seed=seed,
    )
    save_workload(wl, output)
    _out().print(
        f"wrote {output}: {len(wl.ops)} ops of {wl.model} "
        f"({', '.join(p.value for p in wl.phases)}; measured: {wl.is_measured})",
        markup=False,
    )


def _phases(phase: str):  # type: ignore[no-untyped-def]
    from tersim.trace import Phase

    table = {
        "prefill": (Phase.PREFILL,),
        "decode": (Phase.DECODE,),
        "both": (Phase.PREFILL, Phase.DECODE),
    }
    if phase not in table:
        raise TersimError(f"--phase: unknown phase '{phase}' (expected prefill, decode or both)")
    return table[phase]


@app.command()
def footprint(
    workload: Annotated[str, typer.Option("--workload", help="Workload YAML or shipped name.")],
    fmt: Annotated[str | None, typer.Option("--format", help="One format (default: all).")] = None,
    context: Annotated[int, typer.Option(help="KV-cache context in tokens.")] = 0,
    batch: Annotated[int, typer.Option(help="Sequences in the KV cache.")] = 1,
    outlier_fraction: Annotated[float, typer.Option(help="int8_outliers: FP16 columns.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Model memory per weight format: weights, embeddings, norms, KV cache."""
    from tersim.footprint import FORMATS
    from tersim.footprint import footprint as fp

    spec = _load_spec(workload)
    formats = FORMATS if fmt is None else (fmt,)
    rows = [fp(spec, f, context, batch, outlier_fraction) for f in formats]
    if as_json:
        print(
            json.dumps(
                {
                    "workload": spec.name,
                    "context_tokens": context,
                    "batch": batch,
                    "formats": {r.format: r.to_json() for r in rows},
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"{spec.name}: memory footprint (GB = 1e9 bytes), context {context}")
    for col in ("format", "weights", "embeddings", "norms", "KV cache", "total"):
        table.add_column(col, justify="right" if col != "format" else "left")
    for r in rows:
        table.add_row(
            r.format,
            *(
                f"{v / 1e9:.3f}"
                for v in (
                    r.weights_bytes,
                    r.embedding_bytes,
                    r.norm_bytes,
                    r.kv_cache_bytes,
                    r.total_bytes,
                )
            ),
        )
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
