"""GGUF header -> ModelSpec, read with llama.cpp's own `gguf` package.

Only metadata and the tensor table are read (the reader memory-maps the file;
no tensor data is touched).  Keys follow llama.cpp's names under the model's
architecture prefix: `{arch}.block_count`, `{arch}.attention.head_count_kv`
(a number, or one entry per layer where 0 marks a recurrent layer),
`{arch}.attention.key_length` / `value_length`, `{arch}.attention.sliding_window`
and `sliding_window_pattern`, `{arch}.attention.kv_lora_rank` (MLA),
`{arch}.ssm.*` (Mamba), `{arch}.context_length`.

llama.cpp fixes some sliding-window patterns in code rather than in the file:
Gemma 2 and gpt-oss alternate (pattern 2), Gemma 3 has five local layers to one
global (pattern 6).  With pattern n, layer i is local when i % n < n - 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.common import compress, slug
from kvcalc.limits import MAX_GGUF_ARRAY_DEPTH
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

    with files.open_regular(path, "a GGUF file") as handle:
        size = os.fstat(handle.fileno()).st_size
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


def read_fields(path: Path) -> tuple[dict[str, Any], int, int]:
    """(metadata without the tokenizer, total parameters, total tensor bytes)."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - gguf is a dependency
        raise UsageError("reading GGUF needs the 'gguf' package: pip install gguf") from None
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
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # the reader raises many kinds on corrupt input
        raise SpecError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc})") from None
    return fields, params, nbytes


def per_layer(value: Any, layers: int, key: str) -> list[int]:
    """A scalar or a per-layer array as one int per layer."""
    if isinstance(value, list):
        if len(value) != layers:
            raise SpecError(f"{key} has {len(value)} entries for {layers} layers")
        return [int(v) for v in value]
    return [int(value)] * layers


def spec_from_gguf(path: Path) -> tuple[ModelSpec, list[str]]:
    fields, params, nbytes = read_fields(path)
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
    kv_each = per_layer(get("attention.head_count_kv") or heads, layers, "head_count_kv")
    context = get("context_length")
    if context is None:
        context = 2048
        warnings.append(f"no {arch}.context_length: assumed 2,048 tokens")
    window = get("attention.sliding_window")
    pattern = get("attention.sliding_window_pattern") or _CODE_PATTERNS.get(arch)

    def is_local(i: int) -> bool:
        if not window:
            return False
        if isinstance(pattern, list):
            return bool(pattern[i])
        if pattern:
            return i % int(pattern) < int(pattern) - 1
        return True  # a window with no pattern: every layer

    attention_kv = [k for k in kv_each if k > 0]
    kinds: list[dict[str, Any]] = []
    for i in range(layers):
        if get("attention.kv_lora_rank"):
            kinds.append(
                {
                    "kind": "latent",
                    "count": 1,
                    "kv_lora_rank": int(get("attention.kv_lora_rank")),
                    "qk_rope_head_dim": int(get("rope.dimension_count") or 0),
                }
            )
        elif kv_each[i] == 0:
            if arch not in _MAMBA1_ARCHS:
                raise SpecError(
                    f"{path}: layer {i} is a recurrent layer of architecture {arch!r}, whose state "
                    "kvcalc does not read from GGUF yet; use its config.json instead"
                )
            if get("ssm.inner_size") is None:
                raise SpecError(f"{path}: layer {i} has no KV heads and no {arch}.ssm.* fields")
            kinds.append(
                {
                    "kind": "mamba",
                    "count": 1,
                    "d_inner": int(get("ssm.inner_size")),
                    "d_state": int(get("ssm.state_size") or 16),
                    "d_conv": int(get("ssm.conv_kernel") or 4),
                }
            )
        else:
            group: dict[str, Any] = {"kind": "sliding" if is_local(i) else "full", "count": 1}
            if is_local(i):
                group["window"] = int(window)
            if kv_each[i] != max(attention_kv):
                group["num_kv_heads"] = kv_each[i]
            kinds.append(group)
    if len(set(heads_each)) > 1:
        warnings.append(f"head_count differs by layer; sized with the largest, {heads}")
    file_type = fields.get("general.file_type")
    dtype = "bf16"
    if isinstance(file_type, int):
        from gguf import LlamaFileType

        try:
            dtype = _FILE_TYPES.get(LlamaFileType(file_type).name, "bf16")
        except ValueError:
            warnings.append(f"general.file_type {file_type} is not known to the gguf package")
    spec_fields: dict[str, Any] = {
        "id": slug(path.stem, "gguf"),
        "name": str(fields.get("general.name") or path.stem),
        "sources": [f"{path.name} (GGUF metadata)"],
        "params": params or None,
        "weight_bytes": nbytes or None,
        "weight_dtype": dtype,
        "max_context": int(context),
        "num_layers": layers,
        "num_query_heads": heads,
        "num_kv_heads": max(attention_kv) if attention_kv else heads,
        "hidden_size": hidden,
        "layers": compress(kinds),
    }
    key_length, value_length = get("attention.key_length"), get("attention.value_length")
    if get("attention.kv_lora_rank"):
        key_length = get("attention.key_length_mla") or key_length
        value_length = get("attention.value_length_mla") or value_length
    if key_length:
        spec_fields["head_dim"] = int(key_length)
    if value_length and value_length != key_length:
        spec_fields["v_head_dim"] = int(value_length)
    spec: ModelSpec = validate(ModelSpec, spec_fields, str(path))
    return spec, warnings
