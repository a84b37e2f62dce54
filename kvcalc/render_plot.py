"""Draw a Chart: as text in the terminal, or as PNG/SVG with matplotlib (optional extra)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import UsageError
from kvcalc.plot import Chart
from kvcalc.render import dec
from kvcalc.render_grid import Verbatim
from kvcalc.units import GB

MARKERS = "*ox+#@%&"
WIDTH, HEIGHT = 60, 16
FILE_KINDS = (".png", ".svg")


def text_plot(chart: Chart) -> list[str]:
    """A character grid: one marker per series, '-' for each budget line (printed whole:
    wrapping a chart row at its spaces would scatter its markers)."""
    top = max([y for s in chart.series for y in s.ys] + [b for _, b in chart.budgets] + [1])
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]

    def row(value: int) -> int:
        return HEIGHT - 1 - round(max(value, 0) * (HEIGHT - 1) / top)

    for _, budget in chart.budgets:
        if budget < 0:
            continue  # nothing left for KV: said in the legend, not drawn
        r = row(budget)
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
        lines.append(f"  {marker} {series.label}: {dec(series.ys[-1])} at {chart.xs[-1]:,}")
    for label, budget in chart.budgets:
        if budget < 0:
            lines.append(f"    KV budget {label}: none (weights and overhead exceed it)")
        else:
            lines.append(f"  - KV budget {label}: {dec(budget)}")
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


def file_plot(chart: Chart, out: Path, force: bool = False) -> None:
    """Draw the chart with matplotlib into memory, then write it safely (files.write_new).

    Drawing first means a matplotlib failure never touches the disk; writing through a
    temporary file and a rename means a full disk leaves the old file whole.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--out needs matplotlib: pip install 'kvcalc[plot]' (the terminal plot needs nothing)"
        ) from None
    fig: Any
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for series in chart.series:
        ax.plot(chart.xs, [y / GB for y in series.ys], label=series.label, linewidth=2)
    for label, budget in chart.budgets:
        if budget < 0:
            continue
        ax.axhline(budget / GB, linestyle="--", color="grey", label=f"KV budget {label}")
    ax.set_title(chart.title, fontsize=10)
    ax.set_xlabel("tokens per request" if chart.axis == "seq" else "concurrent requests")
    ax.set_ylabel("KV cache (GB = 10^9 bytes)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    kind = out.suffix.lower().lstrip(".")
    image = io.BytesIO()
    try:
        fig.savefig(image, format=kind, metadata={"Date": None} if kind == "svg" else None)
    finally:
        plt.close(fig)
    files.write_new(out, lambda handle: handle.write(image.getvalue()), force=force, flag="--out")
