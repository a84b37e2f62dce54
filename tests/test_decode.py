"""Decode bandwidth bound, compare and the grown-up dial: numbers, not pictures."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kvcalc.catalog import load_model
from kvcalc.decoding import decode_bound
from kvcalc.dtypes import kv_format
from kvcalc.errors import UsageError
from kvcalc.options import parse_bandwidth


def bound(spec, seq, batch, tp=1):
    return decode_bound(spec, seq, batch, H100, k_fmt=FP16, v_fmt=FP16, tp=tp)


FP16 = kv_format("fp16")
H100 = 3_350 * 10**9


def test_llama3_70b_decode_step_pinned():
    # weights 70,553,706,496 x 2 = 141,107,412,992 B + KV 21,474,836,480 B = 162,582,249,472 B
    # at 3,350 GB/s: 48.53 ms per step
    result = bound(load_model("llama3-70b"), 2048, 32)
    gqa, mha, mqa = result.steps
    assert gqa.weight_bytes == 141_107_412_992 and gqa.kv_bytes == 21_474_836_480
    assert gqa.total_bytes == 162_582_249_472
    assert gqa.step_seconds == Fraction(162_582_249_472, H100)
    assert round(gqa.step_seconds * 1000, 2) == Fraction(4853, 100)
    assert gqa.aggregate_tokens_per_second == 32 * gqa.tokens_per_second
    assert mha.kv_bytes == 171_798_691_840 and mqa.kv_bytes == 2_684_354_560
    # KV >= weights from 141,107,412,992 / (327,680 x 32) = 13,457.3 -> 13,458 tokens,
    # or 141,107,412,992 / 671,088,640 = 210.3 -> 211 requests of 2,048 tokens
    assert (result.crossover_seq, result.crossover_batch) == (13_458, 211)


def test_tensor_parallel_divides_weights_and_kv_per_gpu():
    one = bound(load_model("llama3-70b"), 2048, 32).steps[0]
    four = bound(load_model("llama3-70b"), 2048, 32, tp=4).steps[0]
    assert four.weight_bytes == one.weight_bytes // 4 and four.kv_bytes == one.kv_bytes // 4


def test_windowed_model_kv_never_overtakes_weights():
    # Mistral 7B v0.1: every layer keeps at most 4,096 tokens: 32 x 4,096 x 4,096 B = 0.5 GiB
    assert bound(load_model("mistral-7b"), 4096, 1).crossover_seq is None


@pytest.mark.parametrize(
    ("text", "value"), [("3.35TB/s", 3_350 * 10**9), ("819GB/s", 819 * 10**9), ("1TiB", 2**40)]
)
def test_bandwidth_strings(text, value):
    assert parse_bandwidth(text) == value


@pytest.mark.parametrize("text", ["fast", "3.35 TB/h", "0GB/s", "-1GB/s"])
def test_bad_bandwidth(text):
    with pytest.raises(UsageError):
        parse_bandwidth(text)


def test_decode_cli(run):
    data = run.json("decode", "llama3-70b", "--gpu", "h100", "--seq", "2048", "--batch", "32")
    assert data["steps"][0]["total_bytes"] == 162_582_249_472
    assert data["steps"][1]["kv_bytes"] == 171_798_691_840
    out = run("decode", "llama3-70b", "--bandwidth", "3.35TB/s", "-s", "2048", "-b", "32").stdout
    assert "48.53" in out and "bound" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decode", "llama3-8b"], "--gpu NAME"),
        (["decode", "llama3-8b", "--gpu", "h1000"], "unknown"),
        (["decode", "llama3-8b", "--bandwidth", "lots"], "--bandwidth"),
        (["decode", "llama3-8b", "--gpu", "h100", "--tp", "0"], "--tp"),
        (["compare"], "Missing argument"),
        (["compare", "llama3-8b", "nosuch"], "unknown model"),
        (["dial", "llama3-8b", "--gpu", "nosuch"], "unknown"),
    ],
)
def test_decode_compare_errors(run, args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_compare_side_by_side(run):
    data = run.json("compare", "llama3-8b", "qwen3-8b", "--seq", "8192", "--mem", "24GB")
    llama, qwen = data["models"]
    # 32 layers x 8 x 128 x 2 x 2 B = 131,072 B/token; Qwen3 8B has 36 layers: 147,456
    assert llama["bytes_per_token"] == 131_072 and qwen["bytes_per_token"] == 147_456
    assert llama["total_bytes"] == 8192 * 131_072
    assert llama["max_batch"] >= 1 and "max_context" in qwen


def test_dial_adds_fit_and_decode_columns(run):
    data = run.json("dial", "llama3-70b", "-s", "8192", "-b", "8", "--gpu", "h100", "--tp", "4")
    rows = {r["kv_heads"]: r for r in data["rows"]}
    # more KV heads, fewer requests fit and slower steps
    assert rows[8]["max_batch"] > rows[64]["max_batch"]
    assert rows[8]["decode_step_seconds_min"] < rows[64]["decode_step_seconds_min"]
