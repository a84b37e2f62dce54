"""The `kvcalc` command: parse once, call the library (kvcalc.api), render.

Each command is a small module here, imported only when it runs, so `kvcalc --help`
loads none of them and `kvcalc size` loads only what sizing needs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.group import KvcalcGroup

app = typer.Typer(
    cls=KvcalcGroup,
    add_completion=False,
    rich_markup_mode=None,
    help=(
        "Exact KV-cache sizes for LLM serving, and what fits in a memory budget.\n\n"
        "All byte counts are exact integers; GB = 10^9 bytes and GiB = 2^30 bytes, always labelled."
    ),
)


def _version(show: bool) -> None:
    if show:
        from kvcalc import __version__

        print(f"kvcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Exact KV-cache sizes for LLM serving, and what fits in a memory budget."""


def main() -> None:
    import os

    # pydantic looks for plugins through importlib.metadata on first validation (~12 ms);
    # a command-line run has none to load (an explicit setting still wins)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()
