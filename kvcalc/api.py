"""kvcalc as a library: the questions the CLI answers, as functions returning typed values.

Every function takes a model (a preset id, alias, file path, or a ModelSpec) and the
deployment options as keywords in the CLI's vocabulary (strings or numbers), or a
prebuilt `setup=Setup(...)`.  Results are the same frozen objects the CLI renders;
byte counts are Python ints.

>>> import kvcalc
>>> kvcalc.size("llama3-70b", seq=2048, batch=32).total_bytes
21474836480
>>> kvcalc.fit("llama3-8b", mem="24GB", util=1, overhead=0, weights="bf16").max_context
8192
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvcalc.errors import UsageError
from kvcalc.options import Setup
from kvcalc.options import setup as build_setup
from kvcalc.sizing import SizeResult, Variant, resolve_kv_heads, variants
from kvcalc.sizing import dial as dial_rows
from kvcalc.spec import ModelSpec

if TYPE_CHECKING:  # loaded by the functions that use them: `size` alone needs none
    from kvcalc.decoding import Decode
    from kvcalc.engines import LogRecord
    from kvcalc.fitting import FitResult, Question
    from kvcalc.log_check import LogCheck
    from kvcalc.plotting import Chart

Warn = Callable[[str], None] | None
Model = str | Path | ModelSpec


def load_model(model: Model, warn: Warn = None) -> ModelSpec:
    """A model by preset id, alias, YAML file, config.json, model directory or GGUF file;
    `warn` receives what an importer had to assume."""
    if isinstance(model, ModelSpec):
        return model
    from kvcalc.catalog import load_model as load

    return load(str(model), warn)


def served_model(model: Model, s: Setup, warn: Warn = None) -> ModelSpec:
    """The model as this setup serves it: at --max-model-len tokens when given."""
    spec = load_model(model, warn)
    if s.max_model_len is None:
        return spec
    from kvcalc.context import served

    return served(spec, s.max_model_len, s.engine.name, warn)


def bytes_per_token(spec: ModelSpec, kv_dtype: str = "fp16") -> int:
    """K+V bytes one token costs in every layer, before any window caps it."""
    from kvcalc.dtypes import kv_format
    from kvcalc.layers import expand
    from kvcalc.sizing import size as size_of

    fmt = kv_format(kv_dtype)
    return size_of(expand(spec), 1, 1, fmt, fmt).bytes_per_token


def _setup(given: Setup | None, options: dict[str, Any]) -> Setup:
    if given is not None and options:
        raise UsageError(f"give setup= or options, not both ({', '.join(sorted(options))})")
    return given if given is not None else build_setup(**options)


def question(s: Setup, seq: int | None, batch: int | None, kv_heads: int | None = None) -> Question:
    """The fit Question for this setup at (seq, batch); needs a memory target."""
    from kvcalc.fitting import Question

    if s.target is None:
        raise UsageError("give --mem SIZE (e.g. 24GB, 80GiB) or --gpu NAME (see 'kvcalc gpus')")
    return Question(
        target=s.target,
        tp=s.tp,
        pp=s.pp,
        util=s.util,
        weights=s.weights,
        weight_bytes=s.weight_bytes,
        kv_only=s.kv_only,
        overhead_bytes=s.overhead_bytes,
        k_format=s.k_format,
        v_format=s.v_format,
        seq=seq,
        batch=batch,
        engine=s.engine,
        kv_heads=kv_heads,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeAnswer:
    """`kvcalc size`: the model as configured (or dialed) beside its MHA and MQA forms."""

    spec: ModelSpec
    setup: Setup
    variants: tuple[Variant, ...]
    report: tuple[LogRecord, ...]
    """What the engine would log for this cache (llama.cpp's lines)."""
    fit: FitResult | None
    """With a memory target: whether (seq, batch) fits, per device."""

    @property
    def result(self) -> SizeResult:
        return self.variants[0].result

    @property
    def total_bytes(self) -> int:
        return self.result.total_bytes


def size(
    model: Model,
    *,
    kv_heads: int | None = None,
    attention: str | None = None,
    setup: Setup | None = None,
    warn: Warn = None,
    **options: Any,
) -> SizeAnswer:
    """Bytes of `batch` requests of `seq` tokens (default: one request at the max context)."""
    s = _setup(setup, options)
    spec = served_model(model, s, warn)
    batch = s.batch or 1
    seq = s.seq or s.engine.slot_tokens(batch) or spec.max_context
    override = resolve_kv_heads(spec, kv_heads, attention)
    if seq > spec.max_context and warn is not None:
        warn(f"--seq {seq:,} exceeds {spec.id}'s max context of {spec.max_context:,} tokens")
    shown = variants(spec, seq, batch, s.k_format, s.v_format, override, s.engine)
    fitted = None
    if s.target is not None:
        from kvcalc.fitting import fit_model

        fitted = fit_model(spec, question(s, seq, batch, override))
    report = s.engine.model_report(spec, shown[0].result, s.k_format, s.v_format, override)
    return SizeAnswer(spec=spec, setup=s, variants=shown, report=report, fit=fitted)


def fit(
    model: Model, *, setup: Setup | None = None, warn: Warn = None, **options: Any
) -> FitResult:
    """The longest context (at batch, default 1) and most requests (at seq, default the
    model's max context) on a memory budget: mem= or gpu= is required."""
    from kvcalc.fitting import fit_model

    s = _setup(setup, options)
    return fit_model(served_model(model, s, warn), question(s, s.seq, s.batch))


def fit_all(*, setup: Setup | None = None, **options: Any) -> list[FitResult]:
    """fit() for every shipped preset."""
    from kvcalc.catalog import all_models
    from kvcalc.fitting import fit_model

    s = _setup(setup, options)
    q = question(s, s.seq, s.batch)
    return [fit_model(served_model(spec, s), q) for spec in all_models()]


def what_would_fit(result: FitResult, s: Setup) -> list[str]:
    """Changes that make a failing question fit (a smaller weight format, more GPUs)."""
    from kvcalc.fitting import what_would_fit as hints

    seq = result.seq if result.asked in ("point", "requests") else None
    batch = result.batch if result.asked in ("point", "context") else None
    return hints(result.spec, question(s, seq, batch, result.kv_heads))


@dataclass(frozen=True, slots=True, kw_only=True)
class DialAnswer:
    """`kvcalc dial`: every valid KV-head count, with fit and decode columns on a target."""

    spec: ModelSpec
    setup: Setup
    rows: tuple[Variant, ...]
    fits: tuple[FitResult, ...] | None
    steps: tuple[Any, ...] | None
    """Each row's decode step (DecodeStep) when a bandwidth is known."""


def dial(
    model: Model, *, setup: Setup | None = None, warn: Warn = None, **options: Any
) -> DialAnswer:
    s = _setup(setup, options)
    spec = served_model(model, s, warn)
    seq, batch = s.seq or spec.max_context, s.batch or 1
    rows = tuple(dial_rows(spec, seq, batch, s.k_format, s.v_format, s.engine))
    fits = steps = None
    if s.target is not None:
        from kvcalc.fitting import fit_model

        q = question(s, seq, batch)
        fits = tuple(fit_model(spec, replace(q, kv_heads=v.kv_heads)) for v in rows)
    if s.bandwidth is not None:
        bandwidth = s.bandwidth
        steps = tuple(_decode(spec, seq, batch, bandwidth, s, v.kv_heads).steps[0] for v in rows)
    return DialAnswer(spec=spec, setup=s, rows=rows, fits=fits, steps=steps)


def decode(
    model: Model, *, setup: Setup | None = None, warn: Warn = None, **options: Any
) -> Decode:
    """Bytes read per decode step and the bandwidth bound; needs gpu= or bandwidth=."""
    s = _setup(setup, options)
    if s.bandwidth is None:
        if s.target is not None:
            raise UsageError(f"{s.target.name} has no bandwidth on record: give --bandwidth")
        raise UsageError("give --gpu NAME (see 'kvcalc gpus') or --bandwidth, e.g. 3.35TB/s")
    spec = served_model(model, s, warn)
    return _decode(spec, s.seq or spec.max_context, s.batch or 1, s.bandwidth, s, None)


def _decode(
    spec: ModelSpec, seq: int, batch: int, bandwidth: int, s: Setup, kv_heads: int | None
) -> Decode:
    from kvcalc.decoding import decode_bound

    if s.pp > 1:
        raise UsageError(
            "decode bounds one GPU's step; pipeline stages run one after another, so --pp "
            "does not shorten it: use --tp"
        )
    return decode_bound(
        spec,
        seq,
        batch,
        bandwidth,
        k_fmt=s.k_format,
        v_fmt=s.v_format,
        weights=s.weights,
        tp=s.tp,
        engine=s.engine,
        kv_heads=kv_heads,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareAnswer:
    """`kvcalc compare`: several models at one (seq, batch), and on a budget if given."""

    specs: tuple[ModelSpec, ...]
    setup: Setup
    results: tuple[SizeResult, ...]
    fits: tuple[FitResult, ...] | None


def compare(
    models: Sequence[Model], *, setup: Setup | None = None, warn: Warn = None, **options: Any
) -> CompareAnswer:
    """Default length: the smallest max context among the models."""
    s = _setup(setup, options)
    if not models:
        raise UsageError("give at least one model to compare")
    specs = tuple(served_model(m, s, warn) for m in models)
    seq = s.seq or min(spec.max_context for spec in specs)
    batch = s.batch or 1
    results = tuple(
        variants(spec, seq, batch, s.k_format, s.v_format, None, s.engine)[0].result
        for spec in specs
    )
    fits = None
    if s.target is not None:
        from kvcalc.fitting import fit_model

        fits = tuple(fit_model(spec, question(s, seq, batch)) for spec in specs)
    return CompareAnswer(specs=specs, setup=s, results=results, fits=fits)


def plot(
    models: Sequence[Model],
    *,
    x: str = "seq",
    to: int | None = None,
    points: int = 41,
    setup: Setup | None = None,
    warn: Warn = None,
    **options: Any,
) -> Chart:
    """KV bytes against context (x='seq', at batch) or requests (x='batch', at seq); with a
    memory target, each model's KV budget as a line."""
    from kvcalc.fitting import fit_model
    from kvcalc.plotting import BudgetLine, chart

    s = _setup(setup, options)
    if not models:
        raise UsageError("give at least one model to plot")
    specs = [served_model(m, s, warn) for m in models]
    axis = x.strip().lower()
    shortest = min(spec.max_context for spec in specs)
    if axis == "seq":  # x: tokens, at --batch requests; --seq is marked
        last, held = to or max(shortest, s.seq or 0), s.batch or 1
    else:  # x: requests of --seq tokens; --batch is marked
        last, held = to or max(64, s.batch or 0), s.seq or shortest
    budgets: list[BudgetLine] = []
    if s.target is not None:
        q = question(s, None, None)
        where = f"{s.devices} x {s.target.name}" if s.devices > 1 else s.target.name
        for spec in specs:
            # the series are whole-model totals, so the line is the budget over every device
            budget = fit_model(spec, q).budget
            kv = budget.kv_bytes * budget.devices if budget.kv_bytes >= 0 else budget.kv_bytes
            budgets.append(BudgetLine(model=spec.id, label=f"{spec.id} on {where}", kv_bytes=kv))
    return chart(
        specs,
        axis,
        last,
        held,
        s.k_format,
        s.v_format,
        s.engine,
        points,
        tuple(budgets),
        s.seq if axis == "seq" else s.batch,  # the asked point, marked when on the axis
    )


def preset_yaml(
    model: Model, *, new_id: str | None = None, warn: Warn = None
) -> tuple[ModelSpec, str]:
    """`kvcalc import`: the spec a model amounts to (renamed to `new_id` when given, without
    the original's aliases) and its preset YAML, the text `catalog.save_user_preset` keeps."""
    import re

    import yaml

    if new_id is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,127}", new_id, re.ASCII):
        raise UsageError(
            f"--id {new_id!r}: a preset id is lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 128)"
        )
    spec = load_model(model, warn)
    if new_id is not None:  # a copy under its own name: the original's aliases stay its own
        spec = spec.model_copy(update={"id": new_id, "aliases": ()})
    return spec, yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)


def check_log(
    text: str,
    model: Model | None = None,
    *,
    gpu: str | None = None,
    seq: int | None = None,
    batch: int | None = None,
    warn: Warn = None,
) -> LogCheck:
    """`kvcalc log`: an engine's start-up log read, each memory figure beside kvcalc's
    prediction, and answers from the log's own terms.  The model defaults to the one the
    log names (when a preset knows it), the GPU to the preset whose CUDA total it prints."""
    from kvcalc.catalog import all_hardware, load_hardware
    from kvcalc.errors import KvcalcError
    from kvcalc.log_check import check_log as check
    from kvcalc.logs import read_log

    parsed = read_log(text)
    spec = None
    name = model if model is not None else parsed.settings.get("model")
    if name is not None:
        try:
            spec = load_model(name, warn)
        except KvcalcError as exc:
            if model is not None:
                raise
            if warn is not None:
                warn(f"the log's model {name!r} is not a preset ({exc}); give MODEL to compare")
    hardware = load_hardware(gpu) if gpu else None
    return check(parsed, spec, hardware, all_hardware(), seq=seq, batch=batch)
