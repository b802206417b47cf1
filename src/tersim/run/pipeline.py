"""The whole pipeline for one design: trace -> map -> simulate -> energy -> RunRecord."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tersim._version import __version__
from tersim.config.enums import WeightFormat
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.cost.energy import EnergyBreakdown, PriceList, estimate_energy, price_list
from tersim.errors import WorkloadError
from tersim.hw.counts import ActionCounts, sum_counts
from tersim.hw.pe import pe_model
from tersim.hw.units import compute_units
from tersim.mapping.ops import map_workload
from tersim.mapping.schedule import OpSchedule, Schedule
from tersim.sim import Fidelity, SimResult, memory_timing, simulate
from tersim.workload.footprint import footprint
from tersim.workload.formats import Formats, resolve_formats
from tersim.workload.trace import Phase, Workload, trace_shapes

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Scenario:
    phases: tuple[Phase, ...]
    prompt_tokens: int
    gen_tokens: int
    batch: int


@dataclass(frozen=True)
class RunRecord:
    """One design running one workload: the inputs as given and everything measured."""

    hardware: HardwareConfig
    spec: ModelSpec
    formats: Formats
    scenario: Scenario
    result: SimResult
    energy: EnergyBreakdown
    energy_by_layer_pj: dict[str, float]  # dynamic energy (no leakage) per layer
    energy_by_op_kind_pj: dict[str, float]  # dynamic energy (no leakage) per op kind
    # what was run and how it was mapped, for per-op rows (tersim.run.rows); not in to_json
    workload: Workload | None = field(default=None, repr=False, compare=False)
    schedule: Schedule | None = field(default=None, repr=False, compare=False)

    def phase_summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        r, s = self.result, self.scenario
        for phase in s.phases:
            cycles = r.phase_cycles(phase)
            tokens = s.batch * (s.prompt_tokens if phase == Phase.PREFILL else s.gen_tokens)
            seconds = cycles / r.clock_hz
            out[phase.value] = {
                "cycles": cycles,
                "seconds": seconds,
                "tokens": tokens,
                "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            }
        return out

    def layer_cycles(self) -> dict[str, dict[str, int]]:
        """Per phase: cycles each layer's ops spanned, summed over decode steps."""
        out: dict[str, dict[str, int]] = {}
        for (phase, _step, part), cycles in self.result.layer_cycles().items():
            bucket = out.setdefault(phase.value, {})
            bucket[part] = bucket.get(part, 0) + cycles
        return out

    @property
    def utilization(self) -> float:
        """Useful array PE-cycles / (R * C * total cycles)."""
        a = self.hardware.array
        pe = self.result.counts.pe_total
        useful = pe.mul if pe.mul else pe.add + pe.sub + pe.skip
        total = self.result.total_cycles * a.rows * a.cols
        return useful / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        r, c = self.result, self.result.counts
        return {
            "tersim_version": __version__,
            "hardware": self.hardware.model_dump(mode="json"),
            "workload": self.spec.model_dump(mode="json"),
            "formats": {
                "weight_format": self.formats.weight_format.value,
                "weight_bits": self.formats.weight_bits,
                "act_bits": self.formats.act_bits,
                "kv_bits": self.formats.kv_bits,
            },
            "scenario": {
                "phases": [p.value for p in self.scenario.phases],
                "prompt_tokens": self.scenario.prompt_tokens,
                "gen_tokens": self.scenario.gen_tokens,
                "batch": self.scenario.batch,
            },
            "fidelity": r.fidelity,
            "total_cycles": r.total_cycles,
            "seconds": r.seconds,
            "phases": self.phase_summary(),
            "dram_read_bytes": sum(c.dram_read_bytes.values()),
            "dram_write_bytes": sum(c.dram_write_bytes.values()),
            "dram_read_bytes_by_kind": dict(c.dram_read_bytes),
            "dram_write_bytes_by_kind": dict(c.dram_write_bytes),
            "achieved_dram_bw_bytes_per_cycle": (
                (sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values()))
                / r.total_cycles
                if r.total_cycles
                else 0.0
            ),
            "utilization": self.utilization,
            "busy_cycles": dict(r.busy_cycles),
            "stall_cycles": dict(r.stall_cycles),
            "energy_pj": {
                **self.energy.to_json(),
                "by_layer": dict(self.energy_by_layer_pj),
                "by_op_kind": dict(self.energy_by_op_kind_pj),
            },
            "timeline": r.timeline_json(),
            "layer_cycles": self.layer_cycles(),
            "counts": c.to_json(),
        }


def run(
    hw: HardwareConfig,
    spec: ModelSpec,
    phases: tuple[Phase, ...] = (Phase.PREFILL, Phase.DECODE),
    prompt_tokens: int | None = None,
    gen_tokens: int | None = None,
    batch: int | None = None,
    weight_format: WeightFormat | None = None,
    fidelity: Fidelity = Fidelity.FAST,
    workload: Workload | None = None,
    progress: Progress | None = None,
    ideal_memory: bool = False,
) -> RunRecord:
    """Simulate ``spec`` on ``hw`` (in the design's native format unless told otherwise).

    ``ideal_memory`` makes DRAM transfers free and instantaneous (the mapping and its traffic
    counts are unchanged), which isolates the compute units.
    """
    if not isinstance(phases, tuple) or not phases or not all(isinstance(p, Phase) for p in phases):
        raise WorkloadError(
            f"phases: expected a non-empty tuple of Phase (got {phases!r}; tersim.run takes "
            "phase='prefill' | 'decode' | 'both')"
        )
    if workload is None:
        formats = design_formats(hw, spec, weight_format)
        workload = trace_shapes(spec, formats, phases, prompt_tokens, gen_tokens, batch)
    check_fits(hw, spec, workload)
    schedule = map_workload(hw, workload)
    mem = memory_timing(hw, ideal=ideal_memory)
    units = tuple(u.name for u in compute_units(hw))
    result = simulate(schedule, mem, hw.array.clock_hz, fidelity, progress, units)
    prices = price_list(hw)
    energy = estimate_energy(result.counts, prices)
    scenario = Scenario(
        workload.phases, workload.prompt_tokens, workload.gen_tokens, workload.batch
    )
    by_layer = _dynamic_energy_by(
        schedule, prices, lambda op: "embedding_and_head" if op.layer < 0 else f"layer_{op.layer}"
    )
    by_kind = _dynamic_energy_by(schedule, prices, lambda op: op.kind)
    return RunRecord(
        hw, spec, workload.formats, scenario, result, energy, by_layer, by_kind, workload, schedule
    )


def design_formats(
    hw: HardwareConfig, spec: ModelSpec, weight_format: WeightFormat | None = None
) -> Formats:
    """The formats ``spec`` runs in on ``hw``: its array's PE decides (see
    ``resolve_formats``); a design that stores its KV cache in ``kv_cache_bits`` overrides the
    workload's."""
    formats = resolve_formats(spec, hw.array.pe_kind, weight_format, hw.array.weight_format)
    if hw.kv_cache_bits is not None:
        formats = replace(formats, kv_bits=hw.kv_cache_bits)
    return formats


def check_fits(hw: HardwareConfig, spec: ModelSpec, workload: Workload) -> None:
    """Raise if ``workload`` cannot run on ``hw``: formats the PEs cannot execute, or weights
    plus KV cache larger than the DRAM capacity."""
    fmt = workload.formats.weight_format
    formats = pe_model(hw.array.pe_kind).weight_formats
    if fmt not in formats:
        allowed = ", ".join(f.value for f in formats)
        raise WorkloadError(
            f"{workload.model}: the trace's {fmt.value} weights cannot run on {hw.name}'s "
            f"{hw.array.pe_kind.value} array (expected one of: {allowed}; re-trace for this PE)"
        )
    cap = hw.dram.capacity_bytes
    if cap is None:
        return
    fp_format = {"ternary": "ternary2" if workload.formats.weight_bits >= 2 else "ternary1.6"}.get(
        fmt.value, fmt.value
    )
    context = workload.prompt_tokens + workload.gen_tokens
    need = footprint(spec, fp_format, context, workload.batch)
    if need.total_bytes > cap:
        raise WorkloadError(
            f"{spec.name} does not fit {hw.name}'s DRAM: weights, embeddings and a KV cache "
            f"for {context} tokens x batch {workload.batch} need {need.total_bytes:,} bytes "
            f"(KV cache {need.kv_cache_bytes:,}); dram.capacity_bytes is {cap:,} (expected at "
            "least the need: raise the capacity or shorten the context or batch)"
        )


def _dynamic_energy_by(
    schedule: Schedule, prices: PriceList, key: Callable[[OpSchedule], str]
) -> dict[str, float]:
    """Energy without leakage, grouped by ``key`` (leakage belongs to time, not to ops)."""
    groups: dict[str, list[ActionCounts]] = {}
    for op in schedule.ops:
        groups.setdefault(key(op), []).append(op.counts)
    return {k: estimate_energy(sum_counts(v), prices).total_pj for k, v in groups.items()}
