"""`kvcalc check FILE.md`: annotated figures and console blocks recomputed, verdicts pinned.

The test document tests/data/doccheck/article.md holds right, rounded, GB/GiB-confused
and the source article's wrong figures for Llama 3 70B at 2,048 tokens x 32 requests:
exact 2 x 80 x 8 x 128 x 2 B x 65,536 tokens = 21,474,836,480 B = 21.47 GB = 20 GiB,
and with MHA (64 KV heads) 8x that, 171,798,691,840 B = 171.80 GB = 160 GiB.
"""

from __future__ import annotations

import json
import re
import shutil
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvcalc.claims import verdict
from kvcalc.doccheck import Checker, number_text
from kvcalc.doccheck_run import apply_fixes, check_paths, run_in_process
from kvcalc.doccheck_types import Ran, published_figure
from kvcalc.mdscan import figures_in

DATA = Path(__file__).parent / "data" / "doccheck"
ARTICLE = DATA / "article.md"


@pytest.fixture(scope="module")
def article():
    return check_paths([str(ARTICLE)], Checker(run_in_process, strict=True))


def factor(result) -> str | None:
    return f"x{float(result.factor):.2f}" if result.factor is not None else None


# (line, figure, verdict, factor): every annotated figure of the test document.
ANNOTATED = [
    (10, "327,680 B", "exact", None),  # 2 x 80 x 8 x 128 x 2 B
    (12, "21,474,836,480 bytes", "exact", None),  # x 2,048 tokens x 32 requests
    (12, "20 GiB", "exact", None),  # 21,474,836,480 / 2^30 = 20 exactly
    (12, "21.47 GB", "within rounding", None),  # 21.4748... GB, printed to 0.01
    (13, "171.80 GB", "within rounding", None),  # MHA; the unit reflowed to line 14
    (14, "160.00 GiB", "exact", None),  # 171,798,691,840 / 2^30 = 160
    (15, "8x", "exact", None),  # 64 query heads / 8 KV heads
    (20, "20.9 GB", "off", "x8.22"),  # the article's MHA figure: 171.80 / 20.9
    (20, "2.6 GB", "off", "x8.26"),  # the article's GQA figure: 21.47 / 2.6
    (24, "20.00 GB", "off", "x1.07"),  # 20 GiB printed as GB: 2^30 / 10^9
    (25, "21.47 GiB", "off", "x0.93"),  # 21.47 GB printed as GiB: 10^9 / 2^30
    (26, "2.68 GB", "off", "x8.01"),  # batch 4: 21.47 / 2.68
    (32, "20.9 GB", "off", "x8.22"),  # quoted on purpose: 'expect off'
    (38, "60,573 tokens", "exact", None),  # fit: 7,939,477,504 B // 131,072 B
    (39, "7 requests", "exact", None),  # 60,573 // 8,192
    # 141,107,412,992 B of bf16 weights + 21,474,836,480 B of KV = 162,582,249,472 B
    (41, "48.53 ms", "within rounding", None),  # / 3.35 TB/s
    (45, "2,684,354,560", "exact", None),  # MQA: 21,474,836,480 / 8, 'in B'
    (45, "2.68", "within rounding", None),  # 'in GB'
    (45, "2.50", "exact", None),  # 'in GiB'
]


def test_the_test_document_gets_the_expected_verdicts(article):
    annotated = [r for r in article.results if not r.source.startswith("$")]
    got = [
        (r.line, r.figure, r.verdict, factor(r)) for r in annotated if r.verdict != "not covered"
    ]
    assert got == ANNOTATED
    assert not article.problems


def test_off_figures_say_what_reproduces_them(article):
    by_line = {(r.line, r.figure): r for r in article.results}
    assert by_line[24, "20.00 GB"].explanation.endswith("the exact bytes in GiB printed as GB")
    assert by_line[25, "21.47 GiB"].explanation.endswith("the exact bytes in GB printed as GiB")
    assert "batch 4 instead of 32" in by_line[26, "2.68 GB"].explanation
    assert by_line[20, "2.6 GB"].explanation.startswith("no single change")
    assert by_line[32, "20.9 GB"].ok and by_line[32, "20.9 GB"].fix is None  # expected off


def test_console_blocks_are_rerun_and_compared(article):
    console = [r for r in article.results if r.source.startswith("$")]
    assert {r.source for r in console} == {
        "$ kvcalc size llama3-70b --seq 2048 --batch 32",
        "$ kvcalc size llama2-7b --seq 4096 --engine llamacpp -np 1",
    }
    bad = [(r.line, r.figure, r.verdict, r.exact_text, factor(r)) for r in console if not r.ok]
    # llama.cpp logs 32 layers x 4,096 cells x 2 x 4,096 values x 2 B = 2,048 MiB
    assert bad == [(60, "2000.00 MiB", "off", "2048.00 MiB", "x1.02")]
    assert sum(r.verdict == "exact" for r in console) == 19


def test_strict_lists_unit_figures_no_annotation_covers(article):
    uncovered = [(r.line, r.figure) for r in article.results if r.verdict == "not covered"]
    # '2,048 tokens' and '24 GB' restate the annotations' own --seq and --mem: inputs
    assert uncovered == [(27, "2.68 GB")]


def test_cli_reports_file_line_and_exits_1(run):
    result = run("check", str(ARTICLE))
    assert result.exit_code == 1
    assert f"{ARTICLE}:20:1: off x8.22: 20.9 GB is 171.799 GB" in result.stdout
    assert f"{ARTICLE}:24:83: off x1.07: 20.00 GB is 21.4748 GB" in result.stdout
    assert f"{ARTICLE}:32:85: off x8.22, as expected" in result.stdout
    assert "6 failed" in result.stdout
    assert f"first at {ARTICLE}:20: 20.9 GB off x8.22" in result.stderr


def test_fix_makes_it_pass_and_changes_only_the_figures(run, tmp_path):
    doc = tmp_path / "article.md"
    shutil.copy(ARTICLE, doc)
    original = doc.read_text(encoding="utf-8")
    result = run("check", "--fix", str(doc))
    assert result.exit_code == 0, result.stdout + result.stderr
    fixed = doc.read_text(encoding="utf-8")
    assert run("check", str(doc)).exit_code == 0
    # the off figures, at the document's own precision and unit:
    # 171,798,691,840 B at 0.1 GB; 21,474,836,480 B at 0.1 GB, 0.01 GB, 0.01 GiB
    changed = [
        (i + 1, a, b)
        for i, (a, b) in enumerate(zip(original.splitlines(), fixed.splitlines(), strict=True))
        if a != b
    ]
    assert [(n, re.findall(r"\d[\d,.]*\d (?:GB|GiB|MiB)", b)) for n, _, b in changed] == [
        (20, ["171.8 GB", "21.5 GB"]),
        (24, ["21.47 GB"]),
        (25, ["20.00 GiB"]),
        (26, ["21.47 GB"]),
        (60, ["2048.00 MiB", "1024.00 MiB", "1024.00 MiB"]),
    ]

    # byte-identical outside the figures: blank every number and the texts are equal
    def blank(text: str) -> str:
        return re.sub(r"\d[\d,.]*", "#", text)

    assert blank(fixed) == blank(original) and len(fixed.splitlines()) == len(original.splitlines())
    assert "-20.9 GB for MHA" in result.stdout and "+171.8 GB for MHA" in result.stdout
    assert not list(tmp_path.glob(".*kvcalc"))  # the temporary file was renamed over


def test_fix_keeps_crlf_non_ascii_and_whitespace_byte_for_byte(run, tmp_path):
    doc = tmp_path / "crlf.md"
    head = "Caf\u00e9 \u2014 tabs\there, trailing  \r\n"
    doc.write_bytes(
        (
            head + "MHA: <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --attention mha -->\r\n"
            "20.9\r\nGB, *\u00e9t\u00e9*.\r\n"
        ).encode("utf-8")
    )
    doc.chmod(0o640)
    assert run("check", "--fix", str(doc)).exit_code == 0
    assert doc.read_bytes() == (
        head + "MHA: <!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --attention mha -->\r\n"
        "171.8\r\nGB, *\u00e9t\u00e9*.\r\n"
    ).encode("utf-8")
    assert doc.stat().st_mode & 0o777 == 0o640


def test_a_clean_document_passes(run, tmp_path):
    doc = tmp_path / "ok.md"
    doc.write_text(
        "Llama 3 70B at 2,048 tokens x 32 needs\n"
        "<!-- kvcalc: size llama3-70b --seq 2048 --batch 32 -> total_bytes, total_bytes -->\n"
        "21.47 GB (20.00 GiB).\n"
    )
    result = run("check", "--strict", str(tmp_path))  # a directory: its *.md files
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "1 document, 2 figures: 1 exact, 1 within rounding; all as expected" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- kvcalc: plot llama3-70b --> 2 GB\n", "'plot' cannot be checked"),
        ("<!-- kvcalc: -->\n", "no command"),
        ("<!-- kvcalc: size llama3-70b -->\n\n21 GB\n", "covers 1 figure(s) but 0 follow"),
        ("<!-- kvcalc: size nosuchmodel --> 2 GB\n", "unknown model 'nosuchmodel'"),
        ("<!-- kvcalc: size llama3-70b -> nope --> 2 GB\n", "no 'nope' in the --json output"),
        ("<!-- kvcalc: size llama3-70b -> model_max_context --> 2 GB\n", "cannot state model_max"),
        ("<!-- kvcalc: size llama3-70b --> 2,048 tokens\n", "name the quantity"),
        ("<!-- kvcalc: size llama3-70b -> total_bytes --> 2048\n", "in GB"),
        ("<!-- kvcalc: size llama3-70b -> in GB --> 2 GiB\n", "'in GB' but the figure reads"),
        ("<!-- kvcalc: size llama3-70b -> expect maybe --> 2 GB\n", "expect one of"),
        ("<!-- kvcalc: size 'llama3-70b --> 2 GB\n", "cannot split"),
        ("<!-- kvcalc: skip -->\nno block\n", "must stand just before a ```console"),
        ("<!-- kvcalc: size llama3-70b -> total_bytes 21.47 GB.\n", "no closing '-->'"),
        ("```console\n$ kvcalc check\n```\n", "cannot be re-run"),
        ("```console\n$ kvcalc size nosuchmodel\n1 GB\n```\n", "failed: kvcalc: error"),
    ],
)
def test_malformed_annotations_exit_2_naming_file_and_line(run, tmp_path, text, message):
    doc = tmp_path / "bad.md"
    doc.write_text("# title\n\n" + text)
    result = run("check", str(doc))
    assert result.exit_code == 2, result.stdout + result.stderr
    line = 4 if text.startswith("```") else 3  # a console block: its command's line
    assert f"first at {doc}:{line}: " in result.stderr and message in result.stderr


def test_github_format_annotates_the_lines(run, monkeypatch):
    monkeypatch.chdir(ARTICLE.parent.parent.parent.parent)  # the checkout's root
    result = run("check", "--format", "github", str(ARTICLE))  # absolute: made relative
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(lines) == 6
    assert lines[0].startswith(
        "::error file=tests/data/doccheck/article.md,line=20,col=1,"
        "title=kvcalc check%3A off x8.22::20.9 GB is 171.799 GB"
    )


def test_junit_report(run, tmp_path):
    out = tmp_path / "report.xml"
    assert run("check", "--junit", str(out), str(ARTICLE)).exit_code == 1
    root = ElementTree.parse(out).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == str(ARTICLE)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("39", "6", "0")
    failure = root.find(".//testcase[@name='line 20: 2.6 GB']/failure")
    assert failure is not None and failure.get("message") == "off x8.26"


def test_json_report(run):
    result = run("check", "--json", str(ARTICLE))  # exit 1, so not run.json
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and not data["ok"]
    first = next(f for f in data["figures"] if f["figure"] == "20.9 GB")
    assert (first["line"], first["verdict"], first["exact_value"]) == (20, "off", "171798691840")


def test_claims_files_still_work_and_document_options_need_documents(run):
    assert "claims, all verdicts as recorded" in run("check").stdout
    assert run("check", "configs/claims.yaml").exit_code == 0
    result = run("check", "--fix")
    assert result.exit_code == 2 and "are for Markdown" in result.stderr


def test_skip_leaves_a_console_block_alone(run, tmp_path):
    doc = tmp_path / "skip.md"
    doc.write_text("<!-- kvcalc: skip -->\n```console\n$ kvcalc size llama3-70b\n9 GB\n```\n")
    assert run("check", str(doc)).exit_code == 0


def test_a_console_line_no_longer_printed_fails(run, tmp_path):
    doc = tmp_path / "gone.md"
    doc.write_text("```console\n$ kvcalc size llama3-70b --seq 2048\n GQA-4 (model) 4 1 GB\n```\n")
    result = run("check", str(doc))
    assert result.exit_code == 1
    assert f"{doc}:3:1: not printed: 'GQA-4 (model) 4 1 GB' is no longer printed" in result.stdout


# ------------------------------------------------------------------ pieces


@given(
    st.integers(min_value=1, max_value=10**15),
    st.sampled_from(["B", "KB", "MB", "GB", "GiB", "MiB", "TB"]),
    st.integers(min_value=0, max_value=4),
)
def test_a_fixed_figure_is_never_off(value, unit, places):
    # what --fix prints, read back, is the exact value within the printed digits
    scale = published_figure(figures_in(f"1 {unit}")[0]).value
    text = number_text(Fraction(value) / scale, places, True)
    assert verdict(Fraction(value), published_figure(figures_in(f"{text} {unit}")[0])) != "off"


def test_apply_fixes_replaces_only_the_spans():
    assert apply_fixes("a 20.9 GB b 2.6 GB", [(12, 15, "21.5"), (2, 6, "171.8")]) == (
        "a 171.8 GB b 21.5 GB"
    )


def test_the_documented_examples_are_valid_and_right(run, tmp_path):
    # every ```markdown example in docs/checking-documents.md, checked as a document
    from kvcalc.mdscan import Scan

    text = (Path(__file__).parent.parent / "docs" / "checking-documents.md").read_text()
    blocks = [text[f.body : f.body_end] for f in Scan(text).fences if f.info == "markdown"]
    assert len(blocks) >= 6
    for i, block in enumerate(blocks):
        (tmp_path / f"example{i}.md").write_text(block)
    result = run("check", "--strict", str(tmp_path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "as expected" in result.stdout and "console" not in result.stderr


def test_console_fix_keeps_a_table_column_aligned(run, tmp_path):
    doc = tmp_path / "table.md"
    row = " GQA-8 (model)    8     327,680   671.09 MB      2.6 GB    20.00 GiB      8x"
    doc.write_text(f"```console\n$ kvcalc size llama3-70b --seq 2048 --batch 32\n{row}\n```\n")
    assert run("check", str(doc)).exit_code == 1
    assert run("check", "--fix", str(doc)).exit_code == 0
    fixed = doc.read_text().splitlines()[2]
    # '21.47 GB' is 2 characters longer than '2.6 GB': it takes 2 spaces from its left
    assert fixed == " GQA-8 (model)    8     327,680   671.09 MB    21.47 GB    20.00 GiB      8x"
    assert len(fixed) == len(row)


def test_console_lines_match_whatever_the_spacing(run, tmp_path):
    doc = tmp_path / "narrow.md"
    doc.write_text(
        "```console\n$ kvcalc size llama3-70b --seq 2048 --batch 32\n"
        "MHA 64 2,621,440 5.37 GB 171.80 GB 160.00 GiB 1x\n```\n"
    )
    result = run("check", str(doc))
    assert result.exit_code == 0, result.stdout
    assert "6 numbers as printed" in result.stdout  # 64, 2,621,440, ..., 1x


def test_fix_without_anything_off_writes_nothing(run, tmp_path):
    doc = tmp_path / "fine.md"
    doc.write_text("<!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --> 21.47 GB\n")
    before = doc.stat().st_mtime_ns
    result = run("check", "--fix", str(doc))
    assert result.exit_code == 0 and "---" not in result.stdout and "fixed" not in result.stdout
    assert doc.stat().st_mtime_ns == before


def test_annotation_grammar():
    from kvcalc.doccheck_syntax import Target, parse

    a = parse(" kvcalc: size llama3-70b\n  --seq 2048 -> total_bytes in B, expect off ")
    assert a is not None and a.argv == ("size", "llama3-70b", "--seq", "2048")
    assert a.targets == (Target("total_bytes", "B", None), Target(None, None, "off"))
    assert parse("kvcalc: kvcalc fit x --json").argv == ("fit", "x")  # type: ignore[union-attr]
    assert parse("kvcalc: size x -> max_batch expect within rounding").targets == (  # type: ignore[union-attr]
        Target("max_batch", None, "within rounding"),
    )
    assert parse(" a plain comment ") is None


def test_key_paths_reach_into_lists():
    from kvcalc.doccheck_syntax import AnnotationError, lookup

    payload = {
        "variants": [{"form": "configured", "total_bytes": 8}, {"form": "mha", "total_bytes": 64}],
        "rows": [{"kv_heads": 4, "mha_ratio": 16.0}],
        "steps": [{"step_seconds_min_exact": "158771728/3271484375"}],
    }
    assert lookup(payload, "variants.mha.total_bytes") == 64
    assert lookup(payload, "variants.0.total_bytes") == 8
    assert lookup(payload, "rows.kv_heads=4.mha_ratio") == 16
    assert lookup(payload, "steps.0.step_seconds_min_exact") == Fraction(158771728, 3271484375)
    for bad, message in [
        ("variants.5.total_bytes", "index 5 is past the 2 items"),
        ("variants.mqa.total_bytes", "no list item 'mqa'"),
        ("variants", "not a number"),
        ("nope", "it has: variants, rows, steps"),
        ("step", r"did you mean steps\?"),  # a near miss is named, not the whole list
    ]:
        with pytest.raises(AnnotationError, match=message):
            lookup(payload, bad)


def test_documents_and_claims_files_are_checked_in_separate_runs(run):
    result = run("check", str(ARTICLE), "configs/claims.yaml")
    assert result.exit_code == 2 and "not both at once" in result.stderr


FRAGMENTS = [
    "<!-- kvcalc: size m -->", "<!-- kvcalc: size m -> max_batch, total_bytes in GB -->",
    "<!-- kvcalc: skip -->", "<!-- kvcalc: fit -> expect off -->", "<!-- kvcalc: nope -->",
    "<!--", "-->", "21.47 GB", "2.6 GB", "7 requests", "8,192 tokens", "3", " ", "\n", "\n\n",
    "```console\n", "```\n", "$ kvcalc size m\n", "$ kvcalc check\n", "`", "|",
]  # fmt: skip


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_any_document_gets_results_or_problems_never_a_crash(pieces):
    # a stub runner: every command 'prints' the same JSON, so only the document varies
    def stub(argv):
        return Ran(0, json.dumps({"total_bytes": 21474836480, "max_batch": 7}), "")

    report = Checker(stub, strict=True).check_text("fuzz.md", "".join(pieces))
    assert all(
        r.verdict in ("exact", "within rounding", "off", "not covered", "not printed")
        for r in report.results
    )
