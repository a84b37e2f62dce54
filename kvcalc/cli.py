"""The `kvcalc` command: parse, call the library, render.  No arithmetic here.

Every failure goes through `_App.main`, the one place that turns an error into
a single stderr line and an exit code (2: usage, 1: valid question, no answer).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from kvcalc.errors import KvcalcError, NoFitError, UsageError
from kvcalc.units import UnitError, parse_count

COUNT_HELP = "plain digits, or k/m = x1000 and K/M = x1024 (32k = 32,000 tokens, 32K = 32,768)"


class _App(TyperGroup):
    """Runs typer without its standalone error printing, and prints errors as one line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False  # errors come back to us instead of being printed
        kwargs.setdefault("prog_name", "kvcalc")
        try:
            code = super().main(*args, **kwargs)
        except KvcalcError as exc:
            _fail(str(exc), exc.exit_code)
        except (typer.Exit, typer.Abort) as exc:
            _fail("aborted", 1) if isinstance(exc, typer.Abort) else sys.exit(exc.exit_code)
        except Exception as exc:  # typer's vendored click errors, by their public shape
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(exc.format_message())  # type: ignore[attr-defined]
                sys.exit(0)
            if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
                ctx = getattr(exc, "ctx", None)
                where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                _fail(exc.format_message() + where, exc.exit_code)
            if os.environ.get("KVCALC_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc} (set KVCALC_DEBUG=1 for a traceback; "
                "please report it)",
                70,
            )
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, exit_code: int) -> None:
    print(f"kvcalc: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(exit_code)


app = typer.Typer(
    cls=_App,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help=(
        "Exact KV-cache sizes for LLM serving, and what fits in a memory budget.\n\n"
        "All byte counts are exact integers; GB = 10^9 bytes and GiB = 2^30 bytes, always labelled."
    ),
)


def count_option(text: str | None, flag: str) -> int | None:
    """Parse --seq/--batch; must be a positive whole number."""
    if text is None:
        return None
    try:
        value = parse_count(text)
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {text!r}")
    return value


def emit(as_json: bool, payload: Any, tables: Any) -> None:
    """Print JSON (no rich import on that path) or the rich renderables."""
    if as_json:
        from kvcalc.render import dump

        print(dump(payload))
        return
    from rich.console import Console

    from kvcalc.render_grid import Verbatim

    console = Console(highlight=False)
    for item in tables() if callable(tables) else tables:
        # lines wrap at spaces (a number has none); engine log lines stay whole to grep
        console.print(item, soft_wrap=isinstance(item, Verbatim))


def warn(message: str) -> None:
    print(f"kvcalc: note: {message}", file=sys.stderr)


ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Preset id or alias (see 'kvcalc models'), a model YAML file, a Hugging Face "
        "config.json or model directory, or a GGUF file.",
    ),
]
SeqOpt = Annotated[
    str | None,
    typer.Option(
        "--seq",
        "-s",
        metavar="TOKENS",
        help=f"Tokens per request [default: the model's max context]; {COUNT_HELP}.",
    ),
]
BatchOpt = Annotated[
    str,
    typer.Option("--batch", "-b", metavar="REQUESTS", help=f"Concurrent requests; {COUNT_HELP}."),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option(
        "--kv-dtype",
        metavar="DTYPE",
        help="Cache element format of K and V: fp32, fp16 [default], bf16, fp8 (=fp8_e4m3), "
        "fp8_e5m2, int8, int4, or llama.cpp q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl.",
    ),
]
KDtypeOpt = Annotated[
    str | None,
    typer.Option("--k-dtype", metavar="DTYPE", help="K cache format, if it differs from V."),
]
VDtypeOpt = Annotated[
    str | None,
    typer.Option("--v-dtype", metavar="DTYPE", help="V cache format, if it differs from K."),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="NAME",
        help="Size as this engine allocates: ideal (exact tokens) [default], vllm (16-token "
        "blocks), sglang (token pool + padding page), llamacpp (n_ctx padded to 256; "
        "llamacpp-b5400 for the older rules), transformers (StaticCache).",
    ),
]
BlockOpt = Annotated[
    int | None,
    typer.Option(
        "--block-size",
        metavar="TOKENS",
        help="vLLM block size [16] or SGLang page size [1].",
    ),
]


BudgetMemOpt = Annotated[
    str | None,
    typer.Option(
        "--mem", metavar="SIZE", help="Also answer for this memory per device (fit budget)."
    ),
]
BudgetGpuOpt = Annotated[
    str | None,
    typer.Option("--gpu", metavar="NAME", help="Also answer for this hardware preset."),
]


def budget_target(mem: str | None, gpu: str | None) -> Any:
    """The fit Target for optional --mem/--gpu (None when neither is given)."""
    if mem is None and gpu is None:
        return None
    from kvcalc.budget import make_target
    from kvcalc.catalog import load_hardware

    hardware = load_hardware(gpu) if gpu is not None else None
    return make_target(hardware, size_option(mem, "--mem"), None, (mem or "").strip())


def cache_formats(
    kv_dtype: str | None,
    k_dtype: str | None,
    v_dtype: str | None,
    engine_name: str,
    block_size: int | None,
) -> tuple[Any, Any, Any]:
    """(engine, K format, V format) from the options, checked against the engine."""
    from kvcalc.dtypes import kv_format
    from kvcalc.engines import engine

    chosen = engine(engine_name, {"block_size": block_size})
    base = kv_dtype or "fp16"
    k_fmt, v_fmt = kv_format(k_dtype or base), kv_format(v_dtype or base)
    for note in chosen.check_formats(k_fmt, v_fmt):
        warn(note)
    return chosen, k_fmt, v_fmt


def dtype_label(k_fmt: Any, v_fmt: Any) -> str:
    return k_fmt.name if k_fmt == v_fmt else f"K {k_fmt.name} / V {v_fmt.name}"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object (raw integer bytes).")]


@app.command()
def size(
    model: ModelArg,
    seq: SeqOpt = None,
    batch: BatchOpt = "1",
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    kv_heads: Annotated[
        int | None,
        typer.Option(
            "--kv-heads",
            metavar="N",
            help="Re-size with N KV heads (any divisor of the query heads).",
        ),
    ] = None,
    attention: Annotated[
        str | None, typer.Option("--attention", metavar="mha|mqa", help="Re-size as MHA or MQA.")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Show every number as arithmetic, with the config fields behind it."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """KV-cache bytes per layer, per token, per request and in total.

    Shows the model as configured beside its MHA and MQA variants, with the
    reduction factor.  A sliding-window layer holds min(window, seq) tokens.
    With --engine, sizes what that engine allocates and prints its log line.
    """
    from kvcalc.catalog import load_model
    from kvcalc.sizing import resolve_kv_heads, variants

    spec = load_model(model, warn)
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    tokens = count_option(seq, "--seq") or spec.max_context
    requests = count_option(batch, "--batch") or 1
    override = resolve_kv_heads(spec, kv_heads, attention)
    if tokens > spec.max_context:
        warn(f"--seq {tokens:,} exceeds {spec.id}'s max context of {spec.max_context:,} tokens")
    shown = variants(spec, tokens, requests, k_fmt, v_fmt, override, chosen)

    from kvcalc import render
    from kvcalc.explain import explain as explain_size
    from kvcalc.render_engine import log_lines

    report = log_lines(chosen.size_report(shown[0].result, k_fmt, v_fmt))
    payload = render.size_json(spec, shown, k_fmt.name, v_fmt.name, chosen, report)
    lines = []
    if explain:
        steps = explain_size(spec, shown[0].result, k_fmt, v_fmt, chosen)
        lines = render.explain_text(steps, shown[0].result.total_bytes)
        payload["explain"] = lines
    label = dtype_label(k_fmt, v_fmt)
    emit(
        as_json,
        payload,
        lambda: [*render.size_tables(spec, shown, label, chosen, report), "", *lines],
    )


@app.command()
def dial(
    model: ModelArg,
    seq: SeqOpt = None,
    batch: BatchOpt = "1",
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    mem: BudgetMemOpt = None,
    gpu: BudgetGpuOpt = None,
    tp: Annotated[
        int, typer.Option("--tp", metavar="N", help="Tensor parallel size for the fit and bound.")
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Every valid KV-head count G (divisors of the query heads): bytes per token and total.

    With --mem/--gpu: the longest context (at --batch) and most requests (at --seq) that
    fit for each G; with --gpu: the decode step's memory-bandwidth bound for each G.
    """
    from dataclasses import replace

    from kvcalc import fit as solver
    from kvcalc.budget import parallelism
    from kvcalc.catalog import load_model
    from kvcalc.sizing import dial as dial_rows

    spec = load_model(model, warn)
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    tokens = count_option(seq, "--seq") or spec.max_context
    requests = count_option(batch, "--batch") or 1
    rows = dial_rows(spec, tokens, requests, k_fmt, v_fmt, chosen)
    fits = steps = None
    budget = ""
    target = budget_target(mem, gpu)
    if target is not None:
        tp, _ = parallelism(None, tp, None, target.kind)
        question = solver.Question(
            target=target,
            tp=tp,
            k_format=k_fmt,
            v_format=v_fmt,
            seq=tokens,
            batch=requests,
            engine=chosen,
        )
        fits = [solver.fit_model(spec, replace(question, kv_heads=v.kv_heads)) for v in rows]
        budget = target.name
    if target is not None and target.bandwidth_gb_s is not None:  # a --gpu preset's
        from kvcalc.decode import decode as decode_bound

        bandwidth = target.bandwidth_gb_s * 10**9
        steps = [
            decode_bound(
                spec,
                tokens,
                requests,
                bandwidth,
                k_fmt,
                v_fmt,
                tp=tp,
                engine=chosen,
                kv_heads=v.kv_heads,
            ).steps[0]
            for v in rows
        ]

    from kvcalc import render

    label = dtype_label(k_fmt, v_fmt)
    emit(
        as_json,
        render.dial_json(spec, rows, label, fits, steps),
        lambda: render.dial_table(spec, rows, label, fits, steps, budget),
    )


@app.command()
def models(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[MODEL]", help="Show one model's full spec instead of the list."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List model presets, or show one spec in full."""
    from kvcalc import render
    from kvcalc.catalog import all_models, load_model
    from kvcalc.dtypes import kv_format
    from kvcalc.layers import expand
    from kvcalc.sizing import size as size_of

    fp16 = kv_format("fp16")

    def row(spec: Any) -> dict[str, Any]:
        return render.model_row(spec, size_of(expand(spec), 1, 1, fp16, fp16).bytes_per_token)

    if name is None:
        rows = [row(spec) for spec in all_models()]
        emit(as_json, rows, lambda: render.models_table(rows))
        return
    spec = load_model(name, warn)
    detail = row(spec)
    emit(
        as_json,
        {**spec.model_dump(mode="json"), **detail},
        lambda: render.model_detail(spec, detail),
    )


SIZE_HELP = "B, KB/MB/GB/TB (x1000), KiB/MiB/GiB/TiB (x1024), K/M/G/T, Ki/Mi/Gi/Ti"


def size_option(text: str | None, flag: str) -> int | None:
    from kvcalc.units import parse_bytes

    if text is None:
        return None
    try:
        return parse_bytes(text)
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None


@app.command()
def fit(
    model: Annotated[
        str | None,
        typer.Argument(
            metavar="[MODEL]", help="Preset, alias or YAML file; omit to answer for every preset."
        ),
    ] = None,
    mem: Annotated[
        str | None,
        typer.Option(
            "--mem", metavar="SIZE", help=f"Memory of one device: {SIZE_HELP}. E.g. 24GB, 80GiB."
        ),
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option(
            "--gpu",
            metavar="NAME",
            help="Hardware preset (h100, a100-80gb, rtx4090, m2-ultra; "
            "see 'kvcalc gpus'); --mem overrides its capacity.",
        ),
    ] = None,
    gpus: Annotated[
        int | None,
        typer.Option(
            "--gpus",
            metavar="N",
            help="Number of GPUs (tensor parallel over all, unless --tp/--pp).",
        ),
    ] = None,
    tp: Annotated[
        int | None,
        typer.Option(
            "--tp",
            metavar="N",
            help="Tensor parallel size: splits KV heads (a replica per rank "
            "once N exceeds the KV heads).",
        ),
    ] = None,
    pp: Annotated[
        int | None,
        typer.Option(
            "--pp",
            metavar="N",
            help="Pipeline parallel size: splits layers; the most loaded GPU decides.",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", metavar="gpu|cpu", help="cpu: a RAM budget (llama.cpp on a laptop); util 1."
        ),
    ] = None,
    util: Annotated[
        str | None,
        typer.Option(
            "--util",
            metavar="F",
            help="Usable fraction of device memory, in (0, 1] [default: 0.9 on GPU "
            "as vLLM's gpu_memory_utilization, 1 on CPU, 0.75 on Apple presets].",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="FORMAT",
            help="Weight format: fp32, fp16, bf16, fp8, int8, int4, q8_0, "
            "q6_k, q5_k_m, q4_k_m, q4_0, ... [default: the model's native dtype].",
        ),
    ] = None,
    overhead: Annotated[
        str | None,
        typer.Option(
            "--overhead",
            metavar="SIZE",
            help="Per-device runtime overhead [default: 1.5GiB on GPU "
            "(vLLM's logged activation peak + non-torch memory), 512MiB on CPU].",
        ),
    ] = None,
    kv_only: Annotated[
        bool,
        typer.Option(
            "--kv-only", help="Treat the whole budget as KV cache (no weights, no overhead)."
        ),
    ] = False,
    seq: SeqOpt = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", "-b", metavar="REQUESTS", help=f"Concurrent requests; {COUNT_HELP}."
        ),
    ] = None,
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The longest context and the most concurrent requests that fit a memory budget.

    With --batch B: the longest context for B requests.  With --seq N: the most
    requests of N tokens.  With both: whether that fits, and the headroom.
    Budget: memory x util - weights - overhead = KV budget, per device.
    With --engine, the engine's block rounding and budget defaults, and its log lines.
    """
    from kvcalc import fit as solver
    from kvcalc.budget import make_target, parallelism
    from kvcalc.catalog import all_models, load_hardware, load_model
    from kvcalc.dtypes import weight_format
    from kvcalc.units import parse_fraction

    hardware = load_hardware(gpu) if gpu is not None else None
    target = make_target(hardware, size_option(mem, "--mem"), device, (mem or "").strip())
    tp_size, pp_size = parallelism(gpus, tp, pp, target.kind)
    try:
        util_value = parse_fraction(util) if util is not None else None
    except UnitError as exc:
        raise UsageError(f"--util: {exc}") from None
    overhead_bytes = size_option(overhead, "--overhead")
    if kv_only and (weights is not None or overhead is not None):
        raise UsageError(
            "--kv-only leaves no room for --weights or --overhead; give one or the other"
        )
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    question = solver.Question(
        target=target,
        tp=tp_size,
        pp=pp_size,
        util=util_value,
        weights=weight_format(weights) if weights else None,
        kv_only=kv_only,
        overhead_bytes=overhead_bytes,
        k_format=k_fmt,
        v_format=v_fmt,
        seq=count_option(seq, "--seq"),
        batch=count_option(batch, "--batch"),
        engine=chosen,
    )
    from kvcalc import render_fit

    if model is None:
        results = [solver.fit_model(spec, question) for spec in all_models()]
        emit(
            as_json,
            render_fit.fit_all_json(results),
            lambda: render_fit.fit_all_table(results, question.seq),
        )
        return
    spec = load_model(model, warn)
    result = solver.fit_model(spec, question)
    emit(as_json, render_fit.fit_json(result), lambda: render_fit.fit_tables(result))
    if not result.fits:
        hints = solver.what_would_fit(spec, question)
        raise NoFitError(render_fit.no_fit_message(result, hints))


@app.command()
def decode(
    model: ModelArg,
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", metavar="NAME", help="Hardware preset for the bandwidth."),
    ] = None,
    bandwidth: Annotated[
        str | None,
        typer.Option(
            "--bandwidth",
            metavar="BYTES/S",
            help="Memory bandwidth per device, e.g. 3.35TB/s or 819GB/s (overrides --gpu's).",
        ),
    ] = None,
    seq: SeqOpt = None,
    batch: BatchOpt = "1",
    tp: Annotated[
        int, typer.Option("--tp", metavar="N", help="Tensor parallel size (per-GPU bytes).")
    ] = 1,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="FORMAT",
            help="Weight format as in 'fit' [default: the model's native dtype].",
        ),
    ] = None,
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bytes read per decode step and the memory-bandwidth bound on its time.

    Each step reads every weight once plus the KV cache of every request; at best it
    takes (weights + KV) / bandwidth.  Shown for the model beside its MHA and MQA forms,
    with the length (and batch) at which the KV read overtakes the weights.
    """
    from kvcalc.catalog import load_hardware, load_model
    from kvcalc.decode import decode as decode_bound
    from kvcalc.decode import parse_bandwidth
    from kvcalc.dtypes import weight_format
    from kvcalc.render_decode import decode_json, decode_tables

    if gpu is None and bandwidth is None:
        raise UsageError("give --gpu NAME (see 'kvcalc gpus') or --bandwidth, e.g. 3.35TB/s")
    hardware = load_hardware(gpu) if gpu is not None else None
    if bandwidth is not None:
        bytes_per_s, device = parse_bandwidth(bandwidth), bandwidth.strip()
    else:
        assert hardware is not None
        if hardware.bandwidth_gb_s is None:
            raise UsageError(f"{hardware.id} has no bandwidth on record: give --bandwidth")
        bytes_per_s, device = hardware.bandwidth_gb_s * 10**9, hardware.id
    if tp < 1:
        raise UsageError(f"--tp must be at least 1, got {tp}")
    spec = load_model(model, warn)
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    tokens = count_option(seq, "--seq") or spec.max_context
    requests = count_option(batch, "--batch") or 1
    result = decode_bound(
        spec,
        tokens,
        requests,
        bytes_per_s,
        k_fmt,
        v_fmt,
        weight_format(weights) if weights else None,
        tp,
        chosen,
    )
    emit(as_json, decode_json(result, device), lambda: decode_tables(result, device))


@app.command()
def compare(
    models: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL...",
            help="Two or more presets, YAML files, config.json files/directories or GGUF files.",
        ),
    ],
    seq: Annotated[
        str | None,
        typer.Option(
            "--seq",
            "-s",
            metavar="TOKENS",
            help=f"Tokens per request [default: the smallest max context of the models]; "
            f"{COUNT_HELP}.",
        ),
    ] = None,
    batch: BatchOpt = "1",
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    mem: BudgetMemOpt = None,
    gpu: BudgetGpuOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Several models side by side: layers, heads, bytes per token, per request, total.

    With --mem or --gpu, also the longest context (at --batch) and the most requests
    (at --seq) that fit, with each model's native weights and the default overhead.
    """
    from kvcalc import fit as solver
    from kvcalc.catalog import load_model
    from kvcalc.render_decode import compare_json, compare_tables
    from kvcalc.sizing import engine_groups
    from kvcalc.sizing import size as size_of

    if not models:
        raise UsageError("give at least one model to compare")
    specs = [load_model(name, warn) for name in models]
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    tokens = count_option(seq, "--seq") or min(s.max_context for s in specs)
    requests = count_option(batch, "--batch") or 1
    results = [
        size_of(engine_groups(s, None, chosen), tokens, requests, k_fmt, v_fmt, chosen)
        for s in specs
    ]
    fits = None
    budget = ""
    target = budget_target(mem, gpu)
    if target is not None:
        question = solver.Question(
            target=target,
            k_format=k_fmt,
            v_format=v_fmt,
            seq=tokens,
            batch=requests,
            engine=chosen,
        )
        fits = [solver.fit_model(s, question) for s in specs]
        budget = target.name
    emit(
        as_json,
        compare_json(specs, results, fits),
        lambda: compare_tables(specs, results, fits, dtype_label(k_fmt, v_fmt), budget),
    )


@app.command()
def plot(
    models: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL...",
            help="One model (drawn as MHA / configured / MQA) or several (one line each).",
        ),
    ],
    x: Annotated[
        str, typer.Option("--x", metavar="seq|batch", help="What the x axis varies.")
    ] = "seq",
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="N",
            help="Last x value [default: the smallest max context; 64 requests].",
        ),
    ] = None,
    seq: Annotated[
        str | None,
        typer.Option("--seq", "-s", metavar="TOKENS", help="Tokens per request when --x batch."),
    ] = None,
    batch: BatchOpt = "1",
    points: Annotated[int, typer.Option("--points", metavar="N", help="Points per line.")] = 41,
    kv_dtype: DtypeOpt = None,
    k_dtype: KDtypeOpt = None,
    v_dtype: VDtypeOpt = None,
    engine: EngineOpt = "ideal",
    block_size: BlockOpt = None,
    mem: BudgetMemOpt = None,
    gpu: BudgetGpuOpt = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write a .png or .svg (needs matplotlib: pip install 'kvcalc[plot]').",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """KV-cache memory against context (or batch), drawn in the terminal or to a file.

    Every point is the exact total `kvcalc size` gives; --json prints the series.
    With --mem/--gpu, each model's KV budget (memory x util - weights - overhead).
    """
    from kvcalc import fit as solver
    from kvcalc.catalog import load_model
    from kvcalc.plot import chart
    from kvcalc.render_plot import check_out, file_plot, text_plot

    if not models:
        raise UsageError("give at least one model to plot")
    target_file = check_out(out) if out is not None else None
    specs = [load_model(name, warn) for name in models]
    chosen, k_fmt, v_fmt = cache_formats(kv_dtype, k_dtype, v_dtype, engine, block_size)
    requests = count_option(batch, "--batch") or 1
    axis = x.strip().lower()
    if axis == "seq":
        last = count_option(to, "--to") or min(s.max_context for s in specs)
        held = requests
    else:
        last = count_option(to, "--to") or 64
        held = count_option(seq, "--seq") or min(s.max_context for s in specs)
    budgets: list[tuple[str, int]] = []
    target = budget_target(mem, gpu)
    if target is not None:
        question = solver.Question(target=target, k_format=k_fmt, v_format=v_fmt, engine=chosen)
        for s in specs:
            budget = solver.fit_model(s, question).budget
            budgets.append((f"{s.id} on {target.name}", budget.kv_bytes))
    drawn = chart(specs, axis, last, held, k_fmt, v_fmt, chosen, points, tuple(budgets))
    if target_file is not None:
        file_plot(drawn, target_file)
        print(f"wrote {target_file}")
        return
    payload = {
        "title": drawn.title,
        "x": drawn.axis,
        "xs": list(drawn.xs),
        "series": [{"label": s.label, "total_bytes": list(s.ys)} for s in drawn.series],
        "budgets": [{"label": label, "kv_bytes": b} for label, b in drawn.budgets],
    }
    emit(as_json, payload, lambda: text_plot(drawn))


@app.command()
def check(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE]", help="A claims YAML file [default: the shipped configs/claims.yaml]."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute documented KV-cache claims; exit 1 when a verdict differs from the record.

    Each claim names its source, configuration and published value; the verdict is
    exact, within rounding (of the printed digits), or off (with the factor, and a
    single configuration change that reproduces the figure when one does).
    """
    from pathlib import Path

    from kvcalc import claims as checker
    from kvcalc.catalog import load_claims, load_model
    from kvcalc.render_claims import check_json, check_tables

    path = Path(file) if file is not None else checker.default_claims_file()
    outcomes = []
    for claim in load_claims(path):
        try:
            outcomes.append(checker.judge(load_model(claim.model, warn), claim))
        except UsageError as exc:  # name the claim: a file of fifty is otherwise a hunt
            raise UsageError(f"{path} claim {claim.id}: {exc}") from None
    emit(as_json, check_json(outcomes), lambda: check_tables(outcomes))
    bad = [o.claim.id for o in outcomes if not o.ok]
    if bad:
        raise NoFitError(f"{len(bad)} claim verdict(s) changed: {', '.join(bad)}")


@app.command("import")
def import_(
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="A Hugging Face config.json or model directory, a GGUF file, a YAML file or a "
            "preset name.",
        ),
    ],
) -> None:
    """Print the preset YAML a model file amounts to (save it under configs/models/)."""
    import yaml

    from kvcalc.catalog import load_model

    spec = load_model(path, warn)
    print(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False), end="")


@app.command()
def gpus(as_json: JsonOpt = False) -> None:
    """List hardware presets: memory as the driver reports it, and peak bandwidth."""
    from kvcalc import render_fit
    from kvcalc.catalog import all_hardware

    presets = all_hardware()
    emit(as_json, render_fit.gpus_json(presets), lambda: render_fit.gpus_table(presets))


def main() -> None:
    app()
