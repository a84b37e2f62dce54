"""`kvcalc check`: published figures against exact arithmetic, verdicts pinned."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kvcalc.catalog import load_model
from kvcalc.claims import judge, read_published
from kvcalc.errors import UsageError
from kvcalc.render_claims import computed_text, deviation_text
from kvcalc.spec import Claim
from kvcalc.units import GB, MiB


def claim(**fields) -> Claim:
    base = dict(id="c", source="test", says="-", model="llama3-70b", quantity="total_bytes")
    return Claim.model_validate({**base, **fields})


def test_published_values_carry_their_precision():
    p = read_published("20.9 GB")
    assert (p.value, p.half_ulp) == (Fraction(20_900_000_000), Fraction(GB, 20))
    assert read_published("2048.00 MiB").value == 2048 * MiB
    assert read_published("8x").value == 8
    assert read_published("16,384").value == 16384


def test_the_article_pair_is_off_by_8x_and_nothing_single_reproduces_it():
    # exact: 2 x 80 x 8 x 128 x 2 B x 65,536 tokens = 21,474,836,480 B; 21.47 / 2.6 = 8.26
    outcome = judge(
        load_model("llama3-70b"),
        claim(seq=2048, batch=32, published="2.6 GB", expect="off"),
    )
    assert outcome.verdict == "off" and deviation_text(outcome) == "x8.26"
    assert outcome.explanation.startswith("no single change")


def test_rounded_figure_is_within_rounding_and_exact_figure_is_exact():
    spec = load_model("llama3-70b")
    rounded = judge(spec, claim(seq=2048, batch=32, published="21.47 GB", expect="exact"))
    assert rounded.verdict == "within rounding"
    # 21,474,836,480 B = 21.474836... GB, shown two digits finer than the source printed
    assert computed_text(rounded) == "21.4748 GB" and deviation_text(rounded) == "+0.023%"
    assert judge(spec, claim(seq=2048, batch=32, published="21474836480 B", expect="exact")).ok


def test_an_off_figure_names_the_configuration_that_produces_it():
    # 2.68 GB = 21,474,836,480 / 8: batch 4 instead of 32 (or 256 tokens instead of 2,048)
    outcome = judge(
        load_model("llama3-70b"), claim(seq=2048, batch=32, published="2.68 GB", expect="off")
    )
    assert "batch 4 instead of 32" in outcome.explanation


def test_ratio_and_attention_claims():
    spec = load_model("llama3-70b")
    assert judge(spec, claim(quantity="mha_ratio", seq=2048, published="8x", expect="exact")).ok
    gqa = judge(spec, claim(quantity="attention", published="GQA", expect="exact"))
    assert gqa.ok and computed_text(gqa) == "GQA-8"
    assert not judge(spec, claim(quantity="attention", published="MHA", expect="exact")).ok


def test_engine_tokens_claim_is_vllms_pool():
    # 8 GiB / (16 x 524,288 B) = 1,024 blocks = 16,384 tokens
    c = claim(
        model="llama2-7b",
        quantity="engine_tokens",
        engine="vllm",
        kv_budget="8GiB",
        published="16384",
        expect="exact",
    )
    assert judge(load_model("llama2-7b"), c).ok


def test_shipped_claims_all_hold(run):
    result = run("check")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "20 claims, all verdicts as recorded" in result.stdout
    data = run.json("check")
    assert data["ok"] and {c["verdict"] for c in data["claims"]} == {
        "exact",
        "within rounding",
        "off",
    }


def test_check_fails_when_a_verdict_changes(run, tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(
        "claims:\n"
        "  - {id: wrong, source: t, says: t, model: llama3-70b, quantity: total_bytes,\n"
        "     seq: 2048, batch: 32, published: '2.6 GB', expect: exact}\n"
    )
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "1 claim verdict(s) changed: wrong" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claims: []\n", "top-level 'claims:' list"),
        ("- 1\n", "top-level 'claims:' list"),
        ("claims:\n  - {id: x}\n", "claim 1"),
    ],
)
def test_bad_claims_files_are_one_line_errors(run, tmp_path, text, message):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    result = run("check", str(path))
    assert result.exit_code == 2 and message in result.stderr


def test_free_memory_claims_go_through_the_engines_fraction_of_free():
    # TensorRT-LLM memory.md: 70.48 GiB available, 0.9, 64-token blocks, 8-bit KV -> 259,840
    spec = load_model("llama2-7b")
    fields = dict(model="llama2-7b", quantity="engine_tokens", engine="tensorrt-llm")
    fields |= dict(kv_dtype="int8", block_size=64, free_memory="70.48 GiB", published="259840")
    assert judge(spec, claim(**fields, expect="exact")).ok
    # the same memory as vLLM's KV budget would be refused: its fraction is of the device
    with pytest.raises(UsageError, match="free_memory applies to engines"):
        vllm = {**fields, "engine": "vllm", "block_size": None, "kv_dtype": "fp8"}
        judge(spec, claim(**vllm, expect="exact"))


def test_layer_token_bytes_is_one_row_of_the_format():
    # Llama 3 70B, int8_per_token_head: 2 x (8 x 128 + 8 x 4 B) = 2,112 B per token per layer
    outcome = judge(
        load_model("llama3-70b"),
        claim(
            quantity="layer_token_bytes",
            engine="vllm",
            kv_dtype="int8_per_token_head",
            published="2112 B",
            expect="exact",
        ),
    )
    assert outcome.ok
