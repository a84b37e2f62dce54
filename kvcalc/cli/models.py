"""kvcalc models: the presets, by family, or one spec in full."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.shared import JsonOpt, emit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command()
def models(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL|FAMILY",
            help="A model: its full spec; a family or any part of an id (qwen3): the matches.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List model presets (by family), filter them, or show one spec in full."""
    from kvcalc import api
    from kvcalc import render_models as render
    from kvcalc.catalog import find_models

    found = find_models(name, warn)
    if found is not None:
        rows = [render.model_row(spec, api.bytes_per_token(spec), user) for spec, user in found]
        emit(as_json, lambda: render.models_json(rows), lambda: render.models_table(rows))
        return
    spec = api.load_model(name or "", warn)
    per_token = api.bytes_per_token(spec)
    emit(
        as_json,
        lambda: render.model_detail_json(spec, per_token),
        lambda: render.model_detail(spec, per_token),
    )
