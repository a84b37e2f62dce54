"""vLLM's accounting beyond the replayed logs: hybrid cache groups, versions, flags, margins."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kvcalc.dtypes import kv_format
from kvcalc.engines.memory import DeviceFacts
from kvcalc.engines.vllm_groups import block_pool, group_size, padding
from kvcalc.engines.vllm_plan import batch_limits
from kvcalc.layers import FullAttention, LayerGroup, SlidingWindow

FP16 = kv_format("fp16")
GiB = 1 << 30
SLIDING = SlidingWindow(1, 256, 256, 512)
FULL = FullAttention(1, 256, 256)


def test_group_size_follows_vllm():
    # _get_kv_cache_groups_uniform_page_size: the smallest kind's count, or the largest
    # when under 1.5 x the smallest (gpt-oss 12 + 12; an eagle head's 12 + 13 -> 13)
    assert group_size([22, 4]) == 4
    assert group_size([12, 12]) == 12
    assert group_size([12, 13]) == 13
    assert group_size([52, 10]) == 10


def test_gemma_3_1b_pads_two_empty_sliding_slots():
    # 22 sliding + 4 full, group size 4: 6 sliding groups = 24 slots, 2 of them empty
    groups = (LayerGroup(SLIDING, 22), LayerGroup(FULL, 4))
    assert padding(groups) == (LayerGroup(SLIDING, 2),)
    pool = block_pool((groups + padding(groups),), (GiB,), FP16, FP16, 16, 2048)
    # one block of one layer: 16 x 1 head x 256 x 2 B x 2 = 16,384 B; 4 slots per block
    assert pool.block_bytes == 4 * 16_384
    assert pool.num_blocks == GiB // 16_384 // 4 == 16_384
    assert len(pool.groups) == 7
    assert pool.tokens == 16_384 // 7 * 16  # 37,440
    # a 32,768-token request: 6 sliding groups x (cdiv(min(511 + 2,048, 32,768), 16) + 1)
    # = 6 x 161 blocks, plus the full group's 2,048
    assert pool.request_blocks(32_768) == 6 * 161 + 2048
    assert pool.concurrency(32_768) == Fraction(16_384, 3014)


def test_one_kind_is_one_group_whatever_the_widths():
    wide, narrow = FullAttention(8, 128, 128), FullAttention(2, 128, 128)
    pool = block_pool(((LayerGroup(wide, 3), LayerGroup(narrow, 1)),), (GiB,), FP16, FP16, 16, 2048)
    # UniformTypeKVCacheSpecs: blocks = KV // the sum of the four layers' pages
    page = 16 * (3 * 8 + 2) * 128 * 2 * 2
    assert pool.num_blocks == GiB // page and len(pool.groups) == 1


def test_pipeline_stages_take_the_smallest_block_count():
    stage = (LayerGroup(FULL, 2),)
    pool = block_pool((stage, stage), (GiB, GiB // 2), FP16, FP16, 16, 2048)
    assert pool.num_blocks == (GiB // 2) // (2 * 16_384)


def test_vllm_serve_defaults_by_gpu():
    # vLLM's EngineArgs._set_default_max_num_seqs_and_batched_tokens_args (vllm/engine/
    # arg_utils.py, 0.19): a GPU of 70 GiB or more that is not an A100 gets 8,192 batched
    # tokens and 1,024 sequences, others 2,048 and 256 (kvcalc/engines/vllm_plan.py)
    h100 = DeviceFacts(name="h100-sxm-80gb", kind="gpu", memory_bytes=85_520_809_984)
    a100 = DeviceFacts(name="NVIDIA A100 80GB", kind="gpu", memory_bytes=85_899_345_920)
    assert batch_limits(h100, 8192, None, None).max_num_batched_tokens == 8192
    assert batch_limits(h100, 8192, None, None).max_num_seqs == 1024
    assert batch_limits(a100, 8192, None, None).max_num_batched_tokens == 2048
    assert batch_limits(a100, 8192, None, None).max_num_seqs == 256
    # a short max_model_len caps the batched tokens: min(1,024 x 4, 8,192)
    assert batch_limits(h100, 4, None, None).max_num_batched_tokens == 4096


def test_020_takes_the_graph_estimate_out_of_the_budget(run):
    # Llama 3.1 8B, one H100: 336 MiB (0.33 GiB) + 32 x 18 MiB = 912 MiB of graphs
    old = run.json("fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm-0.19", "--seq", "8192")
    new = run.json("fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm", "--seq", "8192")
    eager = run.json(
        "fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm", "--seq", "8192",
        "--enforce-eager",
    )  # fmt: skip
    kv = [r["budget"]["kv_budget_bytes"] for r in (old, new, eager)]
    assert kv[0] - kv[1] == 912 * 2**20
    assert kv[2] == kv[0]  # no graphs, nothing charged


def test_kv_cache_memory_sets_the_pool(run):
    data = run.json(
        "fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm", "--kv-cache-memory", "8GiB",
        "--seq", "8192",
    )  # fmt: skip
    assert data["budget"]["kv_budget_bytes"] == 8 * GiB
    # 8 GiB // (16 x 131,072 B) = 4,096 blocks = 65,536 tokens
    assert "GPU KV cache size: 65,536 tokens" in data["engine_report"]


def test_a_thin_margin_is_warned_with_the_flag_that_fixes_it(run):
    # 0.99 x 79.19 GiB leaves 0.79 GiB outside the budget; less the 0.51 GiB baseline and
    # the 0.89 GiB of CUDA graphs 0.19 captures after the KV cache: -0.61 GiB.  At 0.97,
    # 0.03 x 79.19 GiB - 522 MiB - 912 MiB = 2.376 - 0.510 - 0.891 = 0.975 GiB is left
    # (0.98: 0.18, under the 0.5 GiB needed)
    data = run.json(
        "fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm-0.19", "--util", "0.99",
        "--seq", "8192",
    )  # fmt: skip
    warning = next(w for w in data["warnings"] if w.startswith("thin margin"))
    assert "lower --gpu-memory-utilization to 0.97" in warning
    calm = run.json("fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm-0.19", "--seq", "8192")
    assert not any(w.startswith("thin margin") for w in calm["warnings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-num-seqs", "256"], "applies to vllm and vllm-0.19, not ideal"),
        (["--engine", "sglang", "--enforce-eager"], "applies to vllm and vllm-0.19"),
        (["--engine", "vllm", "--max-model-len", "0"], "--max-model-len"),
        (["--weights", "7.51x"], "neither a weight format"),
    ],
)
def test_vllm_flags_are_checked(run, args, message):
    result = run("fit", "llama3.1-8b", "--gpu", "h100", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_measured_weights_replace_the_prediction(run):
    data = run.json(
        "fit", "llama3.1-8b", "--gpu", "h100", "--engine", "vllm", "--weights", "7.51GiB",
        "--seq", "8192",
    )  # fmt: skip
    # 7.51 x 2^30 = 8,063,801,098.24 B, to the nearest byte
    assert data["budget"]["weight_bytes"] == 8_063_801_098
    assert data["budget"]["weight_format"] == "measured"
    assert data["engine_report"][0] == "Model loading took 7.51 GiB memory"


def test_hybrid_models_print_vllms_lines(run):
    out = run("fit", "gemma-3-27b", "--gpu", "h100", "--engine", "vllm", "--seq", "8192").stdout
    assert "GPU KV cache size:" in out and "Maximum concurrency for 8,192 tokens" in out
