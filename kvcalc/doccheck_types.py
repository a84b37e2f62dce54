"""The plain values of a document check: a command's run, a figure's verdict, a report.

Apart from doccheck.py so the console-block checker and the runner can share them
without importing the checker (and it them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from kvcalc.claims import Published, read_published
from kvcalc.mdscan import Figure, unit_scale


@dataclass(frozen=True, slots=True)
class Ran:
    """What one kvcalc command printed, and its exit code."""

    exit_code: int
    stdout: str
    stderr: str


Runner = Callable[[tuple[str, ...]], Ran]


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


def published_figure(figure: Figure, unit: str | None = None) -> Published:
    """The figure read exactly with claims.read_published, in its base unit (bytes, s)."""
    unit = figure.unit if unit is None else unit
    p = read_published(figure.number)
    scale = unit_scale(unit)
    return Published(value=p.value * scale, half_ulp=p.half_ulp * scale, unit=unit, places=p.places)
