"""Serving engines: each a parameter set with its budget defaults and a rule per cache kind.

One module per engine (base.py says what every engine is).  An engine added here
must state a rule for every kind in layers.CACHE_KINDS; tests enumerate the pairs.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from difflib import get_close_matches
from typing import Any

from kvcalc.engines.base import (
    Engine,
    EnginePool,
    LogRecord,
    MissingRule,
    cdiv,
    pad,
)
from kvcalc.engines.ideal import IDEAL
from kvcalc.engines.memory import DeviceFacts, MemoryPlan, MemoryQuestion
from kvcalc.errors import UnknownNameError, UsageError

# name -> (module, profile): a profile's module is imported when it is asked for, so a
# question for the ideal engine loads none of the others (a few ms each at start-up)
REGISTRY = {
    "ideal": ("ideal", "IDEAL"),
    "vllm": ("vllm", "VLLM"),
    "vllm-0.19": ("vllm", "VLLM_019"),
    "sglang": ("sglang", "SGLANG"),
    "sglang-0.4": ("sglang", "SGLANG_04"),
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
    "vllm-0.20": "vllm",
    "vllm-0.19.0": "vllm-0.19",
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


def engine(name: str, block_size: Any = None, **settings: Any) -> Engine:
    """An engine profile by name, with settings in the deployment vocabulary's names:
    `block_size` (vLLM's block, SGLang's page), llama.cpp's `ctx_size`, `parallel`, ...
    A setting the engine does not take is refused, naming the engines that do."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise UnknownNameError(
            "engine",
            name,
            get_close_matches(key, list(REGISTRY), n=2, cutoff=0.5),
            f"engines: {', '.join(REGISTRY)}",
        )
    return configure(profile(key), block_size=block_size, **settings)


def configure(chosen: Engine, **settings: Any) -> Engine:
    """The engine with some of its SETTINGS changed; None means not given.  A setting the
    engine does not take is refused, naming the engines that do."""
    changes: dict[str, Any] = {}
    for option, value in settings.items():
        if value is None:  # not given (a flag not given arrives as None too)
            continue
        setting = chosen.SETTINGS.get(option)
        if setting is None:
            takers = [e.name for e in all_engines().values() if option in e.SETTINGS]
            named = ", ".join(takers[:-1]) + " and " + takers[-1] if len(takers) > 1 else takers[0]
            raise UsageError(f"{setting_flag(option)} applies to {named}, not {chosen.name}")
        changes[setting.field] = setting.parse(value)
    if not changes:
        return chosen
    configured = replace(chosen, **changes)
    configured.validate()
    return configured


def setting_flag(key: str) -> str:
    return next(e.SETTINGS[key].flag for e in all_engines().values() if key in e.SETTINGS)
