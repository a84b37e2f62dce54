"""GGUF header -> ModelSpec.

Only metadata and the tensor table are read (gguf_read.py memory-maps the file;
no tensor data is touched).  Keys follow llama.cpp's names under the model's
architecture prefix: `{arch}.block_count`, `{arch}.attention.head_count_kv`
(a number, or one entry per layer where 0 marks a recurrent layer),
`{arch}.attention.key_length` / `value_length`, `{arch}.attention.sliding_window`
and `sliding_window_pattern`, `{arch}.attention.kv_lora_rank` (MLA),
`{arch}.ssm.*` (Mamba), `{arch}.context_length`.

llama.cpp fixes some sliding-window patterns in code rather than in the file:
Gemma 2 and gpt-oss alternate (pattern 2), Gemma 3 has five local layers to one
global (pattern 6).  With pattern n, layer i is local when i % n < n - 1.

Values are read by their GGUF type: an integer field takes an integer type only (a
FLOAT32 4.7 block_count is refused, not read as 4), a present field must be valid
(key_length 0 is an error, not "absent"), and every limit is checked on the value as
written before a per-layer list is built.  One deliberate zero: sliding_window 0 means
no window, as llama.cpp reads it (hparams.n_swa = 0 disables SWA).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvcalc.errors import SpecError
from kvcalc.importers.common import compress, slug
from kvcalc.importers.gguf_read import INTEGER_TYPES, Value, gguf_constants, read_gguf
from kvcalc.limits import MAX_HEADS, MAX_LAYERS, MAX_NAME_CHARS, MAX_TOKENS, MAX_WIDTH
from kvcalc.spec import ModelSpec, validate

_CODE_PATTERNS = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2}
# Architectures whose recurrent layers are Mamba-1 (d_inner x (d_conv - 1) + d_inner x d_state).
# Others (Mamba-2, Gated DeltaNet as in qwen3next) shape their state differently:
# refused, not guessed.
_MAMBA1_ARCHS = {"mamba", "jamba"}
_FILE_TYPES = {
    "ALL_F32": "fp32",
    "MOSTLY_F16": "fp16",
    "MOSTLY_BF16": "bf16",
    "MOSTLY_Q8_0": "q8_0",
    "MOSTLY_Q4_0": "q4_0",
    "MOSTLY_Q6_K": "q6_k",
    "MOSTLY_Q5_K_M": "q5_k_m",
    "MOSTLY_Q5_K_S": "q5_k_s",
    "MOSTLY_Q4_K_M": "q4_k_m",
    "MOSTLY_Q4_K_S": "q4_k_s",
    "MOSTLY_Q3_K_M": "q3_k_m",
    "MOSTLY_Q2_K": "q2_k",
}


class _Metadata:
    """Typed, strict access to `{arch}.*` keys; errors name the file and the key."""

    def __init__(self, fields: dict[str, Value], path: Path, arch: str) -> None:
        self.fields, self.path, self.arch = fields, path, arch

    def value(self, key: str) -> Value | None:
        return self.fields.get(f"{self.arch}.{key}")

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.path}: {self.arch}.{key} {problem}")

    def whole(self, key: str, *, low: int = 1, high: int, required: bool = False) -> int | None:
        found = self.value(key)
        if found is None:
            if required:
                raise SpecError(f"{self.path}: missing {self.arch}.{key} in the GGUF metadata")
            return None
        if found.type not in INTEGER_TYPES:
            raise self.fail(key, f"must be an integer, got {found.describe()}")
        return self._in_range(key, found.value, low, high)

    def need(self, key: str, *, low: int = 1, high: int) -> int:
        value = self.whole(key, low=low, high=high, required=True)
        assert value is not None
        return value

    def per_layer(
        self, key: str, layers: int, *, low: int, high: int, required: bool = False
    ) -> list[int] | None:
        """A scalar (the same for every layer) or an array of one integer per layer."""
        found = self.value(key)
        if found is None or found.type != "ARRAY":
            scalar = self.whole(key, low=low, high=high, required=required)
            return None if scalar is None else [scalar] * layers
        if found.item not in INTEGER_TYPES:
            raise self.fail(key, f"must hold integers, got {found.describe()}")
        if found.count != layers or found.value is None:
            raise self.fail(key, f"has {found.count:,} entries for {layers:,} layers")
        values: list[int] = found.value
        if values:
            self._in_range(key, min(values), low, high)
            self._in_range(key, max(values), low, high)
        return values

    def _in_range(self, key: str, value: int, low: int, high: int) -> int:
        if value < low:
            raise self.fail(key, f"must be at least {low}, got {value:,}")
        if value > high:
            raise self.fail(key, f"{value:,} is over kvcalc's limit of {high:,}")
        return value

    def local_layers(self, layers: int, window: int | None) -> list[bool]:
        """Which layers slide: none without a window, else the file's or llama.cpp's pattern."""
        if not window:
            return [False] * layers
        found = self.value("attention.sliding_window_pattern")
        if found is not None and found.type == "ARRAY":
            if found.item not in INTEGER_TYPES | {"BOOL"} or found.value is None:
                raise self.fail("attention.sliding_window_pattern", f"got {found.describe()}")
            if found.count != layers:
                raise self.fail(
                    "attention.sliding_window_pattern",
                    f"has {found.count:,} entries for {layers:,} layers",
                )
            if not set(found.value) <= {0, 1}:
                raise self.fail("attention.sliding_window_pattern", "must hold only 0/1 or bools")
            return [bool(v) for v in found.value]
        pattern = self.whole("attention.sliding_window_pattern", high=MAX_LAYERS)
        pattern = pattern or _CODE_PATTERNS.get(self.arch)
        if not pattern:
            return [True] * layers  # a window with no pattern: every layer
        return [i % pattern < pattern - 1 for i in range(layers)]


def spec_from_gguf(path: Path) -> tuple[ModelSpec, list[str]]:
    fields, params, nbytes = read_gguf(path)
    warnings: list[str] = []
    arch_value = fields.get("general.architecture")
    if arch_value is None or not isinstance(arch_value.value, str) or not arch_value.value:
        raise SpecError(f"{path}: no general.architecture in the GGUF metadata")
    arch = arch_value.value
    meta = _Metadata(fields, path, arch)
    # every limit on the raw values first: nothing per layer is built before these pass
    layers = meta.need("block_count", high=MAX_LAYERS)
    heads_each = meta.per_layer(
        "attention.head_count", layers, low=0, high=MAX_HEADS, required=True
    )
    assert heads_each is not None
    hidden = meta.need("embedding_length", high=MAX_WIDTH)
    heads = max(heads_each)
    if heads == 0:
        raise meta.fail("attention.head_count", "is 0 for every layer: no attention to size")
    kv_each = meta.per_layer("attention.head_count_kv", layers, low=0, high=MAX_HEADS)
    kv_each = kv_each if kv_each is not None else [heads] * layers
    context = meta.whole("context_length", high=MAX_TOKENS)
    if context is None:
        context = 2048
        warnings.append(f"no {arch}.context_length: assumed 2,048 tokens")
    window = meta.whole("attention.sliding_window", low=0, high=MAX_TOKENS)
    local = meta.local_layers(layers, window)
    kv_lora = meta.whole("attention.kv_lora_rank", high=MAX_WIDTH)
    key_length = meta.whole("attention.key_length", high=MAX_WIDTH)
    value_length = meta.whole("attention.value_length", high=MAX_WIDTH)
    if kv_lora:
        key_length = meta.whole("attention.key_length_mla", high=MAX_WIDTH) or key_length
        value_length = meta.whole("attention.value_length_mla", high=MAX_WIDTH) or value_length
    widest_kv = max(kv_each)
    kinds = _kinds(meta, layers, kv_each, local, window, kv_lora, widest_kv)
    if min(heads_each) != heads:
        warnings.append(f"head_count differs by layer; sized with the largest, {heads}")
    dtype = _weight_dtype(fields, warnings)
    name = fields.get("general.name")
    spec_fields: dict[str, Any] = {
        "id": slug(path.stem, "gguf"),
        "name": (name.value if name and isinstance(name.value, str) and name.value else path.stem)[
            :MAX_NAME_CHARS
        ],
        "sources": [f"{path.name} (GGUF metadata)"],
        "params": params or None,
        "weight_bytes": nbytes or None,
        "weight_dtype": dtype,
        "max_context": context,
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": widest_kv if widest_kv > 0 else heads,
        "hidden_size": hidden,
        "layers": compress(kinds, f"{path}: the layer pattern"),
    }
    if key_length:
        spec_fields["head_dim"] = key_length
    if value_length and value_length != key_length:
        spec_fields["v_head_dim"] = value_length
    spec: ModelSpec = validate(ModelSpec, spec_fields, str(path))
    return spec, warnings


def _kinds(
    meta: _Metadata,
    layers: int,
    kv_each: list[int],
    local: list[bool],
    window: int | None,
    kv_lora: int | None,
    widest_kv: int,
) -> list[dict[str, Any]]:
    """One group dict per layer; equal layers share one dict (one pass, no per-layer max())."""
    if kv_lora:
        rope = meta.whole("rope.dimension_count", low=0, high=MAX_WIDTH) or 0
        latent = {"kind": "latent", "count": 1, "kv_lora_rank": kv_lora, "qk_rope_head_dim": rope}
        return [latent] * layers
    made: dict[tuple[int, bool], dict[str, Any]] = {}

    def group(kv: int, slides: bool, i: int) -> dict[str, Any]:
        if kv == 0:
            return _mamba(meta, i)
        found: dict[str, Any] = {"kind": "sliding" if slides else "full", "count": 1}
        if slides:
            found["window"] = window
        if kv != widest_kv:
            found["num_kv_heads"] = kv
        return found

    kinds = []
    for i, key in enumerate(zip(kv_each, local, strict=True)):
        kind = made.get(key)
        if kind is None:
            kind = made[key] = group(key[0], key[1], i)
        kinds.append(kind)
    return kinds


def _mamba(meta: _Metadata, layer: int) -> dict[str, Any]:
    if meta.arch not in _MAMBA1_ARCHS:
        raise SpecError(
            f"{meta.path}: layer {layer} is a recurrent layer of architecture {meta.arch!r}, "
            "whose state kvcalc does not read from GGUF yet; use its config.json instead"
        )
    inner = meta.whole("ssm.inner_size", high=MAX_WIDTH)
    if inner is None:
        raise SpecError(
            f"{meta.path}: layer {layer} has no KV heads and no {meta.arch}.ssm.* fields"
        )
    return {
        "kind": "mamba",
        "count": 1,
        "d_inner": inner,
        "d_state": meta.whole("ssm.state_size", high=MAX_WIDTH) or 16,
        "d_conv": meta.whole("ssm.conv_kernel", high=MAX_WIDTH) or 4,
    }


def _weight_dtype(fields: dict[str, Value], warnings: list[str]) -> str:
    """The checkpoint's weight format from general.file_type (bf16 when absent or unknown)."""
    file_type = fields.get("general.file_type")
    if file_type is None:
        return "bf16"
    if file_type.type not in INTEGER_TYPES:
        warnings.append(f"general.file_type is {file_type.describe()}, not a type number")
        return "bf16"
    try:
        return _FILE_TYPES.get(gguf_constants().LlamaFileType(file_type.value).name, "bf16")
    except ValueError:
        warnings.append(f"general.file_type {file_type.value} is not known to the gguf package")
        return "bf16"
