"""Flat rows of a run, for tables (CSV, Parquet, pandas): one per op, one per run.

Per-op rows join three things the pipeline already has, by op index: the trace op (shape,
formats), its schedule (unit, tiles, action counts: PE actions, SRAM bytes by buffer, DRAM
bytes by operand) and the simulator's span (when it ran). Rules:

* Units are in every column name (``_cycles``, ``_bytes``, ``_pj``, ``_s``).
* An op's energy is its dynamic energy (its action counts x the design's prices). Leakage
  belongs to time, not to ops, so it appears only in the run's summary; the ops' energies sum
  to the run's total minus its leakage.
* ``span_cycles`` is wall time from the op's first tile's start to its last tile's end;
  ``compute_cycles`` the cycles its tiles keep a compute unit busy (``span - compute`` is
  waiting for data or for the unit).
* Decode ops appear once per decode step (``step``).
* Ratios always say which way they point in their name: ``*_speedup`` and ``*_saving`` are
  baseline / design (above 1: the design is better).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tersim.config.enums import BufferRole, DramOperand
from tersim.cost.energy import EnergyBreakdown, estimate_energy, price_list
from tersim.errors import TersimError
from tersim.hw.counts import ActionCounts
from tersim.run.pipeline import RunRecord
from tersim.workload.trace import Phase


@dataclass(frozen=True)
class OpRow:
    """One op of a run, flat. Column names carry their units."""

    op_index: int
    op: str
    kind: str
    layer: int  # -1: embedding, final norm, LM head
    phase: str
    step: int  # decode step (0 in prefill)
    unit: str  # array or vector
    mapping: str  # how the op was placed: unit, tiles (and the array's dataflow)
    m: int
    n: int
    k: int
    count: int
    macs: int
    weight_format: str  # "" for activation x activation products and vector ops
    start_cycle: int
    end_cycle: int
    span_cycles: int
    compute_cycles: int
    tiles: int
    pe_add: int
    pe_sub: int
    pe_skip: int
    pe_mul: int
    vector_ops: int
    vector_macs: int
    sram_read_input_bytes: int
    sram_read_weight_bytes: int
    sram_read_output_bytes: int
    sram_write_input_bytes: int
    sram_write_weight_bytes: int
    sram_write_output_bytes: int
    dram_read_weights_bytes: int
    dram_read_activations_bytes: int
    dram_read_kv_cache_bytes: int
    dram_write_weights_bytes: int
    dram_write_activations_bytes: int
    dram_write_kv_cache_bytes: int
    energy_mul_pj: float
    energy_add_pj: float
    energy_sram_pj: float
    energy_dram_pj: float
    energy_vector_pj: float
    energy_dynamic_pj: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def op_rows(record: RunRecord) -> list[OpRow]:
    """Every op of ``record`` in program order.

    Raises:
        TersimError: the record has no schedule (it was read back from JSON, which keeps the
            run's totals, not its ops).
    """
    wl, sched = record.workload, record.schedule
    if wl is None or sched is None:
        raise TersimError(
            f"{record.hardware.name}: this record has no per-op data (records read from JSON "
            "keep totals only; re-run the simulation for per-op rows)"
        )
    prices = price_list(record.hardware)
    energy_memo: dict[int, EnergyBreakdown] = {}  # ops of one shape share their counts object
    dataflow = record.hardware.array.dataflow.value
    rows = []
    for op_s, span in zip(sched.ops, record.result.spans, strict=True):
        op = wl.ops[op_s.op_index]
        c: ActionCounts = op_s.counts
        e = energy_memo.get(id(c))
        if e is None:
            e = energy_memo[id(c)] = estimate_energy(c, prices)
        pe = c.pe_total
        compute = sum(r.count * r.compute_cycles for r in op_s.runs)
        mapping = f"{span.unit}: {op_s.tiles} tiles" + (
            f", {dataflow} dataflow" if span.unit == "array" else ""
        )
        rows.append(
            OpRow(
                op_index=op_s.op_index,
                op=op_s.name,
                kind=op_s.kind,
                layer=op_s.layer,
                phase=op_s.phase,
                step=op_s.step,
                unit=span.unit,
                mapping=mapping,
                m=op.m,
                n=op.n,
                k=op.k,
                count=op.count,
                macs=op.macs,
                weight_format="" if op.weight_format is None else op.weight_format.value,
                start_cycle=span.start_cycle,
                end_cycle=span.end_cycle,
                span_cycles=span.end_cycle - span.start_cycle,
                compute_cycles=compute,
                tiles=op_s.tiles,
                pe_add=pe.add,
                pe_sub=pe.sub,
                pe_skip=pe.skip,
                pe_mul=pe.mul,
                vector_ops=c.vector_ops,
                vector_macs=c.vector_macs,
                **{f"sram_read_{b.value}_bytes": c.sram_read_bytes.get(b, 0) for b in BufferRole},
                **{f"sram_write_{b.value}_bytes": c.sram_write_bytes.get(b, 0) for b in BufferRole},
                **{f"dram_read_{d.value}_bytes": c.dram_read_bytes.get(d, 0) for d in DramOperand},
                **{
                    f"dram_write_{d.value}_bytes": c.dram_write_bytes.get(d, 0) for d in DramOperand
                },
                energy_mul_pj=e.mul_pj,
                energy_add_pj=e.add_pj,
                energy_sram_pj=e.sram_pj,
                energy_dram_pj=e.dram_pj,
                energy_vector_pj=e.vector_pj,
                energy_dynamic_pj=e.total_pj - e.leakage_pj,
            )
        )
    return rows


def _tokens_per_s(tokens: float, seconds: float) -> float | None:
    return tokens / seconds if tokens and seconds > 0 else None


def summary_row(doc: dict[str, Any], role: str) -> dict[str, Any]:
    """One flat row of a run's JSON record (``RunRecord.to_json()``): design, workload,
    scenario, time, tokens/s, traffic, utilization and energy by component.

    Works from the JSON form, so ``tersim report`` can export a stored record without
    re-simulating. ``role`` says whose run it is (``design`` or ``baseline``). Tokens per
    second are given summed over the batch and per sequence; ``None`` where the phase has no
    tokens (a prefill-only run has no decode rate).
    """
    sc, phases = doc["scenario"], doc["phases"]
    pre, dec = phases.get(Phase.PREFILL.value), phases.get(Phase.DECODE.value)
    batch = sc["batch"]
    e = doc["energy_pj"]
    total = doc["total_cycles"] or 1
    busy = doc["busy_cycles"]
    row: dict[str, Any] = {
        "role": role,
        "design": doc["hardware"]["name"],
        "workload": doc["workload"]["name"],
        "weight_format": doc["formats"]["weight_format"],
        "act_bits": doc["formats"]["act_bits"],
        "phases": "+".join(sc["phases"]),
        "prompt_tokens": sc["prompt_tokens"],
        "gen_tokens": sc["gen_tokens"],
        "batch": batch,
        "fidelity": doc["fidelity"],
        "total_cycles": doc["total_cycles"],
        "latency_s": doc["seconds"],
        "prefill_s": pre["seconds"] if pre else None,
        "decode_s": dec["seconds"] if dec else None,
        "prefill_tokens_per_s_batch": _tokens_per_s(pre["tokens"], pre["seconds"]) if pre else None,
        "decode_tokens_per_s_batch": _tokens_per_s(dec["tokens"], dec["seconds"]) if dec else None,
        "decode_tokens_per_s_per_sequence": (
            _tokens_per_s(dec["tokens"] / batch, dec["seconds"]) if dec else None
        ),
        "dram_read_bytes": doc["dram_read_bytes"],
        "dram_write_bytes": doc["dram_write_bytes"],
        "array_utilization": doc["utilization"],
        "array_busy_fraction": busy.get("array", 0) / total,
        "vector_busy_fraction": busy.get("vector", 0) / total,
        "energy_mul_pj": e["mul"],
        "energy_add_pj": e["add"],
        "energy_sram_pj": e["sram"],
        "energy_dram_pj": e["dram"],
        "energy_vector_pj": e["vector"],
        "energy_leakage_pj": e["leakage"],
        "energy_total_pj": e["total"],
    }
    # area and power (records written before they existed lack them: None)
    area, peak = doc.get("area_mm2") or {}, doc.get("peak_power_w") or {}
    row |= {
        "energy_lookup_pj": e.get("lookup"),
        "area_mm2": area.get("total"),
        "core_area_mm2": area.get("core"),
        "power_w": doc.get("power_w"),
        "peak_power_w": peak.get("total"),
        "tokens_per_j": doc.get("tokens_per_j"),
        "tops_per_w": doc.get("tops_per_w"),
    }
    return row


def ratios(design: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """Baseline / design of latency, energy and DRAM traffic, per run and per phase (above 1:
    the design is better), from two JSON records. ``None`` where a side is zero."""

    def div(a: float, b: float) -> float | None:
        return a / b if b else None

    out: dict[str, float | None] = {
        "latency_speedup": div(baseline["seconds"], design["seconds"]),
        "energy_saving": div(baseline["energy_pj"]["total"], design["energy_pj"]["total"]),
        "dram_traffic_saving": div(baseline["dram_read_bytes"], design["dram_read_bytes"]),
    }
    for ph, d in design["phases"].items():
        b = baseline["phases"].get(ph)
        if b is not None:
            out[f"{ph}_speedup"] = div(b["seconds"], d["seconds"])
    return out


def run_document(record: RunRecord, baseline: RunRecord | None = None) -> dict[str, Any]:
    """The JSON document ``tersim run --json`` writes: the run, its baseline and the ratios."""
    doc: dict[str, Any] = {"run": record.to_json()}
    if baseline is not None:
        doc["baseline"] = baseline.to_json()
        doc["ratios"] = ratios(doc["run"], doc["baseline"])
    return doc


def summary_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a run document (:func:`run_document`): the design, then the baseline if any."""
    rows = [summary_row(doc["run"], "design")]
    if "baseline" in doc:
        rows.append(summary_row(doc["baseline"], "baseline"))
    return rows


def rerun(doc: dict[str, Any]) -> RunRecord | None:
    """Simulate again the run a JSON record describes (its hardware, workload, formats and
    scenario are embedded); ``None`` if it does not reproduce the stored cycles and energy
    (another tersim version, or a run of a saved trace, whose ops the record does not hold)."""
    import math

    from pydantic import ValidationError

    from tersim.config.enums import WeightFormat
    from tersim.config.hardware import HardwareConfig
    from tersim.config.workload import ModelSpec
    from tersim.run.pipeline import run
    from tersim.sim import Fidelity

    try:
        hw = HardwareConfig.model_validate(doc["hardware"])
        spec = ModelSpec.model_validate(doc["workload"])
        sc = doc["scenario"]
        record = run(
            hw,
            spec,
            tuple(Phase(p) for p in sc["phases"]),
            sc["prompt_tokens"],
            sc["gen_tokens"],
            sc["batch"],
            WeightFormat(doc["formats"]["weight_format"]),
            Fidelity(doc["fidelity"]),
        )
    except (KeyError, TypeError, ValueError, ValidationError, TersimError):
        return None
    same = record.result.total_cycles == doc.get("total_cycles") and math.isclose(
        record.energy.total_pj, doc.get("energy_pj", {}).get("total", -1.0), rel_tol=1e-9
    )
    return record if same else None


def tables_from_document(doc: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """The tables of a stored run document: ``runs`` always; ``ops`` (and ``baseline_ops``)
    when re-running the record reproduces it. Returns the tables and, when per-op tables are
    missing, why."""
    tables: dict[str, list[dict[str, Any]]] = {"runs": summary_rows(doc)}
    why = ""
    for role, table in (("run", "ops"), ("baseline", "baseline_ops")):
        if role not in doc:
            continue
        record = rerun(doc[role])
        if record is None:
            why = (
                f"the {'design' if role == 'run' else 'baseline'} run does not reproduce from "
                "the record (another tersim version, or a run of a saved trace), so its per-op "
                "table is not written; re-run tersim run with --csv/--parquet"
            )
            continue
        tables[table] = [r.to_dict() for r in op_rows(record)]
    return tables, why
