"""kvcalc fit: the longest context and the most concurrent requests that fit a budget."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kvcalc.cli.shared import CTX_SIZE, deployment, emit, refuse_no_fit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)
NOT_HERE = "fit solves for memory; see 'kvcalc decode' for bandwidth"


@app.command()
@deployment(
    refuse={"bandwidth": NOT_HERE, "ctx_size": CTX_SIZE},
    helps={"batch": "Concurrent requests: answer the longest context for this many [default: 1]."},
)
def fit(
    model: Annotated[
        str | None,
        typer.Argument(metavar="MODEL", help="A model (as for size); omit for every preset."),
    ] = None,
    opts: Any = None,
    as_json: bool = False,
) -> None:
    """The longest context and the most concurrent requests that fit a memory budget.

    With --batch B: the longest context for B requests.  With --seq N: the most
    requests of N tokens.  With both: whether that fits, and the headroom.
    Budget: memory x util - weights - overhead = KV budget, per device.
    With --engine, the engine's block rounding, budget defaults, and log lines.
    """
    from kvcalc import api, render_fit

    if model is None:
        results = api.fit_all(setup=opts)
        emit(
            as_json,
            lambda: render_fit.fit_all_json(results),
            lambda: render_fit.fit_all_table(results, opts.seq),
        )
        return
    result = api.fit(model, setup=opts, warn=warn)
    emit(as_json, lambda: render_fit.fit_json(result), lambda: render_fit.fit_tables(result))
    refuse_no_fit([result], opts)
