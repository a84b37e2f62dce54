"""llama.cpp partial offload: what -ngl puts on the GPU, and what each device then holds.

Placement (src/llama-model.cpp load_tensors, llama.cpp 0c1e570): -ngl N puts the last
N - 1 repeating layers and the output head on the GPU (i_gpu_start = n_layer + 1 - N;
the head counts as one of the N), the input embeddings always stay on the CPU.  Each
layer's K/V (and recurrent state) lives on its layer's device.  Per device:

- weights: exact bytes from the GGUF's tensor table (spec.gguf).  The GPU holds a CUDA
  buffer of its parts (each tensor padded to 128 bytes); the CPU maps the file from its
  first CPU tensor to its last one (CPU_Mapped), GPU tensors in between included;
- KV: each layer's K and V tensors as llama.cpp allocates them (engines/llamacpp.py),
  padded 128 bytes apart on CUDA, 32 on the CPU;
- compute: an ESTIMATE (compute_estimate below), because ggml-alloc measures it by
  reserving the worst-case graph; the tiny-model recording bounds it from above.

What fits: weights + KV + state + compute on the GPU within its memory x util minus
a margin: --overhead, else the 1,024 MiB llama-server's own --fit leaves free per
device (common/common.h fit_params_target).  Modelled on one CUDA GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.engines.base import LogRecord
from kvcalc.engines.llamacpp_cache import row_values
from kvcalc.engines.llamacpp_log import (
    GPU,
    ComputeBuffer,
    KvBuffer,
    ModelBuffer,
    OffloadedLayers,
    SwaCacheCells,
    buffer_bytes,
)
from kvcalc.errors import UsageError
from kvcalc.sizing import engine_groups

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.engines.llamacpp import LlamaCpp
    from kvcalc.layers import LayerCache
    from kvcalc.sizing import SizeResult
    from kvcalc.spec import GgufLayout, ModelSpec

SWA_KINDS = ("sliding", "chunked")
FIT_MARGIN = 1024 * 2**20  # llama-server --fit-target default per device (common/common.h)
COMPUTE_WIDTHS = Fraction(15, 2)
"""Per-token activations the compute estimate allows for: 7.5 x the widest activation (or
the logits and one hidden row, if larger).  The smallest factor that bounds all 712 recorded
CPU compute buffers from above (tests/test_offload.py checks it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Which parts -ngl puts on the GPU."""

    n_gpu_layers: int
    """As llama.cpp counts them: repeating layers on the GPU + 1 for the output head."""
    num_layers: int
    gpu_start: int
    """First repeating layer on the GPU (num_layers: none)."""

    @property
    def output_on_gpu(self) -> bool:
        return self.n_gpu_layers >= 1

    def on_gpu(self, part: int) -> bool:
        """Part -1 is the input (always on the CPU), num_layers the output head."""
        return part >= max(self.gpu_start, 0)


def placement(num_layers: int, ngl: int) -> Placement:
    """-ngl N (negative: all) as llama.cpp places it: i_gpu_start = max(n_layer + 1 - N, 0)."""
    n = num_layers + 1 if ngl < 0 else min(ngl, num_layers + 1)
    return Placement(n_gpu_layers=n, num_layers=num_layers, gpu_start=max(num_layers + 1 - n, 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerMemory:
    """One layer's cache tensors as llama.cpp allocates them, and where."""

    index: int
    cache: LayerCache
    tensors: tuple[tuple[int, int, ElementFormat | None], ...]
    """(bytes, values per row, format; None for f32 state) of each tensor: K and V, or R and S."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMemory:
    """What one device holds, in bytes, as its buffers report it."""

    device: str
    model_bytes: int
    kv_bytes: int
    state_bytes: int
    compute_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.kv_bytes + self.state_bytes + self.compute_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Offload:
    """The model split by -ngl at (seq, batch): each device's buffers."""

    placement: Placement
    seq: int
    batch: int
    gpu: DeviceMemory
    cpu: DeviceMemory
    layers: tuple[LayerMemory, ...]


def layer_memory(
    spec: ModelSpec,
    engine: LlamaCpp,
    seq: int,
    batch: int,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
) -> tuple[LayerMemory, ...]:
    """Every layer's cache tensors, in layer order, as engines/llamacpp.py sizes them."""
    out: list[LayerMemory] = []
    for group in engine_groups(spec, None, engine):
        cache = group.cache
        tensors: tuple[tuple[int, int, ElementFormat | None], ...]
        if cache.kind == "state":
            rows = engine.state_requests(batch)
            conv = cache.conv_values  # type: ignore[attr-defined]
            ssm = cache.recurrent_values  # type: ignore[attr-defined]
            tensors = ((rows * conv * 4, conv, None), (rows * ssm * 4, ssm, None))
        else:
            cells = engine.slots(cache, seq, batch)
            k_values, v_values = row_values(cache)
            tensors = (
                (cells * cache.k_token_bytes(k_fmt), k_values, k_fmt),
                (cells * cache.v_token_bytes(v_fmt), v_values, v_fmt),
            )
        for _ in range(group.count):
            out.append(LayerMemory(index=len(out), cache=cache, tensors=tensors))
    return tuple(out)


def model_bytes(layout: GgufLayout, where: Placement) -> tuple[int, int]:
    """(CPU_Mapped span, CUDA buffer) of the weights under a placement."""
    cpu = [p for p in layout.parts if not where.on_gpu(p.part)]
    gpu = [p for p in layout.parts if where.on_gpu(p.part)]
    span = max((p.last for p in cpu), default=0) - min((p.first for p in cpu), default=0)
    return span, sum(p.cuda_bytes for p in gpu)


def compute_estimate(
    spec: ModelSpec, engine: LlamaCpp, seq: int, batch: int, layers: tuple[LayerMemory, ...]
) -> int:
    """An upper-bound estimate of the worst-case graph ggml-alloc reserves (one ubatch).

    attention: flash attention on, one f16 mask per cache (cells per stream x n_ubatch);
    off, f32 masks and the f32 scores of the largest cache (cells x n_ubatch x heads);
    plus per token 4 B x max(n_vocab + n_embd: the logits, 7.5 x the widest activation).
    Llama 3 8B, -c 8192, FA on: 8,192 x 512 x 2 B + 512 x 4 x (128,256 + 4,096) B =
    8 MiB + 258.5 MiB = 266.5 MiB.
    """
    ctx = engine.context(seq, batch)
    n_ub = ctx.n_ubatch
    cells = {
        layer.cache.kind in ("sliding", "chunked"): engine.slots(layer.cache, seq, batch)
        // ctx.streams
        for layer in layers
        if layer.cache.kind != "state"
    }
    if engine.flash_attn != "off":
        attention = sum(c * n_ub * 2 for c in cells.values())
    elif cells:
        scores = max(cells.values()) * n_ub * 4 * spec.num_query_heads
        attention = sum(c * n_ub * 4 for c in cells.values()) + scores
    else:
        attention = 0
    layout = spec.gguf
    vocab = layout.vocab_size if layout else 0
    widest = layout.widest_activation if layout else 4 * spec.hidden_size
    per_token = max(Fraction(vocab + spec.hidden_size), COMPUTE_WIDTHS * widest)
    return attention + int(n_ub * 4 * per_token)


def offload(
    spec: ModelSpec,
    engine: LlamaCpp,
    seq: int,
    batch: int,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    ngl: int,
) -> Offload:
    """Each device's buffers with -ngl `ngl` for `batch` requests of `seq` tokens."""
    if spec.gguf is None:
        raise UsageError(
            f"{spec.id}: partial offload needs the GGUF's tensor table (per-layer weight "
            "bytes): give the .gguf file"
        )
    where = placement(spec.num_layers, ngl)
    layers = layer_memory(spec, engine, seq, batch, k_fmt, v_fmt)
    mapped, cuda = model_bytes(spec.gguf, where)
    compute = compute_estimate(spec, engine, seq, batch, layers)

    def device_sum(device: str, state: bool) -> int:
        return sum(
            buffer_bytes(layer.tensors, device)
            for layer in layers
            if (layer.cache.kind == "state") == state
            and where.on_gpu(layer.index) == (device == GPU)
        )

    return Offload(
        placement=where,
        seq=seq,
        batch=batch,
        # op offload runs the big matrix products of CPU layers on the GPU too, so the
        # GPU reserves the graph whatever -ngl is (a conservative reading)
        gpu=DeviceMemory(
            device=GPU,
            model_bytes=cuda,
            kv_bytes=device_sum(GPU, False),
            state_bytes=device_sum(GPU, True),
            compute_bytes=compute,
        ),
        cpu=DeviceMemory(
            device="CPU",
            model_bytes=mapped,
            kv_bytes=device_sum("CPU", False),
            state_bytes=device_sum("CPU", True),
            compute_bytes=0,
        ),
        layers=layers,
    )


def offload_report(
    engine: LlamaCpp,
    result: SizeResult,
    split: Offload,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
) -> tuple[LogRecord, ...]:
    """llama.cpp's lines with the model split: layers placed, each buffer per device (CPU
    before CUDA0, as llama.cpp sorts buffer types by name), the compute estimate."""
    where = split.placement
    out: list[LogRecord] = [
        OffloadedLayers(n_gpu_layers=where.n_gpu_layers, num_layers=where.num_layers),
        ModelBuffer(buffer="CPU_Mapped", nbytes=split.cpu.model_bytes),
    ]
    if split.gpu.model_bytes:
        out.append(ModelBuffer(buffer=GPU, nbytes=split.gpu.model_bytes))
    swa_cache: bool | None = None  # None: one cache; False/True: iswa's non-SWA/SWA cache

    def in_cache(layer: LayerMemory, state: bool) -> bool:
        if (layer.cache.kind == "state") != state:
            return False
        return state or swa_cache is None or (layer.cache.kind in SWA_KINDS) == swa_cache

    for record in engine.size_report(result, k_fmt, v_fmt):
        if isinstance(record, SwaCacheCells):
            swa_cache = record.swa
        if not isinstance(record, KvBuffer):
            out.append(record)
            continue
        members = [layer for layer in split.layers if in_cache(layer, record.recurrent)]
        for device in ("CPU", GPU):
            mine = [m for m in members if where.on_gpu(m.index) == (device == GPU)]
            if mine:
                nbytes = sum(buffer_bytes(m.tensors, device) for m in mine)
                out.append(KvBuffer(device=device, nbytes=nbytes, recurrent=record.recurrent))
    out.append(ComputeBuffer(device=GPU, nbytes=split.gpu.compute_bytes))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class OffloadAnswer:
    """fit's partial-offload answer: the most layers for a context, or the longest context
    for -ngl, within the GPU's budget."""

    asked: str
    """'layers' (the most -ngl at `seq`) or 'context' (the longest context at -ngl)."""
    budget_bytes: int
    """GPU memory x util - margin: what weights, KV, state and compute may use."""
    margin_bytes: int
    n_gpu_layers: int
    """The answer (asked 'layers'; -1 when not even -ngl 0 fits) or the -ngl given."""
    max_layers: int
    seq: int
    """The context asked for (asked 'layers') or the answer (asked 'context'; 0: none)."""
    batch: int
    max_context: int
    """The model's own limit, which caps a 'context' answer."""
    split: Offload | None
    """Each device's buffers at the answer; None when nothing fits."""
    report: tuple[LogRecord, ...]

    @property
    def fits(self) -> bool:
        return self.split is not None and self.split.gpu.total_bytes <= self.budget_bytes


def gpu_budget(device_bytes: int, util: Fraction, margin: int | None) -> tuple[int, int]:
    """(budget, margin): usable memory less --overhead, or less llama-server's --fit margin."""
    chosen = FIT_MARGIN if margin is None else margin
    return device_bytes * util.numerator // util.denominator - chosen, chosen


def solve_offload(
    spec: ModelSpec,
    engine: LlamaCpp,
    *,
    seq: int | None,
    batch: int,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    budget: int,
    margin: int,
) -> OffloadAnswer:
    """-ngl auto: the most layers that fit `seq` (default the model's max context); -ngl N:
    the longest context that fits with N.  Each answer is exact for the GPU total, N fits
    and N + 1 does not, given the compute estimate."""
    most = spec.num_layers + 1

    def gpu_need(tokens: int, ngl: int) -> int:
        return offload(spec, engine, tokens, batch, k_fmt, v_fmt, ngl).gpu.total_bytes

    if engine.n_gpu_layers == -1:  # auto: the most layers at the context asked
        tokens = seq or spec.max_context
        fitting = [n for n in (0,) if gpu_need(tokens, n) <= budget]
        low, high = (0, most + 1) if fitting else (-1, 0)
        while high - low > 1:  # monotone: every layer moved adds its weights and cache
            mid = (low + high) // 2
            low, high = (mid, high) if gpu_need(tokens, mid) <= budget else (low, mid)
        return answer(spec, engine, "layers", low, tokens, batch, k_fmt, v_fmt, budget, margin)
    ngl = most if engine.n_gpu_layers < 0 else min(engine.n_gpu_layers, most)
    if seq is not None:  # -ngl and --seq: does that fit
        return answer(spec, engine, "context", ngl, seq, batch, k_fmt, v_fmt, budget, margin)
    tokens = 0
    if gpu_need(1, ngl) <= budget:
        from kvcalc.search import largest, line_estimate

        def cost(n: int) -> int:
            return gpu_need(n, ngl)

        tokens = largest(lambda n: cost(n) <= budget, 1, line_estimate(cost, budget))
    return answer(spec, engine, "context", ngl, tokens, batch, k_fmt, v_fmt, budget, margin)


def answer(
    spec: ModelSpec,
    engine: LlamaCpp,
    asked: str,
    ngl: int,
    seq: int,
    batch: int,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    budget: int,
    margin: int,
) -> OffloadAnswer:
    split = report = None
    if ngl >= 0 and seq > 0:
        from kvcalc.sizing import size

        split = offload(spec, engine, seq, batch, k_fmt, v_fmt, ngl)
        result = size(engine_groups(spec, None, engine), seq, batch, k_fmt, v_fmt, engine)
        report = offload_report(engine, result, split, k_fmt, v_fmt)
    return OffloadAnswer(
        asked=asked,
        budget_bytes=budget,
        margin_bytes=margin,
        n_gpu_layers=ngl,
        max_layers=spec.num_layers + 1,
        seq=seq,
        batch=batch,
        max_context=spec.max_context,
        split=split,
        report=report or (),
    )
