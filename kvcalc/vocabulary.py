"""The deployment vocabulary: every option a question can carry, its flag and its meaning.

ENGINE_SETTINGS are options only some engines take (engines/*.py SETTINGS say which);
the rest apply to every engine.

kvcalc.options.setup() takes these names as keywords (the Python API); the CLI offers
each as the flag written here, on every command where it means something.
"""

from __future__ import annotations

COUNT = "plain digits, or k/m = x1000 and K/M = x1024 (32k = 32,000, 32K = 32,768)"
SIZE = "B, KB/MB/GB/TB or K/M/G/T (x1000), KiB/MiB/GiB/TiB or Ki/Mi/Gi/Ti (x1024); e.g. 24GB, 80GiB"

# name -> (flags, metavar, help); a flag pair "--x/--no-x" is an on/off switch.
# Every value arrives as text (or a bool) and kvcalc.options
# parses it with one grammar, so --tp 2_0 is refused the same way as --seq 2__048.
OPTIONS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "seq": (
        ("--seq", "-s"),
        "TOKENS",
        f"Tokens per request [default: the model's max context]; {COUNT}.",
    ),
    "batch": (("--batch", "-b"), "REQUESTS", f"Concurrent requests [default: 1]; {COUNT}."),
    # the model's served context, for every engine (issue 15); see kvcalc/context.py
    "max_model_len": (
        ("--max-model-len",),
        "TOKENS",
        "The context the model is served at, above or below its own (vLLM's --max-model-len, "
        "SGLang's --context-length) [default: the model's max context]: the default --seq "
        "and the cap on fit's answer; noted when past the model's (rope-scaled) limit. With "
        "vllm, also the request length its concurrency line is for (default there: --seq). "
        f"With llama.cpp, instead of -c (cells = this x slots); {COUNT}.",
    ),
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
        "fraction of the memory free after loading), llamacpp (llama.cpp 0c1e570 with "
        "llama-server's defaults and flags: -c, -np, -kvu, -ub, -fa, -ctk/-ctv, -ngl; "
        "llamacpp-b5400 for the older rules), transformers (StaticCache).",
    ),
    "block_size": (
        ("--block-size",),
        "TOKENS",
        "vLLM block size [16], SGLang page size [1] or TensorRT-LLM tokens_per_block [32].",
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
    # llama.cpp's own flags (--engine llamacpp), with llama-server's defaults at llama.cpp
    # 0c1e570 (llama-cpp-python 0.3.36); see engines/llamacpp.py
    "ctx_size": (
        ("--ctx-size", "-c"),
        "N",
        "llama.cpp -c: total cells; instead of --seq x requests (x slots without -kvu).",
    ),
    "parallel": (
        ("--parallel", "-np"),
        "N",
        "llama.cpp slots [default: auto = 4 sharing one unified cache, more if --batch "
        "asks]; with -np each slot gets its own stream unless --kv-unified.",
    ),
    "kv_unified": (
        ("--kv-unified/--no-kv-unified", "-kvu/-no-kvu"),
        None,
        "llama.cpp: one cache shared by all slots [default: on with auto slots, off with -np].",
    ),
    "swa_full": (
        ("--swa-full",),
        None,
        "llama.cpp: keep sliding-window layers at full length [default: off, as llama-server].",
    ),
    "ubatch_size": (
        ("--ubatch-size", "-ub"),
        "N",
        "llama.cpp physical batch [512]: the SWA cache keeps window + n_ubatch cells.",
    ),
    "batch_size": (
        ("--batch-size",),
        "N",
        "llama.cpp logical batch (its -b; kvcalc's -b is --batch) [2048]; caps n_ubatch.",
    ),
    "flash_attn": (
        ("--flash-attn", "-fa"),
        "on|off|auto",
        "llama.cpp flash attention [auto = on]; off pads V to the widest layer and refuses a "
        "quantized V.",
    ),
    "cache_type_k": (
        ("--cache-type-k", "-ctk"),
        "TYPE",
        "llama.cpp K cache type: f16 [default], f32, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl.",
    ),
    "cache_type_v": (("--cache-type-v", "-ctv"), "TYPE", "llama.cpp V cache type (as -ctk)."),
    "n_gpu_layers": (
        ("--n-gpu-layers", "-ngl", "--gpu-layers"),
        "N",
        "llama.cpp layers on the GPU, the output head counting as one (auto, all, or N); "
        "with --gpu, 'fit' answers the most that fit.",
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

ENGINE_SETTINGS = (
    "block_size",
    "ctx_size",
    "parallel",
    "kv_unified",
    "swa_full",
    "ubatch_size",
    "batch_size",
    "flash_attn",
    "n_gpu_layers",
    "max_tokens",
)
"""Options each engine takes or refuses by its SETTINGS table (kvcalc.engines.engine)."""
