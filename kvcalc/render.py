"""Units and the shared pieces of every table and JSON payload: the only place units are chosen.

JSON carries raw integer bytes (a contract: docs/json.md, docs/schema/); tables
show bytes with both GB (10^9, as vendors sell memory) and GiB (2^30, as engines
log it), every number labelled.  One module per command renders its answer
(render_size, render_fit, render_dial, ...).
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from kvcalc.render_grid import Grid
from kvcalc.units import auto_unit, fixed, format_bytes

SCHEMA_VERSION = 1
"""Bumped when a JSON key changes meaning or goes away (docs/json.md; docs/schema/)."""


def dec(n_bytes: int) -> str:
    """Decimal units, scaled: '21.47 GB', '671.09 MB'; under 1 KB in plain bytes."""
    return format_bytes(n_bytes, auto_unit(n_bytes) if abs(n_bytes) >= 1000 else "B")


def bin_(n_bytes: int) -> str:
    """Binary units, scaled: '20.00 GiB', '640.00 MiB' (what engines log)."""
    return format_bytes(n_bytes, auto_unit(n_bytes, binary=True) if abs(n_bytes) >= 1024 else "B")


def both(n_bytes: int) -> str:
    """'21.47 GB / 20.00 GiB': both families, so users can compare with either."""
    return f"{dec(n_bytes)} / {bin_(n_bytes)}"


def count(n: int) -> str:
    return f"{n:,}"


def ratio_text(numerator: int, denominator: int) -> str:
    """'8x' when exact, else two decimals: MHA bytes / these bytes."""
    value = Fraction(numerator, denominator)
    return f"{value.numerator}x" if value.denominator == 1 else f"{fixed(value, 1)}x"


def new_table(
    title: str, *columns: str, left: tuple[str, ...] = (), prose: tuple[str, ...] = ()
) -> Grid:
    """A compact table that becomes one block per row rather than cut a number
    (render_grid.py); `left` names left-aligned columns, `prose` ones that may wrap."""
    return Grid(title, columns, left=left, prose=prose)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2)
