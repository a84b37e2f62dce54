"""`kvcalc size`: the layer groups, the model beside its MHA/MQA forms, and --explain."""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from typing import Any

from kvcalc.api import SizeAnswer
from kvcalc.render import SCHEMA_VERSION, bin_, both, count, dec, new_table, ratio_text
from kvcalc.render_engine import log_lines
from kvcalc.render_grid import Verbatim
from kvcalc.sizing import GroupSize, Variant
from kvcalc.spec import ModelSpec
from kvcalc.units import plural


def group_json(group: GroupSize) -> dict[str, Any]:
    fields = asdict(group.cache)  # type: ignore[call-overload]
    return {
        "kind": group.cache.kind,
        "count": group.count,
        **fields,
        "tokens_held": group.tokens_held,
        "cells": group.cells,
        "k_token_bytes": group.k_token_bytes,
        "v_token_bytes": group.v_token_bytes,
        "k_bytes": group.k_bytes,
        "v_bytes": group.v_bytes,
        "state_bytes": group.state_bytes,
        "total_bytes": group.total_bytes,
    }


def mha_total_of(shown: tuple[Variant, ...], query_heads: int) -> int | None:
    """Total bytes of the MHA form, when the model has one (MLA models do not)."""
    return next((v.result.total_bytes for v in shown if v.kv_heads == query_heads), None)


def variant_json(variant: Variant, mha_total: int | None) -> dict[str, Any]:
    result = variant.result
    return {
        "form": variant.name,
        "attention": variant.attention,
        "kv_heads": variant.kv_heads,
        "bytes_per_token": result.bytes_per_token,
        "bytes_per_request": result.bytes_per_request,
        "total_bytes": result.total_bytes,
        "mha_ratio": (
            float(Fraction(mha_total, result.total_bytes))
            if mha_total is not None and result.total_bytes
            else None
        ),
    }


def size_json(answer: SizeAnswer, explain: list[str]) -> dict[str, Any]:
    spec, shown, opts = answer.spec, answer.variants, answer.setup
    main, mha_total = shown[0], mha_total_of(shown, spec.num_query_heads)
    result, engine = main.result, opts.engine
    k_dtype, v_dtype = opts.k_format.name, opts.v_format.name
    payload = {
        "schema_version": SCHEMA_VERSION,
        "model": spec.id,
        "engine": engine.name,
        "block_size": engine.page,
        "engine_report": log_lines(answer.report),
        "seq": result.seq,
        "batch": result.batch,
        "kv_dtype": k_dtype if k_dtype == v_dtype else f"{k_dtype}/{v_dtype}",
        "k_dtype": k_dtype,
        "v_dtype": v_dtype,
        "num_layers": result.num_layers,
        "query_heads": spec.num_query_heads,
        "kv_heads": main.kv_heads,
        "configured_kv_heads": spec.num_kv_heads if spec.per_head_kv else None,
        "attention": main.attention,
        "model_max_context": spec.max_context,
        "exceeds_max_context": result.seq > spec.max_context,
        "bytes_per_token": result.bytes_per_token,
        "bytes_per_request": result.bytes_per_request,
        "k_bytes": result.k_bytes,
        "v_bytes": result.v_bytes,
        "state_bytes": result.state_bytes,
        "total_bytes": result.total_bytes,
        "groups": [group_json(g) for g in result.groups],
        "variants": [variant_json(v, mha_total) for v in shown],
    }
    if explain:
        payload["explain"] = explain
    if answer.fit is not None:
        from kvcalc.render_fit import fit_json

        payload["fit"] = fit_json(answer.fit)
    return payload


def header(spec: ModelSpec) -> str:
    # a latent (MLA) or recurrent-only model has no KV heads to count: do not print the
    # config's num_key_value_heads (128 for DeepSeek V3) beside a one-row cache
    heads = f"{spec.num_kv_heads} KV heads, " if spec.per_head_kv else ""
    return (
        f"[bold]{spec.id}[/bold] ({spec.name or spec.id}): {spec.attention_kind}, "
        f"{spec.num_layers} layers, {spec.num_query_heads} query heads, "
        f"{heads}"
        f"head dim {spec.k_head_dim}"
        + (f"/{spec.resolved_v_head_dim}" if spec.resolved_v_head_dim != spec.k_head_dim else "")
        + f", max context {spec.max_context:,} tokens"
        + (  # a longer context the card declares with rope scaling (Qwen3: YaRN to 131,072)
            f" ({spec.extended_context:,} with rope scaling)"
            if spec.extended_context and spec.extended_context > spec.max_context
            else ""
        )
    )


def size_tables(answer: SizeAnswer, explain: list[str]) -> list[Any]:
    spec, shown, engine = answer.spec, answer.variants, answer.setup.engine
    main, mha_total = shown[0], mha_total_of(shown, spec.num_query_heads)
    result = main.result
    ideal = engine.name == "ideal"
    groups = new_table(
        "Layer groups (B/token/layer: K+V bytes of one token in one layer; "
        + ("held: tokens per request)" if ideal else "slots: token slots per layer, all requests)"),
        "layers",
        "kind",
        "KV",
        "held" if ideal else "slots",
        "B/token/layer",
        "total",
        "total",
        left=("kind",),
    )
    for g in result.groups:
        groups.add_row(
            count(g.count),
            g.cache.label,
            count(g.cache.num_kv_heads),
            count(g.tokens_held if ideal else g.cells),
            count(g.layer_token_bytes),
            dec(g.total_bytes),
            bin_(g.total_bytes),
        )

    variants = new_table(
        f"KV cache: {result.seq:,} tokens x {plural(result.batch, 'request')}, "
        f"{answer.setup.dtype_label}"
        + ("" if ideal else f", as {engine.title} allocates it")
        + "\nB/token: K+V bytes of one token in all layers",
        "attention",
        "KV",
        "B/token",
        "per req.",
        "total",
        "total",
        "MHA/x",
        left=("attention",),
    )
    for v in shown:
        r = v.result
        variants.add_row(
            v.attention + {"configured": " (model)", "dialed": " (dialed)"}.get(v.name, ""),
            count(v.kv_heads),
            count(r.bytes_per_token),
            dec(r.bytes_per_request),
            dec(r.total_bytes),
            bin_(r.total_bytes),
            ratio_text(mha_total, r.total_bytes)
            if mha_total is not None and r.total_bytes
            else "-",
        )
    state = f" + state {count(result.state_bytes)} B" if result.state_bytes else ""
    summary = (
        f"{main.attention}: K {count(result.k_bytes)} B + V {count(result.v_bytes)} B{state} = "
        f"[bold]{count(result.total_bytes)} B = {both(result.total_bytes)}[/bold]"
    )
    report = log_lines(answer.report)
    log = [f"{engine.name} would log:", *(Verbatim(f"  {line}") for line in report)]
    out = [header(spec), groups, variants, summary, *(log if report else [])]
    if answer.fit is not None:
        from kvcalc.render_fit import point_line

        out.append(point_line(answer.fit))
    return out + ([""] + explain if explain else [])


def explain_text(lines: list[str], total_bytes: int) -> list[str]:
    """explain.py's arithmetic, with the total also in GB and GiB."""
    return [*lines[:-1], f"{lines[-1]} = {both(total_bytes)}"]
