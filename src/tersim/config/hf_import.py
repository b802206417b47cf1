"""Hugging Face ``config.json`` -> :class:`~tersim.config.workload.ModelSpec` (any model a user
brings: ``tersim import-hf``, or ``--workload config.json``).

Rules (the key-by-key table is ``docs/import-hf.md``; a test keeps the two in step):

* Every key of the file is accounted for. It either sets a tersim field (``mapped``), takes the
  family's ``transformers`` default because the file lacks it (``default``), is known not to
  change any shape or cost tersim models (``no effect``: token ids, dtypes, dropout, norm
  epsilons, RoPE scaling, ...), is honoured only approximately (``approximated``: the import
  says how, in one sentence), or is unknown to tersim (``unknown``: reported, so a user can
  check that it does not change the model's shapes).
* What tersim cannot simulate faithfully is an error, never a silent approximation: mixture
  of experts, ALiBi positions, encoder-decoder and multimodal configs, activations and model
  types it does not know. Every problem of a file is reported at once, as
  ``FILE:LINE: key: what is wrong (got X; expected Y)``.
* Attention with a sliding window shorter than the model's context is imported with
  ``max_context`` set to the window: every scenario tersim then accepts attends exactly as the
  model does (the window never binds), and the import says so.
* The workload runs in the hardware's native format (``weight_format: null``), except BitNet
  models, whose ``quantization_config`` says ternary weights and 8-bit activations.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tersim.config.enums import FFNType
from tersim.config.workload import ModelSpec, model_problems
from tersim.errors import ConfigError, FileError, Problem
from tersim.files import read_bounded

MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few kB; anything larger is not one
DEFAULT_PROMPT_TOKENS = 512  # the scenario of every shipped workload
DEFAULT_GEN_TOKENS = 128


class Treatment(StrEnum):
    """What the import did with one key of a ``config.json``."""

    MAPPED = "mapped"
    DEFAULT = "default"  # absent from the file: the transformers default of the family
    NO_EFFECT = "no effect"
    APPROXIMATED = "approximated"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class KeyUse:
    """One key of the file (or one default the family supplied) and what it became."""

    key: str
    value: Any
    treatment: Treatment
    detail: str  # the tersim field set, or why the key has no effect / how it is approximated


@dataclass(frozen=True)
class HFImport:
    """The workload a ``config.json`` describes, with the account of every key."""

    spec: ModelSpec
    model_type: str
    keys: tuple[KeyUse, ...]

    @property
    def notes(self) -> tuple[str, ...]:
        """One sentence per approximation or unknown key: what a user should know."""
        return tuple(
            f"{u.key}: {u.detail}"
            for u in self.keys
            if u.treatment in (Treatment.APPROXIMATED, Treatment.UNKNOWN)
        )

    def yaml(self) -> str:
        """The workload as YAML, loadable by ``tersim.config.load_workload``, with the notes as
        comments at the top."""
        head = [f"# {self.spec.name}: imported by `tersim import-hf` ({self.model_type})"]
        head.append("# Key-by-key mapping: docs/import-hf.md")
        if self.notes:
            head.append("# Approximations and keys tersim does not know:")
            for note in self.notes:
                lines = textwrap.wrap(note, 92)
                head += [f"#   - {lines[0]}", *(f"#     {x}" for x in lines[1:])]
        doc = self.spec.model_dump(mode="json")
        for key in ("head_dim", "rotary_dim"):  # absent means "the default", keep files short
            if doc["architecture"][key] is None:
                del doc["architecture"][key]
        if doc["quantization"]["group_size"] is None:
            del doc["quantization"]["group_size"]
        return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False)


# --- knowledge about keys -------------------------------------------------------------------

#: Keys that change no shape or cost tersim models, with the reason.
NO_EFFECT_KEYS: dict[str, str] = {
    "_name_or_path": "where the file came from",
    "architectures": "the transformers class; model_type decides the family",
    "model_type": "selects the family (see docs/import-hf.md)",
    "auto_map": "remote-code class names",
    "transformers_version": "the library version that wrote the file",
    "torch_dtype": "storage dtype of the checkpoint; tersim uses the design's formats",
    "dtype": "storage dtype of the checkpoint; tersim uses the design's formats",
    "bos_token_id": "a token id",
    "eos_token_id": "a token id",
    "pad_token_id": "a token id",
    "sep_token_id": "a token id",
    "tokenizer_class": "the tokenizer",
    "initializer_range": "training initialization",
    "rms_norm_eps": "a norm's epsilon (same operations)",
    "layer_norm_eps": "a norm's epsilon (same operations)",
    "layer_norm_epsilon": "a norm's epsilon (same operations)",
    "norm_eps": "a norm's epsilon (same operations)",
    "use_cache": "inference uses the KV cache in tersim regardless",
    "attention_dropout": "training only",
    "hidden_dropout": "training only",
    "resid_pdrop": "training only",
    "embd_pdrop": "training only",
    "attn_pdrop": "training only",
    "classifier_dropout": "training only",
    "pretraining_tp": "tensor-parallel degree used in pretraining",
    "rope_scaling": "changes RoPE's rotation angles, not its operations",
    "rope_interleaved": "pairs RoPE dimensions differently, same operations",
    "original_max_position_embeddings": "context before RoPE scaling (max_position_embeddings "
    "is the context)",
    "max_sequence_length": "LLaMA-1 duplicate of max_position_embeddings",
    "is_llama_config": "a marker",
    "use_mrope": "multimodal RoPE sections change angles only",
    "transformers.js_config": "browser runtime options",
    "output_router_logits": "training only",
    "router_aux_loss_coef": "training only",
    "rotary_scaling_factor": "changes RoPE's rotation angles, not its operations",
}

#: Keys that describe a mixture of experts (an error when they say there is more than one).
MOE_KEYS = (
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "moe_num_experts",
    "num_experts_per_tok",
    "n_shared_experts",
    "moe_intermediate_size",
)

#: Keys that say the model has biases tersim does not model (approximated when true).
BIAS_KEYS = ("attention_bias", "mlp_bias", "bias", "use_qkv_bias", "qkv_bias")

_GATED_ACTIVATIONS: dict[str, FFNType] = {
    "silu": FFNType.SWIGLU,
    "swish": FFNType.SWIGLU,
    "relu2": FFNType.RELU2_GLU,
    "gelu": FFNType.GEGLU,
    "gelu_new": FFNType.GEGLU,
    "gelu_fast": FFNType.GEGLU,
    "gelu_pytorch_tanh": FFNType.GEGLU,
}
_PLAIN_ACTIVATIONS: dict[str, FFNType] = {
    "gelu": FFNType.GELU,
    "gelu_new": FFNType.GELU,
    "gelu_fast": FFNType.GELU,
    "gelu_pytorch_tanh": FFNType.GELU,
}


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` is read: its layout and the transformers defaults of its keys."""

    label: str
    gated: bool  # FFN has gate_proj (LLaMA-like) or not (GPT-NeoX, Falcon)
    norm: str  # "rmsnorm" or "layernorm"
    defaults: Mapping[str, Any]  # key -> transformers default when the file lacks it
    notes: tuple[str, ...] = ()  # what the family does that tersim approximates
    sublayer_norm: bool = False
    bitnet: bool = False


_LLAMA_DEFAULTS = {
    "num_key_value_heads": None,  # None: as many as query heads
    "max_position_embeddings": 2048,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "head_dim": None,
    "sliding_window": None,
}

FAMILIES: dict[str, Family] = {
    "llama": Family("LLaMA 1/2/3, SmolLM", True, "rmsnorm", _LLAMA_DEFAULTS),
    "mistral": Family(
        "Mistral",
        True,
        "rmsnorm",
        {**_LLAMA_DEFAULTS, "max_position_embeddings": 131072, "sliding_window": 4096},
    ),
    "qwen2": Family(
        "Qwen2 / Qwen2.5",
        True,
        "rmsnorm",
        {
            **_LLAMA_DEFAULTS,
            "max_position_embeddings": 32768,
            "use_sliding_window": False,
            "sliding_window": 4096,
        },
        notes=(
            "q_proj, k_proj and v_proj have biases (implied by the qwen2 family): not "
            "modeled, one add per output element (1/hidden of the projections' MACs)",
        ),
    ),
    "gemma": Family(
        "Gemma",
        True,
        "rmsnorm",
        {
            **_LLAMA_DEFAULTS,
            "max_position_embeddings": 8192,
            "tie_word_embeddings": True,
            "head_dim": 256,
            "hidden_activation": None,
        },
        notes=(
            "Gemma scales the embedding by sqrt(hidden): one multiply per element of the "
            "embedding output, not modeled",
        ),
    ),
    "phi3": Family(
        "Phi-3",
        True,
        "rmsnorm",
        {**_LLAMA_DEFAULTS, "max_position_embeddings": 4096},
        notes=(
            "Phi-3 stores q/k/v as one qkv_proj and gate/up as one gate_up_proj: traced as "
            "separate GEMMs with the same shapes in all (same MACs and weight bytes)",
        ),
    ),
    "bitnet": Family(
        "BitNet b1.58 (2B4T)",
        True,
        "rmsnorm",
        {**_LLAMA_DEFAULTS, "rope_theta": 500000.0, "hidden_act": "relu2"},
        sublayer_norm=True,
        bitnet=True,
    ),
    "stablelm": Family(
        "StableLM",
        True,
        "layernorm",
        {
            **_LLAMA_DEFAULTS,
            "max_position_embeddings": 4096,
            "partial_rotary_factor": 0.25,
            "use_parallel_residual": False,
        },
    ),
    "gpt_neox": Family(
        "GPT-NeoX, Pythia, RedPajama-INCITE",
        False,
        "layernorm",
        {
            "max_position_embeddings": 2048,
            "rotary_pct": 0.25,
            "rotary_emb_base": 10000.0,
            "use_parallel_residual": True,
            "tie_word_embeddings": False,
            "hidden_act": "gelu",
            "attention_bias": True,
        },
    ),
    "falcon": Family(
        "Falcon",
        False,
        "layernorm",
        {
            "num_kv_heads": None,
            "multi_query": True,
            "new_decoder_architecture": False,
            "parallel_attn": True,
            "ffn_hidden_size": None,  # None: 4 * hidden
            "max_position_embeddings": 2048,
            "rope_theta": 10000.0,
            "tie_word_embeddings": True,
            "alibi": False,
            "bias": False,
            "activation": "gelu",
        },
    ),
}
FAMILIES["stablelm_epoch"] = FAMILIES["stablelm"]  # the remote-code name of early StableLM files
FAMILIES["RefinedWeb"] = FAMILIES["falcon"]  # the remote-code names of early Falcon files
FAMILIES["RefinedWebModel"] = FAMILIES["falcon"]

#: model_types whose names say what tersim does not model (better error than "unknown").
UNSUPPORTED_TYPES: dict[str, str] = {
    "mixtral": "a mixture of experts",
    "qwen2_moe": "a mixture of experts",
    "deepseek_v2": "a mixture of experts with latent attention",
    "deepseek_v3": "a mixture of experts with latent attention",
    "dbrx": "a mixture of experts",
    "gemma2": "alternating sliding-window layers and logit soft-capping",
    "gemma3": "alternating sliding-window layers",
    "t5": "an encoder-decoder",
    "bart": "an encoder-decoder",
    "bert": "an encoder",
    "gpt2": "learned absolute positions",
    "bloom": "ALiBi positions",
    "mpt": "ALiBi positions",
}


# --- reading ----------------------------------------------------------------------------------

_MISSING = object()


@dataclass
class _Reader:
    """Takes keys from a config, remembering what became of each, and collects problems."""

    doc: Mapping[str, Any]
    file: str
    text: str
    family: Family
    uses: dict[str, KeyUse] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    field_keys: dict[str, str] = field(default_factory=dict)  # tersim field -> HF key

    def line_of(self, key: str) -> int | None:
        m = re.search(rf'"{re.escape(key)}"\s*:', self.text)
        return self.text.count("\n", 0, m.start()) + 1 if m else None

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.line_of(key), key, message))

    def mark(self, key: str, treatment: Treatment, detail: str) -> None:
        self.uses[key] = KeyUse(key, self.doc.get(key), treatment, detail)

    def raw(self, key: str, target: str, aliases: tuple[str, ...] = ()) -> Any:
        """The value of ``key`` (or an alias) for tersim field ``target``: from the file, else
        the family default; ``_MISSING`` (and a problem) when neither has one."""
        for k in (key, *aliases):
            if k in self.doc:
                self.uses[k] = KeyUse(k, self.doc[k], Treatment.MAPPED, target)
                self.field_keys.setdefault(target, k)
                return self.doc[k]
        if key in self.family.defaults:
            value = self.family.defaults[key]
            self.uses[key] = KeyUse(key, value, Treatment.DEFAULT, target)
            self.field_keys.setdefault(target, key)
            return value
        self.problem(key, f"missing (expected the {target} of the model as an integer)")
        return _MISSING

    def integer(self, key: str, target: str, aliases: tuple[str, ...] = ()) -> int | None:
        value = self.raw(key, target, aliases)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(key, f"must be a positive integer (got {value!r}; expected e.g. 4096)")
            return None
        return value

    def number(self, key: str, target: str, aliases: tuple[str, ...] = ()) -> float | None:
        value = self.raw(key, target, aliases)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.problem(key, f"must be a positive number (got {value!r}; expected e.g. 10000.0)")
            return None
        return float(value)

    def flag(self, key: str, target: str) -> bool:
        value = self.raw(key, target)
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false (got {value!r})")
            return False
        return value


def _activation(r: _Reader) -> FFNType | None:
    fam = r.family
    if fam is FAMILIES["gemma"]:
        # Gemma runs hidden_activation (default gelu_pytorch_tanh) and ignores hidden_act
        if "hidden_act" in r.doc:
            r.mark("hidden_act", Treatment.NO_EFFECT, "Gemma uses hidden_activation instead")
        name = r.raw("hidden_activation", "architecture.ffn_type") or "gelu_pytorch_tanh"
        key = "hidden_activation"
    elif fam is FAMILIES["falcon"]:
        name, key = r.raw("activation", "architecture.ffn_type"), "activation"
    else:
        name, key = r.raw("hidden_act", "architecture.ffn_type"), "hidden_act"
    table = _GATED_ACTIVATIONS if fam.gated else _PLAIN_ACTIVATIONS
    if name not in table:
        r.problem(
            key,
            f"activation {name!r} is not modeled for {fam.label} (expected one of: "
            f"{', '.join(table)})",
        )
        return None
    return table[name]


def _attention(r: _Reader, hidden: int | None, heads: int | None) -> dict[str, Any]:
    """kv_heads, head_dim, rotary_dim and the parallel/sequential layout, per family."""
    fam = r.family
    out: dict[str, Any] = {}
    if fam is FAMILIES["falcon"]:
        new_arch = r.flag("new_decoder_architecture", "architecture.kv_heads")
        multi_query = r.flag("multi_query", "architecture.kv_heads")
        if new_arch:
            out["kv_heads"] = r.integer("num_kv_heads", "architecture.kv_heads", ("n_head_kv",))
            r.mark(
                "new_decoder_architecture",
                Treatment.APPROXIMATED,
                "the second input norm (ln_mlp) of each layer is not modeled: tersim's parallel "
                "layer has one input norm (hidden-width, a few ops per element)",
            )
        else:
            out["kv_heads"] = 1 if multi_query else heads
            if "num_kv_heads" in r.doc:
                r.mark(
                    "num_kv_heads", Treatment.NO_EFFECT, "used only with new_decoder_architecture"
                )
        out["parallel_attention"] = r.flag("parallel_attn", "architecture.parallel_attention")
        if r.raw("alibi", "(positions)"):
            r.problem("alibi", "ALiBi positions are not modeled (got true; expected false: RoPE)")
        else:
            r.mark("alibi", Treatment.NO_EFFECT, "false: RoPE positions, as tersim models")
        return out
    if fam.gated:
        kvh = r.raw("num_key_value_heads", "architecture.kv_heads")
        out["kv_heads"] = (
            heads if kvh is None else r.integer("num_key_value_heads", "architecture.kv_heads")
        )
        head_dim = r.raw("head_dim", "architecture.head_dim")
        if head_dim is not None:
            hd = r.integer("head_dim", "architecture.head_dim")
            if hd is not None and (hidden is None or heads is None or hd * heads != hidden):
                out["head_dim"] = hd
    else:
        out["kv_heads"] = heads
    if fam in (FAMILIES["gpt_neox"], FAMILIES["stablelm"]):
        key = "rotary_pct" if fam is FAMILIES["gpt_neox"] else "partial_rotary_factor"
        aliases = () if fam is FAMILIES["gpt_neox"] else ("rope_pct",)
        pct = r.number(key, "architecture.rotary_dim", aliases)
        head = out.get("head_dim") or (hidden // heads if hidden and heads else None)
        if pct is not None and head is not None:
            if pct > 1:
                r.problem(key, f"must be at most 1 (got {pct}; expected a fraction of the head)")
            elif int(head * pct) < head:
                out["rotary_dim"] = int(head * pct)  # transformers: int(head_dim * pct)
        out["parallel_attention"] = r.flag(
            "use_parallel_residual", "architecture.parallel_attention"
        )
        if out["parallel_attention"]:
            r.mark(
                "use_parallel_residual",
                Treatment.APPROXIMATED,
                "parallel attention/FFN: the FFN's own input norm (post_attention_layernorm, "
                "applied to the same input) is not modeled",
            )
    return out


def _sliding_window(r: _Reader, max_pos: int | None) -> int | None:
    """The context tersim may use: ``max_pos``, or the sliding window when shorter."""
    fam = r.family
    if "sliding_window" not in r.doc and "sliding_window" not in fam.defaults:
        return max_pos
    enabled = True
    if "use_sliding_window" in r.doc or "use_sliding_window" in fam.defaults:
        enabled = bool(r.raw("use_sliding_window", "architecture.max_context"))
    window = r.doc.get("sliding_window", fam.defaults.get("sliding_window"))
    why = ""
    if not enabled or window is None:
        why = "use_sliding_window is false" if not enabled else "null: full attention"
    elif max_pos is not None and window >= max_pos:
        why = f"{window} covers the whole context of {max_pos}"
    for key in ("sliding_window", "max_window_layers"):
        if why and key in r.doc:
            r.mark(key, Treatment.NO_EFFECT, why)
    if why:
        return max_pos
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        r.problem("sliding_window", f"must be a positive integer or null (got {window!r})")
        return max_pos
    detail = (
        f"attention is windowed to {window} positions, which tersim does not model: "
        f"max_context is set to {window} (not {max_pos}), so every scenario tersim accepts "
        "attends exactly as the model does"
    )
    r.uses["sliding_window"] = KeyUse("sliding_window", window, Treatment.APPROXIMATED, detail)
    if "max_window_layers" in r.doc:
        r.mark("max_window_layers", Treatment.APPROXIMATED, "see sliding_window")
    return window


def _features(r: _Reader) -> None:
    """Keys every family may carry: experts, biases, quantization, multimodal wrappers."""
    for key in MOE_KEYS:
        if key not in r.doc:
            continue
        value = r.doc[key]
        if value in (None, 0, 1, False):
            r.mark(key, Treatment.NO_EFFECT, f"{value!r}: a dense FFN")
        else:
            r.problem(
                key,
                f"mixture of experts is not modeled (got {value!r}; tersim simulates dense "
                "FFNs: import the dense model, or describe one expert's FFN by hand)",
            )
    for key in BIAS_KEYS:
        if key in r.doc or (key in r.family.defaults and key not in r.uses):
            value = r.doc.get(key, r.family.defaults.get(key))
            if value is True:
                r.uses[key] = KeyUse(
                    key,
                    value,
                    Treatment.APPROXIMATED,
                    "the linear layers' biases are not modeled: one add per output element "
                    "(1/K of a layer's MACs, K its input width)",
                )
            elif key in r.doc and key not in r.uses:
                r.mark(key, Treatment.NO_EFFECT, f"{value!r}: no biases")
    for key, what in (("text_config", "multimodal"), ("vision_config", "multimodal")):
        if key in r.doc:
            r.problem(key, f"a {what} config (expected the config.json of its text model)")
    if r.doc.get("is_encoder_decoder"):
        r.problem("is_encoder_decoder", "encoder-decoder models are not modeled (got true)")
    elif "is_encoder_decoder" in r.doc:
        r.mark("is_encoder_decoder", Treatment.NO_EFFECT, "false: decoder-only")
    if r.doc.get("qk_layernorm"):
        r.mark(
            "qk_layernorm",
            Treatment.APPROXIMATED,
            "the per-head norms of q and k are not modeled (a few ops per element)",
        )
    elif "qk_layernorm" in r.doc:
        r.mark("qk_layernorm", Treatment.NO_EFFECT, "false")
    if "apply_residual_connection_post_layernorm" in r.doc:
        r.mark(
            "apply_residual_connection_post_layernorm",
            Treatment.NO_EFFECT,
            "moves the residual's source, same operations",
        )


def _quantization(r: _Reader) -> dict[str, Any]:
    """BitNet: ternary weights, 8-bit activations. Others: the hardware's native format."""
    q = r.doc.get("quantization_config")
    if r.family.bitnet:
        if isinstance(q, Mapping) and q.get("quant_method", "bitnet") != "bitnet":
            r.problem(
                "quantization_config",
                f"a BitNet model quantized by {q.get('quant_method')!r} (expected 'bitnet')",
            )
        if q is not None:
            r.mark("quantization_config", Treatment.MAPPED, "quantization (ternary, 8-bit acts)")
        return {"weight_format": "ternary", "scale_granularity": "tensor", "activation_bits": 8}
    if q is not None:
        method = q.get("quant_method", "?") if isinstance(q, Mapping) else q
        r.mark(
            "quantization_config",
            Treatment.APPROXIMATED,
            f"the checkpoint's {method} quantization is not imported: the workload runs in "
            "the hardware's native format (choose another with --weight-format)",
        )
    return {}


def import_hf_dict(
    doc: Mapping[str, Any],
    file: str = "config.json",
    text: str | None = None,
    name: str | None = None,
    source: str | None = None,
) -> HFImport:
    """The workload of a parsed ``config.json`` (``text``: the file's text, for line numbers).

    Raises:
        ConfigError: every problem of the file (unsupported features, missing or malformed
            keys, shapes tersim rejects), each with the file, line and key.
    """
    text = json.dumps(doc, indent=2) if text is None else text
    model_type = doc.get("model_type")
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        if isinstance(model_type, str) and model_type in UNSUPPORTED_TYPES:
            msg = (
                f"{model_type} is {UNSUPPORTED_TYPES[model_type]}, which tersim does not model "
                f"(supported families: {_family_list()})"
            )
        else:
            msg = (
                f"unknown model family (got {model_type!r}; expected one of: {_family_list()}; "
                "describe other models as a workload YAML, see docs/import-hf.md)"
            )
        line = _Reader(doc, file, text, FAMILIES["llama"]).line_of("model_type")
        raise ConfigError([Problem(file, line or 1, "model_type", msg)])
    fam = FAMILIES[model_type]
    r = _Reader(doc, file, text, fam)
    r.mark("model_type", Treatment.NO_EFFECT, f"the {fam.label} family")

    falcon = fam is FAMILIES["falcon"]
    hidden = r.integer("hidden_size", "architecture.hidden")
    layers = r.integer("num_hidden_layers", "architecture.layers", ("n_layer",) if falcon else ())
    heads = r.integer("num_attention_heads", "architecture.heads", ("n_head",) if falcon else ())
    vocab = r.integer("vocab_size", "architecture.vocab")
    if falcon:
        ffn = r.integer("ffn_hidden_size", "architecture.ffn")
        ffn = ffn if ffn is not None or hidden is None else 4 * hidden
    else:
        ffn = r.integer("intermediate_size", "architecture.ffn")
    ffn_type = _activation(r)
    attn = _attention(r, hidden, heads)
    max_pos = r.integer("max_position_embeddings", "architecture.max_context")
    context = _sliding_window(r, max_pos)
    theta_key = "rotary_emb_base" if fam is FAMILIES["gpt_neox"] else "rope_theta"
    theta = r.number(theta_key, "architecture.rope_theta")
    tied = r.flag("tie_word_embeddings", "architecture.tied_embeddings")
    quant = _quantization(r)
    _features(r)

    for key, value in doc.items():
        if key in r.uses:
            continue
        if key in NO_EFFECT_KEYS:
            r.mark(key, Treatment.NO_EFFECT, NO_EFFECT_KEYS[key])
        else:
            r.uses[key] = KeyUse(
                key,
                value,
                Treatment.UNKNOWN,
                "not known to tersim's importer: check that it does not change the model's "
                "shapes (if it does, edit the imported YAML)",
            )
    for note in fam.notes:
        key = f"({model_type})"
        r.uses[key] = KeyUse(key, model_type, Treatment.APPROXIMATED, note)
    if r.problems:
        raise ConfigError(r.problems)

    arch: dict[str, Any] = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        **{k: v for k, v in attn.items() if k in ("kv_heads", "head_dim", "rotary_dim")},
        "ffn": ffn,
        "ffn_type": ffn_type,
        "vocab": vocab,
        "tied_embeddings": tied,
        "parallel_attention": attn.get("parallel_attention", False),
        "norm": fam.norm,
        "sublayer_norm": fam.sublayer_norm,
        "max_context": context,
        "rope_theta": theta,
    }
    scenario = _scenario(context or 1)
    data = {
        "name": name or _default_name(doc, file),
        "source": source or f"Hugging Face config.json ({file}), imported by tersim import-hf",
        "architecture": arch,
        "quantization": quant,
        "scenario": scenario,
    }
    spec = _validate(r, data)
    return HFImport(spec, model_type, tuple(r.uses.values()))


def _scenario(context: int) -> dict[str, int]:
    """The shipped default (512 + 128 tokens), shrunk to fit a shorter context."""
    if context >= DEFAULT_PROMPT_TOKENS + DEFAULT_GEN_TOKENS:
        return {"prompt_tokens": DEFAULT_PROMPT_TOKENS, "gen_tokens": DEFAULT_GEN_TOKENS}
    return {
        "prompt_tokens": max(1, context * 3 // 4),
        "gen_tokens": context - max(1, context * 3 // 4),
    }


def _validate(r: _Reader, data: dict[str, Any]) -> ModelSpec:
    """ModelSpec validation, with its problems pointed at the HF keys that set the fields."""

    def problem(dotted: str, message: str) -> Problem:
        key = r.field_keys.get(dotted, dotted)
        return Problem(r.file, r.line_of(key), key, f"{message} (as tersim's {dotted})")

    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [problem(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from None
    problems = [problem(f, m) for f, m in model_problems(spec)]
    if problems:
        raise ConfigError(problems)
    return spec


def _family_list() -> str:
    return ", ".join(sorted({k for k in FAMILIES if k.islower()}))


def _default_name(doc: Mapping[str, Any], file: str) -> str:
    """``_name_or_path``'s last part, else the folder holding ``config.json``, else the stem."""
    given = doc.get("_name_or_path")
    if isinstance(given, str) and given.strip("/"):
        return given.strip("/").split("/")[-1].lower()
    p = Path(file)
    return (p.parent.name if p.name == "config.json" and p.parent.name else p.stem).lower()


def is_hf_config(path: str | Path) -> bool:
    """Whether ``path`` names a JSON file (taken to be a Hugging Face ``config.json``)."""
    return Path(path).suffix.lower() == ".json"


def import_hf_file(
    path: str | Path, name: str | None = None, source: str | None = None
) -> HFImport:
    """Read and import a ``config.json`` (see :func:`import_hf_dict`).

    Raises:
        ConfigError: the file cannot be read, is not a JSON object, or has problems.
    """
    p = Path(path)
    try:
        text = read_bounded(p, MAX_CONFIG_BYTES, "a config.json").decode("utf-8")
    except FileError as exc:
        raise ConfigError([Problem(str(p), None, "(top level)", exc.reason)]) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [Problem(str(p), None, "(top level)", "not UTF-8 text (expected a config.json)")]
        ) from None
    duplicates: list[str] = []
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates(duplicates))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem(str(p), exc.lineno, "(top level)", f"not valid JSON ({exc.msg})")]
        ) from None
    except (ValueError, RecursionError):  # a 4,300-digit integer; nesting deeper than ~1,000
        raise ConfigError(
            [
                Problem(
                    str(p), None, "(top level)", "not usable JSON (a huge number or deep nesting)"
                )
            ]
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError(
            [Problem(str(p), 1, "(top level)", "expected a JSON object of config keys")]
        )
    if duplicates:
        raise ConfigError(
            [Problem(str(p), None, k, "duplicate key (expected each key once)") for k in duplicates]
        )
    return import_hf_dict(doc, str(p), text, name, source)


def _no_duplicates(found: list[str]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                found.append(k)
            out[k] = v
        return out

    return hook
