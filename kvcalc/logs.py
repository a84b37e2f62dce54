"""Read an engine's start-up log: which engine and version, the settings it states, and
every memory figure it prints.

Users paste logs with prefixes ("(EngineCore pid=242) INFO 04-22 00:04:20
[gpu_worker.py:436] ..."), cut in the middle ("..."), interleaved from several workers;
so every figure is found by its own pattern anywhere in a line, the first one of a key
wins (the first worker's), and lines that match nothing are ignored.  Formats, from the
engines' sources:

- vLLM V1 (0.10-0.20+, vllm/v1/worker/gpu_worker.py, gpu_model_runner.py,
  v1/core/kv_cache_utils.py): "Model loading took X GiB", "worker init memory snapshot:
  ... total_memory=XGiB", "Total non KV cache memory: XGiB; torch peak memory increase:
  XGiB; non-torch forward increase memory: XGiB", "Estimated CUDA graph memory: X GiB
  total", "Available KV cache memory: X GiB", "GPU KV cache size: N tokens", "Maximum
  concurrency for L tokens per request: Cx";
- vLLM V0 (<= 0.8): "Loading model weights took X GB" (GiB despite the name), "Memory
  profiling results: total_gpu_memory=XGiB ...", "the current vLLM instance can use
  total_gpu_memory (X GiB) x gpu_memory_utilization (U)", "model weights take XGiB;
  non_torch_memory takes XGiB; PyTorch activation peak memory takes XGiB; the rest of the
  memory reserved for KV Cache is XGiB", "# GPU blocks: N";
- SGLang (srt/model_executor/model_runner.py, mem_cache/memory_pool.py,
  managers/scheduler.py; "GB" is GiB): "Load weight begin. avail mem=X GB", "Load weight
  end. ... avail mem=X GB, mem usage=Y GB", "KV Cache is allocated. #tokens: N, K size: X
  GB, V size: Y GB", "max_total_num_tokens=N, ... max_running_requests=M, context_len=L";
- llama.cpp (src/llama-kv-cache.cpp, llama-context.cpp, llama-model.cpp): "llama_kv_cache:
  size = X MiB (N cells, L layers, S/P seqs), K (t): X MiB, V (t): Y MiB", "... model
  buffer size = X MiB", "... compute buffer size = X MiB", "n_ctx = N";
- TensorRT-LLM (kvCacheManager.cpp): "Allocated X GiB for max tokens in paged KV cache
  (N)", "Allocate N bytes for k/v cache", "Using N tokens in paged KV cache".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from kvcalc.errors import UsageError

GiB = 1 << 30
MiB = 1 << 20

NUMBER = r"([0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)"


def gib(text: str) -> int:
    """A printed GiB figure to the nearest byte: '58.11' -> 62,395,137,393."""
    return int((Decimal(text.replace(",", "")) * GiB).to_integral_value())


def mib(text: str) -> int:
    return int((Decimal(text.replace(",", "")) * MiB).to_integral_value())


def whole(text: str) -> int:
    return int(text.replace(",", ""))


@dataclass(frozen=True, slots=True)
class Figure:
    """One number a log printed: its key, its value in bytes or a count, and the line."""

    key: str
    value: int | Fraction
    unit: str
    """'bytes' (printed as GiB or MiB), 'tokens', 'requests', 'blocks', 'x' (a ratio)."""
    printed: str
    """The number as the log printed it ('58.11')."""
    line: int
    """1-based line number in the log."""


@dataclass(frozen=True, slots=True)
class Pattern:
    key: str
    regex: re.Pattern[str]
    convert: Callable[[str], int | Fraction]
    unit: str
    group: int = 1


def pattern(key: str, regex: str, convert: Callable[[str], int | Fraction], unit: str) -> Pattern:
    return Pattern(key, re.compile(regex), convert, unit)


def ratio(text: str) -> Fraction:
    return Fraction(Decimal(text.replace(",", "")))


# Memory figures, by engine.  Keys are shared where the meaning is the same (kv_bytes is
# the KV memory of one GPU in every engine).
VLLM = (
    pattern("weights", rf"Model loading took {NUMBER} ?GiB", gib, "bytes"),
    pattern("weights", rf"Loading model weights took {NUMBER} ?GB", gib, "bytes"),
    pattern("weights", rf"model weights take {NUMBER} ?GiB", gib, "bytes"),
    pattern("total", rf"total_memory={NUMBER}GiB", gib, "bytes"),
    pattern("total", rf"total_gpu_memory[ =(]+{NUMBER} ?GiB", gib, "bytes"),
    pattern("total", rf"Free memory on device \([0-9.]+/{NUMBER} GiB\)", gib, "bytes"),
    pattern("init_free", rf"init memory snapshot: .*?free_memory={NUMBER}GiB", gib, "bytes"),
    pattern("init_free", rf"Free memory on device \({NUMBER}/", gib, "bytes"),
    pattern("requested", rf"worker requested memory: {NUMBER}GiB", gib, "bytes"),
    pattern("requested", rf"gpu_memory_utilization \({NUMBER}\) = {NUMBER}GiB", gib, "bytes"),
    pattern("non_kv", rf"Total non KV cache memory: {NUMBER}GiB", gib, "bytes"),
    pattern("torch_peak", rf"torch peak memory increase: {NUMBER}GiB", gib, "bytes"),
    pattern("torch_peak", rf"activation peak memory takes {NUMBER}GiB", gib, "bytes"),
    pattern("torch_peak", rf"PyTorch activation peak memory\s+{NUMBER}GiB", gib, "bytes"),
    pattern("non_torch", rf"non-torch forward increase memory: {NUMBER}GiB", gib, "bytes"),
    pattern("non_torch", rf"non_torch_memory takes {NUMBER}GiB", gib, "bytes"),
    pattern(
        "non_torch", rf"Memory profiling results: .*?non_torch_memory={NUMBER}GiB", gib, "bytes"
    ),
    pattern("non_torch", rf"non_torch_memory\s{{2,}}{NUMBER}GiB", gib, "bytes"),
    pattern("init_used", rf"init memory snapshot: .*?cuda_memory={NUMBER}GiB", gib, "bytes"),
    pattern("cuda_graph_estimate", rf"Estimated CUDA graph memory: {NUMBER} GiB", gib, "bytes"),
    pattern("cuda_graph", rf"Graph capturing finished in .*?took {NUMBER} GiB", gib, "bytes"),
    pattern("kv_bytes", rf"Available KV cache memory: {NUMBER} ?GiB", gib, "bytes"),
    pattern("kv_bytes", rf"reserved for KV Cache is {NUMBER}GiB", gib, "bytes"),
    pattern("kv_bytes", rf"available_kv_cache_memory\s+{NUMBER}GiB", gib, "bytes"),
    pattern("kv_bytes", rf"kv_cache_size={NUMBER}GiB", gib, "bytes"),
    pattern("kv_tokens", rf"GPU KV cache size: {NUMBER} tokens", whole, "tokens"),
    pattern("gpu_blocks", rf"# GPU blocks: {NUMBER}", whole, "blocks"),
    pattern(
        "concurrency", rf"Maximum concurrency for [0-9,]+ tokens per request: {NUMBER}x", ratio, "x"
    ),
)
SGLANG = (
    pattern("pre_free", rf"Load weight begin\. avail mem={NUMBER} GB", gib, "bytes"),
    pattern("after_free", rf"Load weight end\..*?avail mem={NUMBER} GB", gib, "bytes"),
    pattern("weights", rf"Load weight end\..*?mem usage={NUMBER} GB", gib, "bytes"),
    pattern("kv_tokens", rf"KV Cache is allocated\..*?#tokens: {NUMBER}", whole, "tokens"),
    pattern("k_bytes", rf"KV Cache is allocated\..*?K size: {NUMBER} GB", gib, "bytes"),
    pattern("v_bytes", rf"KV Cache is allocated\..*?(?<!K)V size: {NUMBER} GB", gib, "bytes"),
    pattern("kv_bytes", rf"KV Cache is allocated\..*? KV size: {NUMBER} GB", gib, "bytes"),
    pattern(
        "mamba_bytes", rf"Mamba Cache is allocated\..*?ssm_state size: {NUMBER} ?GB", gib, "bytes"
    ),
    pattern("pool_end_free", rf"Memory pool end\. avail mem={NUMBER} GB", gib, "bytes"),
    pattern("cuda_graph", rf"Capture cuda graph end\..*?mem usage={NUMBER} GB", gib, "bytes"),
    pattern("kv_tokens", rf"max_total_num_tokens={NUMBER}", whole, "tokens"),
    pattern("max_running_requests", rf"max_running_requests={NUMBER}", whole, "requests"),
)
LLAMACPP = (
    pattern(
        "kv_bytes", rf"(?:llama_kv_cache\w*: size|KV self size)\s*=\s*{NUMBER} MiB", mib, "bytes"
    ),
    pattern("k_bytes", rf"llama_kv_cache\w*:.*?K \(\w+\):\s*{NUMBER} MiB", mib, "bytes"),
    pattern("v_bytes", rf"llama_kv_cache\w*:.*?V \(\w+\):\s*{NUMBER} MiB", mib, "bytes"),
    pattern("kv_tokens", rf"llama_kv_cache\w*: size = .*?\(\s*{NUMBER} cells", whole, "tokens"),
    pattern("weights", rf"model buffer size\s*=\s*{NUMBER} MiB", mib, "bytes"),
    pattern("compute", rf"compute buffer size\s*=\s*{NUMBER} MiB", mib, "bytes"),
)
TENSORRT_LLM = (
    pattern("kv_bytes", rf"Allocated {NUMBER} GiB for max tokens in paged KV cache", gib, "bytes"),
    pattern("kv_bytes", rf"Allocate {NUMBER} bytes for k/v cache", whole, "bytes"),
    pattern("kv_tokens", rf"paged KV cache \({NUMBER}\)", whole, "tokens"),
    pattern("kv_tokens", rf"Using {NUMBER} tokens in paged KV cache", whole, "tokens"),
)
PATTERNS = {"vllm": VLLM, "sglang": SGLANG, "llamacpp": LLAMACPP, "tensorrt-llm": TENSORRT_LLM}

# What each engine's lines look like, to tell them apart (the first engine with most hits)
MARKERS = {
    "vllm": re.compile(
        r"vllm|EngineCore|gpu_worker|gpu_model_runner|kv_cache_utils|GPU KV cache size|"
        r"Available KV cache memory|Model loading took|Loading model weights took|"
        r"# GPU blocks|Memory profiling|gpu_memory_utilization"
    ),
    "sglang": re.compile(
        r"sglang|KV Cache is allocated|max_total_num_tokens|Load weight (?:begin|end)|"
        r"mem_fraction_static|Memory pool end|Capture cuda graph"
    ),
    "llamacpp": re.compile(r"llama_|llm_load|load_tensors|ggml_|print_info|n_ctx"),
    "tensorrt-llm": re.compile(r"TensorRT-LLM|\[TRT"),
}
EXPECTED = (
    "vLLM's 'Available KV cache memory: X GiB' or 'GPU KV cache size: N tokens', SGLang's "
    "'KV Cache is allocated. #tokens: N' or 'max_total_num_tokens=N', llama.cpp's "
    "'llama_kv_cache: size = X MiB', TensorRT-LLM's 'Allocated X GiB for max tokens in paged "
    "KV cache'"
)

# Settings as the engines state them: vLLM's "non-default args: {...}" and "Initializing a
# V1 LLM engine (vX) with config: model='...', ...", SGLang's "server_args=ServerArgs(...)"
SETTING = re.compile(
    r"'?(model|model_path|max_model_len|max_seq_len|max_num_seqs|max_num_batched_tokens|"
    r"gpu_memory_utilization|tensor_parallel_size|tp_size|pipeline_parallel_size|pp_size|"
    r"dtype|kv_cache_dtype|quantization|enforce_eager|block_size|mem_fraction_static|"
    r"chunked_prefill_size|max_running_requests|max_total_tokens|context_length|"
    r"kv_cache_memory_bytes|context_len)'?\s*[:=]\s*('[^']*'|\"[^\"]*\"|[^,)}\s]+)"
)
VERSION = (
    re.compile(r"LLM engine \(v([0-9][^)\s]*)\)"),
    re.compile(r"\bversion\s+v?([0-9]+\.[0-9]+[0-9a-z.+-]*)"),
    re.compile(r"\bsglang[ =-]v?([0-9]+\.[0-9]+[0-9a-z.+]*)", re.IGNORECASE),
    re.compile(r"\bbuild[: =]+([0-9]+) \("),
)
CONTEXT = re.compile(r"Maximum concurrency for ([0-9,]+) tokens per request")
DEFAULTED = re.compile(r"Defaulting (max_num_batched_tokens|max_num_seqs) to ([0-9]+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLog:
    """What a start-up log says: engine, version, settings, memory figures."""

    engine: str
    version: str | None
    settings: dict[str, str] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    lines: int = 0
    """Lines read."""
    sglang_05: bool = False
    """SGLang 0.5's format ('Load weight end. elapsed=', 'Using KV cache dtype')."""

    def get(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def value(self, key: str) -> int | Fraction | None:
        figure = self.get(key)
        return None if figure is None else figure.value


def detect(lines: list[str]) -> str:
    """The engine whose markers the lines match most (vLLM first on a tie)."""
    hits = {name: sum(bool(m.search(line)) for line in lines) for name, m in MARKERS.items()}
    best = max(hits, key=lambda name: hits[name])
    return best if hits[best] else "vllm"


def settings_of(lines: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    names = {
        "model_path": "model",
        "max_seq_len": "max_model_len",
        "tp_size": "tensor_parallel_size",
    }
    names |= {"pp_size": "pipeline_parallel_size", "context_length": "max_model_len"}
    names |= {"context_len": "max_model_len"}
    for line in lines:
        for match in SETTING.finditer(line):
            key = names.get(match.group(1), match.group(1))
            value = match.group(2).strip("'\"").rstrip(".")
            if value not in ("None", "", "auto") or key in ("dtype", "kv_cache_dtype"):
                found.setdefault(key, value)
    return found


def version_of(lines: Iterable[str]) -> str | None:
    for line in lines:
        for regex in VERSION:
            match = regex.search(line)
            if match:
                return match.group(1)
    return None


def read_log(text: str) -> EngineLog:
    """Parse a log; a log without any memory figure is a UsageError saying what was expected."""
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise UsageError(f"the log is empty: expected an engine's start-up lines ({EXPECTED})")
    engine = detect(lines)
    figures: dict[str, Figure] = {}
    # pattern by pattern, so a key's first pattern wins wherever its line is (vLLM V1's
    # lines before V0's), and within one pattern the first line (the first worker's)
    for p in PATTERNS[engine]:
        if p.key in figures:
            continue
        for number, line in enumerate(lines, 1):
            match = p.regex.search(line)
            if match:
                printed = match.group(match.lastindex or 1)
                figures[p.key] = Figure(p.key, p.convert(printed), p.unit, printed, number)
                break
    if not figures:
        marked = any(MARKERS[engine].search(line) for line in lines)
        where = f"this {engine} log" if marked else "these lines (no engine's markers either)"
        raise UsageError(f"no memory line in {where}: expected one of {EXPECTED}")
    settings = settings_of(lines)
    for line in lines:
        match = CONTEXT.search(line)
        if match:
            settings.setdefault("concurrency_length", match.group(1).replace(",", ""))
        match = DEFAULTED.search(line)
        if match:  # vLLM's DEBUG lines for the `vllm serve` defaults it picked
            settings.setdefault(match.group(1), match.group(2))
    newer = re.compile(
        r"Load weight end\. elapsed=|Using KV cache dtype|KV Cache is allocated\. dtype"
    )
    return EngineLog(
        sglang_05=engine == "sglang" and any(newer.search(line) for line in lines),
        engine=engine,
        version=version_of(lines),
        settings=settings,
        figures=tuple(figures.values()),
        lines=len(lines),
    )
