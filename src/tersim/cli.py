"""Command-line interface: parse, call the library, print. Errors exit 2 without a traceback."""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tersim._version import __version__
from tersim.config import HardwareConfig, ModelSpec, load_any
from tersim.config.types import MAX_BATCH, MAX_CONTEXT_TOKENS, MAX_GEMM_DIM, MAX_JOBS, MAX_SEED
from tersim.errors import ConfigError, DesignError, TersimError
from tersim.files import dumps_json, write_atomic, write_json
from tersim.shipped import shipped_files
from tersim.workload.ops import Phase

if TYPE_CHECKING:
    from tersim.api import ProgressFn
    from tersim.report.data import TimelineChoice

T = TypeVar("T")

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


def _finite(value: float | None) -> float | None:
    """Option callback: NaN and infinities are not values (click's ranges let NaN through)."""
    if value is not None and not math.isfinite(value):
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
    """A workload by name, YAML path or Hugging Face config.json (its notes go to stderr)."""
    from tersim.config import load_workload
    from tersim.config.hf_import import import_hf_file, is_hf_config
    from tersim.shipped import resolve

    if is_hf_config(workload):
        imp = import_hf_file(workload)
        for note in imp.notes:
            _err().print(f"note: {workload}: {note}", markup=False, soft_wrap=True)
        return imp.spec
    return load_workload(resolve(workload, "workload"))


JsonOption = Annotated[
    str | None,
    typer.Option(
        "--json",
        help="Write the JSON record to PATH; '--json -' (or a bare --json) prints it.",
    ),
]
# the options `trace` and `run` share
PromptTokensOption = Annotated[
    int | None, typer.Option(help="Prompt length.", min=1, max=MAX_CONTEXT_TOKENS)
]
GenTokensOption = Annotated[
    int | None, typer.Option(help="Generated tokens.", min=0, max=MAX_CONTEXT_TOKENS)
]
BatchOption = Annotated[int | None, typer.Option(help="Sequences per batch.", min=1, max=MAX_BATCH)]
CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        help="Measure with the weights of a local Hugging Face safetensors checkpoint (file or "
        "directory; bf16 master weights or BitNet's packed uint8 layout)."
    ),
]
PromptIdsOption = Annotated[
    Path | None,
    typer.Option(help="Measure with the token ids in this file (one sequence per line, or JSON)."),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="Threads the functional model may use (default: all Numba threads).",
        min=1,
        max=MAX_JOBS,
    ),
]


TimelineLayerOption = Annotated[
    int | None,
    typer.Option(help="The transformer layer the report's timelines show (default 0).", min=0),
]
TimelineOpsOption = Annotated[
    str | None,
    typer.Option(
        help="Instead of a layer, the report's timeline shows ops START:END (op indices as in "
        "the ops table of --csv, END exclusive), e.g. 0:40.",
    ),
]


def _timeline_choice(layer: int | None, ops: str | None) -> TimelineChoice:
    """What the report's timelines show, from --timeline-layer and --timeline-ops."""
    from tersim.report.data import TimelineChoice, parse_op_range

    if ops is None:
        return TimelineChoice(0 if layer is None else layer)
    if layer is not None:
        raise TersimError("--timeline-layer and --timeline-ops: give one (they both choose "
                          "what the timelines show)")  # fmt: skip
    return TimelineChoice(ops=parse_op_range(ops))


def _emit_json(target: str | None, doc: object) -> None:
    """The one --json convention: a path is written (atomically), '-' goes to stdout."""
    if target is None:
        return
    if target == "-":
        print(dumps_json(doc))
        return
    write_json(Path(target), doc)
    _out().print(f"wrote {target}", markup=False)


def _export(rows_by_table: dict[str, list[dict[str, object]]], csv_dir, parquet_dir) -> None:  # type: ignore[no-untyped-def]
    from tersim.run.export import TableFormat, write_tables

    for folder, fmt in ((csv_dir, TableFormat.CSV), (parquet_dir, TableFormat.PARQUET)):
        if folder is not None:
            for path in write_tables(folder, rows_by_table, fmt):
                _out().print(f"wrote {path}", markup=False)


@app.command("import-hf")
def import_hf_cmd(
    config: Annotated[Path, typer.Argument(help="A Hugging Face config.json.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Workload YAML to write (else stdout).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Workload name (default: the output file's stem).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Where the config came from.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing output file.")] = False,
) -> None:
    """Turn a Hugging Face config.json into a workload YAML; report every approximation."""
    from tersim.config.hf_import import import_hf_file

    if output is not None and output.exists() and not force:
        raise TersimError(f"{output}: already exists (expected a new file, or pass --force)")
    imp = import_hf_file(config, name=name or (output.stem if output else None), source=source)
    for note in imp.notes:
        _err().print(f"note: {config}: {note}", markup=False, soft_wrap=True)
    if output is None:
        print(imp.yaml(), end="")
        return
    write_atomic(output, imp.yaml())
    a = imp.spec.architecture
    _out().print(
        f"wrote {output}: {imp.spec.name} ({imp.model_type}, {a.layers} layers, hidden "
        f"{a.hidden}, {len(imp.notes)} notes)",
        markup=False,
    )


def _threads_option(threads: int | None) -> int:
    """``--threads``: a positive count, or every Numba thread when not given."""
    if threads is None:
        import numba

        return int(numba.get_num_threads())
    if threads < 1:
        raise TersimError(f"--threads: must be at least 1; got {threads}")
    return threads


def _measure_progress():  # type: ignore[no-untyped-def]
    """A rich progress bar on stderr for a measured run, and the callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=True,
    )
    tasks: dict[str, int] = {}
    labels = {
        "weights": "weights (layers)",
        "prefill": "prefill (layers)",
        "decode": "decode (tokens)",
    }

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"measuring: {labels.get(stage, stage)}", total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _measured_trace(  # type: ignore[no-untyped-def]
    spec,
    phases,
    prompt_tokens: int | None,
    gen_tokens: int | None,
    batch: int | None,
    pe_kind,
    weight_format,
    seed: int,
    checkpoint: Path | None,
    prompt_ids: Path | None,
    threads: int | None,
):
    """The functional model's measured trace, with a progress bar."""
    from tersim.api import trace as trace_api

    prompt = None
    if prompt_ids is not None:
        from tersim.functional.prompt import load_prompt_ids

        prompt = load_prompt_ids(prompt_ids, spec.architecture.vocab)
    bar, update = _measure_progress()
    with bar:
        return trace_api(
            spec,
            phase=phases,
            prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens,
            batch=batch,
            pe_kind=pe_kind,
            weight_format=weight_format,
            measure=True,
            seed=seed,
            checkpoint=checkpoint,
            prompt=prompt,
            threads=_threads_option(threads),
            progress=update,
        )


@app.command()
def trace(
    workload: Annotated[str, typer.Argument(help="Workload YAML file or shipped name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trace file to write.")],
    phase: Annotated[str, typer.Option(help="prefill, decode or both.")] = "both",
    prompt_tokens: PromptTokensOption = None,
    gen_tokens: GenTokensOption = None,
    batch: BatchOption = None,
    pe_kind: Annotated[str, typer.Option(help="PE kind whose native format to trace in.")] = (
        "ternary_add"
    ),
    measure: Annotated[bool, typer.Option(help="Run the functional model and measure.")] = False,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic weights.", min=0, max=MAX_SEED)
    ] = 0,
    checkpoint: CheckpointOption = None,
    prompt_ids: PromptIdsOption = None,
    threads: ThreadsOption = None,
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
    if not measure and (checkpoint is not None or prompt_ids is not None):
        raise TersimError("--checkpoint and --prompt-ids need --measure (they feed the model)")
    if measure:
        wl = _measured_trace(
            spec, phases, prompt_tokens, gen_tokens, batch, kind, None, seed, checkpoint,
            prompt_ids, threads,
        )  # fmt: skip
    else:
        wl = trace_api(
            spec,
            phase=phases,
            prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens,
            batch=batch,
            pe_kind=kind,
        )
    save_workload(wl, output)
    _out().print(
        f"wrote {output}: {len(wl.ops)} ops of {wl.model} "
        f"({', '.join(p.value for p in wl.phases)}; measured: {wl.is_measured})",
        markup=False,
    )


def _phases(phase: str) -> tuple[Phase, ...]:
    try:
        return Phase.parse(phase)
    except TersimError as exc:
        raise TersimError(f"--{exc}") from None


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
    json_out: JsonOption = None,
) -> None:
    """Model memory per weight format: weights, embeddings, norms, KV cache."""
    from tersim.workload.footprint import FORMATS
    from tersim.workload.footprint import footprint as fp

    spec = _load_spec(workload)
    formats = FORMATS if fmt is None else (fmt,)
    rows = [fp(spec, f, context, batch, outlier_fraction) for f in formats]
    if json_out is not None:
        _emit_json(
            json_out,
            {
                "workload": spec.name,
                "context_tokens": context,
                "batch": batch,
                "formats": {r.format: r.to_json() for r in rows},
            },
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


def _fmt_pj(pj: float) -> str:
    """Energy in the largest unit that keeps it at least 1 (pJ, nJ, uJ, mJ, J)."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:,.3f} {unit}"
    return f"{pj:,.3f} pJ"


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _with_progress(work: Callable[[ProgressFn], T]) -> T:
    """``work(progress)`` with a progress bar per simulated design on stderr."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"simulating {label}", total=None)
            bar.update(tasks[label], completed=done, total=total)  # type: ignore[arg-type]

        return work(update)


_MAPPING_HELP = (
    "searched (loop orders, tiles and residency per GEMM) or heuristic (the fixed rules of "
    "earlier versions, for comparison); default: the design's mapping.search."
)


def _with_mapping(design: str | HardwareConfig, mapping: str | None) -> str | HardwareConfig:
    """``design`` with ``mapping.search`` set to ``mapping`` (unchanged when None)."""
    if mapping is None:
        return design
    from tersim.config import load_hardware
    from tersim.config.enums import MappingSearch
    from tersim.shipped import resolve

    try:
        mode = MappingSearch(mapping)
    except ValueError:
        raise TersimError(f"--mapping: got {mapping!r}; expected searched or heuristic") from None
    hw = (
        design if isinstance(design, HardwareConfig) else load_hardware(resolve(design, "hardware"))
    )
    return hw.model_copy(update={"mapping": hw.mapping.model_copy(update={"search": mode})})


@app.command("run")
def run_cmd(
    hw: Annotated[str, typer.Option("--hw", help="Hardware YAML or shipped name.")] = (
        "ternary-128x128-7nm"
    ),
    workload: Annotated[
        str, typer.Option("--workload", help="Workload YAML, shipped name or HF config.json.")
    ] = "bitnet-b1.58-3b",
    baseline: Annotated[
        str | None, typer.Option(help="Baseline design (YAML or name); 'none' for no baseline.")
    ] = None,
    phase: Annotated[
        str | None, typer.Option(help="prefill, decode or both (default: both).")
    ] = None,
    prompt_tokens: PromptTokensOption = None,
    gen_tokens: GenTokensOption = None,
    batch: BatchOption = None,
    weight_format: Annotated[str | None, typer.Option(help="Override the weight format.")] = None,
    fidelity: Annotated[str, typer.Option(help="tile or fast.")] = "fast",
    trace_file: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            help="Run a saved trace (e.g. from tersim trace --measure); it fixes the scenario.",
        ),
    ] = None,
    checkpoint: CheckpointOption = None,
    prompt_ids: PromptIdsOption = None,
    threads: ThreadsOption = None,
    json_out: JsonOption = None,
    report: Annotated[Path | None, typer.Option(help="Write an interactive HTML report.")] = None,
    timeline_layer: TimelineLayerOption = None,
    timeline_ops: TimelineOpsOption = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write runs.csv and ops.csv to this folder.")
    ] = None,
    parquet_dir: Annotated[
        Path | None, typer.Option("--parquet", help="Write the same tables as Parquet.")
    ] = None,
    iso_area: Annotated[
        bool, typer.Option("--iso-area", help="Resize the design's array to the baseline's area.")
    ] = False,
    iso_power: Annotated[
        bool,
        typer.Option("--iso-power", help="Resize the design's array to the baseline's peak power."),
    ] = False,
    mapping: Annotated[str | None, typer.Option(help=_MAPPING_HELP)] = None,
) -> None:
    """Simulate a workload on a design (default: BitNet b1.58 3B, ternary vs FP16 at 7nm)."""
    from tersim.api import default_baseline

    if baseline is None:
        baseline = default_baseline(hw)
    if phase is not None:
        _phases(phase)  # the option's own message for a bad value
    if trace_file is not None and weight_format is not None:
        raise TersimError(
            "--weight-format: a trace fixes its weight format (leave the option out, or "
            "re-trace with tersim trace --pe-kind)"
        )
    from tersim.api import run as run_api

    spec = _load_spec(workload)
    timeline = _timeline_choice(timeline_layer, timeline_ops)
    if report is not None and timeline.ops is None:
        timeline.check(spec.architecture.layers, 0, spec.name)
    source: object = trace_file
    if checkpoint is not None or prompt_ids is not None:
        if trace_file is not None:
            raise TersimError("--checkpoint/--prompt-ids and --trace: give one source of ops")
        from tersim.api import load_hardware as load_design

        source = _measured_trace(
            spec, _phases(phase or "both"), prompt_tokens, gen_tokens, batch,
            load_design(hw).array.pe_kind, weight_format, 0, checkpoint, prompt_ids, threads,
        )  # fmt: skip
        prompt_tokens = gen_tokens = batch = phase = weight_format = None  # the trace fixes them
    design: str | HardwareConfig = hw
    iso, iso_from = None, hw
    if iso_area or iso_power:
        from tersim.config import load_hardware
        from tersim.cost.iso import IsoMetric, iso_design
        from tersim.shipped import resolve

        if iso_area and iso_power:
            raise TersimError("--iso-area and --iso-power: give one (expected one of them)")
        if baseline in (None, "none"):
            raise TersimError(
                "--iso-area/--iso-power need a baseline to match (got none; expected --baseline)"
            )
        assert baseline is not None
        metric = IsoMetric.AREA if iso_area else IsoMetric.POWER
        base_hw = load_hardware(resolve(baseline, "hardware"))
        iso = iso_design(load_hardware(resolve(hw, "hardware")), base_hw, metric)
        design = iso.design
    design = _with_mapping(design, mapping)
    base: str | HardwareConfig | None = None if baseline in (None, "none") else baseline
    if base is not None:
        base = _with_mapping(base, mapping)
    res = _with_progress(
        lambda progress: run_api(
            hw=design,
            workload=spec,
            phase=phase,
            prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens,
            batch=batch,
            baseline=base,
            weight_format=weight_format,
            fidelity=fidelity,
            trace=source,  # type: ignore[arg-type]
            progress=progress,
        )
    )
    if iso is not None:
        a = iso.design.array
        _out().print(
            f"{iso_from} resized to {a.rows} x {a.cols} PEs for the {iso.metric.value} of "
            f"{baseline}: {iso.achieved:.4g} {iso.unit} against {iso.target:.4g} (one more "
            f"column: {iso.one_more_column:.4g}; buffers kept, ports widened with the array)",
            markup=False,
        )
    if report is not None and timeline.ops is not None and res.record.workload is not None:
        # before anything is printed or written
        timeline.check(spec.architecture.layers, len(res.record.workload.ops), spec.name)
    _print_summary(res.record, res.baseline)
    doc = res.to_dict()
    traced = res.record.workload
    if traced is not None and traced.is_measured:
        from tersim.functional.summary import measured_by_layer

        doc["measured_by_layer"] = measured_by_layer(traced)
        _print_measured(doc["measured_by_layer"])
    if iso is not None:
        doc["iso"] = iso.to_json()
    _emit_json(json_out, doc)
    if report is not None:
        from tersim.report import write_run_report

        runs = (res.record,) if res.baseline is None else (res.record, res.baseline)
        write_run_report(doc, report, runs, timeline)
        _out().print(f"wrote {report}", markup=False)
    if csv_dir is not None or parquet_dir is not None:
        _export(res.tables(), csv_dir, parquet_dir)


@app.command("report")
def report_cmd(
    records: Annotated[
        list[Path],
        typer.Argument(
            help="JSON written by tersim run --json (several: compared side by side), or a "
            "sweep's store."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="HTML file to write.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write runs.csv (and ops.csv) to this folder.")
    ] = None,
    parquet_dir: Annotated[
        Path | None, typer.Option("--parquet", help="Write the same tables as Parquet.")
    ] = None,
    timeline_layer: TimelineLayerOption = None,
    timeline_ops: TimelineOpsOption = None,
) -> None:
    """Make an HTML report, or CSV/Parquet tables, from a stored run record (or an HTML
    report of a sweep's results store); several records make one page comparing them.

    Per-op figures and tables are rebuilt by re-running the record's inputs (embedded in it)
    and checked against the stored totals; a record that does not reproduce gets its
    record-level figures only.
    """
    from tersim.report.html import load_run_json, write_comparison_report, write_run_report

    if output is None and csv_dir is None and parquet_dir is None:
        raise TersimError("report: nothing to write (expected -o FILE.html, --csv or --parquet)")
    if len(records) > 1:
        if csv_dir is not None or parquet_dir is not None or output is None:
            raise TersimError(
                f"report: {len(records)} records make one comparison page (expected -o "
                "FILE.html only; export tables one record at a time)"
            )
        for path in records:
            if _is_sweep_store(path):
                raise TersimError(f"{path}: a sweep store (expected run records to compare)")
        docs = [load_run_json(path) for path in records]
        try:
            write_comparison_report(docs, [p.stem for p in records], output)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise TersimError(
                f"report: one of the records is not a complete tersim run record (got a "
                f"problem with {exc!r}; expected the JSON written by tersim run --json)"
            ) from None
        _out().print(f"wrote {output}", markup=False)
        return
    record = records[0]
    if _is_sweep_store(record):
        if output is None:
            raise TersimError(
                f"{record}: a sweep store (expected -o FILE.html; export tables with "
                "tersim sweep export STORE --csv)"
            )
        from tersim.dse.store import ResultStore
        from tersim.dse.sweep import report_data
        from tersim.report.sweep_html import write_sweep_report

        with ResultStore.open(record, create=False) as store:
            write_sweep_report(report_data(store), output)
        _out().print(f"wrote {output}", markup=False)
        return
    doc = load_run_json(record)
    if output is not None:
        try:
            with _err().status("simulating the record again for its per-op figures..."):
                write_run_report(
                    doc, output, timeline=_timeline_choice(timeline_layer, timeline_ops)
                )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise TersimError(
                f"{record}: not a complete tersim run record (got a problem with {exc!r}; "
                "expected the JSON written by tersim run --json)"
            ) from None
        _out().print(f"wrote {output}", markup=False)
    if csv_dir is not None or parquet_dir is not None:
        from tersim.run.rows import tables_from_document

        tables, why = tables_from_document(doc)
        if why:
            _err().print(f"note: {record}: {why}", markup=False, soft_wrap=True)
        _export(tables, csv_dir, parquet_dir)


def _print_measured(by_layer: dict[str, dict[str, dict[str, float]]]) -> None:
    """One line per phase: the measured weight zero fraction and activation sparsity range."""
    for phase, layers in by_layer.items():
        zeros = [v["weight_zero_fraction"] for v in layers.values()]
        acts = [v["act_sparsity"] for v in layers.values()]
        _out().print(
            f"measured ({phase}, {len(layers)} layers): weight zero fraction "
            f"{min(zeros):.3f}-{max(zeros):.3f}, activation sparsity {min(acts):.3f}-"
            f"{max(acts):.3f} (per layer in the JSON record: measured_by_layer)",
            markup=False,
        )


def _is_sweep_store(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False  # the run-record reader reports the path


def _print_summary(rec, base) -> None:  # type: ignore[no-untyped-def]
    from tersim.run.compare import comparison_rows, format_value

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
        table.add_column("design advantage\n(above 1: design better)", justify="right")
    for row in comparison_rows([r.to_json() for r in cols]):
        cells = [format_value(v, row.quantity) for v in row.values]
        if base is not None:
            adv = row.advantage()
            cells.append("-" if adv is None else f"{adv:.2f}x")
        table.add_row(row.label, *cells)
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
    mapping: Annotated[str | None, typer.Option(help=_MAPPING_HELP)] = None,
    json_out: JsonOption = None,
) -> None:
    """Time one GEMM (M x K activations by K x N weights) on a design."""
    from tersim.config import CompatMode, Dataflow, load_hardware
    from tersim.run.single_gemm import run_gemm
    from tersim.shipped import resolve

    loaded = _with_mapping(load_hardware(resolve(hw, "hardware")), mapping)
    assert isinstance(loaded, HardwareConfig)
    design = loaded
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
    if json_out is not None:
        _emit_json(json_out, doc)
        return
    table = Table(
        title=f"GEMM {m}x{k} @ {k}x{n} on {design.name} "
        f"({doc['dataflow']}, {doc['compat']} convention)"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("total_cycles", "compute_cycles", "stall_cycles"):
        table.add_row(key, f"{doc[key]:,}")
    table.add_row("time", f"{res.seconds * 1e6:,.3f} us at {design.array.clock_hz / 1e9:g} GHz")
    e = res.energy
    table.add_row("energy (total)", _fmt_pj(e.total_pj))
    for label, pj in (
        ("energy: PE arithmetic", e.mul_pj + e.add_pj),
        ("energy: SRAM", e.sram_pj),
        ("energy: DRAM", e.dram_pj),
        ("energy: leakage", e.leakage_pj),
    ):
        table.add_row(label, _fmt_pj(pj))
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
        "PE actions", ", ".join(f"{k} {v:,}" for k, v in doc["pe_ops"].items() if v) or "none"
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
    json_out: JsonOption = None,
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
    if json_out is not None:
        _emit_json(json_out, doc)
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
    jobs: Annotated[int, typer.Option(help="Parallel worker processes.", min=1, max=MAX_JOBS)] = 1,
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
        typer.Option(
            help="Fail a point that runs longer than this many seconds (local).",
            min=0.001,
            max=1.0e7,
            callback=_finite,
        ),
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
    path = store if store is not None else _default_store(spec.name)
    summary = _sweep_with_progress(spec, base, model, path, choice, retry_failed)
    _print_sweep(summary, show_all)
    if json_out is not None:
        write_json(json_out, _sweep_json(spec, summary))
        _out().print(f"wrote {json_out}", markup=False)


def _default_store(sweep_name: str) -> Path:
    """``reports/<name>.sqlite``, the name reduced to letters, digits, '.', '_' and '-' (a
    sweep named ``../x`` or ``/etc/x`` must not write outside ``reports/``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sweep_name).strip("._")[:100] or "sweep"
    return Path("reports") / f"{safe}.sqlite"


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


def bare_json_prints(argv: list[str]) -> list[str]:
    """``--json`` with no value (the old flag of claim, gemm and footprint) means ``--json -``:
    print to stdout. (The parser has no optional-value options, so this is done here.)"""
    out = []
    for i, tok in enumerate(argv):
        out.append(tok)
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if tok == "--json" and (nxt is None or (nxt.startswith("-") and nxt != "-")):
            out.append("-")
    return out


def main() -> None:
    """Console entry point: run the app; user errors print cleanly and exit 2."""
    try:
        code = app(args=bare_json_prints(sys.argv[1:]), standalone_mode=False)
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
