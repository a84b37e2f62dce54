"""A table that never cuts a number: rich's table when it fits, else one block per row.

rich shortens a no-wrap cell to '163,8…' when a table is wider than the terminal
(80 columns by default when output is piped).  A Grid measures itself at print
time: if every number fits on one line it prints a compact table (prose columns may
wrap at spaces); otherwise each row becomes a heading and 'column: value' lines,
which wrap only at spaces.  Numbers contain no spaces, so no digit is ever lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class Verbatim(str):
    """A line printed whole, never wrapped (an engine's log line, to grep and compare)."""

    __slots__ = ()


@dataclass
class Grid:
    """Rows of cells under a title; `left` columns align left, `prose` columns may wrap."""

    title: str
    columns: tuple[str, ...]
    left: tuple[str, ...] = ()
    prose: tuple[str, ...] = ()
    show_header: bool = True
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        self.rows.append(tuple(cells))

    def table(self, tight: bool = False) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(
            title=self.title or None,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_header=self.show_header,
            collapse_padding=tight,  # one space between columns instead of two
        )
        for i, col in enumerate(self.columns):
            wraps = col in self.prose
            # a number column is as wide as its widest cell, so the table's minimum width
            # is the width at which nothing is cut (rich would shrink it with an ellipsis)
            cells = [col] + [row[i] for row in self.rows]
            widest = max(Text.from_markup(cell).cell_len for cell in cells)
            table.add_column(
                col,
                justify="left" if col in self.left or wraps else "right",
                no_wrap=not wraps,
                overflow="fold" if wraps else "ellipsis",
                min_width=None if wraps else widest,
            )
        for row in self.rows:
            table.add_row(*row)
        return table

    def vertical(self) -> Iterator[Any]:
        """Each row as its first cell, then one indented 'column: value' line per cell."""
        from rich.text import Text

        if self.title:
            yield Text.from_markup(self.title)
        if not self.show_header:  # a key/value list: 'key: value', continuation rows indented
            for key, *values in self.rows:
                line = Text.from_markup(f"{key}: " if key else "  ")
                line.append_text(Text.from_markup(" ".join(values)))
                yield line
            return
        for row in self.rows:
            yield Text("")
            first = self.columns[0] if self.show_header else ""
            yield Text.from_markup(f"{first}: {row[0]}" if first else row[0], style="bold")
            for name, cell in zip(self.columns[1:], row[1:], strict=True):
                label = f"{name}: " if name and self.show_header else ""
                line = Text("  " + label)
                line.append_text(Text.from_markup(cell))
                yield line

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.measure import Measurement

        for tight in (False, True):
            table = self.table(tight)
            narrowest = Measurement.get(console, options.update_width(1 << 16), table).minimum
            if narrowest <= options.max_width:
                yield table
                return
        yield from self.vertical()
