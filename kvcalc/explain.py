"""`size --explain`: every number of a size answer as arithmetic, with the config fields.

Each cache kind states its own bytes and tokens (layers.py) and each engine its own
slots (engines/); this module strings them together in order.  Byte counts stay
plain integers here; render adds the GB/GiB forms of the total.
"""

from __future__ import annotations

from kvcalc.dtypes import ElementFormat
from kvcalc.engines import Engine
from kvcalc.sizing import SizeResult
from kvcalc.spec import ModelSpec
from kvcalc.units import plural


def explain(
    spec: ModelSpec,
    result: SizeResult,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    engine: Engine,
) -> list[str]:
    """The arithmetic, one line per step; the last line is 'total = ... = N B'."""
    seq, batch = result.seq, result.batch
    if spec.head_dim is not None:
        dims = f"head_dim {spec.k_head_dim} (explicit in the spec)"
    else:
        dims = (
            f"head_dim {spec.k_head_dim} = hidden_size {spec.hidden_size:,} / "
            f"num_query_heads {spec.num_query_heads}"
        )
    lines = [
        f"{spec.id}: {plural(seq, 'token')} x {plural(batch, 'request')}; {dims}; "
        f"K {k_fmt.name} ({k_fmt.summary}), V {v_fmt.name}"
    ]
    for g in result.groups:
        cache = g.cache
        lines.append(f"{g.count} x {cache.label} layer{'s' if g.count > 1 else ''}:")
        lines += [f"  {line}" for line in cache.formula(k_fmt, v_fmt)]
        held = cache.held_text(seq)
        if held is None:  # a fixed state per request (llama.cpp: per slot): nothing per token
            rows = engine.state_requests(batch)
            who = "request" if rows == batch else "slot"
            lines.append(
                f"  bytes = {plural(g.count, 'layer')} x {plural(rows, who)} x "
                f"{cache.state_bytes():,} B = {g.total_bytes:,} B"
            )
            continue
        lines.append(f"  tokens held per request = {held}")
        if engine.name != "ideal":
            lines.append(f"  {engine.name}: {engine.explain(cache, seq, batch)}")
            lines.append(
                f"  bytes = {plural(g.count, 'layer')} x {plural(g.cells, 'slot')} "
                f"x ({g.k_token_bytes:,} + {g.v_token_bytes:,}) B = {g.total_bytes:,} B"
            )
            continue
        lines.append(
            f"  bytes = {plural(g.count, 'layer')} x {plural(batch, 'request')} x "
            f"{plural(g.tokens_held, 'token')} "
            f"x ({g.k_token_bytes:,} + {g.v_token_bytes:,}) B = {g.total_bytes:,} B"
        )
    parts = " + ".join(f"{g.total_bytes:,}" for g in result.groups)
    sum_text = f"{parts} = " if len(result.groups) > 1 else ""
    lines.append(f"total = {sum_text}{result.total_bytes:,} B")
    return lines
