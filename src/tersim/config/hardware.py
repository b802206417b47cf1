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
    DramModelKind,
    LutScheme,
    PEKind,
    TableBuild,
    WeightFormat,
)
from tersim.config.types import Flag, NonNegInt, PosFloat, PosInt
from tersim.tech.tables import energy_field_names, known_nodes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Projections of a decoder layer whose input sparsity a design may assume (the names the layer
# description gives its linear ops, tersim.workload.layer; a test checks they agree).
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class ArrayConfig(_Strict):
    """The systolic array of processing elements."""

    rows: PosInt = Field(description="PE rows (R)")
    cols: PosInt = Field(description="PE columns (C)")
    pe_kind: PEKind = Field(description="What each PE does per cycle")
    accumulator_bits: Annotated[int, Strict(), Field(ge=8, le=64)] = Field(
        32, description="Width of each PE's accumulator in bits"
    )
    zero_skipping: Flag = Field(
        False, description="Skip zero weights (no accumulator update; a zero check instead)"
    )
    dataflow: Dataflow = Field(Dataflow.WS, description="os, ws or is")
    clock_hz: PosFloat = Field(1.0e9, description="Array clock in Hz")
    compat: CompatMode = Field(
        CompatMode.TERSIM, description="Cycle-counting convention: tersim or scalesim"
    )
    weight_format: WeightFormat | None = Field(
        None, description="Weight format this design runs models in (default: the PE's native)"
    )
    preload_rows_per_cycle: PosInt = Field(
        1, description="WS/IS: rows of the stationary tile loaded per cycle (a wider load path)"
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
    """One on-chip SRAM buffer."""

    size_bytes: PosInt
    word_bytes: PosInt = 1
    banks: PosInt = 1
    read_bw_bytes_per_cycle: PosFloat
    write_bw_bytes_per_cycle: PosFloat
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
        None, description="Bandwidth in bytes per array clock cycle"
    )
    bw_gb_per_s: PosFloat | None = Field(None, description="Bandwidth in GB/s (1e9 B/s)")
    latency_cycles: NonNegInt = 100
    channels: PosInt = 1
    burst_bytes: PosInt = 64
    energy_pj_per_bit: PosFloat | None = Field(
        None, description="Access energy; defaults to the preset's figure"
    )
    max_outstanding_tiles: PosInt = Field(
        16, description="Tiles the DMA engine keeps in flight (loaded, not yet computed)"
    )
    capacity_bytes: PosInt | None = Field(
        None, description="DRAM capacity; weights plus KV cache must fit (none: unchecked)"
    )


class VectorUnitConfig(_Strict):
    """The unit that runs element-wise and reduction work (norms, softmax, activations)."""

    lanes: PosInt = 128
    ops_per_cycle_per_lane: PosInt = 1


class TechConfig(_Strict):
    """Technology node selecting an energy table, with per-field overrides in pJ."""

    node: Literal["7nm", "28nm", "45nm", "custom"] = "7nm"
    overrides_pj: dict[str, PosFloat] = Field(default_factory=dict)


class HardwareConfig(_Strict):
    """A whole accelerator design."""

    name: str
    description: str = ""
    array: ArrayConfig
    sram: SramConfig
    dram: DramConfig
    vector_unit: VectorUnitConfig = Field(default_factory=VectorUnitConfig)
    tech: TechConfig = Field(default_factory=TechConfig)

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


def design_problems(hw: HardwareConfig) -> list[tuple[str, str]]:
    """Cross-field problems of a structurally valid design, as (dotted field, message)."""
    problems: list[tuple[str, str]] = []
    sram = hw.sram
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
    problems.extend(_tech_problems(hw))
    return problems


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
