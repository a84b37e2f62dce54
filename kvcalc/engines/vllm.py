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
A model with chunked local attention (Llama 4) runs with the hybrid KV cache manager
off by default (vllm/config/vllm.py, VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE
unset): its sliding and chunked layers are stored as full attention layers
(kv_cache_utils.py unify_hybrid_kv_cache_specs) and keep every token.

Two versions: `vllm` is the newest behaviour modelled (0.20: the CUDA-graph memory
estimate is taken out of the KV budget), `vllm-0.19` the 0.19.0 of the calibration
logs (graphs come out of the memory left outside gpu_memory_utilization).  Budget:
vllm_plan.py; pool: vllm_groups.py; log lines: vllm_records.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    GPU_SERVER_BUDGET,
    NO_TOKENS,
    Engine,
    EnginePool,
    LogRecord,
    PoolReport,
    Rule,
    Setting,
    cdiv,
)
from kvcalc.engines.memory import DeviceFacts, MemoryPlan, MemoryQuestion
from kvcalc.engines.vllm_records import VllmPool
from kvcalc.errors import UsageError
from kvcalc.layers import FullAttention

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.engines.vllm_groups import BlockPool
    from kvcalc.layers import ChunkedLocal, LayerCache, LayerGroup, SlidingWindow
    from kvcalc.spec import ModelSpec

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
DEFAULT_BATCHED_TOKENS = 2048
"""SchedulerConfig.DEFAULT_MAX_NUM_BATCHED_TOKENS: where no GPU picks the `vllm serve` default."""


def paged_slots(engine: Vllm, cache: LayerCache, seq: int, batch: int) -> int:
    return batch * cdiv(seq, engine.page) * engine.page


def paged_text(engine: Vllm, cache: LayerCache, seq: int, batch: int) -> str:
    b, blocks = engine.page, cdiv(seq, engine.page)
    return f"slots = {batch:,} x cdiv({seq:,}, block {b}) = {blocks:,} blocks x {b} = " + (
        f"{batch * blocks * b:,}"
    )


def window_tokens(engine: Vllm, cache: SlidingWindow, seq: int) -> int:
    return min(cache.window - 1 + engine.batched_tokens, seq)


def window_slots(engine: Vllm, cache: SlidingWindow, seq: int, batch: int) -> int:
    return batch * (cdiv(window_tokens(engine, cache, seq), engine.page) + 1) * engine.page


def window_text(engine: Vllm, cache: SlidingWindow, seq: int, batch: int) -> str:
    b, tokens = engine.page, window_tokens(engine, cache, seq)
    blocks = cdiv(tokens, b) + 1
    return (
        f"slots = {batch:,} x (cdiv(min(window {cache.window:,} - 1 + "
        f"max_num_batched_tokens {engine.batched_tokens:,}, seq {seq:,}) = "
        f"{tokens:,}, block {b}) + 1 = {blocks:,} blocks) x {b} = {batch * blocks * b:,}"
    )


def chunk_tokens(engine: Vllm, cache: ChunkedLocal, seq: int) -> int:
    return min(cache.chunk + engine.batched_tokens, seq)


def chunk_slots(engine: Vllm, cache: ChunkedLocal, seq: int, batch: int) -> int:
    return batch * cdiv(chunk_tokens(engine, cache, seq), engine.page) * engine.page


def chunk_text(engine: Vllm, cache: ChunkedLocal, seq: int, batch: int) -> str:
    b, tokens = engine.page, chunk_tokens(engine, cache, seq)
    blocks = cdiv(tokens, b)
    return (
        f"slots = {batch:,} x cdiv(min(chunk {cache.chunk:,} + max_num_batched_tokens "
        f"{engine.batched_tokens:,}, seq {seq:,}) = {tokens:,}, block {b}) = "
        f"{blocks:,} blocks x {b} = {batch * blocks * b:,}"
    )


def hybrid_off(engine: Vllm, cache: LayerCache, spec: ModelSpec) -> LayerCache:
    """Sliding and chunked layers as vLLM stores them: full attention layers when the model
    has chunked local attention (the hybrid KV cache manager is then off by default)."""
    if not any(group.kind == "chunked" for group in spec.cache_groups()):
        return cache
    return FullAttention(cache.num_kv_heads, cache.k_head_dim, cache.v_head_dim)  # type: ignore[attr-defined]


PAGED = Rule(slots=paged_slots, explain=paged_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vllm(PoolReport, Engine):
    max_num_batched_tokens: int | None = None
    """Scheduler tokens per step; widens sliding layers and sizes the profiling run.
    None: `vllm serve`'s default for the GPU (for_device)."""
    max_num_seqs: int | None = None
    """Requests per step; the sampler warm-up's dummy requests."""
    max_model_len: int | None = None
    """None: the model's max context."""
    enforce_eager: bool = False
    """No CUDA graphs (nothing captured, nothing estimated)."""
    kv_cache_memory_bytes: int | None = None
    """--kv-cache-memory-bytes: KV memory per GPU, gpu_memory_utilization ignored."""
    graphs_in_budget: bool = True
    """0.20+: the CUDA-graph estimate is charged to the KV budget."""

    RULES: ClassVar = {
        "full": PAGED,
        "sliding": Rule(slots=window_slots, explain=window_text, store=hybrid_off),
        "chunked": Rule(slots=chunk_slots, explain=chunk_text, store=hybrid_off),
        "latent": Rule(
            slots=paged_slots,
            explain=paged_text,
            formats=MLA_FORMATS,
            formats_why="vLLM's MLA backends (FlashMLA, CUTLASS MLA, FlashInfer MLA, Triton "
            "MLA, FlashMLA sparse) take no nvfp4, per-token-head or TurboQuant cache",
        ),
        "state": NO_TOKENS,
    }
    SETTINGS: ClassVar = {
        "block_size": Setting(field="page", flag="--block-size", low=1, high=1 << 20),
        "max_model_len": Setting(
            field="max_model_len", flag="--max-model-len", low=1, high=1 << 40
        ),
        "max_num_seqs": Setting(field="max_num_seqs", flag="--max-num-seqs", low=1, high=1 << 30),
        "max_num_batched_tokens": Setting(
            field="max_num_batched_tokens", flag="--max-num-batched-tokens", low=1, high=1 << 40
        ),
        "enforce_eager": Setting(field="enforce_eager", flag="--enforce-eager", kind="flag"),
        "kv_cache_memory": Setting(
            field="kv_cache_memory_bytes", flag="--kv-cache-memory", low=1, high=1 << 60
        ),
    }
    FORMAT_HINTS: ClassVar = {
        "int8": "vLLM has no per-tensor int8 cache; int8_per_token_head is int8 plus an fp32 "
        "scale per token per KV head",
        "int4": "vLLM's 4-bit caches are int4_per_token_head, nvfp4 and TurboQuant's",
        "mxfp8": "mxfp8 is SGLang's",
        "fp4_mx_block16": "fp4_mx_block16 is SGLang's; vLLM's 16-value fp4 cache is nvfp4",
    }

    @property
    def batched_tokens(self) -> int:
        """max_num_batched_tokens as resolved, else the scheduler's own default (2,048)."""
        return self.max_num_batched_tokens or DEFAULT_BATCHED_TOKENS

    def with_request_length(self, seq: int | None) -> Vllm:
        return (
            self
            if seq is None or self.max_model_len is not None
            else replace(self, max_model_len=seq)
        )

    def for_device(self, device: DeviceFacts | None, spec: ModelSpec) -> Vllm:
        from kvcalc.engines.vllm_plan import batch_limits

        length = self.max_model_len or spec.max_context
        limits = batch_limits(device, length, self.max_num_seqs, self.max_num_batched_tokens)
        return replace(
            self,
            max_model_len=limits.max_model_len,
            max_num_seqs=limits.max_num_seqs,
            max_num_batched_tokens=limits.max_num_batched_tokens,
        )

    def memory_plan(self, question: MemoryQuestion) -> MemoryPlan:
        from kvcalc.engines.vllm_plan import batch_limits, vllm_plan

        if question.device.kind != "gpu":
            raise UsageError(f"{self.name} sizes a GPU: give --gpu NAME or --mem SIZE for a GPU")
        length = self.max_model_len or question.spec.max_context
        return vllm_plan(
            question,
            batch_limits(question.device, length, self.max_num_seqs, self.max_num_batched_tokens),
            enforce_eager=self.enforce_eager,
            kv_cache_memory=self.kv_cache_memory_bytes,
            graphs_in_budget=self.graphs_in_budget and not self.enforce_eager,
        )

    def allocated(self, groups: tuple[LayerGroup, ...]) -> tuple[LayerGroup, ...]:
        from kvcalc.engines.vllm_groups import padding

        return groups + padding(groups)

    def block_pool(
        self,
        stages: tuple[tuple[LayerGroup, ...], ...],
        stage_kv_bytes: tuple[int, ...],
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> BlockPool | None:
        from kvcalc.engines.vllm_groups import block_pool

        try:
            return block_pool(stages, stage_kv_bytes, k_fmt, v_fmt, self.page, self.batched_tokens)
        except UsageError:
            return None  # recurrent layers: sized by bytes, the log lines not reproduced

    NOT_REPRODUCED: ClassVar[str] = "sizes recurrent (Mamba, DeltaNet) layers per cache group"

    def reproduced(self, pool: EnginePool) -> bool:
        return pool.num_blocks is not None

    def pool_records(self, pool: EnginePool) -> tuple[LogRecord, ...]:
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
    title="vLLM 0.20+ (paged blocks; CUDA-graph estimate in the budget)",
    page=16,
    formats=FORMATS,
    same_kv_format=True,
    budget=GPU_SERVER_BUDGET,
)
VLLM_019 = replace(
    VLLM,
    name="vllm-0.19",
    title="vLLM 0.19 (paged blocks; CUDA graphs outside the budget)",
    graphs_in_budget=False,
)
