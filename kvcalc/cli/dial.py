"""kvcalc dial: every valid KV-head count G, with what fits and the decode bound for each."""

from __future__ import annotations

from typing import Any

import typer

from kvcalc.cli.shared import ONE_CONFIG, ModelArg, deployment, emit, refuse_no_fit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command()
@deployment(refuse=ONE_CONFIG)
def dial(model: ModelArg, opts: Any = None, as_json: bool = False) -> None:
    """Every valid KV-head count G (divisors of the query heads): bytes per token and total.

    With --mem/--gpu: the longest context (at --batch) and most requests (at --seq) that
    fit for each G; with --gpu or --bandwidth: the decode step's memory-bandwidth bound.
    Under tensor parallelism a rank keeps at least one KV head, so counts below tp
    are replicated and cost what G = tp costs.
    """
    from kvcalc import api
    from kvcalc import render_dial as render

    answer = api.dial(model, setup=opts, warn=warn)
    emit(as_json, lambda: render.dial_json(answer), lambda: render.dial_table(answer))
    if answer.fits and not any(f.fits for f in answer.fits):  # no grouping fits at all
        refuse_no_fit(answer.fits[:1], opts)
