"""The deployment options every command shares: declared once, parsed once into a Setup.

`@deployment(...)` adds the whole option set to a command's signature; the command
receives one frozen kvcalc.options.Setup.  An option a command cannot use is refused
by name, with the reason, instead of being silently ignored.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer

from kvcalc.vocabulary import OPTIONS

FLAGS = {name: flags[0].split("/")[0] for name, (flags, _, _) in OPTIONS.items()}
BOOLEANS = {"kv_only", "as_json", "swa_full", "enforce_eager"}
SWITCHES = {"kv_unified"}
"""--x/--no-x options: None when neither is given."""


CTX_SIZE = (
    "--ctx-size fixes llama.cpp's -c for one configuration ('kvcalc size'); "
    "here give --seq, the tokens one slot holds"
)
ONE_CONFIG = {
    "ctx_size": CTX_SIZE,
    "n_gpu_layers": "-ngl splits layers between GPU and CPU: see 'kvcalc fit' and 'kvcalc size'",
}
"""llama.cpp options only `size` (and, for -ngl, `fit`) can answer for."""


def option_type(name: str, help_text: str, hidden: bool) -> Any:
    """hidden: an option this command refuses is still parsed (to refuse it with the
    reason) but not offered in its --help."""
    flags, metavar, _ = OPTIONS[name]
    if name in BOOLEANS:
        return Annotated[bool, typer.Option(*flags, help=help_text, hidden=hidden)]
    if name in SWITCHES:
        return Annotated[bool | None, typer.Option(*flags, help=help_text, hidden=hidden)]
    option = typer.Option(*flags, metavar=metavar, help=help_text, hidden=hidden)
    return Annotated[str | None, option]


def deployment(
    refuse: Mapping[str, str] | None = None, helps: Mapping[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command every shared option; it is called with `opts` (a Setup) and `as_json`.

    refuse: option name -> why this command cannot use it (refused when given).
    helps: option name -> this command's own help text for it.
    """
    refused, own_help = dict(refuse or {}), dict(helps or {})

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(func, include_extras=True)
        mine = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(func).parameters.values()
            if p.name not in ("opts", "as_json")
        ]
        shared = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=option_type(
                    name, own_help.get(name, OPTIONS[name][2]), hidden=name in refused
                ),
                default=False if name in BOOLEANS else None,
            )
            for name in OPTIONS
        ]

        @functools.wraps(func)
        def command(**values: Any) -> Any:
            from kvcalc.errors import UsageError
            from kvcalc.options import setup

            given = {name: values.pop(name) for name in OPTIONS}
            for name, reason in refused.items():
                if given[name] is not None and not (name in BOOLEANS and given[name] is False):
                    command_name = func.__name__.strip("_")
                    raise UsageError(f"{FLAGS[name]} does not apply to '{command_name}': {reason}")
            as_json = given.pop("as_json")
            given["engine_name"] = given.pop("engine") or "ideal"
            opts = setup(**given)
            for note in opts.notes:
                warn(note)
            return func(opts=opts, as_json=as_json, **values)

        params = mine + shared
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


def emit(as_json: bool, payload: Callable[[], Any], tables: Callable[[], list[Any]]) -> None:
    """Print JSON (no rich import on that path) or the rich renderables."""
    if as_json:
        from kvcalc.render import dump

        print(dump(payload()))
        return
    from rich.console import Console

    from kvcalc.render_grid import Verbatim

    console = Console(highlight=False)
    for item in tables():
        # lines wrap at spaces (a number has none); engine log lines stay whole to grep
        console.print(item, soft_wrap=isinstance(item, Verbatim))


def refuse_no_fit(results: Sequence[Any], opts: Any) -> None:
    """After the answer is printed: exit 1 when a budget question has no answer, with the
    first failing model's shortfall and what would fit it."""
    # llama.cpp on a GPU: an -ngl split that fits answers the question too
    failing = [r for r in results if not r.fits and not (r.offload and r.offload.fits)]
    if not failing:
        return
    from kvcalc.api import what_would_fit
    from kvcalc.errors import NoFitError
    from kvcalc.render_fit import no_fit_message

    others = ", ".join(r.spec.id for r in failing[1:] if r.spec.id != failing[0].spec.id)
    message = no_fit_message(failing[0], what_would_fit(failing[0], opts))
    raise NoFitError(message + (f" (also: {others})" if others else ""))


def warn(message: str) -> None:
    from kvcalc.channels import to_stderr

    to_stderr(f"kvcalc: note: {' '.join(message.split())}")


def whole_option(text: Any) -> Any:
    """Parser of the integer options outside the shared vocabulary (--kv-heads, --points):
    the one number grammar of units.py, where int() would take '０' or '1__0'."""
    if text is None or isinstance(text, int):  # typer passes defaults through the parser too
        return text
    from kvcalc.units import UnitError, parse_whole

    try:
        return parse_whole(text)
    except UnitError as exc:
        raise typer.BadParameter(str(exc)) from None


ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Preset id or alias (see 'kvcalc models'), a model YAML file, a Hugging Face "
        "config.json or model directory, a GGUF file, or a Hugging Face repo id (org/name, "
        "@revision, :Q4_K_M) from the local cache, else the Hub.",
    ),
]
ModelsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="MODEL",
        help="Presets, YAML files, config.json files/directories, GGUFs or Hugging Face repo ids.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help=OPTIONS["as_json"][2])]
