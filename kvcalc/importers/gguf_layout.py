"""A GGUF's tensor table -> where llama.cpp puts each weight, for partial offload (-ngl).

llama.cpp gives every tensor to one part of the model (src/llama-model.cpp
load_tensors): blk.N.* to repeating layer N, the output head (output, output_norm) to
the output layer, everything else (token_embd) to the input, which stays on the CPU.
A model without output.weight reuses token_embd as its head (TENSOR_DUPLICATED), so
an offloaded head carries a second copy of it on the GPU.  Bytes are exact from the
table; the CUDA figure pads each tensor as ggml-cuda.cu allocates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CUDA_ALIGNMENT = 128  # ggml_backend_cuda_buffer_type_get_alignment
MATRIX_ROW_PADDING = 512  # ggml-cuda/common.cuh: quantized rows padded to 512 values
_LAYER = re.compile(r"^blk\.(\d+)\.")
_OUTPUT = ("output.", "output_norm.")


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    """ne0 first, as llama.cpp orders dimensions."""
    nbytes: int
    offset: int
    """Absolute file offset of its data."""
    block_values: int
    """Values per quantization block (1 for f32/f16/bf16)."""
    block_bytes: int


def cuda_bytes(t: Tensor) -> int:
    """ggml_backend_cuda_buffer_type_get_alloc_size, then the buffer's 128-byte alignment."""
    size = t.nbytes
    ne0 = t.shape[0] if t.shape else 0
    if t.block_values > 1 and ne0 % MATRIX_ROW_PADDING:
        size += (MATRIX_ROW_PADDING - ne0 % MATRIX_ROW_PADDING) // t.block_values * t.block_bytes
    return -(-size // CUDA_ALIGNMENT) * CUDA_ALIGNMENT


def part_of(name: str, layers: int) -> int:
    match = _LAYER.match(name)
    if match:
        return int(match.group(1))
    return layers if name.startswith(_OUTPUT) else -1


def layout(tensors: list[Tensor], layers: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The spec's `gguf` field: one WeightPart per part, the vocabulary, the widest activation."""
    members: dict[int, list[Tensor]] = {}
    for t in tensors:
        members.setdefault(part_of(t.name, layers), []).append(t)
    embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
    if embd is not None and not any(t.name == "output.weight" for t in tensors):
        members.setdefault(layers, []).append(embd)  # the tied head: token_embd again
    parts = [
        {
            "part": part,
            "nbytes": sum(t.nbytes for t in group),
            "cuda_bytes": sum(cuda_bytes(t) for t in group),
            "first": min(t.offset for t in group),
            "last": max(t.offset + t.nbytes for t in group),
        }
        for part, group in sorted(members.items())
    ]
    vocab = embd.shape[1] if embd is not None and len(embd.shape) > 1 else 0
    return {"parts": parts, "vocab_size": vocab, "widest_activation": widest(meta)}


def widest(meta: dict[str, Any]) -> int:
    """max(n_embd, n_head x head_k, n_ff, experts used x expert n_ff, 2 x ssm inner)."""

    def most(key: str) -> int:
        value = meta.get(key) or 0
        return max(value) if isinstance(value, list) else int(value)

    heads = most("attention.head_count")
    head_k = most("attention.key_length") or (most("embedding_length") // heads if heads else 0)
    return max(
        most("embedding_length"),
        heads * head_k,
        most("feed_forward_length"),
        most("expert_used_count") * most("expert_feed_forward_length"),
        2 * most("ssm.inner_size"),
    )
