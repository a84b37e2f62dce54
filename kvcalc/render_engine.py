"""The lines each engine prints about its cache, in the engine's own units and rounding.

So a user can hold kvcalc's line next to their server log.  Formats, from the
engines' sources:

- llama.cpp src/llama-kv-cache.cpp: "%s: size = %7.2f MiB (%6u cells, %3d layers,
  %2u/%u seqs), K (%s): %7.2f MiB, V (%s): %7.2f MiB"; the values are
  (float)bytes / (1024.0f * 1024.0f), float32 before printf.  Up to b5400:
  "KV self size  = %7.2f MiB, K (%s): %7.2f MiB, V (%s): %7.2f MiB".
- vLLM v1 worker and kv_cache_utils.py: "Available KV cache memory: %.2f GiB",
  "GPU KV cache size: {tokens:,} tokens", "Maximum concurrency for {len:,} tokens
  per request: %.2fx" with concurrency = blocks / cdiv(len, block_size).
- SGLang memory_pool.py: "KV Cache is allocated. #tokens: N, K size: %.2f GB,
  V size: %.2f GB" where its GB is 2^30 bytes (it divides by 1 << 30).
"""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.dtypes import ElementFormat
from kvcalc.engines import Engine, LlamaCpp, Sglang, Vllm
from kvcalc.layers import ConstantState
from kvcalc.sizing import SizeResult
from kvcalc.units import GiB, MiB, fixed

if TYPE_CHECKING:  # fit.py is not needed to print a size answer
    from kvcalc.fit import FitResult

GGML_NAMES = {"fp32": "f32", "fp16": "f16"}
GIB_NOTE = "  (SGLang's GB is GiB)"


def f2(numerator: int | Fraction, unit: int = 1) -> str:
    """printf's %.2f of an exact ratio (no thousands separators): 4.27, 17408.00."""
    return fixed(numerator, unit).replace(",", "")


def ggml_name(fmt: ElementFormat) -> str:
    """ggml_type_name of a cache format: fp16 -> f16, q8_0 -> q8_0."""
    return GGML_NAMES.get(fmt.name, fmt.name)


def c_mib(n_bytes: int) -> str:
    """llama.cpp's '%7.2f' of (float)bytes / (1024.0f * 1024.0f): rounded to float32 first."""
    as_float = struct.unpack("f", struct.pack("f", float(n_bytes)))[0]
    return f"{as_float / MiB:7.2f}"


def llamacpp_lines(
    engine: LlamaCpp, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
) -> list[str]:
    """What llama.cpp logs when it creates the cache for this (seq, batch)."""
    k_name, v_name = ggml_name(k_fmt), ggml_name(v_fmt)
    attention = [g for g in result.groups if not isinstance(g.cache, ConstantState)]
    states = [g for g in result.groups if isinstance(g.cache, ConstantState)]
    if engine.legacy:
        k, v = sum(g.k_bytes for g in attention), sum(g.v_bytes for g in attention)
        return [
            f"llama_kv_cache_unified: KV self size  = {c_mib(k + v)} MiB, "
            f"K ({k_name}): {c_mib(k)} MiB, V ({v_name}): {c_mib(v)} MiB"
        ]
    lines = []
    # one cache per cell count: the base (non-SWA) cache first, then the SWA cache
    for cells in sorted({g.cells for g in attention}, reverse=True):
        members = [g for g in attention if g.cells == cells]
        k, v = sum(g.k_bytes for g in members), sum(g.v_bytes for g in members)
        layers = sum(g.count for g in members)
        lines.append(
            f"llama_kv_cache: size = {c_mib(k + v)} MiB ({cells:6d} cells, {layers:3d} layers, "
            f"{result.batch:2d}/1 seqs), K ({k_name}): {c_mib(k)} MiB, "
            f"V ({v_name}): {c_mib(v)} MiB"
        )
    if states:
        total = sum(g.state_bytes for g in states)
        conv = sum(
            g.count * result.batch * g.cache.conv_values * g.cache.value_bytes
            for g in states
            if isinstance(g.cache, ConstantState)
        )
        lines.append(
            f"llama_memory_recurrent: size = {c_mib(total)} MiB ({result.batch:6d} cells, "
            f"{result.num_layers:3d} layers, {result.batch:2d} seqs), R (f32): {c_mib(conv)} MiB, "
            f"S (f32): {c_mib(total - conv)} MiB"
        )
    return lines


def size_report(
    engine: Engine, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
) -> list[str]:
    """Engine log lines that follow from a (seq, batch) alone (llama.cpp's cache lines)."""
    if isinstance(engine, LlamaCpp):
        return llamacpp_lines(engine, result, k_fmt, v_fmt)
    return []


def fit_report(result: FitResult) -> list[str]:
    """What vLLM or SGLang would log for this budget; llama.cpp's lines at the answer."""
    from kvcalc.fit import engine_pool

    engine = result.deployment.engine
    if isinstance(engine, LlamaCpp):
        at = result.at_answer() if result.budget.kv_bytes >= 0 else None
        return llamacpp_lines(engine, at, result.k_format, result.v_format) if at else []
    pool = engine_pool(result) if isinstance(engine, Vllm | Sglang) else None
    if pool is None:
        return []
    if not pool.uniform:
        return [
            f"({engine.name} sizes hybrid models (sliding, recurrent) per cache group; "
            "kvcalc's bytes above follow its per-layer rule, its log line is not reproduced)"
        ]
    if isinstance(engine, Vllm):
        return [
            f"Available KV cache memory: {f2(pool.kv_bytes, GiB)} GiB",
            f"GPU KV cache size: {pool.tokens:,} tokens",
            f"Maximum concurrency for {pool.seq:,} tokens per request: {f2(pool.concurrency)}x",
        ]
    k_size = f2(pool.slots * pool.k_token_bytes, GiB)
    if not pool.v_token_bytes:  # MLA: one latent buffer
        return [f"KV Cache is allocated. #tokens: {pool.tokens}, KV size: {k_size} GB{GIB_NOTE}"]
    return [
        f"KV Cache is allocated. #tokens: {pool.tokens}, K size: {k_size} GB, "
        f"V size: {f2(pool.slots * pool.v_token_bytes, GiB)} GB{GIB_NOTE}"
    ]
