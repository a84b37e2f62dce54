"""kvcalc log: a vLLM, SGLang or llama.cpp start-up log beside kvcalc's prediction."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.shared import JsonOpt, emit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)
File = Annotated[str, typer.Argument(metavar="FILE|-", help="The log file, or - for stdin.")]
Model = Annotated[
    str | None,
    typer.Argument(
        metavar="MODEL",
        help="The model it serves [default: the model the log names, if a preset knows it].",
    ),
]
Gpu = Annotated[
    str | None,
    typer.Option(
        "--gpu",
        metavar="NAME",
        help="The GPU [default: the preset whose CUDA total the log prints].",
    ),
]
Seq = Annotated[
    str | None, typer.Option("--seq", "-s", metavar="TOKENS", help="Request length to answer for.")
]
Batch = Annotated[
    str | None,
    typer.Option(
        "--batch", "-b", metavar="REQUESTS", help="Requests to reach: which flag gets there."
    ),
]


@app.command()
def log(
    file: File,
    model: Model = None,
    gpu: Gpu = None,
    seq: Seq = None,
    batch: Batch = None,
    as_json: JsonOpt = False,
) -> None:
    """Each memory figure of a start-up log beside kvcalc's prediction, then answers from the
    log's own terms: the longest --max-model-len, the most requests of a length, and which
    flag change (utilization, fp8 KV, max-num-seqs, tensor parallelism) reaches a target."""
    from kvcalc import api, files, render_log
    from kvcalc.limits import MAX_TEXT_FILE_BYTES
    from kvcalc.options import parse_positive

    # a start-up log is far smaller than the limit
    text = files.read_input(file, MAX_TEXT_FILE_BYTES, "a log", "give the start-up part")
    check = api.check_log(
        text,
        model,
        gpu=gpu,
        seq=parse_positive(seq, "--seq"),
        batch=parse_positive(batch, "--batch"),
        warn=warn,
    )
    emit(as_json, lambda: render_log.log_json(check), lambda: render_log.log_tables(check))
