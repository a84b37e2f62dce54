"""llama.cpp's per-architecture facts: which layers slide, which are recurrent, by arch name.

llama.cpp decides these in each architecture's loader (src/models/<arch>.cpp,
`load_arch_hparams`) and in src/llama-arch.cpp, by the GGUF's general.architecture,
not by the presence of a key: a llama GGUF carrying Mistral 7B v0.1's
`sliding_window 4096` runs every layer at full length.  The tables are read from the
llama.cpp that llama-cpp-python 0.3.36 vendors (commit 0c1e570); the GGUF importer
(windows and patterns it fills in) and the llama.cpp engine (whether a window runs)
both read them.

Names are llama.cpp's LLM_ARCH_NAMES strings (src/llama-arch.cpp): "gpt-oss", not
"openai_moe".
"""

from __future__ import annotations

SWA_ARCHS = frozenset(
    {
        "afmoe",
        "cohere2",
        "cohere2moe",
        "deepseek4",
        "dflash",
        "dots3note",
        "exaone-moe",
        "exaone4",
        "gemma-embedding",
        "gemma2",
        "gemma3",
        "gemma3n",
        "gemma4",
        "gemma4-assistant",
        "gpt-oss",
        "granite_swa",
        "laguna",
        "lfm2",
        "llama4",
        "maple",
        "mellum",
        "mimo2",
        "modern-bert",
        "muse-glimmer",
        "olmo2",
        "plamo3",
        "smallthinker",
        "spark2_5",
        "step35",
    }
)
"""Architectures whose loader can set a sliding window (swa_type STANDARD, CHUNKED or
SYMMETRIC in src/models/<arch>.cpp).  Every other architecture runs every layer at full
length whatever the GGUF says: llama, qwen2, deci and deepseek2 never read the key."""

SWA_DISABLED = frozenset({"phi3"})
"""Architectures that read a window key and then switch SWA off (src/models/phi3.cpp:
"Phi SWA is currently disabled", https://github.com/ggml-org/llama.cpp/pull/13676)."""

PHI_SWA_WARNING = (
    "load_arch_hparams: Phi SWA is currently disabled - results might be suboptimal for some "
    "models (see https://github.com/ggml-org/llama.cpp/pull/13676)"
)

CHUNKED_WINDOW = {"llama4": 8192}
"""Chunked attention with a chunk set in code whatever the key says (src/models/llama4.cpp:
`n_swa = 8192` unless the key is present and 0, which turns chunking off)."""

DEFAULT_WINDOW = {"gemma2": 4096}
"""The window when the GGUF has no sliding_window key (src/models/gemma2.cpp: "default
value of gemma 2").  gemma3 without a key (or with 0) has no SWA at all."""

WINDOW_ONLY_IF_KEY = frozenset({"gemma3", "olmo2", "plamo3", "afmoe", "mellum", "laguna"})
"""Sliding only when the GGUF has a window key above 0."""

DEFAULT_PATTERN = {
    "gemma2": 2,
    "gemma3": 6,
    "gemma3n": 5,
    "cohere2": 4,
    "gpt-oss": 2,
    "llama4": 4,
    "olmo2": 4,
    "plamo3": 8,
    "afmoe": 4,
    "mellum": 4,
    "muse-glimmer": 4,
}
"""load_swa_pattern(ml, n) defaults: with pattern n, layer i slides when i % n < n - 1
(the last layer of every n is dense; llama_hparams::set_swa_pattern, dense_first false).
A `sliding_window_pattern` key (an integer, or one bool per layer) overrides it."""

RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
"""llm_arch_is_recurrent: only a recurrent state, no KV cache."""

HYBRID_ARCHS = frozenset(
    {
        "jamba",
        "falcon-h1",
        "plamo2",
        "granitehybrid",
        "lfm2",
        "lfm2moe",
        "nemotron_h",
        "nemotron_h_moe",
        "qwen3next",
        "kimi-linear",
        "bailingmoe3",
        "kimi-k3",
        "glm5-next",
        "qwen35",
        "qwen35moe",
        "qwen4exp",
        "deepseek4",
        "minimax-01",
    }
)
"""llm_arch_is_hybrid: a KV cache over the attention layers plus a recurrent state over
the others (llama_memory_hybrid)."""

RECURRENT_BY_INTERVAL = frozenset({"qwen3next", "qwen35", "qwen35moe", "qwen4exp", "minimax-01"})
"""Hybrids whose recurrent layers are every layer but each full_attention_interval-th
(default 4: `(il + 1) % interval != 0`, src/models/qwen3next.cpp).  Their GGUFs give one
head_count_kv for all layers; the other hybrids mark a recurrent layer by head_count_kv 0
(src/models/jamba.cpp), so its V width is 0."""

RS_ROLLBACK_ARCHS = frozenset(
    {
        "kimi-k3",
        "qwen35",
        "qwen35moe",
        "qwen4exp",
        "deepseek4",
        "glm5-next",
        "nemotron_h",
        "nemotron_h_moe",
        "lfm2",
        "lfm2moe",
        "bailingmoe3",
    }
)
"""llm_arch_supports_rs_rollback: the only architectures whose n_rs_seq (recurrent
snapshots for speculative decoding) is not clamped to 0 (src/llama-context.cpp)."""


def is_sliding(layer: int, pattern: int | list[bool]) -> bool:
    """Whether `layer` slides under a pattern: a per-layer bool list as is, else with
    pattern n the last layer of each n is dense (n 0: every layer slides)."""
    if isinstance(pattern, list):
        return bool(pattern[layer])
    return pattern == 0 or layer % pattern < pattern - 1
