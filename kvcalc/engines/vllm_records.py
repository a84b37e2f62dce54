"""The lines vLLM logs about its memory at start-up, as plain records (render_engine prints them).

Formats of vLLM 0.19.0 (0.20 the same), vllm/v1/worker/gpu_model_runner.py and
gpu_worker.py, vllm/v1/core/kv_cache_utils.py; GiB figures go through format_gib,
str(round(bytes / 2**30, 2)), so 42.80 prints as "42.8":

    Model loading took 14.99 GiB memory and ... seconds
    Estimated CUDA graph memory: 0.84 GiB total
    Memory profiling takes ... seconds. Total non KV cache memory: 17.12GiB; torch peak
      memory increase: 1.89GiB; non-torch forward increase memory: 0.25GiB; weights
      memory: 14.99GiB.
    Available KV cache memory: 58.11 GiB
    GPU KV cache size: 476,016 tokens
    Maximum concurrency for 8,192 tokens per request: 58.11x
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kvcalc.engines.base import LogRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmModelLoading(LogRecord):
    """'Model loading took X GiB memory': weights on the first stage's GPU."""

    weight_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmCudaGraphEstimate(LogRecord):
    """'Estimated CUDA graph memory: X GiB total' (0.18+; charged to the budget from 0.20)."""

    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmMemoryProfile(LogRecord):
    """The worker's DEBUG line with the profiling run's terms (first stage's GPU)."""

    non_kv_bytes: int
    torch_peak_bytes: int
    non_torch_bytes: int
    weight_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmPool(LogRecord):
    """The three lines vLLM logs about its KV pool ('Available KV cache memory' ...)."""

    kv_bytes: int
    tokens: int
    seq: int
    """max_model_len: the request length the concurrency is for."""
    concurrency: Fraction
    """Blocks in the pool / blocks one request of `seq` tokens needs."""
