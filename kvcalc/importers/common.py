"""Helpers every importer shares: a preset id from any name, and layer-run compression.

Kept apart from the readers so that neither reader imports the other.
"""

from __future__ import annotations

import operator
import re
from itertools import groupby
from typing import Any

from kvcalc.errors import SpecError
from kvcalc.limits import MAX_LAYER_GROUPS


def slug(name: str, fallback: str) -> str:
    """A preset id from any name: lower-case ASCII letters, digits and . _ -, starting with
    a letter or digit ('meta-llama/Llama-3' -> 'meta-llama-llama-3')."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or fallback


PERIOD_SEARCH_LAYERS = 65_536
"""Layers up to which compress() looks for a repeating pattern (a Python loop per layer,
~30 ms here).  Past it the runs are returned as they are: a repeat only shortens what
`kvcalc import` prints; the sizes are the same."""


def compress(kinds: list[dict[str, Any]], what: str = "the layer pattern") -> list[dict[str, Any]]:
    """Per-layer kinds -> runs, using one `repeat` for a periodic pattern (Gemma: 21 x 2).

    Linear in the layers, and mostly at C speed: each distinct kind is compared once (not
    once per layer), the runs are counted before any is built (more than MAX_LAYER_GROUPS
    is refused at once: no repeat can describe them in fewer, since a repeat unrolls to at
    least as many), and the shortest period comes from one Z-array (z[p] = how far the
    layers from p on repeat the layers from 0), where trying each period in turn was
    quadratic: 30,000 layers took seconds.
    """
    keys, distinct = _keys(kinds)
    n = len(keys)
    count = 1 + sum(map(operator.ne, keys, keys[1:])) if keys else 0
    if count > MAX_LAYER_GROUPS:
        raise SpecError(
            f"{what} has {count:,} runs of identical layers; kvcalc sizes at most "
            f"{MAX_LAYER_GROUPS:,} layer groups"
        )
    runs = _runs(keys, distinct)
    if len(runs) <= 3 or n > PERIOD_SEARCH_LAYERS:
        return runs
    period = _shortest_period(keys)
    if period is None:
        return runs
    times = n // period
    return [
        {"kind": "repeat", "times": times, "layers": _runs(keys[:period], distinct)},
        *_runs(keys[period * times :], distinct),
    ]


def _keys(kinds: list[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
    """One small int per layer, equal for equal kinds, and the kind of each int.

    Layers share one dict per kind, so the work per layer is an id() and a lookup (both
    in C); only the few distinct dicts are compared by content.
    """
    ids = list(map(id, kinds))
    first = dict(zip(ids, kinds, strict=True))  # one entry per distinct object, in order
    by_content: dict[tuple[tuple[str, Any], ...], int] = {}
    distinct: list[dict[str, Any]] = []
    key_of_id: dict[int, int] = {}
    for object_id, kind in first.items():
        content = tuple(sorted((k, v) for k, v in kind.items() if k != "count"))
        key = by_content.setdefault(content, len(by_content))
        if key == len(distinct):
            distinct.append(kind)
        key_of_id[object_id] = key
    return list(map(key_of_id.__getitem__, ids)), distinct


def _runs(keys: list[int], distinct: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**distinct[key], "count": sum(1 for _ in group)} for key, group in groupby(keys)]


def _shortest_period(keys: list[int]) -> int | None:
    """The least p in 2 .. n/2 such that the first p x (n // p) layers repeat with period p."""
    n = len(keys)
    z = [0] * n  # the Z-array: z[i] = longest common prefix of keys and keys[i:]
    left = right = 0
    for i in range(1, n):
        if i < right:
            z[i] = min(right - i, z[i - left])
        while i + z[i] < n and keys[z[i]] == keys[i + z[i]]:
            z[i] += 1
        if i + z[i] > right:
            left, right = i, i + z[i]
    for period in range(2, n // 2 + 1):
        # keys[:L] has period p exactly when keys[p:L] == keys[:L - p], L = p x (n // p)
        if z[period] >= period * (n // period) - period:
            return period
    return None
