"""Serving engines: each a parameter set with its budget defaults and a rule per cache kind.

One module per engine (base.py says what every engine is).  An engine added here
must state a rule for every kind in layers.CACHE_KINDS; tests enumerate the pairs.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from difflib import get_close_matches
from typing import Any

from kvcalc.engines.base import Engine, EnginePool, LogRecord, MissingRule, cdiv, pad
from kvcalc.engines.ideal import IDEAL
from kvcalc.errors import UnknownNameError, UsageError

# name -> (module, profile): a profile's module is imported when it is asked for, so a
# question for the ideal engine loads none of the others (a few ms each at start-up)
REGISTRY = {
    "ideal": ("ideal", "IDEAL"),
    "vllm": ("vllm", "VLLM"),
    "sglang": ("sglang", "SGLANG"),
    "tensorrt-llm": ("tensorrt_llm", "TENSORRT_LLM"),
    "llamacpp": ("llamacpp", "LLAMACPP"),
    "llamacpp-b5400": ("llamacpp", "LLAMACPP_B5400"),
    "transformers": ("transformers", "TRANSFORMERS"),
}


def profile(key: str) -> Engine:
    module, attribute = REGISTRY[key]
    chosen: Engine = getattr(importlib.import_module(f"kvcalc.engines.{module}"), attribute)
    return chosen


def all_engines() -> dict[str, Engine]:
    """Every engine profile by name (imports every engine module)."""
    return {key: profile(key) for key in REGISTRY}


def __getattr__(name: str) -> Any:
    if name == "ENGINES":  # the full table, for callers that enumerate engines
        return all_engines()
    raise AttributeError(f"module 'kvcalc.engines' has no attribute {name!r}")
_ALIASES = {
    "llama.cpp": "llamacpp",
    "hf": "transformers",
    "exact": "ideal",
    "trtllm": "tensorrt-llm",
    "tensorrt_llm": "tensorrt-llm",
    "tensorrtllm": "tensorrt-llm",
    "trt-llm": "tensorrt-llm",
}

__all__ = [
    "ENGINES",
    "IDEAL",
    "Engine",
    "EnginePool",
    "LogRecord",
    "MissingRule",
    "cdiv",
    "configure",
    "engine",
    "pad",
]


def engine(name: str, block_size: int | None = None) -> Engine:
    """An engine profile by name; `block_size` sets vLLM's block or SGLang's page size."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise UnknownNameError(
            "engine",
            name,
            get_close_matches(key, list(REGISTRY), n=2, cutoff=0.5),
            f"engines: {', '.join(REGISTRY)}",
        )
    chosen = profile(key)
    return chosen if block_size is None else configure(chosen, "block_size", block_size)


def configure(chosen: Engine, key: str, value: int) -> Engine:
    """The engine with one of its SETTINGS changed, refused where it does not apply."""
    setting = chosen.SETTINGS.get(key)
    if setting is None:
        takers = [e.name for e in all_engines().values() if key in e.SETTINGS]
        named = ", ".join(takers[:-1]) + " and " + takers[-1] if len(takers) > 1 else takers[0]
        raise UsageError(f"{setting_flag(key)} applies to {named}, not {chosen.name}")
    if not setting.low <= value <= setting.high:
        raise UsageError(
            f"{setting.flag} must be between {setting.low:,} and {setting.high:,}, got {value}"
        )
    changes: dict[str, Any] = {setting.field: value}
    return replace(chosen, **changes)


def setting_flag(key: str) -> str:
    return next(e.SETTINGS[key].flag for e in all_engines().values() if key in e.SETTINGS)
