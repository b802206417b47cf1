"""The bit-serial PE: bit-planes per weight format, its cycles against a stepped model, its
actions, and BitMoD's published energy as a cross-check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tersim.config import load_hardware
from tersim.config.enums import Dataflow, PEKind, WeightFormat
from tersim.config.hardware import HardwareConfig
from tersim.hw.dataflow.stepped import simulate_gemm
from tersim.hw.pe import MatmulShape, pe_model
from tersim.hw.pe.base import ASSUMED_TERNARY_ZERO_FRACTION
from tersim.run.single_gemm import run_gemm
from tersim.tech.tables import BITMOD_BIT_SERIAL_PE_28NM_PJ, energy_table

ROOT = Path(__file__).resolve().parents[3]
BS = pe_model(PEKind.BIT_SERIAL)


def serial_design(**array: object) -> HardwareConfig:
    hw = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    update = {"pe_kind": PEKind.BIT_SERIAL, **array}
    return hw.model_copy(update={"array": hw.array.model_copy(update=update)})


def serial_mac(a: int, w: int, planes: int, per_cycle: int) -> tuple[int, int, int]:
    """A stepped bit-serial PE: each cycle it takes the next ``per_cycle`` planes of ``w`` (two's
    complement, least significant first, the top plane negative) and adds ``a`` shifted by the
    plane where the bit is set. Returns (a x w, cycles, plane adds)."""
    bits = w & ((1 << planes) - 1)
    acc = cycles = adds = 0
    p = 0
    while p < planes:
        for _ in range(per_cycle):
            if p < planes:
                bit = (bits >> p) & 1
                weight = -(1 << p) if p == planes - 1 and planes > 1 else 1 << p
                acc += bit * weight * a
                adds += 1
                p += 1
        cycles += 1
    return acc, cycles, adds


@pytest.mark.parametrize(
    ("bits", "per_cycle", "want"),
    [(2, 1, 2), (1, 1, 1), (4, 1, 4), (8, 1, 8), (2, 2, 1), (4, 2, 2), (8, 2, 4), (4.5, 2, 2)],
)
def test_passes_per_tile_follow_the_bit_planes(bits: float, per_cycle: int, want: int) -> None:
    """Ternary is 2 planes, binary 1, INT4 4, INT8 8; BitMoD's 2 planes per cycle give its
    ceil(floor(w_prec) / 2) = 1, 2, 4 (and 2 for its 4.5-bit formats)."""
    hw = serial_design(serial_bits_per_cycle=per_cycle)
    assert BS.passes_per_tile(hw.array, bits) == want


@pytest.mark.parametrize("planes", [2, 3, 4, 8])
@pytest.mark.parametrize("per_cycle", [1, 2, 3])
def test_the_stepped_pe_multiplies_in_ceil_planes_over_rate_cycles(
    planes: int, per_cycle: int
) -> None:
    """Every representable weight: the stepped PE's product is a x w, its cycles are the
    model's passes per tile and its adds the model's plane adds per slot."""
    hw = serial_design(serial_bits_per_cycle=per_cycle)
    lo, hi = -(1 << (planes - 1)), (1 << (planes - 1)) - 1
    for w in range(lo, hi + 1):
        for a in (-128, -3, 0, 7, 127):
            value, cycles, adds = serial_mac(a, w, planes, per_cycle)
            assert value == a * w
            assert cycles == BS.passes_per_tile(hw.array, planes)
            assert adds == planes


@pytest.mark.parametrize(
    ("m", "n", "k", "bits", "per_cycle"),
    [(5, 3, 7, 2, 1), (3, 12, 20, 8, 1), (9, 17, 11, 4, 1), (4, 9, 24, 8, 2), (2, 3, 5, 3, 2)],
)
def test_cycles_against_the_stepped_model(
    m: int, n: int, k: int, bits: int, per_cycle: int
) -> None:
    """A bit-serial array is the bit-parallel array whose every systolic step (operand hop,
    partial-sum hop, preload shift) is a beat of the stepped PE's cycles. The stepped
    register-level oracle (tersim.hw.dataflow.stepped, reactive control, no closed form) counts
    the beats of an 8x8 WS array over several row and column folds; the stepped PE above the
    cycles per beat, with the weights' planes; the product comes out of the planes. The
    mapping's compute cycles must be their product."""
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = rng.integers(-128, 128, (m, k))
    w = rng.integers(lo, hi + 1, (k, n))
    stepped = simulate_gemm(x, w, 8, 8, Dataflow.WS)  # beats; integer MAC PEs
    per_beat = {serial_mac(1, int(v), bits, per_cycle)[1] for v in w.flat}
    assert len(per_beat) == 1  # every weight takes the same beat
    y = np.array(
        [
            [
                sum(serial_mac(int(x[i, j]), int(w[j, c]), bits, per_cycle)[0] for j in range(k))
                for c in range(n)
            ]
            for i in range(m)
        ]
    )
    assert np.array_equal(y, x @ w) and np.array_equal(stepped.product, x @ w)
    hw = serial_design(serial_bits_per_cycle=per_cycle)
    shape = MatmulShape(m, n, k, 1, 8, float(bits), None)
    am = BS.map_matmul(hw.array, shape, None)
    from tersim.mapping.gemm import Operands, plan_gemm

    ops = Operands(8, bits, 16, 32, True, True, passes_per_tile=am.passes_per_tile)
    plan = plan_gemm(hw, m, n, k, ops, ideal_memory=True)
    assert plan.compute_cycles == stepped.cycles * per_beat.pop()
    assert am.actions.plane_add == m * n * k * bits


def test_ternary_gemm_on_the_tiny_array_by_hand() -> None:
    """tersim gemm 4 x 16 @ 16 x 8 on the 8x8 bit-serial array, ternary (2 planes, one per
    cycle): the adder array's 38 cycles (WS: 8 + 12 + 4 + 6 + 8) doubled; 2 plane adds per
    slot: 2 x 4 x 8 x 16 = 1024."""
    res = run_gemm(serial_design(), 4, 8, 16, ideal_memory=True)
    assert res.plan.compute_cycles == 2 * 38
    assert res.pe_ops.plane_add == 1024 and res.pe_ops.add == 0


def test_zero_skipping_skips_zero_weights_whole() -> None:
    """With zero_skipping a zero ternary weight costs one zero check, not its 2 plane adds."""
    shape = MatmulShape(1, 10, 100, 1, 8, 2.0, WeightFormat.TERNARY)
    plain = BS.map_matmul(serial_design().array, shape, None).actions
    skip = BS.map_matmul(serial_design(zero_skipping=True).array, shape, None).actions
    zeros = round(1000 * ASSUMED_TERNARY_ZERO_FRACTION)
    assert plain.plane_add == 2000 and plain.skip == 0
    assert skip.skip == zeros and skip.plane_add == 2 * (1000 - zeros)


def test_a_three_bit_kv_cache_runs_on_the_array_in_three_planes() -> None:
    """Attention against an integer KV cache of at most 8 bits is a bit-serial product (the
    cache is the serial operand); a 16-bit (float) cache is not."""
    hw = serial_design()
    assert BS.runs_product(None, 3) and BS.runs_product(None, 8) and not BS.runs_product(None, 16)
    assert BS.passes_per_tile(hw.array, 3) == 3


def test_plane_add_energy_against_bitmod() -> None:
    """BitMoD prices 0.56 pJ per cycle of its 4-wide PE taking 2 planes per cycle at 28nm:
    0.07 pJ per plane-MAC. Our plane add, an INT32 add at 28nm (0.0513 pJ), is within 1.5x."""
    bitmod = BITMOD_BIT_SERIAL_PE_28NM_PJ.value / (4 * 2)
    ours = BS.prices(energy_table("28nm"), serial_design().array).plane_add_pj.value
    assert math.isclose(bitmod, 0.07)
    assert bitmod / 1.5 <= ours <= bitmod * 1.5
