"""Layers as llama.cpp sees them: head sizes, V widths, and a V row widened to the widest.

llama.cpp's hparams give every layer n_embd_head_k/v (the head sizes its refusals test)
and n_embd_k/v_gqa (the row widths it allocates); these helpers read the same numbers
off kvcalc's cache classes (src/llama-hparams.cpp).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kvcalc import archs
from kvcalc.engines.base import cdiv
from kvcalc.layers import LatentAttention

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import LayerCache
    from kvcalc.spec import ModelSpec

_GGML_NAMES = {"fp32": "f32", "fp16": "f16"}


def ggml_name(fmt: ElementFormat) -> str:
    """ggml_type_name of a cache format: fp16 -> f16, q8_0 -> q8_0."""
    return _GGML_NAMES.get(fmt.name, fmt.name)


def head_dims(cache: LayerCache) -> tuple[int, int]:
    """(n_embd_head_k, n_embd_head_v) of a layer.  An MLA GGUF states the latent as one
    KV head: key_length = kv_lora_rank + rope dim, value_length = kv_lora_rank."""
    if isinstance(cache, PaddedV):
        return head_dims(cache.inner)
    if isinstance(cache, LatentAttention):
        return cache.kv_lora_rank + cache.qk_rope_head_dim, cache.kv_lora_rank
    if cache.kind == "state":
        return 0, 0
    return cache.k_head_dim, cache.v_head_dim  # type: ignore[attr-defined]


def v_width(cache: LayerCache, spec: ModelSpec, attention_width: int) -> int:
    """n_embd_v_gqa(il) of a layer: head_v x n_head_kv(il).  A recurrent layer's is 0 where
    its GGUF marks it by head_count_kv 0 (Jamba), else the attention layers' (Qwen3-Next
    gives one head_count_kv for all layers)."""
    if cache.kind == "state":
        interval = spec.architecture in archs.RECURRENT_BY_INTERVAL
        return attention_width if interval else 0
    if isinstance(cache, LatentAttention):
        return cache.kv_lora_rank
    return cache.num_kv_heads * head_dims(cache)[1]


@dataclass(frozen=True, slots=True)
class PaddedV:
    """A per-head layer whose V row llama.cpp widens to `v_width` values: with flash
    attention off V is stored transposed, one row per value across all cells, and the
    widest layer sets every row's width (src/llama-kv-cache.cpp, [TAG_V_CACHE_VARIABLE])."""

    inner: LayerCache
    v_width: int

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def label(self) -> str:
        return f"{self.inner.label}, V {self.v_width}"

    @property
    def num_kv_heads(self) -> int:
        return self.inner.num_kv_heads

    @property
    def saturates_at(self) -> int | None:
        return self.inner.saturates_at

    def tokens_held(self, seq: int) -> int:
        return self.inner.tokens_held(seq)

    def held_text(self, seq: int) -> str | None:
        return self.inner.held_text(seq)

    def k_token_bytes(self, fmt: ElementFormat) -> int:
        return self.inner.k_token_bytes(fmt)

    def v_token_bytes(self, fmt: ElementFormat) -> int:
        return fmt.row_bytes(self.v_width)

    def state_bytes(self) -> int:
        return 0

    def formula(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        k_line = self.inner.formula(k_fmt, v_fmt)[0]
        return [
            k_line,
            f"V per token = {self.v_width:,} {v_fmt.name} values (padded to the widest layer: "
            f"flash attention off) = {self.v_token_bytes(v_fmt):,} B",
        ]

    def with_kv_heads(self, num_kv_heads: int) -> PaddedV:
        return replace(self, inner=self.inner.with_kv_heads(num_kv_heads))

    def shard(self, tp: int) -> PaddedV:
        return PaddedV(self.inner.shard(tp), cdiv(self.v_width, tp))


def row_values(cache: LayerCache) -> tuple[int, int]:
    """(K, V) values per cell of a layer: n_embd_k_gqa and n_embd_v_gqa (V 0: no tensor)."""
    if isinstance(cache, LatentAttention):
        return head_dims(cache)[0], 0
    if isinstance(cache, PaddedV):
        return row_values(cache.inner)[0], cache.v_width
    k_dim, v_dim = head_dims(cache)
    return cache.num_kv_heads * k_dim, cache.num_kv_heads * v_dim
