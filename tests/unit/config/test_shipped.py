from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import HardwareConfig, ModelSpec, load_hardware, load_workload
from tersim.config.yaml_io import dump_model
from tersim.shipped import resolve, shipped_files

ROOT = Path(__file__).resolve().parents[3]
REQUIRED_HW = {
    "ternary-128x128-7nm",
    "fp16-128x128-7nm",
    "ternary-128x128-45nm",
    "fp16-128x128-45nm",
    "ternary-8x8-tiny",
}
REQUIRED_WORKLOADS = {
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
    "openllama-3b",
    "bitnet-b1.58-700m",
    "bitnet-b1.58-1.3b",
    "bitnet-b1.58-3b",
    "bitnet-b1.58-3.9b",
    "bitnet-b1.58-2b4t",
    "gpt-6.7b",
    "gpt-13b",
    "gpt-30b",
    "falcon-7b",
    "falcon-40b",
    # imported from published Hugging Face configs (tests/unit/config/test_hf_import.py)
    "llama3-8b",
    "smollm-135m",
    "smollm-360m",
    "smollm-1.7b",
    "stablelm-3b-4e1t",
    "redpajama-incite-3b",
    "mistral-7b",
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-7b",
}


def test_required_files_are_shipped() -> None:
    assert {p.stem for p in shipped_files("hardware")} >= REQUIRED_HW
    assert {p.stem for p in shipped_files("workload")} >= REQUIRED_WORKLOADS


@pytest.mark.parametrize("path", sorted((ROOT / "hw_configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_hardware_loads_and_round_trips(path: Path, tmp_path: Path) -> None:
    hw = load_hardware(path)
    assert hw.name == path.stem
    copy = tmp_path / "copy.yaml"
    copy.write_text(dump_model(hw))
    assert load_hardware(copy) == hw


@pytest.mark.parametrize("path", sorted((ROOT / "workloads").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_workload_loads_and_round_trips(path: Path, tmp_path: Path) -> None:
    spec = load_workload(path)
    assert spec.name == path.stem
    copy = tmp_path / "copy.yaml"
    copy.write_text(dump_model(spec))
    assert load_workload(copy) == spec


def _params(spec: ModelSpec) -> int:
    """Parameter count from the shapes (no biases, norms ignored), an independent formula."""
    a = spec.architecture
    head_dim = a.head_dim or a.hidden // a.heads
    attn = 2 * a.hidden * a.heads * head_dim + 2 * a.hidden * a.kv_heads * head_dim
    ffn = (2 if a.ffn_type == "gelu" else 3) * a.hidden * a.ffn
    emb = a.vocab * a.hidden * (1 if a.tied_embeddings else 2)
    return a.layers * (attn + ffn) + emb


@pytest.mark.parametrize(
    ("name", "billions", "tolerance"),
    [
        # Published parameter counts (model cards / papers); shapes must reproduce them.
        ("llama2-7b", 6.74, 0.01),
        ("llama2-13b", 13.02, 0.01),
        ("llama2-70b", 68.98, 0.01),
        ("openllama-3b", 3.43, 0.02),
        ("falcon-7b", 6.92, 0.03),
        ("falcon-40b", 41.8, 0.03),
        ("bitnet-b1.58-2b4t", 2.41, 0.03),
        ("gpt-6.7b", 6.7, 0.05),
        ("gpt-13b", 13.0, 0.05),
        ("gpt-30b", 30.0, 0.05),
        ("bitnet-b1.58-700m", 0.7, 0.15),
        ("bitnet-b1.58-1.3b", 1.3, 0.05),
        ("bitnet-b1.58-3b", 3.3, 0.05),
        ("bitnet-b1.58-3.9b", 3.9, 0.02),
    ],
)
def test_shapes_match_published_sizes(name: str, billions: float, tolerance: float) -> None:
    spec = load_workload(resolve(name, "workload"))
    got = _params(spec) / 1e9
    assert abs(got - billions) / billions < tolerance, got


def test_dram_bandwidth_has_one_canonical_unit() -> None:
    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")
    assert isinstance(hw, HardwareConfig)
    # 256 GB/s at 1 GHz is 256 bytes per cycle.
    assert hw.dram_bw_bytes_per_cycle == pytest.approx(256.0)
    tiny = load_hardware(ROOT / "hw_configs" / "ternary-8x8-tiny.yaml")
    assert tiny.dram_bw_bytes_per_cycle == 16.0
