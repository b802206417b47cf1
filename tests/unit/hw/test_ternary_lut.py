"""The LUT-based ternary PE: tables, lookups and adds by hand, the exact product against the
NumPy oracle, and its mapping (groups on the array rows, a pass per weight bit-plane)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tersim.config import load_hardware
from tersim.config.enums import LutScheme, PEKind, TableBuild, WeightFormat
from tersim.config.hardware import HardwareConfig
from tersim.functional.reference import reference_matmul
from tersim.hw.pe import MatmulShape, pe_model
from tersim.hw.pe import ternary_lut as lut
from tersim.run.single_gemm import run_gemm

ROOT = Path(__file__).resolve().parents[3]

# The hand case: x (1 x 8) by W (8 x 2), g = 4.
X = np.array([[1, 2, 3, 4, 5, 6, 7, 8]])
W = np.array(
    [[1, -1], [-1, -1], [0, -1], [1, -1], [0, 1], [0, 1], [-1, 1], [1, 1]]
)  # columns: [1,-1,0,1, 0,0,-1,1] and [-1,-1,-1,-1, 1,1,1,1]


def lut_design(**array: object) -> HardwareConfig:
    """The tiny 8x8 design with LUT PEs; its input buffer streams 8 rows x a table (80 bits)
    a cycle, its weight buffer 8 indices of 8 bits."""
    hw = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    update = {"pe_kind": PEKind.TERNARY_LUT, **array}
    ports = {"read_bw_bytes_per_cycle": 80.0, "write_bw_bytes_per_cycle": 80.0}
    sram = hw.sram.model_copy(
        update={
            "input": hw.sram.input.model_copy(update=ports),  # type: ignore[union-attr]
            "weight": hw.sram.weight.model_copy(update=ports),  # type: ignore[union-attr]
        }
    )
    return hw.model_copy(update={"array": hw.array.model_copy(update=update), "sram": sram})


def test_hand_case_bit_plane_tables_lookups_adds_and_product() -> None:
    """By hand. y0 = 1 - 2 + 0 + 4 + 0 + 0 - 7 + 8 = 4; y1 = -(1+2+3+4) + (5+6+7+8) = 16.
    Group 0 (a = 1, 2, 3, 4): entries a0 +/- a1 +/- a2 +/- a3, index bit i-1 set = +a_i:
    -8, -4, -2, 2, 0, 4, 6, 10; group 1 (5, 6, 7, 8): -16, -4, -2, 10, 0, 12, 14, 26. Each table
    costs 2 + 4 + 8 = 14 adds (the tree): 28. Lookups: 2 outputs x 2 groups x 2 planes = 8,
    one accumulating add each: 8. Output 1 by planes: group 0 (all -1: s0 = s1 = all -) looks
    up -T[7] = -10 twice, group 1 (all +1) T[7] = 26 twice: 2 y1 = -20 + 52 = 32."""
    run = lut.lut_product(X, W, 4, LutScheme.BIT_PLANE)
    assert run.product.tolist() == [[4, 16]]
    assert np.array_equal(run.product, reference_matmul(X, W))
    assert [t.tolist() for t in run.table_entries] == [
        [-8, -4, -2, 2, 0, 4, 6, 10],
        [-16, -4, -2, 10, 0, 12, 14, 26],
    ]
    assert (run.tables, run.table_adds, run.lookups, run.adds) == (2, 28, 8, 8)


def test_hand_case_direct_scheme() -> None:
    """Direct (TL2-style) with g = 4: (81 + 1) / 2 = 41 entries, 41 - 1 - 4 = 36 adds each,
    1 lookup per output and group: 4 lookups and 4 adds. Output 0's group 0 has weights
    (1, -1, 0, 1): code 27 - 9 + 0 + 1 = 19, entry 19 = a0 - a1 + a3 = 1 - 2 + 4 = 3; group 1
    (0, 0, -1, 1): code -3 + 1 = -2, so -entry 2 = -(a2 - a3) = -(7 - 8) = 1: y0 = 4."""
    run = lut.lut_product(X, W, 4, LutScheme.DIRECT)
    assert run.product.tolist() == [[4, 16]]
    assert (run.tables, run.table_adds, run.lookups, run.adds) == (2, 72, 4, 4)
    assert len(run.table_entries[0]) == 41
    assert run.table_entries[0][19] == 3 and run.table_entries[1][2] == 7 - 8


@pytest.mark.parametrize("scheme", list(LutScheme))
@pytest.mark.parametrize("build", list(TableBuild))
def test_the_pe_models_counts_are_the_kernels(scheme: LutScheme, build: TableBuild) -> None:
    """map_matmul's formulas give what the executable PE did on the hand case."""
    hw = lut_design(lut_scheme=scheme, lut_table_build=build)
    run = lut.lut_product(X, W, 4, scheme)
    shape = MatmulShape(1, 2, 8, 1, 8, 2.0, WeightFormat.TERNARY)
    am = pe_model(PEKind.TERNARY_LUT).map_matmul(hw.array, shape, None)
    assert am.k == 2  # two groups on the array rows
    assert am.actions.lookup == run.lookups and am.actions.add == run.adds
    assert am.passes_per_tile == (2 if scheme is LutScheme.BIT_PLANE else 1)
    entry_bits = 8 + 2  # 8-bit activations, sum of 4: ceil(log2 4) = 2 more bits
    if build is TableBuild.ARRAY:
        assert am.actions.table_add == run.table_adds and am.prep_vector_ops == 0
        assert am.input_bits == 4 * 8 and not am.input_built_on_chip
    else:
        assert am.actions.table_add == 0 and am.prep_vector_ops == run.table_adds
        entries = 8 if scheme is LutScheme.BIT_PLANE else 41
        assert am.input_bits == entries * entry_bits and am.input_built_on_chip
        assert am.prep_input_write_bytes == math.ceil(2 * entries * entry_bits / 8)
        assert am.prep_input_read_bytes == 8  # the 8 int8 activations


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 3),
    k=st.integers(1, 11),
    n=st.integers(1, 3),
    g=st.integers(1, 5),
    scheme=st.sampled_from(list(LutScheme)),
    binary=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lut_product_is_exact_and_counted(
    m: int, k: int, n: int, g: int, scheme: LutScheme, binary: bool, seed: int
) -> None:
    """Any shape (K not a multiple of g: the last group padded): the PE's arithmetic equals the
    oracle exactly, and the model's formulas count what it did."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (m, k))
    fmt = WeightFormat.BINARY if binary else WeightFormat.TERNARY
    w = rng.choice([-1, 1] if binary else [-1, 0, 1], (k, n))
    run = lut.lut_product(x, w, g, scheme, fmt)
    assert np.array_equal(run.product, reference_matmul(x, w))
    groups = -(-k // g)
    planes = lut.planes(scheme, 1.0 if binary else 2.0)
    assert run.lookups == m * n * groups * planes
    assert run.table_adds == m * groups * lut.build_adds(scheme, g)
    assert all(len(t) == lut.entries(scheme, g) for t in run.table_entries)


def test_table_rules_by_hand() -> None:
    """bit_plane: 2^(g-1) entries, 2^g - 2 adds; direct: (3^g + 1) / 2 entries, minus 1 + g
    free ones (zero and the single activations): g = 2 gives bitnet.cpp TL1's two essential
    adds (a0 + a1, a0 - a1); g = 3 TL2's 14 entries."""
    assert [lut.entries(LutScheme.BIT_PLANE, g) for g in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert [lut.build_adds(LutScheme.BIT_PLANE, g) for g in (1, 2, 3, 4)] == [0, 2, 6, 14]
    assert [lut.entries(LutScheme.DIRECT, g) for g in (1, 2, 3, 4)] == [2, 5, 14, 41]
    assert [lut.build_adds(LutScheme.DIRECT, g) for g in (1, 2, 3, 4)] == [0, 2, 10, 36]
    assert lut.index_bits(LutScheme.DIRECT, 3) == 5  # TL2: 4-bit index + sign per 3 weights


def test_a_lut_gemm_runs_groups_on_the_rows_and_a_pass_per_plane() -> None:
    """On an 8x8 WS array, a 4 x 64 @ 64 x 8 GEMM with g = 4 is a 16-row reduction (2 row
    folds) of 2 passes per tile, where the adder array needs 8 row folds of one pass: cycles
    are those of the 4 x 16 @ 16 x 8 GEMM on the adder array, twice (tersim's WS closed form:
    preload R + (folds - 1)(T + R) + T + R - 2 + cols = 8 + 12 + 4 + 6 + 8 = 38 per pass
    sequence)."""
    tern = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    base = run_gemm(tern, 4, 8, 16, ideal_memory=True).plan.compute_cycles
    assert base == 8 + (2 - 1) * (4 + 8) + 4 + 8 - 2 + 8
    res = run_gemm(lut_design(), 4, 8, 64, ideal_memory=True)
    assert res.plan.k == 16 and res.plan.folds == (2, 1)
    assert res.plan.compute_cycles == 2 * base
    assert res.pe_ops.lookup == 4 * 8 * 16 * 2


def test_zeros_do_not_change_a_lut_pe() -> None:
    """A lookup sums g activations: zero skipping and activation gating change nothing."""
    plain = lut_design()
    gated = lut_design(zero_skipping=True, act_zero_skipping=True)
    shape = MatmulShape(2, 8, 16, 1, 8, 2.0, WeightFormat.TERNARY, act_sparsity=0.5)
    model = pe_model(PEKind.TERNARY_LUT)
    assert model.map_matmul(plain.array, shape, None) == model.map_matmul(gated.array, shape, None)


def test_tables_built_on_the_vector_unit_take_its_cycles() -> None:
    """A decode q_proj of the 700M model (1 x 1536 @ 1536 x 1536) on the tiny LUT design with
    vector-built tables: 1536 / 4 = 384 tables of 14 adds = 5376 vector ops, ceil(5376 / 8
    lanes) = 672 cycles before the array's tiles; the tables (384 x 8 x 10 bits = 3840 bytes)
    are written to the input buffer and the array streams them."""
    from tersim.config import load_workload
    from tersim.mapping.ops import map_workload
    from tersim.workload.formats import resolve_formats
    from tersim.workload.ops import Phase
    from tersim.workload.trace import trace_shapes

    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    built = {}
    for build in TableBuild:
        hw = lut_design(lut_table_build=build)
        wl = trace_shapes(spec, resolve_formats(spec, hw.array.pe_kind), (Phase.DECODE,), 4, 1)
        built[build] = next(o for o in map_workload(hw, wl).ops if o.name == "L0.q_proj")
    vec, arr = built[TableBuild.VECTOR], built[TableBuild.ARRAY]
    assert vec.runs[0].unit == "vector" and vec.runs[0].compute_cycles == 672
    assert vec.counts.vector_ops - arr.counts.vector_ops == 5376
    assert arr.counts.pe_by_kind["linear"].table_add == 5376
    assert vec.counts.pe_by_kind["linear"].table_add == 0
    assert vec.counts.sram_write_bytes["input"] - arr.counts.sram_write_bytes["input"] == 3840
