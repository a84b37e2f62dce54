"""TensorRT-LLM: block rules, the free-memory budget, and published log lines reproduced.

Every reproduction states the settings the source printed (available memory, fraction,
tokens_per_block, KV dtype) and the line it logged; see kvcalc/engines/tensorrt_llm.py for
the rule and docs/ in the README for the sources.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcalc.budget import make_target
from kvcalc.catalog import all_models, load_model
from kvcalc.deploy import deploy
from kvcalc.dtypes import kv_format
from kvcalc.engines import configure, engine
from kvcalc.engines.tensorrt_llm import float32, kv_of_free
from kvcalc.errors import UsageError
from kvcalc.fitting import Question, fit_model
from kvcalc.render_engine import log_lines
from kvcalc.sizing import engine_groups, size
from tests.conftest import make_spec

GiB = 2**30
TRT = engine("tensorrt-llm")


def trt_fit(
    spec,
    free: int,
    dtype: str = "fp16",
    *,
    fraction: Fraction = Fraction(9, 10),
    tokens_per_block: int = 32,
    tp: int = 1,
    max_tokens: int | None = None,
    seq: int | None = None,
):
    """A fit on `free` bytes of memory left after loading (the log's 'available')."""
    chosen = configure(TRT, block_size=tokens_per_block)
    if max_tokens is not None:
        chosen = configure(chosen, max_tokens=max_tokens)
    fmt = kv_format(dtype)
    q = Question(
        target=make_target(None, free, None),
        tp=tp,
        util=fraction,
        kv_only=True,  # no weights, no overhead: device memory = the free memory
        k_format=fmt,
        v_format=fmt,
        seq=seq,
        engine=chosen,
    )
    return fit_model(spec, q)


def gib(text: str) -> int:
    """A printed GiB figure as whole bytes: 70.48 GiB -> 75,677,323,755 B (rounded down)."""
    return int(Fraction(text) * GiB)


# ---- rules
def test_names():
    for name in ("tensorrt-llm", "trtllm", "TensorRT_LLM", "trt-llm"):
        assert engine(name) is TRT


def test_every_request_holds_whole_32_token_blocks():
    # Llama 3 8B, 131,072 B/token: 1,000 tokens -> cdiv(1,000, 32) = 32 blocks = 1,024 tokens
    spec, fmt = load_model("llama3-8b"), kv_format("fp16")
    result = size(engine_groups(spec, None, TRT), 1000, 3, fmt, fmt, TRT)
    assert result.total_bytes == 3 * 1024 * 131_072


def test_sliding_layers_keep_every_token_without_per_layer_windows():
    # Mistral 7B v0.1, window 4,096: one pool, 32 layers x 32,768 tokens x 4,096 B
    spec, fmt = load_model("mistral-7b"), kv_format("fp16")
    result = size(engine_groups(spec, None, TRT), 32768, 1, fmt, fmt, TRT)
    assert result.total_bytes == 32 * 32768 * 4096


def test_float32_like_cpp():
    # 0.9f = 15,099,494 / 2^24 = 0.89999997615814208984375
    assert float32(Fraction(9, 10)) == Fraction(15_099_494, 2**24)
    assert float32(Fraction(2**24 + 1)) == 2**24  # ties to even
    assert float32(Fraction(3, 4)) == Fraction(3, 4)


def test_budget_is_a_fraction_of_the_memory_free_after_loading():
    # Llama 3 8B bf16 on 24 GB: 24,000,000,000 - 16,060,522,496 weights - 2 GiB overhead =
    # 5,791,993,856 B free; x 0.9 in float32 = 5,212,794,368 B (exact: 5,212,794,470.4)
    q = Question(target=make_target(None, 24 * 10**9, None), engine=TRT)
    r = fit_model(load_model("llama3-8b"), q)
    b = r.budget
    assert b.free_bytes == 24_000_000_000 - 16_060_522_496 - 2 * GiB == 5_791_993_856
    assert b.kv_bytes == kv_of_free(5_791_993_856, Fraction(9, 10)) == 5_212_794_368
    # 5,212,794,368 // 131,072 = 39,770 tokens -> cdiv(39,770, 32) = 1,243 blocks = 39,776:
    # the pool passes the fraction by 6 tokens, and one request of 39,776 tokens fits
    assert r.pool is not None and r.pool.tokens == 39_776
    assert r.max_context_memory == 39_776
    assert r.capacity_bytes == 39_776 * 131_072
    assert log_lines(r.report) == [
        "Number of tokens per block: 32.",
        # 39,776 x 131,072 = 5,213,519,872 B = 4.8555 GiB
        "[MemUsageChange] Allocated 4.86 GiB for max tokens in paged KV cache (39776).",
    ]


def test_max_tokens_caps_the_pool_before_rounding_up():
    # 100,000 tokens fit in memory; max_tokens 10,000 -> cdiv(10,000, 32) = 313 blocks
    r = trt_fit(load_model("llama3-8b"), 100_000 * 131_072 * 10 // 9 + GiB, max_tokens=10_000)
    assert r.pool is not None and r.pool.tokens == 313 * 32 == 10_016
    assert r.max_context_memory == 10_016


def test_max_tokens_is_tensorrt_llm_only():
    with pytest.raises(UsageError, match="--max-tokens applies to tensorrt-llm, not vllm"):
        configure(engine("vllm"), max_tokens=1000)


def test_recurrent_models_are_not_reproduced():
    r = trt_fit(load_model("jamba-v0.1"), 40 * GiB)
    assert "MambaCacheManager" in log_lines(r.report)[0]


# ---- published lines, from the settings their logs print
def test_memory_md_h100_llama2_7b_int8():
    # NVIDIA/TensorRT-LLM docs/source/reference/memory.md: H100, "available: 70.48 GiB",
    # Llama-2-7B 8-bit KV (32 x 32 heads x 128 x 2 x 1 B = 262,144 B/token), fraction 0.9,
    # tokens_per_block 64: 0.9 x 75,677,323,755 B // 262,144 = 259,817 tokens ->
    # cdiv(259,817, 64) = 4,060 blocks; 259,840 x 262,144 B = 63.4375 GiB
    r = trt_fit(load_model("llama2-7b"), gib("70.48"), "int8", tokens_per_block=64)
    assert r.pool is not None and r.pool.blocks == 4060
    assert log_lines(r.report)[1] == (
        "[MemUsageChange] Allocated 63.44 GiB for max tokens in paged KV cache (259840)."
    )


def test_trtllm_bench_doc_h100_fp8():
    # trtllm-bench doc of TensorRT-LLM 0.12.0.dev2024073000 (docs/source/performance/
    # perf-benchmarking.md then): "available: 63.62 GiB", KV Memory Percentage 99%, FP8 KV,
    # tokens_per_block 64: 4,607 blocks, "Allocated 62.99 GiB ... (294848)".  The doc says
    # Llama-2-7b, but its line needs 229,376 B/token = GPT-J-6B's 28 layers x 16 heads x 256
    # x 2 x 1 B (Llama-2-7b's 262,144 B/token would give 4,031 blocks; see configs/claims.yaml)
    gptj = make_spec(
        id="gpt-j-6b-geometry",
        num_layers=28,
        num_query_heads=16,
        num_kv_heads=16,
        hidden_size=4096,
        head_dim=256,
        max_context=2048,
    )
    r = trt_fit(gptj, gib("63.62"), "fp8", fraction=Fraction(99, 100), tokens_per_block=64)
    # 0.99 x 68,311,454,842 B // 229,376 = 294,836 tokens -> cdiv(294,836, 64) = 4,607 blocks
    assert r.pool is not None and r.pool.blocks == 4607
    assert log_lines(r.report)[1] == (
        "[MemUsageChange] Allocated 62.99 GiB for max tokens in paged KV cache (294848)."
    )


def test_dgx_spark_gpt_oss_120b_pytorch_backend():
    # Public DGX Spark run log of trtllm-serve openai/gpt-oss-120b, TensorRT-LLM 1.1.0rc3
    # (PyTorch backend; code index file 2263047771): "device total memory 119.70 GiB",
    # "Peak memory ... 113.65 GiB", "tmp kv_mem 0.56 GiB" (its estimation cache: 8,224
    # tokens x 73,728 B = 606,339,072 B), fraction 0.9, 32 tokens per block.
    # free = 6.05 GiB (6,496,138,035 B) + 606,339,072 = 7,102,477,107 B; x 0.9 // 73,728 =
    # 86,700 tokens (the log's max_tokens 86,711 is within its 2-decimal inputs) ->
    # cdiv(86,700, 32) = 2,710 blocks = 86,720 tokens.  One pool: the 128-token sliding
    # layers keep every token (36 x 8 x 64 x 2 x 2 B = 73,728 B/token)
    free = int(Fraction("6.05") * GiB) + 8224 * 73_728
    assert free == 7_102_477_107
    r = trt_fit(load_model("gpt-oss-120b"), free, "bf16")
    assert log_lines(r.report)[1] == (
        "[MemUsageChange] Allocated 5.95 GiB for max tokens in paged KV cache (86720)."
    )
    # and TensorRT-LLM cuts max_seq_len to the pool: 'Reducing to 86720'
    assert r.max_context_memory == 86_720


@pytest.mark.parametrize(
    ("available", "line"),
    [
        # printed as 17.83 GiB: at 17.830 the pool is 8,217 blocks, at 17.835 8,219 as logged
        ("17.83", "Allocated 16.05 GiB for max tokens in paged KV cache (262944)."),
        ("17.835", "Allocated 16.05 GiB for max tokens in paged KV cache (263008)."),
    ],
)
def test_issue_4275_rtx_5090_llama31_8b_fp8(available, line):
    # https://github.com/NVIDIA/TensorRT-LLM/issues/4275#issuecomment-2941155249: TensorRT-LLM
    # 0.19.0, RTX 5090, Llama-3.1-8B-Instruct with FP8 KV (32 x 8 x 128 x 2 x 1 B = 65,536
    # B/token), kv_cache_free_gpu_mem_fraction 0.9, 32 tokens per block: "available: 17.83
    # GiB", 8,219 blocks, "Allocated 16.05 GiB ... (263008)".  8,219 blocks need more than
    # 8,218 x 32 = 262,976 tokens: 262,977 x 65,536 B / 0.9 = 17.83427 GiB available, inside
    # the print rounding of 17.83, not at 17.830 itself
    r = trt_fit(load_model("llama3-8b"), gib(available), "fp8")
    assert log_lines(r.report)[1] == f"[MemUsageChange] {line}"


@pytest.mark.parametrize(
    ("available", "tokens"),
    [("85.57", 315_456), ("85.575", 315_488)],
)
def test_multimodal_md_llava_tp2(available, tokens):
    # triton-inference-server/tensorrtllm_backend docs/multimodal.md: LLaVA-1.5-7B (Llama 2
    # 7B geometry), tensor parallel 2, fp16 KV: 32 x 16 heads x 128 x 2 x 2 B = 262,144
    # B/token per GPU; H100 NVL "available: 85.57 GiB", fraction 0.9, 32 tokens per block;
    # logged "Allocated 77.02 GiB ... (315488)" = 9,859 blocks.  At 85.570: 9,858 blocks;
    # 9,859 need more than 9,858 x 32 = 315,456 tokens: 315,457 x 262,144 B / 0.9 =
    # 85.5732 GiB available, inside the print rounding (below 85.575)
    r = trt_fit(load_model("llama2-7b"), gib(available), "fp16", tp=2)
    assert log_lines(r.report)[1] == (
        f"[MemUsageChange] Allocated 77.02 GiB for max tokens in paged KV cache ({tokens})."
    )


@pytest.mark.parametrize(
    ("model", "dtype", "tokens_per_block", "tokens", "gib_text"),
    [
        # Kimi-K2.5 test report (code index file 59140501328): MLA in fp8, 61 x 576 x 1 B =
        # 35,136 B/token; 158,543 blocks x 32 = 5,073,376 tokens -> 166.02 GiB
        ("deepseek-v3", "fp8", 32, 5_073_376, "166.02"),
        # ai-dynamo/dynamo TensorRT-LLM example README: 131,072 B/token (Llama 3 8B
        # geometry, fp16), 64 tokens per block: 220,480 tokens -> 26.91 GiB
        ("llama3-8b", "fp16", 64, 220_480, "26.91"),
    ],
)
def test_published_pools_by_their_token_count(model, dtype, tokens_per_block, tokens, gib_text):
    # the free memory is not in these excerpts: reproduce the pool through max_tokens
    spec = load_model(model)
    r = trt_fit(spec, 400 * GiB, dtype, tokens_per_block=tokens_per_block, max_tokens=tokens)
    assert log_lines(r.report)[1] == (
        f"[MemUsageChange] Allocated {gib_text} GiB for max tokens in paged KV cache ({tokens})."
    )


# ---- the fit solves through the engine's own allocation
SINGLE_POOL = [
    s
    for s in all_models()
    if not any(g.kind in ("mamba", "gated_deltanet") for g in s.cache_groups())
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(SINGLE_POOL),
    st.integers(10**8, 10**12),
    st.sampled_from([16, 32, 64]),
    st.sampled_from(["fp16", "fp8"]),
    st.none() | st.integers(1, 10**7),
)
def test_fit_answers_are_the_engines_pool(spec, free, tokens_per_block, dtype, cap):
    """N tokens fit exactly when TensorRT-LLM's pool holds their blocks: the longest context
    is the pool's token count, and N + 1 needs a block it does not have."""
    if spec.attention_kind == "MLA" and dtype == "fp16":
        dtype = "bf16"
    r = trt_fit(spec, free, dtype, tokens_per_block=tokens_per_block, max_tokens=cap, seq=4096)
    fmt = kv_format(dtype)
    bpt = r.token_bytes
    # the engine, independently: (uint64)(free x 0.9f) // bytes per token, capped, in blocks
    tokens = kv_of_free(free, Fraction(9, 10)) // bpt
    if cap is not None:
        tokens = min(tokens, cap)
    blocks = -(-tokens // tokens_per_block)
    assert r.max_context_memory == blocks * tokens_per_block
    dep = deploy(spec, engine=r.engine)
    n = r.max_context_memory
    assert dep.bytes_per_device(n, 1, fmt, fmt) <= r.capacity_bytes
    assert dep.bytes_per_device(n + 1, 1, fmt, fmt) > r.capacity_bytes
    # requests of 4,096 tokens: cdiv(4,096, block) blocks each, as many as the pool holds
    assert r.max_batch == blocks // -(-4096 // tokens_per_block)


def test_cli_fit_with_tensorrt_llm(run):
    data = run.json("fit", "llama3-8b", "--engine", "trtllm", "--gpu", "h100", "--seq", "8192")
    b = data["budget"]
    # H100 81,559 MiB = 85,520,809,984 B - 16,060,522,496 - 2 GiB = 67,312,803,840 B free
    assert b["free_bytes"] == 67_312_803_840
    assert b["kv_budget_bytes"] == kv_of_free(67_312_803_840, Fraction(9, 10))
    assert data["engine_report"][1].startswith("[MemUsageChange] Allocated ")


def test_cli_max_tokens(run):
    data = run.json(
        "fit", "llama3-8b", "--engine", "trtllm", "--gpu", "h100", "--max-tokens", "1000"
    )
    assert data["max_context_memory"] == 1024  # cdiv(1,000, 32) = 32 blocks
    result = run("fit", "llama3-8b", "--gpu", "h100", "--max-tokens", "1000")
    assert result.exit_code == 2 and "applies to tensorrt-llm" in result.stderr
