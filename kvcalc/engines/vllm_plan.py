"""vLLM's budget for one deployment: settings resolved, every term, the lines it logs.

Joins weights.py (what loading takes), vllm_profile.py (the profiling run's peak) and
vllm_memory.py (requested memory, measured driver terms) into a MemoryPlan that
budget.py turns into the fit's Budget.  Defaults as `vllm serve` (the OpenAI API
server) picks them, vllm/engine/arg_utils.py get_batch_defaults and
_set_default_max_num_seqs_and_batched_tokens_args: on a GPU of 70 GiB or more that is
not an A100, max_num_batched_tokens 8,192 and max_num_seqs 1,024; otherwise 2,048 and
256; then max_num_batched_tokens <= max_num_seqs x max_model_len and max_num_seqs <=
max_num_batched_tokens.  gpu_memory_utilization 0.9 (config/cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kvcalc.engines.base import LogRecord
from kvcalc.engines.memory import BudgetTerm, DeviceFacts, MemoryPlan, MemoryQuestion
from kvcalc.engines.vllm_memory import (
    THIN_MARGIN,
    StageMemory,
    cuda_graph_bytes,
    init_bytes,
    margin_bytes,
    non_torch_bytes,
    requested_bytes,
    safe_util,
    stage_memory,
)
from kvcalc.engines.vllm_profile import profile_peaks
from kvcalc.engines.vllm_records import VllmCudaGraphEstimate, VllmMemoryProfile, VllmModelLoading
from kvcalc.units import fixed
from kvcalc.weights import compute_bytes, linear_format, loaded_weights, stage_bytes

GiB = 1 << 30
DEFAULT_UTIL = Fraction(9, 10)
# What vLLM's batch defaults read: torch's device total, >= 70 GiB for the large defaults
LARGE_GPU = 70 * GiB
# Where hardware.yaml does not know the GPU: an H100's SM count and compute capability
ASSUMED_SMS, ASSUMED_MAJOR = 132, 9


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int


def batch_limits(
    device: DeviceFacts | None,
    max_model_len: int,
    max_num_seqs: int | None,
    max_num_batched_tokens: int | None,
) -> BatchLimits:
    """`vllm serve` defaults for what the user did not set.  H100, max_model_len 8,192:
    8,192 batched tokens and 1,024 sequences; an A100 or a 24 GB card: 2,048 and 256."""
    large = False
    if device is not None and device.kind == "gpu":
        large = device.cuda_total()[0] >= LARGE_GPU and "a100" not in device.name.lower()
    seqs = max_num_seqs if max_num_seqs is not None else (1024 if large else 256)
    batched = max_num_batched_tokens
    if batched is None:
        batched = min(seqs * max_model_len, 8192 if large else 2048)
    if max_num_seqs is None:
        seqs = min(seqs, batched)
    return BatchLimits(max_model_len, seqs, batched)


def flat_plan(question: MemoryQuestion, total: int, source: str, util: Fraction) -> MemoryPlan:
    """Without the model's dims: params x format for weights, 1.5 GiB for the rest."""
    from kvcalc.dtypes import weight_format

    spec, devices = question.spec, question.tp * question.pp
    requested = requested_bytes(total, util)
    if question.measured_weight_bytes is not None:
        weights, label = question.measured_weight_bytes, "measured"
    elif question.weights is None and spec.weight_bytes is not None:
        # the checkpoint's exact tensor bytes (gpt-oss's MXFP4 experts), split evenly
        weights, label = -(-spec.weight_bytes // devices), "checkpoint"
    elif spec.params is not None:
        fmt = question.weights or weight_format(spec.weight_dtype)
        weights, label = -(-fmt.weight_bytes(spec.params) // devices), fmt.name
    else:
        weights, label = 0, "unknown (no params)"
    rest = 3 * GiB // 2
    return MemoryPlan(
        device_bytes=total,
        device_source=source,
        util=util,
        usable_bytes=requested,
        weight_bytes=weights,
        weight_label=label,
        terms=(BudgetTerm(label="- activation peak + non-torch", bytes=rest, source="flat"),),
        stage_kv_bytes=(requested - weights - rest,) * question.pp,
        warnings=(
            f"{spec.id} has no dims (vocabulary, MLP width) in its preset: vLLM's profiling "
            "peak is not derived, a flat 1.5 GiB stands in for it and the driver's memory",
        ),
    )


def vllm_plan(
    question: MemoryQuestion,
    limits: BatchLimits,
    *,
    enforce_eager: bool,
    kv_cache_memory: int | None,
    graphs_in_budget: bool,
) -> MemoryPlan:
    """Every term of vLLM's budget on each pipeline stage, as the engine computes it."""
    spec, device, tp, pp = question.spec, question.device, question.tp, question.pp
    total, source = device.cuda_total()
    util = question.util if question.util is not None else DEFAULT_UTIL
    dims = spec.dims
    if dims is None:
        return flat_plan(question, total, source, util)
    warnings: list[str] = []
    if device.cuda_memory_bytes is None:
        warnings.append(
            f"{device.name}: no measured CUDA total; vLLM budgets from torch.cuda.mem_get_info, "
            "0.4-0.6 GiB below nvidia-smi's on the GPUs measured, so KV is that much too high"
        )
    sms, major = device.sm_count, None
    if device.compute_capability is not None:
        major = int(device.compute_capability.split(".")[0])
    if sms is None or major is None:
        warnings.append(
            f"{device.name}: SM count or compute capability unknown; assumed an H100's "
            "(132 SMs, 9.0) for the sampler scratch and cuBLAS workspace"
        )
    fmt = question.weights
    dtype = compute_bytes(spec, fmt)
    quant = linear_format(fmt)
    stages = loaded_weights(spec, dims, fmt, tp, pp)
    predicted = stage_bytes(spec, dims, fmt, tp, pp)
    measured = question.measured_weight_bytes
    # a logged figure is the first stage's; later stages differ by what kvcalc predicts
    weights = predicted if measured is None else [measured + p - predicted[0] for p in predicted]
    peaks = profile_peaks(
        spec,
        dims,
        tp=tp,
        pp=pp,
        dtype=dtype,
        act_quant=quant is not None and quant.bits == 8,
        max_num_batched_tokens=limits.max_num_batched_tokens,
        max_num_seqs=limits.max_num_seqs,
        sm_count=sms or ASSUMED_SMS,
        compute_major=major or ASSUMED_MAJOR,
    )
    requested = requested_bytes(total, util)
    memory = [
        stage_memory(
            requested,
            w,
            peak,
            non_torch=non_torch_bytes(tp, pp),
            cuda_graph=0 if enforce_eager else cuda_graph_bytes(stage.layers),
            graphs_in_budget=graphs_in_budget,
            kv_cache_memory=kv_cache_memory,
        )
        for w, peak, stage in zip(weights, peaks, stages, strict=True)
    ]
    first = memory[0]
    init = init_bytes(tp, pp)
    margin = min(margin_bytes(total, m, init, graphs_in_budget) for m in memory)
    if margin < THIN_MARGIN:
        fix = safe_util(total, first, init, graphs_in_budget)
        # the shortfall rounded up to the hundredth GiB, so that lowering by it is enough
        short = -(-(THIN_MARGIN - margin) * 100 // GiB)
        flag = (
            f"lower --kv-cache-memory by {fixed(short, 100)} GiB"
            if kv_cache_memory is not None
            else f"lower --gpu-memory-utilization to {fixed(fix, 1)}"
        )
        warnings.append(
            f"thin margin: {fixed(margin, GiB)} GiB would be left after the KV cache, CUDA "
            f"graphs and the {fixed(init, GiB)} GiB CUDA/NCCL baseline, under the "
            f"{fixed(THIN_MARGIN, GiB, 1)} GiB the sampler warm-up ({limits.max_num_seqs:,} dummy "
            f"requests) needs: {flag}"
            + ("" if enforce_eager else " or add --enforce-eager (no CUDA graphs)")
        )
    weight_label = "measured" if measured is not None else fmt.name if fmt else spec.weight_dtype
    if measured is None and fmt is None and spec.weight_bytes is not None:
        weight_label = "checkpoint"
    return MemoryPlan(
        device_bytes=total,
        device_source=source,
        util=util,
        usable_bytes=requested,
        weight_bytes=first.weight_bytes,
        weight_label=weight_label,
        terms=budget_terms(first, limits, tp, pp, graphs_in_budget, kv_cache_memory),
        stage_kv_bytes=tuple(m.kv_bytes for m in memory),
        records=records(first, graphs_in_budget or not enforce_eager),
        warnings=tuple(warnings),
    )


def budget_terms(
    first: StageMemory,
    limits: BatchLimits,
    tp: int,
    pp: int,
    graphs_in_budget: bool,
    kv_cache_memory: int | None,
) -> tuple[BudgetTerm, ...]:
    """The breakdown's lines after weights, each with where its figure comes from."""
    peak = first.peak
    what = (
        f"sampler, {limits.max_num_seqs:,} requests"
        if peak.sampler_bytes >= peak.forward_bytes
        else f"forward, {limits.max_num_batched_tokens:,} tokens"
    )
    terms = [
        BudgetTerm(
            label="- profiling peak",
            bytes=peak.peak_bytes,
            source=f"derived: {what}",
        ),
        BudgetTerm(
            label="- non-torch",
            bytes=first.non_torch_bytes,
            source=f"H100 0.19 logs, tp {tp} pp {pp}",
        ),
    ]
    if graphs_in_budget and first.cuda_graph_bytes:
        terms.append(
            BudgetTerm(
                label="- CUDA graphs",
                bytes=first.cuda_graph_bytes,
                source="0.33 GiB + 18 MiB/layer",
            )
        )
    if kv_cache_memory is not None:
        terms.append(
            BudgetTerm(
                label="(--kv-cache-memory)",
                bytes=0,
                source="KV set outright",
            )
        )
    return tuple(terms)


def records(first: StageMemory, graphs: bool) -> tuple[LogRecord, ...]:
    """What vLLM logs about the first stage's budget, in its order."""
    out: list[LogRecord] = [VllmModelLoading(weight_bytes=first.weight_bytes)]
    if graphs and first.cuda_graph_bytes:
        out.append(VllmCudaGraphEstimate(bytes=first.cuda_graph_bytes))
    out.append(
        VllmMemoryProfile(
            non_kv_bytes=first.non_kv_bytes,
            torch_peak_bytes=first.peak.peak_bytes,
            non_torch_bytes=first.non_torch_bytes,
            weight_bytes=first.weight_bytes,
        )
    )
    return tuple(out)
