"""One frozen cache-spec class per layer kind, and the expansion of a model into groups.

Each class answers, for one layer: how many tokens it keeps for a request of
`seq` tokens, and how many bytes one kept token costs in K and in V.  A new
attention kind (MLA latent, constant state) is a new class here, not a new
branch in sizing.py.

Worked number (Llama 3 70B, fp16): one full-attention layer keeps every token;
one token costs 8 KV heads x 128 dims x 2 bytes = 2,048 bytes of K and as much
of V, so 4,096 bytes per layer and 80 x 4,096 = 327,680 bytes per token.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from kvcalc.dtypes import KV_FORMATS, ElementFormat
from kvcalc.errors import UsageError
from kvcalc.spec import (
    CacheGroupSpec,
    ChunkedGroup,
    FullGroup,
    GatedDeltaNetGroup,
    LatentGroup,
    MambaGroup,
    ModelSpec,
    SlidingGroup,
)

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self


class LayerCache(Protocol):
    """What sizing needs from any layer kind."""

    @property
    def kind(self) -> str:
        """The kind's name: every engine states a rule for each name in CACHE_KINDS."""
        ...

    @property
    def label(self) -> str:
        """Short description for tables: 'full', 'sliding 4,096', 'latent 512+64'."""
        ...

    @property
    def num_kv_heads(self) -> int: ...

    @property
    def saturates_at(self) -> int | None:
        """Request length past which this layer holds no more bytes; None if it never stops."""
        ...

    def tokens_held(self, seq: int) -> int: ...

    def held_text(self, seq: int) -> str | None:
        """tokens_held as arithmetic ('min(window 4,096, seq 32,768) = 4,096'); None for
        a kind that holds no tokens, only a fixed state."""
        ...

    def k_token_bytes(self, fmt: ElementFormat) -> int: ...

    def v_token_bytes(self, fmt: ElementFormat) -> int: ...

    def state_bytes(self) -> int:
        """Bytes one request keeps whatever its length (recurrent state); 0 for attention."""
        ...

    def formula(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        """This kind's arithmetic for one layer, with its numbers (for --explain)."""
        ...

    def with_kv_heads(self, num_kv_heads: int) -> LayerCache: ...

    def shard(self, tp: int) -> LayerCache: ...


def _storage(fmt: ElementFormat) -> str:
    """' (9 B per 16 values)' for a packed format; nothing for a plain one (fp16)."""
    return "" if fmt.plain else f" ({fmt.summary})"


@dataclass(frozen=True, slots=True)
class _PerHeadKV:
    """K and V rows of kv_heads x head_dim values per token: shared by full and sliding layers."""

    num_kv_heads: int
    k_head_dim: int
    v_head_dim: int

    @property
    def kind(self) -> str:
        raise NotImplementedError  # each layer class names its kind

    def k_token_bytes(self, fmt: ElementFormat) -> int:
        # one row of kv_heads x head_dim values: 8 x 128 = 1,024 values -> 2,048 B in fp16;
        # the format adds what it keeps per head (int8_per_token_head: 8 x 4 B of scales)
        return fmt.head_row_bytes(self.kind, self.num_kv_heads, self.k_head_dim)

    def v_token_bytes(self, fmt: ElementFormat) -> int:
        return fmt.v_row_bytes(self.kind, self.num_kv_heads, self.k_head_dim, self.v_head_dim)

    def state_bytes(self) -> int:
        return 0

    def formula(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        return [
            f"K per token = {self.num_kv_heads} KV heads x {self.k_head_dim} dims = "
            f"{self.num_kv_heads * self.k_head_dim:,} {k_fmt.name} values"
            f"{_storage(k_fmt)} = {self.k_token_bytes(k_fmt):,} B",
            f"V per token = {self.num_kv_heads} KV heads x {self.v_head_dim} dims = "
            f"{self.num_kv_heads * self.v_head_dim:,} {v_fmt.name} values"
            f"{_storage(v_fmt.v_side or v_fmt)} = {self.v_token_bytes(v_fmt):,} B",
        ]

    def with_kv_heads(self, num_kv_heads: int) -> Self:
        return replace(self, num_kv_heads=num_kv_heads)

    def shard(self, tp: int) -> Self:
        return replace(self, num_kv_heads=heads_per_rank(self.num_kv_heads, tp))


@dataclass(frozen=True, slots=True)
class FullAttention(_PerHeadKV):
    """A layer that keeps K and V for every token; K and V widths may differ."""

    @property
    def kind(self) -> str:
        return "full"

    @property
    def label(self) -> str:
        return "full"

    @property
    def saturates_at(self) -> int | None:
        return None

    def tokens_held(self, seq: int) -> int:
        return seq

    def held_text(self, seq: int) -> str | None:
        return f"seq = {seq:,}"


@dataclass(frozen=True, slots=True)
class SlidingWindow(_PerHeadKV):
    """A layer that keeps only the last `window` tokens (a rolling cache)."""

    window: int

    @property
    def kind(self) -> str:
        return "sliding"

    @property
    def label(self) -> str:
        return f"sliding {self.window:,}"

    @property
    def saturates_at(self) -> int | None:
        return self.window

    def tokens_held(self, seq: int) -> int:
        # Mistral 7B v0.1 at 32,768 tokens keeps min(4,096, 32,768) = 4,096 per layer
        return min(seq, self.window)

    def held_text(self, seq: int) -> str | None:
        return f"min(window {self.window:,}, seq {seq:,}) = {self.tokens_held(seq):,}"


@dataclass(frozen=True, slots=True)
class ChunkedLocal(_PerHeadKV):
    """A layer that attends within fixed chunks of `chunk` tokens (Llama 4's local layers).

    Position p sees the tokens from floor(p / chunk) x chunk to p, so a request keeps at
    most `chunk` tokens per layer; its cache peaks at min(seq, chunk) just before a chunk
    boundary (Llama 4 Scout at 131,072 tokens: 8,192 per local layer).
    """

    chunk: int

    @property
    def kind(self) -> str:
        return "chunked"

    @property
    def label(self) -> str:
        return f"chunked {self.chunk:,}"

    @property
    def saturates_at(self) -> int | None:
        return self.chunk

    def tokens_held(self, seq: int) -> int:
        return min(seq, self.chunk)

    def held_text(self, seq: int) -> str | None:
        return f"min(chunk {self.chunk:,}, seq {seq:,}) = {self.tokens_held(seq):,}"


@dataclass(frozen=True, slots=True)
class LatentAttention:
    """An MLA layer: one latent of kv_lora_rank + qk_rope_head_dim values per token.

    The latent is shared by every query head, so there is one row per token,
    not one per head and not one each for K and V.  It is reported as K bytes
    with V = 0.  DeepSeek V3 at fp16: (512 + 64) x 2 = 1,152 B per token per layer.
    """

    kv_lora_rank: int
    qk_rope_head_dim: int

    @property
    def kind(self) -> str:
        return "latent"

    @property
    def label(self) -> str:
        return f"latent {self.kv_lora_rank}+{self.qk_rope_head_dim}"

    @property
    def num_kv_heads(self) -> int:
        return 1  # one shared latent, whatever the query heads

    @property
    def saturates_at(self) -> int | None:
        return None

    def tokens_held(self, seq: int) -> int:
        return seq

    def held_text(self, seq: int) -> str | None:
        return f"seq = {seq:,}"

    def k_token_bytes(self, fmt: ElementFormat) -> int:
        # 512 + 64 = 576 values in bf16 = 1,152 B; vLLM's fp8_ds_mla packs it in 656 B
        return fmt.latent_row_bytes(self.kv_lora_rank, self.qk_rope_head_dim)

    def v_token_bytes(self, fmt: ElementFormat) -> int:
        return 0

    def state_bytes(self) -> int:
        return 0

    def formula(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        width = self.kv_lora_rank + self.qk_rope_head_dim
        return [
            f"latent per token = kv_lora_rank {self.kv_lora_rank} + qk_rope_head_dim "
            f"{self.qk_rope_head_dim} = {width:,} {k_fmt.name} values{_storage(k_fmt)} = "
            f"{self.k_token_bytes(k_fmt):,} B, shared by all heads (no separate V)"
        ]

    def with_kv_heads(self, num_kv_heads: int) -> LatentAttention:
        return self  # a latent has no KV heads to re-group

    def shard(self, tp: int) -> LatentAttention:
        return self  # every tensor-parallel rank keeps the whole latent (vLLM, SGLang)


@dataclass(frozen=True, slots=True)
class ConstantState:
    """A recurrent layer (Mamba, Gated DeltaNet): a fixed state per request, nothing per token.

    The state is in its own element format (`value_bytes`), not the KV format: engines
    keep it at the model dtype or wider when the KV cache is quantized.
    """

    mixer: str
    """mamba | gated_deltanet"""
    conv_values: int
    recurrent_values: int
    value_bytes: int

    @property
    def kind(self) -> str:
        return "state"

    @property
    def label(self) -> str:
        return f"{self.mixer} state"

    @property
    def num_kv_heads(self) -> int:
        return 0

    @property
    def saturates_at(self) -> int | None:
        return 0  # full size from the first token on

    def tokens_held(self, seq: int) -> int:
        return 0

    def held_text(self, seq: int) -> str | None:
        return None

    def k_token_bytes(self, fmt: ElementFormat) -> int:
        return 0

    def v_token_bytes(self, fmt: ElementFormat) -> int:
        return 0

    def state_bytes(self) -> int:
        # Jamba, bf16: (24,576 + 131,072) x 2 = 311,296 B per Mamba layer per request
        return (self.conv_values + self.recurrent_values) * self.value_bytes

    def formula(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        return [
            f"{self.mixer} state per request = conv {self.conv_values:,} + recurrent "
            f"{self.recurrent_values:,} values x {self.value_bytes} B = {self.state_bytes():,} B, "
            "whatever the length; nothing per token"
        ]

    def with_kv_heads(self, num_kv_heads: int) -> ConstantState:
        return self

    def shard(self, tp: int) -> ConstantState:
        # vLLM splits channels and heads over ranks and requires an even split
        if self.conv_values % tp or self.recurrent_values % tp:
            raise UsageError(f"tensor parallel size {tp} does not divide the {self.mixer} state")
        return replace(
            self, conv_values=self.conv_values // tp, recurrent_values=self.recurrent_values // tp
        )


CACHE_KINDS = ("full", "sliding", "chunked", "latent", "state")
"""Every layer kind's name; an engine states one rule for each (tests enumerate the pairs)."""


def state_cache(group: MambaGroup | GatedDeltaNetGroup) -> ConstantState:
    """The fixed per-request state of one recurrent layer, from its config fields."""
    value_bytes = KV_FORMATS[group.state_dtype].block_bytes
    if isinstance(group, MambaGroup):
        # conv: d_inner x (d_conv - 1); SSM: d_inner x d_state (Jamba: 8,192 x 3 + 8,192 x 16).
        # Mamba-2 convolves B and C too: (d_inner + 2 x n_groups x d_state) channels
        # (llama.cpp n_embd_r, src/llama-hparams.cpp; vLLM mamba2_state_shape)
        channels = group.d_inner + 2 * group.n_groups * group.d_state
        conv = channels * (group.d_conv - 1)
        return ConstantState("mamba", conv, group.d_inner * group.d_state, value_bytes)
    # conv over q, k and v channels: (2 x 16 x 128 + 32 x 128) x 3 = 24,576 for Qwen3-Next;
    # recurrent: one k_dim x v_dim matrix per value head, 32 x 128 x 128 = 524,288
    channels = 2 * group.num_k_heads * group.head_k_dim + group.num_v_heads * group.head_v_dim
    recurrent = group.num_v_heads * group.head_k_dim * group.head_v_dim
    return ConstantState(
        "gated_deltanet", channels * (group.conv_kernel - 1), recurrent, value_bytes
    )


@dataclass(frozen=True, slots=True)
class LayerGroup:
    """`count` consecutive layers with the same cache spec."""

    cache: LayerCache
    count: int


def heads_per_rank(num_kv_heads: int, tp: int) -> int:
    """KV heads one tensor-parallel rank holds.

    Heads split evenly across ranks; past one head per rank each rank keeps a
    replica (vLLM: max(1, heads // tp)), so 8 KV heads on 16 GPUs is 1 per GPU,
    not 1/2.  vLLM refuses counts that neither divide nor are divided by tp.
    """
    if num_kv_heads == 0:
        return 0  # a layer without K/V (Deci's linear attention) has nothing to split
    if num_kv_heads % tp and tp % num_kv_heads:
        raise UsageError(
            f"tensor parallel size {tp} must divide, or be a multiple of, {num_kv_heads} KV heads"
        )
    return max(1, num_kv_heads // tp)


def layer_cache(
    group: CacheGroupSpec, spec: ModelSpec, num_kv_heads: int | None = None
) -> LayerCache:
    """The cache spec of one layer group from its config fields; `num_kv_heads` re-groups."""
    k_dim, v_dim = spec.k_head_dim, spec.resolved_v_head_dim
    if isinstance(group, MambaGroup | GatedDeltaNetGroup):
        return state_cache(group)
    if isinstance(group, LatentGroup):
        return LatentAttention(group.kv_lora_rank, group.qk_rope_head_dim)
    if group.num_kv_heads == 0:
        heads = 0  # a layer that keeps no K/V stays empty whatever the re-grouping
    else:
        heads = num_kv_heads or group.num_kv_heads or spec.num_kv_heads
    if isinstance(group, FullGroup):
        return FullAttention(heads, k_dim, v_dim)
    if isinstance(group, SlidingGroup):
        return SlidingWindow(heads, k_dim, v_dim, group.window)
    if isinstance(group, ChunkedGroup):
        return ChunkedLocal(heads, k_dim, v_dim, group.chunk)
    raise TypeError(f"layer group kind {group.kind!r} has no cache class")  # a new schema kind


def expand(spec: ModelSpec, num_kv_heads: int | None = None) -> tuple[LayerGroup, ...]:
    """The model as layer groups in layer order; `num_kv_heads` re-groups every layer.

    >>> from kvcalc.catalog import load_model
    >>> expand(load_model("llama3-70b"))[0].count
    80
    """
    groups: list[LayerGroup] = []
    for group in spec.cache_groups():
        cache = layer_cache(group, spec, num_kv_heads)
        if groups and groups[-1].cache == cache:  # merge runs of identical layers
            groups[-1] = LayerGroup(cache, groups[-1].count + group.count)
        else:
            groups.append(LayerGroup(cache, group.count))
    return tuple(groups)
