"""kvcalc compare: several models side by side, and what fits each on one budget."""

from __future__ import annotations

from typing import Any

import typer

from kvcalc.cli.shared import ONE_CONFIG, ModelsArg, deployment, emit, refuse_no_fit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command()
@deployment(
    refuse={**ONE_CONFIG, "bandwidth": "see 'kvcalc decode MODEL --bandwidth' for each model"},
    helps={"seq": "Tokens per request [default: the smallest max context of the models]."},
)
def compare(models: ModelsArg, opts: Any = None, as_json: bool = False) -> None:
    """Several models side by side: layers, heads, bytes per token, per request, total.

    With --mem or --gpu (and --tp/--pp/--weights/--engine as for fit), also the longest
    context (at --batch) and the most requests (at --seq) that fit each model.
    """
    from kvcalc import api
    from kvcalc.render_decode import compare_json, compare_tables

    answer = api.compare(models, setup=opts, warn=warn)
    emit(as_json, lambda: compare_json(answer), lambda: compare_tables(answer))
    refuse_no_fit(answer.fits or [], opts)
