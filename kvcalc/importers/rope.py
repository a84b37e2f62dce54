"""The context a config.json's rope_scaling gives, as vLLM derives it.

vLLM's rule (vllm/config/model.py, _get_and_verify_max_len): the context is
max_position_embeddings, then, for a rope_scaling (or transformers 5's rope_parameters)
whose type is not su, longrope or llama3 and not on a Gemma 3 model, multiplied by the
scaling factor, over original_max_position_embeddings for YaRN:

- yarn: factor x original_max_position_embeddings (Qwen2.5 with the card's rope_scaling:
  4 x 32,768 = 131,072; DeepSeek V3: 40 x 4,096 = 163,840);
- linear, dynamic: factor x max_position_embeddings;
- llama3, longrope (su): max_position_embeddings is already the scaled length (Llama 3.1:
  131,072, from a trained original_max_position_embeddings of 8,192 with factor 8: the
  factor is not a multiplier of the trained length here, 8 x 8,192 would be 65,536);
- Gemma 3: its 131,072 is already scaled (vLLM skips the factor).
vLLM truncates the product to an integer; so does kvcalc, exactly (the factor as the
binary float JSON wrote, times an integer, floored).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from kvcalc.importers.values import Fields, shown
from kvcalc.limits import MAX_TOKENS

_ALREADY_SCALED = ("su", "longrope", "llama3")
MAX_FACTOR = 10**6
"""A rope scaling factor past any real one (Llama 4 Scout: 16; DeepSeek V3: 40)."""


def scaling(f: Fields) -> dict[str, Any] | None:
    """rope_scaling, or transformers 5's rope_parameters; None when absent."""
    key = f.first("rope_scaling", "rope_parameters")
    if key is None:
        return None
    value = f.data[key]
    if not isinstance(value, dict):
        raise f.fail(key, f"must be an object, got {shown(value)}")
    return value


def rope_context(f: Fields, declared: int) -> tuple[int, int | None, str | None]:
    """(the context as configured, the rope-scaled context or None, how it was found) for
    a config whose max_position_embeddings (or alias) is `declared`."""
    found = scaling(f)
    if found is None:
        return declared, None, None
    where = "rope_scaling" if f.has("rope_scaling") else "rope_parameters"
    rope = _Within(found, f.origin, f.name(where))
    kind = rope.text("rope_type", "type") or "default"
    original = rope.whole("original_max_position_embeddings", high=MAX_TOKENS)
    factor = _factor(rope)
    model_type = f.text("model_type") or ""
    if kind in _ALREADY_SCALED or "gemma3" in model_type:
        if original is None or original >= declared:
            return declared, None, None
        told = f" (factor {factor:g})" if factor is not None else ""
        return (
            declared,
            declared,
            (
                f"config.json {where} {kind}{told} from a trained {original:,}: "
                f"max_position_embeddings {declared:,} is the scaled length"
            ),
        )
    if factor is None or kind == "default":
        return declared, None, None
    base, base_name = declared, "max_position_embeddings"
    if kind == "yarn" and original is not None:
        base, base_name = original, "original_max_position_embeddings"
    scaled = math.floor(base * Fraction(factor))
    if not 1 <= scaled <= MAX_TOKENS:
        raise rope.fail("factor", f"{factor:g} x {base:,} is not a context kvcalc can size")
    return (
        scaled,
        scaled,
        (f"config.json {where} {kind}: factor {factor:g} x {base_name} {base:,} = {scaled:,}"),
    )


class _Within(Fields):
    """Fields of an object inside the config: errors name 'rope_scaling.factor'."""

    def __init__(self, data: dict[str, Any], origin: str, prefix: str) -> None:
        super().__init__(data, origin)
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}"


def _factor(rope: Fields) -> float | None:
    """The factor as a positive finite number (JSON 8.0 or 8), or None when absent."""
    value = rope.data.get("factor")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise rope.fail("factor", f"must be a number, got {shown(value)}")
    if not math.isfinite(value) or not 0 < value <= MAX_FACTOR:
        raise rope.fail(
            "factor", f"must be more than 0 and at most {MAX_FACTOR:,}, got {shown(value)}"
        )
    return float(value)
