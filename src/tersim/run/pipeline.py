"""The whole pipeline for one design: trace -> map -> simulate -> energy -> RunRecord."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tersim._version import __version__
from tersim.config.enums import WeightFormat
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.cost.area import AreaBreakdown, chip_area
from tersim.cost.energy import EnergyBreakdown, PriceList, estimate_energy, price_list
from tersim.cost.power import PeakPower, peak_power
from tersim.errors import DesignError, WorkloadError
from tersim.hw.counts import sum_counts_times
from tersim.hw.pe import pe_model
from tersim.hw.units import compute_units
from tersim.mapping.ops import map_workload
from tersim.mapping.schedule import Schedule
from tersim.mapping.summary import MappingSummary, summarize
from tersim.run.judge import engine_judge
from tersim.runtime import cyclic_gc_paused
from tersim.sim import Fidelity, SimResult, memory_timing, simulate
from tersim.sim.timing import MemoryTiming
from tersim.workload.footprint import StorageFormat, footprint
from tersim.workload.formats import Formats, resolve_formats
from tersim.workload.ops import OpKind
from tersim.workload.trace import Phase, Workload, trace_shapes

Progress = Callable[[int, int], None]
# Reuse hooks (design-space sweeps pass caching versions; see tersim.dse.evaluate): a mapper
# and a simulator with the signatures of map_workload and simulate.
Mapper = Callable[[HardwareConfig, Workload], Schedule]
Simulator = Callable[
    [Schedule, MemoryTiming, float, Fidelity, Progress | None, tuple[str, ...]], SimResult
]


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
    area: AreaBreakdown | None = None  # the design's silicon (tersim.cost.area)
    peak_power: PeakPower | None = None
    # per phase: its ops' dynamic energy + leakage over its span (cycles outside every span,
    # e.g. the first load's DRAM latency, leak into the total only)
    energy_by_phase_pj: dict[str, float] = field(default_factory=dict)
    matmul_macs: int = 0  # multiply-accumulates (or ternary slots) of every matrix op

    @property
    def seconds(self) -> float:
        return self.result.seconds

    @property
    def power_w(self) -> float:
        """Average power over the run."""
        return self.energy.total_pj * 1e-12 / self.seconds if self.seconds > 0 else 0.0

    @property
    def tops_per_w(self) -> float:
        """Tera-operations (2 per multiply-accumulate of the matrix ops) per joule."""
        joules = self.energy.total_pj * 1e-12
        return 2 * self.matmul_macs / joules / 1e12 if joules > 0 else 0.0

    def efficiency(self) -> dict[str, Any]:
        """Area, power and the per-area and per-energy rates (the record's efficiency keys)."""
        tokens = sum(p["tokens"] for p in self.phase_summary().values())
        joules = self.energy.total_pj * 1e-12
        return {
            "area_mm2": None if self.area is None else self.area.to_json(),
            "power_w": self.power_w,
            "peak_power_w": None if self.peak_power is None else self.peak_power.to_json(),
            "tokens_per_j": tokens / joules if joules > 0 else 0.0,
            "tops_per_w": self.tops_per_w,
            "matmul_macs": self.matmul_macs,
        }

    mapping: MappingSummary | None = None  # each distinct matrix product's mapping and bounds

    def phase_summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        r, s = self.result, self.scenario
        for phase in s.phases:
            cycles = r.phase_cycles(phase)
            tokens = s.batch * (s.prompt_tokens if phase == Phase.PREFILL else s.gen_tokens)
            seconds = cycles / r.clock_hz
            rate = tokens / seconds if seconds > 0 else 0.0
            out[phase.value] = {
                "cycles": cycles,
                "seconds": seconds,
                "tokens": tokens,
                "tokens_per_s": rate,
            }
            if self.area is not None:
                out[phase.value]["tokens_per_s_per_mm2"] = rate / self.area.total_mm2
                out[phase.value]["tokens_per_s_per_core_mm2"] = rate / self.area.core_mm2
            joules = self.energy_by_phase_pj.get(phase.value, 0.0) * 1e-12
            if joules > 0:
                out[phase.value]["energy_pj"] = joules * 1e12
                out[phase.value]["tokens_per_j"] = tokens / joules
        return out

    def layer_cycles(self) -> dict[str, dict[str, int]]:
        """Per phase: cycles each layer's ops spanned, summed over decode steps."""
        return {p.value: parts for p, parts in self.result.layer_cycles_by_phase().items()}

    @property
    def utilization(self) -> float:
        """Useful array PE-cycles / (R * C * total cycles)."""
        a = self.hardware.array
        useful = pe_model(a.pe_kind).pe_cycles(self.result.counts.pe_total, a)
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
            **self.efficiency(),
            **self._mapping_json(),
        }

    def _mapping_json(self) -> dict[str, Any]:
        if self.mapping is None:
            return {}
        m = self.mapping
        return {
            "compulsory_dram_bytes": m.compulsory_bytes,
            "lower_bound_dram_bytes": m.lower_bound_bytes,
            "dram_to_compulsory": m.dram_to_compulsory,
            "mapping": {"search": self.hardware.mapping.search.value, **m.to_json()},
        }


def map_design(hw: HardwareConfig, workload: Workload) -> Schedule:
    """The run's mapping: :func:`map_workload` with the design's judge (the searched mapping
    compares its points on the real DRAM even when the run's timing is ideal)."""
    return map_workload(hw, workload, engine_judge(hw))


@cyclic_gc_paused()
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
    mapper: Mapper | None = None,
    simulator: Simulator = simulate,
) -> RunRecord:
    """Simulate ``spec`` on ``hw`` (in the design's native format unless told otherwise).

    ``ideal_memory`` makes DRAM transfers free and instantaneous (the mapping and its traffic
    counts are unchanged), which isolates the compute units. ``mapper`` and ``simulator``
    stand in for :func:`map_design` and simulate (a sweep passes memoizing ones).
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
    schedule = (map_design if mapper is None else mapper)(hw, workload)
    mem = memory_timing(hw, ideal=ideal_memory)
    units = tuple(u.name for u in compute_units(hw))
    result = simulator(schedule, mem, hw.array.clock_hz, fidelity, progress, units)
    prices = price_list(hw)
    energy = estimate_energy(result.counts, prices)
    scenario = Scenario(
        workload.phases, workload.prompt_tokens, workload.gen_tokens, workload.batch
    )
    by_layer, by_kind, by_phase = dynamic_energy_by(schedule, prices)
    leak_mw = sum(prices.leakage_mw.values())
    for ph in workload.phases:  # leakage belongs to the phase's time
        seconds = result.phase_cycles(ph) / result.clock_hz
        by_phase[ph.value] = by_phase.get(ph.value, 0.0) + leak_mw * seconds * 1e9
    return RunRecord(
        hw,
        spec,
        workload.formats,
        scenario,
        result,
        energy,
        by_layer,
        by_kind,
        area=chip_area(hw),
        peak_power=peak_power(hw, prices),
        energy_by_phase_pj=by_phase,
        matmul_macs=workload.matmul_macs(),
        workload=workload,
        schedule=schedule,
        mapping=summarize(schedule),
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
    datapath = hw.array.activation_bits
    if datapath is not None and workload.formats.act_bits > datapath:
        raise DesignError(
            f"array.activation_bits: {workload.model}'s {workload.formats.act_bits}-bit "
            f"activations cannot run on {hw.name}'s {datapath}-bit activation datapath (expected "
            f"at most {datapath}-bit activations: widen the datapath, or set the workload's "
            "quantization.activation_bits)"
        )
    if fmt not in formats:
        allowed = ", ".join(f.value for f in formats)
        raise WorkloadError(
            f"{workload.model}: the trace's {fmt.value} weights cannot run on {hw.name}'s "
            f"{hw.array.pe_kind.value} array (expected one of: {allowed}; re-trace for this PE)"
        )
    cap = hw.dram.capacity_bytes
    if cap is None:
        return
    fp_format = StorageFormat.of(fmt, workload.formats.weight_bits)
    context = workload.prompt_tokens + workload.gen_tokens
    need = footprint(spec, fp_format, context, workload.batch)
    if need.total_bytes > cap:
        raise DesignError(
            f"dram.capacity_bytes: {spec.name} does not fit {hw.name}'s DRAM: weights, "
            f"embeddings and a KV cache for {context} tokens x batch {workload.batch} need "
            f"{need.total_bytes:,} bytes (KV cache {need.kv_cache_bytes:,}); dram.capacity_bytes "
            f"is {cap:,} (expected at least the need: raise the capacity or shorten the context "
            "or batch)"
        )


def _layer_key(layer: int) -> str:
    return "embedding_and_head" if layer < 0 else f"layer_{layer}"


PerCounts = dict[int, list[Any]]  # counts object's id -> [counts, how many ops]


def _add(per: PerCounts, cid: int, counts: Any, n: int) -> None:
    e = per.get(cid)
    if e is None:
        per[cid] = [counts, n]
    else:
        e[1] += n


class _LayerClasses:
    """The by-layer groups of :func:`dynamic_energy_by`, layers that have had the same ops
    (the same counts objects, as many times, in the same order) sharing one group: the copied
    layers of every pass are one class, so the groups hold what is distinct, not layers x
    passes. A class is split when some ops reach only part of it."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}  # layer key -> class
        self.members: dict[int, list[str]] = {}
        self.per: dict[int, PerCounts] = {}

    def add(self, keys: dict[str, int], ops: list[tuple[int, Any, int]]) -> None:
        """Ops ``ops`` (counts id, counts, how many) reach each layer of ``keys`` (layer key:
        how many times)."""
        touched: dict[tuple[int, int], list[str]] = {}  # (class or -1 for new, times) -> keys
        for key, m in keys.items():
            touched.setdefault((self.of.get(key, -1), m), []).append(key)
        for (c, m), keys_in in touched.items():
            if c < 0 or len(keys_in) != len(self.members[c]):  # a new class
                new = len(self.members)
                self.members[new] = keys_in
                self.per[new] = {} if c < 0 else {k: list(v) for k, v in self.per[c].items()}
                if c >= 0:
                    gone = set(keys_in)
                    self.members[c] = [k for k in self.members[c] if k not in gone]
                for k in keys_in:
                    self.of[k] = new
                c = new
            per = self.per[c]
            for cid, counts, n in ops:
                _add(per, cid, counts, n * m)


def _energy_groups(
    schedule: Schedule,
) -> tuple[list[str], _LayerClasses, dict[object, PerCounts], dict[object, PerCounts]]:
    """The ops grouped by layer (layer keys in the order the ops first list them, and their
    classes), by op kind and by phase: per group, per distinct counts object in the order the
    group's ops first list it, ``[counts, how many ops]``. From the segments when they cover
    the ops (every segment planned alike lists the same schedules, so each distinct plan is
    looked at once; a record's copies reach their layers at once), else op by op."""
    order: list[str] = []
    seen: set[str] = set()
    layers = _LayerClasses()
    kinds: dict[object, PerCounts] = {}
    phases: dict[object, PerCounts] = {}
    segs = schedule.segments
    if segs is not None and schedule.segments_cover_ops():
        per_plan: dict[int, list[tuple[int, Any, OpKind, int]]] = {}
        for ref in segs:
            plan = ref.plan
            got = per_plan.get(id(plan))
            if got is None:
                ks: dict[tuple[int, OpKind], list[Any]] = {}
                for o in plan.ops:
                    e = ks.get((id(o.counts), o.kind))
                    if e is None:
                        ks[(id(o.counts), o.kind)] = [o.counts, 1]
                    else:
                        e[1] += 1
                got = per_plan[id(plan)] = [(c, v[0], k, v[1]) for (c, k), v in ks.items()]
            n_ops = len(plan.ops)
            by_phase: dict[Phase, dict[str, int]] = {}  # a record is in one pass: one phase
            for j in range(ref.times):
                head = schedule.op_head(ref.start + j * n_ops)
                key = _layer_key(head.layer)
                if key not in seen:
                    seen.add(key)
                    order.append(key)
                keys = by_phase.setdefault(head.phase, {})
                keys[key] = keys.get(key, 0) + 1
            for phase, keys in by_phase.items():
                layers.add(keys, [(cid, counts, n) for cid, counts, _, n in got])
                m = sum(keys.values())
                for cid, counts, kind, n in got:
                    _add(kinds.setdefault(kind, {}), cid, counts, n * m)
                    _add(phases.setdefault(phase.value, {}), cid, counts, n * m)
        return order, layers, kinds, phases
    for op in schedule.ops:
        key = _layer_key(op.layer)
        if key not in seen:
            seen.add(key)
            order.append(key)
        layers.add({key: 1}, [(id(op.counts), op.counts, 1)])
        _add(kinds.setdefault(op.kind, {}), id(op.counts), op.counts, 1)
        _add(phases.setdefault(op.phase.value, {}), id(op.counts), op.counts, 1)
    return order, layers, kinds, phases


def dynamic_energy_by(
    schedule: Schedule, prices: PriceList
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Energy without leakage (leakage belongs to time, not to ops) grouped by layer, by op kind
    and by phase. The ops are counted per distinct counts object, times how often it occurs;
    each group sums its distinct counts objects times their multiplicity in the order the
    group's ops first list them, as ``sum_counts`` over the group's ops does (so the
    floating-point sums are the same); groups listing the same counts objects the same number
    of times in the same order (the layers of a model, mostly) are priced once."""
    order, layers, kinds, phases = _energy_groups(schedule)
    priced: dict[tuple[tuple[int, int], ...], float] = {}  # groups listing the same counts

    def total_pj(per: PerCounts) -> float:
        sig = tuple((cid, e[1]) for cid, e in per.items())
        got = priced.get(sig)
        if got is None:
            counts = sum_counts_times((c, n) for c, n in per.values())
            got = priced[sig] = estimate_energy(counts, prices).total_pj
        return got

    by_class = {c: total_pj(per) for c, per in layers.per.items() if layers.members[c]}
    return (
        {key: by_class[layers.of[key]] for key in order},
        {str(k): total_pj(per) for k, per in kinds.items()},
        {str(k): total_pj(per) for k, per in phases.items()},
    )
