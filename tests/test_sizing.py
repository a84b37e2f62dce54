"""Golden values with their arithmetic written out, and properties of the formula."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvcalc.catalog import load_model
from kvcalc.dtypes import KV_FORMATS, kv_format
from kvcalc.errors import UsageError
from kvcalc.layers import expand
from kvcalc.sizing import dial, divisors, resolve_kv_heads, size, variants
from tests.conftest import FP16, make_spec

# formats with a form for every cache kind (fp8_ds_mla is an MLA row only, and so on)
ANY_KIND_FORMATS = sorted(name for name, f in KV_FORMATS.items() if f.kinds is None)


def total(model, seq, batch, kv_heads=None, fmt=FP16):
    return size(expand(load_model(model), kv_heads), seq, batch, fmt, fmt).total_bytes


# ---- the headline: kvcalc size llama3-70b --seq 2048 --batch 32 (fp16)
def test_llama3_70b_gqa():
    # 2 (K,V) x 80 layers x 8 KV heads x 128 dims x 2 bytes = 327,680 bytes per token
    result = size(expand(load_model("llama3-70b")), 2048, 32, FP16, FP16)
    assert result.bytes_per_token == 2 * 80 * 8 * 128 * 2 == 327_680
    # x 2,048 tokens x 32 requests = 65,536 tokens
    assert result.total_bytes == 327_680 * 2048 * 32 == 21_474_836_480  # 21.47 GB, 20.00 GiB
    assert result.total_bytes == 20 * 2**30
    assert result.k_bytes == result.v_bytes == 10_737_418_240
    assert result.bytes_per_request == 327_680 * 2048 == 671_088_640


def test_llama3_70b_mha_and_mqa():
    # MHA: 64 KV heads -> 2 x 80 x 64 x 128 x 2 x 65,536 = 171,798,691,840 (160 GiB)
    assert total("llama3-70b", 2048, 32, 64) == 2 * 80 * 64 * 128 * 2 * 65_536 == 171_798_691_840
    # MQA: 1 KV head -> 2 x 80 x 1 x 128 x 2 x 65,536 = 2,684,354,560 (2.50 GiB)
    assert total("llama3-70b", 2048, 32, 1) == 2 * 80 * 1 * 128 * 2 * 65_536 == 2_684_354_560
    assert total("llama3-70b", 2048, 32, 64) == 8 * total("llama3-70b", 2048, 32)


def test_source_article_figures_are_other_configurations():
    # The article's "20.9 GB -> 2.6 GB" for 2,048 x 32 is not MHA -> GQA at batch 32 ...
    mha, gqa, mqa = (total("llama3-70b", 2048, 32, h) for h in (64, 8, 1))
    assert (mha, gqa) == (171_798_691_840, 21_474_836_480)
    # ... it is close to GQA-8 -> MQA at batch 32 (21.47 GB -> 2.68 GB) ...
    assert (round(gqa / 1e9, 1), round(mqa / 1e9, 1)) == (21.5, 2.7)
    # ... or MHA -> GQA at batch 4: 2 x 80 x 64 x 128 x 2 x 8,192 = 21.47 GB -> 2.68 GB
    assert (total("llama3-70b", 2048, 4, 64), total("llama3-70b", 2048, 4)) == (gqa, mqa)


def test_llama2_7b_mha():
    # 2 x 32 layers x 32 heads x 128 x 2 bytes = 524,288 B/token; x 4,096 = 2 GiB
    assert total("llama2-7b", 4096, 1) == 524_288 * 4096 == 2_147_483_648 == 2 * 2**30


def test_mistral_window():
    # 32 layers x 8 heads x 128 x 2 x 2 = 131,072 B/token; the 4,096 window caps 32,768 tokens
    assert total("mistral-7b", 32768, 1) == 131_072 * 4096 == 536_870_912
    # without the window (v0.3) every token stays: 131,072 x 32,768 = 4,294,967,296
    assert total("mistral-7b-v0.3", 32768, 1) == 131_072 * 32768 == 4_294_967_296


def test_deepseek_v3_latent():
    # 61 layers x (512 + 64) x 2 bytes = 70,272 B/token; x 2,048 x 32 = 4,605,345,792 B
    result = size(expand(load_model("deepseek-v3")), 2048, 32, FP16, FP16)
    assert result.bytes_per_token == 61 * 576 * 2 == 70_272
    assert result.total_bytes == 70_272 * 65_536 == 4_605_345_792
    assert result.v_bytes == 0  # the latent is one row, reported as K


def test_mla_has_no_kv_heads_to_dial():
    spec = load_model("deepseek-v3")
    shown = variants(spec, 10, 1, FP16, FP16)
    assert [(v.name, v.kv_heads, v.attention) for v in shown] == [("configured", 1, "MLA")]
    for args in ((8, None), (None, "mha")):
        with pytest.raises(UsageError, match="MLA latent"):
            resolve_kv_heads(spec, *args)
    with pytest.raises(UsageError, match="MLA latent"):
        dial(spec, 10, 1, FP16, FP16)


def test_falcon_7b_is_mqa_and_qwen25_has_no_window():
    # Falcon 7B: 32 layers x 1 KV head x 64 x 2 B x 2 = 8,192 B/token (71 heads would be 581,632)
    assert total("falcon-7b", 1, 1) == 32 * 1 * 64 * 2 * 2 == 8192
    # Qwen2.5 7B: sliding_window 131072 in its config is disabled: every token stays
    assert total("qwen2.5-7b", 200_000, 1) == 57_344 * 200_000
    # Qwen3 32B: explicit head_dim 128 (hidden/heads would be 80)
    assert total("qwen3-32b", 1, 1) == 2 * 64 * 8 * 128 * 2


def test_gemma_3_local_global_mix():
    # one token in every layer: 62 x 16 KV heads x 128 x 2 B x 2 = 507,904 B
    short = size(expand(load_model("gemma-3-27b")), 1, 1, FP16, FP16)
    assert short.total_bytes == 62 * 8192 == 507_904
    # 131,072 tokens: 10 global layers hold all; 52 local layers hold 1,024
    long = size(expand(load_model("gemma-3-27b")), 131_072, 1, FP16, FP16)
    assert long.total_bytes == 10 * 8192 * 131_072 + 52 * 8192 * 1024 == 11_173_625_856
    assert long.total_bytes < 62 * 8192 * 131_072  # 66,571,993,088 with every layer full
    assert [(g.cache.kind, g.count) for g in long.groups] == [("sliding", 52), ("full", 10)]


def test_gemma_2_alternation_order_and_merge():
    groups = expand(load_model("gemma-2-9b"))
    assert len(groups) == 42 and groups[0].cache.kind == "sliding"  # layer 0 is local
    # 21 local x 4,096 + 21 global x 8,192 tokens, 8,192 B per token per layer (256-dim heads)
    assert size(groups, 8192, 1, FP16, FP16).total_bytes == 21 * 8192 * (4096 + 8192)


def test_jamba_state_is_constant_per_request():
    # 28 Mamba layers x (8,192 x 3 conv + 8,192 x 16 SSM) x 2 B = 8,716,288 B per request
    state = 28 * (8192 * 3 + 8192 * 16) * 2
    assert state == 8_716_288
    for seq in (1, 1000, 262_144):
        result = size(expand(load_model("jamba-v0.1")), seq, 2, FP16, FP16)
        assert result.state_bytes == 2 * state  # two requests, whatever the length
        assert result.k_bytes + result.v_bytes == 2 * seq * 16_384  # 4 attention layers
    # the state is not charged as KV: 32 full layers would be 131,072 B/token
    assert size(expand(load_model("jamba-v0.1")), 1, 1, FP16, FP16).bytes_per_token == 16_384


def test_qwen3_next_deltanet_state():
    # 36 layers x ((2 x 16 x 128 + 32 x 128) x 3 + 32 x 128 x 128) x 2 B = 39,518,208
    result = size(expand(load_model("qwen3-next-80b-a3b")), 4096, 1, FP16, FP16)
    assert result.state_bytes == 36 * (8192 * 3 + 524_288) * 2 == 39_518_208
    assert result.k_bytes + result.v_bytes == 4096 * 24_576


def test_state_ignores_kv_dtype_but_shards_over_tp():
    fp8 = kv_format("fp8")
    result = size(expand(load_model("jamba-v0.1")), 10, 1, fp8, fp8)
    assert result.state_bytes == 8_716_288  # kept at bf16 when the KV cache is fp8
    from kvcalc.fitting import deploy

    # tp 2: half the channels on each rank -> 4,358,144 B of state per GPU per request
    assert deploy(load_model("jamba-v0.1"), 2).state_bytes(FP16, FP16) == 8_716_288 // 2


def test_gpt_oss_20b_half_windowed():
    # 12 layers with a 128-token window + 12 full layers; 8 x 64 x 2 B x 2 = 2,048 B per
    # layer-token: at 10,000 tokens 12 x 2,048 x (128 + 10,000) = 248,905,728 B
    result = size(expand(load_model("gpt-oss-20b")), 10_000, 1, FP16, FP16)
    assert result.total_bytes == 12 * 2048 * (128 + 10_000) == 248_905_728
    assert sorted((g.cache.kind, g.count) for g in result.groups) == [("full", 12), ("sliding", 12)]


def test_gqa_ratios_from_the_article():
    # Llama 3 70B 64 -> 8 heads: 8x; Mistral 7B 32 -> 8: 4x
    assert total("llama3-70b", 100, 1, 64) == 8 * total("llama3-70b", 100, 1)
    assert total("mistral-7b-v0.3", 100, 1, 32) == 4 * total("mistral-7b-v0.3", 100, 1)


@pytest.mark.parametrize(
    "name, expected",
    [("fp32", 655_360), ("fp8", 163_840), ("int4", 81_920), ("q8_0", 174_080), ("q4_0", 92_160)],
)
def test_bytes_per_token_by_format(name, expected):
    # llama3-70b: 80 layers x 2 (K,V) x row_bytes(8 x 128 = 1,024 values)
    # fp32 4,096 B; fp8 1,024; int4 512; q8_0 32 blocks x 34 = 1,088; q4_0 32 x 18 = 576
    fmt = kv_format(name)
    result = size(expand(load_model("llama3-70b")), 1, 1, fmt, fmt)
    assert result.bytes_per_token == expected == 80 * 2 * fmt.row_bytes(1024)


def test_k_and_v_formats_can_differ():
    result = size(expand(load_model("llama3-8b")), 10, 1, kv_format("fp16"), kv_format("fp8"))
    # 32 layers x 10 tokens x 1,024 values: K 2 bytes, V 1 byte each
    assert (result.k_bytes, result.v_bytes) == (32 * 10 * 2048, 32 * 10 * 1024)


def test_variants_and_dial():
    spec = load_model("llama3-70b")
    shown = variants(spec, 2048, 32, FP16, FP16)
    assert [(v.name, v.kv_heads, v.attention) for v in shown] == [
        ("configured", 8, "GQA-8"),
        ("mha", 64, "MHA"),
        ("mqa", 1, "MQA"),
    ]
    dialed = variants(spec, 2048, 32, FP16, FP16, kv_heads=4)
    assert (dialed[0].name, dialed[0].kv_heads, dialed[0].result.total_bytes) == (
        "dialed",
        4,
        10_737_418_240,
    )
    rows = dial(spec, 2048, 32, FP16, FP16)
    assert [r.kv_heads for r in rows] == [1, 2, 4, 8, 16, 32, 64]
    assert [r.name for r in rows].count("configured") == 1


def test_resolve_kv_heads():
    spec = load_model("llama3-70b")
    assert resolve_kv_heads(spec, None, "MHA") == 64
    assert resolve_kv_heads(spec, None, "mqa") == 1
    assert resolve_kv_heads(spec, 16, None) == 16
    for bad in ((3, None), (0, None), (None, "gqa"), (4, "mha")):
        with pytest.raises(UsageError):
            resolve_kv_heads(spec, *bad)


def test_divisors():
    assert divisors(64) == [1, 2, 4, 8, 16, 32, 64]
    assert divisors(71) == [1, 71]
    assert divisors(40) == [1, 2, 4, 5, 8, 10, 20, 40]


def test_size_refuses_bad_counts():
    with pytest.raises(UsageError):
        size(expand(make_spec()), 10, 0, FP16, FP16)


# ---- properties
heads_and_groups = st.sampled_from([1, 2, 4, 8, 16, 32, 64]).flatmap(
    lambda h: st.tuples(st.just(h), st.sampled_from(divisors(h)))
)
formats = st.sampled_from(ANY_KIND_FORMATS)


@st.composite
def toy_specs(draw):
    heads, kv = draw(heads_and_groups)
    window = draw(st.none() | st.integers(1, 5000))
    return make_spec(
        num_query_heads=heads,
        num_kv_heads=kv,
        hidden_size=heads * draw(st.sampled_from([32, 64, 128])),
        num_layers=draw(st.integers(1, 100)),
        sliding_window=window,
    )


@given(toy_specs(), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 64), formats)
def test_monotone_in_seq_and_batch(spec, seq_a, seq_b, batch, fmt_name):
    fmt = kv_format(fmt_name)
    groups = expand(spec)
    lo, hi = sorted((seq_a, seq_b))
    assert (
        size(groups, lo, batch, fmt, fmt).total_bytes
        <= size(groups, hi, batch, fmt, fmt).total_bytes
    )
    assert (
        size(groups, hi, batch, fmt, fmt).total_bytes
        <= size(groups, hi, batch + 1, fmt, fmt).total_bytes
    )


@given(toy_specs(), st.integers(0, 10**7), st.integers(1, 1000), formats, formats)
def test_k_plus_v_is_total_and_batch_is_linear(spec, seq, batch, k_name, v_name):
    kf, vf = kv_format(k_name), kv_format(v_name)
    result = size(expand(spec), seq, batch, kf, vf)
    assert result.k_bytes + result.v_bytes + result.state_bytes == result.total_bytes
    assert result.total_bytes == batch * size(expand(spec), seq, 1, kf, vf).total_bytes
    assert sum(g.total_bytes for g in result.groups) == result.total_bytes


@given(toy_specs(), st.integers(0, 10**7), st.integers(1, 1000))
def test_gqa_is_mha_times_g_over_h(spec, seq, batch):
    heads = spec.num_query_heads
    for g in divisors(heads):
        gqa = size(expand(spec, g), seq, batch, FP16, FP16).total_bytes
        mha = size(expand(spec, heads), seq, batch, FP16, FP16).total_bytes
        assert gqa * heads == mha * g  # GQA = MHA x G / H, exactly
