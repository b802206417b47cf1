"""Load real weights from a local safetensors checkpoint (Hugging Face BitNet / LLaMA layout).

The layout is that of ``microsoft/bitnet-b1.58-2B-4T-bf16`` (the bf16 master weights), which
``transformers``' ``BitNetForCausalLM`` reads:

=============================================================  ========================
tensor                                                         shape (HF: out, in)
=============================================================  ========================
``model.embed_tokens.weight``                                  (vocab, hidden)
``model.layers.{i}.input_layernorm.weight``                    (hidden,)
``model.layers.{i}.self_attn.q_proj.weight``                   (heads*head_dim, hidden)
``model.layers.{i}.self_attn.{k,v}_proj.weight``               (kv_heads*head_dim, hidden)
``model.layers.{i}.self_attn.o_proj.weight``                   (hidden, heads*head_dim)
``model.layers.{i}.self_attn.attn_sub_norm.weight``            (heads*head_dim,), sublayer_norm
``model.layers.{i}.post_attention_layernorm.weight``           (hidden,), not with parallel
``model.layers.{i}.mlp.{gate,up}_proj.weight``                 (ffn, hidden); no gate for GELU
``model.layers.{i}.mlp.ffn_sub_norm.weight``                   (ffn,), sublayer_norm only
``model.layers.{i}.mlp.down_proj.weight``                      (hidden, ffn)
``model.norm.weight``                                          (hidden,)
``lm_head.weight``                                             (vocab, hidden), unless tied
=============================================================  ========================

With ``norm: layernorm`` every norm also has a ``.bias`` of the same shape. Linear weights are
stored ``(out, in)`` and transposed here to tersim's ``(K, N)``; each is quantized (absmean, per
the spec's scale granularity) and packed, as BitNet does on the fly from its master weights.
The embedding (and untied LM head) are kept in float16 (see ``transformer.head_table``).

Accepted dtypes: F32, F16 and BF16. ``safetensors``' NumPy API cannot return bfloat16 (NumPy
has no such dtype), so BF16 tensors are read from the file directly: their bytes are the upper
16 bits of a float32, widened by a 16-bit shift. A path may be one ``.safetensors`` file or a
directory of shards (every ``*.safetensors`` in it).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open

from tersim.config.workload import ModelSpec
from tersim.errors import WorkloadError
from tersim.functional.transformer import (
    BitLinear,
    LayerWeights,
    ModelConfig,
    ModelWeights,
    Norm,
    TernaryModel,
    head_table,
    quantize_pack,
)
from tersim.workload.formats import Formats

#: safetensors dtypes the loader reads.
SUPPORTED_DTYPES = ("F32", "F16", "BF16")


@dataclass(frozen=True)
class _Entry:
    """Where one tensor lives."""

    file: Path
    dtype: str
    shape: tuple[int, ...]


def _norm_names(prefix: str, cfg: ModelConfig, dim: int) -> dict[str, tuple[int, ...]]:
    names: dict[str, tuple[int, ...]] = {f"{prefix}.weight": (dim,)}
    if cfg.layernorm:
        names[f"{prefix}.bias"] = (dim,)
    return names


def expected_tensors(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of ``cfg`` must hold, with its HF shape."""
    h, kvd, f, qd = cfg.hidden, cfg.kv_dim, cfg.ffn, cfg.attn_dim
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg.vocab, h)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}"
        out |= _norm_names(f"{p}.input_layernorm", cfg, h)
        out[f"{p}.self_attn.q_proj.weight"] = (qd, h)
        out[f"{p}.self_attn.k_proj.weight"] = (kvd, h)
        out[f"{p}.self_attn.v_proj.weight"] = (kvd, h)
        out[f"{p}.self_attn.o_proj.weight"] = (h, qd)
        if cfg.sublayer_norm:
            out |= _norm_names(f"{p}.self_attn.attn_sub_norm", cfg, qd)
            out |= _norm_names(f"{p}.mlp.ffn_sub_norm", cfg, f)
        if not cfg.parallel_attention:
            out |= _norm_names(f"{p}.post_attention_layernorm", cfg, h)
        if cfg.gated:
            out[f"{p}.mlp.gate_proj.weight"] = (f, h)
        out[f"{p}.mlp.up_proj.weight"] = (f, h)
        out[f"{p}.mlp.down_proj.weight"] = (h, f)
    out |= _norm_names("model.norm", cfg, h)
    if not cfg.tied_embeddings:
        out["lm_head.weight"] = (cfg.vocab, h)
    return out


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise WorkloadError(f"{path}: no *.safetensors files in this directory")
        return files
    if not path.is_file():
        raise WorkloadError(f"{path}: no such checkpoint file or directory")
    return [path]


def _index(files: list[Path]) -> dict[str, _Entry]:
    """Name -> entry for every tensor of every file (headers only; no data is read)."""
    index: dict[str, _Entry] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="np") as f:
                for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                    sl = f.get_slice(name)
                    if name in index:
                        raise WorkloadError(
                            f"{file}: tensor '{name}' is also in {index[name].file.name}"
                        )
                    index[name] = _Entry(file, str(sl.get_dtype()), tuple(sl.get_shape()))
        except WorkloadError:
            raise
        except Exception as exc:  # safetensors raises its own error types, and OSError
            raise WorkloadError(f"{file}: not a readable safetensors file ({exc})") from None
    return index


def _problems(index: dict[str, _Entry], expected: dict[str, tuple[int, ...]]) -> list[str]:
    out = []
    for name, shape in expected.items():
        e = index.get(name)
        if e is None:
            out.append(f"missing tensor '{name}' (expected shape {shape})")
            continue
        if e.shape != shape:
            out.append(f"tensor '{name}': shape {e.shape} (expected {shape})")
        if e.dtype not in SUPPORTED_DTYPES:
            out.append(
                f"tensor '{name}': dtype {e.dtype} (expected one of {', '.join(SUPPORTED_DTYPES)})"
            )
    for name in sorted(set(index) - set(expected)):
        out.append(f"unexpected tensor '{name}' ({index[name].file.name}; not in this model)")
    return out


def _bf16_bits(file: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A BF16 tensor's raw 16-bit patterns, memory-mapped from the file's header offsets."""
    with file.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    begin, end = header[name]["data_offsets"]
    count = int(np.prod(shape))
    if end - begin != 2 * count:
        raise WorkloadError(f"{file}: tensor '{name}' holds {end - begin} bytes for {count} bf16")
    offset = 8 + header_len + begin
    return np.memmap(file, dtype="<u2", mode="r", offset=offset, shape=shape)


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns to float32: the patterns are a float32's upper 16 bits."""
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)


def _read(entry: _Entry, name: str, out_dtype: type = np.float32, rows: int = 4096) -> np.ndarray:
    """One tensor as a finite ``out_dtype`` array, converted ``rows`` leading rows at a time (so
    a large embedding never exists in float32 whole).

    Raises:
        WorkloadError: a NaN or infinite value, also after conversion to ``out_dtype``.
    """
    out: np.ndarray = np.empty(entry.shape, out_dtype)  # 1-D or 2-D (shapes were checked)
    with safe_open(str(entry.file), framework="np") as f:
        bits = _bf16_bits(entry.file, name, entry.shape) if entry.dtype == "BF16" else None
        sl = f.get_slice(name) if bits is None else None
        for r0 in range(0, entry.shape[0], rows):
            rs = slice(r0, min(r0 + rows, entry.shape[0]))  # safetensors rejects overruns
            block = _bf16_to_f32(bits[rs]) if bits is not None else sl[rs]  # type: ignore[index]
            with np.errstate(over="ignore"):  # overflow to inf is reported just below
                out[rs] = block
            if not (np.all(np.isfinite(block)) and np.all(np.isfinite(out[rs]))):
                raise WorkloadError(
                    f"{entry.file}: tensor '{name}' contains NaN or infinite values (or values "
                    f"outside the {np.dtype(out_dtype).name} range)"
                )
    return out


def load_checkpoint(path: str | Path, spec: ModelSpec, formats: Formats) -> TernaryModel:
    """The model of ``spec`` with the weights of the safetensors checkpoint at ``path``.

    Raises:
        WorkloadError: the path is not a safetensors file (or directory of them); or, all
            listed at once, tensors missing, unexpected, of the wrong shape or dtype; or a
            tensor with NaN/inf values or outside the float16 range (embedding, LM head).
    """
    cfg = ModelConfig.from_spec(spec, formats)
    p = Path(path)
    index = _index(_files(p))
    problems = _problems(index, expected_tensors(cfg))
    if problems:
        raise WorkloadError(
            f"{p}: checkpoint does not match {spec.name}:\n  " + "\n  ".join(problems)
        )

    def linear(name: str) -> BitLinear:
        w = _read(index[name], name)  # (N, K) HF layout
        return quantize_pack(w.T, cfg.weight_format, cfg.granularity)  # (K, N)

    def norm(prefix: str) -> Norm:
        w = _read(index[f"{prefix}.weight"], f"{prefix}.weight")
        b = None
        if cfg.layernorm:
            b = _read(index[f"{prefix}.bias"], f"{prefix}.bias")
        return Norm(w, b)

    def table(name: str) -> np.ndarray:
        return _read(index[name], name, np.float16)  # (V, H)

    layers = []
    for i in range(cfg.layers):
        a, m = f"model.layers.{i}.self_attn", f"model.layers.{i}.mlp"
        layers.append(
            LayerWeights(
                attn_norm=norm(f"model.layers.{i}.input_layernorm"),
                q_proj=linear(f"{a}.q_proj.weight"),
                k_proj=linear(f"{a}.k_proj.weight"),
                v_proj=linear(f"{a}.v_proj.weight"),
                attn_sub_norm=norm(f"{a}.attn_sub_norm") if cfg.sublayer_norm else None,
                o_proj=linear(f"{a}.o_proj.weight"),
                ffn_norm=None
                if cfg.parallel_attention
                else norm(f"model.layers.{i}.post_attention_layernorm"),
                gate_proj=linear(f"{m}.gate_proj.weight") if cfg.gated else None,
                up_proj=linear(f"{m}.up_proj.weight"),
                ffn_sub_norm=norm(f"{m}.ffn_sub_norm") if cfg.sublayer_norm else None,
                down_proj=linear(f"{m}.down_proj.weight"),
            )
        )
    embed = table("model.embed_tokens.weight")
    weights = ModelWeights(
        embed=embed,
        layers=tuple(layers),
        final_norm=norm("model.norm"),
        lm_head=head_table(embed if cfg.tied_embeddings else table("lm_head.weight")),
    )
    return TernaryModel(spec, formats, cfg, weights)
