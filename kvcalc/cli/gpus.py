"""kvcalc gpus: hardware presets."""

from __future__ import annotations

import typer

from kvcalc.cli.shared import JsonOpt, emit

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command()
def gpus(as_json: JsonOpt = False) -> None:
    """List hardware presets: memory as the driver reports it, and peak bandwidth."""
    from kvcalc import render_fit
    from kvcalc.catalog import all_hardware

    presets = all_hardware()
    emit(as_json, lambda: render_fit.gpus_json(presets), lambda: render_fit.gpus_table(presets))
