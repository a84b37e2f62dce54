"""Tables and JSON for `kvcalc fit` and `kvcalc gpus` (units chosen here only)."""

from __future__ import annotations

from typing import Any

from kvcalc.budget import Target
from kvcalc.fitting import FitResult
from kvcalc.render import SCHEMA_VERSION, bin_, count, dec, new_table
from kvcalc.render_engine import log_lines
from kvcalc.render_grid import Verbatim
from kvcalc.render_offload import offload_json, offload_lines
from kvcalc.spec import HardwareSpec
from kvcalc.units import fixed, plural


def util_text(result: FitResult) -> str:
    util = result.budget.util
    return str(util.numerator) if util.denominator == 1 else fixed(util, 1, 4).rstrip("0")


def device_text(target: Target, result: FitResult) -> str:
    devices = result.budget.devices
    label = f"{devices} x {target.name}" if devices > 1 else target.name
    return f"{label} ({target.kind}, {dec(target.device_bytes)} / {bin_(target.device_bytes)} each)"


def fit_json(result: FitResult) -> dict[str, Any]:
    b, t = result.budget, result.target
    return {
        "schema_version": SCHEMA_VERSION,
        "model": result.spec.id,
        "target": {
            "label": t.name,
            "device_kind": t.kind,
            "device_bytes": t.device_bytes,
            "devices": b.devices,
            "tp": result.tp,
            "pp": result.pp,
            "bandwidth_gb_s": t.bandwidth_gb_s,
        },
        "budget": {
            "device_bytes": b.device_bytes,
            "util": util_text(result),
            "usable_bytes": b.usable_bytes,
            "weight_format": b.weight_format,
            "weight_bytes_total": b.weight_bytes_total,
            "weight_bytes": b.weight_bytes,
            "overhead_bytes": b.overhead_bytes,
            "kv_budget_bytes": b.kv_bytes,
            "kv_budget_bytes_total": b.kv_bytes * b.devices,
            "free_bytes": b.free_bytes,
            "device_source": b.device_source or None,
            "terms": [{"label": t.label, "bytes": t.bytes, "source": t.source} for t in b.terms],
            "stage_kv_budget_bytes": list(b.stage_kv_bytes) or [b.kv_bytes] * result.pp,
        },
        "warnings": list(result.warnings),
        "k_dtype": result.k_format.name,
        "v_dtype": result.v_format.name,
        "kv_heads_per_device": result.kv_heads_per_device,
        "kv_heads_replicated": result.kv_heads_replicated,
        "layers_per_device": result.layers_per_device,
        "bytes_per_token_per_device": result.token_bytes,
        "state_bytes_per_request_per_device": result.state_bytes,
        "batch": result.batch,
        "max_context_memory": result.max_context_memory,
        "model_max_context": result.spec.max_context,
        "max_context": result.max_context,
        "seq": result.seq,
        "max_batch": result.max_batch,
        "fits": result.fits,
        "used_bytes": result.used_bytes,
        "capacity_bytes": result.capacity_bytes,
        "headroom_bytes": result.headroom_bytes,
        "engine": result.engine.name,
        "block_size": result.engine.page,
        "engine_report": log_lines(result.report),
        "offload": offload_json(result.offload) if result.offload else None,
    }


def accounted_table(result: FitResult) -> Any:
    """An engine's own accounting (vLLM, SGLang): every term with where it comes from."""
    b = result.budget
    per = "per GPU" if b.devices > 1 else "one device"
    stage = " (first pipeline stage)" if result.pp > 1 else ""
    table = new_table(
        f"Memory budget, {result.engine.name}'s accounting ({per}){stage}",
        "",
        "bytes",
        "GiB",
        "from",
        left=("", "from"),
        prose=("from",),
    )
    measured = b.weight_format == "measured"
    rows = [
        ("device", b.device_bytes, b.device_source),
        (f"x util {util_text(result)}", b.usable_bytes, b.util_source or "= usable"),
        (
            f"- weights ({b.weight_format})",
            b.weight_bytes,
            "--weights, as logged" if measured else "as loaded (weights.py)",
        ),
        *((t.label, t.bytes, t.source) for t in b.terms),
        ("= KV memory", b.kv_bytes, ""),
    ]
    for label, n, source in rows:
        table.add_row(label, count(n), bin_(n), source)
    return table


def budget_table(result: FitResult) -> Any:
    b = result.budget
    if b.device_source:
        return accounted_table(result)
    per = "per GPU" if b.devices > 1 else "one device"
    table = new_table(f"Memory budget ({per})", "", "bytes", "GB", "GiB", left=("",))
    weights = (
        f"- weights ({b.weight_format}"
        + (f", {count(b.weight_bytes_total)} B / {b.devices}" if b.devices > 1 else "")
        + ")",
        b.weight_bytes,
    )
    if b.free_bytes is not None:  # the fraction is of what loading leaves (TensorRT-LLM)
        rows = [
            ("device memory", b.device_bytes),
            weights,
            ("- overhead", b.overhead_bytes),
            ("= free after loading", b.free_bytes),
            (f"x free fraction {util_text(result)} = KV budget", b.kv_bytes),
        ]
    else:
        rows = [
            ("device memory", b.device_bytes),
            (f"x util {util_text(result)} = usable", b.usable_bytes),
            weights,
            ("- overhead", b.overhead_bytes),
            ("= KV budget", b.kv_bytes),
        ]
    for label, n in rows:
        table.add_row(label, count(n), dec(n), bin_(n))
    return table


def context_line(result: FitResult) -> str:
    memory, limit = result.max_context_memory, result.spec.max_context
    who = f"{result.batch:,} request{'s' if result.batch > 1 else ''}"
    if memory is None:
        by_memory = "unbounded by memory (every layer is windowed)"
    else:
        by_memory = f"{memory:,} tokens by memory"
    if memory is not None and memory <= limit:
        note = "" if memory < limit else " (= model max)"
        return f"Longest context for {who}: [bold]{memory:,} tokens[/bold]{note}"
    return (
        f"Longest context for {who}: {by_memory}; the model allows {limit:,} "
        f"-> [bold]{limit:,} tokens usable[/bold]"
    )


def fit_tables(result: FitResult) -> list[Any]:
    b = result.budget
    lines: list[Any] = [
        f"[bold]{result.spec.id}[/bold] on {device_text(result.target, result)}"
        + (
            f", tensor parallel {result.tp}, pipeline parallel {result.pp}" if b.devices > 1 else ""
        ),
        budget_table(result),
    ]
    per_token, state, heads = result.token_bytes, result.state_bytes, result.kv_heads_per_device
    kv_line = (
        f"KV per token per device: {count(per_token)} B ({result.layers_per_device} layers, "
        f"up to {heads} KV head{'s' if heads != 1 else ''} each, {result.k_format.name})"
    )
    if state:
        kv_line += f"; fixed recurrent state per request: {count(state)} B"
    if result.kv_heads_replicated:
        kv_line += (
            f"; tensor parallel {result.tp} exceeds "
            f"{min(result.spec.kv_head_counts())} KV heads, so each GPU keeps a replica "
            "and more GPUs no longer shrink the per-GPU cache"
        )
    lines.append(kv_line)
    if b.kv_bytes < 0:
        lines.append(
            f"[bold red]Does not fit:[/bold red] weights and overhead exceed usable memory "
            f"by {dec(-b.kv_bytes)} ({bin_(-b.kv_bytes)})"
        )
        if result.offload is not None:  # all layers on the GPU do not fit; some may
            lines += offload_lines(result.offload, result.target.name)
        return lines
    lines.append(context_line(result))
    lines.append(
        f"Most requests of {result.seq:,} tokens: [bold]{result.max_batch:,}[/bold]"
        + (
            ""
            if result.seq <= result.spec.max_context
            else f" (beyond the model's max context of {result.spec.max_context:,})"
        )
    )
    if result.asked_both:
        lines.append(point_line(result))
    if b.devices > 1:
        lines.append(
            f"All {b.devices} devices: KV budget {dec(b.kv_bytes * b.devices)}, "
            f"weights {dec(b.weight_bytes_total)}"
        )
    report = log_lines(result.report)
    if report:
        engine = result.engine
        lines.append(f"{engine.name} would log ({engine.title}):")
        lines += [Verbatim(f"  {line}") for line in report]
    if result.offload is not None:
        lines += offload_lines(result.offload, result.target.name)
    lines += [f"[bold yellow]warning:[/bold yellow] {w}" for w in result.warnings]
    return lines


def point_line(result: FitResult) -> str:
    """Whether (seq, batch) fits one device's KV budget, and by how much."""
    b = result.budget
    if b.kv_bytes < 0:
        return (
            f"[bold red]does NOT fit[/bold red] on {result.target.name}: weights and overhead "
            f"exceed usable memory by {dec(-b.kv_bytes)}"
        )
    verdict = "fits" if result.fits else "[bold red]does NOT fit[/bold red]"
    return (
        f"{result.seq:,} tokens x {plural(result.batch, 'request')} {verdict} on "
        f"{result.target.name}: {dec(result.used_bytes)} of {dec(result.capacity_bytes)} KV "
        "per device, "
        f"headroom {dec(result.headroom_bytes)} ({count(result.headroom_bytes)} B)"
    )


def fit_all_json(results: list[FitResult]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "models": [fit_json(r) for r in results]}


def fit_all_table(results: list[FitResult], seq: int | None) -> list[Any]:
    first = results[0]
    at_seq = f"{seq:,} tokens" if seq else "max context"
    table = new_table(
        f"What fits on {device_text(first.target, first)}, util {util_text(first)}\n"
        f"ctx: longest context of 1 request by memory, and the model's limit;\n"
        f"reqs: most requests of 'at seq' tokens ({at_seq})",
        "model",
        "weights",
        "KV budget",
        "ctx",
        "limit",
        "reqs",
        "at seq",
        left=("model",),
    )
    for r in results:
        b = r.budget
        if b.kv_bytes < 0:  # weights and overhead alone exceed the memory: no KV answer
            table.add_row(
                r.spec.id,
                dec(b.weight_bytes),
                "does not fit",
                "-",
                count(r.spec.max_context),
                "-",
                count(r.seq),
            )
            continue
        memory = "unbounded" if r.max_context_memory is None else count(r.max_context_memory)
        table.add_row(
            r.spec.id,
            dec(b.weight_bytes),
            dec(b.kv_bytes),
            memory,
            count(r.spec.max_context),
            count(r.max_batch),
            count(r.seq),
        )
    return [table]


def gpus_json(presets: tuple[HardwareSpec, ...]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "gpus": [
            {
                "id": h.id,
                "name": h.name,
                "aliases": list(h.aliases),
                "device_kind": h.kind,
                "memory_bytes": h.memory_bytes,
                "cuda_memory_bytes": h.cuda_memory_bytes,
                "sm_count": h.sm_count,
                "compute_capability": h.compute_capability,
                "bandwidth_gb_s": h.bandwidth_gb_s,
                "default_util": h.default_util,
            }
            for h in presets
        ],
    }


def gpus_table(presets: tuple[HardwareSpec, ...]) -> list[Any]:
    table = new_table(
        "Hardware presets (memory as the driver reports it)",
        "id",
        "kind",
        "memory",
        "memory",
        "GB/s",
        "also",
        left=("id", "kind", "also"),
        prose=("also",),
    )
    for h in presets:
        table.add_row(
            h.id,
            h.kind,
            dec(h.memory_bytes),
            bin_(h.memory_bytes),
            count(h.bandwidth_gb_s) if h.bandwidth_gb_s else "-",
            "; ".join(h.aliases),  # every alias and nvidia-smi name, in full
        )
    return [table]


def no_fit_message(result: FitResult, hints: list[str]) -> str:
    """The one stderr line for a question with no answer: what is short, and what would fit."""
    b = result.budget
    where = f"{b.devices} x {result.target.name}" if b.devices > 1 else result.target.name
    if b.kv_bytes < 0:
        what = (
            f"{result.spec.id} does not fit on {where}: weights ({b.weight_format}) "
            f"{dec(b.weight_bytes)} + overhead {dec(b.overhead_bytes)} per device exceed the "
            f"{dec(b.usable_bytes)} usable by {dec(-b.kv_bytes)}"
        )
    elif result.asked_both:
        closest = (
            f"{plural(result.max_batch, 'request')} of {result.seq:,} tokens, or "
            f"{plural(result.batch, 'request')} of {result.max_context:,} tokens"
            if result.max_context
            else "nothing"
        )
        what = (
            f"{result.seq:,} tokens x {plural(result.batch, 'request')} need "
            f"{dec(result.used_bytes)} of KV per device but the budget is "
            f"{dec(result.capacity_bytes)}; "
            f"what fits: {closest}"
        )
    elif result.asked == "requests":
        closest = f"1 request of {result.max_context:,} tokens" if result.max_context else "nothing"
        what = (
            f"{result.spec.id} on {where}: not one request of {result.seq:,} tokens fits the "
            f"KV budget of {dec(b.kv_bytes)}; what fits: {closest}"
        )
    else:
        what = (
            f"{result.spec.id} on {where}: the KV budget of {dec(b.kv_bytes)} holds not even "
            f"one token for {plural(result.batch, 'request')}"
        )
    return what + (f"; would fit with {' or '.join(hints)}" if hints else "")
