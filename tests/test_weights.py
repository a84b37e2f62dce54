"""Weights as vLLM loads them: per rank, per stage, with the arithmetic written out."""

from __future__ import annotations

import pytest

from kvcalc.catalog import all_models, load_model
from kvcalc.dtypes import weight_format
from kvcalc.weights import LINEAR_FORMATS, loaded_weights, padded_vocab

GiB = 1 << 30


def total(model: str, fmt: str | None = None, tp: int = 1, pp: int = 1) -> list[int]:
    spec = load_model(model)
    assert spec.dims is not None
    chosen = weight_format(fmt) if fmt else None
    return [s.total_bytes for s in loaded_weights(spec, spec.dims, chosen, tp, pp)]


def test_llama_31_8b_loads_14_99_gib_as_vllm_logs():
    # 8,030,261,248 params x 2 B = 16,060,522,496 B + RoPE table 131,072 x 128 x 2 B =
    # 33,554,432 B -> 16,094,076,928 B = 14.989 GiB: "Model loading took 14.99 GiB" in
    # llm-d-incubation/llm-d-planner PR #205 (vLLM 0.19.0, H100)
    assert total("llama3.1-8b") == [16_094_076_928]


def test_pipeline_stages_split_layers_embedding_first_lm_head_last():
    # PP 2: 16 layers each, a layer (4,096 x (32 + 8 + 8) x 128 QKV + 4,096^2 O + 3 x
    # 4,096 x 14,336 MLP) x 2 B + 2 norms x 4,096 x 2 B = 436,224,000 B; stage 0 the
    # embedding 128,256 x 4,096 x 2 B = 1,050,673,152 B, stage 1 lm_head + final norm
    # 1,050,673,152 + 4,096 x 2 = 1,050,681,344 B; a RoPE table on both: 7.51 GiB each
    assert total("llama3.1-8b", pp=2) == [
        16 * 436_224_000 + 1_050_673_152 + 33_554_432,
        16 * 436_224_000 + 1_050_681_344 + 33_554_432,
    ]


def test_tensor_parallel_splits_linears_and_vocab_but_not_norms_or_rope():
    # TP 2: each layer's Linears halve (218,103,808 B) and its two norms stay (16,384 B);
    # embedding and lm_head split (128,256 x 4,096 x 2 B / 2 = 525,336,576 B each, final
    # norm whole 8,192 B)
    layer = (4096 * (16 + 8) * 128 + 2048 * 4096 + 4096 * 14336 + 7168 * 4096) * 2 + 16_384
    assert layer == 218_120_192
    assert total("llama3.1-8b", tp=2) == [32 * layer + 2 * 525_336_576 + 8192 + 33_554_432]


def test_kv_heads_are_replicated_past_one_per_rank():
    # Llama 3.1 8B has 8 KV heads: at TP 16 each rank keeps one, not half of one
    eight, sixteen = total("llama3.1-8b", tp=8)[0], total("llama3.1-8b", tp=16)[0]
    assert sixteen > eight // 2


def test_int4_group_scales_and_fp8_channel_scales():
    # W4A16 g128: 14,336 x 4,096 / 2 + 112 groups x 4,096 x 2 B of fp16 scales
    assert LINEAR_FORMATS["int4"].linear_bytes(14336, 4096) == 29_360_128 + 917_504
    # FP8 / INT8: a byte per weight and an fp32 scale per output channel
    assert LINEAR_FORMATS["fp8"].linear_bytes(4096, 28672) == 4096 * 28672 + 4 * 28672


def test_padded_vocab_multiple_of_64():
    assert padded_vocab(49155) == 49216  # Granite 3.1: 769 x 64 (768 x 64 = 49,152 < 49,155)
    assert padded_vocab(128256) == 128256  # already a multiple


@pytest.mark.parametrize("spec", [s for s in all_models() if s.dims], ids=lambda s: s.id)
def test_dims_reproduce_the_presets_parameter_count(spec):
    # The bytes weights.py loads, less the RoPE table and vocabulary padding, are
    # 2 B x the preset's `params`: an independent check of both.  A vision tower's
    # outer norms are left out of the tower sum: Pixtral's ln_pre (1,024 values),
    # SigLIP's post_layernorm and the projector's norm (2,304 + 1,152).
    dims = spec.dims
    stage = loaded_weights(spec, dims, weight_format("bf16"), 1, 1)[0]
    pad = padded_vocab(dims.vocab_size) - dims.vocab_size
    heads = (1 if dims.tie_word_embeddings else 2) * spec.hidden_size + dims.lm_head_bias
    params = (stage.total_bytes - stage.rope_bytes) // 2 - pad * heads
    allowed = 3456 if dims.vision else 0
    assert 0 <= spec.params - params <= allowed
