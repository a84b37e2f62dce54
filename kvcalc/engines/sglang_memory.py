"""SGLang's start-up accounting: mem_fraction_static of the free memory, less weights, is KV.

ModelRunner (sglang/srt/model_executor/model_runner.py; 0.5.8 model_runner_kv_cache_mixin.py
profile_max_num_token; 0.5.23 mem_cache/kv_cache_configurator.py), every release 0.4.1-0.5.23:

    pre   = free GPU memory after distributed init, before weights (torch.cuda.mem_get_info)
    after = free memory once the weights are loaded (the minimum over ranks)
    rest  = after - pre x (1 - mem_fraction_static)        = pre x mfs - weights
    max_total_num_tokens = rest // cell, floored to whole pages (cell = K + V bytes of one
                           token over the GPU's layers)

So mem_fraction_static is a fraction of what is free before loading, not of the device;
weights come out of it, activations and CUDA graphs out of the 1 - mfs kept back.  Its
default depends on the GPU memory nvidia-smi reports (utils get_device_memory_capacity, MiB)
and the parallel sizes, in three eras of sglang/srt/server_args.py:

- 0.4.1-0.4.7: a table by tp x pp: 0.88 on one GPU, 0.87 from 2, 0.85 from 4, 0.81 from
  8, 0.79 from 16;
- 0.4.8-0.5.2: (gpu - reserved) / gpu, reserved (2.8 + P/10) GiB under 35 GiB, (9.5 + P/2)
  under 90, (12 + P/2) under 160, else 32 GiB (P = tp x pp);
- 0.5.3 on (_handle_gpu_memory_settings): reserved = 512 MiB + max(chunked_prefill_size,
  2,048) x 1.5 + cuda_graph_max_bs x 2 + P/8 GiB, at least 10 GiB above 60 GiB of GPU;
  vision-language models x 0.95 x clamp(1 - 0.1 x (vit_layers x vit_hidden^2 / (24 x
  1024^2) - 1), 0.8, 1.05) (adjust_mem_fraction_for_vlm, 0.4.9+).

H100 (81,559 MiB), TP 1, 0.5.x: reserved max(512 + 8,192 x 1.5 + 256 x 2 + 128, 10,240) =
13,440 MiB -> round((81,559 - 13,440) / 81,559, 3) = 0.835.
"""

from __future__ import annotations

from fractions import Fraction

MiB = 1 << 20
GiB = 1 << 30
ERAS = ("0.4", "0.4.8", "0.5")
"""0.4.1-0.4.7, 0.4.8-0.5.2, 0.5.3 and later."""


def round3(value: Fraction) -> Fraction:
    """Python's round(x, 3) of the ratio (half to even on the exact value)."""
    return Fraction(round(value * 1000), 1000)


def batch_defaults(gpu_mib: int, tp: int, era: str) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang picks for the GPU's memory."""
    if era == "0.4":
        return (2048, 8 if tp < 4 else 80) if gpu_mib < 25_000 else (8192, 160)
    if era == "0.4.8":
        if gpu_mib < 35 * 1024:
            return 2048, 8 if tp < 4 else 80
        return (8192 if gpu_mib < 160 * 1024 else 16384), 160
    if gpu_mib < 20 * 1024:
        return 2048, 8
    if gpu_mib < 35 * 1024:
        return 2048, 24 if tp < 4 else 80
    if gpu_mib < 60 * 1024:
        return 4096, 32 if tp < 4 else 160
    if gpu_mib < 160 * 1024:
        return 8192, 256 if tp < 4 else 512
    return 16384, 512


def vlm_factor(vit_layers: int, vit_hidden: int) -> Fraction:
    """adjust_mem_fraction_for_vlm: 0.95 x a factor for the tower's size (MoonViT 27 x 1,152:
    27 x 1,152^2 / (24 x 1,024^2) = 1.424 -> 1 - 0.0424 = 0.958 -> x 0.910)."""
    ratio = Fraction(vit_layers * vit_hidden**2, 24 * 1024**2)
    dynamic = min(max(1 - (ratio - 1) / 10, Fraction(8, 10)), Fraction(105, 100))
    return Fraction(95, 100) * dynamic


def mem_fraction_static(
    gpu_mib: int,
    tp: int,
    pp: int,
    era: str,
    chunked_prefill_size: int | None = None,
    cuda_graph_max_bs: int | None = None,
    vit: tuple[int, int] | None = None,
) -> Fraction:
    """The default mem_fraction_static (see the module docstring)."""
    parallel = tp * pp
    if era == "0.4":
        mfs = next(f for at, f in ((16, 79), (8, 81), (4, 85), (2, 87), (1, 88)) if parallel >= at)
        fraction = Fraction(mfs, 100)
    elif era == "0.4.8":
        if gpu_mib < 35 * 1024:
            reserved = (Fraction(28, 10) + Fraction(parallel, 10)) * 1024
        elif gpu_mib < 90 * 1024:
            reserved = (Fraction(95, 10) + Fraction(parallel, 2)) * 1024
        elif gpu_mib < 160 * 1024:
            reserved = (12 + Fraction(parallel, 2)) * 1024
        else:
            reserved = Fraction(32 * 1024)
        fraction = round3((gpu_mib - reserved) / gpu_mib)
    else:
        chunk, max_bs = batch_defaults(gpu_mib, tp, era)
        chunk = chunked_prefill_size or chunk
        max_bs = cuda_graph_max_bs or max_bs
        reserved = (
            512 + Fraction(max(chunk, 2048) * 3, 2) + max_bs * 2 + Fraction(parallel * 1024, 8)
        )
        if gpu_mib > 60 * 1024:
            reserved = max(reserved, Fraction(10 * 1024))
        fraction = round3((gpu_mib - reserved) / gpu_mib)
    if vit is not None and era != "0.4":
        fraction *= vlm_factor(*vit)
    return fraction


def pool_tokens(rest_bytes: int, cell_bytes: int, page: int) -> int:
    """max_total_num_tokens: whole cells of the rest, floored to pages (0.4.4+)."""
    return max(rest_bytes, 0) // cell_bytes // page * page


def max_num_reqs(tokens: int, context_len: int) -> int:
    """Rows of the request-to-token table: tokens / context_len x 512, kept in [2,048,
    4,096] (Llama 3.1 8B on an H100: 444,500 / 131,072 x 512 = 1,736 -> 2,048)."""
    return min(max(tokens * 512 // context_len, 2048), 4096)


def max_running_requests(tokens: int, context_len: int, era: str, user: int | None = None) -> int:
    """What the scheduler logs: half the pool (or the user's limit), at most the table's
    rows, one more before 0.4.7 (2,049 in the 0.4.1-0.4.6 logs)."""
    rows = max_num_reqs(tokens, context_len) if user is None else user
    rows += 1 if era == "0.4" and user is None else 0
    return min(tokens // 2 if user is None else user, rows)
