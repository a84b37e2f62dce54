"""Hugging Face transformers: StaticCache, and MLA cached after decompression.

Rules from src/transformers/cache_utils.py (StaticCache): max_cache_len = seq slots
per layer per request, min(window, seq) for sliding layers and min(chunk, seq) for
chunked ones.  DeepSeek's attention module caches key_states and value_states after
decompression: 128 heads x (192 + 128) values per token per layer, not 512 + 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    EXACT,
    NO_TOKENS,
    BudgetDefaults,
    Engine,
    Rule,
    exact_slots,
    exact_text,
)
from kvcalc.errors import UsageError
from kvcalc.layers import FullAttention

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import LayerCache
    from kvcalc.spec import ModelSpec


def decompressed(engine: Transformers, cache: LayerCache, spec: ModelSpec) -> LayerCache:
    return FullAttention(spec.num_query_heads, spec.k_head_dim, spec.resolved_v_head_dim)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transformers(Engine):
    RULES: ClassVar = {
        "full": EXACT,
        "sliding": EXACT,
        "chunked": EXACT,
        "latent": Rule(slots=exact_slots, explain=exact_text, store=decompressed),
        "state": NO_TOKENS,
    }

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        try:
            return Engine.check_formats(self, k_fmt, v_fmt)
        except UsageError as exc:
            raise UsageError(
                f"{exc} (its QuantizedCache keeps the newest residual_length tokens unquantized; "
                "kvcalc does not model it)"
            ) from None


TRANSFORMERS = Transformers(
    name="transformers",
    title="Hugging Face transformers (StaticCache, max_cache_len = seq)",
    formats=frozenset({"fp32", "fp16", "bf16"}),
    same_kv_format=True,
    budget=BudgetDefaults(
        util=((1, Fraction(1)),),
        cpu_util=Fraction(1),
        overhead_bytes=3 * 2**30 // 2,  # the model's activations, as for a GPU server
        cpu_overhead_bytes=512 * 2**20,
    ),
)
