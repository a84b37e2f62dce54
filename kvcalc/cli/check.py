"""kvcalc check: documented KV-cache numbers recomputed (claims YAML, or Markdown documents)."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.shared import JsonOpt, emit, warn
from kvcalc.errors import NoFitError, UsageError

app = typer.Typer(rich_markup_mode=None, add_completion=False)
Files = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="FILE.md|DIR|CLAIMS.yaml",
        help="Markdown documents, or directories searched for *.md: their kvcalc-annotated "
        "figures and ```console blocks are recomputed (see docs/checking-documents.md). "
        "A .yaml file is a claims file [default: the shipped configs/claims.yaml].",
    ),
]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Documents: also fail on unit figures no annotation covers."),
]
Fix = Annotated[
    bool,
    typer.Option("--fix", help="Documents: rewrite off figures in place; print the diff."),
]
Format = Annotated[
    str,
    typer.Option("--format", metavar="text|github", help="github: workflow annotations."),
]
Junit = Annotated[
    str | None, typer.Option("--junit", metavar="FILE", help="Documents: also write JUnit XML.")
]


@app.command()
def check(
    files: Files = None,
    strict: Strict = False,
    fix: Fix = False,
    output: Format = "text",
    junit: Junit = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute documented KV-cache figures; exit 1 when one is off or its verdict changed.

    A verdict is exact, within rounding (of the printed digits), or off (with the
    factor, and a single configuration change that reproduces the figure when one does).
    A malformed annotation in a document exits 2 naming file:line.
    """
    from kvcalc import claims
    from kvcalc.doccheck_run import is_claims_file
    from kvcalc.render_claims import check_json, check_tables

    documents = [f for f in files or [] if not is_claims_file(f)]
    if documents:
        if len(documents) != len(files or []):
            raise UsageError("check Markdown documents or a claims YAML file, not both at once")
        check_documents(documents, strict, fix, output, junit, as_json)
        return
    if strict or fix or junit or output != "text":
        raise UsageError("--strict, --fix, --format and --junit are for Markdown: give FILE.md")
    if len(files or []) > 1:
        raise UsageError("one claims YAML file at a time")
    outcomes = claims.check_file(files[0] if files else None, warn)
    emit(as_json, lambda: check_json(outcomes), lambda: check_tables(outcomes))
    bad = [o.claim.id for o in outcomes if not o.ok]
    if bad:
        raise NoFitError(f"{len(bad)} claim verdict(s) changed: {', '.join(bad)}")


def check_documents(
    paths: list[str], strict: bool, fix: bool, output: str, junit: str | None, as_json: bool
) -> None:
    """Print the documents' report; exit 1 on a failed figure, 2 on a malformed annotation."""
    from pathlib import Path

    from kvcalc import doccheck_run, files
    from kvcalc import render_doccheck as render

    if output not in ("text", "github"):
        raise UsageError(f"--format must be text or github, got {output!r}")
    report, fixed = doccheck_run.check_documents(paths, strict, fix)
    if as_json:
        emit(True, lambda: render.report_json(report, fixed), list)
    else:  # printed as is: diffs and workflow commands must not be re-wrapped or styled
        for path, old, new in fixed:
            print(render.diff(path, old, new), end="")
        lines = render.github_lines(report) if output == "github" else render.text_lines(report)
        print("\n".join(lines + ([f"fixed {len(fixed)} document(s)"] if fixed else [])))
    if junit is not None:
        xml = render.junit_xml(report).encode("utf-8")
        # replaced each run, but through a temporary file: a link at FILE is not followed
        files.write_new(Path(junit), lambda handle: handle.write(xml), force=True, flag="--junit")
    if report.problems:
        first = report.problems[0]
        raise UsageError(
            f"{len(report.problems)} malformed annotation(s); first at "
            f"{first.path}:{first.line}: {first.message}"
        )
    if report.failed:
        bad = report.failed[0]
        raise NoFitError(
            f"{len(report.failed)} figure(s) off, not printed or not as recorded; first at "
            f"{bad.path}:{bad.line}: {bad.figure} {render.verdict_text(bad)}"
        )
