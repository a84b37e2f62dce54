"""vLLM's KV block pool: layers into cache groups, blocks per worker, tokens, concurrency.

From vllm/v1/core/kv_cache_utils.py (get_kv_cache_groups, get_kv_cache_configs,
get_kv_cache_config_from_groups, _report_kv_cache_config,
get_max_concurrency_for_kv_cache_config), the same in 0.19 and 0.20:

- every layer the same (Llama): one group; a worker's blocks = KV memory // page //
  its layers (page = one block of one layer);
- one kind, different sizes (full and MLA layers of different widths): one group, each
  layer its own tensor; blocks = KV memory // the sum of the layers' pages;
- kinds mixed (Gemma's sliding and full layers, gpt-oss): pages made equal by scaling
  the smaller pages' block size, layers grouped by kind into groups of `group_size`
  layers (the smallest kind's count, or the largest when it is under 1.5 x the
  smallest), the last group of a kind padded with empty slots; blocks = KV memory //
  page // group_size, shared by all groups;
- the engine takes the smallest block count over all workers (pipeline stages differ);
- "GPU KV cache size" = blocks // groups x block size, "Maximum concurrency" = blocks /
  the blocks one max_model_len request needs in every group.

Llama 3.1 8B, 58.11 GiB of KV on an H100 (62,392,369,152 B or up to 2^30 / 200 more):
// (16 x 4,096 B) // 32 layers = 29,751 blocks -> 476,016 tokens; 29,751 / cdiv(8,192, 16)
= 58.11x, as the log says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.errors import UsageError
from kvcalc.layers import ChunkedLocal, FullAttention, LatentAttention, LayerGroup, SlidingWindow

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import LayerCache


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def request_tokens(cache: LayerCache, seq: int, batched: int) -> tuple[int, int]:
    """(tokens, extra blocks) one request of `seq` tokens keeps in a layer of this kind
    (each spec's max_memory_usage_bytes in vllm/v1/kv_cache_interface.py): full and MLA
    every token; sliding window - 1 + max_num_batched_tokens, capped at seq, plus a block
    (the window need not start on a block boundary); chunked local chunk +
    max_num_batched_tokens, capped at seq."""
    if isinstance(cache, SlidingWindow):
        return min(cache.window - 1 + batched, seq), 1
    if isinstance(cache, ChunkedLocal):
        return min(cache.chunk + batched, seq), 0
    return seq, 0


def token_rule(cache: LayerCache) -> tuple[str, int]:
    """What decides a layer's tokens: 'full' (full and MLA alike), or a window or chunk."""
    if isinstance(cache, SlidingWindow):
        return "sliding", cache.window
    if isinstance(cache, ChunkedLocal):
        return "chunked", cache.chunk
    return "full", 0


@dataclass(frozen=True, slots=True)
class CacheGroup:
    """One vLLM KV cache group: layers of one kind sharing a block table."""

    cache: LayerCache
    block: int
    """Tokens per block (scaled up for kinds whose page was smaller)."""

    def blocks(self, seq: int, batched: int) -> int:
        tokens, extra = request_tokens(self.cache, seq, batched)
        return cdiv(tokens, self.block) + extra


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockPool:
    """The pool the engine carves from every worker's KV memory."""

    groups: tuple[CacheGroup, ...]
    num_blocks: int
    block_bytes: int
    """Bytes one block takes on the worker that set num_blocks (all its layer slots)."""
    max_num_batched_tokens: int

    @property
    def tokens(self) -> int:
        """'GPU KV cache size': blocks // groups x the smallest block size."""
        return self.num_blocks // len(self.groups) * min(g.block for g in self.groups)

    def request_blocks(self, seq: int) -> int:
        """Blocks one request of `seq` tokens holds, summed over the groups."""
        return sum(g.blocks(seq, self.max_num_batched_tokens) for g in self.groups)

    def concurrency(self, seq: int) -> Fraction:
        """'Maximum concurrency for seq tokens per request'."""
        return Fraction(self.num_blocks, self.request_blocks(seq))

    @property
    def windowed(self) -> bool:
        """Every group stops growing (sliding or chunked): length is not what runs out."""
        return all(token_rule(g.cache)[0] != "full" for g in self.groups)


def layer_page(cache: LayerCache, block: int, k_fmt: ElementFormat, v_fmt: ElementFormat) -> int:
    """One block of one layer: block x (K + V) bytes per token (MLA: the latent row)."""
    return block * (cache.k_token_bytes(k_fmt) + cache.v_token_bytes(v_fmt))


def per_layer(stage: Iterable[LayerGroup]) -> list[LayerCache]:
    return [group.cache for group in stage for _ in range(group.count)]


def group_size(counts: list[int]) -> int:
    """Layers per group (_get_kv_cache_groups_uniform_page_size): the smallest kind's count,
    or the largest when it is under 1.5 x the smallest (gpt-oss 12 + 12: 12; Gemma 3 27B
    52 sliding + 10 full: 10, so the sliding layers fill 6 groups, 8 slots empty)."""
    smallest, largest = min(counts), max(counts)
    return largest if largest < smallest * 3 / 2 else smallest


def padding(groups: tuple[LayerGroup, ...]) -> tuple[LayerGroup, ...]:
    """Empty layer slots vLLM's hybrid grouping adds, as extra layers of each kind: every
    kind fills whole groups of group_size layers, and each slot reserves its page in every
    block.  Gemma 3 1B (22 sliding + 4 full, group size 4): 6 sliding groups = 24 slots,
    2 of them empty.  Nothing for a model of one token rule (one group)."""
    every = [cache for stage in (groups,) for cache in per_layer(stage)]
    kinds = list(dict.fromkeys(every))
    if len({token_rule(c) for c in kinds}) <= 1:
        return ()
    counts = [every.count(c) for c in kinds]
    size = group_size(counts)
    return tuple(
        LayerGroup(c, cdiv(n, size) * size - n)
        for c, n in zip(kinds, counts, strict=True)
        if n % size
    )


def block_pool(
    stages: tuple[tuple[LayerGroup, ...], ...],
    stage_kv_bytes: tuple[int, ...],
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    block: int,
    max_num_batched_tokens: int,
) -> BlockPool:
    """The pool for the layers each pipeline stage holds and the KV memory each has."""
    layers = [per_layer(stage) for stage in stages]
    every = [cache for stage in layers for cache in stage]
    for cache in every:
        if not isinstance(cache, FullAttention | SlidingWindow | ChunkedLocal | LatentAttention):
            raise UsageError("vLLM's pool for recurrent (Mamba, DeltaNet) layers is not modelled")
    kinds = list(dict.fromkeys(every))  # distinct specs in order of first appearance
    if len({token_rule(c) for c in kinds}) == 1:
        # one group: uniform (one spec), or one kind of token rule with layers of
        # different widths (UniformTypeKVCacheSpecs): each layer its own tensor
        per_block = [sum(layer_page(c, block, k_fmt, v_fmt) for c in stage) for stage in layers]
        groups: tuple[CacheGroup, ...] = (CacheGroup(kinds[0], block),)
    else:
        pages = {c: layer_page(c, block, k_fmt, v_fmt) for c in kinds}
        page = max(pages.values())
        if any(page % p for p in pages.values()):
            raise UsageError("vLLM cannot make these layers' page sizes equal (not modelled)")
        counts = [every.count(c) for c in kinds]
        size = group_size(counts)
        groups = tuple(
            CacheGroup(c, block * (page // pages[c]))
            for c, n in zip(kinds, counts, strict=True)
            for _ in range(cdiv(n, size))
        )
        starts = [sum(len(stage) for stage in layers[:i]) for i in range(len(layers))]
        per_block = [
            page * worker_group_size(every, kinds, size, range(start, start + len(stage)))
            for start, stage in zip(starts, layers, strict=True)
        ]
    blocks = [max(0, kv // b) if b else 0 for kv, b in zip(stage_kv_bytes, per_block, strict=True)]
    binding = blocks.index(min(blocks))
    return BlockPool(
        groups=groups,
        num_blocks=blocks[binding],
        block_bytes=per_block[binding],
        max_num_batched_tokens=max_num_batched_tokens,
    )


def worker_group_size(
    every: list[LayerCache], kinds: list[LayerCache], size: int, owned: range
) -> int:
    """Layers per group on one worker: group i of a kind takes that kind's layers i, i + G,
    i + 2G, ... (G = its group count), and a worker holds the ones in its stage
    (_project_kv_cache_groups_to_worker); the fullest group sets the worker's block."""
    largest = 0
    for kind in kinds:
        positions = [i for i, c in enumerate(every) if c == kind]
        count = cdiv(len(positions), size)
        for g in range(count):
            largest = max(largest, sum(1 for p in positions[g::count] if p in owned))
    return largest
