"""Engine profiles: each rule's golden values with the arithmetic written out."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcalc.budget import make_target
from kvcalc.catalog import all_models, load_model
from kvcalc.dtypes import kv_format
from kvcalc.engines import ENGINES, IDEAL, engine
from kvcalc.errors import UnknownNameError, UsageError
from kvcalc.fitting import Question, fit_model
from kvcalc.render_engine import c_mib, log_lines
from kvcalc.sizing import engine_groups, size
from kvcalc.units import GiB, MiB

FP16 = kv_format("fp16")


def sized(model: str, seq: int, batch: int, name: str, k: str = "fp16", v: str | None = None):
    spec = load_model(model)
    chosen = engine(name)
    kf, vf = kv_format(k), kv_format(v or k)
    return size(engine_groups(spec, None, chosen), seq, batch, kf, vf, chosen)


def test_vllm_rounds_every_request_up_to_16_token_blocks():
    # Llama 3 8B: 131,072 B/token; 1,000 tokens -> cdiv(1,000, 16) = 63 blocks = 1,008 tokens
    assert sized("llama3-8b", 1000, 3, "vllm").total_bytes == 3 * 1008 * 131_072


def test_vllm_sliding_window_keeps_window_plus_batched_tokens_plus_a_block():
    # Mistral 7B v0.1, window 4,096, 32,768 tokens: min(4,095 + 2,048, 32,768) = 6,143
    # -> cdiv(6,143, 16) + 1 = 385 blocks = 6,160 tokens x 32 layers x 4,096 B
    assert sized("mistral-7b", 32768, 1, "vllm").total_bytes == 32 * 6160 * 4096
    assert sized("mistral-7b", 32768, 1, "ideal").total_bytes == 32 * 4096 * 4096


def test_sglang_adds_one_padding_slot_per_layer():
    # Llama 3 8B, 1,000 tokens x 2 requests: (2,000 + 1) slots x 32 layers x 4,096 B
    assert sized("llama3-8b", 1000, 2, "sglang").total_bytes == 2001 * 32 * 4096


def test_llamacpp_pads_n_ctx_to_256_and_sizes_the_swa_cache():
    # -c 35,000 becomes 35,072 cells (llama-context.cpp GGML_PAD(n_ctx, 256))
    assert sized("llama3-8b", 35000, 1, "llamacpp").total_bytes == 35072 * 32 * 4096
    # legacy: padded to 32: 35,008
    assert sized("llama3-8b", 35000, 1, "llamacpp-b5400").total_bytes == 35008 * 32 * 4096
    # Gemma 2 9B, window 4,096, 32,768 tokens x 2 requests.  llama-server's auto slots
    # (no -np): 4 slots share one unified cache of -c 65,536 cells for the 21 full layers;
    # SWA: min(65,536, pad(4,096 x 4 slots + 512, 256) = 16,896) for the 21 sliding layers
    result = sized("gemma-2-9b", 32768, 2, "llamacpp")
    assert sorted({g.cells for g in result.groups}) == [16896, 65536]
    # -np 2 -kvu: 2 slots share the cache: pad(4,096 x 2 + 512, 256) = 8,704
    spec, unified = load_model("gemma-2-9b"), engine("llamacpp", parallel=2, kv_unified=True)
    result = size(engine_groups(spec, None, unified), 32768, 2, FP16, FP16, unified)
    assert sorted({g.cells for g in result.groups}) == [8704, 65536]
    # -np 2: one stream per slot, -c 65,536 -> 2 x 32,768 cells; the window counts once
    # per stream: pad(4,096 + 512, 256) = 4,608 cells x 2 streams = 9,216
    streams = engine("llamacpp", parallel=2)
    result = size(engine_groups(spec, None, streams), 32768, 2, FP16, FP16, streams)
    assert sorted({g.cells for g in result.groups}) == [9216, 65536]


def test_llamacpp_keeps_recurrent_state_in_f32_one_row_per_slot():
    # Jamba: a Mamba layer's state is (24,576 + 131,072) values; bf16 in the ideal
    # profile, f32 in llama.cpp: 2 x the bytes, and one row for each of the 4 auto slots
    ideal = sized("jamba-v0.1", 4096, 1, "ideal").state_bytes
    assert sized("jamba-v0.1", 4096, 1, "llamacpp").state_bytes == 4 * 2 * ideal
    one_slot = engine("llamacpp", parallel=1)
    spec = load_model("jamba-v0.1")
    result = size(engine_groups(spec, None, one_slot), 4096, 1, FP16, FP16, one_slot)
    assert result.state_bytes == 2 * ideal


def test_transformers_caches_mla_decompressed():
    # DeepSeek V3: 128 heads x (192 + 128) x 2 B = 81,920 B per token per layer, not 1,152
    result = sized("deepseek-v3", 4096, 1, "transformers")
    assert result.total_bytes == 61 * 4096 * 81_920
    assert sized("deepseek-v3", 4096, 1, "vllm").total_bytes == 61 * 4096 * 1152


@pytest.mark.parametrize(
    ("model", "seq", "k", "v", "line"),
    [
        (
            "llama2-7b",
            4096,
            "fp16",
            "fp16",
            "llama_kv_cache: size = 2048.00 MiB (  4096 cells,  32 layers,  1/1 seqs), "
            "K (f16): 1024.00 MiB, V (f16): 1024.00 MiB",
        ),
        (
            "llama3-8b",
            8192,
            "fp16",
            "fp16",
            "llama_kv_cache: size = 1024.00 MiB (  8192 cells,  32 layers,  1/1 seqs), "
            "K (f16):  512.00 MiB, V (f16):  512.00 MiB",
        ),
        (
            # q8_0: 1,024 values = 32 blocks x 34 B = 1,088 B per row; 32 x 8,192 x 1,088 = 272 MiB
            "llama3-8b",
            8192,
            "q8_0",
            "q4_0",
            "llama_kv_cache: size =  416.00 MiB (  8192 cells,  32 layers,  1/1 seqs), "
            "K (q8_0):  272.00 MiB, V (q4_0):  144.00 MiB",
        ),
        (
            # DeepSeek V2 Lite: 27 layers x 576 x 2 B x 4,096 cells = 121.5 MiB, no V
            "deepseek-v2-lite",
            4096,
            "fp16",
            "fp16",
            "llama_kv_cache: size =  121.50 MiB (  4096 cells,  27 layers,  1/1 seqs), "
            "K (f16):  121.50 MiB, V (f16):    0.00 MiB",
        ),
    ],
)
def test_llamacpp_log_line(model, seq, k, v, line):
    chosen = engine("llamacpp", parallel=1)
    spec, kf, vf = load_model(model), kv_format(k), kv_format(v)
    result = size(engine_groups(spec, None, chosen), seq, 1, kf, vf, chosen)
    printed = log_lines(chosen.size_report(result, kf, vf))
    assert [text for text in printed if "size = " in text and "buffer" not in text] == [line]


def test_llamacpp_legacy_kv_self_size_line():
    result = sized("llama2-7b", 4096, 1, "llamacpp-b5400")
    assert log_lines(engine("llamacpp-b5400").size_report(result, FP16, FP16)) == [
        "llama_kv_cache_unified: KV self size  = 2048.00 MiB, K (f16): 1024.00 MiB, "
        "V (f16): 1024.00 MiB"
    ]


def test_c_mib_rounds_through_float32_like_llama_cpp():
    assert c_mib(2 * GiB) == "2048.00"
    assert c_mib(3 * MiB // 2) == "   1.50"


def kv_only(model: str, name: str, mem: int, seq: int) -> list[str]:
    target = make_target(None, mem, None)
    q = Question(target=target, util=Fraction(1), kv_only=True, seq=seq, engine=engine(name))
    return log_lines(fit_model(load_model(model), q).report)


@pytest.mark.parametrize(
    ("model", "mem", "seq", "lines"),
    [
        # vLLM's own test: 32 layers x 32 heads x 128 x 2 B x 2 (K, V) = 524,288 B/token;
        # 8 GiB / (16 x 524,288) = 1,024 blocks = 16,384 tokens; 4,096 tokens = 256 blocks -> 4x
        (
            "llama2-7b",
            8 * GiB,
            4096,
            [
                "Available KV cache memory: 8.0 GiB",
                "GPU KV cache size: 16,384 tokens",
                "Maximum concurrency for 4,096 tokens per request: 4.00x",
            ],
        ),
        # Llama 3 8B: 131,072 B/token; 10 GiB / (16 x 131,072) = 5,120 blocks = 81,920 tokens;
        # 8,000 tokens need cdiv(8,000, 16) = 500 blocks -> 10.24x
        (
            "llama3-8b",
            10 * GiB,
            8000,
            [
                "Available KV cache memory: 10.0 GiB",
                "GPU KV cache size: 81,920 tokens",
                "Maximum concurrency for 8,000 tokens per request: 10.24x",
            ],
        ),
        # DeepSeek V2 Lite (MLA): 27 x 576 x 2 B = 31,104 B/token; 4,294,967,296 //
        # (16 x 31,104) = 8,630 blocks = 138,080 tokens; 8,630 / 256 blocks = 33.71x
        (
            "deepseek-v2-lite",
            4 * GiB,
            4096,
            [
                "Available KV cache memory: 4.0 GiB",
                "GPU KV cache size: 138,080 tokens",
                "Maximum concurrency for 4,096 tokens per request: 33.71x",
            ],
        ),
    ],
)
def test_vllm_log_lines(model, mem, seq, lines):
    assert kv_only(model, "vllm", mem, seq) == lines


@pytest.mark.parametrize(
    ("model", "mem", "line"),
    [
        # 8 GiB / 524,288 B = 16,384 tokens; K per token 32 x 32 x 128 x 2 B = 262,144 B;
        # (16,384 + 1 padding slot) x 262,144 = 4,295,229,440 B = 4.0002 GiB
        (
            "llama2-7b",
            8 * GiB,
            "KV Cache is allocated. #tokens: 16384, K size: 4.00 GB, V size: 4.00 GB",
        ),
        # 8 GiB / 131,072 B = 65,536 tokens; K (65,536 + 1) x 65,536 B = 4.00006 GiB
        (
            "llama3-8b",
            8 * GiB,
            "KV Cache is allocated. #tokens: 65536, K size: 4.00 GB, V size: 4.00 GB",
        ),
        # MLA: one buffer; 4,294,967,296 // 31,104 = 138,084 tokens; (138,084 + 1) x 31,104 B
        # = 4,294,995,840 B = 4.00003 GiB
        ("deepseek-v2-lite", 4 * GiB, "KV Cache is allocated. #tokens: 138084, KV size: 4.00 GB"),
    ],
)
def test_sglang_log_line(model, mem, line):
    assert kv_only(model, "sglang", mem, 4096)[0] == f"{line}  (SGLang's GB is GiB)"


def test_sglang_budget_default_is_mem_fraction_static():
    # 0.4.1-0.4.7 (sglang/srt/server_args.py __post_init__): 0.88 for tp 1.  0.5.3+: 80 GB
    # = 76,293 MiB; reserved max(512 + 8,192 x 1.5 + 256 x 2 + 1/8 x 1,024, 10,240) =
    # 13,440 MiB -> round(62,853 / 76,293, 3) = 0.824, of the memory free before loading
    # (80 GB less 600 MiB in use)
    target = make_target(None, 80 * 10**9, None)
    old = fit_model(load_model("llama3-8b"), Question(target=target, engine=engine("sglang-0.4")))
    assert old.budget.util == Fraction(88, 100)
    assert old.budget.overhead_bytes == 0
    new = fit_model(load_model("llama3-8b"), Question(target=target, engine=engine("sglang")))
    assert new.budget.util == Fraction(824, 1000)
    assert new.budget.device_bytes == 80 * 10**9 - 600 * MiB


def test_engine_names_and_flags_are_checked():
    with pytest.raises(UnknownNameError, match="vllm"):
        engine("vlm")
    with pytest.raises(UsageError, match="block-size"):
        engine("llamacpp", 32)
    with pytest.raises(UsageError, match="q8_0"):
        engine("vllm").check_formats(kv_format("q8_0"), kv_format("q8_0"))
    with pytest.raises(UsageError, match="one cache dtype"):
        engine("vllm").check_formats(kv_format("fp8"), FP16)
    assert engine("vllm", 32).page == 32


@given(
    st.sampled_from(all_models()),
    st.sampled_from(sorted(set(ENGINES) - {"llamacpp-b5400"})),
    st.integers(0, 300_000),
    st.integers(1, 64),
)
def test_every_engine_allocates_at_least_the_ideal_bytes(spec, name, seq, batch):
    chosen = engine(name)
    fmt = kv_format("fp16")
    ideal = size(engine_groups(spec, None, IDEAL), seq, batch, fmt, fmt)
    real = size(engine_groups(spec, None, chosen), seq, batch, fmt, fmt, chosen)
    # llama.cpp widens recurrent state to f32; transformers decompresses MLA: both only grow
    assert real.total_bytes >= ideal.total_bytes


@given(
    st.sampled_from(all_models()),
    st.sampled_from(sorted(set(ENGINES) - {"llamacpp-b5400"})),
    st.integers(10**8, 10**13),
    st.integers(1, 16),
)
def test_engine_fit_answers_are_exact(spec, name, budget, batch):
    from kvcalc.deploy import deploy
    from kvcalc.search import max_batch, max_context

    chosen = engine(name)
    fmt = kv_format("fp16")
    dep = deploy(spec, engine=chosen)
    n = max_context(dep, batch, budget, fmt, fmt)
    if n:  # N tokens fit at this batch, N + 1 do not (None: windowed, unbounded)
        assert dep.bytes_per_device(n, batch, fmt, fmt) <= budget
        assert dep.bytes_per_device(n + 1, batch, fmt, fmt) > budget
    most = max_batch(dep, 4096, budget, fmt, fmt)
    if most:
        assert dep.bytes_per_device(4096, most, fmt, fmt) <= budget
        assert dep.bytes_per_device(4096, most + 1, fmt, fmt) > budget


def chunked_toy(name: str, seq: int, batch: int) -> int:
    """4 layers: 3 chunked (chunk 8,192) + 1 full; 2 KV heads x 64 dims, so one token in one
    layer is 2 x 64 x 2 B = 256 B of K and 256 B of V = 512 B."""
    from tests.conftest import make_spec

    spec = make_spec(
        layers=[{"kind": "chunked", "count": 3, "chunk": 8192}, {"kind": "full", "count": 1}]
    )
    chosen = engine(name)
    return size(engine_groups(spec, None, chosen), seq, batch, FP16, FP16, chosen).total_bytes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # chunked layers keep min(20,000, 8,192) per request; the full layer keeps 20,000
        ("ideal", 3 * 2 * 8192 * 512 + 1 * 2 * 20_000 * 512),  # 45,645,824
        ("transformers", 3 * 2 * 8192 * 512 + 1 * 2 * 20_000 * 512),
        # vLLM turns its hybrid KV cache manager off for chunked local attention
        # (vllm/config/vllm.py, 0.19): every layer is stored as full attention, 1,250 blocks
        ("vllm", 4 * 2 * 20_000 * 512),  # 81,920,000
        # SGLang keeps every layer at full length: 2 x 20,000 + 1 padding slot
        ("sglang", 4 * (2 * 20_000 + 1) * 512),  # 81,922,048
        # llama.cpp: n_ctx = pad(40,000, 256) = 40,192; llama-server's 4 auto slots share
        # it, and the chunked (SWA) cache keeps min(40,192, pad(8,192 x 4 + 512, 256) =
        # 33,280) cells
        ("llamacpp", 3 * 33_280 * 512 + 1 * 40_192 * 512),  # 71,696,384
    ],
)
def test_chunked_local_attention_under_every_engine(name, expected):
    assert chunked_toy(name, 20_000, 2) == expected


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(all_models()),
    st.sampled_from(sorted(set(ENGINES) - {"llamacpp-b5400"})),
    st.integers(10**8, 10**12),
    st.integers(1, 8),
)
def test_fit_through_each_engines_budget_is_exact(spec, name, mem, batch):
    """fit_model plans the engine's budget (TensorRT-LLM: a fraction of the free memory)
    and fills what its allocation holds: N tokens fit, N + 1 do not."""
    from kvcalc.deploy import deploy

    chosen = engine(name)
    fmt = kv_format("bf16")
    q = Question(target=make_target(None, mem, None), kv_only=True, batch=batch, engine=chosen)
    r = fit_model(spec, replace(q, k_format=fmt, v_format=fmt))
    n = r.max_context_memory
    if not n:  # None: every layer windowed, unbounded; 0: not one token
        return
    # the engine as the fit resolved it for the device (vLLM's batch limits by GPU memory)
    dep = deploy(spec, engine=r.engine)
    assert dep.bytes_per_device(n, batch, fmt, fmt) <= r.capacity_bytes
    assert dep.bytes_per_device(n + 1, batch, fmt, fmt) > r.capacity_bytes
