"""Load real weights from a local safetensors checkpoint (Hugging Face BitNet / LLaMA layout).

Tensor names are those of ``transformers``' ``BitNetForCausalLM`` (and LLaMA):

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

With ``norm: layernorm`` every norm also has a ``.bias`` of the same shape. Each linear weight
comes in one of the two layouts Microsoft publishes BitNet b1.58 2B4T in:

- **Master weights** (``microsoft/bitnet-b1.58-2B-4T-bf16``): F32, F16 or BF16 ``(out, in)``,
  transposed here to tersim's ``(K, N)`` and quantized (absmean, per the spec's scale
  granularity) and packed, as BitNet does on the fly.
- **Packed** (``microsoft/bitnet-b1.58-2B-4T``, "offline" quantization): ``{name}.weight`` is
  U8 of shape ``(out / 4, in)`` and ``{name}.weight_scale`` a one-element float tensor. The
  layout is that of ``transformers/integrations/bitnet.py`` (``pack_weights`` /
  ``unpack_weights``, and ``BitLinear``'s ``(out_features // 4, in_features)`` uint8 buffer):
  output row ``r + i * out / 4`` sits in bits ``2i, 2i + 1`` of packed row ``r``, as the digit
  ``w + 1`` (so ``0b11`` never occurs); microsoft/BitNet's ``utils/convert-hf-to-gguf-bitnet.py``
  unpacks it the same way (shifts 0, 2, 4, 6, rows concatenated, minus 1). The trits are used
  as stored, with one scale for the tensor. How the scale applies depends on the linear class
  the checkpoint's ``config.json`` names in ``quantization_config.linear_class``:
  ``"bitlinear"`` (``BitLinear.post_quant_process`` divides the product by ``weight_scale``:
  the weights are ``trits / weight_scale``), or ``"autobitlinear"`` (``AutoBitLinear`` with
  offline quantization multiplies by it: ``trits * weight_scale``). Without a ``config.json``,
  or without that key, the class is ``"bitlinear"``, the ``BitNetQuantConfig`` default.

The embedding (and untied LM head) are kept in float16 (see ``transformer.head_table``). Float
dtypes accepted: F32, F16 and BF16. ``safetensors``' NumPy API cannot return bfloat16 (NumPy
has no such dtype), so BF16 tensors are read from the file directly: their bytes are the upper
16 bits of a float32, widened by a 16-bit shift. A path may be one ``.safetensors`` file or a
directory of shards (every ``*.safetensors`` in it); ``config.json`` is looked for in the
directory (or beside the file), and where it states the architecture (``hidden_size``,
``num_hidden_layers`` ...) it must agree with the workload.

Every problem is reported at once: missing, unexpected, mis-shaped or mis-typed tensors, a
packed tensor without its scale (or the reverse), bad ``config.json`` fields.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open

from tersim.config.workload import ModelSpec
from tersim.errors import FileError, WorkloadError
from tersim.files import read_json
from tersim.functional.packing import pack_ternary
from tersim.functional.transformer import (
    BitLinear,
    LayerWeights,
    ModelConfig,
    ModelWeights,
    Norm,
    Progress,
    TernaryModel,
    head_table,
    quantize_pack,
    weight_arena,
)
from tersim.workload.formats import Formats

#: Float safetensors dtypes the loader reads.
SUPPORTED_DTYPES = ("F32", "F16", "BF16")
MAX_CONFIG_JSON_BYTES = 1 << 20  # the config.json beside a checkpoint is a few kB
#: dtype of a packed BitNet weight.
PACKED_DTYPE = "U8"
#: Values per packed byte (``transformers.integrations.bitnet.VALUES_PER_ITEM``).
VALUES_PER_BYTE = 4
#: ``quantization_config.linear_class`` values and whether ``weight_scale`` divides the product.
LINEAR_CLASSES = {"bitlinear": True, "autobitlinear": False}
#: config.json field -> the workload architecture field it must equal.
CONFIG_FIELDS = {
    "hidden_size": "hidden",
    "num_hidden_layers": "layers",
    "num_attention_heads": "heads",
    "num_key_value_heads": "kv_heads",
    "intermediate_size": "ffn",
    "vocab_size": "vocab",
    "tie_word_embeddings": "tied_embeddings",
}
_SCALE = "_scale"  # suffix: "x.weight" -> "x.weight_scale"


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
    """Every tensor a master-weight checkpoint of ``cfg`` must hold, with its HF shape (a packed
    linear has shape ``(out / 4, in)`` instead, plus its ``weight_scale``)."""
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


def _is_linear(name: str) -> bool:
    return name.endswith("_proj.weight")


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


def read_config(path: Path, spec: ModelSpec) -> tuple[bool, list[str]]:
    """``(scale_divides, problems)`` from the ``config.json`` beside the checkpoint, if any.

    ``scale_divides``: whether a packed tensor's ``weight_scale`` divides (``bitlinear``) or
    multiplies (``autobitlinear``) its product (module docstring). ``problems``: fields that
    contradict ``spec`` or are not understood, each naming the file and field.
    """
    file = (path if path.is_dir() else path.parent) / "config.json"
    if not file.is_file():
        return True, []
    try:
        doc = read_json(file, MAX_CONFIG_JSON_BYTES, "a config.json")
    except FileError as exc:
        return True, [f"{file}: not readable JSON ({exc.reason})"]
    if not isinstance(doc, dict):
        return True, [f"{file}: expected a JSON object"]
    problems = []
    arch = spec.architecture
    for key, field_name in CONFIG_FIELDS.items():
        if key in doc and doc[key] != getattr(arch, field_name):
            problems.append(
                f"{file}: {key} is {doc[key]!r} but workload '{spec.name}' has "
                f"architecture.{field_name} = {getattr(arch, field_name)!r} (expected equal: "
                "pick the workload of this checkpoint)"
            )
    quant = doc.get("quantization_config") or {}
    linear_class = quant.get("linear_class", "bitlinear") if isinstance(quant, dict) else None
    if linear_class not in LINEAR_CLASSES:
        problems.append(
            f"{file}: quantization_config.linear_class is {linear_class!r} (expected one of "
            f"{', '.join(LINEAR_CLASSES)})"
        )
        return True, problems
    return LINEAR_CLASSES[linear_class], problems


def _problems(index: dict[str, _Entry], expected: dict[str, tuple[int, ...]]) -> list[str]:
    out = []
    for name, shape in expected.items():
        e = index.get(name)
        if e is None:
            out.append(f"missing tensor '{name}' (expected shape {shape})")
            continue
        scale = index.get(name + _SCALE) if _is_linear(name) else None
        if e.dtype == PACKED_DTYPE and _is_linear(name):
            rows, cols = shape
            packed = (rows // VALUES_PER_BYTE, cols)
            if rows % VALUES_PER_BYTE or e.shape != packed:
                out.append(
                    f"tensor '{name}': packed U8 shape {e.shape} (expected {packed}: out/4 rows "
                    f"of {VALUES_PER_BYTE} 2-bit values, for a {shape} weight)"
                )
            if scale is None:
                out.append(f"missing tensor '{name}{_SCALE}' (a packed U8 weight needs its scale)")
            elif scale.shape != (1,) or scale.dtype not in SUPPORTED_DTYPES:
                out.append(
                    f"tensor '{name}{_SCALE}': {scale.dtype} of shape {scale.shape} (expected shape "
                    f"(1,), dtype one of {', '.join(SUPPORTED_DTYPES)})"
                )
            continue
        if scale is not None:
            out.append(
                f"tensor '{name}{_SCALE}': a scale beside a {e.dtype} weight (expected only "
                f"with a packed {PACKED_DTYPE} weight)"
            )
        if e.shape != shape:
            out.append(f"tensor '{name}': shape {e.shape} (expected {shape})")
        if e.dtype not in SUPPORTED_DTYPES:
            allowed = ", ".join((*SUPPORTED_DTYPES, *(["U8 (packed)"] if _is_linear(name) else [])))
            out.append(f"tensor '{name}': dtype {e.dtype} (expected one of {allowed})")
    known = set(expected) | {n + _SCALE for n in expected if _is_linear(n)}
    for name in sorted(set(index) - known):
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
    """One float tensor as a finite ``out_dtype`` array, converted ``rows`` leading rows at a
    time (so a large embedding never exists in float32 whole).

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


def unpack_hf(packed: np.ndarray, name: str) -> np.ndarray:
    """The ``(out, in)`` int8 trits of an HF-packed ``(out / 4, in)`` uint8 weight (module doc).

    Raises:
        WorkloadError: a byte holds the unused 2-bit code ``0b11``.
    """
    p = np.asarray(packed, dtype=np.uint8)
    rows = p.shape[0]
    out = np.empty((rows * VALUES_PER_BYTE, p.shape[1]), dtype=np.int8)
    for i in range(VALUES_PER_BYTE):
        digits = (p >> np.uint8(2 * i)) & np.uint8(3)  # (out / 4, in)
        if np.any(digits == 3):
            raise WorkloadError(f"tensor '{name}': packed bytes hold the unused 2-bit code 0b11")
        out[i * rows : (i + 1) * rows] = digits.astype(np.int8) - 1
    return out


def load_checkpoint(
    path: str | Path, spec: ModelSpec, formats: Formats, progress: Progress | None = None
) -> TernaryModel:
    """The model of ``spec`` with the weights of the safetensors checkpoint at ``path``.

    ``progress("weights", layer, layers)`` hears of every layer loaded.

    Raises:
        WorkloadError: the path is not a safetensors file (or directory of them); or, all
            listed at once, tensors missing, unexpected, of the wrong shape or dtype, a packed
            weight without its scale, ``config.json`` fields that contradict ``spec``; or a
            tensor with NaN/inf values or outside the float16 range (embedding, LM head), or
            packed bytes with the unused code.
    """
    cfg = ModelConfig.from_spec(spec, formats)
    p = Path(path)
    index = _index(_files(p))
    divides, problems = read_config(p, spec)
    problems += _problems(index, expected_tensors(cfg))
    if problems:
        raise WorkloadError(
            f"{p}: checkpoint does not match {spec.name}:\n  " + "\n  ".join(problems)
        )

    arena = weight_arena(cfg)

    def linear(name: str) -> BitLinear:
        lin = _linear(name)
        return BitLinear(arena.place(lin.packed), lin.scale)

    def _linear(name: str) -> BitLinear:
        e = index[name]
        if e.dtype != PACKED_DTYPE:
            w = _read(e, name)  # (N, K) HF layout
            return quantize_pack(w.T, cfg.weight_format, cfg.granularity)  # (K, N)
        with safe_open(str(e.file), framework="np") as f:
            trits = unpack_hf(f.get_tensor(name), name)  # (N, K)
        raw = float(_read(index[name + _SCALE], name + _SCALE)[0])
        if raw <= 0:
            raise WorkloadError(
                f"{e.file}: tensor '{name}{_SCALE}' is {raw} (expected a positive scale)"
            )
        scale = 1.0 / raw if divides else raw
        return BitLinear(pack_ternary(trits.T), np.full((1, 1), scale, np.float32))

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
        if progress is not None:
            progress("weights", i + 1, cfg.layers)
    embed = table("model.embed_tokens.weight")
    weights = ModelWeights(
        embed=embed,
        layers=tuple(layers),
        final_norm=norm("model.norm"),
        lm_head=head_table(embed if cfg.tied_embeddings else table("lm_head.weight")),
    )
    return TernaryModel(spec, formats, cfg, weights)
