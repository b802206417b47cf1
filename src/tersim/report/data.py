"""What the run report draws, computed from a simulated run (no plotting here).

A stored JSON record keeps a run's totals, not its ops; the per-op views (energy per phase by
component, the roofline, the per-op table, the timeline) come from the run itself: the
:class:`~tersim.run.pipeline.RunRecord` in memory (``tersim run --report``) or the run
simulated again from the inputs the record embeds (``tersim report``; the rerun must
reproduce the stored cycles and energy, see :func:`tersim.run.rows.rerun`). Rules:

* An op's energy is its dynamic energy (its action counts at the design's prices); a phase's
  leakage is the design's leakage power over the phase's span, as the pipeline books it, so a
  phase's components sum to the record's ``phases[ph].energy_pj``.
* An op's *busy* cycles are the cycles its tiles keep its unit computing; its *span* runs from
  its first tile's start to its last tile's end (the rest of the span is waiting for data or
  for the unit).
* Operations count one per multiply-accumulate (array and vector-unit matrix products) and one
  per vector element operation; arithmetic intensity is operations per DRAM byte moved (read
  plus written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tersim.config.enums import DramOperand
from tersim.config.hardware import HardwareConfig
from tersim.cost.energy import EnergyBreakdown, estimate_energy, price_list
from tersim.errors import TersimError
from tersim.hw.counts import ActionCounts, PECounts, sum_counts
from tersim.hw.units import MatrixUnit, compute_units
from tersim.mapping.schedule import OpSchedule
from tersim.run.pipeline import RunRecord
from tersim.sim.result import OpSpan, merge_sorted
from tersim.workload.ops import Phase


class Component(StrEnum):
    """Energy components as the report groups them (matmul arithmetic split by op kind)."""

    LINEAR_ARITHMETIC = "linear_arithmetic"  # mul + add + lookup of the linear layers
    OTHER_ARITHMETIC = "other_arithmetic"  # mul + add + lookup of attention and LM head
    SRAM = "sram"
    DRAM = "dram"
    VECTOR = "vector"
    LEAKAGE = "leakage"


@dataclass(frozen=True)
class PhaseEnergy:
    """One phase's energy by component (pJ) and the PE actions of its linear layers."""

    phase: str
    seconds: float
    cycles: int
    tokens: int
    by_component_pj: dict[Component, float]
    by_op_kind_pj: dict[str, float]  # dynamic
    dram_by_operand_pj: dict[str, float]
    linear_pe: PECounts  # the linear layers' PE actions (for the claim's pricing)
    dram_read_by_operand_bytes: dict[str, int]
    dram_write_bytes: int
    busy_cycles: dict[str, int]  # per unit, within this phase

    @property
    def total_pj(self) -> float:
        return sum(self.by_component_pj.values())


@dataclass(frozen=True)
class OpGroup:
    """Ops of one phase, one name and one shape (over layers and decode steps): one row of the
    per-op table and one point of the roofline."""

    phase: str
    name: str
    kind: str
    unit: str
    layers: tuple[int, ...]
    instances: int
    m: int
    n: int
    k: int
    operations: int  # per instance
    dram_bytes: int  # per instance, read + written
    busy_cycles: int  # per instance
    span_cycles: int  # per instance (mean, rounded down)
    energy_dynamic_pj: float  # per instance
    dram_read_by_operand_bytes: dict[str, int]  # per instance

    @property
    def intensity(self) -> float | None:
        """Operations per DRAM byte (None: the op moves no DRAM bytes)."""
        return self.operations / self.dram_bytes if self.dram_bytes else None


@dataclass(frozen=True)
class OpInterval:
    """One op of the timeline window: its (first) unit, span and busy cycles per unit."""

    name: str
    kind: str
    unit: str
    start_cycle: int
    end_cycle: int
    busy_by_unit: dict[str, int]


@dataclass(frozen=True)
class TimelineChoice:
    """What the timelines show: transformer layer ``layer`` of prefill and of the first decode
    step, or (``ops`` given) the ops whose indices (``op_index``, as in the per-op CSV) are in
    ``[ops[0], ops[1])``, as one window per run."""

    layer: int = 0
    ops: tuple[int, int] | None = None

    def check(self, layers: int, n_ops: int, model: str) -> None:
        """A one-line error unless the layer or op range exists in a model of ``layers``
        layers and ``n_ops`` ops."""
        if self.ops is not None:
            a, b = self.ops
            if not 0 <= a < b <= n_ops:
                raise TersimError(
                    f"--timeline-ops: this run of {model} has ops 0 to {n_ops - 1} (got "
                    f"{a}:{b}; expected START:END with 0 <= START < END <= {n_ops})"
                )
        elif not 0 <= self.layer < layers:
            raise TersimError(
                f"--timeline-layer: {model} has layers 0 to {layers - 1} (got {self.layer})"
            )


def parse_op_range(text: str) -> tuple[int, int]:
    """``START:END`` (op indices, END exclusive) as a pair; a one-line error otherwise (the
    range itself is checked against the run by :meth:`TimelineChoice.check`)."""
    head, colon, tail = text.partition(":")
    if not colon or not head.strip().isdigit() or not tail.strip().isdigit():
        raise TersimError(
            f"--timeline-ops: expected START:END, two op indices with END exclusive, such as "
            f"0:40 (got {text!r})"
        )
    a, b = int(head), int(tail)
    if a >= b:
        raise TersimError(f"--timeline-ops: START must be below END (got {text!r})")
    return a, b


@dataclass(frozen=True)
class Window:
    """A stretch of the run drawn as a timeline: one layer of one phase (and decode step).

    ``busy_intervals`` are every unit's exact busy intervals clipped to the window (any op's,
    including a neighbouring layer's running at the same time)."""

    title: str
    start_cycle: int
    end_cycle: int
    ops: tuple[OpInterval, ...]
    busy_intervals: dict[str, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class RunDetail:
    phases: tuple[PhaseEnergy, ...]
    groups: tuple[OpGroup, ...]
    windows: tuple[Window, ...]
    compute_roofs: dict[str, float]  # unit -> operations per second at full use
    dram_bytes_per_s: float
    busy_cycles: dict[str, int]  # per unit over the run, from the ops (equals the record's)


def base_name(name: str) -> str:
    """An op's name without its layer prefix (``L3.q_proj`` -> ``q_proj``)."""
    head, dot, tail = name.partition(".")
    return tail if dot and head[:1] == "L" and head[1:].isdigit() else name


def clipped(groups: Sequence[Sequence[int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """The intervals of strided groups ``(start, end, stride, count)`` inside ``[lo, hi)``,
    clipped to it, sorted, touching ones merged."""
    pts: list[tuple[int, int]] = []
    for s, e, stride, count in groups:
        if count == 1 or stride == 0:
            ks: range = range(1 if count >= 1 else 0)
        else:
            first = max(0, (lo - e) // stride)
            last = min(count - 1, (hi - s) // stride)
            ks = range(first, last + 1)
        for k in ks:
            a, b = max(lo, s + k * stride), min(hi, e + k * stride)
            if a < b:
                pts.append((a, b))
    return merge_sorted(sorted(pts))


def compute_roofs(hw: HardwareConfig) -> dict[str, float]:
    """Every compute unit's peak operations per second: PEs x clock for a matrix unit, lanes x
    operations per lane per cycle x the design's clock for a vector unit."""
    out = {}
    for u in compute_units(hw):
        if isinstance(u, MatrixUnit):
            out[u.name] = u.array.rows * u.array.cols * u.array.clock_hz
        else:
            out[u.name] = u.lanes * u.ops_per_cycle_per_lane * hw.array.clock_hz
    return out


def _operations(c: ActionCounts, macs: int) -> int:
    """The op's multiply-accumulates (wherever they run: a product on the vector unit counts
    its MACs as ``vector_macs`` too, once) plus its vector element ops."""
    return max(macs, c.vector_macs) + c.vector_ops


def _dram_bytes(c: ActionCounts) -> int:
    return sum(c.dram_read_bytes.values()) + sum(c.dram_write_bytes.values())


def run_detail(record: RunRecord, timeline: TimelineChoice | None = None) -> RunDetail:
    """Everything per op the report needs, from ``record`` (which must hold its schedule);
    the timelines show what ``timeline`` chooses (checked against the run; default: layer
    0)."""
    timeline = TimelineChoice() if timeline is None else timeline
    wl, sched, res = record.workload, record.schedule, record.result
    if wl is None or sched is None:
        raise ValueError("run_detail needs a record with its schedule (not one read from JSON)")
    timeline.check(record.spec.architecture.layers, len(wl.ops), record.spec.name)
    prices = price_list(record.hardware)
    leak_mw = sum(prices.leakage_mw.values())
    energy_memo: dict[int, EnergyBreakdown] = {}
    by_phase: dict[str, list[ActionCounts]] = {}
    kind_by_phase: dict[str, dict[str, float]] = {}
    busy_by_phase: dict[str, dict[str, int]] = {}
    busy: dict[str, int] = {}
    groups: dict[tuple[str, str, int, int, int], list[tuple[int, int, int]]] = {}
    group_meta: dict[
        tuple[str, str, int, int, int], tuple[str, str, int, int, float, ActionCounts]
    ] = {}
    for op_s, span in zip(sched.ops, res.spans, strict=True):
        op = wl.ops[op_s.op_index]
        c = op_s.counts
        e = energy_memo.get(id(c))
        if e is None:
            e = energy_memo[id(c)] = estimate_energy(c, prices)
        ph = op_s.phase.value
        unit = span.unit
        compute = sum(r.count * r.compute_cycles for r in op_s.runs)
        by_phase.setdefault(ph, []).append(c)
        kinds = kind_by_phase.setdefault(ph, {})
        kinds[op_s.kind] = kinds.get(op_s.kind, 0.0) + e.total_pj - e.leakage_pj
        ub = busy_by_phase.setdefault(ph, {})
        for r in op_s.runs:  # an op's tiles may run on more than one unit
            u = r.unit
            ub[u] = ub.get(u, 0) + r.count * r.compute_cycles
            busy[u] = busy.get(u, 0) + r.count * r.compute_cycles
        key = (ph, base_name(op_s.name), op.m, op.n, op.k)
        groups.setdefault(key, []).append((op_s.layer, compute, span.end_cycle - span.start_cycle))
        if key not in group_meta:
            group_meta[key] = (
                str(op_s.kind),
                unit,
                _operations(c, op.macs),
                _dram_bytes(c),
                e.total_pj - e.leakage_pj,
                c,
            )
    phases = []
    summary = record.phase_summary()
    for ph, items in by_phase.items():
        total = sum_counts(items)
        e = estimate_energy(total, prices)
        linear = e.arithmetic_by_kind_pj.get("linear", 0.0)
        arith = e.mul_pj + e.add_pj + e.lookup_pj
        cycles = res.phase_cycles(Phase(ph))
        seconds = cycles / res.clock_hz
        phases.append(
            PhaseEnergy(
                phase=ph,
                seconds=seconds,
                cycles=cycles,
                tokens=int(summary.get(ph, {}).get("tokens", 0)),
                by_component_pj={
                    Component.LINEAR_ARITHMETIC: linear,
                    Component.OTHER_ARITHMETIC: arith - linear,
                    Component.SRAM: e.sram_pj,
                    Component.DRAM: e.dram_pj,
                    Component.VECTOR: e.vector_pj,
                    Component.LEAKAGE: leak_mw * seconds * 1e9,  # mW x s = 1e9 pJ
                },
                by_op_kind_pj=kind_by_phase[ph],
                dram_by_operand_pj={k.value: v for k, v in e.dram_by_operand_pj.items()},
                linear_pe=total.pe_by_kind.get("linear", PECounts()),
                dram_read_by_operand_bytes={k.value: v for k, v in total.dram_read_bytes.items()},
                dram_write_bytes=sum(total.dram_write_bytes.values()),
                busy_cycles=busy_by_phase[ph],
            )
        )
    out_groups = []
    for key, members in groups.items():
        kind, unit, ops, dram, energy, c = group_meta[key]
        out_groups.append(
            OpGroup(
                phase=key[0],
                name=key[1],
                kind=kind,
                unit=unit,
                layers=tuple(sorted({m[0] for m in members})),
                instances=len(members),
                m=key[2],
                n=key[3],
                k=key[4],
                operations=ops,
                dram_bytes=dram,
                busy_cycles=members[0][1],
                span_cycles=sum(m[2] for m in members) // len(members),
                energy_dynamic_pj=energy,
                dram_read_by_operand_bytes={
                    d.value: c.dram_read_bytes.get(d, 0) for d in DramOperand
                },
            )
        )
    hw = record.hardware
    clock = hw.array.clock_hz
    roofs = compute_roofs(hw)
    return RunDetail(
        phases=tuple(phases),
        groups=tuple(out_groups),
        windows=tuple(_windows(record, timeline)),
        compute_roofs=roofs,
        dram_bytes_per_s=hw.dram_bw_bytes_per_cycle * clock,
        busy_cycles=busy,
    )


def _windows(record: RunRecord, timeline: TimelineChoice) -> list[Window]:
    """The chosen layer of prefill and of the first decode step (whichever the run has), or
    the chosen ops as one window."""
    sched = record.schedule
    assert sched is not None
    pairs = list(zip(sched.ops, record.result.spans, strict=True))
    if timeline.ops is not None:
        a, b = timeline.ops
        ops = [(o, s) for o, s in pairs if a <= o.op_index < b]
        if not ops:  # every op is scheduled; kept as a one-line error all the same
            raise TersimError(f"--timeline-ops: no op of this run has an index in {a}:{b}")
        first, last = min(ops, key=lambda p: p[0].op_index), max(ops, key=lambda p: p[0].op_index)
        title = f"ops {a} to {b - 1} ({first[0].name} to {last[0].name})"
        return [_window(record, title, ops)]
    out = []
    layer = timeline.layer
    for phase in record.scenario.phases:
        ops = [(o, s) for o, s in pairs if o.phase == phase and o.step == 0 and o.layer == layer]
        if ops:
            where = "prefill" if phase == Phase.PREFILL else "the first decode step"
            out.append(_window(record, f"layer {layer} of {where}", ops))
    return out


def _window(record: RunRecord, title: str, ops: list[tuple[OpSchedule, OpSpan]]) -> Window:
    """The window from the first of ``ops``' starts to the last of their ends: their spans,
    and every lane's exact busy intervals inside it (the DRAM's too)."""
    res = record.result
    lo = min(s.start_cycle for _, s in ops)
    hi = max(s.end_cycle for _, s in ops)
    intervals = []
    for o, s in ops:
        by_unit: dict[str, int] = {}
        for r in o.runs:
            by_unit[r.unit] = by_unit.get(r.unit, 0) + r.count * r.compute_cycles
        intervals.append(
            OpInterval(o.name, str(o.kind), s.unit, s.start_cycle, s.end_cycle, by_unit)
        )
    busy = {
        u: tuple(clipped(t.groups_within(lo, hi), lo, hi)) for u, t in sorted(res.timelines.items())
    }
    return Window(title, lo, hi, tuple(intervals), busy)
