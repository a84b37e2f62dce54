"""GGUF header -> ModelSpec, read with llama.cpp's own `gguf` package.

Only metadata and the tensor table are read (the reader memory-maps the file;
no tensor data is touched).  Keys follow llama.cpp's names under the model's
architecture prefix: `{arch}.block_count`, `{arch}.attention.head_count_kv`
(a number, or one entry per layer), `{arch}.attention.key_length` / `value_length`,
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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvcalc import archs
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.common import compress, slug
from kvcalc.importers.gguf_layout import Tensor, layout
from kvcalc.limits import MAX_GGUF_ARRAY_DEPTH
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


# GGUF value types -> fixed byte size (8 = string, 9 = array are walked instead)
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def check_header(path: Path) -> None:
    """Walk the metadata section and refuse counts the file cannot hold.

    The gguf reader trusts declared lengths: an array claiming 2**40 elements makes it
    loop or allocate for minutes.  This walk reads nothing but lengths, through mmap,
    and fails as soon as a length runs past the end of the file.
    """
    import mmap
    import struct

    with path.open("rb") as handle:
        size = path.stat().st_size
        if size < 24:
            raise SpecError(f"{path}: not a readable GGUF file (only {size} bytes)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] != b"GGUF":
                raise SpecError(f"{path}: not a readable GGUF file (no GGUF magic)")
            version, tensors, kv_count = struct.unpack_from("<IQQ", data, 4)
            if version < 2:
                raise SpecError(f"{path}: GGUF version {version} is too old to read")
            at = 24

            def take(n: int) -> int:
                nonlocal at
                if n < 0 or at + n > size:
                    raise SpecError(
                        f"{path}: not a readable GGUF file (a length runs past the end)"
                    )
                at += n
                return at - n

            def u64() -> int:
                return int(struct.unpack_from("<Q", data, take(8))[0])

            def value(kind: int, depth: int) -> None:
                if kind in _FIXED_SIZES:
                    take(_FIXED_SIZES[kind])
                elif kind == 8:
                    take(u64())
                elif kind == 9 and depth < MAX_GGUF_ARRAY_DEPTH:
                    inner = int(struct.unpack_from("<I", data, take(4))[0])
                    count = u64()
                    if inner in _FIXED_SIZES:
                        take(count * _FIXED_SIZES[inner])
                        return
                    if count * 8 > size - at:  # every string or array needs at least 8 bytes
                        raise SpecError(f"{path}: not a readable GGUF file (array of {count:,})")
                    for _ in range(count):
                        value(inner, depth + 1)
                else:
                    raise SpecError(f"{path}: not a readable GGUF file (value type {kind})")

            if kv_count * 12 > size or tensors * 32 > size:
                raise SpecError(f"{path}: not a readable GGUF file (declared counts too large)")
            for _ in range(kv_count):
                take(u64())  # key
                value(int(struct.unpack_from("<I", data, take(4))[0]), 0)


def read_fields(path: Path) -> tuple[dict[str, Any], int, int, list[Tensor]]:
    """(metadata without the tokenizer, total parameters, total tensor bytes, the tensors)."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - gguf is a dependency
        raise UsageError("reading GGUF needs the 'gguf' package: pip install gguf") from None
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    check_header(path)
    try:
        reader = GGUFReader(path, "r")
        fields = {
            name: field.contents()
            for name, field in reader.fields.items()
            if not name.startswith("tokenizer.")  # 150k vocabulary strings are not needed
        }
        params = sum(int(t.n_elements) for t in reader.tensors)
        nbytes = sum(int(t.n_bytes) for t in reader.tensors)
        tensors = [tensor_of(t) for t in reader.tensors]
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # the reader raises many kinds on corrupt input
        raise SpecError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc})") from None
    return fields, params, nbytes, tensors


def tensor_of(t: Any) -> Tensor:
    """One entry of the gguf reader's tensor table, with its type's block size."""
    from gguf import GGML_QUANT_SIZES

    block_values, block_bytes = GGML_QUANT_SIZES[t.tensor_type]
    return Tensor(
        name=str(t.name),
        shape=tuple(int(n) for n in t.shape),
        nbytes=int(t.n_bytes),
        offset=int(t.data_offset),
        block_values=int(block_values),
        block_bytes=int(block_bytes),
    )


def per_layer(value: Any, layers: int, key: str) -> list[int]:
    """A scalar or a per-layer array as one int per layer."""
    if isinstance(value, list):
        if len(value) != layers:
            raise SpecError(f"{key} has {len(value)} entries for {layers} layers")
        return [int(v) for v in value]
    return [int(value)] * layers


def spec_from_gguf(path: Path) -> tuple[ModelSpec, list[str]]:
    fields, params, nbytes, tensors = read_fields(path)
    warnings: list[str] = []
    arch = fields.get("general.architecture")
    if not isinstance(arch, str):
        raise SpecError(f"{path}: no general.architecture in the GGUF metadata")

    def get(key: str) -> Any:
        return fields.get(f"{arch}.{key}")

    def need(key: str) -> Any:
        value = get(key)
        if value is None:
            raise SpecError(f"{path}: missing {arch}.{key} in the GGUF metadata")
        return value

    layers = int(need("block_count"))
    heads_each = per_layer(need("attention.head_count"), layers, "head_count")
    heads = max(heads_each)
    hidden = int(need("embedding_length"))
    # head_count_kv defaults to head_count, layer by layer (src/llama-model.cpp load_hparams)
    kv_value = get("attention.head_count_kv")
    kv_each = heads_each if kv_value is None else per_layer(kv_value, layers, "head_count_kv")
    context = get("context_length")
    if context is None:
        context = 2048
        warnings.append(f"no {arch}.context_length: assumed 2,048 tokens")
    recurrent = recurrent_layers(arch, get, kv_each, path)
    legacy_mla = bool(get("attention.kv_lora_rank")) and not (
        get("attention.key_length_mla") and get("attention.value_length_mla")
    )
    attention_kv = [k for i, k in enumerate(kv_each) if k > 0 and not recurrent[i]]
    widest = max(attention_kv, default=0)
    sliding = sliding_layers(arch, get, layers, warnings)
    kinds: list[dict[str, Any]] = []
    for i in range(layers):
        if recurrent[i]:
            kinds.append(state_group(arch, get, path, i))
        elif get("attention.kv_lora_rank"):
            kinds.append(
                {
                    "kind": "latent",
                    "count": 1,
                    "kv_lora_rank": int(get("attention.kv_lora_rank")),
                    "qk_rope_head_dim": int(get("rope.dimension_count") or 0),
                }
            )
        else:
            group: dict[str, Any] = {"kind": "full", "count": 1}
            slides = sliding[i]
            if slides is not None:
                kind, window = slides
                group["kind"] = kind
                group["chunk" if kind == "chunked" else "window"] = window
            if kv_each[i] != widest:  # 0: an attention layer without K/V (Deci)
                group["num_kv_heads"] = kv_each[i]
            kinds.append(group)
    if len(set(heads_each) - {0}) > 1:
        warnings.append(f"head_count differs by layer; sized with the largest, {heads}")
    spec_fields: dict[str, Any] = {
        "id": slug(path.stem, "gguf"),
        "name": str(fields.get("general.name") or path.stem),
        "sources": [f"{path.name} (GGUF metadata)"],
        "architecture": arch,
        "params": params or None,
        "weight_bytes": nbytes or None,
        "weight_dtype": file_dtype(fields.get("general.file_type"), warnings),
        "max_context": int(context),
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": widest or heads,
        "hidden_size": hidden,
        "layers": compress(kinds),
    }
    if legacy_mla:
        spec_fields["legacy_mla_gguf"] = True
    if tensors:
        meta = {key.removeprefix(f"{arch}."): value for key, value in fields.items()}
        spec_fields["gguf"] = layout(tensors, layers, meta)
    # head sizes default to n_embd / n_head(0), and to 0 without heads (Mamba)
    key_length, value_length = get("attention.key_length"), get("attention.value_length")
    if get("attention.kv_lora_rank") and not legacy_mla:
        key_length = get("attention.key_length_mla") or key_length
        value_length = get("attention.value_length_mla") or value_length
    if key_length:
        spec_fields["head_dim"] = int(key_length)
    if value_length and value_length != key_length:
        spec_fields["v_head_dim"] = int(value_length)
    spec: ModelSpec = validate(ModelSpec, spec_fields, str(path))
    return spec, warnings


def file_dtype(file_type: Any, warnings: list[str]) -> str:
    """The weights' format from general.file_type (bf16 when the file does not say)."""
    if not isinstance(file_type, int):
        return "bf16"
    from gguf import LlamaFileType

    try:
        return _FILE_TYPES.get(LlamaFileType(file_type).name, "bf16")
    except ValueError:
        warnings.append(f"general.file_type {file_type} is not known to the gguf package")
        return "bf16"


def recurrent_layers(arch: str, get: Any, kv_each: list[int], path: Path) -> list[bool]:
    """Which layers hold recurrent state, as llama.cpp decides (kvcalc/archs.py): all of a
    Mamba model, every layer but each full_attention_interval-th of Qwen3-Next, the layers
    with head_count_kv 0 of Jamba.  Elsewhere a layer with 0 KV heads is attention that
    keeps nothing (Deci's linear and no-op layers), not recurrent."""
    n = len(kv_each)
    if arch in archs.RECURRENT_ARCHS:
        return [True] * n
    if arch in archs.RECURRENT_BY_INTERVAL:
        every = int(get("full_attention_interval") or 4)
        return [(i + 1) % every != 0 for i in range(n)]
    if arch in archs.HYBRID_ARCHS:
        return [kv == 0 for kv in kv_each]
    return [False] * n


def state_group(arch: str, get: Any, path: Path, layer: int) -> dict[str, Any]:
    """One recurrent layer's state from the ssm.* keys (src/llama-hparams.cpp n_embd_r/s)."""
    if arch not in _STATE_ARCHS:
        raise SpecError(
            f"{path}: layer {layer} is a recurrent layer of architecture {arch!r}, whose state "
            "kvcalc does not read from GGUF yet; use its config.json instead"
        )
    if get("ssm.inner_size") is None:
        raise SpecError(f"{path}: layer {layer} is recurrent but has no {arch}.ssm.* fields")
    inner, state = int(get("ssm.inner_size")), int(get("ssm.state_size") or 16)
    conv, groups = int(get("ssm.conv_kernel") or 4), int(get("ssm.group_count") or 0)
    if arch in archs.RECURRENT_BY_INTERVAL:
        # Gated DeltaNet as convert_hf_to_gguf writes it: state_size = key head dim,
        # group_count = key heads, time_step_rank = value heads, inner = value heads x dim
        v_heads = int(get("ssm.time_step_rank") or 1)
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
    arch: str, get: Any, layers: int, warnings: list[str]
) -> list[tuple[str, int] | None]:
    """(kind, window) of each sliding or chunked layer, None for the others.

    The window the file states (or the architecture's default when it has none, as
    llama.cpp's loader fills in: Gemma 2 4,096, Llama 4 chunks of 8,192), over the layers
    the pattern picks: a `sliding_window_pattern` key, else the architecture's default
    pattern, else every layer.  Whether llama.cpp runs the window is the engine's call.
    """
    window = get("attention.sliding_window")
    if window is None:
        window = archs.DEFAULT_WINDOW.get(arch, archs.CHUNKED_WINDOW.get(arch))
    if not window:
        return [None] * layers
    if arch not in archs.SWA_ARCHS:
        warnings.append(
            f"sliding_window {window} on a {arch} model: llama.cpp runs every {arch} layer at "
            "full length (--engine llamacpp does too); other engines use the window"
        )
    pattern = get("attention.sliding_window_pattern")
    if pattern is None:
        pattern = archs.DEFAULT_PATTERN.get(arch, 0)  # 0: every layer slides
    if isinstance(pattern, list) and len(pattern) != layers:
        raise SpecError(f"sliding_window_pattern has {len(pattern)} entries for {layers} layers")
    kind = "chunked" if arch in archs.CHUNKED_WINDOW else "sliding"
    return [
        (kind, int(window)) if archs.is_sliding(i, pattern) else None for i in range(layers)
    ]
