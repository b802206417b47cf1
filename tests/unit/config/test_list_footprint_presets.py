"""`tersim list`, `tersim footprint` and the DRAM presets, checked against what they describe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tersim.config import load_hardware
from tersim.cost.energy import price_list
from tersim.tech.dram import dram_preset

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_list_names_every_shipped_file() -> None:
    out = _cli("list")
    assert out.returncode == 0, out.stderr
    text = out.stdout.replace("\n", " ")
    for folder in ("hw_configs", "workloads"):
        for path in (ROOT / folder).glob("*.yaml"):
            assert path.stem in text, f"{path.stem} missing from tersim list"


def test_footprint_by_hand_for_a_tiny_model(tmp_path: Path) -> None:
    """hidden 64, 2 layers, 4 heads (MHA), FFN 128 SwiGLU, vocab 100, untied, fp16 embeddings,
    16-bit KV cache. Linear weights per layer: q, k, v, o 64 x 64 and gate, up, down
    64 x 128: 4 * 4096 + 3 * 8192 = 40960 weights, 81920 over 2 layers. ternary2: each matrix
    ceil(elements / 4) + one fp32 scale: per layer 4 * (1024 + 4) + 3 * (2048 + 4) = 10268,
    20536 in all. Embedding + LM head: 2 * 100 * 64 * 2 = 25600. Norms: (2 * 2 + 1) * 64 * 2
    = 640. KV cache, 10 tokens, batch 3: 2 (K, V) * 2 layers * 64 * 10 * 3 * 2 bytes = 15360."""
    wl = tmp_path / "tiny.yaml"
    wl.write_text(
        "name: tiny\narchitecture: {hidden: 64, layers: 2, heads: 4, kv_heads: 4, ffn: 128,\n"
        "  ffn_type: swiglu, vocab: 100}\n"
    )
    out = _cli(
        "footprint",
        "--workload",
        str(wl),
        "--format",
        "ternary2",
        "--context",
        "10",
        "--batch",
        "3",
        "--json",
        "-",
    )
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)["formats"]["ternary2"]
    assert row["weights_bytes"] == 20536
    assert row["embedding_bytes"] == 25600
    assert row["norm_bytes"] == 640
    assert row["kv_cache_bytes"] == 15360
    assert row["total_bytes"] == 20536 + 25600 + 640 + 15360


def test_footprint_rejects_an_unknown_format() -> None:
    out = _cli("footprint", "--workload", "bitnet-b1.58-700m", "--format", "ternary3")
    assert out.returncode == 2 and "ternary2" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("kind", "pj_per_bit", "cited"),
    [("hbm2", 3.9, "O'Connor"), ("lpddr4", 6.0, "assumption"), ("ddr4", 15.0, "assumption")],
)
def test_dram_presets_carry_their_figure_and_source(
    kind: str, pj_per_bit: float, cited: str
) -> None:
    preset = dram_preset(kind)
    assert preset is not None and preset.energy_pj_per_bit.value == pj_per_bit
    assert cited in preset.energy_pj_per_bit.source
    assert dram_preset("custom") is None


def test_the_design_prices_dram_with_its_preset_unless_it_gives_its_own() -> None:
    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")
    assert hw.dram.kind == "hbm2" and hw.dram.energy_pj_per_bit is None
    assert price_list(hw).dram_pj_per_bit.value == 3.9
    own = hw.model_copy(update={"dram": hw.dram.model_copy(update={"energy_pj_per_bit": 7.25})})
    assert price_list(own).dram_pj_per_bit.value == 7.25
