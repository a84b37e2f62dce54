"""The context a model is served at: --max-model-len, above or below its own.

Engines serve a model at a context the operator sets (vLLM --max-model-len, SGLang
--context-length, llama.cpp -c per slot), not only at the config's: Llama 3 8B is run at
32k with rope scaling, a 128k model at 16k to save memory.  `served` gives the spec that
question is about: its max_context is the served context, so the default --seq, the cap
on `fit`'s answer and the "exceeds" notes all follow it, with one arithmetic everywhere.

Past the model's own limit (max_context, or the rope-scaled extended_context when the
config or card declares one) the engines disagree, so kvcalc sizes what was asked and says
what each does: vLLM refuses a max_model_len above the length it derives from the config
unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 (vllm/config/model.py, _get_and_verify_max_len);
llama.cpp warns "n_ctx_seq > n_ctx_train -- possible training context overflow"
(src/llama-context.cpp) and llama-server then caps each slot at the training context
("the slot context ... exceeds the training context of the model - capping",
tools/server/server-context.cpp) while its cache still holds every cell asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from kvcalc.spec import ModelSpec

_ENGINE_WORDS = {
    "vllm": "vLLM refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1",
    # python/sglang/srt/configs/model_config.py: context_length past the derived length
    "sglang": "SGLang refuses it unless SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1",
    "llamacpp": (
        "llama.cpp allocates it, warns of a training context overflow, and llama-server caps "
        "each slot at the model's context"
    ),
}


def limit(spec: ModelSpec) -> int:
    """The longest context the model was made for: its own, or its rope-scaled one."""
    return max(spec.max_context, spec.extended_context or 0)


def served(
    spec: ModelSpec,
    max_model_len: int | None,
    engine: str = "ideal",
    warn: Callable[[str], None] | None = None,
) -> ModelSpec:
    """`spec` served at `max_model_len` tokens (None: as configured).

    >>> from kvcalc.catalog import load_model
    >>> served(load_model("llama3-8b"), 131072).max_context
    131072
    """
    if max_model_len is None or max_model_len == spec.max_context:
        return spec
    say = warn or (lambda _: None)
    top = limit(spec)
    if max_model_len > top:
        how = f" ({spec.extended_context_source})" if spec.extended_context else ""
        engine_words = _ENGINE_WORDS.get(engine.removesuffix("-b5400"))
        say(
            f"--max-model-len {max_model_len:,} is past {spec.id}'s {top:,}-token context"
            f"{how}: sized as asked{'; ' + engine_words if engine_words else ''}"
        )
    elif max_model_len > spec.max_context:
        say(
            f"--max-model-len {max_model_len:,} is past {spec.id}'s configured "
            f"{spec.max_context:,} tokens, within the {top:,} of {spec.extended_context_source}"
        )
    return spec.model_copy(update={"max_context": max_model_len})
