"""The schema pieces a model spec is built from: strict bounded integers, and one frozen
model per kind of layer group (full, sliding, chunked, latent, mamba, gated_deltanet,
repeat) with the arithmetic that counts and unrolls them; and a GGUF's weight layout.

Apart from spec.py (the model, hardware and claim schemas) so each stays readable;
spec.py re-exports every name here, so `from kvcalc.spec import FullGroup` still works.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from kvcalc.errors import UnknownNameError
from kvcalc.limits import (
    MAX_BYTES,
    MAX_HEADS,
    MAX_LAYER_GROUPS,
    MAX_LAYERS,
    MAX_TOKENS,
    MAX_WIDTH,
)

# Integer fields are strict: an int, never a bool (YAML reads `yes` as true, which int()
# makes 1 layer), a float (4096.0, 2.5, .nan) or a string ("32"); and bounded, so every
# limit is checked on the value as written, before anything multiplies or unrolls it.
# The bounds are in limits.py, each with why it is safe.
Layers = Annotated[int, Strict(), Field(gt=0, le=MAX_LAYERS)]
"""A count of layers, or of repeats of a layer pattern."""
Heads = Annotated[int, Strict(), Field(gt=0, le=MAX_HEADS)]
HeadsOrNone = Annotated[int, Strict(), Field(ge=0, le=MAX_HEADS)]
"""A head count where 0 means none: a layer that keeps no K/V, a model with no attention."""
Width = Annotated[int, Strict(), Field(gt=0, le=MAX_WIDTH)]
"""A width in values: hidden size, head dim, latent rank, state size."""
Tokens = Annotated[int, Strict(), Field(gt=0, le=MAX_TOKENS)]
"""A token or request count: a context, a window, a chunk, a batch."""
Bytes = Annotated[int, Strict(), Field(gt=0, le=MAX_BYTES)]
"""A byte or parameter count."""


class _Frozen(BaseModel):
    # defer_build: a model's validator is built on first use, so `size` does not pay
    # for the claim and hardware schemas it never validates
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class FullGroup(_Frozen):
    """`count` consecutive full-attention layers: each holds every token."""

    kind: Literal["full"]
    count: Layers
    """Number of layers in this group."""
    num_kv_heads: HeadsOrNone | None = None
    """KV heads in these layers, when they differ from the model's num_kv_heads; 0 for an
    attention layer that keeps no K/V (Deci/Nemotron-NAS "linear" and no-op layers)."""


class SlidingGroup(_Frozen):
    """`count` consecutive sliding-window layers: each holds the last `window` tokens."""

    kind: Literal["sliding"]
    count: Layers
    window: Tokens
    """Tokens each layer attends to and keeps (Mistral v0.1: 4096)."""
    num_kv_heads: HeadsOrNone | None = None


class ChunkedGroup(_Frozen):
    """`count` consecutive chunked-local layers (Llama 4): each attends within its chunk.

    A token at position p sees the tokens of its own chunk of `chunk` tokens, so a
    layer keeps at most `chunk` tokens per request (Llama 4 Scout: 8,192).
    """

    kind: Literal["chunked"]
    count: Layers
    chunk: Tokens
    """Tokens per attention chunk (config.json attention_chunk_size)."""
    num_kv_heads: HeadsOrNone | None = None


class LatentGroup(_Frozen):
    """`count` MLA layers (DeepSeek V2/V3, Kimi K2): one compressed latent per token.

    Each token keeps kv_lora_rank + qk_rope_head_dim values (512 + 64 = 576 for
    DeepSeek V3), shared by every head: no factor 2 for K and V, no per-head copies.
    """

    kind: Literal["latent"]
    count: Layers
    kv_lora_rank: Width
    """Width of the compressed KV latent (config.json kv_lora_rank)."""
    qk_rope_head_dim: Annotated[int, Strict(), Field(ge=0, le=MAX_WIDTH)]
    """Width of the decoupled RoPE key shared by all heads (qk_rope_head_dim)."""


def _check_state_dtype(name: str) -> str:
    from kvcalc.dtypes import kv_format

    try:
        fmt = kv_format(name)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    if not fmt.plain:  # one value per element, no scales beside it
        raise ValueError(f"state_dtype must be a plain format (fp32, bf16, fp16), not {fmt.name}")
    return fmt.name


StateDtype = Annotated[str, BeforeValidator(_check_state_dtype)]


class MambaGroup(_Frozen):
    """`count` Mamba (selective state-space) layers: a fixed state per request, no KV.

    Per layer and request: a conv state of d_inner x (d_conv - 1) values and an SSM
    state of d_inner x d_state (vLLM mamba1_state_shape).  Jamba: d_inner 8,192,
    d_conv 4, d_state 16 -> 24,576 + 131,072 = 155,648 values.
    """

    kind: Literal["mamba"]
    count: Layers
    d_inner: Width
    """Inner width, mamba_expand x hidden_size (2 x 4096 = 8192 for Jamba)."""
    d_state: Width
    """SSM state size per channel (mamba_d_state)."""
    d_conv: Width
    """Convolution kernel width (mamba_d_conv); the cache keeps d_conv - 1 columns."""
    n_groups: int = Field(default=0, ge=0)
    """Mamba-2's groups of B/C projections (n_groups); the convolution also runs over them,
    widening the conv state by 2 x n_groups x d_state channels.  0 for Mamba-1."""
    state_dtype: StateDtype = "bf16"
    """Element format of the state (engines default to the model dtype)."""


class GatedDeltaNetGroup(_Frozen):
    """`count` Gated DeltaNet (linear attention) layers: a fixed state per request.

    Per layer and request: a conv state of (2 x k_heads x k_dim + v_heads x v_dim) x
    (kernel - 1) values and a recurrent state of v_heads x k_dim x v_dim (vLLM
    gated_delta_net_state_shape).  Qwen3-Next: 8,192 x 3 + 32 x 128 x 128 = 548,864.
    """

    kind: Literal["gated_deltanet"]
    count: Layers
    num_k_heads: Heads
    """linear_num_key_heads"""
    num_v_heads: Heads
    """linear_num_value_heads"""
    head_k_dim: Width
    """linear_key_head_dim"""
    head_v_dim: Width
    """linear_value_head_dim"""
    conv_kernel: Width
    """linear_conv_kernel_dim"""
    state_dtype: StateDtype = "bf16"


class RepeatGroup(_Frozen):
    """A run of groups repeated `times` times, for patterns such as Gemma's local/global mix.

    Gemma 3 27B: `{kind: repeat, times: 10, layers: [sliding x5, full x1]}` then 2 sliding.
    """

    kind: Literal["repeat"]
    times: Layers
    layers: tuple[LayerGroupSpec, ...] = Field(min_length=1)


LayerGroupSpec = Annotated[
    FullGroup
    | SlidingGroup
    | ChunkedGroup
    | LatentGroup
    | MambaGroup
    | GatedDeltaNetGroup
    | RepeatGroup,
    Field(discriminator="kind"),
]
CacheGroupSpec = (
    FullGroup | SlidingGroup | ChunkedGroup | LatentGroup | MambaGroup | GatedDeltaNetGroup
)
PerHeadGroup = FullGroup | SlidingGroup | ChunkedGroup
"""Groups that store K and V per KV head (their grouping can be dialed)."""


def layer_count(groups: tuple[LayerGroupSpec, ...]) -> int:
    """Layers the groups describe, by arithmetic (a repeat of 10**12 is not unrolled)."""
    return sum(
        g.times * layer_count(g.layers) if isinstance(g, RepeatGroup) else g.count for g in groups
    )


def group_count(groups: tuple[LayerGroupSpec, ...]) -> int:
    """Groups once every repeat is unrolled, by arithmetic (what each sizing pass visits)."""
    return sum(g.times * group_count(g.layers) if isinstance(g, RepeatGroup) else 1 for g in groups)


def raw_group_count(layers: Any, depth: int = 0) -> int:
    """group_count on unvalidated YAML data; malformed entries count 1 (validation names them)."""
    if not isinstance(layers, list | tuple) or depth > 64:
        return 0
    total = 0
    for entry in layers:
        inner = entry.get("layers") if isinstance(entry, dict) else None
        times = entry.get("times") if isinstance(entry, dict) else None
        if isinstance(inner, list | tuple) and isinstance(times, int) and times > 0:
            total += min(times, MAX_LAYERS + 1) * max(raw_group_count(inner, depth + 1), 1)
        else:
            total += 1
        if total > MAX_LAYER_GROUPS:
            return total
    return total


def too_many_groups(groups: int) -> str:
    return (
        f"layers: {groups:,} layer groups once repeats are unrolled (at most "
        f"{MAX_LAYER_GROUPS:,}); give runs of identical layers as one group with a count"
    )


def unroll(groups: tuple[LayerGroupSpec, ...]) -> list[CacheGroupSpec]:
    """The groups in layer order with every repeat written out (call after layer_count)."""
    out: list[CacheGroupSpec] = []
    for g in groups:
        if isinstance(g, RepeatGroup):
            out.extend(unroll(g.layers) * g.times)
        else:
            out.append(g)
    return out


RepeatGroup.model_rebuild()  # resolve the recursive LayerGroupSpec reference


class WeightPart(_Frozen):
    """The weights of one part of a model as its GGUF lays them out: llama.cpp places each
    part on one device (src/llama-model.cpp load_tensors), so partial offload moves parts."""

    part: int = Field(ge=-1)
    """-1: the input (token embeddings, always on the CPU); 0 .. n-1: a repeating layer;
    n (num_layers): the output head (its norm, and token_embd again when tied)."""
    nbytes: int = Field(ge=0)
    """Bytes of its tensors as stored."""
    cuda_bytes: int = Field(ge=0)
    """The same tensors in a CUDA buffer: each padded to 128 bytes, quantized rows
    widened to a multiple of 512 values (ggml-cuda.cu get_alignment, get_alloc_size)."""
    first: int = Field(ge=0)
    """File offset of its first tensor byte."""
    last: int = Field(ge=0)
    """File offset one past its last tensor byte."""


class GgufLayout(_Frozen):
    """What a GGUF's tensor table says for llama.cpp's partial offload (-ngl)."""

    parts: tuple[WeightPart, ...]
    vocab_size: int = Field(ge=0)
    """Rows of token_embd: the logits per token the compute buffer holds."""
    widest_activation: int = Field(ge=0)
    """The widest per-token activation of a layer (feed-forward length, experts used x
    expert length, attention width): a term of the compute-buffer estimate."""
