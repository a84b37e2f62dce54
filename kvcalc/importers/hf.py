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
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.common import compress, slug
from kvcalc.limits import MAX_SAFETENSORS_HEADER
from kvcalc.limits import MAX_TEXT_FILE_BYTES as MAX_CONFIG_BYTES
from kvcalc.spec import ModelSpec, validate

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


def _first(config: dict[str, Any], *names: str) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return None


def _need(config: dict[str, Any], origin: str, *names: str) -> int:
    value = _first(config, *names)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        shown = " / ".join(names)
        got = "missing" if value is None else f"{value!r}"
        raise SpecError(f"{origin}: needs a positive integer {shown} ({got})")
    return value


def read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise SpecError(f"{path}: {path.stat().st_size:,} bytes is too large for a config.json")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SpecError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def kv_heads(config: dict[str, Any], heads: int) -> int:
    """KV heads under each family's rules (see the module docstring)."""
    model_type = str(config.get("model_type", ""))
    if model_type in ("falcon", "RefinedWeb", "RefinedWebModel"):
        if config.get("new_decoder_architecture"):
            return int(_first(config, "num_kv_heads", "n_head_kv") or heads)
        if config.get("multi_query", True):
            return 1  # FalconConfig's num_kv_heads would say `heads`: the 71x trap
        return heads
    value = _first(
        config, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"
    )
    if value is None:
        return heads  # no grouping field: every query head has its own K/V (MHA)
    return int(value)


def layer_kinds(config: dict[str, Any], layers: int, warnings: list[str]) -> list[dict[str, Any]]:
    """One cache group dict per layer, in order."""
    model_type = str(config.get("model_type", ""))
    window = config.get("sliding_window")
    full: dict[str, Any] = {"kind": "full", "count": 1}

    def sliding() -> dict[str, Any]:
        if not isinstance(window, int) or window <= 0:
            raise SpecError(f"layer_types asks for sliding layers but sliding_window is {window!r}")
        return {"kind": "sliding", "count": 1, "window": window}

    if config.get("kv_lora_rank"):
        latent = {
            "kind": "latent",
            "count": 1,
            "kv_lora_rank": int(config["kv_lora_rank"]),
            "qk_rope_head_dim": int(config.get("qk_rope_head_dim") or 0),
        }
        return [latent] * layers
    types = config.get("layer_types")
    if isinstance(types, list):
        if len(types) != layers:
            raise SpecError(f"layer_types has {len(types)} entries for {layers} layers")
        mapping: dict[str, Callable[[], dict[str, Any]]] = {
            "full_attention": lambda: full,
            "attention": lambda: full,
            "sliding_attention": sliding,
            "linear_attention": lambda: deltanet(config),
            "mamba": lambda: mamba(config),
        }
        out = []
        for kind in types:
            if kind not in mapping:
                warnings.append(f"layer type {kind!r} is not known: sized as full attention")
            out.append(mapping[kind]() if kind in mapping else full)
        return out
    if config.get("attn_layer_period"):  # Jamba: attention at i % period == offset
        period, offset = int(config["attn_layer_period"]), int(config.get("attn_layer_offset", 0))
        return [full if i % period == offset else mamba(config) for i in range(layers)]
    if config.get("full_attention_interval"):  # Qwen3-Next: every interval-th layer attends
        every = int(config["full_attention_interval"])
        return [full if (i + 1) % every == 0 else deltanet(config) for i in range(layers)]
    if model_type == "gemma2" and window:
        return [sliding() if i % 2 == 0 else full for i in range(layers)]
    if model_type in ("gemma3", "gemma3_text") and window:
        pattern = int(config.get("sliding_window_pattern") or 6)
        return [full if (i + 1) % pattern == 0 else sliding() for i in range(layers)]
    if window and config.get("use_sliding_window") is False:
        return [full] * layers  # Qwen2: the window is configured but switched off
    if window and config.get("use_sliding_window") and config.get("max_window_layers") is not None:
        start = int(config["max_window_layers"])  # Qwen2: layers from here on slide
        return [sliding() if i >= start else full for i in range(layers)]
    if isinstance(window, int) and window > 0:
        return [sliding()] * layers  # Mistral v0.1, Phi-3: every layer
    return [full] * layers


def mamba(config: dict[str, Any]) -> dict[str, Any]:
    hidden = int(_first(config, "hidden_size", "d_model"))
    expand = int(config.get("mamba_expand") or config.get("expand") or 2)
    return {
        "kind": "mamba",
        "count": 1,
        "d_inner": expand * hidden,
        "d_state": int(_first(config, "mamba_d_state", "state_size") or 16),
        "d_conv": int(_first(config, "mamba_d_conv", "conv_kernel") or 4),
    }


def deltanet(config: dict[str, Any]) -> dict[str, Any]:
    names = {
        "num_k_heads": "linear_num_key_heads",
        "num_v_heads": "linear_num_value_heads",
        "head_k_dim": "linear_key_head_dim",
        "head_v_dim": "linear_value_head_dim",
        "conv_kernel": "linear_conv_kernel_dim",
    }
    group: dict[str, Any] = {"kind": "gated_deltanet", "count": 1}
    for field, key in names.items():
        group[field] = _need(config, "config.json", key)
    return group


def estimate_params(config: dict[str, Any], spec: ModelSpec) -> int | None:
    """Parameters of a decoder from its config: embeddings, attention, MLP or MoE, norms.

    Covers per-head and MLA attention with gated (SwiGLU) MLPs, dense or MoE
    (Mixtral's num_local_experts, DeepSeek's n_routed_experts / n_shared_experts /
    first_k_dense_replace, Qwen's num_experts / shared_expert_intermediate_size).
    Small terms (biases other than Qwen2's QKV, extra norms) differ by family, so
    this is an estimate, within a fraction of a percent for those families; None
    for recurrent layers, whose projections vary too much to guess.
    """
    h, heads = spec.hidden_size, spec.num_query_heads
    if any(g.kind in ("mamba", "gated_deltanet") for g in spec.cache_groups()):
        return None
    vocab = config.get("vocab_size")
    inter = _first(config, "intermediate_size", "ffn_hidden_size")
    if not isinstance(vocab, int) or not isinstance(inter, int):
        return None
    total = vocab * h * (1 if config.get("tie_word_embeddings") else 2) + h
    experts = _first(config, "num_local_experts", "n_routed_experts", "num_experts") or 0
    moe_inter = config.get("moe_intermediate_size") or inter
    shared = (config.get("n_shared_experts") or 0) * moe_inter
    shared += config.get("shared_expert_intermediate_size") or 0
    dense_first = config.get("first_k_dense_replace") or 0
    kv_lora = config.get("kv_lora_rank")
    for layer in range(spec.num_layers):
        if kv_lora:
            nope, rope = (
                int(config.get("qk_nope_head_dim", 0)),
                int(config.get("qk_rope_head_dim", 0)),
            )
            v_dim, q_lora = int(config.get("v_head_dim", 0)), config.get("q_lora_rank")
            q = (
                h * q_lora + q_lora + q_lora * heads * (nope + rope)
                if q_lora
                else h * heads * (nope + rope)
            )
            attn = (
                q
                + h * (kv_lora + rope)
                + kv_lora
                + kv_lora * heads * (nope + v_dim)
                + heads * v_dim * h
            )
        else:
            k, v, kv = spec.k_head_dim, spec.resolved_v_head_dim, spec.num_kv_heads
            attn = h * heads * k + h * kv * (k + v) + heads * v * h
            if config.get("model_type") == "qwen2" or config.get("attention_bias"):
                attn += heads * k + kv * (k + v)
        if experts and layer >= dense_first:
            mlp = experts * 3 * h * moe_inter + 3 * h * shared + h * experts
        else:
            mlp = 3 * h * inter
        total += (
            attn
            + mlp
            + 2 * h
            + family_extras(config, spec, moe=bool(experts) and layer >= dense_first)
        )
    return total


def family_extras(config: dict[str, Any], spec: ModelSpec, moe: bool) -> int:
    """Small per-layer terms some families add (norms, routing bias)."""
    model_type = str(config.get("model_type", ""))
    extra = 0
    if model_type in ("gemma2", "gemma3", "gemma3_text"):
        extra += 2 * spec.hidden_size  # pre- and post-feedforward norms besides the usual two
    if model_type in ("gemma3", "gemma3_text", "qwen3", "qwen3_moe"):
        extra += 2 * spec.k_head_dim  # RMSNorm on q and k
    if model_type == "deepseek_v3" and moe:
        extra += int(config.get("n_routed_experts") or 0)  # e_score_correction_bias
    return extra


def dims_from_config(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any] | None:
    """The `dims` block (kvcalc/dims.py) a config gives: what sizes weights as loaded and
    an engine's profiling run.  None without a vocabulary and MLP width, or for recurrent
    layers (their projections vary too much).  Vision towers are left out: their dummy
    image comes from the engine's processor, not the config."""
    if any(g.kind in ("mamba", "gated_deltanet") for g in spec.cache_groups()):
        return None
    vocab = config.get("vocab_size")
    inter = _first(config, "intermediate_size", "ffn_hidden_size", "n_inner")
    if not isinstance(vocab, int) or not isinstance(inter, int) or vocab <= 0 or inter <= 0:
        return None
    model_type = str(config.get("model_type", ""))
    bias = bool(config.get("attention_bias"))
    dims: dict[str, Any] = {
        "vocab_size": vocab,
        "intermediate_size": inter,
        "tie_word_embeddings": bool(config.get("tie_word_embeddings")),
        "qkv_bias": bias or model_type in ("qwen2", "qwen2_moe") or bool(config.get("qkv_bias")),
        "o_bias": bias,
        "mlp_bias": bool(config.get("mlp_bias")),
        "qk_norm": model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"),
        "norms_per_layer": 4 if model_type in ("gemma2", "gemma3", "gemma3_text") else 2,
    }
    factor = config.get("partial_rotary_factor")
    if isinstance(factor, int | float) and 0 < factor < 1:
        dims["rotary_dim"] = int(spec.k_head_dim * factor)
    if isinstance(config.get("q_lora_rank"), int):
        dims["q_lora_rank"] = config["q_lora_rank"]
    experts = _first(config, "num_local_experts", "n_routed_experts", "num_experts")
    if isinstance(experts, int) and experts > 0:
        moe_inter = int(config.get("moe_intermediate_size") or inter)
        shared = int(config.get("n_shared_experts") or 0) * moe_inter
        shared += int(config.get("shared_expert_intermediate_size") or 0)
        dims["moe"] = {
            "num_experts": experts,
            "experts_per_token": int(config.get("num_experts_per_tok") or 1),
            "expert_intermediate_size": moe_inter,
            "shared_intermediate_size": shared,
            "shared_expert_gate": model_type == "qwen2_moe" and shared > 0,
            "dense_layers": int(config.get("first_k_dense_replace") or 0),
        }
    return dims


def safetensors_totals(directory: Path) -> tuple[int, int] | None:
    """(parameters, bytes) summed over the *.safetensors headers in a directory, or None.

    Reads only each file's header: 8 bytes of little-endian length, then that many
    bytes of JSON naming every tensor's dtype, shape and byte range.
    """
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        return None
    params = nbytes = 0
    for path in files:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) != 8:
                raise SpecError(f"{path}: too short for a safetensors header")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_SAFETENSORS_HEADER:
                raise SpecError(f"{path}: safetensors header of {length:,} bytes is too large")
            raw = handle.read(length)
        try:
            header = json.loads(raw)
            for name, tensor in header.items():
                if name == "__metadata__":
                    continue
                start, end = tensor["data_offsets"]
                count = 1
                for dim in tensor["shape"]:
                    count *= int(dim)
                params += count
                nbytes += int(end) - int(start)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"{path}: unreadable safetensors header ({exc})") from None
    return params, nbytes


def spec_from_config(config: dict[str, Any], origin: str, name: str) -> tuple[ModelSpec, list[str]]:
    """A validated spec and the warnings (assumptions) made on the way."""
    warnings: list[str] = []
    config = language_model(config)
    layers = _need(config, origin, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = _need(config, origin, "num_attention_heads", "n_head", "num_heads")
    hidden = _need(config, origin, "hidden_size", "d_model", "n_embd", "dim")
    max_context = _first(
        config, "max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"
    )
    if not isinstance(max_context, int) or max_context <= 0:
        model_type = str(config.get("model_type", ""))
        max_context = _DEFAULT_CONTEXT.get(model_type, 2048)
        warnings.append(
            f"no max_position_embeddings in the config: assumed {max_context:,} "
            f"tokens (the transformers default for {model_type or 'unknown models'})"
        )
    kinds = layer_kinds(config, layers, warnings)
    dtype = _TORCH_DTYPES.get(str(_first(config, "torch_dtype", "dtype") or "bfloat16"), "bf16")
    fields: dict[str, Any] = {
        "id": slug(name, "imported"),
        "name": name,
        "sources": [f"{origin} (imported)"],
        "weight_dtype": dtype,
        "max_context": max_context,
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": kv_heads(config, heads),
        "hidden_size": hidden,
        "layers": compress(kinds),
    }
    architecture = _GGUF_ARCHS.get(str(config.get("model_type", "")))
    if architecture is not None:
        fields["architecture"] = architecture
    head_dim = config.get("head_dim")
    if isinstance(head_dim, int) and head_dim > 0:
        fields["head_dim"] = head_dim
    elif config.get("kv_lora_rank"):  # MLA: q/k heads are nope + rope wide, v its own
        fields["head_dim"] = int(config.get("qk_nope_head_dim", 0)) + int(
            config.get("qk_rope_head_dim", 0)
        )
    if isinstance(config.get("v_head_dim"), int):
        fields["v_head_dim"] = config["v_head_dim"]
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
    if config.get("model_type") not in known:
        warnings.append(
            f"model_type {config.get('model_type')!r} is not one kvcalc knows: read as a "
            f"decoder with {layers} layers, {heads} heads, {fields['num_kv_heads']} KV heads, "
            f"head_dim {fields.get('head_dim', hidden // heads)}, max context {max_context}"
        )
    spec: ModelSpec = validate(ModelSpec, fields, origin)
    dims = dims_from_config(config, spec)
    if dims is not None:
        spec = validate(ModelSpec, {**spec.model_dump(), "dims": dims}, origin)
    return spec, warnings


def load_hf(path: Path) -> tuple[ModelSpec, list[str]]:
    """A config.json, or a model directory holding one (and maybe safetensors)."""
    config_path = path / "config.json" if path.is_dir() else path
    if path.is_dir() and not config_path.is_file():
        raise UsageError(f"{path}: directory has no config.json")
    config = read_json(config_path)
    name = str(config.get("_name_or_path") or config_path.parent.name or "imported")
    spec, warnings = spec_from_config(config, str(config_path), name)
    totals = safetensors_totals(config_path.parent)
    if totals is not None and totals[0] > 0:
        params, nbytes = totals
        spec = validate(
            ModelSpec,
            {**spec.model_dump(), "params": params, "weight_bytes": nbytes},
            str(config_path),
        )
    elif (estimate := estimate_params(language_model(config), spec)) is not None:
        spec = validate(ModelSpec, {**spec.model_dump(), "params": estimate}, str(config_path))
        warnings.append(
            f"no safetensors files beside config.json: {estimate:,} parameters estimated "
            "from the config (weights = params x the --weights format)"
        )
    else:
        warnings.append(
            "no safetensors files beside config.json and no estimate for this architecture: "
            "kvcalc fit needs --kv-only, or params in a YAML preset"
        )
    return spec, warnings
