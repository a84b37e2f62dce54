"""Markdown as `kvcalc check` reads it: code, comments, paragraphs and figures.

Only what the checker needs, with offsets into the text exactly as stored (CRLF
kept), so a fix can replace a figure and leave every other byte alone:

- fenced code blocks (``` or ~~~, CommonMark's rules for opening and closing);
- inline code spans and HTML comments outside them (`<!-- -->` in backticks is code);
- paragraphs: runs of non-blank lines between blank lines and fences;
- figures: a number as printed, with its unit ('21.47 GB', '60,573 tokens', '8x').

A number glued to a word is not a figure: 'llama3', 'GQA-8', 'v0.3', '70B', '1990s'.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from fractions import Fraction

from kvcalc.units import GB, KB, MB, PB, TB, GiB, KiB, MiB, PiB, TiB

# unit as printed -> (kind, scale to the base unit: bytes, tokens, seconds, bytes/s ...)
_BYTES = {"KB": KB, "MB": MB, "GB": GB, "TB": TB, "PB": PB}
_BYTES |= {"KiB": KiB, "MiB": MiB, "GiB": GiB, "TiB": TiB, "PiB": PiB}
UNITS: dict[str, tuple[str, Fraction]] = {
    **{name: ("bytes", Fraction(scale)) for name, scale in _BYTES.items()},
    **{name + "/s": ("rate", Fraction(scale)) for name, scale in _BYTES.items()},
    "B": ("bytes", Fraction(1)),
    "byte": ("bytes", Fraction(1)),
    "bytes": ("bytes", Fraction(1)),
    "tokens/s": ("rate", Fraction(1)),
    "token": ("tokens", Fraction(1)),
    "tokens": ("tokens", Fraction(1)),
    "request": ("requests", Fraction(1)),
    "requests": ("requests", Fraction(1)),
    "ms": ("seconds", Fraction(1, 1000)),
    "s": ("seconds", Fraction(1)),
    "x": ("ratio", Fraction(1)),
    "\u00d7": ("ratio", Fraction(1)),  # the multiplication sign: '8×'
}
# Units that may follow a number without a space: '24GB', '8x', '48.53ms'.  'B', 's' and
# words need a space, so '70B' (a model name) and '1990s' are not figures; a ratio's 'x'
# must be glued, so '2 x 80' stays arithmetic.
_GLUED = [*_BYTES, *(name + "/s" for name in _BYTES), "x", "\u00d7", "ms"]
_SPACED = [u for u in UNITS if u not in ("x", "\u00d7")]


def _alternation(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?")
_SPACED_UNIT = re.compile(
    rf"([ \t\u00a0]+|[ \t\u00a0]*\r?\n[ \t\u00a0]*)({_alternation(_SPACED)})(?![\w/])"
)
_GLUED_UNIT = re.compile(rf"({_alternation(_GLUED)})(?![\w/])")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_COMMENT = "<!--"


def unit_scale(unit: str) -> Fraction:
    """How many base units (bytes, tokens, seconds) one printed unit is: 'GB' -> 10^9."""
    return UNITS[unit][1] if unit else Fraction(1)


@dataclass(frozen=True, slots=True)
class Figure:
    """A number as printed: '20.9 GB' is number '20.9' (1 place) and unit 'GB'."""

    start: int
    end: int
    """Offsets of the whole figure, unit included."""
    number_end: int
    number: str
    places: int
    unit: str
    """As printed ('GB', 'tokens', 'x'); '' for a bare number."""
    text: str
    """The figure as printed, any line break in it shown as a space: '171.80 GB'."""

    @property
    def kind(self) -> str:
        """bytes, rate, tokens, requests, seconds, ratio, or '' (a bare number)."""
        return UNITS[self.unit][0] if self.unit else ""


@dataclass(frozen=True, slots=True)
class Fence:
    start: int
    """Offset of the opening fence line."""
    body: int
    """Offset of the first line inside."""
    end: int
    """Offset just past the closing fence line (the end of the text if unclosed)."""
    body_end: int
    info: str
    """The word after the fence: 'console', 'yaml', ''."""


@dataclass(frozen=True, slots=True)
class Comment:
    start: int
    end: int
    content: str
    """Between '<!--' and '-->', as written (to the end of its stretch when unclosed)."""
    closed: bool = True
    """False: no '-->' before the next code fence or the end of the document."""


class Scan:
    """One document's structure, computed once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.fences = _fences(text, self._line_starts)
        self.comments, self.code = _inline(text, self.fences)
        self._hidden = sorted(
            [(f.start, f.end) for f in self.fences]
            + [(c.start, c.end) for c in self.comments]
            + self.code
        )
        self._hidden_starts = [s for s, _ in self._hidden]
        self.paragraphs = _paragraphs(text, self._line_starts, self.fences)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def hidden(self, offset: int) -> bool:
        """Inside a fence, a comment or inline code."""
        i = bisect.bisect_right(self._hidden_starts, offset) - 1
        return i >= 0 and offset < self._hidden[i][1]

    def paragraph_of(self, offset: int) -> tuple[int, int]:
        """[start, end) of the paragraph holding offset ((offset, offset) outside one)."""
        i = bisect.bisect_right(self.paragraphs, (offset, len(self.text) + 1)) - 1
        if i >= 0 and self.paragraphs[i][0] <= offset < self.paragraphs[i][1]:
            return self.paragraphs[i]
        return offset, offset

    def figures(self, start: int, end: int) -> list[Figure]:
        """Figures that start in [start, end) outside code and comments."""
        return [f for f in figures_in(self.text, start, end) if not self.hidden(f.start)]


def figures_in(text: str, start: int = 0, end: int | None = None) -> list[Figure]:
    """Every figure starting in text[start:end]; a unit may follow on the next line."""
    end = len(text) if end is None else end
    found = []
    for m in _NUMBER.finditer(text, start, end):
        s, e = m.start(), m.end()
        before = text[s - 1] if s else " "
        if (
            before.isalnum()
            or before in "_.,/^"  # 10^9 is not a figure 9
            or (
                before == "-" and s >= 2 and text[s - 2].isalpha()  # GQA-8; 0.3-1.5 is a range
            )
        ):
            continue
        after = text[e : e + 2]
        if after[:1] == "." and after[1:2].isdigit():  # a version: 1.5.2
            continue
        unit, figure_end = "", e
        glued = _GLUED_UNIT.match(text, e) if after[:1].isalpha() or after[:1] == "\u00d7" else None
        if glued is not None:
            unit, figure_end = glued.group(1), glued.end()
        elif after[:1].isalnum() or after[:1] == "_":
            continue  # '70B', '128K', '1990s': a word, not a figure
        else:
            spaced = _SPACED_UNIT.match(text, e)
            if spaced is not None:
                unit, figure_end = spaced.group(2), spaced.end()
        places = len(m.group(2) or "")
        shown = " ".join(text[s:figure_end].split())
        found.append(Figure(s, figure_end, e, m.group(0), places, unit, shown))
    return found


def _fences(text: str, line_starts: list[int]) -> list[Fence]:
    fences: list[Fence] = []
    # lines end at '\n' only, as line_starts count them (splitlines() also splits at a lone
    # '\r', '\x0b' or '\u2028', and the two counts would disagree)
    ends = line_starts[1:] + [len(text)]
    lines = [text[a:b] for a, b in zip(line_starts, ends, strict=True) if a < b]
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i].rstrip("\r\n"))
        if m is None or (m.group(1)[0] == "`" and "`" in m.group(2)):
            i += 1
            continue
        marker, info = m.group(1), m.group(2).strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not closing.match(lines[j].rstrip("\r\n")):
            j += 1
        body_end = line_starts[j] if j < len(lines) else len(text)
        end = line_starts[j + 1] if j + 1 < len(lines) else len(text)
        body = line_starts[i + 1] if i + 1 < len(lines) else len(text)
        fences.append(Fence(line_starts[i], body, end, body_end, info.split()[0] if info else ""))
        i = j + 1
    return fences


def _inline(text: str, fences: list[Fence]) -> tuple[list[Comment], list[tuple[int, int]]]:
    """Comments and code spans outside fences, left to right (whichever opens first wins)."""
    comments: list[Comment] = []
    code: list[tuple[int, int]] = []
    gaps, cursor = [], 0
    for fence in fences:
        gaps.append((cursor, fence.start))
        cursor = fence.end
    gaps.append((cursor, len(text)))
    opener = re.compile(r"`+|<!--")
    for gap_start, gap_end in gaps:
        pos = gap_start
        while True:
            m = opener.search(text, pos, gap_end)
            if m is None:
                break
            if m.group(0) == _COMMENT:
                close = text.find("-->", m.end(), gap_end)
                if close < 0:
                    comments.append(Comment(m.start(), gap_end, text[m.end() : gap_end], False))
                    pos = gap_end
                    continue
                comments.append(Comment(m.start(), close + 3, text[m.end() : close]))
                pos = close + 3
                continue
            run = m.group(0)  # a code span ends at the next run of exactly as many backticks,
            closing = re.compile(rf"(?<!`){run}(?!`)")  # within the paragraph
            para_end = _blank_line_after(text, m.end(), gap_end)
            c = closing.search(text, m.end(), para_end)
            if c is None:
                pos = m.end()
                continue
            code.append((m.start(), c.end()))
            pos = c.end()
    return comments, code


def _blank_line_after(text: str, pos: int, limit: int) -> int:
    m = re.compile(r"\n[ \t]*\r?\n").search(text, pos, limit)
    return m.start() if m else limit


def _paragraphs(text: str, line_starts: list[int], fences: list[Fence]) -> list[tuple[int, int]]:
    """[start, end) of each run of non-blank lines outside fences (tables and lists included)."""
    fence_at = {f.start: f for f in fences}
    ends = line_starts[1:] + [len(text)]
    paragraphs: list[tuple[int, int]] = []
    start: int | None = None
    i = 0
    while i < len(line_starts):
        line_start, line_end = line_starts[i], ends[i]
        fence = fence_at.get(line_start)
        blank = not text[line_start:line_end].strip()
        if (blank or fence is not None) and start is not None:
            paragraphs.append((start, line_start))
            start = None
        if fence is not None:
            i = bisect.bisect_left(line_starts, fence.end)
            continue
        if not blank and start is None:
            start = line_start
        i += 1
    if start is not None:
        paragraphs.append((start, len(text)))
    return [(s, e) for s, e in paragraphs if s < e]
