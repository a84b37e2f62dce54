"""kvcalc log: a vLLM, SGLang or llama.cpp start-up log beside kvcalc's prediction."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kvcalc.cli.shared import JsonOpt, emit, warn

app = typer.Typer(rich_markup_mode=None)


@app.command()
def log(
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="The log file, or - for stdin.")],
    model: Annotated[
        str | None,
        typer.Argument(
            metavar="[MODEL]",
            help="The model it serves [default: the model the log names, if a preset knows it].",
        ),
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option(
            "--gpu",
            metavar="NAME",
            help="The GPU [default: the preset whose CUDA total the log prints].",
        ),
    ] = None,
    seq: Annotated[
        str | None,
        typer.Option("--seq", "-s", metavar="TOKENS", help="Request length to answer for."),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", "-b", metavar="REQUESTS", help="Requests to reach: which flag gets there."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Each memory figure of a start-up log beside kvcalc's prediction, then answers from the
    log's own terms: the longest --max-model-len, the most requests of a length, and which
    flag change (utilization, fp8 KV, max-num-seqs, tensor parallelism) reaches a target."""
    from kvcalc import api, render_log
    from kvcalc.options import parse_positive

    check = api.check_log(
        read_text(file),
        model,
        gpu=gpu,
        seq=parse_positive(seq, "--seq"),
        batch=parse_positive(batch, "--batch"),
        warn=warn,
    )
    emit(as_json, lambda: render_log.log_json(check), lambda: render_log.log_tables(check))


def read_text(file: str) -> str:
    """The log from a file or stdin, as text: at most MAX_TEXT_FILE_BYTES (a start-up log is
    far smaller), a non-regular file refused before a byte is read (files.read_bounded);
    undecodable bytes are replaced, not fatal (logs mix encodings in progress bars)."""
    from pathlib import Path

    from kvcalc import files
    from kvcalc.errors import UsageError
    from kvcalc.limits import MAX_TEXT_FILE_BYTES

    hint = "give the start-up part"
    if file == "-":
        data = sys.stdin.buffer.read(MAX_TEXT_FILE_BYTES + 1)
        if len(data) > MAX_TEXT_FILE_BYTES:
            raise UsageError(f"stdin: more than {MAX_TEXT_FILE_BYTES:,} bytes; {hint}")
    else:
        data = files.read_bounded(Path(file), MAX_TEXT_FILE_BYTES, "a log", hint)
    return data.decode("utf-8", errors="replace")
