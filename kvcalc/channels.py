"""The process's output channels, made dependable for the CLI's one error path (cli._App).

- A broken pipe (`kvcalc models | head -1`) ends quietly with exit 141, 128 + SIGPIPE:
  what a shell reports for a C tool that the pipe killed (`yes | head -1` under
  `set -o pipefail`), so a script can tell "the reader left early" from success (0),
  "nothing fits" (1) or a usage error (2).  Nothing is printed: the reader is gone.
- A write to stdout that fails otherwise (a full disk, a file-size limit) is exit 2 with
  one line naming the output file; the rest of the buffered output is dropped, so the
  interpreter does not print a second complaint at exit.
- Errors and notes go to stderr only.  When stderr is closed (`2>&-`) Python sets
  sys.stderr to None and print(file=None) writes to *stdout*: an error line would land in
  the JSON a script is parsing.  They are dropped instead; the exit code still says it.
- A closed stdout (`>&-`) is an error, not a silent success.
- COLUMNS=0, garbage or a width under MIN_COLUMNS renders at MIN_COLUMNS: at 0 rich
  printed nothing at all and exited 0; under ~40 columns numbers fold across lines.  The
  terminal wraps the wider lines; every number is printed whole.
- An empty value (`--kv-dtype ''`, `--weights ''`) is refused: `x or default` fell back to
  the default silently.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE (13): the status a shell reports for a tool killed by a closed pipe."""

MIN_COLUMNS = 40
"""Narrowest rendering: below it long numbers would fold across lines."""

_FLAGS = frozenset({"--json", "--explain", "--kv-only", "--force", "--help"})
"""Options that take no value, so an empty word after them is an empty argument."""


class OutputError(Exception):
    """Writing to stdout failed (not a broken pipe); the message names the output."""


class ClosedPipe(Exception):
    """The reader of stdout has gone (EPIPE)."""


def output_name() -> str:
    """'standard output (/tmp/x/out.json)' when the file behind fd 1 can be named."""
    with contextlib.suppress(OSError):
        target = os.readlink("/proc/self/fd/1")
        if target.startswith("/"):
            return f"standard output ({target})"
    return "standard output"


class _GuardedStdout:
    """sys.stdout, with write and flush failures turned into OutputError or ClosedPipe."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise ClosedPipe from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise ClosedPipe from None
            reason = (exc.strerror or type(exc).__name__).lower()
            raise OutputError(f"cannot write the output to {output_name()}: {reason}") from None

    def write(self, text: str) -> int:
        return int(self._guard(self._stream.write, text))

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ... for rich
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """Route the command's output through _GuardedStdout; flush it before leaving."""
    stream = sys.stdout
    if stream is None:
        raise OutputError("cannot write the output: standard output is closed")
    guard = _GuardedStdout(stream)
    sys.stdout = guard
    try:
        yield
    finally:
        try:
            # a full disk shows here, inside the error path, not at the interpreter's exit;
            # also after an error (exit 1 prints its answer first): the failed write wins
            guard.flush()
        finally:
            sys.stdout = stream


def drop_output() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush has nowhere to fail."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def to_stderr(line: str) -> None:
    """One line on stderr, or nowhere when stderr is closed or failing (never on stdout)."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(line + "\n")
        stream.flush()


@contextlib.contextmanager
def sane_columns() -> Iterator[None]:
    """COLUMNS of at least MIN_COLUMNS while the command renders (restored after)."""
    raw = os.environ.get("COLUMNS")
    width = int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) <= 6 else None
    if raw is None:
        width = shutil.get_terminal_size((80, 24)).columns  # the tty's, as rich would find
    if width is not None and width >= MIN_COLUMNS:
        yield
        return
    with columns(MIN_COLUMNS):
        yield


@contextlib.contextmanager
def columns(width: int) -> Iterator[None]:
    """COLUMNS set to `width` while inside (rich reads it when stdout is not a terminal);
    the variable as it was afterwards, absent if it was."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def empty_value(argv: Sequence[str]) -> str | None:
    """The complaint about the first empty word on the command line, if any.

    `--kv-dtype ''` or `--weights=` must not mean "the default".
    """
    previous = ""
    for word in argv:
        if word.startswith("--") and "=" in word:
            flag, value = word.split("=", 1)
            if not value.strip():
                return f"{flag}: empty value"
        elif not word.strip():
            if previous.startswith("-") and previous not in _FLAGS and previous != "--":
                return f"{previous}: empty value"
            return "an empty argument: give a model name, a file or a value"
        previous = word
    return None
