"""Activation zero-skipping and compaction: counts against a hand count on a tiny trace, the
measured fraction of a functional run, and the projection names a design may name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_hardware
from tersim.config.hardware import PROJECTIONS, HardwareConfig, design_problems
from tersim.config.workload import ModelSpec
from tersim.hw.counts import PECounts
from tersim.mapping.gemm import Operands, plan_gemm
from tersim.mapping.ops import map_workload
from tersim.workload.formats import resolve_formats
from tersim.workload.ops import OpKind, Phase
from tersim.workload.trace import trace_shapes

ROOT = Path(__file__).resolve().parents[3]
SPEC = ModelSpec.model_validate(
    {
        "name": "tiny-relu2",
        "architecture": {
            "hidden": 64,
            "layers": 1,
            "heads": 4,
            "kv_heads": 4,
            "ffn": 128,
            "ffn_type": "relu2_glu",
            "vocab": 64,
            "max_context": 16,
        },
        "quantization": {"weight_format": "ternary"},
    }
)


def design(**array: Any) -> HardwareConfig:
    hw = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    return hw.model_copy(update={"array": hw.array.model_copy(update=array)})


def down_proj(hw: HardwareConfig):  # type: ignore[no-untyped-def]
    formats = resolve_formats(SPEC, hw.array.pe_kind)
    wl = trace_shapes(SPEC, formats, (Phase.DECODE,), prompt_tokens=4, gen_tokens=1)
    sched = map_workload(hw, wl)
    return next(op for op in sched.ops if op.name == "L0.down_proj")


def test_gating_and_compaction_against_a_hand_count() -> None:
    """Decode, one token: down_proj is 1 x 128 @ 128 x 64 = 8192 slots, half its inputs zero.

    No gating: round(8192 x 0.31006) = 2540 zero weights skip, 2826 adds, 2826 subs.
    Gating only: round(8192 x 0.5) = 4096 slots cost a zero check (act_skip); the other 4096
    split by the assumed weight zero fraction 0.31006: round(4096 x 0.31006) = 1270 skips,
    (2826 + 1) // 2 = 1413 adds and 1413 subs.
    Compaction too: a row of one token is all zero with probability 0.5, so round(128 x 0.5)
    = 64 weight rows are dropped: 4096 slots left, none of them zero (all 4096 zero slots went
    with the rows): 1270 skips, 1413 adds, 1413 subs, no act_skip. Its cost: the vector unit
    reads the 128 activations (128 ops); 64 indices of ceil(log2 128) = 7 bits: 56 bytes
    written to and read from the input buffer. Weight DRAM bytes halve: 64 x 64 x 2 bits =
    1024 bytes instead of 2048."""
    sparse = {"assumed_act_sparsity": {"down_proj": 0.5}}
    plain = down_proj(design(**sparse))
    gated = down_proj(design(act_zero_skipping=True, **sparse))
    both = down_proj(design(act_zero_skipping=True, act_compaction=True, **sparse))
    want_rest = PECounts(add=1413, sub=1413, skip=1270)
    assert plain.counts.pe_by_kind["linear"] == PECounts(add=2826, sub=2826, skip=2540)
    assert gated.counts.pe_by_kind["linear"] == want_rest + PECounts(act_skip=4096)
    assert both.counts.pe_by_kind["linear"] == want_rest
    assert both.counts.vector_ops == gated.counts.vector_ops + 128
    assert both.counts.sram_write_bytes["input"] == gated.counts.sram_write_bytes["input"] + 56
    assert plain.counts.dram_read_bytes["weights"] == 2048
    assert both.counts.dram_read_bytes["weights"] == 1024


def test_compaction_shortens_the_array_work() -> None:
    """The compacted down_proj's array tiles are a 1 x 64 @ 64 x 64 GEMM's, after a vector
    tile of ceil(128 / 8 lanes) = 16 cycles (the scan)."""
    hw = design(act_compaction=True, assumed_act_sparsity={"down_proj": 0.5})
    op = down_proj(hw)
    ops = Operands(8, 2.0, 16, 32, input_on_chip=True, output_on_chip=True)
    want = plan_gemm(hw, 1, 64, 64, ops, ideal_memory=True).compute_cycles
    array = sum(t.count * t.compute_cycles for t in op.runs if t.unit == "array")
    assert array == want
    assert op.runs[0].unit == "vector" and op.runs[0].compute_cycles == 16


def test_the_measured_fraction_is_used_when_the_trace_has_one() -> None:
    """A functional run measures each projection's zero inputs (ReLU^2 GLU makes down_proj's
    sparse); the gated design charges round(slots x measured) act_skips, whatever it assumes."""
    from tersim.functional.transformer import trace_measured

    hw = design(act_zero_skipping=True, assumed_act_sparsity={"down_proj": 0.9})
    formats = resolve_formats(SPEC, hw.array.pe_kind)
    wl = trace_measured(SPEC, formats, (Phase.DECODE,), prompt_tokens=4, gen_tokens=1)
    op = next(o for o in wl.ops if o.name == "L0.down_proj")
    assert op.measured is not None and 0.0 < op.measured.act_sparsity < 0.9
    sched = map_workload(hw, wl)
    got = next(o for o in sched.ops if o.name == "L0.down_proj").counts.pe_by_kind["linear"]
    assert got.act_skip == round(op.macs * op.measured.act_sparsity)
    assert got.add + got.sub + got.skip + got.act_skip == op.macs


def test_the_named_projections_are_the_layers() -> None:
    """The projections a design may assume sparsity for are the linear ops the layer emits."""
    formats = resolve_formats(SPEC, design().array.pe_kind)
    wl = trace_shapes(SPEC, formats, (Phase.PREFILL,), prompt_tokens=2, gen_tokens=0)
    names = {op.name.rsplit(".", 1)[-1] for op in wl.ops if op.kind is OpKind.LINEAR}
    assert names == set(PROJECTIONS)


def test_an_unknown_projection_is_a_design_problem() -> None:
    hw = design(assumed_act_sparsity={"down": 0.5})
    problems = design_problems(hw)
    assert problems and problems[0][0] == "array.assumed_act_sparsity.down"
    assert "down_proj" in problems[0][1]


@pytest.mark.parametrize("bad", [1.0, -0.1])
def test_a_fraction_outside_zero_one_is_rejected(bad: float) -> None:
    from pydantic import ValidationError

    hw = design()
    doc = hw.model_dump(mode="json")
    doc["array"]["assumed_act_sparsity"] = {"down_proj": bad}
    with pytest.raises(ValidationError):
        HardwareConfig.model_validate(doc)
