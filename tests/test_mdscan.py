"""Markdown as kvcalc check reads it: which numbers are figures, and what hides them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvcalc.mdscan import Scan, figures_in


@pytest.mark.parametrize(
    ("text", "figures"),
    [
        ("21.47 GB and 20.00 GiB", [("21.47 GB", "bytes"), ("20.00 GiB", "bytes")]),
        ("24GB, 8x, 48.53ms", [("24GB", "bytes"), ("8x", "ratio"), ("48.53ms", "seconds")]),
        ("60,573 tokens for 7 requests", [("60,573 tokens", "tokens"), ("7 requests", "requests")]),
        ("171.80\nGB", [("171.80 GB", "bytes")]),  # reflowed
        ("3,350 GB/s, 20.6 tokens/s", [("3,350 GB/s", "rate"), ("20.6 tokens/s", "rate")]),
        ("2 x 80 x 2 B", [("2", ""), ("80", ""), ("2 B", "bytes")]),  # 'x' between is not a unit
        ("0.3-1.5 GiB", [("0.3", ""), ("1.5 GiB", "bytes")]),  # a range
        ("llama3-70b GQA-8 v0.3 70B 128K 1990s 1.5.2 fp16 q8_0", []),  # words, not figures
    ],
)
def test_figures_in_prose(text, figures):
    assert [(f.text, f.kind) for f in figures_in(text)] == figures


def test_code_and_comments_hide_figures():
    text = "a `24 GB` b <!-- 3 GB --> c\n\n```\n5 GB\n```\n7 GB ``x` 8 GB``\n"
    scan = Scan(text)
    assert [f.text for f in scan.figures(0, len(text))] == ["7 GB"]
    assert scan.comments[0].content == " 3 GB "


def test_backticked_annotation_is_not_an_annotation():
    scan = Scan("write `<!-- kvcalc: size x -->` before the figure\n")
    assert scan.comments == []


def test_fences_need_a_closing_run_at_least_as_long():
    text = "````markdown\n```console\n$ kvcalc size x\n```\n````\nafter 3 GB\n"
    scan = Scan(text)
    assert [f.info for f in scan.fences] == ["markdown"]
    assert [f.text for f in scan.figures(0, len(text))] == ["3 GB"]


def test_positions_and_paragraphs_keep_crlf_offsets():
    text = "a\r\n\r\nb 2 GB\r\nc\r\n"
    scan = Scan(text)
    figure = scan.figures(0, len(text))[0]
    assert scan.position(figure.start) == (3, 3)
    assert [text[s:e] for s, e in scan.paragraphs] == ["a\r\n", "b 2 GB\r\nc\r\n"]


PIECES = [
    "<!--",
    "-->",
    "`",
    "```",
    "~~~",
    "\n",
    "\r\n",
    " ",
    "21.47 GB",
    "8x",
    "70B",
    "-",
    "kvcalc:",
]


@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=40))
def test_any_text_scans_into_ordered_figures_inside_it(pieces):
    text = "".join(pieces)
    scan = Scan(text)
    figures = scan.figures(0, len(text))
    assert all(0 <= f.start < f.number_end <= f.end <= len(text) for f in figures)
    assert all(a.end <= b.start for a, b in zip(figures, figures[1:], strict=False))
    for start, end in scan.paragraphs:
        assert scan.paragraph_of(start) == (start, end)
