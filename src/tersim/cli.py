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
    return Console(highlight=False, width=max(100, Console().width))


def _err() -> Console:
    return Console(stderr=True, highlight=False)


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
                err.print(str(problem), markup=False, soft_wrap=True)
            continue
        kind = (
            "hardware"
            if isinstance(obj, HardwareConfig)
            else "workload"
            if isinstance(obj, ModelSpec)
            else "sweep"
        )
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
            desc = (
                obj.description if isinstance(obj, HardwareConfig) else getattr(obj, "source", "")
            )
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
    context: Annotated[int, typer.Option(help="KV-cache context in tokens.")] = 0,
    batch: Annotated[int, typer.Option(help="Sequences in the KV cache.")] = 1,
    outlier_fraction: Annotated[float, typer.Option(help="int8_outliers: FP16 columns.")] = 0.0,
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


def _write_json(path: Path, doc: object) -> None:
    """Write JSON atomically: a failure never leaves a half-written file behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise TersimError(f"{path}: cannot write ({exc.strerror})") from None


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
    prompt_tokens: Annotated[int | None, typer.Option(help="Prompt length.")] = None,
    gen_tokens: Annotated[int | None, typer.Option(help="Generated tokens.")] = None,
    batch: Annotated[int | None, typer.Option(help="Sequences per batch.")] = None,
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
    record = _run_with_progress(
        f"simulating {design.name}", hw=design, weight_format=fmt, workload=traced, **common
    )
    base_record = (
        None if base is None else _run_with_progress(f"simulating {base.name}", hw=base, **common)
    )
    _print_summary(record, base_record)
    doc: dict[str, object] = {"run": record.to_json()}
    if base_record is not None:
        doc["baseline"] = base_record.to_json()
        doc["ratios"] = _ratios(record, base_record)
    if json_out is not None:
        _write_json(json_out, doc)
        _out().print(f"wrote {json_out}", markup=False)
    if report is not None:
        from tersim.report import write_run_report

        write_run_report(doc, report)
        _out().print(f"wrote {report}", markup=False)


@app.command("report")
def report_cmd(
    record: Annotated[
        Path, typer.Argument(help="JSON written by tersim run --json, or a sweep's store.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
) -> None:
    """Make an interactive HTML report from a stored run record or sweep store (no
    simulation)."""
    from tersim.report.html import load_run_json, write_run_report

    if _is_sweep_store(record):
        from tersim.dse.store import ResultStore
        from tersim.dse.sweep import report_data
        from tersim.report.sweep_html import write_sweep_report

        with ResultStore.open(record, create=False) as store:
            write_sweep_report(report_data(store), output)
        _out().print(f"wrote {output}", markup=False)
        return
    write_run_report(load_run_json(record), output)
    _out().print(f"wrote {output}", markup=False)


def _is_sweep_store(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False  # the run-record reader reports the path


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
    m: Annotated[int, typer.Option("--m", help="Rows of the activations (tokens).")],
    n: Annotated[int, typer.Option("--n", help="Output features.")],
    k: Annotated[int, typer.Option("--k", help="Input features (reduction length).")],
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
    res = run_gemm(design, m, n, k, df, mode, ideal_memory)
    doc = res.to_json()
    if as_json:
        print(json.dumps(doc, indent=2))
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
    prompt_tokens: Annotated[int, typer.Option(help="Prefill length.")] = 512,
    gen_tokens: Annotated[int, typer.Option(help="Decode steps for the decode ratio.")] = 128,
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
        print(json.dumps(doc, indent=2))
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
    target: Annotated[
        str, typer.Argument(help="Sweep YAML (base design, workload, vary), or 'export'.")
    ],
    store_arg: Annotated[
        Path | None, typer.Argument(metavar="[STORE]", help="export: the results store.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="Results store (default reports/<sweep-name>.sqlite); reruns resume."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Parallel worker processes.")] = 1,
    executor: Annotated[str, typer.Option(help="local (process pool) or dask.")] = "local",
    dask_scheduler: Annotated[
        str, typer.Option(help="dask: local (a LocalCluster of --jobs workers) | tcp://host:port")
    ] = "local",
    show_all: Annotated[bool, typer.Option("--all", help="Print every point, not the front.")] = (
        False
    ),
    retry_failed: Annotated[bool, typer.Option(help="Run failed points again.")] = False,
    point_timeout: Annotated[
        float | None,
        typer.Option(help="Fail a point that runs longer than this many seconds (local)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every point.")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="export: write CSV.")] = False,
    parquet_out: Annotated[bool, typer.Option("--parquet", help="export: write Parquet.")] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="export: file (default STORE.csv).")
    ] = None,
    with_config: Annotated[
        bool, typer.Option("--config", help="export: add each point's full design as JSON.")
    ] = False,
) -> None:
    """Run a design-space sweep into its results store and print the Pareto front.

    `tersim sweep export STORE --csv|--parquet` writes a stored sweep as a table.
    """
    if target == "export":
        _sweep_export(store_arg, csv_out, parquet_out, output, with_config)
        return
    if store_arg is not None:
        raise TersimError(
            f"sweep: unexpected argument '{store_arg}' (expected one sweep file; "
            "--store PATH names the results store)"
        )
    from tersim.config import load_hardware
    from tersim.config.yaml_io import load_sweep
    from tersim.dse.sweep import ExecutorChoice
    from tersim.shipped import resolve

    spec = load_sweep(Path(target))
    base = load_hardware(resolve(spec.hardware, "hardware"))
    model = _load_spec(spec.workload)
    choice = ExecutorChoice(executor, jobs, dask_scheduler, point_timeout)
    path = store if store is not None else Path("reports") / f"{spec.name}.sqlite"
    summary = _sweep_with_progress(spec, base, model, path, choice, retry_failed)
    _print_sweep(summary, show_all)
    if json_out is not None:
        _write_json(json_out, _sweep_json(spec, summary))
        _out().print(f"wrote {json_out}", markup=False)


def _sweep_with_progress(spec, base, model, path, choice, retry_failed):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tersim.dse.sweep import SweepProgress, run_sweep

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        console=_err(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"sweep {spec.name}", total=None, info="")

        def update(p: SweepProgress) -> None:
            rate = p.ran / p.elapsed_s * 60 if p.elapsed_s > 0 else 0.0
            left = max(0, p.total - p.done)
            eta = f"{left / (rate / 60):,.0f} s" if rate > 0 else "-"
            bar.update(
                task,
                completed=p.done,
                total=p.total,
                info=f"failed {p.failed}  dropped {p.dropped}  resumed {p.resumed}  "
                f"{rate:,.0f} points/min  ETA {eta}",
            )

        return run_sweep(spec, base, model, path, choice, update, retry_failed=retry_failed)


def _fmt_metric(name: str, value: float) -> str:
    if name.endswith("seconds") or name == "seconds":
        return _fmt_s(value)
    if name.startswith("energy_pj"):
        return f"{value / 1e9:,.3f} mJ"
    if abs(value) >= 1e4 or (value and abs(value) < 1e-2):
        return f"{value:.4g}"
    return f"{value:,.2f}"


def _print_sweep(summary, show_all: bool) -> None:  # type: ignore[no-untyped-def]
    from collections import Counter

    from tersim.dse.evaluate import Status

    out = _out()
    shown = summary.points if show_all else summary.front
    front = {p.config_hash for p in summary.front}
    labels = [o.label for o in summary.objectives]
    table = Table(
        title=f"{summary.name}: "
        + ("every point" if show_all else f"Pareto front ({' vs '.join(labels)})")
    )
    for col in ("#", *summary.axes, *labels, ""):
        table.add_column(col, justify="right")
    for p in shown:
        values = [str(p.params.get(a, "")) for a in summary.axes]
        if p.status is Status.OK or p.objectives:
            objs = [
                _fmt_metric(o.metric, v)
                for o, v in zip(summary.objectives, p.objectives, strict=True)
            ]
        else:
            objs = ["-"] * len(labels)
        mark = (
            "*" if p.config_hash in front else (p.status.value if p.status is not Status.OK else "")
        )
        table.add_row(str(p.index), *values, *objs, mark)
    out.print(table)
    ok, failed, dropped = (summary.count(s) for s in (Status.OK, Status.FAILED, Status.DROPPED))
    rate = summary.ran / summary.seconds * 60 if summary.seconds > 0 else 0.0
    out.print(
        f"{summary.planned:,} points planned: {ok:,} ok ({len(summary.front):,} on the front), "
        f"{failed:,} failed, {dropped:,} dropped; {summary.ran:,} simulated in "
        f"{summary.seconds:,.1f} s ({rate:,.0f} points/min), {summary.resumed:,} from the store",
        markup=False,
        soft_wrap=True,
    )
    reasons: Counter[str] = Counter(summary.dropped_before_run)
    for p in summary.points:
        if p.status is not Status.OK and p.reason:
            reasons[f"{p.status.value}: {p.reason}"] += 1
    for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        prefix = "" if reason.startswith(("failed", "dropped")) else "dropped: "
        out.print(f"  {n:,} x {prefix}{reason}", markup=False, soft_wrap=True)
    out.print(f"results in {summary.store}", markup=False)


def _sweep_json(spec, summary):  # type: ignore[no-untyped-def]
    def point(p):  # type: ignore[no-untyped-def]
        return {
            "index": p.index,
            "config_hash": p.config_hash,
            "params": p.params,
            "status": p.status.value,
            "reason": p.reason,
            "objectives": dict(
                zip([o.label for o in summary.objectives], p.objectives, strict=False)
            ),
        }

    return {
        "sweep": spec.model_dump(mode="json"),
        "store": str(summary.store),
        "points": [point(p) for p in summary.points],
        "pareto": [point(p) for p in summary.front],
        "dropped_before_run": summary.dropped_before_run,
    }


def _sweep_export(
    store: Path | None, csv_out: bool, parquet_out: bool, output: Path | None, with_config: bool
) -> None:
    from tersim.dse.export import TableFormat, export_store
    from tersim.dse.store import ResultStore

    if store is None:
        raise TersimError("sweep export: no store given (expected tersim sweep export STORE --csv)")
    if csv_out == parquet_out:
        raise TersimError("sweep export: give exactly one of --csv or --parquet")
    fmt = TableFormat.CSV if csv_out else TableFormat.PARQUET
    dest = output if output is not None else store.with_suffix(f".{fmt.value}")
    with ResultStore.open(store, create=False) as st:
        n = export_store(st, fmt, dest, with_config)
    _out().print(f"wrote {dest} ({n:,} rows)", markup=False)


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
        code = getattr(exc, "exit_code", None)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
