"""Turn one load's log into a record: outcome, llama.cpp's reason, and the lines that matter.

Pure functions on text, so they can be checked without llama.cpp.  Lines are kept
verbatim (trailing whitespace aside): the recorded text is the truth kvcalc must
reproduce digit for digit, and any rewording here would hide a difference.
"""

from __future__ import annotations

import re
from typing import Any

# The functions whose lines say what a context allocated or why it did not.
# (llama.cpp prefixes every log line with its __func__.)
CONTEXT_FUNCS = (
    "llama_context:",  # n_ctx, n_ctx_seq, n_batch, n_ubatch, flash_attn, kv_unified, buffers
    "llama_kv_cache:",  # "size = ... MiB (N cells, L layers, P/S seqs), K (..): .., V (..): .."
    "llama_kv_cache_iswa:",  # the non-SWA and SWA cache sizes, "using full-size SWA cache"
    "llama_memory_recurrent:",  # "size = ... (N cells, L layers, P seqs R rs_seq), R, S, P"
    "llama_init_from_model:",  # refusals, and "enabling flash_attn since ..."
    "sched_reserve:",  # compute buffer sizes, graph nodes and splits
    "resolve_fused_ops:",  # whether auto flash attention ended on or off
    "graph_reserve:",
)
# Dropped although their function is kept: timings change on every run (a re-recording
# must diff only where llama.cpp changed), and the DeepSeek-V4 fused-op probe runs for
# every model and says nothing about memory.
NOISE = ("reserve took", "DeepSeek V4 HC")
# Model-level lines, recorded once per model (they do not depend on context settings).
MODEL_FUNCS = (
    "print_info:",
    "load_tensors:",
    "llama_model_load:",
    "llama_model_loader: - kv",
    "load_arch_hparams:",
    "load_hparams:",
)
# A crash prints no function prefix; these are how ggml says why it aborted.
CRASH_MARKERS = ("GGML_ASSERT", "GGML_ABORT", "error", "Error", "Aborted")

MARKERS = {"CONTEXT_OK": "loaded", "CONTEXT_FAILED": "refused", "MODEL_FAILED": "refused"}


# An abort names its source file by the absolute path pip built in, a fresh temporary
# folder each time ("/tmp/pip-req-build-m0emewfe/vendor/llama.cpp/ggml/src/ggml.c:1797");
# keeping it would make every re-recording differ.  The path from vendor/ on is kept.
BUILD_DIR = re.compile(r"/\S*?/(?=vendor/llama\.cpp/)")


def split_lines(text: str) -> list[str]:
    return [BUILD_DIR.sub("<build>/", line.rstrip()) for line in text.splitlines() if line.strip()]


def keep(line: str, funcs: tuple[str, ...]) -> bool:
    return line.startswith(funcs) and not any(noise in line for noise in NOISE)


def outcome(lines: list[str]) -> str:
    """loaded / refused from the worker's own marker; no marker means the process died."""
    for line in reversed(lines):
        if line in MARKERS:
            return MARKERS[line]
    return "crashed"


def reason(lines: list[str], result: str) -> str | None:
    """llama.cpp's own words for a refusal or a crash, verbatim; None when it loaded.

    A refusal is the last llama_init_from_model line (llama-context.cpp logs the check
    that failed, or "failed to initialize the context: <exception>").  An abort is the
    ggml line that names the failed assertion.
    """
    if result == "loaded":
        return None
    if result == "refused":
        said = [
            line
            for line in lines
            if line.startswith(("llama_init_from_model:", "llama_model_load:"))
        ]
        return said[-1] if said else None
    crash = [line for line in lines if any(mark in line for mark in CRASH_MARKERS)]
    return crash[0] if crash else (lines[-1] if lines else None)


def record(text: str) -> dict[str, Any]:
    """The JSON record of one context: outcome, reason, kept lines."""
    lines = split_lines(text)
    result = outcome(lines)
    kept = [line for line in lines if keep(line, CONTEXT_FUNCS)]
    why = reason(lines, result)
    if result == "crashed":
        # keep every line of a crash: there is no telling in advance which one explains it
        kept = [line for line in lines if not line.startswith(MODEL_FUNCS)]
    return {"outcome": result, "reason": why, "lines": kept}


def model_lines(text: str) -> list[str]:
    """print_info/load_tensors lines of one model load (hparams as llama.cpp read them)."""
    return [line for line in split_lines(text) if keep(line, MODEL_FUNCS)]


CACHE_LINE = re.compile(
    r"^(?P<func>llama_kv_cache|llama_memory_recurrent): +size = +(?P<mib>[\d.]+) MiB"
)


def cache_lines(lines: list[str]) -> list[str]:
    """Just the "size = ... MiB" summary lines, one per cache llama.cpp built."""
    return [line for line in lines if CACHE_LINE.match(line)]
