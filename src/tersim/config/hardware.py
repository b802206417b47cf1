"""Hardware design schema (``HardwareConfig``), validated once at the boundary.

Structure and types are checked by pydantic; cross-field rules (a buffer must hold a tile, the
DRAM must have one bandwidth) by :func:`design_problems`, so every problem in a file is reported
at once with its dotted field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from tersim.config.enums import (
    PE_WEIGHT_FORMATS,
    BufferRole,
    CompatMode,
    Dataflow,
    DependencyRule,
    DramModelKind,
    LutScheme,
    MappingObjective,
    MappingSearch,
    OpKind,
    OrderRule,
    PEKind,
    TableBuild,
    VectorOp,
    WeightFormat,
)
from tersim.config.types import Flag, NonNegInt, PosFloat, PosInt
from tersim.tech.tables import energy_field_names, known_nodes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Upper bounds where a larger value describes no chip (see tersim.config.types).
MAX_ARRAY_SIDE = 1 << 14  # PEs per array side (16,384; TPU v1's array is 256 x 256)
MIN_CLOCK_HZ, MAX_CLOCK_HZ = 1.0e6, 1.0e11  # 1 MHz to 100 GHz
MAX_SRAM_BYTES = 1 << 40  # 1 TiB of on-chip buffer
MAX_WORD_BYTES = 1 << 10  # an 8,192-bit SRAM word
MAX_BANKS = 1 << 16
MIN_PORT_BYTES_PER_CYCLE = 1.0e-3  # a port is a divisor of transfer times: no denormals
MAX_PORT_BYTES_PER_CYCLE = float(1 << 30)  # 1 GiB per cycle through one buffer port
MIN_DRAM_BYTES_PER_CYCLE, MAX_DRAM_BYTES_PER_CYCLE = 1.0e-6, float(1 << 30)
MIN_DRAM_GB_PER_S, MAX_DRAM_GB_PER_S = 1.0e-3, 1.0e6  # 1 MB/s to 1 PB/s
MAX_DRAM_LATENCY_CYCLES = 10**9
MAX_DRAM_CHANNELS = 1 << 10  # 4x the pseudo-channels of eight HBM3 stacks (8 x 32)
MAX_BURST_BYTES = 1 << 20
MAX_DRAM_PJ_PER_BIT = 1.0e4
MAX_OUTSTANDING_TILES = 1 << 20
MAX_DRAM_CAPACITY_BYTES = 1 << 50  # 1 PiB
MAX_VECTOR_LANES = 1 << 20
MAX_DMA_ENGINES = 1024  # more engines than any chip has DMA queues
MAX_OPS_PER_LANE = 1 << 10
MAX_OVERRIDE = 1.0e6  # pJ per action (or the field's own unit: uW, mW/MB) per energy override

EnergyOverride = Annotated[float, Strict(), Field(gt=0, le=MAX_OVERRIDE, allow_inf_nan=False)]

# Projections of a decoder layer whose input sparsity a design may assume (the names the layer
# description gives its linear ops, tersim.workload.layer; a test checks they agree).
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Fraction = Annotated[
    float, Strict(), Field(ge=0.0, le=0.999999, allow_inf_nan=False)
]  # 1.0: no work


class ArrayConfig(_Strict):
    """The systolic array of processing elements."""

    rows: PosInt = Field(description="PE rows (R)", le=MAX_ARRAY_SIDE)
    cols: PosInt = Field(description="PE columns (C)", le=MAX_ARRAY_SIDE)
    pe_kind: PEKind = Field(description="What each PE does per cycle")
    accumulator_bits: Annotated[int, Strict(), Field(ge=8, le=64)] = Field(
        32, description="Width of each PE's accumulator in bits"
    )
    zero_skipping: Flag = Field(
        False, description="Skip zero weights (no accumulator update; a zero check instead)"
    )
    dataflow: Dataflow = Field(Dataflow.WS, description="os, ws or is")
    clock_hz: PosFloat = Field(
        1.0e9, description="Array clock in Hz (1 MHz to 100 GHz)", ge=MIN_CLOCK_HZ, le=MAX_CLOCK_HZ
    )
    compat: CompatMode = Field(
        CompatMode.TERSIM, description="Cycle-counting convention: tersim or scalesim"
    )
    weight_format: WeightFormat | None = Field(
        None, description="Weight format this design runs models in (default: the PE's native)"
    )
    preload_rows_per_cycle: PosInt = Field(
        1,
        description="WS/IS: rows of the stationary tile loaded per cycle (a wider load path)",
        le=MAX_ARRAY_SIDE,
    )
    shadow_stationary: Flag = Field(
        False,
        description="WS/IS: a shadow stationary register per PE, so the next tile "
        "preloads while the current pass streams",
    )
    activation_bits: Literal[4, 8, 16] | None = Field(
        None,
        description="Width of the PEs' activation datapath (default: the PE kind's native "
        "width); sizes the PE and table area; wider activations cannot run",
    )
    lut_group_size: Annotated[int, Strict(), Field(ge=1, le=8)] = Field(
        4, description="ternary_lut: weights (and activations) per table lookup (g)"
    )
    lut_scheme: LutScheme = Field(
        LutScheme.BIT_PLANE,
        description="ternary_lut: bit_plane (2^(g-1) entries, a lookup per weight bit-plane) "
        "or direct ((3^g + 1) / 2 entries, one lookup per group)",
    )
    lut_table_build: TableBuild = Field(
        TableBuild.ARRAY,
        description="ternary_lut: tables built by adders at each array row (array) or by the "
        "vector unit into the input buffer (vector)",
    )
    serial_bits_per_cycle: Annotated[int, Strict(), Field(ge=1, le=8)] = Field(
        1, description="bit_serial: weight bit-planes each PE processes per cycle"
    )
    act_zero_skipping: Flag = Field(
        False,
        description="Gate PE work whose activation is zero (a zero check instead; energy only)",
    )
    act_compaction: Flag = Field(
        False,
        description="Drop the weight rows whose activations are all zero before the array runs "
        "(the vector unit scans the activations; fewer cycles and weight bytes)",
    )
    assumed_act_sparsity: dict[str, Fraction] = Field(
        default_factory=dict,
        description="Fraction of zero inputs per projection (e.g. down_proj: 0.8) assumed when "
        "the trace has no measurements; a measured trace's own fraction wins",
    )


class BufferConfig(_Strict):
    """One on-chip SRAM buffer. Each bank holds at least one word."""

    size_bytes: PosInt = Field(description="Capacity in bytes (at most 1 TiB)", le=MAX_SRAM_BYTES)
    word_bytes: PosInt = Field(1, description="Bytes per SRAM word", le=MAX_WORD_BYTES)
    banks: PosInt = Field(
        1, description="Banks the buffer is split into (each holds at least a word)", le=MAX_BANKS
    )
    read_bw_bytes_per_cycle: PosFloat = Field(
        description="Read port bandwidth in bytes per cycle",
        ge=MIN_PORT_BYTES_PER_CYCLE,
        le=MAX_PORT_BYTES_PER_CYCLE,
    )
    write_bw_bytes_per_cycle: PosFloat = Field(
        description="Write port bandwidth in bytes per cycle",
        ge=MIN_PORT_BYTES_PER_CYCLE,
        le=MAX_PORT_BYTES_PER_CYCLE,
    )
    double_buffered: Flag = True


class SramConfig(_Strict):
    """Either three separate buffers (input, weight, output) or one unified buffer."""

    input: BufferConfig | None = None
    weight: BufferConfig | None = None
    output: BufferConfig | None = None
    unified: BufferConfig | None = None


DramKind = Literal["hbm2", "lpddr4", "ddr4", "custom"]


class DramConfig(_Strict):
    """Off-chip memory. Give the bandwidth in exactly one unit."""

    kind: DramKind = "custom"
    model: DramModelKind = Field(
        DramModelKind.AGGREGATE,
        description="Transfer timing: aggregate (one pipe, the summed bandwidth) or "
        "per_channel (bursts interleaved over `channels`, each its share of the bandwidth)",
    )
    bw_bytes_per_cycle: PosFloat | None = Field(
        None,
        description="Bandwidth in bytes per array clock cycle (1e-6 to 2^30)",
        ge=MIN_DRAM_BYTES_PER_CYCLE,
        le=MAX_DRAM_BYTES_PER_CYCLE,
    )
    bw_gb_per_s: PosFloat | None = Field(
        None,
        description="Bandwidth in GB/s (1e9 B/s; 1 MB/s to 1 PB/s)",
        ge=MIN_DRAM_GB_PER_S,
        le=MAX_DRAM_GB_PER_S,
    )
    latency_cycles: NonNegInt = Field(
        100, description="Cycles from request to first data", le=MAX_DRAM_LATENCY_CYCLES
    )
    channels: PosInt = Field(1, description="Independent channels", le=MAX_DRAM_CHANNELS)
    burst_bytes: PosInt = Field(
        64, description="Bytes per burst (transfers round up to it)", le=MAX_BURST_BYTES
    )
    energy_pj_per_bit: PosFloat | None = Field(
        None, description="Access energy; defaults to the preset's figure", le=MAX_DRAM_PJ_PER_BIT
    )
    max_outstanding_tiles: PosInt = Field(
        16,
        description="Tiles the DMA engine keeps in flight (loaded, not yet computed)",
        le=MAX_OUTSTANDING_TILES,
    )
    dma_engines: PosInt = Field(
        1,
        description="DMA engines serving the one transfer queue: transfers in service at once "
        "(a write-back waiting for its op holds one; the others keep loading)",
        le=MAX_DMA_ENGINES,
    )
    capacity_bytes: PosInt | None = Field(
        None,
        description="DRAM capacity; weights plus KV cache must fit (none: unchecked)",
        le=MAX_DRAM_CAPACITY_BYTES,
    )


class VectorUnitConfig(_Strict):
    """The unit that runs element-wise and reduction work (norms, softmax, activations)."""

    lanes: PosInt = Field(128, description="Parallel lanes", le=MAX_VECTOR_LANES)
    ops_per_cycle_per_lane: PosInt = Field(
        1, description="Ops per lane per cycle", le=MAX_OPS_PER_LANE
    )
    runs: tuple[VectorOp, ...] = Field(
        tuple(VectorOp),
        description="The work it runs: embedding, norm, quantize, rope, softmax, activation, "
        "residual, rescale, matmul (default: all)",
    )


class UnitConfig(_Strict):
    """A further compute unit beside the design's ``array`` (the unit named ``array``) and
    ``vector_unit`` (the unit named ``vector``): a matrix unit (``matrix:``, an array of PEs,
    optionally with private ``sram:`` buffers; else it shares the design's) or a vector unit
    (``vector:``)."""

    name: str = Field(
        description="The unit's name (used by `assign` and in results)", min_length=1, max_length=64
    )
    matrix: ArrayConfig | None = Field(None, description="A matrix unit: its array of PEs")
    vector: VectorUnitConfig | None = Field(None, description="A vector unit")
    sram: SramConfig | None = Field(
        None, description="A matrix unit's private buffers (default: the design's, shared)"
    )


class SchedulingConfig(_Strict):
    """How the engine orders and overlaps work (docs/engine.md states each rule)."""

    dependencies: DependencyRule = Field(
        DependencyRule.TENSORS,
        description="tensors: an op waits for the producers of what it reads; program_order: "
        "for the previous op (one chain, as tersim v1)",
    )
    order: OrderRule = Field(
        OrderRule.PRIORITY,
        description="priority: longest path to the end of the layer first; program: as traced",
    )
    fused_epilogue: Flag = Field(
        False,
        description="A quantized product's rescale streams on its vector unit behind the "
        "matrix unit's output blocks instead of after its last tile (searched mapping only)",
    )
    attention_pipeline: Flag = Field(
        False,
        description="QK, softmax and AV pipeline across KV-head groups on their units instead "
        "of each running whole after the previous",
    )


class TechConfig(_Strict):
    """Technology node selecting an energy table, with per-field overrides in pJ."""

    node: Literal["7nm", "28nm", "45nm", "custom"] = "7nm"
    overrides_pj: dict[str, EnergyOverride] = Field(
        default_factory=dict,
        description="Energy-table field -> value in the field's unit (positive, finite, <= 1e6)",
    )


class MappingConfig(_Strict):
    """How matrix products are mapped onto the array (docs/engine.md, "Mapping")."""

    objective: MappingObjective = Field(
        MappingObjective.LATENCY,
        description="latency (energy breaks ties), energy (latency breaks ties) or edp",
    )
    search: MappingSearch = Field(
        MappingSearch.SEARCHED,
        description="searched (loop orders, tiles and residency per GEMM shape) or heuristic "
        "(the fixed rules of earlier versions, for comparison)",
    )


class HardwareConfig(_Strict):
    """A whole accelerator design."""

    name: str
    description: str = ""
    array: ArrayConfig
    sram: SramConfig
    dram: DramConfig
    vector_unit: VectorUnitConfig = Field(default_factory=VectorUnitConfig)
    units: tuple[UnitConfig, ...] = Field(
        (), description="Further compute units beside `array` and `vector_unit`", max_length=64
    )
    assign: dict[OpKind, str] = Field(
        default_factory=dict,
        description="Op kind -> unit name, overriding the automatic assignment",
    )
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    kv_cache_bits: Literal[8, 16] | None = Field(
        None, description="KV-cache precision the design stores (default: the workload's)"
    )
    tech: TechConfig = Field(default_factory=TechConfig)
    mapping: MappingConfig = Field(default_factory=MappingConfig)

    @property
    def dram_bw_bytes_per_cycle(self) -> float:
        """DRAM bandwidth in the simulator's canonical unit, bytes per array cycle."""
        if self.dram.bw_bytes_per_cycle is not None:
            return self.dram.bw_bytes_per_cycle
        assert self.dram.bw_gb_per_s is not None  # guaranteed by design_problems
        return self.dram.bw_gb_per_s * 1e9 / self.array.clock_hz

    def buffer(self, role: BufferRole) -> BufferConfig:
        """The buffer serving ``role`` (input, weight or output); the unified one if shared."""
        own = getattr(self.sram, BufferRole(role).value)
        if own is not None:
            return own
        assert self.sram.unified is not None  # guaranteed by design_problems
        return self.sram.unified


def resized(hw: HardwareConfig, rows: int, cols: int, name: str | None = None) -> HardwareConfig:
    """``hw`` with a ``rows`` x ``cols`` array; buffer sizes kept, every buffer port's bandwidth
    multiplied by the array's larger growth factor ``max(rows / R, cols / C)`` (below 1 when
    the array shrinks), so the ports feed the array as they fed the original one."""
    factor = max(rows / hw.array.rows, cols / hw.array.cols)
    doc = hw.model_dump(mode="json")
    doc["array"]["rows"], doc["array"]["cols"] = rows, cols
    for role in ("input", "weight", "output", "unified"):
        buf = doc["sram"].get(role)
        if buf is not None:
            for port in ("read_bw_bytes_per_cycle", "write_bw_bytes_per_cycle"):
                buf[port] = buf[port] * factor
    if name is not None:
        doc["name"] = name
    return HardwareConfig.model_validate(doc)


def sram_problems(sram: SramConfig) -> list[tuple[str, str]]:
    """Either one unified buffer or all three separate ones (fields relative to the design)."""
    problems: list[tuple[str, str]] = []
    separate = [r.value for r in BufferRole if getattr(sram, r.value) is not None]
    if sram.unified is not None and separate:
        problems.append(
            (
                "sram.unified",
                f"give either a unified buffer or separate buffers, not both "
                f"(got unified and {', '.join(separate)}; expected one layout)",
            )
        )
    elif sram.unified is None:
        for role in BufferRole:
            if getattr(sram, role.value) is None:
                problems.append(
                    (
                        f"sram.{role.value}",
                        "buffer is missing (got nothing; expected a buffer "
                        "with size_bytes, read/write bandwidth, or use sram.unified)",
                    )
                )
    return problems


def design_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    """Cross-field problems of a structurally valid design, as (dotted field, message)."""
    problems: list[tuple[str, str]] = list(sram_problems(hw.sram))
    dram = hw.dram
    if (dram.bw_bytes_per_cycle is None) == (dram.bw_gb_per_s is None):
        got = "both" if dram.bw_bytes_per_cycle is not None else "neither"
        problems.append(
            (
                "dram.bw_bytes_per_cycle",
                f"give the bandwidth in exactly one unit "
                f"(got {got}; expected bw_bytes_per_cycle or bw_gb_per_s)",
            )
        )
    if dram.kind == "custom" and dram.energy_pj_per_bit is None:
        problems.append(
            (
                "dram.energy_pj_per_bit",
                "a custom DRAM needs its energy (got nothing; expected "
                "a positive number, or kind: hbm2 | lpddr4 | ddr4 for a preset)",
            )
        )
    a = hw.array
    if a.compat == CompatMode.SCALESIM and (a.preload_rows_per_cycle != 1 or a.shadow_stationary):
        field = (
            "array.preload_rows_per_cycle"
            if a.preload_rows_per_cycle != 1
            else ("array.shadow_stationary")
        )
        problems.append(
            (
                field,
                "SCALE-Sim's cycle convention has neither a wide preload nor "
                "shadow registers (got compat: scalesim; expected compat: tersim, or "
                "preload_rows_per_cycle: 1 and shadow_stationary: false)",
            )
        )
    wf = hw.array.weight_format
    if wf is not None and wf not in PE_WEIGHT_FORMATS[hw.array.pe_kind]:
        allowed = ", ".join(f.value for f in PE_WEIGHT_FORMATS[hw.array.pe_kind])
        problems.append(
            (
                "array.weight_format",
                f"a {hw.array.pe_kind.value} array cannot run "
                f"{wf.value} weights (got {wf.value}; expected one of {allowed})",
            )
        )
    for name in hw.array.assumed_act_sparsity:
        if name not in PROJECTIONS:
            problems.append(
                (
                    f"array.assumed_act_sparsity.{name}",
                    f"not a projection (got '{name}'; expected one of {', '.join(PROJECTIONS)})",
                )
            )
    problems.extend(_tile_problems(hw))
    problems.extend(_bank_problems(hw))
    problems.extend(_unit_problems(hw))
    problems.extend(_tech_problems(hw))
    return problems


SHORTHAND_UNITS = ("array", "vector")  # the names of the units `array` and `vector_unit` are


def _unit_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    """Each further unit is exactly one kind, named uniquely, at the chip clock; ``assign``
    names units that exist and of the right kind for the op (whether a unit can run an op's
    formats is checked when the op is mapped)."""
    out: list[tuple[str, str]] = []
    names = list(SHORTHAND_UNITS)
    for i, u in enumerate(hw.units):
        at = f"units.{i}"
        if u.name in names:
            out.append(
                (
                    f"{at}.name",
                    f"unit names must be unique (got '{u.name}' again; expected a new name; "
                    "'array' and 'vector' are the design's array and vector_unit)",
                )
            )
        names.append(u.name)
        if (u.matrix is None) == (u.vector is None):
            got = "both" if u.matrix is not None else "neither"
            out.append((at, f"give exactly one of matrix or vector (got {got})"))
            continue
        if u.vector is not None and u.sram is not None:
            out.append(
                (
                    f"{at}.sram",
                    "a vector unit has no private buffers (got sram; expected it only on a "
                    "matrix unit)",
                )
            )
        m = u.matrix
        if m is None:
            continue
        if m.clock_hz != hw.array.clock_hz:
            out.append(
                (
                    f"{at}.matrix.clock_hz",
                    f"every unit runs at the chip clock (got {m.clock_hz:g}; expected "
                    f"array.clock_hz = {hw.array.clock_hz:g})",
                )
            )
        if m.weight_format is not None:
            out.append(
                (
                    f"{at}.matrix.weight_format",
                    "the design's run format comes from `array` (got a weight_format on a "
                    "further unit; expected none)",
                )
            )
        if u.sram is not None:
            out.extend((f"{at}.{f}", msg) for f, msg in sram_problems(u.sram))
            view = hw.model_copy(update={"array": m, "sram": u.sram})
            if not sram_problems(u.sram):
                out.extend((f"{at}.{f}", msg) for f, msg in _tile_problems(view))
    if hw.scheduling.attention_pipeline:
        out.append(
            (
                "scheduling.attention_pipeline",
                "this overlap is not built yet (got true; expected false)",
            )
        )
    if hw.scheduling.fused_epilogue and hw.mapping.search is MappingSearch.HEURISTIC:
        out.append(
            (
                "scheduling.fused_epilogue",
                "the fused epilogue follows the searched mapping's output blocks (got true "
                "with mapping.search: heuristic; expected mapping.search: searched or "
                "fused_epilogue: false)",
            )
        )
    kinds = {"array": "matrix", "vector": "vector"}
    kinds.update({u.name: "matrix" if u.matrix is not None else "vector" for u in hw.units})
    for kind, unit in hw.assign.items():
        if unit not in kinds:
            out.append(
                (
                    f"assign.{kind.value}",
                    f"no such unit (got '{unit}'; expected one of {', '.join(kinds)})",
                )
            )
        elif not kind.is_matmul and kinds[unit] == "matrix":
            out.append(
                (
                    f"assign.{kind.value}",
                    f"a matrix unit runs matrix products only (got '{unit}' for "
                    f"{kind.value}; expected a vector unit)",
                )
            )
    return out


def _tile_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    """Each buffer must hold at least one array tile (R x C words), twice if double-buffered."""
    out: list[tuple[str, str]] = []
    if (
        not all(getattr(hw.sram, r.value) is not None for r in BufferRole)
        and hw.sram.unified is None
    ):
        return out
    tile_words = hw.array.rows * hw.array.cols
    if hw.sram.unified is not None:
        buf = hw.sram.unified
        need = 3 * tile_words * buf.word_bytes * (2 if buf.double_buffered else 1)
        if buf.size_bytes < need:
            out.append(("sram.unified.size_bytes", _too_small(need, buf.size_bytes, hw, 3)))
        return out
    for role in BufferRole:
        buf = hw.buffer(role)
        need = tile_words * buf.word_bytes * (2 if buf.double_buffered else 1)
        if buf.size_bytes < need:
            out.append((f"sram.{role.value}.size_bytes", _too_small(need, buf.size_bytes, hw, 1)))
    return out


def _bank_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    """Each bank of a buffer holds at least one word."""
    out: list[tuple[str, str]] = []
    for role in ("input", "weight", "output", "unified"):
        buf = getattr(hw.sram, role)
        if buf is not None and buf.banks * buf.word_bytes > buf.size_bytes:
            most = buf.size_bytes // buf.word_bytes
            out.append(
                (
                    f"sram.{role}.banks",
                    f"more banks than words (got {buf.banks} banks of {buf.word_bytes}-byte "
                    f"words in {buf.size_bytes} bytes; expected at most {most} banks)",
                )
            )
    return out


def _too_small(need: int, got: int, hw: HardwareConfig, tiles: int) -> str:
    r, c = hw.array.rows, hw.array.cols
    what = f"{tiles} tile(s) of {r}x{c} words" if tiles > 1 else f"one {r}x{c}-word tile"
    return (
        f"buffer smaller than {what} (got {got} bytes; expected at least {need} bytes, "
        "counting double buffering)"
    )


def _tech_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    import difflib

    out: list[tuple[str, str]] = []
    names = energy_field_names()
    for key in hw.tech.overrides_pj:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                (
                    f"tech.overrides_pj.{key}",
                    f"unknown energy field (got '{key}'; expected one of {', '.join(names)}{hint})",
                )
            )
    if hw.tech.node == "custom":
        missing = [n for n in names if n not in hw.tech.overrides_pj]
        if missing:
            out.append(
                (
                    "tech.overrides_pj",
                    f"a custom node must give every energy (got "
                    f"{len(names) - len(missing)} of {len(names)}; expected also {', '.join(missing)})",
                )
            )
    elif hw.tech.node not in known_nodes():  # pragma: no cover - Literal already checks
        out.append(("tech.node", f"unknown node (got {hw.tech.node})"))
    return out
