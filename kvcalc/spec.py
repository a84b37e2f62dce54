"""Validated, immutable input specs: a model's architecture and a hardware preset.

These are the YAML schemas of configs/models/*.yaml and configs/hardware.yaml
(and of user files passed as `kvcalc size ./my-model.yaml`).  Field names follow
the Hugging Face config.json names they come from where that helps a reader
check them; each field's docstring names its unit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)

from kvcalc.dims import ModelDims
from kvcalc.dtypes import weight_format
from kvcalc.errors import SpecError, UnknownNameError
from kvcalc.limits import MAX_LAYER_GROUPS
from kvcalc.spec_groups import (  # re-exported (__all__): the layer-group schemas
    Bytes,
    CacheGroupSpec,
    ChunkedGroup,
    FullGroup,
    GatedDeltaNetGroup,
    GgufLayout,
    Heads,
    HeadsOrNone,
    LatentGroup,
    LayerGroupSpec,
    Layers,
    MambaGroup,
    PerHeadGroup,
    RepeatGroup,
    SlidingGroup,
    StateDtype,
    Tokens,
    WeightPart,
    Width,
    _Frozen,
    group_count,
    layer_count,
    raw_group_count,
    too_many_groups,
    unroll,
)
from kvcalc.units import parse_bytes

__all__ = [
    "attention_label",
    "Bytes",
    "CacheGroupSpec",
    "ChunkedGroup",
    "Claim",
    "describe_validation_error",
    "FullGroup",
    "GatedDeltaNetGroup",
    "GgufLayout",
    "group_count",
    "HardwareSpec",
    "Heads",
    "HeadsOrNone",
    "LatentGroup",
    "layer_count",
    "LayerGroupSpec",
    "Layers",
    "MambaGroup",
    "ModelSpec",
    "PerHeadGroup",
    "raw_group_count",
    "RepeatGroup",
    "SlidingGroup",
    "StateDtype",
    "Tokens",
    "too_many_groups",
    "unroll",
    "validate",
    "WeightPart",
    "Width",
]

_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
_FAMILIES = {
    "deepseek": "DeepSeek",
    "gpt": "gpt-oss",
    "mixtral": "Mistral",
    "mistral": "Mistral",
    "qwen": "Qwen",
    "phi": "Phi",
}


def _check_weight_dtype(name: str) -> str:
    try:
        return weight_format(name).name
    except UnknownNameError as exc:  # pydantic reports ValueError as a field error
        raise ValueError(str(exc)) from None


class ModelSpec(_Frozen):
    """One model's architecture as it matters for KV cache and weight memory."""

    id: str = Field(pattern=_ID_PATTERN)
    """Short preset name, e.g. llama3-70b."""
    name: str | None = None
    """Display name, e.g. 'Meta Llama 3 70B'."""
    aliases: tuple[str, ...] = ()
    """Other names accepted on the command line (the Hugging Face repo id, ...)."""
    hf_repo: str | None = None
    """Hugging Face repository whose config.json this spec follows."""
    sources: tuple[str, ...] = ()
    """Where each fact comes from."""
    notes: tuple[str, ...] = ()
    """Known traps and caveats."""

    params: Bytes | None = None
    """Total parameter count (weights), an exact integer where the config allows."""
    architecture: str | None = None
    """llama.cpp's name for the architecture, as a GGUF's general.architecture holds it
    (llama, qwen2, gemma2, deepseek2, ...; Mistral 7B is llama).  llama.cpp decides by it
    which layers run a sliding window (src/models/<arch>.cpp), so --engine llamacpp reads it."""
    gguf: GgufLayout | None = None
    """Set by the GGUF importer: per-part weight bytes and file ranges (partial offload)."""
    legacy_mla_gguf: bool = False
    """A DeepSeek2 GGUF from before llama.cpp's MLA layout (no attention.key_length_mla /
    value_length_mla keys, one attn_kv_b tensor): llama.cpp runs it as multi-head attention
    and caches full per-head K (head_dim) and V (v_head_dim) for every query head."""
    weight_bytes: Bytes | None = None
    """Exact bytes of the checkpoint's tensors (from safetensors headers), when known;
    used instead of params x weight_dtype unless --weights asks for another format."""
    weight_dtype: Annotated[str, BeforeValidator(_check_weight_dtype)] = "bf16"
    """Native weight format of the released checkpoint (config.json torch_dtype)."""
    max_context: Tokens
    """Longest context the model supports as configured, in tokens: what an engine serves
    by default (vLLM's derived max_model_len, rope scaling in config.json included)."""
    extended_context: Tokens | None = None
    """The context rotary-position scaling reaches, where config.json's rope_scaling or the
    model card declares one: Llama 3.1, llama3 scaling from a trained 8,192 to 131,072 (the
    config's own max, so equal to max_context); Qwen3 8B, YaRN factor 4 over 32,768 =
    131,072 (the card's instruction, past the config's 40,960).  --max-model-len past
    max(max_context, extended_context) is noted as beyond what the model was made for."""
    extended_context_source: str | None = None
    """How extended_context was found: the config's rope_scaling, or the card's words."""

    num_layers: Layers
    """Decoder layers (config.json num_hidden_layers); at most a million, so unrolling a
    layer pattern stays bounded in memory."""
    num_query_heads: HeadsOrNone
    """Attention (query) heads (num_attention_heads); 0 only for a model without attention
    layers (Mamba, whose GGUF says head_count 0)."""
    num_kv_heads: HeadsOrNone
    """Key/value heads (num_key_value_heads; equal to query heads for MHA, 1 for MQA)."""
    hidden_size: Width
    """Model width (hidden_size)."""
    head_dim: Width | None = None
    """Per-head K width; omit only when the model uses hidden_size // num_query_heads."""
    v_head_dim: Width | None = None
    """Per-head V width when it differs from head_dim."""
    sliding_window: Tokens | None = None
    """Window (tokens) applied to every layer; use `layers` for mixed patterns."""
    layers: tuple[LayerGroupSpec, ...] | None = None
    """Layer groups in order, when layers differ; counts must add up to num_layers."""
    dims: ModelDims | None = None
    """Shapes beyond the KV cache (vocabulary, MLP, experts, vision tower): what sizes
    weights as an engine loads them and its activation peak (kvcalc/dims.py)."""

    @model_validator(mode="before")
    @classmethod
    def _few_enough_groups(cls, data: Any) -> Any:
        # On the raw YAML, before pydantic builds one object per list entry: a 1 MiB file
        # can list 40,000 groups, and a repeat can multiply them past any loop's reach.
        if isinstance(data, dict):
            groups = raw_group_count(data.get("layers"))
            if groups > MAX_LAYER_GROUPS:
                raise ValueError(too_many_groups(groups))
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if (self.extended_context is None) != (self.extended_context_source is None):
            raise ValueError("give extended_context and extended_context_source together")
        if (self.num_query_heads == 0 or self.num_kv_heads == 0) and self.per_head_kv:
            raise ValueError(
                "num_query_heads and num_kv_heads must be at least 1 when a layer keeps K/V "
                "per head (0 only for models without attention layers)"
            )
        heads = self.num_query_heads
        if self.head_dim is None and heads and self.hidden_size % heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_query_heads "
                f"{self.num_query_heads}; give head_dim explicitly"
            )
        # Count layers by arithmetic before anything unrolls the groups, so a repeat of
        # 10**12 is refused here instead of filling memory.
        if self.layers is not None:
            if self.sliding_window is not None:
                raise ValueError("give sliding_window per layer group when `layers` is set")
            total = layer_count(self.layers)
            if total != self.num_layers:
                raise ValueError(
                    f"layer group counts add up to {total}, not num_layers {self.num_layers}"
                )
            groups = group_count(self.layers)  # before kv_head_counts() unrolls them
            if groups > MAX_LAYER_GROUPS:
                raise ValueError(too_many_groups(groups))
        for kv_heads in self.kv_head_counts():
            if self.num_query_heads % kv_heads:
                raise ValueError(
                    f"num_query_heads {self.num_query_heads} is not divisible by "
                    f"{kv_heads} KV heads"
                )
        return self

    def kv_head_counts(self) -> set[int]:
        """Every KV head count some layer uses (0, a layer without K/V, is not a count)."""
        counts = {self.num_kv_heads}
        for group in self.cache_groups():
            if isinstance(group, PerHeadGroup) and group.num_kv_heads is not None:
                counts.add(group.num_kv_heads)
        return counts - {0}

    def cache_groups(self) -> list[CacheGroupSpec]:
        """The layer groups in order, repeats unrolled; a model without `layers` is one
        group of num_layers full layers, or sliding ones when sliding_window is set."""
        if self.layers is not None:
            return unroll(self.layers)
        if self.sliding_window is None:
            return [FullGroup(kind="full", count=self.num_layers)]
        return [SlidingGroup(kind="sliding", count=self.num_layers, window=self.sliding_window)]

    @property
    def per_head_kv(self) -> bool:
        """True when some layer stores K/V per KV head (so grouping can be dialed)."""
        return any(isinstance(g, PerHeadGroup) for g in self.cache_groups())

    @property
    def family(self) -> str:
        """The model family, from the id's leading letters: llama3.1-8b -> Llama."""
        letters = re.match(r"[a-z]*", self.id).group(0)  # type: ignore[union-attr]
        return _FAMILIES.get(letters, letters.capitalize() or self.id)

    @property
    def attention_kind(self) -> str:
        """The model's label, e.g. 'GQA-8', or 'GQA-8 + SWA 4096' for Mistral 7B v0.1."""
        groups = self.cache_groups()
        parts = []
        if self.per_head_kv:
            parts.append(attention_label(self.num_query_heads, self.num_kv_heads))
        if any(isinstance(g, LatentGroup) for g in groups):
            parts.append("MLA")
        # gated_deltanet sorts before mamba: the order the labels have always had
        if any(isinstance(g, GatedDeltaNetGroup) for g in groups):
            parts.append("Gated DeltaNet")
        if any(isinstance(g, MambaGroup) for g in groups):
            parts.append("Mamba")
        windows = sorted({g.window for g in groups if isinstance(g, SlidingGroup)})
        if windows:
            parts.append("SWA " + "/".join(str(w) for w in windows))
        chunks = sorted({g.chunk for g in groups if isinstance(g, ChunkedGroup)})
        if chunks:
            parts.append("chunked " + "/".join(str(c) for c in chunks))
        return " + ".join(parts)

    @property
    def k_head_dim(self) -> int:
        """K width per head: explicit head_dim, else hidden/heads (4096 / 32 = 128)."""
        if self.head_dim is not None:
            return self.head_dim
        return self.hidden_size // self.num_query_heads if self.num_query_heads else 0

    @property
    def resolved_v_head_dim(self) -> int:
        return self.v_head_dim if self.v_head_dim is not None else self.k_head_dim


def attention_label(num_query_heads: int, num_kv_heads: int) -> str:
    """MHA when every query head has its own KV head, MQA with one, else GQA-<kv heads>."""
    if num_kv_heads == num_query_heads:
        return "MHA"
    if num_kv_heads == 1:
        return "MQA"
    return f"GQA-{num_kv_heads}"


def _check_util(value: object) -> str | None:
    if value is None:
        return None
    from kvcalc.units import UnitError, parse_fraction

    try:
        fraction = parse_fraction(str(value))
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    if not 0 < fraction <= 1:
        raise ValueError(f"default_util must be in (0, 1], got {value}")
    return str(value)


def _check_size(value: object) -> object:
    """A size kept as written ('8GiB') once it parses: '1e9' is an error naming the field."""
    if isinstance(value, str):
        _read_size(value)
    return value


def _read_size(value: object) -> object:
    """'81559MiB' -> bytes; an int passes to the strict check (it is bytes already)."""
    if not isinstance(value, str):
        return value
    from kvcalc.units import UnitError

    try:
        return parse_bytes(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


class HardwareSpec(_Frozen):
    """One device preset: memory as the driver reports it, and peak bandwidth."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    aliases: tuple[str, ...] = ()
    kind: Literal["gpu", "cpu", "unified"]
    """gpu: discrete accelerator; cpu: host RAM; unified: Apple-style shared memory."""
    memory_bytes: Annotated[Bytes, BeforeValidator(_read_size)]
    """Capacity as the driver reports it (nvidia-smi memory.total), e.g. '81559MiB'."""
    bandwidth_gb_s: Bytes | None = None
    """Vendor peak memory bandwidth in decimal GB/s."""
    default_util: Annotated[str | None, BeforeValidator(_check_util)] = None
    """Usable fraction when --util is not given, where the platform caps it (Apple Metal);
    an exact decimal in (0, 1], e.g. '0.75'."""
    cuda_memory_bytes: Annotated[
        int | None, BeforeValidator(lambda v: parse_bytes(v) if isinstance(v, str) else v)
    ] = Field(default=None, gt=0)
    """Total as CUDA reports it (torch.cuda.mem_get_info()[1], what vLLM budgets from):
    less than nvidia-smi's by the driver's reservation (H100 80GB: 79.19 GiB, not 79.65)."""
    sm_count: int | None = Field(default=None, gt=0)
    """Streaming multiprocessors (sizes vLLM's sampler scratch buffer)."""
    compute_capability: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+$")
    """CUDA compute capability, e.g. '9.0' (picks PyTorch's cuBLAS workspace size)."""
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Claim(_Frozen):
    """A documented number, the configuration it describes, and the verdict we expect.

    configs/claims.yaml holds these; `kvcalc check` recomputes each one.
    """

    id: str = Field(pattern=_ID_PATTERN)
    source: str
    """Where the number was published (article, engine source or log, model card)."""
    says: str
    """The claim in the source's words."""
    model: str
    quantity: Literal[
        "total_bytes",
        "mha_ratio",
        "attention",
        "engine_tokens",
        "engine_pool_bytes",
        "layer_token_bytes",
    ]
    """total_bytes: the cache at seq x batch; mha_ratio: MHA bytes / these bytes;
    attention: MHA, GQA or MQA; engine_tokens: the engine's token pool for kv_budget (or
    free_memory); engine_pool_bytes: that pool's bytes; layer_token_bytes: K + V bytes of
    one token in one layer of the first attention layer group (a format's row)."""
    published: str
    """As printed: '20.9 GB', '2048.00 MiB', '8x', 'GQA', '16384'."""
    expect: Literal["exact", "within rounding", "off"]
    seq: Tokens | None = None
    batch: Tokens = 1
    kv_dtype: str = "fp16"
    attention: Literal["mha", "mqa"] | None = None
    engine: str = "ideal"
    kv_budget: Annotated[str | None, BeforeValidator(_check_size)] = None
    """KV memory for engine_tokens (a size: '8GiB')."""
    free_memory: str | None = None
    """For an engine whose fraction is of the memory free after loading (TensorRT-LLM):
    that memory as its log prints it ('available: 70.48 GiB'), instead of kv_budget."""
    util: str | None = None
    """That fraction when not the engine's default ('0.99')."""
    block_size: Tokens | None = None
    """The engine's block size when not its default (tokens_per_block 64)."""
    note: str | None = None


_Spec = TypeVar("_Spec", bound=BaseModel)


def validate(cls: type[_Spec], data: Any, origin: str) -> _Spec:
    """Validate data into `cls`; errors name the origin and the field path.

    Here, beside the schemas, so the catalog and the importers both use it without
    importing each other.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{origin}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"].endswith("_type"):  # a wrong kind of value: say what was written
            message += f" (got {_shown(error.get('input'))})"
        parts.append(f"{field}: {message}" if field else message)
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _shown(value: object) -> str:
    if isinstance(value, bool):  # YAML 1.1 reads yes/no/on/off as booleans
        return f"{str(value).lower()}, a boolean (yes/no/on/off/true/false in YAML)"
    if isinstance(value, float):
        return f"{value!r}, a decimal number"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
