"""Element formats for the KV cache and for weights: the one table of their sizes.

Cache formats (element.py says what one is): plain types, llama.cpp's blocks, and the
engines' own formats (engine_formats.py), under kvcalc names with the engines' spellings
as aliases.

Weight formats carry bits per weight as an exact fraction: block formats are
exact (q4_0: 18 bytes per 32 weights = 4.5 bits); llama.cpp's K-quant mixes
(q4_k_m, q5_k_m) mix several block types across tensors, so their figure is the
measured average that llama.cpp's tools/quantize/README.md reports for Llama 2 7B.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from fractions import Fraction
from typing import TypeVar

from kvcalc.element import LATENT_KINDS, PER_HEAD_KINDS, ElementFormat
from kvcalc.element import fmt as _fmt
from kvcalc.engine_formats import ENGINE_FORMATS
from kvcalc.errors import UnknownNameError, UsageError

__all__ = ["LATENT_KINDS", "PER_HEAD_KINDS", "ElementFormat", "KV_FORMATS", "kv_format"]

KV_FORMATS: dict[str, ElementFormat] = {
    f.name: f
    for f in (
        _fmt("fp32", 1, 4, "IEEE float32"),
        _fmt("fp16", 1, 2, "IEEE float16 (llama.cpp f16, the usual default)"),
        _fmt("bf16", 1, 2, "bfloat16"),
        _fmt(
            "fp8_e4m3",
            1,
            1,
            "float8 e4m3 (vLLM fp8 / fp8_e4m3, SGLang fp8_e4m3, TensorRT-LLM fp8); "
            "per-tensor scales live in the layer, not the pool",
        ),
        _fmt("fp8_e5m2", 1, 1, "float8 e5m2 (vLLM and SGLang fp8_e5m2)"),
        _fmt("int8", 1, 1, "8-bit integer, per-tensor scale (TensorRT-LLM INT8 KV cache)"),
        _fmt("int4", 2, 1, "packed 4-bit integer, two values per byte"),
        # llama.cpp block formats (ggml-common.h): 32 values + fp16 scale (+ fp16 min/high bits)
        _fmt("q8_0", 32, 34, "llama.cpp q8_0: 32 x int8 + fp16 scale"),
        _fmt("q5_1", 32, 24, "llama.cpp q5_1: 32 x 5 bit + fp16 scale + fp16 min"),
        _fmt("q5_0", 32, 22, "llama.cpp q5_0: 32 x 5 bit + fp16 scale"),
        _fmt("q4_1", 32, 20, "llama.cpp q4_1: 32 x 4 bit + fp16 scale + fp16 min"),
        _fmt("q4_0", 32, 18, "llama.cpp q4_0: 32 x 4 bit + fp16 scale"),
        _fmt("iq4_nl", 32, 18, "llama.cpp iq4_nl: 32 x 4 bit non-linear + fp16 scale"),
        *ENGINE_FORMATS,
    )
}

# Engine spellings -> kvcalc names.  A format keeps the engine's own name where only one
# engine has it (int8_per_token_head); names that mean the same bytes map to one entry.
_KV_ALIASES = {
    "float32": "fp32",
    "f32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "f16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "fp8": "fp8_e4m3",  # vLLM: fp8 = fp8_e4m3 on CUDA; TensorRT-LLM's FP8 KV cache
    "e4m3": "fp8_e4m3",
    "fp8-e4m3": "fp8_e4m3",
    "float8_e4m3fn": "fp8_e4m3",
    "fp8_inc": "fp8_e4m3",  # vLLM on Intel Gaudi: float8_e4m3fn, one byte
    "e5m2": "fp8_e5m2",
    "fp8-e5m2": "fp8_e5m2",
    "float8_e5m2": "fp8_e5m2",
    # vLLM: the NVFP4 layout with max/4-or-max/6 scale selection, the same bytes
    "nvfp4_4over6": "nvfp4",
    # SGLang 0.5.3-0.5.8: e2m1 + one 8-bit scale per 16 values (0.5.23 renamed the recipe)
    "fp4_e2m1": "fp4_mx_block16",
}

# Names engines accept that kvcalc does not size, with the reason (never a silent guess).
_NOT_SIZED = {
    "auto": "'auto' is the model's own dtype: give it (bf16 for most checkpoints, fp16, fp32)",
    "octave_k3v4": "vLLM's ROCm Octave slot splits K at the rotary dims (4-bit RoPE, 3-bit "
    "rest), which model specs do not record; kvcalc does not size it",
    "octave_k3v3": "vLLM's ROCm Octave slot splits K at the rotary dims, which model specs "
    "do not record; kvcalc does not size it",
    "octave_k3v3_compact": "vLLM's ROCm Octave formats are not sized by kvcalc (their slot "
    "layout was not checked against the source)",
    "mxfp4": "SGLang reserves mxfp4 for 32-value blocks and refuses it; its 16-value fp4 "
    "cache is fp4_mx_block16, or nvfp4",
}


@dataclass(frozen=True, slots=True)
class WeightFormat:
    """A weight storage format: exact bits per weight and where the figure comes from."""

    name: str
    bits_per_weight: Fraction
    note: str

    def weight_bytes(self, params: int) -> int:
        """Bytes for `params` weights, rounded up to a whole byte.

        >>> WEIGHT_FORMATS["bf16"].weight_bytes(8_030_261_248)
        16060522496
        """
        return -(-params * self.bits_per_weight.numerator // (8 * self.bits_per_weight.denominator))


def _w(name: str, bits: Fraction | int, note: str) -> WeightFormat:
    return WeightFormat(name, Fraction(bits), note)


WEIGHT_FORMATS: dict[str, WeightFormat] = {
    f.name: f
    for f in (
        _w("fp32", 32, "float32"),
        _w("fp16", 16, "float16"),
        _w("bf16", 16, "bfloat16"),
        _w("fp8", 8, "float8 (per-tensor or per-channel scales, negligible)"),
        _w("int8", 8, "8-bit integer (e.g. W8A8, bitsandbytes int8); scales not counted"),
        _w("int4", 4, "4-bit integer (e.g. AWQ/GPTQ); group scales not counted"),
        _w("q8_0", Fraction(34 * 8, 32), "llama.cpp q8_0: 34 bytes per 32 weights = 8.5 bits"),
        _w(
            "q6_k",
            Fraction(210 * 8, 256),
            "llama.cpp q6_K: 210 bytes per 256 weights = 6.5625 bits",
        ),
        _w(
            "q5_k_m",
            Fraction(568, 100),
            "llama.cpp Q5_K_M mix: 5.68 bits (quantize README, Llama 2 7B)",
        ),
        _w(
            "q5_k_s",
            Fraction(552, 100),
            "llama.cpp Q5_K_S mix: 5.52 bits (quantize README, Llama 2 7B)",
        ),
        _w(
            "q4_k_m",
            Fraction(484, 100),
            "llama.cpp Q4_K_M mix: 4.84 bits (quantize README, Llama 2 7B)",
        ),
        _w(
            "q4_k_s",
            Fraction(458, 100),
            "llama.cpp Q4_K_S mix: 4.58 bits (quantize README, Llama 2 7B)",
        ),
        _w("q4_0", Fraction(18 * 8, 32), "llama.cpp q4_0: 18 bytes per 32 weights = 4.5 bits"),
        _w(
            "q3_k_m",
            Fraction(391, 100),
            "llama.cpp Q3_K_M mix: 3.91 bits (quantize README, Llama 2 7B)",
        ),
        _w(
            "q2_k",
            Fraction(335, 100),
            "llama.cpp Q2_K mix: 3.35 bits (quantize README, Llama 2 7B)",
        ),
    )
}

_WEIGHT_ALIASES = {
    "float32": "fp32",
    "f32": "fp32",
    "float16": "fp16",
    "f16": "fp16",
    "bfloat16": "bf16",
    "float8": "fp8",
    "fp8_e4m3": "fp8",
    "e4m3": "fp8",
}


_T = TypeVar("_T")


def _lookup(table: Mapping[str, _T], aliases: Mapping[str, str], name: str, what: str) -> _T:
    key = str(name).strip().lower().replace("-", "_")
    key = aliases.get(key, aliases.get(key.replace("_", "-"), key))
    if key in table:
        return table[key]
    known = sorted(table) + sorted(aliases)
    raise UnknownNameError(
        what,
        str(name),
        get_close_matches(key, known, n=3, cutoff=0.5),
        f"valid: {', '.join(sorted(table))}",
    )


def kv_format(name: str) -> ElementFormat:
    """Look up a KV-cache format by name or alias ('fp8' is fp8_e4m3, as in vLLM)."""
    reason = _NOT_SIZED.get(str(name).strip().lower().replace("-", "_"))
    if reason is not None:
        raise UsageError(f"KV cache dtype {name!r}: {reason}")
    return _lookup(KV_FORMATS, _KV_ALIASES, name, "KV cache dtype")


def weight_format(name: str) -> WeightFormat:
    """Look up a weight format by name or alias."""
    return _lookup(WEIGHT_FORMATS, _WEIGHT_ALIASES, name, "weight format")
