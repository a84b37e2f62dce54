"""kvcalc's default: exact token-granular arithmetic, no engine padding.

A layer keeps seq tokens per request, min(window, seq) when windowed and
min(chunk, seq) when chunked; an MLA layer keeps its latent; a recurrent layer
keeps its fixed state.  Every real engine keeps at least this much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kvcalc.engines.base import (
    GPU_SERVER_BUDGET,
    Engine,
    Rule,
    exact_slots,
    exact_text,
    no_slots,
    state_text,
)

EXACT = Rule(slots=exact_slots, explain=exact_text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ideal(Engine):
    RULES: ClassVar = {
        "full": EXACT,
        "sliding": EXACT,
        "chunked": EXACT,
        "latent": EXACT,
        "state": Rule(slots=no_slots, explain=state_text),
    }


IDEAL = Ideal(
    name="ideal",
    title="ideal (token-granular, no engine padding)",
    formats=None,
    same_kv_format=False,
    budget=GPU_SERVER_BUDGET,
)
