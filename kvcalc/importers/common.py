"""Helpers every importer shares: a preset id from any name, and layer-run compression.

Kept apart from the readers so that neither reader imports the other.
"""

from __future__ import annotations

import re
from typing import Any


def slug(name: str, fallback: str) -> str:
    """A preset id from any name: lower-case ASCII letters, digits and . _ -, starting with
    a letter or digit ('meta-llama/Llama-3' -> 'meta-llama-llama-3')."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or fallback


def compress(kinds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-layer kinds -> runs, using one `repeat` for a periodic pattern (Gemma: 21 x 2)."""

    def runs(seq: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind in seq:
            if out and {**out[-1], "count": 1} == kind:
                out[-1] = {**out[-1], "count": out[-1]["count"] + 1}
            else:
                out.append(dict(kind))
        return out

    n = len(kinds)
    if len(runs(kinds)) <= 3:
        return runs(kinds)
    for period in range(2, n // 2 + 1):
        times = n // period
        if all(kinds[i] == kinds[i % period] for i in range(period * times)):
            return [
                {"kind": "repeat", "times": times, "layers": runs(kinds[:period])},
                *runs(kinds[period * times :]),
            ]
    return runs(kinds)
