"""Decode-bound and side-by-side tables (`kvcalc decode`, `kvcalc compare`)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kvcalc.api import CompareAnswer
from kvcalc.decoding import Decode, DecodeStep
from kvcalc.render import SCHEMA_VERSION, bin_, count, dec, new_table
from kvcalc.units import fixed, plural

BOUND_NOTE = (
    "This is a memory-bandwidth lower bound on step time (an upper bound on tokens/s): "
    "compute, kernel efficiency and scheduling only add to it."
)


def rate(value: Fraction) -> str:
    return fixed(value, 1, 1)


def step_json(step: DecodeStep) -> dict[str, Any]:
    return {
        "form": step.name,
        "attention": step.attention,
        "kv_heads": step.kv_heads,
        "weight_bytes": step.weight_bytes,
        "kv_bytes": step.kv_bytes,
        "total_bytes": step.total_bytes,
        "step_seconds_min": float(step.step_seconds),
        "step_seconds_min_exact": f"{step.step_seconds.numerator}/{step.step_seconds.denominator}",
        "tokens_per_second_per_request_max": float(step.tokens_per_second),
        "tokens_per_second_aggregate_max": float(step.aggregate_tokens_per_second),
    }


def decode_json(result: Decode, device: str) -> dict[str, Any]:
    first = result.steps[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "model": result.spec.id,
        "device_label": device,
        "bandwidth_bytes_per_s": first.bandwidth,
        "tp": result.tp,
        "seq": first.seq,
        "batch": first.batch,
        "weight_format": result.weight_format,
        "kv_overtakes_weights_at_seq": result.crossover_seq,
        "kv_overtakes_weights_at_batch": result.crossover_batch,
        "bound": "memory bandwidth lower bound on step time",
        "steps": [step_json(s) for s in result.steps],
    }


def decode_tables(result: Decode, device: str) -> list[Any]:
    first = result.steps[0]
    per = " per GPU" if result.tp > 1 else ""
    table = new_table(
        f"{result.spec.id}: bytes read per decode step{per}, {first.seq:,} tokens x "
        f"{first.batch:,} requests, weights {result.weight_format}, on {device} "
        f"({fixed(first.bandwidth, 10**9, 0)} GB/s{per})",
        "attention",
        "weights",
        "KV cache",
        "total",
        "ms >=",
        "tok/s/req",
        "tok/s",
        left=("attention",),
    )
    for s in result.steps:
        table.add_row(
            s.attention + ("*" if s.name == "configured" else ""),
            dec(s.weight_bytes),
            dec(s.kv_bytes),
            dec(s.total_bytes),
            fixed(s.step_seconds * 1000, 1),
            rate(s.tokens_per_second),
            rate(s.aggregate_tokens_per_second),
        )
    lines: list[Any] = [
        table,
        "* the model as configured; ms >=: step time at best; tok/s/req and tok/s (all "
        "requests): at most",
    ]
    w = first.weight_bytes
    if result.crossover_seq is None:
        lines.append(
            f"The KV read never overtakes the weights ({dec(w)}) at "
            f"{plural(first.batch, 'request')}: every layer is windowed or fixed-size."
        )
    else:
        lines.append(
            f"KV overtakes weights ({dec(w)} / {bin_(w)}) as the larger read at "
            f"{plural(result.crossover_seq, 'token')} x {plural(first.batch, 'request')}, or at "
            f"{plural(result.crossover_batch, 'request')} x {plural(first.seq, 'token')}."
        )
    lines.append(BOUND_NOTE)
    return lines


Row = tuple[str, str, list[str], list[Any]]
"""(label, JSON key or '' for table-only rows, cells shown, values in JSON)."""


def budget_cell(fit: Any) -> str:
    """A KV budget, or 'does not fit' where weights and overhead exceed the memory."""
    return dec(fit.budget.kv_bytes) if fit.budget.kv_bytes >= 0 else "does not fit"


def compare_rows(answer: CompareAnswer) -> list[Row]:
    specs, results, fits = answer.specs, answer.results, answer.fits

    def row(label: str, key: str, values: list[Any], show: Any = count) -> Row:
        return (label, key, [show(v) for v in values], values)

    rows = [
        row("layers", "num_layers", [s.num_layers for s in specs]),
        row("query heads", "num_query_heads", [s.num_query_heads for s in specs]),
        row(
            "KV heads",
            "num_kv_heads",
            [s.num_kv_heads if s.per_head_kv else None for s in specs],
            lambda v: "-" if v is None else count(v),
        ),
        row("attention", "attention", [s.attention_kind for s in specs], str),
        row("bytes/token", "bytes_per_token", [r.bytes_per_token for r in results]),
        row("per request", "bytes_per_request", [r.bytes_per_request for r in results], dec),
        row("total", "total_bytes", [r.total_bytes for r in results], dec),
        row("total GiB", "", [r.total_bytes for r in results], bin_),
    ]
    if fits is not None:
        no_fit = [f.budget.kv_bytes < 0 for f in fits]
        rows += [
            (
                "KV budget",
                "kv_budget_bytes",
                [budget_cell(f) for f in fits],
                [f.budget.kv_bytes for f in fits],
            ),
            row("fits", "fits", [f.fits for f in fits], lambda v: "yes" if v else "no"),
            (
                "max context",
                "max_context",
                ["-" if bad else count(f.max_context) for f, bad in zip(fits, no_fit, strict=True)],
                [f.max_context for f in fits],
            ),
            (
                "max requests",
                "max_batch",
                ["-" if bad else count(f.max_batch) for f, bad in zip(fits, no_fit, strict=True)],
                [f.max_batch for f in fits],
            ),
        ]
    return rows


def compare_json(answer: CompareAnswer) -> dict[str, Any]:
    first = answer.results[0]
    keyed = {key: values for _, key, _, values in compare_rows(answer) if key}
    return {
        "schema_version": SCHEMA_VERSION,
        "seq": first.seq,
        "batch": first.batch,
        "tp": answer.setup.tp,
        "pp": answer.setup.pp,
        "models": [
            {"model": s.id, **{k: v[i] for k, v in keyed.items()}}
            for i, s in enumerate(answer.specs)
        ],
    }


def compare_tables(answer: CompareAnswer) -> list[Any]:
    first, opts = answer.results[0], answer.setup
    budget = ""
    if opts.target is not None:
        devices = f"{opts.devices} x " if opts.devices > 1 else ""
        budget = f"{devices}{opts.target.name}"
    title = f"{first.seq:,} tokens x {plural(first.batch, 'request')}, {opts.dtype_label}" + (
        f"; fit on {budget} (max context at {plural(first.batch, 'request')}, most requests "
        f"at {first.seq:,} tokens)"
        if answer.fits is not None
        else ""
    )
    table = new_table(title, "", *[s.id for s in answer.specs], left=("",))
    for label, _, cells, _ in compare_rows(answer):
        table.add_row(label, *cells)
    return [table]
