"""Checkpoint loading: a tiny HF-layout safetensors file written here (F32, F16, BF16)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from tersim.config import PEKind
from tersim.config.workload import ModelSpec
from tersim.errors import TersimError
from tersim.functional.checkpoint import (
    _index,
    _read,
    expected_tensors,
    load_checkpoint,
    unpack_hf,
)
from tersim.functional.packing import unpack_ternary
from tersim.functional.quant import quantize_ternary
from tersim.functional.transformer import ModelConfig, trace_model
from tersim.workload.formats import resolve_formats
from tersim.workload.trace import Phase, trace_shapes


def tiny_spec(**arch: Any) -> ModelSpec:
    a: dict[str, Any] = dict(
        hidden=32,
        layers=2,
        heads=4,
        kv_heads=2,
        ffn=48,
        ffn_type="relu2_glu",
        vocab=64,
        tied_embeddings=True,
        sublayer_norm=True,
        max_context=32,
    )
    a.update(arch)
    return ModelSpec.model_validate(
        {"name": "tiny-bitnet", "architecture": a, "quantization": {"weight_format": "ternary"}}
    )


def random_tensors(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Every expected tensor, float32, values exactly representable in bfloat16."""
    cfg = ModelConfig.from_spec(spec, resolve_formats(spec, PEKind.TERNARY_ADD))
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in expected_tensors(cfg).items():
        if "norm" in name or "layernorm" in name:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            a = 0.02 * rng.standard_normal(shape)
        bits = a.astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)  # truncate to bf16
        out[name] = bits.view(np.float32)
    return out


def write_bf16(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file of BF16 tensors, and uint8 tensors as U8 (NumPy cannot save bf16:
    write the format by hand, from its spec: 8-byte header length, JSON header, data)."""
    header: dict[str, Any] = {}
    blobs, offset = [], 0
    for name, a in tensors.items():
        if a.dtype == np.uint8:
            dtype, raw = "U8", a.tobytes()
        else:
            dtype, raw = (
                "BF16",
                (a.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes(),
            )
        header[name] = {
            "dtype": dtype,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    hdr = json.dumps(header).encode()
    hdr += b" " * (-len(hdr) % 8)
    path.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"".join(blobs))


def _formats(spec: ModelSpec):  # type: ignore[no-untyped-def]
    return resolve_formats(spec, PEKind.TERNARY_ADD)


def test_load_f32_and_run(tmp_path: Path) -> None:
    spec = tiny_spec()
    tensors = random_tensors(spec)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    model = load_checkpoint(tmp_path / "model.safetensors", spec, _formats(spec))
    # HF (out, in) is transposed to (K, N) before absmean quantization
    w = tensors["model.layers.1.mlp.down_proj.weight"]  # (hidden, ffn)
    np.testing.assert_array_equal(
        unpack_ternary(model.weights.layers[1].down_proj.packed), quantize_ternary(w.T).trits
    )
    np.testing.assert_array_equal(
        model.weights.layers[0].attn_sub_norm.weight,  # type: ignore[union-attr]
        tensors["model.layers.0.self_attn.attn_sub_norm.weight"],
    )
    # tied: the LM head is the embedding (float32 for a small table)
    np.testing.assert_array_equal(model.weights.lm_head, model.weights.embed)
    wl = trace_model(model, (Phase.PREFILL, Phase.DECODE), 4, 2, 2)
    shapes = trace_shapes(spec, _formats(spec), (Phase.PREFILL, Phase.DECODE), 4, 2, 2)
    assert [op.shape_key() for op in wl.ops] == [op.shape_key() for op in shapes.ops]


def test_bf16_f16_and_f32_files_give_the_same_model(tmp_path: Path) -> None:
    spec = tiny_spec(tied_embeddings=False, norm="layernorm", ffn_type="swiglu")
    tensors = random_tensors(spec, seed=2)
    save_file(tensors, str(tmp_path / "f32.safetensors"))
    write_bf16(tmp_path / "bf16.safetensors", tensors)
    (tmp_path / "shards").mkdir()
    names = sorted(tensors)
    save_file({n: tensors[n] for n in names[::2]}, str(tmp_path / "shards" / "a.safetensors"))
    half = {n: tensors[n].astype(np.float16) for n in names[1::2]}
    save_file(half, str(tmp_path / "shards" / "b.safetensors"))
    tokens = np.array([[1, 5, 9], [2, 3, 4]])
    logits = []
    for path in ("f32.safetensors", "bf16.safetensors", "shards"):
        model = load_checkpoint(tmp_path / path, spec, _formats(spec))
        np.testing.assert_array_equal(
            model.weights.lm_head, tensors["lm_head.weight"].astype(np.float16)
        )
        logits.append(model.forward(tokens, model.new_cache(2, 3)))
    np.testing.assert_array_equal(logits[0], logits[1])  # bf16 values were exact
    np.testing.assert_allclose(logits[0], logits[2], rtol=1e-2, atol=1e-3)  # some via f16


def test_tables_are_read_by_row_blocks(tmp_path: Path) -> None:
    """Block-wise conversion (7 rows at a time) gives the whole-tensor result, for every dtype."""
    a = (np.random.default_rng(0).standard_normal((23, 5)) * 3).astype(np.float32)
    a = (a.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)  # bf16-exact
    save_file({"t": a, "h": a.astype(np.float16)}, str(tmp_path / "x.safetensors"))
    write_bf16(tmp_path / "b.safetensors", {"t": a})
    for file, name in (("x", "t"), ("x", "h"), ("b", "t")):
        entry = _index([tmp_path / f"{file}.safetensors"])[name]
        np.testing.assert_array_equal(_read(entry, name, np.float16, rows=7), a.astype(np.float16))
        np.testing.assert_array_equal(
            _read(entry, name, np.float32, rows=7), a if name == "t" else a.astype(np.float16)
        )
    big = np.full((3, 2), 1e5, np.float32)  # beyond float16
    save_file({"big": big}, str(tmp_path / "big.safetensors"))
    entry = _index([tmp_path / "big.safetensors"])["big"]
    with pytest.raises(TersimError, match="outside the float16 range"):
        _read(entry, "big", np.float16)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.pop("model.layers.1.self_attn.k_proj.weight"), "missing tensor 'model.layers.1.self_attn.k_proj.weight'"),
        (lambda t: t.__setitem__("lm_head.weight", np.zeros((64, 32), np.float32)), "unexpected tensor 'lm_head.weight'"),
        (lambda t: t.__setitem__("model.layers.0.mlp.up_proj.weight", np.zeros((32, 48), np.float32)), r"tensor 'model.layers.0.mlp.up_proj.weight': shape \(32, 48\) \(expected \(48, 32\)\)"),
        (lambda t: t.__setitem__("model.norm.weight", np.ones(32, np.int32)), "tensor 'model.norm.weight': dtype I32"),
        (lambda t: t["model.layers.0.self_attn.q_proj.weight"].__setitem__((0, 0), np.nan), "'model.layers.0.self_attn.q_proj.weight' contains NaN"),
    ],
    ids=["missing", "extra", "shape", "dtype", "nan"],
)  # fmt: skip
def test_bad_checkpoints_name_the_tensor(tmp_path: Path, mutate: Any, message: str) -> None:
    spec = tiny_spec()
    tensors = random_tensors(spec)
    mutate(tensors)
    save_file(tensors, str(tmp_path / "bad.safetensors"))
    with pytest.raises(TersimError, match=message):
        load_checkpoint(tmp_path / "bad.safetensors", spec, _formats(spec))


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    spec = tiny_spec()
    tensors = random_tensors(spec)
    del tensors["model.norm.weight"]
    tensors["extra.weight"] = np.zeros(3, np.float32)
    save_file(tensors, str(tmp_path / "bad.safetensors"))
    with pytest.raises(TersimError) as err:
        load_checkpoint(tmp_path / "bad.safetensors", spec, _formats(spec))
    assert "model.norm.weight" in str(err.value) and "extra.weight" in str(err.value)


def test_not_a_safetensors_file(tmp_path: Path) -> None:
    spec = tiny_spec()
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(TersimError, match="not a readable safetensors file"):
        load_checkpoint(junk, spec, _formats(spec))
    with pytest.raises(TersimError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.safetensors", spec, _formats(spec))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TersimError, match=r"no \*.safetensors files"):
        load_checkpoint(tmp_path / "empty", spec, _formats(spec))


# --- the packed BitNet layout (microsoft/bitnet-b1.58-2B-4T) ------------------------------------


def hf_pack(trits: np.ndarray) -> np.ndarray:
    """(out, in) trits -> (out / 4, in) uint8 as documented by transformers'
    ``integrations/bitnet.py`` (``pack_weights``): digit w + 1 of row ``i * out/4 + r`` at bits
    ``2i`` of packed row ``r``. Written from that description, as a loop."""
    rows = trits.shape[0] // 4
    packed = np.zeros((rows, trits.shape[1]), dtype=np.uint8)
    for i in range(4):
        for r in range(rows):
            packed[r] |= ((trits[i * rows + r] + 1).astype(np.uint8) << (2 * i)).astype(np.uint8)
    return packed


def test_unpack_matches_the_transformers_docstring_example() -> None:
    """``unpack_weights``' docstring in transformers/integrations/bitnet.py: these two packed
    rows unpack to the 8 x 2 matrix below."""
    packed = np.array([[0b10100001, 0b00011000], [0b10010000, 0b00001010]], dtype=np.uint8)
    expected = [[0, -1], [-1, 1], [-1, 1], [-1, 1], [1, 0], [0, -1], [1, -1], [1, -1]]
    assert unpack_hf(packed, "w").tolist() == expected
    assert hf_pack(np.array(expected, dtype=np.int8)).tolist() == packed.tolist()
    with pytest.raises(TersimError, match="0b11"):
        unpack_hf(np.array([[0b11]], dtype=np.uint8), "w")


def packed_checkpoint(
    tensors: dict[str, np.ndarray], linear_class: str | None
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The packed layout of the master ``tensors``: each linear quantized (absmean, per tensor)
    and packed, with ``weight_scale`` 1 / gamma (``bitlinear``) or gamma (``autobitlinear``),
    stored in bf16; returns the tensors and the scale each linear must get."""
    out, scales = {}, {}
    for name, w in tensors.items():
        if not name.endswith("_proj.weight"):
            out[name] = w
            continue
        q = quantize_ternary(w)  # absmean over the tensor, as BitNet's offline quantization
        out[name] = hf_pack(q.trits)
        gamma = float(q.scale[0, 0])
        raw = 1 / gamma if linear_class in (None, "bitlinear") else gamma
        stored = float((np.float32(raw).view(np.uint32) >> 16 << 16).view(np.float32))  # bf16
        out[name + "_scale"] = np.array([raw], dtype=np.float32)
        scales[name] = 1 / stored if linear_class in (None, "bitlinear") else stored
    return out, scales


@pytest.mark.parametrize("linear_class", [None, "bitlinear", "autobitlinear"])
def test_packed_checkpoint_loads_the_same_trits_and_its_scales(
    tmp_path: Path, linear_class: str | None
) -> None:
    spec = tiny_spec()
    master = random_tensors(spec, seed=5)
    packed, scales = packed_checkpoint(master, linear_class)
    (tmp_path / "bf16").mkdir()
    (tmp_path / "packed").mkdir()
    write_bf16(tmp_path / "bf16" / "model.safetensors", master)
    write_bf16(tmp_path / "packed" / "model.safetensors", packed)
    quant = {} if linear_class is None else {"linear_class": linear_class}
    config = {"hidden_size": 32, "num_hidden_layers": 2, "quantization_config": quant}
    (tmp_path / "packed" / "config.json").write_text(json.dumps(config))
    a = load_checkpoint(tmp_path / "bf16", spec, _formats(spec))
    b = load_checkpoint(tmp_path / "packed", spec, _formats(spec))
    for la, lb, i in zip(a.weights.layers, b.weights.layers, range(2), strict=True):
        for attr, hf in (("q_proj", "self_attn.q_proj"), ("down_proj", "mlp.down_proj")):
            np.testing.assert_array_equal(
                unpack_ternary(getattr(la, attr).packed), unpack_ternary(getattr(lb, attr).packed)
            )
            got = float(getattr(lb, attr).scale[0, 0])
            assert got == pytest.approx(scales[f"model.layers.{i}.{hf}.weight"], rel=1e-6)
    tokens = np.array([[1, 5, 9, 2]])
    la, lb = (m.forward(tokens, m.new_cache(1, 4)) for m in (a, b))
    np.testing.assert_allclose(la, lb, rtol=0.05, atol=0.05)  # scales differ by bf16 rounding
    wl = trace_model(b, (Phase.PREFILL, Phase.DECODE), 4, 2, 1)
    assert all(op.measured is not None for op in wl.ops if op.kind.value == "linear")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.pop("model.layers.0.mlp.up_proj.weight_scale"), "missing tensor 'model.layers.0.mlp.up_proj.weight_scale'"),
        (lambda t: t.__setitem__("model.layers.0.mlp.up_proj.weight", np.zeros((48, 32), np.uint8)), r"packed U8 shape \(48, 32\) \(expected \(12, 32\)"),
        (lambda t: t.__setitem__("model.layers.1.mlp.down_proj.weight_scale", np.ones(2, np.float32)), r"down_proj.weight_scale': BF16 of shape \(2,\)"),
        (lambda t: t.__setitem__("model.norm.weight_scale", np.ones(1, np.float32)), "unexpected tensor 'model.norm.weight_scale'"),
        (lambda t: t["model.layers.0.self_attn.q_proj.weight"].__setitem__((0, 0), 0xFF), "0b11"),
    ],
    ids=["no-scale", "shape", "scale-shape", "extra-scale", "code-3"],
)  # fmt: skip
def test_bad_packed_checkpoints_name_the_tensor(tmp_path: Path, mutate: Any, message: str) -> None:
    spec = tiny_spec()
    packed, _ = packed_checkpoint(random_tensors(spec), "bitlinear")
    mutate(packed)
    write_bf16(tmp_path / "model.safetensors", packed)
    with pytest.raises(TersimError, match=message):
        load_checkpoint(tmp_path / "model.safetensors", spec, _formats(spec))


def test_scale_beside_a_master_weight_is_an_error(tmp_path: Path) -> None:
    spec = tiny_spec()
    tensors = random_tensors(spec)
    tensors["model.layers.0.mlp.up_proj.weight_scale"] = np.ones(1, np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(TersimError, match="a scale beside a F32 weight"):
        load_checkpoint(tmp_path / "model.safetensors", spec, _formats(spec))


def test_config_json_that_contradicts_the_workload(tmp_path: Path) -> None:
    spec = tiny_spec()
    save_file(random_tensors(spec), str(tmp_path / "model.safetensors"))
    config = {"hidden_size": 64, "quantization_config": {"linear_class": "fancylinear"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TersimError) as err:
        load_checkpoint(tmp_path, spec, _formats(spec))
    text = str(err.value)
    assert (
        "config.json: hidden_size is 64 but workload 'tiny-bitnet' has architecture.hidden" in text
    )
    assert "linear_class is 'fancylinear'" in text
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(TersimError, match=r"config\.json(:\d+)?: not readable JSON"):
        load_checkpoint(tmp_path, spec, _formats(spec))
