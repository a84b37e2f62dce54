"""The root command group: commands loaded on demand, and the one place errors become exit codes.

Exit codes: 0 answered; 1 a valid question with no answer (nothing fits, a claim's
verdict changed); 2 the question was malformed, a file could not be read or the output
not written (one line naming what and why); 141 stdout's reader left early (a broken
pipe: quietly, see kvcalc/channels.py); 130 interrupted; 70 a bug in kvcalc (set
KVCALC_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from kvcalc import channels

# name -> (module, one-line summary shown by `kvcalc --help` without importing it)
COMMANDS = {
    "size": ("size", "KV-cache bytes per layer, per token, per request and in total."),
    "fit": ("fit", "The longest context and the most concurrent requests that fit a budget."),
    "dial": ("dial", "Every valid KV-head count G: bytes, and what fits, for each."),
    "decode": ("decode", "Bytes read per decode step and the memory-bandwidth bound on it."),
    "compare": ("compare", "Several models side by side: bytes, and what fits."),
    "plot": ("plot", "KV-cache memory against context or batch, in the terminal or a file."),
    "models": ("models", "List model presets, or show one spec in full."),
    "gpus": ("gpus", "List hardware presets: memory as the driver reports it, bandwidth."),
    "check": ("check", "Recompute documented KV-cache claims; exit 1 when a verdict differs."),
    "import": ("import_", "Print the preset YAML a model file amounts to."),
    "log": ("log", "A vLLM, SGLang or llama.cpp start-up log beside kvcalc's prediction."),
}


def fail(message: str, exit_code: int) -> None:
    # stderr or nowhere: with stderr closed, print(file=None) would write to stdout
    channels.to_stderr(f"kvcalc: error: {' '.join(message.split())}")
    sys.exit(exit_code)


def _passes_text(param: Any) -> Any:
    """process_value for a parameter whose value kvcalc parses itself (kvcalc.options.setup).

    typer builds a pydantic TypeAdapter for every parameter the first time it processes
    one, given or not (about 0.8 ms each, and pydantic's plugin scan, ~25 ms, on the
    first): most of a `size` run's own cost went to turning None into None and 'x' into
    'x'.  Text, a bool or nothing passes through; anything else takes typer's path.
    """
    typers = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        if value is not None and not isinstance(value, str | bool):
            return typers(ctx, value)
        if param.required and param.value_is_missing(value):
            return typers(ctx, value)  # typer's own missing-value error
        return value if param.callback is None else param.callback(ctx, param, value)

    return process_value


def plain_text(command: Any) -> Any:
    """The command with its text and flag parameters passed through as given."""
    for param in command.params:
        plain = param.type_descriptor.annotation in (str, bool) and not param.multiple
        if isinstance(param, TyperOption | TyperArgument) and plain and param.nargs == 1:
            param.process_value = _passes_text(param)  # type: ignore[method-assign]
    return command


class KvcalcGroup(TyperGroup):
    """Lazy commands, and typer run without its own error printing."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"kvcalc.cli.{COMMANDS[cmd_name][0]}")
        return plain_text(typer.main.get_command(module.app))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            from difflib import get_close_matches

            close = get_close_matches(name, list(COMMANDS), n=1)
            if close:
                ctx.fail(f"No such command {name!r}; did you mean '{close[0]}'?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from kvcalc.errors import KvcalcError, UsageError

        kwargs["standalone_mode"] = False  # errors come back here instead of being printed
        kwargs.setdefault("prog_name", "kvcalc")
        given = kwargs["args"] if "args" in kwargs else args[0] if args else sys.argv[1:]
        if not given:  # no arguments: the help, as a successful answer
            kwargs["args"], args = ["--help"], ()
        try:
            with channels.sane_columns(), channels.guarded_stdout():
                empty = channels.empty_value(kwargs.get("args", given))
                if empty is not None:
                    raise UsageError(empty)
                code = super().main(*args, **kwargs)
        except channels.ClosedPipe:
            channels.drop_output()
            sys.exit(channels.BROKEN_PIPE_EXIT)
        except channels.OutputError as exc:
            channels.drop_output()
            fail(str(exc), 2)
        except KvcalcError as exc:
            fail(str(exc), exc.exit_code)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            fail("aborted", 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except typer.TyperException as exc:  # typer's usage errors: bad option, missing value
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            fail(exc.format_message() + where, exc.exit_code)
        except OSError as exc:  # a file the library opened without naming it: still exit 2
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{(exc.strerror or type(exc).__name__).lower()}", 2)
        except Exception as exc:
            if os.environ.get("KVCALC_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {exc} (set KVCALC_DEBUG=1 for a "
                "traceback; please report it)",
                70,
            )
        sys.exit(code if isinstance(code, int) else 0)
