"""Tensor shapes beyond the KV cache: what sizes weights as loaded and an engine's activations.

The `dims` block of a model preset (configs/models/*.yaml) holds the config.json
facts that the KV cache does not need but a serving engine's memory does: the
vocabulary (embeddings, lm_head, the sampler's logits), the MLP width (weights and
the profiling run's activations), tied embeddings, biases, MoE experts, the RoPE
table and a multimodal checkpoint's vision tower.  Field names follow config.json
where one exists.

Llama 3.1 8B: vocab_size 128,256, intermediate_size 14,336, untied embeddings ->
2 x 128,256 x 4,096 embedding values + 32 layers x 218,112,000 + 4,096 = 8,030,261,248
parameters, the preset's `params`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MoeDims(_Frozen):
    """Mixture-of-experts MLP layers (Mixtral, Qwen-MoE, DeepSeek)."""

    num_experts: int = Field(gt=0)
    """Routed experts per MoE layer (num_local_experts / n_routed_experts / num_experts)."""
    experts_per_token: int = Field(gt=0)
    """num_experts_per_tok: how many experts each token runs (sizes vLLM's MoE workspace)."""
    expert_intermediate_size: int = Field(gt=0)
    """Width of one expert's MLP (moe_intermediate_size; Mixtral: intermediate_size)."""
    shared_intermediate_size: int = Field(default=0, ge=0)
    """Width of the always-on shared expert(s): n_shared_experts x moe_intermediate_size
    (DeepSeek) or shared_expert_intermediate_size (Qwen-MoE); 0 for none."""
    shared_expert_gate: bool = False
    """Qwen-MoE gates its shared expert with a hidden -> 1 projection."""
    dense_layers: int = Field(default=0, ge=0)
    """Leading layers with a dense MLP of intermediate_size (first_k_dense_replace)."""
    biases: bool = False
    """Biases on the router and on every expert's projections (gpt-oss)."""


class VisionDims(_Frozen):
    """A multimodal checkpoint's vision tower, loaded beside the language model.

    Weights: `num_layers` ViT blocks (attention + MLP, TP-sharded like the language
    model) plus patch embedding, position table and projector.  Profiling: vLLM runs
    dummy images through the tower before the language model (see
    engines/vllm_profile.py); the per-image counts come from the engine's processor.
    """

    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    gated_mlp: bool = False
    """SwiGLU MLP (Pixtral) instead of fc1/GELU/fc2 (SigLIP, MoonViT)."""
    biases: bool = False
    """Biases on the tower's projections and LayerNorms (SigLIP) instead of RMSNorm only."""
    patch_size: int = Field(gt=0)
    channels: int = Field(default=3, gt=0)
    position_embeddings: int = Field(default=0, ge=0)
    """Values of a learned position table (MoonViT: 64 x 64 x 1,152); 0 for RoPE towers."""
    projector_params: int = Field(ge=0)
    """Parameters between the tower and the language model (merger, MLP projector)."""
    tokens_per_item: int = Field(gt=0)
    """Prompt tokens the engine's largest dummy image takes (its encoder budget unit)."""
    embeds_per_item: int = Field(gt=0)
    """Encoder output rows of one such image (merged patches)."""
    patches_per_item: int = Field(gt=0)
    """ViT patches one such image runs through the tower."""
    pixel_values_per_item: int = Field(gt=0)
    """Values of the pixel tensor one such image is given as."""
    lazy_buffer_bytes: int = Field(default=0, ge=0)
    """A buffer the engine's tower builds on its first call (MoonViT's 2-D RoPE table)."""


class ModelDims(_Frozen):
    """Shapes beyond the KV cache, as config.json names them."""

    vocab_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    """Dense MLP width (the first dense layers of an MoE model)."""
    tie_word_embeddings: bool = False
    """lm_head shares the input embedding's tensor (Granite, Gemma, small Llama 3.2)."""
    mlp: Literal["gated", "plain"] = "gated"
    """gated: gate_up + down (SwiGLU); plain: fc1 + fc2 (Phi-2, GPT-2 style)."""
    norm: Literal["rms", "layer"] = "rms"
    """rms: one weight vector per norm; layer: weight and bias."""
    norms_per_layer: int = Field(default=2, ge=0)
    """Norms in one decoder layer: 2 (before attention and MLP); 1 where one norm feeds
    both in parallel (Phi-2); 4 with norms after attention and MLP too (Gemma 2/3)."""
    qkv_bias: bool = False
    """Bias on the q, k, v projections (Qwen2, Phi-2)."""
    o_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    qk_norm: bool = False
    """RMSNorm on each q and k head (Qwen3, Gemma 3): 2 x head_dim values per layer."""
    attention_sinks: bool = False
    """A learned sink logit per query head and layer (gpt-oss)."""
    rotary_dim: int | None = Field(default=None, gt=0)
    """Rotated dims per head when not all of them (Phi-2: 32 of 80)."""
    rope_positions: int | None = Field(default=None, gt=0)
    """Rows of the engine's RoPE cos/sin table when not max_context (DeepSeek YaRN:
    original_max_position_embeddings x factor)."""
    q_lora_rank: int | None = Field(default=None, gt=0)
    """MLA models that compress queries too (DeepSeek V3: 1,536)."""
    moe: MoeDims | None = None
    vision: VisionDims | None = None
