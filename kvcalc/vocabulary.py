"""The deployment vocabulary: every option a question can carry, its flag and its meaning.

kvcalc.options.setup() takes these names as keywords (the Python API); the CLI offers
each as the flag written here, on every command where it means something.
"""

from __future__ import annotations

COUNT = "plain digits, or k/m = x1000 and K/M = x1024 (32k = 32,000 tokens, 32K = 32,768)"
SIZE = "B, KB/MB/GB/TB (x1000), KiB/MiB/GiB/TiB (x1024); e.g. 24GB, 80GiB"

# name -> (flags, metavar, help).  Every value arrives as text (or a bool) and kvcalc.options
# parses it with one grammar, so --tp 2_0 is refused the same way as --seq 2__048.
OPTIONS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "seq": (
        ("--seq", "-s"),
        "TOKENS",
        f"Tokens per request [default: the model's max context]; {COUNT}.",
    ),
    "batch": (("--batch", "-b"), "REQUESTS", f"Concurrent requests [default: 1]; {COUNT}."),
    "mem": (("--mem",), "SIZE", f"Memory of one device: {SIZE}."),
    "gpu": (
        ("--gpu",),
        "NAME",
        "Hardware preset (h100, a100-80gb, rtx4090, m2-ultra; see 'kvcalc gpus'); --mem "
        "overrides its capacity.",
    ),
    "device": (("--device",), "gpu|cpu", "cpu: a RAM budget (llama.cpp on a laptop); util 1."),
    "gpus": (("--gpus",), "N", "Number of GPUs (tensor parallel over all, unless --tp/--pp)."),
    "tp": (
        ("--tp",),
        "N",
        "Tensor parallel size: splits KV heads (a replica per rank once N exceeds the KV heads).",
    ),
    "pp": (("--pp",), "N", "Pipeline parallel size: splits layers; the most loaded GPU decides."),
    "util": (
        ("--util", "--gpu-memory-utilization", "--mem-fraction-static"),
        "F",
        "Usable fraction of device memory, in (0, 1] [default: the engine's: 0.9 on GPU as "
        "vLLM's gpu_memory_utilization, 1 on CPU; 0.75 on Apple presets]; with --engine "
        "tensorrt-llm, its free_gpu_memory_fraction of the memory left after weights and "
        "overhead; with sglang, mem_fraction_static of the memory free before loading.",
    ),
    "weights": (
        ("--weights",),
        "FORMAT|SIZE",
        "Weight format: fp32, fp16, bf16, fp8, int8, int4, q8_0, q6_k, q5_k_m, q4_k_m, q4_0, "
        "... [default: the model's native dtype]; or the weight memory per GPU an engine "
        "logged ('Model loading took 7.51 GiB': --weights 7.51GiB).",
    ),
    "overhead": (
        ("--overhead",),
        "SIZE",
        "Per-device memory that is neither weights nor KV [default: the engine's: 1.5GiB on "
        "GPU, 512MiB on CPU].",
    ),
    "kv_only": (
        ("--kv-only",),
        None,
        "Treat the whole budget as KV cache (no weights, no overhead).",
    ),
    "engine": (
        ("--engine",),
        "NAME",
        "Size as this engine allocates: ideal (exact tokens) [default], vllm (16-token "
        "blocks), sglang (token pool + padding page), tensorrt-llm (32-token blocks; budget a "
        "fraction of the memory free after loading), llamacpp (n_ctx padded to 256; "
        "llamacpp-b5400 for the older rules), transformers (StaticCache).",
    ),
    "block_size": (
        ("--block-size",),
        "TOKENS",
        "vLLM block size [16], SGLang page size [1] or TensorRT-LLM tokens_per_block [32].",
    ),
    "max_model_len": (
        ("--max-model-len",),
        "TOKENS",
        "vLLM's max_model_len: the request length its concurrency line is for [default: "
        "--seq, else the model's max context].",
    ),
    "max_num_seqs": (
        ("--max-num-seqs",),
        "N",
        "vLLM's max_num_seqs: dummy requests of its sampler warm-up [default: as `vllm serve` "
        "picks it: 1024 on GPUs of 70 GiB or more (not A100), else 256].",
    ),
    "max_num_batched_tokens": (
        ("--max-num-batched-tokens",),
        "TOKENS",
        "vLLM's max_num_batched_tokens: tokens of its profiling forward pass [default: as "
        "`vllm serve` picks it: 8192 on GPUs of 70 GiB or more (not A100), else 2048].",
    ),
    "enforce_eager": (
        ("--enforce-eager",),
        None,
        "vLLM without CUDA graphs: none estimated, none captured.",
    ),
    "kv_cache_memory": (
        ("--kv-cache-memory", "--kv-cache-memory-bytes"),
        "SIZE",
        "vLLM's KV memory per GPU, set outright (gpu_memory_utilization then ignored).",
    ),
    "max_tokens": (
        ("--max-tokens",),
        "TOKENS",
        "TensorRT-LLM's max_tokens (max_tokens_in_paged_kv_cache): caps its pool.",
    ),
    "kv_dtype": (
        ("--kv-dtype",),
        "DTYPE",
        "Cache element format of K and V: fp32, fp16 [default], bf16, fp8 (=fp8_e4m3), "
        "fp8_e5m2, int8, int4; llama.cpp q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl; vLLM "
        "int8/fp8/int4_per_token_head, nvfp4, fp8_ds_mla, nvfp4_ds_mla, turboquant_*, "
        "ultraquant_4bit; SGLang mxfp8, fp4_mx_block16 (engine spellings accepted).",
    ),
    "k_dtype": (("--k-dtype",), "DTYPE", "K cache format, if it differs from V."),
    "v_dtype": (("--v-dtype",), "DTYPE", "V cache format, if it differs from K."),
    "bandwidth": (
        ("--bandwidth",),
        "BYTES/S",
        "Memory bandwidth per device, e.g. 3.35TB/s (overrides --gpu's).",
    ),
    "as_json": (
        ("--json",),
        None,
        "Print one JSON object (raw integer bytes; schema in docs/schema/).",
    ),
}
