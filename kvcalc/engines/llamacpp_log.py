"""What llama.cpp prints about its memory, as plain records (render_engine prints them).

Formats and order from src/llama-context.cpp, src/llama-kv-cache.cpp,
src/llama-kv-cache-iswa.cpp and src/llama-memory-recurrent.cpp (llama.cpp 0c1e570):
the flash-attention note, the context sizes, then each cache's lines, the SWA cache
always apart (even with as many cells as the base cache), then the recurrent state.
A backend buffer pads every tensor to 32 bytes (TENSOR_ALIGNMENT, ggml/src/ggml-impl.h).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvcalc.engines.base import LogRecord, pad
from kvcalc.engines.llamacpp_cache import PaddedV, ggml_name, row_values

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.engines.llamacpp import Context, LlamaCpp
    from kvcalc.sizing import GroupSize, SizeResult

TENSOR_ALIGNMENT = 32
GPU = "CUDA0"
CUDA_ALIGNMENT, ROW_PADDING = 128, 512
Tensors = tuple[tuple[int, int, "ElementFormat | None"], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashAttnForQuantizedV(LogRecord):
    """-fa auto with a quantized V cache: llama_init_from_model turns flash attention on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextSizes(LogRecord):
    """llama_context's 'n_seq_max = 1', 'n_ctx = 4096', ... lines (the ones kvcalc knows)."""

    n_seq_max: int
    n_ctx: int
    n_ctx_seq: int
    n_batch: int
    n_ubatch: int
    flash_attn: str
    """disabled | enabled | auto, as llama.cpp prints it."""
    kv_unified: bool
    n_rs_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NCtxRounded(LogRecord):
    """'n_ctx is not divisible by n_seq_max - rounding down to N' (N may be larger)."""

    n_ctx: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SwaFull(LogRecord):
    """--swa-full: 'using full-size SWA cache (ref: ...)'."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SwaCacheCells(LogRecord):
    """'creating non-SWA KV cache, size = N cells' or its SWA twin."""

    swa: bool
    cells: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VPadding(LogRecord):
    """'the V embeddings have different sizes across layers and FA is not enabled - ...'"""

    width: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KvBuffer(LogRecord):
    """'<device> KV buffer size = N MiB' (RS for the recurrent state): the backend buffer."""

    device: str
    nbytes: int
    recurrent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class KvCacheLine(LogRecord):
    """'llama_kv_cache: size = ... MiB (N cells, L layers, P/S seqs), K (t): ..., V (t): ...'"""

    cells: int
    """Cells per stream."""
    layers: int
    seqs: int
    streams: int
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
    """'llama_memory_recurrent: size = ... (N cells, L layers, S seqs R rs_seq), R, S, P'"""

    cells: int
    layers: int
    """Every layer of the model (hparams.n_layer()), recurrent or not."""
    seqs: int
    rs_seq: int
    r_bytes: int
    s_bytes: int
    p_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class OffloadedLayers(LogRecord):
    """load_tensors' 'offloading output layer to GPU', 'offloading N repeating layers to
    GPU', 'offloaded N/M layers to GPU' (src/llama-model.cpp, GPU builds only)."""

    n_gpu_layers: int
    num_layers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelBuffer(LogRecord):
    """'load_tensors: <buffer> model buffer size = N MiB' (CPU_Mapped: the mapped file span)."""

    buffer: str
    nbytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeBuffer(LogRecord):
    """'sched_reserve: <device> compute buffer size = N MiB': kvcalc's estimate, marked so."""

    device: str
    nbytes: int


def buffer_bytes(tensors: Tensors, device: str) -> int:
    """A backend buffer's size for these (bytes, values per row, format) tensors: the CPU
    and Metal pad each to 32 bytes (TENSOR_ALIGNMENT); CUDA adds one row's padding to 512
    values to a quantized tensor, then pads to 128 (ggml-cuda.cu get_alloc_size,
    get_alignment)."""
    total = 0
    for nbytes, values, fmt in tensors:
        if device != GPU:
            total += pad(nbytes, TENSOR_ALIGNMENT)
            continue
        if fmt is not None and fmt.block_values > 1 and values % ROW_PADDING and nbytes:
            nbytes += fmt.row_bytes(ROW_PADDING - values % ROW_PADDING)
        total += pad(nbytes, CUDA_ALIGNMENT)
    return total


def context_records(engine: LlamaCpp, ctx: Context, v_fmt: ElementFormat) -> list[LogRecord]:
    out: list[LogRecord] = []
    flash = {"off": "disabled", "on": "enabled", "auto": "auto"}[engine.flash_attn]
    if v_fmt.block_values > 1 and engine.flash_attn == "auto":
        out.append(FlashAttnForQuantizedV())
        flash = "enabled"
    if ctx.rounded:
        out.append(NCtxRounded(n_ctx=ctx.n_ctx))
    out.append(
        ContextSizes(
            n_seq_max=ctx.n_seq_max,
            n_ctx=ctx.n_ctx,
            n_ctx_seq=ctx.n_ctx_seq,
            n_batch=ctx.n_batch,
            n_ubatch=ctx.n_ubatch,
            flash_attn=flash,
            kv_unified=ctx.unified,
            n_rs_seq=0,  # clamped unless the arch rolls back state (see LlamaCpp.rs_seq)
        )
    )
    return out


def layer_tensors(g: GroupSize, k_fmt: ElementFormat, v_fmt: ElementFormat) -> Tensors:
    """The K and V tensors of one layer of a group: (bytes, values per row, format)."""
    k_values, v_values = row_values(g.cache)
    return ((g.k_bytes // g.count, k_values, k_fmt), (g.v_bytes // g.count, v_values, v_fmt))


def cache_records(
    members: list[GroupSize],
    cells: int,
    ctx: Context,
    padded_to: int | None,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    device: str = "CPU",
) -> list[LogRecord]:
    """One llama_kv_cache: its V-padding warning, buffer line and size line."""
    k_type, v_type = ggml_name(k_fmt), ggml_name(v_fmt)
    out: list[LogRecord] = []
    if padded_to is not None:
        out.append(VPadding(width=padded_to))
    if members:  # a backend buffer exists only when some layer has tensors
        # one K and one V tensor per layer (of every stream), each padded on its own
        buffer = sum(
            g.count * buffer_bytes(layer_tensors(g, k_fmt, v_fmt), device) for g in members
        )
        out.append(KvBuffer(device=device, nbytes=buffer))
    out.append(
        KvCacheLine(
            cells=cells,
            layers=sum(g.count for g in members),
            seqs=ctx.n_seq_max,
            streams=ctx.streams,
            k_type=k_type,
            v_type=v_type,
            k_bytes=sum(g.k_bytes for g in members),
            v_bytes=sum(g.v_bytes for g in members),
        )
    )
    return out


def recurrent_records(
    states: list[GroupSize], ctx: Context, num_layers: int, device: str = "CPU"
) -> list[LogRecord]:
    """llama_memory_recurrent: one f32 conv (R) and ssm (S) row per slot, per layer."""
    rows = ctx.n_seq_max
    layer_r = [rows * g.cache.conv_values * 4 for g in states]  # type: ignore[attr-defined]
    layer_s = [g.state_bytes // g.count - r for g, r in zip(states, layer_r, strict=True)]
    counts = [g.count for g in states]
    r_bytes = sum(n * r for n, r in zip(counts, layer_r, strict=True))
    s_bytes = sum(n * s for n, s in zip(counts, layer_s, strict=True))
    # one R and one S tensor per recurrent layer, each padded on its own
    buffer = sum(
        n * buffer_bytes(((r, 1, None), (s, 1, None)), device)
        for n, r, s in zip(counts, layer_r, layer_s, strict=True)
    )
    return [
        KvBuffer(device=device, nbytes=buffer, recurrent=True),
        RecurrentLine(
            cells=rows, layers=num_layers, seqs=rows, rs_seq=0, r_bytes=r_bytes, s_bytes=s_bytes
        ),
    ]


def report(
    engine: LlamaCpp, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
) -> tuple[LogRecord, ...]:
    """Every line llama.cpp prints about this cache, in its order."""
    k_type, v_type = ggml_name(k_fmt), ggml_name(v_fmt)
    attention = [g for g in result.groups if g.cache.kind != "state"]
    states = [g for g in result.groups if g.cache.kind == "state"]
    if engine.legacy:
        return (
            KvSelfSizeLine(
                k_type=k_type,
                v_type=v_type,
                k_bytes=sum(g.k_bytes for g in attention),
                v_bytes=sum(g.v_bytes for g in attention),
            ),
        )
    ctx = engine.context(result.seq, result.batch)
    device = engine.device
    out = context_records(engine, ctx, v_fmt)
    padded = [g.cache.v_width for g in attention if isinstance(g.cache, PaddedV)]
    padded_to = padded[0] if padded else None
    swa = [g for g in attention if g.cache.kind in ("sliding", "chunked")]
    if swa:
        # llama_kv_cache_iswa: a non-SWA cache and an SWA cache, two sets of lines always
        base = [g for g in attention if g not in swa]
        swa_cells = swa[0].cells // ctx.streams
        if engine.swa_full:
            out.append(SwaFull())
        out.append(SwaCacheCells(swa=False, cells=ctx.n_ctx_seq))
        out += cache_records(base, ctx.n_ctx_seq, ctx, padded_to, k_fmt, v_fmt, device)
        out.append(SwaCacheCells(swa=True, cells=swa_cells))
        out += cache_records(swa, swa_cells, ctx, padded_to, k_fmt, v_fmt, device)
    elif attention:
        out += cache_records(attention, ctx.n_ctx_seq, ctx, padded_to, k_fmt, v_fmt, device)
    if states:
        out += recurrent_records(states, ctx, result.num_layers, device)
    return tuple(out)
