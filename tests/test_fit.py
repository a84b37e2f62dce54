"""Inverse answers: exact, N fits and N+1 does not, logarithmic in the budget."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcalc import deploy as deployment
from kvcalc import fitting as solver
from kvcalc import search
from kvcalc.budget import Target, make_target, parallelism
from kvcalc.catalog import all_models, load_hardware, load_model
from kvcalc.deploy import deploy
from kvcalc.dtypes import KV_FORMATS, kv_format, weight_format
from kvcalc.engines.memory import DeviceFacts
from kvcalc.errors import UsageError
from kvcalc.fitting import Question, fit_model
from kvcalc.sizing import merge
from kvcalc.units import GB, TB, GiB, MiB
from tests.conftest import FP16, make_spec

# formats with a form for every cache kind (fp8_ds_mla is an MLA row only, and so on)
ANY_KIND_FORMATS = sorted(name for name, f in KV_FORMATS.items() if f.kinds is None)


def q(mem, **kw):
    return Question(
        target=Target(device=DeviceFacts(name="test", kind="gpu", memory_bytes=mem)), **kw
    )


def exact(mem, **kw):
    """util 1, no overhead, bf16 weights: the issue's pinned setting."""
    return q(mem, util=Fraction(1), overhead_bytes=0, weights=weight_format("bf16"), **kw)


def test_llama3_8b_on_24gb():
    r = fit_model(load_model("llama3-8b"), exact(24 * GB))
    # weights 8,030,261,248 x 2 = 16,060,522,496; KV budget 24,000,000,000 - that = 7,939,477,504
    assert r.budget.weight_bytes == 8_030_261_248 * 2 == 16_060_522_496
    assert r.budget.kv_bytes == 24 * 10**9 - 16_060_522_496 == 7_939_477_504
    # 131,072 B/token: 7,939,477,504 // 131,072 = 60,573 (60,573 x 131,072 = 7,939,440,640)
    assert r.max_context_memory == 7_939_477_504 // 131_072 == 60_573
    assert r.max_context == 8192  # the model's limit, not memory's
    # 8,192 tokens x 131,072 B = 1,073,741,824 B per request; 7,939,477,504 // that = 7
    assert r.seq == 8192 and r.max_batch == 7
    assert r.fits


def test_llama3_8b_on_24gib():
    r = fit_model(load_model("llama3-8b"), exact(24 * GiB))
    # 25,769,803,776 - 16,060,522,496 = 9,709,281,280 B of KV
    assert r.budget.kv_bytes == 9_709_281_280
    # 9,709,281,280 / 131,072 = 74,075.94: 74,075 tokens fit.  (Issue #3 says 74,076, but
    # 74,076 x 131,072 = 9,709,289,472 > 9,709,281,280: one token over.)
    assert r.max_context_memory == 74_075
    assert 74_076 * 131_072 > r.budget.kv_bytes >= 74_075 * 131_072
    assert r.max_batch == 9  # 9 x 1,073,741,824 = 9,663,676,416 <= 9,709,281,280


def test_util_and_overhead_defaults():
    h100 = make_target(load_hardware("h100"), None, None)
    r = fit_model(load_model("llama3-8b"), Question(target=h100))
    # 81,559 MiB = 85,520,809,984 B; x 0.9 = 76,968,728,985.6 -> 76,968,728,985
    assert r.budget.device_bytes == 81_559 * MiB == 85_520_809_984
    assert r.budget.usable_bytes == 85_520_809_984 * 9 // 10 == 76_968_728_985
    assert r.budget.overhead_bytes == 3 * GiB // 2
    assert r.budget.weight_format == "bf16"  # the model's native dtype
    cpu = fit_model(load_model("llama3-8b"), Question(target=make_target(None, 64 * GB, "cpu")))
    assert cpu.budget.util == 1 and cpu.budget.overhead_bytes == 512 * MiB
    mac = make_target(load_hardware("m2-ultra"), None, None)
    assert mac.default_util == Fraction(3, 4) and mac.device_bytes == 192 * GiB


def test_exact_checkpoint_bytes_are_the_weights():
    # gpt-oss-120b: MXFP4 experts (17 B per 32) + bf16 rest = 65,248,815,744 B, which one
    # H100 holds: 76,968,728,985 usable - that - 1,610,612,736 overhead = 10,109,300,505 B of KV
    r = fit_model(
        load_model("gpt-oss-120b"), Question(target=make_target(load_hardware("h100"), None, None))
    )
    assert (r.budget.weight_format, r.budget.weight_bytes) == ("checkpoint", 65_248_815_744)
    assert r.budget.kv_bytes == 76_968_728_985 - 65_248_815_744 - 1_610_612_736 == 10_109_300_505
    assert r.fits
    # asking for a format replaces the checkpoint bytes with params x format
    bf16 = fit_model(load_model("gpt-oss-120b"), q(80 * GB, weights=weight_format("bf16")))
    assert bf16.budget.weight_bytes == 116_829_156_672 * 2


def test_kv_only():
    r = fit_model(load_model("llama3-8b"), q(8 * GiB, kv_only=True, util=Fraction(1)))
    # Llama 3 8B: 131,072 B/token, so 8 GiB / 131,072 = 65,536 tokens exactly
    assert r.budget.kv_bytes == 8 * GiB and r.max_context_memory == 65_536
    mha = fit_model(load_model("llama2-7b"), q(8 * GiB, kv_only=True, util=Fraction(1)))
    # vLLM's own test: 32 layers x 32 KV heads x 128 x 2 B x 2 = 524,288 B/token -> 16,384
    assert mha.max_context_memory == 8 * GiB // 524_288 == 16_384


def test_both_seq_and_batch_gives_headroom():
    r = fit_model(load_model("llama3-8b"), exact(24 * GB, seq=8192, batch=7))
    assert r.fits and r.used_bytes == 7 * 1_073_741_824
    assert r.headroom_bytes == 7_939_477_504 - 7_516_192_768 == 423_284_736
    r = fit_model(load_model("llama3-8b"), exact(24 * GB, seq=8192, batch=8))
    assert not r.fits and r.headroom_bytes < 0


def test_window_makes_context_unbounded():
    # Mistral 7B v0.1: every layer holds at most 4,096 tokens -> 536,870,912 B per request
    r = fit_model(load_model("mistral-7b"), exact(24 * GB))
    assert r.max_context_memory is None and r.max_context == 32_768
    # (24e9 - 14,483,464,192) // 536,870,912 = 17 requests of 32,768 tokens
    assert r.max_batch == (24 * GB - 7_241_732_096 * 2) // 536_870_912 == 17


def test_weights_alone_too_big():
    r = fit_model(load_model("llama3-70b"), q(24 * GB))
    assert r.budget.kv_bytes < 0 and r.max_context_memory == 0 and r.max_batch == 0
    assert not r.fits
    hints = solver.what_would_fit(load_model("llama3-70b"), q(24 * GB))
    assert hints == ["--gpus 8 (tensor parallel 8)"]
    hints = solver.what_would_fit(load_model("llama3-8b"), q(16 * GB))
    assert hints[0] == "--weights q8_0"


def test_tensor_parallel_replicates_past_kv_heads():
    spec = load_model("llama3-70b")
    # 8 KV heads: tp 8 -> 1 head per GPU; tp 16 -> still 1 (a replica), not 1/2
    per_token = [deploy(spec, tp).bytes_per_device(1, 1, FP16, FP16) for tp in (1, 2, 8, 16, 64)]
    assert per_token == [327_680, 163_840, 40_960, 40_960, 40_960]
    # 80 layers x 1 head x 128 x 2 B x 2 = 40,960


def test_mla_latent_is_replicated_on_every_rank():
    spec = load_model("deepseek-v3")
    # 61 x 576 x 2 = 70,272 B per token on every GPU, whatever the tensor parallel size
    assert [deploy(spec, tp).bytes_per_device(1, 1, FP16, FP16) for tp in (1, 8)] == [70_272] * 2


def test_pipeline_split_follows_layer_order_for_gemma_3():
    spec = load_model("gemma-3-27b")
    # 62 layers on 2 stages: [31, 31]; layers 0-30 hold 5 global (5, 11, 17, 23, 29) and
    # 26 local, 31-61 hold 5 global and 26 local: both stages weigh the same
    stages = deploy(spec, 1, 2).stages
    kinds = [sorted((g.cache.kind, g.count) for g in merge(stage)) for stage in stages]
    assert kinds == [[("full", 5), ("sliding", 26)]] * 2


def test_pipeline_parallel_most_loaded_stage_decides():
    spec = load_model("llama3-70b")
    # 80 layers on 3 stages: [27, 27, 26]; the 27-layer stages decide: 27 x 4,096 = 110,592 B
    assert deploy(spec, 1, 3).bytes_per_device(1, 1, FP16, FP16) == 27 * 4096 == 110_592


def test_weights_divide_over_all_gpus():
    r = fit_model(load_model("llama3-70b"), q(80 * GB, tp=4, pp=2))
    # 70,553,706,496 x 2 = 141,107,412,992 B over 8 GPUs = 17,638,426,624 B each
    assert r.budget.weight_bytes == 141_107_412_992 // 8 == 17_638_426_624


@pytest.mark.parametrize(
    "gpus, tp, pp, expected",
    [
        (None, None, None, (1, 1)),
        (8, None, None, (8, 1)),
        (8, 4, None, (4, 2)),
        (8, None, 2, (4, 2)),
        (None, 2, 2, (2, 2)),
        (4, 2, 2, (2, 2)),
    ],
)
def test_parallelism(gpus, tp, pp, expected):
    assert parallelism(gpus, tp, pp, "gpu") == expected


@pytest.mark.parametrize(
    "gpus, tp, pp, kind, message",
    [
        (8, 3, None, "gpu", "not a multiple"),
        (8, 2, 2, "gpu", "but --gpus is 8"),
        (0, None, None, "gpu", "at least 1"),
        (2, None, None, "cpu", "one RAM budget"),
    ],
)
def test_parallelism_errors(gpus, tp, pp, kind, message):
    with pytest.raises(UsageError, match=message):
        parallelism(gpus, tp, pp, kind)


def test_tp_must_divide_heads():
    with pytest.raises(UsageError, match="does not divide 64 query heads"):
        deploy(load_model("llama3-70b"), 3)


def test_util_range():
    for bad in (Fraction(0), Fraction(11, 10), Fraction(-1, 2)):
        with pytest.raises(UsageError, match="--util"):
            fit_model(load_model("llama3-8b"), q(24 * GB, util=bad))


def test_100tb_costs_no_more_search_than_24gb(monkeypatch):
    """Logarithmic: count calls of the sizing function, not time."""
    calls = {"n": 0}
    real = deployment.size

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(deployment, "size", counting)
    spec = load_model("llama3-8b")
    counts = []
    for mem in (24 * GB, 100 * TB, 10**21):
        calls["n"] = 0
        fit_model(spec, exact(mem))
        counts.append(calls["n"])
    # bisection over ~10^13 tokens is ~43 halvings per search; two searches + checks
    assert all(c <= 2 * 70 for c in counts)


# ---- the property: N fits, N+1 does not
@st.composite
def questions(draw):
    heads, kv = draw(st.sampled_from([(8, 8), (8, 2), (8, 1), (16, 4), (32, 8), (4, 4)]))
    layers = draw(st.integers(1, 40))
    window = draw(st.none() | st.integers(1, 3000))
    if draw(st.booleans()) and layers > 1:  # a local/global mix
        split = draw(st.integers(1, layers - 1))
        rest = draw(
            st.sampled_from(
                [
                    {"kind": "full", "count": layers - split},
                    {
                        "kind": "mamba",
                        "count": layers - split,
                        "d_inner": heads * 64,
                        "d_state": 16,
                        "d_conv": 4,
                    },
                    {
                        "kind": "latent",
                        "count": layers - split,
                        "kv_lora_rank": 512,
                        "qk_rope_head_dim": 64,
                    },
                ]
            )
        )
        groups = [{"kind": "sliding", "count": split, "window": draw(st.integers(1, 3000))}, rest]
        spec = make_spec(
            num_query_heads=heads,
            num_kv_heads=kv,
            hidden_size=heads * 64,
            num_layers=layers,
            layers=groups,
        )
    else:
        spec = make_spec(
            num_query_heads=heads,
            num_kv_heads=kv,
            hidden_size=heads * 64,
            num_layers=layers,
            sliding_window=window,
        )
    tp = draw(st.sampled_from([t for t in (1, 2, 4, 8) if heads % t == 0]))
    pp = draw(st.integers(1, min(layers, 4)))
    fmt = kv_format(draw(st.sampled_from(ANY_KIND_FORMATS)))
    budget = draw(st.integers(1, 10**13))
    return spec, deploy(spec, tp, pp), fmt, budget


@settings(max_examples=300, deadline=None)
@given(questions(), st.integers(1, 64), st.integers(1, 10**6))
def test_answers_are_exact(question, batch, seq):
    spec, dep, fmt, kv = question
    n = search.max_context(dep, batch, kv, fmt, fmt)
    if n is None:  # unbounded: the saturated size fits, and nothing grows past it
        cap = dep.saturates_at
        assert cap is not None
        assert dep.bytes_per_device(cap, batch, fmt, fmt) <= kv
        assert dep.bytes_per_device(cap * 1000, batch, fmt, fmt) == dep.bytes_per_device(
            cap, batch, fmt, fmt
        )
    else:
        assert n == 0 or dep.bytes_per_device(n, batch, fmt, fmt) <= kv
        assert dep.bytes_per_device(n + 1, batch, fmt, fmt) > kv
    b = search.max_batch(dep, seq, kv, fmt, fmt)
    assert b == 0 or dep.bytes_per_device(seq, b, fmt, fmt) <= kv
    assert dep.bytes_per_device(seq, b + 1, fmt, fmt) > kv


# H200: 143,771 MiB = 150,754,820,096 B x 0.9 = 135,679,338,086 usable, minus 1.5 GiB
# overhead = 134.07 GB for weights and KV.  Too big: bf16 70B-class weights (llama2-70b
# 137.95 GB, llama3-70b 141.11 GB, qwen2.5-72b 145.41 GB), 405B (811.71 GB), DeepSeek V3 in
# fp8 (671.03 GB), Qwen3-Next in bf16 (79,674,391,296 x 2 = 159.35 GB).  Mixtral 8x7B fits:
# 46,702,792,704 x 2 = 93.41 GB.
TOO_BIG_FOR_ONE_H200 = {
    "llama2-70b",
    "llama3-70b",
    "qwen2.5-72b",
    "llama3.1-405b",
    "deepseek-v3",
    "qwen3-next-80b-a3b",
    # 70B-class in bf16: 70,553,706,496 x 2 = 141.11 GB
    "llama3.1-70b",
    "llama3.3-70b",
    "deepseek-r1-distill-llama-70b",
    "qwen3-235b-a22b",  # 235,093,634,560 x 2 = 470.19 GB
    "kimi-k2",  # fp8: 1,026.41 GB
    "llama4-scout",  # 108,641,793,536 x 2 = 217.28 GB
    "llama4-maverick",  # 401,583,781,376 x 2 = 803.17 GB
}


@pytest.mark.parametrize("spec", all_models(), ids=lambda s: s.id)
def test_every_preset_on_one_h200(spec):
    r = fit_model(spec, Question(target=make_target(load_hardware("h200"), None, None)))
    assert r.budget.usable_bytes == 135_679_338_086
    if spec.id in TOO_BIG_FOR_ONE_H200:
        assert r.budget.kv_bytes < 0 and not r.fits and r.max_batch == 0
    else:
        assert r.fits and r.max_batch >= 1
        assert 1 <= r.max_context <= spec.max_context
