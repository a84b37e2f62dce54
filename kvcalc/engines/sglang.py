"""SGLang: one token pool, every layer's buffer one page longer.

Rules from srt/mem_cache/memory_pool.py: a token pool of page-size pages (1 by
default) whose per-layer buffers hold size + page_size slots: the extra page
receives the writes of padded tokens.  Without its hybrid SWA pool (not modelled)
every windowed or chunked layer keeps the full length.  Budget: ServerArgs'
mem_fraction_static by tensor-parallel size (server_args.py, v0.4); activations and
CUDA graphs live in the 1 - mem_fraction_static it keeps back, so no overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    BudgetDefaults,
    Engine,
    EnginePool,
    LogRecord,
    NotReproduced,
    Rule,
    Setting,
    no_slots,
    pad,
    state_text,
)

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import LayerCache
    from kvcalc.sizing import SizeResult


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
class Sglang(Engine):
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
        "state": Rule(slots=no_slots, explain=state_text),
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
            SglangPool(
                tokens=pool.tokens,
                k_bytes=pool.slots * pool.k_token_bytes,
                v_bytes=pool.slots * pool.v_token_bytes if pool.v_token_bytes else None,
            ),
        )


SGLANG = Sglang(
    name="sglang",
    title="SGLang (token pool + one padding page per layer)",
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
