"""Issue 15: the presets people look for answer as users expect, through the CLI."""

import pytest

from kvcalc.catalog import load_model

PINNED = ["--mem", "24GB", "--util", "1", "--overhead", "0", "--weights", "bf16"]


def test_llama31_8b_fit_is_memory_bound_not_capped_at_8192(run):
    # 24e9 - 8,030,261,248 params x 2 B = 7,939,477,504 B of KV budget;
    # / 131,072 B per token (32 layers x 8 KV heads x 128 x 2 B x 2) = 60,573.x tokens.
    # Llama 3 8B stops at its 8,192; Llama 3.1 8B allows 131,072, so memory decides.
    data = run.json("fit", "llama3.1-8b", *PINNED, "--batch", "1")
    assert data["budget"]["kv_budget_bytes"] == 24_000_000_000 - 8_030_261_248 * 2 == 7_939_477_504
    assert data["model_max_context"] == 131_072
    assert data["max_context"] == 7_939_477_504 // 131_072 == 60_573


@pytest.mark.parametrize(
    "name, preset",
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1-8b"),
        ("meta-llama/Llama-3.1-8B", "llama3.1-8b"),
        ("llama-3.1-8b", "llama3.1-8b"),
        ("llama3.1:8b", "llama3.1-8b"),
        ("META-LLAMA/LLAMA-3.3-70B-INSTRUCT", "llama3.3-70b"),
        ("Qwen/Qwen2.5-14B", "qwen2.5-14b"),
        ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
        ("google/gemma-3-4b-pt", "gemma-3-4b"),
        ("mistralai/Mistral-Nemo-Base-2407", "mistral-nemo-12b"),
        ("microsoft/phi-4", "phi-4"),
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "deepseek-r1-distill-llama-70b"),
        ("moonshotai/Kimi-K2-Instruct", "kimi-k2"),
    ],
)
def test_names_people_type(name, preset):
    assert load_model(name).id == preset


@pytest.mark.parametrize(
    "preset, seq, total",
    [
        # 13 global layers hold 8,192 tokens, 13 local ones their 4,096-token window;
        # each layer keeps 4 KV heads x 256 x 2 B x 2 = 4,096 B per token.
        ("gemma-2-2b", 8192, 13 * 4096 * 8192 + 13 * 4096 * 4096),  # 654,311,424
        # 4 global + 22 local (window 512), 1 KV head x 256 x 2 B x 2 = 1,024 B per token.
        ("gemma-3-1b", 32768, 4 * 1024 * 32768 + 22 * 1024 * 512),  # 145,752,064
        # 5 global + 29 local (window 1024), 4 x 256 x 2 B x 2 = 4,096 B per token.
        ("gemma-3-4b", 131072, 5 * 4096 * 131072 + 29 * 4096 * 1024),  # 2,805,989,376
        # 8 global + 40 local (window 1024), 8 x 256 x 2 B x 2 = 8,192 B per token.
        ("gemma-3-12b", 131072, 8 * 8192 * 131072 + 40 * 8192 * 1024),  # 8,925,478,912
    ],
)
def test_local_global_mixes_at_full_context(run, preset, seq, total):
    assert run.json("size", preset, "--seq", str(seq))["total_bytes"] == total


@pytest.mark.parametrize("preset", ["llama4-scout", "llama4-maverick"])
def test_llama4_chunked_layers_hold_one_chunk(run, preset):
    # 12 global layers hold all 131,072 tokens, 36 chunked layers at most 8,192;
    # each layer keeps 8 KV heads x 128 x 2 B x 2 = 4,096 B per token.
    total = 12 * 4096 * 131072 + 36 * 4096 * 8192  # 7,650,410,496, not 48 x 4,096 x 131,072
    assert run.json("size", preset, "--seq", "131072")["total_bytes"] == total
