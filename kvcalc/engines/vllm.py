"""vLLM v1: paged blocks per request, sliding and chunked layers bounded by the scheduler.

Rules from vllm/v1/kv_cache_interface.py (each spec's max_memory_usage_bytes) and
vllm/v1/core/kv_cache_utils.py:
- full attention and MLA: cdiv(seq, block) blocks per request;
- sliding window: cdiv(min(window - 1 + max_num_batched_tokens, seq), block) + 1
  blocks (the window need not start on a block boundary).  Mistral 7B v0.1 at 32,768
  tokens: min(4,095 + 2,048, 32,768) = 6,143 -> 384 + 1 = 385 blocks = 6,160 tokens
  per layer, not 4,096;
- chunked local attention: cdiv(min(chunk + max_num_batched_tokens, seq), block)
  blocks (a chunk plus the tokens scheduled in one step);
- recurrent state: a fixed state per request, no token slots.
Budget: gpu_memory_utilization 0.9 and the logged activation peak + non-torch memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    GPU_SERVER_BUDGET,
    Engine,
    EnginePool,
    LogRecord,
    NotReproduced,
    Rule,
    Setting,
    cdiv,
    no_slots,
    state_text,
)

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import ChunkedLocal, LayerCache, SlidingWindow
    from kvcalc.sizing import SizeResult

# --kv-cache-dtype: vllm/config/cache.py CacheDType (auto, float16, bfloat16, fp8, fp8_e4m3,
# fp8_e5m2, fp8_inc, fp8_ds_mla, nvfp4_ds_mla, turboquant_*, int4/int8/fp8_per_token_head,
# nvfp4, nvfp4_4over6), in kvcalc's names (dtypes.py aliases fp8, fp8_inc, nvfp4_4over6);
# 'auto' is the model dtype, fp32 included.  ultraquant_4bit: vLLM 0.33 (ROCm).  The ROCm
# octave_* formats are refused by name in dtypes.py.
FORMATS = frozenset(
    {
        "fp32",
        "fp16",
        "bf16",
        "fp8_e4m3",
        "fp8_e5m2",
        "int8_per_token_head",
        "fp8_per_token_head",
        "int4_per_token_head",
        "nvfp4",
        "fp8_ds_mla",
        "nvfp4_ds_mla",
        "turboquant_k8v4",
        "turboquant_4bit_nc",
        "turboquant_k3v4_nc",
        "turboquant_3bit_nc",
        "ultraquant_4bit",
    }
)
# MLA backends' supported_kv_cache_dtypes (v1/attention/backends/mla/: FlashMLA, CUTLASS MLA,
# FlashInfer MLA, Triton MLA: auto, float16, bfloat16, fp8, fp8_e4m3; ROCm AITER MLA adds
# fp8_e5m2; FlashMLA sparse: fp8_ds_mla, nvfp4_ds_mla)
MLA_FORMATS = frozenset(
    {"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla", "nvfp4_ds_mla"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmPool(LogRecord):
    """The three lines vLLM logs about its KV pool ('Available KV cache memory' ...)."""

    kv_bytes: int
    tokens: int
    seq: int
    """max_model_len: the request length the concurrency is for."""
    concurrency: Fraction
    """Blocks in the pool / blocks one request of `seq` tokens needs."""


def paged_slots(engine: Vllm, cache: LayerCache, seq: int, batch: int) -> int:
    return batch * cdiv(seq, engine.page) * engine.page


def paged_text(engine: Vllm, cache: LayerCache, seq: int, batch: int) -> str:
    b, blocks = engine.page, cdiv(seq, engine.page)
    return f"slots = {batch:,} x cdiv({seq:,}, block {b}) = {blocks:,} blocks x {b} = " + (
        f"{batch * blocks * b:,}"
    )


def window_tokens(engine: Vllm, cache: SlidingWindow, seq: int) -> int:
    return min(cache.window - 1 + engine.max_num_batched_tokens, seq)


def window_slots(engine: Vllm, cache: SlidingWindow, seq: int, batch: int) -> int:
    return batch * (cdiv(window_tokens(engine, cache, seq), engine.page) + 1) * engine.page


def window_text(engine: Vllm, cache: SlidingWindow, seq: int, batch: int) -> str:
    b, tokens = engine.page, window_tokens(engine, cache, seq)
    blocks = cdiv(tokens, b) + 1
    return (
        f"slots = {batch:,} x (cdiv(min(window {cache.window:,} - 1 + "
        f"max_num_batched_tokens {engine.max_num_batched_tokens:,}, seq {seq:,}) = "
        f"{tokens:,}, block {b}) + 1 = {blocks:,} blocks) x {b} = {batch * blocks * b:,}"
    )


def chunk_tokens(engine: Vllm, cache: ChunkedLocal, seq: int) -> int:
    return min(cache.chunk + engine.max_num_batched_tokens, seq)


def chunk_slots(engine: Vllm, cache: ChunkedLocal, seq: int, batch: int) -> int:
    return batch * cdiv(chunk_tokens(engine, cache, seq), engine.page) * engine.page


def chunk_text(engine: Vllm, cache: ChunkedLocal, seq: int, batch: int) -> str:
    b, tokens = engine.page, chunk_tokens(engine, cache, seq)
    blocks = cdiv(tokens, b)
    return (
        f"slots = {batch:,} x cdiv(min(chunk {cache.chunk:,} + max_num_batched_tokens "
        f"{engine.max_num_batched_tokens:,}, seq {seq:,}) = {tokens:,}, block {b}) = "
        f"{blocks:,} blocks x {b} = {batch * blocks * b:,}"
    )


PAGED = Rule(slots=paged_slots, explain=paged_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vllm(Engine):
    max_num_batched_tokens: int = 2048
    """Scheduler budget per step (EngineArgs default for offline use); widens SWA layers."""

    RULES: ClassVar = {
        "full": PAGED,
        "sliding": Rule(slots=window_slots, explain=window_text),
        "chunked": Rule(slots=chunk_slots, explain=chunk_text),
        "latent": Rule(
            slots=paged_slots,
            explain=paged_text,
            formats=MLA_FORMATS,
            formats_why="vLLM's MLA backends (FlashMLA, CUTLASS MLA, FlashInfer MLA, Triton "
            "MLA, FlashMLA sparse) take no nvfp4, per-token-head or TurboQuant cache",
        ),
        "state": Rule(slots=no_slots, explain=state_text),
    }
    SETTINGS: ClassVar = {
        "block_size": Setting(field="page", flag="--block-size", low=1, high=1 << 20)
    }
    FORMAT_HINTS: ClassVar = {
        "int8": "vLLM has no per-tensor int8 cache; int8_per_token_head is int8 plus an fp32 "
        "scale per token per KV head",
        "int4": "vLLM's 4-bit caches are int4_per_token_head, nvfp4 and TurboQuant's",
        "mxfp8": "mxfp8 is SGLang's",
        "fp4_mx_block16": "fp4_mx_block16 is SGLang's; vLLM's 16-value fp4 cache is nvfp4",
    }

    def fit_report(
        self,
        pool: EnginePool | None,
        at_answer: SizeResult | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> tuple[LogRecord, ...]:
        if pool is None:
            return ()
        if not pool.single_pool:
            return (
                NotReproduced(
                    engine=self.name,
                    what="sizes hybrid models (sliding, recurrent) per cache group",
                ),
            )
        return (
            VllmPool(
                kv_bytes=pool.kv_bytes,
                tokens=pool.tokens,
                seq=pool.seq,
                concurrency=pool.concurrency,
            ),
        )


VLLM = Vllm(
    name="vllm",
    title="vLLM v1 (paged blocks)",
    page=16,
    formats=FORMATS,
    same_kv_format=True,
    budget=GPU_SERVER_BUDGET,
)
