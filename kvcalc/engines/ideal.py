"""kvcalc's default: exact token-granular arithmetic, no engine padding.

A layer keeps seq tokens per request, min(window, seq) when windowed and
min(chunk, seq) when chunked; an MLA layer keeps its latent; a recurrent layer
keeps its fixed state.  Every real engine keeps at least this much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kvcalc.engines.base import (
    EXACT,
    GPU_SERVER_BUDGET,
    NO_TOKENS,
    Engine,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ideal(Engine):
    RULES: ClassVar = {
        "full": EXACT,
        "sliding": EXACT,
        "chunked": EXACT,
        "latent": EXACT,
        "state": NO_TOKENS,
    }


IDEAL = Ideal(
    name="ideal",
    title="ideal (token-granular, no engine padding)",
    formats=None,
    same_kv_format=False,
    budget=GPU_SERVER_BUDGET,
)
