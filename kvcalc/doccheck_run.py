"""`kvcalc check FILE.md|DIR ...` as a command: find documents, run kvcalc in-process,
check, fix in place, report.  The judging is doccheck.py's; this module does the I/O.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from kvcalc.channels import columns
from kvcalc.doccheck import Checker
from kvcalc.doccheck_types import Ran, Report, Runner
from kvcalc.errors import UsageError
from kvcalc.files import read_bounded
from kvcalc.limits import MAX_TEXT_FILE_BYTES

MARKDOWN_SUFFIXES = (".md", ".markdown")


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
    # rich sizes tables from COLUMNS when stdout is not a terminal: wide, so no cell wraps
    with columns(200), redirect_stdout(out), redirect_stderr(err):
        try:
            _command().main(list(argv), prog_name="kvcalc")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Ran(code, out.getvalue(), err.getvalue())


def markdown_files(paths: list[str]) -> list[Path]:
    """The documents named: files as given; directories searched for *.md and *.markdown,
    skipping hidden directories (.git, .venv) and never following a symlinked directory."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if not name.strip():
            raise UsageError("an empty path: name a Markdown file or a directory")
        if path.is_dir():
            inside = []
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                inside += [
                    Path(folder, f)
                    for f in sorted(files)
                    if f.lower().endswith(MARKDOWN_SUFFIXES) and not f.startswith(".")
                ]
            if not inside:
                raise UsageError(f"{name} is a directory with no Markdown files (*.md) in it")
            found += inside
        elif os.path.lexists(path):  # a FIFO or a device: read_document says which
            found.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return found


def read_document(path: Path) -> str:
    # a regular file only (a FIFO named x.md would block), and never past the limit + 1 byte
    data = read_bounded(path, MAX_TEXT_FILE_BYTES, "a Markdown document")
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


def check_documents(
    paths: list[str], strict: bool = False, fix: bool = False, runner: Runner = run_in_process
) -> tuple[Report, list[tuple[str, str, str]]]:
    """`kvcalc check FILE.md|DIR ...`: the report, and (path, old, new) of each document
    --fix rewrote (then judged again); no fix while an annotation is malformed."""
    checker = Checker(runner, strict)
    report = check_paths(paths, checker)
    fixed: list[tuple[str, str, str]] = []
    if fix and not report.problems:
        fixed = fix_documents(report)
        if fixed:
            report = check_paths(paths, checker)  # the fixed text, judged again
    return report, fixed
