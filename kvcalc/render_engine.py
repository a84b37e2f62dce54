"""The lines each engine prints about its cache, in the engine's own units and rounding.

So a user can hold kvcalc's line next to their server log.  Engines report plain
records (engines/*.py say what they hold); this module only prints them, one
formatter per record type.  Formats, from the engines' sources:

- llama.cpp src/llama-kv-cache.cpp: "%s: size = %7.2f MiB (%6u cells, %3d layers,
  %2u/%u seqs), K (%s): %7.2f MiB, V (%s): %7.2f MiB"; the values are
  (float)bytes / (1024.0f * 1024.0f), float32 before printf.  Up to b5400:
  "KV self size  = %7.2f MiB, K (%s): %7.2f MiB, V (%s): %7.2f MiB".
- vLLM v1 worker, gpu_model_runner.py and kv_cache_utils.py (0.19): "Model loading
  took %s GiB memory", "Estimated CUDA graph memory: %.2f GiB total", "Total non KV
  cache memory: %sGiB; torch peak memory increase: %sGiB; ...", "Available KV cache
  memory: %s GiB", "GPU KV cache size: {tokens:,} tokens", "Maximum concurrency for
  {len:,} tokens per request: %.2fx"; %s of a size is format_gib, str(round(GiB, 2)):
  42.80 prints as 42.8.
- SGLang memory_pool.py: "KV Cache is allocated. #tokens: N, K size: %.2f GB,
  V size: %.2f GB" where its GB is 2^30 bytes (it divides by 1 << 30); scheduler.py:
  "max_total_num_tokens=N, chunked_prefill_size=C, max_prefill_tokens=P,
  max_running_requests=M, context_len=L".
- TensorRT-LLM cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp (allocatePools):
  "Number of tokens per block: %d." and "[MemUsageChange] Allocated %0.2f GiB for max
  tokens in paged KV cache (%d).", the pool's bytes / double(1 << 30).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from kvcalc.engines.base import LogRecord, NotReproduced
from kvcalc.engines.llamacpp import KvCacheLine, KvSelfSizeLine, RecurrentLine
from kvcalc.engines.sglang import SglangPool, SglangScheduler
from kvcalc.engines.tensorrt_llm import TrtllmPool
from kvcalc.engines.vllm_records import (
    VllmCudaGraphEstimate,
    VllmMemoryProfile,
    VllmModelLoading,
    VllmPool,
)
from kvcalc.units import GiB, MiB, fixed

GIB_NOTE = "  (SGLang's GB is GiB)"


def f2(numerator: int | Fraction, unit: int = 1) -> str:
    """printf's %.2f of an exact ratio (no thousands separators): 4.27, 17408.00."""
    return fixed(numerator, unit).replace(",", "")


def c_mib(n_bytes: int) -> str:
    """llama.cpp's '%7.2f' of (float)bytes / (1024.0f * 1024.0f): rounded to float32 first."""
    as_float = struct.unpack("f", struct.pack("f", float(n_bytes)))[0]
    return f"{as_float / MiB:7.2f}"


def kv_cache_line(r: KvCacheLine) -> list[str]:
    return [
        f"llama_kv_cache: size = {c_mib(r.k_bytes + r.v_bytes)} MiB ({r.cells:6d} cells, "
        f"{r.layers:3d} layers, {r.seqs:2d}/1 seqs), K ({r.k_type}): {c_mib(r.k_bytes)} MiB, "
        f"V ({r.v_type}): {c_mib(r.v_bytes)} MiB"
    ]


def kv_self_size_line(r: KvSelfSizeLine) -> list[str]:
    return [
        f"llama_kv_cache_unified: KV self size  = {c_mib(r.k_bytes + r.v_bytes)} MiB, "
        f"K ({r.k_type}): {c_mib(r.k_bytes)} MiB, V ({r.v_type}): {c_mib(r.v_bytes)} MiB"
    ]


def recurrent_line(r: RecurrentLine) -> list[str]:
    return [
        f"llama_memory_recurrent: size = {c_mib(r.r_bytes + r.s_bytes)} MiB ({r.cells:6d} "
        f"cells, {r.layers:3d} layers, {r.seqs:2d} seqs), R (f32): {c_mib(r.r_bytes)} MiB, "
        f"S (f32): {c_mib(r.s_bytes)} MiB"
    ]


def format_gib(n_bytes: int) -> str:
    """vLLM's format_gib (vllm/utils/mem_utils.py): str(round(bytes / 2**30, 2)), so
    45,956,000,000 B prints as 42.8 and 62,392,369,152 B as 58.11."""
    return str(round(n_bytes / GiB, 2))


def vllm_model_loading(r: VllmModelLoading) -> list[str]:
    return [f"Model loading took {format_gib(r.weight_bytes)} GiB memory"]


def vllm_cuda_graph(r: VllmCudaGraphEstimate) -> list[str]:
    return [f"Estimated CUDA graph memory: {f2(r.bytes, GiB)} GiB total"]


def vllm_memory_profile(r: VllmMemoryProfile) -> list[str]:
    return [
        f"Total non KV cache memory: {format_gib(r.non_kv_bytes)}GiB; torch peak memory "
        f"increase: {format_gib(r.torch_peak_bytes)}GiB; non-torch forward increase memory: "
        f"{format_gib(r.non_torch_bytes)}GiB; weights memory: {format_gib(r.weight_bytes)}GiB."
    ]


def vllm_pool(r: VllmPool) -> list[str]:
    return [
        f"Available KV cache memory: {format_gib(r.kv_bytes)} GiB",
        f"GPU KV cache size: {r.tokens:,} tokens",
        f"Maximum concurrency for {r.seq:,} tokens per request: {f2(r.concurrency)}x",
    ]


def sglang_pool(r: SglangPool) -> list[str]:
    if r.v_bytes is None:  # MLA: one latent buffer
        return [
            f"KV Cache is allocated. #tokens: {r.tokens}, KV size: {f2(r.k_bytes, GiB)} GB"
            + GIB_NOTE
        ]
    return [
        f"KV Cache is allocated. #tokens: {r.tokens}, K size: {f2(r.k_bytes, GiB)} GB, "
        f"V size: {f2(r.v_bytes, GiB)} GB{GIB_NOTE}"
    ]


def sglang_scheduler(r: SglangScheduler) -> list[str]:
    return [
        f"max_total_num_tokens={r.tokens}, chunked_prefill_size={r.chunked_prefill_size}, "
        f"max_prefill_tokens=16384, max_running_requests={r.max_running_requests}, "
        f"context_len={r.context_len}"
    ]


def trtllm_pool(r: TrtllmPool) -> list[str]:
    return [
        f"Number of tokens per block: {r.tokens_per_block}.",
        f"[MemUsageChange] Allocated {f2(r.kv_bytes, GiB)} GiB for max tokens in paged KV "
        f"cache ({r.tokens}).",
    ]


def not_reproduced(r: NotReproduced) -> list[str]:
    return [
        f"({r.engine} {r.what}; kvcalc's bytes above follow its per-layer rule, its log line "
        "is not reproduced)"
    ]


FORMATTERS: dict[type[Any], Callable[[Any], list[str]]] = {
    KvCacheLine: kv_cache_line,
    KvSelfSizeLine: kv_self_size_line,
    RecurrentLine: recurrent_line,
    VllmModelLoading: vllm_model_loading,
    VllmCudaGraphEstimate: vllm_cuda_graph,
    VllmMemoryProfile: vllm_memory_profile,
    VllmPool: vllm_pool,
    SglangPool: sglang_pool,
    SglangScheduler: sglang_scheduler,
    TrtllmPool: trtllm_pool,
    NotReproduced: not_reproduced,
}


def log_lines(records: tuple[LogRecord, ...]) -> list[str]:
    """Every record as the engine prints it; a record type without a formatter is a bug."""
    return [line for record in records for line in FORMATTERS[type(record)](record)]
