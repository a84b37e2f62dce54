"""The tiny models the conformance run loads, each with the question it puts to llama.cpp.

A case is one GGUF.  `family` groups cases whose cache rules are alike, so the load
matrix (matrix.py) can give sliding-window and recurrent models the extra settings that
matter to them.  Names are stable: they are the keys of the recorded JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import archs_attention as att
from . import archs_state as st
from .gguf_tiny import TinyGGUF

# Gemma 3's per-layer pattern as the current converter writes it: True = sliding layer.
# Not the default "5 local then 1 global": layers 1 and 4 are global here, so a reader
# that ignores the array and assumes pattern 6 gets a different layer split.
GEMMA3_ARRAY = [True, False, True, True, False, True, True, True]


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # "full", "full_window" (a window key llama.cpp ignores), "swa", "latent",
    # "recurrent", "hybrid"
    build: Callable[[Path], TinyGGUF]
    probes: str  # the question this model puts to llama.cpp


CASES: tuple[Case, ...] = (
    # -- full attention --------------------------------------------------------------
    Case(
        "llama_gqa",
        "full",
        lambda p: att.llama(p, n_kv=2),
        "plain GQA: 8 query heads share 2 KV heads of 64",
    ),
    Case("llama_mqa", "full", lambda p: att.llama(p, n_kv=1), "MQA: one KV head"),
    Case(
        "llama_swakey",
        "full_window",
        lambda p: att.llama(p, n_kv=2, sliding_window=256),
        "a stray sliding_window key on llama: ignored, one full-size cache",
    ),
    Case(
        "mistral_v01",
        "full_window",
        lambda p: att.llama(p, n_layer=6, n_head=8, n_kv=2, head_dim=128, sliding_window=4096),
        "Mistral 7B v0.1 layout (llama arch, sliding_window 4096): llama.cpp runs it without SWA",
    ),
    Case(
        "llama_hd16",
        "full",
        lambda p: att.llama(p, n_head=8, n_kv=2, head_dim=16, n_embd=128),
        "head dim 16: q8_0/q4_0 blocks (32) do not divide it",
    ),
    Case(
        "llama_hd16_mqa",
        "full",
        lambda p: att.llama(p, n_head=8, n_kv=1, head_dim=16, n_embd=128),
        "head dim 16 with one KV head: the K row itself (16) is shorter than a q8_0 block",
    ),
    Case(
        "llama_hd96_deep",
        "full",
        lambda p: att.llama(p, n_layer=30, n_head=6, n_kv=3, head_dim=96, n_embd=96, n_ff=64),
        "30 layers x 3 KV heads x 96: MiB figures that are not round",
    ),
    Case(
        "qwen2",
        "full",
        lambda p: att.qwen2(p, n_kv=2),
        "qwen2 with Q/K/V biases; head dim 48, so q8_0/q4_0 with FA on are refused "
        "(48 % 32) while q8_0 K with FA off loads (row 2 x 48 = 96 values)",
    ),
    Case(
        "qwen2_swakey",
        "full_window",
        lambda p: att.qwen2(p, n_kv=2, sliding_window=512),
        "qwen2 with a sliding_window key (Qwen2 configs carry one): ignored",
    ),
    Case(
        "phi3_w2047",
        "full_window",
        lambda p: att.phi3(p, sliding_window=2047),
        "Phi-3 with window key 2047: llama.cpp disables Phi SWA and warns",
    ),
    Case(
        "phi3_nowin",
        "full",
        lambda p: att.phi3(p, sliding_window=None),
        "Phi-3 without a window key",
    ),
    Case(
        "deci_varkv",
        "full",
        lambda p: att.deci(p, n_kv=(2, 4, 1, 2)),
        "per-layer KV heads 2,4,1,2: V padding to the widest layer when FA is off",
    ),
    Case(
        "deci_linear",
        "full",
        lambda p: att.deci(p, n_kv=(2, 0, 2, 2)),
        "a layer with 0 KV heads (linear attention, not recurrent): zero-width K",
    ),
    Case(
        "deci_noop",
        "full",
        lambda p: att.deci(p, n_kv=(2, 0, 4, 0), n_head=(8, 0, 8, 8)),
        "0 KV heads as a no-op layer (0 heads) and as linear attention",
    ),
    # -- sliding window ----------------------------------------------------------------
    Case(
        "gemma2",
        "swa",
        lambda p: att.gemma(p, "gemma2", 4, sliding_window=256),
        "gemma2, window 256, alternating (pattern 2)",
    ),
    Case(
        "gemma2_nowin",
        "swa",
        lambda p: att.gemma(p, "gemma2", 4, sliding_window=None),
        "gemma2 without a window key: llama.cpp's default 4096",
    ),
    Case(
        "gemma3",
        "swa",
        lambda p: att.gemma(p, "gemma3", 8, sliding_window=256),
        "gemma3, window 256, default pattern 6 (5 local : 1 global)",
    ),
    Case(
        "gemma3_array",
        "swa",
        lambda p: att.gemma(p, "gemma3", 8, sliding_window=256, pattern=GEMMA3_ARRAY),
        "gemma3 with a per-layer bool pattern array",
    ),
    Case(
        "gemma3_int4",
        "swa",
        lambda p: att.gemma(p, "gemma3", 8, sliding_window=256, pattern=4),
        "gemma3 with an integer pattern key 4 overriding the default 6",
    ),
    Case(
        "gemma3_w1000",
        "swa",
        lambda p: att.gemma(
            p, "gemma3", 26, n_head=4, n_kv=1, head_dim=96, n_embd=96, n_ff=64, sliding_window=1000
        ),
        "26 layers, window 1000 (not a multiple of 256)",
    ),
    Case(
        "gemma3_nowin",
        "swa",
        lambda p: att.gemma(p, "gemma3", 8, sliding_window=None),
        "gemma3 without a window key: no SWA at all (gemma3 has no default window)",
    ),
    Case(
        "gemma3_hd16",
        "swa",
        lambda p: att.gemma(
            p, "gemma3", 8, n_head=4, n_kv=2, head_dim=16, n_embd=64, sliding_window=256
        ),
        "head dim 16 on an SWA model",
    ),
    Case(
        "gpt_oss",
        "swa",
        lambda p: att.gpt_oss(p, sliding_window=128),
        "gpt-oss: window 128, alternating sliding/full, attention sinks",
    ),
    Case(
        "cohere2",
        "swa",
        lambda p: att.cohere2(p, sliding_window=512),
        "Command R7B: window 512, pattern 4",
    ),
    Case(
        "llama4",
        "swa",
        lambda p: att.llama4(p),
        "llama4: chunked attention, chunk 8192 set in code, pattern 4",
    ),
    Case(
        "llama4_win1000",
        "swa",
        lambda p: att.llama4(p, sliding_window=1000),
        "llama4 with a window key 1000: llama.cpp still uses 8192",
    ),
    Case(
        "llama4_win0",
        "swa",
        lambda p: att.llama4(p, sliding_window=0),
        "llama4 with window key 0: no chunking at all",
    ),
    # -- latent (MLA) ------------------------------------------------------------------
    Case(
        "deepseek2_mla",
        "latent",
        lambda p: st.deepseek2(p),
        "current MLA layout: K = latent 64 + rope 32 per token, no V",
    ),
    Case(
        "deepseek2_legacy",
        "latent",
        lambda p: st.deepseek2(p, legacy=True),
        "legacy layout (no *_mla keys): full per-head K (64) and V (48) x 4 heads",
    ),
    # -- recurrent and hybrid --------------------------------------------------------------
    Case(
        "mamba",
        "recurrent",
        lambda p: st.mamba(p),
        "Mamba-1 with head_count 0: only the recurrent state",
    ),
    Case("mamba2", "recurrent", lambda p: st.mamba2(p), "Mamba-2: grouped state"),
    Case(
        "jamba", "hybrid", lambda p: st.jamba(p), "Jamba: 2 attention layers of 8, the rest Mamba"
    ),
    Case(
        "qwen3next",
        "hybrid",
        lambda p: st.qwen3next(p),
        "Qwen3-Next: Gated DeltaNet state, full attention every 4th layer",
    ),
)


def by_name() -> dict[str, Case]:
    return {case.name: case for case in CASES}
