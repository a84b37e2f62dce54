"""`kvcalc check FILE.md` output: compiler-style lines, GitHub annotations, JUnit, JSON.

Every line starts with file:line:col, so editors and CI jump to the figure:

    article.md:20:1: off x8.22: 20.9 GB is 171.799 GB (size llama3-70b ... -> total_bytes)
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from typing import Any
from xml.etree import ElementTree

from kvcalc.doccheck_types import Problem, Report, Result
from kvcalc.render import SCHEMA_VERSION
from kvcalc.units import plural

ORDER = ("exact", "within rounding", "off", "not printed", "not covered")


def verdict_text(r: Result) -> str:
    """'off x8.22', 'off x8.22, as expected', 'within rounding, recorded: off'."""
    text = r.verdict
    if r.factor is not None:
        text += f" x{float(r.factor):.2f}"
    if r.expect is not None:
        text += ", as expected" if r.ok else f", recorded: {r.expect}"
    return text


def message(r: Result) -> str:
    if r.verdict == "not printed":
        return f"'{r.figure}' is no longer printed by {r.source}"
    if r.verdict == "not covered":
        return f"{r.figure}: {r.source}"
    now = " now" if r.source.startswith("$") else ""
    said = r.figure if r.verdict == "exact" else f"{r.figure} is{now} {r.exact_text}"
    tail = f"; {r.explanation}" if r.explanation else ""
    return f"{said} ({r.source}){tail}"


def _is_console_quiet(r: Result) -> bool:
    return r.source.startswith("$") and r.ok


def text_lines(report: Report) -> list[str]:
    """One line per annotated figure and per failure; a console command's matching
    numbers are summed up in one line."""
    lines = []
    quiet: dict[tuple[str, str], list[Result]] = {}
    for r in report.results:
        if _is_console_quiet(r):
            quiet.setdefault((r.path, r.source), []).append(r)
            continue
        lines.append(
            (r.path, r.line, r.col, f"{r.path}:{r.line}:{r.col}: {verdict_text(r)}: {message(r)}")
        )
    for (path, source), rs in quiet.items():
        rounded = sum(r.verdict == "within rounding" for r in rs)
        extra = f" ({rounded} within rounding)" if rounded else ""
        first = rs[0]
        lines.append(
            (
                path,
                first.line,
                0,
                f"{path}:{first.line}: {source}: {len(rs)} numbers as printed{extra}",
            )
        )
    for p in report.problems:
        lines.append((p.path, p.line, p.col, f"{problem_text(p)}"))
    return [text for *_, text in sorted(lines)] + [summary(report)]


def problem_text(p: Problem) -> str:
    return f"{p.path}:{p.line}:{p.col}: malformed annotation: {p.message}"


def summary(report: Report) -> str:
    counts = Counter(r.verdict for r in report.results)
    expected = sum(1 for r in report.results if r.verdict == "off" and r.expect == "off")
    parts = []
    for verdict in ORDER:
        if counts[verdict]:
            note = f" ({expected} as expected)" if verdict == "off" and expected else ""
            parts.append(f"{counts[verdict]} {verdict}{note}")
    docs = len(report.documents)
    head = f"{plural(docs, 'document')}, {plural(len(report.results), 'figure')}"
    failed = len(report.failed)
    tail = "all as expected" if not failed and not report.problems else f"{failed} failed"
    if report.problems:
        tail += f", {len(report.problems)} malformed annotation(s)"
    # no figure checked: none annotated, unless the annotations there were malformed
    empty = "none checked" if report.problems else "none annotated"
    return f"{head}: {', '.join(parts) or empty}; {tail}"


def _escape(text: str, prop: bool = False) -> str:
    # GitHub workflow commands: %, CR, LF always; ':' and ',' inside properties too
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _in_repository(path: str) -> str:
    # GitHub places an annotation by a path relative to the checkout (the working directory)
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative
    return path


def github_lines(report: Report) -> list[str]:
    """::error workflow commands on the figures' lines, then the summary."""
    lines = []
    for r in report.failed:
        where = f"file={_escape(_in_repository(r.path), True)},line={r.line},col={r.col}"
        title = _escape(f"kvcalc check: {verdict_text(r)}", True)
        lines.append(f"::error {where},title={title}::{_escape(message(r))}")
    for p in report.problems:
        where = f"file={_escape(_in_repository(p.path), True)},line={p.line},col={p.col}"
        title = _escape("kvcalc check: malformed annotation", True)
        lines.append(f"::error {where},title={title}::{_escape(p.message)}")
    return [*lines, summary(report)]


def junit_xml(report: Report) -> str:
    """One testsuite per document, one testcase per figure (failure: off; error: malformed)."""
    root = ElementTree.Element("testsuites", name="kvcalc check")
    for path in report.documents:
        results = [r for r in report.results if r.path == path]
        problems = [p for p in report.problems if p.path == path]
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=path,
            tests=str(len(results) + len(problems)),
            failures=str(sum(not r.ok for r in results)),
            errors=str(len(problems)),
        )
        for r in results:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                classname=path,
                name=f"line {r.line}: {r.figure}",
                file=path,
                line=str(r.line),
            )
            if not r.ok:
                failure = ElementTree.SubElement(case, "failure", message=verdict_text(r))
                failure.text = message(r)
        for p in problems:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                classname=path,
                name=f"line {p.line}: annotation",
                file=path,
                line=str(p.line),
            )
            ElementTree.SubElement(case, "error", message="malformed annotation").text = p.message
    for key, total in (
        ("tests", len(report.results) + len(report.problems)),
        ("failures", len(report.failed)),
        ("errors", len(report.problems)),
    ):
        root.set(key, str(total))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, "unicode") + "\n"


def report_json(report: Report, fixed: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": not report.failed and not report.problems,
        "documents": report.documents,
        "figures": [
            {
                "path": r.path,
                "line": r.line,
                "col": r.col,
                "figure": r.figure,
                "recomputed": r.source,
                "verdict": r.verdict,
                "expected": r.expect,
                "ok": r.ok,
                "exact": r.exact_text,
                "exact_value": str(r.value) if r.value is not None else None,
                "factor": f"{float(r.factor):.4f}" if r.factor is not None else None,
                "explanation": r.explanation,
            }
            for r in report.results
        ],
        "errors": [
            {"path": p.path, "line": p.line, "col": p.col, "message": p.message}
            for p in report.problems
        ],
        "fixed": [{"path": path, "diff": diff(path, old, new)} for path, old, new in fixed or []],
    }


def diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path.lstrip('/')}",
            tofile=f"b/{path.lstrip('/')}",
        )
    )
