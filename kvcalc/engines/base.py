"""What every engine is: a parameter set, its budget defaults, and one rule per cache kind.

An engine answers "how do you hold a layer of kind K" through its RULES table,
one entry per name in layers.CACHE_KINDS.  There is no fallback: a kind without a
rule raises MissingRule naming the pair, and tests/test_engines.py enumerates
every (engine, kind) pair, so a new kind cannot be silently sized as full
attention by an engine that was never told about it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from kvcalc.errors import UsageError
from kvcalc.units import UnitError, parse_count, plural

if TYPE_CHECKING:
    from kvcalc.dtypes import ElementFormat
    from kvcalc.engines.memory import DeviceFacts, MemoryPlan, MemoryQuestion
    from kvcalc.engines.vllm_groups import BlockPool
    from kvcalc.layers import LayerCache, LayerGroup
    from kvcalc.sizing import SizeResult
    from kvcalc.spec import ModelSpec


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def pad(n: int, to: int) -> int:
    """n rounded up to a multiple of `to` (ggml's GGML_PAD): pad(35,000, 256) = 35,072."""
    return cdiv(n, to) * to


class MissingRule(LookupError):
    """An engine has no rule for a cache kind: a gap in kvcalc, not a user error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """How one engine holds one cache kind.

    Each callable takes (engine, cache) first, typed loosely because the table maps
    kind names to functions written for one concrete engine and kind.
    """

    slots: Callable[[Any, Any, int, int], int]
    """(engine, cache, seq, batch) -> token slots one layer keeps for the whole batch."""
    explain: Callable[[Any, Any, int, int], str]
    """The same arithmetic in words and numbers, for --explain."""
    store: Callable[[Any, Any, ModelSpec], LayerCache] | None = None
    """(engine, cache, spec) -> the cache as the engine stores it; None: as the model
    defines it.  May refuse with a UsageError (a kind the engine cannot run)."""
    formats: frozenset[str] | None = None
    """Cache formats the engine offers for this kind, when fewer than for the others
    (vLLM's MLA backends take no nvfp4); None: every format the engine offers."""
    formats_why: str = ""
    """Why the kind takes fewer formats, with the engine source that says so."""


def exact_slots(engine: Any, cache: LayerCache, seq: int, batch: int) -> int:
    """Token-granular: every request keeps what the layer holds (seq, or its window)."""
    return batch * cache.tokens_held(seq)


def exact_text(engine: Any, cache: LayerCache, seq: int, batch: int) -> str:
    held = cache.tokens_held(seq)
    return f"slots = {plural(batch, 'request')} x {plural(held, 'token')} = {batch * held:,}"


def no_slots(engine: Any, cache: LayerCache, seq: int, batch: int) -> int:
    """A recurrent layer holds a fixed state per request (sized apart), no token slots."""
    return 0


def state_text(engine: Any, cache: LayerCache, seq: int, batch: int) -> str:
    return f"no token slots: a fixed state per request ({plural(batch, 'request')})"


EXACT = Rule(slots=exact_slots, explain=exact_text)
"""Token-granular slots: the ideal engine, and transformers' StaticCache."""
NO_TOKENS = Rule(slots=no_slots, explain=state_text)
"""A recurrent layer's fixed state: no token slots, in every engine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetDefaults:
    """What an engine leaves for weights and KV when the user does not say.

    util: the usable fraction of an accelerator's memory by tensor-parallel size, as
    (from tp, fraction) pairs with the largest tp first (SGLang's mem_fraction_static
    shrinks as tp grows); cpu_util: of a RAM budget.  overhead: memory per device that
    is neither weights nor KV (activations, CUDA graphs, compute buffers).
    """

    util: tuple[tuple[int, Fraction], ...]
    cpu_util: Fraction
    overhead_bytes: int
    cpu_overhead_bytes: int
    kv_of_free: Callable[[int, Fraction], int] | None = None
    """For an engine whose fraction is of the memory FREE after weights and overhead
    (TensorRT-LLM's free_gpu_memory_fraction): (free bytes, fraction) -> KV bytes, rounded
    as the engine rounds them.  None: the fraction is of the whole device (vLLM's
    gpu_memory_utilization), and weights and overhead come out of it."""

    def util_for(self, kind: str, tp: int) -> Fraction:
        if kind == "cpu":
            return self.cpu_util
        return next(fraction for at_least, fraction in self.util if tp >= at_least)

    def overhead_for(self, kind: str) -> int:
        return self.cpu_overhead_bytes if kind == "cpu" else self.overhead_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """An engine setting a user may change, with the flag that sets it and its bounds.

    kind: "count" (a whole number in [low, high]), "flag" (given or not), "switch"
    (--x / --no-x), "choice" (one of `choices`), "layers" (a count, or auto / all).
    """

    field: str
    flag: str
    low: int = 0
    high: int = 0
    kind: str = "count"
    choices: tuple[str, ...] = ()

    def parse(self, value: Any) -> Any:
        """The value as the engine field holds it; a bad value is a UsageError naming the flag."""
        if self.kind in ("flag", "switch"):
            if not isinstance(value, bool):
                raise UsageError(f"{self.flag} takes no value, got {value!r}")
            return value
        if self.kind == "choice":
            text = str(value).strip().lower()
            if text not in self.choices:
                raise UsageError(f"{self.flag} must be {' | '.join(self.choices)}, not {value!r}")
            return text
        if self.kind == "layers":
            # llama.cpp's -ngl: auto = -1 (fit decides), all = -2 (every layer)
            text = str(value).strip().lower()
            if text in ("auto", "all"):
                return -1 if text == "auto" else -2
        number = parse_count_value(value, self.flag)
        if not self.low <= number <= self.high:
            raise UsageError(
                f"{self.flag} must be between {self.low:,} and {self.high:,}, got {value}"
            )
        return number


def parse_count_value(value: Any, flag: str) -> int:
    """A whole number given as an int or as text in kvcalc's count grammar ('512', '32K')."""
    if isinstance(value, bool):
        raise UsageError(f"{flag} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return parse_count(str(value))
    except UnitError as exc:
        raise UsageError(f"{flag}: {exc}") from None


class LogRecord:
    """Base of the plain values an engine reports (render_engine prints each kind)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotReproduced(LogRecord):
    """The engine would log something kvcalc does not model for this model."""

    engine: str
    what: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnginePool:
    """A paged engine's token pool for one device's KV budget: what vLLM and SGLang log.

    Llama 2 7B fp16 (524,288 B/token) with 8 GiB of KV in vLLM: 8,589,934,592 //
    (16 x 524,288) = 1,024 blocks = 16,384 tokens; 4,096-token requests need 256
    blocks each, so concurrency 1,024 / 256 = 4.
    """

    kv_bytes: int
    k_token_bytes: int
    """K bytes of one token over the device's layers."""
    v_token_bytes: int
    page: int
    tokens: int
    seq: int
    """Tokens per request the concurrency is for (vLLM's max_model_len)."""
    single_pool: bool
    """Every layer keeps every token in one kind of row (full or latent): the engines'
    single-pool log lines apply."""
    num_blocks: int | None = None
    """Blocks shared by the engine's cache groups (vLLM), when it pools by blocks."""
    blocks_per_request: int | None = None
    """Blocks one request of `seq` tokens takes over all groups (vLLM)."""

    @property
    def blocks(self) -> int:
        return self.num_blocks if self.num_blocks is not None else self.tokens // self.page

    @property
    def concurrency(self) -> Fraction:
        need = self.blocks_per_request or cdiv(self.seq, self.page)
        return Fraction(self.blocks, need)

    @property
    def slots(self) -> int:
        """Token slots per layer buffer: the pool plus SGLang's padding page."""
        return self.tokens + self.page


def single_pool(caches: list[LayerCache]) -> bool:
    """One kind of cache, holding every token (no window, chunk or fixed state)."""
    kinds = {cache.kind for cache in caches}
    return len(kinds) == 1 and caches[0].saturates_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Engine:
    """An engine profile: parameters, budget defaults, and RULES for every cache kind."""

    name: str
    title: str
    page: int = 1
    """Allocation granularity in tokens (vLLM block size, SGLang page size, llama.cpp's
    n_ctx padding)."""
    formats: frozenset[str] | None
    """Cache formats the engine offers (None: any)."""
    same_kv_format: bool
    """The engine has one cache dtype for K and V."""
    budget: BudgetDefaults

    RULES: ClassVar[Mapping[str, Rule]] = {}
    SETTINGS: ClassVar[Mapping[str, Setting]] = {}
    """Settings a user may change (e.g. --block-size), keyed by option name."""
    FORMAT_HINTS: ClassVar[Mapping[str, str]] = {}
    """What the engine offers instead of a format it lacks (vLLM: int8 ->
    int8_per_token_head), added to the refusal."""

    def for_device(self, device: DeviceFacts | None, spec: ModelSpec) -> Engine:
        """The profile with settings left to the engine resolved for this device and model
        (vLLM picks its batch limits by GPU memory); the profile itself by default."""
        return self

    def with_request_length(self, seq: int | None) -> Engine:
        """The profile for requests of `seq` tokens (vLLM: --seq is the max_model_len
        when --max-model-len is not given); the profile itself by default."""
        return self

    def memory_plan(self, question: MemoryQuestion) -> MemoryPlan | None:
        """The engine's own accounting of a device, or None: the flat budget (memory x
        util - weights - overhead) in budget.py."""
        return None

    def allocated(self, groups: tuple[LayerGroup, ...]) -> tuple[LayerGroup, ...]:
        """The layers as the engine allocates memory for them, after tensor parallelism:
        vLLM pads hybrid models' cache groups with empty layer slots.  As given by default."""
        return groups

    def block_pool(
        self,
        stages: tuple[tuple[LayerGroup, ...], ...],
        stage_kv_bytes: tuple[int, ...],
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> BlockPool | None:
        """The engine's block pool when it admits requests by blocks shared over cache
        groups (vLLM); None: requests fit by bytes (deploy.Deployment)."""
        return None

    def rule(self, cache: LayerCache) -> Rule:
        try:
            return self.RULES[cache.kind]
        except KeyError:
            raise MissingRule(
                f"engine {self.name} has no rule for cache kind {cache.kind!r}"
            ) from None

    def store(self, cache: LayerCache, spec: ModelSpec) -> LayerCache:
        """The layer as this engine stores it (e.g. transformers decompresses MLA)."""
        store = self.rule(cache).store
        return cache if store is None else store(self, cache, spec)

    def check_layer(self, cache: LayerCache, k_fmt: ElementFormat, v_fmt: ElementFormat) -> None:
        """Refuse a format this engine lacks for this kind of layer (vLLM: nvfp4 on MLA)."""
        rule = self.rule(cache)
        if rule.formats is None:
            return
        for fmt in (k_fmt, v_fmt):
            if fmt.name not in rule.formats:
                raise UsageError(
                    f"{self.name} has no {fmt.name} cache for {cache.kind} layers "
                    f"({cache.label}): {rule.formats_why}; it offers "
                    f"{', '.join(sorted(rule.formats))} for them"
                )

    def stored(self, groups: tuple[LayerGroup, ...], spec: ModelSpec) -> tuple[LayerGroup, ...]:
        """The model's layers as this engine stores them: each layer by its kind's rule,
        then whatever the engine decides over the whole model (llama.cpp widens every V
        row to the widest layer's when flash attention is off)."""
        from kvcalc.layers import LayerGroup

        return tuple(LayerGroup(self.store(g.cache, spec), g.count) for g in groups)

    def check(
        self, groups: tuple[LayerGroup, ...], k_fmt: ElementFormat, v_fmt: ElementFormat
    ) -> None:
        """Refuse, with the engine's own reason, a cache it would not create (a UsageError)."""

    def state_requests(self, batch: int) -> int:
        """Requests whose recurrent state is allocated for `batch` requests: one each here;
        llama.cpp allocates one per slot."""
        return batch

    def slot_tokens(self, batch: int) -> int | None:
        """Tokens one request can hold when the engine's own settings fix it (llama.cpp's
        -c: n_ctx_seq); None: the question's --seq decides."""
        return None

    def validate(self) -> None:
        """Refuse a combination of settings the engine itself refuses (a UsageError)."""

    def model_report(
        self,
        spec: ModelSpec,
        result: SizeResult,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
        kv_heads: int | None,
    ) -> tuple[LogRecord, ...]:
        """What the engine logs for this model at (seq, batch): size_report, unless the
        engine's settings need the model itself (llama.cpp's -ngl split)."""
        return self.size_report(result, k_fmt, v_fmt)

    def offload_answer(
        self,
        spec: ModelSpec,
        *,
        device_kind: str,
        device_bytes: int,
        devices: int,
        util: Fraction,
        overhead_bytes: int | None,
        seq: int | None,
        batch: int,
        kv_heads: int | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> Any:
        """The engine's split of layers between one GPU and the CPU, where it has one
        (llama.cpp's -ngl; kvcalc.offload.OffloadAnswer); None for every other engine."""
        return None

    def on_device(self, kind: str) -> Engine:
        """The engine running on a device of this kind (gpu | cpu | unified); most engines
        do not change, llama.cpp names its buffers after the backend."""
        return self

    def slots(self, cache: LayerCache, seq: int, batch: int) -> int:
        """Token slots one layer of this kind keeps for `batch` requests of `seq` tokens."""
        return self.rule(cache).slots(self, cache, seq, batch)

    def explain(self, cache: LayerCache, seq: int, batch: int) -> str:
        return self.rule(cache).explain(self, cache, seq, batch)

    def pool_tokens(self, kv_bytes: int, token_bytes: int) -> int:
        """Tokens a KV budget holds in whole pages: what the engine reports as its pool.

        vLLM: blocks = kv // (16 x token bytes), tokens = 16 x blocks; 8 GiB at
        524,288 B/token (Llama 2 7B fp16) is 1,024 blocks = 16,384 tokens.
        """
        return kv_bytes // (self.page * token_bytes) * self.page

    def capacity(self, kv_bytes: int, pool: EnginePool | None) -> int:
        """KV bytes the engine's allocation holds, which the fit fills: the budget itself,
        unless the engine rounds its pool up past it (TensorRT-LLM's whole blocks)."""
        return kv_bytes

    def pool(
        self, kv_bytes: int, k_token: int, v_token: int, seq: int, caches: list[LayerCache]
    ) -> EnginePool:
        """The pool this engine carves from one device's KV budget."""
        return EnginePool(
            kv_bytes=kv_bytes,
            k_token_bytes=k_token,
            v_token_bytes=v_token,
            page=self.page,
            tokens=self.pool_tokens(kv_bytes, k_token + v_token),
            seq=seq,
            single_pool=self.holds_one_pool(caches),
        )

    def holds_one_pool(self, caches: list[LayerCache]) -> bool:
        """Whether one token pool holds every layer, so the engine's pool lines apply."""
        return single_pool(caches)

    def check_formats(self, k_fmt: ElementFormat, v_fmt: ElementFormat) -> list[str]:
        """Refuse formats the engine lacks; return notes on what it does with the rest."""
        if self.formats is not None:
            for flag, fmt in (("K", k_fmt), ("V", v_fmt)):
                if fmt.name not in self.formats:
                    hint = self.FORMAT_HINTS.get(fmt.name)
                    raise UsageError(
                        f"{self.name} has no {fmt.name} {flag} cache; it offers "
                        f"{', '.join(sorted(self.formats))}" + (f" ({hint})" if hint else "")
                    )
        if self.same_kv_format and k_fmt != v_fmt:
            raise UsageError(f"{self.name} has one cache dtype for K and V: give --kv-dtype")
        return []

    def size_report(
        self, result: SizeResult, k_fmt: ElementFormat, v_fmt: ElementFormat
    ) -> tuple[LogRecord, ...]:
        """What the engine logs that follows from a (seq, batch) alone (llama.cpp)."""
        return ()

    def fit_report(
        self,
        pool: EnginePool | None,
        at_answer: SizeResult | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> tuple[LogRecord, ...]:
        """What the engine logs for a KV budget (its pool), or at the fit answer."""
        return ()


class PoolReport:
    """fit_report for engines that log their token pool (vLLM, SGLang, TensorRT-LLM): nothing
    without a budget, a NotReproduced line where the engine's pool lines do not apply to
    this model, else pool_records.  Mixed into those engines' classes."""

    __slots__ = ()

    NOT_REPRODUCED: ClassVar[str] = ""
    """What the engine does that kvcalc does not reproduce as its lines."""

    def reproduced(self, pool: EnginePool) -> bool:
        """Whether the engine's pool lines apply: one kind of layer holding every token."""
        return pool.single_pool

    def pool_records(self, pool: EnginePool) -> tuple[LogRecord, ...]:
        raise NotImplementedError

    def fit_report(
        self,
        pool: EnginePool | None,
        at_answer: SizeResult | None,
        k_fmt: ElementFormat,
        v_fmt: ElementFormat,
    ) -> tuple[LogRecord, ...]:
        if pool is None:
            return ()
        if not self.reproduced(pool):
            name = self.name  # type: ignore[attr-defined]
            return (NotReproduced(engine=name, what=self.NOT_REPRODUCED),)
        return self.pool_records(pool)


# Defaults shared by the profiles that follow vLLM's budget on GPUs and llama.cpp's on
# CPUs. GPU: gpu_memory_utilization 0.9; vLLM's memory profiling logs for 7-8B models
# report non-torch plus activation peak of 0.3-1.5 GiB (Llama 3 8B on an H100: 0.12 +
# 1.19 GiB at default settings), so 1.5 GiB.  CPU: all of --mem, and llama.cpp's compute
# buffers at the default 512-token batch, a few hundred MiB for 7-8B models: 512 MiB.
GPU_SERVER_BUDGET = BudgetDefaults(
    util=((1, Fraction(9, 10)),),
    cpu_util=Fraction(1),
    overhead_bytes=3 * 2**30 // 2,
    cpu_overhead_bytes=512 * 2**20,
)
