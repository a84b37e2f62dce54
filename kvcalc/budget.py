"""The memory budget of one device: memory x util - weights - overhead = KV budget.

Worked example (pinned in the tests): Llama 3 8B on 24 GB, util 1, no overhead,
bf16 weights: 24,000,000,000 - 8,030,261,248 x 2 = 7,939,477,504 B for the KV cache.
Defaults for util and overhead come from the engine (engines/), except where the
platform caps memory itself (Apple Metal's working-set limit on unified presets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from kvcalc.dtypes import WeightFormat, weight_format
from kvcalc.engines import Engine, LogRecord
from kvcalc.engines.memory import BudgetTerm, DeviceFacts, MemoryQuestion
from kvcalc.errors import UsageError
from kvcalc.spec import HardwareSpec, ModelSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What the model is deployed on: one kind of device, its capacity and defaults."""

    device: DeviceFacts
    """One device: its name (a hardware preset id, or the --mem size as typed), kind,
    memory, and what an engine's own accounting reads (CUDA's total, SMs)."""
    bandwidth_gb_s: int | None = None
    default_util: Fraction | None = None
    """Usable fraction the platform imposes (Apple Metal's working-set cap), if any;
    it wins over the engine's default when --util is not given."""

    @property
    def name(self) -> str:
        return self.device.name

    @property
    def kind(self) -> str:
        """gpu | cpu | unified"""
        return self.device.kind

    @property
    def device_bytes(self) -> int:
        return self.device.memory_bytes


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
        label = mem_label or format(mem_bytes, ",") + " B"
        return Target(device=DeviceFacts(name=label, kind=kind, memory_bytes=mem_bytes))
    if device == "cpu":
        raise UsageError("--device cpu sizes a RAM budget: give --mem, not --gpu")
    facts = DeviceFacts(
        name=hardware.id,
        kind=hardware.kind,
        memory_bytes=mem_bytes if mem_bytes is not None else hardware.memory_bytes,
        # --mem overrides the capacity: CUDA's measured total is the preset's, not the user's
        cuda_memory_bytes=hardware.cuda_memory_bytes if mem_bytes is None else None,
        sm_count=hardware.sm_count,
        compute_capability=hardware.compute_capability,
    )
    return Target(
        device=facts,
        bandwidth_gb_s=hardware.bandwidth_gb_s,
        default_util=Fraction(hardware.default_util) if hardware.default_util else None,
    )


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """One device's memory, from what the driver reports down to what KV may use."""

    device_bytes: int
    """Capacity of one device as reported (nvidia-smi memory.total) or given by --mem."""
    devices: int
    util: Fraction
    usable_bytes: int
    """device_bytes x util, rounded down; all of the device when util is of the free memory."""
    weight_format: str
    weight_bytes_total: int
    """All weights in `weight_format` (0 with --kv-only)."""
    weight_bytes: int
    """Weights on one device: the total divided over every GPU, rounded up."""
    overhead_bytes: int
    """Per device."""
    kv_bytes: int
    """KV budget of one device (the first pipeline stage's); negative when weights and
    overhead alone do not fit."""
    free_bytes: int | None = None
    """Memory left after weights and overhead, when util is a fraction of it
    (TensorRT-LLM's free_gpu_memory_fraction): kv_bytes = util x free_bytes."""
    terms: tuple[BudgetTerm, ...] = ()
    """The engine's own terms besides weights (vLLM: profiling peak, non-torch, CUDA
    graphs); empty for the flat overhead."""
    stage_kv_bytes: tuple[int, ...] = ()
    """KV budget of each pipeline stage when they differ (vLLM); empty: kv_bytes on all."""
    device_source: str = ""
    """Where device_bytes comes from, when the engine says (vLLM: CUDA's total)."""
    records: tuple[LogRecord, ...] = ()
    """What the engine logs about this budget."""
    warnings: tuple[str, ...] = ()
    util_source: str = ""
    """What the engine's fraction is and keeps back, when it says."""


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
    kv_of_free: Callable[[int, Fraction], int] | None = None,
) -> Budget:
    """The budget breakdown; weights None means --kv-only (the whole budget is KV).

    With `kv_of_free` (TensorRT-LLM) util applies to what weights and overhead leave:
    24 GB - 16,060,522,496 B of Llama 3 8B bf16 - 2 GiB = 5,791,993,856 B free, of which
    the engine's 0.9 (in float32) is 5,212,794,368 B of KV.
    """
    if not 0 < util <= 1:
        raise UsageError(f"--util must be in (0, 1], got {float(util):g}")
    weight_total, label = weights if weights is not None else (0, "none (--kv-only)")
    per_device = -(-weight_total // devices)
    if kv_of_free is not None:
        free = device_bytes - per_device - overhead_bytes
        return Budget(
            device_bytes=device_bytes,
            devices=devices,
            util=util,
            usable_bytes=device_bytes,
            weight_format=label,
            weight_bytes_total=weight_total,
            weight_bytes=per_device,
            overhead_bytes=overhead_bytes,
            kv_bytes=kv_of_free(free, util),
            free_bytes=free,
        )
    # 81,559 MiB = 85,520,809,984 B x 0.9 = 76,968,728,985.6 -> 76,968,728,985 B on an H100
    usable = device_bytes * util.numerator // util.denominator
    return Budget(
        device_bytes=device_bytes,
        devices=devices,
        util=util,
        usable_bytes=usable,
        weight_format=label,
        weight_bytes_total=weight_total,
        weight_bytes=per_device,
        overhead_bytes=overhead_bytes,
        kv_bytes=usable - per_device - overhead_bytes,
    )


def engine_budget(
    spec: ModelSpec,
    target: Target,
    engine: Engine,
    *,
    tp: int,
    pp: int,
    util: Fraction | None,
    weights: WeightFormat | None,
    overhead_bytes: int | None,
    kv_only: bool,
    measured_weight_bytes: int | None = None,
) -> Budget:
    """The budget with every default filled in: the platform's util cap, else the engine's
    for this device kind and tp; the engine's overhead; none of either with --kv-only.
    An engine with its own accounting (vLLM) plans it term by term instead, unless the
    user gives --overhead or --kv-only."""
    if not kv_only and overhead_bytes is None:
        question = MemoryQuestion(
            spec=spec,
            device=target.device,
            tp=tp,
            pp=pp,
            util=util if util is not None else target.default_util,
            weights=weights,
            measured_weight_bytes=measured_weight_bytes,
        )
        plan = engine.memory_plan(question)
        if plan is not None:
            if not 0 < plan.util <= 1:
                raise UsageError(f"--util must be in (0, 1], got {float(plan.util):g}")
            return Budget(
                device_bytes=plan.device_bytes,
                devices=tp * pp,
                util=plan.util,
                usable_bytes=plan.usable_bytes,
                weight_format=plan.weight_label,
                weight_bytes_total=plan.weight_bytes * tp * pp,
                weight_bytes=plan.weight_bytes,
                overhead_bytes=sum(term.bytes for term in plan.terms),
                kv_bytes=plan.stage_kv_bytes[0],
                terms=plan.terms,
                stage_kv_bytes=plan.stage_kv_bytes,
                device_source=plan.device_source,
                records=plan.records,
                warnings=plan.warnings,
                util_source=plan.util_source,
            )
    if util is None:
        util = target.default_util or engine.budget.util_for(target.kind, tp)
    if kv_only:
        overhead_bytes = 0
    elif overhead_bytes is None:
        overhead_bytes = engine.budget.overhead_for(target.kind)
    chosen = None if kv_only else model_weights(spec, weights)
    if measured_weight_bytes is not None and not kv_only:
        # a measured per-device figure: every device holds that much
        chosen = (measured_weight_bytes * tp * pp, "measured")
    return plan_budget(
        target.device_bytes, tp * pp, util, chosen, overhead_bytes, engine.budget.kv_of_free
    )
