"""```console blocks: `$ kvcalc ...` re-run, and the printed numbers compared.

Each documented output line is found in what the command prints now by its shape:
the line with every number replaced by '#' (byte units by 'B', so '671.09 MB' may
become '1.07 GB') and runs of spaces collapsed, so a wider or narrower table still
matches.  The numbers of a matched line are compared pairwise; a documented line the
command no longer prints is reported.  The block may be an excerpt: lines the
command prints and the document leaves out are fine.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from kvcalc.doccheck_syntax import COMMANDS, AnnotationError
from kvcalc.doccheck_types import Result, published_figure
from kvcalc.mdscan import Fence, Figure, Scan, figures_in

if TYPE_CHECKING:
    from kvcalc.doccheck import Checker

CONSOLE_COMMANDS = (*COMMANDS, "import")


def shape(line: str) -> tuple[str, list[Figure]]:
    """('KV cache: # tokens x # requests, fp16', figures) for a printed line."""
    figures = figures_in(line)
    parts, cursor = [], 0
    for f in figures:
        token = "#B" if f.kind == "bytes" else "#" + f.unit
        parts += [line[cursor : f.start], token]
        cursor = f.end
    parts.append(line[cursor:])
    return " ".join("".join(parts).split()), figures


def _commands(text: str, fence: Fence) -> list[tuple[int, str, list[tuple[int, str]]]]:
    """(offset, command, [(offset, output line)]) for each `$ kvcalc` line in the block."""
    found: list[tuple[int, str, list[tuple[int, str]]]] = []
    current: list[tuple[int, str]] | None = None
    for m in re.finditer(r"[^\n]*\n?", text[fence.body : fence.body_end]):
        if not m.group(0):
            break
        offset, line = fence.body + m.start(), m.group(0).rstrip("\r\n")
        if line.lstrip().startswith("$"):
            command = line.lstrip()[1:].strip()
            current = [] if command.startswith("kvcalc ") or command == "kvcalc" else None
            if current is not None:
                found.append((offset, command, current))
        elif current is not None:
            current.append((offset, line))
    return found


def check_block(checker: Checker, path: str, scan: Scan, fence: Fence) -> list[Result]:
    results: list[Result] = []
    for offset, command, output in _commands(scan.text, fence):
        try:
            argv = tuple(shlex.split(command))[1:]
        except ValueError as exc:
            raise AnnotationError(f"cannot split '{command}': {exc}", offset) from None
        if not argv or argv[0] not in CONSOLE_COMMANDS:
            raise AnnotationError(
                f"'$ {command}' cannot be re-run (use one of {', '.join(CONSOLE_COMMANDS)}); "
                "put <!-- kvcalc: skip --> before the block to leave it alone",
                offset,
            )
        ran = checker.run(argv)
        if ran.exit_code not in (0, 1):
            message = (ran.stderr.strip().splitlines() or [f"exit {ran.exit_code}"])[-1]
            raise AnnotationError(f"'$ {command}' failed: {message}", offset)
        printed = (ran.stdout + ran.stderr).splitlines()
        results += _compare(path, scan, f"$ {command}", output, printed)
    return results


def _compare(
    path: str, scan: Scan, source: str, documented: list[tuple[int, str]], printed: list[str]
) -> list[Result]:
    shapes = [shape(line) for line in printed]
    results: list[Result] = []
    cursor = 0
    for offset, line in documented:
        if not line.strip():
            continue
        want, doc_figures = shape(line)
        order = [*range(cursor, len(shapes)), *range(cursor)]  # in order, then anywhere
        match = next((i for i in order if shapes[i][0] == want), None)
        if match is None:
            results.append(
                Result(path, *scan.position(offset), line.strip(), source, "not printed")
            )
            continue
        cursor = match + 1
        for doc, new in zip(doc_figures, shapes[match][1], strict=True):
            results.append(_number(path, scan, source, offset, line, doc, printed[match], new))
    return results


def _number(
    path: str,
    scan: Scan,
    source: str,
    offset: int,
    line: str,
    doc: Figure,
    now_line: str,
    now: Figure,
) -> Result:
    said, printed = published_figure(doc), published_figure(now)
    if said.value == printed.value:
        verdict = "exact"
    elif abs(said.value - printed.value) <= said.half_ulp + printed.half_ulp:
        verdict = "within rounding"  # both are roundings of one exact value
    else:
        verdict = "off"
    new_text = now_line[now.start : now.end]
    fix = _aligned(offset, line, doc, new_text) if verdict == "off" else None
    return Result(
        path,
        *scan.position(offset + doc.start),
        doc.text,
        source,
        verdict,
        value=printed.value,
        published=said,
        exact_text=now.text,
        fix=fix,
    )


def _aligned(offset: int, line: str, doc: Figure, new: str) -> tuple[int, int, str]:
    """Replace a number, keeping a right-aligned table column aligned: a longer number
    takes spaces from its left, a shorter one gives them back."""
    start, end = offset + doc.start, offset + doc.end
    grow = len(new) - (doc.end - doc.start)
    spaces = len(line[: doc.start]) - len(line[: doc.start].rstrip(" "))
    if spaces >= 2 and 0 < grow < spaces:
        return start - grow, end, new
    if spaces >= 2 and grow < 0:
        return start, end, " " * -grow + new
    return start, end, new
