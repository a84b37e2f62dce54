"""Replay every complete vLLM 0.19.0 start-up of the calibration set (tests/data/engine_logs/
vllm-0.19-h100.yaml, 46 H100 logs of llm-d-incubation/llm-d-planner PR #205).

Targets (issue 13): with the logged weight memory given, Available KV cache memory within
0.10 GiB and GPU KV cache size within 0.5%; with weights predicted, within 1.5%.  The
records that miss are listed with why; they are held to what they do today so a change
that makes them worse fails too.  Nothing here is tuned per model.
"""

from __future__ import annotations

import pytest

from kvcalc.render_engine import log_lines
from tests.replay import records, replay, row

RECORDS = records()

# Misses with the logged weights given: (KV GiB bound, tokens % bound, why)
GIVEN_MISSES = {
    # the logged non-torch increase is 0.46 GiB against 0.24-0.26 for every other one-GPU
    # log (Granite Vision's Granite text model included); no mechanism found in 0.19
    "vllm-planner-granite-3-1-2b--h100-80gb--tp1pp1dp1--8192": (0.22, 0.5, "non-torch 0.46"),
    "vllm-planner-granite-3-1-8b--h100-80gb--tp1pp1dp1--8192": (0.22, 0.5, "non-torch 0.46"),
    "vllm-planner-ibm-granite-granite-3-3---h100-80gb--tp1pp1dp1--8192": (
        0.22,
        0.5,
        "non-torch 0.46",
    ),
    # Llama 3.1 8B's forward pass peaks 0.17 GiB above the live-set model (seen on the
    # first pipeline stage, 1.10 logged); in fp32 it doubles and outgrows the sampler
    "vllm-planner-meta-llama-llama-3--h100-80gb--tp1pp1dp1--8192-dtf32": (0.37, 0.9, "fp32"),
    # the printed line is the first stage's (forward-dominated, as above); the pool is set
    # by the last stage, which is right: tokens within 0.01%
    "vllm-planner-meta-llama-llama-3-1-8b---h100-80gb--tp1pp2dp1--8192": (0.18, 0.5, "PP0"),
    "vllm-planner-meta-llama-llama-3-1-8b---h100-80gb--tp1pp4dp1--8192": (0.18, 0.5, "PP0"),
    # 3 GiB of KV beside 67.8 GiB of weights: the log's own 0.005 GiB rounding is 0.2%
    # of the pool; KV is within 0.03 GiB
    "vllm-planner-qwen-qwen2-5-72b-instruc--h100-80gb--tp2pp1dp1--8192": (0.10, 0.9, "3 GiB"),
}
# With weights predicted too: the same 72B record, whose 0.08 GiB of unexplained weights
# (0.12% of them, as for Qwen2.5 7B's 0.06) is 2.6% of its 3 GiB pool
PREDICTED_MISSES = {"vllm-planner-qwen-qwen2-5-72b-instruc--h100-80gb--tp2pp1dp1--8192": 3.5}


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_replay_with_logged_weights(record):
    result = row(record)
    kv_bound, tokens_bound, _ = GIVEN_MISSES.get(record["id"], (0.10, 0.5, ""))
    assert abs(result.kv_error) <= kv_bound, result
    assert abs(result.given_error) <= tokens_bound, result


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_replay_with_predicted_weights(record):
    result = row(record)
    assert abs(result.predicted_error) <= PREDICTED_MISSES.get(record["id"], 1.5), result


def test_most_records_meet_the_targets():
    # the misses above are the only ones: 39 of 46 with weights given, 45 of 46 predicted
    assert len(RECORDS) == 46
    assert len(GIVEN_MISSES) == 7 and len(PREDICTED_MISSES) == 1


def test_llama_31_8b_prints_what_vllm_printed():
    # vllm-planner-meta-llama-llama-3-1-8b---h100-80gb--tp1pp1dp1--8192: weights 14.99
    # (logged, given), torch peak 1.88 (logged 1.89), non-torch 0.25, KV 58.11 GiB;
    # 62,390,037,873 B // (16 x 4,096 B) // 32 = 29,749 blocks (logged 29,751: the log's
    # rounded weights) -> 475,984 tokens; 29,749 / 512 blocks = 58.10x
    suffix = "llama-3-1-8b---h100-80gb--tp1pp1dp1--8192"
    record = next(r for r in RECORDS if r["id"].endswith(suffix))
    lines = log_lines(replay(record, measured_weights=True).report)
    assert lines[0] == "Model loading took 14.99 GiB memory"
    assert lines[2].startswith("Total non KV cache memory: 17.12GiB;")
    assert lines[3] == "Available KV cache memory: 58.11 GiB"
    assert lines[4] == "GPU KV cache size: 475,984 tokens"
