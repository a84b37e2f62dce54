"""Element formats for the KV cache and for weights: the one table of their sizes.

A cache format is a block of `block_values` values stored in `block_bytes` bytes.
Plain formats are blocks of one value (fp16: 1 value in 2 bytes); packed int4 is
2 values in 1 byte; llama.cpp's q8_0 is 32 int8 values plus one fp16 scale =
34 bytes.  A row of n values takes ceil(n / block_values) * block_bytes bytes,
which is how ggml sizes a row (ggml_row_size) when n is a multiple of the block.

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
from typing import Any, TypeVar

from kvcalc.errors import UnknownNameError, UsageError

PER_HEAD_KINDS = frozenset({"full", "sliding", "chunked"})
"""Cache kinds with per-head K and V rows (layers.CACHE_KINDS less latent and state)."""
LATENT_KINDS = frozenset({"latent"})


@dataclass(frozen=True, slots=True)
class ElementFormat:
    """A cache element format: `block_bytes` bytes hold `block_values` values.

    Engine formats add what they store beside the values, as data read by the layer
    classes (never a branch in a caller):

    - `head_bytes` per KV head per row: vLLM's int8_per_token_head keeps one fp32
      scale per token per head for K and one for V, carved from the same pool, so
      8 KV heads x 128 dims cost 1,024 + 8 x 4 = 1,056 B of K per token per layer;
    - `per_head`: blocks restart at every head (vLLM's nvfp4 packs head_dim // 2 bytes
      of e2m1 plus head_dim // 16 fp8 scales per head), so head_dim must be a whole
      number of blocks; ggml's formats block the whole row instead (ggml_row_size);
    - `packed`: bit-packed codes with no per-block scale, ceil(n x bits / 8) bytes per
      head (TurboQuant's 3-bit keys: 128 dims -> 48 B);
    - `v_side`: V rows in another encoding (turboquant_k8v4: fp8 K, 4-bit V), and
      `slot_align`: the per-head K + V slot rounded up to a multiple of it, the pad
      counted in V (TurboQuant's slot_size_aligned rounds to even);
    - `latent_bytes`: a fixed packed row for an MLA latent of `latent_dims`
      (fp8_ds_mla: 656 B per token per layer for DeepSeek's 512 + 64);
    - `kinds`: the cache kinds the format exists for, with the reason (fp8_ds_mla is an
      MLA row only).
    """

    name: str
    block_values: int
    block_bytes: int
    description: str
    head_bytes: int = 0
    per_head: bool = False
    packed: bool = False
    v_side: ElementFormat | None = None
    slot_align: int = 1
    latent_bytes: int | None = None
    latent_dims: tuple[int, int] | None = None
    kinds: frozenset[str] | None = None
    kinds_reason: str = ""
    source: str = ""
    """Where the bytes come from (engine source file)."""

    def row_bytes(self, n_values: int, heads: int = 1) -> int:
        """Bytes for one row of n values (one token's K or V in one layer), blocked whole.

        >>> KV_FORMATS["q8_0"].row_bytes(1024)  # 32 blocks x 34 bytes
        1088
        >>> KV_FORMATS["int8_per_token_head"].row_bytes(1024, heads=8)  # + 8 fp32 scales
        1056
        """
        if self.packed:
            data = -(-n_values * self.block_bytes // self.block_values)
        else:
            data = -(-n_values // self.block_values) * self.block_bytes
        return data + heads * self.head_bytes

    def head_row_bytes(self, kind: str, heads: int, dim: int) -> int:
        """K bytes of one token in one layer of `heads` KV heads x `dim` values."""
        self.check_kind(kind)
        if not self.per_head:
            return self.row_bytes(heads * dim, heads)
        if dim % self.block_values and not self.packed:
            raise UsageError(
                f"{self.name} packs {self.block_values} values per block in every head; "
                f"head_dim {dim} is not a multiple of {self.block_values}"
            )
        return heads * self.row_bytes(dim)

    def v_row_bytes(self, kind: str, heads: int, k_dim: int, v_dim: int) -> int:
        """V bytes of one token in one layer, with the slot pad when K + V are aligned.

        >>> KV_FORMATS["turboquant_k8v4"].v_row_bytes("full", 1, 128, 128)  # 64 + 4
        68
        """
        side = self.v_side or self
        v_head = side.head_row_bytes(kind, 1, v_dim)
        if self.slot_align > 1:
            # one slot per head holds K then V; the engine rounds the slot up, not each part
            slot = self.head_row_bytes(kind, 1, k_dim) + v_head
            v_head += -slot % self.slot_align
        return heads * v_head

    def latent_row_bytes(self, kv_lora_rank: int, rope_dim: int) -> int:
        """Bytes of one MLA latent row (one per token per layer, no V)."""
        self.check_kind("latent")
        if self.latent_bytes is None:
            return self.row_bytes(kv_lora_rank + rope_dim)
        if (kv_lora_rank, rope_dim) != self.latent_dims:
            want = self.latent_dims or (0, 0)
            raise UsageError(
                f"{self.name} is a fixed {self.latent_bytes} B row for a {want[0]} + {want[1]} "
                f"latent; this model's latent is {kv_lora_rank} + {rope_dim}"
            )
        return self.latent_bytes

    def check_kind(self, kind: str) -> None:
        if self.kinds is not None and kind not in self.kinds:
            raise UsageError(
                f"{self.name} has no form for {kind} layers: {self.kinds_reason}"
            )

    @property
    def plain(self) -> bool:
        """One value per block, nothing beside it (fp32, fp16, bf16, fp8, int8)."""
        return (
            self.block_values == 1
            and self.head_bytes == 0
            and self.v_side is None
            and self.latent_bytes is None
        )

    @property
    def summary(self) -> str:
        """The storage in a few words: '1 B per value', '9 B per 16 values + 4 B per head'."""
        if self.latent_bytes is not None:
            return f"{self.latent_bytes} B per latent row"
        per = "value" if self.block_values == 1 else f"{self.block_values} values"
        text = f"{self.block_bytes} B per {per}"
        if self.head_bytes:
            text += f" + {self.head_bytes} B per head"
        if self.v_side is not None:
            text += f"; V {self.v_side.summary}"
        return text

    @property
    def bits_per_value(self) -> Fraction:
        return Fraction(self.block_bytes * 8, self.block_values)


def _fmt(name: str, values: int, nbytes: int, description: str, **extra: Any) -> ElementFormat:
    return ElementFormat(name, values, nbytes, description, **extra)


# vLLM (vllm/v1/kv_cache_interface.py AttentionSpec.page_size_bytes): per-token-head modes
# add 2 x block_size x num_kv_heads x 4 B (an fp32 scale for K and one for V) to each page
_PTH = {
    "head_bytes": 4,
    "per_head": True,
    "kinds": PER_HEAD_KINDS,
    "kinds_reason": "per-token-head scales exist for per-head K/V rows; no vLLM MLA backend "
    "(FlashMLA, CUTLASS MLA, FlashInfer MLA, Triton MLA) accepts them",
    "source": "vllm/v1/kv_cache_interface.py (AttentionSpec.page_size_bytes)",
}
# TurboQuant (vllm/model_executor/layers/quantization/turboquant/config.py): per head one
# slot of key_packed_size + value_packed_size bytes, rounded up to even (slot_size_aligned)
_TQ = {
    "per_head": True,
    "packed": True,
    "slot_align": 2,
    "kinds": PER_HEAD_KINDS,
    "kinds_reason": "TurboQuant packs one K and one V slot per KV head; an MLA latent has none",
    "source": "vllm/model_executor/layers/quantization/turboquant/config.py (slot_size_aligned)",
}
# fp16 scale + fp16 zero point after the 4-bit (or 3-bit) values of V
_TQ_V = {"head_bytes": 4, "per_head": True, "packed": True}
_TQ_V4 = _fmt("tq_v4", 2, 1, "TurboQuant V: 4-bit codes + fp16 scale + fp16 zero", **_TQ_V)
_TQ_V3 = _fmt("tq_v3", 8, 3, "TurboQuant V: 3-bit codes + fp16 scale + fp16 zero", **_TQ_V)
_DS_MLA = {
    "latent_dims": (512, 64),
    "kinds": LATENT_KINDS,
    "kinds_reason": "it is DeepSeek's packed sparse-MLA latent row; per-head K/V take fp8 "
    "(fp8_e4m3) or nvfp4",
    "source": "vllm/model_executor/layers/attention/mla_attention.py (state_content_bytes)",
}

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
        # vLLM (vllm/config/cache.py CacheDType)
        _fmt(
            "int8_per_token_head",
            1,
            1,
            "vLLM: int8 + one fp32 scale per token per KV head, for K and for V",
            **_PTH,
        ),
        _fmt(
            "fp8_per_token_head",
            1,
            1,
            "vLLM: fp8 + one fp32 scale per token per KV head, for K and for V",
            **_PTH,
        ),
        _fmt(
            "int4_per_token_head",
            2,
            1,
            "vLLM: packed int4 (two per byte) + one fp32 scale per token per KV head, K and V",
            **_PTH,
        ),
        _fmt(
            "nvfp4",
            16,
            9,
            "NVFP4: 16 e2m1 values (8 B) + one fp8 e4m3 scale per 16, per head (vLLM, "
            "SGLang, TensorRT-LLM; a global fp32 scale per layer lives outside the pool)",
            per_head=True,
            source="vllm/utils/torch_utils.py (nvfp4_kv_cache_full_dim: D // 2 + D // 16); "
            "sglang fp4_kv_cache_quant_method.py; TensorRT-LLM resource_manager.py",
        ),
        _fmt(
            "fp8_ds_mla",
            1,
            1,
            "vLLM: DeepSeek sparse-MLA row: 512 fp8 NoPE + 4 fp32 scales + 64 bf16 RoPE = "
            "656 B",
            latent_bytes=656,
            **_DS_MLA,
        ),
        _fmt(
            "nvfp4_ds_mla",
            1,
            1,
            "vLLM: DeepSeek sparse-MLA NVFP4 row: 256 B e2m1 NoPE + 64 fp8 RoPE + 32 fp8 "
            "scales = 352 B",
            latent_bytes=352,
            **_DS_MLA,
        ),
        _fmt(
            "turboquant_k8v4",
            1,
            1,
            "vLLM TurboQuant: fp8 K; V 4-bit + fp16 scale and zero; slot rounded to even",
            v_side=_TQ_V4,
            **_TQ,
        ),
        _fmt(
            "turboquant_4bit_nc",
            2,
            1,
            "vLLM TurboQuant: 4-bit K + fp16 norm; V 4-bit + fp16 scale and zero",
            head_bytes=2,
            v_side=_TQ_V4,
            **_TQ,
        ),
        _fmt(
            "turboquant_k3v4_nc",
            8,
            3,
            "vLLM TurboQuant: 3-bit K + fp16 norm; V 4-bit + fp16 scale and zero",
            head_bytes=2,
            v_side=_TQ_V4,
            **_TQ,
        ),
        _fmt(
            "turboquant_3bit_nc",
            8,
            3,
            "vLLM TurboQuant: 3-bit K + fp16 norm; V 3-bit + fp16 scale and zero",
            head_bytes=2,
            v_side=_TQ_V3,
            **_TQ,
        ),
        _fmt(
            "ultraquant_4bit",
            32,
            17,
            "vLLM UltraQuant (ROCm): 32 e2m1 values (16 B) + one ue8m0 scale per 32, per head",
            per_head=True,
            kinds=PER_HEAD_KINDS,
            kinds_reason="vLLM's UltraQuant backend serves per-head K/V only",
            source="vllm/v1/attention/ops/ultraquant/format.py (slot_size: D / 2 + D / 32)",
        ),
        # SGLang 0.5.23 (server_args.py --kv-cache-dtype choices)
        _fmt(
            "mxfp8",
            32,
            33,
            "SGLang: 32 fp8 values + one ue8m0 scale per 32",
            source="sglang model_executor/pool_configurator.py",
        ),
        _fmt(
            "fp4_mx_block16",
            16,
            9,
            "SGLang: 16 e2m1 values (8 B) + one 8-bit scale per 16, scales over the whole row",
            source="sglang layers/quantization/fp4_kv_cache_quant_method.py "
            "(FP4MXBlock16KVCacheMethod.compute_cell_size)",
        ),
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
