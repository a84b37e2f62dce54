"""TensorRT-LLM: paged blocks of 32 tokens, a pool sized from the memory free after loading.

Rules from TensorRT-LLM's C++ KV cache manager, cpp/tensorrt_llm/batch_manager/
kvCacheManager.cpp (main, commit b35ac1b6, the 1.x line; the same arithmetic in 0.19),
which both runtimes use: the TensorRT engine path (trtllm-build + Executor, Triton's
tensorrtllm backend) that kvcalc follows, and the PyTorch backend (trtllm-serve).

- tokens_per_block 32 (KvCacheConfig.tokens_per_block, tensorrt_llm/llmapi/llm_args.py;
  engines of 0.8-0.12 were built with 64): a request of seq tokens holds cdiv(seq, 32)
  blocks in every layer (KVCacheManager::calculateMaxBlockRequirementsPerBeam, beam 1, no
  sink tokens);
- sliding-window and chunked layers keep every token, like full ones: max_attention_window
  defaults to max_seq_len for all layers, and only a per-layer max_attention_window makes
  TensorRT-LLM give a window its own smaller pool (VSWA, not modelled).  gpt-oss on
  trtllm-serve with defaults logs one pool of 36 layers x 8 heads x 64 x 2 x 2 B = 73,728
  B per token: its 128-token windows save nothing;
- MLA: one latent row per token (kv_factor 1): DeepSeek / Kimi in fp8, 61 x 576 B;
- recurrent layers: a fixed state per request (its own manager), no token slots.

Budget (BaseKVCacheManager::calculateFreeMemBytes and calculateMaxNumBlocks):

    free    = memory free after weights, activations and runtime buffers
              (cudaMemGetInfo + the memory pool's free bytes: "available: X GiB")
    primary = (uint64)(free x free_gpu_memory_fraction)  -- float32 arithmetic: size_t x float
    tokens  = min((uint64)(primary / bytes per token), max_tokens)
    blocks  = cdiv(tokens, tokens_per_block)           -- up: the pool may pass the fraction

so the fraction is of the memory left after loading, not of the device like vLLM's
gpu_memory_utilization.  The PyTorch backend measures free as total - profiled peak + its
temporary KV cache and multiplies in double precision (tensorrt_llm/_torch/pyexecutor/
_util.py), a few KiB apart from float32; kvcalc follows the C++ path.
Log: allocatePools, "[MemUsageChange] Allocated %0.2f GiB for max tokens in paged KV cache
(%d).", GiB = the pool's bytes / 2^30 and N = blocks x tokens_per_block.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    NO_TOKENS,
    BudgetDefaults,
    Engine,
    EnginePool,
    LogRecord,
    PoolReport,
    Rule,
    Setting,
    cdiv,
)

if TYPE_CHECKING:
    from kvcalc.layers import LayerCache

# KvCacheConfig dtype / kv_cache_quant_algo: the model dtype ("auto"), FP8, INT8 (engine path)
# and NVFP4 (0.5 B per value + one fp8 scale per 16, resource_manager.py
# get_cache_bytes_per_token)
FORMATS = frozenset({"fp32", "fp16", "bf16", "fp8_e4m3", "int8", "nvfp4"})
MLA_FORMATS = frozenset({"fp16", "bf16", "fp8_e4m3"})


def float32(x: Fraction) -> Fraction:
    """x rounded to the nearest IEEE float32 (ties to even), for C++'s size_t x float.

    >>> float32(Fraction(9, 10))  # 0.9f
    Fraction(7549747, 8388608)
    """
    if x <= 0:
        return x
    exponent = x.numerator.bit_length() - x.denominator.bit_length()
    if x < Fraction(2) ** exponent:
        exponent -= 1  # now 2^exponent <= x < 2^(exponent + 1)
    unit = Fraction(2) ** (exponent - 23)  # 24 significant bits
    return round(x / unit) * unit


def kv_of_free(free_bytes: int, fraction: Fraction) -> int:
    """calculateFreeMemBytes: (uint64)(free x fraction), the product in float32.

    70.48 GiB = 75,677,323,755 B free x 0.9: 68,109,594,624 B in float32, 3,244.5 B
    more than the exact product 68,109,591,379.5.
    """
    if free_bytes <= 0:
        return free_bytes  # nothing free: the deficit, as the budget reports it
    return int(float32(float32(Fraction(free_bytes)) * float32(fraction)))


@dataclass(frozen=True, slots=True, kw_only=True)
class TrtllmPool(LogRecord):
    """'[MemUsageChange] Allocated X GiB for max tokens in paged KV cache (N).'"""

    kv_bytes: int
    """The pool as allocated: blocks x tokens_per_block x bytes per token."""
    tokens: int
    tokens_per_block: int


def paged_slots(engine: TensorRtLlm, cache: LayerCache, seq: int, batch: int) -> int:
    return batch * cdiv(seq, engine.page) * engine.page


def paged_text(engine: TensorRtLlm, cache: LayerCache, seq: int, batch: int) -> str:
    b, blocks = engine.page, cdiv(seq, engine.page)
    windowed = cache.saturates_at is not None
    return (
        f"slots = {batch:,} x cdiv({seq:,}, tokens_per_block {b}) = {blocks:,} blocks x {b} = "
        f"{batch * blocks * b:,}"
        + ("; every token kept (max_attention_window defaults to max_seq_len)" if windowed else "")
    )


PAGED = Rule(slots=paged_slots, explain=paged_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorRtLlm(PoolReport, Engine):
    max_tokens: int | None = None
    """KvCacheConfig.max_tokens (max_tokens_in_paged_kv_cache): the pool holds at most
    this many tokens before rounding up to a block; with the fraction, the smaller wins."""

    RULES: ClassVar = {
        "full": PAGED,
        "sliding": PAGED,  # one pool, every token: VSWA needs a per-layer max_attention_window
        "chunked": PAGED,
        "latent": Rule(
            slots=paged_slots,
            explain=paged_text,
            formats=MLA_FORMATS,
            formats_why="kvcalc sizes TensorRT-LLM's MLA cache (kv_factor 1) in 16- and "
            "8-bit float only",
        ),
        "state": NO_TOKENS,
    }
    SETTINGS: ClassVar = {
        "block_size": Setting(field="page", flag="--block-size", low=1, high=1 << 20),
        "max_tokens": Setting(field="max_tokens", flag="--max-tokens", low=1, high=1 << 40),
    }

    def pool_tokens(self, kv_bytes: int, token_bytes: int) -> int:
        """calculateMaxNumBlocks: whole blocks, rounded UP past the budget.

        0.9 x 70.48 GiB at 262,144 B/token (Llama 2 7B, 8-bit cache): 259,817 tokens ->
        cdiv(259,817, 64) = 4,060 blocks = 259,840 tokens (TensorRT-LLM's memory.md).
        """
        tokens = kv_bytes // token_bytes
        if self.max_tokens is not None:
            tokens = min(tokens, self.max_tokens)
        return cdiv(tokens, self.page) * self.page

    def holds_one_pool(self, caches: list[LayerCache]) -> bool:
        # every attention layer keeps every token, so one pool holds them all; a
        # recurrent state lives in another manager kvcalc does not size
        return all(cache.kind != "state" for cache in caches)

    def capacity(self, kv_bytes: int, pool: EnginePool | None) -> int:
        """The pool's bytes: N tokens fit exactly when their blocks are among the pool's."""
        if pool is None or not pool.single_pool:
            return kv_bytes
        return pool.tokens * (pool.k_token_bytes + pool.v_token_bytes)

    NOT_REPRODUCED: ClassVar[str] = (
        "keeps recurrent state in a separate manager (MambaCacheManager)"
    )

    def pool_records(self, pool: EnginePool) -> tuple[LogRecord, ...]:
        return (
            TrtllmPool(
                kv_bytes=pool.tokens * (pool.k_token_bytes + pool.v_token_bytes),
                tokens=pool.tokens,
                tokens_per_block=pool.page,
            ),
        )


TENSORRT_LLM = TensorRtLlm(
    name="tensorrt-llm",
    title="TensorRT-LLM (paged blocks, a fraction of the memory free after loading)",
    page=32,
    formats=FORMATS,
    same_kv_format=True,
    budget=BudgetDefaults(
        # kDefaultGpuMemFraction (executor.h) and KvCacheConfig.free_gpu_memory_fraction: 0.9
        util=((1, Fraction(9, 10)),),
        cpu_util=Fraction(9, 10),
        # what is neither weights nor KV before the pool is sized: activations (execution
        # context), runtime buffers, decoder, CUDA context.  memory.md's H100 example: 79.10
        # GiB total - 70.48 available - ~6.5 GiB of Llama-2-7B int8 engine = ~2.1 GiB
        overhead_bytes=2 * 2**30,
        cpu_overhead_bytes=2 * 2**30,
        kv_of_free=kv_of_free,
    ),
)
