"""Serving engines: each a parameter set with its budget defaults and a rule per cache kind.

One module per engine (base.py says what every engine is).  An engine added here
must state a rule for every kind in layers.CACHE_KINDS; tests enumerate the pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from difflib import get_close_matches
from typing import Any

from kvcalc.engines.base import (
    DeviceFacts,
    Engine,
    EnginePool,
    LogRecord,
    MemoryPlan,
    MemoryQuestion,
    MissingRule,
    cdiv,
    pad,
)
from kvcalc.engines.ideal import IDEAL
from kvcalc.engines.llamacpp import LLAMACPP, LLAMACPP_B5400
from kvcalc.engines.sglang import SGLANG, SGLANG_04
from kvcalc.engines.tensorrt_llm import TENSORRT_LLM
from kvcalc.engines.transformers import TRANSFORMERS
from kvcalc.engines.vllm import VLLM, VLLM_019
from kvcalc.errors import UnknownNameError, UsageError

ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        IDEAL,
        VLLM,
        VLLM_019,
        SGLANG,
        SGLANG_04,
        TENSORRT_LLM,
        LLAMACPP,
        LLAMACPP_B5400,
        TRANSFORMERS,
    )
}
_ALIASES = {
    "llama.cpp": "llamacpp",
    "hf": "transformers",
    "exact": "ideal",
    "vllm-0.20": "vllm",
    "vllm-0.19.0": "vllm-0.19",
    "trtllm": "tensorrt-llm",
    "tensorrt_llm": "tensorrt-llm",
    "tensorrtllm": "tensorrt-llm",
    "trt-llm": "tensorrt-llm",
}

__all__ = [
    "ENGINES",
    "IDEAL",
    "DeviceFacts",
    "Engine",
    "EnginePool",
    "LogRecord",
    "MemoryPlan",
    "MemoryQuestion",
    "MissingRule",
    "cdiv",
    "configure",
    "engine",
    "pad",
]


def engine(name: str, settings: Mapping[str, int | bool | None] | None = None) -> Engine:
    """An engine profile by name, with settings (SETTINGS keys: block_size, max_num_seqs,
    ...) changed; a setting the engine lacks, or out of its bounds, is a usage error.

    >>> engine("vllm", {"block_size": 32}).page
    32
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ENGINES:
        raise UnknownNameError(
            "engine",
            name,
            get_close_matches(key, list(ENGINES), n=2, cutoff=0.5),
            f"engines: {', '.join(ENGINES)}",
        )
    chosen = ENGINES[key]
    for option, value in (settings or {}).items():
        if value is not None and value is not False:  # None / False: not given
            chosen = configure(chosen, option, value)
    return chosen


def configure(chosen: Engine, key: str, value: int | bool) -> Engine:
    """The engine with one of its SETTINGS changed, refused where it does not apply."""
    setting = chosen.SETTINGS.get(key)
    if setting is None:
        takers = [e.name for e in ENGINES.values() if key in e.SETTINGS]
        named = ", ".join(takers[:-1]) + " and " + takers[-1] if len(takers) > 1 else takers[0]
        raise UsageError(f"{setting_flag(key)} applies to {named}, not {chosen.name}")
    if not setting.low <= int(value) <= setting.high:
        raise UsageError(
            f"{setting.flag} must be between {setting.low:,} and {setting.high:,}, got {value}"
        )
    changes: dict[str, Any] = {setting.field: value}
    return replace(chosen, **changes)


def setting_flag(key: str) -> str:
    return next(e.SETTINGS[key].flag for e in ENGINES.values() if key in e.SETTINGS)
