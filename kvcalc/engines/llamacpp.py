"""llama.cpp: a context of n_ctx cells per stream, SWA layers in their own cache, by arch.

Rules read from the llama.cpp that llama-cpp-python 0.3.36 vendors (commit 0c1e570) and
replayed against it line by line (tests/test_llamacpp_replay.py: every load of
tests/data/llamacpp/conformance.json).  Source files are relative to that tree.

- Context (src/llama-context.cpp, llama_context::llama_context): n_batch =
  min(-c, -b) and n_ubatch = min(n_batch, -ub) from the requested -c; then
  n_ctx = pad(-c, 256).  Unified (-kvu): one stream of n_ctx cells shared by every
  slot.  Otherwise -np streams of pad(n_ctx / np, 256) cells each (-c 1024 -np 3:
  341 -> 512 cells per stream, 1,536 in all, with a "rounding down" warning).
- Which layers slide is the architecture's loader's decision (kvcalc/archs.py):
  llama, qwen2, deci and deepseek2 never slide, phi3 switches its window off,
  llama4 chunks at 8,192 whatever its key says.
- The SWA cache (src/llama-kv-cache-iswa.cpp) keeps pad(min(n_ctx_seq, n_swa x
  (np if unified else 1) + n_ubatch), 256) cells per stream; --swa-full keeps all.
- MLA keeps the latent as K and no V; a legacy DeepSeek2 GGUF is cached as full
  per-head K and V; recurrent r/s state is f32, one row per slot.
- With flash attention off V is stored transposed and every layer's V row is as wide as
  the widest layer's (src/llama-kv-cache.cpp, [TAG_V_CACHE_VARIABLE]).

Settings are llama-server's flags with its defaults (common/common.h, common/arg.cpp,
tools/server/server.cpp of that commit): -np auto = 4 slots sharing a unified cache,
-b 2048, -ub 512, -fa auto, f16 K and V, no --swa-full.  kvcalc's --seq is the tokens
one slot holds and --batch the requests in flight: -c = seq x requests (unified) or
seq x np (one stream per slot), and np is at least the requests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from kvcalc import archs
from kvcalc.engines.base import (
    BudgetDefaults,
    Engine,
    EnginePool,
    LogRecord,
    Rule,
    Setting,
    no_slots,
    pad,
    state_text,
)
from kvcalc.engines.llamacpp_cache import PaddedV, ggml_name, head_dims, v_width
from kvcalc.errors import UsageError
from kvcalc.layers import ChunkedLocal, FullAttention, LatentAttention, LayerGroup

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.layers import ConstantState, LayerCache
    from kvcalc.sizing import SizeResult
    from kvcalc.spec import ModelSpec

FORMATS = frozenset({"fp32", "fp16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"})
AUTO_SLOTS = 4  # tools/server/server.cpp: "n_parallel is set to auto, using n_parallel = 4"
# ggml.c's abort for a quantized K row that is not whole blocks with FA off (recorded:
# llama_hd16_mqa, one KV head of 16 values, q8_0 K)
VIEW_ASSERT = (
    "GGML_ASSERT(view_src == NULL || data_size == 0 || data_size + view_offs <= "
    "ggml_nbytes(view_src)) failed"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """llama_context's sizes for one question, as it prints them."""

    requested: int
    """-c as asked: --ctx-size, or seq x requests (unified) / seq x slots (streams)."""
    n_seq_max: int
    unified: bool
    n_batch: int
    n_ubatch: int
    n_ctx: int
    n_ctx_seq: int
    rounded: bool
    """n_ctx / n_seq_max was not whole streams: llama.cpp warns 'rounding down' (even up)."""

    @property
    def streams(self) -> int:
        return 1 if self.unified else self.n_seq_max


def base_slots(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> int:
    ctx = engine.context(seq, batch)
    return ctx.n_ctx_seq * ctx.streams


def base_text(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> str:
    ctx = engine.context(seq, batch)
    return f"cells = {context_text(engine, ctx)} = {ctx.n_ctx_seq * ctx.streams:,}"


def context_text(engine: LlamaCpp, ctx: Context) -> str:
    if engine.legacy or ctx.unified:
        return f"n_ctx = pad(-c {ctx.requested:,}, {engine.padding()})"
    return (
        f"{ctx.streams} streams x n_ctx_seq pad(pad(-c {ctx.requested:,}, 256) / "
        f"{ctx.n_seq_max}, 256) = {ctx.streams} x {ctx.n_ctx_seq:,}"
    )


def swa_cells(engine: LlamaCpp, ctx: Context, window: int) -> int:
    """Cells per stream of the SWA cache (src/llama-kv-cache-iswa.cpp): a window per slot
    when unified (one per stream otherwise), plus one ubatch, padded; all with --swa-full."""
    if engine.swa_full:
        return ctx.n_ctx_seq
    per_stream = window * (ctx.n_seq_max if ctx.unified else 1) + ctx.n_ubatch
    return pad(min(ctx.n_ctx_seq, per_stream), 256)


def swa_slots(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> int:
    ctx = engine.context(seq, batch)
    return swa_cells(engine, ctx, window_of(cache)) * ctx.streams


def swa_text(engine: LlamaCpp, cache: LayerCache, seq: int, batch: int) -> str:
    ctx = engine.context(seq, batch)
    cells = swa_cells(engine, ctx, window_of(cache))
    if engine.swa_full:
        rule = f"--swa-full: n_ctx_seq {ctx.n_ctx_seq:,}"
    else:
        slots = f" x {ctx.n_seq_max} slots" if ctx.unified else ""
        rule = (
            f"pad(min(n_ctx_seq {ctx.n_ctx_seq:,}, n_swa {window_of(cache):,}{slots} + "
            f"n_ubatch {ctx.n_ubatch}), 256) = {cells:,}"
        )
    return f"cells = {ctx.streams} stream{'s' if ctx.streams > 1 else ''} x {rule}"


def window_of(cache: LayerCache) -> int:
    """n_swa: the window of a sliding layer, the chunk of a chunked one."""
    saturates = cache.saturates_at
    assert saturates is not None, "only windowed layers have an SWA cache"
    return saturates


def arch_store(engine: LlamaCpp, cache: LayerCache, spec: ModelSpec) -> LayerCache:
    """A sliding or chunked layer as llama.cpp's loader for this architecture runs it."""
    arch = spec.architecture
    whole = FullAttention(cache.num_kv_heads, *head_dims(cache))
    if engine.legacy:
        return whole  # <= b5400 had no SWA cache: every layer kept n_ctx cells
    if arch is None:
        return cache  # no architecture on record: take the spec's window at its word
    if arch in archs.CHUNKED_WINDOW:
        chunk = archs.CHUNKED_WINDOW[arch]
        return ChunkedLocal(cache.num_kv_heads, *head_dims(cache), chunk)
    return cache if arch in archs.SWA_ARCHS else whole


def latent_store(engine: LlamaCpp, cache: LayerCache, spec: ModelSpec) -> LayerCache:
    if spec.legacy_mla_gguf:
        # is_mla() is false without the *_mla keys: ordinary MHA, one K and V per query head
        return FullAttention(spec.num_query_heads, spec.k_head_dim, spec.resolved_v_head_dim)
    return cache


def f32_state(engine: LlamaCpp, cache: ConstantState, spec: ModelSpec) -> LayerCache:
    return replace(cache, value_bytes=4)  # recurrent r/s tensors are GGML_TYPE_F32


BASE = Rule(slots=base_slots, explain=base_text)
SWA = Rule(slots=swa_slots, explain=swa_text, store=arch_store)
TOKENS = "a count in kvcalc's grammar (512, 4K)"


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaCpp(Engine):
    ctx_size: int | None = None
    """-c: total cells asked for; None: seq x requests (or x slots without -kvu)."""
    parallel: int | None = None
    """-np: slots; None: llama-server's auto, 4 slots sharing one unified cache."""
    kv_unified: bool | None = None
    """-kvu / -no-kvu; None: unified with auto slots, one stream per slot with -np."""
    swa_full: bool = False
    n_ubatch: int = 512
    n_batch: int = 2048
    flash_attn: str = "auto"
    n_gpu_layers: int = -1
    """-ngl: layers (the output head counts as one) on the GPU; -1 auto, -2 all."""
    rs_seq: int = 0
    """n_rs_seq, recurrent snapshots for speculative decoding (set by llama-server from
    its draft settings, no flag of its own).  llama.cpp clamps it to 0 except on the
    architectures in archs.RS_ROLLBACK_ARCHS, which kvcalc refuses."""
    device: str = "CPU"
    """The backend buffer every layer's cache is in when all layers sit on one device: CPU;
    CUDA0 on a GPU, MTL0 on Apple silicon (the buffer-type names of ggml-cuda.cu and
    ggml-metal.cpp).  Partial offload names each layer's device itself (offload.py)."""
    legacy: bool = False
    """<= b5400 (May 2025): 'KV self size' report, n_ctx padded to 32 (256 with flash
    attention), every layer (sliding too) at n_ctx, one cache shared by every request."""

    RULES: ClassVar = {
        "full": BASE,
        "sliding": SWA,
        "chunked": SWA,
        "latent": Rule(slots=base_slots, explain=base_text, store=latent_store),
        "state": Rule(slots=no_slots, explain=state_text, store=f32_state),
    }
    SETTINGS: ClassVar = {
        "ctx_size": Setting(field="ctx_size", flag="--ctx-size", low=1, high=1 << 40),
        "parallel": Setting(field="parallel", flag="--parallel", low=1, high=256),
        "kv_unified": Setting(field="kv_unified", flag="--kv-unified", kind="switch"),
        "swa_full": Setting(field="swa_full", flag="--swa-full", kind="flag"),
        "ubatch_size": Setting(field="n_ubatch", flag="--ubatch-size", low=1, high=1 << 20),
        "batch_size": Setting(field="n_batch", flag="--batch-size", low=1, high=1 << 20),
        "flash_attn": Setting(
            field="flash_attn", flag="--flash-attn", kind="choice", choices=("on", "off", "auto")
        ),
        "n_gpu_layers": Setting(
            field="n_gpu_layers", flag="--n-gpu-layers", kind="layers", low=0, high=1 << 20
        ),
    }

    def model_report(
        self,
        spec: ModelSpec,
        result: SizeResult,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
        kv_heads: int | None,
    ) -> tuple[LogRecord, ...]:
        if self.n_gpu_layers == -1:
            return self.size_report(result, k_fmt, v_fmt)
        # -ngl: llama.cpp's lines with the layers split between GPU and CPU
        if kv_heads is not None:
            raise UsageError("-ngl sizes the model as configured: drop --kv-heads/--attention")
        from kvcalc.offload import offload, offload_report

        split = offload(spec, self, result.seq, result.batch, k_fmt, v_fmt, self.n_gpu_layers)
        return offload_report(self, result, split, k_fmt, v_fmt)

    def offload_answer(
        self,
        spec: ModelSpec,
        *,
        device_kind: str,
        device_bytes: int,
        devices: int,
        util: Fraction,
        overhead_bytes: int | None,
        seq: int | None,
        batch: int,
        kv_heads: int | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> Any:
        """llama.cpp's -ngl question: one GPU and a GGUF's tensor table (kvcalc/offload.py)."""
        if self.legacy:
            return None
        asked = self.n_gpu_layers != -1
        if device_kind != "gpu" or devices > 1 or spec.gguf is None or kv_heads is not None:
            if asked:
                raise UsageError(
                    "-ngl splits a GGUF's layers between one GPU and the CPU: give the .gguf "
                    "file and --gpu NAME (or --mem SIZE), one GPU"
                )
            return None
        from kvcalc.offload import gpu_budget, solve_offload

        budget, margin = gpu_budget(device_bytes, util, overhead_bytes)
        return solve_offload(
            spec, self, seq=seq, batch=batch, k_fmt=k_fmt, v_fmt=v_fmt, budget=budget, margin=margin
        )

    def on_device(self, kind: str) -> LlamaCpp:
        # every layer on the device: llama.cpp names the KV buffers after its backend
        if kind == "cpu":
            return self
        return replace(self, device="CUDA0" if kind == "gpu" else "MTL0")

    def validate(self) -> None:
        if self.parallel is None and self.kv_unified is False:
            raise UsageError(
                "--no-kv-unified needs --parallel N: llama-server's auto slots (no -np) always "
                "share one unified cache"
            )
        if not self.legacy:
            return
        # <= b5400: one cache of -c cells, no SWA cache, no auto flash attention
        changed = {
            "--parallel": self.parallel is not None,
            "--kv-unified": self.kv_unified is not None,
            "--swa-full": self.swa_full,
            "--ubatch-size": self.n_ubatch != 512,
            "--batch-size": self.n_batch != 2048,
            "--n-gpu-layers": self.n_gpu_layers != -1,
            "--flash-attn auto": self.flash_attn == "auto",
        }
        given = [flag for flag, yes in changed.items() if yes]
        if given:
            raise UsageError(
                f"{', '.join(given)}: llamacpp-b5400 is modelled as one cache of -c = seq x "
                "batch cells (padded to 32, or 256 with -fa on); use --engine llamacpp"
            )

    @property
    def unified(self) -> bool:
        if self.legacy or self.parallel is None:
            return True
        return bool(self.kv_unified)

    def padding(self) -> int:
        """n_ctx's padding: 256 (PR #17046); before it 32, or 256 with flash attention."""
        return 256 if self.flash_attn == "on" or not self.legacy else 32

    def slots_for(self, batch: int) -> int:
        """n_seq_max: the slots (-np, or 4 when auto), raised to the requests in flight."""
        if self.legacy:
            return batch
        return max(self.parallel or AUTO_SLOTS, batch)

    def context(self, seq: int, batch: int) -> Context:
        """n_ctx, n_ctx_seq, n_batch and n_ubatch for `batch` requests of `seq` tokens."""
        slots = self.slots_for(batch)
        unified = self.unified
        requested = self.ctx_size
        if requested is None:
            requested = seq * (batch if unified else slots)
        n_batch = min(requested, self.n_batch)  # from the unpadded -c (causal models)
        n_ubatch = min(n_batch, self.n_ubatch)
        n_ctx = pad(requested, self.padding())
        n_ctx_seq, rounded = n_ctx, False
        if not unified:
            n_ctx_seq = pad(n_ctx // slots, 256)
            rounded = n_ctx_seq * slots != n_ctx
            n_ctx = n_ctx_seq * slots
        return Context(
            requested=requested,
            n_seq_max=slots,
            unified=unified,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            n_ctx=n_ctx,
            n_ctx_seq=n_ctx_seq,
            rounded=rounded,
        )

    def slot_tokens(self, batch: int) -> int | None:
        return None if self.ctx_size is None else self.context(0, batch).n_ctx_seq

    def state_requests(self, batch: int) -> int:
        # llama_memory_recurrent keeps max(1, n_seq_max) cells whatever the requests
        return self.slots_for(batch)

    def stored(self, groups: tuple[LayerGroup, ...], spec: ModelSpec) -> tuple[LayerGroup, ...]:
        stored = Engine.stored(self, groups, spec)
        windows = {window_of(g.cache) for g in stored if g.cache.kind in ("sliding", "chunked")}
        if self.rs_seq and spec.architecture in archs.RS_ROLLBACK_ARCHS:
            raise UsageError(
                f"n_rs_seq {self.rs_seq} on {spec.architecture}: llama.cpp keeps recurrent "
                "snapshots for rollback there, which kvcalc does not model"
            )
        if len(windows) > 1:
            raise UsageError(
                f"{spec.id} has sliding windows of {', '.join(map(str, sorted(windows)))} tokens; "
                "llama.cpp keeps one n_swa per model"
            )
        if self.legacy or self.flash_attn != "off":
            return stored
        return pad_v(stored, spec)

    def check(
        self, groups: tuple[LayerGroup, ...], k_fmt: ElementFormat, v_fmt: ElementFormat
    ) -> None:
        """llama_init_from_model's refusals, in its order and words (src/llama-context.cpp),
        and the abort a quantized K row of partial blocks causes without flash attention."""
        k_type, v_type = ggml_name(k_fmt), ggml_name(v_fmt)
        caches = [g.cache for g in groups if g.cache.kind != "state"]
        if any(isinstance(c, LatentAttention) for c in caches) and k_fmt != v_fmt:
            raise UsageError(
                f"llama.cpp: model does not support different K ({k_type}) and V ({v_type}) "
                "cache types"
            )
        if v_fmt.block_values > 1 and self.flash_attn == "off":
            raise UsageError("llama.cpp: quantized V cache requires flash_attn to be enabled")
        fa_on = self.flash_attn != "off"
        for which, fmt, index in (("K", k_fmt, 0), ("V", v_fmt, 1)):
            if not fa_on or fmt.block_values == 1:
                continue
            for cache in caches:
                dim = head_dims(cache)[index]
                if dim % fmt.block_values:
                    raise UsageError(
                        f"llama.cpp: {which} cache type {ggml_name(fmt)} with block size "
                        f"{fmt.block_values} does not divide n_embd_head_{which.lower()}={dim}"
                    )
        if not fa_on and k_fmt.block_values > 1:
            for cache in caches:
                width = cache.num_kv_heads * head_dims(cache)[0]
                if isinstance(cache, LatentAttention):
                    width = head_dims(cache)[0]
                if width % k_fmt.block_values:
                    raise UsageError(
                        f"llama.cpp aborts: a {k_type} K row of {width} values is not whole "
                        f"{k_fmt.block_values}-value blocks without flash attention "
                        f"(ggml.c: {VIEW_ASSERT}); use -fa on or an f16 K cache"
                    )

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        notes = Engine.check_formats(self, k_fmt, v_fmt)
        if v_fmt.block_values > 1 and self.flash_attn == "auto" and not self.legacy:
            notes.append("a quantized V cache turns flash attention on (-fa auto)")
        return notes

    def size_report(
        self, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
    ) -> tuple[LogRecord, ...]:
        from kvcalc.engines.llamacpp_log import report

        return report(self, result, k_fmt, v_fmt)

    def fit_report(
        self,
        pool: EnginePool | None,
        at_answer: SizeResult | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> tuple[LogRecord, ...]:
        return () if at_answer is None else self.size_report(at_answer, k_fmt, v_fmt)


def pad_v(groups: tuple[LayerGroup, ...], spec: ModelSpec) -> tuple[LayerGroup, ...]:
    """[TAG_V_CACHE_VARIABLE]: when V widths differ between any two layers of the model
    (recurrent layers included, as llama.cpp's n_embd_v_gqa sees them), every per-head V
    row is widened to the widest: Deci with KV heads 2,4,1,2 x 32 keeps 4 x 128 values."""
    attention = [
        g.cache.num_kv_heads * head_dims(g.cache)[1] for g in groups if g.cache.kind != "state"
    ]
    widths = {v_width(g.cache, spec, max(attention, default=0)) for g in groups}
    if len(widths) < 2:
        return groups
    widest = max(widths)
    return tuple(
        g
        if isinstance(g.cache, LatentAttention) or g.cache.kind == "state"
        else LayerGroup(PaddedV(g.cache, widest), g.count)
        for g in groups
    )


_BUDGET = BudgetDefaults(
    util=((1, Fraction(1)),),
    cpu_util=Fraction(1),
    overhead_bytes=512 * 2**20,  # compute buffers at the default 512-token ubatch
    cpu_overhead_bytes=512 * 2**20,
)
LLAMACPP = LlamaCpp(
    name="llamacpp",
    title="llama.cpp 0c1e570 (llama-cpp-python 0.3.36) with llama-server's defaults",
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
    flash_attn="off",
)
