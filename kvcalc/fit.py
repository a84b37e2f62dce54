"""Inverse problems: the longest context and the most requests that fit a budget.

Nothing here re-derives the KV formula: every answer is found by searching
sizing.size(), so sizing and fitting cannot disagree.  Searches are bracketed
around a closed-form estimate and bisected, so a 100 TB budget costs as many
calls as 24 GB (a handful: the estimate is exact unless blocks or windows bend it).

Worked example (pinned in the tests): Llama 3 8B on 24 GB, util 1, no
overhead, bf16 weights: 8,030,261,248 x 2 = 16,060,522,496 B of weights leave
7,939,477,504 B; at 131,072 B/token that is 60,573 tokens (60,574 would need
7,939,555,328 B), and 7 requests of 8,192 tokens (1,073,741,824 B each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from kvcalc.dtypes import WEIGHT_FORMATS, ElementFormat, WeightFormat, kv_format, weight_format
from kvcalc.engines import Engine, cdiv
from kvcalc.errors import UsageError
from kvcalc.layers import ConstantState, LayerGroup, SlidingWindow, split_stages
from kvcalc.sizing import IDEAL, SizeResult, engine_groups, size
from kvcalc.spec import HardwareSpec, ModelSpec
from kvcalc.units import GiB, MiB

# Default per-device overhead outside weights and KV: runtime context, workspaces
# and the activation peak.  GPU: vLLM's memory profiling logs for 7-8B models
# report non-torch plus activation peak of 0.3-1.5 GiB (Llama 3 8B on an H100:
# 0.12 + 1.19 GiB at default settings), so 1.5 GiB; CUDA graphs and large
# max_num_batched_tokens add more.  CPU: llama.cpp's compute buffers at the
# default 512-token batch are a few hundred MiB for 7-8B models, so 512 MiB.
# Measure your own engine and pass --overhead.
DEFAULT_OVERHEAD_BYTES = {"gpu": 3 * GiB // 2, "unified": 3 * GiB // 2, "cpu": 512 * MiB}
# vLLM's gpu_memory_utilization default; a CPU budget is all of --mem.
DEFAULT_UTIL = {"gpu": Fraction(9, 10), "unified": Fraction(9, 10), "cpu": Fraction(1)}


@dataclass(frozen=True, slots=True)
class Target:
    """What the model is deployed on: one kind of device, its capacity and defaults."""

    name: str
    """A hardware preset id, or the --mem size as typed."""
    kind: str
    """gpu | cpu | unified"""
    device_bytes: int
    bandwidth_gb_s: int | None = None
    preset_util: Fraction | None = None
    """Usable fraction the platform imposes (Apple Metal's working-set cap), if any."""

    @property
    def default_util(self) -> Fraction:
        return self.preset_util if self.preset_util is not None else DEFAULT_UTIL[self.kind]


def make_target(
    hardware: HardwareSpec | None, mem_bytes: int | None, device: str | None, mem_label: str = ""
) -> Target:
    """--gpu NAME and/or --mem SIZE and --device gpu|cpu -> one Target.

    --mem with --gpu overrides the preset's capacity (an M2 Ultra with 64 GB).
    """
    if device not in (None, "gpu", "cpu"):
        raise UsageError(f"--device must be gpu or cpu, not {device!r}")
    if hardware is None and mem_bytes is None:
        raise UsageError("give --mem SIZE (e.g. 24GB, 80GiB) or --gpu NAME (see 'kvcalc gpus')")
    if mem_bytes is not None and mem_bytes <= 0:
        raise UsageError("--mem must be more than 0 bytes")
    if hardware is None:
        assert mem_bytes is not None
        kind = device or "gpu"
        return Target(f"{mem_label or format(mem_bytes, ',') + ' B'} {kind}", kind, mem_bytes)
    if device == "cpu":
        raise UsageError("--device cpu sizes a RAM budget: give --mem, not --gpu")
    util = Fraction(hardware.default_util) if hardware.default_util else None
    capacity = mem_bytes if mem_bytes is not None else hardware.memory_bytes
    return Target(hardware.id, hardware.kind, capacity, hardware.bandwidth_gb_s, util)


def parallelism(gpus: int | None, tp: int | None, pp: int | None, kind: str) -> tuple[int, int]:
    """(tp, pp) from --gpus/--tp/--pp: --gpus alone means tensor parallel over all of them."""
    for flag, value in (("--gpus", gpus), ("--tp", tp), ("--pp", pp)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if kind == "cpu" and any(v not in (None, 1) for v in (gpus, tp, pp)):
        raise UsageError("--gpus/--tp/--pp split a model over GPUs; --device cpu is one RAM budget")
    if gpus is None:
        return tp or 1, pp or 1
    if tp is None and pp is None:
        return gpus, 1
    if tp is not None and pp is not None:
        if tp * pp != gpus:
            raise UsageError(f"--tp {tp} x --pp {pp} = {tp * pp} GPUs, but --gpus is {gpus}")
        return tp, pp
    given = tp if tp is not None else pp
    assert given is not None
    if gpus % given:
        raise UsageError(f"--gpus {gpus} is not a multiple of {'--tp' if tp else '--pp'} {given}")
    return (tp, gpus // tp) if tp is not None else (gpus // given, given)


@dataclass(frozen=True, slots=True)
class Budget:
    """One device's memory, from what the driver reports down to what KV may use."""

    device_bytes: int
    """Capacity of one device as reported (nvidia-smi memory.total) or given by --mem."""
    devices: int
    util: Fraction
    weight_format: str
    weight_bytes_total: int
    """All weights in `weight_format` (0 with --kv-only)."""
    overhead_bytes: int
    """Per device."""

    @property
    def usable_bytes(self) -> int:
        # 81,559 MiB = 85,520,809,984 B x 0.9 = 76,968,728,985.6 -> 76,968,728,985 B on an H100
        return self.device_bytes * self.util.numerator // self.util.denominator

    @property
    def weight_bytes(self) -> int:
        """Weights on one device: the total divided over every GPU, rounded up."""
        return -(-self.weight_bytes_total // self.devices)

    @property
    def kv_bytes(self) -> int:
        """KV budget of one device; negative when weights and overhead alone do not fit."""
        return self.usable_bytes - self.weight_bytes - self.overhead_bytes


def model_weights(spec: ModelSpec, fmt: WeightFormat | None) -> tuple[int, str]:
    """(bytes, label) of all weights: in `fmt`, else the checkpoint's exact tensor bytes
    ('checkpoint', gpt-oss) or params x the native dtype (Llama 3 8B bf16: 16,060,522,496)."""
    if fmt is None and spec.weight_bytes is not None:
        return spec.weight_bytes, "checkpoint"
    chosen = fmt or weight_format(spec.weight_dtype)
    if spec.params is None:
        raise UsageError(
            f"{spec.id} has no parameter count: add `params` to its YAML (or use fit --kv-only)"
        )
    return chosen.weight_bytes(spec.params), chosen.name


def plan_budget(
    device_bytes: int,
    devices: int,
    util: Fraction,
    weights: tuple[int, str] | None,
    overhead_bytes: int,
) -> Budget:
    """The budget breakdown; weights None means --kv-only (the whole budget is KV)."""
    if not 0 < util <= 1:
        raise UsageError(f"--util must be in (0, 1], got {float(util):g}")
    weight_bytes, label = weights if weights is not None else (0, "none (--kv-only)")
    return Budget(device_bytes, devices, util, label, weight_bytes, overhead_bytes)


@dataclass(frozen=True, slots=True)
class Deployment:
    """The layers each device holds: heads split by tp, layers split by pp."""

    stages: tuple[tuple[LayerGroup, ...], ...]
    tp: int
    pp: int
    engine: Engine = IDEAL

    def worst_stage(
        self, seq: int, batch: int, k_format: ElementFormat, v_format: ElementFormat
    ) -> SizeResult:
        """The size answer of the most loaded device (every stage must fit the same budget)."""
        return max(
            (size(stage, seq, batch, k_format, v_format, self.engine) for stage in self.stages),
            key=lambda result: result.total_bytes,
        )

    def bytes_per_device(
        self, seq: int, batch: int, k_format: ElementFormat, v_format: ElementFormat
    ) -> int:
        """KV bytes on the most loaded device."""
        return self.worst_stage(seq, batch, k_format, v_format).total_bytes

    def token_kv_bytes(self, k_format: ElementFormat, v_format: ElementFormat) -> tuple[int, int]:
        """(K, V) bytes one more cached token costs on the most loaded device (before windows)."""
        per_stage = (size(stage, 1, 1, k_format, v_format) for stage in self.stages)
        worst = max(per_stage, key=lambda r: r.bytes_per_token)
        return worst.k_bytes_per_token, worst.v_bytes_per_token

    def token_bytes(self, k_format: ElementFormat, v_format: ElementFormat) -> int:
        """Bytes one more cached token costs on the most loaded device (before windows cap)."""
        return sum(self.token_kv_bytes(k_format, v_format))

    def state_bytes(self, k_format: ElementFormat, v_format: ElementFormat) -> int:
        """Fixed recurrent state one request holds on the most loaded device."""
        return max(size(stage, 0, 1, k_format, v_format).state_bytes for stage in self.stages)

    @property
    def saturates_at(self) -> int | None:
        """Length past which no device grows (all layers windowed), else None."""
        caps = [g.cache.saturates_at for stage in self.stages for g in stage]
        return None if any(cap is None for cap in caps) else max(c for c in caps if c is not None)


def deploy(
    spec: ModelSpec,
    tp: int = 1,
    pp: int = 1,
    kv_heads: int | None = None,
    engine: Engine = IDEAL,
) -> Deployment:
    """Shard every layer's KV heads over tp ranks, then split layers into pp stages."""
    if tp < 1:
        raise UsageError(f"--tp must be at least 1, got {tp}")
    if spec.num_query_heads % tp:
        raise UsageError(
            f"tensor parallel size {tp} does not divide {spec.num_query_heads} query heads"
        )
    groups = tuple(
        LayerGroup(g.cache.shard(tp), g.count) for g in engine_groups(spec, kv_heads, engine)
    )
    return Deployment(tuple(split_stages(groups, pp)), tp, pp, engine)


# A length past every window any engine keeps (vLLM's window + batched tokens, llama.cpp's
# padded n_swa x n_seq): if even this fits, a model of windowed layers has no length limit.
UNBOUNDED_PROBE = 1 << 62


def largest(fits: Callable[[int], bool], lo: int, guess: int) -> int:
    """Largest n >= lo with fits(n), given fits(lo) and fits monotone (true, then false).

    `guess` is a closed-form estimate of the first n that does not fit (exact for
    token-granular layers: budget // bytes per token + 1).  Steps of 1, 2, 4, ...
    away from the estimate bracket the answer, then bisection closes the bracket, so
    the cost depends on how far off the estimate is (a block or a window), not on
    the budget: 24 GB and 100 TB take the same few calls of the sizing function.
    """
    estimate = max(guess - 1, lo)
    if fits(estimate):
        low, step = estimate, 1
        while fits(estimate + step):
            low, step = estimate + step, step * 2
        high = estimate + step
    else:
        high, step = estimate, 1
        while estimate - step > lo and not fits(estimate - step):
            high, step = estimate - step, step * 2
        low = max(estimate - step, lo)
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


def line_estimate(cost: Callable[[int], int], budget: int) -> int:
    """The first n past `budget` on the straight line `cost` follows far out, or 2.

    Every engine's cost is affine in n once windows are saturated and pages are
    whole: cost(n) = slope x n + intercept, where the intercept holds recurrent
    state, saturated windows and padding slots.  Two points far out (2^40 and 2^41,
    multiples of every page size) give both exactly, so the estimate is off only
    by what windows and pages bend below that: Llama 3 8B on 7,939,477,504 B at
    131,072 B/token gives 60,574, the exact first length that does not fit.
    """
    far = 1 << 40
    near_cost = cost(far)
    slope = Fraction(cost(2 * far) - near_cost, far)
    if slope <= 0:
        return 2  # nothing grows that far out: let the search step out from the start
    intercept = near_cost - slope * far
    return max(int((budget - intercept) // slope) + 1, 2)


def max_context(
    dep: Deployment, batch: int, kv_budget: int, k_format: ElementFormat, v_format: ElementFormat
) -> int | None:
    """Longest context for `batch` requests; 0 if not even one token fits, None if unbounded."""

    def cost(seq: int) -> int:
        return dep.bytes_per_device(seq, batch, k_format, v_format)

    if cost(1) > kv_budget:
        return 0
    if dep.saturates_at is not None and cost(UNBOUNDED_PROBE) <= kv_budget:
        return None  # every layer is windowed and stops growing in budget: length is free
    return largest(lambda seq: cost(seq) <= kv_budget, 1, line_estimate(cost, kv_budget))


def max_batch(
    dep: Deployment, seq: int, kv_budget: int, k_format: ElementFormat, v_format: ElementFormat
) -> int:
    """Most concurrent requests of `seq` tokens; 0 if not even one fits."""

    def cost(batch: int) -> int:
        return dep.bytes_per_device(seq, batch, k_format, v_format)

    if cost(1) > kv_budget:
        return 0
    return largest(lambda batch: cost(batch) <= kv_budget, 1, line_estimate(cost, kv_budget))


@dataclass(frozen=True, slots=True)
class FitResult:
    """Answers for one model on one budget, with the numbers behind them."""

    spec: ModelSpec
    target: Target
    budget: Budget
    deployment: Deployment
    k_format: ElementFormat
    v_format: ElementFormat
    batch: int
    """Requests the context answer is for (--batch, default 1)."""
    max_context_memory: int | None
    """Longest context memory allows at `batch` (None: unbounded, windows cap every layer)."""
    seq: int
    """Tokens per request the batch answer is for (--seq, default the model's max context)."""
    max_batch: int
    asked_both: bool
    """--seq and --batch were both given: the question is whether that point fits."""

    @property
    def max_context(self) -> int:
        """Usable context: what memory allows, capped by the model's own limit."""
        if self.max_context_memory is None:
            return self.spec.max_context
        return min(self.max_context_memory, self.spec.max_context)

    @property
    def used_bytes(self) -> int:
        """KV bytes per device at (seq, batch)."""
        return self.deployment.bytes_per_device(self.seq, self.batch, self.k_format, self.v_format)

    @property
    def headroom_bytes(self) -> int:
        return self.budget.kv_bytes - self.used_bytes

    def at_answer(self) -> SizeResult | None:
        """The most loaded device's cache at the longest context for `batch` (None: none)."""
        if self.max_context == 0:
            return None
        return self.deployment.worst_stage(
            self.max_context, self.batch, self.k_format, self.v_format
        )

    @property
    def fits(self) -> bool:
        """At (seq, batch) when both were asked; else whether one token of `batch` requests fits."""
        if self.asked_both:
            return self.budget.kv_bytes >= 0 and self.headroom_bytes >= 0
        return self.max_context_memory != 0


def solve(
    spec: ModelSpec,
    target: Target,
    budget: Budget,
    dep: Deployment,
    k_format: ElementFormat,
    v_format: ElementFormat,
    seq: int | None = None,
    batch: int | None = None,
) -> FitResult:
    """Longest context at `batch` (default 1) and most requests at `seq` (default max context)."""
    requests = batch or 1
    tokens = seq or spec.max_context
    kv = budget.kv_bytes
    if kv < 0:
        context: int | None = 0
        most = 0
    else:
        context = max_context(dep, requests, kv, k_format, v_format)
        most = max_batch(dep, tokens, kv, k_format, v_format)
    return FitResult(
        spec,
        target,
        budget,
        dep,
        k_format,
        v_format,
        requests,
        context,
        tokens,
        most,
        seq is not None and batch is not None,
    )


@dataclass(frozen=True, slots=True)
class EnginePool:
    """A paged engine's token pool for one device's KV budget: what vLLM and SGLang log.

    Llama 2 7B fp16 (524,288 B/token) with 8 GiB of KV in vLLM: 8,589,934,592 //
    (16 x 524,288) = 1,024 blocks = 16,384 tokens; 4,096-token requests need 256
    blocks each, so concurrency 4.00x.
    """

    kv_bytes: int
    k_token_bytes: int
    """K bytes of one token over the device's layers."""
    v_token_bytes: int
    page: int
    tokens: int
    seq: int
    """Tokens per request the concurrency is for (vLLM's max_model_len)."""
    uniform: bool
    """Every layer of the same kind: the engines' single-pool log lines apply."""

    @property
    def blocks(self) -> int:
        return self.tokens // self.page

    @property
    def concurrency(self) -> Fraction:
        return Fraction(self.blocks, cdiv(self.seq, self.page))

    @property
    def slots(self) -> int:
        """Token slots per layer buffer: the pool plus SGLang's padding page."""
        return self.tokens + self.page


def engine_pool(result: FitResult) -> EnginePool | None:
    """The pool the result's engine carves from the KV budget (None: no budget left)."""
    dep, kv = result.deployment, result.budget.kv_bytes
    if kv < 0:
        return None
    k_token, v_token = dep.token_kv_bytes(result.k_format, result.v_format)
    caches = [g.cache for stage in dep.stages for g in stage]
    uniform = len({type(cache) for cache in caches}) == 1 and not isinstance(
        caches[0], SlidingWindow | ConstantState
    )
    tokens = dep.engine.pool_tokens(kv, k_token + v_token)
    return EnginePool(kv, k_token, v_token, dep.engine.page, tokens, result.seq, uniform)


@dataclass(frozen=True, slots=True)
class Question:
    """Everything about a fit question except the model."""

    target: Target
    tp: int = 1
    pp: int = 1
    util: Fraction | None = None
    """None: the target's default."""
    weights: WeightFormat | None = None
    """None: the model's native format."""
    kv_only: bool = False
    overhead_bytes: int | None = None
    """None: the default for the target's kind."""
    k_format: ElementFormat | None = None
    v_format: ElementFormat | None = None
    seq: int | None = None
    batch: int | None = None
    engine: Engine = IDEAL
    kv_heads: int | None = None
    """Re-group every layer to this many KV heads (`kvcalc dial`); None: as configured."""


def fit_model(spec: ModelSpec, q: Question) -> FitResult:
    """Plan the budget, deploy the layers, solve: the whole fit question for one model."""

    kf = q.k_format or kv_format("fp16")
    vf = q.v_format or kf
    weights = None if q.kv_only else model_weights(spec, q.weights)
    kind = q.target.kind
    overhead = 0 if q.kv_only else q.overhead_bytes
    if overhead is None:
        overhead = q.engine.default_overhead(kind)
    if overhead is None:
        overhead = DEFAULT_OVERHEAD_BYTES[kind]
    util = q.util
    if util is None and q.target.preset_util is None:
        util = q.engine.default_util(kind, q.tp)
    if util is None:
        util = q.target.default_util
    budget = plan_budget(q.target.device_bytes, q.tp * q.pp, util, weights, overhead)
    dep = deploy(spec, q.tp, q.pp, q.kv_heads, q.engine)
    return solve(spec, q.target, budget, dep, kf, vf, q.seq, q.batch)


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
