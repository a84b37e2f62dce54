"""Serving engines: each a parameter set with its budget defaults and a rule per cache kind.

One module per engine (base.py says what every engine is).  An engine added here
must state a rule for every kind in layers.CACHE_KINDS; tests enumerate the pairs.
"""

from __future__ import annotations

from dataclasses import replace
from difflib import get_close_matches
from typing import Any

from kvcalc.engines.base import Engine, EnginePool, LogRecord, MissingRule, cdiv, pad
from kvcalc.engines.ideal import IDEAL
from kvcalc.engines.llamacpp import LLAMACPP, LLAMACPP_B5400
from kvcalc.engines.sglang import SGLANG
from kvcalc.engines.transformers import TRANSFORMERS
from kvcalc.engines.vllm import VLLM
from kvcalc.errors import UnknownNameError, UsageError

ENGINES: dict[str, Engine] = {
    e.name: e for e in (IDEAL, VLLM, SGLANG, LLAMACPP, LLAMACPP_B5400, TRANSFORMERS)
}
_ALIASES = {"llama.cpp": "llamacpp", "hf": "transformers", "exact": "ideal"}

__all__ = [
    "ENGINES",
    "IDEAL",
    "Engine",
    "EnginePool",
    "LogRecord",
    "MissingRule",
    "cdiv",
    "engine",
    "pad",
]


def engine(name: str, block_size: Any = None, **settings: Any) -> Engine:
    """An engine profile by name, with settings in the deployment vocabulary's names:
    `block_size` (vLLM's block, SGLang's page), llama.cpp's `ctx_size`, `parallel`, ...
    A setting the engine does not take is refused, naming the engines that do."""
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
    given = {"block_size": block_size, **settings}
    changes: dict[str, Any] = {}
    for option, value in given.items():
        if value is None:  # not given (a flag not given arrives as None too)
            continue
        setting = chosen.SETTINGS.get(option)
        if setting is None:
            takers = [e.name for e in ENGINES.values() if option in e.SETTINGS]
            raise UsageError(
                f"{setting_flag(option)} applies to {' and '.join(takers)}, not {chosen.name}"
            )
        changes[setting.field] = setting.parse(value)
    if not changes:
        return chosen
    configured = replace(chosen, **changes)
    configured.validate()
    return configured


def setting_flag(key: str) -> str:
    return next(e.SETTINGS[key].flag for e in ENGINES.values() if key in e.SETTINGS)
