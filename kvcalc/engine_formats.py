"""Cache formats the serving engines define beyond plain types, with where the bytes come from.

vLLM's --kv-cache-dtype (vllm/config/cache.py CacheDType; vLLM 0.33.0) and SGLang 0.5.23's
(srt/server_args.py), as data: per-token-head scales, per-head blocks, TurboQuant's K/V
slots, DeepSeek's fixed sparse-MLA rows.  Worked numbers for 8 KV heads x 128 dims are in
tests/test_formats.py and the README's formats table.
"""

from __future__ import annotations

from kvcalc.element import LATENT_KINDS, PER_HEAD_KINDS, ElementFormat, fmt

# vLLM (vllm/v1/kv_cache_interface.py AttentionSpec.page_size_bytes): per-token-head modes
# add 2 x block_size x num_kv_heads x 4 B (an fp32 scale for K and one for V) to each page
_PTH = {
    "head_bytes": 4,
    "per_head": True,
    "kinds": PER_HEAD_KINDS,
    "kinds_reason": "per-token-head scales exist for per-head K/V rows; no vLLM MLA backend "
    "(FlashMLA, CUTLASS MLA, FlashInfer MLA, Triton MLA) accepts them",
    "source": "vllm/v1/kv_cache_interface.py (AttentionSpec.page_size_bytes)",
}
# TurboQuant (vllm/model_executor/layers/quantization/turboquant/config.py): per head one
# slot of key_packed_size + value_packed_size bytes, rounded up to even (slot_size_aligned)
_TQ = {
    "per_head": True,
    "packed": True,
    "slot_align": 2,
    "kinds": PER_HEAD_KINDS,
    "kinds_reason": "TurboQuant packs one K and one V slot per KV head; an MLA latent has none",
    "source": "vllm/model_executor/layers/quantization/turboquant/config.py (slot_size_aligned)",
}
# fp16 scale + fp16 zero point after the 4-bit (or 3-bit) values of V
_TQ_V = {"head_bytes": 4, "per_head": True, "packed": True}
_TQ_V4 = fmt("tq_v4", 2, 1, "TurboQuant V: 4-bit codes + fp16 scale + fp16 zero", **_TQ_V)
_TQ_V3 = fmt("tq_v3", 8, 3, "TurboQuant V: 3-bit codes + fp16 scale + fp16 zero", **_TQ_V)
_DS_MLA = {
    "latent_dims": (512, 64),
    "kinds": LATENT_KINDS,
    "kinds_reason": "it is DeepSeek's packed sparse-MLA latent row; per-head K/V take fp8 "
    "(fp8_e4m3) or nvfp4",
    "source": "vllm/model_executor/layers/attention/mla_attention.py (state_content_bytes)",
}

ENGINE_FORMATS: tuple[ElementFormat, ...] = (
    # vLLM (vllm/config/cache.py CacheDType)
    fmt(
        "int8_per_token_head",
        1,
        1,
        "vLLM: int8 + one fp32 scale per token per KV head, for K and for V",
        **_PTH,
    ),
    fmt(
        "fp8_per_token_head",
        1,
        1,
        "vLLM: fp8 + one fp32 scale per token per KV head, for K and for V",
        **_PTH,
    ),
    fmt(
        "int4_per_token_head",
        2,
        1,
        "vLLM: packed int4 (two per byte) + one fp32 scale per token per KV head, K and V",
        **_PTH,
    ),
    fmt(
        "nvfp4",
        16,
        9,
        "NVFP4: 16 e2m1 values (8 B) + one fp8 e4m3 scale per 16, per head (vLLM, "
        "SGLang, TensorRT-LLM; a global fp32 scale per layer lives outside the pool)",
        per_head=True,
        source="vllm/utils/torch_utils.py (nvfp4_kv_cache_full_dim: D // 2 + D // 16); "
        "sglang fp4_kv_cache_quant_method.py; TensorRT-LLM resource_manager.py",
    ),
    fmt(
        "fp8_ds_mla",
        1,
        1,
        "vLLM: DeepSeek sparse-MLA row: 512 fp8 NoPE + 4 fp32 scales + 64 bf16 RoPE = 656 B",
        latent_bytes=656,
        **_DS_MLA,
    ),
    fmt(
        "nvfp4_ds_mla",
        1,
        1,
        "vLLM: DeepSeek sparse-MLA NVFP4 row: 256 B e2m1 NoPE + 64 fp8 RoPE + 32 fp8 "
        "scales = 352 B",
        latent_bytes=352,
        **_DS_MLA,
    ),
    fmt(
        "turboquant_k8v4",
        1,
        1,
        "vLLM TurboQuant: fp8 K; V 4-bit + fp16 scale and zero; slot rounded to even",
        v_side=_TQ_V4,
        **_TQ,
    ),
    fmt(
        "turboquant_4bit_nc",
        2,
        1,
        "vLLM TurboQuant: 4-bit K + fp16 norm; V 4-bit + fp16 scale and zero",
        head_bytes=2,
        v_side=_TQ_V4,
        **_TQ,
    ),
    fmt(
        "turboquant_k3v4_nc",
        8,
        3,
        "vLLM TurboQuant: 3-bit K + fp16 norm; V 4-bit + fp16 scale and zero",
        head_bytes=2,
        v_side=_TQ_V4,
        **_TQ,
    ),
    fmt(
        "turboquant_3bit_nc",
        8,
        3,
        "vLLM TurboQuant: 3-bit K + fp16 norm; V 3-bit + fp16 scale and zero",
        head_bytes=2,
        v_side=_TQ_V3,
        **_TQ,
    ),
    fmt(
        "ultraquant_4bit",
        32,
        17,
        "vLLM UltraQuant (ROCm): 32 e2m1 values (16 B) + one ue8m0 scale per 32, per head",
        per_head=True,
        kinds=PER_HEAD_KINDS,
        kinds_reason="vLLM's UltraQuant backend serves per-head K/V only",
        source="vllm/v1/attention/ops/ultraquant/format.py (slot_size: D / 2 + D / 32)",
    ),
    # SGLang 0.5.23 (server_args.py --kv-cache-dtype choices)
    fmt(
        "mxfp8",
        32,
        33,
        "SGLang: 32 fp8 values + one ue8m0 scale per 32",
        source="sglang model_executor/pool_configurator.py",
    ),
    fmt(
        "fp4_mx_block16",
        16,
        9,
        "SGLang: 16 e2m1 values (8 B) + one 8-bit scale per 16, scales over the whole row",
        source="sglang layers/quantization/fp4_kv_cache_quant_method.py "
        "(FP4MXBlock16KVCacheMethod.compute_cell_size)",
    ),
)
