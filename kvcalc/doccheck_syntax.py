"""The annotation a writer puts before a figure, and the JSON quantity it names.

    <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --> 21.47 GB
    <!-- kvcalc: fit llama3-8b --mem 24GB -> max_context, max_batch --> 8,192 tokens, 9 requests
    <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 -> total_bytes in B, total_bytes in GB -->
    <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --attention mha -> expect off --> 20.9 GB
    <!-- kvcalc: skip -->   (just before a ```console block: not re-run)

Grammar, after 'kvcalc:':  COMMAND ARGS... [-> FIGURE[, FIGURE...]]
with FIGURE = [KEY] [in UNIT] [expect exact|within rounding|off].  Without '->' the
annotation covers one figure and the command's default quantity for that figure's unit.
KEY is a path into the command's --json output: 'total_bytes', 'budget.kv_budget_bytes',
'variants.mha.total_bytes' (a list item by index, by its name/model/id, or by field=value).
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from kvcalc.mdscan import UNITS

PREFIX = "kvcalc:"
COMMANDS = ("size", "fit", "dial", "decode", "compare", "models", "gpus")
"""Commands an annotation may run: they only read presets and print (never plot files or
check, which would recurse)."""
VERDICTS = ("exact", "within rounding", "off")

# The quantity a figure means when the annotation names none, by command and the
# figure's unit: '21.47 GB' after a size annotation is the total; '8,192 tokens' after
# a fit annotation the longest usable context.
DEFAULT_KEYS: dict[tuple[str, str], str] = {
    ("size", "bytes"): "total_bytes",
    ("size", "ratio"): "variants.0.mha_ratio",
    ("fit", "bytes"): "budget.kv_budget_bytes",
    ("fit", "tokens"): "max_context",
    ("fit", "requests"): "max_batch",
    ("decode", "bytes"): "steps.0.total_bytes",
    ("decode", "seconds"): "steps.0.step_seconds_min_exact",
    ("decode", "rate"): "steps.0.tokens_per_second_per_request_max",
    ("models", "bytes"): "kv_bytes_per_token_fp16",
}


class AnnotationError(ValueError):
    """A malformed annotation; the checker adds file:line (of `offset`, when given: the
    figure or console command at fault rather than the comment)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Target:
    key: str | None
    """A path into the --json output; None: the default for the command and unit."""
    unit: str | None
    """'in GB': the figure is printed without a unit (a table cell under a 'GB' header)."""
    expect: str | None
    """A recorded verdict: 'off' for a wrong figure quoted on purpose."""


@dataclass(frozen=True, slots=True)
class Annotation:
    argv: tuple[str, ...]
    """The command as typed, without --json: ('size', 'llama3-70b', '--seq', '2048')."""
    targets: tuple[Target, ...]
    skip: bool = False

    @property
    def command(self) -> str:
        return self.argv[0]

    @property
    def label(self) -> str:
        return shlex.join(self.argv)


def parse(content: str) -> Annotation | None:
    """An HTML comment's content as an annotation; None when it is not one of ours."""
    body = content.strip()
    if not body.startswith(PREFIX):
        return None
    body = " ".join(body[len(PREFIX) :].split())  # reflowed comments read the same
    if body == "skip":
        return Annotation(("skip",), (), skip=True)
    command_text, arrow, targets_text = body.partition("->")
    try:
        argv = tuple(shlex.split(command_text))
    except ValueError as exc:
        raise AnnotationError(f"cannot split the command: {exc}") from None
    if argv[:1] == ("kvcalc",):
        argv = argv[1:]
    if not argv:
        raise AnnotationError("no command: write e.g. <!-- kvcalc: size llama3-70b --seq 2048 -->")
    if argv[0] not in COMMANDS:
        raise AnnotationError(
            f"'{argv[0]}' cannot be checked: use one of {', '.join(COMMANDS)} (or 'skip')"
        )
    argv = tuple(a for a in argv if a != "--json")
    if not arrow:
        return Annotation(argv, (Target(None, None, None),))
    parts = [p.strip() for p in targets_text.split(",")]
    if not all(parts):
        raise AnnotationError(f"empty figure in '-> {targets_text.strip()}'")
    return Annotation(argv, tuple(_target(p) for p in parts))


def _target(text: str) -> Target:
    words = text.split()
    key = unit = expect = None
    if words[0] not in ("in", "expect"):
        key, words = words[0], words[1:]
    if words[:1] == ["in"]:
        if len(words) < 2 or words[1] not in UNITS:
            raise AnnotationError(f"'{text}': 'in' takes a unit such as GB, GiB, MiB, B, ms")
        unit, words = words[1], words[2:]
    if words[:1] == ["expect"]:
        expect = " ".join(words[1:])
        if expect == "rounding":
            expect = "within rounding"
        if expect not in VERDICTS:
            raise AnnotationError(f"'{text}': expect one of {', '.join(VERDICTS)}")
        words = []
    if words:
        raise AnnotationError(f"'{text}': read as KEY [in UNIT] [expect VERDICT]")
    return Target(key, unit, expect)


def key_kind(key: str) -> str:
    """What a JSON field measures, from its name: total_bytes -> bytes, max_batch -> count."""
    last = key.rsplit(".", 1)[-1]
    if "per_s" in last:  # bandwidth_bytes_per_s, tokens_per_second_...
        return "rate"
    for kind in ("bytes", "seconds", "ratio"):
        if kind in last:
            return kind
    return "count"


def fits(figure_kind: str, kind: str) -> bool:
    """Whether a figure of this unit kind can state a quantity of this key kind."""
    if figure_kind in ("bytes", "rate", "seconds"):
        return kind == figure_kind
    return kind in ("count", "ratio")  # tokens, requests, ratio, a bare number


def lookup(payload: Any, key: str) -> Fraction:
    """The number at a key path in a command's JSON output."""
    node = payload
    for part in key.split("."):
        if isinstance(node, dict):
            if part not in node:
                close = difflib.get_close_matches(part, list(node), n=3)
                known = (
                    f"did you mean {' or '.join(close)}?" if close else f"it has: {', '.join(node)}"
                )
                raise AnnotationError(f"no '{part}' in the --json output ({known})")
            node = node[part]
        elif isinstance(node, list):
            node = _item(node, part)
        else:
            raise AnnotationError(f"'{key}': '{part}' is past a plain value")
    return _number(node, key)


def _item(items: list[Any], part: str) -> Any:
    if part.isdigit():
        if int(part) >= len(items):
            raise AnnotationError(f"index {part} is past the {len(items)} items of the list")
        return items[int(part)]
    field, eq, want = part.partition("=")
    for item in items:
        if not isinstance(item, dict):
            continue
        if eq and str(item.get(field)) == want:
            return item
        if not eq and part in (item.get("form"), item.get("model"), item.get("id")):
            return item
    raise AnnotationError(f"no list item '{part}' (by index, name/model/id, or field=value)")


def _number(value: Any, key: str) -> Fraction:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise AnnotationError(f"'{key}' is {value!r} in the --json output, not a number")
    if isinstance(value, int):
        return Fraction(value)
    try:  # floats through their shortest repr ('8.0'); exact strings ('158771728/3271484375')
        return Fraction(Decimal(repr(value))) if isinstance(value, float) else Fraction(value)
    except (ValueError, InvalidOperation, ZeroDivisionError):
        raise AnnotationError(f"'{key}' is {value!r} in the --json output, not a number") from None
