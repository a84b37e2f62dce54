"""kvcalc import: the preset YAML a model file amounts to."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.shared import warn

app = typer.Typer(rich_markup_mode=None)


@app.command("import")
def import_(
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="A Hugging Face config.json or model directory, a GGUF file, a YAML file or a "
            "preset name.",
        ),
    ],
) -> None:
    """Print the preset YAML a model file amounts to (save it under configs/models/)."""
    import yaml

    from kvcalc.catalog import load_model

    spec = load_model(path, warn)
    print(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False), end="")
