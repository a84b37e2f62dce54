"""A start-up log held against kvcalc: each figure beside the prediction, then answers from
the log's own measured terms.

`check_log` takes what logs.read_log found, resolves the model (the log's `model=`, or
the one given), the GPU (the preset whose CUDA total the log printed, or the log's
total itself) and the engine profile (vLLM before 0.20 is vllm-0.19), then predicts the
start-up twice: once from the model alone, once with the logged weight memory, so the
other terms are checked on their own.  The answers use the log's KV memory and pool, not
kvcalc's: how long a --max-model-len one request can have, how many requests of a length
fit, and what each flag change does to that (utilization, an fp8 cache, fewer
max_num_seqs, more tensor parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from kvcalc.budget import Target, make_target
from kvcalc.errors import UsageError
from kvcalc.fitting import FitResult, Question, fit_model
from kvcalc.logs import EngineLog, Figure
from kvcalc.spec import HardwareSpec, ModelSpec
from kvcalc.units import plural

GiB = 1 << 30
HALF_HUNDREDTH_GIB = GiB // 200
"""A logged '79.19 GiB' is the total to +-0.005 GiB."""


@dataclass(frozen=True, slots=True)
class Row:
    """One logged figure beside kvcalc's prediction of it (None: not predicted)."""

    logged: Figure
    predicted: int | Fraction | None
    label: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer from the log's measured terms: what, the number, the flag that gets it."""

    what: str
    value: int | Fraction | None
    flag: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogCheck:
    log: EngineLog
    model: str | None
    gpu: str | None
    profile: str | None
    """The kvcalc engine profile the log was held against (vllm-0.19, sglang, ...)."""
    rows: tuple[Row, ...]
    answers: tuple[Answer, ...]
    notes: tuple[str, ...]


LABELS = {
    "total": "GPU memory (CUDA total)",
    "requested": "requested (total x util)",
    "weights": "weights",
    "torch_peak": "torch peak increase",
    "non_torch": "non-torch increase",
    "non_kv": "total non-KV memory",
    "cuda_graph_estimate": "CUDA graph estimate",
    "kv_bytes": "KV memory",
    "kv_tokens": "KV cache tokens",
    "concurrency": "max concurrency",
    "pre_free": "free before loading",
    "k_bytes": "K size",
    "v_bytes": "V size",
    "max_running_requests": "max running requests",
    "init_free": "free at start",
    "init_used": "in use at start (CUDA, NCCL)",
    "cuda_graph": "CUDA graphs (captured)",
    "after_free": "free after loading",
    "pool_end_free": "free after the pool",
    "gpu_blocks": "GPU blocks",
    "mamba_bytes": "Mamba state",
    "compute": "compute buffers",
}


def is_v0(log: EngineLog) -> bool:
    """A vLLM V0-engine log (0.8 and before): its figures come from other lines."""
    v1 = ("total_memory", "requested", "non_kv", "kv_tokens")
    return log.engine == "vllm" and log.version is None and not any(log.get(k) for k in v1)


def profile_for(log: EngineLog) -> str | None:
    """kvcalc's engine profile for the log's engine and version."""
    if log.engine == "vllm":
        if log.version is None:
            return "vllm"
        parts = log.version.split(".")
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        return "vllm" if (major, minor) >= (0, 20) else "vllm-0.19"
    if log.engine == "sglang":
        # 0.5 logs time their loading ("Load weight end. elapsed=...") and name the KV dtype
        return "sglang" if log.sglang_05 else "sglang-0.4"
    return None


def gpu_for(log: EngineLog, hardware: tuple[HardwareSpec, ...]) -> HardwareSpec | None:
    """The preset whose measured CUDA total the log printed (79.19 GiB: h100-sxm-80gb)."""
    total = log.value("total")
    if not isinstance(total, int):
        return None
    for h in hardware:
        if h.cuda_memory_bytes and abs(h.cuda_memory_bytes - total) <= HALF_HUNDREDTH_GIB:
            return h
    return None


def weight_format_name(log: EngineLog) -> str | None:
    """--weights for the checkpoint the log loads: its quantization, else its dtype."""
    s = log.settings
    quant = s.get("quantization", "").lower()
    model = s.get("model", "").lower()
    if quant in ("fp8", "fbgemm_fp8", "modelopt") or (quant and "fp8" in model):
        return "fp8"
    if quant in ("compressed-tensors", "compressed_tensors"):
        return (
            "int8" if "w8a8" in model or "int8" in model else "int4" if "w4a16" in model else None
        )
    if quant in ("gptq", "gptq_marlin", "awq", "awq_marlin", "auto_round", "marlin"):
        return "int4"
    dtype = s.get("dtype", "").removeprefix("torch.")
    return {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}.get(dtype)


def kv_dtype_name(log: EngineLog, weights: str | None) -> str:
    kv = log.settings.get("kv_cache_dtype", "auto")
    if kv.startswith("fp8"):
        return "fp8_e5m2" if "e5m2" in kv else "fp8_e4m3"
    return "fp32" if weights == "fp32" else "fp16"


def question_for(
    log: EngineLog, spec: ModelSpec, target: Target, profile: str, measured: bool
) -> Question:
    from kvcalc.dtypes import kv_format, weight_format
    from kvcalc.engines import engine

    s = log.settings
    number = {k: int(v) for k, v in s.items() if v.isdigit()}
    length = number.get("max_model_len") or number.get("concurrency_length")
    settings: dict[str, int | bool | None] = {}
    if profile.startswith("vllm"):
        settings = {
            "max_model_len": length,
            "max_num_seqs": number.get("max_num_seqs"),
            "max_num_batched_tokens": number.get("max_num_batched_tokens"),
            "enforce_eager": True if s.get("enforce_eager") == "True" else None,
        }
    fmt_name = weight_format_name(log)
    util_text = s.get("gpu_memory_utilization") or s.get("mem_fraction_static")
    fmt = kv_format(kv_dtype_name(log, fmt_name))
    weights = log.value("weights")
    return Question(
        target=target,
        tp=number.get("tensor_parallel_size", 1),
        pp=number.get("pipeline_parallel_size", 1),
        util=Fraction(util_text) if util_text else None,
        weights=weight_format(fmt_name) if fmt_name else None,
        weight_bytes=int(weights) if measured and weights is not None else None,
        k_format=fmt,
        v_format=fmt,
        seq=length,
        engine=engine(profile, **settings),
    )


def predicted(key: str, result: FitResult) -> int | Fraction | None:
    """kvcalc's figure for a logged key, from a fit result."""
    b, pool = result.budget, result.pool
    terms = {t.label: t.bytes for t in b.terms}
    values: dict[str, int | Fraction | None] = {
        "total": b.device_bytes if result.engine.name.startswith("vllm") else None,
        "pre_free": b.device_bytes if result.engine.name.startswith("sglang") else None,
        "requested": b.usable_bytes,
        "weights": b.weight_bytes,
        "torch_peak": terms.get("- profiling peak"),
        "non_torch": terms.get("- non-torch"),
        "kv_bytes": b.kv_bytes,
        "kv_tokens": pool.tokens if pool else None,
        "concurrency": pool.concurrency if pool and result.engine.name.startswith("vllm") else None,
    }
    peak, non_torch = values["torch_peak"], values["non_torch"]
    if isinstance(peak, int) and isinstance(non_torch, int):
        values["non_kv"] = b.weight_bytes + peak + non_torch
    for record in result.report:
        name = type(record).__name__
        if name == "VllmCudaGraphEstimate":
            values["cuda_graph_estimate"] = record.bytes  # type: ignore[attr-defined]
        if name == "SglangPool":
            values["k_bytes"] = record.k_bytes  # type: ignore[attr-defined]
            values["v_bytes"] = record.v_bytes  # type: ignore[attr-defined]
        if name == "SglangScheduler":
            values["max_running_requests"] = record.max_running_requests  # type: ignore[attr-defined]
    return values.get(key)


def check_log(
    log: EngineLog,
    spec: ModelSpec | None,
    hardware: HardwareSpec | None,
    presets: tuple[HardwareSpec, ...],
    seq: int | None = None,
    batch: int | None = None,
) -> LogCheck:
    """The log's figures beside kvcalc's, and the answers from its measured terms."""
    notes: list[str] = []
    profile = profile_for(log)
    if is_v0(log):
        notes.append(
            "this reads as a vLLM V0 log (0.8 and before): kvcalc models the V1 engine, whose "
            "profiling run and sampler differ"
        )
    elif log.engine == "vllm" and log.version is None:
        notes.append("the log prints no version: held against the newest vLLM modelled (0.20)")
    gpu = hardware or gpu_for(log, presets)
    target: Target | None = None
    if gpu is not None:
        target = make_target(gpu, None, None)
    elif isinstance(log.value("total"), int):
        total = int(log.value("total") or 0)
        logged = make_target(None, total, "gpu", "GPU as logged")
        target = replace(logged, device=replace(logged.device, cuda_memory_bytes=total))
    rows: list[Row] = []
    fits: tuple[FitResult, FitResult] | None = None
    question: Question | None = None
    if spec is None:
        notes.append("no model: give it (kvcalc log FILE MODEL) to compare kvcalc's prediction")
    elif profile is None:
        notes.append(f"kvcalc predicts vLLM and SGLang start-ups; this is a {log.engine} log")
    elif target is None:
        notes.append("the log prints no GPU total: give --gpu NAME to compare")
    else:
        try:
            question = question_for(log, spec, target, profile, measured=False)
            fits = (
                fit_model(spec, question),
                fit_model(spec, question_for(log, spec, target, profile, measured=True)),
            )
        except UsageError as exc:
            notes.append(f"no prediction: {exc}")
    for figure in sorted(log.figures, key=lambda f: f.line):
        value = None
        if fits is not None:
            source = fits[0] if figure.key == "weights" else fits[1]
            value = predicted(figure.key, source)
        rows.append(Row(figure, value, LABELS.get(figure.key, figure.key.replace("_", " "))))
    if fits is not None and log.value("weights") is not None:
        notes.append("rows after 'weights' use the logged weight memory (--weights as logged)")
    answers = measured_answers(log, spec, question if fits else None, seq, batch)
    return LogCheck(
        log=log,
        model=spec.id if spec else None,
        gpu=gpu.id if gpu else None,
        profile=profile,
        rows=tuple(rows),
        answers=answers,
        notes=tuple(notes),
    )


# The flag that sets the longest request, by engine (vllm serve, sglang.launch_server,
# llama-server, trtllm-serve).
LENGTH_FLAGS = {
    "vllm": "--max-model-len",
    "sglang": "--context-length",
    "llamacpp": "--ctx-size",
    "tensorrt-llm": "--max_seq_len",
}


def longest_request(tokens: int, spec: ModelSpec | None, engine: str) -> Answer:
    """The longest request the logged pool holds, capped at the model's own context: vLLM
    refuses a longer --max-model-len (vllm/config/model.py, _get_and_verify_max_len, unless
    VLLM_ALLOW_LONG_MAX_MODEL_LEN=1), SGLang a longer --context-length likewise.  Llama 3.1
    8B on an H100: the pool holds 476,016 tokens, the model 131,072."""
    flag = LENGTH_FLAGS.get(engine, "")
    what = f"longest request ({flag})" if flag else "longest request"
    if spec is not None and spec.max_context < tokens:
        note = f"the model's limit; the pool holds {tokens:,}"
        return Answer(what, spec.max_context, flag, note=note)
    return Answer(what, tokens, flag)


def measured_answers(
    log: EngineLog,
    spec: ModelSpec | None,
    question: Question | None,
    seq: int | None,
    batch: int | None,
) -> tuple[Answer, ...]:
    """From the log's own pool: the longest request, the most requests of a length, and what
    each flag change gives.  vLLM's pool is blocks of 16 tokens; SGLang's single tokens."""
    tokens = log.value("kv_tokens")
    kv = log.value("kv_bytes")
    if kv is None and log.value("k_bytes") is not None:
        kv = int(log.value("k_bytes") or 0) + int(log.value("v_bytes") or 0)
    if not isinstance(tokens, int) or tokens <= 0:
        return ()
    block = 16 if log.engine == "vllm" else 1
    length = seq or int(
        log.settings.get("max_model_len") or log.settings.get("concurrency_length") or 0
    )
    answers = [longest_request(tokens, spec, log.engine)]
    if not length:
        return tuple(answers)
    per_request = -(-length // block) * block
    most = tokens // per_request
    answers.append(Answer(f"requests of {length:,} tokens", most))
    want = batch or max(2 * most, 1)
    if batch is None:
        note = "twice what fits" if most else "one: none fits"
        answers.append(Answer("target (give --batch)", want, note=note))
    wanted = f"{plural(want, 'request')} of {length:,} tokens"
    if most >= want:
        answers.append(Answer(wanted, None, note="fit already"))
        return tuple(answers)
    need_tokens = want * per_request
    total = log.value("total")
    util = log.settings.get("gpu_memory_utilization") or log.settings.get("mem_fraction_static")
    pre, after = log.value("pre_free"), log.value("after_free")
    if log.engine == "sglang" and isinstance(pre, int) and isinstance(after, int) and kv:
        # rest = after - pre x (1 - mfs) holds the pool: solve for the fraction that holds
        # the target's tokens at the pool's own bytes per token
        need = Fraction(int(kv), tokens) * need_tokens
        fraction = 1 - (after - need) / pre
        thousandths = -(-fraction.numerator * 1000 // fraction.denominator)
        answers.append(
            Answer(
                wanted,
                Fraction(thousandths, 1000) if thousandths <= 1000 else None,
                "--mem-fraction-static",
                note="" if thousandths <= 1000 else "more than the memory free before loading",
            )
        )
    elif isinstance(kv, int) and isinstance(total, int) and util:
        per_token = Fraction(kv, tokens)
        deficit = need_tokens * per_token - kv
        new_util = Fraction(util) + deficit / total
        hundredths = -(-new_util.numerator * 100 // new_util.denominator)
        answers.append(
            Answer(
                wanted,
                Fraction(hundredths, 100) if hundredths <= 100 else None,
                "--gpu-memory-utilization" if log.engine == "vllm" else "--mem-fraction-static",
                note="" if hundredths <= 100 else "more than the whole GPU",
            )
        )
    kv_dtype = log.settings.get("kv_cache_dtype", "auto")
    if not kv_dtype.startswith("fp8"):
        answers.append(
            Answer(
                f"requests of {length:,} tokens", 2 * tokens // per_request, "--kv-cache-dtype fp8"
            )
        )
    if question is not None and spec is not None:
        answers += flag_answers(question, spec, length, want)
    return tuple(answers)


def flag_answers(question: Question, spec: ModelSpec, length: int, want: int) -> list[Answer]:
    """kvcalc's own accounting for the flags whose effect the log cannot measure: fewer
    max_num_seqs (a smaller sampler warm-up, but no more requests at once than that) and
    twice the tensor parallelism."""
    from kvcalc.engines import configure

    answers: list[Answer] = []
    base = replace(question, seq=length)
    note = "kvcalc's accounting"
    seqs = getattr(question.engine, "max_num_seqs", None)
    if seqs is not None and want < seqs:
        try:
            chosen = configure(question.engine, max_num_seqs=want)
            result = fit_model(spec, replace(base, engine=chosen))
            answers.append(
                Answer(
                    f"requests of {length:,} tokens",
                    min(result.max_batch, want),
                    f"--max-num-seqs {want}",
                    note,
                )
            )
        except UsageError:
            pass
    try:
        result = fit_model(spec, replace(base, tp=question.tp * 2))
        flag = f"--tensor-parallel-size {question.tp * 2}"
        answers.append(Answer(f"requests of {length:,} tokens", result.max_batch, flag, note))
    except UsageError:
        pass
    return answers
