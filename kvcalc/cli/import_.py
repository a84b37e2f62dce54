"""kvcalc import: the preset YAML a model amounts to, printed or saved as the user's own."""

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
            metavar="SOURCE",
            help="A Hugging Face config.json or model directory, a GGUF file, a repo id "
            "(org/name, @revision, :Q4_K_M), a YAML file or a preset name.",
        ),
    ],
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Also save it as your own preset (in $KVCALC_HOME/models, else your "
            "config folder, e.g. ~/.config/kvcalc/models), found by its id from then on.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="With --save: replace a preset of the same id, or shadow a shipped one."
        ),  # fmt: skip
    ] = False,
    new_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="ID",
            help="The preset's id (lower case letters, digits, "
            ". _ -) instead of the one derived from its name.",
        ),  # fmt: skip
    ] = None,
) -> None:
    """Print the preset YAML a model amounts to; --save keeps it as your own preset."""
    import re

    import yaml

    from kvcalc.catalog import load_model, save_user_preset
    from kvcalc.errors import UsageError

    if force and not save:
        raise UsageError("--force replaces a saved preset: give it with --save")
    if new_id is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,127}", new_id, re.ASCII):
        raise UsageError(
            f"--id {new_id!r}: a preset id is lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 128)"
        )
    spec = load_model(path, warn)
    if new_id is not None:
        spec = spec.model_copy(update={"id": new_id})
    text = yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
    if save:  # before printing: a refused save prints nothing
        dest = save_user_preset(spec, text, force=force)
        warn(f"saved as your preset '{spec.id}' in {dest}")
    print(text, end="")
