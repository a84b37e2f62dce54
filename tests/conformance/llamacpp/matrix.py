"""The settings each model is loaded under: one `Load` per llama.cpp context.

Settings are llama_context_params fields (include/llama.h), named as llama-server's flags
name them in the comments: n_ctx (-c), n_seq_max (-np), kv_unified (-kvu), swa_full
(--swa-full), n_ubatch (-ub), n_batch (-b), flash_attn (-fa on|off|auto), type_k/type_v
(-ctk/-ctv), n_rs_seq (recurrent snapshots, speculative decoding only).

Every model gets COMMON; sliding-window, recurrent and latent models get the extra rows
where their rules differ.  A row that llama.cpp refuses is kept on purpose: the refusal
and its message are part of what kvcalc must reproduce.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .models import CASES, Case

# ggml_type ids (ggml/include/ggml.h enum ggml_type): the values llama_context_params takes.
GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8, "bf16": 30}
# llama_flash_attn_type (include/llama.h): AUTO -1, DISABLED 0, ENABLED 1.
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


@dataclass(frozen=True)
class Load:
    """One context.  Defaults are llama-server's (common/common.h), not the C API's:
    the C API defaults swa_full to true and flash_attn to auto, the server to false/auto."""

    n_ctx: int = 4096
    n_seq_max: int = 1
    kv_unified: bool = False
    swa_full: bool = False
    n_ubatch: int = 512
    n_batch: int = 2048
    flash_attn: str = "off"
    type_k: str = "f16"
    type_v: str = "f16"
    n_rs_seq: int = 0

    def tag(self) -> str:
        """A short, unique, readable id for the settings, e.g. c4096-p4u-fa_on-q8_0-f16."""
        p = f"p{self.n_seq_max}{'u' if self.kv_unified else ''}"
        parts = [f"c{self.n_ctx}", p, f"fa_{self.flash_attn}", self.type_k, self.type_v]
        if self.swa_full:
            parts.append("swafull")
        if self.n_ubatch != 512:
            parts.append(f"ub{self.n_ubatch}")
        if self.n_batch != 2048:
            parts.append(f"b{self.n_batch}")
        if self.n_rs_seq:
            parts.append(f"rs{self.n_rs_seq}")
        return "-".join(parts)

    def settings(self) -> dict[str, Any]:
        return asdict(self)


L = Load
COMMON: tuple[Load, ...] = (
    L(flash_attn="off"),
    L(flash_attn="on"),
    L(flash_attn="auto"),
    L(n_ctx=1000),  # padded up to 1024
    L(n_ctx=300, flash_attn="on"),  # padded to 512; n_batch follows the unpadded 300
    L(n_seq_max=4, kv_unified=True, flash_attn="on"),
    L(n_seq_max=4, flash_attn="on"),  # 4 streams of 4096/4
    L(n_ctx=1024, n_seq_max=3),  # 1024/3 = 341 -> 512 per stream: 1536 in all
    L(n_ctx=8192, n_seq_max=2, flash_attn="auto"),
    L(flash_attn="on", type_k="q8_0", type_v="q8_0"),
    L(flash_attn="on", type_k="q4_0", type_v="q4_0"),
    L(flash_attn="off", type_k="q8_0", type_v="f16"),  # quantized K alone needs no FA
    L(flash_attn="off", type_k="f16", type_v="q8_0"),  # refused: quantized V needs FA
    L(flash_attn="auto", type_k="f16", type_v="q4_0"),  # auto turns FA on for it
    L(flash_attn="on", type_k="q8_0", type_v="q4_0"),
    L(flash_attn="on", type_k="q4_0", type_v="f16"),
    L(flash_attn="on", n_ubatch=128),
    L(flash_attn="on", swa_full=True),
)

SWA_EXTRA: tuple[Load, ...] = (
    L(n_ctx=2048, flash_attn="on"),
    L(n_ctx=16384, flash_attn="on"),
    L(n_ctx=16384, flash_attn="on", n_ubatch=256),
    L(n_ctx=16384, flash_attn="on", n_ubatch=1024),
    L(n_ctx=16384, n_seq_max=2, kv_unified=True, flash_attn="on"),
    L(n_ctx=16384, n_seq_max=2, flash_attn="on"),
    L(n_ctx=16384, n_seq_max=4, kv_unified=True, flash_attn="on", n_ubatch=256),
    L(n_ctx=512, flash_attn="on"),
    L(n_ctx=16384, n_seq_max=3, flash_attn="on", swa_full=True),
    L(n_ctx=16384, n_seq_max=2, kv_unified=True, flash_attn="on", swa_full=True),
    L(n_ctx=4096, n_batch=256, flash_attn="on"),  # n_ubatch capped by n_batch
    L(n_ctx=16384, flash_attn="off"),
)

STATE_EXTRA: tuple[Load, ...] = (
    L(n_seq_max=2),
    L(n_seq_max=4, kv_unified=True),
    L(n_ctx=8192, n_seq_max=8),
    L(n_rs_seq=2),  # clamped to 0 unless the arch supports rollback
    L(n_seq_max=3, kv_unified=True, flash_attn="on"),
)

LATENT_EXTRA: tuple[Load, ...] = (
    L(flash_attn="on", type_k="q8_0", type_v="f16"),  # MLA: refused, K and V must match
    L(flash_attn="on", type_k="f16", type_v="q8_0"),
    L(flash_attn="off", type_k="q8_0", type_v="q8_0"),  # refused: quantized V needs FA
    L(n_ctx=16384, n_seq_max=2, flash_attn="on", type_k="q8_0", type_v="q8_0"),
)

# A window key that llama.cpp ignores only shows at contexts well past the window: at
# 4096 a window-4096 cache and a full one have the same size.
WINDOW_KEY_EXTRA: tuple[Load, ...] = (
    L(n_ctx=16384),
    L(n_ctx=32768, flash_attn="on"),
    L(n_ctx=16384, n_seq_max=2, kv_unified=True, flash_attn="on"),
)

EXTRA = {
    "swa": SWA_EXTRA,
    "recurrent": STATE_EXTRA,
    "hybrid": STATE_EXTRA,
    "latent": LATENT_EXTRA,
    "full": (),
    "full_window": WINDOW_KEY_EXTRA,
}


def loads_for(case: Case) -> list[Load]:
    """COMMON plus the family's extra rows, without duplicates (first one wins)."""
    seen: dict[str, Load] = {}
    for load in COMMON + EXTRA[case.family]:
        seen.setdefault(load.tag(), load)
    return list(seen.values())


def jobs() -> list[tuple[Case, Load]]:
    return [(case, load) for case in CASES for load in loads_for(case)]
