"""llama.cpp's cache rules, written out from its source, to check the write-up against the data.

This is not kvcalc: it is the harness's own statement of the rules (the notes' rules.md in
code), small enough to read next to llama.cpp, and checked by replay.py against every
recorded line.  It reads only the metadata the harness wrote into each GGUF, so it runs
with the standard library alone.  Sources are files of the llama.cpp vendored by
llama-cpp-python 0.3.36 (commit 0c1e570).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

# ggml type -> (values per block, bytes per block): ggml/src/ggml.c type_traits
BLOCKS = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18)}
RECURRENT = {"mamba", "mamba2"}  # llm_arch_is_recurrent (src/llama-arch.cpp), of our archs
HYBRID = {"jamba", "qwen3next"}  # llm_arch_is_hybrid
# llm_arch_supports_rs_rollback: none of our archs (qwen35, lfm2, nemotron_h, ... are)
ROLLBACK: set[str] = set()


def pad(x: int, n: int) -> int:
    """GGML_PAD: round x up to a multiple of n."""
    return (x + n - 1) // n * n


def row_bytes(dtype: str, n: int) -> int:
    per, size = BLOCKS[dtype]
    return size * n // per


@dataclass(frozen=True)
class Layers:
    """Per-layer facts llama.cpp derives from the metadata (llama_hparams)."""

    k_width: tuple[int, ...]  # n_embd_k_gqa(il) = head_k(il) * n_head_kv(il)
    v_width: tuple[int, ...]  # n_embd_v_gqa(il); 0 for layers without V
    head_k: tuple[int, ...]
    head_v: tuple[int, ...]
    swa: tuple[bool, ...]
    recurrent: tuple[bool, ...]
    n_swa: int
    mla: bool
    r_width: int  # n_embd_r: conv state floats per cell
    s_width: int  # n_embd_s: ssm state floats per cell


def per_layer(value: Any, n: int) -> list[int]:
    return list(value) if isinstance(value, list) else [value] * n


def swa_rule(arch: str, meta: dict[str, Any], n: int) -> tuple[list[bool], int]:
    """(is_swa per layer, n_swa) as each arch's load_arch_hparams sets them (src/models/*.cpp).

    llama, qwen2, deci, deepseek2 never read sliding_window; phi3 reads it and switches
    SWA off; gemma2 defaults to 4096; gemma3 has SWA only with a window key > 0; llama4
    uses 8192 whatever the key says, unless the key is 0.
    """
    window = meta.get("attention.sliding_window")
    default_pattern = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2, "llama4": 4}
    if arch == "gemma2":
        n_swa = 4096 if window is None else window
    elif arch == "gemma3":
        if not window:
            return [False] * n, window or 0
        n_swa = window
    elif arch in ("cohere2", "gpt-oss"):
        n_swa = window
    elif arch == "llama4":
        if window == 0:
            return [False] * n, 0
        n_swa = 8192
    else:
        return [False] * n, 0
    pattern = meta.get("attention.sliding_window_pattern", default_pattern[arch])
    if isinstance(pattern, list):
        return [bool(x) for x in pattern], n_swa
    # llama_hparams::set_swa_pattern, dense_first false: the last layer of each group is dense
    return [pattern == 0 or i % pattern < pattern - 1 for i in range(n)], n_swa


def layers(arch: str, meta: dict[str, Any]) -> Layers:
    n = meta["block_count"]
    n_embd = meta["embedding_length"]
    n_head = per_layer(meta.get("attention.head_count", 0), n)
    n_kv = per_layer(meta.get("attention.head_count_kv", n_head), n)
    # src/llama-model.cpp load_hparams: head size defaults to n_embd / n_head(0), and is
    # 0 when n_head(0) is 0 (Mamba as converted: head_count 0)
    default_head = n_embd // n_head[0] if n_head[0] else 0
    hk = meta.get("attention.key_length", default_head) if n_head[0] else 0
    hv = meta.get("attention.value_length", default_head) if n_head[0] else 0
    swa, n_swa = swa_rule(arch, meta, n)
    if arch in RECURRENT:
        rec = [True] * n
    elif arch == "jamba":
        rec = [kv == 0 for kv in n_kv]
    elif arch == "qwen3next":
        every = meta.get("full_attention_interval", 4)
        rec = [(i + 1) % every != 0 for i in range(n)]
    else:
        rec = [False] * n
    mla = "attention.key_length_mla" in meta and "attention.value_length_mla" in meta
    d_conv = meta.get("ssm.conv_kernel", 0)
    d_inner = meta.get("ssm.inner_size", 0)
    d_state = meta.get("ssm.state_size", 0)
    groups = meta.get("ssm.group_count", 0)
    return Layers(
        k_width=tuple(hk * kv for kv in n_kv),
        v_width=tuple(0 if mla else hv * kv for kv in n_kv),
        head_k=(hk,) * n, head_v=(hv,) * n,
        swa=tuple(swa), recurrent=tuple(rec), n_swa=n_swa, mla=mla,
        r_width=max(d_conv - 1, 0) * (d_inner + 2 * groups * d_state),
        s_width=d_state * d_inner,
    )


def f32(x: float) -> float:
    """Round to float32, as llama.cpp's `(float) bytes / (1024.0f * 1024.0f)` does."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def mib32(nbytes: int) -> str:
    return f"{f32(f32(nbytes) / 1048576.0):7.2f}"
