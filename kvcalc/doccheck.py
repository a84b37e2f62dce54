"""`kvcalc check FILE.md|DIR`: figures in Markdown recomputed, with file:line verdicts.

A figure tied to a question by an annotation (see doccheck_syntax) is compared with
the quantity the command's --json output gives, as exact integers: the command runs
in-process, and its JSON (raw integer bytes) is the project's contract.  The verdict
is claims.py's: exact, within rounding of the printed digits, or off with the factor
('20.9 GB' for 171,798,691,840 B is off x8.22).  ```console blocks are re-run and their
printed numbers compared (doccheck_console).  `--fix` rewrites off figures at the
document's own precision and unit, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from fractions import Fraction
from typing import Any

from kvcalc.claims import Published, verdict
from kvcalc.doccheck_console import check_block
from kvcalc.doccheck_syntax import (
    DEFAULT_KEYS,
    PREFIX,
    Annotation,
    AnnotationError,
    Target,
    fits,
    key_kind,
    lookup,
    parse,
)
from kvcalc.doccheck_types import (
    Problem,
    Ran,
    Report,
    Result,
    Runner,
    published_figure,
)
from kvcalc.mdscan import UNITS, Figure, Scan, unit_scale
from kvcalc.units import GB, GiB, UnitError, fixed, parse_bytes, parse_count

CONSOLE_INFOS = ("console", "shell-session")


def number_text(value: Fraction, places: int, commas: bool) -> str:
    """value at `places` decimals (units.fixed, half-even): 171.798691840 -> '171.8' at 1."""
    text = fixed(value, 1, places)
    return text if commas else text.replace(",", "")


def exact_text(value: Fraction, figure: Figure, unit: str) -> str:
    """The exact value in the figure's unit, two digits finer than printed unless exact."""
    scaled = value / unit_scale(unit)
    places = figure.places if (scaled * 10**figure.places).denominator == 1 else figure.places + 2
    shown = number_text(scaled, places, True)
    return shown + unit if unit in ("x", "\u00d7") else f"{shown} {unit}".strip()


class Checker:
    """Checks documents; caches each command's output across annotations and files."""

    def __init__(self, runner: Runner, strict: bool = False) -> None:
        self.runner = runner
        self.strict = strict
        self._runs: dict[tuple[str, ...], Ran] = {}

    def run(self, argv: tuple[str, ...]) -> Ran:
        if argv not in self._runs:
            self._runs[argv] = self.runner(argv)
        return self._runs[argv]

    def payload(self, argv: tuple[str, ...]) -> Any:
        """The --json output of a command; exit 1 (nothing fits) still prints it."""
        ran = self.run((*argv, "--json"))
        if ran.exit_code not in (0, 1):
            message = ran.stderr.strip().splitlines()[-1:] or [f"exit {ran.exit_code}"]
            raise AnnotationError(f"'kvcalc {' '.join(argv)}' failed: {message[0]}")
        try:
            return json.loads(ran.stdout)
        except ValueError:
            raise AnnotationError(f"'kvcalc {' '.join(argv)} --json' printed no JSON") from None

    def check_text(self, path: str, text: str) -> Report:
        scan = Scan(text)
        report = Report(documents=[path])
        annotated: list[tuple[int, Annotation]] = []
        skipped: set[int] = set()
        ours = [c for c in scan.comments if c.content.strip().startswith(PREFIX)]
        for i, comment in enumerate(ours):
            # an annotation covers figures up to the end of its paragraph or the next one
            following = ours[i + 1].start if i + 1 < len(ours) else len(text)
            limit = min(scan.paragraph_of(comment.end - 1)[1], following)
            try:
                if not comment.closed:
                    raise AnnotationError("the annotation has no closing '-->'")
                annotation = parse(comment.content)
                if annotation is None:
                    continue
                if annotation.skip:
                    skipped.add(_console_after(scan, comment.end))
                    continue
                annotated.append((comment.start, annotation))
                report.results += self._judge(path, scan, comment.end, limit, annotation)
            except AnnotationError as exc:
                where = scan.position(comment.start if exc.offset is None else exc.offset)
                report.problems.append(Problem(path, *where, str(exc)))
        for fence in scan.fences:
            if fence.info in CONSOLE_INFOS and fence.start not in skipped:
                try:
                    report.results += check_block(self, path, scan, fence)
                except AnnotationError as exc:  # at the command's line when it says so
                    where = scan.position(fence.start if exc.offset is None else exc.offset)
                    report.problems.append(Problem(path, *where, str(exc)))
        if self.strict:
            report.results += self._uncovered(path, scan, annotated, report.results)
        report.results.sort(key=lambda r: (r.line, r.col))
        return report

    def _judge(
        self, path: str, scan: Scan, after: int, limit: int, annotation: Annotation
    ) -> list[Result]:
        figures = scan.figures(after, limit)
        wanted = len(annotation.targets)
        if len(figures) < wanted:
            raise AnnotationError(
                f"covers {wanted} figure(s) but {len(figures)} follow it in its paragraph "
                "(put the annotation just before the figure)"
            )
        payload = self.payload(annotation.argv)
        results = []
        for target, figure in zip(annotation.targets, figures, strict=False):
            results.append(self._figure(path, scan, annotation, target, figure, payload))
        return results

    def _figure(
        self,
        path: str,
        scan: Scan,
        annotation: Annotation,
        target: Target,
        figure: Figure,
        payload: Any,
    ) -> Result:
        line, col = scan.position(figure.start)
        unit = _unit_of(target, figure)
        kind = UNITS[unit][0] if unit else ""
        key = target.key or DEFAULT_KEYS.get((annotation.command, kind))
        if key is None:
            raise AnnotationError(
                f"name the quantity of '{figure.text}': -> KEY (a field of "
                f"'kvcalc {annotation.command} --json')",
                figure.start,
            )
        try:
            value = lookup(payload, key)
        except AnnotationError as exc:
            raise AnnotationError(str(exc), figure.start) from None
        if not fits(kind, key_kind(key)):
            hint = f" (write -> {key} in GB, or another unit)" if not unit else ""
            raise AnnotationError(
                f"'{figure.text}' cannot state {key} (a {key_kind(key)} quantity){hint}",
                figure.start,
            )
        published = published_figure(figure, unit)
        said = verdict(value, published)
        fix = None
        if said == "off" and target.expect != "off":
            # thousands separators as the document writes them ('2048.00 MiB' has none);
            # a figure under 1,000 shows no habit, so the project's style (commas) applies
            commas = "," in figure.number or abs(published.value / unit_scale(unit)) < 1000
            new = number_text(value / unit_scale(unit), figure.places, commas)
            fix = (figure.start, figure.number_end, new)
        explanation = ""
        if said == "off":
            explanation = self._explain(annotation, key, value, published)
        return Result(
            path,
            line,
            col,
            figure.text,
            f"{annotation.label} -> {key}",
            said,
            target.expect,
            value,
            published,
            exact_text(value, figure, unit),
            fix,
            explanation,
        )

    def _explain(
        self, annotation: Annotation, key: str, value: Fraction, published: Published
    ) -> str:
        """A single change that reproduces an off figure, as claims.reproductions does."""
        if key_kind(key) != "bytes":
            return ""
        if verdict(value * GB / GiB, published) != "off":
            return "reproduced by the exact bytes in GiB printed as GB"
        if verdict(value * GiB / GB, published) != "off":
            return "reproduced by the exact bytes in GB printed as GiB"
        if annotation.command != "size":
            return ""
        found = []
        for label, argv in _size_variants(annotation.argv, self.payload(annotation.argv)):
            try:
                if verdict(lookup(self.payload(argv), key), published) != "off":
                    found.append(label)
            except AnnotationError:
                continue
            if len(found) == 3:
                break
        if found:
            return "reproduced by " + "; or ".join(found)
        return "no single change of unit, batch, length or attention reproduces it"

    def _uncovered(
        self,
        path: str,
        scan: Scan,
        annotated: list[tuple[int, Annotation]],
        results: list[Result],
    ) -> list[Result]:
        """--strict: unit figures in an annotated paragraph that nothing checks."""
        checked = {(r.line, r.col) for r in results}
        found = []
        for start, end in scan.paragraphs:
            inputs = [a for at, a in annotated if start <= at < end]
            if not inputs:
                continue
            given = _input_values(inputs)
            for figure in scan.figures(start, end):
                if figure.kind not in ("bytes", "tokens") or figure.unit in ("B", "byte", "bytes"):
                    continue
                if scan.position(figure.start) in checked:
                    continue
                if published_figure(figure).value in given.get(figure.kind, set()):
                    continue  # '2,048 tokens' restates the annotation's own --seq 2048
                found.append(
                    Result(
                        path,
                        *scan.position(figure.start),
                        figure.text,
                        "no annotation covers it (--strict)",
                        "not covered",
                    )
                )
        return found


def _unit_of(target: Target, figure: Figure) -> str:
    if target.unit is None:
        return figure.unit
    if figure.unit and figure.unit != target.unit:
        raise AnnotationError(
            f"'in {target.unit}' but the figure reads '{figure.text}'", figure.start
        )
    return target.unit


def _console_after(scan: Scan, offset: int) -> int:
    """The ```console block a 'kvcalc: skip' stands just before."""
    for fence in scan.fences:
        if fence.start >= offset:
            if fence.info in CONSOLE_INFOS and not scan.text[offset : fence.start].strip():
                return fence.start
            break
    raise AnnotationError("'kvcalc: skip' must stand just before a ```console block")


def _input_values(annotations: list[Annotation]) -> dict[str, set[Fraction]]:
    """Counts and sizes given as arguments: a figure restating one is an input."""
    values: dict[str, set[Fraction]] = {"tokens": set(), "bytes": set()}
    for annotation in annotations:
        for word in annotation.argv[1:]:
            text = word.split("=", 1)[-1]
            for kind, reader in (("tokens", parse_count), ("bytes", parse_bytes)):
                with suppress(UnitError):
                    values[kind].add(Fraction(reader(text)))
    return values


def _size_variants(argv: tuple[str, ...], payload: Any) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Single changes of a size question: batch or length x 2^k, MHA or MQA."""
    batch, seq = int(payload.get("batch", 1)), int(payload.get("seq", 1))
    for k in (*range(-6, 0), *range(1, 7)):
        for flags, current, noun in (
            (("--batch", "-b"), batch, "batch {new:,} instead of {old:,}"),
            (("--seq", "-s"), seq, "{new:,} tokens instead of {old:,}"),
        ):
            new = Fraction(current) * Fraction(2) ** k
            if new.denominator == 1 and new >= 1:
                label = noun.format(new=int(new), old=current)
                yield label, (*_without(argv, flags), flags[0], str(int(new)))
    attention = str(payload.get("attention", ""))
    for name in ("mha", "mqa"):
        if not attention.lower().startswith(name):
            rest = _without(argv, ("--attention", "--kv-heads"))
            yield f"{name.upper()} instead of {attention}", (*rest, "--attention", name)


def _without(argv: tuple[str, ...], flags: tuple[str, ...]) -> tuple[str, ...]:
    """argv less these options and their values ('--seq 2048', '-s 2048', '--seq=2048')."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in flags:
            next(words, None)
        elif not any(word.startswith(f + "=") for f in flags):
            out.append(word)
    return tuple(out)
