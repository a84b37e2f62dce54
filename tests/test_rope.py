"""Rope scaling in config.json sets the context as vLLM derives it, and is reported.

YaRN (vLLM's rule): factor 4 x original_max_position_embeddings 32,768 = 131,072.
"""

from __future__ import annotations

import json
import math

import pytest

from kvcalc.importers.hf import spec_from_config
from tests.hubserver import LLAMA31_8B
from tests.test_hostile import fails

QWEN25_7B = {  # Qwen/Qwen2.5-7B-Instruct config.json, the fields that matter here
    "model_type": "qwen2", "num_hidden_layers": 28, "num_attention_heads": 28,
    "num_key_value_heads": 4, "hidden_size": 3584, "max_position_embeddings": 32768,
    "sliding_window": 131072, "use_sliding_window": False, "max_window_layers": 28,
}  # fmt: skip
YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


def contexts(config):
    spec, _ = spec_from_config(config, "config.json", "m")
    return spec.max_context, spec.extended_context, spec.extended_context_source


@pytest.mark.parametrize(
    ("config", "max_context", "extended", "words"),
    [
        # llama3: max_position_embeddings is already scaled (8 x 8,192 would be 65,536)
        (LLAMA31_8B, 131_072, 131_072, "llama3 (factor 8) from a trained 8,192"),
        # the card's YaRN block added to Qwen2.5 7B: 4 x 32,768
        ({**QWEN25_7B, "rope_scaling": YARN}, 131_072, 131_072, "factor 4 x original_max"),
        # transformers 5 writes rope_parameters, with rope_type
        (
            {**QWEN25_7B, "rope_parameters": {**YARN, "rope_type": "yarn", "type": None}},
            131_072, 131_072, "rope_parameters yarn",
        ),
        # YaRN without an original length scales max_position_embeddings
        ({**QWEN25_7B, "rope_scaling": {"type": "yarn", "factor": 2}}, 65_536, 65_536, "x max"),
        # linear and dynamic: factor x max_position_embeddings; 2.5 x 32,768 = 81,920
        ({**QWEN25_7B, "rope_scaling": {"type": "linear", "factor": 2.5}}, 81_920, 81_920, "2.5"),
        ({**QWEN25_7B, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, 65_536, 65_536,
         "dynamic"),
        # floored as vLLM's int(): 1.1 x 32,768 = 36,044.8 -> 36,044
        ({**QWEN25_7B, "rope_scaling": {"type": "linear", "factor": 1.1}}, 36_044, 36_044, "1.1"),
        ({**QWEN25_7B, "rope_scaling": {"rope_type": "default"}}, 32_768, None, None),
        ({**QWEN25_7B, "rope_scaling": None}, 32_768, None, None),
        # Phi-3 mini 128k: longrope, 131,072 from a trained 4,096
        (
            {**QWEN25_7B, "model_type": "phi3", "max_position_embeddings": 131072,
             "rope_scaling": {"type": "longrope", "original_max_position_embeddings": 4096}},
            131_072, 131_072, "longrope from a trained 4,096",
        ),
    ],
)  # fmt: skip
def test_rope_scaling_sets_the_context_as_vllm_derives_it(config, max_context, extended, words):
    got = contexts(config)
    assert got[:2] == (max_context, extended)
    assert (words is None and got[2] is None) or words in got[2]


def test_gemma3_is_already_scaled():
    # vLLM skips the factor for Gemma 3: its 131,072 already includes the linear x8
    config = {**QWEN25_7B, "model_type": "gemma3_text", "max_position_embeddings": 131072,
              "rope_scaling": {"rope_type": "linear", "factor": 8.0}}  # fmt: skip
    assert contexts(config)[:2] == (131_072, None)


@pytest.mark.parametrize(
    ("rope", "message"),
    [
        ([1], "rope_scaling must be an object, got [1]"),
        ({"type": "yarn", "factor": "4"}, 'rope_scaling.factor must be a number, got "4"'),
        ({"type": "yarn", "factor": True}, "rope_scaling.factor must be a number, got true"),
        ({"type": "yarn", "factor": 0}, "rope_scaling.factor must be more than 0"),
        ({"type": "yarn", "factor": -2.0}, "rope_scaling.factor must be more than 0"),
        ({"type": "yarn", "factor": math.inf}, "rope_scaling.factor must be more than 0"),
        ({"type": 7, "factor": 2.0}, "rope_scaling.type must be a string, got 7"),
        ({"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 1.5},
         "original_max_position_embeddings must be a positive integer, got 1.5"),
    ],
)  # fmt: skip
def test_rope_scaling_is_read_strictly(run, tmp_path, rope, message):
    (tmp_path / "config.json").write_text(
        json.dumps({**QWEN25_7B, "rope_scaling": rope})  # inf is written Infinity
    )
    fails(run, "size {d}/config.json", tmp_path, 2, "config.json: ", message)


def test_a_yarn_config_is_sized_at_its_scaled_context(run, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**QWEN25_7B, "rope_scaling": YARN}))
    data = run.json("size", str(tmp_path / "config.json"))
    # 28 x 4 x 128 x 2 x 2 B = 57,344 B per token x 131,072 tokens
    assert (data["seq"], data["total_bytes"]) == (131_072, 57_344 * 131_072)
