"""The lines each engine prints about its cache, in the engine's own units and rounding.

So a user can hold kvcalc's line next to their server log.  Engines report plain
records (engines/*.py say what they hold); this module only prints them, one
formatter per record type.  Formats, from the engines' sources:

- llama.cpp src/llama-kv-cache.cpp: "%s: size = %7.2f MiB (%6u cells, %3d layers,
  %2u/%u seqs), K (%s): %7.2f MiB, V (%s): %7.2f MiB"; the values are
  (float)bytes / (1024.0f * 1024.0f), float32 before printf, while "%10s KV buffer
  size = %8.2f MiB" divides the buffer's size as a double.  Up to b5400:
  "KV self size  = %7.2f MiB, K (%s): %7.2f MiB, V (%s): %7.2f MiB".
  src/llama-memory-recurrent.cpp, src/llama-kv-cache-iswa.cpp and src/llama-context.cpp
  for the recurrent, SWA and context lines (llamacpp_log.py lists them).
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
from typing import TYPE_CHECKING, Any

from kvcalc.units import GiB, MiB, fixed

if TYPE_CHECKING:  # records are matched by class name: printing loads no engine module
    from kvcalc.engines.base import LogRecord, NotReproduced
    from kvcalc.engines.llamacpp_log import (
        ComputeBuffer,
        ContextSizes,
        FlashAttnForQuantizedV,
        KvBuffer,
        KvCacheLine,
        KvSelfSizeLine,
        ModelBuffer,
        NCtxRounded,
        OffloadedLayers,
        RecurrentLine,
        SwaCacheCells,
        SwaFull,
        VPadding,
    )
    from kvcalc.engines.sglang import SglangPool, SglangScheduler
    from kvcalc.engines.tensorrt_llm import TrtllmPool
    from kvcalc.engines.vllm_records import (
        VllmCudaGraphEstimate,
        VllmMemoryProfile,
        VllmModelLoading,
        VllmPool,
    )

# the link llama.cpp prints beside a full-size SWA cache (src/llama-kv-cache-iswa.cpp)
SWA_FULL_REF = "https://github.com/ggml-org/llama.cpp/pull/13194#issuecomment-2868343055"
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
        f"{r.layers:3d} layers, {r.seqs:2d}/{r.streams} seqs), K ({r.k_type}): "
        f"{c_mib(r.k_bytes)} MiB, V ({r.v_type}): {c_mib(r.v_bytes)} MiB"
    ]


def kv_self_size_line(r: KvSelfSizeLine) -> list[str]:
    return [
        f"llama_kv_cache_unified: KV self size  = {c_mib(r.k_bytes + r.v_bytes)} MiB, "
        f"K ({r.k_type}): {c_mib(r.k_bytes)} MiB, V ({r.v_type}): {c_mib(r.v_bytes)} MiB"
    ]


def recurrent_line(r: RecurrentLine) -> list[str]:
    return [
        f"llama_memory_recurrent: size = {c_mib(r.r_bytes + r.s_bytes + r.p_bytes)} MiB "
        f"({r.cells:6d} cells, {r.layers:3d} layers, {r.seqs:2d} seqs {r.rs_seq:2d} rs_seq), "
        f"R (f32): {c_mib(r.r_bytes)} MiB, S (f32): {c_mib(r.s_bytes)} MiB, "
        f"P (f32): {c_mib(r.p_bytes)} MiB"
    ]


def kv_buffer(r: KvBuffer) -> list[str]:
    # ggml_backend_buffer_get_size / 1024.0 / 1024.0: a double, unlike the size lines
    func, kind = ("llama_memory_recurrent", "RS") if r.recurrent else ("llama_kv_cache", "KV")
    return [f"{func}: {r.device:>10s} {kind} buffer size = {r.nbytes / MiB:8.2f} MiB"]


def context_sizes(r: ContextSizes) -> list[str]:
    values = (
        ("n_seq_max", r.n_seq_max),
        ("n_ctx", r.n_ctx),
        ("n_ctx_seq", r.n_ctx_seq),
        ("n_batch", r.n_batch),
        ("n_ubatch", r.n_ubatch),
        ("flash_attn", r.flash_attn),
        ("kv_unified", "true" if r.kv_unified else "false"),
        ("n_rs_seq", r.n_rs_seq),
    )
    return [f"llama_context: {name:<21s} = {value}" for name, value in values]


def offloaded_layers(r: OffloadedLayers) -> list[str]:
    # n_repeating counts min(-ngl, n_layer) - 1: with every layer offloaded llama.cpp
    # prints one repeating layer fewer than it places (src/llama-model.cpp, 0c1e570)
    on_gpu = min(r.n_gpu_layers, r.num_layers)
    lines = ["load_tensors: offloading output layer to GPU"] if on_gpu > 0 else []
    lines.append(f"load_tensors: offloading {max(on_gpu - 1, 0)} repeating layers to GPU")
    lines.append(
        f"load_tensors: offloaded {min(r.n_gpu_layers, r.num_layers + 1)}/{r.num_layers + 1} "
        "layers to GPU"
    )
    return lines


def model_buffer(r: ModelBuffer) -> list[str]:
    return [f"load_tensors: {r.buffer:>12s} model buffer size = {r.nbytes / MiB:8.2f} MiB"]


def compute_buffer(r: ComputeBuffer) -> list[str]:
    return [
        f"sched_reserve: {r.device:>10s} compute buffer size = {r.nbytes / MiB:8.2f} MiB"
        "  (kvcalc's estimate; llama.cpp measures it)"
    ]


def flash_attn_note(r: FlashAttnForQuantizedV) -> list[str]:
    return ["llama_init_from_model: enabling flash_attn since it is required for quantized V cache"]


def n_ctx_rounded(r: NCtxRounded) -> list[str]:
    return [f"llama_context: n_ctx is not divisible by n_seq_max - rounding down to {r.n_ctx}"]


def swa_full(r: SwaFull) -> list[str]:
    return [f"llama_kv_cache_iswa: using full-size SWA cache (ref: {SWA_FULL_REF})"]


def swa_cache_cells(r: SwaCacheCells) -> list[str]:
    which = "    SWA" if r.swa else "non-SWA"
    return [f"llama_kv_cache_iswa: creating {which} KV cache, size = {r.cells} cells"]


def v_padding(r: VPadding) -> list[str]:
    return [
        "llama_kv_cache: the V embeddings have different sizes across layers and FA is not "
        f"enabled - padding V cache to {r.width}"
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


def sglang_scheduler(r: SglangScheduler) -> list[str]:
    return [
        f"max_total_num_tokens={r.tokens}, chunked_prefill_size={r.chunked_prefill_size}, "
        f"max_prefill_tokens=16384, max_running_requests={r.max_running_requests}, "
        f"context_len={r.context_len}"
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


# record class (module.name) -> its formatter; tests/test_architecture.py checks that every
# LogRecord subclass has one
FORMATTERS: dict[str, Callable[[Any], list[str]]] = {
    "kvcalc.engines.llamacpp_log.FlashAttnForQuantizedV": flash_attn_note,
    "kvcalc.engines.llamacpp_log.ContextSizes": context_sizes,
    "kvcalc.engines.llamacpp_log.NCtxRounded": n_ctx_rounded,
    "kvcalc.engines.llamacpp_log.SwaFull": swa_full,
    "kvcalc.engines.llamacpp_log.SwaCacheCells": swa_cache_cells,
    "kvcalc.engines.llamacpp_log.VPadding": v_padding,
    "kvcalc.engines.llamacpp_log.KvBuffer": kv_buffer,
    "kvcalc.engines.llamacpp_log.OffloadedLayers": offloaded_layers,
    "kvcalc.engines.llamacpp_log.ModelBuffer": model_buffer,
    "kvcalc.engines.llamacpp_log.ComputeBuffer": compute_buffer,
    "kvcalc.engines.llamacpp_log.KvCacheLine": kv_cache_line,
    "kvcalc.engines.llamacpp_log.KvSelfSizeLine": kv_self_size_line,
    "kvcalc.engines.llamacpp_log.RecurrentLine": recurrent_line,
    "kvcalc.engines.vllm_records.VllmModelLoading": vllm_model_loading,
    "kvcalc.engines.vllm_records.VllmCudaGraphEstimate": vllm_cuda_graph,
    "kvcalc.engines.vllm_records.VllmMemoryProfile": vllm_memory_profile,
    "kvcalc.engines.vllm_records.VllmPool": vllm_pool,
    "kvcalc.engines.sglang.SglangPool": sglang_pool,
    "kvcalc.engines.sglang.SglangScheduler": sglang_scheduler,
    "kvcalc.engines.tensorrt_llm.TrtllmPool": trtllm_pool,
    "kvcalc.engines.base.NotReproduced": not_reproduced,
}


def log_lines(records: tuple[LogRecord, ...]) -> list[str]:
    """Every record as the engine prints it; a record type without a formatter is a bug."""
    lines = []
    for record in records:
        kind = type(record)
        lines += FORMATTERS[f"{kind.__module__}.{kind.__qualname__}"](record)
    return lines
