"""Hugging Face config.json import: shipped shapes against the published configs and parameter
counts, every key accounted for, unsupported features as errors.

The configs in tests/data/hf_configs/ are the published files (see its README for where each
came from). Parameter counts are checked with an oracle written here from the transformers
module layouts (every weight, bias and norm of the HF model), not from tersim's code, against
the counts the model publishers state.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_workload
from tersim.config.hf_import import (
    BIAS_KEYS,
    FAMILIES,
    MOE_KEYS,
    NO_EFFECT_KEYS,
    Treatment,
    import_hf_dict,
    import_hf_file,
)
from tersim.errors import ConfigError
from tersim.workload.footprint import linear_shapes

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "tests" / "data" / "hf_configs"

# config file -> shipped workload
SHIPPED = {
    "meta-llama-3-8b": "llama3-8b",
    "smollm-135m": "smollm-135m",
    "smollm-360m": "smollm-360m",
    "smollm-1.7b": "smollm-1.7b",
    "stablelm-3b-4e1t": "stablelm-3b-4e1t",
    "redpajama-incite-base-3b-v1": "redpajama-incite-3b",
    "mistral-7b-v0.1": "mistral-7b",
    "qwen2.5-0.5b": "qwen2.5-0.5b",
    "qwen2.5-1.5b": "qwen2.5-1.5b",
    "qwen2.5-7b": "qwen2.5-7b",
    # written by hand before the importer existed: the importer must agree with them
    "llama-2-7b-hf": "llama2-7b",
    "falcon-7b": "falcon-7b",
    "bitnet-b1.58-2b4t": "bitnet-b1.58-2b4t",
}


def _cfg(name: str) -> dict[str, Any]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.mark.parametrize("config", sorted(SHIPPED), ids=sorted(SHIPPED))
def test_shipped_workload_is_its_imported_config(config: str) -> None:
    shipped = load_workload(ROOT / "workloads" / f"{SHIPPED[config]}.yaml")
    imported = import_hf_file(CONFIGS / f"{config}.json").spec
    assert imported.architecture == shipped.architecture
    assert imported.quantization == shipped.quantization
    assert imported.scenario == shipped.scenario


# --- parameter counts: an oracle from the HF module layouts -----------------------------------


def hf_param_count(cfg: dict[str, Any]) -> dict[str, int]:
    """Parameters of the HF model a config describes, by kind: ``linear`` (weight matrices of
    the decoder layers), ``embedding`` (input table, plus the LM head when untied), ``bias``
    and ``norm`` (gains and LayerNorm biases). Written from the transformers modules."""
    t = cfg["model_type"]
    h, layers, heads = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    vocab = cfg["vocab_size"]
    if t == "gpt_neox":
        ffn = cfg["intermediate_size"]
        linear = layers * (3 * h * h + h * h + 2 * h * ffn)  # query_key_value, dense, mlp
        bias = layers * (3 * h + h + ffn + h)
        norm = (layers * 2 + 1) * 2 * h  # input and post-attention LayerNorm, final; w + b
        emb = 2 * vocab * h  # embed_in and embed_out (never tied in these files)
        return {"linear": linear, "embedding": emb, "bias": bias, "norm": norm}
    kv = cfg.get("num_key_value_heads", heads)
    hd = cfg.get("head_dim", h // heads)
    ffn = cfg["intermediate_size"]
    linear = layers * (h * heads * hd * 2 + 2 * h * kv * hd + 3 * h * ffn)
    bias = layers * (heads * hd + 2 * kv * hd) if t == "qwen2" else 0
    per_norm = 2 * h if t == "stablelm" else h  # LayerNorm has a bias
    norm = (2 * layers + 1) * per_norm
    tied = cfg.get("tie_word_embeddings", t == "gemma")
    emb = vocab * h * (1 if tied else 2)
    return {"linear": linear, "embedding": emb, "bias": bias, "norm": norm}


# (config, published figure, what it counts, digits it is given to, source)
PUBLISHED = [
    ("meta-llama-3-8b", 8.03e9, "total", 3, "HF safetensors metadata, Meta-Llama-3-8B: 8.03B"),
    ("mistral-7b-v0.1", 7.24e9, "total", 3, "HF safetensors metadata, Mistral-7B-v0.1: 7.24B"),
    ("smollm-135m", 135e6, "total", 3, "HuggingFaceTB/SmolLM-135M model card: 135M"),
    (
        "smollm-360m",
        361_821_120,
        "total",
        9,
        "transformers count of HuggingFaceTB/SmolLM2-360M (same shapes): 361,821,120",
    ),
    ("smollm-1.7b", 1.71e9, "total", 3, "HF safetensors metadata, SmolLM-1.7B: 1.71B"),
    (
        "stablelm-3b-4e1t",
        2_795_443_200,
        "total",
        10,
        "stablelm-3b-4e1t model card, architecture table: 2,795,443,200",
    ),
    ("redpajama-incite-base-3b-v1", 2.8e9, "total", 2, "RedPajama-INCITE-Base-3B-v1 card: 2.8B"),
    ("qwen2.5-0.5b", 0.49e9, "total", 2, "Qwen2.5-0.5B model card: 0.49B"),
    ("qwen2.5-0.5b", 0.36e9, "non-embedding", 2, "Qwen2.5-0.5B model card: 0.36B"),
    ("qwen2.5-1.5b", 1.54e9, "total", 3, "Qwen2.5-1.5B model card: 1.54B"),
    ("qwen2.5-1.5b", 1.31e9, "non-embedding", 3, "Qwen2.5-1.5B model card: 1.31B"),
    ("qwen2.5-7b", 7.61e9, "total", 3, "Qwen2.5-7B model card: 7.61B"),
    ("qwen2.5-7b", 6.53e9, "non-embedding", 3, "Qwen2.5-7B model card: 6.53B"),
    ("llama-2-7b-hf", 6.74e9, "total", 3, "HF safetensors metadata, Llama-2-7b-hf: 6.74B"),
    ("pythia-410m", 405_334_016, "total", 9, "Pythia suite (arXiv 2304.01373), 410M: 405,334,016"),
    (
        "gemma-7b",
        7_751_248_896,
        "non-embedding",
        10,
        "Gemma report (arXiv 2403.08295) Table 2: 7,751,248,896",
    ),
    (
        "gemma-2b",
        1_981_884_416,
        "non-embedding",
        10,
        "Gemma report (arXiv 2403.08295) Table 2: 1,981,884,416",
    ),
    ("phi-3-mini-4k-instruct", 3.8e9, "total", 2, "Phi-3 report (arXiv 2404.14219): 3.8B"),
]


def _last_digit(x: float, digits: int) -> float:
    """One unit in the last of ``digits`` significant digits of ``x``."""
    return 10.0 ** (math.floor(math.log10(x)) - digits + 1)


@pytest.mark.parametrize(
    ("config", "published", "what", "digits", "source"),
    PUBLISHED,
    ids=[f"{c}-{w}" for c, _, w, _, _ in PUBLISHED],
)
def test_configs_reproduce_published_parameter_counts(
    config: str, published: float, what: str, digits: int, source: str
) -> None:
    n = hf_param_count(_cfg(config))
    total = sum(n.values())
    got = total if what == "total" else total - n["embedding"]
    # within one unit of the last digit published (publishers round or truncate)
    assert abs(got - published) < _last_digit(published, digits), (got, source)


@pytest.mark.parametrize(
    "config",
    [
        p.stem
        for p in sorted(CONFIGS.glob("*.json"))
        if p.stem not in ("mixtral-8x7b-v0.1", "falcon-7b")
    ],
)
def test_imported_shapes_hold_every_weight_matrix(config: str) -> None:
    """tersim's linear layers and embeddings are the HF model's, to the parameter (Falcon's
    fused multi-query projections are checked by hand in test_falcon_shapes)."""
    cfg = _cfg(config)
    spec = import_hf_file(CONFIGS / f"{config}.json").spec
    oracle = hf_param_count(cfg)
    a = spec.architecture
    assert sum(k * n for k, n in linear_shapes(spec)) == oracle["linear"]
    assert a.vocab * a.hidden * (1 if a.tied_embeddings else 2) == oracle["embedding"]


def test_falcon_shapes() -> None:
    """falcon-7b: one 4544 x (4544 + 2 x 64) query_key_value (71 query heads, one KV head),
    a 4544 x 4544 dense, and a 4544 -> 18176 -> 4544 MLP."""
    spec = import_hf_file(CONFIGS / "falcon-7b.json").spec
    per_layer = 4544 * (4544 + 2 * 64) + 4544 * 4544 + 2 * 4544 * 18176
    assert sum(k * n for k, n in linear_shapes(spec)) == 32 * per_layer


def test_head_dim_wider_than_hidden_over_heads_reaches_the_trace() -> None:
    """Gemma-7B: 16 heads of 256 over a 3072-wide model. q_proj is 3072 -> 4096, o_proj 4096 ->
    3072, RoPE rotates (16 + 16) x 256 elements per token, K and V cache 16 x 256 per token."""
    from tersim.config import PEKind
    from tersim.workload.formats import resolve_formats
    from tersim.workload.ops import TensorKind
    from tersim.workload.trace import OpKind, Phase, trace_shapes

    spec = import_hf_file(CONFIGS / "gemma-7b.json").spec
    assert (spec.architecture.head_dim, spec.architecture.ffn_type) == (256, "geglu")
    wl = trace_shapes(spec, resolve_formats(spec, PEKind.FP16_MAC), (Phase.PREFILL,), 8, 0, 1)
    op = {o.name: o for o in wl.ops if o.layer == 0}
    assert (op["L0.q_proj"].n, op["L0.q_proj"].k) == (4096, 3072)
    assert (op["L0.o_proj"].n, op["L0.o_proj"].k) == (3072, 4096)
    assert op["L0.rope"].vector_ops == 8 * (16 + 16) * 256 * 3
    assert op["L0.rope"].write_bytes(TensorKind.KV_CACHE) == 8 * 16 * 256 * 2  # rotated keys
    qk = op["L0.attn_qk"]
    assert (qk.k, qk.count, qk.read_bytes(TensorKind.KV_CACHE)) == (256, 16, 16 * 8 * 256 * 2)
    assert op["L0.act"].kind is OpKind.ACTIVATION and op["L0.act"].vector_ops == 8 * 24576 * 9


def test_partial_rotary_reaches_the_trace() -> None:
    """StableLM-3B rotates 25% of each 80-wide head: 20 dims x (32 + 32) heads per token."""
    from tersim.config import PEKind
    from tersim.workload.formats import resolve_formats
    from tersim.workload.trace import Phase, trace_shapes

    spec = load_workload(ROOT / "workloads" / "stablelm-3b-4e1t.yaml")
    wl = trace_shapes(spec, resolve_formats(spec, PEKind.FP16_MAC), (Phase.PREFILL,), 4, 0, 1)
    rope = next(o for o in wl.ops if o.name == "L0.rope")
    assert rope.vector_ops == 4 * 64 * 20 * 3


# --- every key accounted for ---------------------------------------------------------------


@pytest.mark.parametrize("config", sorted(SHIPPED))
def test_every_key_is_accounted_for(config: str) -> None:
    cfg = _cfg(config)
    imp = import_hf_file(CONFIGS / f"{config}.json")
    used = {u.key for u in imp.keys}
    assert set(cfg) <= used
    assert not [u for u in imp.keys if u.treatment is Treatment.UNKNOWN]


def test_notes_say_what_is_approximated() -> None:
    mistral = import_hf_file(CONFIGS / "mistral-7b-v0.1.json")
    assert mistral.spec.architecture.max_context == 4096  # the window, not 32768
    assert any(n.startswith("sliding_window:") and "4096" in n for n in mistral.notes)
    qwen = import_hf_file(CONFIGS / "qwen2.5-7b.json")
    assert any("biases" in n for n in qwen.notes)  # implied by the family, said anyway
    assert qwen.spec.architecture.max_context == 131072  # use_sliding_window: false
    phi = import_hf_file(CONFIGS / "phi-3-mini-4k-instruct.json")
    assert phi.spec.architecture.max_context == 2047
    assert "sliding_window" in phi.yaml() and "qkv_proj" in phi.yaml()
    pythia = import_hf_file(CONFIGS / "pythia-410m.json")
    assert pythia.spec.architecture.rotary_dim == 16 and pythia.spec.architecture.parallel_attention


def test_unknown_keys_are_reported_not_ignored() -> None:
    cfg = _cfg("smollm-135m") | {"attn_logit_softcapping": 50.0}
    imp = import_hf_dict(cfg)
    assert [u.key for u in imp.keys if u.treatment is Treatment.UNKNOWN] == [
        "attn_logit_softcapping"
    ]
    assert any(n.startswith("attn_logit_softcapping:") for n in imp.notes)


def test_bitnet_config_runs_ternary() -> None:
    q = import_hf_file(CONFIGS / "bitnet-b1.58-2b4t.json").spec.quantization
    assert (q.weight_format, q.activation_bits) == ("ternary", 8)
    llama = import_hf_file(CONFIGS / "meta-llama-3-8b.json").spec.quantization
    assert llama.weight_format is None  # the hardware's native format


# --- unsupported features are errors ---------------------------------------------------------


def _problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        import_hf_dict(doc, file="c.json")
    return [str(p) for p in exc.value.problems]


def test_mixture_of_experts_is_an_error() -> None:
    with pytest.raises(ConfigError, match="mixture of experts") as exc:
        import_hf_file(CONFIGS / "mixtral-8x7b-v0.1.json")
    p = exc.value.problems[0]
    assert p.field == "model_type" and p.line is not None
    # the same experts inside a family tersim knows: an error on the key itself
    probs = _problems(_cfg("smollm-135m") | {"num_local_experts": 8})
    assert len(probs) == 1 and "num_local_experts" in probs[0] and "mixture of experts" in probs[0]


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    cfg = _cfg("falcon-7b")
    cfg["alibi"] = True
    cfg["activation"] = "relu"
    del cfg["hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    with pytest.raises(ConfigError) as exc:
        import_hf_file(path)
    fields = {p.field for p in exc.value.problems}
    assert fields == {"alibi", "activation", "hidden_size"}
    lines = path.read_text().splitlines()
    for p in exc.value.problems:
        if p.field != "hidden_size":  # a missing key has no line
            assert f'"{p.field}"' in lines[p.line - 1]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"model_type": "gpt2"}, "learned absolute positions"),
        ({"model_type": "my_model"}, "unknown model family"),
        ({"hidden_act": "tanh"}, "activation 'tanh' is not modeled"),
        ({"num_hidden_layers": 0}, "positive integer"),
        ({"num_key_value_heads": 2}, "heads must be a multiple of kv_heads"),
        ({"text_config": {}}, "multimodal"),
    ],
)
def test_bad_configs_say_what_to_change(change: dict[str, Any], needle: str) -> None:
    probs = _problems(_cfg("smollm-135m") | change)
    assert any(needle in p for p in probs), probs


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "model_type": "llama",\n  "hidden_size": ,\n}')
    with pytest.raises(ConfigError, match=r"bad.json:3: \(top level\): not valid JSON"):
        import_hf_file(bad)
    dup = tmp_path / "dup.json"
    dup.write_text('{"model_type": "llama", "model_type": "llama"}')
    with pytest.raises(ConfigError, match="duplicate key"):
        import_hf_file(dup)
    with pytest.raises(ConfigError, match="cannot read"):
        import_hf_file(tmp_path / "missing.json")


# --- the mapping is documented key by key ------------------------------------------------------


def test_every_key_the_importer_knows_is_documented() -> None:
    doc = (ROOT / "docs" / "import-hf.md").read_text()
    keys = set(NO_EFFECT_KEYS) | set(MOE_KEYS) | set(BIAS_KEYS)
    for fam in FAMILIES.values():
        keys |= set(fam.defaults)
    for cfg in CONFIGS.glob("*.json"):
        keys |= set(json.loads(cfg.read_text()))
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, missing
    for model_type in FAMILIES:
        assert f"`{model_type}`" in doc, model_type


# --- the command line ----------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_import_hf_writes_a_loadable_workload(tmp_path: Path) -> None:
    out = tmp_path / "mistral.yaml"
    res = _cli("import-hf", str(CONFIGS / "mistral-7b-v0.1.json"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "sliding_window" in res.stderr  # the note, on stderr
    spec = load_workload(out)
    assert spec.name == "mistral" and spec.architecture.max_context == 4096
    before = out.read_text()
    again = _cli("import-hf", str(CONFIGS / "qwen2.5-7b.json"), "-o", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert out.read_text() == before  # nothing already written is lost
    bad = _cli("import-hf", str(CONFIGS / "mixtral-8x7b-v0.1.json"), "-o", str(tmp_path / "m.yaml"))
    assert bad.returncode == 2 and "mixture of experts" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "m.yaml").exists()


def test_cli_run_accepts_a_config_json_as_workload() -> None:
    res = _cli(
        "run",
        "--hw",
        "ternary-8x8-tiny",
        "--baseline",
        "none",
        "--workload",
        str(CONFIGS / "smollm-135m.json"),
        "--phase",
        "prefill",
        "--prompt-tokens",
        "8",
    )
    assert res.returncode == 0, res.stderr
    assert "smollm-135m" in res.stdout and "time to first token" in res.stdout
