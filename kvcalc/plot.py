"""Memory against context (or batch): the series a plot draws, computed by sizing.size.

Pure data; render_plot.py draws it in the terminal or, with matplotlib, to a file.
Each point is the exact byte count `kvcalc size` would print for that (seq, batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from kvcalc.dtypes import ElementFormat
from kvcalc.engines import IDEAL, Engine
from kvcalc.errors import UsageError
from kvcalc.limits import MAX_PLOT_POINTS as MAX_POINTS
from kvcalc.sizing import engine_groups, forms, size
from kvcalc.spec import ModelSpec


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    ys: tuple[int, ...]
    """Total KV bytes at each x."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    title: str
    axis: str
    """seq | batch"""
    xs: tuple[int, ...]
    series: tuple[Series, ...]
    budgets: tuple[tuple[str, int], ...]
    """(label, KV budget bytes) lines to draw."""


def xs_for(to: int, points: int, start: int) -> tuple[int, ...]:
    """`points` integers from `start` to `to`, evenly spaced, both ends included."""
    if points < 2 or points > MAX_POINTS:
        raise UsageError(f"--points must be between 2 and {MAX_POINTS}, got {points}")
    if to <= start:
        raise UsageError(f"--to must be more than {start}, got {to}")
    steps = min(points - 1, to - start)
    return tuple(start + (to - start) * i // steps for i in range(steps + 1))


def chart(
    specs: list[ModelSpec],
    axis: str,
    to: int,
    fixed: int,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    engine: Engine = IDEAL,
    points: int = 41,
    budgets: tuple[tuple[str, int], ...] = (),
) -> Chart:
    """One model: its MHA / configured / MQA forms; several: one series per model.

    axis 'seq': x is tokens per request at `fixed` requests; 'batch': x is requests
    of `fixed` tokens.
    """
    if axis not in ("seq", "batch"):
        raise UsageError(f"--x must be seq or batch, not {axis!r}")
    xs = xs_for(to, points, 0 if axis == "seq" else 1)

    def values(spec: ModelSpec, kv_heads: int | None) -> tuple[int, ...]:
        groups = engine_groups(spec, kv_heads, engine)
        return tuple(
            size(
                groups,
                x if axis == "seq" else fixed,
                fixed if axis == "seq" else x,
                k_fmt,
                v_fmt,
                engine,
            ).total_bytes
            for x in xs
        )

    if len(specs) == 1 and specs[0].per_head_kv:
        spec = specs[0]
        model, mha, mqa = forms(spec)
        # MHA above the model above MQA, each drawn once (an MHA model has no separate MHA line)
        lines = [(model.kv_heads, f"{model.attention} (model)")]
        if spec.num_kv_heads != spec.num_query_heads:
            lines.insert(0, (mha.kv_heads, mha.attention))
        if spec.num_kv_heads != 1:
            lines.append((mqa.kv_heads, mqa.attention))
        series = tuple(Series(f"{spec.id} {label}", values(spec, g)) for g, label in lines)
    else:
        series = tuple(Series(spec.id, values(spec, None)) for spec in specs)
    per = f"{fixed:,} requests" if axis == "seq" else f"{fixed:,} tokens per request"
    what = "context (tokens per request)" if axis == "seq" else "concurrent requests"
    title = (
        f"KV cache vs {what}, {per}, {k_fmt.name}"
        + (f"/{v_fmt.name}" if v_fmt != k_fmt else "")
        + ("" if engine.name == "ideal" else f", {engine.name}")
    )
    return Chart(title=title, axis=axis, xs=xs, series=series, budgets=budgets)
