"""`kvcalc fit` with llama.cpp on a GPU: the -ngl answer and each device's buffers."""

from __future__ import annotations

from typing import Any

from kvcalc.offload import DeviceMemory, OffloadAnswer
from kvcalc.render import bin_, count, dec
from kvcalc.render_engine import log_lines
from kvcalc.render_grid import Verbatim


def device_json(memory: DeviceMemory) -> dict[str, Any]:
    return {
        "device": memory.device,
        "model_bytes": memory.model_bytes,
        "kv_bytes": memory.kv_bytes,
        "state_bytes": memory.state_bytes,
        "compute_bytes_estimate": memory.compute_bytes,
        "total_bytes": memory.total_bytes,
    }


def offload_json(a: OffloadAnswer) -> dict[str, Any]:
    split = a.split
    return {
        "asked": a.asked,
        "n_gpu_layers": a.n_gpu_layers,
        "max_layers": a.max_layers,
        "seq": a.seq,
        "batch": a.batch,
        "model_max_context": a.max_context,
        "budget_bytes": a.budget_bytes,
        "margin_bytes": a.margin_bytes,
        "fits": a.fits,
        "gpu": device_json(split.gpu) if split else None,
        "cpu": device_json(split.cpu) if split else None,
        "engine_report": log_lines(a.report),
    }


def memory_text(m: DeviceMemory) -> str:
    parts = [f"weights {dec(m.model_bytes)}", f"KV {dec(m.kv_bytes)}"]
    if m.state_bytes:
        parts.append(f"state {dec(m.state_bytes)}")
    if m.compute_bytes:
        parts.append(f"compute {dec(m.compute_bytes)} (estimate)")
    return " + ".join(parts) + f" = {dec(m.total_bytes)} ({bin_(m.total_bytes)})"


def offload_lines(a: OffloadAnswer, gpu_name: str) -> list[Any]:
    who = f"{a.batch:,} request{'s' if a.batch > 1 else ''}"
    lines: list[Any] = [
        f"llama.cpp partial offload on {gpu_name}: {count(a.budget_bytes)} B for weights, KV "
        f"and compute after a {dec(a.margin_bytes)} margin ("
        + ("--overhead" if a.margin_bytes != 1024 * 2**20 else "llama-server --fit's 1024 MiB")
        + ")"
    ]
    if a.asked == "layers":
        if a.split is None:
            lines.append(
                f"[bold red]Not even -ngl 0 fits[/bold red] {a.seq:,} tokens x {who}: the "
                "compute buffer estimate alone exceeds the budget"
            )
            return lines
        layers = a.n_gpu_layers
        lines.append(
            f"Most layers on the GPU for {a.seq:,} tokens x {who}: [bold]-ngl {layers}[/bold] "
            f"of {a.max_layers} ({max(layers - 1, 0)} repeating layers"
            + (" + the output head)" if layers else ")")
        )
    elif a.split is None:
        lines.append(f"[bold red]-ngl {a.n_gpu_layers}: not even 1 token fits[/bold red]")
        return lines
    else:
        cap = "" if a.seq <= a.max_context else f"; the model allows {a.max_context:,}"
        verb = "fits" if a.fits else "[bold red]does NOT fit[/bold red]"
        lines.append(
            f"With -ngl {a.n_gpu_layers} of {a.max_layers}: {a.seq:,} tokens x {who} {verb}" + cap
        )
    lines.append(f"  GPU: {memory_text(a.split.gpu)}")
    lines.append(f"  CPU: {memory_text(a.split.cpu)}")
    lines.append("llama.cpp would log (the compute buffer is kvcalc's estimate):")
    lines += [Verbatim(f"  {line}") for line in log_lines(a.report)]
    return lines
