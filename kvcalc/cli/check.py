"""kvcalc check: documented KV-cache numbers recomputed."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.options import JsonOpt, emit, warn
from kvcalc.errors import NoFitError

app = typer.Typer(rich_markup_mode=None)


@app.command()
def check(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE]", help="A claims YAML file [default: the shipped configs/claims.yaml]."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute documented KV-cache claims; exit 1 when a verdict differs from the record.

    Each claim names its source, configuration and published value; the verdict is
    exact, within rounding (of the printed digits), or off (with the factor, and a
    single configuration change that reproduces the figure when one does).
    """
    from kvcalc import claims
    from kvcalc.render_claims import check_json, check_tables

    outcomes = claims.check_file(file, warn)
    emit(as_json, lambda: check_json(outcomes), lambda: check_tables(outcomes))
    bad = [o.claim.id for o in outcomes if not o.ok]
    if bad:
        raise NoFitError(f"{len(bad)} claim verdict(s) changed: {', '.join(bad)}")
