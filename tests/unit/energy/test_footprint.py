"""Memory footprint per format: hand calculations and BitNet b1.58's Table 1."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tersim.config import load_workload
from tersim.config.workload import Architecture, ModelSpec
from tersim.errors import WorkloadError
from tersim.workload.footprint import FORMATS, footprint

ROOT = Path(__file__).resolve().parents[3]


def _tiny() -> ModelSpec:
    return ModelSpec(
        name="tiny",
        architecture=Architecture(
            hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, ffn_type="swiglu", vocab=100
        ),
    )


def test_tiny_model_by_hand() -> None:
    spec = _tiny()
    # per layer: q, o 64x64; k, v 64x32 (2 KV heads of 16); gate, up 64x128; down 128x64
    elems = 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128)
    assert elems == 73728
    assert footprint(spec, "fp16").weights_bytes == 2 * elems
    # ternary 2-bit: ceil(elems_i / 4) + a 4-byte scale for each of 14 matrices
    assert footprint(spec, "ternary2").weights_bytes == elems // 4 + 14 * 4
    assert footprint(spec, "ternary1.6").weights_bytes == sum(
        math.ceil(e / 5) + 4 for e in [4096, 2048, 2048, 4096, 8192, 8192, 8192] * 2
    )
    # nf4: half a byte per weight + a 4-byte absmax per 64 weights
    assert footprint(spec, "nf4").weights_bytes == elems // 2 + 4 * (elems // 64)
    # embeddings (untied: two tables) in fp16
    assert footprint(spec, "ternary2").embedding_bytes == 2 * 100 * 64 * 2
    # KV cache: K and V, 2 layers, 2 KV heads x 16 dims, 10 positions, batch 3, 16 bits
    assert footprint(spec, "fp16", context_tokens=10, batch=3).kv_cache_bytes == (
        2 * 2 * 32 * 10 * 3 * 2
    )


def test_formats_order_by_size() -> None:
    spec = load_workload(ROOT / "workloads" / "llama2-7b.yaml")
    size = {f: footprint(spec, f).weights_bytes for f in FORMATS}
    assert size["fp16"] > size["int8"] > size["nf4"] > size["nf4_dq"] > size["ternary2"]
    assert size["ternary2"] > size["ternary1.6"] > size["binary"]
    assert footprint(spec, "int8_outliers", outlier_fraction=0.01).weights_bytes > size["int8"]


def test_bitnet_table1_memory_3b() -> None:
    """BitNet b1.58 Table 1 (3B): LLaMA 7.89 GB vs BitNet b1.58 2.22 GB, measured on a GPU.

    tersim counts storage only. FP16 weights + embeddings of the 3B shapes are 6.85 GB: the
    remaining ~1 GB of the paper's figure is runtime memory (activations, KV cache, allocator)
    that tersim's footprint leaves to the KV-cache term. For BitNet, tersim's 2-bit packing gives
    1.22 GB, well below 2.22 GB: the paper's implementation did not pack to 2 bits (its figure
    equals about 4.5 bits per linear weight). The ratio tersim reports (5.6x) is therefore larger
    than the paper's 3.55x; docs/footprint.md explains.
    """
    llama = load_workload(ROOT / "workloads" / "openllama-3b.yaml")
    bitnet = load_workload(ROOT / "workloads" / "bitnet-b1.58-3b.yaml")
    fp16 = footprint(llama, "fp16").total_bytes / 1e9
    tern = footprint(bitnet, "ternary2").total_bytes / 1e9
    assert fp16 == pytest.approx(6.85, abs=0.01)
    assert tern == pytest.approx(1.22, abs=0.01)
    assert fp16 < 7.89 and tern < 2.22
    paper_ratio = 7.89 / 2.22
    assert paper_ratio == pytest.approx(3.55, abs=0.01)
    assert fp16 / tern > paper_ratio


def test_bad_format_and_context() -> None:
    with pytest.raises(WorkloadError, match="unknown weight format 'int3'"):
        footprint(_tiny(), "int3")
    with pytest.raises(WorkloadError, match="context must be"):
        footprint(_tiny(), "fp16", context_tokens=-1)
