"""Engine cache formats: bytes per token per layer for every kind each applies to, the
arithmetic written out, and the refusals (a kind a format lacks, an engine that lacks it).

Head geometry of the goldens: Llama 3 8B / Mistral 7B, 8 KV heads x 128 dims per layer;
DeepSeek V3's MLA latent, kv_lora_rank 512 + qk_rope_head_dim 64 = 576 values.
"""

from __future__ import annotations

import pytest

from kvcalc.catalog import load_model
from kvcalc.dtypes import KV_FORMATS, kv_format
from kvcalc.engines import ENGINES, engine
from kvcalc.errors import UnknownNameError, UsageError
from kvcalc.layers import ChunkedLocal, FullAttention, LatentAttention, SlidingWindow
from kvcalc.sizing import engine_groups, size

HEADS, DIM = 8, 128
PER_HEAD_LAYERS = {
    "full": FullAttention(HEADS, DIM, DIM),
    "sliding": SlidingWindow(HEADS, DIM, DIM, 4096),
    "chunked": ChunkedLocal(HEADS, DIM, DIM, 8192),
}
LATENT = LatentAttention(512, 64)


@pytest.mark.parametrize(
    ("name", "k", "v"),
    [
        # vllm/v1/kv_cache_interface.py AttentionSpec.page_size_bytes: the data plus
        # 2 x num_kv_heads x 4 B (an fp32 scale per head for K and for V) per token:
        # K = 8 x 128 x 1 B + 8 x 4 B = 1,024 + 32 = 1,056; V the same; 2,112 per layer
        ("int8_per_token_head", 1_056, 1_056),
        ("fp8_per_token_head", 1_056, 1_056),
        # two int4 per byte: 8 x 64 + 8 x 4 = 544 each side
        ("int4_per_token_head", 544, 544),
        # vllm/utils/torch_utils.py nvfp4_kv_cache_full_dim(128) = 128 // 2 + 128 // 16 = 72
        # per head per side: 8 x 72 = 576 (a 16-value block: 8 B of e2m1 + 1 fp8 scale)
        ("nvfp4", 576, 576),
        # TurboQuant slot per head: K fp8 128 B; V 4-bit 64 B + fp16 scale + fp16 zero = 68;
        # slot 196, even already: K 8 x 128 = 1,024, V 8 x 68 = 544
        ("turboquant_k8v4", 1_024, 544),
        # 4-bit K 64 B + fp16 norm 2 = 66; V 68: slot 134 -> K 528, V 544
        ("turboquant_4bit_nc", 528, 544),
        # 3-bit K ceil(128 x 3 / 8) = 48 + 2 = 50; V 68: slot 118 -> K 400, V 544
        ("turboquant_k3v4_nc", 400, 544),
        # 3-bit K 50; 3-bit V 48 + 4 = 52: slot 102 -> K 400, V 416
        ("turboquant_3bit_nc", 400, 416),
        # UltraQuant: 128 / 2 = 64 B of e2m1 + 128 / 32 = 4 ue8m0 scales = 68 per head
        ("ultraquant_4bit", 544, 544),
        # SGLang mxfp8: 1,024 fp8 values + 1,024 / 32 = 32 ue8m0 scales = 1,056 per side
        ("mxfp8", 1_056, 1_056),
        # SGLang fp4_mx_block16: 1,024 / 2 = 512 B + 1,024 / 16 = 64 scales = 576 per side
        ("fp4_mx_block16", 576, 576),
        # for comparison: fp8 (any engine) 1,024 per side, bf16 2,048
        ("fp8_e4m3", 1_024, 1_024),
        ("bf16", 2_048, 2_048),
    ],
)
@pytest.mark.parametrize("kind", sorted(PER_HEAD_LAYERS))
def test_per_head_formats_per_token_per_layer(name, k, v, kind):
    layer = PER_HEAD_LAYERS[kind]
    fmt = kv_format(name)
    assert (layer.k_token_bytes(fmt), layer.v_token_bytes(fmt)) == (k, v)


@pytest.mark.parametrize(
    ("name", "row"),
    [
        # mla_attention.py state_content_bytes: 512 fp8 NoPE + 512 / 128 = 4 fp32 scales
        # (16 B) + 64 bf16 RoPE (128 B) = 656
        ("fp8_ds_mla", 656),
        # 512 e2m1 NoPE (256 B) + 64 fp8 RoPE (64 B) + 512 / 16 = 32 fp8 scales = 352
        ("nvfp4_ds_mla", 352),
        # 576 values: bf16 1,152; fp8 576; nvfp4 36 blocks x 9 B = 324 (SGLang 0.5.8's fp4 MLA)
        ("bf16", 1_152),
        ("fp8_e4m3", 576),
        ("nvfp4", 324),
        # SGLang's block formats on a latent (kvcalc's ideal profile; SGLang's MLA pool is
        # sized in 16/8-bit only): mxfp8 576 / 32 = 18 blocks x 33 B = 594; fp4_mx_block16
        # 576 / 16 = 36 blocks x 9 B = 324
        ("mxfp8", 594),
        ("fp4_mx_block16", 324),
    ],
)
def test_latent_formats_per_token_per_layer(name, row):
    fmt = kv_format(name)
    assert (LATENT.k_token_bytes(fmt), LATENT.v_token_bytes(fmt)) == (row, 0)


def test_deepseek_v3_under_vllm_with_fp8_ds_mla():
    # 61 MLA layers x 656 B = 40,016 B per token; 4,096 tokens = 256 blocks of 16
    fmt = kv_format("fp8_ds_mla")
    vllm = engine("vllm")
    result = size(engine_groups(load_model("deepseek-v3"), None, vllm), 4096, 1, fmt, fmt, vllm)
    assert result.bytes_per_token == 61 * 656 == 40_016
    assert result.total_bytes == 61 * 4096 * 656


def test_llama3_8b_per_token_under_int8_per_token_head():
    # 32 layers x 2,112 B = 67,584 B per token (fp16: 131,072; fp8: 65,536)
    fmt = kv_format("int8_per_token_head")
    result = size(engine_groups(load_model("llama3-8b")), 1, 1, fmt, fmt)
    assert result.bytes_per_token == 32 * 2_112 == 67_584


def test_turboquant_slot_pad_goes_to_v():
    # head_dim 72, turboquant_k3v4_nc: K ceil(72 x 3 / 8) = 27 + 2 = 29; V 36 + 4 = 40;
    # slot 69 rounds up to 70, the extra byte counted in V: 41
    layer = FullAttention(1, 72, 72)
    fmt = kv_format("turboquant_k3v4_nc")
    assert (layer.k_token_bytes(fmt), layer.v_token_bytes(fmt)) == (29, 41)


def test_a_block_per_head_needs_whole_blocks():
    with pytest.raises(UsageError, match="head_dim 72 is not a multiple of 16"):
        FullAttention(8, 72, 72).k_token_bytes(kv_format("nvfp4"))


@pytest.mark.parametrize(
    ("name", "layer", "why"),
    [
        ("fp8_ds_mla", PER_HEAD_LAYERS["full"], "sparse-MLA latent row"),
        ("nvfp4_ds_mla", PER_HEAD_LAYERS["sliding"], "sparse-MLA latent row"),
        ("int8_per_token_head", LATENT, "no vLLM MLA backend"),
        ("turboquant_k8v4", LATENT, "one K and one V slot per KV head"),
    ],
)
def test_a_format_refuses_kinds_it_has_no_form_for(name, layer, why):
    with pytest.raises(UsageError, match=why):
        layer.k_token_bytes(kv_format(name))


def test_fixed_latent_rows_need_their_latent():
    with pytest.raises(UsageError, match="512 \\+ 64 latent; this model's latent is 256 \\+ 32"):
        LatentAttention(256, 32).k_token_bytes(kv_format("fp8_ds_mla"))


@pytest.mark.parametrize(
    ("engine_name", "model", "dtype", "why"),
    [
        ("vllm", "deepseek-v3", "nvfp4", "vllm has no nvfp4 cache for latent layers"),
        ("vllm", "deepseek-v3", "turboquant_k8v4", "no turboquant_k8v4 cache for latent"),
        ("sglang", "deepseek-v3", "mxfp8", "sglang has no mxfp8 cache for latent layers"),
        ("tensorrt-llm", "deepseek-v3", "nvfp4", "has no nvfp4 cache for latent layers"),
    ],
)
def test_engines_refuse_formats_per_kind(engine_name, model, dtype, why):
    chosen, fmt = engine(engine_name), kv_format(dtype)
    chosen.check_formats(fmt, fmt)  # the engine has the format, not for this kind
    with pytest.raises(UsageError, match=why):
        size(engine_groups(load_model(model), None, chosen), 16, 1, fmt, fmt, chosen)


@pytest.mark.parametrize("engine_name", sorted(ENGINES))
@pytest.mark.parametrize("dtype", sorted(KV_FORMATS))
def test_every_engine_takes_a_format_or_names_what_it_offers(engine_name, dtype):
    chosen, fmt = engine(engine_name), kv_format(dtype)
    if chosen.formats is None or dtype in chosen.formats:
        chosen.check_formats(fmt, fmt)
        return
    with pytest.raises(UsageError) as refused:
        chosen.check_formats(fmt, fmt)
    assert f"has no {dtype} K cache; it offers {', '.join(sorted(chosen.formats))}" in str(
        refused.value
    )


def test_vllm_says_what_it_offers_instead_of_int8():
    with pytest.raises(UsageError, match="int8_per_token_head is int8 plus an fp32 scale"):
        engine("vllm").check_formats(kv_format("int8"), kv_format("int8"))


@pytest.mark.parametrize(
    ("engine_name", "offered"),
    [
        ("vllm", "int8_per_token_head fp8_per_token_head nvfp4 fp8_ds_mla turboquant_k8v4"),
        ("sglang", "fp8_e4m3 fp8_e5m2 mxfp8 nvfp4 fp4_mx_block16"),
        ("tensorrt-llm", "fp16 bf16 fp8_e4m3 int8 nvfp4"),
    ],
)
def test_engines_take_their_own_spellings(engine_name, offered):
    chosen = engine(engine_name)
    for name in offered.split():
        fmt = kv_format(name)
        chosen.check_formats(fmt, fmt)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("fp8", "fp8_e4m3"),  # vLLM and TensorRT-LLM
        ("fp8_inc", "fp8_e4m3"),  # vLLM on Gaudi
        ("nvfp4_4over6", "nvfp4"),  # vLLM: same layout, other scale choice
        ("fp4_e2m1", "fp4_mx_block16"),  # SGLang 0.5.3-0.5.8
        ("bfloat16", "bf16"),
        ("float16", "fp16"),
    ],
)
def test_aliases(spelling, name):
    assert kv_format(spelling).name == name


@pytest.mark.parametrize(
    ("spelling", "why"),
    [
        ("auto", "the model's own dtype"),
        ("octave_k3v4", "rotary dims"),
        ("mxfp4", "fp4_mx_block16"),
    ],
)
def test_spellings_kvcalc_does_not_size_say_why(spelling, why):
    with pytest.raises(UsageError, match=why):
        kv_format(spelling)


def test_an_unknown_spelling_is_still_unknown():
    with pytest.raises(UnknownNameError):
        kv_format("int3_per_token_head_x")


def test_sglang_notes_its_fp4_dequant_workspace():
    fmt = kv_format("nvfp4")
    assert "dequant workspace" in engine("sglang").check_formats(fmt, fmt)[0]


def test_cli_sizes_vllm_nvfp4(run):
    # Llama 3 8B: 32 layers x 1,152 B = 36,864 B per token; 1,024 tokens = 64 blocks
    result = run("size", "llama3-8b", "--engine", "vllm", "--kv-dtype", "nvfp4", "--seq", "1024")
    assert result.exit_code == 0, result.stderr
    assert "37,748,736" in result.stdout  # 1,024 x 36,864


def test_cli_refuses_vllm_int8_with_its_alternative(run):
    result = run("size", "llama3-8b", "--engine", "vllm", "--kv-dtype", "int8")
    assert result.exit_code == 2
    assert "int8_per_token_head" in result.stderr
