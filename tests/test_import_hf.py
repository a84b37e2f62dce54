"""config.json -> spec: each family's fields and traps, checked against the presets."""

import json
import struct

import pytest

from kvcalc.catalog import load_model
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.common import compress
from kvcalc.importers.hf import load_hf, spec_from_config
from kvcalc.layers import expand
from kvcalc.sizing import size
from tests.conftest import FP16

# Trimmed copies of the public config.json files (the fields that matter to the cache).
CONFIGS = {
    "llama2-7b": {
        "model_type": "llama",
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "max_position_embeddings": 4096,
        "torch_dtype": "float16",
    },
    "llama3-70b": {
        "model_type": "llama",
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "hidden_size": 8192,
        "max_position_embeddings": 8192,
    },
    "mistral-7b": {
        "model_type": "mistral",
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "sliding_window": 4096,
        "max_position_embeddings": 32768,
    },
    "falcon-7b": {
        "model_type": "falcon",
        "n_layer": 32,
        "n_head": 71,
        "hidden_size": 4544,
        "multi_query": True,
        "parallel_attn": True,
    },
    "falcon-40b": {
        "model_type": "falcon",
        "num_hidden_layers": 60,
        "num_attention_heads": 128,
        "num_kv_heads": 8,
        "hidden_size": 8192,
        "new_decoder_architecture": True,
    },
    "qwen2.5-7b": {
        "model_type": "qwen2",
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "hidden_size": 3584,
        "sliding_window": 131072,
        "use_sliding_window": False,
        "max_window_layers": 28,
        "max_position_embeddings": 131072,
    },
    "qwen3-32b": {
        "model_type": "qwen3",
        "num_hidden_layers": 64,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "hidden_size": 5120,
        "head_dim": 128,
        "max_position_embeddings": 40960,
    },
    "gemma-2-9b": {
        "model_type": "gemma2",
        "num_hidden_layers": 42,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "hidden_size": 3584,
        "head_dim": 256,
        "sliding_window": 4096,
        "max_position_embeddings": 8192,
    },
    "gemma-3-27b": {
        "model_type": "gemma3",
        "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {
            "model_type": "gemma3_text",
            "num_hidden_layers": 62,
            "num_attention_heads": 32,
            "num_key_value_heads": 16,
            "hidden_size": 5376,
            "head_dim": 128,
            "sliding_window": 1024,
        },
    },
    "deepseek-v3": {
        "model_type": "deepseek_v3",
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "hidden_size": 7168,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
        "max_position_embeddings": 163840,
    },
    "jamba-v0.1": {
        "model_type": "jamba",
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "attn_layer_period": 8,
        "attn_layer_offset": 4,
        "mamba_expand": 2,
        "mamba_d_state": 16,
        "mamba_d_conv": 4,
        "max_position_embeddings": 262144,
    },
    "qwen3-next-80b-a3b": {
        "model_type": "qwen3_next",
        "num_hidden_layers": 48,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "hidden_size": 2048,
        "full_attention_interval": 4,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "max_position_embeddings": 262144,
    },
}


def sized(spec, seq, batch=1):
    return size(expand(spec), seq, batch, FP16, FP16)


@pytest.mark.parametrize("preset", sorted(CONFIGS))
@pytest.mark.parametrize("seq", [1, 5000, 131_072])
def test_config_matches_preset(preset, seq):
    imported, _ = spec_from_config(CONFIGS[preset], "config.json", preset)
    expected = load_model(preset)
    assert sized(imported, seq).total_bytes == sized(expected, seq).total_bytes
    assert imported.max_context == expected.max_context


@pytest.mark.parametrize("preset", sorted(CONFIGS))
def test_config_names_the_gguf_architecture_of_the_preset(preset):
    # what llama.cpp's converter writes as general.architecture (Mistral -> llama, ...)
    imported, _ = spec_from_config(CONFIGS[preset], "config.json", preset)
    assert imported.architecture == load_model(preset).architecture is not None


def test_falcon_7b_is_one_kv_head_not_71():
    spec, _ = spec_from_config(CONFIGS["falcon-7b"], "config.json", "falcon-7b")
    assert spec.num_kv_heads == 1
    assert sized(spec, 1).bytes_per_token == 32 * 1 * 64 * 2 * 2 == 8192


def test_missing_context_uses_family_default_with_warning():
    spec, notes = spec_from_config(CONFIGS["falcon-7b"], "config.json", "falcon-7b")
    assert spec.max_context == 2048 and any("2,048" in n for n in notes)
    spec, notes = spec_from_config(CONFIGS["gemma-3-27b"], "config.json", "g3")
    assert spec.max_context == 131_072 and any("gemma3_text" in n for n in notes)


def test_unknown_model_type_warns_with_every_assumption():
    config = {
        "model_type": "brand_new",
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "hidden_size": 512,
        "max_position_embeddings": 1000,
    }
    spec, notes = spec_from_config(config, "config.json", "x")
    assert spec.num_kv_heads == 8
    assert any("brand_new" in n and "8 KV heads" in n and "head_dim 64" in n for n in notes)


def test_layer_types_list():
    config = {
        "model_type": "gpt_oss",
        "num_hidden_layers": 4,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "hidden_size": 2880,
        "head_dim": 64,
        "sliding_window": 128,
        "max_position_embeddings": 131072,
        "layer_types": ["sliding_attention", "full_attention"] * 2,
    }
    spec, _ = spec_from_config(config, "config.json", "oss")
    # 2 sliding layers hold 128 tokens, 2 full hold 1,000; 8 x 64 x 2 x 2 = 2,048 B per layer-token
    assert sized(spec, 1000).total_bytes == 2048 * (2 * 128 + 2 * 1000)


def test_compress_finds_the_period():
    full, slide = {"kind": "full", "count": 1}, {"kind": "sliding", "count": 1, "window": 8}
    assert compress([slide, full] * 21) == [
        {"kind": "repeat", "times": 21, "layers": [slide, full]}
    ]
    assert compress([full] * 5) == [{"kind": "full", "count": 5}]
    g3 = ([slide] * 5 + [full]) * 10 + [slide] * 2
    assert compress(g3) == [
        {"kind": "repeat", "times": 10, "layers": [{**slide, "count": 5}, full]},
        {**slide, "count": 2},
    ]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num_attention_heads": 8, "hidden_size": 512}, "num_hidden_layers"),
        (
            {"num_hidden_layers": 2, "num_attention_heads": 0, "hidden_size": 512},
            "num_attention_heads",
        ),
        (
            {"num_hidden_layers": 2, "num_attention_heads": "8", "hidden_size": 512},
            "positive integer",
        ),
        (
            {
                "num_hidden_layers": 2,
                "num_attention_heads": 6,
                "num_key_value_heads": 4,
                "hidden_size": 60,
            },
            "not divisible by 4 KV heads",
        ),
        ({"num_hidden_layers": 2, "num_attention_heads": 7, "hidden_size": 60}, "no head_dim"),
        (
            {
                "num_hidden_layers": 2,
                "num_attention_heads": 8,
                "hidden_size": 512,
                "layer_types": ["full_attention"],
            },
            "1 entries for 2 layers",
        ),
        (
            {
                "model_type": "qwen3_next",
                "num_hidden_layers": 4,
                "num_attention_heads": 8,
                "hidden_size": 512,
                "full_attention_interval": 4,
            },
            "linear_num_key_heads",
        ),
    ],
)
def test_bad_configs(config, message):
    with pytest.raises(SpecError, match=message):
        spec_from_config(config, "config.json", "x")


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, (dtype, shape, nbytes) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def test_model_directory_with_safetensors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CONFIGS["llama3-70b"]))
    write_safetensors(
        tmp_path / "model-00001-of-00002.safetensors",
        {"a": ("BF16", [4, 8], 64), "b": ("BF16", [16], 32)},
    )
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"c": ("F32", [2, 2], 16)})
    spec, notes = load_hf(tmp_path)
    # 4 x 8 + 16 + 2 x 2 = 52 parameters; 64 + 32 + 16 = 112 bytes of tensor data
    assert (spec.params, spec.weight_bytes) == (52, 112)
    assert not any("safetensors" in n for n in notes)


def test_directory_without_weights_or_sizes_warns(tmp_path):
    # no vocab_size / intermediate_size in this trimmed config: nothing to estimate from
    (tmp_path / "config.json").write_text(json.dumps(CONFIGS["llama2-7b"]))
    spec, notes = load_hf(tmp_path)
    assert spec.params is None and any("no estimate" in n for n in notes)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    ],
)
def test_bad_json_files(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=message):
        load_hf(path)


def test_bad_safetensors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CONFIGS["llama2-7b"]))
    (tmp_path / "model.safetensors").write_bytes(b"\x01")
    with pytest.raises(SpecError, match="too short"):
        load_hf(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 2**40))
    with pytest.raises(SpecError, match="too large"):
        load_hf(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 5) + b"nope!")
    with pytest.raises(SpecError, match="unreadable safetensors header"):
        load_hf(tmp_path)


def test_directory_without_config(tmp_path):
    with pytest.raises(UsageError, match="has no config.json"):
        load_hf(tmp_path)


def test_cli_size_import_and_fit(run, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CONFIGS["falcon-7b"]))
    result = run("size", str(tmp_path / "config.json"), "--seq", "100", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total_bytes"] == 8192 * 100
    assert "2,048 tokens" in result.stderr  # the assumption is said, on stderr
    out = run("import", str(tmp_path))
    assert out.exit_code == 0 and "num_kv_heads: 1" in out.stdout
    # the printed YAML loads back as a preset with the same bytes
    (tmp_path / "falcon.yaml").write_text(out.stdout)
    again = run("size", str(tmp_path / "falcon.yaml"), "--seq", "100", "--json")
    assert json.loads(again.stdout)["total_bytes"] == 8192 * 100
    # no weights known: fit says what to do instead of guessing
    fit = run("fit", str(tmp_path), "--mem", "24GB")
    assert fit.exit_code == 2 and "--kv-only" in fit.stderr
    assert run("fit", str(tmp_path), "--mem", "24GB", "--kv-only", "--json").exit_code == 0


def test_cli_bad_inputs(run, tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    for args in (
        ["size", str(tmp_path)],
        ["import", str(tmp_path / "config.json")],
        ["import", str(tmp_path / "nope")],
        ["size", "meta-llama/Llama-9-1T"],
    ):
        result = run(*args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, args
        assert "Traceback" not in result.stderr
    assert "did you mean" in run("size", "meta-llama/Llama-9-1T").stderr


# Fields the parameter estimate reads, added to the trimmed configs above.
SIZES = {
    "llama2-7b": {"intermediate_size": 11008, "vocab_size": 32000},
    "llama3-70b": {"intermediate_size": 28672, "vocab_size": 128256},
    "qwen2.5-7b": {"intermediate_size": 18944, "vocab_size": 152064},
    "qwen3-32b": {"intermediate_size": 25600, "vocab_size": 151936},
    "gemma-2-9b": {"intermediate_size": 14336, "vocab_size": 256000, "tie_word_embeddings": True},
    "deepseek-v3": {
        "intermediate_size": 18432,
        "moe_intermediate_size": 2048,
        "n_routed_experts": 256,
        "n_shared_experts": 1,
        "first_k_dense_replace": 3,
        "q_lora_rank": 1536,
        "vocab_size": 129280,
    },
    "gemma-3-27b": {"intermediate_size": 21504, "vocab_size": 262208, "tie_word_embeddings": True},
}
MIXTRAL = {
    "model_type": "mixtral",
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "vocab_size": 32000,
    "num_local_experts": 8,
    "max_position_embeddings": 32768,
}


@pytest.mark.parametrize("preset", sorted(SIZES) + ["mixtral-8x7b"])
def test_parameter_estimate_matches_the_exact_preset(preset, tmp_path):
    from kvcalc.importers.hf import estimate_params, language_model

    config = MIXTRAL if preset == "mixtral-8x7b" else {**CONFIGS[preset], **SIZES[preset]}
    if preset == "gemma-3-27b":  # these fields live in text_config
        config = {**config, "text_config": {**config["text_config"], **SIZES[preset]}}
    spec, _ = spec_from_config(config, "config.json", preset)
    expected = load_model(preset).params
    if preset == "gemma-3-27b":  # the estimate is the text stack; the preset adds SigLIP
        # SigLIP tower: patch embedding 3 x 14 x 14 x 1,152 + 1,152, positions 4,096 x
        # 1,152, 27 layers x (4 x (1,152^2 + 1,152) attention + 1,152 x 4,304 + 4,304 +
        # 4,304 x 1,152 + 1,152 MLP + 4 x 1,152 norms), post-norm 2 x 1,152 = 416,866,032;
        # projector 1,152 x 5,376 + 1,152 = 6,194,304
        expected -= 416_866_032 + 6_194_304
    assert estimate_params(language_model(config), spec) == expected


def test_directory_without_weights_gets_an_estimate(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(MIXTRAL))
    spec, notes = load_hf(tmp_path)
    assert spec.params == 46_702_792_704 and spec.weight_bytes is None
    assert any("estimated from the config" in n for n in notes)


def test_no_estimate_for_recurrent_layers(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({**CONFIGS["jamba-v0.1"], "vocab_size": 65536, "intermediate_size": 14336})
    )
    spec, notes = load_hf(tmp_path)
    assert spec.params is None and any("no estimate" in n for n in notes)


@pytest.mark.parametrize("preset", ["llama3-70b", "qwen2.5-7b", "gemma-2-9b", "qwen3-32b"])
def test_imported_dims_load_the_presets_parameters(preset):
    # weights.py on the dims a config gives, less the RoPE table and vocab padding, is
    # 2 B x the preset's exact params: the importer reads what weights need
    from kvcalc.dtypes import weight_format
    from kvcalc.weights import loaded_weights, padded_vocab

    config = {**CONFIGS[preset], **SIZES[preset]}
    spec, _ = spec_from_config(config, "config.json", preset)
    dims = spec.dims
    assert dims is not None and dims.vocab_size == SIZES[preset]["vocab_size"]
    stage = loaded_weights(spec, dims, weight_format("bf16"), 1, 1)[0]
    pad = (padded_vocab(dims.vocab_size) - dims.vocab_size) * spec.hidden_size
    pad *= 1 if dims.tie_word_embeddings else 2
    assert (stage.total_bytes - stage.rope_bytes) // 2 - pad == load_model(preset).params


def test_recurrent_configs_get_no_dims():
    spec, _ = spec_from_config(
        {**CONFIGS["jamba-v0.1"], "vocab_size": 65536, "intermediate_size": 14336},
        "config.json",
        "jamba",
    )
    assert spec.dims is None


def test_dims_come_from_text_config_of_a_multimodal_config():
    # Gemma 3 27B nests its language model: the dims are the text stack's, not absent
    config = {**CONFIGS["gemma-3-27b"]}
    config["text_config"] = {**config["text_config"], **SIZES["gemma-3-27b"]}
    spec, _ = spec_from_config(config, "config.json", "gemma-3-27b")
    assert spec.dims is not None
    assert spec.dims.vocab_size == SIZES["gemma-3-27b"]["vocab_size"]


@pytest.mark.parametrize("factor", [0, 1.5, "0.4", True, float("nan")])
def test_a_misread_rotary_factor_is_refused(factor):
    config = {**CONFIGS["qwen2.5-7b"], **SIZES["qwen2.5-7b"], "partial_rotary_factor": factor}
    with pytest.raises(SpecError, match="partial_rotary_factor must be a number in"):
        spec_from_config(config, "config.json", "x")


def test_a_partial_rotary_factor_sizes_the_rope_table():
    config = {**CONFIGS["qwen2.5-7b"], **SIZES["qwen2.5-7b"], "partial_rotary_factor": 0.5}
    spec, _ = spec_from_config(config, "config.json", "x")
    assert spec.dims is not None and spec.dims.rotary_dim == spec.k_head_dim // 2
