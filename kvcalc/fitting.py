"""The whole fit question: a model on a budget -> the longest context and the most requests.

fit_model plans the budget (budget.py), deploys the layers (deploy.py), searches
(search.py), and returns a FitResult that holds every number it reports, so
rendering never calls back into the arithmetic.

Worked example (pinned in the tests): Llama 3 8B on 24 GB, util 1, no
overhead, bf16 weights: 8,030,261,248 x 2 = 16,060,522,496 B of weights leave
7,939,477,504 B; at 131,072 B/token that is 60,573 tokens (60,574 would need
7,939,555,328 B), and 7 requests of 8,192 tokens (1,073,741,824 B each).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.budget import Budget, Target, engine_budget
from kvcalc.deploy import Deployment, deploy
from kvcalc.dtypes import WEIGHT_FORMATS, ElementFormat, WeightFormat, kv_format
from kvcalc.engines import IDEAL, Engine, EnginePool, LogRecord
from kvcalc.errors import UsageError
from kvcalc.search import max_batch, max_context, pool_batch, pool_context
from kvcalc.sizing import SizeResult
from kvcalc.spec import ModelSpec

if TYPE_CHECKING:
    from kvcalc.offload import OffloadAnswer


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """Everything about a fit question except the model."""

    target: Target
    tp: int = 1
    pp: int = 1
    util: Fraction | None = None
    """None: the target's cap, else the engine's default."""
    weights: WeightFormat | None = None
    """None: the model's native format."""
    kv_only: bool = False
    overhead_bytes: int | None = None
    """None: the engine's default for the target's kind."""
    k_format: ElementFormat | None = None
    v_format: ElementFormat | None = None
    seq: int | None = None
    batch: int | None = None
    engine: Engine = IDEAL
    kv_heads: int | None = None
    """Re-group every layer to this many KV heads (`kvcalc dial`); None: as configured."""
    weight_bytes: int | None = None
    """Weights per device as measured (an engine's 'Model loading took 7.51 GiB');
    None: computed from the model in `weights`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FitResult:
    """Answers for one model on one budget, with every number behind them."""

    spec: ModelSpec
    target: Target
    budget: Budget
    engine: Engine
    tp: int
    pp: int
    k_format: ElementFormat
    v_format: ElementFormat
    kv_heads: int | None
    """The re-grouping asked for (--kv-heads, dial); None: as configured."""
    kv_heads_per_device: int
    """Most KV heads any device keeps per layer (after tp; a replica past one per rank)."""
    kv_heads_replicated: bool
    """More tensor-parallel ranks than KV heads: each rank keeps a copy of a head."""
    layers_per_device: int
    k_token_bytes: int
    """K bytes one more cached token costs on the most loaded device (before windows)."""
    v_token_bytes: int
    state_bytes: int
    """Fixed recurrent state one request holds on the most loaded device."""
    batch: int
    """Requests the context answer is for (--batch, default 1)."""
    max_context_memory: int | None
    """Longest context memory allows at `batch` (None: unbounded, windows cap every layer)."""
    max_context: int
    """Usable context: what memory allows, capped by the model's own limit."""
    seq: int
    """Tokens per request the batch answer is for (--seq, default the model's max context)."""
    max_batch: int
    asked: str
    """What the question asks: 'point' (--seq and --batch: does that fit), 'requests'
    (--seq alone: how many requests of that length), 'context' (otherwise: how long a
    context for --batch requests, default 1)."""
    used_bytes: int
    """KV bytes per device at (seq, batch)."""
    capacity_bytes: int
    """KV bytes the engine's allocation holds: the KV budget, or TensorRT-LLM's pool of
    whole blocks rounded up past it.  Answers fill this exactly."""
    headroom_bytes: int
    fits: bool
    at_answer: SizeResult | None
    """The most loaded device's cache at (max_context, batch); None when nothing fits."""
    pool: EnginePool | None
    """The engine's token pool for the KV budget; None when there is no budget left."""
    report: tuple[LogRecord, ...]
    """What the engine would log for this budget (its pool, or its cache at the answer)."""
    warnings: tuple[str, ...] = ()
    """What the engine's accounting warns about (a thin margin, an unmeasured GPU)."""
    offload: OffloadAnswer | None = None
    """llama.cpp on one GPU from a GGUF: the most -ngl layers for the context, or the
    longest context for -ngl, with each device's buffers (kvcalc/offload.py)."""

    @property
    def token_bytes(self) -> int:
        return self.k_token_bytes + self.v_token_bytes

    @property
    def asked_both(self) -> bool:
        return self.asked == "point"


def asked(seq: int | None, batch: int | None) -> str:
    if seq is not None and batch is not None:
        return "point"
    return "requests" if seq is not None else "context"


def solve(
    spec: ModelSpec,
    target: Target,
    budget: Budget,
    dep: Deployment,
    k_format: ElementFormat,
    v_format: ElementFormat,
    *,
    seq: int | None = None,
    batch: int | None = None,
    kv_heads: int | None = None,
) -> FitResult:
    """Longest context at `batch` (default 1) and most requests at `seq` (default max context)."""
    requests = batch or 1
    tokens = seq or spec.max_context
    kv = budget.kv_bytes
    engine = dep.engine
    k_token, v_token = dep.token_kv_bytes(k_format, v_format)
    blocks = None
    if kv >= 0:
        stage_kv = budget.stage_kv_bytes or (kv,) * dep.pp
        blocks = engine.block_pool(dep.stages, stage_kv, k_format, v_format)
    context: int | None = 0
    most = 0
    pool = None
    if blocks is not None:
        # an engine that admits requests by blocks shared over cache groups (vLLM)
        context, most = pool_context(blocks, requests), pool_batch(blocks, tokens)
        need = requests * blocks.request_blocks(tokens)
        room = blocks.num_blocks * blocks.block_bytes
        used = need * blocks.block_bytes
        length = getattr(engine, "max_model_len", None) or tokens
        pool = EnginePool(
            kv_bytes=kv,
            k_token_bytes=k_token,
            v_token_bytes=v_token,
            page=engine.page,
            tokens=blocks.tokens,
            seq=length,
            single_pool=single_kind(dep),
            num_blocks=blocks.num_blocks,
            blocks_per_request=blocks.request_blocks(length),
        )
    else:
        pool = engine.pool(kv, k_token, v_token, tokens, dep.caches) if kv >= 0 else None
        # what the engine's allocation holds: the budget, or TensorRT-LLM's blocks rounded up
        room = engine.capacity(kv, pool)
        if kv >= 0:
            context = max_context(dep, requests, room, k_format, v_format)
            most = max_batch(dep, tokens, room, k_format, v_format)
        used = dep.bytes_per_device(tokens, requests, k_format, v_format)
    usable = spec.max_context if context is None else min(context, spec.max_context)
    # a question fits when what it asks has an answer: the point, one request of --seq
    # tokens, or one token of context for the requests
    question = asked(seq, batch)
    fits = {
        "point": kv >= 0 and room - used >= 0,
        "requests": most >= 1,
        "context": context != 0,
    }[question]
    at_answer = dep.worst_stage(usable, requests, k_format, v_format) if usable else None
    return FitResult(
        spec=spec,
        target=target,
        budget=budget,
        engine=engine,
        tp=dep.tp,
        pp=dep.pp,
        k_format=k_format,
        v_format=v_format,
        kv_heads=kv_heads,
        kv_heads_per_device=dep.kv_heads_per_device,
        kv_heads_replicated=dep.tp > min(spec.kv_head_counts(), default=dep.tp),
        layers_per_device=dep.layers_per_device,
        k_token_bytes=k_token,
        v_token_bytes=v_token,
        state_bytes=dep.state_bytes(k_format, v_format),
        batch=requests,
        max_context_memory=context,
        max_context=usable,
        seq=tokens,
        max_batch=most,
        asked=question,
        used_bytes=used,
        capacity_bytes=room,
        headroom_bytes=room - used,
        fits=fits,
        at_answer=at_answer if kv >= 0 else None,
        pool=pool,
        report=budget.records
        + engine.fit_report(pool, at_answer if kv >= 0 else None, k_format, v_format),
        warnings=budget.warnings,
    )


def single_kind(dep: Deployment) -> bool:
    kinds = {cache.kind for cache in dep.caches}
    return len(kinds) == 1 and dep.caches[0].saturates_at is None


def fit_model(spec: ModelSpec, q: Question) -> FitResult:
    """Plan the budget, deploy the layers, solve: the whole fit question for one model."""
    kf = q.k_format or kv_format("fp16")
    vf = q.v_format or kf
    chosen = q.engine.with_request_length(q.seq).for_device(q.target.device, spec)
    budget = engine_budget(
        spec,
        q.target,
        chosen,
        tp=q.tp,
        pp=q.pp,
        util=q.util,
        weights=q.weights,
        overhead_bytes=q.overhead_bytes,
        kv_only=q.kv_only,
        measured_weight_bytes=q.weight_bytes,
    )
    dep = deploy(spec, q.tp, q.pp, q.kv_heads, chosen)
    result = solve(
        spec, q.target, budget, dep, kf, vf, seq=q.seq, batch=q.batch, kv_heads=q.kv_heads
    )
    # llama.cpp's -ngl question, where the engine has one (None for every other engine)
    offload = chosen.offload_answer(
        spec,
        device_kind=q.target.kind,
        device_bytes=q.target.device_bytes,
        devices=q.tp * q.pp,
        util=budget.util,
        overhead_bytes=q.overhead_bytes,
        seq=q.seq,
        batch=q.batch or 1,
        kv_heads=q.kv_heads,
        k_fmt=kf,
        v_fmt=vf,
    )
    return replace(result, offload=offload)


def what_would_fit(spec: ModelSpec, q: Question) -> list[str]:
    """Changes that make a failing question fit: a smaller weight format, or more GPUs."""
    hints: list[str] = []
    current = fit_model(spec, q).budget.weight_format
    bits = WEIGHT_FORMATS[current].bits_per_weight if current in WEIGHT_FORMATS else None
    if bits is not None:
        for fmt in sorted(WEIGHT_FORMATS.values(), key=lambda f: -f.bits_per_weight):
            if fmt.bits_per_weight < bits and fit_model(spec, replace(q, weights=fmt)).fits:
                hints.append(f"--weights {fmt.name}")
                break
    if q.target.kind != "cpu":
        for tp in (2, 4, 8, 16, 32, 64, 128):
            if tp <= q.tp:
                continue
            try:
                if fit_model(spec, replace(q, tp=tp)).fits:
                    hints.append(f"--gpus {tp * q.pp} (tensor parallel {tp})")
                    break
            except UsageError:
                continue  # tp that does not divide the heads
    return hints
