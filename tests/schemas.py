"""Regenerate docs/schema/*.schema.json and docs/json.md's key table from real outputs.

Run after adding or renaming a JSON key:  .venv/bin/python tests/schemas.py
It runs each command below with --json, infers a JSON Schema from the outputs
(every key required where all samples have it; no unknown keys), and gives every key
its one description from the glossary G (a key without one is listed as missing).
tests/test_json_schema.py then validates outputs against the committed schemas.
"""

from pathlib import Path

OUT = str(Path(__file__).resolve().parent.parent / "docs" / "schema")

# ruff: noqa
G = {
    "schema_version": "Version of this JSON layout; bumped when a key changes meaning or goes away.",
    "model": "Model id (preset id, or the id derived from a file).",
    "id": "Identifier of the listed item (model preset, hardware preset, claim).",
    "name": "Display name.",
    "label": "Display label.",
    "form": "Which form of the model: configured, dialed, mha or mqa.",
    "engine": "Engine profile the bytes follow (ideal, vllm, sglang, llamacpp, ...).",
    "block_size": "Engine allocation granularity in tokens (vLLM block, SGLang page, llama.cpp n_ctx padding).",
    "engine_report": "The lines the engine would log, in its own units and rounding.",
    "seq": "Tokens per request.",
    "batch": "Concurrent requests.",
    "kv_dtype": "Cache format of K and V ('fp16'), or 'K/V' when they differ ('q8_0/q4_0').",
    "k_dtype": "Cache format of K.",
    "v_dtype": "Cache format of V.",
    "num_layers": "Decoder layers of the model.",
    "query_heads": "Query (attention) heads of the model.",
    "num_query_heads": "Query (attention) heads of the model.",
    "kv_heads": "KV heads of this form of the model (1 for an MLA latent).",
    "num_kv_heads": "KV heads per layer as configured; null for a model without per-head K/V (MLA, recurrent only).",
    "configured_kv_heads": "KV heads as configured; null for a model without per-head K/V.",
    "attention": "Attention label: MHA, GQA-<G>, MQA, MLA, with windows, chunks and recurrent mixers named.",
    "model_max_context": "The model's own context limit in tokens (config max_position_embeddings).",
    "max_context": "Usable context answer in tokens: what memory allows, capped by the model's limit.",
    "max_context_memory": "Longest context memory allows, in tokens; null when every layer is windowed (no limit).",
    "max_batch": "Most concurrent requests of `seq` tokens that fit.",
    "exceeds_max_context": "seq is past the model's own context limit.",
    "bytes_per_token": "K+V bytes one token costs in all layers (before windows cap anything).",
    "bytes_per_request": "Bytes per request (average over the batch, rounded up, where the engine pools requests).",
    "k_bytes": "K cache bytes.",
    "v_bytes": "V cache bytes (0 for an MLA latent).",
    "state_bytes": "Fixed recurrent-state bytes (Mamba, Gated DeltaNet).",
    "total_bytes": "Total bytes: K + V + state.",
    "groups": "Layer groups with identical caches.",
    "variants": "The model as configured (or dialed) beside its MHA and MQA forms.",
    "explain": "Every number as arithmetic (size --explain).",
    "count": "Layers in this group.",
    "kind": "Layer kind: full, sliding, chunked, latent, state (repeat in a preset's layer list).",
    "num_kv_heads_": "",
    "k_head_dim": "K width per head, resolved (explicit head_dim, else hidden_size / heads).",
    "v_head_dim": "V width per head, resolved.",
    "window": "Sliding-window length in tokens.",
    "chunk": "Chunked-attention chunk length in tokens.",
    "kv_lora_rank": "MLA latent width (config kv_lora_rank).",
    "qk_rope_head_dim": "MLA decoupled RoPE key width.",
    "mixer": "Recurrent mixer: mamba or gated_deltanet.",
    "conv_values": "Conv-state values per layer per request.",
    "recurrent_values": "Recurrent-state values per layer per request.",
    "value_bytes": "Bytes per state value.",
    "tokens_held": "Tokens each layer keeps per request (seq, or its window/chunk).",
    "cells": "Token slots one layer keeps for the whole batch, as the engine allocates them.",
    "k_token_bytes": "K bytes of one token in one layer.",
    "v_token_bytes": "V bytes of one token in one layer.",
    "mha_ratio": "MHA bytes / these bytes; null for a model without an MHA form.",
    "fit": "With a memory target: the fit answer at (seq, batch), as `kvcalc fit --json` prints it.",
    "target": "The device(s) the budget is for.",
    "device_kind": "gpu, cpu or unified memory.",
    "device_bytes": "Memory of one device, as the driver reports it or --mem gives it.",
    "devices": "Devices the model is split over (tp x pp).",
    "tp": "Tensor-parallel size.",
    "pp": "Pipeline-parallel size.",
    "bandwidth_gb_s": "Peak memory bandwidth, decimal GB/s; null when unknown.",
    "budget": "One device's memory, down to the KV budget.",
    "util": "Usable fraction of device memory, as an exact decimal string.",
    "usable_bytes": "device_bytes x util, rounded down.",
    "weight_format": "Weight format the weights are counted in ('checkpoint' for exact tensor bytes).",
    "weight_bytes_total": "Bytes of all weights.",
    "weight_bytes": "Weight bytes on one device (its share).",
    "overhead_bytes": "Per-device memory that is neither weights nor KV.",
    "kv_budget_bytes": "KV budget of one device; negative when weights and overhead alone exceed usable memory.",
    "kv_budget_bytes_total": "KV budget over all devices.",
    "kv_heads_per_device": "Most KV heads any device keeps per layer.",
    "kv_heads_replicated": "tp exceeds the KV heads: each rank keeps a replica.",
    "layers_per_device": "Most layers any device holds.",
    "bytes_per_token_per_device": "K+V bytes one more token costs on the most loaded device.",
    "state_bytes_per_request_per_device": "Recurrent state one request holds on the most loaded device.",
    "fits": "The question asked has an answer: the (seq, batch) point fits, or at least one request/token does.",
    "free_bytes": "Memory free after weights and overhead, when the engine takes its fraction of that (TensorRT-LLM); null otherwise.",
    "capacity_bytes": "KV bytes the engine's allocation holds: the KV budget, or TensorRT-LLM's pool of whole blocks rounded up past it.",
    "architecture": "llama.cpp's name for the architecture (general.architecture: llama, qwen2, gemma2, ...); null when unknown.",
    "gguf": "A GGUF's tensor table as llama.cpp places it (per-part weight bytes and file ranges); null for other sources.",
    "legacy_mla_gguf": "A DeepSeek2 GGUF from before llama.cpp's MLA layout: run as multi-head attention.",
    "n_groups": "Mamba-2 groups of B/C projections (0 for Mamba-1).",
    "offload": "llama.cpp's split of a GGUF's layers between one GPU and the CPU (--engine llamacpp with a GGUF on one GPU); null otherwise.",
    "used_bytes": "KV bytes per device at (seq, batch).",
    "headroom_bytes": "kv_budget_bytes - used_bytes (negative when it does not fit).",
    "models": "One entry per model.",
    "family": "Model family (Llama, Qwen, Gemma, ...).",
    "params": "Parameter count (null when unknown).",
    "weight_dtype": "Native weight format of the checkpoint.",
    "kv_bytes_per_token_fp16": "K+V bytes one token costs in every layer at fp16, before windows.",
    "hf_repo": "Hugging Face repository the spec follows.",
    "aliases": "Other accepted names.",
    "sources": "Where each fact comes from.",
    "notes": "Known traps and caveats.",
    "hidden_size": "Model width (hidden_size).",
    "dims": "Shapes beyond the KV cache (vocabulary, MLP, experts, vision tower) that size weights as loaded and an engine's activations; null when the preset has none.",
    "bytes": "Bytes of one budget term.",
    "log_engine": "The engine whose start-up log this is (vllm, sglang, llamacpp, tensorrt-llm).",
    "log_version": "The engine version the log prints; null when it prints none.",
    "log_settings": "The settings the log states (non-default args, server_args, defaults lines), in the order found.",
    "gpu_preset": "The hardware preset the log was held against (given, or the one whose CUDA total the log prints); null when none.",
    "log_figures": "Every memory figure the log printed, beside kvcalc's prediction.",
    "setting": "A setting's name as the engine states it (max_model_len, gpu_memory_utilization, ...).",
    "value": "A setting's value as the log printed it.",
    "figure": "Which memory figure (kv_bytes, kv_tokens, weights, torch_peak, ...).",
    "unit": "bytes, tokens, requests, blocks, or x (a ratio such as the concurrency).",
    "printed": "The number as the log printed it.",
    "logged": "The logged figure: bytes to the nearest byte, counts, or a ratio as a decimal string.",
    "predicted": "kvcalc's prediction of the figure, in the same unit; null where it has none.",
    "log_line": "1-based line of the log the figure was read from.",
    "answers": "Answers from the log's own measured terms: the longest request, the most requests, and what flag changes give.",
    "question": "What an answer is about.",
    "answer": "The answer: tokens, requests, or a fraction as a decimal string; null when no value of the flag gets there.",
    "flag": "The engine flag (and value) the answer is for; empty when none.",
    "remark": "A caveat on one answer.",
    "remarks": "Caveats on the whole check (no model, a V0 log, the version assumed).",
    "from": "Where a budget term's figure comes from: derived (from the model and settings), measured (with where), or set by a flag.",
    "vocab_size": "Vocabulary size (config.json vocab_size).",
    "intermediate_size": "MLP width (config.json intermediate_size; a vision tower's own in `vision`).",
    "tie_word_embeddings": "lm_head shares the input embedding's tensor.",
    "mlp": "MLP kind: gated (gate_up + down) or plain (fc1 + fc2).",
    "norm": "Norm kind: rms (weight) or layer (weight and bias).",
    "norms_per_layer": "Norms in one decoder layer: 2, 1 (one norm feeding attention and MLP in parallel, Phi-2) or 4 (Gemma 2/3).",
    "biases": "Biases on a vision tower's projections and norms (SigLIP, MoonViT), or on an MoE router and its experts (gpt-oss).",
    "attention_sinks": "A learned sink logit per query head and layer (gpt-oss).",
    "qkv_bias": "Bias on the q, k, v projections.",
    "o_bias": "Bias on the attention output projection.",
    "mlp_bias": "Bias on the MLP projections.",
    "lm_head_bias": "Bias on lm_head.",
    "qk_norm": "RMSNorm on each q and k head.",
    "rotary_dim": "Rotated dims per head when not all (partial rotary).",
    "rope_positions": "Rows of the engine's RoPE table when not max_context.",
    "q_lora_rank": "MLA query compression rank (DeepSeek V3), when queries are compressed.",
    "moe": "Mixture-of-experts MLP: experts, experts per token, widths, dense leading layers.",
    "num_experts": "Routed experts per MoE layer.",
    "experts_per_token": "Experts each token runs (num_experts_per_tok).",
    "expert_intermediate_size": "One expert's MLP width (moe_intermediate_size).",
    "shared_intermediate_size": "Width of the always-on shared expert(s); 0 for none.",
    "shared_expert_gate": "The shared expert has a hidden -> 1 gate (Qwen-MoE).",
    "dense_layers": "Leading layers with a dense MLP (first_k_dense_replace).",
    "vision": "A multimodal checkpoint's vision tower: shapes and the engine's largest dummy image.",
    "gated_mlp": "The tower's MLP is gated (SwiGLU).",
    "patch_size": "Vision patch size in pixels.",
    "channels": "Image channels.",
    "position_embeddings": "Values of a learned position table; 0 for RoPE towers.",
    "projector_params": "Parameters between the tower and the language model.",
    "tokens_per_item": "Prompt tokens the engine's largest dummy image takes.",
    "embeds_per_item": "Encoder output rows of one such image.",
    "patches_per_item": "ViT patches one such image runs through the tower.",
    "pixel_values_per_item": "Values of the pixel tensor of one such image.",
    "lazy_buffer_bytes": "A buffer the tower builds on first use (MoonViT's 2-D RoPE table).",
    "terms": "The engine's own budget terms after weights (vLLM: profiling peak, non-torch, CUDA graphs), each with where its figure comes from; empty for a flat overhead.",
    "device_source": "Where the memory the engine budgets from comes from (vLLM: CUDA's total; SGLang: the memory free before loading); null for the flat budget.",
    "stage_kv_budget_bytes": "KV memory of each pipeline stage's GPUs, first stage first (they differ under vLLM's accounting).",
    "warnings": "What the engine's accounting warns about (a thin margin and the flag that fixes it, an unmeasured GPU).",
    "cuda_memory_bytes": "Total as CUDA reports it (torch.cuda.mem_get_info), which vLLM budgets from; null where not measured.",
    "sm_count": "Streaming multiprocessors (sizes vLLM's sampler scratch); null where unknown.",
    "compute_capability": "CUDA compute capability, e.g. '9.0'; null where unknown.",
    "sliding_window": "Window applied to every layer (null when none or per group).",
    "layers": "Layer groups in order (a preset's layer list); null for a uniform model.",
    "checkpoint_bytes": "Exact bytes of the checkpoint's tensors, when known.",
    "extended_context": "Context in tokens that rope scaling reaches, where config.json's rope_scaling or the model card declares it; null otherwise.",
    "extended_context_source": "Where extended_context comes from and how it is computed.",
    "user_preset": "True for the user's own preset (kvcalc import --save), false for a shipped one.",
    "times": "How many times a repeat group repeats.",
    "d_inner": "Mamba inner width.",
    "d_state": "Mamba state size per channel.",
    "d_conv": "Mamba convolution width.",
    "state_dtype": "Element format of recurrent state.",
    "num_k_heads": "Gated DeltaNet key heads.",
    "num_v_heads": "Gated DeltaNet value heads.",
    "head_k_dim": "Gated DeltaNet key width.",
    "head_v_dim": "Gated DeltaNet value width.",
    "conv_kernel": "Gated DeltaNet convolution kernel.",
    "rows": "One row per KV-head count G.",
    "configured": "This row is the model as configured.",
    "group_size": "Query heads per KV head (H / G).",
    "decode_step_seconds_min": "Decode step time at best (memory-bandwidth bound), seconds.",
    "decode_tokens_per_second_max": "Tokens per second per request at most.",
    "device_label": "The device the bound is for (a hardware preset, or --bandwidth).",
    "bandwidth_bytes_per_s": "Memory bandwidth per device in bytes per second.",
    "kv_overtakes_weights_at_seq": "Smallest length at which KV reads more than the weights; null: never.",
    "kv_overtakes_weights_at_batch": "Smallest batch at which KV reads more than the weights.",
    "bound": "What the numbers bound.",
    "steps": "One decode step per form of the model.",
    "kv_bytes": "KV-cache bytes one device reads per decode step.",
    "step_seconds_min": "Step time at best, seconds.",
    "step_seconds_min_exact": "Step time at best, as an exact fraction 'numerator/denominator' of seconds.",
    "tokens_per_second_per_request_max": "Tokens per second per request, at most.",
    "tokens_per_second_aggregate_max": "Tokens per second over all requests, at most.",
    "title": "Chart title.",
    "axis": "What x varies: seq or batch.",
    "xs": "x values.",
    "series": "One line per model (or per form of one model).",
    "total_bytes_by_x": "Total KV bytes at each x.",
    "mark": "The asked point on this line, when on the axis.",
    "x": "The asked x.",
    "budgets": "KV budget lines on the memory target.",
    "model_max_contexts": "Models whose own context limit falls on the axis.",
    "tokens": "A length in tokens.",
    "gpus": "Hardware presets.",
    "memory_bytes": "Memory as the driver reports it.",
    "default_util": "Usable fraction the platform imposes (Apple Metal), an exact decimal string; null: the engine's.",
    "ok": "Every verdict is as recorded (exit 0).",
    "claims": "One entry per claim.",
    "source": "Where the claim was published.",
    "says": "The claim in the source's words.",
    "quantity": "Which quantity the claim states.",
    "published": "The claimed value as published.",
    "computed": "The exact value, in the published unit.",
    "exact_value": "The exact value as an exact number (bytes, tokens, seconds or a ratio).",
    "deviation": "0, a percentage within rounding, or the factor when off.",
    "verdict": "exact, within rounding, off (or, for documents: not printed, not covered).",
    "expected": "The verdict recorded for it.",
    "explanation": "A single configuration change that reproduces an off figure, when one does.",
    "note": "A note on the claim.",
    "documents": "Documents checked.",
    "figures": "One entry per checked figure.",
    "errors": "Malformed annotations (exit 2).",
    "fixed": "Documents --fix rewrote.",
    "path": "Document path.",
    "line": "Line of the figure (1-based).",
    "col": "Column of the figure (1-based).",
    "figure": "The figure as printed in the document.",
    "recomputed": "What was recomputed: the annotation's command and key, or the console command.",
    "exact": "The exact value in the figure's unit.",
    "factor": "Exact / published, for an off figure ('x8.22'); null otherwise.",
    "message": "What is wrong.",
}

import json, sys, subprocess, glob
from typer.testing import CliRunner
from kvcalc.cli import app

R = CliRunner(env={"COLUMNS": "200"})
CMDS = {
    "size": [
        "size llama3-70b --seq 2048 --batch 32",
        "size llama4-scout --seq 32K --engine vllm",
        "size llama4-scout --seq 32K",
        "size qwen3-next-80b-a3b --seq 4096",
        "size deepseek-v3 --seq 4096 --engine llamacpp --explain",
        "size jamba-v0.1 --seq 8192 --engine vllm",
        "size gemma-3-27b --mem 24GB --seq 8192",
        "size llama3-8b --k-dtype q8_0 --v-dtype q4_0 --engine llamacpp --seq 8192",
    ],
    "fit": [
        "fit llama3-8b --mem 24GB",
        "fit llama3-70b --gpu h100 --gpus 4 --engine vllm --seq 8192 --batch 4",
        "fit mistral-7b --mem 24GB --engine sglang",
        "fit deepseek-v3 --gpu h100 --gpus 16 --kv-only",
        "fit jamba-v0.1 --gpu h200 --gpus 2",
        "fit llama3-8b --gpu h100 --engine tensorrt-llm --max-tokens 100000",
    ],
    "fit-all": ["fit --mem 80GB"],
    "log": [
        "log tests/data/engine_logs/vllm-0.19-llama3.1-8b-h100.log",
        "log tests/data/engine_logs/sglang-0.4-qwq32b-4xl4.log --seq 8192",
        "log tests/data/engine_logs/vllm-0.19-llama3.1-8b-h100.log --seq 32768 --batch 20",
    ],
    "dial": [
        "dial llama3-70b --gpu h100 --tp 2 --seq 8192",
        "dial llama3-8b",
        "dial llama3-8b --bandwidth 1TB/s",
    ],
    "decode": [
        "decode llama3-70b --gpu h100 --seq 2048 --batch 32",
        "decode mistral-7b --bandwidth 1TB/s",
        "decode deepseek-v3 --gpu h200 --tp 8",
    ],
    "compare": [
        "compare llama3-70b qwen2.5-72b --gpu h100 --tp 2 --seq 8192",
        "compare llama3-8b deepseek-v3",
    ],
    "plot": [
        "plot llama3-70b --to 8192 --mem 80GB --seq 4096",
        "plot llama3-8b qwen3-8b --x batch --seq 1000",
    ],
    "models": ["models", "models qwen3"],
    "model": [
        "models gemma-3-27b",
        "models deepseek-v3",
        "models jamba-v0.1",
        "models qwen3-next-80b-a3b",
        "models llama4-scout",
        "models mistral-7b",
        "models llama2-7b",
    ],
    "gpus": ["gpus"],
    "check": ["check"],
    "check-documents": ["check README.md docs"],
}


def infer(values):
    types = set()
    for v in values:
        types.add(type(v).__name__)
    out = {}
    t = []
    if any(v is None for v in values):
        t.append("null")
    nonnull = [v for v in values if v is not None]
    if all(isinstance(v, dict) for v in nonnull) and nonnull:
        keys = {}
        for v in nonnull:
            for k in v:
                keys.setdefault(k, []).append(v[k])
        req = [k for k in keys if all(k in v for v in nonnull)]
        schema = {
            "type": "object",
            "properties": {k: infer(vs) for k, vs in keys.items()},
            "required": req,
            "additionalProperties": False,
        }
        if "null" in t:
            schema["type"] = ["object", "null"]
        return schema
    if all(isinstance(v, list) for v in nonnull) and nonnull:
        items = [x for v in nonnull for x in v]
        schema = {"type": "array", "items": infer(items) if items else {}}
        if "null" in t:
            schema["type"] = ["array", "null"]
        return schema
    for v in nonnull:
        if isinstance(v, bool):
            t.append("boolean")
        elif isinstance(v, int):
            t.append("integer")
        elif isinstance(v, float):
            t.append("number")
        elif isinstance(v, str):
            t.append("string")
    t = sorted(set(t))
    if "integer" in t and "number" in t:
        t.remove("integer")
    return {"type": t[0] if len(t) == 1 else t}


for name, cmds in CMDS.items():
    outs = []
    for c in cmds:
        r = R.invoke(app, c.split() + ["--json"])
        if r.exit_code not in (0, 1):
            print("FAIL", c, r.stderr, file=sys.stderr)
            continue
        outs.append(json.loads(r.stdout))
    s = infer(outs)
    s = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"kvcalc/{name}.schema.json",
        "title": f"kvcalc {name} --json",
        **s,
    }
    json.dump(s, open(f"{OUT}/{name}.schema.json", "w"), indent=2)
    print(name, len(json.dumps(s)))

# ---- descriptions
missing = set()
STRING_ARRAYS = {"engine_report", "explain", "aliases", "sources", "notes", "documents"}


def describe(s, key=None):
    if isinstance(s, dict):
        if key is not None:
            if key in G:
                s["description"] = G[key]
            else:
                missing.add(key)
        if (
            s.get("type") in ("array", ["array", "null"])
            and s.get("items") == {}
            and key in STRING_ARRAYS
        ):
            s["items"] = {"type": "string"}
        for k, v in list(s.get("properties", {}).items()):
            describe(v, k)
        if isinstance(s.get("items"), dict) and s["items"]:
            describe(s["items"])
    return s


import glob

for f in glob.glob(f"{OUT}/*.schema.json"):
    s = json.load(open(f))
    describe(s)
    json.dump(s, open(f, "w"), indent=2)
print("missing", sorted(missing))

NULLABLE = {
    "extended_context",
    "extended_context_source",
    "log_version",
    "gpu_preset",
    "predicted",
    "answer",
    "device_source",
    "dims",
    "cuda_memory_bytes",
    "sm_count",
    "compute_capability",
    "offload",
    "gguf",
    "architecture",
    "free_bytes",
    "params",
    "name",
    "hf_repo",
    "sliding_window",
    "layers",
    "checkpoint_bytes",
    "num_kv_heads",
    "configured_kv_heads",
    "max_context_memory",
    "bandwidth_gb_s",
    "default_util",
    "note",
    "expected",
    "factor",
    "mha_ratio",
    "kv_overtakes_weights_at_seq",
    "mark",
    "exact_value",
}


def nullable(s, key=None):
    if isinstance(s, dict):
        if key in NULLABLE and "type" in s:
            t = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if t == ["null"]:
                t = [
                    {
                        "offload": "object",
                        "gguf": "object",
                        "architecture": "string",
                        "default_util": "string",
                        "note": "string",
                        "name": "string",
                        "hf_repo": "string",
                        "expected": "string",
                        "factor": "string",
                        "exact_value": "string",
                    }.get(key, "integer")
                ]
                if key == "layers":
                    t = ["array"]
            if "null" not in t:
                t = t + ["null"]
            s["type"] = sorted(set(t)) if len(set(t)) > 1 else t[0]
            if key == "layers" and "items" not in s:
                s["items"] = {"type": "object"}
        for k, v in s.get("properties", {}).items():
            nullable(v, k)
        if isinstance(s.get("items"), dict):
            nullable(s["items"])


for f in glob.glob(f"{OUT}/*.schema.json"):
    s = json.load(open(f))
    nullable(s)
    if f.endswith("check-documents.schema.json"):
        props = s["properties"]
        props["errors"]["items"] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "line", "col", "message"],
            "properties": {
                k: dict(type="integer" if k in ("line", "col") else "string", description=G[k])
                for k in ("path", "line", "col", "message")
            },
        }
        props["fixed"]["items"] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "diff"],
            "properties": {
                "path": {"type": "string", "description": G["path"]},
                "diff": {"type": "string", "description": "Unified diff of the rewrite."},
            },
        }
    json.dump(s, open(f, "w"), indent=2)
    open(f, "a").write("\n")

# the preset's layer list: pydantic's own schema of the groups (every kind, nested repeats)
from kvcalc.spec import ModelSpec

spec_schema = ModelSpec.model_json_schema()


def strip(node):
    if isinstance(node, dict):
        node.pop("title", None)
        for k, v in node.get("properties", {}).items():
            v.pop("description", None)
            v.pop("title", None)
            if k in G:
                v["description"] = G[k]
            strip(v)
        for v in node.values():
            strip(v)
    elif isinstance(node, list):
        for v in node:
            strip(v)
    return node


layers = strip(spec_schema["properties"]["layers"])
defs = strip({k: v for k, v in spec_schema["$defs"].items()})
f = f"{OUT}/model.schema.json"
s = json.load(open(f))
s["properties"]["layers"] = {**layers, "description": G["layers"]}
s["$defs"] = defs
json.dump(s, open(f, "w"), indent=2)
open(f, "a").write("\n")


# docs/json.md: the glossary table, regenerated
found = {}


def walk_doc(node, where):
    if isinstance(node, dict):
        for k, v in node.get("properties", {}).items():
            found.setdefault(k, [v.get("description"), set()])[1].add(where)
            walk_doc(v, where)
        walk_doc(node.get("items"), where)
        for v in node.get("$defs", {}).values():
            walk_doc(v, where)
        for v in node.get("anyOf", []) + node.get("oneOf", []):
            walk_doc(v, where)


for p in sorted(glob.glob(f"{OUT}/*.schema.json")):
    walk_doc(json.load(open(p)), Path(p).name.removesuffix(".schema.json"))
rows = "\n".join(f"| `{k}` | {d} | {', '.join(sorted(w))} |" for k, (d, w) in sorted(found.items()))
doc_path = Path(OUT).parent / "json.md"
head = doc_path.read_text().split("| key | meaning | in |")[0]
doc_path.write_text(head + "| key | meaning | in |\n|---|---|---|\n" + rows + "\n")
