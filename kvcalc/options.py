"""One deployment vocabulary: every option a question can carry, parsed once, frozen.

The CLI and the Python API both build a Setup from plain values ("24GB", "h100",
"fp8", 2048) with `setup(...)`; every command then reads what it needs from it.
A command that cannot use an option refuses it by name (cli/shared.py).

>>> s = setup(mem="24GB", seq="32K", kv_dtype="fp8")
>>> s.target.device_bytes, s.seq, s.k_format.name
(24000000000, 32768, 'fp8_e4m3')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from kvcalc.budget import Target, make_target, parallelism
from kvcalc.dtypes import ElementFormat, WeightFormat, kv_format, weight_format
from kvcalc.engines import IDEAL, Engine, configure, engine
from kvcalc.errors import UsageError
from kvcalc.units import (
    UnitError,
    parse_bytes,
    parse_count,
    parse_fraction,
    parse_printed_bytes,
    parse_whole,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """A deployment, as the user stated it: nothing here depends on the model."""

    target: Target | None = None
    """Memory per device (--mem / --gpu / --device); None when no budget was given."""
    tp: int = 1
    pp: int = 1
    util: Fraction | None = None
    """None: the platform's cap, else the engine's default."""
    weights: WeightFormat | None = None
    """None: the model's native format (or its checkpoint's exact bytes)."""
    weight_bytes: int | None = None
    """Weights per device as an engine logged them (--weights 7.51GiB)."""
    overhead_bytes: int | None = None
    """None: the engine's default for the device kind."""
    kv_only: bool = False
    engine: Engine = IDEAL
    k_format: ElementFormat = field(default_factory=lambda: kv_format("fp16"))
    v_format: ElementFormat = field(default_factory=lambda: kv_format("fp16"))
    seq: int | None = None
    """Tokens per request; None: each command's default (usually the model's max context)."""
    max_model_len: int | None = None
    """The context the model is served at (kvcalc.context.served); None: its own."""
    batch: int | None = None
    """Concurrent requests; None: each command's default (1, or 'as many as fit')."""
    bandwidth: int | None = None
    """Bytes/s per device (--bandwidth), else the --gpu preset's."""
    notes: tuple[str, ...] = ()
    """What the engine does with the chosen formats (printed as notes)."""

    @property
    def kv_dtype(self) -> str:
        """'fp16', or 'q8_0/q4_0' when K and V differ (the JSON key kv_dtype)."""
        k, v = self.k_format.name, self.v_format.name
        return k if k == v else f"{k}/{v}"

    @property
    def dtype_label(self) -> str:
        k, v = self.k_format.name, self.v_format.name
        return k if k == v else f"K {k} / V {v}"

    @property
    def devices(self) -> int:
        return self.tp * self.pp


def parse_number(value: str | int | None, flag: str, *, suffixes: bool = True) -> int | None:
    """A whole number as text or an int; None stays None.  With `suffixes`, a token or
    request count ('32K'); without, plain digits (a GPU or block count: '--tp 1k' is
    refused, not read as 1,000)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{flag} must be a whole number, got {value!r}")
    try:
        if isinstance(value, int):
            return value
        return parse_count(value) if suffixes else parse_whole(value)
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def parse_positive(value: str | int | None, flag: str, *, suffixes: bool = True) -> int | None:
    """A whole number of at least 1."""
    number = parse_number(value, flag, suffixes=suffixes)
    if number is not None and number < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return number


def _size(value: str | int | None, flag: str) -> int | None:
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_bytes(str(value))
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _fraction(value: str | Fraction | None, flag: str) -> Fraction | None:
    if value is None or isinstance(value, Fraction):
        return value
    try:
        return parse_fraction(str(value))
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def parse_weights(text: str | None) -> tuple[WeightFormat | None, int | None]:
    """--weights: a format name (bf16, int4, q4_k_m), or the memory an engine logged for
    them per GPU ('7.51GiB', as in vLLM's "Model loading took 7.51 GiB")."""
    if text is None:
        return None, None
    try:
        return weight_format(text), None
    except UsageError as format_error:
        try:
            size = parse_printed_bytes(text)
        except UnitError:
            raise UsageError(
                f"--weights {text!r} is neither a weight format ({format_error}) nor a size "
                "such as 7.51GiB"
            ) from None
        if size <= 0:
            raise UsageError("--weights must be more than 0 bytes") from None
        return None, size


def cache_type(
    given: str | None, flag: str, dtype: str | None, kv_dtype: str | None, engine_name: str
) -> str | None:
    """llama.cpp's -ctk/-ctv name a cache format as --k-dtype/--v-dtype do, for llama.cpp."""
    if given is None:
        return dtype
    if not engine_name.startswith("llamacpp"):
        raise UsageError(f"{flag} is llama.cpp's flag (--engine llamacpp); use --k-dtype/--v-dtype")
    if dtype is not None or kv_dtype is not None:
        raise UsageError(f"give {flag} or --kv-dtype/--k-dtype/--v-dtype, not both")
    return given


def parse_bandwidth(text: str | int) -> int:
    """'3.35TB/s' -> 3,350,000,000,000 bytes/s; the '/s' is optional."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        body = str(text).strip()
        if body.lower().endswith("/s"):
            body = body[:-2]
        try:
            value = parse_bytes(body)
        except UnitError as exc:
            raise UsageError(f"--bandwidth: {exc} (e.g. 3.35TB/s, 819GB/s)") from None
    if value <= 0:
        raise UsageError("--bandwidth must be more than 0 bytes/s")
    return value


def setup(
    *,
    mem: str | int | None = None,
    gpu: str | None = None,
    device: str | None = None,
    gpus: str | int | None = None,
    tp: str | int | None = None,
    pp: str | int | None = None,
    util: str | Fraction | None = None,
    weights: str | None = None,
    overhead: str | int | None = None,
    kv_only: bool = False,
    engine_name: str = "ideal",
    block_size: str | int | None = None,
    max_tokens: str | int | None = None,
    max_num_seqs: str | int | None = None,
    max_num_batched_tokens: str | int | None = None,
    enforce_eager: bool = False,
    kv_cache_memory: str | int | None = None,
    kv_dtype: str | None = None,
    k_dtype: str | None = None,
    v_dtype: str | None = None,
    seq: str | int | None = None,
    batch: str | int | None = None,
    max_model_len: str | int | None = None,
    bandwidth: str | int | None = None,
    ctx_size: str | int | None = None,
    parallel: str | int | None = None,
    kv_unified: bool | None = None,
    swa_full: bool = False,
    ubatch_size: str | int | None = None,
    batch_size: str | int | None = None,
    flash_attn: str | None = None,
    cache_type_k: str | None = None,
    cache_type_v: str | None = None,
    n_gpu_layers: str | int | None = None,
) -> Setup:
    """Every option checked and parsed into one Setup; a bad value is one UsageError.

    Engine settings (block_size, and llama.cpp's ctx_size ... n_gpu_layers) are checked by
    the chosen engine, which refuses the ones it does not take.
    """
    from kvcalc.catalog import load_hardware

    hardware = load_hardware(gpu) if gpu is not None else None
    mem_bytes = _size(mem, "--mem")
    target = None
    if hardware is not None or mem_bytes is not None:
        label = mem.strip() if isinstance(mem, str) else ""
        target = make_target(hardware, mem_bytes, device, label)
    elif device is not None:
        raise UsageError("--device sizes a memory budget: give --mem SIZE with it")
    tp_size, pp_size = parallelism(
        parse_positive(gpus, "--gpus", suffixes=False),
        parse_positive(tp, "--tp", suffixes=False),
        parse_positive(pp, "--pp", suffixes=False),
        target.kind if target else "gpu",
    )
    if kv_only and (weights is not None or overhead is not None):
        raise UsageError(
            "--kv-only leaves no room for --weights or --overhead; give one or the other"
        )
    chosen = engine(
        engine_name,
        parse_number(block_size, "--block-size", suffixes=False),
        ctx_size=ctx_size,
        parallel=parallel,
        kv_unified=kv_unified,
        swa_full=swa_full or None,  # False is "not given", which every engine accepts
        ubatch_size=ubatch_size,
        batch_size=batch_size,
        flash_attn=flash_attn,
        n_gpu_layers=n_gpu_layers,
        max_tokens=max_tokens,
        max_num_seqs=parse_positive(max_num_seqs, "--max-num-seqs"),
        max_num_batched_tokens=parse_positive(max_num_batched_tokens, "--max-num-batched-tokens"),
        enforce_eager=enforce_eager or None,
        kv_cache_memory=_size(kv_cache_memory, "--kv-cache-memory"),
    )
    served_len = parse_positive(max_model_len, "--max-model-len")
    if served_len is not None and "max_model_len" in chosen.SETTINGS:
        # the served context is every engine's (kvcalc/context.py); vLLM also sizes its
        # concurrency line and profiling run by it, so its own setting follows
        chosen = configure(chosen, max_model_len=served_len)
    weight_fmt, weight_bytes = parse_weights(weights)
    if target is not None:
        chosen = chosen.on_device(target.kind)
    if ctx_size is not None and seq is not None:
        raise UsageError("give --seq (tokens per slot) or --ctx-size (llama.cpp's -c), not both")
    if ctx_size is not None and max_model_len is not None:
        raise UsageError(
            "give --max-model-len (the context of one request, any engine; llama.cpp's -c is "
            "then that x its slots) or --ctx-size (llama.cpp's total cells), not both"
        )
    k_dtype = cache_type(cache_type_k, "--cache-type-k", k_dtype, kv_dtype, chosen.name)
    v_dtype = cache_type(cache_type_v, "--cache-type-v", v_dtype, kv_dtype, chosen.name)
    base = "fp16" if kv_dtype is None else kv_dtype  # an empty name is an error, not fp16
    k_fmt = kv_format(base if k_dtype is None else k_dtype)
    v_fmt = kv_format(base if v_dtype is None else v_dtype)
    notes = chosen.check_formats(k_fmt, v_fmt)
    speed = None
    if bandwidth is not None:
        speed = parse_bandwidth(bandwidth)
    elif target is not None and target.bandwidth_gb_s is not None:
        speed = target.bandwidth_gb_s * 10**9  # a --gpu preset's peak, decimal GB/s
    return Setup(
        target=target,
        tp=tp_size,
        pp=pp_size,
        util=_fraction(util, "--util"),
        weights=weight_fmt,
        weight_bytes=weight_bytes,
        overhead_bytes=_size(overhead, "--overhead"),
        kv_only=kv_only,
        engine=chosen,
        k_format=k_fmt,
        v_format=v_fmt,
        seq=parse_positive(seq, "--seq"),
        batch=parse_positive(batch, "--batch"),
        max_model_len=served_len,
        bandwidth=speed,
        notes=tuple(notes),
    )
