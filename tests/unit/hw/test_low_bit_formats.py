"""4-bit activations and a 3-bit KV cache (BitNet a4.8) through the pipeline: formats, SRAM and
DRAM bytes, the PEs' datapath width, and which unit runs attention."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tersim.config import load_hardware, load_workload
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.cost.area import chip_area, pe_cell_area_um2
from tersim.errors import DesignError
from tersim.run.pipeline import map_design, run
from tersim.tech import area as ta
from tersim.workload.formats import resolve_formats
from tersim.workload.ops import Phase, TensorKind
from tersim.workload.trace import trace_shapes

ROOT = Path(__file__).resolve().parents[3]


def a48(spec: ModelSpec) -> ModelSpec:
    q = spec.quantization.model_copy(update={"activation_bits": 4, "kv_cache_bits": 3})
    return spec.model_copy(update={"quantization": q})


SPEC = a48(load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml"))


def _hw(name: str, **array: object) -> HardwareConfig:
    hw = load_hardware(ROOT / "hw_configs" / f"{name}.yaml")
    return hw.model_copy(update={"array": hw.array.model_copy(update=array)})


def test_bytes_follow_the_bits() -> None:
    """q_proj of one decode step reads 1536 4-bit activations (768 bytes) from the input buffer
    once per weight column fold (1536 / 128 = 12): 9216 bytes; step 0's K cache part of
    65 positions x 1536 values at 3 bits is ceil(299520 / 8) = 37440 bytes, read from DRAM
    in whole 64-byte bursts: 37440 (585 bursts)."""
    hw = _hw("ternary-128x128-7nm")
    f = resolve_formats(SPEC, hw.array.pe_kind)
    assert (f.act_bits, f.kv_bits) == (4, 3)
    wl = trace_shapes(SPEC, f, (Phase.DECODE,), prompt_tokens=64, gen_tokens=1)
    q = next(o for o in wl.ops if o.name == "L0.q_proj")
    assert q.inputs[0].bits == 4 and q.act_bits == 4
    sched = map_design(hw, wl)
    qs = next(o for o in sched.ops if o.name == "L0.q_proj")
    assert qs.counts.sram_read_bytes["input"] == 12 * 1536 * 4 // 8
    qk = next(o for o in wl.ops if o.name == "L0.attn_qk")
    kv = next(t for t in qk.inputs if t.kind is TensorKind.KV_CACHE)
    assert kv.size_bytes == math.ceil(65 * 1536 * 3 / 8) == 37440
    qks = next(o for o in sched.ops if o.name == "L0.attn_qk")
    assert qks.counts.dram_read_bytes["kv_cache"] == 37440


def test_a_3bit_cache_runs_attention_on_integer_arrays() -> None:
    """INT8 MACs and bit-serial PEs multiply a 3-bit cache on the array (bit-serial: 3 plane
    adds per slot); the adder array leaves attention to the vector unit."""
    counts = {}
    for name in ("int8-128x128-7nm", "bit-serial-128x128-7nm", "ternary-128x128-7nm"):
        hw = _hw(name)
        wl = trace_shapes(SPEC, resolve_formats(SPEC, hw.array.pe_kind), (Phase.DECODE,), 16, 1)
        qk = next(o for o in wl.ops if o.name == "L0.attn_qk")
        counts[name] = next(o for o in map_design(hw, wl).ops if o.name == qk.name).counts
    assert counts["int8-128x128-7nm"].pe_by_kind["attn_qk"].mul == qk.macs
    assert counts["bit-serial-128x128-7nm"].pe_by_kind["attn_qk"].plane_add == 3 * qk.macs
    assert counts["ternary-128x128-7nm"].vector_macs == qk.macs


def test_a_4bit_datapath_is_smaller_and_refuses_wider_activations() -> None:
    """A ternary PE with a 4-bit activation datapath at 7nm: registers 32 + 4 + 2 bits and
    2 x 4 gate bits instead of 32 + 8 + 2 and 16. An 8-bit workload cannot run on it."""
    t = ta.area_table("7nm")
    narrow = _hw("ternary-128x128-7nm", activation_bits=4)
    wide = _hw("ternary-128x128-7nm")
    got = pe_cell_area_um2(narrow, t).value
    want = ta.int_adder_um2(t, 32).value + 38 * t.register_bit_um2.value + 8 * t.gate_bit_um2.value
    assert got == pytest.approx(want)
    assert chip_area(narrow).pe_array_mm2.value < chip_area(wide).pe_array_mm2.value
    spec8 = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    with pytest.raises(DesignError, match=r"^array\.activation_bits: .*4-bit activation datapath"):
        run(narrow, spec8, phases=(Phase.DECODE,), prompt_tokens=4, gen_tokens=1)
    rec = run(narrow, SPEC, phases=(Phase.DECODE,), prompt_tokens=4, gen_tokens=1)
    assert rec.formats.act_bits == 4


def test_lut_tables_shrink_with_the_datapath() -> None:
    """LUT entries are act_bits + log2(g) bits: 4 + 2 = 6 with a 4-bit datapath; the row's two
    tables hold 2 x 8 x 6 bits."""
    t = ta.area_table("7nm")
    from tersim.hw.pe import pe_model

    hw = _hw("ternary-lut-128x128-7nm", activation_bits=4)
    row = pe_model(hw.array.pe_kind).area(t, hw.array).row_um2.value
    want = 96 * t.register_bit_um2.value + 14 * ta.int_adder_um2(t, 6).value
    assert row == pytest.approx(want)
