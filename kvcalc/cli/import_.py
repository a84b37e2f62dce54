"""kvcalc import: the preset YAML a model amounts to, printed or saved as the user's own."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.shared import warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)
Source = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="A Hugging Face config.json or model directory, a GGUF file, a repo id "
        "(org/name, @revision, :Q4_K_M), a YAML file or a preset name.",
    ),
]
Save = Annotated[
    bool,
    typer.Option(
        "--save",
        help="Also save it as your own preset (in $KVCALC_HOME/models, else your config "
        "folder, e.g. ~/.config/kvcalc/models), found by its id from then on.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="With --save: replace a preset of the same id, or shadow a shipped one."
    ),
]
NewId = Annotated[
    str | None,
    typer.Option(
        "--id",
        metavar="ID",
        help="The preset's id (lower case letters, digits, . _ -) instead of the one "
        "derived from its name.",
    ),
]


@app.command("import")
def import_(path: Source, save: Save = False, force: Force = False, new_id: NewId = None) -> None:
    """Print the preset YAML a model amounts to; --save keeps it as your own preset."""
    from kvcalc.api import preset_yaml
    from kvcalc.catalog import save_user_preset
    from kvcalc.errors import UsageError

    if force and not save:
        raise UsageError("--force replaces a saved preset: give it with --save")
    spec, text = preset_yaml(path, new_id=new_id, warn=warn)
    if save:  # before printing: a refused save prints nothing
        dest = save_user_preset(spec, text, force=force)
        warn(f"saved as your preset '{spec.id}' in {dest}")
    print(text, end="")
