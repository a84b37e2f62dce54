"""kvcalc plot: KV-cache memory against context (or batch), in the terminal or a file."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kvcalc.cli.shared import ONE_CONFIG, ModelsArg, deployment, emit, warn, whole_option

app = typer.Typer(rich_markup_mode=None, add_completion=False)


Axis = Annotated[str, typer.Option("--x", metavar="seq|batch", help="What x varies.")]
To = Annotated[
    str | None,
    typer.Option("--to", metavar="N", help="Last x [default: the smallest max context; 64]."),
]
Points = Annotated[
    int, typer.Option("--points", parser=whole_option, metavar="N", help="Points per line.")
]
LogY = Annotated[bool, typer.Option("--log-y", help="Logarithmic memory axis (--out).")]
Out = Annotated[
    str | None,
    typer.Option(
        "--out", metavar="FILE", help="Write a .png or .svg (pip install 'kvcalc[plot]')."
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace --out if it exists (a link there is replaced itself, never followed).",
    ),
]


@app.command()
@deployment(
    refuse={**ONE_CONFIG, "bandwidth": "plot draws memory; see 'kvcalc decode' for time"},
    helps={"seq": "Tokens per request when --x batch; marked when --x seq."},
)
def plot(
    models: ModelsArg,
    x: Axis = "seq",
    to: To = None,
    points: Points = 41,
    log_y: LogY = False,
    out: Out = None,
    force: Force = False,
    opts: Any = None,
    as_json: bool = False,
) -> None:
    """KV-cache memory against context (or batch), drawn in the terminal or to a file.

    Every point is the exact total `kvcalc size` gives; --json prints the series.
    With --mem/--gpu, each model's KV budget (memory x util - weights - overhead).
    """
    from kvcalc import api
    from kvcalc.options import parse_positive
    from kvcalc.render_plot import check_out, file_plot, plot_json, text_plot

    target_file = check_out(out, force) if out is not None else None
    last = parse_positive(to, "--to")
    drawn = api.plot(models, x=x, to=last, points=points, setup=opts, warn=warn)
    if target_file is not None:
        file_plot(drawn, target_file, log_y, force)
        print(f"wrote {target_file}")
        return
    emit(as_json, lambda: plot_json(drawn), lambda: text_plot(drawn))
