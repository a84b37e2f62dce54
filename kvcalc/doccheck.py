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

import functools
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from kvcalc.claims import Published, read_published, verdict
from kvcalc.doccheck_syntax import (
    DEFAULT_KEYS,
    Annotation,
    AnnotationError,
    Target,
    fits,
    key_kind,
    lookup,
    parse,
)
from kvcalc.errors import UsageError
from kvcalc.limits import MAX_TEXT_FILE_BYTES
from kvcalc.mdscan import UNITS, Figure, Scan
from kvcalc.units import GB, GiB, UnitError, parse_bytes, parse_count

MARKDOWN_SUFFIXES = (".md", ".markdown")
CONSOLE_INFOS = ("console", "shell-session")


@dataclass(frozen=True, slots=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str


Runner = Callable[[tuple[str, ...]], Ran]


@contextmanager
def _columns(width: int) -> Iterator[None]:
    # rich sizes tables from COLUMNS when stdout is not a terminal: wide, so no cell wraps
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


@functools.cache
def _command() -> Any:
    # typer builds the click command tree on every app() call (~90 ms for ours); a
    # document runs dozens of commands, so build it once and invoke it each time
    import typer

    from kvcalc.cli import app

    return typer.main.get_command(app)


def run_in_process(argv: tuple[str, ...]) -> Ran:
    """Run `kvcalc ARGV` in this process and capture what it prints (no subprocess)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _columns(200), redirect_stdout(out), redirect_stderr(err):
        try:
            _command().main(list(argv), prog_name="kvcalc")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Ran(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True, slots=True)
class Result:
    """One figure's verdict."""

    path: str
    line: int
    col: int
    figure: str
    """As printed ('20.9 GB'); for a console line kvcalc no longer prints, that line."""
    source: str
    """What was recomputed: 'size llama3-70b --seq 2048 -> total_bytes' or '$ kvcalc ...'."""
    verdict: str
    """exact | within rounding | off | not printed (console) | not covered (--strict)."""
    expect: str | None = None
    value: Fraction | None = None
    """The exact value, in the figure's base unit (bytes, tokens, seconds)."""
    published: Published | None = None
    exact_text: str = ""
    """The exact value in the figure's unit, as a fix would print it or finer: '171.7987 GB'."""
    fix: tuple[int, int, str] | None = None
    """(start, end, text): what --fix writes over the figure's number."""
    explanation: str = ""

    @property
    def ok(self) -> bool:
        if self.expect is not None:
            return self.verdict == self.expect
        return self.verdict in ("exact", "within rounding")

    @property
    def factor(self) -> Fraction | None:
        """Exact / published, for an off figure ('x8.22')."""
        if self.verdict != "off" or self.value is None or not self.published:
            return None
        return self.value / self.published.value if self.published.value else None


@dataclass(frozen=True, slots=True)
class Problem:
    """A malformed annotation (exit 2), at file:line."""

    path: str
    line: int
    col: int
    message: str


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]


def number_text(value: Fraction, places: int, commas: bool) -> str:
    """value at `places` decimals, half-even as units.fixed: 171.798691840 -> '171.8' at 1."""
    scaled = round(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    head = f"{whole:,}" if commas else str(whole)
    return f"{sign}{head}.{frac:0{places}d}" if places else f"{sign}{head}"


def published_figure(figure: Figure, unit: str | None = None) -> Published:
    """The figure read exactly with claims.read_published, in its base unit (bytes, s)."""
    unit = unit or figure.unit
    scale = UNITS[unit][1] if unit else Fraction(1)
    p = read_published(figure.number)
    return Published(p.value * scale, p.half_ulp * scale, unit, p.places)


def exact_text(value: Fraction, figure: Figure, unit: str) -> str:
    """The exact value in the figure's unit, two digits finer than printed unless exact."""
    scaled = value / (UNITS[unit][1] if unit else 1)
    places = figure.places if (scaled * 10**figure.places).denominator == 1 else figure.places + 2
    shown = number_text(scaled, places, True)
    return shown + unit if unit in ("x", "\u00d7") else f"{shown} {unit}".strip()


class Checker:
    """Checks documents; caches each command's output across annotations and files."""

    def __init__(self, runner: Runner = run_in_process, strict: bool = False) -> None:
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
        from kvcalc.doccheck_console import check_block

        scan = Scan(text)
        report = Report(documents=[path])
        annotated: list[tuple[int, Annotation]] = []
        skipped: set[int] = set()
        for comment in scan.comments:
            try:
                annotation = parse(comment.content)
                if annotation is None:
                    continue
                if annotation.skip:
                    skipped.add(_console_after(scan, comment.end))
                    continue
                annotated.append((comment.start, annotation))
                report.results += self._judge(path, scan, comment.end, annotation)
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

    def _judge(self, path: str, scan: Scan, after: int, annotation: Annotation) -> list[Result]:
        _, paragraph_end = scan.paragraph_of(after - 1)
        later = [c.start for c in scan.comments if c.start >= after and parse_quiet(c.content)]
        figures = scan.figures(after, min([paragraph_end, *later]))
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
            commas = "," in figure.number or abs(published.value / published_scale(unit)) < 1000
            new = number_text(value / published_scale(unit), figure.places, commas)
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


def published_scale(unit: str) -> Fraction:
    return UNITS[unit][1] if unit else Fraction(1)


def parse_quiet(content: str) -> Annotation | None:
    try:
        return parse(content)
    except AnnotationError:
        return Annotation(("?",), ())  # still a kvcalc annotation: it ends the one before


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


def markdown_files(paths: list[str]) -> list[Path]:
    """The documents named: files as given, directories searched for *.md (hidden dirs skipped)."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in MARKDOWN_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inside:
                raise UsageError(f"{name} is a directory with no Markdown files (*.md) in it")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return found


def read_document(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise UsageError(f"{path}: larger than {MAX_TEXT_FILE_BYTES:,} bytes; not a document")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def check_paths(paths: list[str], checker: Checker) -> Report:
    report = Report()
    for path in markdown_files(paths):
        one = checker.check_text(str(path), read_document(path))
        report.results += one.results
        report.problems += one.problems
        report.documents += one.documents
    return report


def apply_fixes(text: str, fixes: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end) span; every other character is kept as it was."""
    out, cursor = [], 0
    for start, end, new in sorted(fixes):
        if start < cursor:
            continue  # overlapping edits cannot happen for distinct figures; keep the first
        out += [text[cursor:start], new]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def write_atomically(path: Path, text: str) -> None:
    """Write beside the file and rename over it: a reader never sees half a document."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".kvcalc")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def fix_documents(report: Report) -> list[tuple[str, str, str]]:
    """Rewrite every document with fixable figures; (path, old text, new text) for each."""
    by_path: dict[str, list[tuple[int, int, str]]] = {}
    for result in report.results:
        if result.fix is not None:
            by_path.setdefault(result.path, []).append(result.fix)
    changed = []
    for name, fixes in by_path.items():
        path = Path(name)
        old = read_document(path)
        new = apply_fixes(old, fixes)
        if new != old:
            write_atomically(path, new)
            changed.append((name, old, new))
    return changed


def is_claims_file(name: str) -> bool:
    """A claims YAML file (the `kvcalc check` of configs/claims.yaml), not a document."""
    return name.lower().endswith((".yaml", ".yml"))


def check_command(
    paths: list[str],
    strict: bool = False,
    fix: bool = False,
    output: str = "text",
    junit: str | None = None,
    as_json: bool = False,
    runner: Runner = run_in_process,
) -> None:
    """`kvcalc check FILE.md|DIR ...`: print the report; exit 1 on a failed figure and 2 on
    a malformed annotation (raised as NoFitError / UsageError for the CLI to map)."""
    from kvcalc import render_doccheck as render
    from kvcalc.errors import NoFitError

    if output not in ("text", "github"):
        raise UsageError(f"--format must be text or github, got {output!r}")
    checker = Checker(runner, strict)
    report = check_paths(paths, checker)
    fixed: list[tuple[str, str, str]] = []
    if fix and not report.problems:
        fixed = fix_documents(report)
        if fixed:
            report = check_paths(paths, checker)  # the fixed text, judged again
    if as_json:
        from kvcalc.render import dump

        print(dump(render.report_json(report, fixed)))
    else:
        for path, old, new in fixed:
            print(render.diff(path, old, new), end="")
        lines = render.github_lines(report) if output == "github" else render.text_lines(report)
        print("\n".join(lines))
        if fixed:
            print(f"fixed {len(fixed)} document(s)")
    if junit is not None:
        Path(junit).write_text(render.junit_xml(report), encoding="utf-8")
    if report.problems:
        first = report.problems[0]
        raise UsageError(
            f"{len(report.problems)} malformed annotation(s); first at "
            f"{first.path}:{first.line}: {first.message}"
        )
    if report.failed:
        first_bad = report.failed[0]
        raise NoFitError(
            f"{len(report.failed)} figure(s) off, not printed or not as recorded; first at "
            f"{first_bad.path}:{first_bad.line}: {first_bad.figure} "
            f"{render.verdict_text(first_bad)}"
        )
