"""--max-model-len: the context a model is served at, above or below its own.

Llama 3 8B: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 B = 131,072 B per token.
On 24 GB with util 1, no overhead and bf16 weights (8,030,261,248 x 2 = 16,060,522,496 B)
the cache has 24,000,000,000 - 16,060,522,496 = 7,939,477,504 B / 131,072 = 60,573.4 tokens, so
60,573 tokens fit once the model is served past its own 8,192 (issue 15).
"""

from __future__ import annotations

import pytest

from tests.test_hostile import fails

FIT = "fit {} --mem 24GB --util 1 --overhead 0 --weights bf16 --batch 1"


def test_acceptance_fit_answers_what_memory_allows(run):
    assert run.json(*FIT.format("llama3.1-8b").split())["max_context"] == 60_573
    plain = run.json(*FIT.format("llama3-8b").split())
    assert (plain["max_context"], plain["max_context_memory"]) == (8_192, 60_573)
    served = run.json(*FIT.format("llama3-8b").split(), "--max-model-len", "131072")
    assert (served["max_context"], served["model_max_context"]) == (60_573, 131_072)


def test_below_the_models_own_context(run):
    # served at 16,384: the default --seq, and fit's cap (memory allows 60,573)
    data = run.json("size", "llama3.1-8b", "--max-model-len", "16K")
    assert (data["seq"], data["total_bytes"]) == (16_384, 131_072 * 16_384)
    fit = run.json(*FIT.format("llama3.1-8b").split(), "--max-model-len", "16K")
    assert (fit["max_context"], fit["max_context_memory"]) == (16_384, 60_573)
    assert run("size", "llama3.1-8b", "--max-model-len", "16K").stderr == ""  # nothing to say


@pytest.mark.parametrize(
    ("engine", "words"),
    [
        ("ideal", "sized as asked"),
        ("vllm", "vLLM refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1"),
        ("sglang", "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1"),
        ("llamacpp", "llama-server caps each slot at the model's context"),
    ],
)
def test_past_the_models_limit_is_noted_per_engine(run, engine, words):
    result = run("size", "llama3-8b", "--max-model-len", "32768", "--engine", engine, "--json")
    assert result.exit_code == 0
    assert "--max-model-len 32,768 is past llama3-8b's 8,192-token context" in result.stderr
    assert words in result.stderr


def test_within_a_rope_scaled_limit_the_card_declares(run):
    # Qwen3 8B: config 40,960; card 131,072 with YaRN: said, but not as past the limit
    result = run("size", "qwen3-8b", "--max-model-len", "131072", "--json")
    assert "past qwen3-8b's configured 40,960 tokens, within the 131,072" in result.stderr
    assert "sized as asked" not in result.stderr
    assert (
        "past qwen3-8b's 131,072-token context"
        in run("size", "qwen3-8b", "--max-model-len", "131073").stderr
    )


def test_llamacpp_cells_from_max_model_len_are_minus_c(run):
    # llama.cpp's -c is the total cells; --max-model-len is one request's context, so with
    # one request (auto slots, unified cache) -c 4096 and --max-model-len 4096 are the same
    base = ("size", "llama3-8b", "--engine", "llamacpp")
    a = run.json(*base, "--max-model-len", "4096")
    b = run.json(*base, "-c", "4096")
    assert a["total_bytes"] == b["total_bytes"] == 131_072 * 4096
    fails(run, "size llama3-8b --engine llamacpp -c 4096 --max-model-len 4096", ".", 2,
          "give --max-model-len", "or --ctx-size", "not both")  # fmt: skip


@pytest.mark.parametrize("value", ["0", "-5", "1e3", "\uff12", "4k4", "1__0"])
def test_bad_values_are_one_line(run, value):
    fails(run, f"size llama3-8b --max-model-len {value}", ".", 2, "--max-model-len")


def test_the_python_api_takes_it_too():
    import kvcalc

    fit = kvcalc.fit("llama3-8b", mem="24GB", util=1, overhead=0, weights="bf16",
                     max_model_len=131072)  # fmt: skip
    assert fit.max_context == 60_573


def test_vllm_takes_the_served_context_as_its_own_max_model_len():
    # one flag: the served context for every engine, and vLLM's max_model_len (its
    # concurrency line and profiling run), which otherwise follows --seq
    import kvcalc

    served = kvcalc.setup(engine_name="vllm", max_model_len=8192, seq=1024)
    assert served.engine.max_model_len == 8192
    assert kvcalc.setup(engine_name="vllm", seq=1024).engine.max_model_len is None
    assert kvcalc.setup(max_model_len=8192).engine.name == "ideal"  # not refused elsewhere
