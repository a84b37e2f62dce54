"""`make bench`: medians and ratios for the speed targets (issue 7); nothing here asserts.

Command timings are interleaved (one run of each, repeated) so machine noise hits
every command alike; each figure is the median of the runs.  Baselines are measured
in the same run: the import floor of the libraries we chose, and a minimal typer
app with as many options as `kvcalc size` (typer's own parsing cost).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
PY = sys.executable
KVCALC = str(Path(PY).with_name("kvcalc"))

MINI_TYPER = """
from typing import Annotated, Optional
import typer
app = typer.Typer()
O = typer.Option
@app.command()
def size(model: str, seq: Annotated[Optional[str], O("--seq")] = None,
         batch: Annotated[str, O("--batch")] = "1", a: Annotated[Optional[str], O("--a")] = None,
         b: Annotated[Optional[str], O("--b")] = None, c: Annotated[Optional[str], O("--c")] = None,
         d: Annotated[str, O("--d")] = "ideal", e: Annotated[Optional[int], O("--e")] = None,
         f: Annotated[Optional[int], O("--f")] = None, g: Annotated[Optional[str], O("--g")] = None,
         h: Annotated[bool, O("--h")] = False, j: Annotated[bool, O("--json")] = False):
    print("{}")
@app.command()
def other():
    pass
app()
"""


def commands(mini: str) -> dict[str, list[str]]:
    return {
        # the libraries as kvcalc uses them: typer parses options with pydantic adapters
        "import floor (typer, yaml, typer._adapters, BaseModel)": [
            PY, "-c", "import typer, yaml, typer._adapters; from pydantic import BaseModel",
        ],
        "import typer": [PY, "-c", "import typer"],
        "minimal typer app, 12 options": [PY, mini, "size", "x", "--json"],
        "kvcalc --help": [KVCALC, "--help"],
        "kvcalc size llama3-70b --json": [KVCALC, "size", "llama3-70b", "--json"],
        "kvcalc size llama3-70b --seq 2048 --batch 32": [
            KVCALC, "size", "llama3-70b", "--seq", "2048", "--batch", "32",
        ],
        "kvcalc fit --mem 24GB (every preset)": [KVCALC, "fit", "--mem", "24GB"],
    }  # fmt: skip


def time_commands() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        mini = Path(tmp) / "mini.py"
        mini.write_text(MINI_TYPER)
        cmds = commands(str(mini))
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(RUNS):
            for name, argv in cmds.items():
                start = time.perf_counter()
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def library_throughput() -> tuple[int, float]:
    """(points, seconds) for size() over (model, seq, batch, dtype) points, groups prebuilt."""
    from kvcalc.catalog import all_models
    from kvcalc.dtypes import kv_format
    from kvcalc.layers import expand
    from kvcalc.sizing import size

    groups = [expand(spec) for spec in all_models()]
    formats = [kv_format(name) for name in ("fp16", "fp8", "q8_0", "q4_0")]
    points = [
        (g, seq, batch, fmt)
        for g in groups
        for seq in (1, 2048, 32768, 131072, 10**6)
        for batch in (1, 8, 64)
        for fmt in formats
    ]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for g, seq, batch, fmt in points:
            size(g, seq, batch, fmt, fmt)
        best = min(best, time.perf_counter() - start)
    return len(points), best


def fit_cost() -> dict[str, tuple[int, float]]:
    """Sizing calls and median seconds of one fit solve, for a 24 GB and a 100 TB budget."""
    import kvcalc.deploy as fit_module  # the Deployment calls sizing here
    from kvcalc.budget import make_target
    from kvcalc.catalog import load_model
    from kvcalc.fitting import Question, fit_model
    from kvcalc.units import parse_bytes

    spec = load_model("llama3-8b")
    real_size = fit_module.size
    out = {}
    for label in ("24GB", "100TB"):
        q = Question(target=make_target(None, parse_bytes(label), None))
        calls = 0

        def counting(*args, **kwargs):
            nonlocal calls
            calls += 1
            return real_size(*args, **kwargs)

        fit_module.size = counting
        fit_model(spec, q)
        fit_module.size = real_size
        times = []
        for _ in range(50):
            start = time.perf_counter()
            fit_model(spec, q)
            times.append(time.perf_counter() - start)
        out[label] = (calls, statistics.median(times))
    return out


def compile_package() -> None:
    """Byte-compile kvcalc first, as a pip install does: an editable install run with
    PYTHONDONTWRITEBYTECODE (set on these machines) would otherwise compile every module
    from source on every run, which a user's installed kvcalc never does."""
    import kvcalc

    subprocess.run([PY, "-m", "compileall", "-q", str(Path(kvcalc.__file__).parent)], check=True)


def main() -> None:
    compile_package()
    print(f"kvcalc bench: {RUNS} interleaved runs per command, medians (lower is better)\n")
    medians = time_commands()
    for name, seconds in medians.items():
        print(f"  {seconds * 1000:8.1f} ms  {name}")
    floor = medians["import floor (typer, yaml, typer._adapters, BaseModel)"]
    typer_only = medians["import typer"]
    help_time = medians["kvcalc --help"]
    typer_floor = medians["minimal typer app, 12 options"]
    size_json = medians["kvcalc size llama3-70b --json"]
    fit_all = medians["kvcalc fit --mem 24GB (every preset)"]
    size_table = medians["kvcalc size llama3-70b --seq 2048 --batch 32"]
    print("\nratios (target in brackets)")
    print(f"  size --json / import floor          {size_json / floor:5.2f}x  [<= 1.2x]")
    print(f"  kvcalc --help / import typer        {help_time / typer_only:5.2f}x  [<= 1.1x]")
    print(f"  size --json / minimal typer app     {size_json / typer_floor:5.2f}x")
    print(f"  minimal typer app / import floor    {typer_floor / floor:5.2f}x  (typer's own cost)")
    print(f"  fit every preset / size (table)     {fit_all / size_table:5.2f}x  [<= 1.5x]")
    n, seconds = library_throughput()
    print(
        f"\nlibrary: size() on {n:,} (model, seq, batch, dtype) points: {n / seconds:,.0f}/s "
        "[>= 100,000/s]"
    )
    costs = fit_cost()
    small, large = costs["24GB"], costs["100TB"]
    print(
        f"fit solve, llama3-8b: 24 GB {small[0]} sizing calls {small[1] * 1e6:,.0f} us; "
        f"100 TB {large[0]} calls {large[1] * 1e6:,.0f} us; ratio {large[1] / small[1]:.2f}x "
        "[about 1x: bisection, not a scan]"
    )


if __name__ == "__main__":
    main()
