"""vLLM's profiling run: the "torch peak memory increase" it takes out of the KV budget.

Before sizing the KV cache, vLLM's worker runs GPUModelRunner.profile_run()
(vllm/v1/worker/gpu_model_runner.py) inside memory_profiling() and charges the peak
of PyTorch's allocated bytes above where it started:

1. dummy images through the vision tower (multimodal models), kept until the run ends;
2. _dummy_run(max_num_batched_tokens): a forward pass of T tokens with no attention
   work (attention returns zeros during profiling), so the peak is one compiled
   piece's live activations;
3. on the last pipeline stage, _dummy_sampler_run: logits for N = min(max_num_seqs, T)
   dummy requests over the whole vocabulary, then the sampler (temperature, top-k,
   top-p, random sampling) in fp32.

Buffers first allocated in the run and kept count too: PyTorch's cuBLAS workspace
(aten/src/ATen/cuda/CublasHandlePool.cpp), the fused-MoE workspace, the buffers a
non-first pipeline stage receives activations into.  No term here is fitted to the
logs; each is a shape from the model and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvcalc.dims import ModelDims, VisionDims
from kvcalc.spec import LatentGroup, ModelSpec


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def cublas_workspace_bytes(compute_major: int) -> int:
    """PyTorch's default cuBLAS workspace (parseChosenWorkspaceSize): 32 MiB on compute
    capability 9.x-12.x (':4096:8'), else ':4096:2:16:8' = 8 MiB + 128 KiB.  Allocated
    through the caching allocator at the first GEMM, i.e. inside the profiling run."""
    return 4096 * 8 * 1024 if 9 <= compute_major <= 12 else 4096 * 1024 * 2 + 16 * 1024 * 8


def next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def sampler_bytes(dims: ModelDims, hidden: int, n: int, t: int, dtype: int, sms: int) -> int:
    """What is live when the sampler allocates its last [N, V] buffer.

    Sampler.forward (vllm/v1/sample/sampler.py): the caller's logits [N, V padded to 64]
    in the model dtype; an fp32 copy (logits.to(float32), none in an fp32 model); then
    top-k/top-p, which from N = 8 runs the Triton kernel (topk_topp_triton.py) with a
    cached fp32 scratch of min(next_pow2(min(SMs, N)), SMs) rows x V, below 8 a torch
    sort (fp32 values + int64 indices); softmax probs and the exponential draws q, both
    fp32 [N, V].  profile_run still holds hidden_states [T, H], and the sampler run its
    last hidden rows and their random copy, [N, H] each.

    Llama 3.1 8B bf16 on an H100 (N 1,024, T 8,192, 132 SMs): 1,024 x 128,256 x (2 + 4 +
    8) + 132 x 128,256 x 4 + 8,192 x 4,096 x 2 + 2 x 1,024 x 4,096 x 2 = 1,990,283,264 B;
    with the 32 MiB cuBLAS workspace 1.88 GiB (logged: "torch peak memory increase: 1.89GiB").
    """
    vocab = dims.vocab_size
    padded = cdiv(vocab, 64) * 64
    logits = n * padded * dtype
    fp32_copy = n * vocab * 4 if dtype != 4 else 0
    if n >= 8:
        rows = min(next_power_of_2(min(sms, n)), sms)
        top_k_p = rows * vocab * 4
    else:
        top_k_p = n * vocab * (4 + 8)
    probs_and_draws = 2 * n * vocab * 4
    held = t * hidden * dtype + 2 * n * hidden * dtype
    return logits + fp32_copy + top_k_p + probs_and_draws + held


def attention_width(spec: ModelSpec, tp: int) -> int:
    """Columns of one rank's attention output: q heads x v head dim."""
    latent = any(isinstance(g, LatentGroup) for g in spec.cache_groups())
    return spec.num_query_heads // tp * (spec.resolved_v_head_dim if latent else spec.k_head_dim)


def forward_bytes(
    spec: ModelSpec, dims: ModelDims, t: int, tp: int, dtype: int, act_quant: bool
) -> int:
    """Live activations of one compiled piece of the dummy forward (between two attention
    ops): attention output [T, q/tp], residual in and out and the normed input [T, 3H],
    the MLP's gate_up [T, 2I/tp] and activation [T, I/tp] (plain MLP: fc1 + activation,
    2I/tp); fp8/int8 activation quantization adds a 1-byte copy of the widest input
    [T, I/tp].  An MoE layer's experts run in the persistent workspace (moe_workspace),
    so its piece holds the attention part and fp32 router logits [T, experts].

    CodeLlama 7B bf16, T 8,192: 8,192 x (4,096 + 12,288 + 33,024) x 2 = 0.75 GiB.
    """
    width, hidden = attention_width(spec, tp), spec.hidden_size
    base = (width + 3 * hidden) * dtype
    moe = dims.moe
    per_token = 0
    if moe is None or moe.dense_layers:
        inner = dims.intermediate_size // tp
        per_token = base + (2 if dims.mlp == "plain" else 3) * inner * dtype
        per_token += inner if act_quant else 0
    if moe is not None:
        per_token = max(per_token, base + moe.num_experts * 4)
    return t * per_token


def moe_workspace_bytes(spec: ModelSpec, dims: ModelDims, t: int, tp: int, dtype: int) -> int:
    """The fused-MoE kernels' workspace, allocated in the profiling run and kept
    (FusedMoEKernel._allocate_buffers via WorkspaceManager, TritonExperts.workspace_shapes):
    [T x k, max(I/tp, H)] (at least [T, H]) and [T x k, max(2I/tp, H)], each rounded to
    256 B.  Mixtral TP2, T 8,192: 8,192 x 2 x 7,168 x 2 + 8,192 x 2 x 14,336 x 2 = 0.66 GiB."""
    moe = dims.moe
    if moe is None:
        return 0
    k, hidden, inner = moe.experts_per_token, spec.hidden_size, moe.expert_intermediate_size // tp
    first = max(t * k * max(inner, hidden), t * hidden) * dtype
    second = t * k * max(2 * inner, hidden) * dtype
    return cdiv(first, 256) * 256 + cdiv(second, 256) * 256


def profiled_items(vision: VisionDims, t: int) -> int:
    """Dummy images the encoder budget holds: max(T, tokens per image) // tokens per image
    (vllm/multimodal/encoder_budget.py, v1/core/encoder_cache_manager.py)."""
    return max(t, vision.tokens_per_item) // vision.tokens_per_item


def vision_held_bytes(vision: VisionDims, hidden: int, t: int, dtype: int) -> int:
    """Encoder outputs (kept in the encoder cache) and pixel inputs (a local of
    profile_run) of the dummy images, live through the language model's run, plus a
    buffer the tower builds on first use.  Mistral Small 3.1, T 8,192: 2 images x
    (3,025 x 5,120 + 3 x 1,540^2) x 2 B."""
    items = profiled_items(vision, t)
    outputs = items * vision.embeds_per_item * hidden * dtype
    pixels = items * vision.pixel_values_per_item * dtype
    return outputs + pixels + vision.lazy_buffer_bytes


def vision_transient_bytes(vision: VisionDims, t: int, tp: int, dtype: int) -> int:
    """One ViT block's activations for every dummy image's patches at once: residual and
    normed input [2h], qkv and attention output [4h / tp], the MLP [(2 or 3) i / tp]."""
    h, i = vision.hidden_size, vision.intermediate_size
    per_patch = 2 * h + 4 * h // tp + (3 if vision.gated_mlp else 2) * i // tp
    return profiled_items(vision, t) * vision.patches_per_item * per_patch * dtype


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfilePeak:
    """The torch peak increase of one pipeline stage's profiling run, by term."""

    cublas_bytes: int
    forward_bytes: int
    sampler_bytes: int
    """0 except on the last stage."""
    moe_workspace_bytes: int
    pipeline_buffer_bytes: int
    """Hidden + residual [T, H] buffers a non-first stage receives into."""
    vision_held_bytes: int
    vision_transient_bytes: int

    @property
    def peak_bytes(self) -> int:
        kept = self.vision_held_bytes + self.pipeline_buffer_bytes + self.moe_workspace_bytes
        language = kept + max(self.forward_bytes, self.sampler_bytes)
        return self.cublas_bytes + max(self.vision_transient_bytes, language)


def profile_peaks(
    spec: ModelSpec,
    dims: ModelDims,
    *,
    tp: int,
    pp: int,
    dtype: int,
    act_quant: bool,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    sm_count: int,
    compute_major: int,
) -> tuple[ProfilePeak, ...]:
    """The profiling run's peak on each pipeline stage (first stage first)."""
    t = max_num_batched_tokens
    n = min(max_num_seqs, t)  # _dummy_run splits T tokens over min(T, max_num_seqs) requests
    hidden = spec.hidden_size
    vision = dims.vision
    return tuple(
        ProfilePeak(
            cublas_bytes=cublas_workspace_bytes(compute_major),
            forward_bytes=forward_bytes(spec, dims, t, tp, dtype, act_quant),
            sampler_bytes=(
                sampler_bytes(dims, hidden, n, t, dtype, sm_count) if stage == pp - 1 else 0
            ),
            moe_workspace_bytes=moe_workspace_bytes(spec, dims, t, tp, dtype),
            pipeline_buffer_bytes=2 * t * hidden * dtype if stage > 0 else 0,
            vision_held_bytes=(
                vision_held_bytes(vision, hidden, t, dtype) if vision and stage == 0 else 0
            ),
            vision_transient_bytes=(
                vision_transient_bytes(vision, t, tp, dtype) if vision and stage == 0 else 0
            ),
        )
        for stage in range(pp)
    )
