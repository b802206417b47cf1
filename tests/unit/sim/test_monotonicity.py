"""Does more hardware ever make things slower? Where it can, the counterexample is a test.

* More DRAM bandwidth never slows a run (tests/unit/sim/test_workload_sim.py).
* A bigger array CAN be slower: on a GEMM smaller than the array, the extra rows and columns
  only add fill and drain. The true statement, tested below: when the spatial dimensions are
  multiples of the larger array and the streamed dimension covers the larger array's fill
  (T >= 2R + 2C), doubling the array never increases the compute cycles.
* Bigger buffers never slow a run (tested on whole small workloads).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import Dataflow, load_hardware
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.hw.dataflow import gemm_timing
from tersim.run.pipeline import run

ROOT = Path(__file__).resolve().parents[3]
TINY = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")


def test_bigger_array_is_slower_on_a_small_gemm() -> None:
    """4x4x4 WS: on 4x4, 1 pass of T + R = 8 cycles plus R + c_last - 2 = 6 of drain: 14.
    On 8x8 the same pass needs 4 + 8 and a drain of 8 + 4 - 2: 22 cycles."""
    assert gemm_timing(4, 4, 4, 4, 4, Dataflow.WS).compute_cycles == 14
    assert gemm_timing(4, 4, 4, 8, 8, Dataflow.WS).compute_cycles == 22


@settings(max_examples=300)
@given(
    r=st.sampled_from([2, 4, 8, 16]),
    c=st.sampled_from([2, 4, 8, 16]),
    a=st.integers(1, 6),
    b=st.integers(1, 6),
    extra=st.integers(0, 200),
    df=st.sampled_from(list(Dataflow)),
)
def test_doubling_the_array_never_slows_a_gemm_that_fills_it(
    r: int, c: int, a: int, b: int, extra: int, df: Dataflow
) -> None:
    rows_dim, cols_dim, t = 2 * r * a, 2 * c * b, 2 * r + 2 * c + extra
    m, n, k = {
        Dataflow.OS: (rows_dim, cols_dim, t),
        Dataflow.WS: (t, cols_dim, rows_dim),
        Dataflow.IS: (cols_dim, t, rows_dim),
    }[df]
    small = gemm_timing(m, n, k, r, c, df).compute_cycles
    big = gemm_timing(m, n, k, 2 * r, 2 * c, df).compute_cycles
    assert big <= small


def _with_buffers(hw: HardwareConfig, factor: int) -> HardwareConfig:
    bufs = {
        r: hw.buffer(r).model_copy(update={"size_bytes": hw.buffer(r).size_bytes * factor})
        for r in ("input", "weight", "output")
    }
    return hw.model_copy(update={"sram": hw.sram.model_copy(update=bufs)})


@settings(max_examples=80)
@given(
    hidden=st.sampled_from([32, 64, 96]),
    ffn=st.sampled_from([48, 128, 200]),
    prompt=st.integers(1, 40),
    factor=st.sampled_from([2, 4, 16]),
    df=st.sampled_from(list(Dataflow)),
)
def test_bigger_buffers_never_slow_a_run(
    hidden: int, ffn: int, prompt: int, factor: int, df: Dataflow
) -> None:
    spec = ModelSpec(
        name="m",
        architecture=Architecture(
            hidden=hidden,
            layers=1,
            heads=4,
            kv_heads=4,
            ffn=ffn,
            ffn_type="swiglu",
            vocab=64,
            max_context=128,
        ),
    )
    hw = TINY.model_copy(update={"array": TINY.array.model_copy(update={"dataflow": df})})
    small = run(hw, spec, prompt_tokens=prompt, gen_tokens=2).result.total_cycles
    big = run(
        _with_buffers(hw, factor), spec, prompt_tokens=prompt, gen_tokens=2
    ).result.total_cycles
    assert big <= small
