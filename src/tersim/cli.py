"""Command-line interface: parse, call the library, print. Errors exit 2 without a traceback."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tersim import __version__
from tersim.config import HardwareConfig, ModelSpec, load_any
from tersim.config.types import MAX_BATCH, MAX_CONTEXT_TOKENS, MAX_GEMM_DIM, MAX_JOBS, MAX_SEED
from tersim.errors import ConfigError, DesignError, TersimError
from tersim.files import dumps_json, write_json
from tersim.shipped import shipped_files

app = typer.Typer(
    name="tersim",
    help="Cycle-level simulator of ternary (1.58-bit) LLM accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _out() -> Console:
    return Console(highlight=False, emoji=False, width=max(100, Console().width))


def _err() -> Console:
    return Console(stderr=True, highlight=False, emoji=False)


def _printable(text: str) -> str:
    """``text`` with control characters (from user input: NUL, ESC, newlines inside a key) and
    undecodable bytes of file names shown as escapes, so an error stays one harmless line."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _print_version(value: bool) -> None:
    if value:
        _out().print(f"tersim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Cycle-level simulator of ternary (1.58-bit) LLM accelerators."""


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
                err.print(_printable(str(problem)), markup=False, soft_wrap=True)
            continue
        kind = (
            "hardware"
            if isinstance(obj, HardwareConfig)
            else "workload"
            if isinstance(obj, ModelSpec)
            else "sweep"
        )
        out.print(_printable(f"{f}: ok ({kind} '{obj.name}')"), markup=False)
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
            desc = (
                obj.description if isinstance(obj, HardwareConfig) else getattr(obj, "source", "")
            )
            table.add_row(kind, path.stem, desc)
    _out().print(table)


def _finite(value: float) -> float:
    """Option callback: NaN and infinities are not values (click's ranges let NaN through)."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def _usage_line(exc: Exception) -> str:
    """A usage error on one line: the command, what is wrong, where to look."""
    ctx = getattr(exc, "ctx", None)
    where = str(getattr(ctx, "command_path", None) or "tersim")
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    return f"{where}: {message} (see '{where} --help')"


@contextlib.contextmanager
def _in_design_file(path: Path) -> Iterator[None]:
    """A DesignError raised in the body is reported at the lines of design file ``path``."""
    from tersim.config.yaml_io import locate_problems

    try:
        yield
    except DesignError as exc:
        raise DesignError(locate_problems(path, str(exc))) from None


def _load_spec(workload: str) -> ModelSpec:
    from tersim.config import load_workload
    from tersim.shipped import resolve

    return load_workload(resolve(workload, "workload"))


@app.command()
def trace(
    workload: Annotated[str, typer.Argument(help="Workload YAML file or shipped name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trace file to write.")],
    phase: Annotated[str, typer.Option(help="prefill, decode or both.")] = "both",
    prompt_tokens: Annotated[
        int | None, typer.Option(help="Prompt length.", min=1, max=MAX_CONTEXT_TOKENS)
    ] = None,
    gen_tokens: Annotated[
        int | None, typer.Option(help="Generated tokens.", min=0, max=MAX_CONTEXT_TOKENS)
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Sequences per batch.", min=1, max=MAX_BATCH)
    ] = None,
    pe_kind: Annotated[str, typer.Option(help="PE kind whose native format to trace in.")] = (
        "ternary_add"
    ),
    measure: Annotated[bool, typer.Option(help="Run the functional model and measure.")] = False,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic weights.", min=0, max=MAX_SEED)
    ] = 0,
) -> None:
    """Trace a workload's ops (shapes, formats, bytes; with --measure, real counts)."""
    from tersim.api import trace as trace_api
    from tersim.config import PEKind
    from tersim.workload.trace import save_workload

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
        phase=phases,
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
    from tersim.workload.trace import Phase

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
    context: Annotated[
        int, typer.Option(help="KV-cache context in tokens.", min=0, max=MAX_CONTEXT_TOKENS)
    ] = 0,
    batch: Annotated[
        int, typer.Option(help="Sequences in the KV cache.", min=1, max=MAX_BATCH)
    ] = 1,
    outlier_fraction: Annotated[
        float,
        typer.Option(
            help="int8_outliers: FP16 columns (0 to 1).", min=0.0, max=1.0, callback=_finite
        ),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Model memory per weight format: weights, embeddings, norms, KV cache."""
    from tersim.workload.footprint import FORMATS
    from tersim.workload.footprint import footprint as fp

    spec = _load_spec(workload)
    formats = FORMATS if fmt is None else (fmt,)
    rows = [fp(spec, f, context, batch, outlier_fraction) for f in formats]
    if as_json:
        print(
            dumps_json(
                {
                    "workload": spec.name,
                    "context_tokens": context,
                    "batch": batch,
                    "formats": {r.format: r.to_json() for r in rows},
                },
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


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _run_with_progress(label: str, **kwargs):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tersim.run.pipeline import run as run_pipeline

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_pipeline(progress=update, **kwargs)


@app.command("run")
def run_cmd(
    hw: Annotated[str, typer.Option("--hw", help="Hardware YAML or shipped name.")] = (
        "ternary-128x128-7nm"
    ),
    workload: Annotated[str, typer.Option("--workload", help="Workload YAML or name.")] = (
        "bitnet-b1.58-3b"
    ),
    baseline: Annotated[
        str | None, typer.Option(help="Baseline design (YAML or name); 'none' for no baseline.")
    ] = None,
    phase: Annotated[str, typer.Option(help="prefill, decode or both.")] = "both",
    prompt_tokens: Annotated[
        int | None, typer.Option(help="Prompt length.", min=1, max=MAX_CONTEXT_TOKENS)
    ] = None,
    gen_tokens: Annotated[
        int | None, typer.Option(help="Generated tokens.", min=0, max=MAX_CONTEXT_TOKENS)
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Sequences per batch.", min=1, max=MAX_BATCH)
    ] = None,
    weight_format: Annotated[str | None, typer.Option(help="Override the weight format.")] = None,
    fidelity: Annotated[str, typer.Option(help="tile or fast.")] = "fast",
    trace_file: Annotated[
        Path | None,
        typer.Option("--trace", help="Run a saved trace (e.g. from tersim trace --measure)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON record.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an interactive HTML report.")] = None,
) -> None:
    """Simulate a workload on a design (default: BitNet b1.58 3B, ternary vs FP16 at 7nm)."""
    from tersim.config import WeightFormat, load_hardware
    from tersim.shipped import resolve
    from tersim.sim import Fidelity

    design = load_hardware(resolve(hw, "hardware"))
    if baseline is None and hw == "ternary-128x128-7nm":
        baseline = "fp16-128x128-7nm"
    base = None if baseline in (None, "none") else load_hardware(resolve(baseline, "hardware"))
    spec = _load_spec(workload)
    try:
        fid = Fidelity(fidelity)
        fmt = None if weight_format is None else WeightFormat(weight_format)
    except ValueError as exc:
        raise TersimError(
            f"invalid option: {exc} (fidelity: tile | fast; weight format: "
            f"{', '.join(f.value for f in WeightFormat)})"
        ) from None
    common = dict(
        spec=spec,
        phases=_phases(phase),
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        batch=batch,
        fidelity=fid,
    )
    traced = None
    if trace_file is not None:
        from tersim.workload.trace import load_workload_trace

        traced = load_workload_trace(trace_file)
        if traced.model != spec.name:
            raise TersimError(
                f"{trace_file}: trace of '{traced.model}' but --workload is '{spec.name}' "
                "(expected the workload the trace came from)"
            )
    with _in_design_file(resolve(hw, "hardware")):
        record = _run_with_progress(
            f"simulating {design.name}", hw=design, weight_format=fmt, workload=traced, **common
        )
    base_record = None
    if base is not None:
        with _in_design_file(resolve(str(baseline), "hardware")):
            base_record = _run_with_progress(f"simulating {base.name}", hw=base, **common)
    _print_summary(record, base_record)
    doc: dict[str, object] = {"run": record.to_json()}
    if base_record is not None:
        doc["baseline"] = base_record.to_json()
        doc["ratios"] = _ratios(record, base_record)
    if json_out is not None:
        write_json(json_out, doc)
        _out().print(f"wrote {json_out}", markup=False)
    if report is not None:
        from tersim.report import write_run_report

        write_run_report(doc, report)
        _out().print(f"wrote {report}", markup=False)


@app.command("report")
def report_cmd(
    record: Annotated[Path, typer.Argument(help="JSON written by tersim run --json.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
) -> None:
    """Make an interactive HTML report from a stored run record (no simulation)."""
    from tersim.report.html import load_run_json, write_run_report

    doc = load_run_json(record)
    try:
        write_run_report(doc, output)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise TersimError(
            f"{record}: not a complete tersim run record (got a problem with {exc!r}; "
            "expected the JSON written by tersim run --json)"
        ) from None
    _out().print(f"wrote {output}", markup=False)


def _ratios(rec, base):  # type: ignore[no-untyped-def]
    """Baseline / design for costs (higher = design better), design / baseline for speed."""

    def div(a: float, b: float) -> float | None:
        return a / b if b else None

    rp, bp = rec.phase_summary(), base.phase_summary()
    out = {
        "latency_speedup": div(
            base.result.total_cycles / base.result.clock_hz,
            rec.result.total_cycles / rec.result.clock_hz,
        ),
        "energy_saving": div(base.energy.total_pj, rec.energy.total_pj),
        "dram_traffic_saving": div(
            sum(base.result.counts.dram_read_bytes.values()),
            sum(rec.result.counts.dram_read_bytes.values()),
        ),
    }
    for ph in rp:
        out[f"{ph}_speedup"] = div(bp[ph]["seconds"], rp[ph]["seconds"])
    return out


def _print_summary(rec, base) -> None:  # type: ignore[no-untyped-def]
    cols = [rec] if base is None else [rec, base]
    table = Table(
        title=f"{rec.spec.name}: {rec.scenario.prompt_tokens}-token prompt, "
        f"{rec.scenario.gen_tokens} generated, batch {rec.scenario.batch}"
    )
    table.add_column("")
    for r in cols:
        table.add_column(
            f"{r.hardware.name}\n({r.formats.weight_format.value} weights, "
            f"{r.formats.act_bits}-bit acts)",
            justify="right",
        )
    if base is not None:
        table.add_column("baseline / design", justify="right")

    def row(label: str, values: list[float], fmt, better_low: bool = True) -> None:  # type: ignore[no-untyped-def]
        cells = [fmt(v) for v in values]
        if base is not None:
            a, b = values
            cells.append(f"{(b / a if better_low else a / b):.2f}x" if a and b else "-")
        table.add_row(label, *cells)

    phases = [r.phase_summary() for r in cols]
    row("latency", [r.result.seconds for r in cols], _fmt_s)
    if "prefill" in phases[0]:
        row("time to first token", [p["prefill"]["seconds"] for p in phases], _fmt_s)
    if "decode" in phases[0]:
        row(
            "decode tokens/s",
            [p["decode"]["tokens_per_s"] for p in phases],
            lambda v: f"{v:,.1f}",
            better_low=False,
        )
    row(
        "DRAM read",
        [sum(r.result.counts.dram_read_bytes.values()) / 1e9 for r in cols],
        lambda v: f"{v:,.2f} GB",
    )
    row(
        "DRAM write",
        [sum(r.result.counts.dram_write_bytes.values()) / 1e9 for r in cols],
        lambda v: f"{v:,.3f} GB",
    )
    row(
        "array utilization",
        [r.utilization * 100 for r in cols],
        lambda v: f"{v:.2f} %",
        better_low=False,
    )
    row(
        "vector unit busy",
        [r.result.busy_cycles["vector"] / max(1, r.result.total_cycles) * 100 for r in cols],
        lambda v: f"{v:.1f} %",
    )
    for label, attr in (
        ("energy: matmul mul", "mul_pj"),
        ("energy: matmul add", "add_pj"),
        ("energy: SRAM", "sram_pj"),
        ("energy: DRAM", "dram_pj"),
        ("energy: vector", "vector_pj"),
        ("energy: leakage", "leakage_pj"),
        ("energy: total", "total_pj"),
    ):
        row(label, [getattr(r.energy, attr) / 1e9 for r in cols], lambda v: f"{v:,.2f} mJ")
    _out().print(table)


@app.command()
def gemm(
    hw: Annotated[str, typer.Option("--hw", help="Hardware YAML or shipped name.")],
    m: Annotated[
        int, typer.Option("--m", help="Rows of the activations (tokens).", min=1, max=MAX_GEMM_DIM)
    ],
    n: Annotated[int, typer.Option("--n", help="Output features.", min=1, max=MAX_GEMM_DIM)],
    k: Annotated[
        int, typer.Option("--k", help="Input features (reduction length).", min=1, max=MAX_GEMM_DIM)
    ],
    dataflow: Annotated[
        str | None, typer.Option(help="os, ws or is (default: the design's).")
    ] = None,
    compat: Annotated[str | None, typer.Option(help="tersim or scalesim cycle counting.")] = None,
    ideal_memory: Annotated[bool, typer.Option(help="Infinite DRAM bandwidth.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time one GEMM (M x K activations by K x N weights) on a design."""
    from tersim.config import CompatMode, Dataflow, load_hardware
    from tersim.run.single_gemm import run_gemm
    from tersim.shipped import resolve

    design = load_hardware(resolve(hw, "hardware"))
    try:
        df = None if dataflow is None else Dataflow(dataflow)
        mode = None if compat is None else CompatMode(compat)
    except ValueError as exc:
        raise TersimError(
            f"invalid option: {exc} (dataflow: os | ws | is; compat: tersim | scalesim)"
        ) from None
    with _in_design_file(resolve(hw, "hardware")):
        res = run_gemm(design, m, n, k, df, mode, ideal_memory)
    doc = res.to_json()
    if as_json:
        print(dumps_json(doc))
        return
    table = Table(
        title=f"GEMM {m}x{k} @ {k}x{n} on {design.name} "
        f"({doc['dataflow']}, {doc['compat']} convention)"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("total_cycles", "compute_cycles", "stall_cycles"):
        table.add_row(key, f"{doc[key]:,}")
    table.add_row(
        "folds (row x col, chunks)",
        f"{doc['folds']['row']} x {doc['folds']['col']}, {doc['folds']['chunks']}",
    )
    table.add_row("utilization", f"{doc['utilization'] * 100:.2f} %")
    for role in ("input", "weight", "output"):
        table.add_row(
            f"SRAM {role} read / write bytes",
            f"{doc['sram_reads_bytes'][role]:,} / {doc['sram_writes_bytes'][role]:,}",
        )
    table.add_row(
        "DRAM read / write bytes", f"{doc['dram_read_bytes']:,} / {doc['dram_write_bytes']:,}"
    )
    table.add_row(
        "PE ops (add, sub, skip, mul)", ", ".join(f"{v:,}" for v in doc["pe_ops"].values())
    )
    _out().print(table)


@app.command()
def claim(
    node: Annotated[str, typer.Option(help="7nm or 45nm.")] = "7nm",
    workload: Annotated[
        str, typer.Option("--workload", help="BitNet workload (YAML or name).")
    ] = "bitnet-b1.58-3b",
    prompt_tokens: Annotated[
        int, typer.Option(help="Prefill length.", min=1, max=MAX_CONTEXT_TOKENS)
    ] = 512,
    gen_tokens: Annotated[
        int, typer.Option(help="Decode steps for the decode ratio.", min=0, max=MAX_CONTEXT_TOKENS)
    ] = 128,
    sweep: Annotated[bool, typer.Option(help="Also sweep model sizes 700M..70B.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Reproduce BitNet b1.58's 71x matmul-energy claim from simulation, then widen it."""
    from tersim.config import load_hardware, load_workload
    from tersim.run.claim import SWEEP_MODELS, make_claim
    from tersim.shipped import resolve

    if node not in ("7nm", "45nm"):
        raise TersimError(f"--node: unknown node '{node}' (expected 7nm or 45nm)")
    tern = load_hardware(resolve(f"ternary-128x128-{node}", "hardware"))
    fp16 = load_hardware(resolve(f"fp16-128x128-{node}", "hardware"))
    spec = _load_spec(workload)
    specs = tuple(load_workload(resolve(m, "workload")) for m in SWEEP_MODELS) if sweep else ()
    with _err().status("simulating ternary and FP16 designs..."):
        report = make_claim(tern, fp16, spec, prompt_tokens, gen_tokens, specs)
    doc = report.to_json()
    if as_json:
        print(dumps_json(doc))
        return
    out = _out()
    t = report.table
    out.print(
        f"[bold]BitNet b1.58 energy claim at {node}[/bold] — {spec.name}, "
        f"{prompt_tokens}-token prefill on {tern.name} vs {fp16.name}"
    )
    fl, tl = report.fp16_linear, report.ternary_linear
    table = Table(show_header=True)
    table.add_column("ratio (FP16 / ternary)")
    table.add_column("value", justify="right")
    table.add_column("how it was computed")
    table.add_row(
        "paper: matmul arithmetic",
        f"{doc['paper_ratio']:.1f}x",
        f"FP16: {fl.mul:,} mul x {t.fp16_mul_pj.value} + {fl.add:,} add x "
        f"{t.fp16_add_pj.value} pJ; ternary: {tl.add + tl.sub + tl.skip:,} INT8 add x "
        f"{t.int8_add_pj.value} pJ",
    )
    table.add_row(
        "with zero weights skipped",
        f"{doc['zero_skip_ratio']:.1f}x",
        f"{doc['weight_zero_fraction'] * 100:.1f}% zero weights cost a "
        f"{t.zero_check_pj.value} pJ check ({t.zero_check_pj.source})",
    )
    table.add_row(
        "with INT16 accumulation",
        f"{doc['int16_accumulator_ratio']:.1f}x",
        f"{t.int16_add_pj.value} pJ per add ({t.int16_add_pj.source})",
    )
    table.add_row(
        "with INT32 accumulation",
        f"{doc['realistic_accumulator_ratio']:.1f}x",
        f"{t.int32_add_pj.value} pJ per add: an INT8 accumulator overflows after a "
        f"couple of terms of a {spec.architecture.hidden}-long dot product",
    )
    table.add_row(
        "whole chip, prefill",
        f"{doc['whole_chip_ratio_prefill']:.2f}x",
        "+ SRAM, DRAM, vector unit (attention, norms, LM head) and leakage",
    )
    table.add_row(
        "whole chip, decode",
        f"{doc['whole_chip_ratio_decode']:.2f}x",
        f"{gen_tokens} decode steps after the prompt: weight traffic dominates",
    )
    out.print(table)
    if report.sweep:
        st = Table(
            title="End-to-end energy per prompt token vs model size "
            f"({report.sweep[0].tokens}-token prefill)"
        )
        for col in ("model", "params", "ternary", "FP16", "FP16 / ternary"):
            st.add_column(col, justify="right" if col != "model" else "left")
        for pt in report.sweep:
            st.add_row(
                pt.model,
                f"{pt.params / 1e9:.2f} B",
                f"{pt.ternary_energy_pj / pt.tokens / 1e6:,.1f} uJ",
                f"{pt.fp16_energy_pj / pt.tokens / 1e6:,.1f} uJ",
                f"{pt.ratio:.2f}x",
            )
        out.print(st)
        grows = all(
            b.ratio >= a.ratio for a, b in zip(report.sweep, report.sweep[1:], strict=False)
        )
        out.print(
            (
                "The advantage grows with model size, as BitNet b1.58's Figure 3 (right) shows"
                if grows
                else "The advantage does not grow monotonically with model "
                "size, unlike BitNet b1.58's Figure 3 (right)"
            )
            + ": see docs/claim.md for why.",
            markup=False,
        )


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep YAML (base design, workload, vary).")],
    jobs: Annotated[int, typer.Option(help="Parallel processes.", min=1, max=MAX_JOBS)] = 1,
    executor: Annotated[str, typer.Option(help="local (process pool) or dask.")] = "local",
    dask_scheduler: Annotated[
        str, typer.Option(help="processes | threads | synchronous | tcp://host:port")
    ] = "processes",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every point.")] = None,
) -> None:
    """Run every combination of the varied hardware fields; print the latency/energy front."""
    from tersim.config import load_hardware
    from tersim.config.yaml_io import load_sweep
    from tersim.dse.sweep import pareto_front, run_sweep
    from tersim.shipped import resolve

    spec = load_sweep(file)
    base = load_hardware(resolve(spec.hardware, "hardware"))
    model = _load_spec(spec.workload)
    if jobs < 1:
        raise TersimError(f"--jobs must be at least 1 (got {jobs})")
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"sweep {spec.name}", total=None)
        results = run_sweep(
            spec,
            base,
            model,
            jobs,
            lambda d, t: bar.update(task, completed=d, total=t),
            executor=executor,
            dask_scheduler=dask_scheduler,
        )
    front = pareto_front(results)
    table = Table(
        title=f"{spec.name}: {len(results)} points on {base.name} running "
        f"{model.name} (* = Pareto front, latency vs energy)"
    )
    for col in (*spec.vary, "latency", "energy", "DRAM", "decode tok/s", ""):
        table.add_column(col, justify="right")
    for r in results:
        values = [str(v) for _, v in r.params]
        if r.error:
            table.add_row(*values, "-", "-", "-", "-", "impossible")
        else:
            table.add_row(
                *values,
                _fmt_s(r.seconds),
                f"{r.energy_pj / 1e9:,.1f} mJ",
                f"{r.dram_bytes / 1e9:,.2f} GB",
                f"{r.tokens_per_s_decode:,.1f}",
                "*" if r in front else "",
            )
    _out().print(table)
    for r in results:
        if r.error:
            where = ", ".join(f"{k}={v}" for k, v in r.params)
            _out().print(f"impossible ({where}): {r.error}", markup=False)
    if json_out is not None:
        write_json(
            json_out,
            {
                "sweep": spec.model_dump(mode="json"),
                "points": [r.to_json() for r in results],
                "pareto": [r.to_json() for r in front],
            },
        )
        _out().print(f"wrote {json_out}", markup=False)


def main() -> None:
    """Console entry point: run the app; user errors print cleanly and exit 2."""
    try:
        code = app(standalone_mode=False)
    except TersimError as exc:
        # one line per problem; control characters inside a line are escaped
        lines = (
            [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else str(exc).split("\n")
        )
        for line in lines:
            _err().print(_printable(line), markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _err().print("aborted")
        sys.exit(130)
    except MemoryError:
        _err().print(
            "out of memory (the design or workload is too large for this machine; "
            "try a smaller scenario: fewer tokens, a smaller batch or model)",
            markup=False,
        )
        sys.exit(2)
    except Exception as exc:
        # Usage errors (missing argument, bad option or value) come from typer's click layer
        # (its own copy of click in recent typer, so they are recognised by their interface).
        code = getattr(exc, "exit_code", None)
        if not (callable(getattr(exc, "format_message", None)) and isinstance(code, int)):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # the help text
        else:
            _err().print(_usage_line(exc), markup=False, soft_wrap=True)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)
