"""Tables and JSON: the only place that chooses units.

JSON carries raw integer bytes (a contract, documented in the README); tables
show bytes with both GB (10^9, as vendors sell memory) and GiB (2^30, as
engines log it), every number labelled.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from fractions import Fraction
from typing import Any

from kvcalc.engines import Engine
from kvcalc.render_grid import Grid, Verbatim
from kvcalc.sizing import GroupSize, Variant
from kvcalc.spec import ModelSpec
from kvcalc.units import auto_unit, fixed, format_bytes


def dec(n_bytes: int) -> str:
    """Decimal units, scaled: '21.47 GB', '671.09 MB'; under 1 KB in plain bytes."""
    return format_bytes(n_bytes, auto_unit(n_bytes) if abs(n_bytes) >= 1000 else "B")


def bin_(n_bytes: int) -> str:
    """Binary units, scaled: '20.00 GiB', '640.00 MiB' (what engines log)."""
    return format_bytes(n_bytes, auto_unit(n_bytes, binary=True) if abs(n_bytes) >= 1024 else "B")


def both(n_bytes: int) -> str:
    """'21.47 GB / 20.00 GiB': both families, so users can compare with either."""
    return f"{dec(n_bytes)} / {bin_(n_bytes)}"


def count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    """'1 request', '8 requests'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def ratio_text(numerator: int, denominator: int) -> str:
    """'8x' when exact, else two decimals: MHA bytes / these bytes."""
    value = Fraction(numerator, denominator)
    return f"{value.numerator}x" if value.denominator == 1 else f"{fixed(value, 1)}x"


def new_table(
    title: str, *columns: str, left: tuple[str, ...] = (), prose: tuple[str, ...] = ()
) -> Grid:
    """A compact table that becomes one block per row rather than cut a number
    (render_grid.py); `left` names left-aligned columns, `prose` ones that may wrap."""
    return Grid(title, columns, left=left, prose=prose)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2)


# ---------------------------------------------------------------- size


def group_json(group: GroupSize) -> dict[str, Any]:
    fields = asdict(group.cache)  # type: ignore[call-overload]
    return {
        "kind": group.cache.kind,
        "layers": group.count,
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


def mha_total_of(shown: tuple[Variant, ...]) -> int | None:
    """Total bytes of the MHA variant, when the model has one (MLA models do not)."""
    return next((v.result.total_bytes for v in shown if v.name == "mha"), None)


def variant_json(variant: Variant, mha_total: int | None) -> dict[str, Any]:
    result = variant.result
    return {
        "name": variant.name,
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


def size_json(
    spec: ModelSpec,
    shown: tuple[Variant, ...],
    k_dtype: str,
    v_dtype: str,
    engine: Engine | None = None,
    report: list[str] | None = None,
) -> dict[str, Any]:
    main, mha_total = shown[0], mha_total_of(shown)
    result = main.result
    return {
        "model": spec.id,
        "engine": engine.name if engine is not None else "ideal",
        "block_size": engine.page if engine is not None else 1,
        "engine_report": report or [],
        "seq": result.seq,
        "batch": result.batch,
        "kv_dtype": k_dtype if k_dtype == v_dtype else f"{k_dtype}/{v_dtype}",
        "k_dtype": k_dtype,
        "v_dtype": v_dtype,
        "num_layers": result.num_layers,
        "query_heads": spec.num_query_heads,
        "kv_heads": main.kv_heads,
        "configured_kv_heads": spec.num_kv_heads,
        "attention": main.attention,
        "max_context": spec.max_context,
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


def header(spec: ModelSpec) -> str:
    return (
        f"[bold]{spec.id}[/bold] ({spec.name or spec.id}): {spec.attention_kind}, "
        f"{spec.num_layers} layers, {spec.num_query_heads} query heads, "
        f"{spec.num_kv_heads} KV heads, "
        f"head dim {spec.k_head_dim}"
        + (f"/{spec.resolved_v_head_dim}" if spec.resolved_v_head_dim != spec.k_head_dim else "")
        + f", max context {spec.max_context:,} tokens"
    )


def size_tables(
    spec: ModelSpec,
    shown: tuple[Variant, ...],
    dtype_label: str,
    engine: Engine | None = None,
    report: list[str] | None = None,
) -> list[Any]:
    main, mha_total = shown[0], mha_total_of(shown)
    result = main.result
    ideal = engine is None or engine.name == "ideal"
    groups = new_table(
        "Layer groups (B/token: K+V bytes of one token in one layer; "
        + ("held: tokens per request)" if ideal else "slots: token slots per layer, all requests)"),
        "layers",
        "kind",
        "KV",
        "held" if ideal else "slots",
        "B/token",
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
        f"KV cache: {result.seq:,} tokens x {result.batch:,} requests, {dtype_label}"
        + ("" if ideal or engine is None else f", as {engine.title} allocates it"),
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
    log = (
        [f"{engine.name} would log:", *(Verbatim(f"  {line}") for line in report)]
        if engine and report
        else []
    )
    return [header(spec), groups, variants, summary, *log]


def explain_text(lines: list[str], total_bytes: int) -> list[str]:
    """explain.py's arithmetic, with the total also in GB and GiB."""
    return [*lines[:-1], f"{lines[-1]} = {both(total_bytes)}"]


# ---------------------------------------------------------------- dial


def dial_json(
    spec: ModelSpec,
    rows: list[Variant],
    dtype_label: str,
    fits: list[Any] | None = None,
    steps: list[Any] | None = None,
) -> dict[str, Any]:
    mha_total = rows[-1].result.total_bytes

    def extra(i: int) -> dict[str, Any]:
        more: dict[str, Any] = {}
        if fits is not None:
            more["max_context"] = fits[i].max_context
            more["max_batch"] = fits[i].max_batch
        if steps is not None:
            more["decode_step_seconds_min"] = float(steps[i].step_seconds)
            more["decode_tokens_per_second_max"] = float(steps[i].tokens_per_second)
        return more

    return {
        "model": spec.id,
        "seq": rows[0].result.seq,
        "batch": rows[0].result.batch,
        "kv_dtype": dtype_label,
        "query_heads": spec.num_query_heads,
        "configured_kv_heads": spec.num_kv_heads,
        "rows": [
            {
                "kv_heads": v.kv_heads,
                "group_size": spec.num_query_heads // v.kv_heads,
                "configured": v.name == "configured",
                **variant_json(v, mha_total),
                **extra(i),
            }
            for i, v in enumerate(rows)
        ],
    }


def dial_table(
    spec: ModelSpec,
    rows: list[Variant],
    dtype_label: str,
    fits: list[Any] | None = None,
    steps: list[Any] | None = None,
    budget: str = "",
) -> list[Any]:
    r0 = rows[0].result
    wide = fits is None and steps is None
    columns = ["G", "H/G", "attention", "B/token", "total", "total", "MHA/x"]
    if not wide:  # room for the fit and decode columns in 80 characters
        columns = ["G", "attention", "total", "MHA/x"]
    if fits is not None:
        columns += ["max ctx", "max req"]
    if steps is not None:
        columns += ["ms >=", "tok/s/req"]
    table = new_table(
        f"{spec.id}: every KV-head count G for {spec.num_query_heads} query heads, "
        f"{r0.seq:,} tokens x {r0.batch:,} requests, {dtype_label}",
        *columns,
        left=("attention",),
    )
    mha_total = rows[-1].result.total_bytes
    for i, v in enumerate(rows):
        mark = " (model)" if v.name == "configured" else ""
        ratio = ratio_text(mha_total, v.result.total_bytes) if v.result.total_bytes else "-"
        cells = [
            count(v.kv_heads),
            count(spec.num_query_heads // v.kv_heads),
            v.attention + mark,
            count(v.result.bytes_per_token),
            dec(v.result.total_bytes),
            bin_(v.result.total_bytes),
            ratio,
        ]
        if not wide:
            cells = [count(v.kv_heads), v.attention + mark, dec(v.result.total_bytes), ratio]
        if fits is not None:
            fit = fits[i]
            cells += [count(fit.max_context) if fit.max_context else "none", count(fit.max_batch)]
        if steps is not None:
            cells += [
                fixed(steps[i].step_seconds * 1000, 1),
                fixed(steps[i].tokens_per_second, 1, 1),
            ]
        table.add_row(*cells)
    notes: list[Any] = [table]
    if fits is not None:
        notes.append(
            f"max ctx: longest context for {plural(r0.batch, 'request')}; "
            f"max req: most requests of {r0.seq:,} tokens; on {budget}"
        )
    if steps is not None:
        notes.append(
            "ms >= and tok/s/req: the decode step's memory-bandwidth bound (see 'kvcalc decode')"
        )
    return notes


# ---------------------------------------------------------------- models


def model_row(spec: ModelSpec, bytes_per_token: int) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "layers": spec.num_layers,
        "query_heads": spec.num_query_heads,
        "kv_heads": spec.num_kv_heads,
        "head_dim": spec.k_head_dim,
        "v_head_dim": spec.resolved_v_head_dim,
        "attention": spec.attention_kind,
        "kv_bytes_per_token_fp16": bytes_per_token,
        "max_context": spec.max_context,
        "params": spec.params,
        "weight_dtype": spec.weight_dtype,
    }


def models_table(rows: list[dict[str, Any]]) -> list[Any]:
    cols = (
        ("id", "id"),
        ("L", "layers"),
        ("H", "query_heads"),
        ("KV", "kv_heads"),
        ("d", "head_dim"),
        ("attention", "attention"),
        ("B/token", "kv_bytes_per_token_fp16"),
        ("ctx", "max_context"),
    )
    table = new_table(
        "Model presets: L layers, H query heads, KV heads, d head dim,\n"
        "B/token = KV bytes of one token in every layer at fp16, ctx = max context",
        *(title for title, _ in cols),
        left=("id", "attention"),
    )
    for row in rows:
        table.add_row(*(cell(key, row[key]) for _, key in cols))
    return [table]


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "params":
        return f"{fixed(value, 10**9)}B"  # a parameter count in billions, not bytes
    return count(value) if isinstance(value, int) else str(value)


def model_detail(spec: ModelSpec, row: dict[str, Any]) -> list[Any]:
    table = Grid(f"{spec.id}: {spec.name or ''}", ("field", "value"), left=("field",))
    table.prose, table.show_header = ("value",), False
    for key, value in spec.model_dump(exclude_none=True).items():
        if key in ("sources", "notes", "aliases", "layers"):
            continue
        table.add_row(key, count(value) if isinstance(value, int) else str(value))
    table.add_row("head_dim (resolved)", f"{spec.k_head_dim} (K) / {spec.resolved_v_head_dim} (V)")
    table.add_row("attention", row["attention"])
    table.add_row("KV bytes / token (fp16)", f"{count(row['kv_bytes_per_token_fp16'])} B")
    if spec.layers:
        for i, group in enumerate(spec.layers):
            table.add_row(
                f"layers[{i}]", ", ".join(f"{k}={v}" for k, v in group.model_dump().items())
            )
    for key in ("aliases", "sources", "notes"):
        for i, item in enumerate(getattr(spec, key)):
            table.add_row(key if i == 0 else "", item)
    return [table]
