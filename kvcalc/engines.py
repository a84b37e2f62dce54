"""What each serving engine does differently: granularity, window rule, storage, budget, report.

kvcalc's default, `ideal`, is exact token-granular arithmetic: a layer keeps
seq tokens per request (min(window, seq) when windowed).  Real engines keep
more, and each profile below states its rule with the source it comes from:

- vLLM (vllm/v1/kv_cache_interface.py, vllm/v1/core/kv_cache_utils.py): pages
  of --block-size tokens (16) per request; a sliding-window layer keeps
  cdiv(min(window - 1 + max_num_batched_tokens, seq), block) + 1 blocks.
  Mistral 7B v0.1 at 32,768 tokens: min(4,095 + 2,048, 32,768) = 6,143 -> 384 + 1
  = 385 blocks = 6,160 tokens per layer, not 4,096.
- SGLang (srt/mem_cache/memory_pool.py): a token pool of page-size pages (1 by
  default) whose buffers hold size + page_size slots per layer: the extra slot
  receives the writes of padded tokens.  Without its hybrid SWA pool every layer
  keeps the full length.
- llama.cpp (src/llama-context.cpp, src/llama-kv-cache-iswa.cpp): one cache of
  n_ctx = seq x batch cells, padded to 256 (since PR #17046, Nov 2025; 32, or 256
  with flash attention, before it); SWA layers keep
  min(n_ctx, pad(n_swa x n_seq + n_ubatch)) cells; recurrent state in f32.
- transformers (cache_utils.py StaticCache): max_cache_len = seq per layer,
  min(window, seq) for sliding layers; MLA models cache decompressed per-head K
  and V (DeepSeek V3: 128 x (192 + 128) values per token per layer, not 576).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from difflib import get_close_matches
from fractions import Fraction

from kvcalc.dtypes import ElementFormat
from kvcalc.errors import UnknownNameError, UsageError
from kvcalc.layers import (
    ConstantState,
    FullAttention,
    LatentAttention,
    LayerCache,
    SlidingWindow,
)
from kvcalc.spec import ModelSpec
from kvcalc.units import MiB


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def pad(n: int, to: int) -> int:
    """n rounded up to a multiple of `to` (ggml's GGML_PAD): pad(35,000, 256) = 35,072."""
    return cdiv(n, to) * to


@dataclass(frozen=True, slots=True)
class Engine:
    """The ideal profile; each engine below overrides what it does differently."""

    name: str = "ideal"
    title: str = "ideal (token-granular, no engine padding)"
    page: int = 1
    """Allocation granularity in tokens (vLLM block size, SGLang page size)."""

    formats: frozenset[str] | None = None
    """Cache formats the engine offers (None: any)."""
    same_kv_format: bool = False
    """The engine has one cache dtype for K and V."""

    def adapt(self, cache: LayerCache, spec: ModelSpec) -> LayerCache:
        """How this engine stores a layer kind (default: as the architecture defines it)."""
        return cache

    def cells(self, cache: LayerCache, seq: int, batch: int) -> int:
        """Token slots one layer of this kind keeps for `batch` requests of `seq` tokens."""
        return batch * cache.tokens_held(seq)

    def pool_tokens(self, kv_bytes: int, token_bytes: int) -> int:
        """Tokens a KV budget holds in whole pages: what the engine reports as its pool.

        vLLM: blocks = kv // (16 x token bytes), tokens = 16 x blocks; 8 GiB at
        524,288 B/token (Llama 2 7B fp16) is 1,024 blocks = 16,384 tokens.
        """
        return kv_bytes // (self.page * token_bytes) * self.page

    def rule(self, cache: LayerCache, seq: int, batch: int) -> str:
        """The cells arithmetic in words and numbers, for --explain."""
        held = cache.tokens_held(seq)
        return f"slots = {batch:,} requests x {held:,} tokens = {batch * held:,}"

    def default_util(self, kind: str, tp: int) -> Fraction | None:
        """Usable fraction of a GPU's memory (None: the target's own default)."""
        return None

    def default_overhead(self, kind: str) -> int | None:
        """Per-device memory outside weights and KV (None: the target's own default)."""
        return None

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        """Refuse formats the engine lacks; return notes on what it does with the rest."""
        if self.formats is not None:
            for flag, fmt in (("K", k_fmt), ("V", v_fmt)):
                if fmt.name not in self.formats:
                    raise UsageError(
                        f"{self.name} has no {fmt.name} {flag} cache; it offers "
                        f"{', '.join(sorted(self.formats))}"
                    )
        if self.same_kv_format and k_fmt != v_fmt:
            raise UsageError(f"{self.name} has one cache dtype for K and V: give --kv-dtype")
        return []


# ---------------------------------------------------------------- vLLM


VLLM_FORMATS = frozenset({"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"})


@dataclass(frozen=True, slots=True)
class Vllm(Engine):
    name: str = "vllm"
    title: str = "vLLM v1 (paged blocks)"
    page: int = 16
    formats: frozenset[str] | None = VLLM_FORMATS
    same_kv_format: bool = True
    max_num_batched_tokens: int = 2048
    """Scheduler budget per step (EngineArgs default for offline use); widens SWA layers."""

    def window_tokens(self, cache: SlidingWindow, seq: int) -> int:
        return min(cache.window - 1 + self.max_num_batched_tokens, seq)

    def cells(self, cache: LayerCache, seq: int, batch: int) -> int:
        if isinstance(cache, SlidingWindow):
            # SlidingWindowSpec.max_memory_usage_bytes: +1 block, the window need not
            # start on a block boundary
            return batch * (cdiv(self.window_tokens(cache, seq), self.page) + 1) * self.page
        if isinstance(cache, ConstantState):
            return 0
        return batch * cdiv(seq, self.page) * self.page

    def rule(self, cache: LayerCache, seq: int, batch: int) -> str:
        b = self.page
        if isinstance(cache, SlidingWindow):
            tokens = self.window_tokens(cache, seq)
            blocks = cdiv(tokens, b) + 1
            return (
                f"slots = {batch:,} x (cdiv(min(window {cache.window:,} - 1 + "
                f"max_num_batched_tokens {self.max_num_batched_tokens:,}, seq {seq:,}) = "
                f"{tokens:,}, block {b}) + 1 = {blocks:,} blocks) x {b} = {batch * blocks * b:,}"
            )
        blocks = cdiv(seq, b)
        return f"slots = {batch:,} x cdiv({seq:,}, block {b}) = {blocks:,} blocks x {b} = " + (
            f"{batch * blocks * b:,}"
        )

    # budget: the GPU defaults in fit.py are vLLM's (gpu_memory_utilization 0.9, its
    # logged activation peak + non-torch memory), so the base class's None keeps them


# ---------------------------------------------------------------- SGLang


@dataclass(frozen=True, slots=True)
class Sglang(Engine):
    name: str = "sglang"
    title: str = "SGLang (token pool + one padding page per layer)"
    page: int = 1
    formats: frozenset[str] | None = VLLM_FORMATS
    same_kv_format: bool = True

    def cells(self, cache: LayerCache, seq: int, batch: int) -> int:
        if isinstance(cache, ConstantState):
            return 0
        # windowed layers keep the full length outside SGLang's hybrid SWA pool
        return batch * pad(seq, self.page) + self.page

    def rule(self, cache: LayerCache, seq: int, batch: int) -> str:
        return (
            f"slots = {batch:,} x pad({seq:,}, page {self.page}) + {self.page} padding slot"
            f"{'s' if self.page > 1 else ''} = {self.cells(cache, seq, batch):,}"
        )

    def default_util(self, kind: str, tp: int) -> Fraction | None:
        # ServerArgs mem_fraction_static by tensor parallel size (server_args.py, v0.4)
        if kind == "cpu":
            return None
        for at_least, fraction in ((16, 79), (8, 81), (4, 85), (2, 87)):
            if tp >= at_least:
                return Fraction(fraction, 100)
        return Fraction(88, 100)

    def default_overhead(self, kind: str) -> int | None:
        # activations and CUDA graphs live in the 1 - mem_fraction_static it keeps back
        return 0 if kind != "cpu" else None


# ---------------------------------------------------------------- llama.cpp


LLAMA_FORMATS = frozenset(
    {"fp32", "fp16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"}
)


@dataclass(frozen=True, slots=True)
class LlamaCpp(Engine):
    name: str = "llamacpp"
    title: str = "llama.cpp b7000+ (-c seq x batch, --parallel batch, unified cache)"
    page: int = 256
    """n_ctx padding: 256 since PR #17046; 32 (256 with -fa) before."""
    formats: frozenset[str] | None = LLAMA_FORMATS
    n_ubatch: int = 512
    legacy: bool = False
    """<= b5400 (May 2025): 'KV self size' report, n_ctx padded to 32, no SWA cache."""

    def adapt(self, cache: LayerCache, spec: ModelSpec) -> LayerCache:
        if isinstance(cache, ConstantState):
            return replace(cache, value_bytes=4)  # recurrent r/s tensors are GGML_TYPE_F32
        if isinstance(cache, SlidingWindow) and self.legacy:
            raise UsageError(
                f"{spec.id} has sliding-window layers; the llamacpp-b5400 profile does not model "
                "that era's SWA cache: use --engine llamacpp"
            )
        return cache

    def n_ctx(self, seq: int, batch: int) -> int:
        return pad(seq * batch, self.page)

    def swa_cells(self, cache: SlidingWindow, seq: int, batch: int) -> int:
        return min(self.n_ctx(seq, batch), pad(cache.window * batch + self.n_ubatch, self.page))

    def cells(self, cache: LayerCache, seq: int, batch: int) -> int:
        if isinstance(cache, ConstantState):
            return 0
        if isinstance(cache, SlidingWindow):
            return self.swa_cells(cache, seq, batch)
        return self.n_ctx(seq, batch)

    def rule(self, cache: LayerCache, seq: int, batch: int) -> str:
        n_ctx = f"pad({seq:,} x {batch:,}, {self.page}) = {self.n_ctx(seq, batch):,}"
        if isinstance(cache, SlidingWindow):
            return (
                f"cells = min(n_ctx {n_ctx}, pad(n_swa {cache.window:,} x {batch:,} seqs + "
                f"n_ubatch {self.n_ubatch}, {self.page})) = {self.swa_cells(cache, seq, batch):,}"
            )
        return f"cells = n_ctx = {n_ctx}"

    def default_util(self, kind: str, tp: int) -> Fraction | None:
        return Fraction(1) if kind != "cpu" else None

    def default_overhead(self, kind: str) -> int | None:
        return 512 * MiB  # compute buffers at the default 512-token ubatch, CPU or GPU

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        Engine.check_formats(self, k_fmt, v_fmt)
        notes = []
        if v_fmt.block_values > 1:
            notes.append(f"a {v_fmt.name} V cache needs flash attention (-fa on)")
        return notes


# ---------------------------------------------------------------- transformers


@dataclass(frozen=True, slots=True)
class Transformers(Engine):
    name: str = "transformers"
    title: str = "Hugging Face transformers (StaticCache, max_cache_len = seq)"
    formats: frozenset[str] | None = frozenset({"fp32", "fp16", "bf16"})
    same_kv_format: bool = True

    def adapt(self, cache: LayerCache, spec: ModelSpec) -> LayerCache:
        if isinstance(cache, LatentAttention):
            # the attention module caches key_states and value_states after decompression
            return FullAttention(spec.num_query_heads, spec.k_head_dim, spec.resolved_v_head_dim)
        return cache

    def default_util(self, kind: str, tp: int) -> Fraction | None:
        return Fraction(1) if kind != "cpu" else None

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        try:
            return Engine.check_formats(self, k_fmt, v_fmt)
        except UsageError as exc:
            raise UsageError(
                f"{exc} (its QuantizedCache keeps the newest residual_length tokens unquantized; "
                "kvcalc does not model it)"
            ) from None


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine(),
        Vllm(),
        Sglang(),
        LlamaCpp(),
        LlamaCpp(
            name="llamacpp-b5400",
            title="llama.cpp <= b5400 (May 2025: n_ctx padded to 32, 'KV self size' report)",
            page=32,
            legacy=True,
        ),
        Transformers(),
    )
}
_ALIASES = {"llama.cpp": "llamacpp", "hf": "transformers", "exact": "ideal"}


def engine(name: str, block_size: int | None = None) -> Engine:
    """An engine profile by name; `block_size` sets vLLM's block or SGLang's page size."""
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
    if block_size is not None:
        if not isinstance(chosen, Vllm | Sglang):
            raise UsageError(f"--block-size applies to vllm and sglang, not {chosen.name}")
        if not 1 <= block_size <= 1 << 20:
            raise UsageError(f"--block-size must be between 1 and 1,048,576, got {block_size}")
        chosen = replace(chosen, page=block_size)
    return chosen
