"""llama.cpp: one cache of n_ctx cells shared by every sequence, SWA layers in their own.

Rules from src/llama-context.cpp and src/llama-kv-cache-iswa.cpp:
- -c seq x batch cells (--parallel batch, one unified cache), padded to 256 (since
  PR #17046, Nov 2025; 32, or 256 with flash attention, before it): -c 35,000 is
  35,072 cells;
- sliding-window (and Llama 4's chunked) layers keep
  min(n_ctx, pad(n_swa x n_seq + n_ubatch, 256)) cells: Gemma 2 9B at 32,768 x 2
  keeps min(65,536, pad(4,096 x 2 + 512) = 8,704);
- MLA keeps the latent as K only; recurrent state r/s tensors are f32.
Budget: all of the device (no utilization cap) and 512 MiB of compute buffers at
the default 512-token ubatch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from kvcalc.engines.base import (
    BudgetDefaults,
    Engine,
    EnginePool,
    LogRecord,
    Rule,
    no_slots,
    pad,
    state_text,
)
from kvcalc.errors import UsageError

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import ConstantState, LayerCache, SlidingWindow
    from kvcalc.sizing import SizeResult
    from kvcalc.spec import ModelSpec

FORMATS = frozenset({"fp32", "fp16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"})
_GGML_NAMES = {"fp32": "f32", "fp16": "f16"}


def ggml_name(fmt: ElementFormat) -> str:
    """ggml_type_name of a cache format: fp16 -> f16, q8_0 -> q8_0."""
    return _GGML_NAMES.get(fmt.name, fmt.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class KvCacheLine(LogRecord):
    """'llama_kv_cache: size = ... MiB (N cells, L layers, S/1 seqs), K (t): ..., V (t): ...'"""

    cells: int
    layers: int
    seqs: int
    k_type: str
    v_type: str
    k_bytes: int
    v_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KvSelfSizeLine(LogRecord):
    """Up to b5400: 'llama_kv_cache_unified: KV self size = ... MiB, K (t): ..., V (t): ...'"""

    k_type: str
    v_type: str
    k_bytes: int
    v_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RecurrentLine(LogRecord):
    """'llama_memory_recurrent: size = ... MiB (N cells, L layers, S seqs), R (f32): ...'"""

    cells: int
    layers: int
    seqs: int
    r_bytes: int
    s_bytes: int


def n_ctx(engine: LlamaCpp, seq: int, batch: int) -> int:
    return pad(seq * batch, engine.page)


def n_ctx_text(engine: LlamaCpp, seq: int, batch: int) -> str:
    return f"pad({seq:,} x {batch:,}, {engine.page}) = {n_ctx(engine, seq, batch):,}"


def base_slots(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> int:
    return n_ctx(engine, seq, batch)


def base_text(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> str:
    return f"cells = n_ctx = {n_ctx_text(engine, seq, batch)}"


def swa_width(cache: LayerCache) -> int:
    """n_swa: the window of a sliding layer, the chunk of a chunked one."""
    saturates = cache.saturates_at
    assert saturates is not None, "only windowed layers have an SWA cache"
    return saturates


def swa_slots(engine: LlamaCpp, cache: SlidingWindow, seq: int, batch: int) -> int:
    swa = pad(swa_width(cache) * batch + engine.n_ubatch, engine.page)
    return min(n_ctx(engine, seq, batch), swa)


def swa_text(engine: LlamaCpp, cache: SlidingWindow, seq: int, batch: int) -> str:
    return (
        f"cells = min(n_ctx {n_ctx_text(engine, seq, batch)}, pad(n_swa "
        f"{swa_width(cache):,} x {batch:,} seqs + n_ubatch {engine.n_ubatch}, {engine.page})) "
        f"= {swa_slots(engine, cache, seq, batch):,}"
    )


def swa_store(engine: LlamaCpp, cache: LayerCache, spec: ModelSpec) -> LayerCache:
    if engine.legacy:
        raise UsageError(
            f"{spec.id} has sliding-window layers; the llamacpp-b5400 profile does not model "
            "that era's SWA cache: use --engine llamacpp"
        )
    return cache


def f32_state(engine: LlamaCpp, cache: ConstantState, spec: ModelSpec) -> LayerCache:
    return replace(cache, value_bytes=4)  # recurrent r/s tensors are GGML_TYPE_F32


BASE = Rule(slots=base_slots, explain=base_text)
SWA = Rule(slots=swa_slots, explain=swa_text, store=swa_store)


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaCpp(Engine):
    n_ubatch: int = 512
    legacy: bool = False
    """<= b5400 (May 2025): 'KV self size' report, n_ctx padded to 32, no SWA cache."""

    RULES: ClassVar = {
        "full": BASE,
        "sliding": SWA,
        "chunked": SWA,
        "latent": BASE,  # the latent is cached as K, V is empty
        "state": Rule(slots=no_slots, explain=state_text, store=f32_state),
    }

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        notes = Engine.check_formats(self, k_fmt, v_fmt)
        if v_fmt.block_values > 1:
            notes.append(f"a {v_fmt.name} V cache needs flash attention (-fa on)")
        return notes

    def size_report(
        self, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
    ) -> tuple[LogRecord, ...]:
        k_type, v_type = ggml_name(k_fmt), ggml_name(v_fmt)
        attention = [g for g in result.groups if g.cache.kind != "state"]
        states = [g for g in result.groups if g.cache.kind == "state"]
        if self.legacy:
            return (
                KvSelfSizeLine(
                    k_type=k_type,
                    v_type=v_type,
                    k_bytes=sum(g.k_bytes for g in attention),
                    v_bytes=sum(g.v_bytes for g in attention),
                ),
            )
        lines: list[LogRecord] = []
        # one cache per cell count: the base (non-SWA) cache first, then the SWA cache
        for cells in sorted({g.cells for g in attention}, reverse=True):
            members = [g for g in attention if g.cells == cells]
            lines.append(
                KvCacheLine(
                    cells=cells,
                    layers=sum(g.count for g in members),
                    seqs=result.batch,
                    k_type=k_type,
                    v_type=v_type,
                    k_bytes=sum(g.k_bytes for g in members),
                    v_bytes=sum(g.v_bytes for g in members),
                )
            )
        if states:
            total = sum(g.state_bytes for g in states)
            conv = sum(
                g.count * result.batch * g.cache.conv_values * g.cache.value_bytes  # type: ignore[attr-defined]
                for g in states
            )
            lines.append(
                RecurrentLine(
                    cells=result.batch,
                    layers=result.num_layers,
                    seqs=result.batch,
                    r_bytes=conv,
                    s_bytes=total - conv,
                )
            )
        return tuple(lines)

    def fit_report(
        self,
        pool: EnginePool | None,
        at_answer: SizeResult | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> tuple[LogRecord, ...]:
        return () if at_answer is None else self.size_report(at_answer, k_fmt, v_fmt)


_BUDGET = BudgetDefaults(
    util=((1, Fraction(1)),),
    cpu_util=Fraction(1),
    overhead_bytes=512 * 2**20,  # compute buffers at the default 512-token ubatch
    cpu_overhead_bytes=512 * 2**20,
)
LLAMACPP = LlamaCpp(
    name="llamacpp",
    title="llama.cpp b7000+ (-c seq x batch, --parallel batch, unified cache)",
    page=256,
    formats=FORMATS,
    same_kv_format=False,
    budget=_BUDGET,
)
LLAMACPP_B5400 = LlamaCpp(
    name="llamacpp-b5400",
    title="llama.cpp <= b5400 (May 2025: n_ctx padded to 32, 'KV self size' report)",
    page=32,
    formats=FORMATS,
    same_kv_format=False,
    budget=_BUDGET,
    legacy=True,
)
