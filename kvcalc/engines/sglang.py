"""SGLang: one token pool, every layer's buffer one page longer.

Rules from srt/mem_cache/memory_pool.py: a token pool of page-size pages (1 by
default) whose per-layer buffers hold size + page_size slots: the extra page
receives the writes of padded tokens.  Without its hybrid SWA pool (not modelled)
every windowed or chunked layer keeps the full length.  Budget (sglang_memory.py):
mem_fraction_static of the memory free before loading, weights included; activations
and CUDA graphs live in the 1 - mem_fraction_static it keeps back.  `sglang` follows
0.5.3+ for the default fraction, `sglang-0.4` the 0.4.1-0.4.7 table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    pad,
)
from kvcalc.engines.memory import DeviceFacts, MemoryPlan, MemoryQuestion
from kvcalc.engines.sglang_memory import batch_defaults, max_running_requests, mem_fraction_static
from kvcalc.units import fixed

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import LayerCache
    from kvcalc.spec import ModelSpec

MiB = 1 << 20
GiB = 1 << 30
# Memory in use before the weights load (CUDA context, allocator, distributed init): the
# "Load weight begin. avail mem" of the SGLang logs on 80 GB cards sits 0.38-0.76 GiB below
# CUDA's 79.19 GiB (0.4.1: 78.81, 0.4.4: 78.59, 0.5.x: 78.43); NCCL at TP > 1 adds 0.1-2 GiB
# more (0.13 GB at TP 4 on L4s, 1.96 GB at TP 8 on H200s), not modelled.
BASELINE = 600 * MiB


@dataclass(frozen=True, slots=True, kw_only=True)
class SglangScheduler(LogRecord):
    """'max_total_num_tokens=N, chunked_prefill_size=C, max_prefill_tokens=16384,
    max_running_requests=M, context_len=L' (managers/scheduler.py)."""

    tokens: int
    chunked_prefill_size: int
    max_running_requests: int
    context_len: int


# --kv-cache-dtype choices of SGLang 0.5.23 (srt/server_args.py): auto, fp8_e5m2, fp8_e4m3,
# mxfp8, bf16, bfloat16, nvfp4, fp4_mx_block16 ('auto' is the model dtype, fp32 included;
# 0.5.3-0.5.8's fp4_e2m1 is the fp4_mx_block16 alias in dtypes.py)
FORMATS = frozenset(
    {"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "mxfp8", "nvfp4", "fp4_mx_block16"}
)
# MLATokenToKVPool rows that kvcalc sizes: (kv_lora_rank + qk_rope_head_dim) x dtype bytes
MLA_FORMATS = frozenset({"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"})
# fp4 caches keep a shared fp8 dequant workspace of kv_heads x head_dim x 2 per pool slot
FP4_FORMATS = frozenset({"nvfp4", "fp4_mx_block16"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SglangPool(LogRecord):
    """'KV Cache is allocated. #tokens: N, K size: ... GB, V size: ... GB' (GB = GiB)."""

    tokens: int
    k_bytes: int
    v_bytes: int | None
    """None for MLA: one latent buffer, logged as 'KV size'."""


def pool_slots(engine: Sglang, cache: LayerCache, seq: int, batch: int) -> int:
    return batch * pad(seq, engine.page) + engine.page


def pool_text(engine: Sglang, cache: LayerCache, seq: int, batch: int) -> str:
    return (
        f"slots = {batch:,} x pad({seq:,}, page {engine.page}) + {engine.page} padding slot"
        f"{'s' if engine.page > 1 else ''} = {pool_slots(engine, cache, seq, batch):,}"
    )


POOL = Rule(slots=pool_slots, explain=pool_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sglang(PoolReport, Engine):
    era: str = "0.5"
    """Which default of mem_fraction_static (sglang_memory.ERAS)."""
    chunked_prefill_size: int | None = None
    """None: SGLang's default for the GPU (for_device)."""

    RULES: ClassVar = {
        "full": POOL,
        "sliding": POOL,  # full length outside the hybrid SWA pool
        "chunked": POOL,
        "latent": Rule(
            slots=pool_slots,
            explain=pool_text,
            formats=MLA_FORMATS,
            formats_why="kvcalc sizes SGLang's MLA pool (MLATokenToKVPool) in 16- and 8-bit "
            "rows only",
        ),
        "state": NO_TOKENS,
    }
    SETTINGS: ClassVar = {
        "block_size": Setting(field="page", flag="--block-size", low=1, high=1 << 20)
    }
    FORMAT_HINTS: ClassVar = {
        "int8_per_token_head": "per-token-head caches are vLLM's",
        "fp8_per_token_head": "per-token-head caches are vLLM's",
        "int8": "SGLang has no int8 cache",
    }

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        notes = Engine.check_formats(self, k_fmt, v_fmt)
        if k_fmt.name in FP4_FORMATS:
            # fp4_kv_cache_quant_method.py compute_cell_size: dq_size = heads x head_dim x 2
            # per token, once for all layers (prefill dequantizes into it)
            notes.append(
                f"SGLang's {k_fmt.name} pool also keeps an fp8 dequant workspace of KV heads x "
                "head_dim x 2 B per token, shared by all layers; kvcalc counts the per-layer "
                "bytes only"
            )
        return notes

    def for_device(self, device: DeviceFacts | None, spec: ModelSpec) -> Sglang:
        if device is None or device.kind != "gpu" or self.chunked_prefill_size is not None:
            return self
        chunk, _ = batch_defaults(device.memory_bytes // MiB, 1, self.era)
        return replace(self, chunked_prefill_size=chunk)

    def memory_plan(self, question: MemoryQuestion) -> MemoryPlan | None:
        """pre x mem_fraction_static - weights: pre is CUDA's total less the baseline in
        use before loading; the fraction's default reads nvidia-smi's total."""
        from kvcalc.engines.vllm_plan import flat_plan
        from kvcalc.weights import stage_bytes

        device, spec = question.device, question.spec
        if device.kind != "gpu":
            return None
        total, source = device.cuda_total()
        vision = spec.dims.vision if spec.dims else None
        vit = (vision.num_layers, vision.hidden_size) if vision else None
        mfs = question.util or mem_fraction_static(
            device.memory_bytes // MiB, question.tp, question.pp, self.era, vit=vit
        )
        pre = total - BASELINE
        usable = pre * mfs.numerator // mfs.denominator
        if question.measured_weight_bytes is not None:
            weights, label = question.measured_weight_bytes, "measured"
        elif spec.dims is not None:
            fmt = question.weights
            weights = max(stage_bytes(spec, spec.dims, fmt, question.tp, question.pp))
            label = fmt.name if fmt else "checkpoint" if spec.weight_bytes else spec.weight_dtype
        else:
            plan = flat_plan(question, total, source, mfs)
            weights, label = plan.weight_bytes, plan.weight_label
        return MemoryPlan(
            device_bytes=pre,
            device_source=f"free before loading: {source} - {BASELINE // MiB} MiB",
            util=mfs,
            usable_bytes=usable,
            weight_bytes=weights,
            weight_label=label,
            terms=(),
            stage_kv_bytes=(usable - weights,) * question.pp,
            # activations, CUDA graphs, the request table and allocator lists live here
            util_source=f"keeps {fixed(pre - usable, GiB)} GiB for activations and graphs",
        )

    NOT_REPRODUCED: ClassVar[str] = "sizes hybrid models (sliding, recurrent) per cache group"

    def pool_records(self, pool: EnginePool) -> tuple[LogRecord, ...]:
        return (
            SglangPool(
                tokens=pool.tokens,
                k_bytes=pool.slots * pool.k_token_bytes,
                v_bytes=pool.slots * pool.v_token_bytes if pool.v_token_bytes else None,
            ),
            SglangScheduler(
                tokens=pool.tokens,
                chunked_prefill_size=self.chunked_prefill_size or 8192,
                max_running_requests=max_running_requests(pool.tokens, pool.seq, self.era),
                context_len=pool.seq,
            ),
        )


SGLANG = Sglang(
    name="sglang",
    title="SGLang 0.5 (token pool + one padding page per layer)",
    page=1,
    formats=FORMATS,
    same_kv_format=True,
    budget=BudgetDefaults(
        util=(
            (16, Fraction(79, 100)),
            (8, Fraction(81, 100)),
            (4, Fraction(85, 100)),
            (2, Fraction(87, 100)),
            (1, Fraction(88, 100)),
        ),
        cpu_util=Fraction(1),
        overhead_bytes=0,
        cpu_overhead_bytes=512 * 2**20,
    ),
)
SGLANG_04 = replace(
    SGLANG,
    name="sglang-0.4",
    title="SGLang 0.4.1-0.4.7 (mem_fraction_static by tp: 0.88 on one GPU)",
    era="0.4",
)
