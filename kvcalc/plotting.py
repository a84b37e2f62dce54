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


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    label: str
    model: str
    """The model's id: its budget line and max-context mark share the series' colour."""
    ys: tuple[int, ...]
    """Total KV bytes at each x."""
    mark: tuple[int, int] | None = None
    """(x, bytes) at the point the user asked for (--seq on a seq axis, --batch on a
    batch axis), when it lies on the axis."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetLine:
    model: str
    label: str
    kv_bytes: int
    """The model's KV budget on the target; negative when weights alone do not fit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    title: str
    axis: str
    """seq | batch"""
    xs: tuple[int, ...]
    series: tuple[Series, ...]
    budgets: tuple[BudgetLine, ...]
    max_contexts: tuple[tuple[str, int], ...]
    """(model, its max context) when the x axis is tokens and it falls on the axis."""


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
    budgets: tuple[BudgetLine, ...] = (),
    mark: int | None = None,
) -> Chart:
    """One model: its MHA / configured / MQA forms; several: one series per model.

    axis 'seq': x is tokens per request at `fixed` requests; 'batch': x is requests
    of `fixed` tokens.  `mark`: an x to mark on every series.
    """
    if axis not in ("seq", "batch"):
        raise UsageError(f"--x must be seq or batch, not {axis!r}")
    xs = xs_for(to, points, 0 if axis == "seq" else 1)

    def total(spec: ModelSpec, kv_heads: int | None, x: int) -> int:
        groups = engine_groups(spec, kv_heads, engine)
        seq, batch = (x, fixed) if axis == "seq" else (fixed, x)
        return size(groups, seq, batch, k_fmt, v_fmt, engine).total_bytes

    def series(spec: ModelSpec, kv_heads: int | None, label: str) -> Series:
        marked = None
        if mark is not None and xs[0] <= mark <= xs[-1]:
            marked = (mark, total(spec, kv_heads, mark))
        ys = tuple(total(spec, kv_heads, x) for x in xs)
        return Series(label=label, model=spec.id, ys=ys, mark=marked)

    if len(specs) == 1 and specs[0].per_head_kv:
        spec = specs[0]
        model, mha, mqa = forms(spec)
        # MHA above the model above MQA, each drawn once (an MHA model has no separate MHA line)
        lines = [(model.kv_heads, f"{model.attention} (model)")]
        if spec.num_kv_heads != spec.num_query_heads:
            lines.insert(0, (mha.kv_heads, mha.attention))
        if spec.num_kv_heads != 1:
            lines.append((mqa.kv_heads, mqa.attention))
        drawn = tuple(series(spec, g, f"{spec.id} {label}") for g, label in lines)
    else:
        drawn = tuple(series(spec, None, spec.id) for spec in specs)
    per = (
        f"{fixed:,} request{'s' if fixed != 1 else ''}"
        if axis == "seq"
        else (f"{fixed:,} tokens per request")
    )
    what = "context (tokens per request)" if axis == "seq" else "concurrent requests"
    title = (
        f"KV cache vs {what}, {per}, {k_fmt.name}"
        + (f"/{v_fmt.name}" if v_fmt != k_fmt else "")
        + ("" if engine.name == "ideal" else f", {engine.name}")
    )
    limits = tuple(
        (spec.id, spec.max_context)
        for spec in specs
        if axis == "seq" and spec.max_context <= xs[-1]
    )
    return Chart(title=title, axis=axis, xs=xs, series=drawn, budgets=budgets, max_contexts=limits)
