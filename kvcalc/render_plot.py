"""Draw a Chart: as text in the terminal, or as PNG/SVG with matplotlib (optional extra)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import UsageError
from kvcalc.plotting import Chart
from kvcalc.render import SCHEMA_VERSION, dec
from kvcalc.render_grid import Verbatim
from kvcalc.units import GB

MARKERS = "*ox+#@%&"
WIDTH, HEIGHT = 60, 16
FILE_KINDS = (".png", ".svg")


def plot_json(chart: Chart) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "title": chart.title,
        "axis": chart.axis,
        "xs": list(chart.xs),
        "series": [
            {
                "label": s.label,
                "model": s.model,
                "total_bytes_by_x": list(s.ys),
                "mark": None if s.mark is None else {"x": s.mark[0], "total_bytes": s.mark[1]},
            }
            for s in chart.series
        ],
        "budgets": [
            {"model": b.model, "label": b.label, "kv_budget_bytes": b.kv_bytes}
            for b in chart.budgets
        ],
        "model_max_contexts": [{"model": m, "tokens": n} for m, n in chart.max_contexts],
    }


def text_plot(chart: Chart) -> list[str]:
    """A character grid: one marker per series, '-' for each budget line (printed whole:
    wrapping a chart row at its spaces would scatter its markers)."""
    top = max([y for s in chart.series for y in s.ys] + [b.kv_bytes for b in chart.budgets] + [1])
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]

    def row(value: int) -> int:
        return HEIGHT - 1 - round(max(value, 0) * (HEIGHT - 1) / top)

    for budget in chart.budgets:
        if budget.kv_bytes < 0:
            continue  # nothing left for KV: said in the legend, not drawn
        r = row(budget.kv_bytes)
        grid[r] = ["-" if c == " " else c for c in grid[r]]
    last = len(chart.xs) - 1
    for marker, series in zip(MARKERS, chart.series, strict=False):
        for i, y in enumerate(series.ys):
            grid[row(y)][round(i * (WIDTH - 1) / max(last, 1))] = marker
    labels = {0: dec(top), HEIGHT // 2: dec(top // 2), HEIGHT - 1: dec(0)}
    pad = max(len(v) for v in labels.values())
    lines = [chart.title]
    lines += [f"{labels.get(r, ''):>{pad}} |{''.join(cells)}" for r, cells in enumerate(grid)]
    first, end = f"{chart.xs[0]:,}", f"{chart.xs[-1]:,}"
    lines.append(" " * pad + " +" + "-" * WIDTH)
    lines.append(" " * (pad + 2) + first + end.rjust(WIDTH - len(first)))
    lines.append(" " * (pad + 2) + ("tokens per request" if chart.axis == "seq" else "requests"))
    for marker, series in zip(MARKERS, chart.series, strict=False):
        at = f"; {dec(series.mark[1])} at {series.mark[0]:,}" if series.mark else ""
        lines.append(f"  {marker} {series.label}: {dec(series.ys[-1])} at {chart.xs[-1]:,}{at}")
    for budget in chart.budgets:
        if budget.kv_bytes < 0:
            lines.append(f"    KV budget {budget.label}: does not fit (weights exceed it)")
        else:
            lines.append(f"  - KV budget {budget.label}: {dec(budget.kv_bytes)}")
    for model, tokens in chart.max_contexts:
        lines.append(f"    {model}'s max context: {tokens:,} tokens")
    return [Verbatim(line) for line in lines]


def check_out(path: str, force: bool = False) -> Path:
    """--out FILE: a .png or .svg name in a folder that exists, checked before any work.

    An existing FILE is refused unless `force`; the write itself (files.write_new) goes
    through a temporary file and a rename, and never follows a link at FILE.
    """
    out = Path(path)
    if out.suffix.lower() not in FILE_KINDS:
        raise UsageError(f"--out {path}: use a .png or .svg file name")
    if files.kind(out.parent) != "dir":
        raise UsageError(f"--out {path}: directory {out.parent} does not exist")
    try:
        st = os.lstat(out)  # the name itself: a link is not followed
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write ({files.reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--out {path}: is a directory")
    if not force:
        raise UsageError(f"--out {path}: already exists; add --force to replace it")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UsageError(f"--out {path}: {files.not_regular(st.st_mode)}; not replaced")
    return out


def file_plot(chart: Chart, out: Path, log_y: bool = False, force: bool = False) -> None:
    """Draw the chart with matplotlib into memory, then write it safely (files.write_new).

    Each model's series, budget line and max-context mark share one colour.  Drawing
    first means a matplotlib failure never touches the disk; writing through a temporary
    file and a rename means a full disk leaves the old file whole.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise UsageError(
            "--out needs matplotlib: pip install 'kvcalc[plot]' (the terminal plot needs nothing)"
        ) from None
    fig: Any
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    colours: dict[str, Any] = {}
    for series in chart.series:
        label = series.label
        if series.mark is not None:  # the asked point: a dot on the line, its value in the legend
            label += f" ({dec(series.mark[1])} at {series.mark[0]:,})"
        (line,) = ax.plot(chart.xs, [y / GB for y in series.ys], label=label, linewidth=2)
        if series.mark is not None:
            ax.plot([series.mark[0]], [series.mark[1] / GB], "o", color=line.get_color())
        # a model's budget and limit take its configured line's colour
        if series.label.endswith("(model)") or series.model not in colours:
            colours[series.model] = line.get_color()
    for budget in chart.budgets:
        if budget.kv_bytes <= 0:
            continue
        ax.axhline(
            budget.kv_bytes / GB,
            linestyle="--",
            color=colours.get(budget.model, "grey"),
            label=f"KV budget {budget.label}",
        )
    for model, tokens in chart.max_contexts:
        ax.axvline(
            tokens,
            linestyle=":",
            color=colours.get(model, "grey"),
            label=f"{model} max context {tokens:,}",
        )
    ax.set_title(chart.title, fontsize=10)
    ax.set_xlabel("tokens per request" if chart.axis == "seq" else "concurrent requests")
    ax.set_ylabel("KV cache (GB = 10^9 bytes)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if log_y:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    kind = out.suffix.lower().lstrip(".")
    image = io.BytesIO()
    try:
        fig.savefig(image, format=kind, metadata={"Date": None} if kind == "svg" else None)
    finally:
        plt.close(fig)
    files.write_new(out, lambda handle: handle.write(image.getvalue()), force=force, flag="--out")
