"""Plain YAML data from user files, without trusting them.

yaml.safe_load (no Python object tags) through a loader that refuses a key written twice,
with nesting and alias references bounded, and every failure one SpecError line naming
the file (and the line, where the parser knows it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kvcalc import files
from kvcalc.errors import SpecError
from kvcalc.limits import MAX_NESTING, MAX_YAML_ALIASES, MAX_YAML_BYTES

# libyaml when the wheel has it (about 15x faster than pure Python on large files)
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[misc]
    """The safe loader, refusing a key written twice in one mapping.

    YAML keeps the last of two equal keys silently: `num_layers: 4` then `num_layers: 8`
    would size 8 layers with no word.  (Keys brought in by a `<<` merge may be overridden:
    that is what a merge is for.)
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def walk_shape(data: Any) -> tuple[int, int]:
    """(deepest container nesting, references to an already-seen container).

    Each distinct container is visited once, so the walk is linear in the document even
    for a 'billion laughs' file; a second reference to a container is exactly what a YAML
    alias to a list or mapping produces (a word like *factor inside a note is text, and
    is not counted: the parser, not a regex, decides what an alias is).
    """
    deepest = shared = 0
    seen: set[int] = set()
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if id(item) in seen:
            shared += 1
            continue
        seen.add(id(item))
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest, shared


def parse_yaml_text(text: str, origin: str) -> Any:
    """Plain YAML data (no Python tags, no repeated keys), with aliases and nesting bounded.

    Aliases share objects in the loaded data, but anything that walks the result
    per occurrence (validation, repeat counting) would expand a 'billion laughs'
    file; presets use no aliases at all.
    """
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise SpecError(
            f"{origin}: invalid YAML: nested deeper than {MAX_NESTING} levels"
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "python/" in problem:
            problem = "tags that construct Python objects are refused (plain YAML data only)"
        raise SpecError(f"{origin}:{line} invalid YAML: {problem}") from None
    except ValueError as exc:
        # the constructor's int() refuses more than 4,300 digits (CPython's str->int bound)
        raise SpecError(f"{origin}: invalid YAML: {str(exc).split(';')[0]}") from None
    depth, aliases = walk_shape(data)
    if depth > MAX_NESTING:
        raise SpecError(f"{origin}: invalid YAML: nested deeper than {MAX_NESTING} levels")
    if aliases > MAX_YAML_ALIASES:
        raise SpecError(
            f"{origin}: invalid YAML: {aliases} alias references (at most {MAX_YAML_ALIASES})"
        )
    return data


def read_yaml(path: Path) -> Any:
    """Parse a YAML file as plain data; anything else is a SpecError naming the file."""
    text = files.read_text(
        path,
        MAX_YAML_BYTES,
        "a YAML description",
        "describe long layer lists with count and repeat",
    )
    return parse_yaml_text(text, str(path))
