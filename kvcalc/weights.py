"""Weights as a serving engine loads them: bytes on one GPU of each pipeline stage.

What vLLM's "Model loading took X GiB memory" measures (the parameters and buffers
a rank holds once loading is done), from the model's shapes (spec.dims):

- tensor parallelism splits every Linear: q/k/v, gate/up and the experts' w13 on
  their output (column parallel), o, down and w2 on their input (row parallel); KV
  heads are replicated once tp exceeds them; norms, MoE routers and MLA's
  kv_a_proj are whole on every rank;
- embeddings and lm_head are VocabParallelEmbedding / ParallelLMHead: the vocabulary
  padded to a multiple of 64 (vllm/model_executor/layers/vocab_parallel_embedding.py
  DEFAULT_VOCAB_PADDING_SIZE) and split over the tp ranks; tied embeddings are one
  tensor unless pipeline parallelism puts them on two ranks;
- pipeline parallelism gives each stage a run of layers (deploy.split_stages), the
  embedding to the first stage, lm_head and the final norm to the last;
- every rank holds one RoPE cos/sin table of positions x rotary dims in the model
  dtype (rotary_embedding/base.py; get_rope caches one instance per config):
  Llama 3.1 131,072 x 128 x 2 B = 32 MiB, why 8,030,261,248 x 2 B = 14.957 GiB of
  parameters log as "Model loading took 14.99 GiB";
- quantized checkpoints quantize the decoder's Linear layers only (embeddings,
  lm_head, norms, routers and vision towers stay 16-bit), each with its scales
  (LINEAR_FORMATS);
- a multimodal checkpoint's vision tower and projector load on the first stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvcalc.dims import ModelDims, VisionDims
from kvcalc.dtypes import WeightFormat
from kvcalc.spec import LatentGroup, ModelSpec

VOCAB_PADDING = 64
"""vLLM pads the vocabulary to a multiple of 64 before splitting it over tp ranks."""


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def padded_vocab(vocab_size: int) -> int:
    """Granite 3.1's 49,155 tokens take 49,216 rows (768 x 64)."""
    return cdiv(vocab_size, VOCAB_PADDING) * VOCAB_PADDING


@dataclass(frozen=True, slots=True)
class LinearFormat:
    """How a quantized checkpoint stores one Linear of k inputs and n outputs.

    weight: `bits` per value; scales: `scale_bytes` per `group` inputs per output row
    (group 0: one scale per output row, i.e. per channel).
    """

    name: str
    bits: int
    group: int
    scale_bytes: int
    source: str

    def linear_bytes(self, k: int, n: int) -> int:
        """Llama 3.1 8B down_proj in W4A16 g128: 14,336 x 4,096 / 2 + 112 x 4,096 x 2 B."""
        weight = k * n * self.bits // 8
        rows = 1 if self.group == 0 else cdiv(k, self.group)
        return weight + rows * n * self.scale_bytes


LINEAR_FORMATS: dict[str, LinearFormat] = {
    # compressed-tensors FP8-dynamic and INT8 W8A8: one fp32 scale per output channel
    # (vLLM's online --quantization fp8 keeps one per tensor: 4 B less per row, ~5 MiB
    # over Llama 3.1 8B)
    "fp8": LinearFormat("fp8", 8, 0, 4, "compressed-tensors FP8, fp32 scale per channel"),
    "int8": LinearFormat("int8", 8, 0, 4, "compressed-tensors W8A8 int8, fp32 scale per channel"),
    # W4A16 (GPTQ / compressed-tensors) repacked for Marlin: an fp16 scale per 128 inputs
    "int4": LinearFormat("int4", 4, 128, 2, "W4A16 group 128 (Marlin), fp16 group scales"),
}
FLOAT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def compute_bytes(spec: ModelSpec, fmt: WeightFormat | None) -> int:
    """Bytes of the model dtype (activations, embeddings): the format when it is a float
    format, else the checkpoint's native float dtype (a W8A8 model computes in bf16)."""
    if fmt is not None and fmt.name in FLOAT_BYTES:
        return FLOAT_BYTES[fmt.name]
    return FLOAT_BYTES.get(spec.weight_dtype, 2)


def linear_format(fmt: WeightFormat | None) -> LinearFormat | None:
    """The quantized Linear format, or None for float weights (params x dtype bytes)."""
    return None if fmt is None or fmt.name in FLOAT_BYTES else LINEAR_FORMATS.get(fmt.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Shapes:
    """One rank's view of the model: the dims, the dtype, the Linear format and tp."""

    spec: ModelSpec
    dims: ModelDims
    dtype: int
    quant: LinearFormat | None
    tp: int

    def linear(self, k: int, n: int, bias: bool = False) -> int:
        """One Linear already split over tp: k inputs, n outputs, optional bias."""
        weight = k * n * self.dtype if self.quant is None else self.quant.linear_bytes(k, n)
        return weight + (n * self.dtype if bias else 0)

    def norm(self, width: int) -> int:
        return width * self.dtype * (2 if self.dims.norm == "layer" else 1)


def attention_bytes(s: Shapes) -> int:
    """q/k/v and o projections of one layer on one rank (q/k norms included)."""
    spec, dims, tp = s.spec, s.dims, s.tp
    hidden, heads = spec.hidden_size, spec.num_query_heads // tp
    latent = next((g for g in spec.cache_groups() if isinstance(g, LatentGroup)), None)
    if latent is not None:
        rope, v_dim = latent.qk_rope_head_dim, spec.resolved_v_head_dim
        nope = spec.k_head_dim - rope
        q_width = heads * (nope + rope)
        if dims.q_lora_rank:
            q = s.linear(hidden, dims.q_lora_rank) + s.norm(dims.q_lora_rank)
            q += s.linear(dims.q_lora_rank, q_width)
        else:
            q = s.linear(hidden, q_width)
        kv_b = s.linear(latent.kv_lora_rank, heads * (nope + v_dim))
        # MLA keeps 16-bit W_UK/W_UV copies of a quantized kv_b_proj (mla_attention.py)
        copies = 0 if s.quant is None else latent.kv_lora_rank * heads * (nope + v_dim) * s.dtype
        kv_a = s.linear(hidden, latent.kv_lora_rank + rope) + s.norm(latent.kv_lora_rank)
        return q + kv_a + kv_b + copies + s.linear(heads * v_dim, hidden)
    k_dim, v_dim = spec.k_head_dim, spec.resolved_v_head_dim
    kv_heads = max(1, spec.num_kv_heads // tp)  # replicated past one head per rank
    qkv = s.linear(hidden, heads * k_dim + kv_heads * (k_dim + v_dim), bias=dims.qkv_bias)
    qk_norm = 2 * k_dim * s.dtype if dims.qk_norm else 0
    # a row-parallel bias is whole on every rank
    o_bias = hidden * s.dtype if dims.o_bias else 0
    sinks = heads * s.dtype if dims.attention_sinks else 0  # gpt-oss: one per q head
    return qkv + s.linear(heads * v_dim, hidden) + o_bias + qk_norm + sinks


def mlp_bytes(s: Shapes, layer: int) -> int:
    """The MLP (dense, or MoE experts + router + shared expert) of one layer on one rank."""
    dims, hidden, tp = s.dims, s.spec.hidden_size, s.tp
    moe = dims.moe
    if moe is None or layer < moe.dense_layers:
        inner = dims.intermediate_size // tp
        if dims.mlp == "plain":  # fc1 (column, bias split) + fc2 (row, bias whole)
            up = s.linear(hidden, inner, bias=dims.mlp_bias)
            return up + s.linear(inner, hidden) + (hidden * s.dtype if dims.mlp_bias else 0)
        return s.linear(hidden, 2 * inner) + s.linear(inner, hidden)
    inner = moe.expert_intermediate_size // tp
    experts = moe.num_experts * (s.linear(hidden, 2 * inner) + s.linear(inner, hidden))
    router = hidden * moe.num_experts * s.dtype  # replicated, never quantized
    if moe.biases:  # gpt-oss: the router's and every expert's gate_up and down biases
        router += moe.num_experts * s.dtype
        experts += moe.num_experts * (2 * inner + hidden) * s.dtype
    shared = 0
    if moe.shared_intermediate_size:
        inner = moe.shared_intermediate_size // tp
        shared = s.linear(hidden, 2 * inner) + s.linear(inner, hidden)
        shared += hidden * s.dtype if moe.shared_expert_gate else 0
    return experts + router + shared


def layer_bytes(s: Shapes, layer: int) -> int:
    norms = s.dims.norms_per_layer * s.norm(s.spec.hidden_size)
    return norms + attention_bytes(s) + mlp_bytes(s, layer)


def run_bytes(s: Shapes, first: int, count: int) -> int:
    """Layers first .. first + count - 1: the dense ones (before an MoE model's
    dense_layers mark) and the rest, each kind sized once."""
    dense_end = s.dims.moe.dense_layers if s.dims.moe else first + count
    dense = max(0, min(first + count, dense_end) - first)
    rest = count - dense
    return dense * layer_bytes(s, first) + (rest * layer_bytes(s, first + dense) if rest else 0)


def vision_bytes(vision: VisionDims, tp: int, dtype: int) -> int:
    """A vision tower + projector on one rank, 16-bit: ViT blocks split over tp like the
    language model (vLLM's mm_encoder_tp_mode "weights"), the rest whole.  Pixtral
    (Mistral Small 3.1): 24 x (4 x 1,024^2 + 3 x 1,024 x 4,096 + 2 RMSNorms) + patch
    602,112 + projector 35,652,608.  SigLIP adds biases (q, k, v, o, fc1, fc2) and
    LayerNorm biases: 15,239,504 per block at hidden 1,152, MLP 4,304."""
    h, i = vision.hidden_size, vision.intermediate_size
    mlp = (3 if vision.gated_mlp else 2) * h * i
    block = (4 * h * h + mlp) // tp + 2 * h
    if vision.biases:  # q, k, v, o, fc1, fc2 biases and the two LayerNorms' biases
        block += 4 * h + i + h + 2 * h
    patch = vision.channels * vision.patch_size**2 * h
    params = vision.num_layers * block + patch + vision.position_embeddings
    return (params + vision.projector_params) * dtype


@dataclass(frozen=True, slots=True, kw_only=True)
class StageWeights:
    """What one GPU of a pipeline stage holds once loading is done."""

    layers: int
    """Decoder layers on this stage."""
    layer_bytes: int
    embedding_bytes: int
    lm_head_bytes: int
    """lm_head (absent when tied to the embedding on a single stage) and final norm."""
    rope_bytes: int
    vision_bytes: int

    @property
    def total_bytes(self) -> int:
        return (
            self.layer_bytes
            + self.embedding_bytes
            + self.lm_head_bytes
            + self.rope_bytes
            + self.vision_bytes
        )


def stage_sizes(num_layers: int, pp: int) -> list[int]:
    """Layers per stage as vLLM splits them (distributed/utils.py get_pp_indices):
    the remainder goes one each to the stages before the last; 80 on 3 -> [27, 27, 26]."""
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    return sizes


def rope_bytes(spec: ModelSpec, dims: ModelDims, dtype: int) -> int:
    """The RoPE cos/sin table: positions x rotary dims (cos and sin halves) in the dtype."""
    latent = next((g for g in spec.cache_groups() if isinstance(g, LatentGroup)), None)
    rotary = dims.rotary_dim or (latent.qk_rope_head_dim if latent else spec.k_head_dim)
    return (dims.rope_positions or spec.max_context) * rotary * dtype


def loaded_weights(
    spec: ModelSpec, dims: ModelDims, fmt: WeightFormat | None, tp: int, pp: int
) -> tuple[StageWeights, ...]:
    """Bytes on one GPU of each pipeline stage (tensor-parallel rank 0).

    Llama 3.1 8B bf16 on one GPU: 32 x 436,224,000 B of layers + 2 x 1,050,673,152 B of
    embedding and lm_head (+ 8,192 B of final norm) + 33,554,432 B of RoPE table =
    16,094,076,928 B = 14.99 GiB, as vLLM logs it.
    """
    shapes = Shapes(
        spec=spec, dims=dims, dtype=compute_bytes(spec, fmt), quant=linear_format(fmt), tp=tp
    )
    d = shapes.dtype
    vocab = padded_vocab(dims.vocab_size) // tp * spec.hidden_size * d
    head = vocab if not dims.tie_word_embeddings or pp > 1 else 0
    head += padded_vocab(dims.vocab_size) // tp * d if dims.lm_head_bias else 0
    stages = []
    first = 0
    for index, count in enumerate(stage_sizes(spec.num_layers, pp)):
        last = index == pp - 1
        stages.append(
            StageWeights(
                layers=count,
                layer_bytes=run_bytes(shapes, first, count),
                embedding_bytes=vocab if index == 0 else 0,
                lm_head_bytes=head + shapes.norm(spec.hidden_size) if last else 0,
                rope_bytes=rope_bytes(spec, dims, d),
                vision_bytes=vision_bytes(dims.vision, tp, d) if dims.vision and index == 0 else 0,
            )
        )
        first += count
    return tuple(stages)


def stage_bytes(
    spec: ModelSpec, dims: ModelDims, fmt: WeightFormat | None, tp: int, pp: int
) -> list[int]:
    """Bytes per GPU of each stage; a checkpoint whose exact tensor bytes the preset records
    (gpt-oss's MXFP4 experts, which no Linear format here describes) is split over the GPUs
    in the proportions the shapes give, unless --weights asks for a format."""
    stages = [s.total_bytes for s in loaded_weights(spec, dims, fmt, tp, pp)]
    if fmt is not None or spec.weight_bytes is None:
        return stages
    whole = sum(stages) * tp
    return [spec.weight_bytes * s // whole for s in stages]
