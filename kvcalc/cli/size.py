"""kvcalc size: KV-cache bytes per layer, per token, per request and in total."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kvcalc.cli.shared import ModelArg, deployment, emit, refuse_no_fit, warn, whole_option

app = typer.Typer(rich_markup_mode=None, add_completion=False)
KvHeads = Annotated[
    int | None,
    typer.Option(
        "--kv-heads",
        parser=whole_option,
        metavar="N",
        help="Re-size with N KV heads (a divisor of H).",
    ),
]
Attention = Annotated[
    str | None, typer.Option("--attention", metavar="mha|mqa", help="Re-size as MHA or MQA.")
]
Explain = Annotated[
    bool, typer.Option("--explain", help="Every number as arithmetic, with its config fields.")
]


@app.command()
@deployment(refuse={"bandwidth": "bandwidth bounds decode time: see 'kvcalc decode'"})
def size(
    model: ModelArg,
    kv_heads: KvHeads = None,
    attention: Attention = None,
    explain: Explain = False,
    opts: Any = None,
    as_json: bool = False,
) -> None:
    """KV-cache bytes per layer, per token, per request and in total.

    Shows the model as configured beside its MHA and MQA variants, with the reduction
    factor.  A sliding-window layer holds min(window, seq) tokens.  With --engine, sizes
    what that engine allocates and prints its log line; with --mem/--gpu (and --tp/--pp),
    whether it fits on each device.
    """
    from kvcalc import api
    from kvcalc import render_size as render

    answer = api.size(model, kv_heads=kv_heads, attention=attention, setup=opts, warn=warn)
    lines = []
    if explain:
        from kvcalc.explain import explain as explain_size

        steps = explain_size(answer.spec, answer.result, opts.k_format, opts.v_format, opts.engine)
        lines = render.explain_text(steps, answer.total_bytes)
    emit(
        as_json, lambda: render.size_json(answer, lines), lambda: render.size_tables(answer, lines)
    )
    refuse_no_fit([answer.fit] if answer.fit else [], opts)
