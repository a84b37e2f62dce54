"""GGUF header -> ModelSpec.

Only metadata and the tensor table are read (gguf_read.py walks the file once through
mmap; no tensor data is touched).  Keys follow llama.cpp's names under the model's
architecture prefix: `{arch}.block_count`, `{arch}.attention.head_count_kv` (a number,
or one entry per layer), `{arch}.attention.key_length` / `value_length`,
`{arch}.attention.sliding_window` and `sliding_window_pattern`,
`{arch}.attention.kv_lora_rank` and `key_length_mla` (MLA), `{arch}.ssm.*` (Mamba,
Mamba-2, Gated DeltaNet), `{arch}.context_length`.

What the keys mean depends on the architecture, as in llama.cpp's loaders
(kvcalc/archs.py): head_count_kv 0 marks a recurrent layer in Jamba but an attention
layer without K/V in Deci; Qwen3-Next's recurrent layers are every layer but each
4th; Gemma 2 slides over a 4,096 window when the file has none; Gemma 3 slides on
five layers of every six (pattern 6).  With pattern n, layer i slides when
i % n < n - 1.  A window on an architecture llama.cpp never slides (Mistral 7B v0.1
as llama) is kept for the other engines, with a warning.

Values are read by their GGUF type: an integer field takes an integer type only (a
FLOAT32 4.7 block_count is refused, not read as 4), a present field must be valid
(key_length 0 is an error, not "absent"), and every limit is checked on the value as
written before a per-layer list is built.  One deliberate zero: sliding_window 0 means
no window, as llama.cpp reads it (hparams.n_swa = 0 disables SWA).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvcalc import archs
from kvcalc.errors import SpecError
from kvcalc.importers.common import compress, slug
from kvcalc.importers.gguf_layout import layout
from kvcalc.importers.gguf_read import INTEGER_TYPES, Value, gguf_constants, read_gguf
from kvcalc.limits import MAX_HEADS, MAX_LAYERS, MAX_NAME_CHARS, MAX_TOKENS, MAX_WIDTH
from kvcalc.spec import ModelSpec, validate

# Architectures whose recurrent state kvcalc reads from ssm.*: Mamba-1 (mamba, jamba),
# Mamba-2 (grouped B/C) and Gated DeltaNet (qwen3next).  Others (RWKV, Nemotron-H's and
# LFM2's mixers) shape their state differently: refused, not guessed.
_STATE_ARCHS = {"mamba", "mamba2", "jamba", "qwen3next"}
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


def spec_from_gguf(path: Path) -> tuple[ModelSpec, list[str]]:
    fields, params, nbytes, tensors = read_gguf(path)
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
    heads = max(heads_each)  # 0 for a model without attention (Mamba: head_count 0)
    # head_count_kv defaults to head_count, layer by layer (src/llama-model.cpp load_hparams)
    kv_each = meta.per_layer("attention.head_count_kv", layers, low=0, high=MAX_HEADS)
    kv_each = kv_each if kv_each is not None else heads_each
    context = meta.whole("context_length", high=MAX_TOKENS)
    if context is None:
        context = 2048
        warnings.append(f"no {arch}.context_length: assumed 2,048 tokens")
    kv_lora = meta.whole("attention.kv_lora_rank", high=MAX_WIDTH)
    key_mla = meta.whole("attention.key_length_mla", high=MAX_WIDTH)
    value_mla = meta.whole("attention.value_length_mla", high=MAX_WIDTH)
    legacy_mla = bool(kv_lora) and not (key_mla and value_mla)
    recurrent = recurrent_layers(meta, kv_each)
    if heads == 0 and not all(recurrent):  # Mamba says head_count 0; attention cannot
        raise meta.fail("attention.head_count", "is 0 for every layer: no attention to size")
    widest = max((k for k, r in zip(kv_each, recurrent, strict=True) if k > 0 and not r), default=0)
    sliding = sliding_layers(meta, layers, warnings)
    kinds = _kinds(meta, layers, kv_each, recurrent, sliding, kv_lora, widest)
    if len(set(heads_each) - {0}) > 1:
        warnings.append(f"head_count differs by layer; sized with the largest, {heads}")
    name = fields.get("general.name")
    shown = name.value if name and isinstance(name.value, str) and name.value else path.stem
    spec_fields: dict[str, Any] = {
        "id": slug(path.stem, "gguf"),
        "name": shown[:MAX_NAME_CHARS],
        "sources": [f"{path.name} (GGUF metadata)"],
        "architecture": arch,
        "params": params or None,
        "weight_bytes": nbytes or None,
        "weight_dtype": _weight_dtype(fields, warnings),
        "max_context": context,
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": widest or heads,
        "hidden_size": hidden,
        "layers": compress(kinds, f"{path}: the layer pattern"),
    }
    if legacy_mla:
        spec_fields["legacy_mla_gguf"] = True
    if tensors:
        plain = {key.removeprefix(f"{arch}."): value.value for key, value in fields.items()}
        spec_fields["gguf"] = layout(tensors, layers, plain)
    # head sizes default to n_embd / n_head(0), and to 0 without heads (Mamba)
    key_length = meta.whole("attention.key_length", high=MAX_WIDTH)
    value_length = meta.whole("attention.value_length", high=MAX_WIDTH)
    if kv_lora and not legacy_mla:
        key_length, value_length = key_mla or key_length, value_mla or value_length
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
    recurrent: list[bool],
    sliding: list[tuple[str, int] | None],
    kv_lora: int | None,
    widest: int,
) -> list[dict[str, Any]]:
    """One group dict per layer; equal layers share one dict (one pass, no per-layer max())."""
    made: dict[tuple[int, bool, tuple[str, int] | None], dict[str, Any]] = {}

    def group(kv: int, is_state: bool, slides: tuple[str, int] | None, i: int) -> dict[str, Any]:
        if is_state:
            return state_group(meta, i)
        if kv_lora:
            rope = meta.whole("rope.dimension_count", low=0, high=MAX_WIDTH) or 0
            return {"kind": "latent", "count": 1, "kv_lora_rank": kv_lora, "qk_rope_head_dim": rope}
        found: dict[str, Any] = {"kind": "full", "count": 1}
        if slides is not None:
            kind, window = slides
            found["kind"] = kind
            found["chunk" if kind == "chunked" else "window"] = window
        if kv != widest:  # 0: an attention layer without K/V (Deci)
            found["num_kv_heads"] = kv
        return found

    kinds = []
    for i, key in enumerate(zip(kv_each, recurrent, sliding, strict=True)):
        kind = made.get(key)
        if kind is None:
            kind = made[key] = group(key[0], key[1], key[2], i)
        kinds.append(kind)
    return kinds


def recurrent_layers(meta: _Metadata, kv_each: list[int]) -> list[bool]:
    """Which layers hold recurrent state, as llama.cpp decides (kvcalc/archs.py): all of a
    Mamba model, every layer but each full_attention_interval-th of Qwen3-Next, the layers
    with head_count_kv 0 of Jamba.  Elsewhere a layer with 0 KV heads is attention that
    keeps nothing (Deci's linear and no-op layers), not recurrent."""
    n, arch = len(kv_each), meta.arch
    if arch in archs.RECURRENT_ARCHS:
        return [True] * n
    if arch in archs.RECURRENT_BY_INTERVAL:
        every = meta.whole("full_attention_interval", high=MAX_LAYERS) or 4
        return [(i + 1) % every != 0 for i in range(n)]
    if arch in archs.HYBRID_ARCHS:
        return [kv == 0 for kv in kv_each]
    return [False] * n


def state_group(meta: _Metadata, layer: int) -> dict[str, Any]:
    """One recurrent layer's state from the ssm.* keys (src/llama-hparams.cpp n_embd_r/s)."""
    arch = meta.arch
    if arch not in _STATE_ARCHS:
        raise SpecError(
            f"{meta.path}: layer {layer} is a recurrent layer of architecture {arch!r}, whose "
            "state kvcalc does not read from GGUF yet; use its config.json instead"
        )
    inner = meta.whole("ssm.inner_size", high=MAX_WIDTH)
    if inner is None:
        raise SpecError(f"{meta.path}: layer {layer} is recurrent but has no {arch}.ssm.* fields")
    state = meta.whole("ssm.state_size", high=MAX_WIDTH) or 16
    conv = meta.whole("ssm.conv_kernel", high=MAX_WIDTH) or 4
    groups = meta.whole("ssm.group_count", low=0, high=MAX_HEADS) or 0
    if arch in archs.RECURRENT_BY_INTERVAL:
        # Gated DeltaNet as convert_hf_to_gguf writes it: state_size = key head dim,
        # group_count = key heads, time_step_rank = value heads, inner = value heads x dim
        v_heads = meta.whole("ssm.time_step_rank", high=MAX_HEADS) or 1
        if inner % v_heads:
            raise meta.fail("ssm.inner_size", f"{inner:,} is not a multiple of {v_heads} heads")
        return {
            "kind": "gated_deltanet",
            "count": 1,
            "num_k_heads": groups,
            "num_v_heads": v_heads,
            "head_k_dim": state,
            "head_v_dim": inner // v_heads,
            "conv_kernel": conv,
        }
    return {
        "kind": "mamba",
        "count": 1,
        "d_inner": inner,
        "d_state": state,
        "d_conv": conv,
        "n_groups": groups if arch == "mamba2" else 0,
    }


def sliding_layers(
    meta: _Metadata, layers: int, warnings: list[str]
) -> list[tuple[str, int] | None]:
    """(kind, window) of each sliding or chunked layer, None for the others.

    The window the file states (or the architecture's default when it has none, as
    llama.cpp's loader fills in: Gemma 2 4,096, Llama 4 chunks of 8,192), over the layers
    the pattern picks: a `sliding_window_pattern` key, else the architecture's default
    pattern, else every layer.  Whether llama.cpp runs the window is the engine's call.
    """
    arch = meta.arch
    window = meta.whole("attention.sliding_window", low=0, high=MAX_TOKENS)
    if window is None:
        window = archs.DEFAULT_WINDOW.get(arch, archs.CHUNKED_WINDOW.get(arch))
    if not window:
        return [None] * layers
    if arch not in archs.SWA_ARCHS:
        warnings.append(
            f"sliding_window {window} on a {arch} model: llama.cpp runs every {arch} layer at "
            "full length (--engine llamacpp does too); other engines use the window"
        )
    pattern = _pattern(meta, layers)
    if pattern is None:
        pattern = archs.DEFAULT_PATTERN.get(arch, 0)  # 0: every layer slides
    kind = "chunked" if arch in archs.CHUNKED_WINDOW else "sliding"
    return [(kind, window) if archs.is_sliding(i, pattern) else None for i in range(layers)]


def _pattern(meta: _Metadata, layers: int) -> int | list[bool] | None:
    """sliding_window_pattern as written: one 0/1 (or bool) per layer, or an integer n."""
    key = "attention.sliding_window_pattern"
    found = meta.value(key)
    if found is None:
        return None
    if found.type != "ARRAY":
        return meta.whole(key, low=0, high=MAX_LAYERS)
    if found.item not in INTEGER_TYPES | {"BOOL"} or found.value is None:
        raise meta.fail(key, f"got {found.describe()}")
    if found.count != layers:
        raise meta.fail(key, f"has {found.count:,} entries for {layers:,} layers")
    if not set(found.value) <= {0, 1}:
        raise meta.fail(key, "must hold only 0/1 or bools")
    return [bool(v) for v in found.value]


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
