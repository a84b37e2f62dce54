"""`kvcalc dial`: every KV-head count, with fit and decode columns on a target."""

from __future__ import annotations

from typing import Any

from kvcalc.api import DialAnswer
from kvcalc.render import SCHEMA_VERSION, bin_, count, dec, new_table, ratio_text
from kvcalc.render_size import variant_json
from kvcalc.units import fixed, plural


def dial_json(answer: DialAnswer) -> dict[str, Any]:
    spec, rows, fits, steps = answer.spec, answer.rows, answer.fits, answer.steps
    mha_total = rows[-1].result.total_bytes

    def extra(i: int) -> dict[str, Any]:
        more: dict[str, Any] = {}
        if fits is not None:
            more["max_context"] = fits[i].max_context
            more["max_batch"] = fits[i].max_batch
            more["fits"] = fits[i].fits
        if steps is not None:
            more["decode_step_seconds_min"] = float(steps[i].step_seconds)
            more["decode_tokens_per_second_max"] = float(steps[i].tokens_per_second)
        return more

    return {
        "schema_version": SCHEMA_VERSION,
        "model": spec.id,
        "seq": rows[0].result.seq,
        "batch": rows[0].result.batch,
        "tp": answer.setup.tp,
        "kv_dtype": answer.setup.kv_dtype,
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


def dial_table(answer: DialAnswer) -> list[Any]:
    spec, rows, fits, steps = answer.spec, answer.rows, answer.fits, answer.steps
    dtype_label, tp = answer.setup.dtype_label, answer.setup.tp
    target = answer.setup.target
    budget = target.name if target is not None else ""
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
            if fit.budget.kv_bytes < 0:  # weights and overhead alone exceed the memory
                cells += ["no fit", "no fit"]
            else:
                context = count(fit.max_context) if fit.max_context else "none"
                cells += [context, count(fit.max_batch)]
        if steps is not None:
            cells += [
                fixed(steps[i].step_seconds * 1000, 1),
                fixed(steps[i].tokens_per_second, 1, 1),
            ]
        table.add_row(*cells)
    notes: list[Any] = [table]
    if tp > 1 and any(v.kv_heads < tp for v in rows):
        notes.append(
            f"tensor parallel {tp}: each rank keeps at least one KV head, so every G below "
            f"{tp} is replicated and holds what G = {tp} holds per GPU"
        )
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
