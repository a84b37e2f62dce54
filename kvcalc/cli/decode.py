"""kvcalc decode: bytes read per decode step and the memory-bandwidth bound on its time."""

from __future__ import annotations

from typing import Any

import typer

from kvcalc.cli.shared import ONE_CONFIG, ModelArg, deployment, emit, warn

app = typer.Typer(rich_markup_mode=None, add_completion=False)
BANDWIDTH = "decode bounds time by bandwidth, not memory: give --gpu NAME or --bandwidth"


@app.command()
@deployment(
    refuse={
        "mem": BANDWIDTH,
        "device": BANDWIDTH,
        "util": "decode reads every byte it holds; no budget is planned",
        "overhead": "decode reads weights and KV; the overhead is not read per step",
        "kv_only": "every step reads the weights too",
        **ONE_CONFIG,
    }
)
def decode(model: ModelArg, opts: Any = None, as_json: bool = False) -> None:
    """Bytes read per decode step and the memory-bandwidth bound on its time.

    Each step reads every weight once plus the KV cache of every request; at best it
    takes (weights + KV) / bandwidth.  Shown for the model beside its MHA and MQA forms,
    with the length (and batch) at which the KV read overtakes the weights.
    """
    from kvcalc import api
    from kvcalc.render_decode import decode_json, decode_tables

    result = api.decode(model, setup=opts, warn=warn)
    device = opts.target.name if opts.target is not None else "--bandwidth"
    emit(as_json, lambda: decode_json(result, device), lambda: decode_tables(result, device))
