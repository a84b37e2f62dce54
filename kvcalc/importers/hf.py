"""Hugging Face config.json (and safetensors headers beside it) -> ModelSpec.

Each config family names the same facts differently, and several carry traps
that calculators get wrong; the rules here follow each family's transformers
configuration class:

- no num_key_value_heads means MHA (Llama 2 7B);
- Falcon: `multi_query` (default true) means one KV head even though FalconConfig
  sets num_kv_heads = num_attention_heads; `new_decoder_architecture` uses num_kv_heads;
- an explicit head_dim wins over hidden_size / heads (Qwen3 32B: 128, not 80);
- Qwen2's sliding_window is ignored when use_sliding_window is false;
- layer_types lists each layer's kind; Gemma 2 alternates (even layers local) and
  Gemma 3 makes every sliding_window_pattern-th layer global when it has no list;
- kv_lora_rank marks MLA; attn_layer_period marks Jamba's Mamba/attention mix;
  full_attention_interval marks Qwen3-Next's DeltaNet/attention mix;
- multimodal configs nest the language model under text_config.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.common import compress, slug
from kvcalc.importers.naming import model_name
from kvcalc.importers.rope import rope_context
from kvcalc.importers.safetensors import Weights, local_weights
from kvcalc.importers.values import Fields, shown
from kvcalc.limits import (
    MAX_HEADS,
    MAX_LAYERS,
    MAX_TOKENS,
    MAX_WIDTH,
)
from kvcalc.limits import MAX_TEXT_FILE_BYTES as MAX_CONFIG_BYTES
from kvcalc.spec import ModelSpec, validate

_FALCON = ("falcon", "RefinedWeb", "RefinedWebModel")
# Every integer field any family's rule below reads, with its bounds (limits.py): checked
# whenever present, before anything is built (config_fields).
_KNOWN_INTEGERS = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers"), (1, MAX_LAYERS)),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads"), (1, MAX_HEADS)),
    **dict.fromkeys(
        ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"),
        (1, MAX_HEADS),
    ),
    **dict.fromkeys(("linear_num_key_heads", "linear_num_value_heads"), (1, MAX_HEADS)),
    **dict.fromkeys(
        (
            "max_position_embeddings",
            "n_positions",
            "seq_length",
            "max_sequence_length",
            "sliding_window",
        ),
        (1, MAX_TOKENS),
    ),
    **dict.fromkeys(
        (
            "hidden_size",
            "d_model",
            "n_embd",
            "dim",
            "head_dim",
            "v_head_dim",
            "kv_lora_rank",
            "q_lora_rank",
            "mamba_expand",
            "expand",
            "mamba_d_state",
            "state_size",
            "mamba_d_conv",
            "conv_kernel",
            "linear_key_head_dim",
            "linear_value_head_dim",
            "linear_conv_kernel_dim",
            "vocab_size",
            "intermediate_size",
            "ffn_hidden_size",
            "moe_intermediate_size",
        ),
        (1, MAX_WIDTH),
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "qk_rope_head_dim",
            "qk_nope_head_dim",
            "num_local_experts",
            "n_routed_experts",
            "num_experts",
            "n_shared_experts",
            "shared_expert_intermediate_size",
        ),
        (0, MAX_WIDTH),
    ),  # fmt: skip
    **dict.fromkeys(("attn_layer_period", "full_attention_interval"), (1, MAX_LAYERS)),
    **dict.fromkeys(("sliding_window_pattern",), (1, MAX_LAYERS)),
    **dict.fromkeys(
        ("attn_layer_offset", "max_window_layers", "first_k_dense_replace"), (0, MAX_LAYERS)
    ),
    "num_experts_per_tok": (1, MAX_WIDTH),
}
_KNOWN_FLAGS = (
    "use_sliding_window",
    "multi_query",
    "new_decoder_architecture",
    "tie_word_embeddings",
    "attention_bias",
    "qkv_bias",
    "mlp_bias",
)
_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "half": "fp16"}
# model_type -> the general.architecture llama.cpp's converter writes for it
# (convert_hf_to_gguf.py / conversion/*.py at llama.cpp 0c1e570): Mistral and Mixtral
# convert as llama, DeepSeek V3 and Kimi K2 as deepseek2, Phi-4 as phi3.
_GGUF_ARCHS = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "mistral3": "mistral3",
    "qwen2": "qwen2",
    "qwen2_moe": "qwen2moe",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "qwen3_next": "qwen3next",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "phi3": "phi3",
    "falcon": "falcon",
    "RefinedWeb": "falcon",
    "RefinedWebModel": "falcon",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "kimi_k2": "deepseek2",
    "jamba": "jamba",
    "gpt_oss": "gpt-oss",
    "llama4": "llama4",
    "llama4_text": "llama4",
}
# Context when config.json omits it: the transformers configuration class's default.
_DEFAULT_CONTEXT = {
    "gemma3_text": 131072,
    "gemma3": 131072,
    "falcon": 2048,
    "RefinedWeb": 2048,
    "RefinedWebModel": 2048,
}


def language_model(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal configs nest the language model under text_config; its fields win."""
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else config


def config_fields(config: dict[str, Any], origin: str) -> Fields:
    """Strict access to the language model's fields (values.py), text_config merged in.

    Every field kvcalc reads anywhere is checked here when present, whichever family's
    path then reads it: a config is accepted only if every number kvcalc knows in it is
    one ('max_window_layers: false' is an error even where no window is used).
    """
    text = config.get("text_config")
    if text is not None and not isinstance(text, dict):
        raise SpecError(f"{origin}: text_config must be an object, got {shown(text)}")
    fields = Fields(language_model(config), origin, frozenset(text or ()))
    for key, (low, high) in _KNOWN_INTEGERS.items():
        fields.whole(key, low=low, high=high)
    for key in _KNOWN_FLAGS:
        fields.flag(key, False)
    return fields


def read_json(path: Path) -> dict[str, Any]:
    """A config.json as a dict: at most MAX_CONFIG_BYTES read, any failure names the file."""
    return parse_json(files.read_bounded(path, MAX_CONFIG_BYTES, "a config.json"), str(path))


def parse_json(raw: bytes, origin: str) -> dict[str, Any]:
    """A JSON object from bytes (a file's or the Hub's); any failure names the origin."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        where = files.bad_byte(raw, exc)
        raise SpecError(f"{origin}: not valid JSON (not UTF-8: {where})") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{origin}: not valid JSON ({exc})") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (CPython's bound)
        raise SpecError(f"{origin}: not valid JSON ({str(exc).split(';')[0]})") from None
    except RecursionError:
        raise SpecError(f"{origin}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: expected a JSON object, got {type(data).__name__}")
    return data


def kv_heads(f: Fields, heads: int) -> int:
    """KV heads under each family's rules (see the module docstring)."""
    if f.text("model_type") in _FALCON:
        if f.flag("new_decoder_architecture", False):
            return f.whole("num_kv_heads", "n_head_kv", high=MAX_HEADS) or heads
        if f.flag("multi_query", True):
            return 1  # FalconConfig's num_kv_heads would say `heads`: the 71x trap
        return heads
    value = f.whole(
        "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", high=MAX_HEADS
    )
    # no grouping field: every query head has its own K/V (MHA)
    return heads if value is None else value


def layer_kinds(f: Fields, layers: int, warnings: list[str]) -> list[dict[str, Any]]:
    """One cache group dict per layer, in order.

    Each distinct kind is built once and shared by its layers, so a long pattern costs one
    reference per layer (and compress() compares kinds once each, not once per layer).
    """
    model_type = f.text("model_type") or ""
    window = f.whole("sliding_window", high=MAX_TOKENS)
    full: dict[str, Any] = {"kind": "full", "count": 1}
    built: dict[str, dict[str, Any]] = {}

    def sliding() -> dict[str, Any]:
        if window is None:
            raise f.fail("layer_types", "asks for sliding layers but there is no sliding_window")
        return built.setdefault("sliding", {"kind": "sliding", "count": 1, "window": window})

    def state(kind: str) -> dict[str, Any]:
        if kind not in built:
            built[kind] = mamba(f) if kind == "mamba" else deltanet(f)
        return built[kind]

    if f.has("kv_lora_rank"):
        latent = {
            "kind": "latent",
            "count": 1,
            "kv_lora_rank": f.whole("kv_lora_rank", high=MAX_WIDTH),
            "qk_rope_head_dim": f.whole("qk_rope_head_dim", low=0, high=MAX_WIDTH) or 0,
        }
        return [latent] * layers
    if f.has("layer_types"):
        return _listed_kinds(f, layers, warnings, full, sliding, state)
    if f.has("attn_layer_period"):  # Jamba: attention at i % period == offset
        period = f.need("attn_layer_period", high=MAX_LAYERS)
        offset = f.whole("attn_layer_offset", low=0, high=MAX_LAYERS) or 0
        return [full if i % period == offset else state("mamba") for i in range(layers)]
    if f.has("full_attention_interval"):  # Qwen3-Next: every interval-th layer attends
        every = f.need("full_attention_interval", high=MAX_LAYERS)
        return [full if (i + 1) % every == 0 else state("deltanet") for i in range(layers)]
    if model_type == "gemma2" and window:
        return [sliding() if i % 2 == 0 else full for i in range(layers)]
    if model_type in ("gemma3", "gemma3_text") and window:
        pattern = f.whole("sliding_window_pattern", high=MAX_LAYERS) or 6
        return [full if (i + 1) % pattern == 0 else sliding() for i in range(layers)]
    use_window = f.flag("use_sliding_window", True)
    if window and not use_window:
        return [full] * layers  # Qwen2: the window is configured but switched off
    if window and f.has("use_sliding_window") and f.has("max_window_layers"):
        start = f.need("max_window_layers", low=0, high=MAX_LAYERS)  # Qwen2: from here on
        return [sliding() if i >= start else full for i in range(layers)]
    if window:
        return [sliding()] * layers  # Mistral v0.1, Phi-3: every layer
    return [full] * layers


def _listed_kinds(
    f: Fields,
    layers: int,
    warnings: list[str],
    full: dict[str, Any],
    sliding: Callable[[], dict[str, Any]],
    state: Callable[[str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """layer_types: one entry per layer (Gemma 3, gpt-oss, Qwen3-Next, ...)."""
    types = f.data["layer_types"]
    if not isinstance(types, list):
        raise f.fail("layer_types", f"must be a list of layer kinds, got {shown(types)}")
    if len(types) != layers:  # checked before a single entry is looked at
        raise f.fail("layer_types", f"has {len(types):,} entries for {layers:,} layers")
    mapping: dict[str, Callable[[], dict[str, Any]]] = {
        "full_attention": lambda: full,
        "attention": lambda: full,
        "sliding_attention": sliding,
        "linear_attention": lambda: state("deltanet"),
        "mamba": lambda: state("mamba"),
    }
    try:
        names = set(types)  # at C speed; each distinct name is then looked at once
    except TypeError:  # an unhashable entry (a list, an object)
        names = {None}
    if not all(isinstance(name, str) for name in names):
        bad = next(i for i, kind in enumerate(types) if not isinstance(kind, str))
        raise f.fail("layer_types", f"entry {bad} must be a string, got {shown(types[bad])}")
    resolved = {name: mapping[name]() if name in mapping else full for name in names}
    unknown = Counter(kind for kind in types if kind not in mapping) if names - set(mapping) else {}
    for kind, count in list(unknown.items())[:3]:  # one note per kind, not one per layer
        warnings.append(
            f"layer type {kind[:40]!r} ({count:,} layers) is not known: sized as full attention"
        )
    return list(map(resolved.__getitem__, types))


def mamba(f: Fields) -> dict[str, Any]:
    hidden = f.need("hidden_size", "d_model", high=MAX_WIDTH)
    expand = f.whole("mamba_expand", "expand", high=MAX_WIDTH) or 2
    return {
        "kind": "mamba",
        "count": 1,
        "d_inner": expand * hidden,
        "d_state": f.whole("mamba_d_state", "state_size", high=MAX_WIDTH) or 16,
        "d_conv": f.whole("mamba_d_conv", "conv_kernel", high=MAX_WIDTH) or 4,
    }


def deltanet(f: Fields) -> dict[str, Any]:
    names = {
        "num_k_heads": ("linear_num_key_heads", MAX_HEADS),
        "num_v_heads": ("linear_num_value_heads", MAX_HEADS),
        "head_k_dim": ("linear_key_head_dim", MAX_WIDTH),
        "head_v_dim": ("linear_value_head_dim", MAX_WIDTH),
        "conv_kernel": ("linear_conv_kernel_dim", MAX_WIDTH),
    }
    group: dict[str, Any] = {"kind": "gated_deltanet", "count": 1}
    for field, (key, high) in names.items():
        group[field] = f.need(key, high=high)
    return group


def vocab_and_mlp(f: Fields, spec: ModelSpec) -> tuple[int, int] | None:
    """(vocabulary, MLP width) that the weight estimates start from; None without them,
    or for recurrent layers, whose projections vary too much to guess."""
    if any(g.kind in ("mamba", "gated_deltanet") for g in spec.cache_groups()):
        return None
    vocab = f.whole("vocab_size", high=MAX_WIDTH)
    inter = f.whole("intermediate_size", "ffn_hidden_size", high=MAX_WIDTH)
    return None if vocab is None or inter is None else (vocab, inter)


def estimate_params(config: dict[str, Any] | Fields, spec: ModelSpec) -> int | None:
    """Parameters of a decoder from its config: embeddings, attention, MLP or MoE, norms.

    Covers per-head and MLA attention with gated (SwiGLU) MLPs, dense or MoE
    (Mixtral's num_local_experts, DeepSeek's n_routed_experts / n_shared_experts /
    first_k_dense_replace, Qwen's num_experts / shared_expert_intermediate_size).
    Small terms (biases other than Qwen2's QKV, extra norms) differ by family, so
    this is an estimate, within a fraction of a percent for those families; None
    for recurrent layers, whose projections vary too much to guess.

    Layers are of two sorts only (dense, MoE), so the sum is two products, not a loop
    over layers: DeepSeek V3, 3 dense + 58 MoE layers.
    """
    f = config if isinstance(config, Fields) else Fields(config, "config.json")
    h, heads = spec.hidden_size, spec.num_query_heads
    widths = vocab_and_mlp(f, spec)
    if widths is None:
        return None
    vocab, inter = widths
    total = vocab * h * (1 if f.flag("tie_word_embeddings", False) else 2) + h
    experts = f.whole("num_local_experts", "n_routed_experts", "num_experts", low=0, high=MAX_WIDTH)
    experts = experts or 0
    moe_inter = f.whole("moe_intermediate_size", high=MAX_WIDTH) or inter
    shared = (f.whole("n_shared_experts", low=0, high=MAX_WIDTH) or 0) * moe_inter
    shared += f.whole("shared_expert_intermediate_size", low=0, high=MAX_WIDTH) or 0
    dense_first = f.whole("first_k_dense_replace", low=0, high=MAX_LAYERS) or 0
    kv_lora = f.whole("kv_lora_rank", high=MAX_WIDTH)
    if kv_lora:
        nope = f.whole("qk_nope_head_dim", low=0, high=MAX_WIDTH) or 0
        rope = f.whole("qk_rope_head_dim", low=0, high=MAX_WIDTH) or 0
        v_dim = f.whole("v_head_dim", low=0, high=MAX_WIDTH) or 0
        q_lora = f.whole("q_lora_rank", high=MAX_WIDTH)
        q = (
            h * q_lora + q_lora + q_lora * heads * (nope + rope)
            if q_lora
            else h * heads * (nope + rope)
        )
        kv_up = kv_lora * heads * (nope + v_dim)  # the latent back to per-head K (nope) and V
        attn = q + h * (kv_lora + rope) + kv_lora + kv_up + heads * v_dim * h
    else:
        k, v, kv = spec.k_head_dim, spec.resolved_v_head_dim, spec.num_kv_heads
        attn = h * heads * k + h * kv * (k + v) + heads * v * h
        if f.text("model_type") == "qwen2" or f.flag("attention_bias", False):
            attn += heads * k + kv * (k + v)
    moe_layers = max(spec.num_layers - dense_first, 0) if experts else 0
    dense_layers = spec.num_layers - moe_layers
    dense = attn + 3 * h * inter + 2 * h + family_extras(f, spec, moe=False)
    moe = attn + experts * 3 * h * moe_inter + 3 * h * shared + h * experts + 2 * h
    moe += family_extras(f, spec, moe=True)
    return total + dense_layers * dense + moe_layers * moe


def family_extras(f: Fields, spec: ModelSpec, moe: bool) -> int:
    """Small per-layer terms some families add (norms, routing bias)."""
    model_type = f.text("model_type") or ""
    extra = 0
    if model_type in ("gemma2", "gemma3", "gemma3_text"):
        extra += 2 * spec.hidden_size  # pre- and post-feedforward norms besides the usual two
    if model_type in ("gemma3", "gemma3_text", "qwen3", "qwen3_moe"):
        extra += 2 * spec.k_head_dim  # RMSNorm on q and k
    if model_type == "deepseek_v3" and moe:
        extra += f.whole("n_routed_experts", low=0, high=MAX_WIDTH) or 0  # e_score_correction_bias
    return extra


def dims_from_config(f: Fields, spec: ModelSpec) -> dict[str, Any] | None:
    """The `dims` block (kvcalc/dims.py) a config gives: what sizes weights as loaded and
    an engine's profiling run.  None without a vocabulary and MLP width, or for recurrent
    layers (their projections vary too much).  Vision towers are left out: their dummy
    image comes from the engine's processor, not the config.  Read through the same
    strict Fields as the rest (a multimodal config's text_config wins)."""
    widths = vocab_and_mlp(f, spec)
    if widths is None:
        return None
    vocab, inter = widths
    model_type = f.text("model_type") or ""
    bias = f.flag("attention_bias", False)
    dims: dict[str, Any] = {
        "vocab_size": vocab,
        "intermediate_size": inter,
        "tie_word_embeddings": f.flag("tie_word_embeddings", False),
        "qkv_bias": bias or model_type in ("qwen2", "qwen2_moe") or f.flag("qkv_bias", False),
        "o_bias": bias,
        "mlp_bias": f.flag("mlp_bias", False),
        "qk_norm": model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"),
        "norms_per_layer": 4 if model_type in ("gemma2", "gemma3", "gemma3_text") else 2,
    }
    factor = rotary_factor(f)
    if factor is not None and factor < 1:
        dims["rotary_dim"] = int(spec.k_head_dim * factor)
    q_lora = f.whole("q_lora_rank", high=MAX_WIDTH)
    if q_lora is not None:
        dims["q_lora_rank"] = q_lora
    experts = f.whole("num_local_experts", "n_routed_experts", "num_experts", low=0, high=MAX_WIDTH)
    if experts:
        moe_inter = f.whole("moe_intermediate_size", high=MAX_WIDTH) or inter
        shared = (f.whole("n_shared_experts", low=0, high=MAX_WIDTH) or 0) * moe_inter
        shared += f.whole("shared_expert_intermediate_size", low=0, high=MAX_WIDTH) or 0
        dims["moe"] = {
            "num_experts": experts,
            "experts_per_token": f.whole("num_experts_per_tok", high=MAX_WIDTH) or 1,
            "expert_intermediate_size": moe_inter,
            "shared_intermediate_size": shared,
            "shared_expert_gate": model_type == "qwen2_moe" and shared > 0,
            "dense_layers": f.whole("first_k_dense_replace", low=0, high=MAX_LAYERS) or 0,
        }
    return dims


def rotary_factor(f: Fields) -> float | None:
    """partial_rotary_factor: a number in (0, 1] (Phi-2: 0.4, rotary on 32 of 80 dims),
    or absent; anything else is refused like any other misread field."""
    value = f.data.get("partial_rotary_factor")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise f.fail("partial_rotary_factor", f"must be a number in (0, 1], got {shown(value)}")
    return float(value)


def spec_from_config(config: dict[str, Any], origin: str, name: str) -> tuple[ModelSpec, list[str]]:
    """A validated spec and the warnings (assumptions) made on the way.

    Every limit is checked on the value as written before anything is built from it: a
    config with num_hidden_layers 10,000,000 is refused here, not after a per-layer list.
    """
    warnings: list[str] = []
    f = config_fields(config, origin)
    layers = f.need("num_hidden_layers", "n_layer", "num_layers", "n_layers", high=MAX_LAYERS)
    heads = f.need("num_attention_heads", "n_head", "num_heads", high=MAX_HEADS)
    hidden = f.need("hidden_size", "d_model", "n_embd", "dim", high=MAX_WIDTH)
    model_type = f.text("model_type")
    max_context = f.whole(
        "max_position_embeddings",
        "n_positions",
        "seq_length",
        "max_sequence_length",
        high=MAX_TOKENS,
    )
    if max_context is None:
        max_context = _DEFAULT_CONTEXT.get(model_type or "", 2048)
        warnings.append(
            f"no max_position_embeddings in the config: assumed {max_context:,} "
            f"tokens (the transformers default for {model_type or 'unknown models'})"
        )
    max_context, extended, extended_how = rope_context(f, max_context)
    head_dim = f.whole("head_dim", high=MAX_WIDTH)
    v_head_dim = f.whole("v_head_dim", high=MAX_WIDTH)
    num_kv_heads = kv_heads(f, heads)
    kinds = layer_kinds(f, layers, warnings)
    torch_dtype = f.text("torch_dtype", "dtype") or "bfloat16"
    fields: dict[str, Any] = {
        "id": slug(name, "imported"),
        "name": name,
        "sources": [f"{origin} (imported)"],
        "weight_dtype": _TORCH_DTYPES.get(torch_dtype, "bf16"),
        "max_context": max_context,
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": num_kv_heads,
        "hidden_size": hidden,
        "layers": compress(kinds, f"{origin}: the layer pattern"),
    }
    if extended is not None:
        fields["extended_context"] = extended
        fields["extended_context_source"] = extended_how
    architecture = _GGUF_ARCHS.get(model_type or "")
    if architecture is not None:
        fields["architecture"] = architecture
    if head_dim is not None:
        fields["head_dim"] = head_dim
    elif f.has("kv_lora_rank"):  # MLA: q/k heads are nope + rope wide, v its own
        nope = f.whole("qk_nope_head_dim", low=0, high=MAX_WIDTH) or 0
        fields["head_dim"] = nope + (f.whole("qk_rope_head_dim", low=0, high=MAX_WIDTH) or 0)
    if v_head_dim is not None:
        fields["v_head_dim"] = v_head_dim
    if fields.get("head_dim") is None and hidden % heads:
        raise SpecError(
            f"{origin}: hidden_size {hidden} is not divisible by {heads} heads and no head_dim"
        )
    known = {
        "llama",
        "mistral",
        "mixtral",
        "qwen2",
        "qwen3",
        "qwen3_moe",
        "qwen2_moe",
        "gemma",
        "gemma2",
        "gemma3",
        "gemma3_text",
        "phi3",
        "falcon",
        "RefinedWeb",
        "RefinedWebModel",
        "deepseek_v2",
        "deepseek_v3",
        "jamba",
        "qwen3_next",
        "gpt_oss",
        "kimi_k2",
    }
    if model_type not in known:
        warnings.append(
            f"model_type {model_type[:40] if model_type else None!r} is not one kvcalc knows: "
            f"read as a decoder with {layers} layers, {heads} heads, {num_kv_heads} KV heads, "
            f"head_dim {fields.get('head_dim', hidden // heads)}, max context {max_context}"
        )
    spec: ModelSpec = validate(ModelSpec, fields, origin)
    dims = dims_from_config(f, spec)
    if dims is not None:
        spec = validate(ModelSpec, {**spec.model_dump(), "dims": dims}, origin)
    return spec, warnings


def load_hf(path: Path) -> tuple[ModelSpec, list[str]]:
    """A config.json, or a model directory holding one (and maybe safetensors)."""
    is_dir = files.kind(path) == "dir"
    config_path = path / "config.json" if is_dir else path
    if is_dir and files.kind(config_path) == "missing":
        raise UsageError(f"{path}: directory has no config.json")
    config = read_json(config_path)
    name = model_name(config, absolute(config_path))
    spec, warnings = spec_from_config(config, str(config_path), name)
    weights = local_weights(config_path.parent)
    return with_weights(spec, config, str(config_path), weights, warnings)


def absolute(path: Path) -> Path:
    """`path` from the root, links kept (so a cache snapshot still shows its repo)."""
    try:
        return path.absolute()
    except OSError:  # the working directory is gone: the path as given
        return path


def with_weights(
    spec: ModelSpec,
    config: dict[str, Any],
    origin: str,
    weights: Weights | None,
    warnings: list[str],
) -> tuple[ModelSpec, list[str]]:
    """The spec with the checkpoint's exact parameters and bytes where its files give
    them, else the parameters estimated from the config (said in `warnings`)."""
    fields = spec.model_dump()
    if weights is not None and weights.nbytes:
        fields["weight_bytes"] = weights.nbytes
        fields["sources"] = [*spec.sources, f"weights: {weights.how}"]
        if weights.params:
            fields["params"] = weights.params
    if fields.get("params") is None:
        estimate = estimate_params(config_fields(config, origin), spec)
        if estimate is not None:
            fields["params"] = estimate
            found = "only the index's total bytes" if weights else "no safetensors files"
            warnings.append(
                f"{found} beside config.json: {estimate:,} parameters estimated from the "
                "config (weights = params x the --weights format)"
            )
        elif weights is None:
            warnings.append(
                "no safetensors files beside config.json and no estimate for this "
                "architecture: kvcalc fit needs --kv-only, or params in a YAML preset"
            )
    return validate(ModelSpec, fields, origin), warnings
