import pytest

from kvcalc.catalog import all_models, configs_dir, load_model, preset_ids
from kvcalc.errors import SpecError, UnknownNameError, UsageError
from kvcalc.layers import expand
from kvcalc.sizing import size
from tests.conftest import FP16

# Every shipped preset: fp16 KV bytes of one token in every layer,
# 2 (K,V) x layers x KV heads x head dim x 2 bytes, the exact parameter count and the
# model's max context.  Each preset's YAML (configs/models/<id>.yaml) writes out its
# parameter sum and cites the config.json or model card both come from, e.g. llama3.1-8b:
# 2 x 128,256 x 4,096 (embedding, lm_head) + 32 x 218,112,000 (layers) + 4,096 (norm).
PRESETS = {
    "llama2-7b": (2 * 32 * 32 * 128 * 2, 6_738_415_616, 4096),  # 524,288
    "llama2-13b": (2 * 40 * 40 * 128 * 2, 13_015_864_320, 4096),  # 819,200
    "llama2-70b": (2 * 80 * 8 * 128 * 2, 68_976_648_192, 4096),  # 327,680
    "llama3-8b": (2 * 32 * 8 * 128 * 2, 8_030_261_248, 8192),  # 131,072
    "llama3-70b": (2 * 80 * 8 * 128 * 2, 70_553_706_496, 8192),  # 327,680
    "llama3.1-405b": (2 * 126 * 8 * 128 * 2, 405_853_388_800, 131072),  # 516,096
    "mistral-7b": (2 * 32 * 8 * 128 * 2, 7_241_732_096, 32768),  # 131,072
    "mistral-7b-v0.2": (2 * 32 * 8 * 128 * 2, 7_241_732_096, 32768),
    "mistral-7b-v0.3": (2 * 32 * 8 * 128 * 2, 7_248_023_552, 32768),
    "mixtral-8x7b": (2 * 32 * 8 * 128 * 2, 46_702_792_704, 32768),  # 131,072
    "falcon-7b": (2 * 32 * 1 * 64 * 2, 6_921_720_704, 2048),  # 8,192: MQA, not 71 heads
    "falcon-40b": (2 * 60 * 8 * 64 * 2, 41_303_293_952, 2048),  # 122,880
    "qwen2.5-7b": (2 * 28 * 4 * 128 * 2, 7_615_616_512, 131072),  # 57,344
    "qwen2.5-72b": (2 * 80 * 8 * 128 * 2, 72_706_203_648, 32768),  # 327,680
    "qwen3-8b": (2 * 36 * 8 * 128 * 2, 8_190_735_360, 40960),  # 147,456
    "qwen3-32b": (2 * 64 * 8 * 128 * 2, 32_762_123_264, 40960),  # 262,144: head_dim 128, not 80
    "phi-3-mini": (2 * 32 * 32 * 96 * 2, 3_821_079_552, 4096),  # 393,216
    # MLA: layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes, no factor 2 for K/V
    "deepseek-v3": (61 * (512 + 64) * 2, 671_026_419_200, 163840),  # 70,272
    "deepseek-v2-lite": (27 * (512 + 64) * 2, 15_706_484_224, 163840),  # 31,104
    # local/global mixes: bytes of one token in every layer (before windows cap anything)
    "gemma-2-9b": (2 * 42 * 8 * 256 * 2, 9_241_705_984, 8192),  # 344,064; head_dim 256
    "gemma-2-27b": (2 * 46 * 16 * 128 * 2, 27_227_128_320, 8192),  # 376,832
    "gemma-3-27b": (2 * 62 * 16 * 128 * 2, 27_432_406_640, 131072),  # 507,904; + SigLIP
    "gpt-oss-20b": (2 * 24 * 8 * 64 * 2, 20_914_757_184, 131072),  # 49,152
    "gpt-oss-120b": (2 * 36 * 8 * 64 * 2, 116_829_156_672, 131072),  # 73,728
    # hybrids: only the attention layers cost bytes per token
    "jamba-v0.1": (2 * 4 * 8 * 128 * 2, 51_570_323_328, 262144),  # 16,384
    "qwen3-next-80b-a3b": (2 * 12 * 2 * 256 * 2, 79_674_391_296, 262144),  # 24,576
    # issue 15: the presets people look for
    "llama3.1-8b": (2 * 32 * 8 * 128 * 2, 8_030_261_248, 131072),  # 131,072
    "llama3.1-70b": (2 * 80 * 8 * 128 * 2, 70_553_706_496, 131072),  # 327,680
    "llama3.2-1b": (2 * 16 * 8 * 64 * 2, 1_235_814_400, 131072),  # 32,768; tied embeddings
    "llama3.2-3b": (2 * 28 * 8 * 128 * 2, 3_212_749_824, 131072),  # 114,688; tied embeddings
    "llama3.3-70b": (2 * 80 * 8 * 128 * 2, 70_553_706_496, 131072),  # 327,680
    # Qwen2.5 Instruct: config.json context 32,768 (YaRN reaches 131,072); head_dim = hidden / heads
    "qwen2.5-0.5b": (2 * 24 * 2 * 64 * 2, 494_032_768, 32768),  # 12,288: head_dim 896 / 14
    "qwen2.5-1.5b": (2 * 28 * 2 * 128 * 2, 1_543_714_304, 32768),  # 28,672
    "qwen2.5-3b": (2 * 36 * 2 * 128 * 2, 3_085_938_688, 32768),  # 36,864
    "qwen2.5-14b": (2 * 48 * 8 * 128 * 2, 14_770_033_664, 32768),  # 196,608
    "qwen2.5-32b": (2 * 64 * 8 * 128 * 2, 32_763_876_352, 32768),  # 262,144
    # Qwen3: explicit head_dim 128 everywhere (0.6B: 1024 / 16 = 64; 4B: 80; MoE: 64)
    "qwen3-0.6b": (2 * 28 * 8 * 128 * 2, 596_049_920, 40960),  # 114,688, not 57,344
    "qwen3-1.7b": (2 * 28 * 8 * 128 * 2, 1_720_574_976, 40960),  # 114,688
    "qwen3-4b": (2 * 36 * 8 * 128 * 2, 4_022_468_096, 40960),  # 147,456, not 92,160
    "qwen3-14b": (2 * 40 * 8 * 128 * 2, 14_768_307_200, 40960),  # 163,840
    "qwen3-30b-a3b": (2 * 48 * 4 * 128 * 2, 30_532_122_624, 40960),  # 98,304
    "qwen3-235b-a22b": (2 * 94 * 4 * 128 * 2, 235_093_634_560, 40960),  # 192,512
    # Gemma: head_dim 256 throughout; Gemma 3 4B/12B params include the SigLIP tower
    "gemma-7b": (2 * 28 * 16 * 256 * 2, 8_537_680_896, 8192),  # 458,752: MHA, not 192-wide
    "gemma-2-2b": (2 * 26 * 4 * 256 * 2, 2_614_341_888, 8192),  # 106,496
    "gemma-3-1b": (2 * 26 * 1 * 256 * 2, 999_885_952, 32768),  # 26,624: MQA, window 512
    "gemma-3-4b": (2 * 34 * 4 * 256 * 2, 4_300_079_472, 131072),  # 139,264
    "gemma-3-12b": (2 * 48 * 8 * 256 * 2, 12_187_325_040, 131072),  # 393,216
    "mistral-small-3.1-24b": (2 * 40 * 8 * 128 * 2, 24_011_361_280, 131072),  # 163,840: not 160
    "mistral-nemo-12b": (2 * 40 * 8 * 128 * 2, 12_247_782_400, 128000),  # 163,840: not 160
    "phi-4": (2 * 40 * 10 * 128 * 2, 14_659_507_200, 16384),  # 204,800
    "deepseek-r1-distill-qwen-7b": (2 * 28 * 4 * 128 * 2, 7_615_616_512, 131072),  # 57,344
    "deepseek-r1-distill-qwen-32b": (2 * 64 * 8 * 128 * 2, 32_763_876_352, 131072),  # 262,144
    "deepseek-r1-distill-llama-8b": (2 * 32 * 8 * 128 * 2, 8_030_261_248, 131072),  # 131,072
    "deepseek-r1-distill-llama-70b": (2 * 80 * 8 * 128 * 2, 70_553_706_496, 131072),  # 327,680
    "kimi-k2": (61 * (512 + 64) * 2, 1_026_408_232_448, 131072),  # 70,272: MLA as DeepSeek V3
    # Llama 4: 36 chunked (8,192) + 12 global layers; per token before chunks cap anything
    "llama4-scout": (2 * 48 * 8 * 128 * 2, 108_641_793_536, 10485760),  # 196,608
    "llama4-maverick": (2 * 48 * 8 * 128 * 2, 401_583_781_376, 1048576),  # 196,608
    # issue 13: the checkpoints of the vLLM calibration logs
    "codellama-7b": (2 * 32 * 32 * 128 * 2, 6_738_546_688, 16384),  # 524,288; vocab 32,016
    "granite-3.1-2b": (2 * 40 * 8 * 64 * 2, 2_533_531_648, 131072),  # 81,920; tied
    "granite-3.1-8b": (2 * 40 * 8 * 128 * 2, 8_170_848_256, 131072),  # 163,840; tied
    "granite-3.3-8b": (2 * 40 * 8 * 128 * 2, 8_170_864_640, 131072),  # 4 more tokens
    "granite-vision-3.3-2b": (2 * 40 * 8 * 64 * 2, 2_960_153_072, 131072),  # + SigLIP
    "phi-2": (2 * 32 * 32 * 80 * 2, 2_779_683_840, 2048),  # 327,680
    "qwen1.5-moe-a2.7b": (2 * 24 * 16 * 128 * 2, 14_315_784_192, 8192),  # 196,608
    "qwen2.5-7b-instruct": (2 * 28 * 4 * 128 * 2, 7_615_616_512, 32768),  # 57,344
    "kimi-vl-a3b": (27 * (512 + 64) * 2, 16_407_650_928, 131072),  # 31,104: MLA
}


def test_every_preset_is_listed_here():
    assert sorted(preset_ids()) == sorted(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset(preset):
    spec = load_model(preset)
    per_token, params, max_context = PRESETS[preset]
    assert spec.id == preset
    assert size(expand(spec), 1, 1, FP16, FP16).bytes_per_token == per_token
    assert spec.params == params
    assert spec.max_context == max_context
    assert spec.hf_repo and spec.sources, "every preset cites its source"
    assert load_model(spec.hf_repo).id == preset  # the HF repo id is an alias
    assert (configs_dir() / "models" / f"{preset}.yaml").is_file()


def test_mistral_v01_window_and_v03_none():
    assert load_model("mistral-7b").sliding_window == 4096
    assert load_model("mistral-7b-v0.3").sliding_window is None


def test_aliases_are_case_insensitive():
    assert load_model("META-LLAMA/Meta-Llama-3-70B").id == "llama3-70b"
    assert load_model("Llama-2-7b-hf").id == "llama2-7b"


def test_aliases_are_unique_across_presets():
    seen: dict[str, str] = {}
    for spec in all_models():
        for name in (spec.id, *spec.aliases):
            assert seen.setdefault(name.lower(), spec.id) == spec.id, name


@pytest.mark.parametrize(
    "name, close",
    [
        ("llama4", "llama3-8b"),
        ("llama3", "llama3-70b"),
        ("mistral", "mistral-7b"),
        ("lama2-7b", "llama2-7b"),
    ],
)
def test_unknown_names_suggest(name, close):
    with pytest.raises(UnknownNameError) as err:
        load_model(name)
    assert close in err.value.suggestions


def test_user_yaml(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "id: mine\nmax_context: 1000\nnum_layers: 2\nnum_query_heads: 4\n"
        "num_kv_heads: 2\nhidden_size: 256\n"
    )
    spec = load_model(str(path))
    # 2 layers x 2 heads x 64 dims x 2 bytes x 2 (K,V) = 1,024 B/token
    assert size(expand(spec), 1, 1, FP16, FP16).bytes_per_token == 1024


@pytest.mark.parametrize(
    "content, message",
    [
        ("id: x\nnum_layers: [1\n", "invalid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "Python objects are refused"),
        ("- a\n- b\n", "expected a mapping"),
        ("", "expected a mapping"),
        (
            "id: x\nmax_context: 1\nnum_layers: 2\nnum_query_heads: 6\n"
            "num_kv_heads: 4\nhidden_size: 60\n",
            "not divisible by 4 KV heads",
        ),
        ("id: x\nnum_layers: 2\n", "max_context: Field required"),
    ],
)
def test_bad_user_yaml(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SpecError) as err:
        load_model(str(path))
    assert message in str(err.value) and "bad.yaml" in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_model(str(tmp_path / "absent.yaml"))
    with pytest.raises(UsageError, match="directory has no config.json"):
        load_model(str(tmp_path))
